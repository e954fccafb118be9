//! Redis 7.0's multi-part AOF on disk: start-up loading of the manifest's base and incr
//! files (upgrading an old single `appendfilename` file first), the incr file appends go
//! to, and the rewrite steps (a new incr file when a rewrite starts; a new base, history
//! marking, manifest and history deletion when it ends). File names, log lines and error
//! texts are Redis's, so a data directory moves between Redis 7.0 and rubra both ways.

use super::aof::{parse_aof, replay, write_snapshot_commands, AofWriter, FsyncPolicy};
use super::manifest::{self, Manifest};
use super::save_control::SaveControl;
use crate::store::{now_ms, Store};
use bytes::Bytes;
use rubra_keyspace::{Db, DbSnapshot};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The AOF directory: `dir`/`appenddirname`.
pub(crate) fn aof_dir(store: &Store) -> PathBuf {
    PathBuf::from(store.config.get_value("dir")).join(store.config.get_value("appenddirname"))
}

/// `appendfilename`, the stem of every AOF file name.
pub(crate) fn aof_name(store: &Store) -> String {
    store.config.get_value("appendfilename").to_string()
}

/// Whether rewrites write an RDB base (`aof-use-rdb-preamble yes`).
fn rdb_base(store: &Store) -> bool {
    store.config.get_value("aof-use-rdb-preamble") == "yes"
}

/// Loads the manifest from disk as Redis does at start (and DEBUG LOADAOF): missing is
/// empty, bad is an error with the lines Redis logs.
fn load_manifest(store: &Store) -> Result<Manifest, String> {
    manifest::load(&aof_dir(store), &aof_name(store)).map_err(|lines| lines.join("\n"))
}

/// Start-up: reads the manifest (whatever `appendonly` says, as Redis does, so a later
/// BGREWRITEAOF continues its sequence numbers); with `appendonly yes` upgrades an old
/// single-file AOF, loads the base and incr files, and opens the incr file for appends.
pub(crate) fn start(store: &mut Store) -> Result<(), String> {
    let mut m = load_manifest(store)?;
    if store.config.get_value("appendonly") != "yes" {
        store.saving.manifest = m;
        return Ok(());
    }
    let started = Instant::now();
    upgrade_if_needed(store, &mut m)?;
    if load_files(store, &m)? != Loaded::NotExist {
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    open_on_start(store, m)?;
    delete_history(store);
    Ok(())
}

/// Redis's upgrade from the single-file layout: an `appendfilename` file in `dir` becomes
/// the base (seq 1) of a new manifest and moves into the AOF directory, when there is no
/// directory, an empty manifest, or an interrupted earlier upgrade.
fn upgrade_if_needed(store: &Store, m: &mut Manifest) -> Result<(), String> {
    let name = aof_name(store);
    let dir = aof_dir(store);
    let old = PathBuf::from(store.config.get_value("dir")).join(&name);
    if !old.is_file() {
        return Ok(());
    }
    let interrupted = m.incr.is_empty()
        && m.base.as_ref().is_some_and(|b| b.name == name)
        && !dir.join(&name).exists();
    if dir.is_dir() && !m.is_empty() && !interrupted {
        return Ok(());
    }
    create_dir(&dir)?;
    m.base = Some(manifest::AofFile {
        name: name.clone(),
        seq: 1,
        kind: manifest::FileType::Base,
    });
    m.base_seq = 1;
    m.persist(&dir, &name)?;
    std::fs::rename(&old, dir.join(&name)).map_err(|e| {
        format!(
            "Error trying to move the old AOF file {name} into dir {}: {}",
            dir.display(),
            crate::strerror(&e)
        )
    })?;
    tracing::info!(
        "Successfully migrated an old-style AOF file ({name}) into the AOF directory ({}).",
        dir.display()
    );
    Ok(())
}

/// Creates the AOF directory if missing, with Redis's error text.
fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {}",
            dir.display(),
            crate::strerror(&e)
        )
    })
}

/// What loading the manifest's files found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// The manifest lists no base and no incr file.
    NotExist,
    /// All listed files are empty.
    Empty,
    Ok,
}

/// The size of one listed file; a missing file is an error, as in Redis.
fn file_size(dir: &Path, name: &str) -> Result<u64, String> {
    std::fs::metadata(dir.join(name))
        .map(|m| m.len())
        .map_err(|e| {
            format!(
                "Unable to obtain the AOF file {name} length. stat: {}",
                crate::strerror(&e)
            )
        })
}

/// Loads the base then the incr files in order into the (empty) store. Only the last
/// file may end truncated (`aof-load-truncated`).
pub(crate) fn load_files(store: &mut Store, m: &Manifest) -> Result<Loaded, String> {
    if m.is_empty() {
        return Ok(Loaded::NotExist);
    }
    let dir = aof_dir(store);
    let files: Vec<(&str, bool)> = m
        .base
        .iter()
        .map(|f| (f.name.as_str(), true))
        .chain(m.incr.iter().map(|f| (f.name.as_str(), false)))
        .collect();
    let mut total = 0;
    for (name, _) in &files {
        total += file_size(&dir, name)?;
    }
    if total == 0 {
        return Ok(Loaded::Empty);
    }
    for (i, (name, is_base)) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let started = Instant::now();
        let truncated = load_one(store, &dir, name)?;
        if truncated && !last {
            return Err("Fatal error: the truncated file is not the last file".into());
        }
        tracing::info!(
            "DB loaded from {} file {name}: {:.3} seconds",
            if *is_base { "base" } else { "incr" },
            started.elapsed().as_secs_f64()
        );
    }
    store.saving.aof_base_size = match &m.base {
        Some(b) => file_size(&dir, &b.name).unwrap_or(0),
        None => 0,
    };
    Ok(Loaded::Ok)
}

/// Loads one file: an RDB (a base, or an old-style preamble followed by commands) or
/// commands. Returns whether it was truncated (and cut back, as allowed).
fn load_one(store: &mut Store, dir: &Path, name: &str) -> Result<bool, String> {
    let path = dir.join(name);
    let data = std::fs::read(&path).map_err(|e| {
        format!(
            "Fatal error: can't open the append log file {name} for reading: {}",
            crate::strerror(&e)
        )
    })?;
    if data.is_empty() {
        return Ok(false);
    }
    let mut start = 0;
    if data.starts_with(b"REDIS") {
        let old_style = name == aof_name(store);
        tracing::info!(
            "{}",
            if old_style {
                "Reading RDB preamble from AOF file..."
            } else {
                "Reading RDB base file on AOF loading..."
            }
        );
        let (dbs, meta, used) =
            super::rdb::decode_rdb_prefix(&data, store.dbs.len(), now_ms(), true).map_err(|e| {
                if old_style {
                    format!("Error reading the RDB preamble of the AOF file {name}, AOF loading aborted: {e}")
                } else {
                    format!("Error reading the RDB base file {name}, AOF loading aborted: {e}")
                }
            })?;
        install_dbs(store, dbs);
        store.scripts.replace_libraries(&meta.functions);
        start = used;
        if old_style {
            tracing::info!("Reading the remaining AOF tail...");
        }
    }
    let contents = parse_aof(&data[start..], name)?;
    if let Some(args) = contents
        .commands
        .iter()
        .find(|a| crate::cmd::lookup(&a[0]).is_none())
    {
        return Err(format!(
            "Unknown command '{}' reading the append only file {name}",
            String::from_utf8_lossy(&args[0])
        ));
    }
    replay(store, contents.commands);
    if !contents.truncated {
        return Ok(false);
    }
    if contents.reverted_multi {
        tracing::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {name}");
    }
    let valid = start as u64 + contents.valid_len;
    if store.config.get_value("aof-load-truncated") != "yes" {
        return Err(format!("Unexpected end of file reading the append only file {name}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."));
    }
    tracing::warn!("!!! Warning: short read while loading the AOF file {name}!!!");
    tracing::warn!("!!! Truncating the AOF {name} at offset {valid} !!!");
    let cut = OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(valid).and_then(|()| f.sync_all()));
    if let Err(e) = cut {
        return Err(format!(
            "Error truncating the AOF file {name}: {}",
            crate::strerror(&e)
        ));
    }
    tracing::warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
    Ok(true)
}

/// Puts loaded databases in place, keeping each database's replica flag.
fn install_dbs(store: &mut Store, dbs: Vec<Db>) {
    for (slot, mut db) in store.dbs.iter_mut().zip(dbs) {
        db.replica_mode = slot.replica_mode;
        *slot = db;
    }
}

/// Writes a base file at `path`: an RDB, or the commands that rebuild the dataset;
/// `control` stops it (a background rewrite abandoned, as Redis kills its child).
pub(crate) fn write_base(
    path: &Path,
    snap: (&[DbSnapshot], &[Bytes]),
    (rdb, timestamp): (bool, bool),
    repl: (&str, u64),
    control: &SaveControl,
) -> std::io::Result<()> {
    if rdb {
        super::rdb::save_file_controlled(path, snap, repl, now_ms(), control).map(|_| ())
    } else {
        write_snapshot_commands(path, snap.0, snap.1, now_ms(), timestamp, control)
    }
}

/// How a base is written now: (RDB, `#TS:` annotation first).
pub(crate) fn base_format(store: &Store) -> (bool, bool) {
    (
        rdb_base(store),
        store.config.get_value("aof-timestamp-enabled") == "yes",
    )
}

/// Redis's aofOpenIfNeededOnServerStart: a base for an empty start, the last incr file
/// (or a new one) opened for appends, and the manifest written.
fn open_on_start(store: &mut Store, mut m: Manifest) -> Result<(), String> {
    let dir = aof_dir(store);
    let name = aof_name(store);
    create_dir(&dir)?;
    let had_incr = !m.incr.is_empty();
    if m.is_empty() {
        let base = m.new_base(&name, rdb_base(store));
        let snaps: Vec<DbSnapshot> = store.dbs.iter().map(|d| d.snapshot()).collect();
        let functions = store.scripts.library_codes();
        let repl = (store.feed.replid.clone(), store.feed.offset);
        write_base(
            &dir.join(&base),
            (&snaps, &functions),
            base_format(store),
            (&repl.0, repl.1),
            &SaveControl::default(),
        )
        .map_err(|e| format!("Write error writing append only file on disk: {e}"))?;
        tracing::info!("Creating AOF base file {base} on server start");
    }
    let incr = m.last_incr(&name);
    let path = dir.join(&incr);
    let policy = FsyncPolicy::from_config(store.config.get_value("appendfsync"));
    let mut writer = AofWriter::open(&path, policy).map_err(|e| {
        format!(
            "Can't open the append-only file {incr}: {}",
            crate::strerror(&e)
        )
    })?;
    m.persist(&dir, &name)?;
    writer.others_size = listed_size(&dir, &m).saturating_sub(writer.size);
    if had_incr {
        tracing::info!("Opening AOF incr file {incr} on server start");
    } else {
        tracing::info!("Creating AOF incr file {incr} on server start");
    }
    store.saving.manifest = m;
    store.aof = Some(writer);
    store.feed.active = true;
    store.feed.aof_on = true;
    store.feed.reset_db();
    Ok(())
}

/// Bytes of the base and incr files listed (missing ones count 0).
fn listed_size(dir: &Path, m: &Manifest) -> u64 {
    m.base
        .iter()
        .chain(&m.incr)
        .map(|f| file_size(dir, &f.name).unwrap_or(0))
        .sum()
}

/// Deletes the history files unless `aof-disable-auto-gc yes`, and writes the manifest
/// without them.
pub(crate) fn delete_history(store: &mut Store) {
    if store.config.get_value("aof-disable-auto-gc") == "yes"
        || store.saving.manifest.history.is_empty()
    {
        return;
    }
    let dir = aof_dir(store);
    for f in std::mem::take(&mut store.saving.manifest.history) {
        tracing::info!("Removing the history file {} in the background", f.name);
        let _ = std::fs::remove_file(dir.join(&f.name));
    }
    if let Err(e) = store.saving.manifest.persist(&dir, &aof_name(store)) {
        tracing::warn!("{e}");
    }
}

/// The first steps of a rewrite, under the store lock together with the snapshot: the
/// appends so far are written out, and later ones go to a new incr file (listed in the
/// manifest at once), or with the AOF just turned on to the temporary incr file.
pub(crate) fn begin_rewrite(store: &mut Store) -> Result<(), String> {
    let dir = aof_dir(store);
    let name = aof_name(store);
    create_dir(&dir)?;
    store.flush_feed();
    // The new incr file starts with a SELECT.
    store.feed.reset_db();
    if let Some(waiting) = store.aof.as_ref().map(|a| a.waiting_rewrite) {
        let mut m = store.saving.manifest.clone();
        let incr = if waiting {
            manifest::temp_incr_name(&name)
        } else {
            m.new_incr(&name)
        };
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.join(&incr))
            .map_err(|e| {
                format!(
                    "Can't open the append-only file {incr}: {}",
                    crate::strerror(&e)
                )
            })?;
        if !waiting {
            m.persist(&dir, &name)?;
            store.saving.manifest = m;
        }
        tracing::info!("Creating AOF incr file {incr} on background rewrite");
        if let Some(aof) = store.aof.as_mut() {
            aof.switch_to(file, dir.join(&incr));
            if waiting {
                aof.others_size = 0;
            }
        }
    }
    Ok(())
}

/// Where a rewrite writes its base before it is renamed into the AOF directory: in `dir`,
/// named as Redis names its rewrite child's file, numbered per rewrite (there is no child
/// process whose id would tell two apart).
fn temp_base(store: &Store, tag: &str) -> PathBuf {
    PathBuf::from(store.config.get_value("dir")).join(format!(
        "temp-rewriteaof-{tag}{}-{}.aof",
        std::process::id(),
        store.saving.aof_rewrites
    ))
}

/// Starts a background rewrite (BGREWRITEAOF, CONFIG SET appendonly yes, the retry after
/// a failed first rewrite): the new incr file now, the base from a snapshot taken now,
/// written off the lock. The error is the reply Redis gives.
pub(crate) fn start_background_rewrite(store: &mut Store) -> Result<(), String> {
    let Some(jobs) = store.jobs.clone() else {
        return Err("ERR background jobs are not available".into());
    };
    if let Err(e) = begin_rewrite(store) {
        tracing::warn!("{e}");
        store.saving.last_aof_rewrite_ok = false;
        return Err("ERR Can't execute an AOF background rewriting. Please check the server logs for more information.".into());
    }
    store.saving.aof_rewrites += 1;
    store.saving.aof_rewrite_scheduled = false;
    store.saving.aof_rewrite_started_ms = now_ms();
    let tmp = temp_base(store, "bg-");
    let control = Arc::new(SaveControl::default());
    store.saving.aof_rewrite_control = Some(control.clone());
    let job = crate::persist::jobs::Job::RewriteAof {
        control,
        snapshots: store.dbs.iter().map(|db| db.snapshot()).collect(),
        functions: store.scripts.library_codes(),
        tmp,
        format: base_format(store),
        replid: store.feed.replid.clone(),
        offset: store.feed.offset,
        generation: store.saving.aof_rewrite_generation,
    };
    store.aof_rewrite_in_progress = true;
    if jobs.send(job).is_err() {
        store.aof_rewrite_in_progress = false;
        return Err("ERR background jobs are not available".into());
    }
    store.stats.total_forks += 1;
    tracing::info!("Background append only file rewriting started");
    Ok(())
}

/// Abandons a background rewrite in flight (Redis kills its child): its result is
/// discarded when it ends.
pub(crate) fn abandon_background_rewrite(store: &mut Store) {
    store.saving.aof_rewrite_generation += 1;
    if let Some(control) = store.saving.aof_rewrite_control.take() {
        control.abort();
    }
    if store.aof_rewrite_in_progress {
        // Redis's words (its rewrite is a child process; ours a thread, stopped here).
        tracing::info!("Killing running AOF rewrite child (the rewrite thread)");
        store.aof_rewrite_in_progress = false;
    }
}

/// The end of a successful rewrite (Redis's backgroundRewriteDoneHandler): `tmp` becomes
/// the new base, the temporary incr file (AOF just turned on) the first incr file, the
/// incr files the base covers history; the manifest is written, history deleted.
pub(crate) fn complete_rewrite(store: &mut Store, tmp: &Path, rdb: bool) -> Result<(), String> {
    let dir = aof_dir(store);
    let name = aof_name(store);
    let mut m = store.saving.manifest.clone();
    let base = m.new_base(&name, rdb);
    let base_path = dir.join(&base);
    std::fs::rename(tmp, &base_path).map_err(|e| {
        format!(
            "Error trying to rename the temporary AOF base file {} into {}: {}",
            tmp.display(),
            base_path.display(),
            crate::strerror(&e)
        )
    })?;
    tracing::info!(
        "Successfully renamed the temporary AOF base file {} into {base}",
        tmp.display()
    );
    let mut new_incr = None;
    if store.aof.as_ref().is_some_and(|a| a.waiting_rewrite) {
        let temp = manifest::temp_incr_name(&name);
        let incr = m.new_incr(&name);
        if let Err(e) = std::fs::rename(dir.join(&temp), dir.join(&incr)) {
            let _ = std::fs::remove_file(&base_path);
            return Err(format!(
                "Error trying to rename the temporary AOF incr file {temp} into {incr}: {}",
                crate::strerror(&e)
            ));
        }
        tracing::info!("Successfully renamed the temporary AOF incr file {temp} into {incr}");
        new_incr = Some(incr);
    }
    m.mark_rewritten_incr_history(store.aof.is_some());
    if let Err(e) = m.persist(&dir, &name) {
        let _ = std::fs::remove_file(&base_path);
        if let Some(incr) = &new_incr {
            let _ = std::fs::remove_file(dir.join(incr));
        }
        return Err(e);
    }
    store.saving.manifest = m;
    let base_size = file_size(&dir, &base).unwrap_or(0);
    if let Some(aof) = store.aof.as_mut() {
        if let Some(incr) = new_incr {
            aof.path = dir.join(incr);
            aof.waiting_rewrite = false;
        }
        aof.others_size = base_size;
        store.saving.aof_base_size = base_size + aof.size;
    }
    delete_history(store);
    tracing::info!("Background AOF rewrite finished successfully");
    Ok(())
}

/// After a failed rewrite: the temporary base goes, and with the AOF just turned on the
/// temporary incr file too (the next rewrite starts it again from a new snapshot).
pub(crate) fn fail_rewrite(store: &mut Store, tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    if store.aof.as_ref().is_some_and(|a| a.waiting_rewrite) {
        let temp = manifest::temp_incr_name(&aof_name(store));
        tracing::info!("Removing the temp incr aof file {temp} in the background");
        let _ = std::fs::remove_file(aof_dir(store).join(temp));
    }
}

/// Rewrites the AOF from the dataset in memory at once, under the store lock. A replica
/// calls it after loading a full sync: its AOF holds the history it had before, not the
/// dataset it just received (Redis restarts the AOF after a sync for the same reason). A
/// background rewrite in flight (of the old data) is discarded when it ends.
pub(crate) fn rewrite_now(store: &mut Store) -> Result<(), String> {
    if store.aof.is_none() {
        return Ok(());
    }
    abandon_background_rewrite(store);
    begin_rewrite(store)?;
    let tmp = temp_base(store, "");
    let snapshots: Vec<DbSnapshot> = store.dbs.iter().map(|db| db.snapshot()).collect();
    let functions = store.scripts.library_codes();
    let format = base_format(store);
    let repl = (store.feed.replid.clone(), store.feed.offset);
    let control = SaveControl::default();
    if let Err(e) = write_base(
        &tmp,
        (&snapshots, &functions),
        format,
        (&repl.0, repl.1),
        &control,
    ) {
        fail_rewrite(store, &tmp);
        return Err(format!("writing {}: {e}", tmp.display()));
    }
    complete_rewrite(store, &tmp, format.0)
}

/// Called from the cron: a scheduled rewrite once no BGSAVE runs; Redis's automatic
/// rewrite when the AOF grew by
/// `auto-aof-rewrite-percentage` over its size after the last rewrite (and is over
/// `auto-aof-rewrite-min-size`), held back after 3 failures in a row (1, 2, 4 ... 60
/// minutes; BGREWRITEAOF still runs at once).
pub(crate) fn auto_rewrite_if_due(store: &mut Store, now_ms: u64) {
    if store.saving.aof_rewrite_scheduled
        && !store.aof_rewrite_in_progress
        && !store.saving.bgsave_in_progress
    {
        store.saving.aof_rewrite_scheduled = false;
        if let Err(e) = start_background_rewrite(store) {
            tracing::warn!("{e}");
        }
        return;
    }
    let Some(aof) = store.aof.as_ref() else {
        return;
    };
    if aof.waiting_rewrite || store.aof_rewrite_in_progress || store.saving.bgsave_in_progress {
        return;
    }
    let num = |name: &str| store.config.get_value(name).parse::<u64>().unwrap_or(0);
    let perc = num("auto-aof-rewrite-percentage");
    let current = aof.others_size + aof.size;
    if perc == 0 || current <= num("auto-aof-rewrite-min-size") {
        return;
    }
    let base = store.saving.aof_base_size.max(1);
    let growth = (current.saturating_mul(100) / base) as i64 - 100;
    if growth < perc as i64 || rewrite_limited(store, now_ms) {
        return;
    }
    tracing::info!("Starting automatic rewriting of AOF on {growth}% growth");
    if let Err(e) = start_background_rewrite(store) {
        tracing::warn!("{e}");
    }
}

/// Redis's aofRewriteLimited: after 3 failed rewrites in a row, automatic ones wait
/// 1 minute, then 2, 4 ... up to 60.
fn rewrite_limited(store: &mut Store, now_ms: u64) -> bool {
    let s = &mut store.saving;
    if s.aof_rewrite_failures < 3 {
        s.aof_limit_delay_min = 0;
        s.aof_limit_until_ms = 0;
        return false;
    }
    if s.aof_limit_until_ms != 0 {
        if now_ms < s.aof_limit_until_ms {
            return true;
        }
        s.aof_limit_until_ms = 0;
        return false;
    }
    s.aof_limit_delay_min = (s.aof_limit_delay_min * 2).clamp(1, 60);
    s.aof_limit_until_ms = now_ms + s.aof_limit_delay_min * 60_000;
    tracing::warn!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        s.aof_limit_delay_min
    );
    true
}

/// CONFIG SET appendonly yes: appends go to the temporary incr file until the first
/// rewrite (started by the caller) succeeds.
pub(crate) fn enable(store: &mut Store) -> Result<(), String> {
    let dir = aof_dir(store);
    create_dir(&dir)?;
    let temp = dir.join(manifest::temp_incr_name(&aof_name(store)));
    File::create(&temp).map_err(|e| e.to_string())?;
    let policy = FsyncPolicy::from_config(store.config.get_value("appendfsync"));
    let mut writer = AofWriter::open(&temp, policy).map_err(|e| e.to_string())?;
    writer.waiting_rewrite = true;
    store.aof = Some(writer);
    store.feed.active = true;
    store.feed.aof_on = true;
    store.feed.reset_db();
    Ok(())
}

/// DEBUG LOADAOF: the manifest is read again from disk, history deleted, and the files
/// loaded into the (emptied) store.
pub(crate) fn reload(store: &mut Store) -> Result<(), String> {
    let m = load_manifest(store)?;
    store.saving.manifest = m.clone();
    delete_history(store);
    load_files(store, &m).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_in(dir: &Path, extra: &[(&str, &str)]) -> Store {
        let mut config = crate::config::Config::default();
        config.set("dir", &dir.display().to_string(), true).unwrap();
        config.set("appendonly", "yes", true).unwrap();
        for (k, v) in extra {
            config.set(k, v, true).unwrap();
        }
        Store::new(config, now_ms())
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rubra-aof-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn empty_start_creates_base_incr_and_manifest() {
        let d = tempdir("empty");
        let mut s = store_in(&d, &[]);
        start(&mut s).unwrap();
        let text =
            std::fs::read_to_string(d.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        assert_eq!(
            text,
            "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert!(d.join("appendonlydir/appendonly.aof.1.base.rdb").is_file());
    }

    #[test]
    fn old_single_file_is_upgraded_to_the_base() {
        let d = tempdir("upgrade");
        std::fs::write(
            d.join("appendonly.aof"),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
        )
        .unwrap();
        let mut s = store_in(&d, &[]);
        start(&mut s).unwrap();
        assert!(!d.join("appendonly.aof").exists());
        assert!(d.join("appendonlydir/appendonly.aof").is_file());
        let text =
            std::fs::read_to_string(d.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        assert_eq!(
            text,
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert_eq!(s.dbs[0].len(), 1);
    }

    #[test]
    fn truncated_file_before_the_last_is_fatal() {
        let d = tempdir("trunc");
        let dir = d.join("appendonlydir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.1.incr.aof"), "*3\r\n$3\r\nSET\r\n$1\r\nk").unwrap();
        std::fs::write(dir.join("a.2.incr.aof"), "").unwrap();
        std::fs::write(
            dir.join("a.manifest"),
            "file a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\n",
        )
        .unwrap();
        let mut s = store_in(&d, &[("appendfilename", "a")]);
        let err = start(&mut s).unwrap_err();
        assert_eq!(err, "Fatal error: the truncated file is not the last file");
    }
}

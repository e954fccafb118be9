//! RDB persistence around the codec: SAVE, BGSAVE, `save <seconds> <changes>` rules and
//! loading dump.rdb at start-up. BGSAVE takes copy-on-write snapshots of the databases
//! under the lock (cheap: it clones per-slot Arcs) and encodes them on a blocking thread,
//! so clients keep being served while the file is written.

use crate::persist::jobs::Job;
use crate::persist::save_control::SaveControl;
use crate::store::{now_ms, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// What INFO persistence reports about RDB saves.
#[derive(Debug, Clone)]
pub(crate) struct SaveState {
    pub bgsave_in_progress: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub bgsave_started_ms: u64,
    /// `dirty` when the running save took its snapshot: only later changes remain unsaved.
    pub changes_at_start: u64,
    /// Unix ms of the last failed attempt; Redis waits before retrying a failed auto-save.
    pub last_failure_ms: u64,
    /// Set by BGSAVE SCHEDULE while an AOF rewrite runs, or BGSAVE in a transaction.
    pub scheduled: bool,
    /// The running BGSAVE's stop switch (FLUSHALL and SHUTDOWN abort it).
    pub bgsave_control: Option<Arc<SaveControl>>,
    /// The running background AOF rewrite's stop switch (an abandoned rewrite stops).
    pub aof_rewrite_control: Option<Arc<SaveControl>>,
    /// Keys the last RDB load at start-up dropped as expired, and kept (INFO
    /// rdb_last_load_keys_expired / rdb_last_load_keys_loaded).
    pub last_load_expired: u64,
    pub last_load_loaded: u64,
    /// AOF rewrites started, and whether the last one succeeded (INFO aof_rewrites,
    /// aof_last_bgrewrite_status).
    pub aof_rewrites: u64,
    pub last_aof_rewrite_ok: bool,
    /// Rewrites failed in a row (INFO aof_rewrites_consecutive_failures).
    pub aof_rewrite_failures: u64,
    /// The multi-part AOF's manifest as last written (kept with the AOF off too, so a
    /// BGREWRITEAOF continues its sequence numbers, as in Redis).
    pub manifest: crate::persist::manifest::Manifest,
    /// INFO aof_base_size: the AOF's size after the last rewrite or load.
    pub aof_base_size: u64,
    /// Bumped when a rewrite is done synchronously: a background one started before it
    /// (of older data) is discarded when it ends.
    pub aof_rewrite_generation: u64,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds each AOF write waits first.
    pub aof_flush_sleep_us: u64,
    /// The automatic-rewrite limit after repeated failures: its current delay (minutes)
    /// and when it ends (Unix ms, 0: not limited now).
    pub aof_limit_delay_min: u64,
    pub aof_limit_until_ms: u64,
    /// A rewrite asked for while a BGSAVE runs, started when it ends (INFO
    /// aof_rewrite_scheduled).
    pub aof_rewrite_scheduled: bool,
    /// When the running rewrite started (Unix ms), and how long the last one took in
    /// seconds, -1 before any (INFO aof_current_rewrite_time_sec / aof_last_rewrite_time_sec).
    pub aof_rewrite_started_ms: u64,
    pub aof_last_rewrite_secs: i64,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            bgsave_in_progress: false,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            bgsave_started_ms: 0,
            changes_at_start: 0,
            last_failure_ms: 0,
            scheduled: false,
            bgsave_control: None,
            aof_rewrite_control: None,
            last_load_expired: 0,
            last_load_loaded: 0,
            aof_rewrites: 0,
            last_aof_rewrite_ok: true,
            aof_rewrite_failures: 0,
            manifest: Default::default(),
            aof_base_size: 0,
            aof_rewrite_generation: 0,
            aof_flush_sleep_us: 0,
            aof_limit_delay_min: 0,
            aof_limit_until_ms: 0,
            aof_rewrite_scheduled: false,
            aof_rewrite_started_ms: 0,
            aof_last_rewrite_secs: -1,
        }
    }
}

/// Where the RDB file lives: `dir`/`dbfilename`.
pub(crate) fn rdb_path(store: &Store) -> PathBuf {
    PathBuf::from(store.config.get_value("dir")).join(store.config.get_value("dbfilename"))
}

/// Loads dump.rdb at start-up when the AOF is off (with the AOF on, the AOF is the
/// authority, as in Redis). A missing file is an empty dataset; a corrupt one stops the
/// start, since serving an empty dataset would look like data loss. `as_replica`: the
/// node starts as a replica (`replicaof`, or nodes.conf in cluster mode), which keeps
/// keys that are already expired until its primary deletes them, as Redis's rdbLoad.
pub(crate) fn load_at_startup(store: &mut Store, as_replica: bool) -> Result<(), String> {
    if store.config.get_value("appendonly") == "yes" {
        return Ok(());
    }
    let path = rdb_path(store);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("can't read {}: {e}", path.display())),
    };
    let started = std::time::Instant::now();
    let count = store.dbs.len();
    let (dbs, meta) =
        crate::persist::rdb::decode_rdb_with_meta(&bytes, count, now_ms(), as_replica)
            .map_err(|e| format!("bad RDB file {}: {e}", path.display()))?;
    store.dbs = dbs;
    store.scripts.replace_libraries(&meta.functions);
    let keys: usize = store.dbs.iter().map(|d| d.len()).sum();
    store.saving.last_load_expired = meta.expired.len() as u64;
    store.saving.last_load_loaded = meta.loaded;
    match meta.repl {
        // A replica keeps its primary's history, to continue with a partial resync.
        Some((replid, offset)) if keeps_history(store) => store.feed.adopt(replid, offset),
        // A primary starts a new history that continues the file's (its replicas continue
        // partially under the old id), with the deletion of each key that expired while it
        // was down in the backlog, as Redis feeds them.
        Some((replid, offset)) => {
            let new_id = crate::store::random_hex(&mut store.rng, 40);
            store.feed.restart_history(new_id, replid, offset);
            for (db, key) in &meta.expired {
                let args = [
                    bytes::Bytes::from_static(b"DEL"),
                    bytes::Bytes::from(key.clone()),
                ];
                store.feed.propagate(*db, &args);
            }
            // Only the backlog keeps them: no replica or AOF is attached yet.
            store.feed.take_output();
            store.feed.take_aof_output();
        }
        None => {}
    }
    tracing::info!(path = %path.display(), keys, ms = started.elapsed().as_millis() as u64, "RDB loaded");
    Ok(())
}

/// Whether a loaded file's replication history is kept as this node's own: when the
/// configuration makes it a replica (`replicaof`), the history is its primary's; in
/// cluster mode the role is only known later, and a restarted node keeps its id as before
/// (cluster replicas rely on it to continue partially).
fn keeps_history(store: &Store) -> bool {
    store.config.cluster_enabled || configured_replica(store)
}

/// Whether the configuration names a primary to follow (`replicaof host port`).
pub(crate) fn configured_replica(store: &Store) -> bool {
    let target = store.config.get_value("replicaof");
    let mut words = target.split_whitespace();
    matches!((words.next(), words.next()), (Some(h), Some(_)) if !h.eq_ignore_ascii_case("no"))
}

/// SAVE: writes the file now, under the lock (Redis's SAVE blocks too).
pub(crate) fn save_now(store: &mut Store) -> Result<(), String> {
    let path = rdb_path(store);
    let snapshots: Vec<_> = store.dbs.iter().map(|d| d.snapshot()).collect();
    let changes = store.dirty;
    let (replid, offset) = (store.feed.replid.clone(), store.feed.offset);
    let functions = store.scripts.library_codes();
    let tmp = format!("temp-{}.rdb", std::process::id());
    let data = (&snapshots[..], &functions[..]);
    crate::persist::rdb::save_file_as(&path, &tmp, data, (&replid, offset), now_ms())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    store.dirty -= changes.min(store.dirty);
    store.lastsave = now_ms() / 1000;
    Ok(())
}

/// Starts a background save. Errors with Redis's text if one is already running.
pub(crate) fn start_bgsave(store: &mut Store) -> Result<(), String> {
    if store.saving.bgsave_in_progress {
        return Err("ERR Background save already in progress".into());
    }
    let Some(jobs) = store.jobs.clone() else {
        return Err("ERR background jobs are not available".into());
    };
    let snapshots = store.dbs.iter().map(|d| d.snapshot()).collect();
    let control = Arc::new(SaveControl::default());
    store.saving.bgsave_control = Some(control.clone());
    let job = Job::SaveRdb {
        control,
        snapshots,
        functions: store.scripts.library_codes(),
        path: rdb_path(store),
        replid: store.feed.replid.clone(),
        offset: store.feed.offset,
    };
    store.saving.bgsave_in_progress = true;
    store.saving.bgsave_started_ms = now_ms();
    store.saving.changes_at_start = store.dirty;
    store.stats.total_forks += 1;
    if jobs.send(job).is_err() {
        store.saving.bgsave_in_progress = false;
        store.saving.bgsave_control = None;
        return Err("ERR background jobs are not available".into());
    }
    Ok(())
}

/// Records the end of the background save `control` stops (nothing if it was aborted:
/// `abort_bgsave` recorded that).
pub(crate) fn finish_bgsave(
    store: &mut Store,
    control: &Arc<SaveControl>,
    result: Result<u64, String>,
) {
    let s = &mut store.saving;
    if !s
        .bgsave_control
        .as_ref()
        .is_some_and(|c| Arc::ptr_eq(c, control))
    {
        return;
    }
    s.bgsave_control = None;
    s.bgsave_in_progress = false;
    s.last_bgsave_secs = secs_since(s.bgsave_started_ms);
    match result {
        Ok(size) => {
            s.last_bgsave_ok = true;
            store.dirty -= s.changes_at_start.min(store.dirty);
            store.lastsave = now_ms() / 1000;
            tracing::info!(bytes = size, "background RDB save done");
        }
        Err(e) => {
            s.last_bgsave_ok = false;
            s.last_failure_ms = now_ms();
            tracing::error!(error = %e, "background RDB save failed");
        }
    }
}

/// Stops the running BGSAVE, as Redis's FLUSHALL and SHUTDOWN kill its child: the
/// temporary file is removed, the save counts as neither done nor failed (the changes
/// stay unsaved, rdb_last_bgsave_status keeps its value) and a new one may start at once.
/// Nothing happens if none runs or its file is already in place (it completed).
pub(crate) fn abort_bgsave(store: &mut Store) {
    let s = &mut store.saving;
    let Some(control) = s.bgsave_control.as_ref() else {
        return;
    };
    if !control.abort() {
        return;
    }
    s.bgsave_control = None;
    s.bgsave_in_progress = false;
    s.last_bgsave_secs = secs_since(s.bgsave_started_ms);
    tracing::warn!("Background saving aborted: its temporary file is removed");
}

/// FLUSHALL's persistence steps after the flush (Redis's flushAllDataAndResetRDB): the
/// running BGSAVE (of the old data) is aborted and, with save rules set, the now empty
/// dataset is saved at once, which leaves no unsaved changes.
pub(crate) fn after_flushall(store: &mut Store) {
    abort_bgsave(store);
    if !save_rules(store).is_empty() {
        if let Err(e) = save_now(store) {
            tracing::error!(error = %e, "saving after FLUSHALL failed");
        }
    }
}

/// The last steps before the process exits (SHUTDOWN, SIGTERM): flush the AOF, save an
/// RDB file when `save` is Some(true) or, if unspecified, when save rules exist, then
/// remove the `unixsocket` file, as Redis does (not when a failed save stops the shutdown).
pub(crate) fn prepare_shutdown(store: &mut Store, save: Option<bool>) -> Result<(), String> {
    if store.saving.bgsave_in_progress {
        tracing::warn!("There is a background save in progress. Aborting it!");
        abort_bgsave(store);
    }
    // The AOF on disk holds the whole dataset already: a rewrite in flight is stopped
    // (its temporary file removed), as Redis kills its child.
    let aof_ready = store.aof.as_ref().is_some_and(|a| !a.waiting_rewrite);
    if aof_ready && store.aof_rewrite_in_progress {
        tracing::warn!("There is a background AOF rewrite in progress. Stopping it!");
        crate::persist::aof_files::abandon_background_rewrite(store);
    }
    store.flush_feed();
    if let Some(aof) = store.aof.as_mut() {
        aof.fsync_now()
            .map_err(|e| format!("fsync of the AOF failed: {e}"))?;
    }
    if save.unwrap_or_else(|| !save_rules(store).is_empty()) {
        save_now(store)?;
    }
    let socket = store.config.get_value("unixsocket");
    if !socket.is_empty() {
        let _ = std::fs::remove_file(socket);
    }
    Ok(())
}

/// The `save` rules as (seconds, changes) pairs; empty means RDB saving is off.
pub(crate) fn save_rules(store: &Store) -> Vec<(u64, u64)> {
    let words: Vec<u64> = store
        .config
        .get_value("save")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    words.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Called from the cron: starts a scheduled BGSAVE (BGSAVE SCHEDULE, or BGSAVE in a
/// transaction) once no background job runs, or a BGSAVE when a `save` rule is met
/// (enough changes and enough time since the last save); after a failure both wait 5 s,
/// as Redis does.
pub(crate) fn autosave_if_due(store: &mut Store, now: u64) {
    if store.saving.bgsave_in_progress || store.aof_rewrite_in_progress || store.loading {
        return;
    }
    let retry_ok = store.saving.last_bgsave_ok
        || store.saving.last_failure_ms == 0
        || now >= store.saving.last_failure_ms + 5000;
    if store.saving.scheduled && retry_ok {
        if let Err(e) = start_bgsave(store) {
            tracing::error!(error = %e, "the scheduled save failed to start");
            return;
        }
        store.saving.scheduled = false;
        return;
    }
    if store.dirty == 0 || !retry_ok {
        return;
    }
    let elapsed = (now / 1000).saturating_sub(store.lastsave);
    let due = save_rules(store)
        .iter()
        .any(|&(secs, changes)| store.dirty >= changes && elapsed >= secs);
    if due {
        tracing::info!(
            changes = store.dirty,
            "save rule met: saving in the background"
        );
        if let Err(e) = start_bgsave(store) {
            tracing::error!(error = %e, "automatic save failed to start");
        }
    }
}

/// Seconds since `started_ms` as Redis reports a job's time (`time(NULL) - start`): whole
/// wall-clock seconds crossed, so a 10 ms job that spans a second boundary counts 1.
pub(crate) fn secs_since(started_ms: u64) -> i64 {
    ((now_ms() / 1000).saturating_sub(started_ms / 1000)) as i64
}

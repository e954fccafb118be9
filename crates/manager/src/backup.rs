//! `rubra backup` and `rubra restore`: a point-in-time copy of every primary's data, and
//! loading it into a cluster of any shape.
//!
//! Backup: for each primary, an in-sync replica (link up, not syncing) runs `BGSAVE` — its
//! normal fork-free snapshot save, so the primary does no work — and rubra reads the
//! resulting RDB file from the node's `dir` (nodes on this host: the local runtime or a
//! `--seed` on this machine). Without an in-sync replica the primary saves instead, and the
//! manifest says so. Each RDB is parsed once to prove it loads and to count its keys. The
//! manifest (`manifest.json`, written last: its presence marks a complete backup) holds the
//! slot map, node ids, each file's SHA-256 and size, the Rubra version and the time.
//!
//! Restore: every file's size and SHA-256 are checked against the manifest and every file
//! is parsed before anything is written; a damaged backup is refused with the file and the
//! reason. Keys are then sent with `RESTORE key ttl payload ABSTTL` (pipelined) to the node
//! that owns their slot in the target cluster, whatever its number of primaries.

use crate::ctx::Ctx;
use crate::password::sha256_hex;
use crate::resp::{parse_info, Value};
use crate::topology::{NodeInfo, View, SLOTS};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Manifest format version; bumped when a reader must change.
pub const FORMAT: u32 = 1;
/// The manifest's file name inside a backup directory.
pub const MANIFEST: &str = "manifest.json";

/// What a backup holds; see the module doc.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// Version of the rubra that wrote it.
    pub rubra_version: String,
    /// Unix seconds when the backup started.
    pub started_unix: u64,
    /// Unix seconds when the last file was written.
    pub finished_unix: u64,
    /// One entry per primary that owned slots.
    pub shards: Vec<Shard>,
    /// Every node of the cluster at backup time.
    pub nodes: Vec<NodeRef>,
}

/// One primary's data in a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Shard {
    /// The primary's node id.
    pub primary_id: String,
    /// Its slots, as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// Node id of the node whose RDB this is (a replica unless none was in sync).
    pub source_id: String,
    /// "replica" or "primary".
    pub source_role: String,
    /// The source's replication offset when its save started.
    pub repl_offset: u64,
    /// File name inside the backup directory.
    pub file: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Number of keys in the file.
    pub keys: u64,
}

/// A node as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeRef {
    /// Node id.
    pub id: String,
    /// Announced ip:port.
    pub addr: String,
    /// Primary's id for a replica.
    pub primary: Option<String>,
}

/// How long one node's BGSAVE may take.
const SAVE_TIMEOUT: Duration = Duration::from_secs(600);

/// Take a backup of the cluster `ctx` reaches into the new directory `to`.
pub fn backup(ctx: &Ctx, to: &Path) -> Result<Manifest> {
    let started = crate::supervisor::now_secs();
    let view = ctx.best_view()?;
    if view.owners().len() != SLOTS {
        bail!(
            "only {} of {SLOTS} slots are served: fix the cluster (`rubra check`) before a backup",
            view.owners().len()
        );
    }
    if let Some(n) = view
        .nodes
        .iter()
        .find(|n| !n.migrating.is_empty() || !n.importing.is_empty())
    {
        bail!(
            "a slot move is in progress (node {}): retry when it ends, so no key is copied twice or missed",
            n.id
        );
    }
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        bail!(
            "{} exists and is not empty; give a new directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    // Backups hold all the data: private to the owner like the data directory.
    std::fs::set_permissions(
        to,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
    )?;
    let mut shards = Vec::new();
    for (i, p) in view
        .primaries()
        .into_iter()
        .filter(|p| p.slot_count() > 0)
        .enumerate()
    {
        let (src, role) = source_for(ctx, &view, p);
        let file = format!("shard-{i}.rdb");
        let (bytes, offset) = save_and_read(ctx, src)
            .with_context(|| format!("backup of primary {} from {}", p.id, src.id))?;
        let keys = count_keys(&bytes).with_context(|| format!("the RDB of node {}", src.id))?;
        crate::state::write_private(&to.join(&file), &bytes)?;
        shards.push(Shard {
            primary_id: p.id.clone(),
            slots: p.slots.clone(),
            source_id: src.id.clone(),
            source_role: role.into(),
            repl_offset: offset,
            file,
            bytes: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
            keys,
        });
    }
    // Keys follow their slot: had a slot moved between two shards' saves, a key could be
    // in both files or in neither. The map must be the same at the end as at the start.
    if ctx.best_view()?.owners() != view.owners() {
        bail!("the slot map changed during the backup (a slot move or failover ran); retry");
    }
    let m = Manifest {
        format: FORMAT,
        rubra_version: env!("CARGO_PKG_VERSION").into(),
        started_unix: started,
        finished_unix: crate::supervisor::now_secs(),
        shards,
        nodes: view
            .nodes
            .iter()
            .map(|n| NodeRef {
                id: n.id.clone(),
                addr: n.announced_addr(),
                primary: n.primary.clone(),
            })
            .collect(),
    };
    let tmp = to.join("manifest.json.tmp");
    crate::state::write_private(&tmp, &serde_json::to_vec_pretty(&m)?)?;
    std::fs::rename(&tmp, to.join(MANIFEST))?;
    Ok(m)
}

/// The node to save for primary `p`: a replica whose link is up and not syncing, else `p`.
fn source_for<'a>(ctx: &Ctx, view: &'a View, p: &'a NodeInfo) -> (&'a NodeInfo, &'static str) {
    for r in view.replicas_of(&p.id) {
        if r.is_failing() {
            continue;
        }
        let in_sync = ctx
            .connect_node(r)
            .and_then(|mut c| c.text(&["INFO", "replication"]))
            .map(|t| {
                let i = parse_info(&t);
                i.get("master_link_status").map(String::as_str) == Some("up")
                    && i.get("master_sync_in_progress").map(String::as_str) != Some("1")
            })
            .unwrap_or(false);
        if in_sync {
            return (r, "replica");
        }
    }
    (p, "primary")
}

fn config_get(c: &mut crate::resp::Conn, name: &str) -> Result<String> {
    match c.ok(&["CONFIG", "GET", name])? {
        Value::Array(v) if v.len() == 2 => v[1]
            .text()
            .ok_or_else(|| anyhow!("CONFIG GET {name}: not text")),
        v => bail!("CONFIG GET {name}: unexpected reply {v:?}"),
    }
}

/// BGSAVE on `n`, wait for it to finish, read the file it wrote; (bytes, repl offset).
fn save_and_read(ctx: &Ctx, n: &NodeInfo) -> Result<(Vec<u8>, u64)> {
    let mut c = ctx.connect_node(n)?;
    let dir = config_get(&mut c, "dir")?;
    let name = config_get(&mut c, "dbfilename")?;
    let path = Path::new(&dir).join(&name);
    let lastsave = |c: &mut crate::resp::Conn| -> Result<i64> {
        match c.ok(&["LASTSAVE"])? {
            Value::Int(t) => Ok(t),
            v => bail!("LASTSAVE: unexpected reply {v:?}"),
        }
    };
    // LASTSAVE has one-second resolution: start in a later second than the last save so
    // a change of it proves our save finished.
    let before = lastsave(&mut c)?;
    while crate::supervisor::now_secs() as i64 <= before {
        std::thread::sleep(Duration::from_millis(100));
    }
    let info = parse_info(&c.text(&["INFO", "replication"])?);
    let offset = info
        .get("slave_repl_offset")
        .or_else(|| info.get("master_repl_offset"))
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    c.ok(&["BGSAVE", "SCHEDULE"])?;
    let t0 = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let p = parse_info(&c.text(&["INFO", "persistence"])?);
        let busy = p.get("rdb_bgsave_in_progress").map(String::as_str) == Some("1");
        if !busy && lastsave(&mut c)? > before {
            if p.get("rdb_last_bgsave_status").map(String::as_str) != Some("ok") {
                bail!("{}: BGSAVE failed (see the node's log)", c.addr());
            }
            break;
        }
        if t0.elapsed() > SAVE_TIMEOUT {
            bail!(
                "{}: BGSAVE did not finish within {SAVE_TIMEOUT:?}",
                c.addr()
            );
        }
    }
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "read {} (the backup reads each node's RDB file, so it must run on the nodes' host)",
            path.display()
        )
    })?;
    Ok((bytes, offset))
}

/// Keys in an RDB image; an error if it does not parse.
fn count_keys(bytes: &[u8]) -> Result<u64> {
    let mut n = 0u64;
    rubra_persistence::read_rdb(bytes, |_| n += 1).map_err(|e| anyhow!("{e}"))?;
    Ok(n)
}

/// Read and check a backup: the manifest, then every file's size, SHA-256 and parse.
/// Returns the manifest and the files' paths (one file in memory at a time); any damage is
/// an error naming the file.
pub fn verify(from: &Path) -> Result<(Manifest, Vec<std::path::PathBuf>)> {
    let mpath = from.join(MANIFEST);
    let text = std::fs::read(&mpath).with_context(|| {
        format!(
            "{} is not a complete backup: no readable {MANIFEST}",
            from.display()
        )
    })?;
    let m: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("damaged backup: {} does not parse", mpath.display()))?;
    if m.format != FORMAT {
        bail!(
            "backup format {} is not supported (this rubra reads format {FORMAT})",
            m.format
        );
    }
    let mut files = Vec::new();
    for s in &m.shards {
        if s.file.contains('/') || s.file.starts_with('.') {
            bail!("damaged backup: bad file name {:?} in the manifest", s.file);
        }
        let p = from.join(&s.file);
        let bytes = std::fs::read(&p)
            .with_context(|| format!("damaged backup: cannot read {}", p.display()))?;
        if bytes.len() as u64 != s.bytes {
            bail!(
                "damaged backup: {} has {} bytes, the manifest says {}; refusing to restore",
                s.file,
                bytes.len(),
                s.bytes
            );
        }
        let sum = sha256_hex(&bytes);
        if sum != s.sha256 {
            bail!(
                "damaged backup: {} has SHA-256 {sum}, the manifest says {}; refusing to restore",
                s.file,
                s.sha256
            );
        }
        let keys = count_keys(&bytes)
            .with_context(|| format!("damaged backup: {} does not load", s.file))?;
        if keys != s.keys {
            bail!(
                "damaged backup: {} holds {keys} keys, the manifest says {}",
                s.file,
                s.keys
            );
        }
        files.push(p);
    }
    Ok((m, files))
}

/// Commands per pipelined batch (and a byte bound, so a batch of big values stays small).
const BATCH: usize = 500;
const BATCH_BYTES: usize = 4 << 20;

/// Load the backup in `from` into the cluster `ctx` reaches; returns the keys restored.
/// Refuses a cluster that already holds keys unless `replace` (then existing keys are
/// overwritten). Keys already expired are skipped; only database 0 exists in a cluster.
pub fn restore(ctx: &Ctx, from: &Path, replace: bool) -> Result<u64> {
    let (_m, files) = verify(from)?;
    load(ctx, &files, replace)
}

/// Load plain RDB files (e.g. `dump.rdb` of each primary of a Redis 7.0 cluster, or of a
/// standalone server) like [`restore`] loads a backup: every file must parse, with its
/// own CRC-64 trailer checked, before anything is written.
pub fn restore_rdb(ctx: &Ctx, paths: &[std::path::PathBuf], replace: bool) -> Result<u64> {
    for p in paths {
        let bytes = std::fs::read(p).with_context(|| format!("read {}", p.display()))?;
        count_keys(&bytes).with_context(|| {
            format!(
                "{} is not a loadable RDB file; nothing restored",
                p.display()
            )
        })?;
    }
    load(ctx, paths, replace)
}

/// Send every key of the (already checked) RDB files to its slot's owner in the cluster.
fn load(ctx: &Ctx, files: &[std::path::PathBuf], replace: bool) -> Result<u64> {
    let view = ctx.best_view()?;
    let owners = view.owners();
    if owners.len() != SLOTS {
        bail!(
            "only {} of {SLOTS} slots are served: fix the cluster before restoring",
            owners.len()
        );
    }
    let mut conns = HashMap::new();
    for p in view.primaries().into_iter().filter(|p| p.slot_count() > 0) {
        let mut c = ctx.connect_node(p)?;
        if !replace {
            if let Value::Int(n) = c.ok(&["DBSIZE"])? {
                if n > 0 {
                    bail!(
                        "node {} already holds {n} keys; restore into an empty cluster or give --replace",
                        p.id
                    );
                }
            }
        }
        conns.insert(p.id.clone(), (c, Vec::<Vec<Vec<u8>>>::new(), 0usize));
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut restored = 0u64;
    let mut refused = 0u64;
    let mut errors: Vec<String> = Vec::new();
    let mut flush = |c: &mut crate::resp::Conn, batch: &mut Vec<Vec<Vec<u8>>>| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for (cmd, v) in batch.iter().zip(c.pipeline(batch)?) {
            match v {
                Value::Err(e) => {
                    refused += 1;
                    if errors.len() < 5 {
                        errors.push(format!("{}: {e}", String::from_utf8_lossy(&cmd[1])));
                    }
                }
                _ => restored += 1,
            }
        }
        batch.clear();
        Ok(())
    };
    let mut skipped_db = 0u64;
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        let mut reader = rubra_persistence::RdbReader::new(&bytes).map_err(|e| anyhow!("{e}"))?;
        while let Some(e) = reader.next_entry().map_err(|e| anyhow!("{e}"))? {
            if e.db != 0 {
                skipped_db += 1;
                continue;
            }
            if e.expire_ms.is_some_and(|t| t <= now_ms) {
                continue;
            }
            let slot = rubra_keys::key_slot(&e.key);
            let owner = owners
                .get(&slot)
                .ok_or_else(|| anyhow!("slot {slot} has no owner"))?;
            let (c, batch, size) = conns
                .get_mut(owner)
                .ok_or_else(|| anyhow!("owner {owner} of slot {slot} is not a known primary"))?;
            let payload = rubra_persistence::dump_payload(&e.value);
            *size += payload.len() + e.key.len();
            let mut cmd = vec![
                b"RESTORE".to_vec(),
                e.key,
                e.expire_ms.unwrap_or(0).to_string().into_bytes(),
                payload,
            ];
            if e.expire_ms.is_some() {
                cmd.push(b"ABSTTL".to_vec());
            }
            if replace {
                cmd.push(b"REPLACE".to_vec());
            }
            batch.push(cmd);
            if batch.len() >= BATCH || *size >= BATCH_BYTES {
                flush(c, batch)?;
                *size = 0;
            }
        }
    }
    for (c, batch, _) in conns.values_mut() {
        flush(c, batch)?;
    }
    if refused > 0 {
        bail!(
            "{restored} keys restored, but nodes refused {refused} (first ones: {})",
            errors.join("; ")
        );
    }
    if skipped_db > 0 {
        eprintln!(
            "rubra: skipped {skipped_db} keys of databases other than 0 (a cluster has only db 0)"
        );
    }
    Ok(restored)
}

/// Parse a backup interval: seconds, or a number with `s`, `m`, `h` or `d` (`1h`).
pub fn parse_every(s: &str) -> Result<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow!("bad interval {s:?}: give seconds or e.g. 30m, 1h, 1d"))?;
    if n == 0 {
        bail!("the backup interval must be above zero");
    }
    Ok(n.saturating_mul(mult))
}

/// Name prefix of scheduled backups inside their directory (`backup-UNIXTIME`).
const SCHEDULED_PREFIX: &str = "backup-";

/// The complete scheduled backups under `root` (those with a manifest), oldest first.
pub fn scheduled(root: &Path) -> Vec<(u64, std::path::PathBuf, Manifest)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(ts) = name
            .strip_prefix(SCHEDULED_PREFIX)
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let m = std::fs::read(e.path().join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok());
        if let Some(m) = m {
            out.push((ts, e.path(), m));
        }
    }
    out.sort_by_key(|(ts, _, _)| *ts);
    out
}

/// One scheduled backup into `root/backup-NOW`, then only the newest `keep` complete
/// backups are kept (a failed attempt's partial directory is removed). Returns the
/// manifest and how many old backups were removed.
pub fn scheduled_backup(ctx: &Ctx, root: &Path, keep: usize) -> Result<(Manifest, usize)> {
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    // One supervisor per data directory runs these, so a directory without a manifest
    // is what an interrupted run (a stop mid-backup) left: remove it.
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path();
            let ours = e
                .file_name()
                .to_string_lossy()
                .starts_with(SCHEDULED_PREFIX);
            if ours && p.is_dir() && !p.join(MANIFEST).exists() {
                let _ = std::fs::remove_dir_all(&p);
            }
        }
    }
    let to = root.join(format!(
        "{SCHEDULED_PREFIX}{}",
        crate::supervisor::now_secs()
    ));
    let m = match backup(ctx, &to) {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&to);
            return Err(e);
        }
    };
    let all = scheduled(root);
    let extra = all.len().saturating_sub(keep.max(1));
    for (_, p, _) in all.iter().take(extra) {
        std::fs::remove_dir_all(p).with_context(|| format!("remove {}", p.display()))?;
    }
    Ok((m, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_with_units() {
        assert_eq!(parse_every("90").ok(), Some(90));
        assert_eq!(parse_every("30s").ok(), Some(30));
        assert_eq!(parse_every("15m").ok(), Some(900));
        assert_eq!(parse_every("1h").ok(), Some(3600));
        assert_eq!(parse_every("2d").ok(), Some(172_800));
        assert!(parse_every("0").is_err() && parse_every("h").is_err());
        assert!(parse_every("1w").is_err());
    }

    #[test]
    fn a_damaged_manifest_is_refused_by_name() {
        let d = std::env::temp_dir().join(format!("rubra-verify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let e = verify(&d).unwrap_err();
        assert!(format!("{e:#}").contains("not a complete backup"), "{e:#}");
        std::fs::write(d.join(MANIFEST), b"{not json").unwrap();
        let e = verify(&d).unwrap_err();
        assert!(format!("{e:#}").contains("damaged backup"), "{e:#}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

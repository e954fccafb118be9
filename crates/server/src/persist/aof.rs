//! The append-only file: the propagation feed written to disk, fsynced per `appendfsync`
//! (`always`: before the batch's replies are sent, so an acknowledged write survives kill -9;
//! `everysec`: by the cron; `no`: by the OS), replayed on start-up, and rewritten in the
//! background from a copy-on-write snapshot (BGREWRITEAOF) without blocking clients.

use bytes::Bytes;
use rubra_keyspace::{DbSnapshot, Entry, Value};
use rubra_resp::encode_request;
use rubra_resp::{parse_request, Limits, Parsed};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// When the AOF is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsyncPolicy {
    Always,
    EverySec,
    No,
}

impl FsyncPolicy {
    /// From the `appendfsync` value.
    pub(crate) fn from_config(v: &str) -> FsyncPolicy {
        match v {
            "always" => FsyncPolicy::Always,
            "no" => FsyncPolicy::No,
            _ => FsyncPolicy::EverySec,
        }
    }
}

/// An open AOF being appended to.
pub(crate) struct AofWriter {
    file: File,
    pub path: PathBuf,
    pub policy: FsyncPolicy,
    /// Bytes written since the last fsync.
    unsynced: bool,
    /// While a rewrite runs: everything appended meanwhile, to be added to the new file.
    rewrite_buf: Option<Vec<u8>>,
    pub size: u64,
    /// Feed bytes a failed write could not store, retried first on the next append or by
    /// the cron (Redis keeps them in aof_buf), so nothing is lost or reordered.
    pending: Vec<u8>,
    /// The last write or fsync error, as strerror words it, until a retry succeeds. While
    /// set, the node refuses writes with -MISCONF (Redis's aof_last_write_status).
    write_error: Option<String>,
}

impl AofWriter {
    /// Opens (creating if needed) the AOF for appending.
    pub(crate) fn open(path: &Path, policy: FsyncPolicy) -> std::io::Result<AofWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(AofWriter {
            file,
            path: path.to_path_buf(),
            policy,
            unsynced: false,
            rewrite_buf: None,
            size,
            pending: Vec::new(),
            write_error: None,
        })
    }

    /// Appends feed bytes; fsyncs at once under `always`. On an error the bytes are kept
    /// for a retry (after any earlier ones still waiting) and the file is cut back to its
    /// last complete command, so a reload never sees half a command.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if let Some(buf) = self.rewrite_buf.as_mut() {
            buf.extend_from_slice(bytes);
        }
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(bytes);
            return self.retry_pending();
        }
        if let Err(e) = self.write_out(bytes) {
            self.pending.extend_from_slice(bytes);
            return Err(e);
        }
        self.sync_after_write()
    }

    /// Writes what earlier failed appends left behind (the cron calls this while an error
    /// stands, as Redis's serverCron retries its AOF buffer).
    pub(crate) fn retry_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        if let Err(e) = self.write_out(&pending) {
            self.pending = pending;
            return Err(e);
        }
        self.sync_after_write()
    }

    /// The error that makes the node refuse writes, if one stands.
    pub(crate) fn write_error(&self) -> Option<&str> {
        self.write_error.as_deref()
    }

    /// One write of `bytes`; a partial write is truncated away on failure.
    fn write_out(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // O_APPEND writes go to the (new) end, so cutting back is all it takes.
                let _ = self.file.set_len(self.size);
                self.note_error(&e);
                Err(e)
            }
        }
    }

    /// After a successful write: fsync under `always`, and lift a standing error.
    fn sync_after_write(&mut self) -> std::io::Result<()> {
        if self.policy == FsyncPolicy::Always {
            if let Err(e) = self.file.sync_data() {
                self.note_error(&e);
                return Err(e);
            }
        } else {
            self.unsynced = true;
        }
        if self.write_error.take().is_some() {
            tracing::warn!("AOF write error looks solved: writes are accepted again");
        }
        Ok(())
    }

    /// Records a write or fsync error; the state changes before the log line, so it holds
    /// whatever becomes of the logging.
    fn note_error(&mut self, e: &std::io::Error) {
        let first = self.write_error.replace(crate::strerror(e)).is_none();
        if first {
            tracing::error!(error = %e, "writing the AOF failed: refusing writes until it works");
        }
    }

    /// The `everysec` fsync, called by the cron. A failed fsync stands as a write error
    /// (Redis's aof_bio_fsync_status) until a later one works.
    pub(crate) fn fsync_if_needed(&mut self) -> std::io::Result<()> {
        if self.unsynced && self.policy == FsyncPolicy::EverySec {
            if let Err(e) = self.file.sync_data() {
                self.note_error(&e);
                return Err(e);
            }
            self.unsynced = false;
            if self.pending.is_empty() && self.write_error.take().is_some() {
                tracing::warn!("AOF fsync error looks solved: writes are accepted again");
            }
        }
        Ok(())
    }

    /// fsyncs whatever was appended, whatever the policy (shutdown).
    pub(crate) fn fsync_now(&mut self) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.unsynced = false;
        Ok(())
    }

    /// Starts buffering appends for a rewrite in progress.
    pub(crate) fn start_rewrite(&mut self) {
        self.rewrite_buf = Some(Vec::new());
    }

    /// Completes a rewrite: appends what arrived meanwhile to `tmp`, fsyncs it, renames it
    /// over the AOF and continues appending to the new file.
    /// A rewrite abandoned meanwhile (`abort_rewrite`) fails here and leaves the AOF alone.
    pub(crate) fn finish_rewrite(&mut self, tmp: &Path) -> std::io::Result<()> {
        let Some(tail) = self.rewrite_buf.take() else {
            let _ = std::fs::remove_file(tmp);
            return Err(std::io::Error::other("the rewrite was abandoned"));
        };
        let mut f = OpenOptions::new().append(true).open(tmp)?;
        f.write_all(&tail)?;
        f.sync_all()?;
        std::fs::rename(tmp, &self.path)?;
        let file = OpenOptions::new().append(true).open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = file;
        self.unsynced = false;
        // The new file holds everything appended meanwhile, failed appends included.
        self.pending.clear();
        self.write_error = None;
        Ok(())
    }

    /// Abandons a failed rewrite.
    pub(crate) fn abort_rewrite(&mut self) {
        self.rewrite_buf = None;
    }
}

/// Rewrites the AOF from the dataset in memory at once, under the store lock. A replica
/// calls it after loading a full sync: its AOF holds the history it had before, not the
/// dataset it just received, so a restart would replay the wrong data (and a primary
/// restarted from it would hand that to its replicas). Redis restarts the AOF after a
/// sync for the same reason. A background rewrite in flight (of the old data) is
/// abandoned.
pub(crate) fn rewrite_now(store: &mut crate::store::Store) -> Result<(), String> {
    let Some(aof) = store.aof.as_mut() else {
        return Ok(());
    };
    aof.abort_rewrite();
    let tmp = PathBuf::from(format!(
        "{}.sync-{}",
        aof.path.display(),
        std::process::id()
    ));
    let snapshots: Vec<DbSnapshot> = store.dbs.iter().map(|db| db.snapshot()).collect();
    let functions = store.scripts.library_codes();
    write_snapshot_commands(&tmp, &snapshots, &functions, crate::store::now_ms())
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    // The rewritten file ends with the snapshot's last SELECT: make the tail start with one.
    store.feed.reset_db();
    let Some(aof) = store.aof.as_mut() else {
        return Ok(());
    };
    aof.start_rewrite();
    aof.finish_rewrite(&tmp).map_err(|e| e.to_string())
}

/// Writes the commands that rebuild `dbs` (one snapshot per database) to `path`.
pub(crate) fn write_snapshot_commands(
    path: &Path,
    dbs: &[DbSnapshot],
    functions: &[Bytes],
    now_ms: u64,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut buf = Vec::new();
    for code in functions {
        buf.clear();
        encode_request(
            &mut buf,
            &[
                Bytes::from_static(b"FUNCTION"),
                Bytes::from_static(b"LOAD"),
                Bytes::from_static(b"REPLACE"),
                code.clone(),
            ],
        );
        out.write_all(&buf)?;
    }
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        buf.clear();
        encode_request(
            &mut buf,
            &[Bytes::from_static(b"SELECT"), Bytes::from(i.to_string())],
        );
        out.write_all(&buf)?;
        let mut err = None;
        db.for_each(now_ms, |key, entry, expire_at| {
            buf.clear();
            rebuild_commands(&mut buf, key, entry, expire_at);
            if let Err(e) = out.write_all(&buf) {
                err.get_or_insert(e);
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    out.flush()?;
    out.get_ref().sync_all()
}

/// Commands that recreate one key, in batches so no single command is huge (AOF rewrite,
/// and big values of an atomic slot migration); returns how many were written.
pub(crate) fn rebuild_commands(
    buf: &mut Vec<u8>,
    key: &[u8],
    entry: &Entry,
    expire_at: u64,
) -> u64 {
    const BATCH: usize = 64;
    let mut n = 0u64;
    let mut encode_request = |buf: &mut Vec<u8>, args: &[Bytes]| {
        n += 1;
        rubra_resp::encode_request(buf, args);
    };
    let k = Bytes::copy_from_slice(key);
    match &entry.value {
        Value::Str(v) => encode_request(
            buf,
            &[
                Bytes::from_static(b"SET"),
                k.clone(),
                Bytes::copy_from_slice(v),
            ],
        ),
        Value::List(l) => {
            for chunk in l.iter().collect::<Vec<_>>().chunks(BATCH) {
                let mut args = vec![Bytes::from_static(b"RPUSH"), k.clone()];
                args.extend(chunk.iter().map(|v| Bytes::copy_from_slice(v)));
                encode_request(buf, &args);
            }
        }
        Value::Hash(h) => {
            for chunk in h.iter().collect::<Vec<_>>().chunks(BATCH) {
                let mut args = vec![Bytes::from_static(b"HSET"), k.clone()];
                for (f, v) in chunk {
                    args.push(Bytes::copy_from_slice(f));
                    args.push(Bytes::copy_from_slice(v));
                }
                encode_request(buf, &args);
            }
        }
        Value::Set(s) => {
            for chunk in s.iter().collect::<Vec<_>>().chunks(BATCH) {
                let mut args = vec![Bytes::from_static(b"SADD"), k.clone()];
                args.extend(chunk.iter().map(|m| m.to_bytes()));
                encode_request(buf, &args);
            }
        }
        Value::ZSet(z) => {
            let members: Vec<(Bytes, f64)> = z
                .iter()
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect();
            for chunk in members.chunks(BATCH) {
                let mut args = vec![Bytes::from_static(b"ZADD"), k.clone()];
                for (m, score) in chunk {
                    args.push(Bytes::from(rubra_resp::format_double(*score)));
                    args.push(m.clone());
                }
                encode_request(buf, &args);
            }
        }
        Value::Stream(s) => {
            for args in crate::repl::stream_forms::rebuild_stream(&k, s) {
                encode_request(buf, &args);
            }
        }
    }
    if expire_at != 0 {
        encode_request(
            buf,
            &[
                Bytes::from_static(b"PEXPIREAT"),
                k,
                Bytes::from(expire_at.to_string()),
            ],
        );
    }
    n
}

/// Outcome of reading an AOF for replay.
pub(crate) struct AofContents {
    pub commands: Vec<Vec<Bytes>>,
    /// Length of the valid prefix; shorter than the file if its last command is truncated.
    pub valid_len: u64,
    pub truncated: bool,
}

/// Reads and parses an AOF. A truncated final command is reported (the caller truncates or
/// refuses per `aof-load-truncated`); any other corruption is an error.
pub(crate) fn read_aof(path: &Path) -> Result<AofContents, String> {
    let data = std::fs::read(path).map_err(|e| format!("can't read {}: {e}", path.display()))?;
    parse_aof(&data, &path.display().to_string())
}

/// Parses AOF bytes (`name` is the file, for error messages); the part of [`read_aof`] that
/// the fuzz targets drive directly.
pub(crate) fn parse_aof(data: &[u8], name: &str) -> Result<AofContents, String> {
    let limits = Limits {
        max_bulk_len: usize::MAX / 2,
        max_multibulk_len: usize::MAX / 2,
        ..Limits::default()
    };
    let mut pos = 0;
    let mut commands = Vec::new();
    while pos < data.len() {
        match parse_request(&data[pos..], &limits) {
            Ok(Parsed::Complete(args, used)) => {
                if !args.is_empty() {
                    commands.push(args);
                }
                pos += used;
            }
            Ok(Parsed::Incomplete { .. }) => {
                return Ok(AofContents {
                    commands,
                    valid_len: pos as u64,
                    truncated: true,
                })
            }
            Err(e) => {
                return Err(format!(
                    "Bad file format reading the append only file {name} at offset {pos}: {}",
                    e.message()
                ))
            }
        }
    }
    Ok(AofContents {
        commands,
        valid_len: pos as u64,
        truncated: false,
    })
}

/// Replays an AOF into the store through the normal command path (so MULTI/EXEC and SELECT
/// behave as they did live). The feed is off while loading so nothing is re-appended.
/// Returns the number of commands replayed.
pub(crate) fn replay(store: &mut crate::store::Store, commands: Vec<Vec<Bytes>>) -> usize {
    let was_active = store.feed.active;
    store.feed.active = false;
    store.loading = true;
    let mut loader = crate::client::ClientState {
        authenticated: true,
        no_block: true,
        ..Default::default()
    };
    let mut sink = Vec::new();
    let n = commands.len();
    for args in commands {
        let _ = crate::exec::dispatch::execute(store, &mut loader, args, &mut sink);
        sink.clear();
    }
    store.loading = false;
    store.feed.active = was_active;
    n
}

/// Opens the AOF at start-up: replays it if present (handling a truncated tail per
/// `aof-load-truncated`), then opens it for appending and turns the feed on.
pub(crate) fn start(store: &mut crate::store::Store) -> Result<(), String> {
    if store.config.get_value("appendonly") != "yes" {
        return Ok(());
    }
    let dir = PathBuf::from(store.config.get_value("dir"));
    let path = dir.join(store.config.get_value("appendfilename"));
    if path.exists() {
        let contents = read_aof(&path)?;
        if contents.truncated {
            if store.config.get_value("aof-load-truncated") != "yes" {
                return Err(format!(
                    "Unexpected end of file reading the append only file {}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                    path.display()
                ));
            }
            tracing::warn!(path = %path.display(), valid_len = contents.valid_len, "AOF ends with a truncated command: truncating the file and loading the rest");
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| e.to_string())?;
            f.set_len(contents.valid_len).map_err(|e| e.to_string())?;
            f.sync_all().map_err(|e| e.to_string())?;
        }
        let n = replay(store, contents.commands);
        tracing::info!(commands = n, "AOF loaded");
    }
    let policy = FsyncPolicy::from_config(store.config.get_value("appendfsync"));
    store.aof = Some(
        AofWriter::open(&path, policy)
            .map_err(|e| format!("can't open the append only file {}: {e}", path.display()))?,
    );
    store.feed.active = true;
    store.feed.aof_on = true;
    store.feed.reset_db();
    Ok(())
}

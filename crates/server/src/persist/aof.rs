//! The append-only file: the propagation feed written to disk, fsynced per `appendfsync`
//! (`always`: before the batch's replies are sent, so an acknowledged write survives kill -9;
//! `everysec`: by the cron; `no`: by the OS). Redis 7.0's multi-part layout (base, incr
//! and history files listed in a manifest) is in `aof_files`; this module holds the
//! writer of the current incr file and the parsing of one file.

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
    /// Size of the file appended to (Redis's aof_last_incr_size).
    pub size: u64,
    /// Bytes of the other files the manifest lists (base and earlier incr files), so
    /// INFO's aof_current_size covers them all.
    pub others_size: u64,
    /// Set after `CONFIG SET appendonly yes` until the first rewrite succeeds (Redis's
    /// AOF_WAIT_REWRITE): appends go to the temporary incr file, which the rewrite's end
    /// turns into the first real one.
    pub waiting_rewrite: bool,
    /// The second of the last `#TS:` annotation written (aof-timestamp-enabled).
    last_ts: u64,
    /// Feed bytes a failed write could not store, retried first on the next append or by
    /// the cron (Redis keeps them in aof_buf), so nothing is lost or reordered.
    pending: Vec<u8>,
    /// The last write or fsync error, as strerror words it, until a retry succeeds. While
    /// set, the node refuses writes with -MISCONF (Redis's aof_last_write_status).
    write_error: Option<String>,
}

impl AofWriter {
    /// Opens (creating if needed) an incr file for appending.
    pub(crate) fn open(path: &Path, policy: FsyncPolicy) -> std::io::Result<AofWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(AofWriter {
            file,
            path: path.to_path_buf(),
            policy,
            unsynced: false,
            size,
            others_size: 0,
            waiting_rewrite: false,
            last_ts: 0,
            pending: Vec::new(),
            write_error: None,
        })
    }

    /// Continues appending to `file` (a new, empty incr file) at `path`; the old file is
    /// fsynced first (best effort: its writes were flushed already).
    pub(crate) fn switch_to(&mut self, file: File, path: PathBuf) {
        if self.unsynced {
            let _ = self.file.sync_data();
        }
        self.others_size += self.size;
        self.file = file;
        self.path = path;
        self.size = 0;
        self.unsynced = false;
    }

    /// [`AofWriter::append`] with a `#TS:<unix seconds>` annotation line first when
    /// `now_secs` is given (aof-timestamp-enabled) and the second changed since the last
    /// one, as Redis annotates its AOF (redis-check-aof can truncate at a time).
    pub(crate) fn append_stamped(
        &mut self,
        bytes: &[u8],
        now_secs: Option<u64>,
    ) -> std::io::Result<()> {
        match now_secs {
            Some(now) if now > self.last_ts && !bytes.is_empty() => {
                self.last_ts = now;
                let mut stamped = format!("#TS:{now}\r\n").into_bytes();
                stamped.extend_from_slice(bytes);
                self.append(&stamped)
            }
            _ => self.append(bytes),
        }
    }

    /// Appends feed bytes; fsyncs at once under `always`. On an error the bytes are kept
    /// for a retry (after any earlier ones still waiting) and the file is cut back to its
    /// last complete command, so a reload never sees half a command.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
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
}

/// Writes the commands that rebuild `dbs` (one snapshot per database) to `path`.
pub(crate) fn write_snapshot_commands(
    path: &Path,
    dbs: &[DbSnapshot],
    functions: &[Bytes],
    now_ms: u64,
    timestamp: bool,
    control: &super::save_control::SaveControl,
) -> std::io::Result<()> {
    let mut out = BufWriter::new(control.create(path)?);
    let mut count = 0u64;
    if timestamp {
        out.write_all(format!("#TS:{}\r\n", now_ms / 1000).as_bytes())?;
    }
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
            if err.is_some() {
                return;
            }
            if control.flag().load(std::sync::atomic::Ordering::Relaxed) {
                err = Some(super::save_control::aborted_error());
                return;
            }
            count += 1;
            super::rdb::save_key_delay(count);
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
    /// Length of the valid prefix; shorter than the file if its last command is truncated
    /// or it ends inside a MULTI without its EXEC.
    pub valid_len: u64,
    pub truncated: bool,
    /// The file ended inside a transaction, which was dropped (Redis reverts it).
    pub reverted_multi: bool,
}

/// Parses AOF commands (`name` is the file, for error messages); what start-up, DEBUG LOADAOF
/// and the fuzz targets use. Lines starting with `#` are annotations
/// (aof-timestamp-enabled) and skipped, as Redis does.
pub(crate) fn parse_aof(data: &[u8], name: &str) -> Result<AofContents, String> {
    let limits = Limits {
        max_bulk_len: usize::MAX / 2,
        max_multibulk_len: usize::MAX / 2,
        ..Limits::default()
    };
    let bad = || {
        format!("Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>")
    };
    let mut pos = 0;
    let mut commands = Vec::new();
    // Where the open MULTI started: (offset, number of commands before it).
    let mut multi: Option<(usize, usize)> = None;
    let truncated = |commands: Vec<Vec<Bytes>>, valid_len: usize| AofContents {
        commands,
        valid_len: valid_len as u64,
        truncated: true,
        reverted_multi: false,
    };
    while pos < data.len() {
        if data[pos] == b'#' {
            pos = match data[pos..].iter().position(|&b| b == b'\n') {
                Some(i) => pos + i + 1,
                None => data.len(),
            };
            continue;
        }
        if data[pos] != b'*' {
            return Err(bad());
        }
        match parse_request(&data[pos..], &limits) {
            Ok(Parsed::Complete(args, used)) => {
                if args.is_empty() {
                    return Err(bad());
                }
                let cmd = args[0].to_ascii_lowercase();
                match cmd.as_slice() {
                    b"multi" => multi = Some((pos, commands.len())),
                    b"exec" | b"discard" => multi = None,
                    _ => {}
                }
                commands.push(args);
                pos += used;
            }
            Ok(Parsed::Incomplete { .. }) => {
                let (valid, n) = multi.unwrap_or((pos, commands.len()));
                commands.truncate(n);
                return Ok(truncated(commands, valid));
            }
            Err(_) => return Err(bad()),
        }
    }
    if let Some((valid, n)) = multi {
        commands.truncate(n);
        let mut c = truncated(commands, valid);
        c.reverted_multi = true;
        return Ok(c);
    }
    Ok(AofContents {
        commands,
        valid_len: pos as u64,
        truncated: false,
        reverted_multi: false,
    })
}

/// Replays an AOF into the store through the normal command path (so MULTI/EXEC and SELECT
/// behave as they did live). The feed is off while loading so nothing is re-appended.
/// Returns the number of commands replayed.
pub(crate) fn replay(store: &mut crate::store::Store, commands: Vec<Vec<Bytes>>) -> usize {
    let was_active = store.feed.active;
    store.feed.active = false;
    store.loading = true;
    // Nothing expires while loading (Redis's keyIsExpired): the file's later commands
    // see the keys they saw when they ran.
    store.set_primary_view(true);
    let busy = store.scripts.busy.clone();
    busy.loading
        .store(true, std::sync::atomic::Ordering::Relaxed);
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
    store.set_primary_view(false);
    busy.loading
        .store(false, std::sync::atomic::Ordering::Relaxed);
    store.loading = false;
    store.feed.active = was_active;
    n
}

//! RDB snapshots of the keyspace, shared by SAVE/BGSAVE, replica full sync, start-up
//! loading and DUMP/RESTORE. The byte format lives in the `rubra-persistence` crate; this
//! file converts between our values and its neutral model, and writes files atomically.

use bytes::Bytes;
use rubra_keyspace::stream::{ConsumerGroup, PendingEntry};
use rubra_keyspace::{Db, DbSnapshot, Entry, Stream, StreamId, Value, ZSet};
use rubra_persistence::{
    dump_payload_as, restore_payload_checked, Next, RdbError, RdbFeedReader, RdbInfo, RdbItem,
    RdbReader, RdbStream, RdbStreamGroup, RdbValue, RdbWriter,
};
use rubra_resp::Reply;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// `rdb-key-save-delay` and `key-load-delay` (microseconds per key, Redis's test hooks
/// to make a save or a load last): read by the encoder and the loaders as they go, so a
/// CONFIG SET takes effect in the middle of a load, as Redis (which serves commands while
/// loading) does.
static KEY_SAVE_DELAY_US: AtomicI64 = AtomicI64::new(0);
static KEY_LOAD_DELAY_US: AtomicI64 = AtomicI64::new(0);

/// Takes the two per-key delays from the configuration (start-up and CONFIG SET).
pub(crate) fn set_key_delays(config: &crate::config::Config) {
    let get = |name: &str| config.get_value(name).parse::<i64>().unwrap_or(0);
    KEY_SAVE_DELAY_US.store(get("rdb-key-save-delay"), Ordering::Relaxed);
    KEY_LOAD_DELAY_US.store(get("key-load-delay"), Ordering::Relaxed);
}

/// Redis's debugDelay: sleeps `usec` microseconds; a negative value sleeps 1 us once
/// every -`usec` keys (Redis does it at random with that odds). `count` numbers the keys.
fn key_delay(delay: &AtomicI64, count: u64) {
    let usec = delay.load(Ordering::Relaxed);
    let sleep = match usec {
        0 => return,
        1.. => usec as u64,
        _ => u64::from(count.is_multiple_of(usec.unsigned_abs())),
    };
    if sleep > 0 {
        std::thread::sleep(Duration::from_micros(sleep));
    }
}

/// The per-key `rdb-key-save-delay` for the other snapshot writers (an AOF rewrite in
/// the command format; Redis applies it there too). `count` numbers the keys.
pub(crate) fn save_key_delay(count: u64) {
    key_delay(&KEY_SAVE_DELAY_US, count);
}

/// Our value in the RDB model.
pub(crate) fn to_rdb(value: &Value) -> RdbValue {
    let owned = |b: &[u8]| b.to_vec();
    match value {
        Value::Str(s) => RdbValue::Str(s.to_vec()),
        Value::List(l) => RdbValue::List(l.iter().map(owned).collect()),
        Value::Hash(h) => RdbValue::Hash(h.iter().map(|(f, v)| (owned(f), owned(v))).collect()),
        Value::Set(s) => RdbValue::Set(s.iter().map(|m| m.to_vec()).collect()),
        Value::ZSet(z) => RdbValue::ZSet(z.iter().map(|(m, s)| (owned(m), s)).collect()),
        Value::Stream(s) => RdbValue::Stream(Box::new(stream_to_rdb(s))),
    }
}

fn pair(id: StreamId) -> (u64, u64) {
    (id.ms, id.seq)
}

fn unpair(id: (u64, u64)) -> StreamId {
    StreamId::new(id.0, id.1)
}

/// Whether the value is in its full encoding (hash table set or hash, skiplist zset): the
/// RDB form follows the object, not its size, as in Redis (which never converts back).
fn is_full(value: &Value) -> bool {
    match value {
        Value::Hash(h) => !h.is_compact(),
        Value::Set(s) => !s.is_compact(),
        Value::ZSet(z) => !z.is_compact(),
        _ => false,
    }
}

/// A stream in the RDB model, keeping our node layout (the one Redis would have).
fn stream_to_rdb(s: &Stream) -> RdbStream {
    let owned = |b: &Bytes| b.to_vec();
    let mut deleted = Vec::new();
    RdbStream {
        nodes: s
            .node_spans_with_deleted()
            .into_iter()
            .map(|(_, items)| {
                items
                    .into_iter()
                    .map(|(id, f, dead)| {
                        if dead {
                            deleted.push(pair(id));
                        }
                        (
                            pair(id),
                            f.iter().map(|(k, v)| (owned(k), owned(v))).collect(),
                        )
                    })
                    .collect()
            })
            .collect(),
        deleted,
        last_id: pair(s.last_id),
        first_id: pair(s.first_id()),
        max_deleted_id: pair(s.max_deleted_entry_id),
        entries_added: s.entries_added,
        groups: s
            .groups
            .iter()
            .map(|(name, g)| RdbStreamGroup {
                name: name.to_vec(),
                last_id: pair(g.last_id),
                entries_read: g.entries_read,
                pel: g
                    .pel
                    .iter()
                    .map(|(id, p)| {
                        (
                            pair(*id),
                            p.consumer.to_vec(),
                            p.delivery_time,
                            p.delivery_count,
                        )
                    })
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(n, c)| (n.to_vec(), c.seen_time))
                    .collect(),
            })
            .collect(),
    }
}

/// An RDB stream as ours; None if its PEL references are inconsistent.
fn stream_from_rdb(r: RdbStream) -> Option<Stream> {
    let mut deleted = r.deleted;
    deleted.sort_unstable();
    let nodes = r.nodes.into_iter().map(|node| {
        node.into_iter()
            .map(|(id, fields)| {
                let fields = fields
                    .into_iter()
                    .map(|(k, v)| (Bytes::from(k), Bytes::from(v)))
                    .collect();
                (unpair(id), fields, deleted.binary_search(&id).is_ok())
            })
            .collect::<Vec<_>>()
    });
    let mut s = Stream::from_nodes(
        nodes,
        unpair(r.last_id),
        r.entries_added,
        unpair(r.max_deleted_id),
    )?;
    for g in r.groups {
        let mut group = ConsumerGroup::new(unpair(g.last_id), g.entries_read);
        for (name, seen) in g.consumers {
            group.create_consumer(&Bytes::from(name), seen);
        }
        for (id, owner, time, count) in g.pel {
            let owner = Bytes::from(owner);
            let c = group.consumers.get_mut(&owner)?;
            c.pel.insert(unpair(id));
            group.pel.insert(
                unpair(id),
                PendingEntry {
                    consumer: owner,
                    delivery_time: time,
                    delivery_count: count,
                },
            );
        }
        s.groups.insert(Bytes::from(g.name), group);
    }
    Some(s)
}

/// An RDB value as ours. None for an empty collection, which Redis never stores.
pub(crate) fn from_rdb(value: RdbValue) -> Option<Value> {
    if value.is_empty() {
        return None;
    }
    Some(match value {
        RdbValue::Str(s) => Value::Str(s.into()),
        RdbValue::List(items) => Value::List(items.into_iter().map(Bytes::from).collect()),
        RdbValue::Hash(pairs) => Value::Hash(
            pairs
                .into_iter()
                .map(|(f, v)| (Bytes::from(f), Bytes::from(v)))
                .collect(),
        ),
        RdbValue::Set(members) => Value::Set(members.into_iter().map(Bytes::from).collect()),
        RdbValue::ZSet(pairs) => {
            let mut z = ZSet::default();
            for (m, score) in pairs {
                if score.is_nan() {
                    return None;
                }
                z.insert(Bytes::from(m), score);
            }
            Value::ZSet(z)
        }
        RdbValue::Stream(st) => Value::Stream(Box::new(stream_from_rdb(*st)?)),
    })
}

/// Writes database snapshots as an RDB file to `out` (with the replication id and offset
/// as aux fields, as Redis writes them, so a restarted node or a new replica can continue
/// the replication history). Keys already expired but still stored are written too, as
/// Redis writes them: a primary that loads the file drops them (counts them in INFO
/// rdb_last_load_keys_expired and feeds their DELs to its replicas), a replica keeps them
/// until its primary deletes them.
pub(crate) fn write_rdb<W: Write>(
    out: W,
    snap: (&[DbSnapshot], &[Bytes]),
    replid: &str,
    offset: u64,
    now_ms: u64,
) -> std::io::Result<W> {
    static NEVER: AtomicBool = AtomicBool::new(false);
    write_rdb_until(out, snap, (replid, offset), now_ms, &NEVER)
}

/// `write_rdb` that gives up (with `save_control::aborted_error`) once `stop` is set,
/// checked before each key: a BGSAVE that FLUSHALL or SHUTDOWN aborts.
pub(crate) fn write_rdb_until<W: Write>(
    out: W,
    (dbs, functions): (&[DbSnapshot], &[Bytes]),
    (replid, offset): (&str, u64),
    now_ms: u64,
    stop: &AtomicBool,
) -> std::io::Result<W> {
    /// Gives this thread's compression table back when the snapshot is written or fails
    /// (see `rubra_persistence::release_scratch`).
    struct ReleaseScratch;
    impl Drop for ReleaseScratch {
        fn drop(&mut self) {
            rubra_persistence::release_scratch();
        }
    }
    let _release = ReleaseScratch;
    let mut w = RdbWriter::new(out)?;
    w.aux(b"redis-ver", b"7.0.15")?;
    w.aux(b"redis-bits", b"64")?;
    w.aux(b"ctime", (now_ms / 1000).to_string().as_bytes())?;
    w.aux(
        b"used-mem",
        crate::alloc::used_memory().to_string().as_bytes(),
    )?;
    w.aux(b"repl-stream-db", b"0")?;
    w.aux(b"repl-id", replid.as_bytes())?;
    w.aux(b"repl-offset", offset.to_string().as_bytes())?;
    w.aux(b"aof-base", b"0")?;
    for code in functions {
        w.function(code)?;
    }
    let mut failure = None;
    let mut count = 0u64;
    for (i, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        // Hints only (Redis counts its dicts, expired keys included): no extra pass.
        w.select_db(i, db.len() as u64, db.expires_len() as u64)?;
        db.for_each(0, |k, e, expire_at| {
            if failure.is_some() {
                return;
            }
            if stop.load(Ordering::Relaxed) {
                failure = Some(super::save_control::aborted_error());
                return;
            }
            count += 1;
            key_delay(&KEY_SAVE_DELAY_US, count);
            let expire = (expire_at != 0).then_some(expire_at);
            // Strings go straight from the keyspace to the file; other types through the
            // neutral model.
            let written = match &e.value {
                Value::Str(s) => w.string_entry(i, k, s, expire),
                other => w.entry_parts(i, k, &to_rdb(other), expire, None, None, is_full(other)),
            };
            if let Err(err) = written {
                failure = Some(err);
            }
        });
        if let Some(err) = failure.take() {
            return Err(err);
        }
    }
    w.finish()
}

/// What a loaded RDB file held besides keys.
#[derive(Debug, Default, Clone)]
pub(crate) struct LoadedMeta {
    /// Replication id and offset the file was written at, if it says.
    pub repl: Option<(String, u64)>,
    /// Function library sources (the functions section).
    pub functions: Vec<Vec<u8>>,
    /// Keys the file held that had already expired, as (database, key): not loaded. A
    /// primary restarted from the file propagates their deletion (Redis feeds a DEL per
    /// key into its new backlog), and INFO counts them (rdb_last_load_keys_expired).
    pub expired: Vec<(usize, Vec<u8>)>,
    /// Keys loaded (rdb_last_load_keys_loaded).
    pub loaded: u64,
}

/// Decodes an RDB file into `count` databases, with the file's replication metadata and
/// function libraries. Keys already expired at `now_ms` are dropped, as a primary does when
/// it loads, unless `keep_expired`: a replica keeps them until its primary's DEL (Redis's
/// rdbLoad drops them only when iAmMaster()), or the commands its primary sends next
/// would find other keys than on the primary.
pub(crate) fn decode_rdb_with_meta(
    bytes: &[u8],
    count: usize,
    now_ms: u64,
    keep_expired: bool,
) -> Result<(Vec<Db>, LoadedMeta), String> {
    decode_rdb_prefix(bytes, count, now_ms, keep_expired).map(|(dbs, meta, _)| (dbs, meta))
}

/// [`decode_rdb_with_meta`] for a file that may go on after the RDB (an AOF whose RDB
/// preamble is followed by commands): also returns the RDB's length. With
/// `keep_expired` (an AOF base, as Redis's RDBFLAGS_AOF_PREAMBLE) keys already expired
/// are loaded too: the commands after them may still use them, and they expire after.
pub(crate) fn decode_rdb_prefix(
    bytes: &[u8],
    count: usize,
    now_ms: u64,
    keep_expired: bool,
) -> Result<(Vec<Db>, LoadedMeta, usize), String> {
    let cutoff = if keep_expired { 0 } else { now_ms };
    let mut dbs: Vec<Db> = (0..count).map(|_| Db::new()).collect();
    let mut reader = RdbReader::new(bytes).map_err(|e| e.to_string())?;
    let mut expired = Vec::new();
    let mut loaded = 0;
    while let Some(e) = reader.next_item().map_err(|e| e.to_string())? {
        let db = e.db;
        let key = e
            .expire_ms
            .is_some_and(|t| t != 0 && t <= cutoff)
            .then(|| e.key.to_vec());
        match insert_item(&mut dbs, e, now_ms, cutoff)? {
            Loaded::Expired => expired.extend(key.map(|k| (db, k))),
            Loaded::Yes => loaded += 1,
            Loaded::Skipped => {}
        }
    }
    let mut meta = meta_of(reader.info());
    meta.expired = expired;
    meta.loaded = loaded;
    Ok((dbs, meta, reader.consumed()))
}

/// What became of one key read from a file.
enum Loaded {
    Yes,
    /// Already expired: not loaded.
    Expired,
    /// A value we do not keep (an empty collection).
    Skipped,
}

thread_local! {
    /// Keys this thread loaded, for the negative form of `key-load-delay`.
    static LOADED_KEYS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds one loaded key to `dbs` (dropping it if it expired at or before `cutoff`: 0 keeps
/// every key, as a replica and an AOF base do).
fn insert_item(dbs: &mut [Db], e: RdbItem<'_>, now_ms: u64, cutoff: u64) -> Result<Loaded, String> {
    let count = dbs.len();
    LOADED_KEYS.with(|n| {
        let next = n.get() + 1;
        n.set(next);
        key_delay(&KEY_LOAD_DELAY_US, next);
    });
    let Some(db) = dbs.get_mut(e.db) else {
        return Err(format!(
            "the RDB file uses database {} (only {count} configured)",
            e.db
        ));
    };
    let expire_at = e.expire_ms.unwrap_or(0);
    if expire_at != 0 && expire_at <= cutoff {
        return Ok(Loaded::Expired);
    }
    let Some(value) = from_rdb(e.value) else {
        return Ok(Loaded::Skipped);
    };
    let mut entry = Entry::new(value, now_ms);
    if let Some(f) = e.freq {
        entry.lfu = f;
    }
    db.insert(&e.key, entry, expire_at);
    Ok(Loaded::Yes)
}

/// The replication metadata and function libraries a loaded file carried.
fn meta_of(info: &RdbInfo) -> LoadedMeta {
    let aux = |name: &[u8]| {
        info.aux
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let repl = match (aux(b"repl-id"), aux(b"repl-offset")) {
        (Some(id), Some(off)) if id.len() == 40 => off.parse().ok().map(|o| (id, o)),
        _ => None,
    };
    LoadedMeta {
        repl,
        functions: info.functions.clone(),
        ..LoadedMeta::default()
    }
}

/// A snapshot loaded while it arrived, and what followed it.
pub(crate) struct Streamed {
    pub dbs: Vec<Db>,
    pub meta: LoadedMeta,
    /// Bytes received after the RDB's last byte: the first of those still in `rest`.
    pub leftover: Vec<u8>,
    /// The channel the bytes came on, with whatever chunks were queued after the end.
    pub rest: mpsc::Receiver<Bytes>,
}

/// How long the loader waits for the next chunk before retrying a large partial key with
/// what it has (the sender may have paused right after it, e.g. at the end of a diskless
/// snapshot until we acknowledge).
const PAUSE: Duration = Duration::from_millis(5);

/// Loads an RDB arriving in chunks on `rx` into `count` databases as bytes come (a
/// replica's full sync), so decoding overlaps the transfer. Runs on a blocking thread.
/// Fails if the channel closes before the file's end (the link broke, or a `$<len>`
/// snapshot was shorter than its RDB). Keys already expired are kept: the loader is a
/// replica, which waits for its primary's DELs (see [`decode_rdb_with_meta`]).
pub(crate) fn load_streamed(
    rx: mpsc::Receiver<Bytes>,
    count: usize,
    now_ms: u64,
) -> Result<Streamed, String> {
    let mut dbs: Vec<Db> = (0..count).map(|_| Db::new()).collect();
    let mut reader = RdbFeedReader::new();
    let mut closed = false;
    loop {
        match reader.next_item().map_err(|e| e.to_string())? {
            Next::Item(e) => {
                // A replica keeps keys already expired until its primary deletes them.
                insert_item(&mut dbs, e, now_ms, 0)?;
            }
            Next::Done => break,
            Next::NeedMore if closed => {
                return Err("the snapshot ended before the end of its RDB data".into())
            }
            Next::NeedMore => match rx.recv_timeout(PAUSE) {
                // One chunk at a time, only when the reader needs it: queued chunks wait in
                // the channel rather than piling up (and being moved) in its buffer.
                Ok(chunk) => reader.feed(&chunk),
                Err(mpsc::RecvTimeoutError::Timeout) => reader.retry_now(),
                // No more bytes will come: a large key still waiting for the buffer to
                // double gets its last try with what there is.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    closed = true;
                    reader.retry_now();
                }
            },
        }
    }
    Ok(Streamed {
        dbs,
        meta: meta_of(reader.info()),
        leftover: reader.leftover().to_vec(),
        rest: rx,
    })
}

/// A `Write` that hands the bytes on in chunks of about `CHUNK` bytes as they are
/// produced, so a replica's snapshot goes out while it is being encoded.
pub(crate) struct ChunkSink {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

/// Size of the chunks a [`ChunkSink`] sends: large enough that each costs one lock and one
/// write on the connection, small enough that the replica starts decoding early.
const CHUNK: usize = 512 * 1024;

impl ChunkSink {
    /// A sink sending its chunks on `tx`; a full channel blocks the encoder (run it on a
    /// blocking thread), so a slow reader holds back the encoding instead of piling up
    /// chunks in memory.
    pub(crate) fn new(tx: tokio::sync::mpsc::Sender<Bytes>) -> ChunkSink {
        ChunkSink {
            buf: Vec::with_capacity(CHUNK + 64 * 1024),
            tx,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 64 * 1024));
        self.tx.blocking_send(Bytes::from(full)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the replica went away")
        })
    }
}

impl Write for ChunkSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// Writes an RDB file atomically through the temporary file `tmp_name` (same directory),
/// fsync, then rename over `path`, so a crash never leaves a half-written dump.rdb behind.
/// A save in the foreground uses Redis's own name for it, `temp-<pid>.rdb`.
pub(crate) fn save_file_as(
    path: &Path,
    tmp_name: &str,
    dbs: (&[DbSnapshot], &[Bytes]),
    repl: (&str, u64),
    now_ms: u64,
) -> std::io::Result<u64> {
    let control = super::save_control::SaveControl::default();
    write_through(
        path,
        path.with_file_name(tmp_name),
        dbs,
        repl,
        now_ms,
        &control,
    )
}

/// An RDB save for a BGSAVE that `control` may abort: the temporary file is created and
/// installed through it, and the encoder stops when it is set.
pub(crate) fn save_file_controlled(
    path: &Path,
    dbs: (&[DbSnapshot], &[Bytes]),
    repl: (&str, u64),
    now_ms: u64,
    control: &super::save_control::SaveControl,
) -> std::io::Result<u64> {
    // Unique within the process, so an aborted save still winding down and the next
    // one never share a file.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!("temp-{}-{now_ms}-{seq}.rdb", std::process::id()));
    write_through(path, tmp, dbs, repl, now_ms, control)
}

/// The body of every RDB save: write `tmp`, fsync, install it as `path` through `control`
/// (a second SIGINT removes `tmp` on its way out: see `crate::shutdown`).
fn write_through(
    path: &Path,
    tmp: std::path::PathBuf,
    dbs: (&[DbSnapshot], &[Bytes]),
    repl: (&str, u64),
    now_ms: u64,
    control: &super::save_control::SaveControl,
) -> std::io::Result<u64> {
    crate::shutdown::TEMP_RDB_FILES.lock().push(tmp.clone());
    let result = (|| {
        let file = control.create(&tmp)?;
        let out = write_rdb_until(
            std::io::BufWriter::with_capacity(1 << 20, file),
            dbs,
            repl,
            now_ms,
            control.flag(),
        )?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        control.install(&tmp, path)?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        Ok(size)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    crate::shutdown::TEMP_RDB_FILES.lock().retain(|f| *f != tmp);
    result
}

/// A value as a DUMP payload.
pub(crate) fn dump_value(value: &Value) -> Vec<u8> {
    dump_payload_as(&to_rdb(value), is_full(value))
}

/// A DUMP payload as a value, with Redis's error replies. `verify_crc` is off under
/// DEBUG SET-SKIP-CHECKSUM-VALIDATION 1; `deep` is off under sanitize-dump-payload no
/// (see `restore_payload_checked`). A corrupt body is logged with its reason as
/// Redis logs it (at verbose level: `log_reason` says whether loglevel allows it).
pub(crate) fn restore_value(
    payload: &[u8],
    (verify_crc, deep): (bool, bool),
    log_reason: bool,
) -> Result<Value, Reply> {
    let bad = |reason: &dyn std::fmt::Display| {
        if log_reason {
            tracing::info!(
                "Internal error in RDB reading offset 0, function at rdb.c:0 -> {reason}"
            );
        }
        Reply::err("ERR Bad data format")
    };
    match restore_payload_checked(payload, verify_crc, deep) {
        Ok(v) => from_rdb(v).ok_or_else(|| bad(&"empty key")),
        Err(RdbError::BadDumpPayload) => {
            Err(Reply::err("ERR DUMP payload version or checksum are wrong"))
        }
        Err(RdbError::Corrupt(reason)) => Err(bad(&reason)),
        Err(e) => Err(bad(&e)),
    }
}

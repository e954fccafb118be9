//! The source's half of an atomic slot migration, run as a task off the store lock:
//! 1. connect to the target's client port, AUTH as our replica link would (masteruser /
//!    masterauth), `CLUSTER SYNCSLOTS START`;
//! 2. the snapshot: strings as `SET key value [PXAT abs-ms]`, other keys as
//!    `RESTORE key abs-ms payload REPLACE ABSTTL`, encoded on a
//!    blocking thread from the copy-on-write snapshot and written in 1 MB chunks (the
//!    store lock is only taken for a progress update between chunks);
//! 3. the change stream: the tap's commands, round after round, each waited for until the
//!    target applied it, until a round is small;
//! 4. the hand-over: writes to the slots are held, the last commands go out and are
//!    applied, `WAIT` for the target's replicas, then FINISH; the target claims the slots,
//!    and `end_export` hands them over.
//!
//! Replies are read by a second task and only counted: an error reply or a closed link
//! before FINISH fails the export (the slots stay with us; the target drops its import when
//! the link closes). After FINISH a lost answer is settled by watching the slot table.

use crate::cluster::migration::{end_export, purge_some, ExportJob};
use crate::server::Server;
use crate::store::now_ms;
use bytes::Bytes;
use rubra_keyspace::{DbSnapshot, Entry, Value};
use rubra_resp::{encode_request, parse_frame, Frame};
use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};

/// Snapshot bytes per write (and per progress update). The target's import link reads up
/// to as much at once (conn's IMPORT_READ_MAX): fewer wake-ups and syscalls on both sides.
const CHUNK: usize = 1024 * 1024;
/// A change-stream round this small ends streaming: what comes after it is sent under
/// the write pause.
const SMALL_ROUND: usize = 64 * 1024;
/// Streaming stops converging when writes outpace the link: pause anyway after this.
const STREAM_LIMIT: Duration = Duration::from_secs(10);
/// Connect, write and reply timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the target's replicas may take to acknowledge the import before FINISH
/// (`WAIT n WAIT_MS` on the import link, under the write pause).
const WAIT_MS: u64 = 1000;
/// How long the target's replicas get to catch up with the import before the pause.
const CATCH_UP_MS: u64 = 5000;

/// How an export ended.
enum Outcome {
    Done,
    /// Before FINISH: the slots are still ours.
    Failed(String),
    /// FINISH went out but its answer did not come back.
    Unknown(String),
}

/// Runs one export to its end (spawned by the jobs runner).
pub(crate) async fn run(server: Arc<Server>, job: Box<ExportJob>) {
    match export(&server, *job).await {
        Outcome::Done => end_export(&mut server.lock(), Ok(())),
        Outcome::Failed(msg) => end_export(&mut server.lock(), Err(msg)),
        Outcome::Unknown(msg) => settle(&server, msg).await,
    }
    // Our copy of handed-over slots goes a batch at a time, other clients in between.
    while purge_some(&mut server.lock()) {
        tokio::task::yield_now().await;
    }
}

/// What the task reads from the store once.
struct Plan {
    host: String,
    port: u16,
    auth: String,
    user: String,
    name: String,
    me: String,
    ranges: Vec<(u16, u16)>,
}

fn plan(server: &Server) -> Option<Plan> {
    let store = server.lock();
    let d = store.cluster.as_deref()?;
    let e = d.migrations.export.as_ref()?;
    let t = d.node.state().nodes.get(&e.target)?;
    Some(Plan {
        host: t.ip.clone(),
        port: t.port,
        auth: store.config.get_value("masterauth").to_string(),
        user: store.config.get_value("masteruser").to_string(),
        name: e.rec.name.clone(),
        me: d.node.id().as_string(),
        ranges: e.rec.ranges.clone(),
    })
}

/// What the reply reader saw: replies read, the first error reply or link failure, and
/// the last integer reply (WAIT's count of replicas).
type Acks = (u64, Option<String>, i64);

/// The write half plus what was sent and what the target answered.
struct Link {
    wr: OwnedWriteHalf,
    sent: u64,
    acks: watch::Receiver<Acks>,
    cancel: watch::Receiver<bool>,
}

impl Link {
    fn failed(&self) -> Result<(), String> {
        match &self.acks.borrow().1 {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Writes `n` commands; CANCELSLOTMIGRATIONS interrupts it unless `final_step`.
    async fn send(&mut self, buf: &[u8], n: u64, final_step: bool) -> Result<(), String> {
        self.send_parts(&[buf], n, final_step).await
    }

    /// `send` of the concatenation of `parts`, written with vectored writes (no copy).
    async fn send_parts(
        &mut self,
        parts: &[&[u8]],
        n: u64,
        final_step: bool,
    ) -> Result<(), String> {
        if parts.iter().all(|p| p.is_empty()) {
            return Ok(());
        }
        if !final_step && *self.cancel.borrow() {
            return Err("cancelled".into());
        }
        let write = crate::timer::timeout(IO_TIMEOUT, write_all_vectored(&mut self.wr, parts));
        tokio::select! {
            r = write => match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("write to the target failed: {e}")),
                Err(_) => return Err("write to the target timed out".into()),
            },
            _ = self.cancel.changed(), if !final_step => return Err("cancelled".into()),
        }
        self.sent += n;
        self.failed()
    }

    /// Waits until the target answered everything sent.
    async fn wait_applied(&mut self, final_step: bool) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
        loop {
            {
                let a = self.acks.borrow_and_update();
                if let Some(e) = &a.1 {
                    return Err(e.clone());
                }
                if a.0 >= self.sent {
                    return Ok(());
                }
            }
            tokio::select! {
                r = crate::timer::timeout_at(deadline, self.acks.changed()) => match r {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err("the link to the target closed".into()),
                    Err(_) => return Err("the target stopped answering".into()),
                },
                _ = self.cancel.changed(), if !final_step => return Err("cancelled".into()),
            }
        }
    }
}

/// Writes all of `parts` in order, as few `writev` calls as the socket allows.
async fn write_all_vectored(wr: &mut OwnedWriteHalf, parts: &[&[u8]]) -> std::io::Result<()> {
    /// Linux's IOV_MAX.
    const MAX_IOV: usize = 1024;
    let mut slices: Vec<IoSlice> = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| IoSlice::new(p))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let n = rest.len().min(MAX_IOV);
        let wrote = wr.write_vectored(&rest[..n]).await?;
        if wrote == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, wrote);
    }
    Ok(())
}

/// Counts replies; records the first error reply, or the link's end, as the failure.
async fn read_replies(mut rd: OwnedReadHalf, acks: watch::Sender<Acks>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let mut used_total = 0;
        let mut count = 0;
        let mut error = None;
        let mut int = None;
        loop {
            match parse_frame(&buf[used_total..], 512 << 20) {
                Ok(Some((frame, used))) => {
                    used_total += used;
                    count += 1;
                    match (frame, &error) {
                        (Frame::Error(e), None) => {
                            error = Some(format!(
                                "the target answered: {}",
                                String::from_utf8_lossy(&e)
                            ))
                        }
                        (Frame::Int(n), _) => int = Some(n),
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("bad reply from the target: {e:?}"));
                    break;
                }
            }
        }
        buf.drain(..used_total);
        if count > 0 || error.is_some() {
            acks.send_modify(|a| {
                a.0 += count;
                if a.1.is_none() {
                    a.1 = error.clone();
                }
                if let Some(n) = int {
                    a.2 = n;
                }
            });
        }
        if error.is_some() {
            return;
        }
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                acks.send_modify(|a| {
                    a.1.get_or_insert_with(|| "the link to the target closed".into());
                });
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Aborts the reply reader when the export ends, however it ends.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Collections with more elements than this, and strings longer than BIG_BYTES, go as
/// many small commands instead of one RESTORE, so the target never spends long on one.
const BIG_ELEMENTS: usize = 4096;
const BIG_BYTES: usize = 1 << 20;

/// Whether a value is big enough to be moved (and freed) in pieces.
pub(crate) fn is_big(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.len() > BIG_BYTES,
        Value::List(l) => l.len() > BIG_ELEMENTS,
        Value::Hash(h) => h.len() > BIG_ELEMENTS,
        Value::Set(x) => x.len() > BIG_ELEMENTS,
        Value::ZSet(z) => z.len() > BIG_ELEMENTS,
        // Streams keep their exact ids and groups through RESTORE.
        Value::Stream(_) => false,
    }
}

/// A big value as DEL + batched writes (+ PEXPIREAT); returns the command count.
fn encode_big(buf: &mut Vec<u8>, k: &[u8], e: &Entry, at: u64) -> u64 {
    encode_request(buf, &[b"DEL".as_slice(), k]);
    let Value::Str(s) = &e.value else {
        return 1 + crate::persist::aof::rebuild_commands(buf, k, e, at);
    };
    let mut n = 1;
    for (i, part) in s.chunks(BIG_BYTES).enumerate() {
        let cmd: &[u8] = if i == 0 { b"SET" } else { b"APPEND" };
        encode_request(buf, &[cmd, k, part]);
        n += 1;
    }
    if at != 0 {
        encode_request(
            buf,
            &[b"PEXPIREAT".as_slice(), k, at.to_string().as_bytes()],
        );
        n += 1;
    }
    n
}

/// Strings at least this long are written from the snapshot itself (their own iovec)
/// instead of being copied into the chunk: for big values the copy was the source's
/// largest cost after the socket's own (perf: memmove ~19% of its CPU for 16 KB values).
const BY_REF: usize = 2048;
// Values sent by reference live in their own heap buffers, never inline in a key's node.
const _: () = assert!(BY_REF > rubra_keyspace::value::INLINE_MAX);

/// One piece of a [`Chunk`]: a range of its own bytes, or a string value of the snapshot.
enum Seg {
    Own(usize, usize),
    Value(*const u8, usize),
}

/// Snapshot commands ready to write: RESP text in `own`, and the long string values they
/// carry left in the snapshot (`segs` gives the order). Holding `_snaps` keeps those
/// values alive and unchanged: a snapshot's slot tables are shared (`Arc`) and the live
/// database copies a shared table before writing it (`Arc::make_mut`), never writes it.
struct Chunk {
    own: Vec<u8>,
    segs: Vec<Seg>,
    /// Bytes of the values in `segs`.
    len: usize,
    /// How much of `own` `segs` covers.
    mark: usize,
    cmds: u64,
    keys: u64,
    _snaps: Arc<Vec<(usize, DbSnapshot)>>,
}

// SAFETY: the raw pointers only read string values owned by `_snaps` (see `Chunk`), which
// is Send + Sync and travels with them.
unsafe impl Send for Chunk {}

impl Chunk {
    fn new(snaps: &Arc<Vec<(usize, DbSnapshot)>>) -> Chunk {
        Chunk {
            own: Vec::with_capacity(16 * 1024),
            segs: Vec::new(),
            len: 0,
            mark: 0,
            cmds: 0,
            keys: 0,
            _snaps: snaps.clone(),
        }
    }

    /// Closes the run of own bytes since the last value.
    fn cut(&mut self) {
        if self.own.len() > self.mark {
            self.segs.push(Seg::Own(self.mark, self.own.len()));
            self.mark = self.own.len();
        }
    }

    /// `SET key value [PXAT at]` with the value left where it is.
    fn push_set(&mut self, k: &[u8], v: &[u8], at: u64) {
        let mut n = itoa::Buffer::new();
        let o = &mut self.own;
        o.extend_from_slice(if at == 0 {
            b"*3\r\n$3\r\nSET\r\n$"
        } else {
            b"*5\r\n$3\r\nSET\r\n$"
        });
        o.extend_from_slice(n.format(k.len()).as_bytes());
        o.extend_from_slice(b"\r\n");
        o.extend_from_slice(k);
        o.extend_from_slice(b"\r\n$");
        o.extend_from_slice(n.format(v.len()).as_bytes());
        o.extend_from_slice(b"\r\n");
        self.cut();
        self.segs.push(Seg::Value(v.as_ptr(), v.len()));
        self.len += v.len();
        let o = &mut self.own;
        o.extend_from_slice(b"\r\n");
        if at != 0 {
            let at = n.format(at);
            o.extend_from_slice(b"$4\r\nPXAT\r\n$");
            let mut m = itoa::Buffer::new();
            o.extend_from_slice(m.format(at.len()).as_bytes());
            o.extend_from_slice(b"\r\n");
            o.extend_from_slice(at.as_bytes());
            o.extend_from_slice(b"\r\n");
        }
    }

    /// Bytes written so far in all.
    fn size(&self) -> usize {
        self.len + self.own.len()
    }

    /// The pieces in order, as slices.
    fn slices(&self) -> Vec<&[u8]> {
        let mut out = Vec::with_capacity(self.segs.len() + 1);
        for s in &self.segs {
            match *s {
                Seg::Own(a, b) => out.push(&self.own[a..b]),
                // SAFETY: a value of `_snaps`, alive and unchanged while `self` is (see
                // `Chunk`).
                Seg::Value(p, n) => out.push(unsafe { std::slice::from_raw_parts(p, n) }),
            }
        }
        out.push(&self.own[self.mark..]);
        out
    }
}

/// Encodes the snapshot as SET and RESTORE commands, sending a [`Chunk`] per CHUNK bytes.
fn encode_snapshot(snaps: Vec<(usize, DbSnapshot)>, tx: mpsc::Sender<Chunk>) {
    let now = now_ms();
    let snaps = Arc::new(snaps);
    let mut c = Chunk::new(&snaps);
    let mut stop = false;
    for (db, snap) in snaps.iter() {
        encode_request(
            &mut c.own,
            &[b"SELECT".as_slice(), db.to_string().as_bytes()],
        );
        c.cmds += 1;
        snap.for_each(now, |k, e, at| {
            if stop {
                return;
            }
            if is_big(&e.value) {
                c.cmds += encode_big(&mut c.own, k, e, at);
            } else if let Value::Str(v) = &e.value {
                // A string goes as SET: a DUMP payload would LZF-compress and checksum it
                // here and undo both on the target (most of the CPU of moving 16 KB
                // values, measured with perf); PXAT keeps the absolute expiry.
                if v.len() >= BY_REF {
                    c.push_set(k, v, at);
                } else if at == 0 {
                    encode_request(&mut c.own, &[b"SET".as_slice(), k, v]);
                } else {
                    let at = at.to_string();
                    encode_request(
                        &mut c.own,
                        &[b"SET".as_slice(), k, v, b"PXAT", at.as_bytes()],
                    );
                }
                c.cmds += 1;
            } else {
                let payload = crate::persist::rdb::dump_value(&e.value);
                let ttl = at.to_string();
                encode_request(
                    &mut c.own,
                    &[
                        b"RESTORE".as_slice(),
                        k,
                        ttl.as_bytes(),
                        &payload,
                        b"REPLACE",
                        b"ABSTTL",
                    ],
                );
                c.cmds += 1;
            }
            c.keys += 1;
            if c.size() >= CHUNK {
                let full = std::mem::replace(&mut c, Chunk::new(&snaps));
                stop = tx.blocking_send(full).is_err();
            }
        });
    }
    if !stop && c.cmds > 0 {
        let _ = tx.blocking_send(c);
    }
}

/// Under the lock: progress, and whether the tap saw a FLUSHALL (the export must fail).
fn progress(
    server: &Server,
    keys: u64,
    bytes: usize,
    stream_cmds: u64,
    state: &'static str,
) -> Result<(), String> {
    let mut store = server.lock();
    let poisoned = store.feed.tap.as_ref().is_none_or(|t| t.poisoned);
    let e = export_mut(&mut store)?;
    e.rec.keys += keys;
    e.rec.bytes += bytes as u64;
    e.rec.stream_cmds += stream_cmds;
    e.rec.state = state;
    e.rec.updated_ms = now_ms();
    if poisoned {
        return Err("the dataset was flushed during the migration".into());
    }
    Ok(())
}

/// The export in progress, or the error every step reports when it is gone.
fn export_mut(store: &mut crate::store::Store) -> Result<&mut super::migration::Export, String> {
    store
        .cluster
        .as_deref_mut()
        .and_then(|d| d.migrations.export.as_mut())
        .ok_or_else(|| "the export vanished".to_string())
}

/// Takes the tap's commands; with `pause`, holds writes to the slots from now on, and
/// with `finish`, marks FINISH as sent (in the same critical section as the last take).
fn take_tap(server: &Server, pause: bool, finish: bool) -> Result<(Vec<u8>, u64), String> {
    let mut store = server.lock();
    let Some(tap) = store.feed.tap.as_mut() else {
        return Err("the export vanished".into());
    };
    if tap.poisoned {
        return Err("the dataset was flushed during the migration".into());
    }
    let taken = tap.take();
    let e = export_mut(&mut store)?;
    if !finish && *e.cancel.borrow() {
        return Err("cancelled".into());
    }
    let slots = e.slots.clone();
    let still_ours = store.cluster.as_deref().is_some_and(|d| {
        let st = d.node.state();
        st.me().is_primary()
            && slots
                .iter()
                .all(|&s| st.slots[s as usize] == Some(st.myself))
    });
    if !still_ours {
        // A failover or another claim took the slots meanwhile: the target must not claim.
        return Err("this node no longer owns the slots".into());
    }
    let e = export_mut(&mut store)?;
    e.rec.stream_cmds += taken.1;
    e.rec.bytes += taken.0.len() as u64;
    e.rec.updated_ms = now_ms();
    if pause && !e.paused {
        e.paused = true;
        e.paused_at = now_ms();
        e.rec.state = "paused";
    }
    if finish {
        e.finish_sent = true;
        e.rec.state = "handover";
    }
    Ok(taken)
}

async fn export(server: &Arc<Server>, job: ExportJob) -> Outcome {
    let Some(plan) = plan(server) else {
        return Outcome::Failed("the target is unknown".into());
    };
    let connect = tokio::net::TcpStream::connect((plan.host.as_str(), plan.port));
    let stream = match crate::timer::timeout(IO_TIMEOUT, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Outcome::Failed(format!("connecting to the target: {e}")),
        Err(_) => return Outcome::Failed("connecting to the target timed out".into()),
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (ack_tx, acks) = watch::channel((0u64, None, 0));
    let _reader = Reader(tokio::spawn(read_replies(rd, ack_tx)));
    let mut link = Link {
        wr,
        sent: 0,
        acks,
        cancel: job.cancel,
    };
    match stream_all(server, &mut link, &plan, job.snapshots).await {
        Ok(()) => {}
        Err(e) => return Outcome::Failed(e),
    }
    if let Err(e) = wait_for_target_replicas(server, &mut link, WAIT_MS, true).await {
        return Outcome::Failed(e);
    }
    // FINISH: from here on the target may own the slots.
    let fin = match take_tap(server, true, true) {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(e),
    };
    let mut buf = fin.0;
    encode_request(
        &mut buf,
        &[
            b"CLUSTER".as_slice(),
            b"SYNCSLOTS",
            b"FINISH",
            plan.name.as_bytes(),
        ],
    );
    let before = link.acks.borrow().0;
    if let Err(e) = link.send(&buf, fin.1 + 1, true).await {
        return Outcome::Unknown(e);
    }
    match link.wait_applied(true).await {
        Ok(()) => Outcome::Done,
        // An error reply to FINISH itself: the target refused the claim.
        Err(e) if e.starts_with("the target answered") && link.acks.borrow().0 > before + fin.1 => {
            Outcome::Failed(e)
        }
        Err(e) => Outcome::Unknown(e),
    }
}

/// Under the write pause, before FINISH: the target's replicas must hold everything it
/// imported, or a target that claims the slots and then dies would leave them to a
/// replica without writes we acknowledged (and are about to delete). `WAIT n` on the
/// import link covers every command sent so far; fewer than the replicas we know of (not
/// failing) in time fails the export, and the slots stay here. The simulator shows the
/// loss without it (sim.rs, without_waiting_for_the_target_replicas_...).
/// With `strict` false (before the pause, so the paused WAIT has little left to wait for)
/// the count only has to arrive, not to be complete.
async fn wait_for_target_replicas(
    server: &Arc<Server>,
    link: &mut Link,
    timeout_ms: u64,
    strict: bool,
) -> Result<(), String> {
    let replicas = {
        let store = server.lock();
        let Some(d) = store.cluster.as_deref() else {
            return Ok(());
        };
        let Some(target) = d.migrations.export.as_ref().map(|e| e.target) else {
            return Err("the export vanished".into());
        };
        d.node
            .state()
            .nodes
            .values()
            .filter(|n| n.primary == Some(target) && !n.down())
            .count()
    };
    if replicas == 0 {
        return Ok(());
    }
    let mut buf = Vec::new();
    encode_request(
        &mut buf,
        &[
            b"WAIT".as_slice(),
            replicas.to_string().as_bytes(),
            timeout_ms.to_string().as_bytes(),
        ],
    );
    link.send(&buf, 1, false).await?;
    link.wait_applied(false).await?;
    let got = link.acks.borrow().2;
    if strict && got < replicas as i64 {
        return Err(format!(
            "{got} of the target's {replicas} replicas acknowledged the import within {WAIT_MS} ms"
        ));
    }
    Ok(())
}

/// Steps 1-3 and the paused part of step 4, up to (not including) FINISH.
async fn stream_all(
    server: &Arc<Server>,
    link: &mut Link,
    plan: &Plan,
    snapshots: Vec<(usize, DbSnapshot)>,
) -> Result<(), String> {
    let mut head = Vec::new();
    let mut n = 1;
    if !plan.auth.is_empty() {
        if plan.user.is_empty() {
            encode_request(&mut head, &[b"AUTH".as_slice(), plan.auth.as_bytes()]);
        } else {
            encode_request(
                &mut head,
                &[
                    b"AUTH".as_slice(),
                    plan.user.as_bytes(),
                    plan.auth.as_bytes(),
                ],
            );
        }
        n += 1;
    }
    let mut start: Vec<Bytes> = ["CLUSTER", "SYNCSLOTS", "START"]
        .iter()
        .map(|s| Bytes::from_static(s.as_bytes()))
        .collect();
    start.push(Bytes::from(plan.name.clone()));
    start.push(Bytes::from(plan.me.clone()));
    for (a, b) in &plan.ranges {
        start.push(Bytes::from(a.to_string()));
        start.push(Bytes::from(b.to_string()));
    }
    encode_request(&mut head, &start);
    link.send(&head, n, false).await?;
    link.wait_applied(false).await?;

    let (tx, mut rx) = mpsc::channel(4);
    let producer = tokio::task::spawn_blocking(move || encode_snapshot(snapshots, tx));
    while let Some(chunk) = rx.recv().await {
        link.send_parts(&chunk.slices(), chunk.cmds, false).await?;
        progress(server, chunk.keys, chunk.size(), 0, "snapshot")?;
    }
    drop(rx);
    let _ = producer.await;
    link.wait_applied(false).await?;

    // Rounds until one is small; then the target's replicas catch up while writes still
    // flow, and rounds again, so the WAIT under the pause covers only what came since.
    for catch_up in [true, false] {
        let began = Instant::now();
        loop {
            let (buf, n) = take_tap(server, false, false)?;
            link.send(&buf, n, false).await?;
            link.wait_applied(false).await?;
            progress(server, 0, 0, 0, "streaming")?;
            if buf.len() < SMALL_ROUND || began.elapsed() > STREAM_LIMIT {
                break;
            }
        }
        if catch_up {
            wait_for_target_replicas(server, link, CATCH_UP_MS, false).await?;
        }
    }
    let (buf, n) = take_tap(server, true, false)?;
    link.send(&buf, n, false).await?;
    link.wait_applied(false).await
}

/// FINISH's answer was lost: the target may or may not have claimed the slots. Writes stay
/// held while we watch the slot table (its claim arrives by gossip with a higher epoch);
/// if no claim shows within two node timeouts the slots stay ours.
async fn settle(server: &Arc<Server>, msg: String) {
    let timeout = {
        let store = server.lock();
        store
            .cluster
            .as_deref()
            .map_or(15000, |d| d.node.config().node_timeout_ms)
            * 2
    };
    let deadline = Instant::now() + Duration::from_millis(timeout);
    loop {
        {
            let mut store = server.lock();
            let claimed = store.cluster.as_deref().and_then(|d| {
                let e = d.migrations.export.as_ref()?;
                let slot = *e.slots.first()?;
                Some(d.node.state().slots[slot as usize] == Some(e.target))
            });
            match claimed {
                None => return,
                Some(true) => return end_export(&mut store, Ok(())),
                Some(false) if Instant::now() > deadline => {
                    return end_export(
                        &mut store,
                        Err(format!("{msg}; the target never claimed the slots")),
                    )
                }
                Some(false) => {}
            }
        }
        crate::timer::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rubra_keyspace::Db;

    /// The commands in `bytes`, each as its arguments.
    fn commands(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (frame, used) = parse_frame(&bytes[at..], 512 << 20)
                .expect("valid RESP")
                .expect("a whole command");
            at += used;
            let Frame::Array(args) = frame else {
                panic!("not a command: {frame:?}");
            };
            out.push(
                args.into_iter()
                    .map(|a| match a {
                        Frame::Bulk(b) => b.to_vec(),
                        other => panic!("not a bulk: {other:?}"),
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn snapshot_chunks_carry_long_values_uncopied_and_unchanged_by_later_writes() {
        let now = now_ms();
        let later = now + 3_600_000;
        let long = |c: u8, n: usize| vec![c; n];
        let mut db = Db::new();
        let str_entry = |v: Vec<u8>| Entry::new(Value::Str(v.into()), now);
        db.insert("short", str_entry(b"v".to_vec()), 0);
        db.insert("short-ttl", str_entry(b"w".to_vec()), later);
        db.insert("long", str_entry(long(b'a', 5000)), 0);
        db.insert("long-ttl", str_entry(long(b'b', BY_REF)), later);
        db.insert("huge", str_entry(long(b'c', BIG_BYTES + 10)), 0);
        for i in 0..600 {
            // Enough for several chunks.
            db.insert(format!("k{i}"), str_entry(long(b'd', 4096)), 0);
        }
        let snap = db.snapshot();
        let (tx, mut rx) = mpsc::channel(1024);
        encode_snapshot(vec![(0, snap)], tx);
        // Writes after the snapshot: the chunks must still carry the old values.
        db.insert("long", str_entry(long(b'z', 5000)), 0);
        db.remove(b"long-ttl");
        let mut chunks = Vec::new();
        while let Ok(c) = rx.try_recv() {
            chunks.push(c);
        }
        assert!(chunks.len() > 1, "{} chunks", chunks.len());
        let mut bytes = Vec::new();
        let (mut cmds, mut keys) = (0, 0);
        for c in &chunks {
            let parts = c.slices();
            assert!(parts.len() > 2, "long values go as their own parts");
            let before = bytes.len();
            for p in parts {
                bytes.extend_from_slice(p);
            }
            assert_eq!(bytes.len() - before, c.size());
            cmds += c.cmds;
            keys += c.keys;
        }
        let got = commands(&bytes);
        assert_eq!(got.len() as u64, cmds);
        assert_eq!(keys, 605);
        let find = |key: &[u8]| -> Vec<Vec<u8>> {
            got.iter()
                .find(|c| c.len() > 1 && c[1] == key)
                .cloned()
                .unwrap_or_else(|| panic!("no command for {}", String::from_utf8_lossy(key)))
        };
        let at = later.to_string().into_bytes();
        assert_eq!(got[0], vec![b"SELECT".to_vec(), b"0".to_vec()]);
        assert_eq!(
            find(b"short"),
            vec![b"SET".to_vec(), b"short".to_vec(), b"v".to_vec()]
        );
        assert_eq!(
            find(b"short-ttl"),
            vec![
                b"SET".to_vec(),
                b"short-ttl".to_vec(),
                b"w".to_vec(),
                b"PXAT".to_vec(),
                at.clone()
            ]
        );
        assert_eq!(
            find(b"long"),
            vec![b"SET".to_vec(), b"long".to_vec(), long(b'a', 5000)]
        );
        assert_eq!(
            find(b"long-ttl"),
            vec![
                b"SET".to_vec(),
                b"long-ttl".to_vec(),
                long(b'b', BY_REF),
                b"PXAT".to_vec(),
                at
            ]
        );
        assert_eq!(find(b"huge")[0], b"DEL".to_vec());
        assert_eq!(
            find(b"k599"),
            vec![b"SET".to_vec(), b"k599".to_vec(), long(b'd', 4096)]
        );
    }
}

//! One client connection: read bytes, run every complete request in them under one store
//! lock, write the replies. The task also receives messages for its client (pub/sub pushes,
//! the reply that ends a blocking command, kill requests) on its own channel, so nothing
//! else ever writes to this socket.

use crate::client::{ClientMsg, ClientState};
use crate::exec::dispatch::{self, Flow};
use crate::exec::sessions::Peer;
use crate::server::Server;
use crate::store::now_ms;
use bytes::{Buf, BytesMut};
use rubra_resp::{
    parse_request, parse_request_prefix, parse_request_reusing, parse_request_shared, Limits,
    Parsed, ProtocolError, Reply, BIG_ARG,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bytes read from and written to clients (INFO total_net_input_bytes/output_bytes);
/// process-wide atomics so that accounting never takes the store lock.
pub(crate) static NET_INPUT_BYTES: AtomicU64 = AtomicU64::new(0);
/// See `NET_INPUT_BYTES`.
pub(crate) static NET_OUTPUT_BYTES: AtomicU64 = AtomicU64::new(0);

/// Replies are flushed once this many bytes are pending, even mid-batch, so a pipeline of
/// large replies does not buffer without bound.
const FLUSH_THRESHOLD: usize = 1 << 20;

/// The reply buffer's start size, and the size it returns to after a burst.
const OUT_START: usize = 16 * 1024;

/// A reply buffer up to this size is kept whatever the next write needs.
const OUT_KEEP: usize = 64 * 1024;

/// What processing the input buffer ended with.
enum Step {
    /// All complete requests were run; read more.
    Drained,
    /// Output is large: flush, then continue with the rest of the buffer.
    Flush,
    Block(crate::cmd::BlockRequest),
    /// The next request is a write held by a manual failover: wait (off-lock) until the
    /// pause ends at the given time or the watch changes, then process the buffer again.
    Paused(u64, tokio::sync::watch::Receiver<u64>),
    Close,
}

/// What a client connection runs over: a plain TCP socket or a TLS stream on one. `serve`
/// is generic over it, so the plain path is compiled for TcpStream itself (no indirection).
pub(crate) trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

/// Serves one accepted plain-TCP connection until it closes.
pub(crate) async fn serve(server: Arc<Server>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (local, fd) = socket_info(&stream);
    serve_stream(server, stream, Peer::Tcp(peer), local, fd).await
}

/// Serves one connection accepted on the `unixsocket` listener (`path`) until it closes.
pub(crate) async fn serve_unix(server: Arc<Server>, stream: tokio::net::UnixStream, path: String) {
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(&stream) as i64;
    let local = format!("{path}:0");
    serve_stream(server, stream, Peer::Unix(path), local, fd).await
}

/// The local address and descriptor of a client socket (CLIENT LIST laddr= and fd=).
pub(crate) fn socket_info(stream: &TcpStream) -> (String, i64) {
    #[cfg(unix)]
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(stream) as i64;
    #[cfg(not(unix))]
    let fd = -1;
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    (local, fd)
}

/// Serves one connection over any stream (TLS connections come here after the handshake).
pub(crate) async fn serve_stream<S: ClientStream>(
    server: Arc<Server>,
    mut stream: S,
    peer: Peer,
    local: String,
    fd: i64,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pending_out = Arc::new(AtomicUsize::new(0));
    let mut client = ClientState::default();
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    // Admission: maxclients and protected mode, decided under the lock with the registry.
    let refusal = {
        let mut store = loop {
            // A busy script holds the lock: answer as Redis does until it ends.
            if let crate::script::busy::Access::Locked(store) =
                crate::script::busy::lock_or_busy(&server.store, &server.busy)
            {
                break store;
            }
            if !crate::script::busy::serve_unadmitted(&server.busy, &mut stream, &mut inbuf).await {
                return;
            }
        };
        let outlet = crate::exec::sessions::Outlet {
            tx,
            pending_out: pending_out.clone(),
        };
        store.admit(&mut client, peer, local, fd, outlet)
    };
    if let Some(reply) = refusal {
        let _ = stream.write_all(&reply.to_bytes(false)).await;
        let _ = stream.flush().await;
        return;
    }

    let mut out: Vec<u8> = Vec::with_capacity(OUT_START);
    // Whether the mailbox's waker is known to be registered (see `poll_mail`).
    let mut mailbox_armed = false;
    // Requests read while a busy script kept the connection waiting for admission: they
    // run before the next read, which may never come (the client waits on their replies).
    let mut buffered = !inbuf.is_empty();
    'conn: loop {
        // Requests run since the last flush (see the deferred flush below).
        let mut ran = 0usize;
        // Whether this turn took mailbox messages (pushes, a replica's stream).
        let mut mail = false;
        // Redis's `timeout`: idle normal clients are closed; subscribers and replicas are not.
        let idle_close =
            client.idle_timeout_secs > 0 && client.subscriptions == 0 && !client.is_replica;
        let idle_limit = Duration::from_secs(client.idle_timeout_secs);
        // What the read below may fill (read_buf reads at most this).
        let spare = inbuf.capacity() - inbuf.len();
        tokio::select! {
            biased;
            msg = std::future::poll_fn(|cx| poll_mail(&mut rx, &mut mailbox_armed, cx)) => {
                if matches!(msg, Some(ClientMsg::Idle)) {
                    release_buffers(&mut inbuf, &mut out);
                    continue 'conn;
                }
                // Everything already queued goes out in the same write.
                if take_mail(msg, &mut stream, &mut out, &client, &pending_out).await.is_err()
                    || drain_mail(&mut rx, &mut stream, &mut out, &client, &pending_out).await.is_err()
                {
                    break 'conn;
                }
                mail = true;
            }
            read = read_unless_buffered(&mut stream, &mut inbuf, buffered) => {
                buffered = false;
                match read {
                    Ok(Some(0)) | Err(_) => break 'conn,
                    Ok(None) => {}
                    Ok(Some(n)) => {
                        NET_INPUT_BYTES.fetch_add(n as u64, Ordering::Relaxed);
                        let max = if client.import_link { IMPORT_READ_MAX } else { READ_MAX };
                        client.read_size = next_read_size(client.read_size, spare, n, max);
                    }
                }
                // Run everything in the buffer, pausing to flush or to wait while blocked.
                loop {
                    match process(&server, &mut client, &mut inbuf, &mut out, &mut ran) {
                        Step::Drained => break,
                        Step::Flush => {
                            if flush(&mut stream, &mut out, &client).await.is_err() {
                                break 'conn;
                            }
                        }
                        Step::Close => {
                            let _ = flush(&mut stream, &mut out, &client).await;
                            break 'conn;
                        }
                        Step::Paused(until, watch) => {
                            // The waits below take messages from `rx` themselves.
                            mailbox_armed = false;
                            if flush(&mut stream, &mut out, &client).await.is_err() {
                                break 'conn;
                            }
                            if !wait_unpaused(&mut client, &mut stream, &mut rx, &mut inbuf, &pending_out, until, watch).await {
                                break 'conn;
                            }
                        }
                        Step::Block(req) => {
                            mailbox_armed = false;
                            if flush(&mut stream, &mut out, &client).await.is_err() {
                                break 'conn;
                            }
                            match wait_unblocked(&server, &mut client, &mut stream, &mut rx, &mut inbuf, req).await {
                                Some(reply) => reply.encode(&mut out, client.resp3),
                                None => break 'conn,
                            }
                        }
                    }
                }
            }
            // Not polled (no timer armed) unless the idle timeout applies; `idle` builds
            // its timer only when first polled (select! evaluates every branch's future).
            _ = idle(idle_limit), if idle_close => break 'conn,
        }
        if !out.is_empty() {
            // A pipelined batch's replies wait until the other ready connections have run
            // (a yield puts this task after them), so that replies leave in one burst, as
            // Redis writes all of them before it sleeps: a client woken by the first
            // finds the others ready instead of being woken once per connection. ZADD at
            // -P 16 (1.6M requests): redis-benchmark was switched out 7.7k-9.4k times
            // against rubra, 2.4k against Redis; with the burst 2.7k-3.1k, and the
            // server's CPU per request fell a few percent. A lone request is answered at
            // once: its client waits on it, and deferring it raised p99 at -P 1.
            //
            // Mailbox messages wait in the same way, and what arrived meanwhile joins them:
            // a replica's stream gets one write per round of the other connections instead
            // of one per write command (SET at -P 1 with one replica: see docs/server.md),
            // and a subscriber one write for the messages of many publishers.
            if ran > 1 || mail {
                tokio::task::yield_now().await;
            }
            if mail
                && drain_mail(&mut rx, &mut stream, &mut out, &client, &pending_out)
                    .await
                    .is_err()
            {
                break;
            }
            if flush(&mut stream, &mut out, &client).await.is_err() {
                break;
            }
            if client.out_counted {
                // Large replies counted in the client's memory (client eviction) are out.
                server.lock().replies_written(&mut client);
            }
        }
    }
    server.lock().forget_client(&client);
}

/// Handles one mailbox message: a push is encoded into `out`, stream bytes are appended to
/// it (a large buffer, a replica's snapshot chunk, is written as it is after what is already
/// queued, instead of being copied). Kill or a closed mailbox ends the connection (Err).
async fn take_mail<S: ClientStream>(
    msg: Option<ClientMsg>,
    stream: &mut S,
    out: &mut Vec<u8>,
    client: &ClientState,
    pending_out: &AtomicUsize,
) -> Result<(), ()> {
    match msg {
        Some(ClientMsg::Push(reply, size)) => {
            reply.encode(out, client.resp3);
            pending_out.fetch_sub(size, Ordering::Relaxed);
        }
        Some(ClientMsg::Raw(bytes, size)) => {
            if bytes.len() >= FLUSH_THRESHOLD / 4 {
                flush(stream, out, client).await?;
                write_flush(stream, &bytes, &client.kill)
                    .await
                    .map_err(|_| ())?;
                NET_OUTPUT_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            } else {
                out.extend_from_slice(&bytes);
            }
            pending_out.fetch_sub(size, Ordering::Relaxed);
        }
        Some(ClientMsg::Unblocked(_)) | Some(ClientMsg::UnblockTimeout) | Some(ClientMsg::Idle) => {
        }
        Some(ClientMsg::Kill) | None => return Err(()),
    }
    Ok(())
}

/// Takes the messages already in the mailbox (see `take_mail`), without waiting, until
/// `FLUSH_THRESHOLD` bytes are pending: a message taken leaves the count the output buffer
/// limits check (`pending_out`), so what sits in `out` unwritten stays bounded.
async fn drain_mail<S: ClientStream>(
    rx: &mut mpsc::UnboundedReceiver<ClientMsg>,
    stream: &mut S,
    out: &mut Vec<u8>,
    client: &ClientState,
    pending_out: &AtomicUsize,
) -> Result<(), ()> {
    while out.len() < FLUSH_THRESHOLD {
        let msg = match rx.try_recv() {
            Ok(msg) => Some(msg),
            Err(mpsc::error::TryRecvError::Empty) => return Ok(()),
            Err(mpsc::error::TryRecvError::Disconnected) => None,
        };
        take_mail(msg, stream, out, client, pending_out).await?;
    }
    Ok(())
}

/// Polls the mailbox, skipping the poll while its waker is known to be registered
/// (`armed`: an earlier poll returned Pending) and it is empty: polling again would only
/// register the same waker once more, about 400 instructions per request at -P 1. A
/// message sent or the last sender dropped wakes the task through that waker, and the
/// mailbox is then not empty (or closed), so this polls it. The skip happens inside the
/// polled future, not as a `select!` precondition, so a wake-up re-checks it.
fn poll_mail(
    rx: &mut mpsc::UnboundedReceiver<ClientMsg>,
    armed: &mut bool,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<ClientMsg>> {
    if *armed && rx.is_empty() && !rx.is_closed() {
        return std::task::Poll::Pending;
    }
    // Out of coop budget, poll_recv returns Pending without registering the waker.
    let had_budget = tokio::task::coop::has_budget_remaining();
    let polled = rx.poll_recv(cx);
    *armed = polled.is_pending() && had_budget;
    polled
}

/// Reads more input, or (`buffered`) returns None at once: the buffer already holds
/// requests to run.
async fn read_unless_buffered<S: ClientStream>(
    stream: &mut S,
    inbuf: &mut BytesMut,
    buffered: bool,
) -> std::io::Result<Option<usize>> {
    if buffered {
        return Ok(None);
    }
    stream.read_buf(inbuf).await.map(Some)
}

/// Sleeps for `limit`. Building the future costs nothing: the timer (a clock read and a
/// runtime handle) is made when it is first polled, so a connection without an idle
/// timeout does not pay for one per request.
async fn idle(limit: Duration) {
    crate::timer::sleep(limit).await
}

/// Runs the complete requests in `inbuf` under one lock acquisition, counting them in `ran`.
fn process(
    server: &Server,
    client: &mut ClientState,
    inbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    ran: &mut usize,
) -> Step {
    use crate::script::busy::{self, Access, BusyOutcome};
    let mut store = match busy::lock_or_busy(&server.store, &server.busy) {
        Access::Locked(store) => store,
        Access::Busy => {
            // The busy path reads whole requests from the buffer.
            restore_received(&mut client.received_args, inbuf);
            return match busy::serve_while_busy(&server.busy, client, inbuf, out) {
                BusyOutcome::Drained => Step::Drained,
                BusyOutcome::Close => Step::Close,
                // The script ended mid-batch: the rest runs under the lock.
                BusyOutcome::Again => Step::Flush,
            };
        }
    };
    let Some(mut limits) = store.request_limits(inbuf.len()) else {
        return Step::Close;
    };
    store.command_ms = 0;
    store.clock.open();
    // Back from waiting out a pause (or never paused): no longer postponed. A command
    // still held is postponed again below.
    if !store.pause.postponed.is_empty() {
        store.pause.postponed.remove(&client.id);
    }
    let step = loop {
        // Per request: an AUTH earlier in the same batch lifts the unauthenticated limits.
        limits.unauthenticated = !client.authenticated;
        // Arguments of this request taken out of the buffer earlier (its big ones).
        let in_parts = !client.received_args.is_empty();
        let (parsed, whole) = next_request(
            inbuf,
            &limits,
            &mut client.received_args,
            &mut client.spare_args,
        );
        match parsed {
            Err(e) => {
                Reply::error(e.message()).encode(out, client.resp3);
                break Step::Close;
            }
            Ok(Parsed::Incomplete { need }) => {
                size_for_next_read(inbuf, need, client.read_size);
                break Step::Drained;
            }
            Ok(Parsed::Complete(args, used)) => {
                if args.is_empty() {
                    inbuf.advance(used);
                    continue;
                }
                // Left in the buffer while paused: it runs, in order, once the pause ends.
                if let Some((until, watch)) = dispatch::write_pause(&store, client, &args) {
                    if whole.is_some() || in_parts {
                        // Taken out of the buffer (in part): put it back, re-encoded in
                        // front of what follows it (rare path, a copy).
                        let rest = if whole.is_some() {
                            &inbuf[..]
                        } else {
                            &inbuf[used..]
                        };
                        let mut again = Vec::with_capacity(used + rest.len());
                        rubra_resp::encode_request(&mut again, &args);
                        again.extend_from_slice(rest);
                        *inbuf = BytesMut::from(&again[..]);
                    }
                    store.pause.postponed.insert(client.id);
                    break Step::Paused(until, watch);
                }
                // Redis counts the command being run in its query buffer (CLIENT INFO).
                match whole {
                    Some(whole) => {
                        client.qbuf = whole.len();
                        client.qbuf_free = 0;
                        // Dropped before the command runs: the big arguments must be the
                        // only holders of the buffer for the keyspace to adopt it.
                        drop(whole);
                    }
                    None => {
                        client.qbuf = inbuf.len();
                        client.qbuf_free = inbuf.capacity() - inbuf.len();
                        inbuf.advance(used);
                    }
                }
                *ran += 1;
                match dispatch::execute(&mut store, client, args, out) {
                    Flow::Continue => {}
                    Flow::Close => break Step::Close,
                    Flow::Block(req) => break Step::Block(req),
                }
                if out.len() >= FLUSH_THRESHOLD {
                    break Step::Flush;
                }
            }
        }
    };
    store.clock.close();
    // Before any reply of this batch leaves: with appendfsync always, the writes are on disk.
    store.flush_feed();
    let now = match store.command_ms {
        0 => crate::store::now_ms(),
        started => started,
    };
    // Redis keeps only the data of a big bulk still arriving in its query buffer (what
    // came before it is parsed already): CLIENT LIST's qbuf counts that data alone.
    let parsed = if inbuf.len() >= BIG_ARG {
        big_bulk_offset(inbuf)
    } else {
        0
    };
    let evicted = store.after_batch(
        client,
        inbuf.len() - parsed,
        inbuf.capacity() - inbuf.len(),
        out.len(),
        now,
    );
    if evicted {
        // Closed by client eviction: as Redis frees the client, its replies are not sent.
        out.clear();
        return Step::Close;
    }
    step
}

/// Where the data of the request's last bulk starts in `inbuf`, when that bulk is big
/// (`BIG_ARG` or more) and not complete yet; 0 otherwise.
fn big_bulk_offset(inbuf: &[u8]) -> usize {
    fn line(buf: &[u8], at: usize, mark: u8) -> Option<(i64, usize)> {
        if buf.get(at) != Some(&mark) {
            return None;
        }
        let end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&buf[at + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let Some((count, mut at)) = line(inbuf, 0, b'*') else {
        return 0;
    };
    for _ in 0..count {
        let Some((len, data)) = line(inbuf, at, b'$') else {
            return 0;
        };
        let len = len.max(0) as usize;
        if data + len + 2 > inbuf.len() {
            return if len >= BIG_ARG { data } else { 0 };
        }
        at = data + len + 2;
    }
    0
}

/// Parses the next request in `inbuf`. When the buffer is exactly full and large (it was
/// sized for a big bulk by `size_for_next_read`), its big arguments are taken out of it
/// without a copy: the buffer is frozen and the arguments are slices of it. If the request
/// is complete, `inbuf` keeps only what follows it and the frozen buffer is returned with
/// the request (which is then already consumed from `inbuf`). If more arguments are to
/// come, those that arrived go to `received` and `inbuf` is left with a request for the
/// rest (the count left, then what has arrived of the next argument): the next big
/// argument is received into a buffer of its own, as Redis does, instead of one that also
/// holds the earlier ones (a copy of them, and twice the memory at the peak). A complete
/// request starts with the arguments in `received`. A small request is parsed into
/// `spare`'s vector (see `ClientState::spare_args`).
#[inline]
fn next_request(
    inbuf: &mut BytesMut,
    limits: &Limits,
    received: &mut Vec<bytes::Bytes>,
    spare: &mut Vec<bytes::Bytes>,
) -> (Result<Parsed, ProtocolError>, Option<bytes::Bytes>) {
    let (parsed, whole) = parse_next(inbuf, limits, received, spare);
    match parsed {
        Ok(Parsed::Complete(args, used)) if !received.is_empty() => {
            let mut all = std::mem::take(received);
            all.extend(args);
            (Ok(Parsed::Complete(all, used)), whole)
        }
        Err(e) => {
            received.clear();
            (Err(e), whole)
        }
        other => (other, whole),
    }
}

/// `next_request` without the arguments received earlier.
#[inline]
fn parse_next(
    inbuf: &mut BytesMut,
    limits: &Limits,
    received: &mut Vec<bytes::Bytes>,
    spare: &mut Vec<bytes::Bytes>,
) -> (Result<Parsed, ProtocolError>, Option<bytes::Bytes>) {
    if inbuf.len() < BIG_ARG || inbuf.len() != inbuf.capacity() {
        return (parse_request_reusing(inbuf, limits, spare), None);
    }
    let whole = std::mem::take(inbuf).freeze();
    let parsed = parse_request_shared(&whole, limits);
    match parsed {
        Ok(Parsed::Complete(args, used)) if used >= BIG_ARG => {
            // Only the (small) rest is copied; the big arguments keep `whole` alive.
            *inbuf = BytesMut::with_capacity((whole.len() - used).max(16 * 1024));
            inbuf.extend_from_slice(&whole[used..]);
            (Ok(Parsed::Complete(args, used)), Some(whole))
        }
        Ok(Parsed::Incomplete { need }) => {
            let prefix =
                parse_request_prefix(&whole, limits).filter(|(_, used, _)| *used >= BIG_ARG);
            if let Some((args, used, left)) = prefix {
                received.extend(args);
                let rest = &whole[used..];
                *inbuf = BytesMut::with_capacity((rest.len() + 24).max(16 * 1024));
                inbuf.extend_from_slice(format!("*{left}\r\n").as_bytes());
                inbuf.extend_from_slice(rest);
                return (parse_request(inbuf, limits), None);
            }
            *inbuf = take_back(whole);
            (Ok(Parsed::Incomplete { need }), None)
        }
        other => {
            *inbuf = take_back(whole);
            (other, None)
        }
    }
}

/// A frozen buffer that nothing else refers to, made writable again without a copy.
fn take_back(whole: bytes::Bytes) -> BytesMut {
    whole
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]))
}

/// Puts the arguments taken out of `inbuf` for a request still arriving back in front of
/// the rest of it, as the client sent them (a copy; for the rare paths that must read the
/// request from the buffer: a busy script). `inbuf` starts with the request for the rest
/// that `next_request` left there.
fn restore_received(received: &mut Vec<bytes::Bytes>, inbuf: &mut BytesMut) {
    if received.is_empty() {
        return;
    }
    let Some(header_end) = inbuf.windows(2).position(|w| w == b"\r\n") else {
        return;
    };
    let left: usize = std::str::from_utf8(&inbuf[1..header_end])
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let args = std::mem::take(received);
    let mut out =
        Vec::with_capacity(inbuf.len() + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len() + left).as_bytes());
    for a in &args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&inbuf[header_end + 2..]);
    *inbuf = BytesMut::from(&out[..]);
}

/// What a read asks for at first and at most. Redis reads 16 KiB at a time; a client
/// that streams (a bulk load, a slot import, a replica link's peer) gets reads that
/// double up to `READ_MAX` while each read fills what it asked for, so it costs one read
/// and one reply write per many requests instead of per request; reads that come back
/// short take it back down.
const READ_MIN: usize = 16 * 1024;
const READ_MAX: usize = 256 * 1024;
/// An empty buffer this big once reads are back at `READ_MIN` was grown by a stream that
/// has ended. A client that only ever reads `READ_MIN` at a time reaches 2 * READ_MIN (room
/// for a read after a request cut short), so it is never reallocated over and over.
const STREAM_ENDED_OVER: usize = 4 * READ_MIN;
/// A slot import link (CLUSTER SYNCSLOTS) streams a whole snapshot: its reads grow further,
/// so a batch of large values costs one read, one lock acquisition and one reply write.
const IMPORT_READ_MAX: usize = 1024 * 1024;

/// An idle client's buffers keep only what they hold (a request cut short, replies not
/// yet written): empty ones are freed, and the next read or reply allocates again. Redis
/// frees an idle client's query buffer after 2 s and shrinks its reply buffer, too.
fn release_buffers(inbuf: &mut BytesMut, out: &mut Vec<u8>) {
    *inbuf = if inbuf.is_empty() {
        BytesMut::new()
    } else {
        BytesMut::from(&inbuf[..])
    };
    out.shrink_to_fit();
}

/// The next read's size (at most `max`) after a read of `got` bytes that could take `asked`.
fn next_read_size(current: usize, asked: usize, got: usize, max: usize) -> usize {
    let current = current.max(READ_MIN);
    if got >= asked && asked >= current {
        (current * 2).min(max)
    } else if got < asked / 4 {
        (current / 2).max(READ_MIN)
    } else {
        current
    }
}

/// Makes room for the next read once the buffer holds no complete request; `need` is
/// what the pending request needs in all. When that is a big bulk beyond the buffer's
/// room, the buffer is reallocated to exactly `need` bytes (as Redis does for arguments of
/// `PROTO_MBULK_BIG_ARG` and more): the value is then received into memory of its own size,
/// not into a buffer that doubles as it grows, and `next_request` hands it on uncopied.
/// Otherwise the buffer gets room for a read of `read_size`, and an empty buffer grown by
/// a stream that has ended goes back to the start size (`STREAM_ENDED_OVER`): a client
/// that once streamed and then keeps sending small requests would otherwise hold 256 KiB
/// or more for as long as it is never idle (Redis shrinks such a query buffer in its
/// client cron).
fn size_for_next_read(inbuf: &mut BytesMut, need: usize, read_size: usize) {
    let read_size = read_size.max(READ_MIN);
    if need >= inbuf.len() + BIG_ARG && need > inbuf.capacity() {
        let mut exact = BytesMut::with_capacity(need);
        exact.extend_from_slice(inbuf);
        *inbuf = exact;
    } else if need >= BIG_ARG && inbuf.capacity() == need {
        // Sized for that bulk already: the reads fill it exactly.
    } else if inbuf.is_empty() && read_size == READ_MIN && inbuf.capacity() > STREAM_ENDED_OVER {
        *inbuf = BytesMut::with_capacity(READ_MIN);
    } else if inbuf.capacity() - inbuf.len() < read_size {
        inbuf.reserve(read_size);
    }
}

/// Waits until a blocked command is served, times out, or the client goes away.
async fn wait_unblocked<S: ClientStream>(
    server: &Server,
    client: &mut ClientState,
    stream: &mut S,
    rx: &mut mpsc::UnboundedReceiver<ClientMsg>,
    inbuf: &mut BytesMut,
    req: crate::cmd::BlockRequest,
) -> Option<Reply> {
    let sleep = crate::timer::sleep(if req.timeout_ms == 0 {
        Duration::from_secs(u32::MAX as u64)
    } else {
        Duration::from_millis(req.timeout_ms)
    });
    tokio::pin!(sleep);
    let mut timed_out = false;
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(ClientMsg::Unblocked(reply)) => return Some(reply),
                Some(ClientMsg::UnblockTimeout) => {
                    // CLIENT UNBLOCK ... TIMEOUT already removed the waiter: answer as the
                    // timeout would (WAIT with the replicas reached by now).
                    return server.lock().end_wait(client.id, &req.timeout_reply, false);
                }
                Some(ClientMsg::Push(reply, _)) => {
                    let mut buf = Vec::new();
                    reply.encode(&mut buf, client.resp3);
                    if write_flush(stream, &buf, &client.kill).await.is_err() {
                        return None;
                    }
                }
                Some(ClientMsg::Raw(..)) | Some(ClientMsg::Idle) => {}
                Some(ClientMsg::Kill) | None => return None,
            },
            _ = &mut sleep, if !timed_out => {
                timed_out = true;
                if let Some(reply) = server.lock().end_wait(client.id, &req.timeout_reply, true) {
                    return Some(reply);
                }
                // Already served: the reply is in the channel.
            }
            read = stream.read_buf(inbuf) => match read {
                // A blocked client's further commands wait in the buffer, as in Redis.
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            },
        }
    }
}

/// Waits out a manual-failover write pause without holding the store lock: returns when
/// the pause state changes or its deadline passes (true), or when the client must be
/// dropped (false). Pushes meanwhile are written through; new input waits in `inbuf`.
async fn wait_unpaused<S: ClientStream>(
    client: &mut ClientState,
    stream: &mut S,
    rx: &mut mpsc::UnboundedReceiver<ClientMsg>,
    inbuf: &mut BytesMut,
    pending_out: &AtomicUsize,
    until: u64,
    mut watch: tokio::sync::watch::Receiver<u64>,
) -> bool {
    let mut watch_alive = true;
    let sleep = crate::timer::sleep(Duration::from_millis(until.saturating_sub(now_ms()) + 1));
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(ClientMsg::Push(reply, size)) => {
                    pending_out.fetch_sub(size, Ordering::Relaxed);
                    let mut buf = Vec::new();
                    reply.encode(&mut buf, client.resp3);
                    if write_flush(stream, &buf, &client.kill).await.is_err() {
                        return false;
                    }
                }
                Some(ClientMsg::Raw(bytes, size)) => {
                    pending_out.fetch_sub(size, Ordering::Relaxed);
                    if write_flush(stream, &bytes, &client.kill).await.is_err() {
                        return false;
                    }
                }
                Some(ClientMsg::Unblocked(_))
                | Some(ClientMsg::UnblockTimeout)
                | Some(ClientMsg::Idle) => {}
                Some(ClientMsg::Kill) | None => return false,
            },
            changed = watch.changed(), if watch_alive => match changed {
                Ok(()) => return true,
                // The sender is gone (cannot happen while the node lives): use the clock.
                Err(_) => watch_alive = false,
            },
            _ = &mut sleep => return true,
            read = stream.read_buf(inbuf) => match read {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    NET_INPUT_BYTES.fetch_add(n as u64, Ordering::Relaxed);
                }
            },
        }
    }
}

/// Writes `out` under the `client-output-buffer-limit normal` class: a reply batch over
/// the hard limit is dropped with the connection (as Redis closes such a client), and one
/// over the soft limit must drain within the soft seconds. Other classes have their own
/// enforcement (pub/sub and replicas where messages are queued).
async fn flush<S: ClientStream>(
    stream: &mut S,
    out: &mut Vec<u8>,
    client: &ClientState,
) -> Result<(), ()> {
    match client.over_output_limit(out.len()) {
        None => write_out(stream, out, &client.kill).await.map_err(|_| ()),
        Some(Duration::ZERO) => {
            tracing::info!(
                client = client.id,
                bytes = out.len(),
                "closing client over its output buffer limit (normal class)"
            );
            out.clear();
            Err(())
        }
        Some(within) => {
            match crate::timer::timeout(within, write_out(stream, out, &client.kill)).await {
                Ok(res) => res.map_err(|_| ()),
                Err(_) => {
                    tracing::info!(
                        client = client.id,
                        "closing client over its soft output buffer limit (normal class)"
                    );
                    Err(())
                }
            }
        }
    }
}

/// Writes and flushes: a TLS stream may keep encrypted records buffered until flushed (for
/// TcpStream the flush is a no-op). A write the peer does not read ends when the client is
/// closed (`kill`: CLIENT KILL, an output buffer limit, client eviction), as Redis frees a
/// client whatever its socket holds.
async fn write_flush<S: ClientStream>(
    stream: &mut S,
    buf: &[u8],
    kill: &tokio::sync::Notify,
) -> std::io::Result<()> {
    use std::task::Poll;
    // One attempt straight on the socket first: nearly every reply goes out whole here, and
    // the kill-aware wait below (a bigger future to build and poll) costs ~60 instructions
    // per request at -P 1 (callgrind, GET).
    let first =
        std::future::poll_fn(
            |cx| match std::pin::Pin::new(&mut *stream).poll_write(cx, buf) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => Poll::Ready(None),
            },
        )
        .await;
    let sent = match first {
        Some(Ok(0)) if !buf.is_empty() => return Err(std::io::ErrorKind::WriteZero.into()),
        Some(r) => r?,
        None => 0,
    };
    if sent == buf.len() {
        return stream.flush().await;
    }
    tokio::select! {
        biased;
        done = async {
            stream.write_all(&buf[sent..]).await?;
            stream.flush().await
        } => done,
        _ = kill.notified() => Err(std::io::Error::other("client closed")),
    }
}

async fn write_out<S: ClientStream>(
    stream: &mut S,
    out: &mut Vec<u8>,
    kill: &tokio::sync::Notify,
) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let res = write_flush(stream, out, kill).await;
    let written = out.len();
    NET_OUTPUT_BYTES.fetch_add(written as u64, Ordering::Relaxed);
    out.clear();
    // A buffer a burst grew (a snapshot or backlog sent to a replica, a big reply) goes
    // back to the start size once a write uses less than half of it: a long-lived
    // connection, a replica's above all, would otherwise hold its largest burst for good
    // (issue 14). Steady replies of one size keep their buffer.
    if out.capacity() > 4 * FLUSH_THRESHOLD
        || (out.capacity() > OUT_KEEP && written * 2 < out.capacity())
    {
        out.shrink_to(OUT_START);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::{
        next_read_size, next_request, restore_received, size_for_next_read, READ_MAX, READ_MIN,
    };
    use crate::config::Config;
    use crate::exec::sessions::{admission, Peer};
    use bytes::BytesMut;
    use rubra_resp::BIG_ARG;

    #[test]
    fn reads_grow_while_a_client_streams_and_shrink_when_it_stops() {
        let mut size = 0;
        for _ in 0..10 {
            let asked = size.max(READ_MIN);
            size = next_read_size(size, asked, asked, READ_MAX);
        }
        assert_eq!(size, READ_MAX);
        // A read that fills only part of what it could take keeps the size; a short one
        // halves it, down to the start size.
        assert_eq!(
            next_read_size(size, READ_MAX, READ_MAX / 2, READ_MAX),
            READ_MAX
        );
        for _ in 0..10 {
            size = next_read_size(size, READ_MAX, 100, READ_MAX);
        }
        assert_eq!(size, READ_MIN);
    }

    #[test]
    fn room_for_the_next_read_keeps_an_exact_big_bulk_buffer() {
        // A big bulk gets a buffer of exactly its size, which later reads fill as is.
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n"[..]);
        let need = buf.len() + 2 * BIG_ARG;
        size_for_next_read(&mut buf, need, READ_MAX);
        assert_eq!(buf.capacity(), need);
        buf.extend_from_slice(&vec![b'x'; need - buf.len() - 10]);
        size_for_next_read(&mut buf, need, READ_MAX);
        assert_eq!(buf.capacity(), need);
        // Otherwise it gets room for a whole read, and an emptied big buffer is let go.
        let mut small = BytesMut::with_capacity(64);
        small.extend_from_slice(b"*1\r\n");
        let need = small.len() + 1;
        size_for_next_read(&mut small, need, READ_MAX);
        assert!(small.capacity() - small.len() >= READ_MAX);
        let mut emptied = BytesMut::with_capacity(8 * READ_MAX);
        size_for_next_read(&mut emptied, 1, READ_MIN);
        assert_eq!(emptied.capacity(), READ_MIN);
    }

    #[test]
    fn a_buffer_grown_by_a_stream_goes_back_once_the_stream_ends() {
        // Reads still large: the stream goes on, the buffer stays.
        let mut streaming = BytesMut::with_capacity(READ_MAX);
        size_for_next_read(&mut streaming, 1, READ_MAX);
        assert!(streaming.capacity() >= READ_MAX);
        // Reads back at the start size and nothing pending: let go.
        size_for_next_read(&mut streaming, 1, READ_MIN);
        assert_eq!(streaming.capacity(), READ_MIN);
        // A client that reads READ_MIN at a time, with a request cut short between reads,
        // keeps the buffer it grew for that.
        let mut steady = BytesMut::with_capacity(READ_MIN);
        steady.extend_from_slice(&vec![b'x'; READ_MIN - 10]);
        size_for_next_read(&mut steady, READ_MIN + 100, READ_MIN);
        let grown = steady.capacity();
        assert!(grown - steady.len() >= READ_MIN);
        steady.clear();
        size_for_next_read(&mut steady, 1, READ_MIN);
        assert_eq!(steady.capacity(), grown);
    }

    #[test]
    fn big_arguments_leave_the_buffer_before_the_rest_arrives_and_can_be_put_back() {
        use rubra_resp::{Limits, Parsed};
        let big = vec![b'v'; 2 * BIG_ARG];
        let mut wire = Vec::new();
        rubra_resp::encode_request(&mut wire, &[&b"MSET"[..], b"k1", &big, b"k2", &big]);
        // The buffer was sized exactly for the first value, and is full.
        let second_head = format!("$2\r\nk2\r\n${}\r\n", big.len());
        let first = wire.len() - big.len() - 2 - second_head.len();
        let mut inbuf = BytesMut::with_capacity(first);
        inbuf.extend_from_slice(&wire[..first]);
        let mut received = Vec::new();
        let limits = Limits::default();
        let (parsed, whole) = next_request(&mut inbuf, &limits, &mut received, &mut Vec::new());
        assert!(matches!(parsed, Ok(Parsed::Incomplete { .. })) && whole.is_none());
        assert_eq!(received.len(), 3);
        assert_eq!(&inbuf[..], b"*2\r\n");
        // Put back, the buffer holds what the client sent so far.
        let mut again = inbuf.clone();
        let mut taken = received.clone();
        restore_received(&mut taken, &mut again);
        assert!(taken.is_empty());
        assert_eq!(&again[..], &wire[..first]);
        // The rest completes the request with every argument.
        inbuf.extend_from_slice(&wire[first..]);
        let (parsed, _) = next_request(&mut inbuf, &limits, &mut received, &mut Vec::new());
        let Ok(Parsed::Complete(args, _)) = parsed else {
            panic!("complete request expected");
        };
        assert!(received.is_empty());
        assert_eq!(args.len(), 5);
        assert_eq!((&args[1][..], &args[3][..]), (&b"k1"[..], &b"k2"[..]));
        assert!(args[2] == big && args[4] == big);
    }

    #[test]
    fn protected_mode_refuses_remote_peers_without_password() {
        let mut c = Config::default();
        let remote = Peer::Tcp("10.1.2.3:5".parse().unwrap()).is_local();
        let local = Peer::Tcp("127.0.0.1:5".parse().unwrap()).is_local();
        assert!(Peer::Unix("/tmp/s".into()).is_local());
        assert!(admission(&c, local, 0).is_none());
        let refusal = admission(&c, remote, 0).unwrap();
        assert!(matches!(refusal, rubra_resp::Reply::Error(ref e) if e.starts_with(b"DENIED")));
        c.set("requirepass", "x", false).unwrap();
        assert!(admission(&c, remote, 0).is_none());
        c.set("requirepass", "", false).unwrap();
        c.set("protected-mode", "no", false).unwrap();
        assert!(admission(&c, remote, 0).is_none());
    }

    #[test]
    fn maxclients_is_enforced() {
        let mut c = Config::default();
        c.set("maxclients", "2", false).unwrap();
        assert!(admission(&c, true, 1).is_none());
        assert!(admission(&c, true, 2).is_some());
    }
}

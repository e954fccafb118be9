//! The replica side of replication: connect to the primary, handshake (PING, AUTH,
//! REPLCONF, PSYNC), load a full snapshot or continue partially, then apply the stream and
//! acknowledge the processed offset every second. Stream bytes are mirrored verbatim into
//! our own feed, so our offsets equal the primary's and, once promoted, our backlog serves
//! partial resyncs to former siblings.

use crate::client::ClientState;
use crate::conn::ClientStream;
use crate::repl::state::{LinkState, SyncLoad};
use crate::server::Server;
use crate::store::now_ms;
use bytes::{Buf, BytesMut};
use rubra_resp::{parse_request, Frame, Limits, Parsed};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs the link until REPLICAOF points elsewhere; reconnects after failures.
pub(crate) async fn run(server: Arc<Server>, host: String, port: u16, generation: u64) {
    loop {
        if !is_current(&server, generation) {
            return;
        }
        match session(&server, &host, port, generation).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(primary = %format!("{host}:{port}"), error = %e, "replication link lost; retrying in 1s");
                set_state(&server, generation, LinkState::Down);
                crate::timer::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_current(server: &Server, generation: u64) -> bool {
    current(&server.lock(), generation)
}

/// Whether link `generation` is still the one REPLICAOF asked for.
fn current(store: &crate::store::Store, generation: u64) -> bool {
    store
        .replication
        .primary
        .as_ref()
        .is_some_and(|p| p.generation == generation)
}

fn set_state(server: &Server, generation: u64, state: LinkState) {
    let mut store = server.lock();
    if let Some(p) = store.replication.primary.as_mut() {
        if p.generation == generation {
            p.set_state(state, now_ms());
        }
    }
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    rubra_resp::encode_request(&mut out, args);
    out
}

/// CLIENT KILL of the primary's client: the link is down from now, as Redis frees its
/// master client at once (INFO says `master_link_status:down` right after, and the
/// cluster's data age counts from here even if a blocking command follows in the same
/// transaction); the link task sees the kill and reconnects.
pub(crate) fn primary_client_killed(store: &mut crate::store::Store, now_ms: u64) {
    if let Some(p) = store.replication.primary.as_mut() {
        p.set_state(LinkState::Down, now_ms);
    }
}

/// Reads one reply frame of the handshake, skipping keep-alive newlines, and renders it as
/// its RESP line (`+OK`, `-NOAUTH ...`, `+FULLRESYNC id offset`) for the checks below.
async fn read_reply(stream: &mut impl ClientStream, buf: &mut BytesMut) -> Result<String, String> {
    loop {
        while buf.first() == Some(&b'\n') {
            buf.advance(1);
        }
        match rubra_resp::parse_frame(buf, 64 * 1024) {
            Ok(Some((frame, used))) => {
                buf.advance(used);
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                return Ok(match frame {
                    Frame::Simple(s) => format!("+{}", text(&s)),
                    Frame::Error(e) => format!("-{}", text(&e)),
                    other => format!("{other:?}"),
                });
            }
            Ok(None) if buf.len() > 64 * 1024 => {
                return Err("protocol error: reply too long".into())
            }
            Ok(None) => read_more(stream, buf).await?,
            Err(e) => return Err(format!("protocol error from primary: {e:?}")),
        }
    }
}

/// Reads one `\r\n`-terminated line, skipping the bare newlines a primary sends as
/// keep-alives while it prepares a snapshot.
async fn read_line(stream: &mut impl ClientStream, buf: &mut BytesMut) -> Result<String, String> {
    loop {
        while buf.first() == Some(&b'\n') {
            buf.advance(1);
        }
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.advance(pos + 2);
            return Ok(line);
        }
        if buf.len() > 64 * 1024 {
            return Err("protocol error: line too long".into());
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut impl ClientStream, buf: &mut BytesMut) -> Result<(), String> {
    match crate::timer::timeout(Duration::from_secs(60), stream.read_buf(buf)).await {
        Ok(Ok(0)) => Err("connection closed by primary".into()),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout reading from primary".into()),
    }
}

async fn command(
    stream: &mut impl ClientStream,
    buf: &mut BytesMut,
    args: &[&[u8]],
) -> Result<String, String> {
    stream
        .write_all(&encode(args))
        .await
        .map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    read_reply(stream, buf).await
}

async fn session(
    server: &Arc<Server>,
    host: &str,
    port: u16,
    generation: u64,
) -> Result<(), String> {
    set_state(server, generation, LinkState::Connecting);
    let mut stream =
        crate::timer::timeout(Duration::from_secs(5), TcpStream::connect((host, port)))
            .await
            .map_err(|_| "connect timeout".to_string())?
            .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    // The primary's client, as CLIENT LIST shows it: the primary's address and ours.
    let addrs = (
        stream
            .peer_addr()
            .map_or_else(|_| format!("{host}:{port}"), |a| a.to_string()),
        stream
            .local_addr()
            .map_or_else(|_| String::new(), |a| a.to_string()),
    );
    // tls-replication: the link to the primary (its tls-port) runs over TLS.
    let tls_config = {
        let store = server.lock();
        (store.config.get_value("tls-replication") == "yes").then(|| store.config.clone())
    };
    match tls_config {
        Some(config) => {
            let mut stream = crate::tls::connect(&config, host, stream).await?;
            handshake(server, &mut stream, generation, &addrs).await
        }
        None => handshake(server, &mut stream, generation, &addrs).await,
    }
}

/// The link's read buffer at its start and again after a snapshot.
const LINK_BUF: usize = 64 * 1024;

/// PING, AUTH, REPLCONF, PSYNC, the snapshot if any, then the stream.
async fn handshake(
    server: &Arc<Server>,
    stream: &mut impl ClientStream,
    generation: u64,
    addrs: &(String, String),
) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(LINK_BUF);
    let (auth, user, my_port, cached) = {
        let store = server.lock();
        let auth = store.config.get_bytes("masterauth").to_vec();
        let user = store.config.get_bytes("masteruser").to_vec();
        (
            auth,
            user,
            // Redis announces the port the primary can reach us on with the link's kind.
            if store.config.get_value("tls-replication") == "yes" {
                crate::tls::tls_port(&store.config)
            } else {
                store.config.port
            },
            // With no cached primary (a new dataset was taken in) Redis asks `PSYNC ? -1`.
            if store.replication.no_cached_primary {
                ("?".to_string(), "-1".to_string())
            } else {
                (
                    store.feed.replid.clone(),
                    (store.feed.offset + 1).to_string(),
                )
            },
        )
    };
    let failover = crate::repl::failover::in_progress(&server.lock());
    let pong = command(stream, &mut buf, &[b"PING"]).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") {
        return Err(format!("primary replied to PING: {pong}"));
    }
    if !auth.is_empty() {
        let reply = if user.is_empty() {
            command(stream, &mut buf, &[b"AUTH", &auth]).await?
        } else {
            command(stream, &mut buf, &[b"AUTH", &user, &auth]).await?
        };
        if reply.starts_with('-') {
            // Redis's wording, which its tests wait for in the log.
            tracing::warn!("Unable to AUTH to MASTER: {reply}");
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let reply = command(
        stream,
        &mut buf,
        &[
            b"REPLCONF",
            b"listening-port",
            my_port.to_string().as_bytes(),
        ],
    )
    .await?;
    if reply.starts_with('-') {
        return Err(format!("REPLCONF listening-port: {reply}"));
    }
    let _ = command(
        stream,
        &mut buf,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
    )
    .await?;
    let (cached_id, offset_arg) = cached;
    let mut psync: Vec<&[u8]> = vec![b"PSYNC", cached_id.as_bytes(), offset_arg.as_bytes()];
    if failover {
        // Our FAILOVER: the target becomes a primary on this PSYNC.
        psync.push(b"FAILOVER");
    }
    let reply = command(stream, &mut buf, &psync).await?;
    if failover {
        let mut store = server.lock();
        if current(&store, generation) {
            crate::repl::failover::target_answered(&mut store, &reply);
        }
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split_whitespace();
        let replid = parts.next().ok_or("bad FULLRESYNC")?.to_string();
        let offset: u64 = parts
            .next()
            .and_then(|o| o.parse().ok())
            .ok_or("bad FULLRESYNC offset")?;
        set_state(server, generation, LinkState::Sync);
        let started = std::time::Instant::now();
        let (count, mode) = {
            let mut store = server.lock();
            let is_current = current(&store, generation);
            let mode = begin_full_sync(&mut store, &replid, is_current);
            (store.dbs.len(), mode)
        };
        let sync = SyncTarget { server, generation };
        let loaded = load_snapshot(stream, &mut buf, count, (mode, sync)).await;
        let mut store = server.lock();
        store.replication.sync_load = SyncLoad::Idle;
        if !current(&store, generation) {
            return Ok(());
        }
        let loaded = loaded?;
        store.replication.offset_unknown = false;
        store.dbs = loaded.dbs;
        crate::repl::replica_expire::forget_all(&mut store);
        store.scripts.replace_libraries(&loaded.meta.functions);
        for db in &mut store.dbs {
            db.replica_mode = true;
        }
        store.feed.adopt(replid, offset);
        // Our replicas followed the dataset we just replaced: they must resync with us
        // (Redis's replicationAttachToNewMaster, which for a snapshot received in full
        // before loading, the default, runs only once it is all here: a transfer that
        // fails midway leaves them attached and our history continuable).
        crate::repl::role::disconnect_replicas(&mut store);
        store.replication.no_cached_primary = false;
        store.replication.primary_stream_db = 0;
        if let Err(e) = crate::persist::aof_files::rewrite_now(&mut store) {
            tracing::error!(error = %e, "rewriting the AOF after a full sync failed");
        }
        tracing::info!(
            offset,
            ms = started.elapsed().as_millis() as u64,
            "full sync from primary loaded"
        );
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        let mut store = server.lock();
        store.replication.offset_unknown = false;
        if !new_id.is_empty() && new_id != store.feed.replid {
            store.feed.shift_replid(new_id.to_string());
            // Our replicas must learn the new id: drop them, they continue partially
            // under the old one (now our secondary id) and get the new one (Redis
            // disconnects its sub-replicas here too).
            crate::repl::role::disconnect_replicas(&mut store);
        }
        tracing::info!(
            offset = store.feed.offset,
            "partial resynchronization with primary succeeded"
        );
    } else {
        return Err(format!("PSYNC refused: {reply}"));
    }
    set_state(server, generation, LinkState::Connected);
    // Listed as a client (CLIENT LIST flag M, CLIENT KILL TYPE master or by address, as
    // Redis lists its master client): killing it drops the link, which then reconnects
    // and continues with a partial resync.
    let (tx, mut killed) = tokio::sync::mpsc::unbounded_channel();
    let id = {
        let mut store = server.lock();
        let id = store.clients.next_id();
        let now = now_ms();
        let info = crate::client::ClientInfo {
            id,
            addr: addrs.0.clone(),
            laddr: addrs.1.clone(),
            created_ms: now,
            last_active_ms: now,
            resp: 2,
            primary_link: true,
            ..Default::default()
        };
        let handle = crate::client::ClientHandle {
            info,
            tx,
            pending_out: Arc::default(),
            soft_limit_since: 0,
            evict: Default::default(),
        };
        store.clients.map.insert(id, handle);
        id
    };
    let result = stream_loop(server, stream, &mut buf, generation, &mut killed).await;
    server.lock().clients.map.remove(&id);
    result
}

/// How a full sync's snapshot is taken in (Redis's useDisklessLoad and
/// `repl-diskless-load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoadMode {
    /// Received in full first while the old dataset is still served (INFO loading:0,
    /// master_sync_in_progress:1), then loaded with INFO loading:1 and other commands
    /// answered -LOADING: `disabled` (the default), or `on-empty-db` with data. Redis
    /// writes the transfer to a file; it is held in memory here.
    AfterTransfer,
    /// Loaded from the socket as it arrives, reported as this from the snapshot's first
    /// byte: `Loading` (`on-empty-db` into an empty dataset, `swapdb` for another
    /// history) or `Async` (`swapdb` continuing the history we hold: the old dataset
    /// keeps being served).
    FromSocket(SyncLoad),
}

/// The link a snapshot is loaded for: its load state is set only while it is current.
#[derive(Clone, Copy)]
struct SyncTarget<'a> {
    server: &'a Arc<Server>,
    generation: u64,
}

impl SyncTarget<'_> {
    /// The load starts: INFO reports `load`; `attach` drops our replicas and our history
    /// (Redis's replicationAttachToNewMaster before loading a received file).
    fn start_load(&self, load: SyncLoad, attach: bool) {
        let mut store = self.server.lock();
        if current(&store, self.generation) {
            store.replication.sync_load = load;
            if attach {
                crate::repl::role::attach_to_new_primary(&mut store);
            }
        }
    }
}

/// Our primary answered FULLRESYNC with `replid` (`is_current`: for the link REPLICAOF
/// asked for): until its snapshot is loaded our offset is unknown (the cluster then sees
/// offset 0). Returns how the snapshot is taken in. The old dataset stays in place until
/// the snapshot is loaded, and stays if the sync fails.
fn begin_full_sync(store: &mut crate::store::Store, replid: &str, is_current: bool) -> LoadMode {
    let load = store.config.get_value("repl-diskless-load");
    let empty = store.dbs.iter().all(|d| d.is_empty());
    let mode = match load {
        "swapdb" if replid == store.feed.replid => LoadMode::FromSocket(SyncLoad::Async),
        "swapdb" => LoadMode::FromSocket(SyncLoad::Loading),
        "on-empty-db" if empty => LoadMode::FromSocket(SyncLoad::Loading),
        _ => LoadMode::AfterTransfer,
    };
    if !is_current {
        return mode;
    }
    store.replication.offset_unknown = true;
    // Loading straight from the socket into an empty dataset (`on-empty-db`), Redis
    // attaches to the new primary before the first byte: a transfer that fails then
    // leaves no history to continue.
    if load == "on-empty-db" && empty {
        crate::repl::role::attach_to_new_primary(store);
    }
    mode
}

/// Receives a whole snapshot of `remaining` bytes, or up to its end `mark`, leaving in
/// `buf` what follows it. The mark is found as Redis finds it, at the end of what has been
/// read (a primary sends nothing after it until the replica's first ACK).
async fn receive_payload(
    stream: &mut impl ClientStream,
    buf: &mut BytesMut,
    remaining: Option<usize>,
    mark: Option<&[u8]>,
) -> Result<bytes::Bytes, String> {
    loop {
        match (remaining, mark) {
            (Some(len), _) if buf.len() >= len => return Ok(buf.split_to(len).freeze()),
            (None, Some(mark)) if buf.ends_with(mark) => {
                let data = buf.split_to(buf.len() - mark.len()).freeze();
                buf.clear();
                return Ok(data);
            }
            _ => {}
        }
        buf.reserve(256 * 1024);
        read_more(stream, buf).await?;
    }
}

/// Reads the snapshot, in the `$<len>` form or the diskless `$EOF:<mark>` form, loading it
/// on a blocking thread as its bytes arrive (the load overlaps the primary's encoding and
/// the transfer). Leaves in `buf` whatever followed it (the stream).
///
/// BEHAVIOR. `$<len>`: exactly `len` bytes go to the loader, which must find the RDB's end
/// at the last one. `$EOF:<mark>`: every byte read goes to the loader; the RDB is
/// self-delimiting (EOF opcode and checksum), so the loader says where it ended, and the 40
/// bytes after it must be the mark. Redis's replica instead looks for the mark at the end of
/// each read, which is why a primary sends nothing after the mark until the replica's ACK;
/// this reader needs no such pause but is fine with it.
async fn load_snapshot(
    stream: &mut impl ClientStream,
    buf: &mut BytesMut,
    count: usize,
    (mode, sync): (LoadMode, SyncTarget<'_>),
) -> Result<crate::persist::rdb::Streamed, String> {
    let header = read_line(stream, buf).await?;
    let (mut remaining, mark) = if let Some(mark) = header.strip_prefix("$EOF:") {
        if mark.len() != 40 {
            return Err("bad EOF mark".into());
        }
        (None, Some(mark.as_bytes().to_vec()))
    } else {
        let len: usize = header
            .strip_prefix('$')
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| format!("bad snapshot header: {header}"))?;
        (Some(len), None)
    };
    let load = match mode {
        LoadMode::AfterTransfer => {
            return load_after_transfer(stream, buf, (count, remaining), sync, mark).await
        }
        LoadMode::FromSocket(load) => load,
    };
    sync.start_load(load, false);
    let (tx, rx) = std::sync::mpsc::channel::<bytes::Bytes>();
    let now = now_ms();
    let mut loader =
        tokio::task::spawn_blocking(move || crate::persist::rdb::load_streamed(rx, count, now));
    let mut tx = Some(tx);
    // Hands the loader what `buf` holds of the snapshot; drops the sender once a `$<len>`
    // snapshot is complete, so a short RDB is an error rather than a wait.
    let forward = |buf: &mut BytesMut,
                   tx: &mut Option<std::sync::mpsc::Sender<bytes::Bytes>>,
                   remaining: &mut Option<usize>| {
        let n = remaining.map_or(buf.len(), |r| r.min(buf.len()));
        if n > 0 {
            if let Some(sender) = tx.as_ref() {
                // A send fails only if the loader stopped; its result says why.
                let _ = sender.send(buf.split_to(n).freeze());
            }
        }
        if let Some(r) = remaining.as_mut() {
            *r -= n;
            if *r == 0 {
                *tx = None;
            }
        }
    };
    forward(buf, &mut tx, &mut remaining);
    let result = loop {
        if tx.is_none() {
            break loader.await;
        }
        buf.reserve(256 * 1024);
        tokio::select! {
            done = &mut loader => break done,
            read = crate::timer::timeout(Duration::from_secs(60), stream.read_buf(buf)) => {
                match read {
                    Ok(Ok(0)) => return Err("connection closed by primary".into()),
                    Ok(Ok(_)) => forward(buf, &mut tx, &mut remaining),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("timeout reading from primary".into()),
                }
            }
        }
    };
    let loaded = result.map_err(|e| e.to_string())??;
    // What followed the RDB: the loader's leftover, the chunks it had not taken, then what
    // is still in `buf`.
    // A buffer of its own, at the link's start size: the snapshot's allocations stay
    // with the loaded keys, not with the link for as long as it lives (issue 14).
    let mut after = BytesMut::with_capacity(LINK_BUF);
    after.extend_from_slice(&loaded.leftover);
    while let Ok(chunk) = loaded.rest.try_recv() {
        after.extend_from_slice(&chunk);
    }
    if mark.is_none() && !after.is_empty() {
        return Err("the snapshot's RDB ended before its announced length".into());
    }
    after.extend_from_slice(buf);
    *buf = after;
    if let Some(mark) = mark {
        while buf.len() < mark.len() {
            read_more(stream, buf).await?;
        }
        if buf[..mark.len()] != mark[..] {
            return Err("the snapshot did not end with its EOF mark".into());
        }
        buf.advance(mark.len());
    }
    Ok(loaded)
}

/// [`LoadMode::AfterTransfer`]: receives the snapshot (`mark`: its `$EOF:` form, else
/// `remaining` was announced) while the old dataset is served, then loads it with
/// INFO loading:1, dropping our replicas and history first as Redis does once the file is
/// all here (a transfer that fails midway leaves both).
async fn load_after_transfer(
    stream: &mut impl ClientStream,
    buf: &mut BytesMut,
    (count, remaining): (usize, Option<usize>),
    sync: SyncTarget<'_>,
    mark: Option<Vec<u8>>,
) -> Result<crate::persist::rdb::Streamed, String> {
    let data = receive_payload(stream, buf, remaining, mark.as_deref()).await?;
    sync.start_load(SyncLoad::Loading, true);
    let (tx, rx) = std::sync::mpsc::channel::<bytes::Bytes>();
    // The receiver is alive until the loader runs: this send cannot fail.
    let _ = tx.send(data);
    drop(tx);
    let now = now_ms();
    let loaded =
        tokio::task::spawn_blocking(move || crate::persist::rdb::load_streamed(rx, count, now))
            .await
            .map_err(|e| e.to_string())??;
    if !loaded.leftover.is_empty() || loaded.rest.try_recv().is_ok() {
        return Err("the snapshot's RDB ended before its announced length".into());
    }
    Ok(loaded)
}

/// Applies the primary's stream and acknowledges the offset once a second.
async fn stream_loop(
    server: &Arc<Server>,
    stream: &mut impl ClientStream,
    buf: &mut BytesMut,
    generation: u64,
    killed: &mut tokio::sync::mpsc::UnboundedReceiver<crate::client::ClientMsg>,
) -> Result<(), String> {
    let mut ack_timer = crate::timer::interval(Duration::from_secs(1));
    let limits = Limits {
        max_bulk_len: usize::MAX / 2,
        max_multibulk_len: usize::MAX / 2,
        ..Limits::default()
    };
    // The primary's client lives as long as the link: a transaction (MULTI ... EXEC, how
    // scripts and multi-command writes arrive) may span several reads.
    let mut master = ClientState {
        authenticated: true,
        is_primary_link: true,
        no_block: true,
        db: server.lock().replication.primary_stream_db,
        ..ClientState::default()
    };
    // The bytes of a transaction still open: they count towards our offset (and go to our
    // own replicas and AOF) only once it is applied, as Redis advances a replica's offset
    // only outside MULTI, so a link lost mid-transaction resumes from its MULTI.
    let mut open_transaction: Vec<u8> = Vec::new();
    let mut sink = Vec::new();
    // When the primary last sent anything (see the repl-timeout check below).
    let mut last_data = std::time::Instant::now();
    loop {
        let mut acks: Vec<u8> = Vec::new();
        {
            let mut store = server.lock();
            if !current(&store, generation) {
                return Ok(());
            }
            loop {
                match parse_request(buf, &limits) {
                    Err(e) => return Err(format!("bad stream from primary: {}", e.message())),
                    Ok(Parsed::Incomplete { .. }) => break,
                    Ok(Parsed::Complete(args, used)) => {
                        let raw = buf.split_to(used);
                        if args.len() >= 2
                            && args[0].eq_ignore_ascii_case(b"REPLCONF")
                            && args[1].eq_ignore_ascii_case(b"GETACK")
                        {
                            let offset = store.feed.offset.to_string();
                            acks.extend_from_slice(&encode(&[
                                b"REPLCONF",
                                b"ACK",
                                offset.as_bytes(),
                            ]));
                        } else if !args.is_empty() && !args[0].eq_ignore_ascii_case(b"PING") {
                            store.feed.mirror_mode = true;
                            let _ = crate::exec::dispatch::execute(
                                &mut store,
                                &mut master,
                                args,
                                &mut sink,
                            );
                            store.feed.mirror_mode = false;
                            sink.clear();
                        }
                        if master.multi.is_some() {
                            open_transaction.extend_from_slice(&raw);
                        } else if open_transaction.is_empty() {
                            store.feed.emit_raw(&raw);
                        } else {
                            open_transaction.extend_from_slice(&raw);
                            store.feed.emit_raw(&open_transaction);
                            open_transaction.clear();
                        }
                    }
                }
            }
            // A burst (the primary catching up after a pause) grew the buffer: once it is
            // consumed, back to the start size rather than holding the burst's size.
            if buf.is_empty() && buf.capacity() > 4 * LINK_BUF {
                *buf = BytesMut::with_capacity(LINK_BUF);
            }
            store.replication.primary_stream_db = master.db;
            store.flush_feed();
            if let Some(p) = store.replication.primary.as_mut() {
                p.last_io_ms = now_ms();
            }
        }
        if !acks.is_empty() {
            stream.write_all(&acks).await.map_err(|e| e.to_string())?;
            stream.flush().await.map_err(|e| e.to_string())?;
        }
        tokio::select! {
            read = stream.read_buf(buf) => match read {
                Ok(0) => return Err("connection closed by primary".into()),
                Ok(_) => last_data = std::time::Instant::now(),
                Err(e) => return Err(e.to_string()),
            },
            msg = killed.recv() => {
                if matches!(msg, None | Some(crate::client::ClientMsg::Kill)) {
                    return Err("the primary's client was killed".into());
                }
            }
            _ = ack_timer.tick() => {
                let (offset, timeout) = {
                    let store = server.lock();
                    (store.feed.offset.to_string(), super::repl_timeout(&store.config))
                };
                // A primary sends at least its PING every repl-ping-replica-period: silence
                // for repl-timeout means it is gone (a partition, a stopped process), and
                // the link is dropped and retried, as Redis's replicationCron does.
                if last_data.elapsed() > timeout {
                    return Err("MASTER timeout: no data nor PING received".into());
                }
                stream.write_all(&encode(&[b"REPLCONF", b"ACK", offset.as_bytes()])).await.map_err(|e| e.to_string())?;
                stream.flush().await.map_err(|e| e.to_string())?;
            }
        }
    }
}

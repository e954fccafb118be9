//! The cluster bus transport: a listener on the bus port (port + 10000 or cluster-port),
//! one writer task per peer address for outgoing messages, a reader per connection that
//! cuts frames by their header length and feeds them to the node, and the 100 ms ticker
//! (Redis's clusterCron). This file only moves bytes; decisions are in rubra-cluster and
//! their execution in cluster/driver.rs.
//!
//! BEHAVIOR: outgoing messages are queued without waiting (the node runs under the store
//! lock). A writer connects on its first message; if the peer is unreachable the message
//! and anything queued behind it are dropped (the core re-pings on its own schedule, as
//! Redis drops a freed link's buffer) and the link is reported lost. A connection the peer
//! closes is reported lost at once; a message whose write finds the connection dead is
//! written again on a new one. Frames that fail to decode close the connection, as in
//! Redis.

use crate::server::Server;
use rubra_cluster::state::ClusterState;
use rubra_cluster::wire::frame_len;
use rubra_cluster::{Addr, NodeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long a bus connect may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Pause after a failed connect, during which queued messages are dropped.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

type Queued = (Option<NodeId>, Vec<u8>);

/// Makes the kernel abort `stream` once data written to it stays unacknowledged for half
/// the node timeout (TCP_USER_TIMEOUT). Redis frees a link whose PING goes unanswered that
/// long and connects anew; without this, a connection that lived through a network
/// partition keeps its PINGs in a retransmission queue whose backoff grows with the
/// partition's length, so after healing the nodes stay deaf to each other for seconds
/// (6.5 s after an 8 s partition in the chaos suite, against Redis's 0.5 s). Aborted, the
/// link is reported lost and the next message opens a fresh connection.
fn bound_unacked(stream: &TcpStream, node_timeout_ms: u64) {
    use std::os::fd::AsRawFd;
    let ms = (node_timeout_ms / 2).clamp(500, u32::MAX as u64) as libc::c_uint;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_uint of the size
    // we pass.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            &ms as *const libc::c_uint as *const libc::c_void,
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

/// The configured cluster-node-timeout (15 s if the cluster is not set up yet).
fn node_timeout_ms(srv: &Server) -> u64 {
    srv.lock()
        .cluster
        .as_ref()
        .map(|g| g.node.config().node_timeout_ms)
        .unwrap_or(15_000)
}

/// One outgoing link's handle: its queue and the time it was created (CLUSTER LINKS).
struct Peer {
    tx: mpsc::UnboundedSender<Queued>,
    node: Option<NodeId>,
    created_ms: u64,
    /// Bytes queued for the writer and not yet taken by it (its send buffer).
    queued: Arc<AtomicUsize>,
    /// The writer task, aborted when the link is freed for its buffer.
    task: tokio::task::JoinHandle<()>,
}

/// An accepted bus connection: who is on it (once a frame named them) and since when.
struct Inbound {
    node: Option<NodeId>,
    created_ms: u64,
    /// Dropped with the entry: the connection's reader task then ends and closes it.
    _close: oneshot::Sender<()>,
}

/// Bus links: outgoing ones by peer address, incoming ones by connection number. Lives in
/// `ClusterDriver` (under the store lock).
#[derive(Default)]
pub(crate) struct Links {
    peers: HashMap<(String, u16), Peer>,
    inbound: HashMap<u64, Inbound>,
    next_inbound: u64,
    /// Set by [`start`]; before it, sends are dropped (nothing to send them with yet).
    server: Option<Weak<Server>>,
    /// cluster-link-sendbuf-limit in bytes (0 = none), kept from the config by the driver.
    pub sendbuf_limit: usize,
    /// Links freed because their send buffer passed the limit (CLUSTER INFO's
    /// total_cluster_links_buffer_limit_exceeded).
    pub buffer_limit_exceeded: u64,
}

/// What CLUSTER LINKS shows for one link.
pub(crate) struct LinkInfo {
    pub node: NodeId,
    pub created_ms: u64,
    /// true for links we opened ("to"), false for accepted ones ("from").
    pub outgoing: bool,
}

impl Links {
    /// Queues `bytes` for the peer at `to`, starting its writer task if needed.
    pub(crate) fn send(&mut self, to: &Addr, node: Option<NodeId>, bytes: Vec<u8>) {
        let Some(server) = self.server.clone() else {
            return;
        };
        let key = (to.ip.clone(), to.cport);
        if let Some(p) = self.peers.get_mut(&key) {
            if node.is_some() {
                p.node = node;
            }
            let queued = p.queued.load(Ordering::Relaxed);
            if self.sendbuf_limit > 0 && queued + bytes.len() > self.sendbuf_limit {
                // Redis's clusterNodeCronFreeLinkOnBufferLimitReached: a peer that does
                // not read (stopped, or its network stalled) must not grow our memory
                // without bound. The link is freed with what it held, and a new one
                // (a fresh connection) carries this message.
                tracing::warn!(
                    queued,
                    limit = self.sendbuf_limit,
                    "freeing cluster link: send buffer limit reached"
                );
                self.buffer_limit_exceeded += 1;
                if let Some(p) = self.peers.remove(&key) {
                    p.task.abort();
                }
            } else {
                let len = bytes.len();
                p.queued.fetch_add(len, Ordering::Relaxed);
                if p.tx.send((node, bytes.clone())).is_ok() {
                    return;
                }
                p.queued.fetch_sub(len, Ordering::Relaxed);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(bytes.len()));
        let _ = tx.send((node, bytes));
        let task = tokio::spawn(writer(server, to.ip.clone(), to.cport, rx, queued.clone()));
        self.peers.insert(
            key,
            Peer {
                tx,
                node,
                created_ms: crate::store::now_ms(),
                queued,
                task,
            },
        );
    }

    /// Drops links to addresses no known node has any more (forgotten, moved, or failed
    /// handshakes); their writer tasks end when the queue closes.
    pub(crate) fn prune(&mut self, st: &ClusterState) {
        if self.peers.len() <= st.nodes.len() {
            return;
        }
        self.peers
            .retain(|(ip, cport), _| st.nodes.values().any(|n| n.ip == *ip && n.cport == *cport));
    }

    /// The links with a known node, for CLUSTER LINKS: per node, the outgoing link and
    /// then the incoming one, as Redis lists them.
    pub(crate) fn list(&self) -> Vec<LinkInfo> {
        let mut out: Vec<LinkInfo> = self
            .peers
            .values()
            .filter_map(|p| {
                p.node.map(|node| LinkInfo {
                    node,
                    created_ms: p.created_ms,
                    outgoing: true,
                })
            })
            .chain(self.inbound.values().filter_map(|i| {
                i.node.map(|node| LinkInfo {
                    node,
                    created_ms: i.created_ms,
                    outgoing: false,
                })
            }))
            .collect();
        out.sort_by_key(|l| (l.node, !l.outgoing));
        out
    }

    /// Registers an accepted connection; returns its number for the calls below and what
    /// resolves when the entry is dropped (the reader must then close the connection).
    fn add_inbound(&mut self) -> (u64, oneshot::Receiver<()>) {
        self.next_inbound += 1;
        let (close, closed) = oneshot::channel();
        self.inbound.insert(
            self.next_inbound,
            Inbound {
                node: None,
                created_ms: crate::store::now_ms(),
                _close: close,
            },
        );
        (self.next_inbound, closed)
    }

    /// Names the peer of an accepted connection (the sender of a frame received on it).
    /// One accepted link per peer, the newest, as Redis keeps (its
    /// setClusterNodeToInboundClusterLink): a peer that reconnected after a partition
    /// left its old connection open on our side (its FIN was lost and we never write on
    /// an accepted link), and each such link kept its buffers for good (issue 14).
    fn name_inbound(&mut self, conn: u64, node: NodeId) {
        if let Some(i) = self.inbound.get_mut(&conn) {
            i.node = Some(node);
        }
        let newest = self
            .inbound
            .iter()
            .filter(|(_, i)| i.node == Some(node))
            .map(|(&c, _)| c)
            .max();
        self.inbound
            .retain(|&c, i| i.node != Some(node) || Some(c) == newest);
    }

    /// Forgets an accepted connection that closed.
    fn remove_inbound(&mut self, conn: u64) {
        self.inbound.remove(&conn);
    }
}

/// Reports a link to the node as up or down. A lost link goes to the core as
/// `link_lost`, which may PING the peer at once (starting its failure clock); the outputs
/// are applied here, under the same lock, like any other entry point's.
fn set_link(server: &Server, node: Option<NodeId>, up: bool) {
    let Some(node) = node else { return };
    let mut store = server.lock();
    let Some(glue) = store.cluster.as_mut() else {
        return;
    };
    if up {
        glue.node.set_link_state(&node, true);
        return;
    }
    let outs = glue.node.link_lost(crate::store::now_ms(), &node);
    crate::cluster::driver::apply(&mut store, outs);
}

/// A message whose write found the connection dead. It is written once more on a fresh
/// connection (the first PING/PONG to a restarted peer used to be lost here); a message
/// that fails on a fresh connection too is dropped, as a freed link's buffer is in Redis.
struct Carried {
    bytes: Vec<u8>,
    retried: bool,
}

/// One peer's writer: connects on demand, writes queued messages in order, and reads
/// whatever the peer sends back on the same connection.
///
/// BEHAVIOR: the writer watches its reader while idle, so a connection the peer closed
/// (a crashed or restarted process: the OS closes its sockets at once) is reported down
/// when it closes, not when the next message is written into it; that report is what
/// starts the peer's failure clock promptly (see `Node::link_lost`).
async fn writer(
    server: Weak<Server>,
    ip: String,
    cport: u16,
    rx: mpsc::UnboundedReceiver<Queued>,
    queued: Arc<AtomicUsize>,
) {
    // Every message taken off the queue leaves the link's send buffer.
    let mut rx = Counted { rx, queued };
    let mut node: Option<NodeId> = None;
    let mut carried: Option<Carried> = None;
    loop {
        let first = match carried.take() {
            Some(c) => c,
            None => match rx.recv().await {
                Some((n, bytes)) => {
                    if n.is_some() {
                        node = n;
                    }
                    Carried {
                        bytes,
                        retried: false,
                    }
                }
                None => return,
            },
        };
        let Some(srv) = server.upgrade() else { return };
        let connect =
            crate::timer::timeout(CONNECT_TIMEOUT, TcpStream::connect((ip.as_str(), cport))).await;
        let stream = match connect {
            Ok(Ok(s)) => s,
            _ => {
                set_link(&srv, node, false);
                drop(srv);
                crate::timer::sleep(RETRY_PAUSE).await;
                while let Ok((n, _)) = rx.try_recv() {
                    if n.is_some() {
                        node = n;
                    }
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        bound_unacked(&stream, node_timeout_ms(&srv));
        // tls-cluster: the link runs over TLS (a failed handshake counts as a failed connect).
        let Some((rd, mut wr)) = crate::tls::bus_halves(&srv, &ip, stream).await else {
            set_link(&srv, node, false);
            drop(srv);
            crate::timer::sleep(RETRY_PAUSE).await;
            continue;
        };
        set_link(&srv, node, true);
        let mut reader = tokio::spawn(read_frames(Arc::downgrade(&srv), rd, ip.clone(), None));
        drop(srv);
        let mut pending = Some(first);
        loop {
            let msg = match pending.take() {
                Some(c) => c,
                None => tokio::select! {
                    // Checked first: a closed connection must not swallow the next message.
                    biased;
                    _ = &mut reader => {
                        if let Some(srv) = server.upgrade() {
                            set_link(&srv, node, false);
                        }
                        break;
                    }
                    m = rx.recv() => match m {
                        Some((n, bytes)) => {
                            if n.is_some() {
                                node = n;
                            }
                            Carried { bytes, retried: false }
                        }
                        None => {
                            reader.abort();
                            return;
                        }
                    },
                },
            };
            if reader.is_finished()
                || wr.write_all(&msg.bytes).await.is_err()
                || wr.flush().await.is_err()
            {
                reader.abort();
                if !msg.retried {
                    carried = Some(Carried {
                        bytes: msg.bytes,
                        retried: true,
                    });
                }
                if let Some(srv) = server.upgrade() {
                    set_link(&srv, node, false);
                }
                break;
            }
        }
    }
}

/// A link's queue that keeps its byte count (the send buffer size) as messages leave it.
struct Counted {
    rx: mpsc::UnboundedReceiver<Queued>,
    queued: Arc<AtomicUsize>,
}

impl Counted {
    async fn recv(&mut self) -> Option<Queued> {
        let m = self.rx.recv().await;
        self.taken(m)
    }

    fn try_recv(&mut self) -> Result<Queued, mpsc::error::TryRecvError> {
        let m = self.rx.try_recv();
        if let Ok((_, b)) = &m {
            self.queued.fetch_sub(b.len(), Ordering::Relaxed);
        }
        m
    }

    fn taken(&self, m: Option<Queued>) -> Option<Queued> {
        if let Some((_, b)) = &m {
            self.queued.fetch_sub(b.len(), Ordering::Relaxed);
        }
        m
    }
}

/// Reads bus frames from a connection and hands each to the node until the peer closes or
/// sends something that is not a bus message.
///
/// `inbound` is the connection's number when we accepted it (CLUSTER LINKS "from" links):
/// the first frame names the peer, and the entry goes when the connection does (and the
/// connection when the entry does, see `Links::name_inbound`).
async fn read_frames<R: AsyncRead + Unpin>(
    server: Weak<Server>,
    rd: R,
    peer_ip: String,
    inbound: Option<(u64, oneshot::Receiver<()>)>,
) {
    let (inbound, closed) = inbound.unzip();
    let reading = read_frames_inner(&server, rd, &peer_ip, inbound);
    match closed {
        // An accepted link ends when its entry goes (a newer link from the same peer).
        Some(closed) => {
            tokio::select! {
                _ = reading => {}
                _ = closed => {}
            }
        }
        None => reading.await,
    }
    if let (Some(conn), Some(srv)) = (inbound, server.upgrade()) {
        let mut store = srv.lock();
        if let Some(glue) = store.cluster.as_mut() {
            glue.links.remove_inbound(conn);
        }
    }
}

async fn read_frames_inner<R: AsyncRead + Unpin>(
    server: &Weak<Server>,
    mut rd: R,
    peer_ip: &str,
    inbound: Option<u64>,
) {
    let mut named = false;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let len = match frame_len(&buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(peer = %peer_ip, error = %e, "bad bus frame; closing link");
                    return;
                }
            };
            if buf.len() < len {
                break;
            }
            let Some(srv) = server.upgrade() else { return };
            let result = {
                let mut store = srv.lock();
                let result = crate::cluster::driver::on_frame(&mut store, peer_ip, &buf[..len]);
                if let (Some(conn), false) = (inbound, named) {
                    let sender = rubra_cluster::wire::peek_sender(&buf[..len]);
                    if let (Some(glue), Some(node)) = (store.cluster.as_mut(), sender) {
                        glue.links.name_inbound(conn, node);
                        named = true;
                    }
                }
                result
            };
            if let Err(e) = result {
                tracing::debug!(peer = %peer_ip, error = %e, "bus message rejected; closing link");
                return;
            }
            buf.drain(..len);
        }
    }
}

/// Binds the bus listener and starts the accept loop and the ticker. Returns an error if
/// the bus port cannot be bound (the server must not run half a cluster node).
pub(crate) async fn start(server: &Arc<Server>) -> std::io::Result<()> {
    let (port, bind) = {
        let mut store = server.lock();
        let bind = store
            .config
            .get_value("bind")
            .split_whitespace()
            .next()
            .unwrap_or("127.0.0.1")
            .trim_start_matches('-')
            .to_string();
        let Some(glue) = store.cluster.as_mut() else {
            return Ok(());
        };
        glue.links.server = Some(Arc::downgrade(server));
        (glue.bus_port, bind)
    };
    let bind = if bind == "*" {
        "0.0.0.0".to_string()
    } else {
        bind
    };
    let addr = if bind.contains(':') {
        format!("[{bind}]:{port}")
    } else {
        format!("{bind}:{port}")
    };
    let listener = TcpListener::bind(&addr).await?;
    tracing::info!(addr = %addr, "cluster bus listening");
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let Some(srv) = weak.upgrade() else { return };
                    bound_unacked(&stream, node_timeout_ms(&srv));
                    let conn = srv
                        .store
                        .lock()
                        .cluster
                        .as_mut()
                        .map(|g| g.links.add_inbound());
                    let tls = crate::tls::bus_acceptor(&srv);
                    drop(srv);
                    let weak = weak.clone();
                    tokio::spawn(async move {
                        let ip = peer.ip().to_string();
                        match tls {
                            None => read_frames(weak, stream, ip, conn).await,
                            Some(acceptor) => match crate::tls::accept(acceptor, stream).await {
                                Some(tls) => read_frames(weak, tls, ip, conn).await,
                                // Unnamed inbound entry: drop it with the connection.
                                None => read_frames(weak, tokio::io::empty(), ip, conn).await,
                            },
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bus accept failed");
                    crate::timer::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
    let weak = Arc::downgrade(server);
    tokio::spawn(async move {
        let mut every = crate::timer::interval(Duration::from_millis(100));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Between the 100 ms ticks, wake exactly when the core has something due (a
            // PFAIL deadline, the start of our election): waiting for the next tick would
            // add up to 100 ms to each step of a failover.
            let due = {
                let Some(srv) = weak.upgrade() else { return };
                let store = srv.lock();
                store.cluster.as_ref().and_then(|g| g.node.next_deadline())
            };
            let sleep =
                due.map(|d| Duration::from_millis(d.saturating_sub(crate::store::now_ms())));
            tokio::select! {
                _ = every.tick() => {
                    let Some(srv) = weak.upgrade() else { return };
                    let mut store = srv.lock();
                    crate::cluster::driver::tick(&mut store);
                }
                _ = crate::timer::sleep(sleep.unwrap_or_default()), if sleep.is_some() => {
                    let Some(srv) = weak.upgrade() else { return };
                    let mut store = srv.lock();
                    crate::cluster::driver::wake(&mut store);
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId([b; rubra_cluster::wire::NAMELEN])
    }

    /// A peer that reconnects keeps one accepted link, the newest: the older one is
    /// dropped and its reader told to close (issue 14).
    #[test]
    fn a_peer_keeps_only_its_newest_accepted_link() {
        /// Whether the link's close signal has fired (its sender dropped).
        fn closed(rx: &mut oneshot::Receiver<()>) -> bool {
            matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed))
        }
        let mut links = Links::default();
        let (old, mut old_closed) = links.add_inbound();
        let (other, mut other_closed) = links.add_inbound();
        let (new, mut new_closed) = links.add_inbound();
        links.name_inbound(old, node(1));
        links.name_inbound(other, node(2));
        assert_eq!(links.list().len(), 2);
        links.name_inbound(new, node(1));
        let mut held: Vec<u64> = links.inbound.keys().copied().collect();
        held.sort();
        assert_eq!(held, vec![other, new]);
        assert!(closed(&mut old_closed));
        assert!(!closed(&mut other_closed));
        assert!(!closed(&mut new_closed));
        // An older link named after a newer one closes itself, not the newer one.
        let (first, mut first_closed) = links.add_inbound();
        let (second, mut second_closed) = links.add_inbound();
        links.name_inbound(second, node(3));
        links.name_inbound(first, node(3));
        assert!(!links.inbound.contains_key(&first));
        assert!(links.inbound.contains_key(&second));
        assert!(closed(&mut first_closed));
        assert!(!closed(&mut second_closed));
    }
}

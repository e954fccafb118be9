//! A connection's life as the shared state sees it: admission, the bookkeeping after each
//! batch, the answer of a wait that ended by timeout, and the removal of every trace. Kept
//! here so the connection loop (`conn.rs`) only moves bytes and never reaches into the
//! registries of other subsystems.

use crate::client::{ClientHandle, ClientInfo, ClientMsg, ClientState};
use crate::store::{now_ms, Store};
use rubra_resp::{Limits, Reply};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Where a new connection's replies go and how much of them is still queued.
pub(crate) struct Outlet {
    pub tx: UnboundedSender<ClientMsg>,
    pub pending_out: Arc<AtomicUsize>,
}

/// Who is at the other end of a connection: what CLIENT LIST shows as its addr, and
/// whether protected mode lets it in.
pub(crate) enum Peer {
    /// A TCP client (plain or TLS).
    Tcp(SocketAddr),
    /// A client of the `unixsocket` listener, by the socket's path.
    Unix(String),
}

impl Peer {
    /// Local peers pass protected mode: loopback, and a unix socket (Redis's connIsLocal).
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Peer::Tcp(a) => a.ip().is_loopback(),
            Peer::Unix(_) => true,
        }
    }

    /// CLIENT LIST's addr= (Redis shows a unix socket client as `path:0`).
    pub(crate) fn addr(&self) -> String {
        match self {
            Peer::Tcp(a) => a.to_string(),
            Peer::Unix(path) => format!("{path}:0"),
        }
    }
}

/// Whether a new connection may be served: `maxclients`, then protected mode (no password
/// and a peer that is not local). Returns the refusal to send before closing.
pub(crate) fn admission(
    config: &crate::config::Config,
    local_peer: bool,
    connected: usize,
) -> Option<Reply> {
    if connected >= config.maxclients {
        return Some(Reply::err("ERR max number of clients reached"));
    }
    if config.protected_mode && config.requirepass.is_none() && !local_peer {
        return Some(Reply::err(
            "DENIED Rubra is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. To accept others, set a password (requirepass) or disable protected mode (protected-mode no).",
        ));
    }
    None
}

impl Store {
    /// Admits a new connection (registering it and giving `client` its id, limits and
    /// default authentication) or returns the refusal to send before closing.
    pub(crate) fn admit(
        &mut self,
        client: &mut ClientState,
        peer: Peer,
        local: String,
        fd: i64,
        outlet: Outlet,
    ) -> Option<Reply> {
        self.stats.total_connections += 1;
        if let Some(refusal) = admission(&self.config, peer.is_local(), self.clients.len()) {
            self.stats.rejected_connections += 1;
            return Some(refusal);
        }
        let id = self.clients.next_id();
        client.id = id;
        client.idle_timeout_secs = self.config.idle_timeout_secs;
        client.output_limits = self.config.normal_output_limits;
        let pass = self.config.requirepass.clone();
        self.acl.sync_requirepass(&pass);
        client.authenticated = self.acl.default_auto_auth();
        let now = now_ms();
        self.clients.map.insert(
            id,
            ClientHandle {
                info: ClientInfo {
                    id,
                    addr: peer.addr(),
                    unix: matches!(peer, Peer::Unix(_)),
                    laddr: local,
                    created_ms: now,
                    last_active_ms: now,
                    resp: 2,
                    fd,
                    ..ClientInfo::default()
                },
                tx: outlet.tx,
                pending_out: outlet.pending_out,
                soft_limit_since: 0,
                evict: crate::exec::client_evict::EvictState {
                    kill: client.kill.clone(),
                    countable: true,
                    ..Default::default()
                },
            },
        );
        self.clients.update_mem(id);
        None
    }

    /// The parser limits for a client whose query buffer holds `queued` bytes, or None
    /// when the buffer is over `client-query-buffer-limit` (the connection is closed).
    pub(crate) fn request_limits(&mut self, queued: usize) -> Option<Limits> {
        if queued > self.config.query_buffer_limit {
            self.stats.client_query_limit_disconnections += 1;
            return None;
        }
        Some(Limits {
            max_bulk_len: self.config.proto_max_bulk_len,
            ..Limits::default()
        })
    }

    /// After a batch: the client takes the current timeout and output limits, an output
    /// limit crossed is counted, and CLIENT LIST's row shows the client as it is now
    /// (`queued`/`free` are its query buffer's length and spare capacity, `now_ms` the
    /// time of its last interaction). Then client eviction runs (maxmemory-clients):
    /// returns true if it closed this client.
    pub(crate) fn after_batch(
        &mut self,
        client: &mut ClientState,
        queued: usize,
        free: usize,
        out_len: usize,
        now_ms: u64,
    ) -> bool {
        client.idle_timeout_secs = self.config.idle_timeout_secs;
        client.output_limits = self.config.normal_output_limits;
        if client.over_output_limit(out_len) == Some(Duration::ZERO) {
            self.stats.client_output_limit_disconnections += 1;
        }
        if let Some(handle) = self.clients.map.get_mut(&client.id) {
            let info = &mut handle.info;
            info.last_active_ms = now_ms;
            info.db = client.db;
            info.resp = if client.resp3 { 3 } else { 2 };
            info.multi = client.multi.as_ref().map(|q| q.len());
            info.qbuf = queued;
            info.qbuf_free = free;
            info.user.clone_from(&client.user);
            info.last_cmd = client.last_cmd;
            info.monitor = client.monitor;
            info.readonly = client.readonly;
            info.multi_mem = client.multi_mem();
            info.argv_mem = client.received_args.iter().map(|a| a.len()).sum();
        }
        if self.clients.eviction_on || self.config.maxmemory_clients != 0 {
            self.count_client_mem(client, out_len);
            return self.evict_clients(client.id);
        }
        false
    }

    /// A blocked client's wait ended by its timeout (or CLIENT UNBLOCK ... TIMEOUT): WAIT
    /// answers with the replicas reached by now, anything else with `timeout_reply`.
    /// `still_blocked` is false when the waiter was already removed (CLIENT UNBLOCK).
    pub(crate) fn end_wait(
        &mut self,
        id: u64,
        timeout_reply: &Reply,
        still_blocked: bool,
    ) -> Option<Reply> {
        if still_blocked && self.blocking.unblock(id).is_none() {
            // Already served: the reply is in the channel.
            return None;
        }
        if let Some(w) = self.replication.waiters.remove(&id) {
            return Some(Reply::Int(self.replication.acked(w.target_offset) as i64));
        }
        Some(timeout_reply.clone())
    }

    /// Removes every trace of a client: registry, subscriptions, watches, tracking,
    /// blocked state, replica links and slot migrations it served.
    pub(crate) fn forget_client(&mut self, client: &ClientState) {
        if let Some(h) = self.clients.map.remove(&client.id) {
            self.clients.forget_mem(&h);
        }
        self.monitors.ids.retain(|id| *id != client.id);
        self.pubsub.remove_client(client.id);
        self.watches.unwatch_all(client.id);
        self.tracking.disable(client.id);
        self.blocking.unblock(client.id);
        self.pause.postponed.remove(&client.id);
        self.replication.waiters.remove(&client.id);
        self.replication.announced_ports.remove(&client.id);
        crate::cluster::migration::on_disconnect(self, client);
        if self.replication.replicas.remove(&client.id).is_some() {
            tracing::info!(replica = client.id, "replica connection closed");
        }
    }
}

//! Clients: the state a connection owns (`ClientState`) and the registry every command can
//! see (`ClientRegistry`, for CLIENT LIST/KILL, pub/sub delivery and unblocking). Messages
//! to another client go through its channel, never through its socket directly, so that
//! only a connection's own task ever writes to it.

use bytes::Bytes;
use rubra_resp::Reply;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// Something another part of the server wants a connection to do.
#[derive(Debug)]
pub(crate) enum ClientMsg {
    /// An out-of-band reply (pub/sub message), counted in the output buffer.
    Push(Reply, usize),
    /// The reply that ends a blocking command.
    Unblocked(Reply),
    /// Raw bytes for a replica (snapshot, replication stream), counted in the output buffer.
    Raw(bytes::Bytes, usize),
    /// Close the connection (CLIENT KILL, output buffer limit).
    Kill,
    /// CLIENT UNBLOCK ... TIMEOUT: end the blocking command as if its timeout fired (the
    /// connection holds the timeout reply).
    UnblockTimeout,
    /// The client has been idle a while: give back the free space of its query and reply
    /// buffers, as Redis's clientsCron does, so that an idle connection does not hold two
    /// 16 KB buffers.
    Idle,
}

/// What CLIENT LIST shows about a client; refreshed by its connection after each batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: Option<Bytes>,
    pub created_ms: u64,
    pub last_active_ms: u64,
    pub db: usize,
    /// As Redis names it (`client|list`); None before the first command or after an
    /// unknown one.
    pub last_cmd: Option<&'static str>,
    pub multi: Option<usize>,
    pub resp: u8,
    pub no_evict: bool,
    pub qbuf: usize,
    /// Free space in the query buffer (CLIENT LIST qbuf-free=).
    pub qbuf_free: usize,
    /// The socket's file descriptor (CLIENT LIST fd=).
    pub fd: i64,
    /// Connected through the `unixsocket` listener (flag U).
    pub unix: bool,
    /// In MONITOR mode (flag O).
    pub monitor: bool,
    /// Cluster READONLY was sent (flag r).
    pub readonly: bool,
    /// Bytes held by the commands queued in MULTI (multi-mem=).
    pub multi_mem: usize,
    /// Bytes of the arguments received of a request still arriving (argv-mem=), as Redis
    /// counts the arguments it has parsed so far.
    pub argv_mem: usize,
    /// The ACL user (None: default), so ACL DELUSER finds its connections.
    pub user: Option<Bytes>,
    /// The link to our primary (flag M, CLIENT KILL TYPE master): listed as Redis lists
    /// its master client, but no connection task of conn.rs serves it (repl::link does).
    pub primary_link: bool,
}

/// A registered client: its visible info and how to reach its connection.
pub(crate) struct ClientHandle {
    pub info: ClientInfo,
    pub tx: UnboundedSender<ClientMsg>,
    /// Bytes queued for this client but not yet written to its socket.
    pub pending_out: Arc<AtomicUsize>,
    /// When the soft output limit was first exceeded (ms), 0 if it is not.
    pub soft_limit_since: u64,
    /// Client eviction's view of this client and the signal that ends its connection.
    pub evict: crate::exec::client_evict::EvictState,
}

/// All connected clients by id.
#[derive(Default)]
pub(crate) struct ClientRegistry {
    /// Hashed, not ordered: every batch of commands looks its client up (`after_batch`),
    /// and a listing in id order (`ids`) is rare.
    pub map: HashMap<u64, ClientHandle, ahash::RandomState>,
    next_id: u64,
    /// The clients whose commands are running, innermost last (a blocked client served
    /// during another's write), each with the pushes kept for it: a message it published
    /// to itself, keyspace events and invalidations its own command caused. They are
    /// written right after its reply, as Redis writes them into the client's buffer before
    /// the next command of a pipeline runs: through the mailbox they would come after the
    /// replies of the whole batch.
    /// The innermost of them is kept apart (`own_id` and `own_kept`): every command starts
    /// and ends a scope, and that path costs two stores this way.
    own: Vec<(u64, Vec<Reply>)>,
    own_id: Option<u64>,
    own_kept: Vec<Reply>,
    /// maxmemory-clients is set: the clients' memory is kept current (see
    /// `exec::client_evict`); while it is 0 nothing is counted.
    pub eviction_on: bool,
    /// The memory of the normal and pub/sub clients as last counted (Redis's
    /// stat_clients_type_memory for those two types), no-evict ones included.
    pub clients_mem: usize,
    /// Orders the clients' entries into their memory buckets (oldest evicted first).
    pub bucket_clock: u64,
}

/// A `ClientRegistry::begin_own` scope: whether it started inside another one.
pub(crate) struct OwnScope {
    nested: bool,
}

/// Output buffer limits for one class of clients (0 = no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OutputLimits {
    pub hard: usize,
    pub soft: usize,
    pub soft_seconds: u64,
}

impl ClientRegistry {
    /// Allocates the next client id (ids are never reused, as in Redis).
    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Starts keeping `id`'s pushes for its own reply (see `own`); `end_own` with the
    /// scope returned ends it. Scopes nest: a blocked client served during another's write
    /// keeps its pushes apart while the writer's are still kept.
    #[inline]
    pub(crate) fn begin_own(&mut self, id: u64) -> OwnScope {
        let outer = self.own_id.replace(id);
        let nested = outer.is_some();
        if let Some(outer) = outer {
            self.own.push((outer, std::mem::take(&mut self.own_kept)));
        }
        OwnScope { nested }
    }

    /// Stops keeping pushes for the client `scope` started with and returns those kept,
    /// oldest first.
    #[inline]
    pub(crate) fn end_own(&mut self, scope: OwnScope) -> Vec<Reply> {
        let kept = std::mem::take(&mut self.own_kept);
        self.own_id = None;
        if scope.nested {
            if let Some((id, outer)) = self.own.pop() {
                self.own_id = Some(id);
                self.own_kept = outer;
            }
        }
        kept
    }

    /// Takes the pushes kept so far for the client of the current scope (see `own`): those
    /// a command caused before it ran, which go before its reply.
    pub(crate) fn take_own(&mut self) -> Vec<Reply> {
        std::mem::take(&mut self.own_kept)
    }

    /// Queues pushes kept by `end_own` for client `id` through its mailbox, after what is
    /// already there (a served blocked client's reply). Not limited: they are the effects
    /// of its own command.
    pub(crate) fn forward(&mut self, id: u64, pushes: Vec<Reply>) {
        let Some(handle) = self.map.get(&id) else {
            return;
        };
        for reply in pushes {
            let size = estimate_size(&reply);
            handle.pending_out.fetch_add(size, Ordering::Relaxed);
            let _ = handle.tx.send(ClientMsg::Push(reply, size));
        }
    }

    /// Number of connected clients.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The connected clients' ids, oldest first (Redis lists its clients in connection
    /// order: CLIENT LIST, CLIENT KILL with filters).
    pub(crate) fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.map.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Queues a push for client `id`, enforcing output limits. Returns false if the client
    /// is gone or was disconnected for exceeding its limit (the caller drops its state).
    pub(crate) fn push(
        &mut self,
        id: u64,
        reply: Reply,
        now_ms: u64,
        limits: OutputLimits,
    ) -> bool {
        if self.own_id == Some(id) {
            self.own_kept.push(reply);
            return true;
        }
        if let Some((_, kept)) = self.own.iter_mut().rev().find(|(c, _)| *c == id) {
            kept.push(reply);
            return true;
        }
        let Some(handle) = self.map.get_mut(&id) else {
            return false;
        };
        let size = estimate_size(&reply);
        let pending = handle.pending_out.load(Ordering::Relaxed) + size;
        let over_hard = limits.hard > 0 && pending > limits.hard;
        let over_soft = limits.soft > 0 && pending > limits.soft;
        if over_soft {
            if handle.soft_limit_since == 0 {
                handle.soft_limit_since = now_ms;
            }
        } else {
            handle.soft_limit_since = 0;
        }
        let soft_expired = over_soft
            && handle.soft_limit_since != 0
            && now_ms.saturating_sub(handle.soft_limit_since) >= limits.soft_seconds * 1000;
        if over_hard || soft_expired {
            self.close_over_limit(id, pending);
            return false;
        }
        handle.pending_out.fetch_add(size, Ordering::Relaxed);
        let sent = handle.tx.send(ClientMsg::Push(reply, size)).is_ok();
        if self.eviction_on {
            self.update_mem(id);
        }
        sent
    }

    /// Queues raw bytes for client `id` (a replica), enforcing output limits like `push`.
    pub(crate) fn push_raw(
        &mut self,
        id: u64,
        bytes: bytes::Bytes,
        now_ms: u64,
        limits: OutputLimits,
    ) -> bool {
        let Some(handle) = self.map.get_mut(&id) else {
            return false;
        };
        let size = bytes.len();
        let pending = handle.pending_out.load(Ordering::Relaxed) + size;
        let over_hard = limits.hard > 0 && pending > limits.hard;
        let over_soft = limits.soft > 0 && pending > limits.soft;
        if !over_soft {
            handle.soft_limit_since = 0;
        } else if handle.soft_limit_since == 0 {
            handle.soft_limit_since = now_ms;
        }
        let soft_expired = over_soft
            && now_ms.saturating_sub(handle.soft_limit_since) >= limits.soft_seconds * 1000;
        if over_hard || soft_expired {
            self.close_over_limit(id, pending);
            return false;
        }
        handle.pending_out.fetch_add(size, Ordering::Relaxed);
        handle.tx.send(ClientMsg::Raw(bytes, size)).is_ok()
    }

    /// Bytes queued for client `id` and not yet written to its socket (None if it is gone):
    /// what a producer that must not outrun a slow reader (a replica's snapshot) waits on.
    pub(crate) fn pending_out(&self, id: u64) -> Option<usize> {
        self.map
            .get(&id)
            .map(|h| h.pending_out.load(Ordering::Relaxed))
    }

    /// Sends the reply that unblocks client `id`.
    pub(crate) fn unblock(&self, id: u64, reply: Reply) {
        if let Some(handle) = self.map.get(&id) {
            let _ = handle.tx.send(ClientMsg::Unblocked(reply));
        }
    }

    /// Asks every client idle for more than `idle_ms` whose query buffer has more than
    /// `slack` bytes of free space to release it (`ClientMsg::Idle`). The
    /// listed free space is zeroed at once, so a client is asked once per idle period;
    /// its connection reports the real figures with its next batch.
    pub(crate) fn release_idle_buffers(&mut self, now_ms: u64, idle_ms: u64, slack: usize) {
        for handle in self.map.values_mut() {
            let info = &mut handle.info;
            if info.qbuf_free > slack && now_ms.saturating_sub(info.last_active_ms) > idle_ms {
                info.qbuf_free = 0;
                let _ = handle.tx.send(ClientMsg::Idle);
            }
        }
    }

    /// Closes client `id` for passing its output buffer limit (`pending` bytes queued), as
    /// Redis's closeClientOnOutputBufferLimitReached: it leaves the registry at once, its
    /// connection ends even while a write to it is stalled, and the server logs it.
    fn close_over_limit(&mut self, id: u64, pending: usize) {
        if let Some(h) = self.map.get(&id) {
            tracing::warn!(
                "Client id={} addr={} name={} omem={} closed for overcoming of output buffer limits.",
                id,
                h.info.addr,
                String::from_utf8_lossy(h.info.name.as_deref().unwrap_or_default()),
                pending
            );
        }
        self.kill(id);
    }

    /// Closes client `id`: it leaves the registry at once (as Redis frees a killed client,
    /// so a second CLIENT KILL or CLIENT LIST no longer finds it) and its connection ends
    /// when it reads the message; its other state goes when the connection cleans up.
    /// Returns whether it existed.
    pub(crate) fn kill(&mut self, id: u64) -> bool {
        match self.map.remove(&id) {
            Some(h) => {
                let _ = h.tx.send(ClientMsg::Kill);
                h.evict.kill.notify_one();
                self.forget_mem(&h);
                true
            }
            None => false,
        }
    }
}

/// Approximate encoded size of a reply, for output buffer accounting.
fn estimate_size(reply: &Reply) -> usize {
    match reply {
        Reply::Bulk(b) | Reply::Raw(b) => b.len() + 16,
        Reply::Array(items) | Reply::Push(items) | Reply::Set(items) => {
            16 + items.iter().map(estimate_size).sum::<usize>()
        }
        Reply::Map(pairs) => {
            16 + pairs
                .iter()
                .map(|(k, v)| estimate_size(k) + estimate_size(v))
                .sum::<usize>()
        }
        Reply::Status(s) => s.len() + 3,
        Reply::Error(s) => s.len() + 3,
        Reply::Verbatim(_, s) => s.len() + 16,
        _ => 24,
    }
}

/// The per-connection state that commands read and change.
#[derive(Debug, Default)]
pub(crate) struct ClientState {
    pub id: u64,
    /// In a script's client, the id of the client that ran the script (0 elsewhere):
    /// tracking counts the script's commands as the caller's, as Redis does (NOLOOP skips
    /// the caller's own writes; a read makes the caller track the script's declared keys).
    pub script_caller: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// Commands queued by MULTI, or None outside a transaction.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A queued command was rejected, so EXEC must answer EXECABORT.
    pub multi_failed: bool,
    /// Number of pub/sub subscriptions (channels + patterns + shard channels); in RESP2 a
    /// subscribed client may only run pub/sub commands.
    pub subscriptions: usize,
    /// Inside EXEC or serving a blocked client: blocking commands must not block.
    pub no_block: bool,
    /// Running a transaction's commands (EXEC): SUBSCRIBE and PSUBSCRIBE are allowed there
    /// although blocking is not.
    pub in_exec: bool,
    /// Set by QUIT: close after the reply is written.
    pub closing: bool,
    /// Cluster mode: READONLY was sent (reads allowed on replicas).
    pub readonly: bool,
    /// Cluster mode: ASKING was sent for the next command.
    pub asking: bool,
    /// This connection is a replica of ours (it ran PSYNC/SYNC).
    pub is_replica: bool,
    /// This is our link to our primary: its writes are allowed on a read-only replica.
    pub is_primary_link: bool,
    /// The import link of an atomic slot migration (CLUSTER SYNCSLOTS START): its writes
    /// go to slots this node does not own yet, so they skip routing and write pauses.
    pub import_link: bool,
    /// The `timeout` config as of the last batch (0 = never close idle clients).
    pub idle_timeout_secs: u64,
    /// `client-output-buffer-limit normal`, refreshed with the config like the timeout.
    pub output_limits: OutputLimits,
    /// While a blocked client is served: the key whose readiness woke it. Redis serves a
    /// client blocked on several keys from that key, not from the first one it named.
    pub served_key: Option<Bytes>,
    /// The ACL user this connection is authenticated as (None: the default user).
    pub user: Option<Bytes>,
    /// CLIENT REPLY OFF: no replies are sent.
    pub reply_off: bool,
    /// CLIENT REPLY SKIP took effect: the current command's reply is dropped.
    pub reply_skip: bool,
    /// CLIENT REPLY SKIP was just sent: drop the reply of the next command.
    pub reply_skip_next: bool,
    /// The command that just ran replied with subscription confirmations: Redis sends
    /// those as pushes, which CLIENT REPLY OFF / SKIP do not silence.
    pub reply_is_push: bool,
    /// In MONITOR mode.
    pub monitor: bool,
    /// Bytes in the query buffer when the current command started (CLIENT INFO qbuf=).
    pub qbuf: usize,
    /// Free space in the query buffer then (qbuf-free=).
    pub qbuf_free: usize,
    /// Bytes the next socket read asks for (0: the start size); grows while the client
    /// streams, see `conn::next_read_size`.
    pub read_size: usize,
    /// Bytes of the current command's arguments (CLIENT INFO argv-mem=).
    pub argv_mem: usize,
    /// The arguments already taken out of the query buffer of a request whose big
    /// arguments are still arriving (see `conn::next_request`); empty between requests.
    pub received_args: Vec<bytes::Bytes>,
    /// The argument vector of the last command run, emptied, for the next request to be
    /// parsed into (`rubra_resp::parse_request_reusing`): no allocation per command.
    pub spare_args: Vec<bytes::Bytes>,
    /// The last command run, as Redis names it (`get`, `client|info`); None for an
    /// unknown command (CLIENT LIST cmd=NULL).
    pub last_cmd: Option<&'static str>,
    /// Wakes this connection to close it (CLIENT KILL, output limits, client eviction),
    /// even while a write to its socket is stalled; shared with its registry entry.
    pub kill: Arc<tokio::sync::Notify>,
    /// The replies of the last batch were counted in the client's memory until written
    /// (see `exec::client_evict`).
    pub out_counted: bool,
}

impl ClientState {
    /// Bytes held by the MULTI queue as Redis counts them (arguments plus a pointer per
    /// argument), for CLIENT LIST's multi-mem.
    pub(crate) fn multi_mem(&self) -> usize {
        self.multi.as_ref().map_or(0, |q| {
            q.iter()
                .map(|c| c.iter().map(|a| a.len() + 8).sum::<usize>())
                .sum()
        })
    }

    /// Whether `pending` reply bytes break this client's normal-class output limit: None if
    /// not (or not a normal client: subscribers, replicas and monitors have their own
    /// limits), Some(ZERO) to close now (hard limit, or soft limit with no grace), or the
    /// grace within which the bytes must drain (soft limit).
    pub(crate) fn over_output_limit(&self, pending: usize) -> Option<std::time::Duration> {
        let l = self.output_limits;
        if self.subscriptions > 0 || self.is_replica || self.monitor || self.is_primary_link {
            return None;
        }
        if l.hard > 0 && pending > l.hard {
            return Some(std::time::Duration::ZERO);
        }
        if l.soft > 0 && pending > l.soft {
            return Some(std::time::Duration::from_secs(l.soft_seconds));
        }
        None
    }

    /// Keeps a finished command's argument vector for the next request: emptied (the
    /// arguments are released now, as before), and only when small, so that an idle client
    /// holds at most a few hundred bytes for it.
    #[inline]
    pub(crate) fn recycle_args(&mut self, mut args: Vec<bytes::Bytes>) {
        /// Capacities kept: MSET of a few pairs, not a 1000-key DEL.
        const SPARE_ARGS_MAX: usize = 8;
        args.clear();
        if args.capacity() <= SPARE_ARGS_MAX {
            self.spare_args = args;
        }
    }

    /// Redis's resetClient for the reply mode: a CLIENT REPLY SKIP drops exactly the reply
    /// of the command after it.
    pub(crate) fn after_command(&mut self) {
        self.reply_skip = std::mem::take(&mut self.reply_skip_next);
    }

    /// Whether the reply of the command that just ran must be dropped. Takes the
    /// `reply_is_push` mark: pushes are sent whatever the reply mode.
    pub(crate) fn reply_suppressed(&mut self) -> bool {
        let push = std::mem::take(&mut self.reply_is_push);
        (self.reply_off || self.reply_skip) && !push
    }
}

/// CLIENT PAUSE: until when, and whether every command waits (ALL) or only those that
/// may write or replicate (WRITE). `watch` ticks on every change so paused connections,
/// waiting off-lock, look again at once (UNPAUSE, a longer pause).
pub(crate) struct PauseState {
    pub end_ms: u64,
    pub all: bool,
    /// FAILOVER holds commands that may replicate until it ends (no end time).
    pub failover: bool,
    /// A shutdown waiting for replicas holds the same commands, also with no end time.
    pub shutdown: bool,
    pub watch: tokio::sync::watch::Sender<u64>,
    /// Clients whose connection holds a command back until a pause ends. Redis 7.0 blocks
    /// such a client (BLOCKED_POSTPONE): it counts in INFO blocked_clients and shows the
    /// `b` flag in CLIENT LIST, and tests wait on that count.
    pub postponed: std::collections::HashSet<u64>,
}

impl Default for PauseState {
    fn default() -> PauseState {
        PauseState {
            end_ms: 0,
            all: false,
            failover: false,
            shutdown: false,
            watch: tokio::sync::watch::channel(0).0,
            postponed: Default::default(),
        }
    }
}

impl PauseState {
    /// Whether a pause is in force at `now`.
    pub(crate) fn active(&self, now: u64) -> bool {
        self.end_ms > now
    }

    /// CLIENT PAUSE: merges with a pause in force (the later end, the stronger mode).
    pub(crate) fn pause(&mut self, end_ms: u64, all: bool, now: u64) {
        if self.active(now) {
            self.all |= all;
            self.end_ms = self.end_ms.max(end_ms);
        } else {
            self.all = all;
            self.end_ms = end_ms;
        }
        self.watch.send_modify(|v| *v += 1);
    }

    /// FAILOVER starts (true) or ends (false) holding writes.
    pub(crate) fn hold_writes_for_failover(&mut self, on: bool) {
        self.failover = on;
        self.watch.send_modify(|v| *v += 1);
    }

    /// A shutdown starts (true) or stops (false) waiting for its replicas, holding writes
    /// meanwhile as Redis's PAUSE_DURING_SHUTDOWN.
    pub(crate) fn hold_writes_for_shutdown(&mut self, on: bool) {
        self.shutdown = on;
        self.watch.send_modify(|v| *v += 1);
    }

    /// Whether writes are held with no end time (a failover or a shutdown in progress).
    pub(crate) fn writes_held(&self) -> bool {
        self.failover || self.shutdown
    }

    /// CLIENT UNPAUSE.
    pub(crate) fn unpause(&mut self) {
        self.end_ms = 0;
        self.all = false;
        self.watch.send_modify(|v| *v += 1);
    }
}

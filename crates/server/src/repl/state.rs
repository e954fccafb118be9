//! Primary/replica state: the replicas attached to this node and where each stands, the
//! link to our own primary when we are a replica, and WAIT bookkeeping. The protocol
//! follows Redis (PSYNC with replication id + offset, backlog for partial resync, full sync
//! by RDB snapshot, REPLCONF ACK once a second).

use std::collections::BTreeMap;

/// Where a replica is in its synchronisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncState {
    /// A full sync's snapshot is being produced; stream bytes are held until it is sent.
    WaitSnapshot,
    /// Receiving the live stream.
    Online,
}

/// A replica attached to this node (a client that ran PSYNC/SYNC).
#[derive(Debug, Clone)]
pub(crate) struct ReplicaInfo {
    pub ip: String,
    pub listening_port: u16,
    pub state: SyncState,
    /// Stream bytes produced while the snapshot was being made (and, after a diskless
    /// snapshot, until the replica's first ACK).
    pub held: Vec<u8>,
    /// The replica said `REPLCONF capa eof`: it reads the diskless `$EOF:<mark>` form, so
    /// its snapshot can go out while it is encoded.
    pub capa_eof: bool,
    /// A diskless snapshot went out: the held stream starts at the replica's first REPLCONF
    /// ACK, as in Redis, so the replica never has to find the end mark inside stream bytes.
    pub await_ack: bool,
    pub ack_offset: u64,
    pub ack_ms: u64,
}

/// What a would-be replica announced with REPLCONF before its PSYNC.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Announced {
    pub port: u16,
    /// `capa eof`: it can load a snapshot of unknown length (`$EOF:<mark>`).
    pub capa_eof: bool,
    /// `rdb-filter-only <filters>`: the snapshot leaves out the keys, and the function
    /// libraries unless `functions` is among the filters (redis-cli --functions-rdb).
    pub exclude_data: bool,
    pub exclude_functions: bool,
}

/// Link state towards our primary, as INFO's master_link_status and ROLE report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkState {
    Connecting,
    Sync,
    Connected,
    Down,
}

impl LinkState {
    /// The word ROLE uses.
    pub(crate) fn role_word(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
            LinkState::Down => "connect",
        }
    }
}

/// Our primary, when we are a replica.
#[derive(Debug, Clone)]
pub(crate) struct PrimaryLink {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Increments on every REPLICAOF so an old link task knows it must stop.
    pub generation: u64,
    pub last_io_ms: u64,
    /// When a connected link was last lost (Redis's repl_down_since): the cluster's
    /// replica validity check ages our data from here. Set at the moment of the loss,
    /// not when a tick notices it, so a loss followed by a long blocking command (a kill
    /// and DEBUG SLEEP in one transaction) still counts from the kill. None while
    /// connected or if never connected.
    pub down_since_ms: Option<u64>,
}

impl PrimaryLink {
    /// Moves the link to `state` at `now_ms`, recording when a connected link goes down.
    pub(crate) fn set_state(&mut self, state: LinkState, now_ms: u64) {
        if state == LinkState::Connected {
            self.down_since_ms = None;
        } else if self.state == LinkState::Connected {
            self.down_since_ms = Some(now_ms);
        }
        self.state = state;
        self.last_io_ms = now_ms;
    }
}

/// A client waiting in WAIT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitRequest {
    pub target_offset: u64,
    pub numreplicas: usize,
}

/// All replication state of this node.
#[derive(Debug, Default)]
pub(crate) struct Replication {
    pub replicas: BTreeMap<u64, ReplicaInfo>,
    /// What a client said with REPLCONF before PSYNC (listening-port, capa eof).
    pub announced_ports: BTreeMap<u64, Announced>,
    pub primary: Option<PrimaryLink>,
    pub waiters: BTreeMap<u64, WaitRequest>,
    /// Full syncs served and partial resyncs accepted (INFO sync_full, sync_partial_ok).
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// The selected database of the stream from our primary, kept across reconnections
    /// so a partial resync continues in the right database.
    pub primary_stream_db: usize,
    pub link_generation: u64,
    /// Our primary answered FULLRESYNC and no snapshot of it is loaded yet: Redis has
    /// then neither a primary client nor a cached one, and reports offset 0 (see
    /// `repl::my_offset`). Cleared by a loaded snapshot or a partial resync.
    pub offset_unknown: bool,
    /// We took in a new primary's dataset (Redis's replicationAttachToNewMaster): our own
    /// history no longer describes our data, so the next handshake asks `PSYNC ? -1` (a
    /// full sync) instead of continuing it, as Redis does once its cached primary is
    /// discarded. Cleared when a snapshot is loaded or we become a primary.
    pub no_cached_primary: bool,
    /// A full sync's snapshot is being loaded: INFO's `loading` (or `async_loading`).
    pub sync_load: SyncLoad,
    /// Keys our own clients gave a TTL while we replicate with replica-read-only no, by
    /// name, with the bit mask of their databases (see repl/replica_expire.rs).
    pub written_expires: std::collections::HashMap<bytes::Bytes, u64>,
}

/// How a replica loads its primary's snapshot, as INFO reports it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncLoad {
    /// Not loading a snapshot.
    #[default]
    Idle,
    /// Loading (INFO loading:1).
    Loading,
    /// Loading while the old dataset keeps being served (INFO async_loading:1): Redis does
    /// so with `repl-diskless-load swapdb` when the snapshot continues the history we
    /// hold (same replication id).
    Async,
}

impl Replication {
    /// Number of replicas whose acknowledged offset reached `offset`.
    pub(crate) fn acked(&self, offset: u64) -> usize {
        self.replicas
            .values()
            .filter(|r| r.state == SyncState::Online && r.ack_offset >= offset)
            .count()
    }

    /// Whether a primary has the replicas `min-replicas-to-write` asks for: that many
    /// online replicas whose last acknowledgement is at most `max_lag_s` seconds old
    /// (whole seconds, as Redis's refreshGoodSlavesCount). Always true on a replica and
    /// when either setting is 0.
    pub(crate) fn enough_good_replicas(&self, wanted: usize, max_lag_s: u64, now_ms: u64) -> bool {
        if wanted == 0 || max_lag_s == 0 || self.is_replica() {
            return true;
        }
        let now_s = now_ms / 1000;
        let good = self
            .replicas
            .values()
            .filter(|r| {
                r.state == SyncState::Online && now_s.saturating_sub(r.ack_ms / 1000) <= max_lag_s
            })
            .count();
        good >= wanted
    }

    /// Whether this node is a replica.
    pub(crate) fn is_replica(&self) -> bool {
        self.primary.is_some()
    }
}

/// `REPLCONF GETACK *` as stream bytes: asks replicas to acknowledge at once (WAIT).
pub(crate) fn getack_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    rubra_resp::encode_request(&mut out, &["REPLCONF", "GETACK", "*"]);
    out
}

//! The cluster node state machine: bus messages and clock ticks in, [`Output`]s out.
//!
//! BACKGROUND: this follows the Redis Cluster specification (cluster-spec, sections
//! "Heartbeat and gossip messages", "Failure detection", "Configuration handling,
//! propagation, and failovers"). Its entry points are [`Node::step`] (one received bus
//! message), [`Node::tick`] (call every ~100 ms, like Redis's clusterCron) and the admin
//! methods in [`crate::admin`]. Time comes only from `now_ms` arguments and randomness only
//! from the seeded RNG given at construction, so a run is a pure function of its inputs.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::node_lines::{parse_nodes_conf, render_nodes_conf};
use crate::state::{flags, ClusterState};
use crate::views::{cluster_info, ClusterInfo};
use crate::wire::{
    self, Body, Gossip, Header, Message, MsgType, NodeId, PingBody, SlotBitmap, MFLAG0_PAUSED,
};

/// How long a manual failover may take (CLUSTER_MF_TIMEOUT).
pub const MF_TIMEOUT_MS: u64 = 5000;
/// How long a forgotten node stays blacklisted from gossip (CLUSTER_BLACKLIST_TTL).
pub const BLACKLIST_TTL_MS: u64 = 60_000;
/// Replica migration waits this long after a primary became orphaned.
pub const MIGRATION_DELAY_MS: u64 = 5000;

/// Where a node's bus listens: `ip:cport`. `port` is its client port (for replication).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub ip: String,
    pub port: u16,
    pub cport: u16,
}

/// What the server must do after a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write `bytes` to the bus of the node at `to` (connect to `to.ip:to.cport` if needed).
    /// `node` is its id when known (None during handshake).
    Send {
        to: Addr,
        node: Option<NodeId>,
        bytes: Vec<u8>,
    },
    /// Persist [`Node::nodes_conf`] atomically (write temp file, fsync, rename).
    SaveConfig,
    /// We are now a replica of `primary`: (re)start replication from `addr.ip:addr.port`.
    ReplicateFrom { primary: NodeId, addr: Addr },
    /// We are now a primary (failover won, TAKEOVER, RESET): stop replicating, accept writes.
    BecamePrimary,
    /// Manual failover, primary side: stop accepting writes until `until_ms` (or
    /// `ResumeWrites`), and keep feeding us the replication offset via `set_repl_offset`.
    PauseWrites { until_ms: u64 },
    /// End of a write pause started by `PauseWrites`.
    ResumeWrites,
    /// Deliver a PUBLISH / SPUBLISH received from the bus to local subscribers.
    Publish {
        channel: Vec<u8>,
        message: Vec<u8>,
        sharded: bool,
    },
    /// Another primary took these slots from us: delete our keys in them.
    SlotsLost { slots: Vec<u16> },
    /// cluster_state flipped (true = ok). Reject/accept queries accordingly (CLUSTERDOWN).
    StateChanged { ok: bool },
}

/// Settings from the server's configuration (redis.conf names in the comments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Our address as other nodes should reach it (bind or cluster-announce-ip).
    pub ip: String,
    /// Client port (port / cluster-announce-port).
    pub port: u16,
    /// Bus port (cluster-port / cluster-announce-bus-port; usually port + 10000).
    pub cport: u16,
    /// cluster-announce-hostname (empty = none).
    pub hostname: String,
    /// cluster-node-timeout.
    pub node_timeout_ms: u64,
    /// cluster-require-full-coverage.
    pub require_full_coverage: bool,
    /// cluster-migration-barrier.
    pub migration_barrier: usize,
    /// cluster-allow-replica-migration.
    pub allow_replica_migration: bool,
    /// cluster-replica-no-failover.
    pub replica_no_failover: bool,
    /// cluster-replica-validity-factor (0 = always allowed to fail over).
    pub replica_validity_factor: u64,
    /// repl-ping-replica-period, in ms (part of the data-age limit).
    pub repl_ping_period_ms: u64,
}

impl NodeConfig {
    /// Redis defaults for a node at `ip:port` with the bus on port + 10000.
    pub fn new(ip: &str, port: u16) -> NodeConfig {
        NodeConfig {
            ip: ip.to_string(),
            port,
            cport: port.wrapping_add(10000),
            hostname: String::new(),
            node_timeout_ms: 15000,
            require_full_coverage: true,
            migration_barrier: 1,
            allow_replica_migration: true,
            replica_no_failover: false,
            replica_validity_factor: 10,
            repl_ping_period_ms: 10_000,
        }
    }
}

/// A replica's election in progress (failover_auth_* fields of Redis).
#[derive(Clone, Debug, Default)]
pub(crate) struct Election {
    /// When we may (or did) send the vote request; i64 so "now - time" can be negative.
    pub time: i64,
    pub count: usize,
    pub sent: bool,
    pub rank: usize,
    pub epoch: u64,
}

/// A manual failover in progress (mf_* fields of Redis).
#[derive(Clone, Debug, Default)]
pub(crate) struct ManualFailover {
    /// Deadline; 0 = none in progress.
    pub end: u64,
    /// Primary side: the replica that asked.
    pub replica: Option<NodeId>,
    /// Replica side: the paused primary's final offset.
    pub primary_offset: Option<u64>,
    /// Replica side: offsets match, the election may start.
    pub can_start: bool,
}

/// One cluster node's brain. See the module docs and README for the calling contract.
pub struct Node {
    pub(crate) cfg: NodeConfig,
    pub(crate) st: ClusterState,
    pub(crate) rng: SmallRng,
    pub(crate) repl_offset: u64,
    pub(crate) repl_down_since: Option<u64>,
    pub(crate) state_ok: bool,
    pub(crate) among_minority_time: Option<u64>,
    /// When `update_state` first ran (Redis's first_call_time): the start of the
    /// [`WRITABLE_DELAY_MS`] during which a primary keeps cluster_state at fail.
    pub(crate) first_state_update: Option<u64>,
    pub(crate) ticks: u64,
    pub(crate) now: u64,
    pub(crate) election: Election,
    pub(crate) mf: ManualFailover,
    pub(crate) save_pending: bool,
    /// Nodes we just flagged FAIL; the FAIL broadcast goes out with the next outputs.
    pub(crate) pending_fail: Vec<NodeId>,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// Bumped whenever something a client-facing view depends on may have changed: every
    /// slot, role or address change is persisted (so it passes through `flush` with a save
    /// pending), and cluster_state flips in `update_state`. See [`Node::topology_version`].
    pub(crate) topology_version: u64,
}

/// A random 40-hex-char node name from the given RNG.
pub(crate) fn random_id(rng: &mut SmallRng) -> NodeId {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 40];
    for c in id.iter_mut() {
        *c = HEX[rng.gen_range(0..16)];
    }
    NodeId(id)
}

impl Node {
    /// A brand-new node (fresh random id, no slots), as on first start without nodes.conf.
    pub fn new(cfg: NodeConfig, seed: u64, now_ms: u64) -> Node {
        let mut rng = SmallRng::seed_from_u64(seed);
        let id = random_id(&mut rng);
        let st = ClusterState::new(id, now_ms);
        let mut n = Node::with_state(cfg, rng, st, now_ms);
        n.save_pending = true;
        n
    }

    /// A node restored from `nodes.conf` text. Our address fields are refreshed from `cfg`.
    pub fn from_nodes_conf(
        cfg: NodeConfig,
        seed: u64,
        text: &str,
        now_ms: u64,
    ) -> Result<Node, String> {
        let st = parse_nodes_conf(text, now_ms)?;
        Ok(Node::with_state(
            cfg,
            SmallRng::seed_from_u64(seed),
            st,
            now_ms,
        ))
    }

    fn with_state(cfg: NodeConfig, rng: SmallRng, st: ClusterState, now: u64) -> Node {
        let mut n = Node {
            cfg,
            st,
            rng,
            repl_offset: 0,
            repl_down_since: None,
            state_ok: false,
            among_minority_time: None,
            first_state_update: None,
            ticks: 0,
            now,
            election: Election::default(),
            mf: ManualFailover::default(),
            save_pending: false,
            pending_fail: Vec::new(),
            sent: 0,
            received: 0,
            topology_version: 0,
        };
        n.apply_configured_address();
        n.update_myself_flags();
        n
    }

    /// Copies the configured address (ip, port, cport, announced hostname) into our own
    /// node entry; whether any of it changed.
    fn apply_configured_address(&mut self) -> bool {
        let (ip, port, cport, hn) = (
            self.cfg.ip.clone(),
            self.cfg.port,
            self.cfg.cport,
            self.cfg.hostname.clone(),
        );
        let me = self.st.me_mut();
        let moved = me.ip != ip || me.port != port || me.cport != cport || me.hostname != hn;
        me.ip = ip;
        me.port = port;
        me.cport = cport;
        me.hostname = hn;
        moved
    }

    /// clusterUpdateMyselfFlags: we announce NOFAILOVER while cluster-replica-no-failover
    /// is set, so CLUSTER NODES shows it everywhere and sibling replicas leave us out of
    /// their rank. Returns whether the flag changed.
    fn update_myself_flags(&mut self) -> bool {
        let want = self.cfg.replica_no_failover;
        let me = self.st.me_mut();
        if me.has(flags::NOFAILOVER) == want {
            return false;
        }
        if want {
            me.flags |= flags::NOFAILOVER;
        } else {
            me.flags &= !flags::NOFAILOVER;
        }
        true
    }

    /// Applies a changed configuration at run time (CONFIG SET of a cluster-* parameter
    /// or an announce address). Address and flag changes are persisted and gossiped with
    /// the next messages, as Redis does.
    pub fn set_config(&mut self, cfg: NodeConfig) -> Vec<Output> {
        self.cfg = cfg;
        let moved = self.apply_configured_address();
        let flagged = self.update_myself_flags();
        if moved || flagged {
            self.save();
        }
        let mut out = Vec::new();
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.st.myself
    }
    /// Read access to the whole cluster view (for CLUSTER NODES/SLOTS/SHARDS and routing).
    pub fn state(&self) -> &ClusterState {
        &self.st
    }
    /// The configuration in force.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }
    /// cluster_state:ok? Serve keyed queries only when true (else -CLUSTERDOWN).
    pub fn is_state_ok(&self) -> bool {
        self.state_ok
    }
    /// Are we a primary?
    pub fn is_primary(&self) -> bool {
        self.st.me().is_primary()
    }
    /// The nodes.conf text to persist.
    pub fn nodes_conf(&self) -> String {
        render_nodes_conf(&self.st)
    }
    /// CLUSTER INFO text (state part plus our bus counters).
    pub fn cluster_info(&self) -> ClusterInfo {
        cluster_info(&self.st, self.state_ok)
    }
    /// A counter that changes whenever the slot table, the nodes' roles or addresses,
    /// migrations or cluster_state may have changed (it may also change when they did not;
    /// it never stays put when they did). Derived tables such as the server's 16384-slot
    /// redirect table are rebuilt only when it moves, not on every bus message.
    pub fn topology_version(&self) -> u64 {
        self.topology_version
    }
    /// The manual failover in progress, if any: (deadline ms, the paused primary's offset
    /// once known (replica side), whether the election may start). For logs and tests.
    pub fn manual_failover_state(&self) -> Option<(u64, Option<u64>, bool)> {
        (self.mf.end != 0).then_some((self.mf.end, self.mf.primary_offset, self.mf.can_start))
    }
    /// Bus messages (sent, received), for CLUSTER INFO's stats lines.
    pub fn message_stats(&self) -> (u64, u64) {
        (self.sent, self.received)
    }
    /// Input: our replication offset (primary: master_repl_offset; replica: processed
    /// offset). Call whenever it changes or at least before each `tick`.
    pub fn set_repl_offset(&mut self, offset: u64) {
        self.repl_offset = offset;
    }
    /// Input (replicas): `Some(since_ms)` while the link to our primary is down, `None`
    /// when it is up. Used for the data-age check before a failover.
    pub fn set_repl_link_down_since(&mut self, since: Option<u64>) {
        self.repl_down_since = since;
    }
    /// Input: the transport's view of a link, shown as link-state in CLUSTER NODES.
    pub fn set_link_state(&mut self, node: &NodeId, connected: bool) {
        if let Some(n) = self.st.nodes.get_mut(node) {
            if !n.has(flags::MYSELF) {
                n.link_connected = connected;
            }
        }
    }

    // ----------------------------------------------------------------- sending

    pub(crate) fn save(&mut self) {
        self.save_pending = true;
    }

    pub(crate) fn flush(&mut self, out: &mut Vec<Output>) {
        if self.save_pending {
            self.save_pending = false;
            self.topology_version += 1;
            out.push(Output::SaveConfig);
        }
    }

    /// The header every message starts with (clusterBuildMessageHdr): a replica advertises
    /// its primary's slots and config epoch.
    pub(crate) fn header(&self) -> Header {
        let me = self.st.me();
        let shard = self
            .st
            .my_shard_primary()
            .and_then(|p| self.st.nodes.get(&p));
        let (myslots, config_epoch) = match shard {
            Some(p) => (self.st.slots_of(&p.id), p.config_epoch),
            None => (SlotBitmap::default(), me.config_epoch),
        };
        let mut mflags = [0u8; 3];
        if me.is_primary() && self.mf.end != 0 {
            mflags[0] |= MFLAG0_PAUSED;
        }
        Header {
            port: self.cfg.port,
            current_epoch: self.st.current_epoch,
            config_epoch,
            offset: self.repl_offset,
            sender: self.st.myself,
            myslots,
            replica_of: if me.is_replica() { me.primary } else { None },
            myip: self.cfg.ip.as_bytes().to_vec(),
            pport: 0,
            cport: self.cfg.cport,
            flags: me.flags,
            state: if self.state_ok { 0 } else { 1 },
            mflags,
        }
    }

    pub(crate) fn send_raw(
        &mut self,
        out: &mut Vec<Output>,
        to: Addr,
        node: Option<NodeId>,
        msg: &Message,
    ) {
        self.sent += 1;
        out.push(Output::Send {
            to,
            node,
            bytes: wire::encode(msg),
        });
    }

    /// Sends to a known node; silently skips nodes without an address.
    pub(crate) fn send_to(&mut self, out: &mut Vec<Output>, id: &NodeId, msg: &Message) {
        let Some(n) = self.st.nodes.get(id) else {
            return;
        };
        if n.has(flags::NOADDR | flags::MYSELF) || n.cport == 0 {
            return;
        }
        let to = Addr {
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
        };
        let node = (!n.has(flags::HANDSHAKE)).then_some(n.id);
        self.send_raw(out, to, node, msg);
    }

    /// Sends to every node we can talk to (clusterBroadcastMessage).
    pub(crate) fn broadcast(&mut self, out: &mut Vec<Output>, msg: &Message) {
        let ids: Vec<NodeId> = self
            .st
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF | flags::HANDSHAKE))
            .map(|n| n.id)
            .collect();
        for id in ids {
            self.send_to(out, &id, msg);
        }
    }

    /// Gossip about ~1/10 of the nodes (at least 3) plus every PFAIL node (clusterSendPing).
    pub(crate) fn ping_body(&mut self) -> PingBody {
        let candidates: Vec<NodeId> = self
            .st
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF | flags::PFAIL | flags::HANDSHAKE | flags::NOADDR))
            .map(|n| n.id)
            .collect();
        let wanted = (self.st.nodes.len() / 10).max(3).min(candidates.len());
        let mut chosen: Vec<NodeId> = Vec::new();
        let mut tries = wanted * 3;
        while chosen.len() < wanted && tries > 0 {
            tries -= 1;
            let c = candidates[self.rng.gen_range(0..candidates.len())];
            if !chosen.contains(&c) {
                chosen.push(c);
            }
        }
        chosen.extend(self.st.pfail_nodes());
        let gossip = chosen
            .iter()
            .filter_map(|id| self.st.nodes.get(id))
            .map(|n| Gossip {
                node: n.id,
                ping_sent: (n.ping_sent / 1000) as u32,
                pong_received: (n.pong_received / 1000) as u32,
                ip: n.ip.as_bytes().to_vec(),
                port: n.port,
                cport: n.cport,
                flags: n.flags,
                pport: n.pport,
            })
            .collect();
        PingBody {
            gossip,
            hostname: (!self.cfg.hostname.is_empty())
                .then(|| self.cfg.hostname.as_bytes().to_vec()),
            other_exts: Vec::new(),
        }
    }

    /// Sends PING/PONG/MEET to a node, recording ping_sent for PINGs and MEETs.
    pub(crate) fn send_ping(&mut self, out: &mut Vec<Output>, id: &NodeId, ty: MsgType) {
        let body = self.ping_body();
        let body = match ty {
            MsgType::Meet => Body::Meet(body),
            MsgType::Pong => Body::Pong(body),
            _ => Body::Ping(body),
        };
        if ty != MsgType::Pong {
            let now = self.now;
            if let Some(n) = self.st.nodes.get_mut(id) {
                if n.ping_sent == 0 {
                    n.ping_sent = now;
                }
            }
        }
        let msg = Message {
            header: self.header(),
            body,
        };
        self.send_to(out, id, &msg);
    }

    /// PONG to every node (after a failover or epoch change, so the news spreads fast).
    pub(crate) fn broadcast_pong(&mut self, out: &mut Vec<Output>, only_my_shard: bool) {
        let shard = self.st.my_shard_primary();
        let ids: Vec<NodeId> = self
            .st
            .nodes
            .values()
            .filter(|n| !n.has(flags::MYSELF | flags::HANDSHAKE))
            .filter(|n| !only_my_shard || (n.is_replica() && n.primary == shard))
            .map(|n| n.id)
            .collect();
        for id in ids {
            self.send_ping(out, &id, MsgType::Pong);
        }
    }
}

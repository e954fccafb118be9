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

use crate::conf::{parse_nodes_conf, render_nodes_conf};
use crate::state::{flags, ClusterState, NodeInfo};
use crate::views::{cluster_info, ClusterInfo};
use crate::wire::{
    self, Body, Gossip, Header, Message, MsgType, NodeId, PingBody, SlotBitmap, WireError,
    MFLAG0_PAUSED,
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
pub struct Config {
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

impl Config {
    /// Redis defaults for a node at `ip:port` with the bus on port + 10000.
    pub fn new(ip: &str, port: u16) -> Config {
        Config {
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
    pub(crate) cfg: Config,
    pub(crate) st: ClusterState,
    pub(crate) rng: SmallRng,
    pub(crate) repl_offset: u64,
    pub(crate) repl_down_since: Option<u64>,
    pub(crate) state_ok: bool,
    pub(crate) among_minority_time: Option<u64>,
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
    pub fn new(cfg: Config, seed: u64, now_ms: u64) -> Node {
        let mut rng = SmallRng::seed_from_u64(seed);
        let id = random_id(&mut rng);
        let st = ClusterState::new(id, now_ms);
        let mut n = Node::with_state(cfg, rng, st, now_ms);
        n.save_pending = true;
        n
    }

    /// A node restored from `nodes.conf` text. Our address fields are refreshed from `cfg`.
    pub fn from_nodes_conf(
        cfg: Config,
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

    fn with_state(cfg: Config, rng: SmallRng, st: ClusterState, now: u64) -> Node {
        let mut n = Node {
            cfg,
            st,
            rng,
            repl_offset: 0,
            repl_down_since: None,
            state_ok: false,
            among_minority_time: None,
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
        let (ip, port, cport, hn) = (
            n.cfg.ip.clone(),
            n.cfg.port,
            n.cfg.cport,
            n.cfg.hostname.clone(),
        );
        let me = n.st.me_mut();
        me.ip = ip;
        me.port = port;
        me.cport = cport;
        me.hostname = hn;
        n.update_myself_flags();
        n
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
    pub fn set_config(&mut self, cfg: Config) -> Vec<Output> {
        self.cfg = cfg;
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
    pub fn config(&self) -> &Config {
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

    // ----------------------------------------------------------------- receiving

    /// Handles one received bus message (the complete frame; see [`wire::frame_len`]).
    /// `from_ip` is the peer address of the connection it came on (used when the sender
    /// does not announce an IP). A decode error means: close that link.
    pub fn step(
        &mut self,
        now_ms: u64,
        from_ip: &str,
        bytes: &[u8],
    ) -> Result<Vec<Output>, WireError> {
        match wire::decode(bytes) {
            Ok(msg) => Ok(self.step_msg(now_ms, from_ip, msg)),
            // Redis ignores message types it does not know; so do we, link kept.
            Err(WireError::UnknownType(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Like [`Node::step`] for an already decoded message.
    pub fn step_msg(&mut self, now_ms: u64, from_ip: &str, msg: Message) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        self.received += 1;
        let mut out = Vec::new();
        self.process(&mut out, from_ip, msg);
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    fn known_sender(&self, id: &NodeId) -> Option<NodeId> {
        self.st
            .nodes
            .get(id)
            .filter(|n| !n.has(flags::HANDSHAKE | flags::MYSELF))
            .map(|n| n.id)
    }

    fn process(&mut self, out: &mut Vec<Output>, from_ip: &str, msg: Message) {
        let now = self.now;
        let h = &msg.header;
        let ty = msg.body.msg_type();
        let sender_ip = if h.myip.is_empty() {
            from_ip.to_string()
        } else {
            String::from_utf8_lossy(&h.myip).into_owned()
        };
        let mut sender = self.known_sender(&h.sender);
        if let Some(s) = sender {
            self.note_sender_header(s, h);
        }
        let is_ping_like = matches!(ty, MsgType::Ping | MsgType::Pong | MsgType::Meet);
        if ty == MsgType::Meet && sender.is_none() && h.sender != self.st.myself {
            // A MEET is an explicit invitation: accept the sender as a member right away.
            let mut n = NodeInfo::new(h.sender, role_flags(h), now);
            n.ip = sender_ip.clone();
            n.port = h.port;
            n.cport = h.cport;
            n.pport = h.pport;
            n.link_connected = true;
            n.data_received = now;
            self.st.nodes.insert(h.sender, n);
            self.st.blacklist.remove(&h.sender);
            self.save();
            sender = Some(h.sender);
            self.note_sender_header(h.sender, h);
        }
        if ty == MsgType::Pong {
            // A PONG from the address of a handshake entry resolves it, even when the
            // sender is already known under its real name (Redis drops the duplicate then).
            if let Some(real) = self.finish_handshake(&sender_ip, h) {
                sender = Some(real);
            }
        }
        if matches!(ty, MsgType::Ping | MsgType::Meet) && h.sender != self.st.myself {
            // Always answer, even unknown senders: that completes their handshake.
            let body = self.ping_body();
            let reply = Message {
                header: self.header(),
                body: Body::Pong(body),
            };
            let to = Addr {
                ip: sender_ip.clone(),
                port: h.port,
                cport: h.cport,
            };
            self.send_raw(out, to, sender, &reply);
        }
        let Some(s) = sender else {
            return;
        };
        match msg.body {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) if is_ping_like => {
                self.process_ping_like(out, s, &sender_ip, ty, h, &p);
            }
            Body::Fail { node } => {
                if let Some(n) = self.st.nodes.get_mut(&node) {
                    if !n.has(flags::MYSELF | flags::FAIL) {
                        n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
                        n.fail_time = now;
                        self.save();
                    }
                }
            }
            Body::Publish { channel, message } => out.push(Output::Publish {
                channel,
                message,
                sharded: false,
            }),
            Body::PublishShard { channel, message } => out.push(Output::Publish {
                channel,
                message,
                sharded: true,
            }),
            Body::FailoverAuthRequest => self.maybe_vote(out, s, h),
            Body::FailoverAuthAck => {
                let ok = self.st.nodes.get(&s).is_some_and(|n| n.is_primary())
                    && self.st.slot_count(&s) > 0
                    && h.current_epoch >= self.election.epoch;
                if ok {
                    self.election.count += 1;
                    self.handle_replica_failover(out);
                }
            }
            Body::MfStart => self.start_manual_failover_as_primary(out, s, h),
            Body::Update {
                config_epoch,
                node,
                slots,
            } => {
                let Some(n) = self.st.nodes.get(&node) else {
                    return;
                };
                if n.config_epoch >= config_epoch {
                    return;
                }
                if n.is_replica() {
                    self.st.set_node_as_primary(&node);
                }
                if let Some(n) = self.st.nodes.get_mut(&node) {
                    n.config_epoch = config_epoch;
                }
                self.update_slots_config_with(out, node, config_epoch, &slots);
                self.save();
            }
            _ => {}
        }
    }

    /// Header facts every message from a known sender updates: epochs, offset, liveness.
    fn note_sender_header(&mut self, s: NodeId, h: &Header) {
        let now = self.now;
        if h.current_epoch > self.st.current_epoch {
            self.st.current_epoch = h.current_epoch;
            self.save();
        }
        let my_primary = self.st.me().primary;
        let i_am_replica = self.st.me().is_replica();
        if let Some(n) = self.st.nodes.get_mut(&s) {
            n.data_received = now;
            n.link_connected = true;
            n.repl_offset = h.offset;
            // The sender's own word on NOFAILOVER (cluster-replica-no-failover) is final.
            let nofailover = h.flags & flags::NOFAILOVER;
            if n.flags & flags::NOFAILOVER != nofailover {
                n.flags = (n.flags & !flags::NOFAILOVER) | nofailover;
                self.save_pending = true;
            }
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                self.save_pending = true;
            }
        }
        if i_am_replica
            && my_primary == Some(s)
            && self.mf.end != 0
            && self.mf.primary_offset.is_none()
            && h.mflags[0] & MFLAG0_PAUSED != 0
        {
            self.mf.primary_offset = Some(h.offset);
        }
    }

    /// A PONG from an address we MEET-ed: learn the node's real name.
    fn finish_handshake(&mut self, ip: &str, h: &Header) -> Option<NodeId> {
        let hs = self
            .st
            .nodes
            .values()
            .find(|n| n.has(flags::HANDSHAKE) && n.ip == ip && n.port == h.port)
            .map(|n| n.id)?;
        if self.st.nodes.contains_key(&h.sender) || h.sender == self.st.myself {
            // Already known under its real name (or it is us): drop the duplicate entry.
            self.st.del_node(&hs);
            return self.known_sender(&h.sender);
        }
        self.st.rename_node(&hs, h.sender);
        if let Some(n) = self.st.nodes.get_mut(&h.sender) {
            n.flags = (n.flags & !(flags::HANDSHAKE | flags::MEET | flags::MASTER | flags::SLAVE))
                | role_flags(h);
            n.cport = h.cport;
        }
        self.st.blacklist.remove(&h.sender);
        self.save();
        self.note_sender_header(h.sender, h);
        Some(h.sender)
    }

    fn process_ping_like(
        &mut self,
        out: &mut Vec<Output>,
        s: NodeId,
        ip: &str,
        ty: MsgType,
        h: &Header,
        p: &PingBody,
    ) {
        let now = self.now;
        let timeout = self.cfg.node_timeout_ms;
        let mut save = false;
        if let Some(n) = self.st.nodes.get_mut(&s) {
            n.flags &= !flags::MEET;
            if n.ip != ip || n.port != h.port || n.cport != h.cport {
                n.ip = ip.to_string();
                n.port = h.port;
                n.cport = h.cport;
                n.flags &= !flags::NOADDR;
                save = true;
            }
            if let Some(hn) = &p.hostname {
                let hn = String::from_utf8_lossy(hn).into_owned();
                if n.hostname != hn {
                    n.hostname = hn;
                    save = true;
                }
            }
            if ty == MsgType::Pong {
                n.pong_received = now;
                n.ping_sent = 0;
                if n.has(flags::PFAIL) {
                    n.flags &= !flags::PFAIL;
                    save = true;
                }
            }
        }
        if ty == MsgType::Pong {
            self.clear_failure_if_needed(&s, timeout);
        }
        // Role changes (the header says what the sender is now).
        let was_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        match h.replica_of {
            None => {
                if !was_primary {
                    self.st.set_node_as_primary(&s);
                    save = true;
                }
            }
            Some(p_id) => {
                if was_primary {
                    // A primary turned replica: its slots are no longer its to claim.
                    self.st.del_node_slots(&s);
                    save = true;
                }
                let cur = self.st.nodes.get(&s).and_then(|n| n.primary);
                let role_ok = self.st.nodes.get(&s).is_some_and(|n| n.is_replica());
                if self.st.nodes.contains_key(&p_id) && (cur != Some(p_id) || !role_ok) && p_id != s
                {
                    self.st.set_node_as_replica(&s, p_id);
                    save = true;
                }
            }
        }
        // Slot ownership (cluster-spec "Slots configuration propagation").
        let sender_is_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        let shard = if sender_is_primary {
            Some(s)
        } else {
            self.st.nodes.get(&s).and_then(|n| n.primary)
        };
        let dirty = match shard {
            Some(sp) if self.st.nodes.contains_key(&sp) => self.st.slots_of(&sp) != h.myslots,
            _ => false,
        };
        if sender_is_primary && dirty {
            self.update_slots_config_with(out, s, h.config_epoch, &h.myslots);
        }
        if dirty {
            // The sender claims slots that a node with a newer epoch owns: tell it.
            let stale = h.myslots.iter().find_map(|j| {
                let o = self.st.slots[j]?;
                if o == s {
                    return None;
                }
                let on = self.st.nodes.get(&o)?;
                (on.config_epoch > h.config_epoch).then_some((o, on.config_epoch))
            });
            if let Some((owner, epoch)) = stale {
                let msg = Message {
                    header: self.header(),
                    body: Body::Update {
                        config_epoch: epoch,
                        node: owner,
                        slots: self.st.slots_of(&owner),
                    },
                };
                self.send_to(out, &s, &msg);
            }
        }
        if sender_is_primary
            && self.st.me().is_primary()
            && h.config_epoch == self.st.me().config_epoch
        {
            self.handle_config_epoch_collision(s);
        }
        self.process_gossip(s, &p.gossip);
        if save {
            self.save();
        }
    }

    /// Two primaries with the same config epoch: the one with the smaller name takes a
    /// new epoch (cluster-spec "Handling config epoch collisions").
    fn handle_config_epoch_collision(&mut self, s: NodeId) {
        if s <= self.st.myself {
            return;
        }
        self.st.current_epoch += 1;
        let e = self.st.current_epoch;
        self.st.me_mut().config_epoch = e;
        self.save();
    }

    fn clear_failure_if_needed(&mut self, id: &NodeId, timeout: u64) {
        let now = self.now;
        let slots = self.st.slot_count(id);
        if let Some(n) = self.st.nodes.get_mut(id) {
            if !n.failed() {
                return;
            }
            // Replicas and slot-less primaries: clear at once. Serving primaries: only if
            // nobody failed them over for a while (FAIL_UNDO_TIME_MULT = 2).
            if n.is_replica() || slots == 0 || now.saturating_sub(n.fail_time) > timeout * 2 {
                n.flags &= !flags::FAIL;
                self.save_pending = true;
            }
        }
    }

    fn process_gossip(&mut self, s: NodeId, gossip: &[Gossip]) {
        let now = self.now;
        let sender_is_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        for g in gossip {
            if self.st.nodes.contains_key(&g.node) {
                if sender_is_primary && g.node != self.st.myself {
                    if g.flags & (flags::FAIL | flags::PFAIL) != 0 {
                        self.st.add_failure_report(&g.node, s, now);
                        self.mark_failing_if_needed(&g.node);
                    } else {
                        self.st.del_failure_report(&g.node, &s);
                    }
                }
                if let Some(n) = self.st.nodes.get_mut(&g.node) {
                    if g.flags & (flags::FAIL | flags::PFAIL) == 0
                        && n.ping_sent == 0
                        && n.fail_reports.is_empty()
                    {
                        let pong = g.pong_received as u64 * 1000;
                        if pong <= now + 500 && pong > n.pong_received {
                            n.pong_received = pong;
                        }
                    }
                    // A node we cannot reach but others can, at another address: it was
                    // restarted elsewhere; try there (clusterProcessGossipSection).
                    let ip = String::from_utf8_lossy(&g.ip);
                    if n.down()
                        && g.flags & (flags::NOADDR | flags::FAIL | flags::PFAIL) == 0
                        && (n.ip != ip || n.port != g.port || n.cport != g.cport)
                    {
                        n.ip = ip.into_owned();
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        n.flags &= !flags::NOADDR;
                        self.save_pending = true;
                    }
                }
            } else if g.flags & flags::NOADDR == 0
                && g.node.is_valid()
                && !self.st.blacklist.contains_key(&g.node)
            {
                // Redis 7: a node gossiped by a known member joins our table under its
                // exact name (no handshake with a random name, which could reach another
                // cluster if the address was reused); our next PING learns the rest.
                let mut n = NodeInfo::new(
                    g.node,
                    g.flags & (flags::MASTER | flags::SLAVE | flags::NOFAILOVER),
                    now,
                );
                n.ip = String::from_utf8_lossy(&g.ip).into_owned();
                n.port = g.port;
                n.cport = g.cport;
                n.pport = g.pport;
                self.st.nodes.insert(g.node, n);
                self.save_pending = true;
            }
        }
    }

    /// Begins a handshake with an address (CLUSTER MEET; gossip adds nodes by name instead).
    pub(crate) fn start_handshake(&mut self, ip: &str, port: u16, cport: u16) {
        let busy =
            self.st.nodes.values().any(|n| {
                n.has(flags::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport
            });
        if busy {
            return;
        }
        let id = random_id(&mut self.rng);
        let mut n = NodeInfo::new(id, flags::HANDSHAKE | flags::MEET, self.now);
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        self.st.nodes.insert(id, n);
    }

    /// A primary we consider PFAIL becomes FAIL once a majority of primaries (counting us,
    /// if we are one) reported it within 2 * node_timeout (cluster-spec "Failure detection").
    fn mark_failing_if_needed(&mut self, id: &NodeId) {
        let needed = self.st.size() / 2 + 1;
        let Some(n) = self.st.nodes.get(id) else {
            return;
        };
        if !n.has(flags::PFAIL) || n.failed() {
            return;
        }
        let mut failures =
            self.st
                .count_failure_reports(id, self.now, self.cfg.node_timeout_ms * 2);
        if self.st.me().is_primary() {
            failures += 1;
        }
        if failures < needed {
            return;
        }
        let now = self.now;
        if let Some(n) = self.st.nodes.get_mut(id) {
            n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
            n.fail_time = now;
        }
        self.pending_fail.push(*id);
        self.save();
    }

    /// Applies a slot claim (clusterUpdateSlotsConfigWith): every slot in `slots` whose
    /// owner has an older config epoch (or none) moves to `sender`. If our own shard lost
    /// all its slots to `sender`, we follow it as a replica.
    pub(crate) fn update_slots_config_with(
        &mut self,
        out: &mut Vec<Output>,
        sender: NodeId,
        epoch: u64,
        slots: &SlotBitmap,
    ) {
        if sender == self.st.myself {
            return;
        }
        let cur_primary = self.st.my_shard_primary();
        let mut new_primary = None;
        let mut migrated_ours = 0;
        let mut lost = Vec::new();
        let mut changed = false;
        for j in slots.iter() {
            let owner = self.st.slots[j];
            if owner == Some(sender) || self.st.importing.contains_key(&(j as u16)) {
                continue;
            }
            let owner_epoch = owner
                .and_then(|o| self.st.nodes.get(&o))
                .map(|n| n.config_epoch);
            if owner.is_none() || owner_epoch.is_some_and(|e| e < epoch) || owner_epoch.is_none() {
                if owner == Some(self.st.myself) {
                    lost.push(j as u16);
                }
                if owner.is_some() && owner == cur_primary {
                    new_primary = Some(sender);
                    migrated_ours += 1;
                }
                self.st.slots.set(j, Some(sender));
                changed = true;
            }
        }
        if changed {
            self.save();
        }
        let cur_left = cur_primary.map(|p| self.st.slot_count(&p)).unwrap_or(0);
        if let Some(np) = new_primary {
            if cur_left == 0 && (self.cfg.allow_replica_migration || slots.count() == migrated_ours)
            {
                self.set_my_primary(out, np);
                return;
            }
        }
        if !lost.is_empty() {
            out.push(Output::SlotsLost { slots: lost });
        }
    }

    /// Makes us a replica of `primary` (clusterSetMaster).
    pub(crate) fn set_my_primary(&mut self, out: &mut Vec<Output>, primary: NodeId) {
        let me = self.st.myself;
        if self.st.me().is_primary() {
            let lost = self.st.del_node_slots(&me);
            self.st.migrating.clear();
            self.st.importing.clear();
            if !lost.is_empty() {
                out.push(Output::SlotsLost { slots: lost });
            }
        }
        self.st.set_node_as_replica(&me, primary);
        self.reset_manual_failover(out);
        self.election = Election::default();
        // Tell everyone at once (Redis waits for the next PINGs): the new primary needs to
        // know us as its replica before we can, e.g., ask it for a manual failover.
        self.broadcast_pong(out, false);
        if let Some(p) = self.st.nodes.get(&primary) {
            out.push(Output::ReplicateFrom {
                primary,
                addr: Addr {
                    ip: p.ip.clone(),
                    port: p.port,
                    cport: p.cport,
                },
            });
        }
        self.save();
    }

    // ----------------------------------------------------------------- the clock

    /// Periodic work; call about every 100 ms (Redis's clusterCron runs 10 times a second).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        let now = self.now;
        self.ticks += 1;
        let mut out = Vec::new();
        let timeout = self.cfg.node_timeout_ms;
        let hs_timeout = timeout.max(1000);
        // Expire handshakes and blacklist entries.
        let stale: Vec<NodeId> = self
            .st
            .nodes
            .values()
            .filter(|n| n.has(flags::HANDSHAKE) && now.saturating_sub(n.ctime) > hs_timeout)
            .map(|n| n.id)
            .collect();
        for id in stale {
            self.st.del_node(&id);
        }
        self.st.blacklist.retain(|_, until| *until > now);
        // Once a second, ping the node with the oldest PONG among 5 random ones.
        if self.ticks.is_multiple_of(10) {
            let ids: Vec<NodeId> = self
                .st
                .nodes
                .values()
                .filter(|n| {
                    !n.has(flags::MYSELF | flags::HANDSHAKE | flags::NOADDR) && n.ping_sent == 0
                })
                .map(|n| n.id)
                .collect();
            let mut best: Option<(u64, NodeId)> = None;
            for _ in 0..5.min(ids.len()) {
                let id = ids[self.rng.gen_range(0..ids.len())];
                let pong = self.st.nodes.get(&id).map(|n| n.pong_received).unwrap_or(0);
                if best.is_none_or(|(p, _)| pong < p) {
                    best = Some((pong, id));
                }
            }
            if let Some((_, id)) = best {
                self.send_ping(&mut out, &id, MsgType::Ping);
            }
        }
        let ids: Vec<NodeId> = self.st.nodes.keys().copied().collect();
        for id in ids {
            let Some(n) = self.st.nodes.get(&id) else {
                continue;
            };
            if n.has(flags::MYSELF | flags::NOADDR) {
                continue;
            }
            if n.has(flags::MEET) {
                // Handshake (or MEET not yet answered): (re)send MEET every 250 ms until the
                // handshake times out, so one lost packet does not lose the member.
                if n.ping_sent == 0 || now.saturating_sub(n.ping_sent) >= 250 {
                    if let Some(n) = self.st.nodes.get_mut(&id) {
                        n.ping_sent = 0;
                    }
                    self.send_ping(&mut out, &id, MsgType::Meet);
                }
                continue;
            }
            if n.has(flags::HANDSHAKE) {
                continue;
            }
            let (ping_sent, pong, data) = (n.ping_sent, n.pong_received, n.data_received);
            if self.mf.end != 0 && self.st.me().is_primary() && self.mf.replica == Some(id) {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            if ping_sent == 0 && now.saturating_sub(pong) > timeout / 2 {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            if ping_sent != 0 {
                // Redis drops and reconnects a link whose PING is unanswered for half the
                // timeout, then pings again keeping ping_sent; a lost PING is retried so.
                if now.saturating_sub(ping_sent) > timeout / 2 && self.ticks.is_multiple_of(5) {
                    self.send_ping(&mut out, &id, MsgType::Ping);
                }
                let delay = now.saturating_sub(ping_sent).min(now.saturating_sub(data));
                if delay > timeout {
                    if let Some(n) = self.st.nodes.get_mut(&id) {
                        if !n.down() {
                            n.flags |= flags::PFAIL;
                            n.link_connected = false;
                        }
                    }
                }
            }
        }
        // PFAIL nodes may be promotable to FAIL with reports we already hold.
        for id in self.st.pfail_nodes() {
            self.mark_failing_if_needed(&id);
        }
        if self.mf.end != 0 && now > self.mf.end {
            self.reset_manual_failover(&mut out);
        }
        if self.st.me().is_replica() {
            self.handle_manual_failover();
            self.handle_replica_failover(&mut out);
            self.check_replica_migration(&mut out);
        }
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    /// Recomputes cluster_state (clusterUpdateState): fail if a slot is unserved (with
    /// full coverage required) or if we cannot reach a majority of primaries.
    pub(crate) fn update_state(&mut self, out: &mut Vec<Output>) {
        self.broadcast_pending_fails(out);
        let now = self.now;
        let mut ok = true;
        if self.cfg.require_full_coverage
            && (self.st.slots.unassigned() > 0
                || self
                    .st
                    .slots
                    .owners()
                    .any(|o| self.st.nodes.get(o).is_none_or(|n| n.failed())))
        {
            ok = false;
        }
        let owners = self.st.slot_owners();
        let size = owners.len();
        let reachable = owners
            .iter()
            .filter(|o| self.st.nodes.get(o).is_some_and(|n| !n.down()))
            .count();
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_time = Some(now);
        }
        if ok != self.state_ok {
            let rejoin = self.cfg.node_timeout_ms.clamp(500, 5000);
            let recent_minority = self
                .among_minority_time
                .is_some_and(|t| now.saturating_sub(t) < rejoin);
            if ok && self.st.me().is_primary() && recent_minority {
                return;
            }
            self.state_ok = ok;
            self.topology_version += 1;
            out.push(Output::StateChanged { ok });
        }
    }
}

/// MASTER or SLAVE, from a header's `slaveof`.
fn role_flags(h: &Header) -> u16 {
    if h.replica_of.is_some() {
        flags::SLAVE
    } else {
        flags::MASTER
    }
}

//! The simulator itself: nodes, a simulated clock, a lossy, reordering, partitionable
//! network, a replication model, and the convergence checks the tests ask for.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rubra_cluster::{MsgType, Node, NodeConfig, NodeId, Output, SLOT_COUNT};

use super::migration;

pub(crate) const TICK_MS: u64 = 100;
pub(crate) const STEP_MS: u64 = 5;
pub(crate) const NODE_TIMEOUT: u64 = 1000;

/// A message in flight: (deliver_at, sequence) orders the heap; sequence breaks ties
/// deterministically.
pub(crate) type Flight = Reverse<(u64, u64, usize, Vec<u8>)>;

pub(crate) struct Sim {
    pub(crate) seed: u64,
    pub(crate) rng: SmallRng,
    pub(crate) now: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) next_tick: Vec<u64>,
    pub(crate) queue: BinaryHeap<Flight>,
    pub(crate) seq: u64,
    /// Probability a message is dropped.
    pub(crate) loss: f64,
    /// Messages take 1..=max_delay ms.
    pub(crate) max_delay: u64,
    /// Partition group of each node; messages cross groups never.
    pub(crate) group: Vec<u32>,
    /// Replication: whom each node replicates (index), and offsets.
    pub(crate) replicates: Vec<Option<usize>>,
    pub(crate) offset: Vec<u64>,
    pub(crate) paused_until: Vec<u64>,
    /// (time, node index) of every BecamePrimary.
    pub(crate) promotions: Vec<(u64, usize)>,
    /// Deliver each sender->receiver stream in order, as one TCP link does (the server
    /// sends everything for a peer over one outgoing connection). Off by default: the
    /// older properties are checked under reordering, which is harsher.
    pub(crate) fifo: bool,
    /// Last delivery time per (from, to) link, for `fifo`.
    pub(crate) last_at: BTreeMap<(usize, usize), u64>,
    /// Directed links that drop everything (asymmetric partitions).
    pub(crate) cut: Vec<(usize, usize)>,
    /// `(voter, except)`: FAIL messages to `voter` from anyone but `except` are held back
    /// for `held_ms` (a slow path for the failure broadcast).
    pub(crate) slow_fail: Option<(usize, usize)>,
    pub(crate) held_ms: u64,
    /// The address each replica was last told to replicate from.
    pub(crate) repl_ip: Vec<String>,
    /// Each node's keyspace, as far as the migration properties need one: key -> the
    /// members written to it (a set, like SADD). Replicas copy their primary's whole
    /// keyspace whenever they copy its offset.
    pub(crate) keys: Vec<migration::Keys>,
    /// Bumped by every change to a node's keyspace (copied by replicas with the keys),
    /// so a WAIT can tell whether a replica has everything its primary had at some point.
    pub(crate) data_ver: Vec<u64>,
    /// Broken invariants the keyspace model noticed on the way (a replica changing its
    /// keys on its own diverges from its primary for good in a real server).
    pub(crate) violations: Vec<String>,
}

impl Sim {
    pub(crate) fn new(seed: u64, n: usize) -> Sim {
        let now = 1_000_000;
        let nodes = (0..n)
            .map(|i| {
                let mut c = NodeConfig::new("127.0.0.1", 30000 + i as u16);
                c.node_timeout_ms = NODE_TIMEOUT;
                Node::new(c, seed.wrapping_mul(1000).wrapping_add(i as u64), now)
            })
            .collect();
        let mut rng = SmallRng::seed_from_u64(seed);
        let next_tick = (0..n).map(|_| now + rng.gen_range(0..TICK_MS)).collect();
        Sim {
            seed,
            rng,
            now,
            nodes,
            next_tick,
            queue: BinaryHeap::new(),
            seq: 0,
            loss: 0.0,
            max_delay: 10,
            group: vec![0; n],
            replicates: vec![None; n],
            offset: vec![0; n],
            paused_until: vec![0; n],
            promotions: Vec::new(),
            fifo: false,
            last_at: BTreeMap::new(),
            cut: Vec::new(),
            slow_fail: None,
            held_ms: 0,
            repl_ip: vec![String::new(); n],
            keys: vec![migration::Keys::new(); n],
            data_ver: vec![0; n],
            violations: Vec::new(),
        }
    }

    /// Starts one more (empty, unjoined) node, like launching a process for add-node.
    pub(crate) fn add_node(&mut self) -> usize {
        let i = self.nodes.len();
        let mut c = NodeConfig::new("127.0.0.1", 30000 + i as u16);
        c.node_timeout_ms = NODE_TIMEOUT;
        let seed = self.seed.wrapping_mul(1000).wrapping_add(i as u64);
        self.nodes.push(Node::new(c, seed, self.now));
        self.next_tick
            .push(self.now + self.rng.gen_range(0..TICK_MS));
        self.group.push(0);
        self.replicates.push(None);
        self.offset.push(0);
        self.paused_until.push(0);
        self.repl_ip.push(String::new());
        self.keys.push(migration::Keys::new());
        self.data_ver.push(0);
        i
    }

    /// `redis-cli --cluster add-node`: a new node told to CLUSTER MEET node `entry`.
    pub(crate) fn add_node_and_meet(&mut self, entry: usize) -> usize {
        let new = self.add_node();
        let port = self.nodes[entry].config().port;
        let now = self.now;
        let r = self.nodes[new].meet(now, "127.0.0.1", port, None);
        self.admin(new, r);
        new
    }

    /// Nodes (other than `except`) holding a handshake entry (a random-name placeholder).
    pub(crate) fn nodes_in_handshake(&self, except: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| i != except)
            .filter(|&i| {
                self.nodes[i]
                    .state()
                    .nodes
                    .values()
                    .any(|n| n.has(rubra_cluster::state::flags::HANDSHAKE))
            })
            .collect()
    }

    /// The node listening at `ip:cport` (an old address of a moved node reaches nobody).
    pub(crate) fn index_of_addr(&self, ip: &str, cport: u16) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.config().cport == cport && n.config().ip == ip)
    }
    pub(crate) fn index_of_id(&self, id: &NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id() == *id)
    }

    pub(crate) fn handle(&mut self, from: usize, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Send { to, bytes, .. } => {
                    let Some(dst) = self.index_of_addr(&to.ip, to.cport) else {
                        continue;
                    };
                    if self.group[dst] != self.group[from]
                        || self.cut.contains(&(from, dst))
                        || self.rng.gen_bool(self.loss)
                    {
                        continue;
                    }
                    let mut at = self.now + self.rng.gen_range(1..=self.max_delay);
                    if let Some((voter, except)) = self.slow_fail {
                        let is_fail = rubra_cluster::wire::decode(&bytes)
                            .is_ok_and(|m| m.body.msg_type() == MsgType::Fail);
                        if dst == voter && from != except && is_fail {
                            at += self.held_ms;
                        }
                    }
                    if self.fifo {
                        let last = self.last_at.entry((from, dst)).or_insert(0);
                        at = at.max(*last);
                        *last = at;
                    }
                    self.seq += 1;
                    self.queue.push(Reverse((at, self.seq, dst, bytes)));
                }
                Output::ReplicateFrom { primary, addr } => {
                    // A stale address reaches nobody: no replication until re-targeted.
                    self.replicates[from] = self
                        .index_of_id(&primary)
                        .filter(|&p| self.nodes[p].config().ip == addr.ip);
                    self.repl_ip[from] = addr.ip;
                }
                Output::BecamePrimary => {
                    self.replicates[from] = None;
                    self.promotions.push((self.now, from));
                    self.drop_foreign_keys(from);
                }
                Output::PauseWrites { until_ms } => self.paused_until[from] = until_ms,
                Output::ResumeWrites => self.paused_until[from] = 0,
                Output::SlotsLost { slots } => self.delete_slots(from, &slots),
                _ => {}
            }
        }
    }

    /// Primaries take writes; replicas copy their primary's offset when they can reach it.
    pub(crate) fn replicate(&mut self) {
        for i in 0..self.nodes.len() {
            match self.replicates[i] {
                None => {
                    if self.nodes[i].is_primary() && self.paused_until[i] <= self.now {
                        self.offset[i] += 10;
                    }
                }
                Some(p) => {
                    if self.group[p] == self.group[i] {
                        self.offset[i] = self.offset[p];
                        if self.data_ver[i] != self.data_ver[p] || self.keys[i] != self.keys[p] {
                            self.keys[i] = self.keys[p].clone();
                            self.data_ver[i] = self.data_ver[p];
                        }
                    }
                }
            }
            let off = self.offset[i];
            self.nodes[i].set_repl_offset(off);
        }
    }

    pub(crate) fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += STEP_MS;
            while let Some(Reverse((at, _, _, _))) = self.queue.peek() {
                if *at > self.now {
                    break;
                }
                let Some(Reverse((_, _, dst, bytes))) = self.queue.pop() else {
                    break;
                };
                let now = self.now;
                let outs = self.nodes[dst]
                    .step(now, "127.0.0.1", &bytes)
                    .expect("simulated peers only send valid frames");
                self.handle(dst, outs);
            }
            for i in 0..self.nodes.len() {
                if self.next_tick[i] <= self.now {
                    self.next_tick[i] += TICK_MS;
                    if i == 0 {
                        self.replicate();
                    }
                    let now = self.now;
                    let outs = self.nodes[i].tick(now);
                    self.handle(i, outs);
                }
                // Deadlines between ticks (PFAIL, election start), as the server's
                // ticker wakes for them.
                if self.nodes[i].next_deadline().is_some_and(|d| d <= self.now) {
                    let now = self.now;
                    let outs = self.nodes[i].wake(now);
                    self.handle(i, outs);
                }
            }
        }
    }

    /// Run until `cond` holds (checked every 100 ms) or `max_ms` passes.
    pub(crate) fn run_until(&mut self, max_ms: u64, cond: impl Fn(&Sim) -> bool) -> bool {
        let end = self.now + max_ms;
        while self.now < end {
            if cond(self) {
                return true;
            }
            self.run_for(TICK_MS);
        }
        cond(self)
    }

    pub(crate) fn admin(&mut self, i: usize, r: Result<Vec<Output>, rubra_cluster::ClusterError>) {
        let outs = r.unwrap_or_else(|e| panic!("seed {}: admin call failed: {e}", self.seed));
        self.handle(i, outs);
    }

    /// Like `redis-cli --cluster create`: slots split among the first `primaries` nodes,
    /// optional SET-CONFIG-EPOCH, MEETs along a random tree, then CLUSTER REPLICATE.
    pub(crate) fn form(&mut self, primaries: usize, set_epochs: bool) -> Result<(), String> {
        let n = self.nodes.len();
        let per = SLOT_COUNT / primaries;
        for p in 0..primaries {
            let start = (p * per) as i64;
            let end = if p == primaries - 1 {
                SLOT_COUNT - 1
            } else {
                (p + 1) * per - 1
            } as i64;
            let r = self.nodes[p].add_slots_range(&[(start, end)]);
            self.admin(p, r);
        }
        if set_epochs {
            for i in 0..n {
                let r = self.nodes[i].set_config_epoch(i as i64 + 1);
                self.admin(i, r);
            }
        }
        for i in 1..n {
            let j = self.rng.gen_range(0..i);
            let port = self.nodes[j].config().port;
            let now = self.now;
            let r = self.nodes[i].meet(now, "127.0.0.1", port, None);
            self.admin(i, r);
        }
        if !self.run_until(30_000, |s| s.all_know_all()) {
            if std::env::var("SIM_DEBUG").is_ok() {
                for (i, n) in self.nodes.iter().enumerate() {
                    eprintln!(
                        "node {i}:\n{}",
                        rubra_cluster::node_lines::render_cluster_nodes(n.state())
                    );
                }
            }
            return Err("nodes did not all learn each other from MEET + gossip".into());
        }
        for i in primaries..n {
            let p = (i - primaries) % primaries;
            let pid = self.nodes[p].id().0;
            let r = self.nodes[i].replicate(&pid, 0);
            self.admin(i, r);
        }
        if !self.run_until(30_000, |s| s.converged(&s.live()).is_ok()) {
            return self.converged(&self.live());
        }
        Ok(())
    }

    pub(crate) fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }

    pub(crate) fn all_know_all(&self) -> bool {
        let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id()).collect();
        self.nodes.iter().all(|n| {
            n.state().nodes.len() == ids.len()
                && ids.iter().all(|id| n.state().nodes.contains_key(id))
        })
    }

    /// Convergence among `set`: same membership, same slot map (full), same roles, state ok,
    /// and distinct config epochs among slot-owning primaries.
    pub(crate) fn converged(&self, set: &[usize]) -> Result<(), String> {
        let first = &self.nodes[set[0]];
        for &i in set {
            let st = self.nodes[i].state();
            if st.slots != first.state().slots {
                return Err(format!("node {i} disagrees on the slot map"));
            }
            if st.slots.iter().any(|s| s.is_none()) {
                return Err(format!("node {i} has unassigned slots"));
            }
            if !self.nodes[i].is_state_ok() {
                return Err(format!("node {i} cluster_state is fail"));
            }
            for &j in set {
                let own = self.nodes[j].state().me();
                let Some(view) = st.nodes.get(&own.id) else {
                    return Err(format!("node {i} does not know node {j}"));
                };
                if view.is_primary() != own.is_primary()
                    || (own.is_replica() && view.primary != own.primary)
                {
                    return Err(format!("node {i} has a stale role for node {j}"));
                }
            }
        }
        let st = first.state();
        let mut epochs: BTreeMap<u64, NodeId> = BTreeMap::new();
        let mut owners: Vec<NodeId> = st.slots.iter().flatten().copied().collect();
        owners.sort();
        owners.dedup();
        for o in owners {
            let e = st.nodes.get(&o).map(|n| n.config_epoch).unwrap_or(0);
            if let Some(other) = epochs.insert(e, o) {
                return Err(format!(
                    "primaries {other} and {o} own slots with the same config epoch {e}"
                ));
            }
            if !st.nodes.get(&o).is_some_and(|n| n.is_primary()) {
                return Err(format!("slot owner {o} is not a primary"));
            }
        }
        Ok(())
    }
}

/// Seeds to run: `RUBRA_SIM_SEED` alone if set, else `count` seeds starting at `base`.
pub(crate) fn seeds(base: u64, count: u64) -> Vec<u64> {
    match std::env::var("RUBRA_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) => vec![s],
        // Eight times the count each test names: a run of the whole file takes seconds
        // since the slot table keeps per-owner summaries, so more seeds are cheap.
        None => (base..base + count * 8).collect(),
    }
}

pub(crate) fn check(seed: u64, r: Result<(), String>) {
    if let Err(e) = r {
        panic!("simulation failed with seed {seed}: {e}\nre-run: RUBRA_SIM_SEED={seed} cargo test -p rubra-cluster --test sim");
    }
}

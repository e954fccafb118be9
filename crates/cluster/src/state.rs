//! The cluster as one node sees it: the node table, the 16384-slot owner map, epochs,
//! migrations in progress and failure reports.
//!
//! Plain data plus small invariant-keeping helpers; all protocol decisions live in
//! [`crate::node`]. Maps are `BTreeMap`s on purpose: iteration order is then a function
//! of the contents only, which keeps the simulator deterministic for a given seed.

use std::collections::BTreeMap;

use crate::slots::SlotTable;
use crate::wire::{NodeId, SlotBitmap};

/// Node flags, with Redis's bit values (CLUSTER_NODE_*) because they travel in gossip.
pub mod flags {
    /// This entry is the local node.
    pub const MYSELF: u16 = 1;
    /// A primary ("master").
    pub const MASTER: u16 = 2;
    /// A replica ("slave").
    pub const SLAVE: u16 = 4;
    /// We have not heard from it within node_timeout (our own opinion).
    pub const PFAIL: u16 = 8;
    /// A majority of primaries agreed it is failing.
    pub const FAIL: u16 = 16;
    /// Just met, name not yet learned.
    pub const HANDSHAKE: u16 = 32;
    /// Address unknown.
    pub const NOADDR: u16 = 64;
    /// Send MEET rather than PING on the next contact.
    pub const MEET: u16 = 128;
    /// A primary that once had replicas: eligible for replica migration.
    pub const MIGRATE_TO: u16 = 256;
    /// A replica that must not fail over automatically.
    pub const NOFAILOVER: u16 = 512;
}

/// One known node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    /// Announced hostname, empty if none.
    pub hostname: String,
    /// `flags::*` bits.
    pub flags: u16,
    /// The primary this node replicates, if it is a replica.
    pub primary: Option<NodeId>,
    /// When our outstanding PING was sent (0 = none outstanding).
    pub ping_sent: u64,
    /// When we last got a PONG from it.
    pub pong_received: u64,
    /// When we last got any message from it.
    pub data_received: u64,
    /// When we flagged it FAIL.
    pub fail_time: u64,
    /// When we last voted for one of its replicas.
    pub voted_time: u64,
    /// When it became an orphaned primary (0 = not orphaned).
    pub orphaned_time: u64,
    /// When this entry was created (handshake timeout).
    pub ctime: u64,
    pub config_epoch: u64,
    /// Last replication offset it advertised.
    pub repl_offset: u64,
    /// Whether the transport says we have a live link (CLUSTER NODES link-state).
    pub link_connected: bool,
    /// reporter -> time of the report that this node is PFAIL/FAIL.
    pub fail_reports: BTreeMap<NodeId, u64>,
}

impl NodeInfo {
    /// A fresh entry with no address.
    pub fn new(id: NodeId, flags: u16, now: u64) -> NodeInfo {
        NodeInfo {
            id,
            ip: String::new(),
            port: 0,
            cport: 0,
            pport: 0,
            hostname: String::new(),
            flags,
            primary: None,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            voted_time: 0,
            orphaned_time: 0,
            ctime: now,
            config_epoch: 0,
            repl_offset: 0,
            link_connected: false,
            fail_reports: BTreeMap::new(),
        }
    }
    /// Has any of `f`.
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    /// A primary (MASTER flag).
    pub fn is_primary(&self) -> bool {
        self.has(flags::MASTER)
    }
    /// A replica (SLAVE flag).
    pub fn is_replica(&self) -> bool {
        self.has(flags::SLAVE)
    }
    /// FAIL (agreed failure).
    pub fn failed(&self) -> bool {
        self.has(flags::FAIL)
    }
    /// PFAIL or FAIL: not to be counted as reachable.
    pub fn down(&self) -> bool {
        self.has(flags::PFAIL | flags::FAIL)
    }
}

/// Everything a node knows about the cluster.
#[derive(Clone, Debug)]
pub struct ClusterState {
    pub myself: NodeId,
    pub nodes: BTreeMap<NodeId, NodeInfo>,
    /// Owner of each slot (a primary), `None` if unassigned.
    pub slots: SlotTable,
    /// slot -> node we are migrating it to (we own it).
    pub migrating: BTreeMap<u16, NodeId>,
    /// slot -> node we are importing it from.
    pub importing: BTreeMap<u16, NodeId>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    /// Forgotten nodes and when they may be re-added by gossip (CLUSTER FORGET).
    pub blacklist: BTreeMap<NodeId, u64>,
}

impl ClusterState {
    /// A one-node cluster: just ourselves, a primary without slots.
    pub fn new(myself: NodeId, now: u64) -> ClusterState {
        let mut nodes = BTreeMap::new();
        let mut me = NodeInfo::new(myself, flags::MYSELF | flags::MASTER, now);
        me.link_connected = true;
        nodes.insert(myself, me);
        ClusterState {
            myself,
            nodes,
            slots: SlotTable::default(),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            blacklist: BTreeMap::new(),
        }
    }

    /// Our own entry. The table always contains it (constructors and `del_node` keep that).
    pub fn me(&self) -> &NodeInfo {
        self.nodes
            .get(&self.myself)
            .expect("cluster state always holds myself")
    }
    /// Our own entry, mutable.
    pub fn me_mut(&mut self) -> &mut NodeInfo {
        let id = self.myself;
        self.nodes
            .get_mut(&id)
            .expect("cluster state always holds myself")
    }
    /// The primary whose slots we serve: ourselves, or the primary we replicate.
    pub fn my_shard_primary(&self) -> Option<NodeId> {
        let me = self.me();
        if me.is_primary() {
            Some(self.myself)
        } else {
            me.primary
        }
    }
    /// Slots owned by `id`.
    pub fn slots_of(&self, id: &NodeId) -> SlotBitmap {
        self.slots.slots_of(id)
    }
    /// Number of slots owned by `id`.
    pub fn slot_count(&self, id: &NodeId) -> usize {
        self.slots.count_of(id)
    }
    /// Known replicas of `id` (by their `primary` field).
    pub fn replicas_of(&self, id: &NodeId) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.is_replica() && n.primary.as_ref() == Some(id))
            .map(|n| n.id)
            .collect()
    }
    /// Cluster "size": primaries serving at least one slot. Quorums are size/2+1.
    pub fn size(&self) -> usize {
        self.slot_owners().len()
    }
    /// Primaries owning at least one slot, in the order they first got one.
    pub fn slot_owners(&self) -> Vec<NodeId> {
        self.slots
            .owners()
            .filter(|id| self.nodes.get(id).is_some_and(|n| n.is_primary()))
            .copied()
            .collect()
    }
    /// Removes every slot owned by `id`; returns them.
    pub fn del_node_slots(&mut self, id: &NodeId) -> Vec<u16> {
        self.slots.clear_owner(id)
    }
    /// Turns `id` into a primary (clusterSetNodeAsMaster): drops its replica role.
    pub fn set_node_as_primary(&mut self, id: &NodeId) {
        let old_primary = match self.nodes.get_mut(id) {
            Some(n) if !n.is_primary() || n.primary.is_some() => {
                n.flags = (n.flags & !flags::SLAVE) | flags::MASTER;
                n.primary.take()
            }
            _ => return,
        };
        if old_primary.is_some() && *id != self.myself {
            // clusterSetNodeAsMaster: a replica that took over may get replicas by
            // migration when it has none (it failed over a primary that had some).
            if let Some(n) = self.nodes.get_mut(id) {
                n.flags |= flags::MIGRATE_TO;
            }
        }
    }
    /// Makes `id` a replica of `primary` (role change seen in a header or decided locally).
    pub fn set_node_as_replica(&mut self, id: &NodeId, primary: NodeId) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.flags = (n.flags & !(flags::MASTER | flags::MIGRATE_TO)) | flags::SLAVE;
            n.primary = Some(primary);
        }
        if let Some(p) = self.nodes.get_mut(&primary) {
            p.flags |= flags::MIGRATE_TO;
        }
    }
    /// Adds a failure report about `node` from `reporter` (refreshes its time).
    pub fn add_failure_report(&mut self, node: &NodeId, reporter: NodeId, now: u64) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.fail_reports.insert(reporter, now);
        }
    }
    /// Drops `reporter`'s report about `node`.
    pub fn del_failure_report(&mut self, node: &NodeId, reporter: &NodeId) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.fail_reports.remove(reporter);
        }
    }
    /// Counts reports younger than `validity_ms`, forgetting older ones.
    pub fn count_failure_reports(&mut self, node: &NodeId, now: u64, validity_ms: u64) -> usize {
        match self.nodes.get_mut(node) {
            Some(n) => {
                n.fail_reports
                    .retain(|_, t| now.saturating_sub(*t) <= validity_ms);
                n.fail_reports.len()
            }
            None => 0,
        }
    }
    /// Removes a node entirely: its slots, its reports, migrations that name it, and the
    /// `primary` link of its replicas. Refuses to remove ourselves.
    pub fn del_node(&mut self, id: &NodeId) {
        if *id == self.myself {
            return;
        }
        self.del_node_slots(id);
        self.migrating.retain(|_, n| n != id);
        self.importing.retain(|_, n| n != id);
        for n in self.nodes.values_mut() {
            n.fail_reports.remove(id);
            if n.primary.as_ref() == Some(id) {
                n.primary = None;
            }
        }
        self.nodes.remove(id);
    }
    /// Renames a node (handshake entry learning its real name).
    pub fn rename_node(&mut self, old: &NodeId, new: NodeId) {
        if let Some(mut n) = self.nodes.remove(old) {
            n.id = new;
            self.nodes.insert(new, n);
        }
    }
    /// The node (not in handshake) listening on this address, if any.
    pub fn find_by_addr(&self, ip: &str, port: u16) -> Option<NodeId> {
        self.nodes
            .values()
            .find(|n| n.ip == ip && n.port == port && !n.has(flags::HANDSHAKE))
            .map(|n| n.id)
    }
    /// Whether the highest config epoch is held by one node only (used by BUMPEPOCH).
    pub fn max_config_epoch(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
    }
    /// Nodes flagged PFAIL (without FAIL), for gossip.
    pub fn pfail_nodes(&self) -> Vec<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.has(flags::PFAIL) && !n.has(flags::HANDSHAKE | flags::NOADDR))
            .map(|n| n.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; 40])
    }

    #[test]
    fn failure_reports_expire() {
        let mut st = ClusterState::new(id(b'a'), 0);
        st.nodes
            .insert(id(b'b'), NodeInfo::new(id(b'b'), flags::MASTER, 0));
        st.add_failure_report(&id(b'b'), id(b'c'), 100);
        st.add_failure_report(&id(b'b'), id(b'd'), 900);
        assert_eq!(st.count_failure_reports(&id(b'b'), 1000, 500), 1);
        assert_eq!(st.count_failure_reports(&id(b'b'), 1000, 5000), 1);
    }

    #[test]
    fn del_node_cleans_references() {
        let mut st = ClusterState::new(id(b'a'), 0);
        st.nodes
            .insert(id(b'b'), NodeInfo::new(id(b'b'), flags::MASTER, 0));
        st.nodes
            .insert(id(b'c'), NodeInfo::new(id(b'c'), flags::SLAVE, 0));
        st.set_node_as_replica(&id(b'c'), id(b'b'));
        st.slots.set(10, Some(id(b'b')));
        st.importing.insert(3, id(b'b'));
        assert_eq!(st.size(), 1);
        st.del_node(&id(b'b'));
        assert_eq!(st.slots[10], None);
        assert!(st.importing.is_empty());
        assert_eq!(st.nodes[&id(b'c')].primary, None);
        st.del_node(&id(b'a'));
        assert!(st.nodes.contains_key(&id(b'a')));
    }
}

//! CLUSTER SLOTS / SHARDS / INFO as plain Rust data. The server turns these into RESP;
//! keeping them here means the rules (which replicas to list, health strings, counters)
//! are decided once, next to the state they read.

use crate::node_lines::ranges_by_owner;
use crate::state::{flags, ClusterState, NodeInfo};
use crate::wire::NodeId;

/// A node as CLUSTER SLOTS lists it: `[ip, port, id, {hostname => ...}]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
    pub id: NodeId,
    /// Empty when no hostname is announced (Redis then sends an empty metadata map).
    pub hostname: String,
}

/// One CLUSTER SLOTS entry: a contiguous range, its primary, then its healthy replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
    pub primary: Endpoint,
    pub replicas: Vec<Endpoint>,
}

fn endpoint(n: &NodeInfo) -> Endpoint {
    Endpoint {
        ip: n.ip.clone(),
        port: n.port,
        id: n.id,
        hostname: n.hostname.clone(),
    }
}

/// The replication offset a node has as we know it: ours (`my_offset`) for ourselves, as
/// Redis reads its own offset rather than its table entry, else the last one it sent.
fn offset_of(n: &NodeInfo, me: &NodeId, my_offset: u64) -> u64 {
    if n.id == *me {
        my_offset
    } else {
        n.repl_offset
    }
}

/// CLUSTER SLOTS: ranges in slot order. Replicas flagged FAIL are left out, and so are
/// replicas whose offset is 0 (a replica in a full sync has none: Redis's
/// isReplicaAvailable), so clients do not read from a replica that is still loading.
/// `my_offset` is our own replication offset, 0 during a full sync.
pub fn cluster_slots(st: &ClusterState, my_offset: u64) -> Vec<SlotRange> {
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < st.slots.len() {
        let owner = st.slots[start];
        let mut end = start;
        while end + 1 < st.slots.len() && st.slots[end + 1] == owner {
            end += 1;
        }
        if let Some(p) = owner.and_then(|id| st.nodes.get(&id)) {
            let replicas = st
                .replicas_of(&p.id)
                .iter()
                .filter_map(|r| st.nodes.get(r))
                .filter(|r| !r.failed() && offset_of(r, &st.myself, my_offset) != 0)
                .map(endpoint)
                .collect();
            out.push(SlotRange {
                start: start as u16,
                end: end as u16,
                primary: endpoint(p),
                replicas,
            });
        }
        start = end + 1;
    }
    out
}

/// A node inside a CLUSTER SHARDS entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardNode {
    pub id: NodeId,
    pub port: u16,
    pub ip: String,
    /// The endpoint clients should use (ip, or hostname with preferred-endpoint-type).
    pub endpoint: String,
    pub hostname: String,
    /// "master" or "replica".
    pub role: &'static str,
    pub replication_offset: u64,
    /// "fail" for a node flagged FAIL, "loading" for a replica whose offset is 0 (in a
    /// full sync), else "online", as Redis 7.0's clusterGenNodesSlotsInfo.
    pub health: &'static str,
}

/// One CLUSTER SHARDS entry: slot ranges of a primary plus all its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub slots: Vec<(u16, u16)>,
    pub nodes: Vec<ShardNode>,
}

fn shard_node(n: &NodeInfo, me: &NodeId, my_offset: u64) -> ShardNode {
    let offset = offset_of(n, me, my_offset);
    ShardNode {
        id: n.id,
        port: n.port,
        ip: n.ip.clone(),
        endpoint: n.ip.clone(),
        hostname: n.hostname.clone(),
        role: if n.is_replica() { "replica" } else { "master" },
        replication_offset: offset,
        // Redis 7.0's word for a node flagged FAIL is "fail" (clusterGenNodesSlotsInfo).
        health: if n.failed() {
            "fail"
        } else if n.is_replica() && offset == 0 {
            "loading"
        } else {
            "online"
        },
    }
}

/// CLUSTER SHARDS: one entry per primary (with or without slots), replicas grouped under it.
/// `my_offset` is our own replication offset (the server knows it, the table may lag).
pub fn cluster_shards(st: &ClusterState, my_offset: u64) -> Vec<Shard> {
    let mut ranges = ranges_by_owner(st);
    st.nodes
        .values()
        .filter(|n| n.is_primary() && !n.has(flags::HANDSHAKE))
        .map(|p| {
            let mut nodes = vec![shard_node(p, &st.myself, my_offset)];
            for r in st.replicas_of(&p.id) {
                if let Some(r) = st.nodes.get(&r) {
                    nodes.push(shard_node(r, &st.myself, my_offset));
                }
            }
            Shard {
                slots: ranges.remove(&p.id).unwrap_or_default(),
                nodes,
            }
        })
        .collect()
}

/// The state-derived part of CLUSTER INFO (message counters are the server's to add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    pub state_ok: bool,
    pub slots_assigned: usize,
    pub slots_ok: usize,
    pub slots_pfail: usize,
    pub slots_fail: usize,
    pub known_nodes: usize,
    pub size: usize,
    pub current_epoch: u64,
    pub my_epoch: u64,
}

impl ClusterInfo {
    /// Renders the CLUSTER INFO text lines (`key:value\r\n`);
    /// `links_freed` is total_cluster_links_buffer_limit_exceeded (the transport counts it).
    pub fn render(&self, sent: u64, received: u64, links_freed: u64) -> String {
        format!(
            "cluster_state:{}\r\ncluster_slots_assigned:{}\r\ncluster_slots_ok:{}\r\n\
             cluster_slots_pfail:{}\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\n\
             cluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\ncluster_stats_messages_sent:{}\r\n\
             cluster_stats_messages_received:{}\r\ntotal_cluster_links_buffer_limit_exceeded:{}\r\n",
            if self.state_ok { "ok" } else { "fail" },
            self.slots_assigned,
            self.slots_ok,
            self.slots_pfail,
            self.slots_fail,
            self.known_nodes,
            self.size,
            self.current_epoch,
            self.my_epoch,
            sent,
            received,
            links_freed
        )
    }
}

/// Computes CLUSTER INFO's counters. `my_epoch` is the config epoch of our shard's primary,
/// as Redis reports it for replicas too.
pub fn cluster_info(st: &ClusterState, state_ok: bool) -> ClusterInfo {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for owner in st.slots.iter().flatten() {
        assigned += 1;
        match st.nodes.get(owner) {
            Some(n) if n.failed() => fail += 1,
            Some(n) if n.has(flags::PFAIL) => pfail += 1,
            _ => ok += 1,
        }
    }
    let my_epoch = st
        .my_shard_primary()
        .and_then(|p| st.nodes.get(&p))
        .map(|n| n.config_epoch)
        .unwrap_or(0);
    ClusterInfo {
        state_ok,
        slots_assigned: assigned,
        slots_ok: ok,
        slots_pfail: pfail,
        slots_fail: fail,
        known_nodes: st.nodes.len(),
        size: st.size(),
        current_epoch: st.current_epoch,
        my_epoch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; 40])
    }

    #[test]
    fn slots_and_shards() {
        let mut st = ClusterState::new(id(b'a'), 0);
        st.me_mut().port = 1;
        let mut b = NodeInfo::new(id(b'b'), flags::SLAVE, 0);
        b.primary = Some(id(b'a'));
        b.repl_offset = 7;
        st.nodes.insert(id(b'b'), b);
        let mut d = NodeInfo::new(id(b'd'), flags::SLAVE, 0);
        d.primary = Some(id(b'a'));
        st.nodes.insert(id(b'd'), d);
        let mut c = NodeInfo::new(id(b'c'), flags::SLAVE | flags::FAIL, 0);
        c.primary = Some(id(b'a'));
        st.nodes.insert(id(b'c'), c);
        for s in 0..100 {
            st.slots.set(s, Some(id(b'a')));
        }
        st.slots.set(200, Some(id(b'a')));
        let v = cluster_slots(&st, 42);
        assert_eq!(v.len(), 2);
        assert_eq!((v[0].start, v[0].end), (0, 99));
        assert_eq!(
            v[0].replicas.len(),
            1,
            "failed and offset-0 replicas left out"
        );
        assert_eq!(v[0].replicas[0].id, id(b'b'));
        let sh = cluster_shards(&st, 42);
        assert_eq!(sh.len(), 1);
        assert_eq!(sh[0].slots, vec![(0, 99), (200, 200)]);
        assert_eq!(sh[0].nodes.len(), 4);
        assert_eq!(sh[0].nodes[0].replication_offset, 42);
        let health: Vec<_> = sh[0].nodes.iter().map(|n| (n.id, n.health)).collect();
        assert!(health.contains(&(id(b'b'), "online")));
        assert!(health.contains(&(id(b'c'), "fail")));
        assert!(health.contains(&(id(b'd'), "loading")));
        let info = cluster_info(&st, true);
        assert_eq!(info.slots_assigned, 101);
        assert_eq!(info.size, 1);
        assert!(info.render(0, 0, 0).contains("cluster_state:ok\r\n"));
    }
}

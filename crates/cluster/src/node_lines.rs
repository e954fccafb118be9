//! `CLUSTER NODES` lines and the `nodes.conf` file, in Redis 7.0's exact text format.
//!
//! One line per node:
//! `<id> <ip>:<port>@<cport>[,<hostname>] <flags> <primary-id|-> <ping-sent> <pong-recv>
//! <config-epoch> <connected|disconnected> <slot|start-end>... [<slot>->-<id>] [<slot>-<-<id>]`
//! Migrating/importing brackets appear only on our own line. `nodes.conf` is the same lines
//! plus a final `vars currentEpoch N lastVoteEpoch N`. The file is how a restarted node
//! comes back with its id, epochs, slots and role, so [`parse_nodes_conf`] must read back
//! whatever [`render_nodes_conf`] writes (pinned by a round-trip test).

use std::collections::{BTreeMap, HashMap};

use crate::state::{flags, ClusterState, NodeInfo};
use crate::wire::NodeId;
use crate::SLOT_COUNT;

const FLAG_NAMES: [(u16, &str); 8] = [
    (flags::MYSELF, "myself"),
    (flags::MASTER, "master"),
    (flags::SLAVE, "slave"),
    (flags::PFAIL, "fail?"),
    (flags::FAIL, "fail"),
    (flags::HANDSHAKE, "handshake"),
    (flags::NOADDR, "noaddr"),
    (flags::NOFAILOVER, "nofailover"),
];

/// The flags column, e.g. `myself,master` or `noflags`.
pub fn flags_string(f: u16) -> String {
    let names: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "noflags".to_string()
    } else {
        names.join(",")
    }
}

fn parse_flags(s: &str) -> u16 {
    let mut f = 0;
    for name in s.split(',') {
        for (bit, n) in FLAG_NAMES {
            if name == n {
                f |= bit;
            }
        }
    }
    f
}

/// Every owner's slot ranges, from the slot table's per-owner bitmaps. A scan of all
/// 16384 slots here made every nodes.conf save (one per SETSLOT during a reshard) the
/// largest cost of a node under the store lock.
pub fn ranges_by_owner(st: &ClusterState) -> HashMap<NodeId, Vec<(u16, u16)>> {
    st.slots
        .owners()
        .map(|id| (*id, st.slots.ranges_of(id)))
        .collect()
}

/// One `CLUSTER NODES` line (no trailing newline).
pub fn node_line(st: &ClusterState, n: &NodeInfo) -> String {
    let ranges = ranges_by_owner(st);
    node_line_with(st, n, ranges.get(&n.id).map_or(&[], Vec::as_slice))
}

/// One `CLUSTER NODES` line given the node's slot ranges (from `ranges_by_owner`).
fn node_line_with(st: &ClusterState, n: &NodeInfo, ranges: &[(u16, u16)]) -> String {
    let mut s = format!("{} {}:{}@{}", n.id, n.ip, n.port, n.cport);
    if !n.hostname.is_empty() {
        s.push(',');
        s.push_str(&n.hostname);
    }
    let primary = match &n.primary {
        Some(p) if n.is_replica() => p.to_string(),
        _ => "-".to_string(),
    };
    let link = if n.link_connected || n.has(flags::MYSELF) {
        "connected"
    } else {
        "disconnected"
    };
    s.push_str(&format!(
        " {} {} {} {} {} {}",
        flags_string(n.flags),
        primary,
        n.ping_sent,
        n.pong_received,
        n.config_epoch,
        link
    ));
    for &(a, b) in ranges {
        if a == b {
            s.push_str(&format!(" {a}"));
        } else {
            s.push_str(&format!(" {a}-{b}"));
        }
    }
    if n.id == st.myself {
        for (slot, to) in &st.migrating {
            s.push_str(&format!(" [{slot}->-{to}]"));
        }
        for (slot, from) in &st.importing {
            s.push_str(&format!(" [{slot}-<-{from}]"));
        }
    }
    s
}

/// The full `CLUSTER NODES` reply text: one line per node, each ending in `\n`; ourselves
/// first (Redis's order is its dict order; tools do not depend on it).
pub fn render_cluster_nodes(st: &ClusterState) -> String {
    render_nodes_except(st, 0)
}

/// The CLUSTER NODES lines of every node without any of the flags in `skip`.
fn render_nodes_except(st: &ClusterState, skip: u16) -> String {
    let mut out = String::new();
    let ranges = ranges_by_owner(st);
    let me = st.me();
    let nodes = std::iter::once(me).chain(
        st.nodes
            .values()
            .filter(|n| n.id != st.myself && n.flags & skip == 0),
    );
    for n in nodes {
        let own = ranges.get(&n.id).map_or(&[][..], Vec::as_slice);
        out.push_str(&node_line_with(st, n, own));
        out.push('\n');
    }
    out
}

/// The `nodes.conf` contents. Write it atomically (temp file + rename) on `SaveConfig`.
/// Handshake entries are left out, as Redis's clusterSaveConfig does: they are random
/// names for an address being met, dropped from memory when the handshake resolves or
/// times out (neither of which saves), so a saved one would linger in the file and come
/// back at the next start as a node that never answers.
pub fn render_nodes_conf(st: &ClusterState) -> String {
    let mut out = render_nodes_except(st, flags::HANDSHAKE);
    out.push_str(&format!(
        "vars currentEpoch {} lastVoteEpoch {}\n",
        st.current_epoch, st.last_vote_epoch
    ));
    out
}

fn parse_u64(s: &str, what: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("invalid {what} '{s}' in nodes.conf"))
}

fn parse_slot(s: &str) -> Result<usize, String> {
    let v = parse_u64(s, "slot")? as usize;
    if v >= SLOT_COUNT {
        return Err(format!("slot {v} out of range in nodes.conf"));
    }
    Ok(v)
}

fn parse_id(s: &str) -> Result<NodeId, String> {
    NodeId::from_bytes(s.as_bytes())
        .filter(|id| id.is_valid())
        .ok_or_else(|| format!("invalid node id '{s}' in nodes.conf"))
}

/// Reads `nodes.conf` back. `now` stands in for "recently" where the file says a ping/pong
/// happened (Redis does the same: the saved times are only zero/non-zero hints).
/// Returns an error text for a corrupt file; the server should refuse to start, as Redis does.
pub fn parse_nodes_conf(text: &str, now: u64) -> Result<ClusterState, String> {
    let mut nodes: BTreeMap<NodeId, NodeInfo> = BTreeMap::new();
    let mut slots: Vec<Option<NodeId>> = vec![None; SLOT_COUNT];
    let mut migrating = BTreeMap::new();
    let mut importing = BTreeMap::new();
    let mut myself = None;
    let mut current_epoch = 0;
    let mut last_vote_epoch = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f[0] == "vars" {
            let mut i = 1;
            while i + 1 < f.len() {
                match f[i] {
                    "currentEpoch" => current_epoch = parse_u64(f[i + 1], "currentEpoch")?,
                    "lastVoteEpoch" => last_vote_epoch = parse_u64(f[i + 1], "lastVoteEpoch")?,
                    _ => {}
                }
                i += 2;
            }
            continue;
        }
        if f.len() < 8 {
            return Err(format!(
                "unrecoverable error: corrupted line in nodes.conf: {line}"
            ));
        }
        let id = parse_id(f[0])?;
        let mut n = nodes
            .remove(&id)
            .unwrap_or_else(|| NodeInfo::new(id, 0, now));
        let (addr, hostname) = match f[1].split_once(',') {
            Some((a, h)) => (a, h.to_string()),
            None => (f[1], String::new()),
        };
        let (ipport, cport) = match addr.split_once('@') {
            Some((a, c)) => (a, Some(c)),
            None => (addr, None),
        };
        let (ip, port) = ipport
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid address '{addr}' in nodes.conf"))?;
        n.ip = ip.to_string();
        n.port = parse_u64(port, "port")? as u16;
        n.cport = match cport {
            Some(c) => parse_u64(c, "cluster port")? as u16,
            None => n.port.wrapping_add(10000),
        };
        n.hostname = hostname;
        n.flags = parse_flags(f[2]);
        if n.has(flags::MYSELF) {
            // Two "myself" lines would leave two nodes flagged as us (Redis asserts here);
            // found by fuzz_nodes_conf.
            if myself.is_some_and(|m| m != id) {
                return Err("nodes.conf has more than one 'myself' node".into());
            }
            myself = Some(id);
            n.link_connected = true;
        }
        if f[3] != "-" {
            let p = parse_id(f[3])?;
            n.primary = Some(p);
            nodes
                .entry(p)
                .or_insert_with(|| NodeInfo::new(p, flags::MASTER, now));
        }
        n.ping_sent = if parse_u64(f[4], "ping-sent")? != 0 {
            now
        } else {
            0
        };
        n.pong_received = if parse_u64(f[5], "pong-recv")? != 0 {
            now
        } else {
            0
        };
        n.config_epoch = parse_u64(f[6], "config epoch")?;
        for tok in &f[8..] {
            if let Some(inner) = tok.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                if let Some((s, other)) = inner.split_once("->-") {
                    migrating.insert(parse_slot(s)? as u16, parse_id(other)?);
                } else if let Some((s, other)) = inner.split_once("-<-") {
                    importing.insert(parse_slot(s)? as u16, parse_id(other)?);
                } else {
                    return Err(format!("invalid slot migration '{tok}' in nodes.conf"));
                }
            } else if let Some((a, b)) = tok.split_once('-') {
                let (a, b) = (parse_slot(a)?, parse_slot(b)?);
                for slot in slots.iter_mut().take(b + 1).skip(a) {
                    *slot = Some(id);
                }
            } else {
                slots[parse_slot(tok)?] = Some(id);
            }
        }
        nodes.insert(id, n);
    }
    let myself = myself.ok_or("nodes.conf has no 'myself' node")?;
    let mut st = ClusterState::new(myself, now);
    st.nodes = nodes;
    st.slots = slots.into();
    st.migrating = migrating;
    st.importing = importing;
    st.current_epoch = current_epoch;
    st.last_vote_epoch = last_vote_epoch;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; 40])
    }

    fn sample() -> ClusterState {
        let mut st = ClusterState::new(id(b'a'), 0);
        {
            let me = st.me_mut();
            me.ip = "127.0.0.1".into();
            me.port = 30001;
            me.cport = 40001;
            me.config_epoch = 1;
        }
        let mut b = NodeInfo::new(id(b'b'), flags::SLAVE, 0);
        b.ip = "127.0.0.1".into();
        b.port = 30002;
        b.cport = 40002;
        b.hostname = "host-b".into();
        b.primary = Some(id(b'a'));
        b.pong_received = 1700000000123;
        b.config_epoch = 1;
        b.link_connected = true;
        st.nodes.insert(id(b'b'), b);
        for s in 0..=5460 {
            st.slots.set(s, Some(id(b'a')));
        }
        st.slots.set(6000, Some(id(b'a')));
        st.migrating.insert(6000, id(b'b'));
        st.importing.insert(7000, id(b'b'));
        st.current_epoch = 6;
        st.last_vote_epoch = 2;
        st
    }

    /// Exact Redis 7.0 `CLUSTER NODES` line format.
    #[test]
    fn cluster_nodes_lines() {
        let st = sample();
        let text = render_cluster_nodes(&st);
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        assert_eq!(
            text,
            format!(
                "{a} 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460 6000 [6000->-{b}] [7000-<-{b}]\n\
                 {b} 127.0.0.1:30002@40002,host-b slave {a} 0 1700000000123 1 connected\n"
            )
        );
        assert!(render_nodes_conf(&st).ends_with("vars currentEpoch 6 lastVoteEpoch 2\n"));
    }

    /// A handshake in progress is shown by CLUSTER NODES but never saved (Redis too).
    #[test]
    fn handshake_entries_are_not_saved() {
        let mut st = sample();
        let mut h = NodeInfo::new(id(b'c'), flags::HANDSHAKE | flags::MEET, 0);
        h.ip = "10.0.0.9".into();
        h.port = 30003;
        h.cport = 40003;
        st.nodes.insert(id(b'c'), h);
        assert!(render_cluster_nodes(&st).contains("10.0.0.9:30003"));
        let saved = render_nodes_conf(&st);
        assert!(!saved.contains("10.0.0.9"), "{saved}");
        assert_eq!(parse_nodes_conf(&saved, 5).unwrap().nodes.len(), 2);
    }

    #[test]
    fn nodes_conf_roundtrip() {
        let st = sample();
        let text = render_nodes_conf(&st);
        let back = parse_nodes_conf(&text, 5).unwrap();
        assert_eq!(back.myself, st.myself);
        assert_eq!(back.slots, st.slots);
        assert_eq!(back.migrating, st.migrating);
        assert_eq!(back.importing, st.importing);
        assert_eq!(back.current_epoch, 6);
        assert_eq!(back.last_vote_epoch, 2);
        let b = &back.nodes[&id(b'b')];
        assert_eq!(b.hostname, "host-b");
        assert_eq!(b.primary, Some(id(b'a')));
        assert_eq!(b.flags, flags::SLAVE);
        assert_eq!(b.pong_received, 5);
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        for bad in [
            "zz 1:2@3 master - 0 0 0 connected",
            &format!(
                "{} 1:2@3 myself,master - 0 0 0 connected 99999",
                "a".repeat(40)
            ),
            &format!("{} nocolon myself,master - 0 0 0 connected", "a".repeat(40)),
            &format!("{} 1:2@3 master - 0 0 0 connected", "a".repeat(40)),
            "short line",
            &format!(
                "{} 1:2@3 myself,master - 0 0 0 connected\n{} 1:3@4 myself,master - 0 0 0 connected",
                "a".repeat(40),
                "b".repeat(40)
            ),
        ] {
            assert!(parse_nodes_conf(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_render() {
        assert_eq!(flags_string(0), "noflags");
        assert_eq!(flags_string(flags::MASTER | flags::PFAIL), "master,fail?");
        assert_eq!(
            parse_flags("myself,slave,nofailover"),
            flags::MYSELF | flags::SLAVE | flags::NOFAILOVER
        );
    }
}

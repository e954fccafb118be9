//! The cluster as one node sees it: `CLUSTER NODES` parsed into plain data.
//!
//! Every operation (check, reshard, scale, status) starts from a fresh `View`, so a rerun
//! after a crash acts on what the cluster really is, not on what we last believed.

use crate::resp::Conn;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;

/// Number of hash slots in a Redis cluster.
pub const SLOTS: usize = 16384;

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// 40-hex node id.
    pub id: String,
    /// ip as announced (may be empty before the node learned its own address).
    pub ip: String,
    /// client port.
    pub port: u16,
    /// flags: myself, master, slave, fail, fail?, handshake, noaddr, nofailover.
    pub flags: Vec<String>,
    /// id of the primary for replicas, None for primaries.
    pub primary: Option<String>,
    /// config epoch.
    pub epoch: u64,
    /// "connected" or "disconnected".
    pub link: String,
    /// owned slots as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// slot -> node id this node is migrating the slot to (only on the `myself` line).
    pub migrating: Vec<(u16, String)>,
    /// slot -> node id this node is importing the slot from (only on the `myself` line).
    pub importing: Vec<(u16, String)>,
}

impl NodeInfo {
    /// True for a primary (redis calls it master).
    pub fn is_primary(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }
    /// True when the line describes the node we asked.
    pub fn is_myself(&self) -> bool {
        self.flags.iter().any(|f| f == "myself")
    }
    /// True when the node is flagged failing (confirmed or suspected).
    pub fn is_failing(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?")
    }
    /// Number of slots owned.
    pub fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|(a, b)| usize::from(*b) - usize::from(*a) + 1)
            .sum()
    }
    /// Owned slots, one by one, ascending.
    pub fn slot_list(&self) -> Vec<u16> {
        self.slots.iter().flat_map(|&(a, b)| a..=b).collect()
    }
    /// ip:port as the cluster announces it.
    pub fn announced_addr(&self) -> String {
        let ip = if self.ip.is_empty() {
            "127.0.0.1"
        } else {
            &self.ip
        };
        format!("{ip}:{}", self.port)
    }
}

/// Parse one `CLUSTER NODES` line.
pub fn parse_line(line: &str) -> Result<NodeInfo> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        bail!("short CLUSTER NODES line: {line:?}");
    }
    let addr = f[1].split(',').next().unwrap_or("");
    let hostport = addr.split('@').next().unwrap_or("");
    let (ip, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("bad address {addr:?}"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("bad port in {addr:?}"))?;
    let mut n = NodeInfo {
        id: f[0].to_string(),
        ip: ip.to_string(),
        port,
        flags: f[2].split(',').map(str::to_string).collect(),
        primary: (f[3] != "-").then(|| f[3].to_string()),
        epoch: f[6].parse().unwrap_or(0),
        link: f[7].to_string(),
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for s in &f[8..] {
        if let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Some((slot, id)) = inner.split_once("->-") {
                n.migrating.push((slot.parse()?, id.to_string()));
            } else if let Some((slot, id)) = inner.split_once("-<-") {
                n.importing.push((slot.parse()?, id.to_string()));
            }
        } else if let Some((a, b)) = s.split_once('-') {
            n.slots.push((a.parse()?, b.parse()?));
        } else {
            let x: u16 = s.parse()?;
            n.slots.push((x, x));
        }
    }
    Ok(n)
}

/// The whole `CLUSTER NODES` reply of one node.
#[derive(Debug, Clone)]
pub struct View {
    /// All nodes known, in reply order.
    pub nodes: Vec<NodeInfo>,
}

impl View {
    /// Parse a full `CLUSTER NODES` reply.
    pub fn parse(text: &str) -> Result<View> {
        let nodes = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_line)
            .collect::<Result<Vec<_>>>()?;
        Ok(View { nodes })
    }

    /// Ask `conn` for its view.
    pub fn fetch(conn: &mut Conn) -> Result<View> {
        View::parse(&conn.text(&["CLUSTER", "NODES"])?)
    }

    /// The `myself` line.
    pub fn myself(&self) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.is_myself())
    }

    /// Node by exact id.
    pub fn get(&self, id: &str) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Primaries, in reply order (includes primaries with no slots).
    pub fn primaries(&self) -> Vec<&NodeInfo> {
        self.nodes.iter().filter(|n| n.is_primary()).collect()
    }

    /// Ids of the primaries not flagged failing: the members a rebalance spreads slots over.
    pub fn live_primary_ids(&self) -> Vec<String> {
        self.primaries()
            .into_iter()
            .filter(|n| !n.is_failing())
            .map(|n| n.id.clone())
            .collect()
    }

    /// Replicas of `id`.
    pub fn replicas_of(&self, id: &str) -> Vec<&NodeInfo> {
        self.nodes
            .iter()
            .filter(|n| n.primary.as_deref() == Some(id))
            .collect()
    }

    /// slot -> owner id, for every assigned slot.
    pub fn owners(&self) -> BTreeMap<u16, String> {
        let mut m = BTreeMap::new();
        for n in self.nodes.iter().filter(|n| n.is_primary()) {
            for s in n.slot_list() {
                m.insert(s, n.id.clone());
            }
        }
        m
    }

    /// Resolve an operator's node reference: full id, unique id prefix, `host:port`, or port.
    pub fn resolve(&self, what: &str) -> Result<&NodeInfo> {
        if let Ok(port) = what.parse::<u16>() {
            if let Some(n) = self.nodes.iter().find(|n| n.port == port) {
                return Ok(n);
            }
        }
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| n.announced_addr() == what || format!("127.0.0.1:{}", n.port) == what)
        {
            return Ok(n);
        }
        let hits: Vec<&NodeInfo> = self
            .nodes
            .iter()
            .filter(|n| n.id.starts_with(what))
            .collect();
        match hits.len() {
            1 => Ok(hits[0]),
            0 => bail!("no node matches {what:?}"),
            _ => bail!("{what:?} matches several nodes; give more of the id"),
        }
    }
}

/// Compress a sorted slot list into inclusive ranges.
pub fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut out: Vec<(u16, u16)> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == s => *b = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Render ranges like redis: `0-5460,5461`.
pub fn fmt_ranges(r: &[(u16, u16)]) -> String {
    r.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_myself_with_open_slots() {
        let l = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:7000@17000,host myself,master - 0 0 1 connected 0-5 7 [8->-abc] [9-<-def]";
        let n = parse_line(l).unwrap();
        assert!(n.is_myself() && n.is_primary());
        assert_eq!(n.slots, vec![(0, 5), (7, 7)]);
        assert_eq!(n.migrating, vec![(8, "abc".to_string())]);
        assert_eq!(n.importing, vec![(9, "def".to_string())]);
        assert_eq!(n.slot_count(), 7);
    }

    #[test]
    fn ranges_roundtrip() {
        assert_eq!(ranges(&[1, 2, 3, 5, 7, 8]), vec![(1, 3), (5, 5), (7, 8)]);
        assert_eq!(fmt_ranges(&ranges(&[1, 2, 3, 5])), "1-3,5");
    }
}

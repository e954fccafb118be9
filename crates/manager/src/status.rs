//! `rubra status` and the data behind GET /api/cluster: one row per node.

use crate::ctx::Ctx;
use crate::resp::{info_keys, parse_info};
use crate::topology::{fmt_ranges, View};
use anyhow::Result;
use serde::Serialize;

/// What an operator wants to see about one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRow {
    /// Node id.
    pub id: String,
    /// Announced ip:port.
    pub addr: String,
    /// Client port.
    pub port: u16,
    /// "primary" or "replica".
    pub role: String,
    /// Primary's id for replicas.
    pub primary_id: Option<String>,
    /// Owned slots as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// Number of owned slots.
    pub slot_count: usize,
    /// Keys (INFO keyspace), None when unreachable.
    pub keys: Option<u64>,
    /// used_memory bytes.
    pub used_memory: Option<u64>,
    /// maxmemory bytes.
    pub maxmemory: Option<u64>,
    /// instantaneous_ops_per_sec.
    pub ops_per_sec: Option<u64>,
    /// Cluster bus link state as seen by the seed node; "fail" when flagged failing.
    pub link: String,
    /// Raw flags.
    pub flags: Vec<String>,
    /// Reachable for INFO.
    pub reachable: bool,
}

/// Collect a row per node: the seed's CLUSTER NODES plus INFO from each node.
pub fn gather(ctx: &Ctx) -> Result<(View, Vec<NodeRow>)> {
    let view = ctx.best_view()?;
    let mut rows = Vec::new();
    let mut sorted = view.nodes.clone();
    sorted.sort_by_key(|n| n.port);
    for n in &sorted {
        let info = ctx
            .connect_node(n)
            .and_then(|mut c| c.text(&["INFO"]))
            .ok()
            .map(|t| parse_info(&t));
        let num = |k: &str| {
            info.as_ref()
                .and_then(|i| i.get(k))
                .and_then(|v| v.parse::<u64>().ok())
        };
        rows.push(NodeRow {
            id: n.id.clone(),
            addr: n.announced_addr(),
            port: n.port,
            role: if n.is_primary() { "primary" } else { "replica" }.to_string(),
            primary_id: n.primary.clone(),
            slots: n.slots.clone(),
            slot_count: n.slot_count(),
            keys: info.as_ref().map(info_keys),
            used_memory: num("used_memory"),
            maxmemory: num("maxmemory"),
            ops_per_sec: num("instantaneous_ops_per_sec"),
            link: if n.is_failing() {
                "fail".to_string()
            } else {
                n.link.clone()
            },
            flags: n.flags.clone(),
            reachable: info.is_some(),
        });
    }
    Ok((view, rows))
}

fn human(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b >= 1 << 30 => format!("{:.1}G", b as f64 / (1u64 << 30) as f64),
        Some(b) if b >= 1 << 20 => format!("{:.1}M", b as f64 / (1u64 << 20) as f64),
        Some(b) => format!("{:.1}K", b as f64 / 1024.0),
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// Render rows as a fixed-width table.
pub fn render(rows: &[NodeRow]) -> String {
    let mut out = format!(
        "{:<10} {:<8} {:<21} {:>6} {:<24} {:>8} {:>8} {:>7} {}\n",
        "ID", "ROLE", "ADDR", "SLOTS", "RANGES", "KEYS", "MEMORY", "OPS/S", "LINK"
    );
    for r in rows {
        let mut ranges = fmt_ranges(&r.slots);
        if ranges.len() > 24 {
            ranges.truncate(21);
            ranges.push_str("...");
        }
        if r.role == "replica" {
            ranges = format!(
                "of {}",
                r.primary_id
                    .as_deref()
                    .unwrap_or("-")
                    .get(..8)
                    .unwrap_or("-")
            );
        }
        out.push_str(&format!(
            "{:<10} {:<8} {:<21} {:>6} {:<24} {:>8} {:>8} {:>7} {}\n",
            r.id.get(..8).unwrap_or(&r.id),
            r.role,
            r.addr,
            r.slot_count,
            ranges,
            opt(r.keys),
            human(r.used_memory),
            opt(r.ops_per_sec),
            r.link
        ));
    }
    out
}

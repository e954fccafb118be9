//! `rubra status`: the cluster snapshot (the one collector the panel, /api/cluster,
//! /metrics and the autoscaler also read) rendered as a table, one row per node.

use crate::ctx::Ctx;
use crate::panel::nodes::{collect, NodeDetail};
use crate::topology::fmt_ranges;
use anyhow::Result;

/// Collect the cluster and render it as `rubra status` prints it.
pub fn table(ctx: &Ctx) -> Result<String> {
    Ok(render(&collect(ctx)?.nodes))
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

/// Render rows as a fixed-width table (with a HOST column when nodes run on several
/// Docker hosts).
pub fn render(rows: &[NodeDetail]) -> String {
    let hosts = rows.iter().any(|r| r.host.is_some());
    let mut out = format!(
        "{:<10} {:<8} {:<21} {:>6} {:<24} {:>8} {:>8} {:>7} {}{}\n",
        "ID",
        "ROLE",
        "ADDR",
        "SLOTS",
        "RANGES",
        "KEYS",
        "MEMORY",
        "OPS/S",
        "LINK",
        if hosts { "  HOST" } else { "" }
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
            "{:<10} {:<8} {:<21} {:>6} {:<24} {:>8} {:>8} {:>7} {}{}\n",
            r.id.get(..8).unwrap_or(&r.id),
            r.role,
            r.addr,
            r.slot_count,
            ranges,
            opt(r.keys),
            human(r.used_memory),
            opt(r.ops_per_sec),
            r.link,
            match (&r.host, hosts) {
                (Some(h), _) => format!("  {h}"),
                (None, true) => "  -".into(),
                (None, false) => String::new(),
            }
        ));
    }
    out
}

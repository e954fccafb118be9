//! Hot keys and hot slots: where the cluster's accesses go.
//!
//! The method is Redis's own (what `redis-cli --hotkeys` does): under an LFU
//! `maxmemory-policy` every key carries a logarithmic access counter that `OBJECT FREQ`
//! reads, decayed over idle minutes, so it ranks keys by recent popularity at no cost to
//! the command path. Each primary's keys are sampled with SCAN (all of them up to
//! `MAX_SAMPLED`), their counters read, and the keys ranked per node and cluster-wide; a
//! slot's heat is the sum of its sampled keys' counters. Under another policy the node
//! refuses OBJECT FREQ; that is reported per node, and the panel offers to switch the
//! primaries to `allkeys-lfu`. Per-slot counters in the server would see every access
//! rather than a sample, at a cost on every command; not built.

use crate::ctx::Ctx;
use crate::resp::Value;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;

/// Keys sampled per primary at most.
pub const MAX_SAMPLED: usize = 5000;
/// Ranked keys and slots returned.
pub const TOP: usize = 20;

/// One sampled key and its access counter.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HotKey {
    /// The name for display (lossy when binary).
    pub key: String,
    /// The exact name, hex.
    pub hex: String,
    /// The LFU counter (0..255, logarithmic).
    pub freq: i64,
    /// Its hash slot.
    pub slot: u16,
    /// The primary holding it.
    pub node: String,
}

/// A slot's summed counters over its sampled keys.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HotSlot {
    /// The hash slot.
    pub slot: u16,
    /// Sum of the sampled keys' counters.
    pub heat: i64,
    /// Sampled keys in it.
    pub keys: usize,
    /// The primary owning it.
    pub node: String,
}

/// What one primary reported.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSample {
    /// Node id.
    pub node: String,
    /// Announced address.
    pub addr: String,
    /// Its maxmemory-policy.
    pub policy: String,
    /// Keys whose counter was read.
    pub sampled: usize,
    /// Why nothing was sampled (not an LFU policy, unreachable), if so.
    pub error: Option<String>,
    /// Its hottest keys.
    pub top: Vec<HotKey>,
}

/// Ranks keys by counter (then name, for a stable order) and keeps the first `n`.
pub fn rank(mut keys: Vec<HotKey>, n: usize) -> Vec<HotKey> {
    keys.sort_by(|a, b| b.freq.cmp(&a.freq).then(a.hex.cmp(&b.hex)));
    keys.truncate(n);
    keys
}

/// Sums counters per slot and keeps the `n` hottest slots.
pub fn hot_slots(keys: &[HotKey], n: usize) -> Vec<HotSlot> {
    let mut by_slot: HashMap<u16, HotSlot> = HashMap::new();
    for k in keys {
        let s = by_slot.entry(k.slot).or_insert_with(|| HotSlot {
            slot: k.slot,
            heat: 0,
            keys: 0,
            node: k.node.clone(),
        });
        s.heat += k.freq;
        s.keys += 1;
    }
    let mut v: Vec<HotSlot> = by_slot.into_values().collect();
    v.sort_by(|a, b| b.heat.cmp(&a.heat).then(a.slot.cmp(&b.slot)));
    v.truncate(n);
    v
}

/// Samples every serving primary; returns per-node results, the cluster-wide hottest
/// keys and the hottest slots.
pub fn collect(ctx: &Ctx) -> Result<serde_json::Value> {
    let view = ctx.best_view()?;
    let mut nodes = Vec::new();
    let mut all = Vec::new();
    for n in super::keys::serving_primaries(&view) {
        let mut sample = NodeSample {
            node: n.id.clone(),
            addr: n.announced_addr(),
            policy: String::new(),
            sampled: 0,
            error: None,
            top: Vec::new(),
        };
        match sample_node(ctx, n, &mut sample) {
            Ok(keys) => {
                sample.sampled = keys.len();
                sample.top = rank(keys.clone(), TOP);
                all.extend(keys);
            }
            Err(e) => sample.error = Some(format!("{e:#}")),
        }
        nodes.push(sample);
    }
    let slots = hot_slots(&all, TOP);
    Ok(serde_json::json!({
        "nodes": nodes,
        "top_keys": rank(all, TOP),
        "top_slots": slots,
        "lfu": nodes.iter().all(|n| n.policy.contains("lfu")),
    }))
}

fn sample_node(
    ctx: &Ctx,
    n: &crate::topology::NodeInfo,
    out: &mut NodeSample,
) -> Result<Vec<HotKey>> {
    let mut c = ctx.connect_node(n)?;
    let policy = match c.ok(&["CONFIG", "GET", "maxmemory-policy"])? {
        Value::Array(kv) => kv.get(1).and_then(Value::text).unwrap_or_default(),
        _ => String::new(),
    };
    out.policy = policy.clone();
    if !policy.contains("lfu") {
        anyhow::bail!("maxmemory-policy is {policy}: access counters need an LFU policy");
    }
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(parts) = c.ok(&["SCAN", &cursor, "COUNT", "500"])? else {
            anyhow::bail!("unexpected SCAN reply");
        };
        cursor = parts
            .first()
            .and_then(Value::text)
            .unwrap_or_else(|| "0".into());
        if let Some(Value::Array(found)) = parts.get(1) {
            for k in found {
                let Value::Bulk(name) = k else { continue };
                if keys.len() >= MAX_SAMPLED {
                    break;
                }
                // A key may expire or go between SCAN and OBJECT FREQ: skip it.
                if let Value::Int(freq) = c.cmd(&[b"OBJECT".as_slice(), b"FREQ", name])? {
                    keys.push(HotKey {
                        key: String::from_utf8_lossy(name).into_owned(),
                        hex: super::edit::to_hex(name),
                        freq,
                        slot: rubra_keys::key_slot(name),
                        node: n.id.clone(),
                    });
                }
            }
        }
        if cursor == "0" || keys.len() >= MAX_SAMPLED {
            return Ok(keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(name: &str, freq: i64, slot: u16) -> HotKey {
        HotKey {
            key: name.into(),
            hex: super::super::edit::to_hex(name.as_bytes()),
            freq,
            slot,
            node: "n".into(),
        }
    }

    #[test]
    fn keys_and_slots_rank_by_counters() {
        let keys = vec![k("a", 5, 1), k("b", 30, 2), k("c", 5, 2), k("d", 12, 3)];
        let top: Vec<String> = rank(keys.clone(), 3).into_iter().map(|h| h.key).collect();
        assert_eq!(top, ["b", "d", "a"]);
        let slots: Vec<(u16, i64, usize)> = hot_slots(&keys, 10)
            .into_iter()
            .map(|s| (s.slot, s.heat, s.keys))
            .collect();
        assert_eq!(slots, [(2, 35, 2), (3, 12, 1), (1, 5, 1)]);
    }
}

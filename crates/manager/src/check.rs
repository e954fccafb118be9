//! `rubra check` and `rubra fix`: the invariants a healthy cluster keeps, and repairs.
//!
//! Invariants checked (the ones `redis-cli --cluster check` reports):
//! - every one of the 16384 slots is assigned;
//! - every reachable node agrees on the slot -> owner map;
//! - no slot is left MIGRATING or IMPORTING (a crash in the middle of a move);
//! - every node reports cluster_state:ok.

use crate::ctx::Ctx;
use crate::migrate::{migrate_keys, move_slot, Pool};
use crate::resp::{parse_info, Value};
use crate::topology::{NodeInfo, View, SLOTS};
use anyhow::Result;
use std::collections::BTreeMap;

/// Outcome of a check: empty `problems` means healthy.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Violated invariants, one line each.
    pub problems: Vec<String>,
    /// Informational lines (node count, primaries).
    pub info: Vec<String>,
}

/// Every node's own view, fetched in turn; unreachable nodes are reported, not fatal.
fn all_views(ctx: &Ctx, seed: &View) -> (Vec<(NodeInfo, View)>, Vec<String>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    for n in &seed.nodes {
        if n.flags.iter().any(|f| f == "handshake" || f == "noaddr") {
            continue;
        }
        match ctx.connect_node(n).and_then(|mut c| View::fetch(&mut c)) {
            Ok(v) => out.push((n.clone(), v)),
            Err(e) => errs.push(format!("node {} ({}) unreachable: {e:#}", n.id, n.port)),
        }
    }
    (out, errs)
}

/// Check the cluster reachable through `ctx`.
pub fn check(ctx: &Ctx) -> Result<Report> {
    let seed = ctx.best_view()?;
    let mut r = Report::default();
    let owners = seed.owners();
    r.info.push(format!(
        "{} nodes, {} primaries, {} slots assigned",
        seed.nodes.len(),
        seed.primaries().len(),
        owners.len()
    ));
    if owners.len() != SLOTS {
        r.problems.push(format!(
            "{} of {SLOTS} slots are not covered",
            SLOTS - owners.len()
        ));
    }
    let (views, errs) = all_views(ctx, &seed);
    r.problems.extend(errs);
    for (n, v) in &views {
        let theirs = v.owners();
        let differ = (0..SLOTS as u16)
            .filter(|s| theirs.get(s) != owners.get(s))
            .count();
        if differ > 0 {
            r.problems.push(format!(
                "node {} ({}) disagrees about the owner of {differ} slots",
                n.id, n.port
            ));
        }
        if let Some(me) = v.myself() {
            for (s, to) in &me.migrating {
                r.problems
                    .push(format!("slot {s} is open: {} MIGRATING to {to}", n.port));
            }
            for (s, from) in &me.importing {
                r.problems.push(format!(
                    "slot {s} is open: {} IMPORTING from {from}",
                    n.port
                ));
            }
        }
        if let Ok(mut c) = ctx.connect_node(n) {
            if let Ok(info) = c.text(&["CLUSTER", "INFO"]) {
                let st = parse_info(&info)
                    .get("cluster_state")
                    .cloned()
                    .unwrap_or_default();
                if st != "ok" {
                    r.problems
                        .push(format!("node {} reports cluster_state:{st}", n.port));
                }
            }
        }
    }
    Ok(r)
}

/// Open slot state gathered from every node's `myself` line.
#[derive(Default, Debug)]
struct Open {
    migrating: Vec<(String, String)>,
    importing: Vec<(String, String)>,
}

fn count_keys(ctx: &Ctx, n: &NodeInfo, slot: u16) -> u64 {
    ctx.connect_node(n)
        .and_then(|mut c| c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]))
        .map(|v| match v {
            Value::Int(i) => u64::try_from(i).unwrap_or(0),
            _ => 0,
        })
        .unwrap_or(0)
}

/// Close open slots and assign uncovered ones; returns a line per action taken.
///
/// For a slot MIGRATING A->B the move is finished (keys to B, B owns it): the operator
/// started it, and finishing is safe whether or not B already took ownership. A slot only
/// IMPORTING somewhere has any stray keys sent to its owner, then is set STABLE.
pub fn fix(ctx: &Ctx) -> Result<Vec<String>> {
    let seed = ctx.best_view()?;
    let (views, _errs) = all_views(ctx, &seed);
    let mut open: BTreeMap<u16, Open> = BTreeMap::new();
    for (_, v) in &views {
        if let Some(me) = v.myself() {
            for (s, to) in &me.migrating {
                open.entry(*s)
                    .or_default()
                    .migrating
                    .push((me.id.clone(), to.clone()));
            }
            for (s, from) in &me.importing {
                open.entry(*s)
                    .or_default()
                    .importing
                    .push((me.id.clone(), from.clone()));
            }
        }
    }
    let owners = seed.owners();
    let mut pool = Pool::new(ctx);
    let mut done = Vec::new();
    for (slot, o) in &open {
        let s = slot.to_string();
        if let Some((a, b)) = o.migrating.first() {
            if let (Some(a), Some(b)) = (seed.get(a), seed.get(b)) {
                let k = move_slot(ctx, &mut pool, &seed, *slot, a, b)?;
                done.push(format!(
                    "slot {slot}: finished move {} -> {} ({k} keys)",
                    a.port, b.port
                ));
                // Importers other than b (should not exist) are cleared.
                for (imp, _) in &o.importing {
                    if imp != &b.id {
                        if let Some(n) = seed.get(imp) {
                            let _ = pool.get(n)?.cmd(&["CLUSTER", "SETSLOT", &s, "STABLE"]);
                        }
                    }
                }
                continue;
            }
        }
        let owner = owners.get(slot).and_then(|id| seed.get(id));
        for (imp, _) in &o.importing {
            let Some(n) = seed.get(imp) else { continue };
            if let Some(owner) = owner {
                if owner.id != n.id && count_keys(ctx, n, *slot) > 0 {
                    let k = migrate_keys(ctx, &mut pool, *slot, n, owner)?;
                    done.push(format!(
                        "slot {slot}: moved {k} stray keys {} -> owner {}",
                        n.port, owner.port
                    ));
                }
            }
            pool.get(n)?.ok(&["CLUSTER", "SETSLOT", &s, "STABLE"])?;
            done.push(format!("slot {slot}: STABLE on {}", n.port));
        }
    }
    // Uncovered slots: give each to a primary that holds keys for it, else the primary
    // with the fewest slots.
    let seed = ctx.best_view()?;
    let owners = seed.owners();
    let missing: Vec<u16> = (0..SLOTS as u16)
        .filter(|s| !owners.contains_key(s))
        .collect();
    if !missing.is_empty() {
        let primaries: Vec<&NodeInfo> = seed
            .primaries()
            .into_iter()
            .filter(|n| !n.is_failing())
            .collect();
        let mut counts: BTreeMap<String, usize> = primaries
            .iter()
            .map(|n| (n.id.clone(), n.slot_count()))
            .collect();
        for slot in missing {
            let with_keys = primaries
                .iter()
                .find(|n| count_keys(ctx, n, slot) > 0)
                .copied();
            let target = with_keys.or_else(|| {
                primaries
                    .iter()
                    .min_by_key(|n| counts.get(&n.id).copied().unwrap_or(0))
                    .copied()
            });
            let Some(t) = target else { break };
            pool.get(t)?
                .ok(&["CLUSTER", "ADDSLOTS", &slot.to_string()])?;
            *counts.entry(t.id.clone()).or_default() += 1;
            done.push(format!("slot {slot}: assigned to {}", t.port));
        }
    }
    Ok(done)
}

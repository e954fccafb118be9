//! Which host runs which node, when nodes run on several Docker hosts (engines or Swarm
//! nodes): a pure function of (hosts, nodes, current placement), so the rules are tested
//! without any engine.
//!
//! Rules: the two nodes of a pair never share a host (losing one host then loses at
//! most one node of each pair, and its partner keeps the slots served); primaries are
//! spread evenly (at most one more on any host than on any other, as far as the pairs
//! allow); nodes already on a live host stay there; a node whose host is gone is placed
//! again on a live host, as a replica of its surviving partner (which took over).

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// A node to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// Node identity (its port).
    pub port: u16,
    /// Pair number: a primary and its replica share it.
    pub pair: u32,
    /// Serving slots now (false: a replica).
    pub primary: bool,
}

/// Where a node goes, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Node identity.
    pub port: u16,
    /// Host name (engine or Swarm node).
    pub host: String,
    /// Primary after placement: false for a node re-created after its host was lost
    /// while its partner survived (the partner is the primary now).
    pub primary: bool,
    /// True when the node must be (re)created on `host`: new, or its host was lost.
    pub create: bool,
}

/// Place `nodes` on the live `hosts`, keeping `current` (port -> host) where the host is
/// still live. Fails when the rules cannot hold: fewer than two live hosts for a pair, or
/// both nodes of a pair lost at once (their data is gone; an operator must decide).
pub fn place(
    hosts: &[String],
    nodes: &[Want],
    current: &BTreeMap<u16, String>,
) -> Result<Vec<Placed>> {
    if hosts.len() < 2 && !nodes.is_empty() {
        bail!("placement needs at least two hosts so a pair never shares one");
    }
    let live = |h: &String| hosts.contains(h);
    let mut out: Vec<Placed> = Vec::new();
    // Survivors stay where they are.
    for n in nodes {
        if let Some(h) = current.get(&n.port).filter(|h| live(h)) {
            out.push(Placed {
                port: n.port,
                host: h.clone(),
                primary: n.primary,
                create: false,
            });
        }
    }
    // A pair that lost its primary but kept its replica: the replica serves now.
    let mut todo: Vec<Want> = Vec::new();
    let unplaced: Vec<Want> = nodes
        .iter()
        .filter(|n| !out.iter().any(|p| p.port == n.port))
        .cloned()
        .collect();
    for n in unplaced {
        let partner = nodes
            .iter()
            .find(|m| m.pair == n.pair && m.port != n.port)
            .and_then(|m| out.iter_mut().find(|p| p.port == m.port));
        let mut n = n;
        match partner {
            Some(p) if current.contains_key(&n.port) => {
                // Lost with its host: the partner is (or becomes) the primary.
                if n.primary {
                    p.primary = true;
                }
                n.primary = false;
            }
            None if current.contains_key(&n.port)
                && nodes.iter().any(|m| m.pair == n.pair && m.port != n.port)
                && nodes
                    .iter()
                    .filter(|m| m.pair == n.pair)
                    .all(|m| current.get(&m.port).is_some_and(|h| !live(h))) =>
            {
                bail!(
                    "both nodes of pair {} were on lost hosts: its slots have no copy left",
                    n.pair
                );
            }
            _ => {}
        }
        todo.push(n);
    }
    // Primaries first, so replicas go where their partner is not.
    todo.sort_by_key(|n| (!n.primary, n.pair, n.port));
    for n in todo {
        let partner_host = nodes
            .iter()
            .find(|m| m.pair == n.pair && m.port != n.port)
            .and_then(|m| out.iter().find(|p| p.port == m.port))
            .map(|p| p.host.clone());
        let load = |h: &String| {
            let on: Vec<&Placed> = out.iter().filter(|p| &p.host == h).collect();
            let prim = on.iter().filter(|p| p.primary).count();
            (prim, on.len())
        };
        // Among equally loaded hosts a replica takes the first one after its partner's in
        // host order (a ring): greedy choice by name alone can leave the last replica
        // only hosts that are already full (3 hosts: 3/2/1 nodes instead of 2/2/2).
        let ring = |h: &String| {
            let at = |x: &String| hosts.iter().position(|y| y == x).unwrap_or(0);
            partner_host
                .as_ref()
                .map(|p| (at(h) + hosts.len() - at(p)) % hosts.len())
                .unwrap_or(0)
        };
        let best = hosts
            .iter()
            .filter(|h| Some(*h) != partner_host.as_ref())
            .min_by_key(|h| {
                let (prim, total) = load(h);
                if n.primary {
                    (prim, total, 0, (*h).clone())
                } else {
                    (total, prim, ring(h), (*h).clone())
                }
            });
        let Some(h) = best else {
            bail!("no host for node {} apart from its partner's", n.port);
        };
        out.push(Placed {
            port: n.port,
            host: h.clone(),
            primary: n.primary,
            create: true,
        });
    }
    out.sort_by_key(|p| p.port);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    /// `pairs` pairs: primaries on ports 7000.., replicas after them.
    fn cluster(pairs: u32) -> Vec<Want> {
        let mut v = Vec::new();
        for i in 0..pairs {
            v.push(Want {
                port: 7000 + i as u16,
                pair: i,
                primary: true,
            });
        }
        for i in 0..pairs {
            v.push(Want {
                port: 7000 + (pairs + i) as u16,
                pair: i,
                primary: false,
            });
        }
        v
    }

    fn check_rules(p: &[Placed], nodes: &[Want]) {
        for a in p {
            for b in p {
                let pa = nodes.iter().find(|n| n.port == a.port).map(|n| n.pair);
                let pb = nodes.iter().find(|n| n.port == b.port).map(|n| n.pair);
                if a.port != b.port && pa == pb {
                    assert_ne!(a.host, b.host, "pair {pa:?} shares host {}", a.host);
                }
            }
        }
        let mut prim: BTreeMap<&str, usize> = BTreeMap::new();
        for x in p.iter().filter(|x| x.primary) {
            *prim.entry(&x.host).or_default() += 1;
        }
        let (lo, hi) = (prim.values().min(), prim.values().max());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            assert!(
                hi - lo <= 1 || prim.len() == 1,
                "primaries uneven: {prim:?}"
            );
        }
    }

    /// Fresh placements also spread all nodes: at most one more on any host.
    fn check_totals(p: &[Placed], hosts: &[String]) {
        let on = |h: &String| p.iter().filter(|x| &x.host == h).count();
        let (lo, hi) = (
            hosts.iter().map(on).min().unwrap_or(0),
            hosts.iter().map(on).max().unwrap_or(0),
        );
        assert!(hi - lo <= 1, "nodes uneven over {hosts:?}: {p:?}");
    }

    #[test]
    fn pairs_never_share_a_host_and_primaries_spread() {
        for h in 2..=5 {
            for pairs in 1..=6 {
                let nodes = cluster(pairs);
                let p = place(&hosts(h), &nodes, &BTreeMap::new()).expect("place");
                assert_eq!(p.len(), nodes.len());
                assert!(p.iter().all(|x| x.create));
                check_rules(&p, &nodes);
                check_totals(&p, &hosts(h));
                let on_hosts: std::collections::BTreeSet<&str> = p
                    .iter()
                    .filter(|x| x.primary)
                    .map(|x| x.host.as_str())
                    .collect();
                assert_eq!(
                    on_hosts.len(),
                    (pairs as usize).min(h),
                    "{h} hosts, {pairs} pairs"
                );
            }
        }
    }

    #[test]
    fn a_lost_host_is_replaced_by_replicas_on_the_others() {
        let nodes = cluster(3);
        let first = place(&hosts(3), &nodes, &BTreeMap::new()).expect("place");
        let current: BTreeMap<u16, String> =
            first.iter().map(|p| (p.port, p.host.clone())).collect();
        // h0 goes away.
        let lost: Vec<u16> = first
            .iter()
            .filter(|p| p.host == "h0")
            .map(|p| p.port)
            .collect();
        assert!(!lost.is_empty());
        let left = vec!["h1".to_string(), "h2".to_string()];
        let again = place(&left, &nodes, &current).expect("re-place");
        check_rules(&again, &nodes);
        for p in &again {
            if lost.contains(&p.port) {
                assert!(p.create && !p.primary, "{p:?} comes back as a replica");
                assert_ne!(p.host, "h0");
            } else {
                assert!(!p.create, "{p:?} stays where it was");
                assert_eq!(Some(&p.host), current.get(&p.port));
            }
        }
        // Every pair still has exactly one primary: every slot range stays served.
        for pair in 0..3 {
            let prims = again
                .iter()
                .filter(|p| p.primary && nodes.iter().any(|n| n.port == p.port && n.pair == pair))
                .count();
            assert_eq!(prims, 1, "pair {pair}");
        }
    }

    #[test]
    fn impossible_placements_are_refused() {
        assert!(place(&hosts(1), &cluster(3), &BTreeMap::new()).is_err());
        let nodes = cluster(1);
        let current: BTreeMap<u16, String> =
            [(7000, "h0".to_string()), (7001, "h1".to_string())].into();
        // Both hosts of the pair lost, two fresh hosts left: no copy of its data anywhere.
        let err = place(&["h2".into(), "h3".into()], &nodes, &current);
        assert!(err.is_err());
        assert!(place(&hosts(2), &[], &BTreeMap::new()).is_ok_and(|p| p.is_empty()));
    }

    #[test]
    fn new_pairs_join_without_moving_anyone() {
        let three = cluster(3);
        let first = place(&hosts(3), &three, &BTreeMap::new()).expect("place");
        let current: BTreeMap<u16, String> =
            first.iter().map(|p| (p.port, p.host.clone())).collect();
        let mut four = three.clone();
        four.push(Want {
            port: 7100,
            pair: 3,
            primary: true,
        });
        four.push(Want {
            port: 7101,
            pair: 3,
            primary: false,
        });
        let p = place(&hosts(3), &four, &current).expect("grow");
        check_rules(&p, &four);
        assert_eq!(p.iter().filter(|x| x.create).count(), 2);
    }
}

//! Deterministic cluster simulator: N `Node`s, a simulated clock, and a network with loss,
//! random delay (hence reordering) and partitions, all driven by one seed.
//!
//! Every message goes through `wire::encode`/`Node::step` (bytes), so the simulator also
//! exercises the bus format. A failing run prints its seed; re-run just that one with
//! `RUBRA_SIM_SEED=<seed> cargo test -p rubra-cluster --test sim`.

use std::collections::BTreeMap;

use rand::Rng;
use rubra_cluster::NodeId;

/// The atomic slot migration model (keys, the export/import link, a client).
#[path = "sim/migration.rs"]
mod migration;

/// The simulator: nodes, clock, network, replication model and checks.
#[path = "sim/harness.rs"]
mod harness;
/// Replica migration to orphaned primaries, as Redis decides it.
#[path = "sim/replica_migration.rs"]
mod replica_migration;
use harness::*;

/// cluster-spec "Cluster topology" / "Node handshake": a cluster forms from MEETs (a random
/// tree of them, the rest learned by gossip), and all nodes agree on the full 16384-slot
/// map. Without SET-CONFIG-EPOCH every primary starts at epoch 0, so this also checks
/// "Handling config epoch collisions": epochs end up distinct.
#[test]
fn forms_from_meets_and_agrees_on_slots() {
    for seed in seeds(1, 6) {
        let mut sim = Sim::new(seed, 6);
        sim.loss = 0.05;
        sim.max_delay = 30;
        let set_epochs = seed % 2 == 0;
        check(seed, sim.form(3, set_epochs));
    }
}

/// cluster-spec "Failure detection" + "Replica election and promotion": a primary cut off
/// for longer than node_timeout is FAILed by the majority and exactly one of its replicas
/// is promoted; after the heal (cluster-spec "Configuration handling, propagation, and
/// failovers": the higher config epoch wins) everyone, the old primary included, agrees on
/// a single owner per slot and the old primary follows the new one.
#[test]
fn partitioned_primary_is_replaced_by_exactly_one_replica() {
    for seed in seeds(100, 6) {
        let mut sim = Sim::new(seed, 7);
        sim.loss = 0.02;
        sim.max_delay = 20;
        check(seed, sim.form(3, true));
        // Node 0 is a primary with replicas 3 and 6 (7 nodes, 3 primaries).
        let victim = 0;
        let replicas: Vec<usize> = (0..7)
            .filter(|&i| sim.replicates[i] == Some(victim))
            .collect();
        check(
            seed,
            if replicas.len() == 2 {
                Ok(())
            } else {
                Err(format!("expected 2 replicas of node 0, got {replicas:?}"))
            },
        );
        let before = sim.promotions.len();
        sim.group[victim] = 1;
        for _ in 0..14 {
            sim.run_for(NODE_TIMEOUT);
            if std::env::var("SIM_DEBUG").is_ok() {
                let v = sim.nodes[victim].id();
                for i in 1..7 {
                    let st = sim.nodes[i].state();
                    eprintln!(
                        "t={} node {i} sees victim flags {} reports {} epoch {} offset {}",
                        sim.now,
                        st.nodes[&v].flags,
                        st.nodes[&v].fail_reports.len(),
                        st.current_epoch,
                        sim.offset[i]
                    );
                }
            }
        }
        let promoted: Vec<usize> = sim.promotions[before..].iter().map(|p| p.1).collect();
        check(
            seed,
            if promoted.len() == 1 && replicas.contains(&promoted[0]) {
                Ok(())
            } else {
                Err(format!(
                    "promotions during partition: {promoted:?}, replicas {replicas:?}"
                ))
            },
        );
        let majority: Vec<usize> = (1..7).collect();
        check(seed, sim.converged(&majority));
        // Heal: the old primary must come back as a replica, one owner per slot.
        sim.group[victim] = 0;
        let ok = sim.run_until(20_000, |s| s.converged(&s.live()).is_ok());
        if !ok {
            check(seed, sim.converged(&sim.live()));
        }
        let new_primary = sim.nodes[promoted[0]].id();
        check(
            seed,
            if sim.nodes[victim].state().me().primary == Some(new_primary) {
                Ok(())
            } else {
                Err("old primary did not become a replica of the promoted one".into())
            },
        );
        check(
            seed,
            if sim.promotions.len() == before + 1 {
                Ok(())
            } else {
                Err("extra promotions after the heal".into())
            },
        );
    }
}

/// Random partitions (any split, including ones without a majority) under loss and
/// reordering; after healing, the cluster converges: one owner per slot, agreed by all,
/// no two owning primaries with the same config epoch (cluster-spec "Configuration
/// handling, propagation, and failovers", "Handling config epoch collisions").
#[test]
fn random_partitions_heal_to_a_single_owner_per_slot() {
    for seed in seeds(1000, 6) {
        let mut sim = Sim::new(seed, 6);
        sim.loss = 0.05;
        sim.max_delay = 40;
        check(seed, sim.form(3, seed % 3 != 0));
        for _round in 0..3 {
            for g in sim.group.iter_mut() {
                *g = 0;
            }
            let n = sim.nodes.len();
            for i in 0..n {
                sim.group[i] = sim.rng.gen_range(0..2);
            }
            let dur = sim.rng.gen_range(NODE_TIMEOUT..NODE_TIMEOUT * 6);
            sim.run_for(dur);
            for g in sim.group.iter_mut() {
                *g = 0;
            }
            let settle = sim.rng.gen_range(0..NODE_TIMEOUT * 3);
            sim.run_for(settle);
        }
        let ok = sim.run_until(40_000, |s| s.converged(&s.live()).is_ok());
        if !ok {
            check(seed, sim.converged(&sim.live()));
        }
    }
}

/// cluster-spec "Manual failover": the replica waits for the paused primary's offset,
/// is elected without the primary failing, and the old primary becomes its replica.
#[test]
fn manual_failover_swaps_roles() {
    for seed in seeds(2000, 4) {
        let mut sim = Sim::new(seed, 6);
        sim.max_delay = 10;
        check(seed, sim.form(3, true));
        let replica = 3; // replica of node 0
        let before = sim.promotions.len();
        let now = sim.now;
        let r = sim.nodes[replica].failover(now, rubra_cluster::FailoverMode::Default);
        sim.admin(replica, r);
        let ok = sim.run_until(10_000, |s| {
            s.promotions.len() > before && s.converged(&s.live()).is_ok()
        });
        check(
            seed,
            if ok && sim.nodes[replica].is_primary() && !sim.nodes[0].is_primary() {
                Ok(())
            } else {
                Err(format!(
                    "manual failover did not complete: promotions {:?}, converged {:?}",
                    &sim.promotions[before..],
                    sim.converged(&sim.live())
                ))
            },
        );
        check(
            seed,
            if sim.offset[replica] >= sim.offset[0] {
                Ok(())
            } else {
                Err("new primary is behind the old one".into())
            },
        );
    }
}

/// A manual failover straight back: the old primary, turned replica a moment ago, asks
/// the new primary at once. The MFSTART must not be ignored because the new primary has
/// not yet heard (from a PING) that the sender is its replica — that would silently cost
/// the whole cluster-mf-timeout (regression: the second failover of a pair timed out).
#[test]
fn manual_failover_straight_back_completes_within_the_timeout() {
    for seed in seeds(2100, 4) {
        let mut sim = Sim::new(seed, 6);
        check(seed, sim.form(3, true));
        let (a, b) = (0, 3); // b replicates a
        let now = sim.now;
        let r = sim.nodes[b].failover(now, rubra_cluster::FailoverMode::Default);
        sim.admin(b, r);
        let ok = sim.run_until(10_000, |s| {
            s.nodes[b].is_primary() && s.nodes[a].state().me().primary == Some(s.nodes[b].id())
        });
        check(
            seed,
            ok.then_some(())
                .ok_or_else(|| "first failover failed".to_string()),
        );
        let before = sim.promotions.len();
        let now = sim.now;
        let r = sim.nodes[a].failover(now, rubra_cluster::FailoverMode::Default);
        sim.admin(a, r);
        let ok = sim.run_until(rubra_cluster::node::MF_TIMEOUT_MS, |s| {
            s.promotions[before..].iter().any(|(_, i)| *i == a)
        });
        check(
            seed,
            ok.then_some(())
                .ok_or_else(|| "the failover back did not complete in time".to_string()),
        );
        let ok = sim.run_until(10_000, |s| {
            s.nodes[b].state().me().primary == Some(s.nodes[a].id())
                && s.converged(&s.live()).is_ok()
        });
        check(
            seed,
            ok.then_some(())
                .ok_or_else(|| "no convergence after the failover back".to_string()),
        );
    }
}

/// cluster-replica-no-failover (redis.conf): a replica with it set never starts an
/// automatic failover — its primary's slots stay down — but a manual CLUSTER FAILOVER
/// FORCE still promotes it. Other nodes learn the NOFAILOVER flag from its messages.
#[test]
fn replica_no_failover_blocks_automatic_failover_only() {
    for seed in seeds(2200, 3) {
        let mut sim = Sim::new(seed, 6);
        check(seed, sim.form(3, true));
        let (victim, replica) = (0, 3);
        let mut cfg = sim.nodes[replica].config().clone();
        cfg.replica_no_failover = true;
        let outs = sim.nodes[replica].set_config(cfg);
        sim.handle(replica, outs);
        let rid = sim.nodes[replica].id();
        let flagged = sim.run_until(5_000, |s| {
            (0..6).all(|i| {
                s.nodes[i]
                    .state()
                    .nodes
                    .get(&rid)
                    .is_some_and(|n| n.has(rubra_cluster::state::flags::NOFAILOVER))
            })
        });
        check(
            seed,
            flagged
                .then_some(())
                .ok_or_else(|| "NOFAILOVER did not spread".to_string()),
        );
        let before = sim.promotions.len();
        sim.group[victim] = 1;
        sim.run_for(NODE_TIMEOUT * 12);
        check(
            seed,
            if sim.promotions.len() == before && !sim.nodes[replica].is_primary() {
                Ok(())
            } else {
                Err(format!(
                    "a no-failover replica was promoted: {:?}",
                    &sim.promotions[before..]
                ))
            },
        );
        let now = sim.now;
        let r = sim.nodes[replica].failover(now, rubra_cluster::FailoverMode::Force);
        sim.admin(replica, r);
        let ok = sim.run_until(10_000, |s| s.nodes[replica].is_primary());
        check(
            seed,
            ok.then_some(())
                .ok_or_else(|| "manual FORCE failover did not promote it".to_string()),
        );
    }
}

/// cluster-spec "Replica migration": a primary left without replicas receives one from
/// the primary with the most replicas (above the migration barrier).
#[test]
fn orphaned_primary_gets_a_migrated_replica() {
    for seed in seeds(3000, 3) {
        // 3 primaries; 4 replicas: node 0 gets replicas 3 and 6, node 1 gets 4, node 2 gets 5.
        let mut sim = Sim::new(seed, 7);
        check(seed, sim.form(3, true));
        // Kill node 5 (node 2's only replica) for good.
        sim.group[5] = 9;
        let ok = sim.run_until(30_000, |s| {
            (0..7).any(|i| i != 5 && s.nodes[i].state().me().primary == Some(s.nodes[2].id()))
        });
        check(
            seed,
            if ok {
                Ok(())
            } else {
                Err("no replica migrated to the orphaned primary".into())
            },
        );
    }
}

/// `redis-cli --cluster add-node`: one CLUSTER MEET to the newcomer. The members learn it
/// by gossip under its real name (Redis 7: no handshake with a random name), it learns
/// them and the whole slot map, and a MEET to an address already known is settled by the
/// first PONG instead of lingering for the handshake timeout.
#[test]
fn added_node_is_learnt_by_name_and_a_duplicate_meet_settles_at_once() {
    for seed in seeds(4000, 4) {
        let mut sim = Sim::new(seed, 6);
        sim.loss = 0.02;
        check(seed, sim.form(3, true));
        let new = sim.add_node_and_meet(0);
        let joined = sim.run_until(10_000, |s| {
            s.all_know_all() && s.nodes[new].state().slots == s.nodes[0].state().slots
        });
        check(
            seed,
            if joined {
                Ok(())
            } else {
                Err("the added node was not learnt by all / did not learn the slot map".into())
            },
        );
        // A member asked to MEET a node it already knows.
        let known_port = sim.nodes[1].config().port;
        let now = sim.now;
        let r = sim.nodes[2].meet(now, "127.0.0.1", known_port, None);
        sim.admin(2, r);
        sim.run_for(1000);
        let placeholders = sim.nodes_in_handshake(usize::MAX);
        check(
            seed,
            if placeholders.is_empty() && sim.all_know_all() {
                Ok(())
            } else {
                Err(format!(
                    "handshake entries still held 1 s after a MEET to a known member: {placeholders:?}"
                ))
            },
        );
    }
}

/// While a newcomer joins, no member invents a handshake entry for it (or for anybody):
/// gossip adds nodes by name.
#[test]
fn members_never_hold_handshake_entries_while_a_node_joins() {
    for seed in seeds(4100, 4) {
        let mut sim = Sim::new(seed, 6);
        check(seed, sim.form(3, true));
        let new = sim.add_node_and_meet(0);
        let mut seen = Vec::new();
        for _ in 0..50 {
            sim.run_for(TICK_MS);
            for i in sim.nodes_in_handshake(new) {
                if !seen.contains(&i) {
                    seen.push(i);
                }
            }
        }
        check(
            seed,
            if seen.is_empty() && sim.all_know_all() {
                Ok(())
            } else {
                Err(format!(
                    "members {seen:?} held handshake entries; all know all: {}",
                    sim.all_know_all()
                ))
            },
        );
    }
}

/// cluster-spec "Replica election and promotion": a primary votes only for a replica whose
/// primary it holds FAIL. Here one voter (node 4) never learns FAIL on its own: it can
/// still reach the victim (an asymmetric partition), and every FAIL broadcast to it is held
/// back. Its vote is needed (5 primaries, 3 votes; node 3 cannot reach the replica), so
/// the election succeeds only because the replica re-sends FAIL to the voters ahead of its
/// request. Properties: exactly one promotion, by the first election (one epoch bump on
/// the replica), and soon after FAIL.
#[test]
fn fail_held_back_from_a_needed_voter_still_elects_once() {
    for seed in seeds(5000, 4) {
        // 5 primaries (0..5) and one replica each (5..10): node 5 replicates node 0.
        let mut sim = Sim::new(seed, 10);
        sim.fifo = true;
        check(seed, sim.form(5, true));
        let (victim, replica, voter, deaf) = (0, 5, 4, 3);
        check(
            seed,
            if sim.replicates[replica] == Some(victim) {
                Ok(())
            } else {
                Err(format!("node {replica} does not replicate node {victim}"))
            },
        );
        let epoch_before = sim.nodes[replica].state().current_epoch;
        let before = sim.promotions.len();
        // The victim is cut off from everyone but the voter (both directions).
        for i in 0..10 {
            if i != victim && i != voter {
                sim.cut.push((victim, i));
                sim.cut.push((i, victim));
            }
        }
        sim.cut.push((replica, deaf));
        sim.cut.push((deaf, replica));
        sim.slow_fail = Some((voter, replica));
        sim.held_ms = 60_000;
        let cut_at = sim.now;
        let promoted = sim.run_until(NODE_TIMEOUT * 8, |s| s.promotions.len() > before);
        let promos: Vec<(u64, usize)> = sim.promotions[before..].to_vec();
        check(
            seed,
            if promoted && promos.len() == 1 && promos[0].1 == replica {
                Ok(())
            } else {
                Err(format!(
                    "promotions {promos:?}, expected one of node {replica}"
                ))
            },
        );
        // FAIL needs node_timeout plus a round of reports; the election adds at most
        // fixed + jitter. A failed first election would cost 2 * auth_timeout more.
        let took = promos[0].0 - cut_at;
        let epochs = sim.nodes[replica].state().current_epoch - epoch_before;
        check(
            seed,
            if took < NODE_TIMEOUT * 3 && epochs == 1 {
                Ok(())
            } else {
                Err(format!(
                    "promotion after {took} ms with {epochs} epoch bumps (want one election)"
                ))
            },
        );
        // The odd partition served its purpose; from here the victim is simply gone (a
        // stale primary that can still reach one voter would keep failing others on its
        // outdated view, which no Redis Cluster survives).
        sim.cut.clear();
        sim.group[victim] = 1;
        let rest: Vec<usize> = (1..10).collect();
        let ok = sim.run_until(NODE_TIMEOUT * 10, |s| s.converged(&rest).is_ok());
        if !ok {
            check(seed, sim.converged(&rest));
        }
        check(
            seed,
            if sim.promotions.len() == before + 1 {
                Ok(())
            } else {
                Err(format!("extra promotions: {:?}", &sim.promotions[before..]))
            },
        );
    }
}

/// Follows redirects the way a cluster client does, from node `start`, for one key of
/// `slot`: MOVED goes to the named node, ASK goes there with ASKING. Returns the node that
/// runs the command, or an error naming the loop. `holds(i)` says whether node `i` has the
/// key (what the server's keyspace would say).
fn route_key(
    sim: &Sim,
    start: usize,
    slot: u16,
    holds: impl Fn(usize) -> bool,
) -> Result<usize, String> {
    use rubra_cluster::redirect::{decide, DownPolicy, Redirect, Request};
    let (mut at, mut asking) = (start, false);
    for _ in 0..5 {
        let req = Request {
            key_slots: &[slot],
            asking,
            ..Request::default()
        };
        let node = &sim.nodes[at];
        let found = usize::from(holds(at));
        let next = match decide(node.state(), true, DownPolicy::default(), &req, || found) {
            Redirect::Local => return Ok(at),
            Redirect::Moved { to, .. } => (to, false),
            Redirect::Ask { to, .. } => (to, true),
            other => return Err(format!("node {at} answered {other:?} for slot {slot}")),
        };
        at = sim
            .index_of_id(&next.0)
            .ok_or_else(|| format!("node {at} redirected to an unknown node"))?;
        asking = next.1;
    }
    Err(format!(
        "redirect loop for slot {slot} starting at node {start}"
    ))
}

/// cluster-spec "Redirection and resharding" / "Live resharding": during the
/// `redis-cli --cluster reshard` protocol (IMPORTING on the target, MIGRATING on the source,
/// keys moved one at a time, then SETSLOT NODE on target, source and the other primaries) a
/// client starting at any node reaches exactly the node that holds each key — the source
/// before the key moves, the target after — and a new key lands on the target. Checked at
/// every step, with bus messages lost and delayed so nodes see the change at different
/// times.
#[test]
fn migration_routes_every_key_to_the_node_that_holds_it() {
    for seed in seeds(900, 4) {
        let mut sim = Sim::new(seed, 6);
        sim.loss = 0.05;
        sim.max_delay = 30;
        check(seed, sim.form(3, true));
        let slot: u16 = 42; // owned by node 0 after `form`
        let (src, dst) = (0usize, 1usize);
        let src_id = sim.nodes[src].id().0;
        let dst_id = sim.nodes[dst].id().0;
        // Model of the keyspace: where each of the slot's keys lives.
        let mut at: Vec<usize> = vec![src; 5];
        let n = sim.nodes.len();
        let check_all = |sim: &Sim, at: &[usize], when: &str| -> Result<(), String> {
            for (k, &home) in at.iter().enumerate() {
                for start in 0..n {
                    let got = route_key(sim, start, slot, |i| i == home)?;
                    if got != home {
                        return Err(format!(
                            "{when}: key {k} lives on node {home}, client from node {start} ended at {got}"
                        ));
                    }
                }
            }
            Ok(())
        };
        let r = (|| -> Result<(), String> {
            check_all(&sim, &at, "before")?;
            let r = sim.nodes[dst].setslot_importing(slot as i64, &src_id);
            sim.admin(dst, r);
            check_all(&sim, &at, "target importing")?;
            let r = sim.nodes[src].setslot_migrating(slot as i64, &dst_id);
            sim.admin(src, r);
            for k in 0..at.len() {
                check_all(&sim, &at, &format!("before moving key {k}"))?;
                // A key that exists nowhere yet (a write of a new key) goes to the target.
                for start in 0..n {
                    let got = route_key(&sim, start, slot, |_| false)?;
                    if got != dst {
                        return Err(format!("a new key from node {start} ended at {got}"));
                    }
                }
                at[k] = dst;
                sim.run_for(20);
            }
            let r = sim.nodes[dst].setslot_node(slot as i64, &dst_id, 0);
            sim.admin(dst, r);
            check_all(&sim, &at, "target owns")?;
            let r = sim.nodes[src].setslot_node(slot as i64, &dst_id, 0);
            sim.admin(src, r);
            check_all(&sim, &at, "source let go")?;
            // redis-cli tells the other primaries too (replicas refuse SETSLOT).
            let others: Vec<usize> = (0..n)
                .filter(|&i| i != src && i != dst && sim.nodes[i].is_primary())
                .collect();
            for i in others {
                let r = sim.nodes[i].setslot_node(slot as i64, &dst_id, 0);
                sim.admin(i, r);
                sim.run_for(50);
                check_all(&sim, &at, &format!("node {i} told"))?;
            }
            sim.run_for(3_000);
            check_all(&sim, &at, "after gossip settled")
        })();
        check(seed, r);
    }
}

/// The whole cluster comes back on new addresses (the data moved to other hosts, or
/// `--announce-ip` changed): nobody can reach the addresses in its table. After each node
/// is asked to MEET the others at their new addresses (what `rubra up` does), every node
/// learns every new address by node id (nodeUpdateAddressIfNeeded), replicas re-target
/// replication to their primary's new address, and the cluster converges unchanged.
#[test]
fn a_cluster_restarted_on_new_addresses_relearns_them_from_meets() {
    for seed in seeds(5000, 4) {
        let mut sim = Sim::new(seed, 6);
        sim.fifo = true;
        check(seed, sim.form(3, true));
        let slots = sim.nodes[0].state().slots.clone();
        for i in 0..6 {
            let mut c = sim.nodes[i].config().clone();
            c.ip = format!("10.0.0.{}", i + 1);
            let outs = sim.nodes[i].set_config(c);
            sim.handle(i, outs);
        }
        sim.run_for(300);
        for i in 0..6 {
            for j in (0..6).filter(|&j| j != i) {
                let (ip, port) = (sim.nodes[j].config().ip.clone(), sim.nodes[j].config().port);
                let now = sim.now;
                let r = sim.nodes[i].meet(now, &ip, port, None);
                sim.admin(i, r);
            }
        }
        let relearnt = |s: &Sim| {
            s.converged(&s.live()).is_ok()
                && s.nodes.iter().all(|n| {
                    n.state().nodes.len() == 6
                        && n.state()
                            .nodes
                            .values()
                            .all(|v| v.ip.starts_with("10.0.0."))
                })
                && (0..6).all(|i| match s.nodes[i].state().me().primary {
                    Some(p) => s.index_of_id(&p).is_some_and(|p| {
                        s.repl_ip[i] == s.nodes[p].config().ip && s.replicates[i] == Some(p)
                    }),
                    None => true,
                })
        };
        let ok = sim.run_until(20_000, relearnt);
        check(
            seed,
            if !ok {
                let views: Vec<String> = sim
                    .nodes
                    .iter()
                    .map(|n| rubra_cluster::node_lines::render_cluster_nodes(n.state()))
                    .collect();
                Err(format!(
                    "not relearnt: {:?} repl_ip {:?}\n{}",
                    sim.converged(&sim.live()),
                    sim.repl_ip,
                    views.join("\n")
                ))
            } else if sim.nodes[0].state().slots != slots {
                Err("the slot map changed".into())
            } else {
                Ok(())
            },
        );
    }
}

/// Atomic slot migration (CLUSTER MIGRATESLOTS) with one fault injected at a random point
/// of a random step — cancel, source or target killed (and restarted), the migration link
/// cut, source or target partitioned away, a manual failover of the source or the target
/// to its replica — while a client writes to the moving slots. After healing: the moving
/// slots end together with the source's or the target's shard (the target's when nothing
/// went wrong, the source's after a cancel before FINISH), no two owners share an epoch,
/// every key is held by its slot's owner only and replicas match their primaries, no
/// replica ever changed its keys on its own, and every write acknowledged by `WAIT 1` is
/// on the owner. The model is in tests/sim/migration.rs.
#[test]
fn atomic_migration_under_failures_keeps_one_owner_and_every_acknowledged_write() {
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut acks = 0;
    for seed in seeds(7000, 16) {
        match migration::run_one(seed, true) {
            Ok(what) => {
                let (kind, acked) = what.split_once(", ").unwrap_or((&what, ""));
                let n: usize = acked
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let e = tally.entry(kind.to_string()).or_default();
                *e += 1;
                acks += n;
            }
            Err(e) => check(seed, Err(e)),
        }
    }
    eprintln!("outcomes: {tally:#?}\nacknowledged writes to the moving slots checked: {acks}");
    // Each kind of outcome must have happened, or the property checks less than it says.
    let seen = |pat: &str| tally.keys().any(|k| k.contains(pat));
    assert!(seen("None in") && seen("-> slots at the target") && seen("-> slots at the source"));
    assert!(acks > 0, "no write was acknowledged");
}

/// Why the source sends `WAIT <target replicas>` before FINISH: without it the target can
/// claim the slots while its replicas still lack the last writes, and when the target then
/// dies or is cut off, its promoted replica serves the slots without writes the source had
/// acknowledged (and already deleted). The same runs as above, minus that WAIT, lose an
/// acknowledged write in some seeds — the property above is able to fail.
#[test]
fn without_waiting_for_the_target_replicas_an_acknowledged_write_is_lost() {
    if std::env::var("RUBRA_SIM_SEED").is_ok() {
        return;
    }
    let lost = seeds(7000, 16)
        .into_iter()
        .filter_map(|seed| migration::run_one(seed, false).err())
        .filter(|e| e.contains("acknowledged member"))
        .count();
    assert!(lost > 0, "no seed lost a write without the WAIT");
}

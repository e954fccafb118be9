//! Replica migration as Redis 7.0 decides it (clusterCron's census and
//! clusterHandleSlaveMigration), found by redis's tests/cluster/tests/07-replica-migration:
//! a replica promoted by a failover is marked MIGRATE_TO by the others, so once it is left
//! without replicas a spare replica moves to it; and when several primaries have the most
//! working replicas, one replica in the whole cluster moves, not one per such primary.

use super::*;

/// The replicas each node's own view gives `primary` (by index).
fn replicas_seen_by(sim: &Sim, viewer: usize, primary: usize) -> Vec<usize> {
    let p = sim.nodes[primary].id();
    (0..sim.nodes.len())
        .filter(|&i| {
            sim.nodes[viewer]
                .state()
                .nodes
                .get(&sim.nodes[i].id())
                .is_some_and(|n| n.primary == Some(p))
        })
        .collect()
}

/// 7 nodes, primaries 0, 1, 2; node 0 has replicas 3 and 6, node 1 has 4, node 2 has 5.
/// Node 2 fails for good and 5 takes over: 5 is then a primary that never had a replica
/// of its own, but it failed over one that had, so replica 3 or 6 must move to it (07's
/// "Master #12 should get at least one migrated replica").
#[test]
fn promoted_replica_left_alone_gets_a_migrated_replica() {
    for seed in seeds(4100, 2) {
        let mut sim = Sim::new(seed, 7);
        check(seed, sim.form(3, true));
        sim.group[2] = 9;
        let promoted = sim.run_until(30_000, |s| s.promotions.iter().any(|p| p.1 == 5));
        check(
            seed,
            if promoted {
                Ok(())
            } else {
                Err("replica 5 did not take over from node 2".into())
            },
        );
        let ok = sim.run_until(30_000, |s| {
            [3, 6]
                .iter()
                .any(|&i| s.nodes[i].state().me().primary == Some(s.nodes[5].id()))
        });
        check(
            seed,
            if ok {
                Ok(())
            } else {
                Err("no replica migrated to the promoted replica 5".into())
            },
        );
    }
}

/// 8 nodes, primaries 0, 1, 2: node 0 has replicas 3 and 6, node 1 has 4 and 7, node 2
/// has 5. Node 5 fails for good: node 2 is orphaned and both 0 and 1 have the most working
/// replicas (two). Exactly one replica moves to node 2, the smallest-named of 3, 4, 6, 7;
/// 0 and 1 keep three between them.
#[test]
fn one_replica_in_the_cluster_migrates_to_an_orphan() {
    for seed in seeds(4200, 2) {
        let mut sim = Sim::new(seed, 8);
        check(seed, sim.form(3, true));
        sim.group[5] = 9;
        let moved = sim.run_until(30_000, |s| !replicas_seen_by(s, 0, 2).is_empty());
        // Longer than the migration delay, so a second mover would have moved too.
        sim.run_for(10_000);
        let expected = [3, 4, 6, 7]
            .into_iter()
            .min_by_key(|&i| sim.nodes[i].id())
            .unwrap_or(3);
        let to_orphan = replicas_seen_by(&sim, 0, 2)
            .into_iter()
            .filter(|&i| i != 5)
            .collect::<Vec<_>>();
        check(
            seed,
            if moved && to_orphan == [expected] {
                Ok(())
            } else {
                Err(format!(
                    "replicas that moved to node 2: {to_orphan:?}, expected [{expected}]"
                ))
            },
        );
    }
}

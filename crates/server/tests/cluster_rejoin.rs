//! A killed primary that is started again after its replica took over must not accept
//! writes for the slots it lost (issue 14). It restarts with its old nodes.conf, which
//! still lists it as the owner of its slots; until a peer tells it otherwise (an UPDATE or
//! a PONG carrying the new owner's higher config epoch) those claims are stale. A client
//! that refreshed its slot map from it, or still had it cached, would get `OK` for writes
//! that vanish when it is demoted and resyncs from the new primary. Redis keeps a
//! restarted primary's cluster_state at fail for CLUSTER_WRITABLE_DELAY (2 s) for exactly
//! this reason (rubra: `WRITABLE_DELAY_MS` in the cluster core); the writes are refused
//! with -CLUSTERDOWN and the client retries. Before the fix, this test lost every one of
//! the ~28000 writes the restarted node acknowledged.

mod common;
use common::cluster::*;
use common::*;
use std::time::{Duration, Instant};

/// The next key (counting up from `from`) whose slot lies in one of `ranges`.
fn key_in(ranges: &[(u16, u16)], prefix: &str, from: &mut u64) -> String {
    loop {
        let k = format!("{prefix}{from}");
        *from += 1;
        let s = rubra_keys::key_slot(k.as_bytes());
        if ranges.iter().any(|&(a, b)| (a..=b).contains(&s)) {
            return k;
        }
    }
}

#[test]
fn restarted_old_primary_acknowledges_no_write_it_then_loses() {
    let mut nodes = make_cluster(6, 1, &["--cluster-node-timeout", "2000"]);
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    let (victim, replica) = owner_of_slot_0_and_its_replica(&view);
    let vi = nodes.iter().position(|s| addr(s) == victim.addr).unwrap();
    let ri = nodes.iter().position(|s| addr(s) == replica.addr).unwrap();

    nodes[vi].kill9();
    let survivors: Vec<usize> = (0..6).filter(|&i| i != vi).collect();
    assert!(
        wait_for(Duration::from_secs(30), || survivors.iter().all(|&i| {
            info_field(&nodes[i], "cluster_state") == "ok"
                && parse_nodes(&nodes[i].cli(&["cluster", "nodes"]))
                    .iter()
                    .any(|n| n.id == replica.id && n.has("master"))
        })),
        "the replica was not promoted:\n{}",
        all_views(&nodes)
    );

    // Start the old primary again while its peers are frozen (as if their answers were
    // slow to arrive): nothing tells it yet that it lost its slots. Write to it at once,
    // as a client holding the old slot map would; then wake the peers and keep writing,
    // all within Redis's 2 s writable delay. Only a plain OK counts as an ack.
    for &i in &survivors {
        signal(nodes[i].pid(), "STOP");
    }
    let restarted = nodes[vi].restart(None);
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut refused = 0;
    if restarted {
        let mut conn = nodes[vi].conn();
        let mut n = 0u64;
        let t0 = Instant::now();
        let mut woken = false;
        while t0.elapsed() < Duration::from_millis(1400) {
            if !woken && t0.elapsed() > Duration::from_millis(900) {
                for &i in &survivors {
                    signal(nodes[i].pid(), "CONT");
                }
                woken = true;
            }
            let k = key_in(&victim.slots, "rejoin-", &mut n);
            let v = format!("v{n}");
            match redis::cmd("SET")
                .arg(&k)
                .arg(&v)
                .query::<redis::Value>(&mut conn)
            {
                Ok(redis::Value::Okay) => acked.push((k, v)),
                _ => refused += 1,
            }
        }
    }
    for &i in &survivors {
        signal(nodes[i].pid(), "CONT");
    }
    assert!(restarted, "old primary did not restart");
    eprintln!(
        "old primary: {} writes acknowledged, {refused} refused",
        acked.len()
    );

    // It follows the new primary; every write it acknowledged must be there.
    assert!(
        wait_for(Duration::from_secs(30), || {
            parse_nodes(&nodes[vi].cli(&["cluster", "nodes"]))
                .iter()
                .any(|n| n.has("myself") && n.has("slave") && n.master == replica.id)
        }),
        "old primary did not become a replica:\n{}",
        all_views(&nodes)
    );
    wait_check_ok(&nodes[ri], Duration::from_secs(20));
    let mut new_primary = nodes[ri].conn();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|(k, v)| {
            redis::cmd("GET")
                .arg(k)
                .query::<Option<String>>(&mut new_primary)
                .ok()
                .flatten()
                .as_ref()
                != Some(v)
        })
        .map(|(k, _)| k)
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

/// The other side of the same return: the replica promoted in the old primary's place
/// takes writes (some confirmed by WAIT once the old primary follows it again), and the
/// old primary comes back from its AOF ~1.5 s after the promotion. It must follow the new
/// primary and resync from it; nothing the new primary acknowledged may disappear.
#[test]
fn new_primary_keeps_its_writes_when_the_old_one_returns() {
    let mut nodes = make_cluster(
        6,
        1,
        &[
            "--cluster-node-timeout",
            "2000",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
    );
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    let (victim, replica) = owner_of_slot_0_and_its_replica(&view);
    let vi = nodes.iter().position(|s| addr(s) == victim.addr).unwrap();
    let ri = nodes.iter().position(|s| addr(s) == replica.addr).unwrap();
    nodes[vi].kill9();
    // Write to the replica until it takes writes (its promotion), then 1.5 s more, then
    // bring the old primary back and write on for 4 s.
    let mut conn = nodes[ri].conn();
    let mut acked: Vec<(String, String, bool)> = Vec::new();
    let mut n = 0u64;
    let mut promoted_at: Option<Instant> = None;
    let mut restarted = false;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if let Some(p) = promoted_at {
            if !restarted && p.elapsed() > Duration::from_millis(1500) {
                assert!(nodes[vi].restart(None), "old primary did not restart");
                restarted = true;
            }
            if p.elapsed() > Duration::from_millis(5500) {
                break;
            }
        }
        let k = key_in(&victim.slots, "after-", &mut n);
        let v = format!("v{n}");
        if let Ok(redis::Value::Okay) = redis::cmd("SET").arg(&k).arg(&v).query(&mut conn) {
            promoted_at.get_or_insert_with(Instant::now);
            let waited = redis::cmd("WAIT")
                .arg(1)
                .arg(100)
                .query::<i64>(&mut conn)
                .unwrap_or(0)
                >= 1;
            acked.push((k, v, waited));
        } else if promoted_at.is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(restarted, "the replica never took writes");
    assert!(
        wait_for(Duration::from_secs(30), || {
            parse_nodes(&nodes[vi].cli(&["cluster", "nodes"]))
                .iter()
                .any(|n| n.has("myself") && n.has("slave") && n.master == replica.id)
        }),
        "old primary did not become a replica:\n{}",
        all_views(&nodes)
    );
    wait_check_ok(&nodes[ri], Duration::from_secs(20));
    let mut c = nodes[ri].conn();
    let lost: Vec<(&String, bool)> = acked
        .iter()
        .filter(|(k, v, _)| {
            redis::cmd("GET")
                .arg(k)
                .query::<Option<String>>(&mut c)
                .ok()
                .flatten()
                .as_ref()
                != Some(v)
        })
        .map(|(k, _, w)| (k, *w))
        .collect();
    let waited = acked.iter().filter(|a| a.2).count();
    eprintln!(
        "new primary: {} writes acknowledged ({waited} by WAIT), {} lost",
        acked.len(),
        lost.len()
    );
    if !lost.is_empty() {
        for i in [vi, ri] {
            let log = std::fs::read_to_string(nodes[i].dir.join(SERVER_LOG)).unwrap_or_default();
            eprintln!("--- {} log:\n{log}", addr(&nodes[i]));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
}

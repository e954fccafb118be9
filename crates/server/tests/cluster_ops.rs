//! Cluster operations end to end (issue 4): the `redis` crate's cluster client against a
//! 6-node rubra cluster, `redis-cli --cluster reshard` / `rebalance` under a live writer,
//! and `add-node` / `del-node`. Real processes, real tools: if they disagree, we are wrong.

mod common;
use common::cluster::*;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn cluster_client(nodes: &[TestServer]) -> redis::cluster::ClusterClient {
    redis::cluster::ClusterClientBuilder::new(nodes.iter().map(|s| s.url()).collect::<Vec<_>>())
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(10))
        .build()
        .expect("cluster client")
}

/// The node ids of the primaries that own slots, as `s` sees them.
fn primaries(s: &TestServer) -> Vec<NodeLine> {
    parse_nodes(&s.cli(&["cluster", "nodes"]))
        .into_iter()
        .filter(|n| n.has("master") && !n.slots.is_empty())
        .collect()
}

fn server_at<'a>(nodes: &'a [TestServer], address: &str) -> &'a TestServer {
    nodes
        .iter()
        .find(|s| addr(s) == address)
        .unwrap_or_else(|| panic!("no test server at {address}"))
}

fn dbsize(s: &TestServer) -> i64 {
    s.cli(&["dbsize"]).parse().unwrap_or(-1)
}

#[test]
fn cluster_client_writes_and_reads_10000_keys() {
    const N: usize = 10_000;
    const TASKS: usize = 16;
    let nodes = make_cluster(6, 1, &[]);
    let client = cluster_client(&nodes);
    let rt = runtime();
    rt.block_on(async {
        let conn = client
            .get_async_connection()
            .await
            .expect("cluster connection");
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let mut c = conn.clone();
            tasks.push(tokio::spawn(async move {
                for i in (t..N).step_by(TASKS) {
                    let k = format!("key:{i}");
                    let r: redis::RedisResult<String> = redis::cmd("SET")
                        .arg(&k)
                        .arg(format!("value-{i}"))
                        .query_async(&mut c)
                        .await;
                    assert_eq!(r.as_deref(), Ok("OK"), "SET {k}");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer task");
        }
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let mut c = conn.clone();
            tasks.push(tokio::spawn(async move {
                for i in (t..N).step_by(TASKS) {
                    let k = format!("key:{i}");
                    let r: redis::RedisResult<Option<String>> =
                        redis::cmd("GET").arg(&k).query_async(&mut c).await;
                    assert_eq!(r, Ok(Some(format!("value-{i}"))), "GET {k}");
                }
            }));
        }
        for t in tasks {
            t.await.expect("reader task");
        }
    });
    // The keys really are spread: every primary holds a fair share, and they add up.
    let owners = primaries(&nodes[0]);
    assert_eq!(owners.len(), 3);
    let mut total = 0;
    for p in &owners {
        let n = dbsize(server_at(&nodes, &p.addr));
        assert!(n > (N / 5) as i64, "{} holds only {n} keys", p.addr);
        total += n;
    }
    assert_eq!(total, N as i64);
    // And replication carried them to the replicas.
    for s in &nodes {
        let line = parse_nodes(&s.cli(&["cluster", "nodes"]))
            .into_iter()
            .find(|n| n.has("myself"))
            .expect("myself");
        if line.has("slave") {
            let primary = owners
                .iter()
                .find(|p| p.id == line.master)
                .expect("replica of a slot owner");
            let want = dbsize(server_at(&nodes, &primary.addr));
            assert!(
                wait_for(Duration::from_secs(20), || dbsize(s) == want),
                "replica {} has {} keys, its primary {want}",
                addr(s),
                dbsize(s)
            );
        }
    }
    check_ok(&nodes[0]);
}

/// What the background writer saw.
#[derive(Default)]
struct WriterLog {
    /// Indexes of keys whose SET was acknowledged with OK.
    acked: Vec<usize>,
    /// Failed attempts (retried with the same key and value).
    errors: Vec<String>,
}

/// Writes `w:{i}` = `v{i}` for i = 0, 1, 2, ... until `stop`, retrying a failed SET (same
/// key, same value) until it is acknowledged. Runs on its own thread with its own runtime.
fn spawn_writer(
    client: redis::cluster::ClusterClient,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WriterLog>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut conn = client
                .get_async_connection()
                .await
                .expect("writer connection");
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let r: redis::RedisResult<String> = redis::cmd("SET")
                    .arg(format!("w:{i}"))
                    .arg(format!("v{i}"))
                    .query_async(&mut conn)
                    .await;
                let ok = matches!(&r, Ok(reply) if reply == "OK");
                {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if ok {
                        log.acked.push(i);
                    } else {
                        log.errors.push(format!("w:{i}: {r:?}"));
                    }
                }
                if ok {
                    i += 1;
                    // A steady trickle (a few hundred keys/s), not a flood: every slot
                    // gets keys to migrate, yet the final check stays quick.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
    })
}

fn acked(log: &Mutex<WriterLog>) -> usize {
    log.lock().unwrap_or_else(|e| e.into_inner()).acked.len()
}

/// Waits until the writer has made `more` further acknowledged writes (proves it is live).
fn writer_progresses(log: &Mutex<WriterLog>, more: usize) {
    let start = acked(log);
    assert!(
        wait_for(Duration::from_secs(30), || acked(log) >= start + more),
        "writer stalled at {} acknowledged writes; errors: {:?}",
        acked(log),
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .errors
            .iter()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
    );
}

#[test]
fn reshard_and_rebalance_under_a_live_writer() {
    let mut nodes = make_cluster(6, 1, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(WriterLog::default()));
    let writer = spawn_writer(cluster_client(&nodes), stop.clone(), log.clone());
    writer_progresses(&log, 300);

    let t0 = std::time::Instant::now();
    // Reshard 1000 slots from the owner of slot 0 to another primary.
    let owners = primaries(&nodes[0]);
    let from = owners
        .iter()
        .find(|p| p.slots.iter().any(|&(a, _)| a == 0))
        .expect("owner of slot 0")
        .clone();
    let to = owners
        .iter()
        .find(|p| p.id != from.id)
        .expect("another primary")
        .clone();
    let out = cli_raw(&[
        "--cluster",
        "reshard",
        &addr(&nodes[0]),
        "--cluster-from",
        &from.id,
        "--cluster-to",
        &to.id,
        "--cluster-slots",
        "1000",
        "--cluster-yes",
    ]);
    assert!(!out.contains("[ERR]"), "{out}");
    // redis-cli lists its plan (indented), then prints one unindented line per move.
    let moves = out.lines().filter(|l| l.starts_with("Moving slot")).count();
    assert_eq!(moves, 1000, "{out}");
    eprintln!("reshard of 1000 slots done after {:?}", t0.elapsed());
    writer_progresses(&log, 200);
    wait_check_ok(&nodes[0], Duration::from_secs(20));
    let to_slots: usize = primaries(&nodes[1])
        .iter()
        .find(|p| p.id == to.id)
        .map(|p| p.slots.iter().map(|&(a, b)| (b - a) as usize + 1).sum())
        .unwrap_or(0);
    let to_before: usize = to.slots.iter().map(|&(a, b)| (b - a) as usize + 1).sum();
    assert_eq!(to_slots, to_before + 1000);

    // A new, empty primary joins; rebalance gives it its share while the writer writes.
    let fresh = TestServer::start_cluster(&[]);
    let fresh_id = fresh.cli(&["cluster", "myid"]);
    let out = cli_raw(&["--cluster", "add-node", &addr(&fresh), &addr(&nodes[0])]);
    assert!(out.contains("[OK] New node added correctly."), "{out}");
    nodes.push(fresh);
    wait_all_know_each_other(&nodes, Duration::from_secs(30));
    // A fresh primary reports cluster_state:fail until it has seen a majority of the
    // primaries and waited out the rejoin delay (Redis does the same), and until then
    // it refuses the MIGRATEd keys with CLUSTERDOWN.
    assert!(
        wait_for(Duration::from_secs(30), || info_field(
            &nodes[6],
            "cluster_state"
        ) == "ok"),
        "the new primary never reached cluster_state:ok"
    );
    // redis-cli refuses to rebalance while nodes disagree.
    wait_check_ok(&nodes[0], Duration::from_secs(30));
    // Weight 0.1 for the newcomer (1 for the others): it should get 16384 * 0.1 / 3.1 =
    // 528 slots, enough to exercise rebalance without moving a quarter of the keyspace.
    let weight = format!("{fresh_id}=0.1");
    let out = cli_raw(&[
        "--cluster",
        "rebalance",
        &addr(&nodes[0]),
        "--cluster-use-empty-masters",
        "--cluster-weight",
        &weight,
    ]);
    let summary: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("Moving slot") && !l.starts_with('#'))
        .collect();
    eprintln!("rebalance done after {:?}: {summary:?}", t0.elapsed());
    assert!(
        !out.contains("[ERR]") && !out.contains("***"),
        "{summary:?}"
    );
    assert!(out.contains("Rebalancing across 4 nodes"), "{summary:?}");
    writer_progresses(&log, 200);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    wait_check_ok(&nodes[0], Duration::from_secs(20));
    let fresh_slots: usize = primaries(&nodes[0])
        .iter()
        .find(|p| p.id == fresh_id)
        .map(|p| p.slots.iter().map(|&(a, b)| (b - a) as usize + 1).sum())
        .unwrap_or(0);
    // 528 wanted; redis-cli's 2% threshold allows a small imbalance.
    assert!(
        (470..=590).contains(&fresh_slots),
        "new primary owns {fresh_slots} slots"
    );

    // Every acknowledged write is there with its value, read back through the cluster.
    let log = Arc::try_unwrap(log)
        .ok()
        .expect("writer finished")
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    eprintln!(
        "writer: {} acknowledged writes, {} retried errors (first: {:?})",
        log.acked.len(),
        log.errors.len(),
        log.errors.first()
    );
    assert!(log.acked.len() >= 700);
    let client = cluster_client(&nodes);
    let rt = runtime();
    let missing = rt.block_on(async {
        let mut conn = client.get_async_connection().await.expect("connection");
        let mut missing = Vec::new();
        for &i in &log.acked {
            let r: redis::RedisResult<Option<String>> = redis::cmd("GET")
                .arg(format!("w:{i}"))
                .query_async(&mut conn)
                .await;
            if r != Ok(Some(format!("v{i}"))) {
                missing.push(format!("w:{i} -> {r:?}"));
            }
        }
        missing
    });
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Nothing beyond what was written: the primaries together hold exactly these keys
    // (plus at most the one in flight when the writer stopped).
    let total: i64 = primaries(&nodes[0])
        .iter()
        .map(|p| dbsize(server_at(&nodes, &p.addr)))
        .sum();
    assert!(
        total == log.acked.len() as i64 || total == log.acked.len() as i64 + 1,
        "primaries hold {total} keys, {} acknowledged",
        log.acked.len()
    );
}

/// The CLUSTER NODES view of `s`.
fn view(s: &TestServer) -> Vec<NodeLine> {
    parse_nodes(&s.cli(&["cluster", "nodes"]))
}

#[test]
fn add_node_as_primary_and_replica_then_del_node() {
    let mut nodes = make_cluster(6, 1, &[]);
    let entry = addr(&nodes[0]);

    // A new empty primary.
    let p = TestServer::start_cluster(&[]);
    let p_id = p.cli(&["cluster", "myid"]);
    let out = cli_raw(&["--cluster", "add-node", &addr(&p), &entry]);
    assert!(out.contains("[OK] New node added correctly."), "{out}");
    nodes.push(p);
    // redis-cli add-node checks the cluster first and refuses while the newcomer has not
    // yet been learnt by everyone, or has not yet learnt the slot map.
    wait_all_know_each_other(&nodes, Duration::from_secs(30));
    wait_check_ok(&nodes[0], Duration::from_secs(30));
    // And a replica of it.
    let r = TestServer::start_cluster(&[]);
    let r_id = r.cli(&["cluster", "myid"]);
    let out = cli_raw(&[
        "--cluster",
        "add-node",
        &addr(&r),
        &entry,
        "--cluster-slave",
        "--cluster-master-id",
        &p_id,
    ]);
    assert!(out.contains("[OK] New node added correctly."), "{out}");
    nodes.push(r);

    // Every node, old and new, sees both with the right role.
    let all_see_them = wait_for(Duration::from_secs(30), || {
        nodes.iter().all(|s| {
            let v = view(s);
            v.len() == 8
                && v.iter()
                    .any(|n| n.id == p_id && n.has("master") && n.slots.is_empty())
                && v.iter()
                    .any(|n| n.id == r_id && n.has("slave") && n.master == p_id)
        })
    });
    assert!(all_see_them, "{}", all_views(&nodes));
    let p_port = nodes[6].port.to_string();
    assert!(wait_for(Duration::from_secs(20), || {
        let role = nodes[7].cli(&["role"]);
        let lines: Vec<&str> = role.lines().collect();
        lines.first() == Some(&"slave") && lines.get(2) == Some(&p_port.as_str())
    }));
    assert!(wait_for(Duration::from_secs(20), || info_field(
        &nodes[7],
        "cluster_state"
    ) == "ok"));
    check_ok(&nodes[0]);

    // del-node: the replica first, then its (slotless) primary.
    for gone in [r_id.clone(), p_id.clone()] {
        let out = cli_raw(&["--cluster", "del-node", &entry, &gone]);
        assert!(out.contains("Sending CLUSTER RESET SOFT"), "{out}");
        assert!(!out.contains("[ERR]"), "{out}");
    }
    let removed = nodes.split_off(6);
    // Gone from every remaining node, and stays gone (gossip must not bring it back).
    for round in 0..2 {
        for s in &nodes {
            let v = view(s);
            assert_eq!(v.len(), 6, "round {round} {}: {v:?}", addr(s));
            assert!(
                !v.iter().any(|n| n.id == p_id || n.id == r_id),
                "round {round} {}: {v:?}",
                addr(s)
            );
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    // The removed nodes were reset: each knows only itself, as an empty primary.
    for s in &removed {
        let v = view(s);
        assert_eq!(v.len(), 1, "{}: {v:?}", addr(s));
        assert!(v[0].has("myself") && v[0].has("master"), "{v:?}");
        assert!(v[0].slots.is_empty(), "{v:?}");
    }
    let r_role = removed[1].cli(&["role"]);
    assert!(r_role.starts_with("master"), "{r_role}");
    check_ok(&nodes[0]);
    assert!(wait_for(Duration::from_secs(10), || nodes
        .iter()
        .all(|s| info_field(s, "cluster_known_nodes") == "6")));
}

//! End-to-end: the autoscaler with short windows (seconds). Filling keys pushes memory
//! over the threshold and it adds a pair; deleting most keys brings memory under the low
//! mark and it removes the pair again; no remaining key is lost.
//! Runs with embedded rubra-server nodes and with Debian's redis-server (when installed).

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Value size: big values make memory move fast with few commands.
const SIZE: usize = 100_000;
/// 780 × 100 KB ≈ 78 MB over 3 primaries ≈ 26 MB each ≈ 40% of 64 MB (threshold 25%);
/// over 4 primaries ≈ 30%: still above the low mark, and --max-nodes 8 stops growth.
const KEYS: usize = 780;
/// Keys kept after the deletion (≈ 8 MB in all: ≈ 4% per primary, under the 10% mark).
const KEEP: usize = 80;

fn wait_nodes(c: &Cluster, n: usize, what: &str) {
    let t0 = Instant::now();
    while c.state().active_ports().len() != n || c.state().pending.is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "autoscaler did not {what} (nodes: {})",
            c.state().active_ports().len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn autoscale_events(c: &Cluster, pw: &str) -> Vec<serde_json::Value> {
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/events", pw, "").unwrap();
    assert_eq!(code, 200);
    let ev: serde_json::Value = serde_json::from_str(&body).unwrap();
    ev.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "autoscale")
        .cloned()
        .collect()
}

#[test]
fn autoscaler_grows_and_shrinks_redis_server() {
    if Kind::Redis.available() {
        grows_on_memory_and_shrinks_when_keys_go(Kind::Redis);
    }
}

#[test]
fn autoscaler_grows_and_shrinks_embedded() {
    grows_on_memory_and_shrinks_when_keys_go(Kind::Embedded);
}

fn grows_on_memory_and_shrinks_when_keys_go(kind: Kind) {
    let dir = tempdir("auto");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(9);
    let c = Cluster::start(
        kind,
        &dir,
        base,
        panel,
        &[
            "--autoscale",
            "--node-maxmemory",
            "64mb",
            "--scale-up-pct",
            "25",
            "--scale-down-pct",
            "10",
            "--scale-up-secs",
            "2",
            "--scale-down-secs",
            "3",
            "--sample-secs",
            "1",
            "--cooldown-secs",
            "1",
            "--max-nodes",
            "8",
            // CPU capacity so large that only memory drives the decisions.
            "--node-cpus",
            "64",
        ],
    );
    let pw = c.password();
    let ports0 = c.state().active_ports();

    // Idle and at the minimum size: nothing happens.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(c.state().active_ports().len(), 6);
    assert!(autoscale_events(&c, &pw).is_empty());

    // Memory over 25% for 2 s: one pair is added (and no more: max 8 nodes).
    fill(&ports0, &pw, "big:", 0..KEYS, SIZE);
    wait_nodes(&c, 8, "add a pair");
    c.wait_check();
    let v = c.view();
    assert_eq!(
        v.primaries()
            .into_iter()
            .filter(|n| n.slot_count() > 0)
            .count(),
        4
    );
    let ev = autoscale_events(&c, &pw);
    let add = ev.first().expect("an autoscale event");
    assert_eq!(add["detail"]["decision"]["action"], "add_pair", "{add}");
    assert!(add["detail"]["mem"].as_f64().unwrap() > 0.25, "{add}");
    assert_eq!(add["detail"]["nodes"], 6);
    verify_big(&ports0, &pw, "big:", 0..KEYS, SIZE, |_| false);

    // Delete all but KEEP keys: memory under 10% for 3 s, the pair is removed.
    block_on(async {
        let mut conn = cluster_client(&ports0, &pw)
            .get_async_connection()
            .await
            .expect("cluster connection");
        for i in KEEP..KEYS {
            let n: i64 = redis::cmd("DEL")
                .arg(format!("big:{i}"))
                .query_async(&mut conn)
                .await
                .expect("DEL");
            assert_eq!(n, 1);
        }
    });
    wait_nodes(&c, 6, "remove a pair");
    c.wait_check();
    assert_eq!(c.view().nodes.len(), 6);
    let ev = autoscale_events(&c, &pw);
    let remove = ev.last().unwrap();
    assert_eq!(
        remove["detail"]["decision"]["action"], "remove_pair",
        "{ev:?}"
    );
    assert!(remove["detail"]["mem"].as_f64().unwrap() < 0.10, "{remove}");
    assert_eq!(ev.len(), 2, "exactly one add and one remove: {ev:?}");
    // No key lost: the kept ones read back, the deleted ones stay deleted.
    verify_big(&c.state().active_ports(), &pw, "big:", 0..KEYS, SIZE, |i| {
        i >= KEEP
    });
    assert!(std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .contains("\"autoscale\""));

    // Turning it off through the API (the CLI's `rubra autoscale off`).
    let (ok, out) = c.run(&["autoscale", "off"]);
    assert!(ok && out.contains("false"), "{out}");
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/cluster", &pw, "").unwrap();
    assert_eq!(code, 200);
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["autoscale"], false);
}

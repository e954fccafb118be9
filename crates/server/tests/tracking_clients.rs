//! Client-side caching with a real client: redis-py's cache (RESP3, `CLIENT TRACKING ON`,
//! invalidation pushes) on a 6-node Rubra cluster, and the same script on a 6-node
//! redis-server 7.0 cluster as the reference (tests/tracking_clients.py says what it
//! proves: cached reads reach no node, another client's writes, DEL, expiry and FLUSHALL
//! invalidate on every primary's slots, and values stay right across a manual failover of
//! every shard and a slot moved by MIGRATE). .ci/run installs redis-py; if python3 or
//! redis-py is missing the test fails, it does not skip.

mod common;
use common::cluster::{make_cluster, make_cluster_bin};
use common::TestServer;
use std::process::Command;

/// Runs tracking_clients.py against the cluster `nodes[0]` belongs to.
fn run_script(nodes: &[TestServer], server: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tracking_clients.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(nodes[0].port.to_string())
        .output()
        .expect("python3 must be installed (.ci/run installs redis-py)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py caching checks failed on {server}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("ok: redis-py client-side caching"), "{stdout}");
}

#[test]
fn redis_py_client_side_caching_on_a_rubra_cluster() {
    let nodes = make_cluster(6, 1, &[]);
    run_script(&nodes, "rubra");
}

#[test]
fn redis_py_client_side_caching_on_a_redis_cluster_reference() {
    let nodes = make_cluster_bin(std::path::Path::new("redis-server"), 6, 1, &[]);
    run_script(&nodes, "redis-server");
}

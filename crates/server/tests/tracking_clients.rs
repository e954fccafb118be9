//! Client-side caching with a real client: redis-py's cache (RESP3, `CLIENT TRACKING ON`,
//! invalidation pushes) on a 6-node Rubra cluster, and the same script on a 6-node
//! redis-server 7.0 cluster as the reference (tests/tracking_clients.py says what it
//! proves: cached reads reach no node, another client's writes, DEL, expiry and FLUSHALL
//! invalidate on every primary's slots, and values stay right across a manual failover of
//! every shard and a slot moved by MIGRATE). .ci/run installs redis-py; if python3 or
//! redis-py is missing the test fails, it does not skip.

mod common;
use common::cluster::{make_cluster, make_cluster_bin};
use common::{run_python, TestServer};

/// A short node timeout, so a manual failover whose election failed may be asked again
/// within seconds (see the script).
const NODE_TIMEOUT: [&str; 2] = ["--cluster-node-timeout", "3000"];

/// Runs tracking_clients.py against the cluster `nodes[0]` belongs to.
fn run_script(nodes: &[TestServer], server: &str) {
    let out = run_python(
        "tracking_clients.py",
        nodes[0].port,
        "ok: redis-py client-side caching",
    );
    print!("{server}: {out}");
}

#[test]
fn redis_py_client_side_caching_on_a_rubra_cluster() {
    let nodes = make_cluster(6, 1, &NODE_TIMEOUT);
    run_script(&nodes, "rubra");
}

#[test]
fn redis_py_client_side_caching_on_a_redis_cluster_reference() {
    let nodes = make_cluster_bin(std::path::Path::new("redis-server"), 6, 1, &NODE_TIMEOUT);
    run_script(&nodes, "redis-server");
}

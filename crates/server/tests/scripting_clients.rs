//! Real client code built on Lua scripts, unchanged, against a 6-node Rubra cluster (3
//! primaries, 3 replicas): redis-py's `Lock` and `register_script` and the `limits`
//! rate-limiting library from PyPI (tests/scripting_clients.py, run with python3), and the
//! `redis` crate's `Script` through its cluster client (EVALSHA, and after SCRIPT FLUSH the
//! NOSCRIPT reply, a load and a retry). .ci/run installs the Python packages; if python3
//! or a package is missing the test fails, it does not skip.

mod common;
use common::cluster::make_cluster;
use common::*;

#[test]
fn redis_py_lock_register_script_and_limits_on_a_cluster() {
    let nodes = make_cluster(6, 1, &[]);
    run_python("scripting_clients.py", nodes[0].port, "ok: redis-py");
}

/// EVALSHA calls the nodes served (INFO commandstats).
fn evalsha_calls(nodes: &[TestServer]) -> u64 {
    nodes
        .iter()
        .map(|n| {
            let info = n.cli(&["INFO", "commandstats"]);
            info.lines()
                .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
}

/// Whether `sha` is in the script cache of every primary among `nodes`.
fn cached_on_primaries(nodes: &[TestServer], sha: &str) -> bool {
    nodes
        .iter()
        .filter(|n| n.cli(&["ROLE"]).starts_with("master"))
        .all(|n| n.cli(&["SCRIPT", "EXISTS", sha]) == "1")
}

#[test]
fn redis_crate_script_on_a_cluster_survives_script_flush() {
    let nodes = make_cluster(6, 1, &[]);
    let client = redis::cluster::ClusterClient::new(vec![nodes[0].url()]).expect("client");
    let mut c = client.get_connection().expect("cluster connection");
    let script = redis::Script::new(
        "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])",
    );
    let keys: Vec<String> = (0..30).map(|i| format!("queue-{i}")).collect();
    for round in 1..=3i64 {
        for k in &keys {
            let n: i64 = script.key(k).arg(round).invoke(&mut c).expect("invoke");
            assert_eq!(n, round);
        }
    }
    let before = evalsha_calls(&nodes);
    assert!(
        before >= 90,
        "the crate runs scripts by EVALSHA ({before} calls)"
    );
    // The crate names scripts as the server does (SHA1 of the body).
    let sha = script.get_hash().to_string();
    assert_eq!(
        nodes[0].cli(&[
            "SCRIPT",
            "LOAD",
            "redis.call('RPUSH', KEYS[1], ARGV[1]) return redis.call('LLEN', KEYS[1])"
        ]),
        sha
    );
    for n in &nodes {
        assert_eq!(n.cli(&["SCRIPT", "FLUSH"]), "OK");
    }
    assert!(nodes
        .iter()
        .all(|n| n.cli(&["SCRIPT", "EXISTS", &sha]) == "0"));
    // EVALSHA now answers NOSCRIPT; the crate loads the script and runs it again.
    for k in &keys {
        let n: i64 = script
            .key(k)
            .arg(4)
            .invoke(&mut c)
            .expect("invoke after flush");
        assert_eq!(n, 4);
    }
    assert!(cached_on_primaries(&nodes, &sha));
    assert!(evalsha_calls(&nodes) >= before + 30);
    // The data itself, read back through the cluster client.
    for k in &keys {
        let list: Vec<String> = redis::cmd("LRANGE")
            .arg(k)
            .arg(0)
            .arg(-1)
            .query(&mut c)
            .expect("LRANGE");
        assert_eq!(list, ["1", "2", "3", "4"]);
    }
}

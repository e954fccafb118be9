//! Shebang and function flags against node state (differential): the same sessions on a
//! rubra-server and a redis-server 7.0 started alike — a replica whose primary is gone with
//! `replica-serve-stale-data no` (allow-stale), a read-only replica (no-writes), a node over
//! maxmemory (allow-oom), a cluster node (no-cluster) — must get byte-identical replies.
//! Redis refuses most of these in its command path with the generic MASTERDOWN / READONLY /
//! OOM replies, using the flags the script declared, and the rest inside the script.

mod common;
mod reference;

use common::{free_port, TestServer};
use reference::{RawConn, Reference};
use std::time::Duration;

/// Runs `script` on both servers (lines starting with `!` run without comparing) and
/// returns every difference.
fn diffs(rubra: u16, redis: u16, script: &[&str]) -> Vec<String> {
    let mut a = RawConn::connect(rubra);
    let mut b = RawConn::connect(redis);
    let mut out = Vec::new();
    for line in script {
        let (compare, cmd) = match line.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, *line),
        };
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        if compare && ra != rb {
            out.push(format!(
                "{cmd}\n    rubra: {:?}\n    redis: {:?}",
                String::from_utf8_lossy(&ra),
                String::from_utf8_lossy(&rb)
            ));
        }
    }
    out
}

fn assert_same(rubra: u16, redis: u16, script: &[&str]) {
    let d = diffs(rubra, redis, script);
    assert!(
        d.is_empty(),
        "{} replies differ:\n{}",
        d.len(),
        d.join("\n")
    );
}

/// A replica of a primary that does not exist: its link never comes up (stale).
fn stale_args(dead: &str) -> Vec<&str> {
    vec![
        "--replicaof",
        "127.0.0.1",
        dead,
        "--replica-serve-stale-data",
        "no",
    ]
}

/// allow-stale: without it a stale replica refuses the script (MASTERDOWN, decided from the
/// declared flags before the script runs); with it the script runs, and inside it only
/// commands allowed on stale replicas may be called.
#[test]
fn stale_replica_runs_only_allow_stale_scripts() {
    let dead = free_port().to_string();
    let args = stale_args(&dead);
    let rubra = TestServer::start(&args);
    let redis = Reference::start_with(&args);
    assert_same(
        rubra.port,
        redis.port,
        &[
            "EVAL \"return 1\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn 1\" 0",
            "EVAL \"#!lua flags=allow-stale,no-writes\nreturn 1\" 0",
            "EVAL \"#!lua flags=allow-stale,no-writes\nreturn type(redis.call('info','server'))\" 0",
            "EVAL \"#!lua flags=allow-stale,no-writes\nreturn redis.call('get','x')\" 0",
            "EVAL \"#!lua flags=allow-stale,no-writes\nreturn redis.pcall('ping')\" 0",
            "EVAL \"#!lua flags=allow-stale\nreturn 1\" 0",
            "EVAL \"#!lua\nreturn 1\" 0",
            "EVAL_RO \"return 1\" 0",
            "EVAL_RO \"#!lua flags=allow-stale,no-writes\nreturn 1\" 0",
            "SCRIPT LOAD \"#!lua flags=allow-stale,no-writes\nreturn 'cached'\"",
            "EVALSHA 379e916aff649b56f633e1ac76e5f0d1a22b81d2 0",
            "SCRIPT LOAD \"return 'compat'\"",
            "EVALSHA 357d5b6296d9e31568298202fe86debaf560dee2 0",
            "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
            "FCALL f 0",
            "FUNCTION LIST",
            "GET x",
            // With replica-serve-stale-data yes the flag no longer matters.
            "CONFIG SET replica-serve-stale-data yes",
            "EVAL \"return redis.call('get','x')\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn redis.call('get','x')\" 0",
            "CONFIG SET replica-serve-stale-data no",
            // A writable replica: allow-stale scripts that may write run too.
            "CONFIG SET replica-read-only no",
            "EVAL \"#!lua flags=allow-stale\nreturn 1\" 0",
            "EVAL \"#!lua\nreturn 1\" 0",
        ],
    );
}

/// no-writes on a read-only replica: scripts that may write are refused (READONLY) before
/// they run; no-writes scripts run and cannot write; FCALL_RO and EVAL_RO likewise.
#[test]
fn read_only_replica_runs_only_no_writes_scripts() {
    let dead = free_port().to_string();
    let args = ["--replicaof", "127.0.0.1", &dead];
    let rubra = TestServer::start(&args);
    let redis = Reference::start_with(&args);
    assert_same(
        rubra.port,
        redis.port,
        &[
            "EVAL \"#!lua\nreturn 1\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn 1\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn redis.call('set','x',1)\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn redis.pcall('set','x',1)\" 0",
            "EVAL \"return redis.call('set','x',1)\" 0",
            "EVAL \"return redis.call('get','x')\" 0",
            "EVAL_RO \"return redis.call('set','x',1)\" 0",
            "EVAL_RO \"#!lua\nreturn 1\" 0",
            "FUNCTION LOAD \"#!lua name=lib\nredis.register_function('f', function() return 1 end)\"",
            "FUNCTION FLUSH",
            "FUNCTION RESTORE x",
            "SCRIPT LOAD \"#!lua\nreturn 1\"",
            "EVALSHA cb70127618f0b0be70c53cf6bfcfa54a29d9b0c0 0",
        ],
    );
}

/// allow-oom over maxmemory: scripts without it (and without no-writes) are refused with
/// the generic OOM reply; with it they run and may write; functions by their registered
/// flags; FUNCTION LOAD is refused like any DENYOOM command.
#[test]
fn over_maxmemory_only_allow_oom_scripts_write() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let lib = "FUNCTION LOAD \"#!lua name=lib\nredis.register_function('w', function() return 1 end)\nredis.register_function{function_name='r', callback=function() return 2 end, flags={'no-writes'}}\nredis.register_function{function_name='o', callback=function(k) return redis.call('set',k[1],1) end, flags={'allow-oom'}}\"";
    assert_same(
        rubra.port,
        redis.port,
        &[
            lib,
            "CONFIG SET maxmemory 1",
            "EVAL \"#!lua\nreturn 1\" 0",
            "EVAL \"#!lua flags=allow-oom\nreturn redis.call('set','x',1)\" 0",
            "EVAL \"#!lua flags=no-writes\nreturn redis.call('get','x')\" 0",
            "EVAL \"#!lua flags=allow-oom\nreturn redis.call('get','x')\" 0",
            "EVAL \"return redis.call('set','y',1)\" 0",
            "EVAL \"return redis.call('get','y')\" 0",
            "EVAL \"return redis.pcall('set','y',1)\" 0",
            "FCALL w 0",
            "FCALL r 0",
            "FCALL o 1 z",
            "FCALL_RO w 0",
            "FCALL_RO r 0",
            "FUNCTION LOAD REPLACE \"#!lua name=lib\nredis.register_function('w', function() return 1 end)\"",
            "SCRIPT LOAD \"#!lua\nreturn 'cached'\"",
            "CONFIG SET maxmemory 0",
            "EVAL \"#!lua\nreturn 1\" 0",
            "GET z",
        ],
    );
}

/// no-cluster: a cluster node refuses the script whatever its keys; other scripts run.
#[test]
fn cluster_node_refuses_no_cluster_scripts() {
    let rubra = TestServer::start_cluster(&[]);
    let dir = std::env::temp_dir().join(format!("rubra-ref-cluster-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let conf = dir.join(format!("nodes-{}.conf", free_port()));
    let conf = conf.to_string_lossy().into_owned();
    let redis =
        Reference::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", &conf]);
    let script = [
        "EVAL \"#!lua flags=no-cluster\nreturn 1\" 0",
        "EVAL \"#!lua flags=no-cluster,no-writes\nreturn 1\" 0",
        "EVAL \"#!lua\nreturn 1\" 0",
        "EVAL \"return 1\" 0",
        "FUNCTION LOAD \"#!lua name=lib\nredis.register_function{function_name='nc', callback=function() return 1 end, flags={'no-cluster'}}\"",
        "FCALL nc 0",
        "!CLUSTER ADDSLOTSRANGE 0 16383",
    ];
    assert_same(rubra.port, redis.port, &script);
    // Once the cluster is up, with a key too.
    let up = |port: u16| common::cli_at(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(up(rubra.port) && up(redis.port)) {
        assert!(
            std::time::Instant::now() < deadline,
            "cluster_state never ok"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_same(
        rubra.port,
        redis.port,
        &[
            "EVAL \"#!lua flags=no-cluster\nreturn 1\" 1 k",
            "EVAL \"#!lua flags=no-cluster\nreturn 1\" 0",
            "EVAL \"#!lua\nreturn redis.call('set',KEYS[1],'v')\" 1 k",
            "FCALL nc 1 k",
        ],
    );
}

//! Debian's redis-benchmark against rubra-server: every workload of the issue completes with
//! no error. Throughput is measured by bench/compare.sh, not asserted here.

mod common;
use common::*;
use std::process::Command;

#[test]
fn redis_benchmark_workloads_complete_without_errors() {
    let s = TestServer::start(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &s.port.to_string(),
            "-q",
            "-t",
            "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset",
            "-n",
            "100000",
            "-P",
            "16",
        ])
        .output()
        .expect("redis-benchmark must be installed (apt-get install -y redis-tools)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed: {stdout} {stderr}"
    );
    assert!(
        !stdout.to_lowercase().contains("error") && !stderr.to_lowercase().contains("error"),
        "{stdout}\n{stderr}"
    );
    // Each workload prints a "requests per second" summary line.
    for name in [
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LRANGE_100",
        "MSET",
    ] {
        let found = stdout
            .split(['\n', '\r'])
            .any(|l| l.starts_with(name) && l.contains("requests per second"));
        assert!(found, "no result line for {name} in:\n{stdout}");
    }
    // The data the benchmark wrote is really there.
    let mut c = s.conn();
    // (SPOP and ZPOPMIN empty their keys again, so these four are what must remain.)
    for key in [
        "key:__rand_int__",
        "counter:__rand_int__",
        "mylist",
        "myhash",
    ] {
        assert_eq!(q(&mut c, &["EXISTS", key]), redis::Value::Int(1), "{key}");
    }
    match q(&mut c, &["GET", "counter:__rand_int__"]) {
        redis::Value::BulkString(n) => assert!(
            String::from_utf8_lossy(&n).parse::<u64>().unwrap_or(0) > 0,
            "INCR never counted"
        ),
        v => panic!("{v:?}"),
    }
    assert!(s.cli(&["ping"]) == "PONG");
}

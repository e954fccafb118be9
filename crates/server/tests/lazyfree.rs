//! Lazy freeing, side by side with redis-server 7.0: UNLINK of a large collection, DEL under
//! lazyfree-lazy-user-del, FLUSHALL/FLUSHDB ASYNC and under lazyfree-lazy-user-flush hand
//! their values to the background thread, and INFO's `lazyfreed_objects` counts them
//! exactly as Redis's does; small values, DEL and SYNC flushes are freed in place.

mod common;
mod reference;
use common::*;
use reference::Reference;
use std::time::{Duration, Instant};

fn conn(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect")
}

fn memory_field(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO memory"))
}

/// `lazyfreed_objects` once nothing is pending any more.
fn freed_when_settled(c: &mut redis::Connection) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while memory_field(c, "lazyfree_pending_objects") != 0 {
        assert!(Instant::now() < deadline, "lazy freeing never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    memory_field(c, "lazyfreed_objects")
}

fn run(c: &mut redis::Connection, words: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(words[0]);
    for w in &words[1..] {
        cmd.arg(*w);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

/// Fills `key` with `n` elements of `kind` (hash, set, zset).
fn fill(c: &mut redis::Connection, kind: &str, key: &str, n: usize) {
    let mut cmd = redis::cmd(match kind {
        "hash" => "HSET",
        "set" => "SADD",
        _ => "ZADD",
    });
    cmd.arg(key);
    for i in 0..n {
        match kind {
            "hash" => cmd.arg(format!("field{i}")).arg(i),
            "set" => cmd.arg(format!("member{i}")),
            _ => cmd.arg(i).arg(format!("member{i}")),
        };
    }
    let _: redis::Value = cmd.query(c).expect("fill");
}

#[test]
fn lazyfreed_objects_counts_what_redis_counts() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let mut servers = [("rubra", conn(rubra.port)), ("redis", conn(redis.port))];
    // (step, the counter's increase it must cause, as observed on redis-server too)
    type Step = (&'static str, fn(&mut redis::Connection), u64);
    let steps: [Step; 11] = [
        (
            "UNLINK of 600-field hash (hashtable)",
            |c| {
                fill(c, "hash", "h", 600);
                run(c, &["UNLINK", "h"]);
            },
            1,
        ),
        (
            "UNLINK of small hash (listpack)",
            |c| {
                fill(c, "hash", "h", 10);
                run(c, &["UNLINK", "h"]);
            },
            0,
        ),
        (
            "UNLINK of 60-member set (at the threshold)",
            |c| {
                fill(c, "set", "s", 60);
                run(c, &["UNLINK", "s"]);
            },
            0,
        ),
        (
            "UNLINK of 600-member set and zset",
            |c| {
                fill(c, "set", "s", 600);
                fill(c, "zset", "z", 600);
                run(c, &["UNLINK", "s", "z", "missing"]);
            },
            2,
        ),
        (
            "DEL of a large set frees in place",
            |c| {
                fill(c, "set", "s", 600);
                run(c, &["DEL", "s"]);
            },
            0,
        ),
        (
            "DEL under lazyfree-lazy-user-del",
            |c| {
                run(c, &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
                fill(c, "zset", "z", 600);
                run(c, &["DEL", "z"]);
                run(c, &["CONFIG", "SET", "lazyfree-lazy-user-del", "no"]);
            },
            1,
        ),
        (
            "FLUSHALL ASYNC counts every key",
            |c| {
                for i in 0..25 {
                    run(c, &["SET", &format!("k{i}"), "v"]);
                }
                run(c, &["SELECT", "3"]);
                run(c, &["SET", "other-db", "v"]);
                run(c, &["SELECT", "0"]);
                run(c, &["FLUSHALL", "ASYNC"]);
            },
            26,
        ),
        (
            "FLUSHDB SYNC and plain FLUSHALL free in place",
            |c| {
                run(c, &["SET", "a", "1"]);
                run(c, &["FLUSHDB", "SYNC"]);
                run(c, &["SET", "a", "1"]);
                run(c, &["FLUSHALL"]);
            },
            0,
        ),
        (
            "FLUSHDB under lazyfree-lazy-user-flush",
            |c| {
                run(c, &["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
                for i in 0..7 {
                    run(c, &["SET", &format!("k{i}"), "v"]);
                }
                run(c, &["FLUSHDB"]);
                run(c, &["CONFIG", "SET", "lazyfree-lazy-user-flush", "no"]);
            },
            7,
        ),
        (
            // 500-byte values: about 8 entries fill a node's 4 KB, so ~125 nodes.
            "UNLINK of a 125-node stream with a group and a PEL",
            |c| {
                fill_stream(c, "st", 1000, 500);
                run(c, &["XGROUP", "CREATE", "st", "g", "0"]);
                run(
                    c,
                    &[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        "alice",
                        "COUNT",
                        "2",
                        "STREAMS",
                        "st",
                        ">",
                    ],
                );
                run(c, &["UNLINK", "st"]);
            },
            1,
        ),
        (
            // Redis counts the stream's nodes, not its entries: 100 entries in one node
            // are freed in place.
            "UNLINK of a one-node stream of 100 entries",
            |c| {
                fill_stream(c, "st", 100, 1);
                run(c, &["UNLINK", "st"]);
            },
            0,
        ),
    ];
    for (name, c) in servers.iter_mut() {
        let mut before = freed_when_settled(c);
        for (step, act, increase) in &steps {
            act(c);
            let after = freed_when_settled(c);
            assert_eq!(after - before, *increase, "{name}: {step}");
            before = after;
        }
        assert_eq!(run(c, &["DBSIZE"]), redis::Value::Int(0), "{name}");
        assert!(before > 0, "{name}");
        run(c, &["CONFIG", "RESETSTAT"]);
        assert_eq!(freed_when_settled(c), 0, "{name}: CONFIG RESETSTAT");
    }
}

/// Adds `n` entries with a value of `size` bytes to the stream `key` in one pipeline.
fn fill_stream(c: &mut redis::Connection, key: &str, n: usize, size: usize) {
    let value = "v".repeat(size);
    let mut pipe = redis::pipe();
    for _ in 0..n {
        pipe.cmd("XADD")
            .arg(key)
            .arg("*")
            .arg("f")
            .arg(&value)
            .ignore();
    }
    let _: () = pipe.query(c).expect("fill stream");
}

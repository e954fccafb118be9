//! Which check answers first: every command redis-server 7.0 lists (COMMAND LIST), less
//! those that block, subscribe, end or reconfigure the connection or the server, runs on a
//! key of each type (none, string, list, hash, set, zset, stream) with a bad argument in
//! each of a few places (a word, a negative number, a byte that is not UTF-8). When a call would fail more than one check (a wrong type and a
//! bad option, a missing key and a bad range), Redis answers with the first it makes, and
//! so must rubra.
//!
//! Compared byte for byte: each call whose reply is an error on either server. Calls that
//! both servers answer without an error are not compared here (their values are other
//! tests' business, and some are random or clock-dependent).

mod common;
mod reference;

use common::TestServer;
use reference::{RawConn, Reference};
use rubra_resp::{parse_frame, Frame};

/// Commands left out, and why: they block or wait (B*, WAIT, XREAD*), change what the
/// connection receives (SUBSCRIBE, MONITOR, CLIENT, HELLO, RESET, MULTI, QUIT), change
/// or stop the server (SHUTDOWN, DEBUG, FAILOVER, REPLICAOF, CONFIG, ACL, MODULE, SAVE,
/// FLUSH*, SWAPDB, SELECT), talk to other servers (MIGRATE, SYNC, CLUSTER), or answer
/// with the server's own state whatever the arguments (INFO, LATENCY, COMMAND, ...).
const SKIP: &[&str] = &[
    "acl",
    "asking",
    "auth",
    "bgrewriteaof",
    "bgsave",
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "client",
    "cluster",
    "command",
    "config",
    "dbsize",
    "debug",
    "discard",
    "echo",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "exec",
    "failover",
    "fcall",
    "fcall_ro",
    "flushall",
    "flushdb",
    "function",
    "hello",
    "info",
    "keys",
    "lastsave",
    "latency",
    "lolwut",
    "memory",
    "migrate",
    "module",
    "monitor",
    "multi",
    "object",
    "ping",
    "psubscribe",
    "psync",
    "publish",
    "pubsub",
    "punsubscribe",
    "quit",
    "randomkey",
    "readonly",
    "readwrite",
    "replconf",
    "replicaof",
    "reset",
    "restore-asking",
    "role",
    "save",
    "scan",
    "script",
    "select",
    "shutdown",
    "slaveof",
    "slowlog",
    "spublish",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "swapdb",
    "sync",
    "time",
    "unsubscribe",
    "unwatch",
    "wait",
    "watch",
    "xread",
    "xreadgroup",
];

/// The key `k` as each type, made before every call.
const TYPES: &[(&str, &str)] = &[
    ("none", ""),
    ("string", "SET k abc"),
    ("list", "RPUSH k a b"),
    ("hash", "HSET k f v"),
    ("set", "SADD k m"),
    ("zset", "ZADD k 1 m"),
    ("stream", "XADD k 1-1 f v"),
];

/// Argument lists after the command name; `J` is replaced by each bad value (the last one
/// is not UTF-8: errors that quote it must send its bytes back as they came).
const SHAPES: &[&str] = &["k J", "k 1 J", "k 0 1 J", "k J 1", "k k2 J"];
const BAD: &[&str] = &["x", "-1", "\"\\xff\""];

fn names(port: u16) -> Vec<String> {
    let raw = RawConn::connect(port).call("COMMAND LIST");
    let Ok(Some((Frame::Array(items), _))) = parse_frame(&raw, usize::MAX) else {
        panic!("COMMAND LIST: {}", String::from_utf8_lossy(&raw));
    };
    let mut names: Vec<String> = items
        .into_iter()
        .filter_map(|f| match f {
            Frame::Bulk(b) => Some(String::from_utf8_lossy(&b).to_lowercase()),
            _ => None,
        })
        .filter(|n| !SKIP.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

#[test]
fn first_failing_check_matches_redis() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let commands = names(redis.port);
    assert!(commands.len() > 100, "COMMAND LIST gave {}", commands.len());
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    let mut compared = 0;
    let mut diffs = Vec::new();
    for (kind, setup) in TYPES {
        for name in &commands {
            for shape in SHAPES {
                for bad in BAD {
                    let line = format!("{name} {}", shape.replace('J', bad));
                    for c in [&mut a, &mut b] {
                        c.call("FLUSHALL");
                        if !setup.is_empty() {
                            c.call(setup);
                        }
                    }
                    let (ra, rb) = (a.call(&line), b.call(&line));
                    if ra.first() != Some(&b'-') && rb.first() != Some(&b'-') {
                        continue;
                    }
                    compared += 1;
                    if ra != rb {
                        diffs.push(format!(
                            "[{kind}] {line}\n    rubra: {:?}\n    redis: {:?}",
                            String::from_utf8_lossy(&ra),
                            String::from_utf8_lossy(&rb)
                        ));
                    }
                }
            }
        }
    }
    assert!(compared > 1000, "only {compared} error replies compared");
    assert!(
        diffs.is_empty(),
        "{} of {compared} error replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

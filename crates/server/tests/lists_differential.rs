//! List commands (differential): scripts against redis-server 7.0 (byte-identical replies,
//! RESP2 and RESP3), blocking pops with real concurrent clients, and propagation of served
//! blocking pops to a replica.

mod common;
use common::blocking::{blocked, wait_blocked};
mod reference;
use common::*;
use redis::Value;
use reference::{assert_same_as_redis, RawConn, Reference};
use std::time::{Duration, Instant};

const LISTS: &[&str] = &[
    "RPUSH l a b c d e",
    "LPUSH l z y",
    "LRANGE l 0 -1",
    "LRANGE l -3 -1",
    "LRANGE l 5 1",
    "LRANGE l 0 -100",
    "LRANGE l -100 100",
    "LRANGE nope 0 -1",
    "LRANGE l a b",
    "LLEN l",
    "LLEN nope",
    "LINDEX l 0",
    "LINDEX l -1",
    "LINDEX l 100",
    "LINDEX l x",
    "LSET l 1 Y",
    "LSET l 100 x",
    "LSET nope 0 x",
    "LPUSHX nope a",
    "RPUSHX l f",
    "LPOP l",
    "RPOP l",
    "LPOP l 2",
    "RPOP l 0",
    "LPOP l -1",
    "LPOP l x",
    "LPOP l 1 2",
    "LPOP nope",
    "LPOP nope 2",
    "RPOP l 100",
    "EXISTS l",
    "RPUSH r a b a c a",
    "LREM r 2 a",
    "LRANGE r 0 -1",
    "RPUSH r a a",
    "LREM r -1 a",
    "LRANGE r 0 -1",
    "LREM r 0 a",
    "LREM r 0 zz",
    "LREM r x a",
    "LINSERT r BEFORE b x",
    "LINSERT r AFTER c y",
    "LINSERT r AFTER nothere y",
    "LINSERT nope AFTER c y",
    "LINSERT r MIDDLE c y",
    "LRANGE r 0 -1",
    "RPUSH t 1 2 3 4 5 6",
    "LTRIM t 1 -2",
    "LRANGE t 0 -1",
    "LTRIM t 5 1",
    "EXISTS t",
    "LTRIM nope 0 1",
    "RPUSH p a b c 1 2 3 c c",
    "LPOS p c",
    "LPOS p c RANK 2",
    "LPOS p c RANK -1",
    "LPOS p c COUNT 2",
    "LPOS p c COUNT 0",
    "LPOS p c COUNT 0 RANK -2",
    "LPOS p c MAXLEN 2",
    "LPOS p c COUNT 0 MAXLEN 3",
    "LPOS p c RANK -1 MAXLEN 1",
    "LPOS p zz",
    "LPOS p zz COUNT 1",
    "LPOS p c RANK 0",
    "LPOS p c COUNT -1",
    "LPOS p c MAXLEN -1",
    "LPOS p c FOO 1",
    "LPOS p c RANK",
    "LPOS nope c",
    "LPOS nope c COUNT 1",
    "RPUSH src 1 2 3",
    "LMOVE src dst RIGHT LEFT",
    "LMOVE src dst LEFT RIGHT",
    "LMOVE src dst UP LEFT",
    "LRANGE dst 0 -1",
    "RPOPLPUSH src dst",
    "RPOPLPUSH src dst",
    "EXISTS src",
    "RPUSH same 1 2 3",
    "LMOVE same same LEFT RIGHT",
    "LRANGE same 0 -1",
    "HSET h f v",
    "LMOVE same h LEFT LEFT",
    "LRANGE same 0 -1",
    "LMOVE h same LEFT LEFT",
    "LPUSH h x",
    "LPOP h",
    "LLEN h",
    "LMPOP 2 nope same LEFT",
    "LMPOP 2 nope same RIGHT COUNT 2",
    "LMPOP 2 nope same RIGHT COUNT 10",
    "LMPOP 1 nope LEFT",
    "LMPOP 0 a LEFT",
    "LMPOP 3 a LEFT",
    "LMPOP 1 a MIDDLE",
    "LMPOP 1 a LEFT COUNT 0",
    "LMPOP 1 a LEFT COUNT",
    "LMPOP 1 a LEFT FOO 1",
    "LMPOP 1 h LEFT",
    "BLPOP nope 0.01",
    "BLPOP nope -1",
    "BLPOP nope abc",
    "RPUSH b1 x",
    "BLPOP nope b1 0",
    "RPUSH b1 x y",
    "BRPOP b1 0",
    "BLMOVE b1 dst LEFT LEFT 0",
    "BRPOPLPUSH nope dst 0.01",
    "BLMPOP 0.01 1 nope LEFT",
    "RPUSH b2 1 2 3",
    "BLMPOP 0 2 nope b2 RIGHT COUNT 2",
    "BLPOP h 0",
    "MULTI",
    "BLPOP nope 0",
    "EXEC",
    "RPUSH enc a b c",
    "OBJECT ENCODING enc",
];

#[test]
fn lists_match_redis() {
    assert_same_as_redis(LISTS);
    let mut resp3 = vec!["!HELLO 3"];
    resp3.extend_from_slice(LISTS);
    assert_same_as_redis(&resp3);
}

fn pair(k: &str, v: &str) -> Value {
    Value::Array(vec![
        Value::BulkString(k.as_bytes().to_vec()),
        Value::BulkString(v.as_bytes().to_vec()),
    ])
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let s = TestServer::start(&[]);
    let first = blocked(&s, &["BLPOP", "q", "0"]);
    wait_blocked(&s, 1);
    let second = blocked(&s, &["BLPOP", "other", "q", "0"]);
    wait_blocked(&s, 2);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["RPUSH", "q", "one", "two"]), Value::Int(2));
    assert_eq!(first.join().unwrap().0, pair("q", "one"));
    assert_eq!(second.join().unwrap().0, pair("q", "two"));
    assert_eq!(q(&mut c, &["EXISTS", "q"]), Value::Int(0));
}

#[test]
fn blocking_timeouts_and_chained_moves() {
    let s = TestServer::start(&[]);
    let (v, took) = blocked(&s, &["BRPOP", "nothing", "0.3"]).join().unwrap();
    assert_eq!(v, Value::Nil);
    assert!(took >= Duration::from_millis(280), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // A BLMOVE feeding a list another client waits on: both are served by one push.
    let mover = blocked(&s, &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
    wait_blocked(&s, 1);
    let waiter = blocked(&s, &["BLPOP", "b", "0"]);
    wait_blocked(&s, 2);
    let mut c = s.conn();
    q(&mut c, &["LPUSH", "a", "x"]);
    assert_eq!(mover.join().unwrap().0, Value::BulkString(b"x".to_vec()));
    assert_eq!(waiter.join().unwrap().0, pair("b", "x"));
    // A push inside MULTI wakes a waiter after EXEC.
    let waiter = blocked(&s, &["BLMPOP", "0", "1", "m", "LEFT", "COUNT", "5"]);
    wait_blocked(&s, 1);
    q(&mut c, &["MULTI"]);
    q(&mut c, &["RPUSH", "m", "1", "2"]);
    q(&mut c, &["RPUSH", "m", "3"]);
    q(&mut c, &["EXEC"]);
    assert_eq!(
        waiter.join().unwrap().0,
        Value::Array(vec![
            Value::BulkString(b"m".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"1".to_vec()),
                Value::BulkString(b"2".to_vec()),
                Value::BulkString(b"3".to_vec()),
            ]),
        ])
    );
}

#[test]
fn served_blocking_pops_reach_a_replica_as_plain_pops() {
    let primary = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    replica.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    let mut p = primary.conn();
    q(&mut p, &["RPUSH", "warm", "x"]);
    let mut r = replica.conn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while q(&mut r, &["EXISTS", "warm"]) != Value::Int(1) {
        assert!(Instant::now() < deadline, "replica not syncing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let waiter = blocked(&primary, &["BRPOP", "jobs", "0"]);
    wait_blocked(&primary, 1);
    q(&mut p, &["RPUSH", "jobs", "a", "b", "c"]);
    assert_eq!(waiter.join().unwrap().0, pair("jobs", "c"));
    q(&mut p, &["BLMOVE", "jobs", "done", "LEFT", "LEFT", "0"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    assert_eq!(
        q(&mut r, &["LRANGE", "jobs", "0", "-1"]),
        Value::Array(vec![Value::BulkString(b"b".to_vec())])
    );
    assert_eq!(
        q(&mut r, &["LRANGE", "done", "0", "-1"]),
        Value::Array(vec![Value::BulkString(b"a".to_vec())])
    );
    // The redis crate and redis-cli see the same list.
    assert_eq!(primary.cli(&["LRANGE", "done", "0", "-1"]), "a");
}

/// Every blocking command parses its timeout the same way Redis 7.0 does: fractions round up
/// to whole milliseconds, infinities and too-large values are "negative", junk is "not a
/// float". Keys hold data so nothing actually blocks.
#[test]
fn blocking_timeout_parsing_matches_redis() {
    let mut script: Vec<String> = vec![
        "RPUSH l a b c d e f g h i j k l m n o p q r s t u v w x y z".into(),
        "ZADD z 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j 11 k 12 l 13 m".into(),
    ];
    for t in [
        "0.0001", "1e-9", "-1", "-0.5", "inf", "-inf", "+inf", "1e30", "abc", "nan", "",
    ] {
        script.push(format!("BLPOP l {t:?}"));
        script.push(format!("BRPOPLPUSH l l2 {t:?}"));
        script.push(format!("BLMPOP {t:?} 1 l LEFT"));
        script.push(format!("BZPOPMIN z {t:?}"));
        script.push(format!("BZMPOP {t:?} 1 z MAX"));
    }
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_same_as_redis(&lines);
}

/// A client blocked on several keys is served from the key that became ready, not from the
/// first key it named: here `b` is pushed before `a` inside one transaction.
#[test]
fn blocked_client_is_served_from_the_key_that_woke_it() {
    let scenario = |port: u16| -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        for (block, pushes) in [
            ("BLPOP a b 0", ["RPUSH b from-b", "RPUSH a from-a"]),
            (
                "BLMPOP 0 2 a b LEFT COUNT 5",
                ["RPUSH b b1 b2", "RPUSH a a1"],
            ),
            (
                "BZPOPMIN za zb 0",
                ["ZADD zb 1 from-zb", "ZADD za 1 from-za"],
            ),
        ] {
            let mut waiter = RawConn::connect(port);
            let mut c = RawConn::connect(port);
            c.call("FLUSHALL");
            waiter.send(block);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !String::from_utf8_lossy(&c.call("INFO clients")).contains("blocked_clients:1") {
                assert!(Instant::now() < deadline, "client never blocked");
                std::thread::sleep(Duration::from_millis(10));
            }
            c.call("MULTI");
            for p in pushes {
                c.call(p);
            }
            c.call("EXEC");
            replies.push(waiter.read_reply());
        }
        replies
    };
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let ours = scenario(rubra.port);
    let theirs = scenario(redis.port);
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(String::from_utf8_lossy(o), String::from_utf8_lossy(t));
    }
}

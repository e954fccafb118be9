//! Sorted-set commands against a real rubra-server, with the `redis` crate and redis-cli.
//! Expected replies were checked against redis-server 7.0.15 (same commands, diffed).

mod common;
mod reference;
use common::blocking::wait_blocked;
use common::*;
use redis::Value;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Ranges and stores (a group of tests).
#[path = "zsets/ranges_and_stores.rs"]
mod ranges_and_stores;
/// The scripts the differential tests replay.
#[path = "zsets/scripts.rs"]
mod scripts;
use scripts::{DIFF_SCRIPT, SHAPES_SCRIPT};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn strs(v: &Value) -> Vec<String> {
    let items = match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Nil => return Vec::new(),
        other => panic!("not an array: {other:?}"),
    };
    items
        .iter()
        .map(|i| match i {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Int(n) => n.to_string(),
            Value::Nil => "(nil)".to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Runs a command and flattens its (array) reply to strings.
fn qs(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    strs(&q(c, args))
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn raw3(s: &TestServer, cmds: &str) -> String {
    let out = s.raw(
        format!("HELLO 3\r\n{cmds}").as_bytes(),
        Duration::from_millis(300),
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn zadd_options_and_point_reads() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(
        q(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]),
        Value::Int(3)
    );
    assert_eq!(q(&mut c, &["ZADD", "z", "1", "a", "5", "d"]), Value::Int(1));
    assert_eq!(
        q(&mut c, &["ZADD", "z", "CH", "7", "c", "7", "c", "1", "a"]),
        Value::Int(1)
    );
    // NX never updates, XX never adds.
    assert_eq!(
        q(&mut c, &["ZADD", "z", "NX", "9", "a", "1", "e"]),
        Value::Int(1)
    );
    assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("1"));
    assert_eq!(
        q(&mut c, &["ZADD", "z", "XX", "CH", "2", "a", "1", "f"]),
        Value::Int(1)
    );
    assert_eq!(q(&mut c, &["ZSCORE", "z", "f"]), Value::Nil);
    // GT/LT only gate updates; new members are still added.
    assert_eq!(
        q(
            &mut c,
            &["ZADD", "z", "GT", "CH", "0", "a", "10", "b", "1", "g"]
        ),
        Value::Int(2)
    );
    assert_eq!(q(&mut c, &["ZSCORE", "z", "a"]), bulk("2"));
    assert_eq!(q(&mut c, &["ZSCORE", "z", "b"]), bulk("10"));
    assert_eq!(
        q(&mut c, &["ZADD", "z", "LT", "CH", "5", "a", "1", "b"]),
        Value::Int(1)
    );
    // INCR returns the new score, or nil when an option prevented it.
    assert_eq!(q(&mut c, &["ZADD", "z", "INCR", "2.5", "a"]), bulk("4.5"));
    assert_eq!(
        q(&mut c, &["ZADD", "z", "NX", "INCR", "1", "a"]),
        Value::Nil
    );
    assert_eq!(
        q(&mut c, &["ZADD", "z", "GT", "INCR", "-1", "a"]),
        Value::Nil
    );
    assert_eq!(
        q(&mut c, &["ZADD", "z", "LT", "INCR", "-1", "a"]),
        bulk("3.5")
    );
    assert_eq!(
        q(&mut c, &["ZADD", "nokey", "XX", "INCR", "1", "a"]),
        Value::Nil
    );
    assert_eq!(q(&mut c, &["ZADD", "nokey", "XX", "1", "a"]), Value::Int(0));
    assert_eq!(q(&mut c, &["EXISTS", "nokey"]), Value::Int(0));
    assert_eq!(q(&mut c, &["ZINCRBY", "z", "0.5", "a"]), bulk("4"));
    assert_eq!(q(&mut c, &["ZINCRBY", "z", "3", "new"]), bulk("3"));
    assert_eq!(q(&mut c, &["ZSCORE", "z", "nope"]), Value::Nil);
    assert_eq!(q(&mut c, &["ZSCORE", "nokey", "a"]), Value::Nil);
    assert_eq!(
        qs(&mut c, &["ZMSCORE", "z", "a", "nope", "new"]),
        vec!["4", "(nil)", "3"]
    );
    assert_eq!(qs(&mut c, &["ZMSCORE", "nokey", "a"]), vec!["(nil)"]);
    assert_eq!(q(&mut c, &["ZCARD", "z"]), Value::Int(7));
    assert_eq!(q(&mut c, &["ZCARD", "nokey"]), Value::Int(0));
    // Order: by score, then member bytes.
    assert_eq!(
        qs(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        vec!["b", "1", "e", "1", "g", "1", "new", "3", "a", "4", "d", "5", "c", "7"]
    );
    assert_eq!(q(&mut c, &["ZRANK", "z", "g"]), Value::Int(2));
    assert_eq!(q(&mut c, &["ZREVRANK", "z", "g"]), Value::Int(4));
    assert_eq!(q(&mut c, &["ZRANK", "z", "nope"]), Value::Nil);
    assert_eq!(q(&mut c, &["ZRANK", "nokey", "a"]), Value::Nil);
    assert_eq!(q(&mut c, &["ZREM", "z", "a", "nope", "b"]), Value::Int(2));
    assert_eq!(q(&mut c, &["ZREM", "nokey", "a"]), Value::Int(0));
    // Emptied sorted sets are deleted.
    assert_eq!(
        q(&mut c, &["ZREM", "z", "c", "d", "e", "g", "new"]),
        Value::Int(5)
    );
    assert_eq!(q(&mut c, &["EXISTS", "z"]), Value::Int(0));

    // Score text is %.17g, infinities allowed.
    q(
        &mut c,
        &[
            "ZADD", "f", "0.1", "a", "1e-5", "b", "-inf", "c", "+inf", "d",
        ],
    );
    assert_eq!(
        q(&mut c, &["ZSCORE", "f", "a"]),
        bulk("0.10000000000000001")
    );
    assert_eq!(
        q(&mut c, &["ZSCORE", "f", "b"]),
        bulk("1.0000000000000001e-05")
    );
    assert_eq!(q(&mut c, &["ZSCORE", "f", "c"]), bulk("-inf"));
    assert_eq!(q(&mut c, &["ZSCORE", "f", "d"]), bulk("inf"));
    assert_eq!(s.cli(&["zadd", "cli", "1.5", "x"]), "1");
    assert_eq!(s.cli(&["zrange", "cli", "0", "-1", "withscores"]), "x\n1.5");
}

#[test]
fn option_and_argument_errors() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["ZADD", "z", "1", "a", "2", "b"]);
    q(&mut c, &["ZADD", "inf", "+inf", "x"]);
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "1"]),
        "ERR wrong number of arguments for 'zadd' command"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "XX", "CH"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "1", "a", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    for opts in [["GT", "LT"], ["GT", "NX"], ["NX", "LT"]] {
        assert_eq!(
            q_err(&mut c, &["ZADD", "z", opts[0], opts[1], "1", "a"]),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
    }
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "foo", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(&mut c, &["ZINCRBY", "z", "x", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(&mut c, &["ZINCRBY", "inf", "-inf", "x"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        q_err(&mut c, &["ZADD", "inf", "INCR", "-inf", "x"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(q(&mut c, &["ZSCORE", "inf", "x"]), bulk("inf"));
    assert_eq!(
        q_err(&mut c, &["ZRANGEBYSCORE", "z", "(1", "(a"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        q_err(&mut c, &["ZCOUNT", "z", "a", "1"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        q_err(&mut c, &["ZREMRANGEBYSCORE", "z", "nan", "1"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        q_err(&mut c, &["ZLEXCOUNT", "z", "a", "b"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANGEBYLEX", "z", "-", "b"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        q_err(&mut c, &["ZREMRANGEBYLEX", "z", "[a", "x"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANGE", "z", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["ZREMRANGEBYRANK", "z", "0", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    for bad in [
        &["ZRANGE", "z", "0", "-1", "BYSCORE", "BYSCORE"][..],
        &["ZRANGE", "z", "0", "-1", "REV", "REV"],
        &["ZRANGE", "z", "0", "-1", "foo"],
        &["ZREVRANGE", "z", "0", "-1", "REV"],
        &["ZRANGEBYSCORE", "z", "0", "1", "BYLEX"],
        &["ZRANGEBYLEX", "z", "-", "+", "LIMIT", "0"],
        &["ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"],
    ] {
        assert_eq!(q_err(&mut c, bad), "ERR syntax error", "{bad:?}");
    }
    assert_eq!(
        q_err(
            &mut c,
            &["ZRANGE", "z", "0", "1", "BYSCORE", "LIMIT", "a", "1"]
        ),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANDMEMBER", "z", "1", "foo"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZRANDMEMBER", "z", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        q_err(
            &mut c,
            &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]
        ),
        "ERR value is out of range"
    );
    assert_eq!(q_err(&mut c, &["ZSCAN", "z", "a"]), "ERR invalid cursor");
    assert_eq!(
        q_err(&mut c, &["ZSCAN", "z", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    // A missing key answers an empty scan before the options are looked at.
    assert_eq!(
        q(&mut c, &["ZSCAN", "nokey", "0", "COUNT", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
}

#[test]
fn wrong_type_for_every_command() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["HSET", "h", "f", "v"]);
    q(&mut c, &["ZADD", "z", "1", "a"]);
    let cmds: &[&[&str]] = &[
        &["ZADD", "h", "1", "a"],
        &["ZINCRBY", "h", "1", "a"],
        &["ZREM", "h", "a"],
        &["ZCARD", "h"],
        &["ZSCORE", "h", "a"],
        &["ZMSCORE", "h", "a"],
        &["ZRANK", "h", "a"],
        &["ZREVRANK", "h", "a"],
        &["ZCOUNT", "h", "0", "1"],
        &["ZLEXCOUNT", "h", "-", "+"],
        &["ZRANGE", "h", "0", "-1"],
        &["ZRANGESTORE", "d", "h", "0", "-1"],
        &["ZREVRANGE", "h", "0", "-1"],
        &["ZRANGEBYSCORE", "h", "0", "1"],
        &["ZREVRANGEBYSCORE", "h", "1", "0"],
        &["ZRANGEBYLEX", "h", "-", "+"],
        &["ZREVRANGEBYLEX", "h", "+", "-"],
        &["ZREMRANGEBYRANK", "h", "0", "1"],
        &["ZREMRANGEBYSCORE", "h", "0", "1"],
        &["ZREMRANGEBYLEX", "h", "-", "+"],
        &["ZUNION", "2", "z", "h"],
        &["ZINTER", "2", "nokey", "h"],
        &["ZDIFF", "2", "z", "h"],
        &["ZUNIONSTORE", "d", "2", "z", "h"],
        &["ZINTERSTORE", "d", "1", "h"],
        &["ZDIFFSTORE", "d", "1", "h"],
        &["ZINTERCARD", "2", "z", "h"],
        &["ZPOPMIN", "h"],
        &["ZPOPMAX", "h", "2"],
        &["ZMPOP", "2", "nokey", "h", "MIN"],
        &["BZPOPMIN", "nokey", "h", "0"],
        &["BZPOPMAX", "h", "0"],
        &["BZMPOP", "0", "1", "h", "MAX"],
        &["ZRANDMEMBER", "h"],
        &["ZRANDMEMBER", "h", "2"],
        &["ZSCAN", "h", "0"],
    ];
    for cmd in cmds {
        assert_eq!(q_err(&mut c, cmd), WRONGTYPE, "{cmd:?}");
    }
    // The hash is untouched and no destination was written.
    assert_eq!(q(&mut c, &["HGET", "h", "f"]), bulk("v"));
    assert_eq!(q(&mut c, &["EXISTS", "d"]), Value::Int(0));
}

#[test]
fn pops_and_mpop() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(
        &mut c,
        &[
            "ZADD", "p", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    assert_eq!(qs(&mut c, &["ZPOPMIN", "p"]), vec!["a", "1"]);
    assert_eq!(qs(&mut c, &["ZPOPMAX", "p", "2"]), vec!["e", "5", "d", "4"]);
    assert_eq!(qs(&mut c, &["ZPOPMIN", "p", "0"]), Vec::<String>::new());
    assert_eq!(qs(&mut c, &["ZPOPMIN", "nokey"]), Vec::<String>::new());
    assert_eq!(qs(&mut c, &["ZPOPMIN", "nokey", "3"]), Vec::<String>::new());
    for bad in ["-1", "a"] {
        assert_eq!(
            q_err(&mut c, &["ZPOPMIN", "p", bad]),
            "ERR value is out of range, must be positive"
        );
    }
    assert_eq!(
        q_err(&mut c, &["ZPOPMIN", "p", "1", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        qs(&mut c, &["ZPOPMAX", "p", "10"]),
        vec!["c", "3", "b", "2"]
    );
    assert_eq!(q(&mut c, &["EXISTS", "p"]), Value::Int(0));

    q(&mut c, &["ZADD", "p", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        q(&mut c, &["ZMPOP", "2", "nokey", "p", "MAX", "COUNT", "2"]),
        Value::Array(vec![
            bulk("p"),
            Value::Array(vec![
                Value::Array(vec![bulk("c"), bulk("3")]),
                Value::Array(vec![bulk("b"), bulk("2")]),
            ]),
        ])
    );
    assert_eq!(
        q(&mut c, &["ZMPOP", "1", "p", "MIN"]),
        Value::Array(vec![
            bulk("p"),
            Value::Array(vec![Value::Array(vec![bulk("a"), bulk("1")])]),
        ])
    );
    assert_eq!(q(&mut c, &["ZMPOP", "1", "p", "MIN"]), Value::Nil);
    q(&mut c, &["ZADD", "p", "1", "a"]);
    for (args, e) in [
        (
            &["ZMPOP", "0", "p", "MIN"][..],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "a", "p", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["ZMPOP", "1", "p", "foo"], "ERR syntax error"),
        (&["ZMPOP", "2", "p", "MIN"], "ERR syntax error"),
        (&["ZMPOP", "1", "p", "MIN", "COUNT"], "ERR syntax error"),
        (
            &["ZMPOP", "1", "p", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "p", "MIN", "COUNT", "1", "COUNT", "1"],
            "ERR syntax error",
        ),
        (
            &["BZMPOP", "a", "1", "p", "MIN"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BZMPOP", "-1", "1", "p", "MIN"],
            "ERR timeout is negative",
        ),
        (
            &["BZMPOP", "0", "0", "p", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["BZPOPMIN", "p", "-1"], "ERR timeout is negative"),
        (
            &["BZPOPMIN", "p", "a"],
            "ERR timeout is not a float or out of range",
        ),
    ] {
        assert_eq!(q_err(&mut c, args), e, "{args:?}");
    }
    // Non-blocking paths of the blocking forms.
    assert_eq!(
        qs(&mut c, &["BZPOPMIN", "nokey", "p", "0"]),
        vec!["p", "a", "1"]
    );
    q(&mut c, &["ZADD", "p", "1", "a", "2", "b"]);
    assert_eq!(
        q(&mut c, &["BZMPOP", "0", "1", "p", "MIN", "COUNT", "5"]),
        Value::Array(vec![
            bulk("p"),
            Value::Array(vec![
                Value::Array(vec![bulk("a"), bulk("1")]),
                Value::Array(vec![bulk("b"), bulk("2")]),
            ]),
        ])
    );
    assert_eq!(q(&mut c, &["EXISTS", "p"]), Value::Int(0));
    // Timeouts answer a null array.
    let t = Instant::now();
    assert_eq!(q(&mut c, &["BZPOPMIN", "nokey", "0.1"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["BZMPOP", "0.1", "1", "nokey", "MIN"]),
        Value::Nil
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(s.cli(&["bzpopmax", "nokey", "0.05"]), "");
}

#[test]
fn blocking_pops_wake_in_arrival_order() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let spawn_waiter = |args: Vec<&'static str>| {
        let mut wc = s.conn();
        std::thread::spawn(move || q(&mut wc, &args))
    };
    // Each waiter is blocked before the next one comes (the order is the point).
    let first = spawn_waiter(vec!["BZPOPMIN", "k", "other", "5"]);
    wait_blocked(&s, 1);
    let second = spawn_waiter(vec!["BZPOPMAX", "k", "5"]);
    wait_blocked(&s, 2);
    let third = spawn_waiter(vec!["BZMPOP", "5", "1", "k", "MIN", "COUNT", "2"]);
    wait_blocked(&s, 3);
    // One ZADD feeds all three, first come first served.
    assert_eq!(
        q(
            &mut c,
            &["ZADD", "k", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]
        ),
        Value::Int(5)
    );
    assert_eq!(strs(&first.join().unwrap()), vec!["k", "a", "1"]);
    assert_eq!(strs(&second.join().unwrap()), vec!["k", "e", "5"]);
    assert_eq!(
        third.join().unwrap(),
        Value::Array(vec![
            bulk("k"),
            Value::Array(vec![
                Value::Array(vec![bulk("b"), bulk("2")]),
                Value::Array(vec![bulk("c"), bulk("3")]),
            ]),
        ])
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "k", "0", "-1"]), vec!["d"]);

    // A waiter on a key that a ZUNIONSTORE fills is woken too.
    let w = spawn_waiter(vec!["BZPOPMAX", "dst", "5"]);
    wait_blocked(&s, 1);
    assert_eq!(q(&mut c, &["ZUNIONSTORE", "dst", "1", "k"]), Value::Int(1));
    assert_eq!(strs(&w.join().unwrap()), vec!["dst", "d", "4"]);

    // A key reused for another type does not fail a blocked client (Redis 7.0): it keeps
    // waiting and is served once the key holds a sorted set again.
    let w = spawn_waiter(vec!["BZPOPMIN", "re", "5"]);
    wait_blocked(&s, 1);
    q(&mut c, &["HSET", "re", "f", "v"]);
    std::thread::sleep(Duration::from_millis(100));
    q(&mut c, &["DEL", "re"]);
    q(&mut c, &["ZADD", "re", "7", "m"]);
    assert_eq!(strs(&w.join().unwrap()), vec!["re", "m", "7"]);

    // Inside MULTI a blocking pop does not block: it answers nil at once.
    assert_eq!(q(&mut c, &["MULTI"]), Value::Okay);
    q(&mut c, &["BZPOPMIN", "nokey", "0"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Array(vec![Value::Nil]));
}

#[test]
fn blocking_pops_propagate_as_zpop() {
    let s = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    let mut wc = s.conn();
    let waiter = std::thread::spawn(move || q(&mut wc, &["BZPOPMIN", "k", "5"]));
    wait_blocked(&s, 1);
    q(&mut c, &["ZADD", "k", "1", "a", "2", "b"]);
    assert_eq!(strs(&waiter.join().unwrap()), vec!["k", "a", "1"]);
    assert_eq!(
        q(&mut c, &["BZMPOP", "0", "1", "k", "MAX", "COUNT", "3"]),
        Value::Array(vec![
            bulk("k"),
            Value::Array(vec![Value::Array(vec![bulk("b"), bulk("2")])]),
        ])
    );
    q(&mut c, &["ZADD", "k", "1", "x"]);
    std::thread::sleep(Duration::from_millis(100));
    let aof = aof_incr_bytes(&s.dir);
    let text = String::from_utf8_lossy(&aof);
    assert!(
        !text.contains("BZPOPMIN") && !text.contains("BZMPOP"),
        "{text}"
    );
    // Served after blocking, BZPOPMIN goes out as `ZPOPMIN k` (no count), as from Redis.
    assert!(
        text.contains("*2\r\n$7\r\nZPOPMIN\r\n$1\r\nk\r\n"),
        "{text}"
    );
    assert!(
        text.contains("$7\r\nZPOPMAX\r\n$1\r\nk\r\n$1\r\n1\r\n"),
        "{text}"
    ); // Replaying the AOF rebuilds the same state.
    drop(c);
    let mut s = s;
    assert!(s.restart(None));
    let mut c = s.conn();
    assert_eq!(
        qs(&mut c, &["ZRANGE", "k", "0", "-1", "WITHSCORES"]),
        vec!["x", "1"]
    );
}

#[test]
fn zrandmember_counts() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["ZADD", "r", "1", "a", "2", "b", "3", "c"]);
    let one = q(&mut c, &["ZRANDMEMBER", "r"]);
    assert!(["a", "b", "c"].iter().any(|m| one == bulk(m)), "{one:?}");
    assert_eq!(q(&mut c, &["ZRANDMEMBER", "nokey"]), Value::Nil);
    assert_eq!(
        qs(&mut c, &["ZRANDMEMBER", "nokey", "3"]),
        Vec::<String>::new()
    );
    assert_eq!(qs(&mut c, &["ZRANDMEMBER", "r", "0"]), Vec::<String>::new());
    let mut distinct = qs(&mut c, &["ZRANDMEMBER", "r", "10"]);
    distinct.sort();
    assert_eq!(distinct, vec!["a", "b", "c"]);
    assert_eq!(qs(&mut c, &["ZRANDMEMBER", "r", "2"]).len(), 2);
    let repeats = qs(&mut c, &["ZRANDMEMBER", "r", "-20"]);
    assert_eq!(repeats.len(), 20);
    assert!(repeats
        .iter()
        .all(|m| ["a", "b", "c"].contains(&m.as_str())));
    let ws = qs(&mut c, &["ZRANDMEMBER", "r", "-4", "WITHSCORES"]);
    assert_eq!(ws.len(), 8);
    for pair in ws.chunks(2) {
        let want = match pair[0].as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(pair[1], want);
    }
    assert_eq!(
        q_err(&mut c, &["ZRANDMEMBER", "r", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn zscan_small_and_large() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    // Small (listpack-sized) sets come back whole, in order, with listpack score text.
    q(
        &mut c,
        &[
            "ZADD",
            "n",
            "-0",
            "a",
            "1e-5",
            "b",
            "123456789012345678",
            "c",
            "0.1",
            "d",
        ],
    );
    assert_eq!(qs(&mut c, &["ZSCAN", "n", "0"])[0], "0".to_string());
    let v = q(&mut c, &["ZSCAN", "n", "0", "MATCH", "[ac]"]);
    let Value::Array(parts) = v else {
        panic!("{v:?}")
    };
    assert_eq!(parts[0], bulk("0"));
    assert_eq!(strs(&parts[1]), vec!["a", "0", "c", "123456789012345680"]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("listpack"));

    // A large set walks with a cursor and returns every member present throughout, even
    // while members are removed during the scan.
    let mut args = vec!["ZADD".to_string(), "big".to_string()];
    for i in 0..300 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    q(&mut c, &refs);
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let v = q(&mut c, &["ZSCAN", "big", &cursor, "COUNT", "20"]);
        let Value::Array(parts) = v else {
            panic!("{v:?}")
        };
        let items = strs(&parts[1]);
        for pair in items.chunks(2) {
            assert_eq!(pair[0], format!("m{}", pair[1]));
            seen.insert(pair[0].clone());
        }
        // Remove members with even scores as we go (never the ones checked below).
        if rounds == 2 {
            for i in (0..300).step_by(50) {
                q(&mut c, &["ZREM", "big", &format!("m{i}")]);
            }
        }
        rounds += 1;
        cursor = strs(&Value::Array(vec![parts[0].clone()]))[0].clone();
        if cursor == "0" {
            break;
        }
        assert!(rounds < 100);
    }
    for i in (0..300).filter(|i| i % 50 != 0) {
        assert!(seen.contains(&format!("m{i}")), "missing m{i}");
    }
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
}

#[test]
fn resp3_shapes() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["ZADD", "z", "1", "a", "2.5", "b"]);
    let text = raw3(
        &s,
        "ZSCORE z b\r\nZMSCORE z a nope\r\nZRANGE z 0 -1 WITHSCORES\r\nZINCRBY z 1 a\r\n\
         ZADD z NX INCR 1 a\r\nZSCAN z 0\r\nZPOPMIN z\r\nZPOPMAX nokey 1\r\nZADD z 1 a\r\n\
         ZPOPMIN z 1\r\nZADD z 1 a\r\nZMPOP 1 z MIN\r\nBZPOPMIN nokey 0.01\r\n",
    );
    let want = concat!(
        ",2.5\r\n",
        "*2\r\n,1\r\n_\r\n",
        "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        ",2\r\n",
        "_\r\n",
        "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
        "*2\r\n$1\r\na\r\n,2\r\n",
        "*0\r\n",
        ":1\r\n",
        "*1\r\n*2\r\n$1\r\na\r\n,1\r\n",
        ":1\r\n",
        "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n",
        "_\r\n",
    );
    assert!(text.ends_with(want), "{text}");
    // RESP2: scores are bulk strings, ZPOPMIN with a count stays flat.
    q(&mut c, &["ZADD", "y", "1", "a"]);
    let out = s.raw(b"ZPOPMIN y 1\r\nZPOPMIN y\r\n", Duration::from_millis(300));
    assert_eq!(out, b"*2\r\n$1\r\na\r\n$1\r\n1\r\n*0\r\n");
}

#[test]
fn same_replies_as_redis_resp2() {
    reference::assert_same_as_redis(DIFF_SCRIPT);
    reference::assert_same_as_redis(SHAPES_SCRIPT);
}

#[test]
fn same_replies_as_redis_resp3() {
    let mut script = vec!["!HELLO 3"];
    script.extend_from_slice(DIFF_SCRIPT);
    reference::assert_same_as_redis(&script);
    let mut script = vec!["!HELLO 3"];
    script.extend_from_slice(SHAPES_SCRIPT);
    reference::assert_same_as_redis(&script);
}

#[test]
fn sorted_sets_survive_save_and_restart() {
    let mut s = TestServer::start(&[]);
    let mut c = s.conn();
    q(
        &mut c,
        &["ZADD", "small", "1.5", "a", "-inf", "b", "0.1", "c"],
    );
    let mut args = vec!["ZADD".to_string(), "big".to_string()];
    for i in 0..200 {
        args.push(format!("{}", i as f64 / 3.0));
        args.push(format!("member-{i}"));
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    q(&mut c, &refs);
    let before_small = qs(&mut c, &["ZRANGE", "small", "0", "-1", "WITHSCORES"]);
    let before_big = qs(&mut c, &["ZRANGE", "big", "0", "-1", "WITHSCORES"]);
    assert_eq!(q(&mut c, &["SAVE"]), Value::Okay);
    assert!(s.restart(None));
    let mut c = s.conn();
    assert_eq!(
        qs(&mut c, &["ZRANGE", "small", "0", "-1", "WITHSCORES"]),
        before_small
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "big", "0", "-1", "WITHSCORES"]),
        before_big
    );
    assert_eq!(q(&mut c, &["ZRANK", "big", "member-150"]), Value::Int(150));
}

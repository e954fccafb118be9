//! Set commands against a real rubra-server, with the `redis` crate and redis-cli.
//! Expected replies were checked against redis-server 7.0.

mod common;
use common::*;
use redis::Value;
use std::collections::HashSet;
use std::time::Duration;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn strs(v: &Value) -> Vec<String> {
    let items = match v {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("not an array: {other:?}"),
    };
    items
        .iter()
        .map(|i| match i {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect()
}

fn sorted(v: &Value) -> Vec<String> {
    let mut v = strs(v);
    v.sort();
    v
}

fn sadd(c: &mut redis::Connection, key: &str, members: &[&str]) {
    let mut args = vec!["SADD", key];
    args.extend_from_slice(members);
    q(c, &args);
}

#[test]
fn sadd_srem_and_membership() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["SADD", "s", "a", "b", "c"]), Value::Int(3));
    assert_eq!(q(&mut c, &["SADD", "s", "a", "d", "d"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SREM", "s", "a", "zz"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SREM", "nokey", "a"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SCARD", "s"]), Value::Int(3));
    assert_eq!(q(&mut c, &["SCARD", "nokey"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SISMEMBER", "s", "b"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SISMEMBER", "s", "zz"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SISMEMBER", "nokey", "b"]), Value::Int(0));
    assert_eq!(
        q(&mut c, &["SMISMEMBER", "s", "b", "zz", "d"]),
        Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(1)])
    );
    assert_eq!(
        q(&mut c, &["SMISMEMBER", "nokey", "b"]),
        Value::Array(vec![Value::Int(0)])
    );
    assert_eq!(sorted(&q(&mut c, &["SMEMBERS", "s"])), vec!["b", "c", "d"]);
    assert!(strs(&q(&mut c, &["SMEMBERS", "nokey"])).is_empty());
    assert_eq!(
        q_err(&mut c, &["SADD", "s"]),
        "ERR wrong number of arguments for 'sadd' command"
    );
    assert_eq!(
        q_err(&mut c, &["SMISMEMBER", "s"]),
        "ERR wrong number of arguments for 'smismember' command"
    );
    // Emptied sets are deleted: the key can then hold a hash.
    assert_eq!(q(&mut c, &["SREM", "s", "b", "c", "d"]), Value::Int(3));
    assert_eq!(q(&mut c, &["HSET", "s", "f", "v"]), Value::Int(1));

    assert_eq!(s.cli(&["sadd", "cli", "x", "y"]), "2");
    assert_eq!(s.cli(&["scard", "cli"]), "2");
    assert_eq!(s.cli(&["sismember", "cli", "x"]), "1");
    assert_eq!(s.cli(&["smismember", "cli", "x", "q"]), "1\n0");
    assert_eq!(s.cli(&["srem", "cli", "x"]), "1");
    assert_eq!(s.cli(&["smembers", "cli"]), "y");
}

#[test]
fn wrong_type_for_every_set_command() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["HSET", "h", "f", "v"]);
    sadd(&mut c, "s", &["a"]);
    let cmds: &[&[&str]] = &[
        &["SADD", "h", "a"],
        &["SREM", "h", "a"],
        &["SCARD", "h"],
        &["SISMEMBER", "h", "a"],
        &["SMISMEMBER", "h", "a"],
        &["SMEMBERS", "h"],
        &["SRANDMEMBER", "h"],
        &["SRANDMEMBER", "h", "2"],
        &["SPOP", "h"],
        &["SPOP", "h", "2"],
        &["SMOVE", "h", "s", "a"],
        &["SMOVE", "s", "h", "a"],
        &["SINTER", "s", "h"],
        &["SINTER", "nokey", "h"],
        &["SINTERSTORE", "d", "s", "h"],
        &["SINTERCARD", "2", "s", "h"],
        &["SUNION", "s", "h"],
        &["SUNIONSTORE", "d", "h"],
        &["SDIFF", "s", "h"],
        &["SDIFF", "nokey", "h"],
        &["SDIFFSTORE", "d", "s", "h"],
        &["SSCAN", "h", "0"],
    ];
    for cmd in cmds {
        assert_eq!(q_err(&mut c, cmd), WRONGTYPE, "{cmd:?}");
    }
    // Nothing moved, nothing stored.
    assert_eq!(q(&mut c, &["SCARD", "s"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SCARD", "d"]), Value::Int(0));
    assert_eq!(s.cli(&["smembers", "h"]), WRONGTYPE);
    assert_eq!(s.cli(&["sunion", "s", "h"]), WRONGTYPE);
}

#[test]
fn srandmember_and_spop_counts() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["SRANDMEMBER", "nokey"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["SRANDMEMBER", "nokey", "3"]),
        Value::Array(vec![])
    );
    sadd(&mut c, "s", &["a", "b", "c"]);
    let one = q(&mut c, &["SRANDMEMBER", "s"]);
    assert!([bulk("a"), bulk("b"), bulk("c")].contains(&one));
    assert_eq!(q(&mut c, &["SRANDMEMBER", "s", "0"]), Value::Array(vec![]));
    assert_eq!(
        sorted(&q(&mut c, &["SRANDMEMBER", "s", "10"])),
        vec!["a", "b", "c"]
    );
    let two = strs(&q(&mut c, &["SRANDMEMBER", "s", "2"]));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let many = strs(&q(&mut c, &["SRANDMEMBER", "s", "-25"]));
    assert_eq!(many.len(), 25);
    assert!(many.iter().all(|m| ["a", "b", "c"].contains(&m.as_str())));
    assert_eq!(
        q_err(&mut c, &["SRANDMEMBER", "s", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["SRANDMEMBER", "s", "1", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["SRANDMEMBER", "s", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(q(&mut c, &["SCARD", "s"]), Value::Int(3));

    assert_eq!(q(&mut c, &["SPOP", "nokey"]), Value::Nil);
    assert!(strs(&q(&mut c, &["SPOP", "nokey", "3"])).is_empty());
    assert!(strs(&q(&mut c, &["SPOP", "s", "0"])).is_empty());
    for bad in ["-1", "x"] {
        assert_eq!(
            q_err(&mut c, &["SPOP", "s", bad]),
            "ERR value is out of range, must be positive"
        );
    }
    assert_eq!(q_err(&mut c, &["SPOP", "s", "1", "2"]), "ERR syntax error");
    let popped = q(&mut c, &["SPOP", "s"]);
    let Value::BulkString(p) = popped else {
        panic!("{popped:?}")
    };
    let p = String::from_utf8_lossy(&p).into_owned();
    assert_eq!(q(&mut c, &["SISMEMBER", "s", &p]), Value::Int(0));
    assert_eq!(strs(&q(&mut c, &["SPOP", "s", "1"])).len(), 1);
    assert_eq!(strs(&q(&mut c, &["SPOP", "s", "100"])).len(), 1);
    // Popping the last member deletes the key.
    assert_eq!(q(&mut c, &["HSET", "s", "f", "v"]), Value::Int(1));

    sadd(&mut c, "big", &["1", "2", "3", "4", "5", "6", "7", "8"]);
    let got: HashSet<String> = strs(&q(&mut c, &["SPOP", "big", "5"]))
        .into_iter()
        .collect();
    assert_eq!(got.len(), 5);
    assert_eq!(q(&mut c, &["SCARD", "big"]), Value::Int(3));

    sadd(&mut c, "cli", &["x"]);
    assert_eq!(s.cli(&["srandmember", "cli", "-3"]), "x\nx\nx");
    assert_eq!(
        s.cli(&["spop", "cli", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(s.cli(&["spop", "cli"]), "x");
    assert_eq!(s.cli(&["spop", "cli"]), "");

    // RESP3 shapes, as redis-server 7.0: SRANDMEMBER with a count is an array, SPOP with a
    // count and SMEMBERS are sets.
    sadd(&mut c, "r", &["m"]);
    let out = s.raw(
        b"HELLO 3\r\nSRANDMEMBER r 1\r\nSMEMBERS r\r\nSPOP nokey 2\r\nSPOP r 1\r\n",
        Duration::from_millis(300),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with("*1\r\n$1\r\nm\r\n~1\r\n$1\r\nm\r\n~0\r\n~1\r\n$1\r\nm\r\n"),
        "{text}"
    );
}

#[test]
fn smove_cases() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    sadd(&mut c, "a", &["x", "y"]);
    assert_eq!(q(&mut c, &["SMOVE", "a", "b", "x"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SMOVE", "a", "b", "zz"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SMOVE", "nokey", "b", "x"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SMOVE", "a", "a", "y"]), Value::Int(1));
    assert_eq!(q(&mut c, &["SMOVE", "a", "a", "zz"]), Value::Int(0));
    assert_eq!(sorted(&q(&mut c, &["SMEMBERS", "b"])), vec!["x"]);
    assert_eq!(q(&mut c, &["SMOVE", "a", "b", "y"]), Value::Int(1));
    // Source emptied and deleted.
    assert_eq!(q(&mut c, &["HSET", "a", "f", "v"]), Value::Int(1));
    assert_eq!(sorted(&q(&mut c, &["SMEMBERS", "b"])), vec!["x", "y"]);
    assert_eq!(q(&mut c, &["SMOVE", "nokey", "a", "x"]), Value::Int(0));
    assert_eq!(q_err(&mut c, &["SMOVE", "a", "b", "x"]), WRONGTYPE);
    assert_eq!(s.cli(&["smove", "b", "c", "x"]), "1");
    assert_eq!(s.cli(&["smove", "b", "a", "y"]), WRONGTYPE);
    assert_eq!(
        s.cli(&["smove", "b", "c"]),
        "ERR wrong number of arguments for 'smove' command"
    );
}

#[test]
fn set_algebra_and_store() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    sadd(&mut c, "s1", &["a", "b", "c", "d"]);
    sadd(&mut c, "s2", &["c", "d", "e"]);
    sadd(&mut c, "s3", &["d", "e", "f"]);
    assert_eq!(sorted(&q(&mut c, &["SINTER", "s1", "s2"])), vec!["c", "d"]);
    assert_eq!(sorted(&q(&mut c, &["SINTER", "s1", "s2", "s3"])), vec!["d"]);
    assert!(strs(&q(&mut c, &["SINTER", "s1", "nokey"])).is_empty());
    assert_eq!(
        sorted(&q(&mut c, &["SUNION", "s1", "s3", "nokey"])),
        vec!["a", "b", "c", "d", "e", "f"]
    );
    assert_eq!(sorted(&q(&mut c, &["SDIFF", "s1", "s2"])), vec!["a", "b"]);
    assert_eq!(
        sorted(&q(&mut c, &["SDIFF", "s1", "nokey"])),
        vec!["a", "b", "c", "d"]
    );
    assert!(strs(&q(&mut c, &["SDIFF", "nokey", "s1"])).is_empty());

    assert_eq!(q(&mut c, &["SINTERSTORE", "d", "s1", "s2"]), Value::Int(2));
    assert_eq!(sorted(&q(&mut c, &["SMEMBERS", "d"])), vec!["c", "d"]);
    assert_eq!(q(&mut c, &["SUNIONSTORE", "d", "s2", "s3"]), Value::Int(4));
    assert_eq!(q(&mut c, &["SDIFFSTORE", "d", "d", "s3"]), Value::Int(1));
    assert_eq!(sorted(&q(&mut c, &["SMEMBERS", "d"])), vec!["c"]);
    // An empty result deletes the destination, whatever its type was.
    assert_eq!(
        q(&mut c, &["SINTERSTORE", "d", "s1", "nokey"]),
        Value::Int(0)
    );
    assert_eq!(q(&mut c, &["SCARD", "d"]), Value::Int(0));
    q(&mut c, &["HSET", "hd", "f", "v"]);
    assert_eq!(q(&mut c, &["SUNIONSTORE", "hd", "s1"]), Value::Int(4));
    assert_eq!(q(&mut c, &["SCARD", "hd"]), Value::Int(4));
    assert_eq!(
        q_err(&mut c, &["SINTERSTORE", "d"]),
        "ERR wrong number of arguments for 'sinterstore' command"
    );

    assert_eq!(q(&mut c, &["SINTERCARD", "2", "s1", "s2"]), Value::Int(2));
    assert_eq!(
        q(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "1"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "0"]),
        Value::Int(2)
    );
    assert_eq!(q(&mut c, &["SINTERCARD", "1", "nokey"]), Value::Int(0));
    for bad in ["0", "x", "-1"] {
        assert_eq!(
            q_err(&mut c, &["SINTERCARD", bad, "s1"]),
            "ERR numkeys should be greater than 0"
        );
    }
    assert_eq!(
        q_err(&mut c, &["SINTERCARD", "3", "s1", "s2"]),
        "ERR Number of keys can't be greater than number of args"
    );
    for bad in ["-1", "x"] {
        assert_eq!(
            q_err(&mut c, &["SINTERCARD", "1", "s1", "LIMIT", bad]),
            "ERR LIMIT can't be negative"
        );
    }
    assert_eq!(
        q_err(&mut c, &["SINTERCARD", "1", "s1", "foo"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["SINTERCARD", "1", "s1", "LIMIT"]),
        "ERR syntax error"
    );

    assert_eq!(s.cli(&["sintercard", "2", "s1", "s3"]), "1");
    assert_eq!(s.cli(&["sinter", "s1", "s3"]), "d");
    assert_eq!(s.cli(&["sdiffstore", "cd", "s3", "s1"]), "2");
    assert_eq!(
        s.cli(&["sintercard", "0", "s1"]),
        "ERR numkeys should be greater than 0"
    );
    // RESP3: the algebra replies are sets.
    let out = s.raw(b"HELLO 3\r\nSINTER s1 s3\r\n", Duration::from_millis(300));
    assert!(
        String::from_utf8_lossy(&out).ends_with("~1\r\n$1\r\nd\r\n"),
        "{out:?}"
    );
}

/// Runs a full SSCAN and returns the members seen, calling `between` after each step.
fn sscan_all(
    c: &mut redis::Connection,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut redis::Connection),
) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut steps = 0;
    loop {
        let mut args = vec!["SSCAN", key, cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = q(c, &args);
        let Value::Array(parts) = reply else {
            panic!("bad SSCAN reply {reply:?}");
        };
        let next = match &parts[0] {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("bad cursor {other:?}"),
        };
        seen.extend(strs(&parts[1]));
        steps += 1;
        assert!(steps < 10_000, "SSCAN never finished");
        if next == "0" {
            return seen;
        }
        cursor = next;
        between(c);
    }
}

#[test]
fn sscan_returns_every_member_even_with_deletions() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let n = 600;
    let mut cmd = redis::cmd("SADD");
    cmd.arg("s");
    for i in 0..n {
        cmd.arg(format!("m{i}"));
    }
    let _: i64 = cmd.query(&mut c).expect("SADD");
    let all = sscan_all(&mut c, "s", &["COUNT", "9"], |_| {});
    assert_eq!(all.len(), n);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), n);

    // Odd members are removed (SREM and SPOP-free) between calls; even ones, present
    // throughout, must all be returned.
    let mut next_odd = 1;
    let mut calls = 0;
    let seen: HashSet<String> = sscan_all(&mut c, "s", &["COUNT", "10"], |c| {
        calls += 1;
        for _ in 0..6 {
            if next_odd < n {
                let m = if next_odd % 4 == 1 {
                    format!("m{next_odd}")
                } else {
                    format!("m{}", n - next_odd)
                };
                q(c, &["SREM", "s", &m]);
                next_odd += 2;
            }
        }
    })
    .into_iter()
    .collect();
    // COUNT 10 over 300..600 elements: the cursor really was resumed many times.
    assert!(calls >= 30, "only {calls} resumed calls");
    for i in (0..n).step_by(2) {
        assert!(seen.contains(&format!("m{i}")), "m{i} was never returned");
    }

    let matched = sscan_all(&mut c, "s", &["MATCH", "m2?", "COUNT", "1000"], |_| {});
    assert!(!matched.is_empty());
    assert!(matched.iter().all(|m| m.len() == 3 && m.starts_with("m2")));
    assert_eq!(q_err(&mut c, &["SSCAN", "s", " 1"]), "ERR invalid cursor");
    assert_eq!(
        q_err(&mut c, &["SSCAN", "s", "18446744073709551616"]),
        "ERR invalid cursor"
    );
    assert_eq!(
        q_err(&mut c, &["SSCAN", "s", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["SSCAN", "s", "0", "FOO", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        q(&mut c, &["SSCAN", "nokey", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
    sadd(&mut c, "small", &["only"]);
    assert_eq!(s.cli(&["sscan", "small", "0"]), "0\nonly");
    assert_eq!(s.cli(&["sscan", "small", "x"]), "ERR invalid cursor");
}

//! Hash commands against a real rubra-server, with the `redis` crate and redis-cli.
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

fn bulks(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn hset_hget_and_friends() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["HSET", "h", "a", "1", "b", "2"]), Value::Int(2));
    assert_eq!(q(&mut c, &["HSET", "h", "a", "9", "c", "3"]), Value::Int(1));
    assert_eq!(
        q_err(&mut c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        q_err(&mut c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(q(&mut c, &["HSETNX", "h", "a", "5"]), Value::Int(0));
    assert_eq!(q(&mut c, &["HSETNX", "h", "d", "4"]), Value::Int(1));
    assert_eq!(q(&mut c, &["HMSET", "h", "e", "5", "f", "6"]), Value::Okay);
    assert_eq!(
        q_err(&mut c, &["HMSET", "h", "e"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    assert_eq!(q(&mut c, &["HGET", "h", "a"]), bulk("9"));
    assert_eq!(q(&mut c, &["HGET", "h", "zz"]), Value::Nil);
    assert_eq!(q(&mut c, &["HGET", "nokey", "zz"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["HMGET", "h", "a", "zz", "b"]),
        Value::Array(vec![bulk("9"), Value::Nil, bulk("2")])
    );
    assert_eq!(
        q(&mut c, &["HMGET", "nokey", "a"]),
        Value::Array(vec![Value::Nil])
    );
    assert_eq!(q(&mut c, &["HLEN", "h"]), Value::Int(6));
    assert_eq!(q(&mut c, &["HLEN", "nokey"]), Value::Int(0));
    assert_eq!(q(&mut c, &["HSET", "h", "long", "hello"]), Value::Int(1));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "long"]), Value::Int(5));
    assert_eq!(q(&mut c, &["HSTRLEN", "h", "zz"]), Value::Int(0));
    assert_eq!(q(&mut c, &["HEXISTS", "h", "a"]), Value::Int(1));
    assert_eq!(q(&mut c, &["HEXISTS", "h", "zz"]), Value::Int(0));
    assert_eq!(
        sorted(bulks(&q(&mut c, &["HKEYS", "h"]))),
        vec!["a", "b", "c", "d", "e", "f", "long"]
    );
    assert_eq!(
        sorted(bulks(&q(&mut c, &["HVALS", "h"]))),
        vec!["2", "3", "4", "5", "6", "9", "hello"]
    );
    assert_eq!(q(&mut c, &["HKEYS", "nokey"]), Value::Array(vec![]));
    let all = bulks(&q(&mut c, &["HGETALL", "h"]));
    assert_eq!(all.len(), 14);
    let pairs: HashSet<(String, String)> = all
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    assert!(pairs.contains(&("long".into(), "hello".into())));
    assert!(pairs.contains(&("a".into(), "9".into())));
    assert_eq!(q(&mut c, &["HDEL", "h", "a", "zz", "b"]), Value::Int(2));
    assert_eq!(q(&mut c, &["HDEL", "nokey", "a"]), Value::Int(0));
    assert_eq!(
        q(&mut c, &["HDEL", "h", "c", "d", "e", "f", "long"]),
        Value::Int(5)
    );
    // An emptied hash is deleted: HSETNX recreates it as a new key.
    assert_eq!(q(&mut c, &["HLEN", "h"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SADD", "h", "x"]), Value::Int(1));

    // redis-cli
    assert_eq!(s.cli(&["hset", "cli", "f1", "v1", "f2", "v2"]), "2");
    assert_eq!(s.cli(&["hget", "cli", "f1"]), "v1");
    assert_eq!(s.cli(&["hmget", "cli", "f1", "nope", "f2"]), "v1\n\nv2");
    assert_eq!(s.cli(&["hlen", "cli"]), "2");
    assert_eq!(s.cli(&["hsetnx", "cli", "f1", "x"]), "0");
    assert_eq!(s.cli(&["hstrlen", "cli", "f2"]), "2");
    assert_eq!(s.cli(&["hexists", "cli", "f2"]), "1");
    assert_eq!(s.cli(&["hdel", "cli", "f1"]), "1");
    assert_eq!(s.cli(&["hgetall", "cli"]), "f2\nv2");
    assert_eq!(s.cli(&["hkeys", "cli"]), "f2");
    assert_eq!(s.cli(&["hvals", "cli"]), "v2");
    assert_eq!(s.cli(&["hmset", "cli", "a", "b"]), "OK");
    assert_eq!(
        s.cli(&["hset", "cli", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
}

#[test]
fn wrong_type_for_every_hash_command() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["SADD", "s", "m"]);
    let cmds: &[&[&str]] = &[
        &["HSET", "s", "a", "b"],
        &["HSETNX", "s", "a", "b"],
        &["HMSET", "s", "a", "b"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HDEL", "s", "a"],
        &["HLEN", "s"],
        &["HSTRLEN", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HGETALL", "s"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HSCAN", "s", "0"],
    ];
    for cmd in cmds {
        assert_eq!(q_err(&mut c, cmd), WRONGTYPE, "{cmd:?}");
    }
    assert_eq!(s.cli(&["hget", "s", "a"]), WRONGTYPE);
    assert_eq!(s.cli(&["hgetall", "s"]), WRONGTYPE);
    // The set is untouched.
    assert_eq!(q(&mut c, &["SCARD", "s"]), Value::Int(1));
}

#[test]
fn hincrby_and_hincrbyfloat() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "5"]), Value::Int(5));
    assert_eq!(q(&mut c, &["HINCRBY", "h", "n", "-7"]), Value::Int(-2));
    assert_eq!(
        q_err(&mut c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    q(&mut c, &["HSET", "h", "s", "abc", "f", "1.5"]);
    q(&mut c, &["HSET", "h", "big", "9223372036854775807"]);
    assert_eq!(
        q_err(&mut c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        q_err(&mut c, &["HINCRBY", "h", "f", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        q_err(&mut c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        q(&mut c, &["HGET", "h", "big"]),
        bulk("9223372036854775807")
    );

    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "f", "1"]), bulk("2.5"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "x", "0.1"]), bulk("0.1"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "x", "0.2"]), bulk("0.3"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "n", "-0.5"]), bulk("-2.5"));
    assert_eq!(q(&mut c, &["HINCRBYFLOAT", "h", "y", "3e3"]), bulk("3000"));
    assert_eq!(
        q(&mut c, &["HINCRBYFLOAT", "h", "z", "17179869184"]),
        bulk("17179869184")
    );
    assert_eq!(
        q(&mut c, &["HINCRBYFLOAT", "h", "z", "1.5"]),
        bulk("17179869185.5")
    );
    assert_eq!(
        q_err(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        q_err(&mut c, &["HINCRBYFLOAT", "h", "f", "x"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(&mut c, &["HINCRBYFLOAT", "h", "f", "inf"]),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(s.cli(&["hincrby", "cli", "f", "10"]), "10");
    assert_eq!(s.cli(&["hincrbyfloat", "cli", "f", "0.25"]), "10.25");
    assert_eq!(
        s.cli(&["hincrby", "cli", "f", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        s.cli(&["hincrbyfloat", "cli", "f", "abc"]),
        "ERR value is not a valid float"
    );
}

#[test]
fn hrandfield_counts_and_shapes() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["HRANDFIELD", "nokey"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["HRANDFIELD", "nokey", "3"]),
        Value::Array(vec![])
    );
    q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let one = q(&mut c, &["HRANDFIELD", "h"]);
    assert!([bulk("a"), bulk("b"), bulk("c")].contains(&one), "{one:?}");
    assert_eq!(q(&mut c, &["HRANDFIELD", "h", "0"]), Value::Array(vec![]));
    // Positive count: distinct, capped at the size.
    assert_eq!(
        sorted(bulks(&q(&mut c, &["HRANDFIELD", "h", "10"]))),
        vec!["a", "b", "c"]
    );
    let two = bulks(&q(&mut c, &["HRANDFIELD", "h", "2"]));
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    // Negative count: exactly |count| picks, repeats allowed.
    let many = bulks(&q(&mut c, &["HRANDFIELD", "h", "-20"]));
    assert_eq!(many.len(), 20);
    assert!(many.iter().all(|f| ["a", "b", "c"].contains(&f.as_str())));
    let wv = bulks(&q(&mut c, &["HRANDFIELD", "h", "-4", "WITHVALUES"]));
    assert_eq!(wv.len(), 8);
    for p in wv.chunks(2) {
        let expect = match p[0].as_str() {
            "a" => "1",
            "b" => "2",
            "c" => "3",
            other => panic!("{other}"),
        };
        assert_eq!(p[1], expect);
    }
    assert_eq!(
        q_err(&mut c, &["HRANDFIELD", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["HRANDFIELD", "h", "1", "foo"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["HRANDFIELD", "h", "1", "WITHVALUES", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["HRANDFIELD", "h", "-9223372036854775808"]),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        q_err(
            &mut c,
            &["HRANDFIELD", "h", "5000000000000000000", "WITHVALUES"]
        ),
        "ERR value is out of range"
    );
    // RESP3: WITHVALUES gives an array of [field, value] pairs.
    let out = s.raw(
        b"HELLO 3\r\nHRANDFIELD h -1 WITHVALUES\r\n",
        Duration::from_millis(300),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("*1\r\n*2\r\n$1\r\n"), "{text}");
    assert_eq!(s.cli(&["hrandfield", "h", "-2"]).lines().count(), 2);
    assert_eq!(
        s.cli(&["hrandfield", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn hgetall_is_a_map_in_resp3() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["HSET", "h", "f", "v"]);
    let out = s.raw(
        b"HELLO 3\r\nHGETALL h\r\nHGETALL nokey\r\n",
        Duration::from_millis(300),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with("%1\r\n$1\r\nf\r\n$1\r\nv\r\n%0\r\n"),
        "{text}"
    );
    let out = s.raw(b"HGETALL h\r\n", Duration::from_millis(300));
    assert_eq!(out, b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
}

/// Runs a full HSCAN and returns the fields seen, calling `between` after each step.
fn hscan_all(
    c: &mut redis::Connection,
    key: &str,
    extra: &[&str],
    mut between: impl FnMut(&mut redis::Connection),
) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    let mut steps = 0;
    loop {
        let mut args = vec!["HSCAN", key, cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = q(c, &args);
        let Value::Array(parts) = reply else {
            panic!("bad HSCAN reply {reply:?}");
        };
        let next = match &parts[0] {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("bad cursor {other:?}"),
        };
        let items = bulks(&parts[1]);
        assert_eq!(items.len() % 2, 0);
        for p in items.chunks(2) {
            assert_eq!(p[1], format!("v{}", &p[0][1..]), "value matches field");
            seen.push(p[0].clone());
        }
        steps += 1;
        assert!(steps < 10_000, "HSCAN never finished");
        if next == "0" {
            return seen;
        }
        cursor = next;
        between(c);
    }
}

#[test]
fn hscan_returns_every_field_even_with_deletions() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let n = 600;
    let mut cmd = redis::cmd("HSET");
    cmd.arg("h");
    for i in 0..n {
        cmd.arg(format!("f{i}")).arg(format!("v{i}"));
    }
    let _: i64 = cmd.query(&mut c).expect("HSET");
    // Without changes: every field exactly once.
    let all = hscan_all(&mut c, "h", &["COUNT", "7"], |_| {});
    assert_eq!(all.len(), n);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), n);

    // Fields with odd numbers are deleted a few at a time between calls; every even
    // field, present for the whole iteration, must still be returned.
    let mut next_odd = 1;
    let mut calls = 0;
    let seen: HashSet<String> = hscan_all(&mut c, "h", &["COUNT", "10"], |c| {
        calls += 1;
        for _ in 0..6 {
            if next_odd < n {
                // Delete from both ends so swap_remove moves fields both ways.
                let f = if next_odd % 4 == 1 {
                    format!("f{next_odd}")
                } else {
                    format!("f{}", n - next_odd)
                };
                q(c, &["HDEL", "h", &f]);
                next_odd += 2;
            }
        }
    })
    .into_iter()
    .collect();
    // COUNT 10 over 300..600 elements: the cursor really was resumed many times.
    assert!(calls >= 30, "only {calls} resumed calls");
    for i in (0..n).step_by(2) {
        assert!(seen.contains(&format!("f{i}")), "f{i} was never returned");
    }

    // MATCH filters; COUNT and cursor errors.
    let matched = hscan_all(&mut c, "h", &["MATCH", "f1*", "COUNT", "1000"], |_| {});
    assert!(!matched.is_empty());
    assert!(matched.iter().all(|f| f.starts_with("f1")));
    assert_eq!(q_err(&mut c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    assert_eq!(
        q_err(&mut c, &["HSCAN", "h", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["HSCAN", "h", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["HSCAN", "h", "0", "MATCH"]),
        "ERR syntax error"
    );
    assert_eq!(
        q(&mut c, &["HSCAN", "nokey", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![])])
    );
    q(&mut c, &["HSET", "small", "a", "1"]);
    assert_eq!(s.cli(&["hscan", "small", "0"]), "0\na\n1");
    assert_eq!(s.cli(&["hscan", "small", "abc"]), "ERR invalid cursor");
}

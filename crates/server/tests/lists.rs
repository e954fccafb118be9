//! List commands against a real rubra-server, with the `redis` crate, raw RESP and
//! redis-cli. Expected replies were checked against redis-server 7.0.15.

mod common;
use common::blocking::{blocked, wait_blocked};
use common::*;
use redis::Value;
use std::thread;
use std::time::{Duration, Instant};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn arr(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

fn ints(items: &[i64]) -> Value {
    Value::Array(items.iter().map(|&i| Value::Int(i)).collect())
}

fn range(c: &mut redis::Connection, key: &str) -> Value {
    q(c, &["LRANGE", key, "0", "-1"])
}

#[test]
fn push_pop_and_len() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["RPUSH", "l", "a", "b"]), Value::Int(2));
    assert_eq!(q(&mut c, &["LPUSH", "l", "x", "y"]), Value::Int(4));
    assert_eq!(range(&mut c, "l"), arr(&["y", "x", "a", "b"]));
    assert_eq!(q(&mut c, &["LPUSHX", "nokey", "a"]), Value::Int(0));
    assert_eq!(q(&mut c, &["RPUSHX", "nokey", "a"]), Value::Int(0));
    assert_eq!(q(&mut c, &["EXISTS", "nokey"]), Value::Int(0));
    assert_eq!(q(&mut c, &["LPUSHX", "l", "0"]), Value::Int(5));
    assert_eq!(q(&mut c, &["RPUSHX", "l", "c", "d"]), Value::Int(7));
    assert_eq!(q(&mut c, &["LLEN", "l"]), Value::Int(7));
    assert_eq!(q(&mut c, &["LLEN", "nokey"]), Value::Int(0));
    assert_eq!(q(&mut c, &["LPOP", "l"]), bulk("0"));
    assert_eq!(q(&mut c, &["RPOP", "l"]), bulk("d"));
    assert_eq!(q(&mut c, &["LPOP", "l", "2"]), arr(&["y", "x"]));
    assert_eq!(q(&mut c, &["RPOP", "l", "2"]), arr(&["c", "b"]));
    assert_eq!(q(&mut c, &["LPOP", "l", "0"]), Value::Array(vec![]));
    assert_eq!(q(&mut c, &["RPOP", "l", "10"]), arr(&["a"]));
    // The emptied list is gone.
    assert_eq!(q(&mut c, &["EXISTS", "l"]), Value::Int(0));
    assert_eq!(q(&mut c, &["LPOP", "l"]), Value::Nil);
    assert_eq!(q(&mut c, &["LPOP", "l", "3"]), Value::Nil);

    assert_eq!(
        q_err(&mut c, &["LPOP", "l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        q_err(&mut c, &["RPOP", "l", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        q_err(&mut c, &["LPOP", "l", "1", "2"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(
        q_err(&mut c, &["LPUSH", "l"]),
        "ERR wrong number of arguments for 'lpush' command"
    );
}

#[test]
fn nil_shapes_in_resp2_and_resp3() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "l", "a", "b"]);
    let out = s.raw(
        b"LPOP nokey\r\nLPOP nokey 2\r\nLPOP l 0\r\nRPOP l 5\r\nLMPOP 1 nokey LEFT\r\nLINDEX nokey 0\r\nLPOS nokey a\r\nLPOS nokey a COUNT 0\r\nBLPOP nokey 0.01\r\nBLMOVE nokey d LEFT LEFT 0.01\r\nBRPOPLPUSH nokey d 0.01\r\nBLMPOP 0.01 1 nokey LEFT\r\n",
        Duration::from_millis(500),
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "$-1\r\n*-1\r\n*0\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n*-1\r\n$-1\r\n$-1\r\n*0\r\n*-1\r\n*-1\r\n*-1\r\n*-1\r\n"
    );
    q(&mut c, &["RPUSH", "l", "a", "b"]);
    let out = s.raw(
        b"HELLO 3\r\nLPOP nokey\r\nLPOP nokey 2\r\nLMPOP 1 nokey LEFT\r\nLMPOP 1 l RIGHT COUNT 5\r\nBLPOP nokey 0.01\r\nBLMOVE nokey d LEFT LEFT 0.01\r\n",
        Duration::from_millis(500),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with("_\r\n_\r\n_\r\n*2\r\n$1\r\nl\r\n*2\r\n$1\r\nb\r\n$1\r\na\r\n_\r\n_\r\n"),
        "{text}"
    );
}

#[test]
fn index_set_range_trim() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    assert_eq!(q(&mut c, &["LINDEX", "l", "0"]), bulk("a"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "-1"]), bulk("e"));
    assert_eq!(q(&mut c, &["LINDEX", "l", "5"]), Value::Nil);
    assert_eq!(q(&mut c, &["LINDEX", "l", "-6"]), Value::Nil);
    assert_eq!(q(&mut c, &["LINDEX", "nokey", "x"]), Value::Nil);
    assert_eq!(
        q_err(&mut c, &["LINDEX", "l", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut c, &["LSET", "l", "1", "B"]), Value::Okay);
    assert_eq!(q(&mut c, &["LSET", "l", "-1", "E"]), Value::Okay);
    assert_eq!(
        q_err(&mut c, &["LSET", "l", "5", "v"]),
        "ERR index out of range"
    );
    assert_eq!(
        q_err(&mut c, &["LSET", "nokey", "0", "v"]),
        "ERR no such key"
    );
    assert_eq!(
        q_err(&mut c, &["LSET", "nokey", "x", "v"]),
        "ERR no such key"
    );
    assert_eq!(
        q_err(&mut c, &["LSET", "l", "x", "v"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(range(&mut c, "l"), arr(&["a", "B", "c", "d", "E"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "1", "2"]), arr(&["B", "c"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "-2", "100"]), arr(&["d", "E"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "-100", "0"]), arr(&["a"]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "3", "1"]), arr(&[]));
    assert_eq!(q(&mut c, &["LRANGE", "l", "5", "10"]), arr(&[]));
    assert_eq!(q(&mut c, &["LRANGE", "nokey", "0", "-1"]), arr(&[]));
    assert_eq!(
        q_err(&mut c, &["LRANGE", "nokey", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q(&mut c, &["LTRIM", "l", "1", "-2"]), Value::Okay);
    assert_eq!(range(&mut c, "l"), arr(&["B", "c", "d"]));
    assert_eq!(q(&mut c, &["LTRIM", "l", "-2", "100"]), Value::Okay);
    assert_eq!(range(&mut c, "l"), arr(&["c", "d"]));
    assert_eq!(q(&mut c, &["LTRIM", "nokey", "0", "1"]), Value::Okay);
    assert_eq!(q(&mut c, &["LTRIM", "l", "5", "1"]), Value::Okay);
    assert_eq!(q(&mut c, &["EXISTS", "l"]), Value::Int(0));
    assert_eq!(
        q_err(&mut c, &["LTRIM", "l", "0", "z"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn lrem_linsert_lpos() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a", "b", "a"]);
    assert_eq!(q(&mut c, &["LREM", "l", "1", "a"]), Value::Int(1));
    assert_eq!(range(&mut c, "l"), arr(&["b", "a", "c", "a", "b", "a"]));
    assert_eq!(q(&mut c, &["LREM", "l", "-2", "a"]), Value::Int(2));
    assert_eq!(range(&mut c, "l"), arr(&["b", "a", "c", "b"]));
    assert_eq!(q(&mut c, &["LREM", "l", "0", "b"]), Value::Int(2));
    assert_eq!(q(&mut c, &["LREM", "l", "0", "zz"]), Value::Int(0));
    assert_eq!(q(&mut c, &["LREM", "nokey", "0", "zz"]), Value::Int(0));
    assert_eq!(
        q_err(&mut c, &["LREM", "l", "x", "a"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q(&mut c, &["LREM", "l", "-9223372036854775808", "a"]),
        Value::Int(1)
    );
    assert_eq!(q(&mut c, &["LREM", "l", "0", "c"]), Value::Int(1));
    assert_eq!(q(&mut c, &["EXISTS", "l"]), Value::Int(0));

    q(&mut c, &["RPUSH", "l", "a", "c"]);
    assert_eq!(
        q(&mut c, &["LINSERT", "l", "BEFORE", "c", "b"]),
        Value::Int(3)
    );
    assert_eq!(
        q(&mut c, &["LINSERT", "l", "after", "c", "d"]),
        Value::Int(4)
    );
    assert_eq!(
        q(&mut c, &["LINSERT", "l", "AFTER", "zz", "d"]),
        Value::Int(-1)
    );
    assert_eq!(
        q(&mut c, &["LINSERT", "nokey", "AFTER", "a", "b"]),
        Value::Int(0)
    );
    assert_eq!(
        q_err(&mut c, &["LINSERT", "l", "MIDDLE", "a", "b"]),
        "ERR syntax error"
    );
    assert_eq!(range(&mut c, "l"), arr(&["a", "b", "c", "d"]));

    q(&mut c, &["DEL", "l"]);
    q(
        &mut c,
        &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
    );
    assert_eq!(q(&mut c, &["LPOS", "l", "c"]), Value::Int(2));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "2"]), Value::Int(6));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), Value::Int(7));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "RANK", "4"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
        ints(&[2, 6, 7])
    );
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "COUNT", "2"]), ints(&[2, 6]));
    assert_eq!(
        q(&mut c, &["LPOS", "l", "c", "RANK", "-1", "COUNT", "2"]),
        ints(&[7, 6])
    );
    assert_eq!(
        q(&mut c, &["LPOS", "l", "c", "RANK", "2", "COUNT", "0"]),
        ints(&[6, 7])
    );
    assert_eq!(
        q(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]),
        ints(&[2, 6])
    );
    assert_eq!(q(&mut c, &["LPOS", "l", "zz", "COUNT", "1"]), ints(&[]));
    assert_eq!(q(&mut c, &["LPOS", "l", "c", "MAXLEN", "2"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
        Value::Int(7)
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "COUNT", "x"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "RANK", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "RANK"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["LPOS", "l", "c", "FOO", "1"]),
        "ERR syntax error"
    );
}

#[test]
fn lmove_rpoplpush_lmpop() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        bulk("a")
    );
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "dst", "right", "left"]),
        bulk("c")
    );
    assert_eq!(q(&mut c, &["RPOPLPUSH", "src", "dst"]), bulk("b"));
    assert_eq!(range(&mut c, "dst"), arr(&["b", "c", "a"]));
    assert_eq!(q(&mut c, &["EXISTS", "src"]), Value::Int(0));
    assert_eq!(q(&mut c, &["RPOPLPUSH", "src", "dst"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["LMOVE", "src", "dst", "LEFT", "LEFT"]),
        Value::Nil
    );
    // Rotation on the same key, including a single-element list.
    assert_eq!(q(&mut c, &["RPOPLPUSH", "dst", "dst"]), bulk("a"));
    assert_eq!(range(&mut c, "dst"), arr(&["a", "b", "c"]));
    q(&mut c, &["RPUSH", "one", "x"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "one", "one", "LEFT", "RIGHT"]),
        bulk("x")
    );
    assert_eq!(range(&mut c, "one"), arr(&["x"]));
    assert_eq!(
        q_err(&mut c, &["LMOVE", "dst", "x", "UP", "LEFT"]),
        "ERR syntax error"
    );
    // Missing source: nil even when the destination has the wrong type.
    q(&mut c, &["HSET", "h", "f", "v"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "nokey", "h", "LEFT", "LEFT"]),
        Value::Nil
    );
    assert_eq!(
        q_err(&mut c, &["LMOVE", "dst", "h", "LEFT", "LEFT"]),
        WRONGTYPE
    );
    assert_eq!(q_err(&mut c, &["RPOPLPUSH", "h", "dst"]), WRONGTYPE);
    assert_eq!(range(&mut c, "dst"), arr(&["a", "b", "c"]));

    q(&mut c, &["RPUSH", "m2", "1", "2", "3"]);
    assert_eq!(
        q(&mut c, &["LMPOP", "2", "nokey", "m2", "LEFT"]),
        Value::Array(vec![bulk("m2"), arr(&["1"])])
    );
    assert_eq!(
        q(
            &mut c,
            &["LMPOP", "2", "nokey", "m2", "RIGHT", "COUNT", "10"]
        ),
        Value::Array(vec![bulk("m2"), arr(&["3", "2"])])
    );
    assert_eq!(q(&mut c, &["EXISTS", "m2"]), Value::Int(0));
    assert_eq!(
        q(&mut c, &["LMPOP", "2", "nokey", "m2", "LEFT"]),
        Value::Nil
    );
    assert_eq!(
        q_err(&mut c, &["LMPOP", "2", "h", "dst", "LEFT"]),
        WRONGTYPE
    );
    for (args, e) in [
        (
            vec!["LMPOP", "0", "a", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (
            vec!["LMPOP", "x", "a", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (vec!["LMPOP", "3", "a", "LEFT"], "ERR syntax error"),
        (vec!["LMPOP", "1", "a", "MIDDLE"], "ERR syntax error"),
        (
            vec!["LMPOP", "1", "a", "LEFT", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            vec!["LMPOP", "1", "a", "LEFT", "COUNT", "x"],
            "ERR count should be greater than 0",
        ),
        (
            vec!["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "2"],
            "ERR syntax error",
        ),
        (vec!["LMPOP", "1", "a", "LEFT", "COUNT"], "ERR syntax error"),
        (
            vec!["LMPOP", "1", "a", "LEFT", "FOO", "1"],
            "ERR syntax error",
        ),
    ] {
        assert_eq!(q_err(&mut c, &args), e, "{args:?}");
    }
}

#[test]
fn wrongtype_everywhere() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["HSET", "h", "f", "v"]);
    for args in [
        vec!["LPUSH", "h", "a"],
        vec!["RPUSH", "h", "a"],
        vec!["LPUSHX", "h", "a"],
        vec!["RPUSHX", "h", "a"],
        vec!["LPOP", "h"],
        vec!["RPOP", "h", "2"],
        vec!["LLEN", "h"],
        vec!["LINDEX", "h", "0"],
        vec!["LSET", "h", "0", "v"],
        vec!["LRANGE", "h", "0", "-1"],
        vec!["LTRIM", "h", "0", "-1"],
        vec!["LREM", "h", "0", "v"],
        vec!["LINSERT", "h", "BEFORE", "a", "b"],
        vec!["LPOS", "h", "a"],
        vec!["LMOVE", "h", "x", "LEFT", "LEFT"],
        vec!["RPOPLPUSH", "h", "x"],
        vec!["LMPOP", "1", "h", "LEFT"],
        vec!["BLPOP", "nokey", "h", "0"],
        vec!["BRPOP", "h", "0"],
        vec!["BLMOVE", "h", "x", "LEFT", "LEFT", "0"],
        vec!["BRPOPLPUSH", "h", "x", "0"],
        vec!["BLMPOP", "0", "2", "nokey", "h", "LEFT"],
    ] {
        assert_eq!(q_err(&mut c, &args), WRONGTYPE, "{args:?}");
    }
    // A non-empty list before the wrong-typed key is served first.
    q(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(q(&mut c, &["BLPOP", "l", "h", "0"]), arr(&["l", "x"]));
    assert_eq!(q(&mut c, &["HGET", "h", "f"]), bulk("v"));
}

#[test]
fn blocking_immediate_timeout_and_errors() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(q(&mut c, &["BLPOP", "nokey", "b", "0"]), arr(&["b", "1"]));
    assert_eq!(q(&mut c, &["BRPOP", "nokey", "b", "1"]), arr(&["b", "3"]));
    assert_eq!(
        q(&mut c, &["BLMOVE", "b", "d", "LEFT", "RIGHT", "0"]),
        bulk("2")
    );
    assert_eq!(q(&mut c, &["EXISTS", "b"]), Value::Int(0));
    assert_eq!(q(&mut c, &["BRPOPLPUSH", "d", "b", "0"]), bulk("2"));
    q(&mut c, &["RPUSH", "b", "3", "4"]);
    assert_eq!(
        q(&mut c, &["BLMPOP", "0", "1", "b", "RIGHT", "COUNT", "2"]),
        Value::Array(vec![bulk("b"), arr(&["4", "3"])])
    );

    let t = Instant::now();
    assert_eq!(q(&mut c, &["BLPOP", "nokey", "0.2"]), Value::Nil);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(q(&mut c, &["BRPOP", "nokey", "0.05"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["BLMOVE", "nokey", "x", "LEFT", "LEFT", "0.05"]),
        Value::Nil
    );
    assert_eq!(q(&mut c, &["BRPOPLPUSH", "nokey", "x", "0.05"]), Value::Nil);
    assert_eq!(
        q(&mut c, &["BLMPOP", "0.05", "1", "nokey", "LEFT"]),
        Value::Nil
    );
    // The connection works normally after a timeout.
    assert_eq!(q(&mut c, &["LLEN", "nokey"]), Value::Int(0));

    for (args, e) in [
        (
            vec!["BLPOP", "k", "abc"],
            "ERR timeout is not a float or out of range",
        ),
        (vec!["BLPOP", "k", "-1"], "ERR timeout is negative"),
        (vec!["BLPOP", "k", "inf"], "ERR timeout is negative"),
        (vec!["BRPOP", "k", "-0.5"], "ERR timeout is negative"),
        (
            vec!["BLMOVE", "a", "b", "LEFT", "LEFT", "x"],
            "ERR timeout is not a float or out of range",
        ),
        (
            vec!["BLMOVE", "a", "b", "UP", "LEFT", "x"],
            "ERR syntax error",
        ),
        (
            vec!["BRPOPLPUSH", "a", "b", "-1"],
            "ERR timeout is negative",
        ),
        (
            vec!["BLMPOP", "x", "1", "a", "LEFT"],
            "ERR timeout is not a float or out of range",
        ),
        (
            vec!["BLMPOP", "-1", "1", "a", "LEFT"],
            "ERR timeout is negative",
        ),
        (
            vec!["BLMPOP", "x", "0", "a", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (
            vec!["BLMPOP", "0", "1", "a", "LEFT", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (vec!["BLMPOP", "0", "2", "a", "LEFT"], "ERR syntax error"),
        (
            vec!["BLPOP", "k"],
            "ERR wrong number of arguments for 'blpop' command",
        ),
    ] {
        assert_eq!(q_err(&mut c, &args), e, "{args:?}");
    }
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let first = blocked(&s, &["BLPOP", "q", "5"]);
    wait_blocked(&s, 1);
    let second = blocked(&s, &["BRPOP", "other", "q", "5"]);
    wait_blocked(&s, 2);
    let third = blocked(&s, &["BLPOP", "q", "0.5"]);
    wait_blocked(&s, 3);
    assert_eq!(q(&mut c, &["RPUSH", "q", "x", "y"]), Value::Int(2));
    assert_eq!(first.join().unwrap().0, arr(&["q", "x"]));
    assert_eq!(second.join().unwrap().0, arr(&["q", "y"]));
    // Nothing left for the third: it times out.
    let (v, took) = third.join().unwrap();
    assert_eq!(v, Value::Nil);
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert_eq!(q(&mut c, &["EXISTS", "q"]), Value::Int(0));
    wait_blocked(&s, 0);
}

#[test]
fn timeout_zero_waits_until_a_push() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let h = blocked(&s, &["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "5"]);
    wait_blocked(&s, 1);
    thread::sleep(Duration::from_millis(300));
    assert!(!h.is_finished());
    q(&mut c, &["RPUSH", "b", "1", "2"]);
    let (v, took) = h.join().unwrap();
    assert_eq!(v, Value::Array(vec![bulk("b"), arr(&["2", "1"])]));
    assert!(took >= Duration::from_millis(300));
    assert_eq!(q(&mut c, &["EXISTS", "b"]), Value::Int(0));
}

#[test]
fn blmove_chain_and_lmove_wake_blocked_clients() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    // A moves src -> mid, B moves mid -> dst, C pops dst: one push feeds the whole chain.
    let a = blocked(&s, &["BLMOVE", "src", "mid", "RIGHT", "LEFT", "5"]);
    wait_blocked(&s, 1);
    let b = blocked(&s, &["BRPOPLPUSH", "mid", "dst", "5"]);
    wait_blocked(&s, 2);
    let cc = blocked(&s, &["BLPOP", "dst", "5"]);
    wait_blocked(&s, 3);
    q(&mut c, &["LPUSH", "src", "v"]);
    assert_eq!(a.join().unwrap().0, bulk("v"));
    assert_eq!(b.join().unwrap().0, bulk("v"));
    assert_eq!(cc.join().unwrap().0, arr(&["dst", "v"]));
    for k in ["src", "mid", "dst"] {
        assert_eq!(q(&mut c, &["EXISTS", k]), Value::Int(0));
    }
    // A plain LMOVE into a key someone waits on wakes them.
    let w = blocked(&s, &["BRPOP", "target", "5"]);
    wait_blocked(&s, 1);
    q(&mut c, &["RPUSH", "from", "z"]);
    assert_eq!(
        q(&mut c, &["LMOVE", "from", "target", "LEFT", "LEFT"]),
        bulk("z")
    );
    assert_eq!(w.join().unwrap().0, arr(&["target", "z"]));
    wait_blocked(&s, 0);
}

#[test]
fn blocked_client_waits_through_a_wrong_type_and_blmove_fails_on_one() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let h = blocked(&s, &["BLPOP", "w", "x", "5"]);
    wait_blocked(&s, 1);
    // As Redis 7.0: a key turning into a hash does not unblock the client.
    q(&mut c, &["HSET", "w", "f", "v"]);
    thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished());
    q(&mut c, &["RPUSH", "x", "1"]);
    assert_eq!(h.join().unwrap().0, arr(&["x", "1"]));

    // A blocked BLMOVE whose destination became a hash gets WRONGTYPE; the element stays.
    let mut blocked = s.conn();
    let h = thread::spawn(move || q_err(&mut blocked, &["BLMOVE", "s", "d", "LEFT", "LEFT", "5"]));
    wait_blocked(&s, 1);
    q(&mut c, &["HSET", "d", "f", "v"]);
    q(&mut c, &["RPUSH", "s", "z"]);
    assert_eq!(h.join().unwrap(), WRONGTYPE);
    assert_eq!(range(&mut c, "s"), arr(&["z"]));
}

#[test]
fn multi_never_blocks_and_pushes_in_exec_wake_clients() {
    let s = TestServer::start(&[]);
    let out = s.raw(
        b"MULTI\r\nBLPOP nokey 0\r\nBLMOVE nokey x LEFT LEFT 0\r\nBRPOPLPUSH nokey x 0\r\nBLMPOP 0 1 nokey LEFT\r\nEXEC\r\n",
        Duration::from_millis(500),
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n"
    );
    let h = blocked(&s, &["BLPOP", "k", "5"]);
    wait_blocked(&s, 1);
    let mut t = s.conn();
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("k")
        .arg("a")
        .arg("b")
        .cmd("LPOP")
        .arg("k")
        .query(&mut t)
        .expect("exec");
    assert_eq!(replies, Value::Array(vec![Value::Int(2), bulk("a")]));
    // The blocked client is served after EXEC, seeing the state it left.
    assert_eq!(h.join().unwrap().0, arr(&["k", "b"]));
}

#[test]
fn blocking_commands_propagate_as_their_plain_forms() {
    let s = TestServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.conn();
    q(&mut c, &["RPUSH", "a", "1", "2", "3", "4", "5"]);
    q(&mut c, &["BLPOP", "nokey", "a", "0"]);
    q(&mut c, &["BRPOP", "a", "0"]);
    q(&mut c, &["BLMOVE", "a", "d", "LEFT", "RIGHT", "0"]);
    q(
        &mut c,
        &["BLMPOP", "0", "2", "nokey", "a", "LEFT", "COUNT", "9"],
    );
    q(&mut c, &["LMPOP", "1", "d", "RIGHT"]);
    q(&mut c, &["RPUSH", "r", "x"]);
    q(&mut c, &["BRPOPLPUSH", "r", "r2", "0"]);
    // Served after blocking.
    let h = blocked(&s, &["BLPOP", "late", "5"]);
    wait_blocked(&s, 1);
    q(&mut c, &["RPUSH", "late", "p", "q"]);
    assert_eq!(h.join().unwrap().0, arr(&["late", "p"]));
    let h = blocked(&s, &["BLMOVE", "late2", "r2", "RIGHT", "LEFT", "5"]);
    wait_blocked(&s, 1);
    q(&mut c, &["RPUSH", "late2", "m"]);
    assert_eq!(h.join().unwrap().0, bulk("m"));
    // Timeouts propagate nothing.
    q(&mut c, &["BLPOP", "nokey", "0.01"]);

    let aof = aof_incr_bytes(&s.dir);
    let text = String::from_utf8_lossy(&aof).replace("\r\n", " ");
    for want in [
        "*2 $4 LPOP $1 a ",
        "*2 $4 RPOP $1 a ",
        "*5 $5 LMOVE $1 a $1 d $4 LEFT $5 RIGHT ",
        "*3 $4 LPOP $1 a $1 2 ",
        "*3 $4 RPOP $1 d $1 1 ",
        "*3 $9 RPOPLPUSH $1 r $2 r2 ",
        "*2 $4 LPOP $4 late ",
        // Served after blocking: Redis names the ends itself, in lower case.
        "*5 $5 LMOVE $5 late2 $2 r2 $5 right $4 left ",
    ] {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    for bad in ["BLPOP", "BRPOP", "BLMOVE", "BLMPOP", "LMPOP", "BRPOPLPUSH"] {
        assert!(!text.contains(bad), "{bad} propagated: {text}");
    }
    // Replaying the AOF gives the same data.
    let before = (range(&mut c, "r2"), range(&mut c, "late"));
    drop(c);
    let mut s = s;
    assert!(s.restart(None));
    let mut c = s.conn();
    assert_eq!((range(&mut c, "r2"), range(&mut c, "late")), before);
    assert_eq!(before.0, arr(&["m", "x"]));
    assert_eq!(q(&mut c, &["EXISTS", "a", "d", "r"]), Value::Int(0));
}

#[test]
fn redis_cli_view() {
    let s = TestServer::start(&[]);
    assert_eq!(s.cli(&["rpush", "cl", "a", "b", "c"]), "3");
    assert_eq!(s.cli(&["lrange", "cl", "0", "-1"]), "a\nb\nc");
    assert_eq!(s.cli(&["lpop", "cl", "2"]), "a\nb");
    assert_eq!(s.cli(&["lpos", "cl", "c"]), "0");
    assert_eq!(s.cli(&["blpop", "cl", "0"]), "cl\nc");
    assert_eq!(s.cli(&["--no-raw", "blpop", "cl", "0.05"]), "(nil)");
    assert_eq!(s.cli(&["lset", "cl", "0", "x"]), "ERR no such key");
    assert_eq!(s.cli(&["hset", "h", "f", "v"]), "1");
    assert_eq!(s.cli(&["llen", "h"]), WRONGTYPE);
}

//! String and bit commands: differential scripts against Debian's redis-server 7.0 (every
//! reply byte-identical, errors included, in RESP2 and RESP3), plus checks with the `redis`
//! crate and redis-cli, and TTL/propagation behaviour that a script cannot compare exactly.

mod common;
mod reference;
use common::*;
use redis::Value;
use reference::assert_same_as_redis;
use std::time::Duration;

const SET_GET: &[&str] = &[
    "SET k v",
    "GET k",
    "GET missing",
    "SET k v2 NX",
    "SET k v3 XX",
    "GET k",
    "SET new v XX",
    "SET new v NX",
    "SET k v4 GET",
    "SET nothere v GET",
    "SET k v5 NX GET",
    "SET k2 v5 NX GET",
    "SET k v NX XX",
    "SET k v EX 10 PX 100",
    "SET k v EX 10 KEEPTTL",
    "SET k v EX 0",
    "SET k v EX -5",
    "SET k v PX abc",
    "SET k v EX",
    "SET k v FOO",
    "SET k v EX 9223372036854775807",
    "SET k v EX 100",
    "TTL k",
    "SET k v KEEPTTL",
    "TTL k",
    "SET k v",
    "TTL k",
    "SET k v EXAT 1",
    "EXISTS k",
    "SET k v PXAT 99999999999999",
    "TTL k",
    "HSET h f v",
    "SET h v GET",
    "GET h",
    "SET h v",
    "TYPE h",
    "SET",
    "SET k",
    "SETNX sn 1",
    "SETNX sn 2",
    "GET sn",
    "SETEX se 100 v",
    "TTL se",
    "SETEX se 0 v",
    "SETEX se -1 v",
    "SETEX se abc v",
    "PSETEX pse 100000 v",
    "TTL pse",
    "PSETEX pse 0 v",
    "GETSET gs a",
    "GETSET gs b",
    "GETSET h x",
    "GETDEL gs",
    "GETDEL gs",
    "HSET h2 f v",
    "GETDEL h2",
    "MSET a 1 b 2 c 3",
    "MGET a b c nope h2",
    "MSET a 1 b",
    "MSETNX a 1 zz 2",
    "MSETNX y 1 zz 2",
    "MGET y zz",
    "MSETNX y",
    "GETEX a",
    "GETEX a EX 100",
    "TTL a",
    "GETEX a PERSIST",
    "TTL a",
    "GETEX a EX 100 PERSIST",
    "GETEX a FOO",
    "GETEX a EX 0",
    "GETEX a PXAT 1",
    "EXISTS a",
    "GETEX nope EX 10",
    "GETEX h2 EX 10",
    "OBJECT ENCODING b",
    "SET big aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "OBJECT ENCODING big",
    "SET small hello",
    "OBJECT ENCODING small",
];

const COUNTERS: &[&str] = &[
    "INCR n",
    "INCR n",
    "DECR n",
    "INCRBY n 10",
    "DECRBY n 3",
    "INCRBY n abc",
    "INCRBY n 1.5",
    "GET n",
    "SET n 9223372036854775807",
    "INCR n",
    "SET n -9223372036854775808",
    "DECR n",
    "DECRBY x -9223372036854775808",
    "SET s hello",
    "INCR s",
    "SET s ' 1'",
    "INCR s",
    "SET s 01",
    "INCR s",
    "SET s 1",
    "EXPIRE s 100",
    "INCR s",
    "TTL s",
    "HSET h f v",
    "INCR h",
    "INCRBYFLOAT f 1.5",
    "INCRBYFLOAT f 0.1",
    "INCRBYFLOAT f -0.1",
    "INCRBYFLOAT f 1e3",
    "INCRBYFLOAT f abc",
    "INCRBYFLOAT f inf",
    "SET f 3",
    "INCRBYFLOAT f 2",
    "SET f 1.0e2",
    "INCRBYFLOAT f 1",
    "SET f abc",
    "INCRBYFLOAT f 1",
    "INCRBYFLOAT h 1",
    "SET f 10.5",
    "INCRBYFLOAT f 0.1",
    "SET f 5.0e3",
    "INCRBYFLOAT f 2.0e2",
];

const RANGES: &[&str] = &[
    "SET s 'Hello World'",
    "GETRANGE s 0 4",
    "GETRANGE s -5 -1",
    "GETRANGE s 0 -100",
    "GETRANGE s -100 -50",
    "GETRANGE s 5 3",
    "GETRANGE s 0 100",
    "GETRANGE s -1 -5",
    "GETRANGE s 20 30",
    "GETRANGE nope 0 -1",
    "GETRANGE s a 1",
    "SUBSTR s 0 2",
    "APPEND s !",
    "APPEND new abc",
    "GET new",
    "STRLEN s",
    "STRLEN nope",
    "SETRANGE s 6 Redis",
    "GET s",
    "SETRANGE pad 5 x",
    "GET pad",
    "SETRANGE pad -1 x",
    "SETRANGE nothing 5 ''",
    "EXISTS nothing",
    "SETRANGE s 0 ''",
    "SETRANGE s 536870912 x",
    "SETRANGE s 536870911 ''",
    "HSET h f v",
    "APPEND h x",
    "STRLEN h",
    "SETRANGE h 0 x",
    "GETRANGE h 0 1",
    "SET a ohmytext",
    "SET b mynewtext",
    "LCS a b",
    "LCS a b LEN",
    "LCS a b IDX",
    "LCS a b IDX MINMATCHLEN 4",
    "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN",
    "LCS a b IDX WITHMATCHLEN",
    "LCS a b LEN IDX",
    "LCS a b FOO",
    "LCS a nope",
    "LCS a h",
    "SET x ABCBDAB",
    "SET y BDCABA",
    "LCS x y IDX WITHMATCHLEN",
];

const BITS: &[&str] = &[
    "SETBIT b 7 1",
    "SETBIT b 7 0",
    "SETBIT b 7 1",
    "GET b",
    "GETBIT b 7",
    "GETBIT b 6",
    "GETBIT b 100000",
    "GETBIT nope 3",
    "SETBIT b 100 1",
    "STRLEN b",
    "SETBIT b -1 1",
    "SETBIT b 1 2",
    "SETBIT b abc 1",
    "SETBIT b 4294967296 1",
    "GETBIT b -1",
    "SET s foobar",
    "BITCOUNT s",
    "BITCOUNT s 0 0",
    "BITCOUNT s 1 1",
    "BITCOUNT s 1 -2",
    "BITCOUNT s 5 30 BIT",
    "BITCOUNT s 0 -1 BIT",
    "BITCOUNT s -3 -1 BYTE",
    "BITCOUNT s 3 1",
    "BITCOUNT s 0",
    "BITCOUNT s 0 1 FOO",
    "BITCOUNT s a b",
    "BITCOUNT nope",
    "BITCOUNT nope 0 1",
    "SET p '\\xff\\xf0\\x00'",
    "BITPOS p 0",
    "BITPOS p 1",
    "BITPOS p 1 2",
    "BITPOS p 0 0 0",
    "BITPOS p 0 0 -1",
    "BITPOS p 1 7 15 BIT",
    "BITPOS p 0 7 15 BIT",
    "BITPOS p 1 17 23 BIT",
    "BITPOS p 2",
    "BITPOS nope 0",
    "BITPOS nope 1",
    "SET ones '\\xff\\xff'",
    "BITPOS ones 0",
    "BITPOS ones 0 0 -1",
    "BITPOS ones 0 0",
    "SET zeros '\\x00\\x00'",
    "BITPOS zeros 1",
    "BITPOS zeros 0 1",
    "BITPOS p 1 5 2",
    "SET k1 foobar",
    "SET k2 abcdef",
    "BITOP AND dest k1 k2",
    "GET dest",
    "BITOP OR dest k1 k2 nope",
    "GET dest",
    "BITOP XOR dest k1 k2",
    "GET dest",
    "BITOP NOT dest k1",
    "GET dest",
    "BITOP NOT dest k1 k2",
    "BITOP FOO dest k1",
    "BITOP AND dest nope nope2",
    "EXISTS dest",
    "SET short ab",
    "BITOP AND dest k1 short",
    "GET dest",
    "HSET h f v",
    "BITOP AND dest k1 h",
    "SETBIT h 1 1",
    "GETBIT h 1",
    "BITCOUNT h",
];

fn resp3(script: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["!HELLO 3"];
    v.extend_from_slice(script);
    v
}

#[test]
fn set_get_family_matches_redis() {
    assert_same_as_redis(SET_GET);
}

#[test]
fn counters_match_redis() {
    assert_same_as_redis(COUNTERS);
}

#[test]
fn ranges_and_lcs_match_redis() {
    assert_same_as_redis(RANGES);
    assert_same_as_redis(&resp3(RANGES));
}

#[test]
fn bit_commands_match_redis() {
    assert_same_as_redis(BITS);
}

#[test]
fn redis_crate_and_cli_round_trip() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let big = vec![b'x'; 1 << 20];
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut c)
        .unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c).unwrap();
    assert_eq!(got, big);
    let bin = b"a\r\nb\0c".to_vec();
    let _: () = redis::cmd("SET")
        .arg(&bin[..])
        .arg(&bin[..])
        .query(&mut c)
        .unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg(&bin[..]).query(&mut c).unwrap();
    assert_eq!(got, bin);
    assert_eq!(s.cli(&["SET", "cli", "hello world"]), "OK");
    assert_eq!(s.cli(&["GET", "cli"]), "hello world");
    assert_eq!(s.cli(&["INCRBY", "ctr", "41"]), "41");
    assert_eq!(s.cli(&["INCR", "ctr"]), "42");
    assert_eq!(
        q(&mut c, &["GET", "ctr"]),
        Value::BulkString(b"42".to_vec())
    );
    assert_eq!(
        q_err(&mut c, &["INCR", "cli"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn ttls_expire_and_survive_overwrites_as_redis_does() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["SET", "k", "v", "PX", "150"]), Value::Okay);
    let pttl = q(&mut c, &["PTTL", "k"]);
    assert!(
        matches!(pttl, Value::Int(n) if n > 0 && n <= 150),
        "{pttl:?}"
    );
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(q(&mut c, &["GET", "k"]), Value::Nil);
    // Active expiry removes keys nobody touches.
    assert_eq!(q(&mut c, &["SETEX", "gone", "1", "v"]), Value::Okay);
    // The active cycle's timing is the server's (and a loaded box's): poll, then assert.
    common::cluster::wait_for(Duration::from_secs(20), || {
        q(&mut c, &["DBSIZE"]) == Value::Int(0)
    });
    assert_eq!(q(&mut c, &["DBSIZE"]), Value::Int(0));
    // APPEND, SETRANGE, INCR keep the TTL; SET without KEEPTTL clears it.
    q(&mut c, &["SET", "t", "1", "EX", "100"]);
    q(&mut c, &["APPEND", "t", "0"]);
    q(&mut c, &["INCR", "t"]);
    q(&mut c, &["SETRANGE", "t", "0", "2"]);
    assert_eq!(q(&mut c, &["TTL", "t"]), Value::Int(100));
    q(&mut c, &["INCRBYFLOAT", "t", "1.5"]);
    assert_eq!(q(&mut c, &["TTL", "t"]), Value::Int(100));
    q(&mut c, &["SET", "t", "x"]);
    assert_eq!(q(&mut c, &["TTL", "t"]), Value::Int(-1));
}

#[test]
fn the_differ_sees_differences() {
    // A guard for the harness itself: INFO names the server and its pid, so it must differ.
    let diffs = reference::differences(&["SET a 1", "INFO server"]);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].starts_with("INFO server"));
}

//! The generator of `fuzz_propagation_differential`: seeded steps over every family the
//! header lists, and the function library each sequence starts with.

use super::{Step, DBS};
use crate::fuzz_kit::{opt, p};
use rubra_fuzz::Rng;

/// Steps per sequence.
const SEQ_LEN: usize = 24;

const STRINGS: &[&str] = &["s1", "s2"];
const LISTS: &[&str] = &["l1", "l2"];
const SETS: &[&str] = &["t1", "t2"];
const ZSETS: &[&str] = &["z1", "z2"];
const HASHES: &[&str] = &["h1", "h2"];
const STREAMS: &[&str] = &["x1", "x2"];
/// Every key but `one`, the set that never holds more than one member (SPOP of it is
/// determined).
const ALL: &[&str] = &[
    "s1", "s2", "l1", "l2", "t1", "t2", "z1", "z2", "h1", "h2", "x1", "x2", "hl1", "g1", "b1",
    "missing",
];
const VALS: &[&str] = &["v", "1", "10", "-3", "2.5", "abc", "\"\"", "x y"];
const MEMBERS: &[&str] = &["a", "b", "c", "d"];

/// A key of the family most of the time, now and then any key (wrong types, missing keys).
fn k(r: &mut Rng, family: &[&'static str]) -> &'static str {
    if r.one_in(6) {
        p(r, ALL)
    } else {
        p(r, family)
    }
}

/// Some of `xs`, at least one.
fn some(r: &mut Rng, xs: &[&'static str], most: usize) -> String {
    let n = 1 + r.below(most);
    (0..n).map(|_| p(r, xs)).collect::<Vec<_>>().join(" ")
}

/// SET's options.
fn set_opts(r: &mut Rng) -> String {
    let mut o = vec![opt(r, &["NX", "XX"]), opt(r, &["GET"])];
    o.push(opt(
        r,
        &[
            "EX 100",
            "PX 100000",
            "EXAT 4102444800",
            "PXAT 4102444800000",
            "KEEPTTL",
            "EX 0",
            "PXAT 1",
        ],
    ));
    o.retain(|s| !s.is_empty());
    o.join(" ")
}

/// An expire command over `key`.
fn expire_cmd(r: &mut Rng, key: &str) -> String {
    let flag = opt(r, &["NX", "XX", "GT", "LT"]);
    match r.below(7) {
        0 => format!("EXPIRE {key} {} {flag}", p(r, &["100", "200", "-1", "0"])),
        1 => format!("PEXPIRE {key} {} {flag}", p(r, &["100000", "300000", "-5"])),
        2 => format!(
            "EXPIREAT {key} {} {flag}",
            p(r, &["4102444800", "4102444900", "1"])
        ),
        3 => format!(
            "PEXPIREAT {key} {} {flag}",
            p(r, &["4102444800000", "4102444800500", "5"])
        ),
        4 => format!("PERSIST {key}"),
        5 => format!("SETEX {key} {} v", p(r, &["100", "0", "-1"])),
        _ => format!("PSETEX {key} 100000 v"),
    }
}

/// A string command.
fn string_cmd(r: &mut Rng) -> Step {
    let key = k(r, STRINGS);
    let v = p(r, VALS);
    Step::Cmd(match r.below(14) {
        0 | 1 => format!("SET {key} {v} {}", set_opts(r)),
        2 => format!(
            "GETEX {key} {}",
            opt(
                r,
                &[
                    "EX 100",
                    "PX 100000",
                    "EXAT 4102444800",
                    "PXAT 4102444800000",
                    "PERSIST"
                ]
            )
        ),
        3 => format!("GETDEL {key}"),
        4 => format!(
            "INCRBYFLOAT {key} {}",
            p(r, &["1.5", "-2", "0", "x", "1e400"])
        ),
        5 => format!(
            "SETRANGE {key} {} {}",
            p(r, &["0", "3", "-1"]),
            p(r, &["xy", "\"\""])
        ),
        6 => format!("APPEND {key} {v}"),
        7 => format!("INCRBY {key} {}", p(r, &["1", "-5", "x"])),
        8 => format!("GETSET {key} {v}"),
        9 => format!("MSET {key} {v} {} 1", p(r, STRINGS)),
        10 => format!("MSETNX {key} {v} {} 1", p(r, STRINGS)),
        11 => format!("SETNX {key} {v}"),
        12 => format!("DECR {key}"),
        _ => expire_cmd(r, key),
    })
}

/// A command that gives a key a 1 ms expiry (then the step pauses).
fn expiring(r: &mut Rng) -> Step {
    let key = p(r, ALL);
    Step::Expiring(match r.below(5) {
        0 => format!("SET {key} v PX 1"),
        // Not PEXPIRE key 1: Redis compares the time with a clock read again, so the key
        // may be deleted at once or get its 1 ms.
        1 => format!("SET {key} w PX 1 GET"),
        2 => format!("PSETEX {key} 1 v"),
        3 => format!("GETEX {key} PX 1"),
        _ => format!("SET {key} v PXAT 1 GET"),
    })
}

/// A read that may find a key expired (lazy expiry propagates its deletion).
fn touch(r: &mut Rng) -> Step {
    let key = p(r, ALL);
    Step::Cmd(match r.below(7) {
        0 => format!("GET {key}"),
        1 => format!("EXISTS {key}"),
        5 => format!("MGET {key} {}", p(r, ALL)),
        6 => format!("EXISTS {key} {} {key}", p(r, ALL)),
        2 => format!("TYPE {key}"),
        3 => format!("TTL {key}"),
        _ => format!("STRLEN {key}"),
    })
}

/// A list command.
fn list_cmd(r: &mut Rng) -> Step {
    let key = k(r, LISTS);
    let other = k(r, LISTS);
    let end = p(r, &["LEFT", "RIGHT"]);
    let end2 = p(r, &["LEFT", "RIGHT"]);
    Step::Cmd(match r.below(14) {
        0 | 1 => format!("RPUSH {key} {}", some(r, MEMBERS, 4)),
        2 => format!("LPUSH {key} {}", some(r, MEMBERS, 3)),
        3 => format!("LPUSHX {key} a"),
        4 => format!("LPOP {key} {}", opt(r, &["0", "1", "2", "10"])),
        5 => format!("RPOP {key} {}", opt(r, &["0", "2"])),
        6 => format!("LMOVE {key} {other} {end} {end2}"),
        7 => format!("RPOPLPUSH {key} {other}"),
        8 => format!("LSET {key} {} z", p(r, &["0", "-1", "5"])),
        9 => format!("LREM {key} {} a", p(r, &["0", "1", "-1"])),
        10 => format!(
            "LTRIM {key} {} {}",
            p(r, &["0", "1", "5"]),
            p(r, &["-1", "0", "2"])
        ),
        11 => format!("LINSERT {key} BEFORE {} x", p(r, MEMBERS)),
        12 => format!(
            "LMPOP 2 {key} {other} {end} {}",
            opt(r, &["COUNT 2", "COUNT 9"])
        ),
        _ => format!(
            "SORT {key} ALPHA {} STORE {other}",
            opt(r, &["LIMIT 0 2", "DESC"])
        ),
    })
}

/// A set command; SPOP only where its choice is determined.
fn set_cmd(r: &mut Rng) -> Step {
    let key = k(r, SETS);
    let other = k(r, SETS);
    Step::Cmd(match r.below(12) {
        0 | 1 => format!("SADD {key} {}", some(r, MEMBERS, 4)),
        2 => format!("SREM {key} {}", some(r, MEMBERS, 2)),
        3 => format!("SMOVE {key} {other} {}", p(r, MEMBERS)),
        4 => format!("SPOP {key} {}", p(r, &["0", "100", "4"])),
        // `one` only ever holds `a`: SPOP of it is determined.
        5 => "SADD one a".to_string(),
        6 => format!("SPOP one {}", opt(r, &["1", "0"])),
        7 => format!("SINTERSTORE {other} {key} {}", p(r, SETS)),
        8 => format!("SUNIONSTORE {other} {key} {}", p(r, SETS)),
        9 => format!("SDIFFSTORE {other} {key} {}", p(r, SETS)),
        10 => format!("SRANDMEMBER {key} {}", p(r, &["2", "-3"])),
        _ => format!("SORT {key} ALPHA STORE {}", p(r, LISTS)),
    })
}

/// A sorted-set command.
fn zset_cmd(r: &mut Rng) -> Step {
    let key = k(r, ZSETS);
    let other = k(r, ZSETS);
    let score = p(r, &["1", "2.5", "-1", "inf", "0"]);
    Step::Cmd(match r.below(14) {
        0 | 1 => format!(
            "ZADD {key} {} {score} {} 3 {}",
            opt(r, &["NX", "XX", "GT", "LT", "CH"]),
            p(r, MEMBERS),
            p(r, MEMBERS)
        ),
        2 => format!("ZADD {key} INCR {score} {}", p(r, MEMBERS)),
        3 => format!("ZINCRBY {key} {score} {}", p(r, MEMBERS)),
        4 => format!("ZREM {key} {}", some(r, MEMBERS, 2)),
        5 => format!("ZPOPMIN {key} {}", opt(r, &["0", "2", "10"])),
        6 => format!("ZPOPMAX {key} {}", opt(r, &["1", "3"])),
        7 => format!(
            "ZMPOP 2 {key} {other} {} {}",
            p(r, &["MIN", "MAX"]),
            opt(r, &["COUNT 2"])
        ),
        8 => format!("ZRANGESTORE {other} {key} 0 {}", p(r, &["-1", "1"])),
        9 => format!("ZUNIONSTORE {other} 2 {key} {}", p(r, ZSETS)),
        10 => format!("ZINTERSTORE {other} 2 {key} {} AGGREGATE MAX", p(r, ZSETS)),
        11 => format!("ZDIFFSTORE {other} 2 {key} {}", p(r, ZSETS)),
        12 => format!("ZREMRANGEBYSCORE {key} {} 2", p(r, &["-inf", "1", "(1"])),
        _ => format!("ZREMRANGEBYRANK {key} 0 {}", p(r, &["0", "-1"])),
    })
}

/// A hash command.
fn hash_cmd(r: &mut Rng) -> Step {
    let key = k(r, HASHES);
    let f = p(r, MEMBERS);
    Step::Cmd(match r.below(7) {
        0 | 1 => format!("HSET {key} {f} {} {} 1", p(r, VALS), p(r, MEMBERS)),
        2 => format!("HSETNX {key} {f} v"),
        3 => format!("HDEL {key} {}", some(r, MEMBERS, 2)),
        4 => format!("HINCRBY {key} {f} {}", p(r, &["1", "-2", "x"])),
        5 => format!("HINCRBYFLOAT {key} {f} {}", p(r, &["1.5", "-0.5", "x"])),
        _ => format!("HMSET {key} {f} 1"),
    })
}

/// A stream ID: explicit mostly, `*` now and then.
fn stream_id(r: &mut Rng) -> &'static str {
    p(r, &["1-1", "2-0", "3-5", "5", "*", "0-1", "9-9"])
}

/// A stream command (consumer groups included).
fn stream_cmd(r: &mut Rng) -> Step {
    let key = k(r, STREAMS);
    let g = p(r, &["g1", "g2"]);
    let c = p(r, &["c1", "c2"]);
    Step::Cmd(match r.below(16) {
        0 | 1 => format!(
            "XADD {key} {} {} f v",
            opt(r, &["NOMKSTREAM", "MAXLEN 2", "MINID 3"]),
            stream_id(r)
        ),
        2 => format!("XDEL {key} {}", p(r, &["1-1", "2-0", "3-5"])),
        3 => format!("XTRIM {key} {}", p(r, &["MAXLEN 1", "MINID 3", "MAXLEN 0"])),
        4 => format!(
            "XGROUP CREATE {key} {g} {} {}",
            p(r, &["0", "$", "2-0"]),
            opt(r, &["MKSTREAM", "ENTRIESREAD 1"])
        ),
        5 => format!("XGROUP CREATECONSUMER {key} {g} {c}"),
        6 => format!("XGROUP DELCONSUMER {key} {g} {c}"),
        7 => format!("XGROUP SETID {key} {g} {}", p(r, &["0", "$", "2-0"])),
        8 | 9 => format!(
            "XREADGROUP GROUP {g} {c} {} {} STREAMS {key} {}",
            opt(r, &["COUNT 1", "COUNT 2"]),
            opt(r, &["NOACK"]),
            p(r, &[">", ">", "0"])
        ),
        10 => format!("XACK {key} {g} {}", p(r, &["1-1", "2-0", "3-5 1-1"])),
        11 => format!(
            "XCLAIM {key} {g} {c} 0 {} {}",
            p(r, &["1-1", "2-0", "3-5 1-1"]),
            opt(
                r,
                &["FORCE", "JUSTID", "RETRYCOUNT 5", "IDLE 10", "FORCE JUSTID"]
            )
        ),
        12 => format!(
            "XAUTOCLAIM {key} {g} {c} 0 0-0 {} {}",
            opt(r, &["COUNT 1", "COUNT 5"]),
            opt(r, &["JUSTID"])
        ),
        13 => format!("XSETID {key} {}", p(r, &["9-9", "10-0", "1-0"])),
        14 => format!("XGROUP DESTROY {key} {g}"),
        _ => format!("XREAD COUNT 1 STREAMS {key} 0"),
    })
}

/// HLL, geo and bit commands.
fn misc_cmd(r: &mut Rng) -> Step {
    Step::Cmd(match r.below(11) {
        0 => format!("PFADD hl1 {}", some(r, MEMBERS, 3)),
        1 => "PFADD hl1".to_string(),
        2 => format!("PFMERGE {} hl1", p(r, &["hl1", "s1", "t1"])),
        3 => "PFCOUNT hl1".to_string(),
        4 => format!(
            "GEOADD g1 {} 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            opt(r, &["NX", "XX", "CH"])
        ),
        5 => format!(
            "GEOSEARCHSTORE {} g1 FROMLONLAT 15 37 BYRADIUS 200 km {}",
            p(r, &["z1", "g1", "s1"]),
            opt(r, &["STOREDIST"])
        ),
        6 => "GEORADIUS g1 15 37 200 km STORE z2".to_string(),
        7 => format!(
            "BITFIELD b1 SET u8 0 {} INCRBY u8 8 {} {}",
            p(r, &["255", "1"]),
            p(r, &["10", "300"]),
            opt(r, &["GET u8 0", "OVERFLOW FAIL INCRBY u8 0 300"])
        ),
        8 => "BITFIELD b1 GET u8 0".to_string(),
        9 => format!("SETBIT b1 {} {}", p(r, &["3", "100"]), p(r, &["0", "1"])),
        _ => format!("BITOP {} b1 b1 s1", p(r, &["AND", "OR", "NOT"])),
    })
}

/// Keyspace commands.
fn keyspace_cmd(r: &mut Rng) -> Step {
    let key = p(r, ALL);
    let other = p(r, ALL);
    let db = r.below(DBS);
    Step::Cmd(match r.below(13) {
        0 | 1 => format!("SELECT {db}"),
        2 => format!("MOVE {key} {db}"),
        3 => format!("SWAPDB {db} {}", r.below(DBS)),
        4 => format!(
            "COPY {key} {other} {} {}",
            opt(r, &["DB 1", "DB 0"]),
            opt(r, &["REPLACE"])
        ),
        5 => format!("RENAME {key} {other}"),
        6 => format!("RENAMENX {key} {other}"),
        7 => format!("DEL {key} {}", opt(r, &["missing", "s1"])),
        8 => format!("UNLINK {key} missing"),
        9 => "DEL missing nokey".to_string(),
        10 => {
            if r.one_in(4) {
                "FLUSHDB".to_string()
            } else {
                format!("TOUCH {key}")
            }
        }
        11 if r.one_in(3) => format!("CONFIG SET lazyfree-lazy-expire {}", p(r, &["yes", "no"])),
        11 => "DBSIZE".to_string(),
        // A whole SCAN (COUNT 1000 covers these few keys in one call on both servers): it
        // deletes the expired keys its pattern and TYPE let through.
        12 if r.one_in(2) => format!(
            "SCAN 0 COUNT 1000 {}",
            opt(
                r,
                &[
                    "MATCH s*",
                    "MATCH *1",
                    "TYPE string",
                    "TYPE none",
                    "TYPE list",
                    "MATCH [st]2 TYPE set"
                ]
            )
        ),
        _ => format!("SORT {} BY nosort STORE {other}", p(r, &["l1", "t1", "z1"])),
    })
}

/// Scripts and functions (effects only, random-free).
fn script_cmd(r: &mut Rng) -> Step {
    let key = p(r, ALL);
    let other = p(r, ALL);
    let scripts = [
        "\"redis.call('set',KEYS[1],ARGV[1]) return 1\"",
        "\"redis.call('incr',KEYS[1]) redis.call('expire',KEYS[1],100) return 1\"",
        "\"redis.call('rpush',KEYS[1],'x') return redis.call('lpop',KEYS[1])\"",
        "\"redis.call('del',KEYS[1]) return redis.call('get',KEYS[2])\"",
        "\"redis.call('set',KEYS[1],'1') return redis.call('incr',KEYS[2])\"",
        "\"return redis.call('get',KEYS[1])\"",
        "\"redis.call('select',2) redis.call('set',KEYS[1],'db2') return 1\"",
        "\"redis.call('setex',KEYS[1],100,'v') redis.call('incrbyfloat',KEYS[2],'1.5') return 1\"",
        "\"redis.call('sadd',KEYS[1],'a') return redis.call('spop',KEYS[1],10)\"",
        "\"return redis.pcall('lpush',KEYS[1],'x')\"",
    ];
    Step::Cmd(match r.below(4) {
        0 | 1 => format!("EVAL {} 2 {key} {other} {}", p(r, &scripts), p(r, VALS)),
        2 => format!(
            "FCALL {} 2 {key} {other} {}",
            p(r, &["fz_set", "fz_incr", "fz_two", "fz_read"]),
            p(r, VALS)
        ),
        _ => format!("EVAL_RO {} 2 {key} {other} 1", scripts[5]),
    })
}

/// A library loaded at the start of every sequence (FUNCTION LOAD is propagated too).
pub(super) const LIBRARY: &str = "\"#!lua name=fz\n\
redis.register_function('fz_set', function(k, a) return redis.call('set', k[1], a[1]) end)\n\
redis.register_function('fz_incr', function(k, a) redis.call('incr', k[1]) return redis.call('pexpire', k[1], 100000) end)\n\
redis.register_function('fz_two', function(k, a) redis.call('lpush', k[1], a[1]) return redis.call('rpoplpush', k[1], k[2]) end)\n\
redis.register_function{function_name='fz_read', callback=function(k, a) return redis.call('get', k[1]) end, flags={'no-writes'}}\"";

/// A single command of any family (what MULTI queues).
fn simple(r: &mut Rng) -> Step {
    match r.below(10) {
        0 | 1 => string_cmd(r),
        2 => list_cmd(r),
        3 => set_cmd(r),
        4 => zset_cmd(r),
        5 => hash_cmd(r),
        6 => stream_cmd(r),
        7 => misc_cmd(r),
        8 => keyspace_cmd(r),
        _ => touch(r),
    }
}

/// MULTI, a few commands (sometimes a queued error or a run-time one), EXEC or DISCARD.
fn transaction(r: &mut Rng) -> Step {
    let mut lines = vec!["MULTI".to_string()];
    for _ in 0..1 + r.below(4) {
        match simple(r) {
            Step::Cmd(l) => lines.push(l),
            _ => continue,
        }
    }
    if r.one_in(6) {
        lines.push("INCR".to_string());
    }
    if r.one_in(6) {
        lines.push("LPUSH s1 x".to_string());
    }
    lines.push(if r.one_in(8) { "DISCARD" } else { "EXEC" }.to_string());
    Step::Multi(lines)
}

/// A blocking command on the second connection and what the main connection does then.
fn blocking(r: &mut Rng) -> Step {
    let l = p(r, LISTS);
    let l2 = p(r, LISTS);
    let z = p(r, ZSETS);
    let x = p(r, STREAMS);
    let (b, f) = match r.below(8) {
        0 => (format!("BLPOP {l} {l2} 0"), format!("RPUSH {l2} a b")),
        1 => (format!("BRPOP {l} 0"), format!("LPUSH {l} a")),
        2 => (
            format!(
                "BLMOVE {l} {l2} {} {} 0",
                p(r, &["LEFT", "RIGHT"]),
                p(r, &["LEFT", "RIGHT"])
            ),
            format!("RPUSH {l} a b"),
        ),
        3 => (
            format!("BLMPOP 0 2 {l} {l2} LEFT COUNT 2"),
            format!("RPUSH {l} a b c"),
        ),
        4 => (format!("BZPOPMIN {z} 0"), format!("ZADD {z} 1 a 2 b")),
        5 => (
            format!("BZMPOP 0 1 {z} MAX COUNT 2"),
            format!("ZADD {z} 1 a"),
        ),
        6 => (
            format!("XREAD BLOCK 0 STREAMS {x} $"),
            format!("XADD {x} * f v"),
        ),
        _ => (
            format!("XREADGROUP GROUP g1 c1 BLOCK 0 STREAMS {x} >"),
            format!("XADD {x} {} f v", stream_id(r)),
        ),
    };
    // Sometimes the feed is on the wrong key or type: the blocked client is unblocked.
    let f = if r.one_in(8) {
        format!("SET {} v", p(r, STRINGS))
    } else {
        f
    };
    Step::Block(b, f)
}

/// One step.
fn step(r: &mut Rng) -> Step {
    match r.below(20) {
        0..=9 => simple(r),
        10 | 11 => expiring(r),
        12 => touch(r),
        13 | 14 => script_cmd(r),
        15 | 16 => transaction(r),
        17 => {
            let src = p(r, ALL);
            let dst = p(r, ALL);
            let ttl = p(r, &["0", "100000", "4102444800000"]);
            let opts = opt(
                r,
                &[
                    "REPLACE",
                    "ABSTTL",
                    "REPLACE ABSTTL",
                    "IDLETIME 10",
                    "FREQ 5",
                ],
            );
            Step::DumpRestore(src.to_string(), format!("RESTORE {dst} {ttl} {opts}"))
        }
        _ => blocking(r),
    }
}

/// A sequence of steps.
pub(crate) fn sequence(r: &mut Rng) -> Vec<Step> {
    (0..SEQ_LEN).map(|_| step(r)).collect()
}

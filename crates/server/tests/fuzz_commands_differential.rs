//! Differential fuzzing of command sequences: a seeded generator writes random sequences of
//! data-type commands over a tiny keyspace (so commands collide, change types and hit
//! WRONGTYPE), with edge-value arguments (negative and huge indexes, inf, empty strings,
//! non-numbers), runs each sequence on rubra-server and on Debian's redis-server 7.0 (both
//! flushed before each sequence) and requires byte-identical replies. Commands whose replies
//! are random by design (SPOP, SRANDMEMBER, RANDOMKEY, ZRANDMEMBER, HRANDFIELD) are not
//! generated. Two normalisations only: replies of set-valued commands are compared as
//! multisets (Redis 7.0 keeps non-integer sets in a hash table with a per-process seed), and
//! positive TTL / expire-time integers compare as "positive" (they depend on the clock).
//!
//! A difference is shrunk (commands dropped while a difference remains) and printed with the
//! run's seed. Short run: `cargo test -p rubra-server --test fuzz_commands_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod reference;
use common::TestServer;
use reference::{RawConn, Reference};
use rubra_fuzz::{Rng, Settings};
use rubra_resp::{parse_frame, Frame};
use std::time::Instant;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 800;
/// Commands per sequence.
const SEQ_LEN: usize = 40;

const KEYS: &[&str] = &["a", "b", "c", "d"];
const FIELDS: &[&str] = &["f", "g", "h", "1", "2", ""];
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "-1",
    "10",
    "x",
    "abc",
    "3.5",
    "-0",
    "1e3",
    " 1",
    "007",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "inf",
    "-inf",
    "nan",
    "0.1",
    "1.7976931348623157e308",
    "a b",
];
const INDEXES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "5",
    "-100",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "",
    "1.5",
];
const COUNTS: &[&str] = &["0", "1", "2", "3", "-1", "100", "9223372036854775807", "x"];
const SCORES: &[&str] = &[
    "0", "1", "-1", "1.5", "2", "inf", "-inf", "+inf", "(1", "(inf", "(-inf", "nan", "x", "",
    "1e308", "-0", "(2", "3",
];
const LEX: &[&str] = &["-", "+", "[a", "(a", "[f", "(g", "[", "a", "[1", "(2"];
/// Relative expire times: none small and positive, which would race the clock.
const TIMES: &[&str] = &[
    "0",
    "-1",
    "1000000",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "9999999999999",
    "-100",
];
/// Absolute expire times (the small ones are in the past).
const AT_TIMES: &[&str] = &[
    "0",
    "1",
    "100",
    "4102444800",
    "4102444800000",
    "9223372036854775807",
    "-1",
    "x",
];

/// The only key lex-range commands use, and every ZADD to it has score 0. Known deviation:
/// on a sorted set with mixed scores (lex ranges "undefined" by the Redis docs) Redis 7.0's
/// listpack walk (`ZADD z 0 "a b" 1e308 0` then `ZRANGEBYLEX z (a [f` is empty in Redis,
/// two members here) and its skiplist walk differ from our bisection, so it is not
/// generated.
const LEX_KEY: &str = "l";

/// How a command's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmp {
    Exact,
    /// Array replies compared as multisets.
    Unordered,
    /// Array replies compared as multisets of consecutive pairs (HGETALL).
    UnorderedPairs,
    /// Positive integers compare equal to each other.
    Ttl,
}

fn p(r: &mut Rng, xs: &[&'static str]) -> &'static str {
    xs[r.below(xs.len())]
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn key(r: &mut Rng) -> String {
    q(p(r, KEYS))
}

fn keys(r: &mut Rng, n: usize) -> String {
    (0..n).map(|_| key(r)).collect::<Vec<_>>().join(" ")
}

fn val(r: &mut Rng) -> String {
    q(p(r, VALUES))
}

fn field(r: &mut Rng) -> String {
    q(p(r, FIELDS))
}

fn idx(r: &mut Rng) -> String {
    q(p(r, INDEXES))
}

fn cnt(r: &mut Rng) -> String {
    q(p(r, COUNTS))
}

fn score(r: &mut Rng) -> String {
    q(p(r, SCORES))
}

fn lex(r: &mut Rng) -> String {
    q(p(r, LEX))
}

fn opt(r: &mut Rng, choices: &[&'static str]) -> String {
    if r.one_in(2) {
        String::new()
    } else {
        p(r, choices).to_string()
    }
}

fn many(r: &mut Rng, f: fn(&mut Rng) -> String) -> String {
    let n = 1 + r.below(3);
    (0..n).map(|_| f(r)).collect::<Vec<_>>().join(" ")
}

fn pairs(r: &mut Rng, a: fn(&mut Rng) -> String, b: fn(&mut Rng) -> String) -> String {
    let n = 1 + r.below(3);
    (0..n)
        .map(|_| format!("{} {}", a(r), b(r)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn side(r: &mut Rng) -> &'static str {
    p(r, &["LEFT", "RIGHT", "left", "MIDDLE"])
}

/// One random command line (redis-cli quoting) and how to compare its replies.
fn command(r: &mut Rng) -> (String, Cmp) {
    use Cmp::*;
    let k = key(r);
    let (line, cmp) = match r.below(100) {
        // strings and integers
        0 => (
            format!(
                "SET {k} {} {}",
                val(r),
                opt(r, &["NX", "XX", "GET", "KEEPTTL"])
            ),
            Exact,
        ),
        1 => (format!("GET {k}"), Exact),
        2 => (format!("APPEND {k} {}", val(r)), Exact),
        3 => (format!("STRLEN {k}"), Exact),
        4 => (format!("INCR {k}"), Exact),
        5 => (format!("DECRBY {k} {}", val(r)), Exact),
        6 => (format!("INCRBY {k} {}", val(r)), Exact),
        7 => (format!("INCRBYFLOAT {k} {}", val(r)), Exact),
        8 => (format!("GETRANGE {k} {} {}", idx(r), idx(r)), Exact),
        9 => {
            let off = p(r, &["0", "1", "3", "-1", "x", "536870912", "536870911"]);
            // A big offset with an empty value is a no-op; with a value it would
            // allocate 512 MB on both sides, so only the refused or empty cases are big.
            let v = if off == "536870911" { q("") } else { val(r) };
            (format!("SETRANGE {k} {off} {v}"), Exact)
        }
        10 => (format!("GETDEL {k}"), Exact),
        11 => (format!("GETSET {k} {}", val(r)), Exact),
        12 => (format!("MGET {}", keys(r, 3)), Exact),
        13 => (format!("MSET {k} {} {} {}", val(r), key(r), val(r)), Exact),
        14 => (
            format!("MSETNX {k} {} {} {}", val(r), key(r), val(r)),
            Exact,
        ),
        15 => (format!("SETNX {k} {}", val(r)), Exact),
        16 => (format!("DECR {k}"), Exact),
        // keys and TTLs
        17 => (format!("DEL {}", keys(r, 2)), Exact),
        18 => (format!("EXISTS {}", keys(r, 3)), Exact),
        19 => (format!("TYPE {k}"), Exact),
        20 => (format!("RENAME {k} {}", key(r)), Exact),
        21 => (format!("RENAMENX {k} {}", key(r)), Exact),
        22 => (
            format!("COPY {k} {} {}", key(r), opt(r, &["REPLACE"])),
            Exact,
        ),
        23 => (format!("PERSIST {k}"), Exact),
        24 => {
            let c = p(r, &["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
            let t = p(r, if c.ends_with("AT") { AT_TIMES } else { TIMES });
            let o = opt(r, &["NX", "XX", "GT", "LT", "nx"]);
            (format!("{c} {k} {t} {o}"), Exact)
        }
        25 => {
            let c = p(r, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
            (format!("{c} {k}"), Ttl)
        }
        26 => (
            format!(
                "GETEX {k} {}",
                opt(r, &["PERSIST", "EX 100", "PX 0", "EX -1"])
            ),
            Exact,
        ),
        // lists
        27 | 28 => (format!("LPUSH {k} {}", many(r, val)), Exact),
        29 | 30 => (format!("RPUSH {k} {}", many(r, val)), Exact),
        31 => (format!("LPUSHX {k} {}", many(r, val)), Exact),
        32 => (format!("RPUSHX {k} {}", val(r)), Exact),
        33 => (format!("LPOP {k} {}", opt(r, COUNTS)), Exact),
        34 => (format!("RPOP {k} {}", opt(r, COUNTS)), Exact),
        35 | 36 => (format!("LRANGE {k} {} {}", idx(r), idx(r)), Exact),
        37 => (format!("LINDEX {k} {}", idx(r)), Exact),
        38 => (format!("LSET {k} {} {}", idx(r), val(r)), Exact),
        39 => (format!("LLEN {k}"), Exact),
        40 => (format!("LREM {k} {} {}", idx(r), val(r)), Exact),
        41 => {
            let w = p(r, &["BEFORE", "AFTER", "after", "X"]);
            (format!("LINSERT {k} {w} {} {}", val(r), val(r)), Exact)
        }
        42 => (format!("LTRIM {k} {} {}", idx(r), idx(r)), Exact),
        43 => {
            let mut s = format!("LPOS {k} {}", val(r));
            if r.one_in(2) {
                s += &format!(" RANK {}", idx(r));
            }
            if r.one_in(2) {
                s += &format!(" COUNT {}", cnt(r));
            }
            if r.one_in(3) {
                s += &format!(" MAXLEN {}", cnt(r));
            }
            (s, Exact)
        }
        44 => (
            format!("LMOVE {k} {} {} {}", key(r), side(r), side(r)),
            Exact,
        ),
        45 => (format!("RPOPLPUSH {k} {}", key(r)), Exact),
        46 => {
            let c = if r.one_in(2) {
                format!(" COUNT {}", cnt(r))
            } else {
                String::new()
            };
            (format!("LMPOP 2 {k} {} {}{c}", key(r), side(r)), Exact)
        }
        // hashes
        47 | 48 => (format!("HSET {k} {}", pairs(r, field, val)), Exact),
        49 => (format!("HSETNX {k} {} {}", field(r), val(r)), Exact),
        50 => (format!("HGET {k} {}", field(r)), Exact),
        51 => (format!("HMGET {k} {}", many(r, field)), Exact),
        52 => (format!("HDEL {k} {}", many(r, field)), Exact),
        53 => (format!("HLEN {k}"), Exact),
        54 => (format!("HEXISTS {k} {}", field(r)), Exact),
        55 => (format!("HINCRBY {k} {} {}", field(r), val(r)), Exact),
        56 => (format!("HINCRBYFLOAT {k} {} {}", field(r), val(r)), Exact),
        57 => (format!("HSTRLEN {k} {}", field(r)), Exact),
        // Order only: a value over 64 bytes turns a Redis hash into a hash table.
        58 => (format!("{} {k}", p(r, &["HKEYS", "HVALS"])), Unordered),
        59 => (format!("HGETALL {k}"), UnorderedPairs),
        // sets
        60 => (format!("SADD {k} {}", many(r, val)), Exact),
        61 => (format!("SREM {k} {}", many(r, val)), Exact),
        62 => (format!("SCARD {k}"), Exact),
        63 => (format!("SISMEMBER {k} {}", val(r)), Exact),
        64 => (format!("SMISMEMBER {k} {}", many(r, val)), Exact),
        65 => (format!("SMEMBERS {k}"), Unordered),
        66 => {
            let n = 1 + r.below(2);
            let c = p(r, &["SINTER", "SUNION", "SDIFF"]);
            (format!("{c} {k} {}", keys(r, n)), Unordered)
        }
        67 => {
            let n = 1 + r.below(2);
            let c = p(r, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
            (format!("{c} {k} {}", keys(r, n)), Exact)
        }
        68 => (format!("SMOVE {k} {} {}", key(r), val(r)), Exact),
        69 => {
            let l = if r.one_in(2) {
                format!(" LIMIT {}", cnt(r))
            } else {
                String::new()
            };
            (format!("SINTERCARD 2 {k} {}{l}", key(r)), Exact)
        }
        // sorted sets
        70..=72 => {
            let o = [
                opt(r, &["NX", "XX"]),
                opt(r, &["GT", "LT"]),
                opt(r, &["CH"]),
                opt(r, &["INCR"]),
            ]
            .join(" ");
            (format!("ZADD {k} {o} {}", pairs(r, score, val)), Exact)
        }
        73 => (format!("ZINCRBY {k} {} {}", score(r), val(r)), Exact),
        74 => (format!("ZSCORE {k} {}", val(r)), Exact),
        75 => (format!("ZMSCORE {k} {}", many(r, val)), Exact),
        76 => {
            let c = p(r, &["ZRANK", "ZREVRANK"]);
            (format!("{c} {k} {}", val(r)), Exact)
        }
        77 => (format!("ZCARD {k}"), Exact),
        78 => (format!("ZCOUNT {k} {} {}", score(r), score(r)), Exact),
        79 | 80 => {
            let by = r.below(3);
            let (a, b) = match by {
                0 => (idx(r), idx(r)),
                1 => (score(r), score(r)),
                _ => (lex(r), lex(r)),
            };
            let k = if by == 2 { LEX_KEY } else { &k };
            let mut s = format!("ZRANGE {k} {a} {b}");
            s += [" ", " BYSCORE", " BYLEX"][by];
            if r.one_in(2) {
                s += " REV";
            }
            if r.one_in(3) {
                s += &format!(" LIMIT {} {}", idx(r), idx(r));
            }
            if r.one_in(2) {
                s += " WITHSCORES";
            }
            (s, Exact)
        }
        81 => {
            let c = p(r, &["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]);
            let w = opt(r, &["WITHSCORES"]);
            let l = if r.one_in(3) {
                format!(" LIMIT {} {}", idx(r), cnt(r))
            } else {
                String::new()
            };
            (format!("{c} {k} {} {} {w}{l}", score(r), score(r)), Exact)
        }
        82 => {
            let c = p(r, &["ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZLEXCOUNT"]);
            (format!("{c} {LEX_KEY} {} {}", lex(r), lex(r)), Exact)
        }
        83 => (format!("ZREM {k} {}", many(r, val)), Exact),
        84 => (format!("ZREMRANGEBYRANK {k} {} {}", idx(r), idx(r)), Exact),
        85 => (
            format!("ZREMRANGEBYSCORE {k} {} {}", score(r), score(r)),
            Exact,
        ),
        86 => (
            format!("ZREMRANGEBYLEX {LEX_KEY} {} {}", lex(r), lex(r)),
            Exact,
        ),
        87 => {
            let c = p(r, &["ZPOPMIN", "ZPOPMAX"]);
            (format!("{c} {k} {}", opt(r, COUNTS)), Exact)
        }
        88 | 89 => {
            let c = p(r, &["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
            let mut s = format!("{c} {k} 2 {}", keys(r, 2));
            if c != "ZDIFFSTORE" && r.one_in(2) {
                s += &format!(" WEIGHTS {} {}", score(r), score(r));
            }
            if c != "ZDIFFSTORE" && r.one_in(2) {
                s += &format!(" AGGREGATE {}", p(r, &["SUM", "MIN", "MAX", "x"]));
            }
            (s, Exact)
        }
        90 => {
            let c = p(r, &["ZUNION", "ZINTER", "ZDIFF"]);
            let w = opt(r, &["WITHSCORES"]);
            (format!("{c} 2 {k} {} {w}", key(r)), Exact)
        }
        91 => (
            format!("ZRANGESTORE {k} {} {} {}", key(r), idx(r), idx(r)),
            Exact,
        ),
        92 => {
            let c = if r.one_in(2) {
                format!(" COUNT {}", cnt(r))
            } else {
                String::new()
            };
            let w = p(r, &["MIN", "MAX", "x"]);
            (format!("ZMPOP 2 {k} {} {w}{c}", key(r)), Exact)
        }
        93 => (format!("ZINTERCARD 2 {k} {}", key(r)), Exact),
        // reads that cross types
        94 => ("DBSIZE".to_string(), Exact),
        95 => (
            format!("SORT {k} {}", opt(r, &["ALPHA", "DESC", "LIMIT 0 2"])),
            Exact,
        ),
        96 | 97 => (
            format!("ZADD {LEX_KEY} {}", pairs(r, |_| q("0"), val)),
            Exact,
        ),
        98 => (format!("ZREM {LEX_KEY} {}", many(r, val)), Exact),
        99 => (
            p(r, &["SET l x", "DEL l", "RPUSH l a", "ZADD l 0 a"]).to_string(),
            Exact,
        ),
        _ => (format!("GET {k}"), Exact),
    };
    (line.trim_end().to_string(), cmp)
}

fn frame(raw: &[u8]) -> Option<Frame> {
    match parse_frame(raw, usize::MAX / 2) {
        Ok(Some((f, _))) => Some(f),
        _ => None,
    }
}

/// Whether two replies agree under the comparison rule.
fn same(cmp: Cmp, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (cmp, frame(a), frame(b)) {
        (Cmp::Unordered, Some(Frame::Array(mut x)), Some(Frame::Array(mut y))) => {
            let key = |f: &Frame| format!("{f:?}");
            x.sort_by_key(key);
            y.sort_by_key(key);
            x == y
        }
        (Cmp::UnorderedPairs, Some(Frame::Array(x)), Some(Frame::Array(y))) => {
            let pairs = |v: Vec<Frame>| {
                let mut p: Vec<String> = v.chunks(2).map(|c| format!("{c:?}")).collect();
                p.sort();
                p
            };
            pairs(x) == pairs(y)
        }
        (Cmp::Ttl, Some(Frame::Int(x)), Some(Frame::Int(y))) => x > 0 && y > 0,
        _ => false,
    }
}

/// The two servers under comparison.
struct Pair {
    _rubra: TestServer,
    _redis: Reference,
    a: RawConn,
    b: RawConn,
}

impl Pair {
    fn start() -> Pair {
        let rubra = TestServer::start(&[]);
        let redis = Reference::start();
        let a = RawConn::connect(rubra.port);
        let b = RawConn::connect(redis.port);
        Pair {
            _rubra: rubra,
            _redis: redis,
            a,
            b,
        }
    }

    /// Runs `seq` from an empty keyspace; the first difference, if any.
    fn first_difference(&mut self, seq: &[(String, Cmp)]) -> Option<String> {
        self.a.call("FLUSHALL");
        self.b.call("FLUSHALL");
        for (line, cmp) in seq {
            let ra = self.a.call(line);
            let rb = self.b.call(line);
            if !same(*cmp, &ra, &rb) {
                return Some(format!(
                    "{line}\n    rubra: {:?}\n    redis: {:?}",
                    String::from_utf8_lossy(&ra),
                    String::from_utf8_lossy(&rb)
                ));
            }
        }
        None
    }

    /// Drops commands while a difference remains (cut after the first differing one).
    fn shrink(&mut self, mut seq: Vec<(String, Cmp)>) -> Vec<(String, Cmp)> {
        let mut i = 0;
        while i < seq.len() {
            let mut shorter = seq.clone();
            shorter.remove(i);
            if self.first_difference(&shorter).is_some() {
                seq = shorter;
            } else {
                i += 1;
            }
        }
        seq
    }
}

/// Known deviations from Redis 7.0 the generator must not produce (each named in docs or
/// the report). Empty: none known.
fn known_deviation(_line: &str) -> bool {
    false
}

fn sequence(r: &mut Rng) -> Vec<(String, Cmp)> {
    let mut seq = Vec::with_capacity(SEQ_LEN);
    while seq.len() < SEQ_LEN {
        let c = command(r);
        if !known_deviation(&c.0) {
            seq.push(c);
        }
    }
    seq
}

#[test]
fn fuzz_command_sequences_against_redis() {
    let s = Settings::from_env(SHORT);
    println!(
        "fuzz_command_sequences_against_redis: seed {} ({} sequences)",
        s.seed, s.iters
    );
    let mut rng = Rng::new(s.seed);
    let mut pair = Pair::start();
    let start = Instant::now();
    let mut run = 0;
    for i in 0..s.iters {
        if s.max_time.is_some_and(|m| start.elapsed() > m) {
            break;
        }
        let seq = sequence(&mut rng);
        run += 1;
        if let Some(diff) = pair.first_difference(&seq) {
            let small = pair.shrink(seq);
            let lines: Vec<&str> = small.iter().map(|(l, _)| l.as_str()).collect();
            let diff = pair.first_difference(&small).unwrap_or(diff);
            panic!(
                "seed {} sequence {i}: reply differs from redis-server\n{diff}\nminimal sequence:\n  {}",
                s.seed,
                lines.join("\n  ")
            );
        }
    }
    println!(
        "fuzz_command_sequences_against_redis: {run} sequences, {} commands, {:?}",
        run * SEQ_LEN as u64,
        start.elapsed()
    );
}

/// Regression cases found by the fuzzer (each a minimal sequence).
#[test]
fn regression_sequences() {
    let cases: &[(&str, &[&str])] = &[
        // Score-range bounds are read with strtod: "" and "(" are 0, leading spaces skip.
        (
            "empty_score_bound_is_zero",
            &[
                "ZADD z 0 a 1 b",
                "ZRANGE z \"\" 1 BYSCORE REV WITHSCORES",
                "ZRANGE d \"\" 1 BYSCORE",
                "ZCOUNT z \"(\" 1",
                "ZRANGEBYSCORE z \" 1\" \"+inf\"",
                "ZCOUNT z \"1 \" 2",
                "ZCOUNT z \"  \" 2",
                "ZREMRANGEBYSCORE z \"\" \"(\"",
            ],
        ),
        // GETEX validates the expire value only after finding a string at the key.
        (
            "getex_checks_expire_after_lookup",
            &[
                "GETEX missing PX 0",
                "GETEX missing EX -1",
                "GETEX missing EX x",
                "RPUSH l a",
                "GETEX l PX 0",
                "SET s v",
                "GETEX s PX 0",
                "GETEX s EX x",
                "GETEX s FOO 1",
            ],
        ),
        // LIMIT on a rank range is an error only when its count is not -1.
        (
            "zrange_rank_limit_minus_one_is_ignored",
            &[
                "ZADD z 1 a 2 b 3 c",
                "ZRANGE z 0 -1 LIMIT 5 -1",
                "ZRANGE z 0 -1 LIMIT -1 -1 WITHSCORES",
                "ZRANGE z 0 1 REV LIMIT 1 -1",
                "ZRANGE z 0 1 LIMIT 0 5",
                "ZRANGE z x 1 LIMIT 0 5",
                "ZRANGE z x 1 LIMIT 0 -1",
                "ZRANGE z 0 1 LIMIT x -1",
                "ZRANGESTORE d z 0 -1 LIMIT 2 -1",
                "ZRANGE d 0 -1",
            ],
        ),
        // INCRBYFLOAT/HINCRBYFLOAT refuse a number with an embedded NUL (string2ld).
        (
            "incrbyfloat_refuses_embedded_nul",
            &[
                "INCR d",
                "SETRANGE d 3 -1",
                "INCRBYFLOAT d -0",
                "SET c 1",
                "SETRANGE c 3 \" 1\"",
                "INCRBYFLOAT c 1e3",
                "INCRBYFLOAT k \"1\\x00\"",
                "INCRBYFLOAT k \"1\\x002\"",
                "HINCRBYFLOAT h f \"1\\x00\"",
                "HSET h g \"1\\x00\"",
                "HINCRBYFLOAT h g 1",
            ],
        ),
    ];
    let mut pair = Pair::start();
    for (name, lines) in cases {
        let seq: Vec<(String, Cmp)> = lines.iter().map(|l| (l.to_string(), Cmp::Exact)).collect();
        if let Some(diff) = pair.first_difference(&seq) {
            panic!("{name}: {diff}");
        }
    }
}

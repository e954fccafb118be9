//! Differential fuzzing of command sequences: a seeded generator writes random sequences of
//! data-type commands over a tiny keyspace (so commands collide, change types and hit
//! WRONGTYPE), with edge-value arguments (negative and huge indexes, inf, empty strings,
//! non-numbers), runs each sequence on rubra-server and on Debian's redis-server 7.0 (both
//! flushed before each sequence) and requires byte-identical replies. Half the sequences
//! run in RESP3 (HELLO 3 first). Besides the strings, keys, lists, hashes, sets and sorted
//! sets: bitmaps (SETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD[_RO]), OBJECT ENCODING (Redis's
//! encoding conversions are mirrored), WATCH/MULTI/EXEC/DISCARD blocks and SORT[_RO].
//! Commands whose replies are random by design (SPOP, RANDOMKEY, the single-element forms
//! of SRANDMEMBER/HRANDFIELD/ZRANDMEMBER) are not generated; their count forms compare by
//! reply size only. Other normalisations: replies of set-valued commands (RESP2 arrays,
//! RESP3 sets and maps) are compared as multisets (Redis 7.0 keeps non-integer sets in a
//! hash table with a per-process seed), and positive TTL / expire-time integers compare as
//! "positive" (they depend on the clock).
//!
//! A difference is shrunk (commands dropped while a difference remains) and printed with the
//! run's seed. Short run: `cargo test -p rubra-server --test fuzz_commands_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, frame, opt, p, q, Pair};
use rubra_fuzz::Rng;
use rubra_resp::Frame;
mod fuzz_commands_kit;
use fuzz_commands_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 700;

#[test]
fn fuzz_command_sequences_against_redis() {
    let mut pair = Pair::start();
    campaign(
        "fuzz_command_sequences_against_redis",
        SHORT,
        &mut pair,
        // Half the sequences speak RESP3.
        |r| (r.one_in(2), sequence(r)),
        |pair, resp3, seq| pair.first_difference(resp3, seq),
        |(line, _)| line.clone(),
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
        // BITPOS on an empty string (not a missing key) is an empty range: -1 for 0 too.
        (
            "bitpos_empty_string",
            &[
                "SET e \"\"",
                "BITPOS e 0",
                "BITPOS e 1",
                "BITPOS e 0 -2 5 BYTE",
                "BITPOS e 0 0 -1 BIT",
                "BITPOS missing 0",
            ],
        ),
        // BITPOS has no "both negative and inverted" shortcut (the range clamps to 0..0);
        // BITCOUNT has one, answered before the unit is read.
        (
            "bit_ranges_negative_inverted",
            &[
                "SET c -9223372036854775808",
                "BITPOS c 1 -100 -9223372036854775808",
                "BITPOS c 1 -1 -2 BIT",
                "BITCOUNT c -2 -9223372036854775808 X",
                "BITCOUNT c -2 -1 X",
                "BITCOUNT c 2 1 X",
                "SET e \"\"",
                "BITCOUNT e -1 -2 X",
            ],
        ),
        // Strings Redis builds without trying the integer encoding.
        (
            "string_encodings_of_bitop_and_incrbyfloat",
            &[
                "SET a 007",
                "BITOP AND d a",
                "OBJECT ENCODING d",
                "INCRBYFLOAT b -1",
                "OBJECT ENCODING b",
                "INCRBYFLOAT f 1e3",
                "OBJECT ENCODING f",
                "INCR f",
                "OBJECT ENCODING f",
                "INCRBYFLOAT g 12345678901234567890123456789012345678901234",
                "OBJECT ENCODING g",
            ],
        ),
        // WATCH sees only the keys a write modified: not the sources of a *STORE, COPY
        // or MPOP, not a missing key DEL named.
        (
            "watch_ignores_read_only_keys_of_writes",
            &[
                "ZADD c 0 0",
                "WATCH a d",
                "ZRANGESTORE c a 100 100",
                "MULTI",
                "EXEC",
                "RPUSH a 0",
                "WATCH c d",
                "DEL d a",
                "MULTI",
                "EXEC",
                "SADD s 1",
                "WATCH s",
                "SUNIONSTORE u s",
                "COPY s t",
                "SORT s STORE v",
                "BITOP OR w s2",
                "LMPOP 2 s2 u LEFT",
                "MULTI",
                "EXEC",
            ],
        ),
        // An LTRIM that keeps the whole list still signals its key (WATCH fails).
        (
            "watch_sees_ltrim_that_trims_nothing",
            &[
                "LPUSH a 007",
                "WATCH a c",
                "LTRIM a -100 100",
                "MULTI",
                "EXEC",
            ],
        ),
        // A -0 score is 0 in a listpack sorted set but stays -0 in a skiplist one.
        (
            "zset_negative_zero_score_by_encoding",
            &[
                "ZINCRBY d -0 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ZADD d -0 y",
                "ZSCORE d y",
                "ZMPOP 1 d MIN",
                "ZINCRBY d -0 y",
                "ZRANGESTORE s d 0 -1",
                "ZRANGE s 0 -1 WITHSCORES",
                "ZADD e -0 x",
                "ZSCORE e x",
                "ZINCRBY e -0 z",
                "ZRANGE e 0 -1 WITHSCORES",
            ],
        ),
        // ZUNION/ZINTER/ZDIFF reply from a skiplist (-0 stays); their STORE forms do not.
        (
            "zset_setop_replies_keep_negative_zero",
            &[
                "ZADD d 1.5 x",
                "SORT d BY *->f LIMIT 2 2 GET *",
                "OBJECT ENCODING d",
                "ZADD d NX -1 y -0 z",
                "ZDIFF 2 d c WITHSCORES",
                "ZUNION 2 d c WITHSCORES",
                "ZINTER 1 d WITHSCORES",
                "ZUNIONSTORE u 1 d",
                "ZSCORE u z",
            ],
        ),
    ];
    let mut pair = Pair::start();
    for (name, lines) in cases {
        let seq: Vec<(String, Cmp)> = lines.iter().map(|l| (l.to_string(), Cmp::Exact)).collect();
        for resp3 in [false, true] {
            if let Some(diff) = pair.first_difference(resp3, &seq) {
                panic!("{name} (RESP{}): {diff}", if resp3 { 3 } else { 2 });
            }
        }
    }
}

/// A set-operation result too big for the compact form keeps its -0 scores when stored
/// (Redis builds it as a skiplist and converts only a small one to a listpack).
#[test]
fn negative_zero_in_big_stored_setop_results() {
    let members: Vec<String> = (2..=140).map(|i| i.to_string()).collect();
    let small: Vec<String> = (2..=10).map(|i| i.to_string()).collect();
    let lines = [
        format!("SADD b {}", members.join(" ")),
        "ZUNIONSTORE c 2 c b WEIGHTS -1 -0 AGGREGATE MAX".to_string(),
        "ZPOPMIN c 1".to_string(),
        "OBJECT ENCODING c".to_string(),
        format!("SADD s {}", small.join(" ")),
        "ZUNIONSTORE d 1 s WEIGHTS -0".to_string(),
        "ZPOPMIN d 1".to_string(),
        "OBJECT ENCODING d".to_string(),
        "ZUNION 1 s WEIGHTS -0 WITHSCORES".to_string(),
        // ZRANGESTORE: a big rank range is a skiplist from the start, a score or lex range
        // converts after 128 members (the first ones then hold 0).
        "ZUNIONSTORE c 1 b WEIGHTS -0".to_string(),
        "ZRANGESTORE e c 0 -1".to_string(),
        "ZSCORE e 5".to_string(),
        "ZRANGESTORE f c -inf +inf BYSCORE".to_string(),
        "ZSCORE f 5".to_string(),
        "ZSCORE f 99".to_string(),
        "ZRANGESTORE g c - + BYLEX".to_string(),
        "ZSCORE g 5".to_string(),
        "ZSCORE g 99".to_string(),
    ];
    let seq: Vec<(String, Cmp)> = lines.into_iter().map(|l| (l, Cmp::Exact)).collect();
    let mut pair = Pair::start();
    for resp3 in [false, true] {
        if let Some(diff) = pair.first_difference(resp3, &seq) {
            panic!("RESP{}: {diff}", if resp3 { 3 } else { 2 });
        }
    }
}

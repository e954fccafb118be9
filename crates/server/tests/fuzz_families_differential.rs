//! Differential fuzzing of the command families the data-type fuzzer
//! (fuzz_commands_differential.rs) does not generate: streams, GEO, HyperLogLog, scripting
//! reply conversions (EVAL / FCALL, RESP2 and RESP3) and deterministic introspection (TYPE,
//! OBJECT ENCODING, DUMP bytes and RESTORE of the dumps across servers). A seeded generator
//! writes random sequences over a tiny keyspace, half of them after HELLO 3 on both
//! connections; each runs on rubra-server and on Debian's redis-server 7.0 (both flushed)
//! and the replies must be byte-identical.
//!
//! What depends on the clock is normalised, nothing else: stream ids made by a bare `*`
//! (millisecond time, 13+ digits) compare as one token, idle / seen times (XPENDING
//! extended, XINFO CONSUMERS) compare as 0. What Redis leaves random is not generated:
//! sets only get integer members (a Redis 7.0 string set is a hash table with a
//! per-process seed, so its DUMP order is random), and keys that got consumer groups are
//! never dumped (their DUMP holds delivery times).
//!
//! A difference is shrunk (commands dropped while a difference remains) and printed with
//! the seed. Short run: `cargo test -p rubra-server --test fuzz_families_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, frame, opt, p, q, Pair};
use rubra_fuzz::Rng;
use rubra_resp::Frame;
mod fuzz_families_kit;
use fuzz_families_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 1000;

#[test]
fn fuzz_family_sequences_against_redis() {
    let mut pair = Pair::start();
    campaign(
        "fuzz_family_sequences_against_redis",
        SHORT,
        &mut pair,
        sequence,
        |pair, resp3, steps| pair.first_difference(resp3, steps),
        show_step,
    );
}

/// Regression cases found by the fuzzer (each a minimal sequence; RESP3 where marked).
#[test]
fn regression_sequences() {
    let cases: &[(&str, bool, &[&str])] = &[
        // PFADD / PFMERGE / single-key PFCOUNT unshare the string: raw even when short.
        (
            "hll_string_is_raw",
            false,
            &[
                "PFADD k xyzzy b",
                "OBJECT ENCODING k",
                "EVAL \"redis.call('set', KEYS[1], redis.call('get', KEYS[2]))\" 2 c k",
                "OBJECT ENCODING c",
                "PFCOUNT c k",
                "OBJECT ENCODING c",
                "PFCOUNT c",
                "OBJECT ENCODING c",
                "PFMERGE e",
                "OBJECT ENCODING e",
            ],
        ),
        // DUMP compresses as liblzf does (its hash, no match at offset 0, its room tests).
        (
            "dump_lzf_bytes",
            false,
            &[
                "PFADD k xyzzy c e hello",
                "DUMP k",
                "SET s aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "DUMP s",
                "SET s abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc",
                "DUMP s",
                "SET s abababababababababababab",
                "DUMP s",
                "PFADD d e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12 e13 e14 e15 e16 e17 e18 e19 e20",
                "DUMP d",
            ],
        ),
        // LuaBitOp's tobit rounds a fraction to nearest-even (the 2^52 + 2^51 trick).
        (
            "bitop_rounds_to_nearest_even",
            false,
            &[
                "EVAL \"return bit.band(tonumber(ARGV[1]) or 0, 255)\" 0 3.5",
                "EVAL \"local r = {} for i, a in ipairs(ARGV) do r[i] = bit.tobit(tonumber(a)) end return r\" 0 2.5 -2.5 3.5 -3.5 0.5 1.5 4294967296.5 -1e20 1e20 9007199254740993 2251799813685248.5 1e300 inf -inf nan",
                "EVAL \"return {bit.tohex(2.5), bit.bnot(1.5), bit.lshift(1, 1.5), bit.bor(1.5, 2.5)}\" 0",
            ],
        ),
        // lua-cjson reads numbers with strtod (decode_invalid_numbers): hex, inf, nan, '+'.
        (
            "cjson_decodes_numbers_with_strtod",
            false,
            &[
                "EVAL \"return cjson.decode(ARGV[1])\" 0 nan",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"nan\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"NaN\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"inf\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"-inf\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"+1\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"0x10\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"01\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"Infinity\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"-0x1p3\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"1e\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"1.\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \".5\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"-\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"infinity\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"0x\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"- 1\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"[nan]\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"1e400\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"-01.5\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"0X1F\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"+inf\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"nanx\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"inx\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"-nan\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"0x1.8p1\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"1e+\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"[1, +2, 0x3, inf]\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"+x\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"nan(123)\"",
                "EVAL \"local v = cjson.decode(ARGV[1]) if type(v) == 'number' then return tostring(v) end return v\" 0 \"1e-400\"",
            ],
        ),
        // A skiplist zset is dumped greatest first, and stays a skiplist (ZSET_2) in the
        // dump after shrinking below the listpack limits, as its object does in Redis.
        (
            "dump_skiplist_zset",
            false,
            &[
                "EVAL \"for i = 1, 200 do redis.call('ZADD', KEYS[1], i, 'm' .. i) end\" 1 z",
                "DUMP z",
                "ZREMRANGEBYRANK z 0 194",
                "OBJECT ENCODING z",
                "DUMP z",
                "ZADD y 1 a 2 b 0 c",
                "ZADD y 3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ZADD y -0 d 0 e",
                "ZSCORE y d",
                "ZINCRBY y -0 d",
                "ZADD y -0 e",
                "ZSCORE y e",
                "ZRANGE y 0 -1 WITHSCORES",
                "DUMP y",
                "EVAL \"for i = 1, 200 do redis.call('HSET', KEYS[1], 'f' .. i, i) end\" 1 h",
                "HDEL h f1",
                "EVAL \"for i = 1, 198 do redis.call('HDEL', KEYS[1], 'f' .. (i + 1)) end\" 1 h",
                "OBJECT ENCODING h",
                "DUMP h",
            ],
        ),
        // Quicklist nodes split where Redis's RPUSH splits them (length + 8 estimate).
        (
            "dump_quicklist_node_boundaries",
            false,
            &[
                "EVAL \"for i = 1, 3000 do redis.call('RPUSH', KEYS[1], 'v' .. i) end\" 1 l",
                "DUMP l",
                "EVAL \"for i = 1, 2000 do redis.call('RPUSH', KEYS[1], i * 37) end\" 1 m",
                "DUMP m",
                "EVAL \"for i = 1, 300 do redis.call('RPUSH', KEYS[1], string.rep('x', i)) end\" 1 n",
                "DUMP n",
            ],
        ),
        // %.17g of a NaN keeps its sign (glibc): Lua's 0/0 is "-nan", -(0/0) is "nan".
        (
            "nan_sign_in_double_replies",
            true,
            &[
                "EVAL \"return {double=0/0}\" 0",
                "EVAL \"return {double=-(0/0)}\" 0",
                "EVAL \"return {redis.call('ECHO', 0/0), redis.call('ECHO', -(0/0))}\" 0",
                "EVAL \"redis.setresp(3) return {double=0/0}\" 0",
            ],
        ),
        (
            "nan_sign_in_double_replies_resp2",
            false,
            &[
                "EVAL \"return {double=0/0}\" 0",
                "EVAL \"return {double=-(0/0)}\" 0",
            ],
        ),
        // Deleted entries stay, flagged, in their node until the node goes (XDEL, XTRIM).
        (
            "dump_stream_with_deleted_entries",
            false,
            &[
                "XADD t 1-1 f v",
                "XADD t 1-2 f v",
                "XADD t 1-3 g v",
                "XDEL t 1-2",
                "DUMP t",
                "XDEL t 1-1",
                "DUMP t",
                "EVAL \"for i = 1, 250 do redis.call('XADD', KEYS[1], '5-' .. i, 'f', 'v') end\" 1 u",
                "XDEL u 5-1 5-150 5-203",
                "XTRIM u MAXLEN 120",
                "DUMP u",
                "XINFO STREAM u",
                "EVAL \"for i = 1, 100 do redis.call('XDEL', KEYS[1], '5-' .. (i + 100)) end\" 1 u",
                "DUMP u",
                "XTRIM u MINID 5-240",
                "DUMP u",
            ],
        ),
        // A PEL entry XCLAIM FORCE creates starts at one delivery, then the claim counts.
        (
            "xclaim_force_delivery_count",
            false,
            &[
                "XGROUP CREATE s g1 $ MKSTREAM",
                "XADD s 1-1 f v",
                "XADD s 1-2 f v",
                "XADD s 1-3 f v",
                "XCLAIM s g1 c1 0 9-9 1-1 FORCE",
                "XCLAIM s g1 c1 0 1-2 FORCE JUSTID",
                "XCLAIM s g1 c1 0 1-3 FORCE RETRYCOUNT 7",
                // Delivery counts only (idle times follow the clock).
                "EVAL \"local o = {} for i, e in ipairs(redis.call('XPENDING', KEYS[1], 'g1', '-', '+', 10)) do o[i] = e[4] end return o\" 1 s",
            ],
        ),
    ];
    let mut pair = Pair::start();
    for (name, resp3, lines) in cases {
        let steps: Vec<Step> = lines.iter().map(|l| (l.to_string(), Cmp::Exact)).collect();
        if let Some(diff) = pair.first_difference(*resp3, &steps) {
            panic!("{name}: {diff}");
        }
    }
}

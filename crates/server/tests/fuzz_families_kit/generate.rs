//! The command generator of `fuzz_families_differential`: streams with consumer groups,
//! geo, HyperLogLog, scripts and functions, and the other families.

use super::*;

/// Commands per sequence.
pub(crate) const SEQ_LEN: usize = 40;

/// Streams that may get consumer groups (never dumped) and `*` ids.
pub(crate) const GROUP_STREAMS: &[&str] = &["s", "x"];
/// Streams that never get groups or `*` ids: their DUMP is compared byte for byte, also
/// after it was restored (with the deleted entries its nodes hold) on the other server.
pub(crate) const PLAIN_STREAMS: &[&str] = &["t"];
pub(crate) const IDS: &[&str] = &[
    "0-1",
    "1-0",
    "1-1",
    "1-2",
    "2",
    "2-0",
    "3-5",
    "5-*",
    "0-0",
    "0",
    "7",
    "18446744073709551615-18446744073709551615",
    "18446744073709551615-*",
    "x",
    "1-x",
    "-1",
];
pub(crate) const RANGE_IDS: &[&str] = &[
    "-",
    "+",
    "0",
    "1",
    "1-1",
    "(1-1",
    "(0-1",
    "2",
    "(2",
    "3-5",
    "(-",
    "(+",
    "x",
    "(",
    "5-0",
    "(18446744073709551615-18446744073709551615",
];
pub(crate) const GROUPS: &[&str] = &["g1", "g2"];
pub(crate) const CONSUMERS: &[&str] = &["c1", "c2", "c3"];
pub(crate) const FIELDS: &[&str] = &["f", "g", "1", "", "a b"];
pub(crate) const VALUES: &[&str] = &["v", "1", "", "-1", "x y", "10"];
pub(crate) const COUNTS: &[&str] = &["0", "1", "2", "3", "-1", "100", "x"];

pub(crate) const GEO_KEYS: &[&str] = &["g", "x", "h"];
pub(crate) const MEMBERS: &[&str] = &["m1", "m2", "m3", "Palermo", "Catania", ""];
pub(crate) const LONLAT: &[&str] = &[
    "13.361389 38.115556",
    "15.087269 37.502669",
    "0 0",
    "-180 -85.05112878",
    "180 85.05112878",
    "181 0",
    "0 86",
    "-180.1 0",
    "x 1",
    "13.5 38",
    "-122.27652 37.805186",
    "2.3522 48.8566",
    "14 37.9",
    "1e1 1e1",
];
pub(crate) const RADII: &[&str] = &[
    "0", "1", "100", "200", "1000", "5000", "-1", "x", "0.5", "20000", "250", "inf",
];
pub(crate) const UNITS: &[&str] = &["m", "km", "mi", "ft", "KM", "furlong"];

pub(crate) const HLL_KEYS: &[&str] = &["h", "k", "x"];
pub(crate) const ELEMENTS: &[&str] = &[
    "a", "b", "c", "d", "e", "foo", "bar", "", "1", "2", "hello", "zap", "ZAP", "xyzzy",
];

/// Strings stored under "str" (and "x"): integers (int encoding), short embstrs and long
/// ones (LZF-compressed in a DUMP when over 20 bytes and compressible).
pub(crate) const STRINGS: &[&str] = &[
    "1",
    "-5",
    "12345678901",
    "9223372036854775807",
    "0x1",
    "hello",
    "",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc",
    "the quick brown fox jumps over the lazy dog 12345",
    "a b c",
];

/// Scripts run by EVAL (and EVAL_RO), each with random keys and arguments.
pub(crate) const SCRIPTS: &[&str] = &[
    "return ARGV[1]",
    "return tonumber(ARGV[1])",
    "return {1, 2, nil, 4}",
    "return {1, 'a', {2, 'b', {3, {}}}, true, false}",
    "return 3.99",
    "return -3.5",
    "return {1.5, -2.7, 0.5, 1e15}",
    "return true",
    "return false",
    "return nil",
    "return {ok='fine'}",
    "return {err='bad thing'}",
    "return {err=ARGV[1]}",
    "return {ok=ARGV[1]}",
    "return redis.error_reply(ARGV[1])",
    "return redis.status_reply(ARGV[1])",
    "return redis.call(ARGV[1], KEYS[1])",
    "return redis.pcall(ARGV[1], KEYS[1])",
    "return redis.pcall('INCR', KEYS[1])",
    "return redis.call('INCR', KEYS[1])",
    "return redis.call('NOSUCH')",
    "local t = redis.pcall('INCR', KEYS[1]) if type(t) == 'table' then return t.err end return t",
    "redis.setresp(3) return redis.call(ARGV[1], KEYS[1])",
    "redis.setresp(3) return redis.pcall(ARGV[1], KEYS[1], ARGV[2])",
    "redis.setresp(3) local r = redis.call(ARGV[1], KEYS[1]) return {type(r), r}",
    "local r = redis.call(ARGV[1], KEYS[1]) return {type(r), r}",
    "return {[1]='a', [3]='c'}",
    "return {x=1}",
    "return {1, {err='inner'}, {ok='st'}, {double=1.5}}",
    "return redis.sha1hex(ARGV[1])",
    "return cjson.encode({ARGV[1], tonumber(ARGV[2])})",
    "return cjson.decode(ARGV[1])",
    "return tostring(tonumber(ARGV[1]))",
    "return redis.call('SET', KEYS[1], ARGV[1])",
    "return type(redis.call('GET', KEYS[1]))",
    "redis.setresp(3) return type(redis.call('GET', KEYS[1]))",
    "return {double=tonumber(ARGV[1])}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {big_number=ARGV[1]}",
    "return redis.setresp(tonumber(ARGV[1]))",
    "return redis.call('ECHO', ARGV[1])",
    "return redis.call('GEOPOS', KEYS[1], ARGV[1], 'nosuch')",
    "return redis.call('XRANGE', KEYS[1], '-', '+')",
    "return redis.call('XADD', KEYS[1], ARGV[1], 'f', 'v')",
    "return redis.call('PFADD', KEYS[1], ARGV[1])",
    "return redis.call('HGETALL', KEYS[1])",
    "redis.setresp(3) return redis.call('HGETALL', KEYS[1])",
    "redis.setresp(3) return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    "redis.setresp(3) return redis.call('ZSCORE', KEYS[1], ARGV[1])",
    "redis.setresp(3) return {redis.call('EXISTS', KEYS[1]) == 1, redis.call('SISMEMBER', KEYS[1], ARGV[1])}",
    "return undefined_global",
    "return #KEYS + #ARGV",
    "return {KEYS[1], ARGV[1], ARGV[2]}",
    "return math.floor(tonumber(ARGV[1]) or 0)",
    "return bit.band(tonumber(ARGV[1]) or 0, 255)",
    "return struct.pack('>I2', 7)",
    "error('raised')",
    "error({err='tabled'})",
    "return redis.error_reply('-CODE with words')",
    "return redis.pcall('HSET', KEYS[1])",
    "return {redis.pcall('XADD', KEYS[1], ARGV[1], 'f', 'v')}",
    "local ok, e = pcall(redis.call, 'INCR', KEYS[1]) return {tostring(ok), type(e) == 'table' and e.err or e}",
    "return redis.call('OBJECT', 'ENCODING', KEYS[1])",
    "return redis.call('DUMP', KEYS[1])",
    "redis.setresp(3) return redis.call('XINFO', 'STREAM', KEYS[1])",
    "return redis.call('XINFO', 'STREAM', KEYS[1])",
    "redis.setresp(3) return redis.call('GEOPOS', KEYS[1], 'm1', 'm2')",
    "return redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', 13, 38, 'BYRADIUS', 500, 'km', 'WITHDIST', 'WITHCOORD', 'WITHHASH', 'ASC')",
    "redis.setresp(3) return redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', 13, 38, 'BYRADIUS', 500, 'km', 'WITHDIST', 'ASC')",
    "redis.setresp(3) return redis.call('XREAD', 'COUNT', 2, 'STREAMS', KEYS[1], '0')",
    "return redis.call('XREAD', 'COUNT', 2, 'STREAMS', KEYS[1], '0')",
    "redis.setresp(3) return redis.call('XPENDING', KEYS[1], 'g1')",
    "redis.setresp(3) return redis.call('PFCOUNT', KEYS[1])",
    "redis.setresp(3) return redis.call('GEODIST', KEYS[1], 'm1', 'm2')",
    "redis.setresp(3) return redis.call('ZRANDMEMBER', 'nokey', 1, 'WITHSCORES')",
    "return redis.call('TYPE', KEYS[1])",
    "redis.setresp(3) return redis.call('TYPE', KEYS[1])",
    "return redis.call('PFADD', KEYS[1], ARGV[1], ARGV[2])",
    "return redis.call('GEOADD', KEYS[1], ARGV[1], ARGV[2], 'm1')",
    "local t = {} for i = 1, math.min(tonumber(ARGV[1]) or 3, 50) do t[i] = i * 0.5 end return t",
    "return {1, 2, 3, nil, 5, nil}",
    "local t = {} t[1] = 'a' t[2] = nil t[3] = 'c' return t",
    "return {true, {false, {true}}, {ok='x'}, {err='y'}}",
    "redis.setresp(3) return {true, false, {double=0.1}, {big_number='-12'}}",
    "return {double=0/0}",
    "return {double=-1/0}",
    "return 0/0",
    "return -0.0",
    "return 2^63",
    "return -2^63",
    "return '\\0nul'",
];
pub(crate) const SCRIPT_ARGS: &[&str] = &[
    "",
    "1",
    "-1",
    "3.5",
    "x",
    "GET",
    "TYPE",
    "HGETALL",
    "LRANGE",
    "SMEMBERS",
    "ZSCORE",
    "OBJECT",
    "XLEN",
    "PFCOUNT",
    "NOPE",
    "ERR custom",
    "-ERR dash",
    "OK",
    "1e3",
    "[1,2]",
    "{\\\"a\\\":1}",
    "3",
    "2",
    "nan",
    "0",
    "1-1",
    "*",
    "inf",
    "123456789012345678901",
];
/// The library FUNCTION LOAD puts on both servers before every sequence.
pub(crate) const LIBRARY: &str = "#!lua name=fz\n\
redis.register_function('fret', function(keys, args) return args[1] end)\n\
redis.register_function('fcallk', function(keys, args) return redis.call(args[1], keys[1]) end)\n\
redis.register_function('ftable', function(keys, args) return {1, 2.5, {ok='s'}, nil, 3} end)\n\
redis.register_function('ferr', function(keys, args) return redis.error_reply(args[1]) end)\n\
redis.register_function{function_name='fro', callback=function(keys, args) return redis.call('SET', keys[1], 'v') end, flags={'no-writes'}}\n\
redis.register_function('fresp3', function(keys, args) redis.setresp(3) return redis.call('HGETALL', keys[1]) end)";

/// How a command's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Cmp {
    Exact,
    /// Stream ids of a bare `*` (13+ digit milliseconds) compare as one token.
    Stream,
    /// As Stream, and idle / seen times compare as 0.
    Idle,
    /// Array replies compared as multisets (KEYS).
    Unordered,
    /// Several commands separated by " ; ", each compared exactly (a batch of XADDs).
    Multi,
    /// Not a command: the line is "SRC DST"; each server's DUMP of SRC is restored at DST
    /// on the other server (REPLACE), and the RESTORE replies compared.
    CrossRestore,
}

/// One step of a sequence.
pub(crate) type Step = (String, Cmp);

pub(crate) fn pq(r: &mut Rng, xs: &[&'static str]) -> String {
    q(p(r, xs))
}

pub(crate) fn many(r: &mut Rng, xs: &[&'static str], most: usize) -> String {
    let n = 1 + r.below(most);
    (0..n).map(|_| pq(r, xs)).collect::<Vec<_>>().join(" ")
}

pub(crate) fn stream_key(r: &mut Rng) -> &'static str {
    if r.one_in(3) {
        p(r, PLAIN_STREAMS)
    } else {
        p(r, GROUP_STREAMS)
    }
}

/// A trimming clause for XADD / XTRIM (XTRIM always gets one).
pub(crate) fn trim(r: &mut Rng, always: bool) -> String {
    if !always && r.one_in(2) {
        return String::new();
    }
    let strategy = p(r, &["MAXLEN", "MINID", "maxlen", "LEN"]);
    let exact = opt(r, &["=", "~"]);
    let threshold = if strategy.eq_ignore_ascii_case("MINID") {
        pq(r, IDS)
    } else {
        pq(r, COUNTS)
    };
    let limit = if r.one_in(3) {
        format!(" LIMIT {}", pq(r, COUNTS))
    } else {
        String::new()
    };
    format!("{strategy} {exact} {threshold}{limit}")
}

pub(crate) fn stream_command(r: &mut Rng) -> Step {
    use Cmp::*;
    let k = stream_key(r);
    let gk = p(r, GROUP_STREAMS);
    let g = p(r, GROUPS);
    let c = p(r, CONSUMERS);
    match r.below(30) {
        0..=4 | 26..=29 => {
            // `*` only on the group streams, whose DUMP is never taken.
            let id = if GROUP_STREAMS.contains(&k) && r.one_in(8) {
                "*".to_string()
            } else {
                pq(r, IDS)
            };
            let nomk = if r.one_in(6) { "NOMKSTREAM" } else { "" };
            let t = trim(r, false);
            let n = 1 + r.below(2);
            let fv: Vec<String> = (0..n)
                .map(|_| format!("{} {}", pq(r, FIELDS), pq(r, VALUES)))
                .collect();
            // Now and then an odd number of field/value words.
            let extra = if r.one_in(12) { " f" } else { "" };
            (
                format!("XADD {k} {nomk} {t} {id} {}{extra}", fv.join(" ")),
                Stream,
            )
        }
        5 | 6 | 24 | 25 => {
            let cmd = p(r, &["XRANGE", "XREVRANGE"]);
            let count = if r.one_in(2) {
                format!(" COUNT {}", pq(r, COUNTS))
            } else {
                String::new()
            };
            (
                format!("{cmd} {k} {} {}{count}", pq(r, RANGE_IDS), pq(r, RANGE_IDS)),
                Stream,
            )
        }
        7 => (format!("XLEN {k}"), Exact),
        8 => (format!("XDEL {k} {}", many(r, IDS, 3)), Exact),
        9 => (format!("XTRIM {k} {}", trim(r, true)), Exact),
        10 => {
            if r.one_in(3) {
                let count = if r.one_in(2) {
                    format!(" COUNT {}", pq(r, COUNTS))
                } else {
                    String::new()
                };
                (format!("XINFO STREAM {gk} FULL{count}"), Idle)
            } else {
                (format!("XINFO STREAM {k}"), Stream)
            }
        }
        11 => {
            let id = p(r, &["$", "0", "1-1", "x", "3-5"]);
            let mk = opt(r, &["MKSTREAM"]);
            let ea = if r.one_in(3) {
                format!(" ENTRIESREAD {}", pq(r, COUNTS))
            } else {
                String::new()
            };
            (format!("XGROUP CREATE {gk} {g} {id} {mk}{ea}"), Exact)
        }
        12 => {
            let id = p(r, &["$", "0", "1-1", "x", "2-0"]);
            (format!("XGROUP SETID {gk} {g} {id}"), Exact)
        }
        13 => {
            let sub = p(
                r,
                &["DESTROY", "CREATECONSUMER", "DELCONSUMER", "CREATECONSUMER"],
            );
            let who = if sub == "DESTROY" { "" } else { c };
            (format!("XGROUP {sub} {gk} {g} {who}"), Exact)
        }
        14 | 15 => {
            let count = if r.one_in(2) {
                format!("COUNT {} ", pq(r, COUNTS))
            } else {
                String::new()
            };
            let noack = opt(r, &["NOACK"]);
            let id = p(r, &[">", ">", "0", "1-1", "x"]);
            (
                format!("XREADGROUP GROUP {g} {c} {count}{noack} STREAMS {gk} {id}"),
                Stream,
            )
        }
        16 => (format!("XACK {gk} {g} {}", many(r, IDS, 3)), Exact),
        17 => (format!("XPENDING {gk} {g}"), Exact),
        18 => {
            let idle = if r.one_in(3) { "IDLE 0 " } else { "" };
            let who = opt(r, CONSUMERS);
            (
                format!(
                    "XPENDING {gk} {g} {idle}{} {} {} {who}",
                    pq(r, RANGE_IDS),
                    pq(r, RANGE_IDS),
                    pq(r, COUNTS)
                ),
                Idle,
            )
        }
        19 => {
            let justid = opt(r, &["JUSTID"]);
            let force = opt(r, &["FORCE"]);
            let retry = if r.one_in(3) {
                format!(" RETRYCOUNT {}", pq(r, COUNTS))
            } else {
                String::new()
            };
            let last = if r.one_in(4) {
                format!(" LASTID {}", pq(r, IDS))
            } else {
                String::new()
            };
            (
                format!(
                    "XCLAIM {gk} {g} {c} 0 {} {force} {justid}{retry}{last}",
                    many(r, IDS, 2)
                ),
                Stream,
            )
        }
        20 => {
            let count = if r.one_in(2) {
                format!(" COUNT {}", pq(r, COUNTS))
            } else {
                String::new()
            };
            let justid = opt(r, &[" JUSTID"]);
            (
                format!("XAUTOCLAIM {gk} {g} {c} 0 {}{count}{justid}", pq(r, IDS)),
                Stream,
            )
        }
        21 => {
            let count = if r.one_in(2) {
                format!("COUNT {} ", pq(r, COUNTS))
            } else {
                String::new()
            };
            let k2 = stream_key(r);
            let (a, b) = (p(r, &["0", "1-1", "$", "x", "2"]), p(r, &["0", "(1", "$"]));
            if r.one_in(2) {
                (format!("XREAD {count}STREAMS {k} {a}"), Stream)
            } else {
                (format!("XREAD {count}STREAMS {k} {k2} {a} {b}"), Stream)
            }
        }
        22 => (format!("XINFO GROUPS {gk}"), Exact),
        _ => {
            if r.one_in(2) {
                (format!("XINFO CONSUMERS {gk} {g}"), Idle)
            } else {
                let ea = if r.one_in(2) {
                    format!(" ENTRIESADDED {}", pq(r, COUNTS))
                } else {
                    String::new()
                };
                let md = if r.one_in(2) {
                    format!(" MAXDELETEDID {}", pq(r, IDS))
                } else {
                    String::new()
                };
                (format!("XSETID {k} {}{ea}{md}", pq(r, IDS)), Stream)
            }
        }
    }
}

/// Geo search options: WITH* flags, COUNT [ANY], ASC / DESC, in a random order.
pub(crate) fn geo_options(r: &mut Rng, store: bool) -> String {
    let mut opts: Vec<String> = Vec::new();
    if !store {
        for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
            if r.one_in(3) {
                opts.push(w.to_string());
            }
        }
    }
    if r.one_in(2) {
        let any = if r.one_in(3) { " ANY" } else { "" };
        opts.push(format!("COUNT {}{any}", pq(r, COUNTS)));
    }
    if r.one_in(2) {
        opts.push(p(r, &["ASC", "DESC", "asc"]).to_string());
    }
    if r.one_in(2) {
        opts.reverse();
    }
    opts.join(" ")
}

pub(crate) fn geo_command(r: &mut Rng) -> Step {
    use Cmp::*;
    let k = p(r, GEO_KEYS);
    let m = pq(r, MEMBERS);
    match r.below(14) {
        0..=3 => {
            let o = [opt(r, &["NX", "XX"]), opt(r, &["CH"])].join(" ");
            let n = 1 + r.below(3);
            let items: Vec<String> = (0..n)
                .map(|_| format!("{} {}", p(r, LONLAT), pq(r, MEMBERS)))
                .collect();
            (format!("GEOADD {k} {o} {}", items.join(" ")), Exact)
        }
        4 => (format!("GEOPOS {k} {}", many(r, MEMBERS, 3)), Exact),
        5 => (
            format!(
                "GEODIST {k} {m} {} {}",
                pq(r, MEMBERS),
                opt(r, &["m", "km", "mi", "ft", "KM", "x"])
            ),
            Exact,
        ),
        6 => (format!("GEOHASH {k} {}", many(r, MEMBERS, 3)), Exact),
        7..=9 => {
            let from = if r.one_in(2) {
                format!("FROMMEMBER {m}")
            } else {
                format!("FROMLONLAT {}", p(r, LONLAT))
            };
            let by = if r.one_in(2) {
                format!("BYRADIUS {} {}", p(r, RADII), p(r, UNITS))
            } else {
                format!("BYBOX {} {} {}", p(r, RADII), p(r, RADII), p(r, UNITS))
            };
            if r.one_in(3) {
                let dst = p(r, &["g2", "g", "z"]);
                let sd = opt(r, &["STOREDIST"]);
                (
                    format!(
                        "GEOSEARCHSTORE {dst} {k} {from} {by} {} {sd}",
                        geo_options(r, true)
                    ),
                    Exact,
                )
            } else {
                (
                    format!("GEOSEARCH {k} {from} {by} {}", geo_options(r, false)),
                    Exact,
                )
            }
        }
        10 | 11 => {
            let (cmd, center) = if r.one_in(2) {
                (
                    p(r, &["GEORADIUS", "GEORADIUS_RO"]),
                    p(r, LONLAT).to_string(),
                )
            } else {
                (p(r, &["GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER_RO"]), m)
            };
            let store = !cmd.ends_with("_RO") && r.one_in(3);
            let mut s = format!(
                "{cmd} {k} {center} {} {} {}",
                p(r, RADII),
                p(r, UNITS),
                geo_options(r, store)
            );
            if store {
                s += &format!(" {} {}", p(r, &["STORE", "STOREDIST"]), p(r, &["g2", "z"]));
            }
            (s, Exact)
        }
        12 => (format!("ZRANGE {k} 0 -1 WITHSCORES"), Exact),
        _ => (format!("ZREM {k} {m}"), Exact),
    }
}

pub(crate) fn hll_command(r: &mut Rng) -> Step {
    use Cmp::*;
    let k = p(r, HLL_KEYS);
    match r.below(12) {
        0..=2 => (format!("PFADD {k} {}", many(r, ELEMENTS, 4)), Exact),
        3 => {
            // Enough distinct elements to pass the sparse limit (3000 bytes) now and then.
            let n = p(r, &["50", "300", "1500"]).parse::<usize>().unwrap_or(50);
            let base = r.below(4) * 1000;
            let els: Vec<String> = (base..base + n).map(|i| format!("e{i}")).collect();
            (format!("PFADD {k} {}", els.join(" ")), Exact)
        }
        4 | 5 => {
            let n = 1 + r.below(3);
            let ks: Vec<&str> = (0..n).map(|_| p(r, HLL_KEYS)).collect();
            (format!("PFCOUNT {}", ks.join(" ")), Exact)
        }
        6 => {
            let n = r.below(3);
            let ks: Vec<&str> = (0..n).map(|_| p(r, HLL_KEYS)).collect();
            (format!("PFMERGE {k} {}", ks.join(" ")), Exact)
        }
        7 | 8 => (format!("GET {k}"), Exact),
        9 => {
            if r.one_in(2) {
                (format!("STRLEN {k}"), Exact)
            } else {
                let sub = p(r, &["ENCODING", "DECODE", "GETREG", "TODENSE", "NOPE"]);
                (format!("PFDEBUG {sub} {k}"), Exact)
            }
        }
        10 => (format!("GETRANGE {k} 0 15"), Exact),
        _ => {
            // Damage: a changed header byte, or a plain string. Not generated: garbage
            // inside a sparse HLL's opcodes (SETRANGE past the header, APPEND). Redis's
            // PFADD walks such opcodes without full validation and what it writes back is
            // garbage in, garbage out (found: after `SETRANGE h 20 "\xff\xff"` and
            // `APPEND h x`, PFADD leaves a different last byte here than in Redis).
            let v = match r.below(3) {
                0 => format!("SETRANGE {k} 4 \"\\x02\""),
                1 => format!("SETRANGE {k} 3 \"X\""),
                _ => format!("SET {k} {}", pq(r, &["HYLL", "HYLLxxxxxxxxxxxxxxx", "abc"])),
            };
            (v, Exact)
        }
    }
}

pub(crate) fn script_command(r: &mut Rng) -> Step {
    let any_keys = [
        "s", "t", "g", "h", "k", "x", "l", "z", "hh", "i", "str", "nokey",
    ];
    let k = p(r, &any_keys);
    let args = format!("{} {}", pq(r, SCRIPT_ARGS), pq(r, SCRIPT_ARGS));
    if r.one_in(4) {
        let f = p(
            r,
            &["fret", "fcallk", "ftable", "ferr", "fro", "fresp3", "nofn"],
        );
        let cmd = p(r, &["FCALL", "FCALL", "FCALL_RO"]);
        let nk = p(r, &["1", "1", "0", "2", "-1", "x"]);
        return (format!("{cmd} {f} {nk} {k} {args}"), Cmp::Stream);
    }
    let script = p(r, SCRIPTS);
    // A DUMP never of a key that may hold groups or `*` ids (see the top).
    let k = if script.contains("DUMP") && GROUP_STREAMS.contains(&k) {
        "t"
    } else {
        k
    };
    let cmd = p(r, &["EVAL", "EVAL", "EVAL", "EVAL_RO"]);
    let nk = p(r, &["1", "1", "1", "0", "2", "-1", "x"]);
    // Stream: a script's XADD may take a `*` argument (a clock-made id).
    (format!("{cmd} \"{script}\" {nk} {k} {args}"), Cmp::Stream)
}

pub(crate) fn other_command(r: &mut Rng) -> Step {
    use Cmp::*;
    let all = [
        "t", "g", "h", "k", "l", "z", "hh", "i", "str", "x", "nokey", "r1",
    ];
    let k = p(r, &all);
    match r.below(16) {
        0 => (format!("RPUSH l {}", many(r, VALUES, 3)), Exact),
        1 => (
            format!(
                "ZADD z {} {}",
                pq(r, &["1", "-2.5", "0", "inf", "3"]),
                pq(r, VALUES)
            ),
            Exact,
        ),
        2 => (
            format!("HSET hh {} {}", pq(r, FIELDS), pq(r, VALUES)),
            Exact,
        ),
        3 => (
            format!(
                "SADD i {}",
                many(r, &["1", "2", "-5", "100", "70000", "5000000000"], 3)
            ),
            Exact,
        ),
        4 => (
            format!("SET {} {}", p(r, &["str", "x"]), pq(r, STRINGS)),
            Exact,
        ),
        5 => (format!("TYPE {k}"), Exact),
        6 | 7 => (format!("OBJECT ENCODING {k}"), Exact),
        8 | 9 => {
            // Never a key that may hold consumer groups (s, x as a stream): see the top.
            let d = p(
                r,
                &[
                    "t", "g", "h", "k", "l", "z", "hh", "i", "str", "nokey", "r1",
                ],
            );
            (format!("DUMP {d}"), Exact)
        }
        10 | 11 => {
            let d = p(r, &["t", "g", "h", "k", "l", "z", "hh", "i", "str"]);
            let how = p(
                r,
                &["", "", "", "busy", "flip", "cut", "idle", "freq", "ttl"],
            );
            let dst = p(r, &["r1", "r2"]);
            (format!("{d} {dst} {how}"), CrossRestore)
        }
        12 => (format!("EXISTS {k} {}", p(r, &all)), Exact),
        13 => ("DBSIZE".to_string(), Exact),
        14 => ("KEYS *".to_string(), Unordered),
        _ => (format!("DEL {k}"), Exact),
    }
}

/// One random step; most of a sequence's steps come from its `focus` family (0..5), so a
/// sequence builds up state in one family rather than touching five lightly.
pub(crate) fn command(r: &mut Rng, focus: usize) -> Step {
    let family = if r.one_in(3) { r.below(6) } else { focus };
    let (line, cmp) = match family {
        // Any stream reply may hold an id made by `*` (XINFO GROUPS after XGROUP CREATE $).
        0 => match stream_command(r) {
            (l, Cmp::Exact) => (l, Cmp::Stream),
            other => other,
        },
        1 => geo_command(r),
        2 => hll_command(r),
        3 => script_command(r),
        4 => bulk_command(r),
        _ => other_command(r),
    };
    // Collapse the blanks left by empty options.
    let line = line
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>();
    (line.join(" "), cmp)
}

/// Bigger values in one go (past listpack / intset limits, several stream nodes) and what
/// shows their encoding: OBJECT ENCODING, DUMP, XINFO STREAM.
pub(crate) fn bulk_command(r: &mut Rng) -> Step {
    use Cmp::*;
    let n = p(r, &["10", "100", "129", "300", "513"])
        .parse::<usize>()
        .unwrap_or(10);
    let base = r.below(3) * 1000;
    let range = base..base + n;
    match r.below(9) {
        0 => {
            let v: Vec<String> = range.map(|i| format!("{i} m{i}")).collect();
            (format!("ZADD z {}", v.join(" ")), Exact)
        }
        1 => {
            // Past 128 fields a Redis hash is a hash table, whose DUMP order is random:
            // at most 100 fields, always the same ones.
            let v: Vec<String> = (0..n.min(100)).map(|i| format!("f{i} {i}")).collect();
            (format!("HSET hh {}", v.join(" ")), Exact)
        }
        2 => {
            // Likewise a set past 512 integers: three batches of at most 150 stay below.
            let v: Vec<String> = range.take(150).map(|i| format!("{}", i * 7)).collect();
            (format!("SADD i {}", v.join(" ")), Exact)
        }
        3 => {
            let v: Vec<String> = range.map(|i| format!("v{i}")).collect();
            (format!("RPUSH l {}", v.join(" ")), Exact)
        }
        4 => {
            // Consecutive explicit ids on the dumpable stream, a field layout that is the
            // master entry's or not.
            let start = base as u64 + 10;
            let fields = if r.one_in(2) { "f 1 g 2" } else { "f 1" };
            let lines: Vec<String> = (0..n.min(300))
                .map(|i| format!("XADD t {}-{} {fields}", start + i as u64 / 3, i % 3))
                .collect();
            (lines.join(" ; "), Multi)
        }
        5 => {
            let v: Vec<String> = range
                .map(|i| {
                    format!(
                        "{:.6} {:.6} p{i}",
                        13.0 + (i % 37) as f64 * 0.01,
                        38.0 + (i % 41) as f64 * 0.01
                    )
                })
                .collect();
            (format!("GEOADD g {}", v.join(" ")), Exact)
        }
        6 => {
            let k = p(r, &["t", "z", "hh", "i", "l", "g", "h", "k", "r1", "r2"]);
            (format!("DUMP {k}"), Exact)
        }
        7 => {
            let k = p(r, &["t", "z", "hh", "i", "l", "g", "h", "k", "r1", "r2"]);
            (format!("OBJECT ENCODING {k}"), Exact)
        }
        _ => {
            let d = p(r, &["t", "g", "h", "k", "l", "z", "hh", "i", "str"]);
            let how = p(
                r,
                &["", "", "", "busy", "flip", "cut", "idle", "freq", "ttl"],
            );
            let dst = p(r, &["r1", "r2"]);
            (format!("{d} {dst} {how}"), CrossRestore)
        }
    }
}

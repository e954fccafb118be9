//! Differential fuzzing of Lua scripting and functions: random scripts written from a small
//! grammar (statements, then a return of a random expression) run by EVAL / EVAL_RO /
//! EVALSHA and by FCALL / FCALL_RO of random libraries, on rubra-server and Debian's
//! redis-server 7.0 side by side; every reply must be byte-identical. Half the sequences
//! speak RESP3 (HELLO 3), and scripts switch their own protocol with redis.setresp.
//!
//! What the hand-written tests (scripting_differential, scripting_libs_differential,
//! scripting_flags) and the families fuzzer's fixed script list do not reach is the
//! combinations: redis.call vs redis.pcall of commands with wrong arity, unknown names,
//! WRONGTYPE, commands scripts may not run, writes from read-only scripts and
//! `no-writes` shebangs; error tables and error() of tables and strings caught by nested
//! pcalls; values crossing the boundary both ways (integers and floats of every kind,
//! booleans, nil holes, nested and typed RESP3 tables, binary strings); numkeys edge
//! values; the sandbox (globals, `_G`, loadstring, math.random, missing libraries);
//! cjson, cmsgpack, bit, struct and string.format on edge values; SCRIPT LOAD / EXISTS /
//! FLUSH and EVALSHA; FUNCTION LOAD [REPLACE] of random libraries (engine and name
//! errors, duplicate and invalid function names, register_function's table form with
//! flags variants, redis.* at load time), FUNCTION LIST / DELETE / FLUSH / STATS / DUMP /
//! RESTORE with each policy and corrupted payloads. The same sequences also run on
//! servers over maxmemory and on read-only replicas of a master that never answers
//! (serving stale data or not).
//!
//! Compared byte for byte except:
//! - FUNCTION LIST: libraries and each library's functions are hash-table ordered in
//!   Redis (per-process seed); both lists are compared as sorted multisets;
//! - "Function <name> already exists" (FUNCTION LOAD / RESTORE): when several functions
//!   collide Redis names the first in the same hash-table order; any two such errors
//!   are equal;
//! - FUNCTION DUMP with more than one library: the payload holds the libraries in that
//!   same hash-table order (and its checksum follows), so only the lengths compare; the
//!   payload of each server is also restored on the other (FUNCTION RESTORE), whose
//!   replies and the FUNCTION LIST WITHCODE after it compare in full.
//!
//! Lua itself is not normalised: rubra runs PUC Lua 5.1 (mlua's `lua51`, vendored), the
//! runtime Redis embeds, so number formatting (`%.14g`) and Lua's own error texts are the
//! same; what differed was rubra's Rust side (the libraries, the sandbox prelude, the
//! error tables), fixed as found.
//!
//! Not generated: anything that loops or blocks (SCRIPT KILL / FUNCTION KILL and timeouts
//! are out of scope), tostring() of tables and functions (an address), commands whose
//! reply depends on the clock or on chance (TIME, RANDOMKEY, SPOP, LASTSAVE, INFO, a bare
//! COMMAND, CLIENT ID ...), SHUTDOWN outside a script; `error()` of a table without an
//! `err` string outside a pcall (redis-server 7.0.15 crashes on it: `EVAL "error({})" 0`);
//! replies nested deeper than the test's RESP parser reads (64); two functions of one
//! library whose names differ only in case (which one FCALL finds is hash-table order).
//! FUZZ_TRACE=1 prints every step before it runs (to find the step a crash follows).
//!
//! A difference is shrunk (commands dropped while a difference remains) and printed with
//! the seed. Short run: `cargo test -p rubra-server --test fuzz_scripting_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, frame, opt, p, q, Pair};
use rubra_fuzz::Rng;
use rubra_resp::Frame;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 1500;
/// Commands per sequence (before the closing listing).
const SEQ_LEN: usize = 20;

/// Keys scripts are given and touch (some set up with a type before every sequence).
const KEYS: &[&str] = &["s", "h", "l", "z", "n", "k", "x"];

/// Scripts SCRIPT LOAD may load, with their SHA1 digests (for EVALSHA and SCRIPT EXISTS).
const LOADABLE: &[(&str, &str)] = &[
    ("return 1", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
    (
        "return redis.call('incr', KEYS[1])",
        "2bab3b661081db58bd2341920e0ba7cf5dc77b25",
    ),
    (
        "return {ARGV[1], 2.5, nil, 3}",
        "a1de87572040c65ab975f72e766ea03346ca4224",
    ),
    (
        "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
        "9f5c4394e9871d0aaf75493ddb7c7f0556440a34",
    ),
    (
        "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
        "8822dee64c14b51d475f4b45eb44843318ccc8e1",
    ),
];

/// Lua number literals: integers, floats with and without a fraction, -0, huge, inf, nan.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "3.0",
    "3.99",
    "-3.99",
    "0.5",
    "-0.5",
    "0.1",
    "-0",
    "-0.0",
    "1e15",
    "1e16",
    "2^53",
    "2^53+1",
    "2^63",
    "-2^63",
    "2^64",
    "1e308*10",
    "-1e308*10",
    "0/0",
    "123456789012345678",
    "4294967296",
    "-2147483649",
    "255",
    "1/3",
];

/// Lua string literals (Lua escapes): empty, binary, error-like, status-like, numeric.
const STRINGS: &[&str] = &[
    "''",
    "'a'",
    "'x y'",
    "'\\0bin\\0ary'",
    "'\\255\\1'",
    "'ERR plain'",
    "'-ERR dash'",
    "'-'",
    "'-NOCODE'",
    "'MYCODE with words'",
    "'OK'",
    "'3'",
    "'3.5'",
    "' 1'",
    "'-0'",
    "'1e3'",
    "'inf'",
    "'nan'",
    "'a\\r\\nb'",
    "'\\r\\n'",
    "'9223372036854775808'",
    "'string'",
];

/// JSON texts cjson.decode is given: valid, edge and broken.
const JSON: &[&str] = &[
    "'[1,2,3]'",
    "'{\"a\":1,\"b\":[true,false,null]}'",
    "'[1.5, -0, 1e400, 0.1]'",
    "'\"\\\\u00e9\\\\u0000x\"'",
    "'[[[[[]]]]]'",
    "'{\"a\":'",
    "'[1,]'",
    "'nul'",
    "'\"unterminated'",
    "''",
    "'123456789012345678901234567890'",
    "'{\"\":{}}'",
    "'[\"\\\\ud800\"]'",
    "'{1:2}'",
    "'  [ 1 , 2 ]  '",
    "'[1] x'",
];

/// struct formats (valid and not).
const STRUCT_FORMATS: &[&str] = &[
    "'>I2'", "'<i4'", "'b'", "'B'", "'h'", "'>d'", "'<f'", "'s'", "'c3'", "'c0'", "'i9'", "'x'",
    "'!4i2'", "'>l'", "'<L'", "'q'", "'c'", "'i0'",
];

/// string.format formats (valid and odd).
const FORMATS: &[&str] = &[
    "'%d'", "'%5.2f'", "'%x'", "'%s'", "'%q'", "'%g'", "'%e'", "'%c'", "'%i'", "'%o'", "'%%'",
    "'%'", "'%z'", "'%10s|'", "'%-5d|'", "'%.3s'", "'%u'", "'%X'", "'%+d'",
];

/// Commands a script calls: some allowed, some that fail (arity, unknown, not allowed in
/// scripts, WRONGTYPE on the prepared keys), each with its usual arguments.
const COMMANDS: &[&[&str]] = &[
    &["get", "K"],
    &["set", "K", "V"],
    &["incr", "K"],
    &["incrbyfloat", "K", "N"],
    &["hset", "K", "V", "V"],
    &["hgetall", "K"],
    &["lpush", "K", "V"],
    &["lrange", "K", "0", "-1"],
    &["zadd", "K", "N", "V"],
    &["zscore", "K", "V"],
    &["zrange", "K", "0", "-1", "'withscores'"],
    &["smembers", "K"],
    &["del", "K"],
    &["exists", "K"],
    &["type", "K"],
    &["strlen", "K"],
    &["append", "K", "V"],
    &["echo", "V"],
    &["ping"],
    &["dbsize"],
    &["subscribe", "'c'"],
    &["multi"],
    &["exec"],
    &["watch", "K"],
    &["eval", "'return 1'", "0"],
    &["fcall", "'f1'", "0"],
    &["script", "'flush'"],
    &["function", "'list'"],
    &["nosuch", "V"],
    &["publish", "'c'", "V"],
    &["select", "N"],
    &["object", "'encoding'", "K"],
    &["getrange", "K", "0", "N"],
    &["hello", "'3'"],
    &["client", "'setname'", "'x'"],
    &["blpop", "K", "0"],
    &["zmscore", "K", "V", "'m'"],
    &["zincrby", "K", "N", "'m'"],
    &["hincrbyfloat", "K", "'f'", "N"],
    &["smismember", "K", "V", "'a'"],
    &["lpos", "K", "V"],
    &["mget", "K", "K"],
    &["lcs", "K", "K", "'idx'", "'withmatchlen'"],
    &["zpopmin", "K", "N"],
    &["lmpop", "'2'", "K", "K", "'left'"],
    &["set", "K", "V", "'get'"],
    &["copy", "K", "K"],
    &["sadd", "K", "V"],
    &["expiretime", "K"],
    &["getdel", "K"],
    &["sintercard", "'1'", "K"],
    &["zrangestore", "K", "K", "0", "-1"],
    &["geopos", "K", "V"],
    &["xadd", "K", "'1-1'", "'f'", "V"],
    &["xrange", "K", "'-'", "'+'"],
    &["pfadd", "K", "V"],
    &["getex", "K", "'persist'"],
    &["config", "'get'", "'maxmemory'"],
    &["object", "'freq'", "K"],
    &["debug", "'sleep'", "'0'"],
    &["shutdown", "'abort'"],
    &["role"],
    &["acl", "'whoami'"],
    &["spublish", "'c'", "V"],
];

/// Where a generated expression runs: the names of its keys and arguments tables.
#[derive(Clone, Copy)]
struct Ctx {
    keys: &'static str,
    args: &'static str,
}

/// EVAL's script globals.
const EVAL_CTX: Ctx = Ctx {
    keys: "KEYS",
    args: "ARGV",
};
/// A function's parameters.
const FN_CTX: Ctx = Ctx {
    keys: "keys",
    args: "args",
};

/// One of `xs` as an owned string.
fn ps(r: &mut Rng, xs: &[&'static str]) -> String {
    p(r, xs).to_string()
}

/// A number: a literal, or one of the script's arguments converted.
fn number(r: &mut Rng, c: Ctx) -> String {
    match r.below(8) {
        0 => format!("tonumber({}[1])", c.args),
        _ => ps(r, NUMBERS),
    }
}

/// A string: a literal or one of the script's keys or arguments.
fn string(r: &mut Rng, c: Ctx) -> String {
    match r.below(8) {
        0 => format!("{}[1]", c.keys),
        1 => format!("{}[{}]", c.args, 1 + r.below(2)),
        _ => ps(r, STRINGS),
    }
}

/// An argument of redis.call: mostly strings and numbers, now and then a value commands
/// refuse (a table, a boolean) or nil (which ends the argument list).
fn call_arg(r: &mut Rng, c: Ctx, kind: &str) -> String {
    match r.below(24) {
        0 => "{}".into(),
        1 => "true".into(),
        2 => "nil".into(),
        3 => number(r, c),
        _ => match kind {
            "K" => {
                if r.one_in(3) {
                    format!("{}[{}]", c.keys, 1 + r.below(2))
                } else {
                    format!("'{}'", p(r, KEYS))
                }
            }
            "V" => string(r, c),
            "N" => number(r, c),
            lit => lit.to_string(),
        },
    }
}

/// `redis.call(...)` or `redis.pcall(...)` of a command from COMMANDS, sometimes with an
/// argument dropped or added (wrong arity) or the name in upper case.
fn redis_call(r: &mut Rng, c: Ctx) -> String {
    let f = p(r, &["redis.call", "redis.pcall", "redis.pcall"]);
    let cmd = COMMANDS[r.below(COMMANDS.len())];
    let mut args = vec![if r.one_in(6) {
        format!("'{}'", cmd[0].to_ascii_uppercase())
    } else {
        format!("'{}'", cmd[0])
    }];
    for kind in &cmd[1..] {
        args.push(call_arg(r, c, kind));
    }
    match r.below(10) {
        0 if args.len() > 1 => {
            args.pop();
        }
        1 => args.push(string(r, c)),
        2 => args.clear(),
        _ => {}
    }
    format!("{f}({})", args.join(", "))
}

/// A table literal: array parts with nil holes, typed RESP3 fields, nested tables.
fn table(r: &mut Rng, c: Ctx, depth: usize) -> String {
    match r.below(12) {
        0 => format!("{{ok={}}}", string(r, c)),
        1 => format!("{{err={}}}", string(r, c)),
        2 => format!("{{double={}}}", number(r, c)),
        3 => format!(
            "{{map={{a={}, [{}]={}}}}}",
            expr(r, c, depth + 1),
            string(r, c),
            expr(r, c, depth + 1)
        ),
        4 => format!(
            "{{set={{a=true, [{}]={}}}}}",
            string(r, c),
            expr(r, c, depth + 1)
        ),
        5 => format!(
            "{{big_number={}}}",
            p(r, &["'123'", "'-0'", "'1e5'", "'x'", "12"])
        ),
        6 => format!(
            "{{verbatim_string={{format={}, string={}}}}}",
            p(r, &["'txt'", "'mkd'", "'toolong'", "''", "1"]),
            string(r, c)
        ),
        7 => format!("{{err={}, ok={}}}", string(r, c), string(r, c)),
        _ => {
            let n = r.below(5);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    if r.one_in(5) {
                        "nil".to_string()
                    } else {
                        expr(r, c, depth + 1)
                    }
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// An expression whose value a script returns or uses (no table or function is ever
/// turned into a string: that would show an address).
fn expr(r: &mut Rng, c: Ctx, depth: usize) -> String {
    if depth > 2 {
        return match r.below(3) {
            0 => number(r, c),
            1 => string(r, c),
            _ => ps(r, &["true", "false", "nil"]),
        };
    }
    match r.below(34) {
        0..=2 => number(r, c),
        3..=4 => string(r, c),
        5 => ps(r, &["true", "false", "nil"]),
        6..=8 => table(r, c, depth),
        9..=12 => redis_call(r, c),
        13 => format!(
            "redis.error_reply({})",
            if r.one_in(6) {
                ps(r, &["", "1", "{}", "'a', 'b'"])
            } else {
                string(r, c)
            }
        ),
        14 => format!(
            "redis.status_reply({})",
            if r.one_in(6) {
                ps(r, &["", "1", "{}"])
            } else {
                string(r, c)
            }
        ),
        15 => format!("#{}", p(r, &[c.keys, c.args])),
        16 => format!("redis.sha1hex({})", string(r, c)),
        17 => format!("cjson.encode({})", expr(r, c, depth + 1)),
        18 => format!("cjson.decode({})", ps(r, JSON)),
        19 => format!("cmsgpack.unpack(cmsgpack.pack({}))", expr(r, c, depth + 1)),
        20 => format!(
            "cmsgpack.pack({}, {})",
            expr(r, c, depth + 1),
            expr(r, c, depth + 1)
        ),
        21 => format!(
            "bit.{}({}, {})",
            p(
                r,
                &["band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror"]
            ),
            number(r, c),
            number(r, c)
        ),
        22 => format!(
            "bit.{}({})",
            p(r, &["tobit", "bnot", "tohex", "bswap"]),
            number(r, c)
        ),
        23 => format!(
            "struct.pack({}, {})",
            ps(r, STRUCT_FORMATS),
            if r.one_in(2) {
                number(r, c)
            } else {
                string(r, c)
            }
        ),
        24 => format!(
            "{{struct.unpack({}, {})}}",
            ps(r, STRUCT_FORMATS),
            string(r, c)
        ),
        25 => format!(
            "string.format({}, {})",
            ps(r, FORMATS),
            if r.one_in(2) {
                number(r, c)
            } else {
                string(r, c)
            }
        ),
        26 => format!("tostring({})", number(r, c)),
        27 => format!("tonumber({})", string(r, c)),
        28 => format!("type({})", expr(r, c, depth + 1)),
        29 => caught(r, c, depth),
        30 => ps(
            r,
            &[
                "math.random()",
                "math.random(10)",
                "math.random(1, 100)",
                "redis.REDIS_VERSION",
                "redis.REDIS_VERSION_NUM",
                "redis.breakpoint()",
                "redis.replicate_commands()",
                "redis.setresp(3)",
                "redis.LOG_WARNING",
                "redis.REPL_ALL",
                "type(_G)",
                "type(os)",
                "type(loadstring)",
                "loadstring('return 1 +')",
                "loadstring('return 7')()",
                "math.huge",
                "select('#', 1, nil, 3)",
                "string.rep('ab', 3)",
                "#'\\0\\0'",
                "table.concat({1, 2.5, 'x'}, ',')",
                "type(debug)",
                "type(coroutine)",
                "type(getmetatable(''))",
                "type(print)",
                "redis.acl_check_cmd('get', 'k')",
                "redis.acl_check_cmd('nosuch')",
                "redis.acl_check_cmd()",
                "redis.acl_check_cmd('set')",
                "tostring(nil)",
                "tostring(true)",
                "string.format('%d', 'x')",
                "string.format('%s')",
                "math.fmod(7, 3)",
                "table.getn({1, 2})",
                "#redis.sha1hex('')",
                "string.byte('\\255')",
                "string.char(0, 65)",
                "math.floor(-3.5)",
                "math.max(1, 2.5)",
                "pcall(error)",
                "pcall(bit.band)",
                "pcall(cjson.decode)",
                "pcall(struct.pack, 'i')",
                "pcall(cmsgpack.unpack, '')",
                "redis.error_reply",
                "{cjson.encode_sparse_array()}",
                "{cjson.encode_sparse_array('on', 3, 'x')}",
                "cjson.encode_max_depth(0)",
                "cjson.encode_max_depth()",
                "cjson.decode_max_depth(1, 2)",
                "cjson.encode_number_precision(15)",
                "cjson.encode_number_precision(1.5)",
                "cjson.encode_keep_buffer('x')",
                "cjson.encode_keep_buffer({})",
                "cjson.encode_invalid_numbers('null', 1)",
                "cjson.encode_invalid_numbers()",
                "cjson.decode_invalid_numbers('on')",
                "cjson.decode_max_depth('x')",
                "cjson.encode({1/0, -1/0, 0/0, 0.1, 1/3, {[1] = 1, [5] = 2}})",
                "cjson.decode('[0x10, 01, +1, inf, nan, -inf, 1]')",
                "cjson.decode('[0x10]')",
                "cjson.decode('[[[1]]]')",
                "cjson.encode({{{1}}})",
                "cjson.new().encode({1/3})",
                "type(cjson.new)",
                "(function() local t = {} for i = 1, 300 do t[i] = i * 0.5 end return t end)()",
                "(function() local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end return table.concat(t) end)()",
                "type(cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)))",
                "cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001))",
                "cjson.decode(string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001))",
                "(function() local t = {} for i = 1, 1001 do t = {t} end return cjson.encode(t) end)()",
                "(function() local t = {} for i = 1, 999 do t = {t} end return #cjson.encode(t) end)()",
                "(function() local t = {1} for i = 1, 20 do t = {t, i} end return cmsgpack.pack(t) end)()",
                "(function() local t = {1} for i = 1, 20 do t = {t, i} end return cmsgpack.unpack(cmsgpack.pack(t)) end)()",
                "(function() local t = {'x'} for i = 1, 30 do t = {t} end return t end)()",
                "(function() local t = {} for i = 1, 200 do t[i] = 'a' end return redis.pcall('mget', unpack(t)) end)()",
                "cjson.encode({[1] = 1, [20] = 2})",
                "cjson.encode({[1] = 1, [3] = 2})",
                "cjson.encode({[1] = 1, x = 2})",
                "cjson.encode({[1.5] = 1})",
                "cjson.encode({[true] = 1})",
                "cjson.encode({a = {}, b = cjson.null})",
                "cjson.encode(function() end)",
                "cjson.encode('\\0\\1\\127\\255/\"')",
                "cmsgpack.pack(1.5, -1, 2^31, 2^32, -2^31 - 1, 2^53, 'x', {}, {a = 1}, true, nil)",
                "cmsgpack.unpack('\\147\\1\\2')",
                "cmsgpack.unpack('\\202\\63\\192\\0\\0')",
                "{cmsgpack.unpack('\\1\\2\\3')}",
                "cmsgpack.unpack_one('\\1\\2')",
                "{cmsgpack.unpack_limit('\\1\\2\\3', 2)}",
                "{struct.unpack('>i2i2', '\\0\\1\\255\\255')}",
                "struct.size('>i4d')",
                "struct.pack('s', 'a\\0b')",
                "{struct.unpack('s', 'ab\\0c')}",
                "struct.pack('>c0', 'abc')",
            ],
        ),
        31 => format!(
            "unpack({{{}, {}}})",
            expr(r, c, depth + 1),
            expr(r, c, depth + 1)
        ),
        32 => format!("({} or {})", expr(r, c, depth + 1), expr(r, c, depth + 1)),
        _ => format!("{}[{}]", c.args, 1 + r.below(3)),
    }
}

/// A pcall around code that may fail: `{ok, error message or error table's err}`.
fn caught(r: &mut Rng, c: Ctx, depth: usize) -> String {
    let body = match r.below(5) {
        0 => format!("return {}", redis_call(r, c)),
        1 => raise(r, c),
        2 => format!("{} return {}", statement(r, c), expr(r, c, depth + 1)),
        3 => format!(
            "local ok, e = pcall(function() {} end) if not ok then error(e) end return e",
            raise(r, c)
        ),
        _ => format!("return {}", expr(r, c, depth + 1)),
    };
    // Or an xpcall, whose message handler sees what was raised (an error table, a
    // string) before pcall's conversion.
    let call = match r.below(6) {
        0 => "xpcall(function() BODY end, function(e) return e end)",
        1 => "xpcall(function() BODY end, function(e) return type(e) end)",
        2 => "xpcall(function() BODY end, function(e) return {e} end)",
        _ => "pcall(function() BODY end)",
    }
    .replace("BODY", &body);
    format!(
        "(function() local ok, e = {call} \
         if type(e) == 'table' then e = e.err or e[1] end \
         if type(e) == 'table' then e = e.err end return {{tostring(ok), e}} end)()"
    )
}

/// A statement that raises an error: error() of strings and tables, with levels.
fn raise(r: &mut Rng, c: Ctx) -> String {
    match r.below(8) {
        0 => format!("error({})", string(r, c)),
        1 => format!("error({}, 0)", string(r, c)),
        // Never an error table whose `err` is nil (a missing argument): redis-server
        // 7.0.15 crashes on those outside a pcall.
        2 => format!("error({{err={} or 'none'}})", string(r, c)),
        // Not error({}): redis-server 7.0.15 crashes on an error table without `err`
        // outside a pcall.
        3 => format!("error({{err={} or 0, ok=1}}, 2)", number(r, c)),
        4 => "error()".into(),
        5 => format!("error({})", number(r, c)),
        6 => "local t = nil; return t.x".into(),
        _ => format!("error(redis.error_reply({}))", string(r, c)),
    }
}

/// A statement before the return: protocol switches, logging, replication calls,
/// writes to globals, plain calls, errors.
fn statement(r: &mut Rng, c: Ctx) -> String {
    match r.below(20) {
        0..=2 => format!(
            "redis.setresp({})",
            p(r, &["3", "3", "2", "1", "'3'", "'x'", "", "3, 1"])
        ),
        3 => format!(
            "redis.log({}, {})",
            p(
                r,
                &[
                    "redis.LOG_WARNING",
                    "redis.LOG_DEBUG",
                    "99",
                    "-1",
                    "'x'",
                    "nil"
                ]
            ),
            string(r, c)
        ),
        4 => format!("redis.log({})", p(r, &["", "redis.LOG_NOTICE", "'msg'"])),
        5 => format!(
            "redis.set_repl({})",
            p(
                r,
                &[
                    "redis.REPL_ALL",
                    "redis.REPL_NONE",
                    "redis.REPL_AOF",
                    "9",
                    "",
                    "'x'"
                ]
            )
        ),
        6 => ps(
            r,
            &[
                "redis.replicate_commands()",
                "redis.breakpoint()",
                "redis.debug('x', 1)",
                "g = 1",
                "_G.g = 1",
                "rawset(_G, 'g', 1)",
                "KEYS = nil",
                "math.randomseed(7)",
                "string.x = 1",
                "cjson.encode_keep_buffer(false)",
                "local x = os.time()",
                "setmetatable(_G, nil)",
                "redis.register_function('f', function() end)",
                "cjson.encode_max_depth(2)",
                "cjson.decode_max_depth(2)",
                "cjson.encode_number_precision(3)",
                "cjson.encode_invalid_numbers('null')",
                "cjson.encode_invalid_numbers(true)",
                "cjson.decode_invalid_numbers(false)",
                "cjson.encode_sparse_array(true)",
                "cjson.encode_sparse_array(false, 1, 0)",
                "cjson.encode_sparse_array(nil, 0)",
            ],
        ),
        7..=8 => raise(r, c),
        9..=14 => redis_call(r, c),
        _ => format!("local v = {}", expr(r, c, 1)),
    }
}

/// A script body: up to three statements, then (mostly) a return.
fn body(r: &mut Rng, c: Ctx) -> String {
    let mut parts: Vec<String> = (0..r.below(4)).map(|_| statement(r, c)).collect();
    if !r.one_in(8) {
        parts.push(format!("return {}", expr(r, c, 0)));
    }
    parts.join("\n")
}

/// A `#!lua` shebang line with random flags (valid, unknown, none), or nothing.
fn shebang(r: &mut Rng) -> String {
    if !r.one_in(4) {
        return String::new();
    }
    let flags = [
        "no-writes",
        "allow-oom",
        "allow-stale",
        "no-cluster",
        "allow-cross-slot-keys",
        "bad-flag",
        "",
    ];
    let n = r.below(3);
    let list: Vec<&str> = (0..n).map(|_| p(r, &flags)).collect();
    match r.below(6) {
        0 => ps(
            r,
            &[
                "#!lua\n",
                "#!lua flags\n",
                "#!lua flags=no-writes foo=bar\n",
                "#!lua  flags=no-writes\n",
                "#!lua flags=no-writes,\n",
                "#!lua flags=,no-writes\n",
                "#!lua flags=no-writes flags=allow-oom\n",
                "#!lua flags=NO-WRITES\n",
                "#!luax\n",
                "#!\n",
                "#!lua",
            ],
        ),
        1 => "#!lua name=x\n".into(),
        2 => "#!js\n".into(),
        _ => format!("#!lua flags={}\n", list.join(",")),
    }
}

/// `bytes` as one argument for the command-line parser: double-quoted, `"` and `\`
/// escaped, control and non-ASCII bytes as `\xHH`.
fn lit(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b' '..=b'~' => s.push(b as char),
            _ => s += &format!("\\x{b:02x}"),
        }
    }
    s.push('"');
    s
}

/// numkeys and the keys and arguments after a script or function name.
fn key_args(r: &mut Rng) -> String {
    let nkeys = r.below(3);
    let nargs = r.below(3);
    let numkeys = if r.one_in(6) {
        ps(r, &["-1", "5", "x", "1.5", "", "9223372036854775808", " 1"])
    } else {
        nkeys.to_string()
    };
    let mut out = lit(numkeys.as_bytes());
    for _ in 0..nkeys {
        out += &format!(" {}", p(r, KEYS));
    }
    for _ in 0..nargs {
        out += &format!(
            " {}",
            lit(p(
                r,
                &["1", "x", "-1", "3.5", "OK", "", "a\0b", "inf", "10", "nosuch"]
            )
            .as_bytes())
        );
    }
    out
}

/// How a step's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Cmp {
    Exact,
    /// FUNCTION LIST: libraries and their functions as sorted multisets.
    FunctionList,
    /// FUNCTION DUMP: exact with at most one library, else the lengths.
    Dump,
    /// Not a command: each server's FUNCTION DUMP is restored on the other with the
    /// line's policy words (optionally the payload cut or changed first, per `Corrupt`).
    CrossRestore(Corrupt),
}

/// How a FUNCTION RESTORE payload is damaged before it is sent.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Corrupt {
    None,
    /// The last byte (of the checksum) changed.
    Checksum,
    /// The payload cut in half.
    Truncated,
    /// An empty payload.
    Empty,
}

type Step = (String, Cmp);

/// An EVAL / EVAL_RO / EVALSHA / SCRIPT step.
fn script_step(r: &mut Rng) -> Step {
    let line = match r.below(12) {
        0 => {
            let (s, _) = LOADABLE[r.below(LOADABLE.len())];
            format!("SCRIPT LOAD {}", lit(s.as_bytes()))
        }
        1 => {
            let (_, sha) = LOADABLE[r.below(LOADABLE.len())];
            let sha = if r.one_in(4) {
                sha.to_ascii_uppercase()
            } else {
                sha.to_string()
            };
            let cmd = p(r, &["EVALSHA", "EVALSHA_RO"]);
            format!("{cmd} {sha} {}", key_args(r))
        }
        2 => format!(
            "SCRIPT EXISTS {} {}",
            LOADABLE[r.below(LOADABLE.len())].1,
            p(r, &["x", "ffffffffffffffffffffffffffffffffffffffff", ""])
        ),
        3 => format!(
            "SCRIPT FLUSH {}",
            p(r, &["", "ASYNC", "SYNC", "async", "BAD", "SYNC ASYNC"])
        ),
        5 => {
            let src = format!("{}{}", shebang(r), body(r, EVAL_CTX));
            format!("SCRIPT LOAD {}", lit(src.as_bytes()))
        }
        6 => ps(
            r,
            &[
                "SCRIPT EXISTS",
                "SCRIPT LOAD",
                "SCRIPT NOSUCH",
                "SCRIPT LOAD a b",
                "SCRIPT FLUSH SYNC x",
                "EVAL",
                "EVAL \"return 1\"",
                "EVAL_RO \"return 1\"",
                "FCALL f1",
                "FCALL",
                "SCRIPT HELP",
            ],
        ),
        4 => format!(
            "{} {}",
            p(r, &["EVALSHA", "EVALSHA_RO"]),
            p(
                r,
                &[
                    "abc 0",
                    "ffffffffffffffffffffffffffffffffffffffff 0",
                    "",
                    "x"
                ]
            )
        ),
        _ => {
            let cmd = p(r, &["EVAL", "EVAL", "EVAL", "EVAL_RO"]);
            let src = format!("{}{}", shebang(r), body(r, EVAL_CTX));
            format!("{cmd} {} {}", lit(src.as_bytes()), key_args(r))
        }
    };
    (line, Cmp::Exact)
}

/// Library names: valid, invalid, empty.
const LIB_NAMES: &[&str] = &["lib1", "lib2", "lib1", "bad-name", "", "lib_3", "x y"];
/// Function names: valid, duplicates, invalid.
const FN_NAMES: &[&str] = &["f1", "f2", "f3", "f1", "bad-fn", "", "f_4", "1x", "f\u{e9}"];

/// A register_function call: positional or table form, with flags and description
/// variants, sometimes wrong.
fn register(r: &mut Rng) -> String {
    let name = p(r, FN_NAMES);
    let cb = format!(
        "function(keys, args) {} end",
        body(r, FN_CTX).replace('\n', " ")
    );
    match r.below(10) {
        0..=4 => format!("redis.register_function('{name}', {cb})"),
        5 => format!("redis.register_function('{name}')"),
        6 => format!("redis.register_function('{name}', 'notafunction')"),
        _ => {
            let flags = p(
                r,
                &[
                    "{'no-writes'}",
                    "{'allow-oom', 'allow-stale'}",
                    "{'no-cluster', 'allow-cross-slot-keys'}",
                    "{'bad-flag'}",
                    "{}",
                    "'no-writes'",
                    "{1}",
                ],
            );
            let mut fields = vec![format!("function_name='{name}'"), format!("callback={cb}")];
            if !r.one_in(3) {
                fields.push(format!("flags={flags}"));
            }
            match r.below(6) {
                0 => fields.push("description='a function'".into()),
                1 => fields.push("description=1".into()),
                2 => fields.push("unknown=1".into()),
                3 => {
                    fields.remove(0);
                }
                _ => {}
            }
            format!("redis.register_function{{{}}}", fields.join(", "))
        }
    }
}

/// A FUNCTION LOAD of random library code: a header (sometimes wrong), then register
/// calls and now and then other top-level code.
fn function_load(r: &mut Rng) -> String {
    let header = match r.below(12) {
        0 => "#!lua\n".to_string(),
        1 => format!("#!js name={}\n", p(r, LIB_NAMES)),
        2 => format!("#!lua name={} foo=bar\n", p(r, LIB_NAMES)),
        3 => String::new(),
        4 => format!("#!LUA name={}\n", p(r, LIB_NAMES)),
        _ => format!("#!lua name={}\n", p(r, LIB_NAMES)),
    };
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..r.below(3) + usize::from(!r.one_in(8)) {
        lines.push(register(r));
    }
    if r.one_in(6) {
        lines.insert(
            r.below(lines.len() + 1),
            ps(
                r,
                &[
                    "redis.call('set', 'x', 1)",
                    "redis.log(redis.LOG_NOTICE, 'loading')",
                    "local v = redis.REDIS_VERSION",
                    "error('top level')",
                    "g = 1",
                    "redis.setresp(3)",
                    "return 1",
                    "local x = cjson.encode({1})",
                    "math.random()",
                    "retur 1",
                ],
            ),
        );
    }
    let code = format!("{header}{}", lines.join("\n"));
    let replace = if r.one_in(3) { "REPLACE " } else { "" };
    format!("FUNCTION LOAD {replace}{}", lit(code.as_bytes()))
}

/// A FUNCTION / FCALL step.
fn function_step(r: &mut Rng) -> Step {
    match r.below(16) {
        0..=4 => (function_load(r), Cmp::Exact),
        5..=8 => {
            let cmd = p(r, &["FCALL", "FCALL", "FCALL_RO"]);
            let f = p(r, &["f1", "f2", "f3", "f_4", "nofn", "F1"]);
            (format!("{cmd} {} {}", q(f), key_args(r)), Cmp::Exact)
        }
        9 => {
            let mut line = "FUNCTION LIST".to_string();
            if r.one_in(2) {
                line += &format!(
                    " LIBRARYNAME {}",
                    p(r, &["lib*", "lib1", "*", "x", "[", ""])
                );
            }
            if r.one_in(2) {
                line += " WITHCODE";
            }
            if r.one_in(8) {
                line += " BADARG";
            }
            (line, Cmp::FunctionList)
        }
        10 => (
            format!(
                "FUNCTION DELETE {}",
                p(r, &["lib1", "lib2", "lib_3", "nolib", "", "lib1 lib2"])
            ),
            Cmp::Exact,
        ),
        11 => (
            format!("FUNCTION FLUSH {}", opt(r, &["ASYNC", "SYNC", "BAD"])),
            Cmp::Exact,
        ),
        12 => (
            ps(
                r,
                &[
                    "FUNCTION STATS",
                    "FUNCTION STATS x",
                    "FUNCTION HELP",
                    "FUNCTION NOSUCH",
                    "FUNCTION",
                    "FUNCTION LOAD",
                    "FUNCTION LOAD REPLACE",
                    "FUNCTION LOAD \"\"",
                    "FUNCTION LOAD \"#!lua\"",
                    "FUNCTION LOAD \"#!lua name=lib1\"",
                    "FUNCTION LOAD \"#!lua  name=lib1 name=lib2\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#!lua name=lib1\\r\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#!lua name=\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#! lua name=lib1\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD REPLACE REPLACE x",
                    "FUNCTION LOAD x y",
                    "FUNCTION DELETE",
                    "FUNCTION RESTORE",
                    "FUNCTION RESTORE x",
                    "FUNCTION KILL",
                    "FUNCTION LIST LIBRARYNAME",
                    "FUNCTION LIST WITHCODE WITHCODE",
                    "FUNCTION LIST LIBRARYNAME a LIBRARYNAME b",
                    "FUNCTION DUMP x",
                    "FCALL f1 x",
                    "FCALL f1 3 a",
                    "FCALL_RO f1 -1",
                ],
            ),
            Cmp::Exact,
        ),
        13 => ("FUNCTION DUMP".into(), Cmp::Dump),
        _ => {
            let policy = p(
                r,
                &["", "APPEND", "REPLACE", "FLUSH", "flush", "BAD", "APPEND x"],
            );
            let corrupt = match r.below(8) {
                0 => Corrupt::Checksum,
                1 => Corrupt::Truncated,
                2 => Corrupt::Empty,
                _ => Corrupt::None,
            };
            (policy.to_string(), Cmp::CrossRestore(corrupt))
        }
    }
}

/// Keys of every type the scripts' commands meet (WRONGTYPE and conversions).
const SETUP: &[&str] = &[
    "SET s hello",
    "HSET h f v g 1.5",
    "RPUSH l a 1 2.5",
    "ZADD z 1.5 m 2 n",
    "SET n 10",
];

impl Pair {
    /// Back to the prepared keyspace, no scripts and no libraries, in database 0,
    /// speaking RESP3 if `resp3`.
    fn reset(&mut self, resp3: bool) {
        let hello = if resp3 { "HELLO 3" } else { "HELLO 2" };
        for c in [&mut self.a, &mut self.b] {
            c.call("FLUSHALL");
            c.call("SCRIPT FLUSH");
            c.call("FUNCTION FLUSH");
            c.call("SELECT 0");
            for line in SETUP {
                c.call(line);
            }
            c.call(hello);
        }
    }

    /// One step on both servers; the two replies shown if they differ.
    fn step(&mut self, line: &str, cmp: Cmp) -> Option<String> {
        // FUZZ_TRACE=1 prints each step first: a server that closes the connection (a
        // crash) fails the run without a reply to compare, and this shows the step.
        if std::env::var("FUZZ_TRACE").is_ok() {
            eprintln!("STEP {line} {cmp:?}");
        }
        let show = |what: &str, ra: &[u8], rb: &[u8]| {
            // Long replies are cut: the first 2000 bytes show where they part.
            let cut = |r: &[u8]| r[..r.len().min(2000)].escape_ascii().to_string();
            format!(
                "{what}\n    rubra: \"{}\"\n    redis: \"{}\"",
                cut(ra),
                cut(rb)
            )
        };
        match cmp {
            Cmp::Exact => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                (ra != rb && !(collision(&ra) && collision(&rb))).then(|| show(line, &ra, &rb))
            }
            Cmp::FunctionList => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                (ra != rb && canonical_list(&ra) != canonical_list(&rb))
                    .then(|| show(line, &ra, &rb))
            }
            Cmp::Dump => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                let libs = match frame(&self.b.call("FUNCTION LIST")) {
                    Some(Frame::Array(v)) => v.len(),
                    _ => 0,
                };
                let same = ra == rb || (libs > 1 && ra.len() == rb.len());
                (!same).then(|| show(line, &ra, &rb))
            }
            Cmp::CrossRestore(corrupt) => {
                let da = dump_payload(&self.a.call("FUNCTION DUMP"));
                let db = dump_payload(&self.b.call("FUNCTION DUMP"));
                let restore = |payload: &[u8]| {
                    format!(
                        "FUNCTION RESTORE {} {line}",
                        lit(&damaged(payload, corrupt))
                    )
                };
                // Each server restores the other's payload.
                let (la, lb) = (restore(&db), restore(&da));
                let (ra, rb) = (self.a.call(&la), self.b.call(&lb));
                (ra != rb && !(collision(&ra) && collision(&rb)))
                    .then(|| show(&format!("{la}    (and the other way)"), &ra, &rb))
            }
        }
    }

    /// Runs `seq` from the prepared keyspace; the first difference, if any.
    fn first_difference(&mut self, resp3: bool, seq: &[Step]) -> Option<String> {
        self.reset(resp3);
        seq.iter().find_map(|(line, cmp)| self.step(line, *cmp))
    }
}

/// Whether `raw` is FUNCTION LOAD / RESTORE's "Function <name> already exists": when
/// several of a library's functions collide, Redis names the first in its hash-table
/// order (per-process seed), rubra the first registered.
fn collision(raw: &[u8]) -> bool {
    raw.starts_with(b"-ERR Function ") && raw.ends_with(b" already exists\r\n")
}

/// The payload of a FUNCTION DUMP reply (empty if it is not a bulk string).
fn dump_payload(raw: &[u8]) -> Vec<u8> {
    match frame(raw) {
        Some(Frame::Bulk(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// `payload` as `corrupt` says.
fn damaged(payload: &[u8], corrupt: Corrupt) -> Vec<u8> {
    let mut p = payload.to_vec();
    match corrupt {
        Corrupt::None => {}
        Corrupt::Checksum => {
            if let Some(last) = p.last_mut() {
                *last ^= 0x5a;
            }
        }
        Corrupt::Truncated => p.truncate(p.len() / 2),
        Corrupt::Empty => p.clear(),
    }
    p
}

/// A FUNCTION LIST reply with its libraries, and each library's functions, sorted: Redis
/// keeps both in hash tables. Anything else (an error) as it is.
fn canonical_list(raw: &[u8]) -> String {
    let Some(Frame::Array(libs)) = frame(raw) else {
        return raw.escape_ascii().to_string();
    };
    let sorted_functions = |f: Frame| match f {
        Frame::Array(mut fns) => {
            fns.sort_by_key(|x| format!("{x:?}"));
            Frame::Array(fns)
        }
        other => other,
    };
    let mut out: Vec<String> = libs
        .into_iter()
        .map(|lib| {
            let lib = match lib {
                Frame::Array(items) => {
                    let mut items = items;
                    for i in (1..items.len()).step_by(2) {
                        if matches!(&items[i - 1], Frame::Bulk(k) if &k[..] == b"functions") {
                            let f = std::mem::replace(&mut items[i], Frame::Null);
                            items[i] = sorted_functions(f);
                        }
                    }
                    Frame::Array(items)
                }
                Frame::Map(pairs) => Frame::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| {
                            if matches!(&k, Frame::Bulk(b) if &b[..] == b"functions") {
                                (k, sorted_functions(v))
                            } else {
                                (k, v)
                            }
                        })
                        .collect(),
                ),
                other => other,
            };
            format!("{lib:?}")
        })
        .collect();
    out.sort();
    out.join("\n")
}

/// A random sequence of script and function steps, then the state they leave: FUNCTION
/// LIST WITHCODE, FUNCTION STATS, SCRIPT EXISTS of the loadable scripts, the keys.
fn sequence(r: &mut Rng) -> Vec<Step> {
    let mut seq: Vec<Step> = (0..SEQ_LEN)
        .map(|_| {
            if r.one_in(2) {
                script_step(r)
            } else {
                function_step(r)
            }
        })
        .collect();
    let shas: Vec<&str> = LOADABLE.iter().map(|(_, sha)| *sha).collect();
    seq.push(("FUNCTION LIST WITHCODE".into(), Cmp::FunctionList));
    seq.push(("FUNCTION STATS".into(), Cmp::Exact));
    seq.push((format!("SCRIPT EXISTS {}", shas.join(" ")), Cmp::Exact));
    for k in KEYS {
        seq.push((format!("TYPE {k}"), Cmp::Exact));
    }
    seq.push(("DBSIZE".into(), Cmp::Exact));
    seq
}

/// A step as a failure report shows it.
fn show((line, cmp): &Step) -> String {
    match cmp {
        Cmp::Exact => line.clone(),
        Cmp::CrossRestore(c) => format!("FUNCTION RESTORE <other's dump> {line}    ({c:?})"),
        other => format!("{line}    ({other:?})"),
    }
}

#[test]
fn fuzz_script_sequences_against_redis() {
    let mut pair = Pair::start();
    script_campaign("fuzz_script_sequences_against_redis", SHORT, &mut pair);
}

/// The campaign every test here runs on its pair of servers: half the sequences speak
/// RESP3.
fn script_campaign(name: &str, short: u64, pair: &mut Pair) {
    campaign(
        name,
        short,
        pair,
        |r| (r.one_in(2), sequence(r)),
        |pair, resp3, seq| pair.first_difference(resp3, seq),
        show,
    );
}

/// Differences the fuzzer found, each kept as the lines that showed it (one pair of
/// fresh servers runs them all, RESP2 then RESP3 where the protocol matters).
#[test]
fn regression_sequences() {
    reference::assert_same_as_redis(&[
        // LuaBitOp reads its arguments itself: the first, then the others from the last;
        // an explicit nil is read (tohex's width too).
        "EVAL \"return bit.lshift(1)\" 0",
        "EVAL \"return bit.band()\" 0",
        "EVAL \"return bit.tohex(1, nil)\" 0",
        "EVAL \"return bit.bor('x', 1, {})\" 0",
        "EVAL \"return bit.bor(1, true, {})\" 0",
        "EVAL \"return bit.tobit('0x10')\" 0",
        // A C library's error names the script line that called it, also when a pcall
        // catches it; a C function pcall calls itself has no line above it.
        "EVAL \"return {pcall(function() return bit.rol(1) end)}\" 0",
        "EVAL \"return {pcall(function() return struct.unpack('<i4', 'ab') end)}\" 0",
        "EVAL \"return {pcall(function() local x = cjson.decode() end)}\" 0",
        "EVAL \"return {pcall(struct.pack, 'z')}\" 0",
        "EVAL \"return {pcall(cjson.decode)}\" 0",
        "EVAL \"return {pcall(cjson.encode, 1, 2)}\" 0",
        "EVAL \"return {pcall(cjson.decode, {})}\" 0",
        "EVAL \"return cjson.decode()\" 0",
        // xpcall's message handler sees what Redis's Lua raised: redis.call's error
        // table, a C library function's placed message (was a userdata).
        "EVAL \"return {xpcall(function() redis.call('nosuch') end, function(e) return type(e) end)}\" 0",
        "EVAL \"return {xpcall(function() redis.call('nosuch') end, function(e) return e.err end)}\" 0",
        "EVAL \"return {xpcall(function() redis.call('get', 'a', 'b') end, function(e) return {e.err, tostring(e.ignore_error_stats_update)} end)}\" 0",
        "EVAL \"return {xpcall(function() redis.call() end, function(e) return {e.err, tostring(e.ignore_error_stats_update)} end)}\" 0",
        "EVAL \"return {xpcall(function() bit.band() end, function(e) return e end)}\" 0",
        "EVAL \"return {xpcall(function() cjson.decode('{') end, function(e) return e end)}\" 0",
        "EVAL \"return {xpcall(redis.call, function(e) return type(e) end)}\" 0",
        "EVAL \"return {xpcall(bit.band, function(e) return e end)}\" 0",
        "EVAL \"return {xpcall(function() error({err='x'}) end, function(e) return e.err end)}\" 0",
        "EVAL \"return {xpcall(function() return 1, 2 end, function(e) return e end)}\" 0",
        "EVAL \"return {xpcall(function() error('x') end)}\" 0",
        "EVAL \"return {xpcall(function() error('x') end, 5)}\" 0",
        // An error table's numeric err reads as Lua prints the number.
        "EVAL \"error({err=0.5})\" 0",
        "EVAL \"error({err=2^64})\" 0",
        "EVAL \"error({err=1e16})\" 0",
        "EVAL \"error({err=-1/0})\" 0",
        // Only a command's error carries ignore_error_stats_update; the argument errors
        // of redis.pcall do not.
        "EVAL \"return cmsgpack.pack(redis.pcall('get', {}))\" 0",
        "EVAL \"return cmsgpack.pack(redis.pcall())\" 0",
        "EVAL \"local t = redis.pcall('nosuch') return {t.err, tostring(t.ignore_error_stats_update)}\" 0",
        // Readonly tables refuse a new metatable (a C function's error: no line).
        "EVAL \"setmetatable(_G, nil)\" 0",
        "EVAL \"return {pcall(setmetatable, redis, {})}\" 0",
        "EVAL \"return type(setmetatable({}, {__index = _G}))\" 0",
        // redis.error_reply reads a C string.
        "EVAL \"return redis.error_reply('ab\\\\0cd')\" 0",
        "EVAL \"return redis.error_reply('-X y\\\\0z')\" 0",
        "EVAL \"return {pcall(function() error(redis.error_reply('\\\\0x')) end)}\" 0",
        // acl_check_cmd looks the command up without its arity.
        "EVAL \"return redis.acl_check_cmd('set')\" 0",
        "EVAL \"return redis.acl_check_cmd('config')\" 0",
        "EVAL \"return redis.acl_check_cmd('config', 'nosuch')\" 0",
        "EVAL \"return redis.acl_check_cmd('nosuch')\" 0",
        // register_function exists only at FUNCTION LOAD; breakpoint, debug and
        // replicate_commands only for EVAL.
        "EVAL \"redis.register_function('f', function() end)\" 0",
        "EVAL \"return {type(redis.breakpoint), type(redis.debug), redis.replicate_commands()}\" 0",
        "FUNCTION LOAD \"#!lua name=lib\\nredis.register_function('Fn', function() return {type(redis.breakpoint), type(redis.debug), type(redis.replicate_commands), type(redis.register_function), type(redis.call)} end)\\nredis.register_function('fail', function() redis.set_repl() end)\"",
        "FCALL Fn 0",
        // FCALL finds a function in any case; errors name it as registered.
        "FCALL fn 0",
        "FCALL_RO FN 0",
        "FCALL FAIL 0",
        "FUNCTION LOAD \"#!lua name=lib2\\nredis.register_function('FN', function() return 1 end)\"",
        "FUNCTION LOAD \"#!lua name=lib2\\nredis.register_function('fAiL', function() return 1 end)\"",
        "FUNCTION DELETE lib",
        "FUNCTION LOAD \"#!lua name=lib2\\nredis.register_function('FN', function() return 1 end)\"",
        "FCALL fn 0",
        // cjson names the type of a key it cannot encode.
        "EVAL \"return cjson.encode({[true] = 1})\" 0",
        "EVAL \"return {pcall(cjson.encode, {[{}] = 1})}\" 0",
        // cjson's settings functions (were missing): each sets and returns its setting,
        // refuses bad values as lua-cjson does, and the settings last until SCRIPT FLUSH
        // (functions have a cjson of their own).
        "EVAL \"return {cjson.encode_sparse_array()}\" 0",
        "EVAL \"return {cjson.encode_sparse_array('on', 3, 'x')}\" 0",
        "EVAL \"return cjson.encode_max_depth(0)\" 0",
        "EVAL \"return cjson.decode_max_depth(1, 2)\" 0",
        "EVAL \"return cjson.encode_number_precision(15)\" 0",
        "EVAL \"return cjson.encode_keep_buffer('x')\" 0",
        "EVAL \"return cjson.encode_invalid_numbers('null')\" 0",
        "EVAL \"return cjson.encode({1/0, -1/0, 0/0})\" 0",
        "EVAL \"return cjson.encode_invalid_numbers(true)\" 0",
        "EVAL \"return cjson.encode({1/0, -1/0, 0/0})\" 0",
        "EVAL \"return cjson.encode_number_precision(3)\" 0",
        "EVAL \"return cjson.encode({1/3, 12345})\" 0",
        "EVAL \"return cjson.encode_max_depth(2)\" 0",
        "EVAL \"return cjson.encode({{{1}}})\" 0",
        "EVAL \"return cjson.decode_max_depth(2)\" 0",
        "EVAL \"return cjson.decode('[[[1]]]')\" 0",
        "EVAL \"return {cjson.encode_sparse_array(true)}\" 0",
        "EVAL \"return cjson.encode({[1] = 1, [20] = 2})\" 0",
        "EVAL \"return cjson.decode_invalid_numbers(false)\" 0",
        "EVAL \"return {pcall(cjson.decode, '[0x10]')}\" 0",
        "EVAL \"return {pcall(cjson.decode, '[inf]')}\" 0",
        "EVAL \"return cjson.new().encode({1/3})\" 0",
        "FUNCTION LOAD REPLACE \"#!lua name=lib\nredis.register_function('j', function() return cjson.encode({1/3, {{{1}}}}) end)\"",
        "FCALL j 0",
        "SCRIPT FLUSH",
        "EVAL \"return cjson.encode({1/3, {{{1}}}})\" 0",
        "EVAL \"return cjson.decode('[0x10]')\" 0",
        // FUNCTION RESTORE: extra words are a subcommand syntax error, before the policy.
        "FUNCTION RESTORE x APPEND x",
        "FUNCTION RESTORE x BAD x",
        "FUNCTION restore x FLUSH x",
    ]);
}

/// The same sequences on servers always over `maxmemory` (1 byte): scripts and functions
/// with and without `allow-oom`, writes refused inside them, and the commands that are
/// refused before they run.
#[test]
fn fuzz_script_sequences_over_maxmemory() {
    let mut pair = Pair::start_with(&["--maxmemory", "1"]);
    script_campaign("fuzz_script_sequences_over_maxmemory", SHORT / 5, &mut pair);
}

/// Over maxmemory a subcommand is refused only if its own flags deny OOM: XGROUP
/// DESTROY / SETID / DELCONSUMER / HELP run (were refused: XGROUP's container flags deny
/// OOM for CREATE's sake), from scripts too.
#[test]
fn regression_over_maxmemory() {
    let mut pair = Pair::start_with(&["--maxmemory", "1"]);
    let lines = [
        "XGROUP DESTROY s g",
        "XGROUP SETID s g 0",
        "XGROUP DELCONSUMER s g c",
        "XGROUP HELP",
        "XGROUP CREATE s g $ MKSTREAM",
        "EVAL \"return redis.pcall('xgroup', 'destroy', 's', 'g')\" 0",
        "EVAL \"return redis.pcall('xgroup', 'create', 's', 'g', '$', 'MKSTREAM')\" 0",
    ];
    let diffs: Vec<String> = lines
        .iter()
        .filter_map(|line| pair.step(line, Cmp::Exact))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// The same sequences on read-only replicas of a master that never answers, which refuse
/// stale reads (replica-serve-stale-data no) or serve them: scripts and functions with and
/// without `allow-stale` / `no-writes`, and the READONLY / MASTERDOWN refusals in and
/// before them.
#[test]
fn fuzz_script_sequences_on_a_stale_replica() {
    for serve_stale in ["no", "yes"] {
        let mut pair = Pair::start_with(&[
            "--replicaof",
            "127.0.0.1 1",
            "--replica-serve-stale-data",
            serve_stale,
        ]);
        script_campaign(
            &format!("fuzz_script_sequences_on_a_stale_replica (serve-stale {serve_stale})"),
            SHORT / 10,
            &mut pair,
        );
    }
}

/// Differences the stale-replica fuzzer found: FUNCTION DELETE / FLUSH are writes
/// (READONLY before MASTERDOWN); SCRIPT HELP and FUNCTION HELP run on a stale replica;
/// ECHO and every CLUSTER subcommand are stale commands; subcommands' own flags.
#[test]
fn regression_on_a_stale_replica() {
    let mut pair = Pair::start_with(&[
        "--replicaof",
        "127.0.0.1 1",
        "--replica-serve-stale-data",
        "no",
    ]);
    let lines = [
        "FUNCTION FLUSH",
        "FUNCTION FLUSH ASYNC",
        "FUNCTION DELETE lib1",
        "FUNCTION LOAD \"#!lua name=lib\\nredis.register_function('f', function() return 1 end)\"",
        "FUNCTION LIST",
        "FUNCTION HELP",
        "SCRIPT HELP",
        "SCRIPT FLUSH",
        "EVAL \"#!lua flags=no-writes,allow-stale\\nreturn 1\" 0",
        "EVAL \"return 1\" 0",
        // Found by seed 7303: ECHO is a stale command (was refused from the script, and as
        // a command answered MASTERDOWN).
        "EVAL_RO \"#!lua flags=no-writes,allow-stale\\nredis.pcall('geopos', KEYS[1], 'a')\\nredis.call('echo', ARGV[2])\\nredis.call()\\nreturn false\" 0 1 10",
        "ECHO x",
        // A subcommand runs with its own flags, not its container's: CLUSTER's are stale
        // (CLUSTER NODES / SLOTS / INFO answered MASTERDOWN), so are the HELPs, and XGROUP
        // HELP is no write (was READONLY).
        "CLUSTER INFO",
        "CLUSTER NODES",
        "CLUSTER SLOTS",
        "OBJECT HELP",
        "XINFO HELP",
        "XGROUP HELP",
        "XGROUP DESTROY s g",
        "EVAL \"#!lua flags=no-writes,allow-stale\\nreturn redis.pcall('cluster', 'info')\" 0",
        "EVAL \"#!lua flags=no-writes,allow-stale\\nreturn redis.call('xgroup', 'help')[1]\" 0",
        "EVAL \"#!lua flags=allow-stale\\nreturn redis.pcall('xgroup', 'destroy', 's', 'g')\" 0",
    ];
    let diffs: Vec<String> = lines
        .iter()
        .filter_map(|line| pair.step(line, Cmp::Exact))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Found on a stale replica, where the sequences' SCRIPT FLUSH is refused and the script
/// cache only grows: rubra held each cached script in a slot of mlua's reference stack
/// (Lua 5.1 allows about 8000), so after ~8000 scripts every new EVAL / SCRIPT LOAD failed
/// with "out of Lua stack". Redis caches any number.
#[test]
fn regression_many_cached_scripts() {
    let mut pair = Pair::start();
    let lines: Vec<String> = (0..9000)
        .map(|i| format!("SCRIPT LOAD \"return {i}\""))
        .collect();
    same_replies_in_batches(&mut pair, &lines, 500);
    for line in [
        "EVAL \"return 'one more'\" 0",
        "EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0",
        "SCRIPT FLUSH",
        "EVAL \"return 2\" 0",
    ] {
        assert_eq!(pair.step(line, Cmp::Exact), None);
    }
}

/// Sends `lines` to both servers, `batch` commands per write, and checks that each reply
/// is the same on both; rubra's replies.
fn same_replies_in_batches(pair: &mut Pair, lines: &[String], batch: usize) -> Vec<Vec<u8>> {
    let mut replies = Vec::new();
    for chunk in lines.chunks(batch) {
        let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for c in [&mut pair.a, &mut pair.b] {
            assert!(c.try_send_many(&chunk));
        }
        for _ in &chunk {
            let (ra, rb) = (pair.a.read_reply(), pair.b.read_reply());
            assert_eq!(ra.escape_ascii().to_string(), rb.escape_ascii().to_string());
            replies.push(ra);
        }
    }
    replies
}

/// Library functions held the same kind of slot: 9000 functions in 90 libraries used to
/// make the next FUNCTION LOAD (and any EVAL) fail with "out of Lua stack".
#[test]
fn regression_many_library_functions() {
    let mut pair = Pair::start();
    let lines: Vec<String> = (0..90)
        .map(|lib| {
            let body: String = (0..100)
                .map(|f| {
                    format!("redis.register_function('f{lib}_{f}', function() return {f} end) ")
                })
                .collect();
            format!("FUNCTION LOAD \"#!lua name=l{lib}\\n{body}\"")
        })
        .collect();
    for reply in same_replies_in_batches(&mut pair, &lines, 10) {
        assert!(
            reply.starts_with(b"$"),
            "a library name: {}",
            reply.escape_ascii()
        );
    }
    assert!(pair.a.try_send_many(&["FCALL f89_99 0"]));
    assert_eq!(pair.a.read_reply(), b":99\r\n");
    for line in [
        "FUNCTION LOAD \"#!lua name=last\\nredis.register_function('one_more', function() return 'ok' end)\"",
        "FCALL one_more 0",
        "FCALL f89_99 0",
        "EVAL \"return 2\" 0",
        "FUNCTION FLUSH",
        "FCALL f0_0 0",
    ] {
        assert_eq!(pair.step(line, Cmp::Exact), None);
    }
}

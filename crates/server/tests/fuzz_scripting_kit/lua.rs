//! The Lua generator of `fuzz_scripting_differential`: expressions, redis.call /
//! pcall, tables, errors raised and caught, statements and whole script bodies.

use super::*;

/// Commands per sequence (before the closing listing).
pub(crate) const SEQ_LEN: usize = 20;

/// Keys scripts are given and touch (some set up with a type before every sequence).
pub(crate) const KEYS: &[&str] = &["s", "h", "l", "z", "n", "k", "x"];

/// Scripts SCRIPT LOAD may load, with their SHA1 digests (for EVALSHA and SCRIPT EXISTS).
pub(crate) const LOADABLE: &[(&str, &str)] = &[
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
pub(crate) const NUMBERS: &[&str] = &[
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
pub(crate) const STRINGS: &[&str] = &[
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
pub(crate) const JSON: &[&str] = &[
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
pub(crate) const STRUCT_FORMATS: &[&str] = &[
    "'>I2'", "'<i4'", "'b'", "'B'", "'h'", "'>d'", "'<f'", "'s'", "'c3'", "'c0'", "'i9'", "'x'",
    "'!4i2'", "'>l'", "'<L'", "'q'", "'c'", "'i0'",
];

/// string.format formats (valid and odd).
pub(crate) const FORMATS: &[&str] = &[
    "'%d'", "'%5.2f'", "'%x'", "'%s'", "'%q'", "'%g'", "'%e'", "'%c'", "'%i'", "'%o'", "'%%'",
    "'%'", "'%z'", "'%10s|'", "'%-5d|'", "'%.3s'", "'%u'", "'%X'", "'%+d'",
];

/// Commands a script calls: some allowed, some that fail (arity, unknown, not allowed in
/// scripts, WRONGTYPE on the prepared keys), each with its usual arguments.
pub(crate) const COMMANDS: &[&[&str]] = &[
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
pub(crate) struct Ctx {
    pub(crate) keys: &'static str,
    pub(crate) args: &'static str,
}

/// EVAL's script globals.
pub(crate) const EVAL_CTX: Ctx = Ctx {
    keys: "KEYS",
    args: "ARGV",
};
/// A function's parameters.
pub(crate) const FN_CTX: Ctx = Ctx {
    keys: "keys",
    args: "args",
};

/// One of `xs` as an owned string.
pub(crate) fn ps(r: &mut Rng, xs: &[&'static str]) -> String {
    p(r, xs).to_string()
}

/// A number: a literal, or one of the script's arguments converted.
pub(crate) fn number(r: &mut Rng, c: Ctx) -> String {
    match r.below(8) {
        0 => format!("tonumber({}[1])", c.args),
        _ => ps(r, NUMBERS),
    }
}

/// A string: a literal or one of the script's keys or arguments.
pub(crate) fn string(r: &mut Rng, c: Ctx) -> String {
    match r.below(8) {
        0 => format!("{}[1]", c.keys),
        1 => format!("{}[{}]", c.args, 1 + r.below(2)),
        _ => ps(r, STRINGS),
    }
}

/// An argument of redis.call: mostly strings and numbers, now and then a value commands
/// refuse (a table, a boolean) or nil (which ends the argument list).
pub(crate) fn call_arg(r: &mut Rng, c: Ctx, kind: &str) -> String {
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
pub(crate) fn redis_call(r: &mut Rng, c: Ctx) -> String {
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
pub(crate) fn table(r: &mut Rng, c: Ctx, depth: usize) -> String {
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
pub(crate) fn expr(r: &mut Rng, c: Ctx, depth: usize) -> String {
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
pub(crate) fn caught(r: &mut Rng, c: Ctx, depth: usize) -> String {
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
pub(crate) fn raise(r: &mut Rng, c: Ctx) -> String {
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
pub(crate) fn statement(r: &mut Rng, c: Ctx) -> String {
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
pub(crate) fn body(r: &mut Rng, c: Ctx) -> String {
    let mut parts: Vec<String> = (0..r.below(4)).map(|_| statement(r, c)).collect();
    if !r.one_in(8) {
        parts.push(format!("return {}", expr(r, c, 0)));
    }
    parts.join("\n")
}

/// A `#!lua` shebang line with random flags (valid, unknown, none), or nothing.
pub(crate) fn shebang(r: &mut Rng) -> String {
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

//! Lua scripting and functions (differential): the same EVAL / SCRIPT / FUNCTION / FCALL
//! sessions on rubra-server and Debian's redis-server 7.0 must get byte-identical replies,
//! in RESP2 and in RESP3 — conversion rules, error texts (with their `@user_script:N`
//! suffixes), the sandbox, shebang flags and the read-only variants.

mod common;
mod reference;
use reference::assert_same_as_redis;

fn with_resp3(script: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["!HELLO 3"];
    v.extend_from_slice(script);
    v
}

/// Lua -> RESP: what a script's return value becomes for the caller.
const RETURNS: &[&str] = &[
    "EVAL \"return 1\" 0",
    "EVAL \"return 3.99\" 0",
    "EVAL \"return -3.99\" 0",
    "EVAL \"return {2^63, -2^64, 0/0, 1/0, -1/0, 1e300, 2^53+1}\" 0",
    "EVAL \"return 'hello'\" 0",
    "EVAL \"return true\" 0",
    "EVAL \"return false\" 0",
    "EVAL \"return nil\" 0",
    "EVAL \"return {1,2,3,'ciao',{1,2}}\" 0",
    "EVAL \"return {1,2,nil,3}\" 0",
    "EVAL \"return {}\" 0",
    "EVAL \"return {ok='fine'}\" 0",
    "EVAL \"return {ok='a\\r\\nb'}\" 0",
    "EVAL \"return {err='My Error'}\" 0",
    "EVAL \"return {err='x'}\" 0",
    "EVAL \"return {1, {err='inner'}, {ok='st'}}\" 0",
    "EVAL \"return redis.error_reply('x')\" 0",
    // Bytes that are not UTF-8 (Lua's \255) go back as they came.
    "EVAL \"return {err='ERR a\\\\255b'}\" 0",
    "EVAL \"return redis.call('nosuch\\\\255')\" 0",
    "EVAL \"return redis.error_reply('-CODE with words')\" 0",
    "EVAL \"return redis.error_reply(1)\" 0",
    "EVAL \"return redis.status_reply('FINE')\" 0",
    "EVAL \"return redis.status_reply()\" 0",
    "EVAL \"return {double=3.5}\" 0",
    "EVAL \"return {double=1/0}\" 0",
    "EVAL \"return {big_number='123456789012345678901234567890'}\" 0",
    "EVAL \"return {map={a=1}}\" 0",
    "EVAL \"return {set={a=true}}\" 0",
    "EVAL \"return {verbatim_string={format='txt',string='hi'}}\" 0",
    "EVAL \"redis.setresp(3) return true\" 0",
    "EVAL \"redis.setresp(3) return false\" 0",
    "EVAL \"redis.setresp(3) return {true,false,1}\" 0",
    "EVAL \"return KEYS[1]..ARGV[1]..#KEYS..#ARGV\" 2 k1 k2 a1",
    "EVAL \"return {KEYS, ARGV}\" 1 k a b",
    // What a script does to KEYS and ARGV is gone by the next run.
    "EVAL \"KEYS.x = 1 KEYS[4] = 'd' ARGV[2] = 'q' table.insert(ARGV, 'r') return #ARGV\" 2 k1 k2 a1",
    "EVAL \"local n = 0 for _ in pairs(KEYS) do n = n + 1 end for _ in pairs(ARGV) do n = n + 1 end return {n, #KEYS, #ARGV, KEYS.x, ARGV[2]}\" 1 k",
    "EVAL \"KEYS = nil\" 0",
    "EVAL \"return {KEYS[1], ARGV[1], ARGV[2]}\" 1 k a",
];

/// RESP -> Lua: what redis.call returns inside the script, by the script's protocol.
const CALLS: &[&str] = &[
    "SET str v",
    "HSET h a 1 b 2",
    "SADD s x",
    "ZADD z 1.5 m",
    "RPUSH l a b c",
    "EVAL \"return redis.call('get','str')\" 0",
    "EVAL \"return redis.call('get','nokey')\" 0",
    "EVAL \"return type(redis.call('get','nokey'))\" 0",
    "EVAL \"return tostring(redis.call('get','nokey'))\" 0",
    "EVAL \"return redis.call('ping')\" 0",
    "EVAL \"return type(redis.call('ping'))\" 0",
    "EVAL \"return redis.call('ping').ok\" 0",
    "EVAL \"return redis.call('incr','counter')\" 0",
    "EVAL \"return redis.call('lrange','l',0,-1)\" 0",
    "EVAL \"return redis.call('hgetall','h')\" 0",
    "EVAL \"redis.setresp(3) return redis.call('hgetall','h')\" 0",
    "EVAL \"redis.setresp(3) local r = redis.call('hgetall','h') return r.map.a\" 0",
    "EVAL \"redis.setresp(3) return redis.call('smembers','s')\" 0",
    "EVAL \"redis.setresp(3) return type(redis.call('smembers','s').set)\" 0",
    "EVAL \"redis.setresp(3) return redis.call('zscore','z','m')\" 0",
    "EVAL \"redis.setresp(3) return redis.call('zscore','z','m').double\" 0",
    "EVAL \"return redis.call('zscore','z','m')\" 0",
    "ZADD z 2 n -3.25 o",
    "EVAL \"return redis.call('zrange','z',0,-1,'withscores')\" 0",
    "EVAL \"redis.setresp(3) return redis.call('zrange','z',0,-1,'withscores')\" 0",
    "EVAL \"redis.setresp(3) return redis.call('zrange','z',0,-1,'withscores')[1][2].double\" 0",
    "EVAL \"redis.setresp(3) return redis.call('zrevrangebyscore','z','+inf','-inf','withscores','limit',1,5)\" 0",
    "EVAL \"return redis.call('zrangebylex','z','-','+')\" 0",
    "ZREM z n o",
    "EVAL \"redis.setresp(3) return type(redis.call('get','nokey'))\" 0",
    "EVAL \"return redis.call('set','k',1.5)\" 0",
    "EVAL \"return redis.call('get','k')\" 0",
    "EVAL \"return redis.call('set','k',10000000000000000000)\" 0",
    "EVAL \"return redis.call('get','k')\" 0",
    "EVAL \"return redis.call('set','k',0.1)\" 0",
    "EVAL \"return redis.call('get','k')\" 0",
    "EVAL \"return redis.call('blpop','nolist',1)\" 0",
    "EVAL \"return redis.call('exists','str','h','nokey')\" 0",
    "EVAL \"redis.call('select',1) redis.call('set','in1','x') return redis.call('dbsize')\" 0",
    "DBSIZE",
    "SELECT 1",
    "GET in1",
    "SELECT 0",
];

/// Error texts: failing commands, bad calls, runtime and compile errors, sandbox.
const ERRORS: &[&str] = &[
    "SET str x",
    "EVAL \"return redis.call('incr','str')\" 0",
    "EVAL \"return redis.pcall('incr','str')\" 0",
    "EVAL \"local ok, e = pcall(redis.call,'incr','str') return e\" 0",
    "EVAL \"local r = redis.pcall('incr','str') return r.err\" 0",
    "EVAL \"return redis.call('incr')\" 0",
    "EVAL \"return redis.call('nosuch')\" 0",
    "EVAL \"return redis.call()\" 0",
    "EVAL \"return redis.call('set',{},1)\" 0",
    "EVAL \"return redis.call('multi')\" 0",
    "EVAL \"return redis.call('eval','return 1',0)\" 0",
    "EVAL \"redis.call('set','x','y')\\nreturn redis.call('lpush','x','a')\" 0",
    "EVAL \"return 1+nil\" 0",
    "EVAL \"error('boom')\" 0",
    "EVAL \"error({err='MY boom'})\" 0",
    "EVAL \"local t = {} \\n\\n return t.x.y\" 0",
    "EVAL \"retur 1\" 0",
    "EVAL \"return a\" 0",
    "EVAL \"a=1\" 0",
    "EVAL \"function f() end\" 0",
    "EVAL \"string.foo=1\" 0",
    "EVAL \"redis.call = nil\" 0",
    "EVAL \"rawset(_G,'x',1)\" 0",
    "EVAL \"return os.time()\" 0",
    "EVAL \"return io\" 0",
    "EVAL \"return dofile('/etc/passwd')\" 0",
    "EVAL \"return loadfile('/etc/passwd')\" 0",
    "EVAL \"return print\" 0",
    "EVAL \"return loadstring('return 1+1')()\" 0",
    "EVAL \"return loadstring('x=1')()\" 0",
    "EVAL \"return redis.setresp(4)\" 0",
    "EVAL \"return redis.setresp()\" 0",
    "EVAL \"return redis.set_repl(9)\" 0",
    "EVAL \"return redis.log()\" 0",
    "EVAL \"return redis.log('x','y')\" 0",
    "EVAL \"return redis.log(9,'y')\" 0",
    "EVAL \"return redis.sha1hex()\" 0",
    "EVAL \"return math.random(0)\" 0",
    "EVAL \"return 1\" -1",
    "EVAL \"return 1\" 5",
    "EVAL \"return 1\" x",
    "EVAL",
    "EVALSHA abc 0",
    "EVALSHA ffffffffffffffffffffffffffffffffffffffff 0",
    "EVAL_RO \"return redis.call('set','a','b')\" 0",
    "EVAL_RO \"return redis.call('get','str')\" 0",
];

/// The redis.* API and the standard libraries.
const API: &[&str] = &[
    "EVAL \"return redis.sha1hex('')\" 0",
    "EVAL \"return redis.sha1hex(1)\" 0",
    "EVAL \"return redis.REDIS_VERSION_NUM > 0x070000\" 0",
    "EVAL \"return type(redis.REDIS_VERSION)\" 0",
    "EVAL \"return redis.replicate_commands()\" 0",
    "EVAL \"return redis.breakpoint()\" 0",
    "EVAL \"return redis.debug('x')\" 0",
    "EVAL \"return redis.log(redis.LOG_WARNING, 'from a script')\" 0",
    "EVAL \"return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}\" 0",
    "EVAL \"return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}\" 0",
    "EVAL \"redis.set_repl(redis.REPL_ALL) return 1\" 0",
    "EVAL \"return redis.acl_check_cmd('get','x')\" 0",
    "EVAL \"return redis.acl_check_cmd('nope')\" 0",
    "EVAL \"return {math.random(), math.random(5,10), math.random(1000)}\" 0",
    "EVAL \"return {math.random(100), math.random(100), math.random(100)}\" 0",
    "EVAL \"math.randomseed(7) return {math.random(1000), math.random(1000)}\" 0",
    "EVAL \"return table.concat({1,2},',')\" 0",
    "EVAL \"return string.format('%d %s %5.2f', 5, 'x', 3.14159)\" 0",
    "EVAL \"return string.rep('ab', 3)\" 0",
    "EVAL \"return tostring(tonumber('0x10'))\" 0",
    "EVAL \"return bit.band(0xff, 0x0f)\" 0",
    "EVAL \"return {bit.bor(1,2,4), bit.bxor(5,3), bit.bnot(0), bit.lshift(1,31), bit.rshift(-1,28), bit.arshift(-16,2)}\" 0",
    "EVAL \"return {bit.tohex(255), bit.tohex(-1), bit.tohex(255, -4), bit.tobit(4294967296+5)}\" 0",
    "EVAL \"return {bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}\" 0",
    "EVAL \"return type(coroutine)\" 0",
    "EVAL \"return _G == _G._G\" 0",
    "EVAL \"local ok, err = pcall(function() error({err='T'}) end) return err\" 0",
    "EVAL \"return {pcall(error)}\" 0",
];

/// The script cache and shebang flags.
const CACHE_AND_FLAGS: &[&str] = &[
    "SCRIPT LOAD \"return 'cached'\"",
    "EVALSHA 952f49ffc8f7b098d8ab5da45d3164ca36ed18b1 0",
    "EVALSHA_RO 952f49ffc8f7b098d8ab5da45d3164ca36ed18b1 0",
    "SCRIPT EXISTS 952f49ffc8f7b098d8ab5da45d3164ca36ed18b1 ffffffffffffffffffffffffffffffffffffffff",
    "EVAL \"return 'fromeval'\" 0",
    "SCRIPT EXISTS c20eaadff588dc25df9d297ca591aa7c047b03e0",
    "SCRIPT LOAD \"retur 1\"",
    "SCRIPT FLUSH",
    "SCRIPT EXISTS 952f49ffc8f7b098d8ab5da45d3164ca36ed18b1",
    "SCRIPT FLUSH ASYNC",
    "SCRIPT FLUSH SYNC",
    "SCRIPT FLUSH x",
    "SCRIPT KILL",
    "SCRIPT LOAD",
    "SCRIPT EXISTS",
    "SCRIPT foo",
    "EVAL \"#!lua flags=no-writes\\nreturn redis.call('set','x','y')\" 0",
    "EVAL \"#!lua flags=no-writes\\nreturn redis.call('get','x')\" 0",
    "EVAL \"#!lua flags=no-writes,allow-oom\\nreturn 1\" 0",
    "EVAL \"#!lua flags=bad\\nreturn 1\" 0",
    "EVAL \"#!lua flags=\\nreturn redis.call('set','x','y')\" 0",
    "EVAL \"#!lua\\nreturn redis.call('set','x','y')\" 0",
    "EVAL \"#!lua\\nreturn redis.call('get','x')\" 0",
    "EVAL \"#!lu\\nreturn 1\" 0",
    "EVAL \"#!lua foo=bar\\nreturn 1\" 0",
    "EVAL \"#!lua\" 0",
    "EVAL \"#!lua\\nerror('line two')\" 0",
    "EVAL_RO \"#!lua\\nreturn 1\" 0",
    "EVAL_RO \"#!lua flags=no-writes\\nreturn 1\" 0",
    "EVAL \"#!lua flags=no-cluster\\nreturn 1\" 0",
    "EVAL \"#!lua flags=allow-cross-slot-keys,allow-stale\\nreturn 1\" 0",
];

/// Functions: loading, calling, listing, errors.
const FUNCTIONS: &[&str] = &[
    "FUNCTION FLUSH",
    "FUNCTION LOAD \"#!lua name=mylib\\nredis.register_function{function_name='getter', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads a key'}\"",
    // Redis lists libraries and functions in hash order (random seed): list only while
    // there is one library with one function.
    "FUNCTION LIST",
    "FUNCTION LIST WITHCODE",
    "FUNCTION LIST LIBRARYNAME my*",
    "FUNCTION LIST LIBRARYNAME other*",
    "FUNCTION LOAD \"#!lua name=setlib\\nredis.register_function('setter', function(keys, args) return redis.call('set', keys[1], args[1]) end)\"",
    "FCALL setter 1 fk fv",
    "FCALL getter 1 fk",
    "FCALL_RO getter 1 fk",
    "FCALL_RO setter 1 fk fv",
    "FCALL nofunc 0",
    "FCALL getter x",
    "FCALL getter 5",
    "FCALL getter -1",
    "FUNCTION LIST LIBRARYNAME",
    "FUNCTION LIST bogus",
    "FUNCTION STATS",
    "FUNCTION LOAD \"#!lua name=mylib\\nredis.register_function('other', function() return 1 end)\"",
    "FUNCTION LOAD \"return 1\"",
    "FUNCTION LOAD \"#!lua name=bad-name\\nreturn 1\"",
    "FUNCTION LOAD \"#!lua name=x\\nreturn 1\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('setter', function() return 1 end)\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('a')\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('a', 1)\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('a', function() end, 3)\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('bad-fn', function() end)\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function{function_name='a', callback=function() end, flags={'bogus'}}\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function{function_name='a', callback=function() end, bogus=1}\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function{callback=function() end}\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function{function_name='a'}\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.register_function('a', function() end)\\nredis.register_function('a', function() end)\"",
    "FUNCTION LOAD \"#!lua name=x\\nerror('boom')\"",
    "FUNCTION LOAD \"#!lua name=x\\nredis.call('ping')\"",
    "FUNCTION LOAD \"#!lua name=x\\nlocal s = string.len('x')\"",
    "FUNCTION LOAD \"#!lua name=x\\nlocal a = = 1\"",
    "FUNCTION LOAD \"#!lua name=x engine=y\\nreturn 1\"",
    "FUNCTION LOAD \"#!lua name=x name=y\\nreturn 1\"",
    "FUNCTION LOAD \"#!lua\\nreturn 1\"",
    "FUNCTION LOAD \"#!py name=x\\nreturn 1\"",
    "FUNCTION LOAD BOGUS \"#!lua name=x\\nreturn 1\"",
    "FUNCTION LOAD",
    "FUNCTION LOAD REPLACE \"#!lua name=mylib\\nlocal function helper(n) return string.rep('a', n) end\\nredis.register_function('rep', function(keys, args) return helper(tonumber(args[1])) end)\\nredis.register_function('fails', function(keys, args) error('inner') end)\\nredis.register_function('keysglobal', function(keys, args) return KEYS end)\"",
    "FCALL rep 0 3",
    "FCALL fails 0",
    "FCALL setter 1 fk fv",
    "FCALL keysglobal 0",
    "FUNCTION DELETE nolib",
    "FUNCTION DELETE mylib",
    "FUNCTION DELETE setlib",
    "FUNCTION LIST",
    "FUNCTION STATS",
    "FUNCTION KILL",
    "FUNCTION RESTORE bogus",
    "FUNCTION RESTORE bogus BADPOLICY",
    "FUNCTION FLUSH x",
    "FUNCTION FLUSH ASYNC",
    "FUNCTION foo",
    "FUNCTION DELETE",
];

/// redis.register_function edge cases: names (numbers are strings to Lua, invalid
/// characters, length), argument forms and types, flags and descriptions, and what a
/// library's top level may not do — each load followed by what FUNCTION LIST shows.
const REGISTER: &[&str] = &[
    r#"redis.register_function('1abc', function() return 1 end)"#,
    r#"redis.register_function('a-b', function() return 1 end)"#,
    r#"redis.register_function('', function() return 1 end)"#,
    r#"redis.register_function(1, function() return 1 end)"#,
    r#"redis.register_function(123, function() return 1 end)"#,
    r#"redis.register_function('ok_name', 'notafunction')"#,
    r#"redis.register_function('ok_name')"#,
    r#"redis.register_function()"#,
    r#"redis.register_function('a', function() end, 'extra')"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags='no-writes'}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={'bad-flag'}}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={1}}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={'no-writes', 'no-writes'}}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={'allow-cross-slot-keys','no-cluster','allow-stale','allow-oom','no-writes'}}"#,
    r#"redis.register_function{function_name='f', callback=function() end, description=5}"#,
    r#"redis.register_function{function_name='f', callback=function() end, description='d'}"#,
    r#"redis.register_function{function_name='f', callback=function() end, unknown=1}"#,
    r#"redis.register_function{function_name='f'}"#,
    r#"redis.register_function{callback=function() end}"#,
    r#"redis.register_function{function_name=5, callback=function() end}"#,
    r#"redis.register_function{}"#,
    r#"redis.register_function{function_name='f', callback=function() end} redis.register_function{function_name='f', callback=function() end}"#,
    r#"redis.register_function(string.rep('a', 65), function() end)"#,
    r#"redis.register_function('a_b_C_9', function() end)"#,
    r#"redis.register_function('f', function() end) return 5"#,
    r#"local x = redis.call('ping')"#,
    r#"redis.setresp(3)"#,
    r#"redis.log(redis.LOG_WARNING, 'from lib') redis.register_function('f', function() end)"#,
    r#"math.random()"#,
    r#"redis.register_function{[1]=5}"#,
    r#"redis.register_function{function_name=1.5, callback=function() end}"#,
    r#"redis.register_function{function_name='g', callback=function() end, description=2.5}"#,
    r#"redis.register_function(0/0, function() end)"#,
    r#"redis.register_function(1/0, function() end)"#,
    r#"redis.register_function{FUNCTION_NAME='up', CALLBACK=function() end}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={}}"#,
    r#"redis.register_function{function_name='f', callback=function() end, flags={'no-writes', nil, 'bad'}}"#,
];

/// A script's status reply (`redis.status_reply`, `{ok = ...}`) goes back as the script's
/// bytes, valid UTF-8 or not (rubra sent U+FFFD for each invalid byte).
const STATUS_BYTES: &[&str] = &[
    r#"EVAL "return redis.status_reply(ARGV[1])" 0 "\xff\xfe""#,
    r#"EVAL "return {ok=ARGV[1]}" 0 "a\xff\r\nb""#,
    r#"EVAL "return {1, {ok='\\255'}, redis.status_reply('\\195')}" 0"#,
    r##"!FUNCTION LOAD "#!lua name=st\nredis.register_function('st', function(k, a) return redis.status_reply(a[1]) end)""##,
    r#"FCALL st 0 "\xff""#,
];

/// Errors go back with the bytes the script or its commands had, UTF-8 or not (rubra
/// sent U+FFFD for each invalid byte): errors a script raises, errors of the commands it
/// calls (as redis.pcall returns them, too), and Lua's compile errors quoting the source.
const ERROR_BYTES: &[&str] = &[
    r#"EVAL "error('a\xffb')" 0"#,
    r#"EVAL "error({err='a\xffb'})" 0"#,
    r#"EVAL "local x = a\xffb" 0"#,
    r#"SCRIPT LOAD "local x = a\xffb""#,
    r##"FUNCTION LOAD "#!lua name=x\nlocal x = a\xffb""##,
    "!XADD s 1-1 f v",
    r#"EVAL "return redis.pcall('XGROUP','CREATECONSUMER','s',ARGV[1],'c')" 0 "\xff""#,
    r#"EVAL "return redis.pcall('XGROUP','CREATECONSUMER','s',ARGV[1],'c').err" 0 "\xff""#,
    r#"EVAL "return redis.call('XGROUP','CREATECONSUMER','s',ARGV[1],'c')" 0 "\xff""#,
    r##"!FUNCTION LOAD "#!lua name=bytes\nredis.register_function('boom', function(k, a) error(a[1]) end)\nredis.register_function('callfail', function(k, a) return redis.call('XGROUP','CREATECONSUMER',k[1],a[1],'c') end)""##,
    r#"FCALL boom 0 "\xff""#,
    r#"FCALL callfail 1 s "\xff""#,
];

/// Redis reads a script's status and error texts, and a verbatim string's format, as C
/// strings: up to a NUL (rubra sent the rest too). An error returned as `{err = ...}`
/// also loses CRs and LFs at its end (addReplyErrorFormat's trim).
const C_STRINGS: &[&str] = &[
    r#"EVAL "error('a\\0b')" 0"#,
    r#"EVAL "error({err='x\\0y'})" 0"#,
    r#"EVAL "return {err='x\\0y'}" 0"#,
    r#"EVAL "return {ok='x\\0y'}" 0"#,
    r#"EVAL "return redis.status_reply('x\\0y')" 0"#,
    r#"EVAL "return redis.error_reply('x\\0y')" 0"#,
    r#"EVAL "return {verbatim_string={format='t\\0t',string='a\\0b'}}" 0"#,
    r#"EVAL "return {err='\\r\\nx\\r\\n'}" 0"#,
];

/// Shebangs and library metadata read as Redis reads them: the first line up to a NUL or
/// the newline, split by sdssplitargs (quotes and escapes; \v and \f separate words only
/// where a word starts), names compared as C strings (up to a NUL), and the words quoted
/// in errors given back byte for byte. Rubra split the line at ASCII whitespace as text.
const SHEBANGS: &[&str] = &[
    r##"EVAL "#!lu\xff\nreturn 1" 0"##,
    r##"EVAL "#!lua fl\xff\nreturn 1" 0"##,
    r##"EVAL "#!lua flags=no-writes,\xff\nreturn 1" 0"##,
    r##"EVAL "#!\"lua\" flags=no-writes\nreturn redis.call('set','a','b')" 0"##,
    r##"EVAL "#!lua 'flags=no-writes'\nreturn redis.call('set','a','b')" 0"##,
    r##"EVAL "#!lua \"flags=no-writes\\x00,bad\"\nreturn 1" 0"##,
    r##"EVAL "#!lua \"flags=no-writes\\x00\"\nreturn redis.call('set','a','b')" 0"##,
    r##"EVAL "#!lua \"fl\\xffags\"\nreturn 1" 0"##,
    r##"EVAL "#!\"lua\\x00x\"\nreturn 1" 0"##,
    r##"EVAL "#!lua \x0bflags=no-writes\nreturn 1" 0"##,
    r##"EVAL "#!lua\x0cflags=no-writes\nreturn 1" 0"##,
    r##"EVAL "#!lua\x00\nreturn 1" 0"##,
    r##"EVAL "#!lua \"\nreturn 1" 0"##,
    r##"FUNCTION LOAD "#!lu\xffa name=x\nredis.register_function('f', function() return 1 end)""##,
    r##"FUNCTION LOAD "#!\xff\xfe name=ok\n""##,
    r##"FUNCTION LOAD "#!lua name=x \xff\n""##,
    r##"FUNCTION LOAD "#!lua name=x \"\xff\\x00z\"\n""##,
    r##"FUNCTION LOAD "#!\"lu\\x00a\" name=x\n""##,
    r##"FUNCTION LOAD "#!lua\x00 name=x\n""##,
    r##"FUNCTION LOAD "#!lua name=x \"\xff\n""##,
    r##"FUNCTION LOAD "#!lua\x0cname=x\n""##,
    r##"FUNCTION LOAD "#!\"lua\" name=l1\nredis.register_function('f1', function() return 1 end)""##,
    r##"FUNCTION LOAD "#!lua name=\"l2\"\nredis.register_function('f2', function() return 2 end)""##,
    r##"FUNCTION LOAD "#!lua \x0bname=l3\nredis.register_function('f3', function() return 3 end)""##,
    r##"FUNCTION LOAD "#!\"lua\"\x0cname=l4\nredis.register_function('f4', function() return 4 end)""##,
    "FCALL f1 0",
    "FCALL f2 0",
    "FCALL f3 0",
    "FCALL f4 0",
];

/// `FUNCTION LOAD "#!lua name=lib\n<lua>"`, then FUNCTION LIST WITHCODE and a flush.
fn register_session(snippets: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for s in snippets {
        let quoted = s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push(format!("FUNCTION LOAD \"#!lua name=lib\\n{quoted}\""));
        out.push("FUNCTION LIST WITHCODE".to_string());
        out.push("FUNCTION FLUSH".to_string());
    }
    out
}

#[test]
fn register_function_edge_cases() {
    let lines = register_session(REGISTER);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_same_as_redis(&refs);
}
#[test]
fn script_return_values_resp2() {
    assert_same_as_redis(RETURNS);
}

#[test]
fn script_return_values_resp3() {
    assert_same_as_redis(&with_resp3(RETURNS));
}

#[test]
fn redis_call_replies_resp2() {
    assert_same_as_redis(CALLS);
}

#[test]
fn redis_call_replies_resp3() {
    assert_same_as_redis(&with_resp3(CALLS));
}

#[test]
fn script_errors_resp2() {
    assert_same_as_redis(ERRORS);
}

#[test]
fn script_errors_resp3() {
    assert_same_as_redis(&with_resp3(ERRORS));
}

#[test]
fn redis_api_and_libraries() {
    assert_same_as_redis(API);
}

#[test]
fn script_cache_and_shebang_flags() {
    assert_same_as_redis(CACHE_AND_FLAGS);
}

#[test]
fn functions_resp2() {
    assert_same_as_redis(FUNCTIONS);
}

#[test]
fn functions_resp3() {
    assert_same_as_redis(&with_resp3(FUNCTIONS));
}

#[test]
fn status_bytes_resp2() {
    assert_same_as_redis(STATUS_BYTES);
}

#[test]
fn status_bytes_resp3() {
    assert_same_as_redis(&with_resp3(STATUS_BYTES));
}

#[test]
fn error_bytes_resp2() {
    assert_same_as_redis(ERROR_BYTES);
}

#[test]
fn error_bytes_resp3() {
    assert_same_as_redis(&with_resp3(ERROR_BYTES));
}

#[test]
fn c_strings_resp2() {
    assert_same_as_redis(C_STRINGS);
}

#[test]
fn c_strings_resp3() {
    assert_same_as_redis(&with_resp3(C_STRINGS));
}

#[test]
fn shebangs_split_as_redis_resp2() {
    assert_same_as_redis(SHEBANGS);
}

#[test]
fn shebangs_split_as_redis_resp3() {
    assert_same_as_redis(&with_resp3(SHEBANGS));
}

#[test]
fn function_dump_restore_round_trip() {
    // The payload itself is compared: same libraries give the same bytes.
    assert_same_as_redis(&[
        "FUNCTION LOAD \"#!lua name=lib1\\nredis.register_function('f1', function() return 1 end)\"",
        "FUNCTION DUMP",
        "FUNCTION RESTORE \"\\xf5\\x00\" APPEND",
        "FUNCTION FLUSH",
        "FUNCTION DUMP",
    ]);
}

/// Calls Redis refuses from scripts, and calls with thousands of arguments: XREAD and
/// XREADGROUP with BLOCK are refused as soon as BLOCK is seen (the command named as the
/// script wrote it), CLUSTER RESET is the NOSCRIPT subcommand (refused as such before its
/// cluster check), and a call or a return of `unpack` of 7999 values works (the Lua stack
/// was exhausted before the reply could be pushed).
const SCRIPT_CALL_LIMITS: &[&str] = &[
    "DEL s l",
    "XADD s 1-1 f v",
    "XGROUP CREATE s g 0",
    "EVAL \"return redis.pcall('xread','BLOCK',0,'STREAMS','s','$')\" 0",
    "EVAL \"return redis.pcall('XREAD','COUNT',1,'block','x','STREAMS','s','$')\" 0",
    "EVAL \"return redis.pcall('xreadgroup','group','g','c','BLOCK',0,'STREAMS','s','>')\" 0",
    "EVAL \"return redis.pcall('xread','STREAMS','s','0')\" 0",
    "EVAL \"return redis.pcall('xread','BLOCK')\" 0",
    "EVAL \"return redis.pcall('cluster','reset','hard')\" 0",
    "EVAL \"return redis.pcall('CLUSTER','RESET')\" 0",
    "EVAL \"return redis.pcall('cluster','info')\" 0",
    "EVAL \"local a = {} for i=1,7999 do a[i] = 1 end return redis.call('lpush', 'l', unpack(a))\" 0",
    "EVAL \"local a = {} for i=1,7998 do a[i] = 'x' end return redis.pcall('rpush', 'l', unpack(a))\" 0",
    "LLEN l",
    "EVAL \"local a = {} for i=1,7990 do a[i] = i end return #({unpack(a)})\" 0",
];

#[test]
fn script_call_limits_resp2() {
    assert_same_as_redis(SCRIPT_CALL_LIMITS);
}

/// A precompiled chunk does not load: Redis's Lua parses source text only, so
/// `loadstring(string.dump(f))` gives nil and calling it fails.
const BINARY_CHUNKS: &[&str] = &[
    "EVAL \"return loadstring(string.dump(function() return 1 end)) == nil\" 0",
    "EVAL \"return type(loadstring('return 1'))\" 0",
];

#[test]
fn binary_chunks_do_not_load() {
    assert_same_as_redis(BINARY_CHUNKS);
}

/// min-replicas-to-write with no replica: a script that may write (declared flags without
/// `no-writes`) is refused with NOREPLICAS before it runs, also by EVAL_RO (before its own
/// write-flag refusal) and inside MULTI (refused when queued, so EXEC aborts); FUNCTION
/// LOAD, a write subcommand, is refused too. A legacy EVAL fails only at its write call,
/// and a `no-writes` script runs. Rubra used the container's flags outside the maxmemory /
/// replica / pause paths: FUNCTION LOAD was accepted, EVAL_RO got the write-flag error and
/// the MULTI one was queued.
const NOREPLICAS_SCRIPTS: &[&str] = &[
    "CONFIG SET min-replicas-to-write 1",
    "EVAL \"return redis.call('set','a','1')\" 0",
    "EVAL \"return redis.call('get','a')\" 0",
    "EVAL \"#!lua\\nreturn 1\" 0",
    "EVAL \"#!lua flags=no-writes\\nreturn redis.call('get','a')\" 0",
    "EVAL_RO \"#!lua\\nreturn 1\" 0",
    "EVAL_RO \"#!lua flags=no-writes\\nreturn 2\" 0",
    "FUNCTION LOAD \"#!lua name=l\\nredis.register_function('f', function() return 1 end)\"",
    "FUNCTION LIST",
    "MULTI",
    "EVAL \"#!lua\\nreturn 1\" 0",
    "EXEC",
    "CONFIG SET min-replicas-to-write 0",
    "FUNCTION LOAD \"#!lua name=l\\nredis.register_function('f', function() return 1 end)\"",
    "CONFIG SET min-replicas-to-write 1",
    "FCALL f 0",
    "FCALL_RO f 0",
    "FUNCTION DELETE l",
];

#[test]
fn scripts_that_may_write_get_noreplicas_as_in_redis() {
    assert_same_as_redis(NOREPLICAS_SCRIPTS);
}

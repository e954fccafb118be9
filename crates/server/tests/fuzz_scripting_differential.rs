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
mod fuzz_scripting_kit;
use fuzz_scripting_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 1500;

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

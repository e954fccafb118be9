//! Introspection against redis-server 7.0 (issue 12): INFO section selection and field
//! names, commandstats/errorstats, SLOWLOG, LATENCY, MONITOR, CLIENT. Each script runs on
//! a fresh rubra-server and a fresh redis-server, in RESP2 and again in RESP3.
//!
//! Replies are compared byte for byte, except for the lines marked `mask:<kind>`, where
//! values that differ by nature are replaced on both sides before comparing:
//! - `slowlog`: each entry's timestamp, duration and client address;
//! - `info_names`: INFO reduced to its `# Section` headers and field names (values are
//!   machine-specific); our one extra field, `rubra_version`, is dropped;
//! - `cmdstats`: `usec=` and `usec_per_call=` (durations), lines sorted (Redis prints them
//!   in hash-table order);
//! - `pick:<field>,...`: only the named INFO fields, values kept;
//! - `client`: CLIENT INFO/LIST `id`, `addr`, `laddr`, `fd`, `age`, `idle`, `qbuf-free`,
//!   `rbs`, `rbp`, `obl`, `oll`, `omem`, `tot-mem` (ids, ports and allocator sizes);
//! - `latency_latest`: the sample time and latencies (kept: event names);
//! - `histogram`: the `histogram_usec` buckets (kept: commands and `calls`);
//! - `recent`: an integer reply of 1 reads as 0 (the idle seconds of a key just written
//!   cross a second boundary on either server now and then; 2 or more still differs).
//!
//! Lines starting with `noreply:` are sent to both servers without reading a reply (CLIENT
//! REPLY OFF/SKIP answer nothing); `!` runs without comparing; `sleep N` waits N ms.

mod common;
mod introspection_kit;
mod reference;

use common::TestServer;
use introspection_kit::assert_same;
use reference::{RawConn, Reference};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;
/// INFO takes any list of sections: case-insensitive, `default`/`all`/`everything`,
/// unknown names ignored, each section once, always in Redis's order, with Redis 7.0's
/// field names. (Before: several sections answered differently, no commandstats, no
/// errorstats, no Modules header, fields missing.)
#[test]
fn info_sections_and_field_names_match_redis() {
    assert_same(
        &[],
        &[
            "SET k v",
            "mask:info_names INFO",
            "mask:info_names INFO default",
            "mask:info_names INFO all",
            "mask:info_names INFO everything",
            "mask:info_names INFO CLIENTS server bogus",
            "mask:info_names INFO keyspace cpu",
            "mask:info_names INFO server clients server",
            "mask:info_names INFO default commandstats",
            "mask:info_names INFO all modules",
            "mask:info_names INFO Stats",
            "mask:info_names INFO memory persistence replication",
            "INFO bogus",
            "INFO modules",
            "INFO cluster",
            "mask:info_names INFO commandstats errorstats latencystats",
        ],
    );
}

/// INFO commandstats counts calls, rejected calls (arity, unknown subcommand arity) and
/// failed calls per command and subcommand (`config|get`); INFO errorstats counts error
/// replies by prefix, including those inside EXEC; total_error_replies; CONFIG RESETSTAT
/// starts them again. (Before: no commandstats/errorstats content at all.)
#[test]
fn commandstats_and_errorstats_match_redis() {
    assert_same(
        &[],
        &[
            "SET s 1",
            "GET s",
            "INCR s",
            "SET str abc",
            "INCR str",
            "LPUSH str x",
            "GET",
            "NOSUCHCMD a b",
            "CONFIG GET maxmemory",
            "CONFIG GET",
            "MULTI",
            "LPUSH str y",
            "INCR s",
            "EXEC",
            "MULTI",
            "SET",
            "EXEC",
            "EVAL \"return redis.call('incr', KEYS[1])\" 1 s",
            "EVAL \"return redis.call('incr', KEYS[1])\" 1 str",
            "EVAL \"return redis.pcall('incr', KEYS[1])\" 1 str",
            "EVAL \"return redis.error_reply('MINE failed')\" 0",
            "EVAL \"return redis.call('nosuch')\" 0",
            "mask:cmdstats INFO commandstats",
            "INFO errorstats",
            "mask:pick:total_error_replies,total_commands_processed,unexpected_error_replies,migrate_cached_sockets INFO stats",
            "mask:pick:lazyfree_pending_objects,lazyfreed_objects INFO memory",
            "CONFIG RESETSTAT",
            "mask:cmdstats INFO commandstats",
            "INFO errorstats",
            "mask:pick:total_error_replies,total_commands_processed INFO stats",
        ],
    );
}

/// SLOWLOG GET/LEN/RESET/HELP: entries (id, args with Redis's truncation at 32 arguments
/// and 128 bytes, client name), secrets redacted, script commands from `?:0`,
/// slowlog-max-len, and the error texts. (Before: SLOWLOG was an unknown command.)
#[test]
fn slowlog_matches_redis() {
    let long = "x".repeat(200);
    let many = (0..40)
        .map(|i| format!("m{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let set_long = format!("SET k {long}");
    let sadd_many = format!("SADD s {many}");
    assert_same(
        &[],
        &[
            "SLOWLOG LEN",
            "CONFIG SET slowlog-log-slower-than 0",
            "SLOWLOG RESET",
            "CLIENT SETNAME slowpoke",
            &set_long,
            &sadd_many,
            "AUTH secret",
            "AUTH someone secret",
            "EVAL \"return redis.call('set', 'a', 'b')\" 0",
            "mask:slowlog SLOWLOG GET",
            "mask:slowlog SLOWLOG GET 2",
            "mask:slowlog SLOWLOG GET -1",
            "SLOWLOG LEN",
            "SLOWLOG GET -2",
            "SLOWLOG GET abc",
            "SLOWLOG GET 1 2",
            "SLOWLOG LEN x",
            "SLOWLOG FOO",
            "SLOWLOG HELP",
            "CONFIG SET slowlog-max-len 3",
            "PING",
            "SLOWLOG LEN",
            "CONFIG SET slowlog-log-slower-than -1",
            "SLOWLOG RESET",
            "PING",
            "SLOWLOG LEN",
            "mask:slowlog SLOWLOG GET",
        ],
    );
}

/// LATENCY: HELP, LATEST/HISTORY/GRAPH/RESET with and without events, DOCTOR's texts
/// (monitor off, no spike, a spike), HISTOGRAM per command and subcommand in RESP2 and
/// RESP3. (Before: LATENCY was an unknown command and the threshold was refused.)
#[test]
fn latency_matches_redis() {
    assert_same(
        &[],
        &[
            "LATENCY HELP",
            "LATENCY LATEST",
            "LATENCY HISTORY command",
            "LATENCY GRAPH command",
            "LATENCY RESET",
            "LATENCY DOCTOR",
            "LATENCY FOO",
            "LATENCY HISTORY",
            "SET a 1",
            "SET b 2",
            "CONFIG GET maxmemory",
            "mask:histogram LATENCY HISTOGRAM set",
            "mask:histogram LATENCY HISTOGRAM config",
            "mask:histogram LATENCY HISTOGRAM config|get",
            "mask:histogram LATENCY HISTOGRAM nosuch set",
            "LATENCY HISTOGRAM nosuch",
            "CONFIG SET latency-monitor-threshold 1000000",
            "LATENCY DOCTOR",
            "CONFIG SET latency-monitor-threshold 1",
            "EVAL \"local i = 0 while i < 5000000 do i = i + 1 end return i\" 0",
            "mask:latency_latest LATENCY LATEST",
            "LATENCY RESET nosuch",
            "LATENCY RESET COMMAND",
            "LATENCY LATEST",
        ],
    );
}

/// CLIENT: INFO/LIST fields (qbuf and argv-mem of the running command, cmd as `client|info`,
/// user), LIST TYPE/ID, every KILL filter and its errors (KILL with no arguments is an
/// error), REPLY ON/OFF/SKIP, PAUSE/UNPAUSE and UNBLOCK argument errors, NO-EVICT, HELP.
#[test]
fn client_subcommands_match_redis() {
    assert_same(
        &[],
        &[
            "mask:client CLIENT INFO",
            "CLIENT SETNAME alpha",
            "MULTI",
            "SET k v",
            "mask:client CLIENT INFO",
            "DISCARD",
            "mask:client CLIENT LIST",
            "mask:client CLIENT LIST TYPE normal",
            "mask:client CLIENT LIST TYPE pubsub",
            "mask:client CLIENT LIST TYPE master",
            "CLIENT LIST TYPE bogus",
            "CLIENT LIST ID abc",
            "CLIENT LIST ID 99999",
            "CLIENT LIST foo",
            "CLIENT KILL",
            "CLIENT KILL 1.2.3.4:5",
            "CLIENT KILL ID",
            "CLIENT KILL ID 0",
            "CLIENT KILL ID abc",
            "CLIENT KILL ID 99999",
            "CLIENT KILL TYPE bogus",
            "CLIENT KILL TYPE master",
            "CLIENT KILL TYPE replica",
            "CLIENT KILL TYPE pubsub",
            "CLIENT KILL USER nosuch",
            "CLIENT KILL USER default",
            "CLIENT KILL ADDR 1.2.3.4:5 SKIPME no",
            "CLIENT KILL LADDR 1.2.3.4:5",
            "CLIENT KILL SKIPME maybe",
            "CLIENT KILL ID 1 BOGUS x",
            "CLIENT KILL ID 1 TYPE",
            "CLIENT REPLY bogus",
            "noreply:CLIENT REPLY SKIP",
            "noreply:PING skipped",
            "PING seen",
            "noreply:CLIENT REPLY OFF",
            "noreply:SET quiet 1",
            "noreply:CLIENT REPLY SKIP",
            "CLIENT REPLY ON",
            "GET quiet",
            "CLIENT PAUSE",
            "CLIENT PAUSE abc",
            "CLIENT PAUSE -1",
            "CLIENT PAUSE 10 BOGUS",
            "CLIENT PAUSE 0",
            "CLIENT PAUSE 0 WRITE",
            "CLIENT UNPAUSE",
            "CLIENT UNPAUSE x",
            "CLIENT UNBLOCK",
            "CLIENT UNBLOCK abc",
            "CLIENT UNBLOCK 1 bogus",
            "CLIENT UNBLOCK 99999",
            "CLIENT UNBLOCK 99999 ERROR",
            "CLIENT NO-EVICT maybe",
            "CLIENT NO-EVICT on",
            "mask:client CLIENT INFO",
            "CLIENT NO-EVICT off",
            "CLIENT GETNAME",
            "CLIENT SETNAME \"a b\"",
            "CLIENT SETINFO lib-name x",
            "CLIENT FOO",
            "CLIENT HELP",
            // user= is the user name's bytes, not necessarily UTF-8.
            "ACL SETUSER \"n\\xff\" on nopass ~* &* +@all",
            "AUTH \"n\\xff\" x",
            "mask:client CLIENT INFO",
            "mask:client CLIENT LIST",
        ],
    );
}

/// Reads MONITOR lines from `conn` until `n` arrived, then masks the time and the client
/// address (`lua` kept).
fn monitor_lines(conn: &mut BufReader<std::net::TcpStream>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut line = String::new();
        if conn.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end().to_string();
        // "+<secs>.<usecs> [<db> <who>] args"
        let masked = match (line.find(' '), line.find("] ")) {
            (Some(sp), Some(close)) if line.starts_with('+') => {
                let head = &line[sp + 1..close];
                let (db, who) = head
                    .trim_start_matches('[')
                    .split_once(' ')
                    .unwrap_or(("?", "?"));
                let who = if who == "lua" { "lua" } else { "ADDR" };
                format!("+TIME [{db} {who}] {}", &line[close + 2..])
            }
            _ => line,
        };
        out.push(masked);
    }
    out
}

/// MONITOR: the line format, Redis's quoting and escaping, redacted AUTH/HELLO secrets,
/// script commands after their EVAL from `lua`, admin commands hidden, EXEC's queued
/// commands before the EXEC, the database number. (Before: MONITOR was unknown.)
#[test]
fn monitor_feed_matches_redis() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let script = [
        "SET k \"a\\\"b\\nc\\x01\"",
        "AUTH secret",
        "AUTH user secret",
        "HELLO 2 AUTH user secret",
        "CONFIG GET maxmemory",
        "CLIENT LIST",
        "EVAL \"return redis.call('set', KEYS[1], 'v')\" 1 lk",
        "SELECT 3",
        "MULTI",
        "INCR n",
        "EXEC",
        "CLIENT SETNAME watcher",
        "GET 12345",
    ];
    let mut results = Vec::new();
    for port in [rubra.port, redis.port] {
        let mut mon = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        mon.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        mon.write_all(b"MONITOR\r\n").expect("write");
        let mut mon = BufReader::new(mon);
        let mut ok = String::new();
        mon.read_line(&mut ok).expect("MONITOR reply");
        assert_eq!(ok, "+OK\r\n");
        let mut c = RawConn::connect(port);
        for line in script {
            c.call(line);
        }
        // Not shown (admin) lines are absent, so count what Redis shows: 13 commands minus
        // CONFIG GET and CLIENT LIST, plus the script's SET.
        results.push(monitor_lines(&mut mon, 12));
    }
    assert_eq!(results[0], results[1], "rubra vs redis MONITOR lines");
}

/// OBJECT REFCOUNT/IDLETIME/FREQ/HELP and their errors: FREQ only under an LFU policy,
/// IDLETIME refused under one, shared small integers report INT_MAX references.
#[test]
fn object_subcommands_match_redis() {
    assert_same(
        &[],
        &[
            "SET k v",
            "SET n 100",
            "SET big 100000",
            "RPUSH l a",
            "OBJECT HELP",
            "OBJECT REFCOUNT n",
            "OBJECT REFCOUNT big",
            "OBJECT REFCOUNT k",
            "OBJECT REFCOUNT l",
            "mask:recent OBJECT IDLETIME k",
            "OBJECT FREQ k",
            "OBJECT FREQ nokey",
            "OBJECT IDLETIME nokey",
            "OBJECT FOO k",
            "OBJECT REFCOUNT",
            "OBJECT REFCOUNT k extra",
            "CONFIG SET maxmemory-policy allkeys-lfu",
            "SET f v",
            "OBJECT FREQ f",
            "OBJECT IDLETIME f",
            "OBJECT REFCOUNT n",
        ],
    );
}

/// LOLWUT: the 7.0 default (the version line), VERSION 5 and 6 where their drawings are
/// deterministic (random displacement starts at the third row of squares; a 1x1 skyline
/// has no room for buildings), version parsing errors.
#[test]
fn lolwut_matches_redis() {
    assert_same(
        &[],
        &[
            "LOLWUT",
            "LOLWUT VERSION",
            "LOLWUT foo",
            "LOLWUT VERSION 7",
            "LOLWUT VERSION -1",
            "LOLWUT VERSION abc",
            "LOLWUT VERSION 5 abc",
            "LOLWUT VERSION 5 10 2 2",
            "LOLWUT VERSION 5 1 1 1",
            "LOLWUT VERSION 5 40 4 2",
            "LOLWUT VERSION 4",
            "LOLWUT VERSION 6 1 1",
            "LOLWUT VERSION 6 x",
        ],
    );
}

/// FAILOVER's argument checks and precondition errors on a primary without replicas.
#[test]
fn failover_errors_match_redis() {
    assert_same(
        &[],
        &[
            "FAILOVER",
            "FAILOVER ABORT",
            "FAILOVER abort",
            "FAILOVER ABORT TIMEOUT 5",
            "FAILOVER TIMEOUT 0",
            "FAILOVER TIMEOUT -5",
            "FAILOVER TIMEOUT abc",
            "FAILOVER TIMEOUT 10 TIMEOUT 20",
            "FAILOVER TO 127.0.0.1",
            "FAILOVER TO 127.0.0.1 abc",
            "FAILOVER TO 127.0.0.1 6379",
            "FAILOVER FORCE",
            "FAILOVER FORCE FORCE",
            "FAILOVER BOGUS",
        ],
    );
}

/// MODULE (no modules: an empty list, Redis's load/unload errors) and the protected
/// commands: DEBUG and MODULE LOAD|LOADEX|UNLOAD refused unless enable-debug-command /
/// enable-module-command allow them (checked after arity, before the command runs; a
/// refusal inside MULTI aborts the transaction).
#[test]
fn module_and_protected_commands_match_redis() {
    let script = [
        "MODULE",
        "MODULE HELP",
        "MODULE LIST",
        "MODULE LIST x",
        "MODULE nope",
        "MODULE LOAD /nonexistent/module.so",
        "MODULE LOADEX /nonexistent/module.so CONFIG a b ARGS c",
        "MODULE UNLOAD nosuch",
        "MODULE UNLOAD",
        "DEBUG SLEEP 0",
        "DEBUG",
        "MULTI",
        "DEBUG SLEEP 0",
        "EXEC",
    ];
    assert_same(&[], &script);
    assert_same(
        &[
            "--enable-debug-command",
            "local",
            "--enable-module-command",
            "yes",
        ],
        &script,
    );
    assert_same(
        &[],
        &[
            "CONFIG SET enable-debug-command yes",
            "CONFIG GET enable-debug-command",
            "CONFIG GET enable-module-command",
        ],
    );
}

/// CLIENT INFO flags and redir for client-side caching (t, B) and a dirty WATCH (d).
#[test]
fn client_info_tracking_and_watch_flags_match_redis() {
    assert_same(
        &[],
        &[
            "CLIENT TRACKING on",
            "mask:client CLIENT INFO",
            "CLIENT TRACKING off",
            "CLIENT TRACKING on BCAST PREFIX a:",
            "mask:client CLIENT INFO",
            "CLIENT TRACKING off",
            "CLIENT TRACKING on OPTIN",
            "mask:client CLIENT INFO",
            "CLIENT TRACKING off",
            "mask:client CLIENT INFO",
            "WATCH w",
            "mask:client CLIENT INFO",
            "SET w 1",
            "mask:client CLIENT INFO",
            "UNWATCH",
            "mask:client CLIENT INFO",
        ],
    );
}

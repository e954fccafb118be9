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
mod reference;

use bytes::Bytes;
use common::TestServer;
use reference::{script_step, RawConn, Reference};
use rubra_resp::{parse_frame, Frame};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// Re-encodes a frame (after masking) so both sides compare as RESP bytes.
fn encode(f: &Frame, out: &mut Vec<u8>) {
    match f {
        Frame::Simple(s) => {
            out.push(b'+');
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Error(s) => {
            out.push(b'-');
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Frame::Bulk(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Verbatim(b) => {
            out.extend_from_slice(format!("={}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            let mark = match f {
                Frame::Array(_) => '*',
                Frame::Set(_) => '~',
                _ => '>',
            };
            out.extend_from_slice(format!("{mark}{}\r\n", v.len()).as_bytes());
            for x in v {
                encode(x, out);
            }
        }
        Frame::Map(pairs) => {
            out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
            for (k, v) in pairs {
                encode(k, out);
                encode(v, out);
            }
        }
        Frame::Double(d) => out.extend_from_slice(format!(",{d}\r\n").as_bytes()),
        Frame::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(b) => {
            out.push(b'(');
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The text of a bulk or verbatim reply (the `txt:` of a verbatim string stripped).
fn text_of(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Frame::Verbatim(b) => Some(String::from_utf8_lossy(b.get(4..).unwrap_or(b)).into_owned()),
        _ => None,
    }
}

/// Replaces the text of a bulk/verbatim reply, keeping its kind.
fn with_text(f: &Frame, text: String) -> Frame {
    match f {
        Frame::Verbatim(_) => Frame::Verbatim(Bytes::from(format!("txt:{text}"))),
        _ => Frame::Bulk(Bytes::from(text)),
    }
}

/// Applies one named mask to a reply (see the module comment).
fn mask(kind: &str, f: Frame) -> Frame {
    match kind {
        "slowlog" => match f {
            Frame::Array(entries) => Frame::Array(
                entries
                    .into_iter()
                    .map(|e| match e {
                        Frame::Array(mut v) if v.len() == 6 => {
                            v[1] = Frame::Int(0);
                            v[2] = Frame::Int(0);
                            if !matches!(&v[4], Frame::Bulk(b) if &b[..] == b"?:0") {
                                v[4] = Frame::Bulk(Bytes::from_static(b"ADDR"));
                            }
                            Frame::Array(v)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        },
        "info_names" => {
            let Some(text) = text_of(&f) else { return f };
            let mut names: Vec<String> = text
                .split("\r\n")
                .filter(|l| !l.starts_with("rubra_version:"))
                .map(|l| {
                    if l.starts_with('#') {
                        l.to_string()
                    } else {
                        l.split(':').next().unwrap_or("").to_string()
                    }
                })
                .collect();
            // Per-command lines come in Redis's hash-table order: compare them sorted.
            let per_command =
                |l: &String| l.starts_with("cmdstat_") || l.starts_with("latency_percentiles_");
            let mut i = 0;
            while i < names.len() {
                let mut j = i;
                while j < names.len() && per_command(&names[j]) {
                    j += 1;
                }
                names[i..j].sort();
                i = j.max(i + 1);
            }
            with_text(&f, names.join("\n"))
        }
        "cmdstats" => {
            let Some(text) = text_of(&f) else { return f };
            let mut lines: Vec<String> = text
                .split("\r\n")
                .map(|l| {
                    l.split(',')
                        .map(|kv| {
                            let key = kv.split('=').next().unwrap_or("");
                            if key.ends_with("usec") || key == "usec_per_call" {
                                format!("{key}=*")
                            } else {
                                kv.to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            lines.sort();
            with_text(&f, lines.join("\n"))
        }
        "client" => {
            // Bytes, not text: a user name that is not UTF-8 must not read as U+FFFD.
            let (verbatim, body) = match &f {
                Frame::Bulk(b) => (false, b.clone()),
                Frame::Verbatim(b) => (true, b.slice(4.min(b.len())..)),
                _ => return f,
            };
            let keys: [&[u8]; 13] = [
                b"id",
                b"addr",
                b"laddr",
                b"fd",
                b"age",
                b"idle",
                b"qbuf-free",
                b"rbs",
                b"rbp",
                b"obl",
                b"oll",
                b"omem",
                b"tot-mem",
            ];
            let lines: Vec<Vec<u8>> = body
                .split(|&b| b == b'\n')
                .map(|l| {
                    let fields: Vec<Vec<u8>> = l
                        .split(|&b| b == b' ')
                        .map(|kv| match kv.iter().position(|&b| b == b'=') {
                            Some(i) if keys.contains(&&kv[..i]) => [&kv[..=i], b"*"].concat(),
                            _ => kv.to_vec(),
                        })
                        .collect();
                    fields.join(&b' ')
                })
                .collect();
            let masked = lines.join(&b'\n');
            if verbatim {
                Frame::Verbatim(Bytes::from([&b"txt:"[..], &masked].concat()))
            } else {
                Frame::Bulk(Bytes::from(masked))
            }
        }
        "recent" => match f {
            Frame::Int(1) => Frame::Int(0),
            other => other,
        },
        "latency_latest" => match f {
            Frame::Array(rows) => Frame::Array(
                rows.into_iter()
                    .map(|r| match r {
                        Frame::Array(mut v) if v.len() == 4 => {
                            for x in &mut v[1..] {
                                *x = Frame::Int(0);
                            }
                            Frame::Array(v)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        },
        "histogram" => {
            let strip = |v: Frame| match v {
                Frame::Map(kv) => Frame::Map(
                    kv.into_iter()
                        .map(|(k, v)| {
                            let bucket =
                                matches!(&k, Frame::Bulk(b) if &b[..] == b"histogram_usec");
                            (k, if bucket { Frame::Null } else { v })
                        })
                        .collect(),
                ),
                Frame::Array(kv) => Frame::Array(
                    kv.chunks(2)
                        .flat_map(|p| {
                            let bucket =
                                matches!(&p[0], Frame::Bulk(b) if &b[..] == b"histogram_usec");
                            let v = if bucket { Frame::Null } else { p[1].clone() };
                            [p[0].clone(), v]
                        })
                        .collect(),
                ),
                other => other,
            };
            match f {
                Frame::Map(kv) => Frame::Map(kv.into_iter().map(|(k, v)| (k, strip(v))).collect()),
                Frame::Array(v) => Frame::Array(
                    v.chunks(2)
                        .flat_map(|p| [p[0].clone(), strip(p[1].clone())])
                        .collect(),
                ),
                other => other,
            }
        }
        pick if pick.starts_with("pick:") => {
            let Some(text) = text_of(&f) else { return f };
            let wanted: Vec<&str> = pick["pick:".len()..].split(',').collect();
            let kept: Vec<&str> = text
                .split("\r\n")
                .filter(|l| wanted.contains(&l.split(':').next().unwrap_or("")))
                .collect();
            with_text(&f, kept.join("\n"))
        }
        other => panic!("unknown mask {other}"),
    }
}

/// Parses one complete reply.
fn frame_of(raw: &[u8]) -> Frame {
    parse_frame(raw, usize::MAX)
        .expect("bad frame")
        .expect("incomplete frame")
        .0
}

/// Runs `script` on both servers over one connection each; returns the differences.
fn run_script(rubra_port: u16, redis_port: u16, script: &[&str]) -> Vec<String> {
    let mut a = RawConn::connect(rubra_port);
    let mut b = RawConn::connect(redis_port);
    let mut diffs = Vec::new();
    for line in script {
        let Some(line) = script_step(line) else {
            continue;
        };
        if let Some(cmd) = line.strip_prefix("noreply:") {
            a.send(cmd);
            b.send(cmd);
            continue;
        }
        let (compare, rest) = match line.strip_prefix('!') {
            Some(r) => (false, r),
            None => (true, line),
        };
        let (masker, cmd) = match rest.strip_prefix("mask:") {
            Some(r) => {
                let (m, c) = r.split_once(' ').expect("mask:<kind> <command>");
                (Some(m), c)
            }
            None => (None, rest),
        };
        let mut ra = a.call(cmd);
        let mut rb = b.call(cmd);
        if let Some(m) = masker {
            for r in [&mut ra, &mut rb] {
                let mut out = Vec::new();
                encode(&mask(m, frame_of(r)), &mut out);
                *r = out;
            }
        }
        if compare && ra != rb {
            // Escaped, not decoded: a byte that is not UTF-8 and U+FFFD must look different.
            diffs.push(format!(
                "{cmd}\n    rubra: \"{}\"\n    redis: \"{}\"",
                ra.escape_ascii(),
                rb.escape_ascii()
            ));
        }
    }
    diffs
}

/// Runs `script` in RESP2 and in RESP3, each time on fresh servers started with `args`.
fn assert_same(args: &[&str], script: &[&str]) {
    let mut diffs = Vec::new();
    for resp3 in [false, true] {
        let rubra = TestServer::start(args);
        let redis = Reference::start_with(args);
        let mut lines: Vec<&str> = Vec::new();
        if resp3 {
            lines.push("!HELLO 3");
        }
        lines.extend_from_slice(script);
        for d in run_script(rubra.port, redis.port, &lines) {
            diffs.push(format!("[{}] {d}", if resp3 { "RESP3" } else { "RESP2" }));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

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

/// LFU counters under lfu-log-factor 0 (every access counts, so the numbers are exact):
/// reads and writes to existing keys move OBJECT FREQ by one per command (however many
/// lookups the command makes), a new key starts at 5, and the factor set at run time
/// takes effect.
#[test]
fn lfu_counter_follows_lfu_log_factor() {
    let mut script = vec![
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "SET k v",
        "OBJECT FREQ k",
    ];
    script.extend(std::iter::repeat_n("GET k", 10));
    script.extend([
        "OBJECT FREQ k",
        "APPEND k x",
        "OBJECT FREQ k",
        "RPUSH l a b",
        "LRANGE l 0 -1",
        "LPUSH l c",
        "OBJECT FREQ l",
        "MULTI",
        "GET k",
        "GET k",
        "EXEC",
        "OBJECT FREQ k",
        "CONFIG SET lfu-log-factor 255",
        "CONFIG GET lfu-log-factor",
        "OBJECT FREQ nokey",
    ]);
    assert_same(&[], &script);
}

/// Overwriting a key under an LFU policy keeps its counter, bumped by the overwrite's own
/// lookup (Redis's setKey looks the key up for writing, and dbOverwrite copies the old
/// object's LFU data): SET and its options, GETSET, MSET / MSETNX, SETEX / PSETEX, the
/// *STORE destinations (a destination that is also a source is looked up twice), BITOP;
/// RENAME / MOVE move a value with its counter after their source's lookup, COPY reads
/// its source, and SET NX / SETNX / MSETNX / RENAMENX / MOVE / COPY that find the key in
/// the way look it up too. lfu-log-factor 0 makes every access count and lfu-decay-time 0
/// stops the decay; maxmemory is set so that small integers are not Redis's shared
/// objects (whose one counter every key holding them shares). Before: every overwrite
/// restarted the counter at 5, and the lookups of RENAME, MOVE, COPY and the refused
/// writes were no accesses; PFADD / PFMERGE creating their key counted one access.
#[test]
fn overwrites_keep_the_lfu_counter() {
    let freq = |k: &str| format!("OBJECT FREQ {k}");
    let mut script: Vec<String> = [
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "CONFIG SET lfu-decay-time 0",
        "CONFIG SET maxmemory 1gb",
        "SET k v",
    ]
    .map(String::from)
    .to_vec();
    for cmd in [
        "SET k w",
        "SET k x GET",
        "SET k y NX",
        "SET k y NX GET",
        "SET k y XX",
        "SETNX k z",
        "GETSET k z",
        "MSET k 1 j 2",
        "MSET k 1 k 2",
        "MSETNX j 1 k 2",
        "SETEX k 100 v",
        "PSETEX k 100000 v",
        "SET k v KEEPTTL",
        "SET k v PX 100000 GET",
        "SETRANGE k 0 abc",
        "APPEND k zz",
        "GET k",
    ] {
        script.push(cmd.into());
        script.push(freq("k"));
    }
    for cmd in [
        "SET n 50000",
        "INCR n",
        "INCRBY n 100000",
        "INCRBYFLOAT n 1.5",
    ] {
        script.push(cmd.into());
        script.push(freq("n"));
    }
    for (cmd, key) in [
        ("SADD s1 a b", "s1"),
        ("SADD s2 b c", "s2"),
        ("SINTERSTORE s1 s1 s2", "s1"),
        ("SUNIONSTORE s1 s2", "s1"),
        ("SUNIONSTORE s1 s1 s2", "s2"),
        ("ZADD z1 1 a 2 b", "z1"),
        ("ZUNIONSTORE z1 1 z1", "z1"),
        ("ZRANGESTORE z1 z1 0 -1", "z1"),
        ("ZINTERSTORE z1 2 z1 s2", "z1"),
        ("RPUSH l1 3 1 2", "l1"),
        ("SORT l1 STORE l1", "l1"),
        ("SET b1 abc", "b1"),
        ("BITOP NOT b1 b1", "b1"),
        ("GEOADD g1 13.361389 38.115556 Palermo", "g1"),
        (
            "GEOSEARCHSTORE g1 g1 FROMLONLAT 13 38 BYRADIUS 200 km",
            "g1",
        ),
        ("PFADD h1 a", "h1"),
        ("PFADD h1 b", "h1"),
        ("PFMERGE h1 h1", "h1"),
        ("PFMERGE h3 h1", "h3"),
        ("SET r1 a", "r2"),
        ("SET r2 b", "r2"),
        ("RENAMENX r1 r2", "r2"),
        ("RENAME r1 r2", "r2"),
        ("RENAME r2 r2", "r2"),
        ("SET m x", "m"),
        ("MOVE m 1", "m"),
        ("SET m y", "m"),
        ("MOVE m 1", "m"),
        ("COPY m m2", "m"),
        ("COPY m m2", "m2"),
        ("COPY m m2 REPLACE", "m2"),
        ("COPY m m2 DB 1", "m"),
    ] {
        script.push(cmd.into());
        script.push(freq(key));
    }
    script.extend(["SELECT 1", "OBJECT FREQ m", "OBJECT FREQ m2"].map(String::from));
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_same(&[], &lines);
}

/// Redis counts every lookup as an access (LFU counter), a key named twice twice
/// (MGET k k, LMOVE l l, ZINTER 2 z z, LCS k k, BITOP's sources, TOUCH, PFCOUNT, XREAD),
/// and some commands look their key up twice (XREAD / XREADGROUP parse then serve,
/// BZPOPMAX, BLMOVE before LMOVE's own lookups), PERSIST once; our commands' internal
/// repeats (a type check, then the write) count once, also when they alternate between
/// keys (LMOVE l m, SMOVE s t). Before: one access per entry and command at most, but
/// two for alternating keys; none for PERSIST.
#[test]
fn lookups_count_as_accesses_as_in_redis() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("RPUSH l a b c", "LMOVE l l LEFT RIGHT", &["l"]),
        ("RPUSH l a b c", "RPOPLPUSH l l", &["l"]),
        (
            "RPUSH l a b c;RPUSH m x",
            "LMOVE l m LEFT RIGHT",
            &["l", "m"],
        ),
        ("RPUSH l a b c", "BLMOVE l l LEFT LEFT 1", &["l"]),
        ("RPUSH l a b c;RPUSH m x", "BRPOPLPUSH l m 1", &["l", "m"]),
        ("SADD s a b;SADD t c", "SMOVE s t a", &["s", "t"]),
        ("SADD s a b", "SMOVE s s a", &["s"]),
        ("ZADD z 1 a 2 b", "ZINTER 2 z z", &["z"]),
        (
            "ZADD z 1 a 2 b;ZADD y 1 a",
            "ZUNIONSTORE z2 2 z y",
            &["z", "y"],
        ),
        ("ZADD z 1 a 2 b", "ZINTERCARD 2 z z", &["z"]),
        ("ZADD z 1 a 2 b", "ZDIFF 2 z z", &["z"]),
        ("ZADD z 1 a 2 b", "BZPOPMAX z 1", &["z"]),
        ("SET k 12345", "LCS k k", &["k"]),
        ("SET k 12345", "MGET k k", &["k"]),
        ("SET k 12345;SET j 23456", "BITOP AND k k j", &["k", "j"]),
        ("SET k 12345", "TOUCH k k", &["k"]),
        ("SET k 12345", "PERSIST k", &["k"]),
        ("PFADD hl a;PFADD hm b", "PFCOUNT hl hl hm", &["hl", "hm"]),
        ("XADD x 1-0 f v", "XREAD STREAMS x x 0 0", &["x"]),
        (
            "XADD x 1-0 f v;XADD w 1-0 f v",
            "XREAD STREAMS x w 0 0",
            &["x", "w"],
        ),
        (
            "XADD x 1-0 f v;XGROUP CREATE x g 0",
            "XREADGROUP GROUP g c STREAMS x 0",
            &["x"],
        ),
    ];
    let mut script: Vec<String> = [
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "CONFIG SET lfu-decay-time 0",
        "CONFIG SET maxmemory 1gb",
    ]
    .map(String::from)
    .to_vec();
    for (setup, cmd, keys) in cases {
        script.push("FLUSHALL".into());
        script.extend(setup.split(';').map(String::from));
        script.push((*cmd).into());
        script.extend(keys.iter().map(|k| format!("OBJECT FREQ {k}")));
    }
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_same(&[], &lines);
}

/// SCAN looks up each key its pattern matched, as Redis's scanGenericCommand: with TYPE a
/// read lookup (a keyspace hit or miss each; an expired key is deleted and then has type
/// "none", so `TYPE none` lists it), then the expiry check, which deletes a key found
/// expired and counts it in expired_keys (its DEL is propagated: see
/// fuzz_propagation_differential's regression sequences). RANDOMKEY deletes the expired
/// keys it picks until a live one turns up or none is left. Before: SCAN skipped expired
/// keys without deleting them, TYPE counted no lookup; RANDOMKEY gave up after 100 picks.
#[test]
fn scan_and_randomkey_expire_what_they_meet() {
    let stats = "mask:pick:expired_keys,keyspace_hits,keyspace_misses INFO stats";
    let script = [
        "DEBUG SET-ACTIVE-EXPIRE 0",
        "SET a 1 PX 1",
        "SET b 1 PX 1",
        "SET c 1 PX 1",
        "SET d 1",
        "HSET h f v",
        "PEXPIRE h 1",
        "RPUSH l x",
        "sleep 20",
        "CONFIG RESETSTAT",
        "DBSIZE",
        "SCAN 0 MATCH a",
        "DBSIZE",
        stats,
        "SCAN 0 MATCH [bcdl] TYPE string",
        "DBSIZE",
        stats,
        "SCAN 0 TYPE none",
        "SCAN 0 COUNT 100 MATCH d",
        "DBSIZE",
        stats,
        "SET e 1 PX 1",
        "SET f 1 PX 1",
        "PEXPIRE d 1",
        "DEL l",
        "sleep 20",
        "RANDOMKEY",
        "DBSIZE",
        stats,
        "DEBUG SET-ACTIVE-EXPIRE 1",
    ];
    assert_same(&["--enable-debug-command", "yes"], &script);
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

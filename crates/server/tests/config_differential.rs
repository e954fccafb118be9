//! CONFIG against redis-server 7.0: the same parameter names and default values in
//! `CONFIG GET *`, the same validation, normalised forms and error texts for CONFIG SET
//! (byte-identical, RESP2 and RESP3), and CONFIG REWRITE producing the same file.
//!
//! Masked, and why: `port` and `dir` (each server has its own), the order of CONFIG GET
//! replies with several parameters (Redis walks a hash table seeded at random per process:
//! those are compared as maps), and the order of lines CONFIG REWRITE appends (same
//! reason: compared as a set after the kept part, which is compared line by line).

mod common;
mod reference;
use common::*;
use reference::{differences, RawConn, Reference};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn config_map(port: u16, patterns: &[&str]) -> BTreeMap<String, String> {
    let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect");
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET");
    for p in patterns {
        cmd.arg(*p);
    }
    cmd.query(&mut conn).expect("CONFIG GET")
}

#[test]
fn config_get_star_lists_the_same_parameters_and_defaults() {
    let rubra = TestServer::start(&["--bind", "127.0.0.1", "--appendonly", "no"]);
    let redis = Reference::start();
    let mut a = config_map(rubra.port, &["*"]);
    let mut b = config_map(redis.port, &["*"]);
    eprintln!(
        "CONFIG GET * parameters: rubra {}, redis {}",
        a.len(),
        b.len()
    );
    for masked in ["port", "dir"] {
        assert!(a.remove(masked).is_some() && b.remove(masked).is_some());
    }
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "rubra only: {only_a:?}; redis only: {only_b:?}"
    );
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: rubra {v:?} redis {:?}", b[k]))
        .collect();
    assert!(differ.is_empty(), "defaults differ:\n{}", differ.join("\n"));
    // Several patterns, overlapping: each parameter once.
    for pats in [
        &["maxmemory*", "maxmemory", "*policy"][..],
        &["hash-max-*", "HZ", "rdb-key-save-delay"][..],
        &["nosuchthing", "slave*"][..],
    ] {
        assert_eq!(
            config_map(rubra.port, pats),
            config_map(redis.port, pats),
            "{pats:?}"
        );
    }
}

/// CONFIG SET cases: each line's reply (errors included) and the normalised value after.
const SET_SCRIPT: &[&str] = &[
    "CONFIG",
    "CONFIG GET",
    "CONFIG SET maxmemory",
    "CONFIG SET maxmemory 1 maxmemory-policy",
    "CONFIG NOSUCH",
    "CONFIG HELP",
    "CONFIG REWRITE",
    "CONFIG RESETSTAT",
    "CONFIG GET MAXMEMORY",
    "CONFIG GET nosuch",
    // memory units and percentages
    "CONFIG SET maxmemory 1gb",
    "CONFIG GET maxmemory",
    "CONFIG SET maxmemory 100K",
    "CONFIG GET maxmemory",
    "CONFIG SET maxmemory 3mB",
    "CONFIG GET maxmemory",
    "CONFIG SET maxmemory -1",
    "CONFIG SET maxmemory 1tb",
    "CONFIG SET maxmemory abc",
    "CONFIG SET maxmemory 0",
    "CONFIG SET maxmemory-clients 10%",
    "CONFIG GET maxmemory-clients",
    "CONFIG SET maxmemory-clients 101%",
    "CONFIG SET maxmemory-clients -5%",
    "CONFIG SET maxmemory-clients 2mb",
    "CONFIG GET maxmemory-clients",
    "CONFIG SET maxmemory-clients 0",
    "CONFIG SET proto-max-bulk-len 1000",
    "CONFIG SET client-query-buffer-limit 2gb",
    "CONFIG GET client-query-buffer-limit",
    // integers and ranges
    "CONFIG SET maxmemory-samples 0",
    "CONFIG SET tcp-keepalive -1",
    "CONFIG SET slowlog-max-len -1",
    "CONFIG SET maxclients 0",
    "CONFIG SET maxclients -1",
    "CONFIG SET hash-max-listpack-entries -1",
    "CONFIG SET active-expire-effort 11",
    "CONFIG SET timeout 1.5",
    "CONFIG SET timeout 007",
    "CONFIG SET timeout +5",
    "CONFIG SET timeout 300",
    "CONFIG GET timeout",
    "CONFIG SET timeout 0",
    "CONFIG SET hz 0",
    "CONFIG GET hz",
    "CONFIG SET hz 100000",
    "CONFIG GET hz",
    "CONFIG SET hz 10",
    "CONFIG SET list-max-listpack-size -3",
    "CONFIG GET list-max-ziplist-size",
    "CONFIG SET list-max-listpack-size -2",
    // yes/no and enums
    "CONFIG SET activerehashing YES",
    "CONFIG GET activerehashing",
    "CONFIG SET activerehashing maybe",
    "CONFIG SET appendfsync ALWAYS",
    "CONFIG GET appendfsync",
    "CONFIG SET appendfsync sometimes",
    "CONFIG SET appendfsync everysec",
    "CONFIG SET maxmemory-policy bogus",
    "CONFIG SET oom-score-adj yes",
    "CONFIG GET oom-score-adj",
    "CONFIG SET oom-score-adj no",
    "CONFIG SET loglevel WARNING",
    "CONFIG GET loglevel",
    "CONFIG SET loglevel notice",
    "CONFIG SET shutdown-on-sigint \"save now\"",
    "CONFIG GET shutdown-on-sigint",
    "CONFIG SET shutdown-on-sigint \"save nosave\"",
    "CONFIG SET shutdown-on-sigint \"nosave force now\"",
    "CONFIG GET shutdown-on-sigint",
    "CONFIG SET shutdown-on-sigint bogus",
    "CONFIG SET shutdown-on-sigint default",
    "CONFIG SET repl-diskless-load swapdb",
    "CONFIG GET repl-diskless-load",
    "CONFIG SET repl-diskless-load disabled",
    // special parameters
    "CONFIG SET notify-keyspace-events KEA",
    "CONFIG GET notify-keyspace-events",
    "CONFIG SET notify-keyspace-events Kx$lm",
    "CONFIG GET notify-keyspace-events",
    "CONFIG SET notify-keyspace-events Q",
    "CONFIG SET notify-keyspace-events \"\"",
    "CONFIG GET notify-keyspace-events",
    "CONFIG SET save \"100 10 50\"",
    "CONFIG SET save \"100 -1\"",
    "CONFIG SET save \"0 1\"",
    "CONFIG SET save \"900 1 300 10\"",
    "CONFIG GET save",
    "CONFIG SET save \"\"",
    "CONFIG GET save",
    "CONFIG SET client-output-buffer-limit \"pubsub 1mb 0 0\"",
    "CONFIG GET client-output-buffer-limit",
    "CONFIG SET client-output-buffer-limit \"master 1 1 1\"",
    "CONFIG SET client-output-buffer-limit \"normal 1 1\"",
    "CONFIG SET client-output-buffer-limit \"normal a 1 1\"",
    "CONFIG SET client-output-buffer-limit \"normal 1 1 -1\"",
    "CONFIG SET client-output-buffer-limit \"replica 1gb 512mb 10 NORMAL 100mb 2000k 3\"",
    "CONFIG GET client-output-buffer-limit",
    "CONFIG SET client-output-buffer-limit \"normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60\"",
    "CONFIG SET oom-score-adj-values \"1 2\"",
    "CONFIG SET oom-score-adj-values \"0 100 3000\"",
    "CONFIG SET oom-score-adj-values \"10 20 30\"",
    "CONFIG GET oom-score-adj-values",
    "CONFIG SET latency-tracking-info-percentiles \"50 99.99 100\"",
    "CONFIG GET latency-tracking-info-percentiles",
    "CONFIG SET latency-tracking-info-percentiles 101",
    "CONFIG SET latency-tracking-info-percentiles abc",
    "CONFIG SET latency-tracking-info-percentiles \"\"",
    "CONFIG GET latency-tracking-info-percentiles",
    // strings
    "CONFIG SET cluster-announce-hostname bad_host!",
    "CONFIG SET cluster-announce-hostname node-1.example",
    "CONFIG GET cluster-announce-hostname",
    "CONFIG SET cluster-announce-hostname \"\"",
    "CONFIG SET proc-title-template {bogus}",
    "CONFIG SET masteruser \"\"",
    "CONFIG GET masteruser",
    // immutable, protected, unknown, aliases, duplicates, all-or-nothing
    "CONFIG SET daemonize yes",
    "CONFIG SET databases 4",
    "CONFIG SET dir /tmp",
    "CONFIG SET dbfilename x.rdb",
    "CONFIG SET slaveof 127.0.0.1 1",
    "CONFIG SET nosuch 1",
    "CONFIG SET maxmemory 1 nosuch 2 daemonize yes",
    "CONFIG SET daemonize yes nosuch 2",
    "CONFIG SET maxmemory 1 maxmemory 2",
    "CONFIG SET hash-max-ziplist-entries 100",
    "CONFIG GET hash-max-listpack-entries",
    "CONFIG SET hash-max-ziplist-entries x",
    "CONFIG SET lua-time-limit 100",
    "CONFIG GET busy-reply-threshold",
    "CONFIG SET busy-reply-threshold 5000",
    "CONFIG SET maxmemory 10mb maxmemory-policy bogus",
    "CONFIG GET maxmemory",
    "CONFIG SET maxmemory 10mb maxmemory-policy allkeys-lru",
    "CONFIG GET maxmemory",
    "CONFIG GET maxmemory-policy",
    "CONFIG SET maxmemory 0 maxmemory-policy noeviction",
];

/// Runs `lines` in RESP2, then again after HELLO 3, on both servers: every reply must match.
fn assert_same_in_resp2_and_resp3(lines: &[&str]) {
    let mut script: Vec<&str> = lines.to_vec();
    script.push("!HELLO 3");
    script.extend_from_slice(lines);
    let diffs = differences(&script);
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn config_set_validation_and_errors_match_redis() {
    assert_same_in_resp2_and_resp3(SET_SCRIPT);
}

/// Starts a server on a config file (which must come first on the command line).
fn start_on_file(binary: &str, file: &std::path::Path, port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new(binary)
        .arg(file)
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{binary} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

const CONFIG_FILE: &str = "# A config file with comments\n\
bind 127.0.0.1\n\
\n\
\n\
# memory\n\
maxmemory 100mb\n\
maxmemory-policy allkeys-lru\n\
save 900 1\n\
save 300 10\n\
hash-max-ziplist-entries 64\n\
timeout 0\n\
appendonly no\n\
notify-keyspace-events \"\"\n\
   # indented comment\n\
";

fn rewritten(binary: &str, port: u16, name: &str) -> (Vec<String>, String) {
    let dir = std::env::temp_dir().join(format!("rubra-rewrite-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("node.conf");
    std::fs::write(&file, CONFIG_FILE).expect("write config");
    let mut child = start_on_file(binary, &file, port, &dir);
    let out = cli_at(
        port,
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "1gb",
            "maxmemory-policy",
            "noeviction",
            "save",
            "3600 1",
            "hz",
            "20",
            "notify-keyspace-events",
            "Ex",
            "client-output-buffer-limit",
            "pubsub 64mb 16mb 90",
            "requirepass",
            "a b\"c",
        ],
    );
    let rewrite = cli_at(
        port,
        &["-a", "a b\"c", "--no-auth-warning", "CONFIG", "REWRITE"],
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&file).expect("read rewritten");
    let _ = std::fs::remove_dir_all(&dir);
    let lines = text
        .lines()
        .filter(|l| !l.starts_with("port ") && !l.starts_with("dir "))
        .map(str::to_string)
        .collect();
    (lines, format!("{out} / {rewrite}"))
}

#[test]
fn config_rewrite_matches_redis() {
    let (a, ra) = rewritten(env!("CARGO_BIN_EXE_rubra-server"), free_port(), "rubra");
    let (b, rb) = rewritten("redis-server", free_port(), "redis");
    assert_eq!(ra, rb);
    assert_eq!(ra, "OK / OK");
    let split = |v: &[String]| {
        let at = v
            .iter()
            .position(|l| l == "# Generated by CONFIG REWRITE")
            .unwrap_or(v.len());
        let mut tail = v[at..].to_vec();
        tail.sort();
        (v[..at].to_vec(), tail)
    };
    let (a_kept, a_new) = split(&a);
    let (b_kept, b_new) = split(&b);
    assert_eq!(a_kept, b_kept, "kept part\nrubra: {a:#?}\nredis: {b:#?}");
    assert_eq!(a_new, b_new, "appended part\nrubra: {a:#?}\nredis: {b:#?}");
}

#[test]
fn config_set_takes_effect() {
    let rubra = TestServer::start(&[]);
    let mut c = rubra.conn();
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut c)
        .expect("info");
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used + 20_000_000)
        .query(&mut c)
        .expect("set maxmemory");
    let big = "x".repeat(1_000_000);
    let mut refused = false;
    for i in 0..60 {
        let r: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&big)
            .query(&mut c);
        if let Err(e) = r {
            assert!(e.to_string().contains("OOM"), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "maxmemory with noeviction must refuse writes");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-random")
        .query(&mut c)
        .expect("set policy");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg(&big)
        .query(&mut c)
        .expect("evicts instead");
}

#[test]
fn config_set_appendonly_starts_and_stops_the_aof() {
    let rubra = TestServer::start(&[]);
    let mut c = rubra.conn();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut c)
        .expect("set");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("yes")
        .query(&mut c)
        .expect("appendonly yes");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("2")
        .query(&mut c)
        .expect("set");
    // Redis 7.0's layout: the rewrite's base holds "before", the incr file "after".
    let aof_dir = rubra.dir.join("appendonlydir");
    let all_files = || -> Vec<u8> {
        let mut names: Vec<_> = std::fs::read_dir(&aof_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        names
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap_or_default())
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = all_files();
        let has = |k: &[u8]| text.windows(k.len()).any(|w| w == k);
        if has(b"before") && has(b"after") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "AOF lacks the data: {:?}",
            String::from_utf8_lossy(&text)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendonly")
        .arg("no")
        .query(&mut c)
        .expect("appendonly no");
    let len = all_files().len();
    let _: () = redis::cmd("SET")
        .arg("later")
        .arg("3")
        .query(&mut c)
        .expect("set");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(all_files().len(), len, "no writes after appendonly no");
}

/// Free-form string parameters hold any bytes, as in Redis: CONFIG GET gives back the
/// bytes set, and a requirepass that is not UTF-8 is the password AUTH takes (before, the
/// value was stored with U+FFFD in place of such bytes, and AUTH with it failed).
const NON_UTF8_SCRIPT: &[&str] = &[
    "CONFIG SET masterauth \"a\\xffb\" masteruser \"u\\xfe\"",
    "CONFIG GET masterauth",
    "CONFIG GET masteruser",
    "CONFIG SET replica-announce-ip \"i\\xff\" cluster-announce-ip \"c\\xc3\"",
    "CONFIG GET replica-announce-ip",
    "CONFIG GET cluster-announce-ip",
    "CONFIG SET bind-source-addr \"b\\xff\" ignore-warnings \"w\\xff\"",
    "CONFIG GET bind-source-addr",
    "CONFIG GET ignore-warnings",
    "CONFIG SET requirepass \"p\\xff\"",
    "CONFIG GET requirepass",
    "AUTH \"p\\xef\\xbf\\xbd\"",
    "AUTH \"p\\xff\"",
    "CONFIG SET requirepass \"\"",
    "CONFIG SET cluster-announce-hostname \"h\\xff\"",
    "CONFIG SET masterauth plain",
    "CONFIG GET masterauth",
    "CONFIG SET masteruser \"\" replica-announce-ip \"\" cluster-announce-ip \"\"",
    "CONFIG SET bind-source-addr \"\" ignore-warnings \"\" masterauth \"\"",
];

#[test]
fn config_string_values_keep_non_utf8_bytes() {
    assert_same_in_resp2_and_resp3(NON_UTF8_SCRIPT);
}

/// CONFIG REWRITE writes a string parameter's bytes quoted as Redis's sdscatrepr does
/// (`"a\xffb"`), and a server started on that file reads the same bytes back.
fn rewrite_and_reload(binary: &str, name: &str) -> Vec<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("rubra-rawcfg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("node.conf");
    std::fs::write(&file, "appendonly no\n").expect("write config");
    let port = free_port();
    let mut child = start_on_file(binary, &file, port, &dir);
    let mut c = RawConn::connect(port);
    let mut out = vec![
        c.call("CONFIG SET masterauth \"a\\xffb\" masteruser \"u\\xfe\\\"\""),
        c.call("CONFIG REWRITE"),
    ];
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read(&file).expect("read rewritten");
    let mut lines: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"master"))
        .map(<[u8]>::to_vec)
        .collect();
    lines.sort();
    out.extend(lines);
    let port = free_port();
    let mut child = start_on_file(binary, &file, port, &dir);
    let mut c = RawConn::connect(port);
    out.push(c.call("CONFIG GET masterauth"));
    out.push(c.call("CONFIG GET masteruser"));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn config_rewrite_keeps_non_utf8_string_values() {
    let ours = rewrite_and_reload(env!("CARGO_BIN_EXE_rubra-server"), "rubra");
    let theirs = rewrite_and_reload("redis-server", "redis");
    let show = |v: &[Vec<u8>]| {
        v.iter()
            .map(|x| x.escape_ascii().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        theirs.iter().any(|l| l == br#"masterauth "a\xffb""#),
        "{:?}",
        show(&theirs)
    );
    assert_eq!(show(&ours), show(&theirs));
}

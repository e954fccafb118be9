//! MEMORY STATS|DOCTOR|MALLOC-STATS|PURGE against redis-server 7.0 (issue 12). Figures are
//! each server's own, so STATS is compared by shape: the same field names in the same
//! order, the same nesting and the same type for every value, in RESP2 and RESP3. Errors
//! (arity, unknown subcommands) and fixed replies are compared byte for byte.

mod common;
mod reference;

use common::TestServer;
use reference::{RawConn, Reference};
use rubra_resp::{parse_frame, Frame};

fn frame(bytes: &[u8]) -> Frame {
    parse_frame(bytes, usize::MAX)
        .ok()
        .flatten()
        .map(|(f, _)| f)
        .expect("one whole frame")
}

/// A reply with its figures replaced by their type: names, nesting, order and kinds stay.
fn shape(f: &Frame) -> String {
    match f {
        Frame::Int(_) => "<int>".into(),
        Frame::Double(_) => "<double>".into(),
        Frame::Bulk(b) => {
            let text = String::from_utf8_lossy(b).to_string();
            if text.parse::<f64>().is_ok() {
                "<number-as-bulk>".into()
            } else {
                format!("{text:?}")
            }
        }
        Frame::Verbatim(_) => "<verbatim>".into(),
        Frame::Array(v) => format!("[{}]", v.iter().map(shape).collect::<Vec<_>>().join(", ")),
        Frame::Map(v) => format!(
            "{{{}}}",
            v.iter()
                .map(|(k, v)| format!("{}: {}", shape(k), shape(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other:?}"),
    }
}

/// The kind of a reply without its content (DOCTOR and MALLOC-STATS are prose).
fn kind(f: &Frame) -> &'static str {
    match f {
        Frame::Bulk(_) => "bulk",
        Frame::Verbatim(_) => "verbatim",
        Frame::Error(_) => "error",
        _ => "other",
    }
}

fn pair() -> (TestServer, Reference) {
    (TestServer::start(&[]), Reference::start())
}

#[test]
fn memory_subcommands_match_redis_server() {
    let (rubra, reference) = pair();
    for proto in ["2", "3"] {
        let mut a = RawConn::connect(rubra.port);
        let mut b = RawConn::connect(reference.port);
        for c in [&mut a, &mut b] {
            c.call(&format!("HELLO {proto}"));
            c.call("FLUSHALL");
        }
        // Empty: no dbN entry on either side.
        let (ra, rb) = (a.call("MEMORY STATS"), b.call("MEMORY STATS"));
        assert_eq!(shape(&frame(&ra)), shape(&frame(&rb)), "RESP{proto}, empty");
        for c in [&mut a, &mut b] {
            c.call("SET foo bar");
            c.call("RPUSH l a b c");
            c.call("SELECT 3");
            c.call("SET x 1");
            c.call("EXPIRE x 1000");
            c.call("SELECT 0");
        }
        let (ra, rb) = (a.call("MEMORY STATS"), b.call("MEMORY STATS"));
        let shape_a = shape(&frame(&ra));
        assert_eq!(shape_a, shape(&frame(&rb)), "RESP{proto}, with keys");
        assert!(shape_a.contains("\"db.3\""), "{shape_a}");
        for cmd in ["MEMORY DOCTOR", "MEMORY MALLOC-STATS"] {
            let (ra, rb) = (a.call(cmd), b.call(cmd));
            assert_eq!(kind(&frame(&ra)), kind(&frame(&rb)), "RESP{proto} {cmd}");
        }
        let stats = String::from_utf8_lossy(&a.call("MEMORY MALLOC-STATS")).to_string();
        assert!(stats.contains("jemalloc"), "{stats}");
        for cmd in [
            "MEMORY PURGE",
            "MEMORY",
            "MEMORY STATS x",
            "MEMORY DOCTOR x",
            "MEMORY PURGE x",
            "MEMORY MALLOC-STATS x",
            "MEMORY NOPE",
        ] {
            let (ra, rb) = (a.call(cmd), b.call(cmd));
            assert_eq!(
                String::from_utf8_lossy(&ra),
                String::from_utf8_lossy(&rb),
                "RESP{proto} {cmd}"
            );
        }
    }
}

/// The figures are real: keys.count counts keys and total.allocated follows the data.
#[test]
fn memory_stats_figures_follow_the_data() {
    let rubra = TestServer::start(&[]);
    let mut c = RawConn::connect(rubra.port);
    c.call("HELLO 3");
    let field = |c: &mut RawConn, name: &str| -> f64 {
        let Frame::Map(fields) = frame(&c.call("MEMORY STATS")) else {
            panic!("MEMORY STATS is a map in RESP3")
        };
        fields
            .iter()
            .find_map(|(k, v)| match (k, v) {
                (Frame::Bulk(k), Frame::Int(n)) if &k[..] == name.as_bytes() => Some(*n as f64),
                (Frame::Bulk(k), Frame::Double(d)) if &k[..] == name.as_bytes() => Some(*d),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(field(&mut c, "keys.count"), 0.0);
    let before = field(&mut c, "total.allocated");
    for i in 0..6000 {
        c.call(&format!("SET key:{i} {}", "v".repeat(1000)));
    }
    assert_eq!(field(&mut c, "keys.count"), 6000.0);
    let after = field(&mut c, "total.allocated");
    assert!(after - before > 6_000_000.0, "{before} -> {after}");
    assert!(field(&mut c, "peak.allocated") >= after);
    let doctor = String::from_utf8_lossy(&c.call("MEMORY DOCTOR")).to_string();
    assert!(!doctor.contains("too little data"), "{doctor}");
}

/// The DEBUG subcommands test suites and tools use, with `enable-debug-command yes` on both
/// servers: fixed replies and errors byte for byte, DEBUG OBJECT's fields in Redis's order
/// with the same encoding and RDB length, RELOAD keeping the data, SET-ACTIVE-EXPIRE 0
/// leaving expired keys until they are touched, CHANGE-REPL-ID giving a new replid.
#[test]
fn debug_subcommands_match_redis_server() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let reference = Reference::start_with(&["--enable-debug-command", "yes"]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
        c.call("SET s hello");
        c.call("SET n 12345");
        c.call("RPUSH l a b c");
        c.call("HSET h f v");
    }
    for cmd in [
        "DEBUG SET-ACTIVE-EXPIRE 1",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 100",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 1mb",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 0",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 5gb",
        "DEBUG QUICKLIST-PACKED-THRESHOLD x",
        "DEBUG CHANGE-REPL-ID",
        "DEBUG RELOAD BOGUS",
        "DEBUG OBJECT missing",
        "DEBUG RELOAD",
        "GET s",
        "LRANGE l 0 -1",
        "DEBUG RELOAD NOSAVE",
        "HGETALL h",
        // (NOFLUSH without MERGE over the same keys makes redis-server 7.0 exit on the
        // duplicate; rubra answers an error instead, so it is not compared.)
        "DEBUG RELOAD NOFLUSH MERGE",
        "DBSIZE",
    ] {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "{cmd}"
        );
    }
    // DEBUG OBJECT: the same fields and, but for the address and clock, the same values.
    for key in ["s", "n", "h"] {
        let fields = |c: &mut RawConn| -> Vec<String> {
            let line = String::from_utf8_lossy(&c.call(&format!("DEBUG OBJECT {key}"))).to_string();
            line.trim_start_matches('+')
                .trim_end()
                .split(' ')
                .map(|f| match f.split_once(':') {
                    Some((name @ ("at" | "lru" | "lru_seconds_idle"), _)) => name.to_string(),
                    _ => f.to_string(),
                })
                .collect()
        };
        assert_eq!(fields(&mut a), fields(&mut b), "DEBUG OBJECT {key}");
    }
    // CHANGE-REPL-ID: a new id.
    let replid = |c: &mut RawConn| {
        let info = String::from_utf8_lossy(&c.call("INFO replication")).to_string();
        info.lines()
            .find_map(|l| l.strip_prefix("master_replid:"))
            .map(str::to_string)
            .expect("master_replid")
    };
    let before = replid(&mut a);
    a.call("DEBUG CHANGE-REPL-ID");
    assert_ne!(replid(&mut a), before);
    // SET-ACTIVE-EXPIRE 0: an expired key stays counted until it is touched.
    for c in [&mut a, &mut b] {
        c.call("DEBUG SET-ACTIVE-EXPIRE 0");
        for i in 0..50 {
            c.call(&format!("SET e:{i} v PX 10"));
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(600));
    for c in [&mut a, &mut b] {
        let dbsize = String::from_utf8_lossy(&c.call("DBSIZE")).to_string();
        assert!(
            dbsize.starts_with(":54"),
            "expired keys were removed: {dbsize}"
        );
        c.call("DEBUG SET-ACTIVE-EXPIRE 1");
    }
    // The active cycle's pace is the server's and the box's: poll, then assert.
    common::cluster::wait_for(std::time::Duration::from_secs(20), || {
        a.call("DBSIZE").starts_with(b":4\r")
    });
    let dbsize = String::from_utf8_lossy(&a.call("DBSIZE")).to_string();
    assert!(
        dbsize.starts_with(":4\r"),
        "active expiry back on: {dbsize}"
    );
}

/// Fills the current database with every type in both encodings (small and large), TTLs,
/// and a second database, so digests cover each part of Redis's definition.
fn fill_every_type(c: &mut RawConn) {
    for cmd in [
        "FLUSHALL",
        "SET s hello",
        "SET n 12345",
        "SET t v EX 1000",
        "RPUSH l a b 1 2 \"\"",
        "SADD si 1 2 3 -7",
        "SADD ss a b c",
        "ZADD z 1.5 a 2 b -0.1 c 3e20 d",
        "HSET h f v g w",
        "XADD st 1-1 a b c d",
        "XADD st 5-0 x y",
        "XGROUP CREATE st g 0",
        "SELECT 3",
        "SET other x",
        "SELECT 0",
    ] {
        c.call(cmd);
    }
    for i in 0..200 {
        c.call(&format!("SADD bigset m{i}"));
        c.call(&format!("ZADD bigz {i}.25 m{i}"));
        c.call(&format!("HSET bigh f{i} v{i}"));
        c.call(&format!("RPUSH bigl {i}"));
    }
}

/// DEBUG DIGEST and DIGEST-VALUE give redis-server 7.0's fingerprints for the same data
/// (the suites compare datasets with them across reloads and replicas), also after a
/// value changes, a TTL goes, a key is deleted or the order of a list changes.
#[test]
fn debug_digest_matches_redis_server() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let reference = Reference::start_with(&["--enable-debug-command", "yes"]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
    }
    let compare = |a: &mut RawConn, b: &mut RawConn, cmd: &str| {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            ra.escape_ascii().to_string(),
            rb.escape_ascii().to_string(),
            "{cmd}"
        );
    };
    compare(&mut a, &mut b, "DEBUG DIGEST");
    compare(&mut a, &mut b, "DEBUG DIGEST-VALUE");
    fill_every_type(&mut a);
    fill_every_type(&mut b);
    for cmd in [
        "DEBUG DIGEST",
        "DEBUG DIGEST-VALUE s n t l si ss z h st bigset bigz bigh bigl missing",
        "PERSIST t",
        "DEBUG DIGEST-VALUE t",
        "LMOVE l l LEFT RIGHT",
        "DEBUG DIGEST-VALUE l",
        "DEL ss",
        "XDEL st 1-1",
        "DEBUG DIGEST",
        "SWAPDB 0 3",
        "DEBUG DIGEST",
        "DEBUG DIGEST extra",
    ] {
        compare(&mut a, &mut b, cmd);
    }
}

/// Sends `line` and then PING, and returns everything up to PING's reply: the raw bytes of
/// replies that are more than one frame (an attribute and its reply, a push and a reply).
fn raw_until_pong(port: u16, hello: &str, line: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut conn = RawConn::connect(port);
    drop(conn.call("PING"));
    s.write_all(format!("{hello}\r\n").as_bytes())
        .expect("write");
    let mut buf = Vec::new();
    // HELLO's reply names the server: skip it by waiting for the request that follows.
    s.write_all(format!("{line}\r\nPING\r\n").as_bytes())
        .expect("write");
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"+PONG\r\n") {
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    buf
}

/// DEBUG PROTOCOL: each RESP type's sample reply byte for byte in RESP2 and RESP3 (big
/// numbers as bulk strings in RESP2, attributes left out there, pushes refused), and the
/// other new subcommands' errors.
#[test]
fn debug_protocol_matches_redis_server() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let reference = Reference::start_with(&["--enable-debug-command", "yes"]);
    let types = [
        "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "push",
        "verbatim", "true", "false", "bogus", "STRING",
    ];
    for hello in ["HELLO 2", "HELLO 3"] {
        for t in types {
            let line = format!("DEBUG PROTOCOL {t}");
            let (ra, rb) = (
                raw_until_pong(rubra.port, hello, &line),
                raw_until_pong(reference.port, hello, &line),
            );
            // Both start with HELLO's map or array, which names the server: compare what
            // follows it, from the last occurrence of the "modules" field's empty array.
            let tail = |r: &[u8]| -> String {
                let text = r.escape_ascii().to_string();
                let at = text.rfind("modules").expect("HELLO reply");
                text[at..].to_string()
            };
            assert_eq!(tail(&ra), tail(&rb), "{hello}: {line}");
        }
    }
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
        c.call("SADD small 1 2");
        c.call("HSET hsmall f v");
        c.call("SET str v");
    }
    for cmd in [
        "DEBUG PROTOCOL",
        "DEBUG PROTOCOL a b",
        "DEBUG REPLYBUFFER peak-reset-time never",
        "DEBUG REPLYBUFFER peak-reset-time reset",
        "DEBUG REPLYBUFFER peak-reset-time 100",
        "DEBUG REPLYBUFFER peak-reset-time abc",
        "DEBUG REPLYBUFFER resizing 0",
        "DEBUG REPLYBUFFER resizing 1",
        "DEBUG REPLYBUFFER bogus 1",
        "DEBUG REPLYBUFFER resizing",
        "DEBUG HTSTATS-KEY missing",
        "DEBUG HTSTATS-KEY small",
        "DEBUG HTSTATS-KEY hsmall",
        "DEBUG HTSTATS-KEY str",
    ] {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            ra.escape_ascii().to_string(),
            rb.escape_ascii().to_string(),
            "{cmd}"
        );
    }
}

/// DEBUG RELOAD brings function libraries back too, and NOFLUSH without MERGE fails on a
/// library that is already loaded (MERGE replaces it); DEBUG LOADAOF rebuilds the dataset
/// and the libraries from the AOF alone.
#[test]
fn debug_reload_functions_and_loadaof_match_redis_server() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let reference = Reference::start_with(&["--enable-debug-command", "yes"]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    let lib = "FUNCTION LOAD \"#!lua name=lib\nredis.register_function('f', function() return 'hi' end)\"";
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
        c.call("FUNCTION FLUSH");
        c.call(lib);
    }
    for cmd in [
        "DEBUG RELOAD",
        "FCALL f 0",
        "DEBUG RELOAD NOFLUSH",
        "DEBUG RELOAD NOFLUSH MERGE",
        "FUNCTION LIST",
        "FUNCTION FLUSH",
        "DEBUG RELOAD NOSAVE",
        "FCALL f 0",
    ] {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            ra.escape_ascii().to_string(),
            rb.escape_ascii().to_string(),
            "{cmd}"
        );
    }
    // LOADAOF: turn the AOF on, wait for its first rewrite, write, reload from it.
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
        c.call("CONFIG SET appendonly yes");
        // Up to 30 s (was 100 x 50 ms, then on regardless): a rewrite slower than 5 s
        // on a loaded box let the test write and LOADAOF while it still ran.
        let rewritten = |c: &mut RawConn| {
            let info = String::from_utf8_lossy(&c.call("INFO persistence")).to_string();
            info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0")
        };
        common::cluster::wait_for(std::time::Duration::from_secs(30), || rewritten(c));
        assert!(
            rewritten(c),
            "the first AOF rewrite did not end within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        fill_every_type(c);
        c.call("SET gone v");
    }
    for cmd in [
        "DEBUG LOADAOF",
        "DEBUG DIGEST",
        "FCALL f 0",
        "DBSIZE",
        "TTL t",
        "GET gone",
    ] {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        let (ra, rb) = (ra.escape_ascii().to_string(), rb.escape_ascii().to_string());
        if cmd == "TTL t" {
            let secs = |r: &str| {
                r.trim_start_matches(':')
                    .trim_end_matches("\\r\\n")
                    .parse::<i64>()
            };
            let (sa, sb) = (secs(&ra), secs(&rb));
            assert!(
                matches!((&sa, &sb), (Ok(x), Ok(y)) if (990..=1000).contains(x) && (990..=1000).contains(y)),
                "{ra} {rb}"
            );
        } else {
            assert_eq!(ra, rb, "{cmd}");
        }
    }
}

/// DEBUG OBJECT describes a logically expired key that is still stored (with active
/// expiry off), as Redis's dict lookup does; and a script calling DEBUG PROTOCOL (allowed
/// by DEBUG SET-DISABLE-DENY-SCRIPTS 1) sees big numbers, maps and attributes as Redis's
/// Lua reply parser gives them, in both of the script's protocols.
#[test]
fn debug_object_of_expired_key_and_debug_from_scripts_match_redis_server() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let reference = Reference::start_with(&["--enable-debug-command", "yes"]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    for c in [&mut a, &mut b] {
        c.call("FLUSHALL");
        c.call("DEBUG SET-ACTIVE-EXPIRE 0");
        c.call("SET key value PX 1");
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let prefix = |r: Vec<u8>| {
        String::from_utf8_lossy(&r)
            .chars()
            .take(10)
            .collect::<String>()
    };
    let (ra, rb) = (
        prefix(a.call("DEBUG OBJECT key")),
        prefix(b.call("DEBUG OBJECT key")),
    );
    assert_eq!(ra, rb, "DEBUG OBJECT of a logically expired key");
    for cmd in [
        "EVAL \"return redis.pcall('debug', 'protocol', 'bignum')\" 0",
        "DEBUG SET-DISABLE-DENY-SCRIPTS 1",
        "EVAL \"redis.setresp(3) return redis.call('debug', 'protocol', 'attrib')\" 0",
        "EVAL \"redis.setresp(2) return redis.call('debug', 'protocol', 'attrib')\" 0",
        "EVAL \"redis.setresp(3) return redis.call('debug', 'protocol', 'bignum')\" 0",
        "EVAL \"redis.setresp(3) return redis.call('debug', 'protocol', 'map')\" 0",
        "EVAL \"redis.setresp(2) return redis.call('debug', 'protocol', 'map')\" 0",
        "DEBUG SET-DISABLE-DENY-SCRIPTS 0",
        "EVAL \"return redis.pcall('debug', 'protocol', 'bignum')\" 0",
        "EXISTS key",
        "DEBUG SET-ACTIVE-EXPIRE 1",
    ] {
        let (ra, rb) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            ra.escape_ascii().to_string(),
            rb.escape_ascii().to_string(),
            "{cmd}"
        );
    }
}

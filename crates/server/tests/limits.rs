//! Limits and bad clients, against a real rubra-server and (where the outcome is on the
//! wire) Debian's redis-server 7.0 side by side: protocol limits (multibulk count,
//! proto-max-bulk-len, inline size, the unauthenticated limits of Redis 7.0.15),
//! `client-output-buffer-limit` for normal and pub/sub clients (a client that never reads
//! is disconnected before the server's memory grows past the limit), `maxclients` changed
//! at runtime, and `timeout` sparing subscribers. What was already covered elsewhere
//! (query buffer limit, static maxclients, idle timeout) lives in server_cmds.rs and
//! connection.rs.

mod common;
mod reference;
use common::*;
use redis::Value;
use reference::Reference;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What a server did with some bytes: what it answered and whether it closed the link.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    reply: String,
    closed: bool,
}

/// Sends `bytes` on a fresh connection, then reads until the server closes or `quiet`
/// passes with nothing more arriving.
fn probe(port: u16, bytes: &[u8], quiet: Duration) -> Outcome {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(quiet)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    Outcome {
        reply: String::from_utf8_lossy(&out).into_owned(),
        closed,
    }
}

fn same_as_redis(args: &[&str], probes: &[(&str, &[u8])]) {
    let ours = TestServer::start(args);
    let redis = Reference::start_with(args);
    for (what, bytes) in probes {
        let quiet = Duration::from_millis(300);
        let a = probe(ours.port, bytes, quiet);
        let b = probe(redis.port, bytes, quiet);
        assert_eq!(
            a, b,
            "{what}: rubra (left) and redis-server 7.0 (right) differ"
        );
    }
}

#[test]
fn protocol_limits_match_redis() {
    let big_inline = vec![b'a'; 64 * 1024 + 1];
    same_as_redis(
        &["--proto-max-bulk-len", "1mb"],
        &[
            ("count over 1M is still accepted", b"*1048577\r\n"),
            ("count over INT_MAX", b"*2147483648\r\n"),
            ("count not a number", b"*12a\r\n"),
            ("negative count is an empty request", b"*-5\r\nPING\r\n"),
            ("negative bulk length", b"*1\r\n$-1\r\n"),
            ("bulk at proto-max-bulk-len", b"*1\r\n$1048576\r\n"),
            ("bulk over proto-max-bulk-len", b"*1\r\n$1048577\r\n"),
            ("bulk length over i64", b"*1\r\n$9223372036854775808\r\n"),
            ("inline line over 64 KB", &big_inline),
            ("bulk where a $ is expected", b"*2\r\n$4\r\nECHO\r\n:1\r\n"),
        ],
    );
}

#[test]
fn unauthenticated_clients_get_small_request_limits_like_redis() {
    same_as_redis(
        &["--requirepass", "pw"],
        &[
            ("10 arguments", b"*10\r\n"),
            ("11 arguments", b"*11\r\n"),
            ("bulk of 16384", b"*2\r\n$4\r\nAUTH\r\n$16384\r\n"),
            ("bulk of 16385", b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
            ("small request before AUTH", b"*1\r\n$4\r\nPING\r\n"),
            (
                "large request after AUTH",
                b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*12\r\n$4\r\nMSET\r\n$1\r\na\r\n",
            ),
        ],
    );
}

#[test]
fn proto_max_bulk_len_follows_config_set() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(
        q(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        Value::Okay
    );
    let over = probe(
        s.port,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
        Duration::from_millis(300),
    );
    assert!(
        over.closed && over.reply.contains("invalid bulk length"),
        "{over:?}"
    );
    assert_eq!(
        q(&mut c, &["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        Value::Okay
    );
    let value = "x".repeat(1_500_000);
    assert_eq!(q(&mut c, &["SET", "k", &value]), Value::Okay);
    assert_eq!(q(&mut c, &["STRLEN", "k"]), Value::Int(1_500_000));
}

/// Reads whatever a client that stopped reading would eventually find: the bytes the
/// kernel held, then EOF if the server closed the connection.
fn drain(s: &mut TcpStream, within: Duration) -> (usize, bool) {
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut got = 0;
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
    (got, false)
}

/// A normal client whose reply passes the hard limit is closed without the reply, as in
/// Redis; the same server keeps serving others, and the limit follows CONFIG SET.
#[test]
fn normal_client_output_hard_limit_closes_the_client_like_redis() {
    let args = ["--client-output-buffer-limit", "normal 1mb 0 0"];
    let ours = TestServer::start(&args);
    let redis = Reference::start_with(&args);
    let big = "v".repeat(2 << 20);
    for port in [ours.port, redis.port] {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        assert_eq!(q(&mut c, &["SET", "big", &big]), Value::Okay);
        assert_eq!(q(&mut c, &["SET", "small", "x"]), Value::Okay);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET big\r\n").unwrap();
        let (got, closed) = drain(&mut s, Duration::from_secs(5));
        assert!(
            closed,
            "port {port}: a 2 MB reply over a 1 MB hard limit must close the client"
        );
        assert!(
            got < 2 << 20,
            "port {port}: the reply was delivered ({got} bytes)"
        );
        assert_eq!(
            q(&mut c, &["GET", "small"]),
            Value::BulkString(b"x".to_vec())
        );
        // Limit off: the same reply is delivered.
        assert_eq!(
            q(
                &mut c,
                &[
                    "CONFIG",
                    "SET",
                    "client-output-buffer-limit",
                    "normal 0 0 0"
                ]
            ),
            Value::Okay
        );
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET big\r\n").unwrap();
        let mut want: usize = 2 << 20;
        let mut buf = vec![0u8; 1 << 16];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while want > 0 {
            let n = s
                .read(&mut buf)
                .expect("reply delivered with the limit off");
            assert!(n > 0, "closed with the limit off");
            want = want.saturating_sub(n);
        }
    }
}

/// A client that stops reading a reply larger than the soft limit is closed once the
/// soft seconds pass without the reply draining.
#[test]
fn normal_client_output_soft_limit_closes_a_stalled_reader() {
    let s = TestServer::start(&["--client-output-buffer-limit", "normal 0 1mb 1"]);
    let mut c = s.conn();
    let big = "v".repeat(32 << 20);
    assert_eq!(q(&mut c, &["SET", "big", &big]), Value::Okay);
    let mut stalled = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stalled.write_all(b"GET big\r\n").unwrap();
    // Reading drains the buffer (and may end the soft limit's clock), so the close is
    // awaited on the server's side: poll CLIENT LIST until the GET client is gone (a fixed
    // 2.5 s could end before a late cron tick on a loaded box), then drain and assert.
    common::cluster::wait_for(Duration::from_secs(20), || {
        !s.cli(&["CLIENT", "LIST"]).contains("cmd=get ")
    });
    let (got, closed) = drain(&mut stalled, Duration::from_secs(10));
    assert!(closed && got < 32 << 20, "got {got} bytes, closed {closed}");
    assert_eq!(q(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
}

fn used_memory(port: u16) -> u64 {
    let info = cli_at(port, &["INFO", "memory"]);
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory has used_memory")
}

/// A subscriber that never reads is dropped, and the server's memory stays within the
/// pub/sub hard limit plus a small margin meanwhile (measured the same way on Redis).
#[test]
fn subscriber_that_never_reads_is_dropped_before_memory_grows() {
    let args = ["--client-output-buffer-limit", "pubsub 1mb 0 0"];
    let ours = TestServer::start(&args);
    let redis = Reference::start_with(&args);
    let payload = "p".repeat(64 * 1024);
    for (name, port) in [("rubra", ours.port), ("redis", redis.port)] {
        let mut sub = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sub.write_all(b"SUBSCRIBE flood\r\n").unwrap();
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while q(&mut c, &["PUBSUB", "NUMSUB", "flood"])
            != Value::Array(vec![Value::BulkString(b"flood".to_vec()), Value::Int(1)])
        {
            assert!(Instant::now() < deadline, "{name}: subscription not seen");
            std::thread::sleep(Duration::from_millis(10));
        }
        let base = used_memory(port);
        let mut peak = base;
        let mut dropped = false;
        for i in 0..2000 {
            match q(&mut c, &["PUBLISH", "flood", &payload]) {
                Value::Int(0) => {
                    dropped = true;
                    break;
                }
                Value::Int(1) => {}
                other => panic!("{name}: PUBLISH answered {other:?}"),
            }
            if i % 8 == 0 {
                peak = peak.max(used_memory(port));
            }
        }
        assert!(dropped, "{name}: the subscriber was never dropped");
        let grown = peak.saturating_sub(base);
        assert!(
            grown < 4 << 20,
            "{name}: memory grew by {grown} bytes with a 1 MB pub/sub limit"
        );
    }
}

#[test]
fn maxclients_follows_config_set_and_frees_slots() {
    let s = TestServer::start(&[]);
    let redis = Reference::start();
    for port in [s.port, redis.port] {
        let mut admin = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        assert_eq!(
            q(&mut admin, &["CONFIG", "SET", "maxclients", "3"]),
            Value::Okay
        );
        let mut a = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut b = TcpStream::connect(("127.0.0.1", port)).unwrap();
        for c in [&mut a, &mut b] {
            c.write_all(b"PING\r\n").unwrap();
            let mut buf = [0u8; 16];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"+PONG\r\n");
        }
        let refused = probe(port, b"PING\r\n", Duration::from_millis(500));
        assert_eq!(
            refused,
            Outcome {
                reply: "-ERR max number of clients reached\r\n".into(),
                closed: true
            },
            "port {port}"
        );
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let o = probe(port, b"PING\r\n", Duration::from_millis(300));
            if o.reply == "+PONG\r\n" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "port {port}: a freed slot is not reused: {o:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `timeout` closes idle normal clients but not subscribers, which still get messages.
#[test]
fn timeout_spares_subscribers() {
    let s = TestServer::start(&["--timeout", "1"]);
    let mut sub = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sub.write_all(b"SUBSCRIBE ch\r\n").unwrap();
    let mut idle = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    idle.write_all(b"PING\r\n").unwrap();
    // The idle check runs on the server's cron: poll CLIENT LIST (from fresh redis-cli
    // clients, never idle) until the PING client is gone, as a fixed 2.5 s could end
    // before a late tick on a loaded box; then drain and assert as before.
    common::cluster::wait_for(Duration::from_secs(20), || {
        !s.cli(&["CLIENT", "LIST"]).contains("cmd=ping ")
    });
    let (_, closed) = drain(&mut idle, Duration::from_secs(3));
    assert!(closed, "an idle normal client outlived the timeout");
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["PUBLISH", "ch", "hello"]), Value::Int(1));
    sub.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("hello") {
        let n = sub
            .read(&mut buf)
            .expect("the subscriber is still connected");
        assert!(n > 0, "the subscriber was closed by the idle timeout");
        got.extend_from_slice(&buf[..n]);
    }
}

/// RESTORE payloads from a hostile client on a real server with `sanitize-dump-payload
/// yes`, next to redis-server: a set holding a member twice is refused by both with the
/// same error, and a few hundred mutants of real payloads never crash rubra nor answer
/// anything but OK or Redis's two RESTORE errors. (The in-process fuzz target
/// `fuzz_loaders::fuzz_restore_into_keyspace` runs millions.)
#[test]
fn hostile_restore_payloads_are_refused_and_the_server_survives() {
    let args = ["--sanitize-dump-payload", "yes"];
    let mut ours = TestServer::start(&args);
    let redis = Reference::start_with(&args);
    let mut dup = rubra_fuzz::unhex("0205c2344ffcffc12401c22993fcffc12401c229930000133339363236000013333936323631363733343539303835323637320991ba1920ddeac000000b0063bdef747232eac2");
    let mut rc = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut oc = ours.conn();
    let restore = |c: &mut redis::Connection, payload: &[u8]| -> String {
        match redis::cmd("RESTORE")
            .arg("k")
            .arg(0)
            .arg(payload)
            .arg("REPLACE")
            .query::<redis::Value>(c)
        {
            Ok(Value::Okay) => "OK".into(),
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
        }
    };
    // The fuzz target wrote an RDB 11 footer; redis-server 7.0 reads up to 10.
    let n = dup.len();
    dup[n - 10..n - 8].copy_from_slice(&10u16.to_le_bytes());
    let crc = rubra_persistence::crc64(&dup[..n - 8]);
    dup[n - 8..].copy_from_slice(&crc.to_le_bytes());
    let theirs = restore(&mut rc, &dup);
    assert_eq!(restore(&mut oc, &dup), theirs);
    assert_eq!(theirs, "ERR Bad data format");
    // Mutants of payloads Redis itself made.
    for (i, cmd) in [
        vec!["SADD", "s", "a", "b", "c"],
        vec!["SADD", "s", "1", "2", "3"],
        vec!["HSET", "s", "f", "v", "g", "w"],
        vec!["ZADD", "s", "1", "a", "2", "b"],
        vec!["RPUSH", "s", "a", "b", "1"],
        vec!["XADD", "s", "1-1", "f", "v"],
    ]
    .iter()
    .enumerate()
    {
        let _ = q(&mut rc, &["DEL", "s"]);
        let _ = q(&mut rc, cmd);
        let Value::BulkString(payload) = q(&mut rc, &["DUMP", "s"]) else {
            panic!("DUMP from redis-server");
        };
        let mut rng = rubra_fuzz::Rng::new(i as u64);
        for _ in 0..60 {
            let mut m = payload.clone();
            rubra_fuzz::mutate(&mut rng, &mut m, &[]);
            if m.len() >= 10 {
                let n = m.len();
                m[n - 10..n - 8].copy_from_slice(&10u16.to_le_bytes());
                let crc = rubra_persistence::crc64(&m[..n - 8]);
                m[n - 8..].copy_from_slice(&crc.to_le_bytes());
            }
            let got = restore(&mut oc, &m);
            assert!(
                got == "OK"
                    || got == "ERR Bad data format"
                    || got == "ERR DUMP payload version or checksum are wrong",
                "RESTORE answered {got}"
            );
            if got == "OK" {
                let _ = q(&mut oc, &["TYPE", "k"]);
                let _ = q(&mut oc, &["DUMP", "k"]);
            }
        }
    }
    assert!(ours.alive());
    assert_eq!(q(&mut oc, &["PING"]), Value::SimpleString("PONG".into()));
}

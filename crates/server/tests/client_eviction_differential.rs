//! Client memory limits, side by side with Debian's redis-server 7.0: client eviction
//! (`maxmemory-clients`, CLIENT NO-EVICT, INFO evicted_clients, the largest clients
//! first) and the pub/sub output buffer hard limit closing a subscriber that never reads.
//! Each scenario runs on both servers and the facts observed must be the same.

mod common;
mod reference;
use common::*;
use reference::Reference;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The observer connection of a scenario: named `control` and CLIENT NO-EVICT on, so
/// that it survives every eviction (a no-evict client over the limit makes Redis evict
/// every other client before each command, its own connection included).
fn observer(port: u16) -> redis::Connection {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    q(&mut c, &["CLIENT", "SETNAME", "control"]);
    q(&mut c, &["CLIENT", "NO-EVICT", "on"]);
    c
}

fn text(v: redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::VerbatimString { text, .. } => text,
        other => panic!("expected text, got {other:?}"),
    }
}

/// The CLIENT LIST line of the client named `name`, if it is connected.
fn client_line(c: &mut redis::Connection, name: &str) -> Option<String> {
    let needle = format!(" name={name} ");
    text(q(c, &["CLIENT", "LIST"]))
        .lines()
        .find(|l| l.contains(&needle))
        .map(str::to_string)
}

/// A numeric field of a CLIENT LIST line.
fn field(line: &str, f: &str) -> u64 {
    let key = format!(" {f}=");
    line.split(&key)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {f} in {line}"))
}

fn info_field(c: &mut redis::Connection, f: &str) -> u64 {
    let key = format!("{f}:");
    text(q(c, &["INFO", "stats"]))
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO stats has no {f}"))
}

/// Polls `cond` every 10 ms for up to `within`; returns whether it held.
fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A raw connection named `name` (CLIENT SETNAME answered), optionally no-evict.
fn named(c: &mut redis::Connection, port: u16, name: &str, no_evict: bool) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("CLIENT SETNAME {name}\r\n").as_bytes())
        .unwrap();
    if no_evict {
        s.write_all(b"CLIENT NO-EVICT on\r\n").unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(5), || client_line(c, name).is_some()),
        "{name} not listed"
    );
    s
}

/// Sends the start of a one-argument request whose bulk is `size` bytes long, all of
/// the bulk but not its ending CRLF, from another thread (the server may close the link).
fn fill_query_buffer(s: &TcpStream, size: usize) -> std::thread::JoinHandle<()> {
    let mut s = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut req = format!("*1\r\n${size}\r\n").into_bytes();
        req.resize(req.len() + size, b'v');
        let _ = s.write_all(&req);
    })
}

/// What client eviction did in one scenario.
#[derive(Debug, PartialEq, Eq)]
struct Evicted {
    gone: Vec<String>,
    kept: Vec<String>,
    evicted_clients: u64,
}

fn partition(c: &mut redis::Connection, names: &[&str]) -> (Vec<String>, Vec<String>) {
    let (kept, gone): (Vec<&str>, Vec<&str>) =
        names.iter().partition(|n| client_line(c, n).is_some());
    (
        gone.into_iter().map(String::from).collect(),
        kept.into_iter().map(String::from).collect(),
    )
}

/// A client whose query buffer (a bulk still arriving) passes maxmemory-clients is
/// closed and counted in evicted_clients; a no-evict client holding as much is not, and
/// lists a tot-mem above the limit.
#[test]
fn query_buffer_over_maxmemory_clients_evicts_the_client_like_redis() {
    let scenario = |port: u16| {
        let mut c = observer(port);
        q(&mut c, &["CONFIG", "SET", "maxmemory-clients", "3000000"]);
        let big = named(&mut c, port, "big", false);
        let a = fill_query_buffer(&big, 3_000_000);
        let gone = wait_for(Duration::from_secs(10), || {
            client_line(&mut c, "big").is_none()
        });
        let evicted = info_field(&mut c, "evicted_clients");
        let keep = named(&mut c, port, "keep", true);
        let b = fill_query_buffer(&keep, 3_000_001);
        let keep_filled = wait_for(Duration::from_secs(10), || {
            client_line(&mut c, "keep").is_some_and(|l| field(&l, "qbuf") == 3_000_001)
        });
        let line = client_line(&mut c, "keep").expect("the no-evict client stays");
        let _ = a.join();
        drop(keep);
        let _ = b.join();
        (
            gone,
            evicted,
            keep_filled,
            field(&line, "tot-mem") > 3_000_000,
        )
    };
    let ours = TestServer::start(&[]);
    let redis = Reference::start();
    let theirs = scenario(redis.port);
    assert_eq!(theirs, (true, 1, true, true), "redis-server's facts");
    assert_eq!(scenario(ours.port), theirs, "rubra (left) vs redis (right)");
}

/// Lowering maxmemory-clients evicts the largest clients first and stops once the rest
/// fits: with two clients holding 1 MB each, two holding 128 KB and a no-evict control,
/// a limit that leaves room for the small ones only closes the two large ones.
#[test]
fn lowering_maxmemory_clients_evicts_largest_first_like_redis() {
    let scenario = |port: u16| {
        let mut c = observer(port);
        let mut conns = Vec::new();
        let mut writers = Vec::new();
        let sizes = [("small1", 128 << 10), ("small2", 128 << 10)];
        let large = [("large1", 1 << 20), ("large2", 1 << 20)];
        for (name, size) in sizes.iter().chain(large.iter()) {
            let conn = named(&mut c, port, name, false);
            writers.push(fill_query_buffer(&conn, *size));
            let want = *size as u64;
            assert!(wait_for(Duration::from_secs(10), || {
                client_line(&mut c, name).is_some_and(|l| field(&l, "qbuf") >= want)
            }));
            conns.push(conn);
        }
        let mut mem = |n: &str| field(&client_line(&mut c, n).unwrap(), "tot-mem");
        let room = mem("control") + mem("small1") + mem("small2") + 64 * 1024;
        q(
            &mut c,
            &["CONFIG", "SET", "maxmemory-clients", &room.to_string()],
        );
        let (gone, kept) = partition(&mut c, &["small1", "small2", "large1", "large2", "control"]);
        for w in writers {
            let _ = w.join();
        }
        Evicted {
            gone,
            kept,
            evicted_clients: info_field(&mut c, "evicted_clients"),
        }
    };
    let ours = TestServer::start(&[]);
    let redis = Reference::start();
    let theirs = scenario(redis.port);
    assert_eq!(
        theirs,
        Evicted {
            gone: vec!["large1".into(), "large2".into()],
            kept: vec!["small1".into(), "small2".into(), "control".into()],
            evicted_clients: 2,
        },
        "redis-server's facts"
    );
    assert_eq!(scenario(ours.port), theirs, "rubra (left) vs redis (right)");
}

/// A subscriber that never reads is closed once what is queued for it passes the pub/sub
/// hard limit, even while the server's write to it is stalled: it leaves CLIENT LIST, and
/// the omem it showed last was near the limit (Redis's obuf-limits test).
#[test]
fn stalled_subscriber_over_pubsub_hard_limit_is_closed_like_redis() {
    let scenario = |port: u16| {
        let mut c = observer(port);
        q(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 100000 0 0",
            ],
        );
        let mut sub = named(&mut c, port, "sub", false);
        sub.write_all(b"SUBSCRIBE foo\r\n").unwrap();
        assert!(wait_for(Duration::from_secs(5), || {
            client_line(&mut c, "sub").is_some_and(|l| field(&l, "sub") == 1)
        }));
        let payload = "x".repeat(1000);
        let mut last_omem = 0;
        let mut closed = false;
        for _ in 0..200_000 {
            q(&mut c, &["PUBLISH", "foo", &payload]);
            match client_line(&mut c, "sub") {
                None => {
                    closed = true;
                    break;
                }
                Some(l) => last_omem = field(&l, "omem"),
            }
            if last_omem > 200_000 {
                break;
            }
        }
        (closed, (70_000..200_000).contains(&last_omem))
    };
    let ours = TestServer::start(&[]);
    let redis = Reference::start();
    let theirs = scenario(redis.port);
    assert_eq!(theirs, (true, true), "redis-server's facts");
    assert_eq!(scenario(ours.port), theirs, "rubra (left) vs redis (right)");
}

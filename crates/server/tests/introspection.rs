//! Behaviour of the introspection commands that a differential script cannot show on its
//! own (issue 12): CLIENT PAUSE holding and releasing clients, CLIENT UNBLOCK on blocked
//! readers, MONITOR's live lines, SLOWLOG's contents for a really slow command, CLIENT
//! LIST's query buffer, CLIENT KILL's filters, stats of blocked commands.

mod common;
mod reference;

use common::blocking::{blocked, wait_blocked};
use common::{cli_at, q, TestServer};
use redis::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => format!("{other:?}"),
    }
}

/// The value of `field:` in an INFO section.
fn info_field(s: &TestServer, section: &str, field: &str) -> String {
    let out = s.cli(&["INFO", section]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// CLIENT PAUSE WRITE: writes wait, reads go on; UNPAUSE releases the writer at once.
/// (Before: CLIENT PAUSE was an unknown subcommand.)
#[test]
fn client_pause_write_holds_writes_until_unpause() {
    let s = TestServer::start(&[]);
    let mut admin = s.conn();
    assert_eq!(
        q(&mut admin, &["CLIENT", "PAUSE", "20000", "WRITE"]),
        Value::Okay
    );
    let writer = blocked(&s, &["SET", "k", "v"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writer.is_finished(),
        "a write ran during CLIENT PAUSE WRITE"
    );
    // Reads are not held.
    let started = Instant::now();
    assert_eq!(q(&mut admin, &["GET", "k"]), Value::Nil);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(q(&mut admin, &["CLIENT", "UNPAUSE"]), Value::Okay);
    let (reply, took) = writer.join().expect("writer");
    assert_eq!(reply, Value::Okay);
    assert!(took < Duration::from_secs(5), "writer waited {took:?}");
    assert_eq!(text(&q(&mut admin, &["GET", "k"])), "v");
}

/// CLIENT PAUSE ALL: every command of other clients waits until the pause ends by itself.
#[test]
fn client_pause_all_holds_reads_until_the_timeout() {
    let s = TestServer::start(&[]);
    let mut admin = s.conn();
    assert_eq!(
        q(&mut admin, &["CLIENT", "PAUSE", "700", "ALL"]),
        Value::Okay
    );
    // Timed from before the connection: the client library's own hello waits too.
    let started = Instant::now();
    let reader = blocked(&s, &["PING"]);
    let (reply, _) = reader.join().expect("reader");
    let took = started.elapsed();
    assert_eq!(reply, Value::SimpleString("PONG".into()));
    assert!(
        took >= Duration::from_millis(400),
        "PING answered after {took:?} during PAUSE ALL"
    );
    // Pauses merge: a shorter ALL pause during a longer WRITE pause makes reads wait
    // until the later end (the admin's own CLIENT PAUSE is not a write, so it runs).
    assert_eq!(
        q(&mut admin, &["CLIENT", "PAUSE", "600", "WRITE"]),
        Value::Okay
    );
    assert_eq!(
        q(&mut admin, &["CLIENT", "PAUSE", "10", "ALL"]),
        Value::Okay
    );
    let started = Instant::now();
    let reader = blocked(&s, &["GET", "x"]);
    let _ = reader.join().expect("reader");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "GET answered after {took:?}"
    );
}

/// CLIENT UNBLOCK ends BLPOP as a timeout (nil) or with the UNBLOCKED error, and XREAD
/// BLOCK likewise; 0 for a client that is not blocked. (Before: unknown subcommand.)
#[test]
fn client_unblock_ends_blocked_readers() {
    let s = TestServer::start(&[]);
    let mut admin = s.conn();
    let mut victim = s.conn();
    let id = match q(&mut victim, &["CLIENT", "ID"]) {
        Value::Int(n) => n,
        other => panic!("CLIENT ID gave {other:?}"),
    };
    let id_s = id.to_string();
    assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &id_s]), Value::Int(0));

    let t = std::thread::spawn(move || {
        let a = q(&mut victim, &["BLPOP", "list", "0"]);
        let b = q(&mut victim, &["BLPOP", "list", "0"]);
        let c = q(&mut victim, &["XREAD", "BLOCK", "0", "STREAMS", "st", "$"]);
        (a, b, c)
    });
    wait_blocked(&s, 1);
    assert_eq!(q(&mut admin, &["CLIENT", "UNBLOCK", &id_s]), Value::Int(1));
    wait_blocked(&s, 1);
    assert_eq!(
        q(&mut admin, &["CLIENT", "UNBLOCK", &id_s, "ERROR"]),
        Value::Int(1)
    );
    wait_blocked(&s, 1);
    assert_eq!(
        q(&mut admin, &["CLIENT", "UNBLOCK", &id_s, "TIMEOUT"]),
        Value::Int(1)
    );
    let (a, b, c) = t.join().expect("victim");
    assert_eq!(a, Value::Nil);
    assert!(
        text(&b).contains("UNBLOCKED") && text(&b).contains("client unblocked via CLIENT UNBLOCK"),
        "{b:?}"
    );
    assert_eq!(c, Value::Nil);
    assert_eq!(info_field(&s, "clients", "blocked_clients"), "0");
    assert!(s
        .cli(&["INFO", "errorstats"])
        .contains("errorstat_UNBLOCKED:count=1"));
}

/// MONITOR streams `+<secs>.<usecs> [<db> <ip:port>] "arg" ...` for other clients'
/// commands, with the monitored client's own address. (Before: unknown command.)
#[test]
fn monitor_streams_commands_of_other_clients() {
    let s = TestServer::start(&[]);
    let mut mon = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    mon.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    mon.write_all(b"MONITOR\r\n").unwrap();
    let mut mon = BufReader::new(mon);
    let mut line = String::new();
    mon.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");

    let mut other = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    let addr = other.local_addr().unwrap().to_string();
    other
        .write_all(
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv \"x\r\n",
        )
        .unwrap();
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 10 {
        got += other.read(&mut buf[got..]).unwrap();
    }
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut l = String::new();
        mon.read_line(&mut l).unwrap();
        lines.push(l);
    }
    for (l, want) in lines.iter().zip([
        // Redis shows a command after it ran, with the database it left selected.
        format!("[2 {addr}] \"SELECT\" \"2\"\r\n"),
        format!("[2 {addr}] \"SET\" \"k\" \"v \\\"x\"\r\n"),
    ]) {
        let (stamp, rest) = l.split_once(' ').expect("a space after the time");
        let stamp = stamp.strip_prefix('+').expect("a status line");
        let (secs, usecs) = stamp.split_once('.').expect("secs.usecs");
        assert!(
            secs.len() >= 10 && secs.bytes().all(|c| c.is_ascii_digit()),
            "{l}"
        );
        assert!(
            usecs.len() == 6 && usecs.bytes().all(|c| c.is_ascii_digit()),
            "{l}"
        );
        assert_eq!(rest, want);
    }
    // The monitor shows up with flag O and is still a normal client for TYPE filters.
    let list = s.cli(&["CLIENT", "LIST"]);
    assert!(list.lines().any(|l| l.contains("flags=O")), "{list}");
}

/// SLOWLOG GET's entries.
fn slowlog_entries(c: &mut redis::Connection) -> Vec<Value> {
    match q(c, &["SLOWLOG", "GET"]) {
        Value::Array(v) => v,
        other => panic!("SLOWLOG GET gave {other:?}"),
    }
}

/// SLOWLOG keeps commands at or over slowlog-log-slower-than with their duration,
/// arguments, client address and name; faster ones are not logged.
#[test]
fn slowlog_records_only_slow_commands() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let _ = q(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "100000"],
    );
    let _ = q(&mut c, &["CLIENT", "SETNAME", "sleeper"]);
    let _ = q(&mut c, &["SLOWLOG", "RESET"]);
    let _ = q(&mut c, &["SET", "fast", "1"]);
    let _ = q(
        &mut c,
        &[
            "EVAL",
            "local i = 0 while i < 20000000 do i = i + 1 end return 1",
            "0",
        ],
    );
    let entries = slowlog_entries(&mut c);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let Value::Array(e) = &entries[0] else {
        panic!("entry {:?}", entries[0])
    };
    let Value::Int(duration) = e[2] else {
        panic!("duration {:?}", e[2])
    };
    assert!(duration >= 100000, "duration {duration}");
    assert_eq!(text(&e[5]), "sleeper");
    assert!(text(&e[4]).starts_with("127.0.0.1:"));
    let Value::Array(args) = &e[3] else {
        panic!("args {:?}", e[3])
    };
    assert_eq!(text(&args[0]), "EVAL");
}

/// In a pipeline, a command's end time starts the next command (one clock read per
/// command), but not after a reply that takes long to encode: that time would make the
/// next command look slow. A PING right after a 140,000-element LRANGE in the same write
/// (a 980 KB reply: under the 1 MiB that ends a batch, yet milliseconds to encode) stays
/// out of the slow log, as in Redis, while the LRANGE is in it.
#[test]
fn slowlog_does_not_blame_a_command_for_the_reply_before_it() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let _ = q(
        &mut c,
        &[
            "EVAL",
            "for i = 1, 140000 do redis.call('rpush', KEYS[1], 'x') end",
            "1",
            "big",
        ],
    );
    let _ = q(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "300"]);
    let _ = q(&mut c, &["SLOWLOG", "RESET"]);
    let (items, pong): (Vec<Vec<u8>>, String) = redis::pipe()
        .cmd("LRANGE")
        .arg("big")
        .arg(0)
        .arg(-1)
        .cmd("PING")
        .query(&mut c)
        .expect("pipeline");
    assert_eq!((items.len(), pong.as_str()), (140000, "PONG"));
    let entries = slowlog_entries(&mut c);
    let names: Vec<String> = entries
        .iter()
        .filter_map(|e| match e {
            Value::Array(fields) => match fields.get(3) {
                Some(Value::Array(args)) => args.first().map(text),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(names.iter().any(|n| n == "LRANGE"), "{names:?}");
    assert!(!names.iter().any(|n| n == "PING"), "{names:?}");
}

/// CLIENT LIST shows a client's unprocessed input (qbuf), not always 0.
#[test]
fn client_list_shows_pending_query_buffer() {
    let s = TestServer::start(&[]);
    let mut partial = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    partial.write_all(b"*2\r\n$4\r\nPING\r\n$5\r\nhel").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list = s.cli(&["CLIENT", "LIST"]);
        if list.lines().any(|l| l.contains(" qbuf=21 ")) {
            break;
        }
        assert!(Instant::now() < deadline, "no client with qbuf=21:\n{list}");
        std::thread::sleep(Duration::from_millis(20));
    }
    partial.write_all(b"lo\r\n").unwrap();
    let mut buf = [0u8; 16];
    let n = partial.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"$5\r\nhello\r\n");
}

/// While clients are paused nothing expires (Redis 7.0: neither the active cycle nor a
/// lookup deletes a key, which reads as missing all the same); after CLIENT UNPAUSE the
/// next lookups delete them. Checked on rubra-server and redis-server alike.
#[test]
fn nothing_expires_while_clients_are_paused() {
    let rubra = TestServer::start(&[]);
    let redis = reference::Reference::start();
    for (name, port) in [("rubra", rubra.port), ("redis", redis.port)] {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
        let mut c = client.get_connection().expect("connect");
        let expired = |c: &mut redis::Connection| -> i64 {
            let info: String = redis::cmd("INFO").arg("stats").query(c).expect("INFO");
            info.lines()
                .find_map(|l| l.strip_prefix("expired_keys:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("expired_keys")
        };
        let before = expired(&mut c);
        let _: Value = redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("foo")
            .arg("bar")
            .arg("PX")
            .arg(10)
            .cmd("SET")
            .arg("bar")
            .arg("foo")
            .arg("PX")
            .arg(10)
            .cmd("CLIENT")
            .arg("PAUSE")
            .arg(50_000)
            .arg("WRITE")
            .query(&mut c)
            .expect("EXEC");
        // Long enough for several active expiry cycles.
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(q(&mut c, &["GET", "foo"]), Value::Nil, "{name}");
        assert_eq!(q(&mut c, &["GET", "bar"]), Value::Nil, "{name}");
        assert_eq!(expired(&mut c), before, "{name}: expired while paused");
        let _ = q(&mut c, &["CLIENT", "UNPAUSE"]);
        let _ = q(&mut c, &["GET", "foo"]);
        let _ = q(&mut c, &["GET", "bar"]);
        assert_eq!(expired(&mut c), before + 2, "{name}: after UNPAUSE");
    }
}

/// Nothing is evicted while clients are paused either (Redis's isSafeToPerformEvictions):
/// memory over a lowered maxmemory stays until UNPAUSE, and the first command after it
/// evicts. Checked on rubra and on redis-server.
#[test]
fn nothing_is_evicted_while_clients_are_paused() {
    let rubra = TestServer::start(&[]);
    let redis = reference::Reference::start();
    for (name, port) in [("rubra", rubra.port), ("redis", redis.port)] {
        let evicted = || -> String {
            cli_at(port, &["INFO", "stats"])
                .lines()
                .find_map(|l| l.strip_prefix("evicted_keys:"))
                .map(|v| v.trim().to_string())
                .expect("evicted_keys")
        };
        cli_at(port, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
        cli_at(port, &["SET", "foo", "bar"]);
        cli_at(port, &["CLIENT", "PAUSE", "50000", "WRITE"]);
        cli_at(port, &["CONFIG", "SET", "maxmemory", "1"]);
        // Long enough for several cron ticks (Redis's eviction time event).
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(
            cli_at(port, &["DBSIZE"]),
            "1",
            "{name}: evicted while paused"
        );
        assert_eq!(evicted(), "0", "{name}");
        cli_at(port, &["CLIENT", "UNPAUSE"]);
        cli_at(port, &["GET", "foo"]);
        assert_eq!(evicted(), "1", "{name}: after UNPAUSE");
        cli_at(port, &["CONFIG", "SET", "maxmemory", "0"]);
    }
}

/// Connections idle for over 2 s give their buffers back, as Redis's clientsCron frees
/// idle query buffers: CLIENT LIST shows qbuf=0 qbuf-free=0 for them, used_memory falls by
/// more than 16 KB per connection, a request cut short survives, and the connections serve
/// requests (larger than a first read) as before.
#[test]
fn idle_clients_release_their_buffers() {
    const N: usize = 100;
    let s = TestServer::start(&[]);
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|i| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
            c.write_all(format!("CLIENT SETNAME idle{i}\r\n").as_bytes())
                .unwrap();
            let mut buf = [0u8; 5];
            c.read_exact(&mut buf).expect("+OK");
            c
        })
        .collect();
    // One of them is left holding half a request.
    conns[0]
        .write_all(b"*2\r\n$4\r\nECHO\r\n$5\r\nhel")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let used = |s: &TestServer| -> i64 {
        info_field(s, "memory", "used_memory")
            .parse()
            .expect("used_memory")
    };
    let before = used(&s);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = s.cli(&["CLIENT", "LIST"]);
        let idle: Vec<&str> = list.lines().filter(|l| l.contains(" name=idle")).collect();
        assert_eq!(idle.len(), N, "{list}");
        let released = idle.iter().filter(|l| l.contains(" qbuf-free=0 ")).count();
        if released == N {
            assert!(idle.iter().any(|l| l.contains(" qbuf=21 ")), "{list}");
            break;
        }
        assert!(Instant::now() < deadline, "idle buffers kept:\n{list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = used(&s);
    assert!(
        before - after > (N * 16 * 1024) as i64,
        "used_memory {before} -> {after}"
    );
    conns[0].write_all(b"lo\r\n").unwrap();
    let mut buf = [0u8; 11];
    conns[0].read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"$5\r\nhello\r\n");
    let value = "v".repeat(20_000);
    let set = format!(
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{value}\r\n",
        value.len()
    );
    conns[1].write_all(set.as_bytes()).unwrap();
    let mut ok = [0u8; 5];
    conns[1].read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
    conns[2].write_all(b"STRLEN k\r\n").unwrap();
    let mut len = [0u8; 8];
    conns[2].read_exact(&mut len).unwrap();
    assert_eq!(&len, b":20000\r\n");
}

/// A client that streamed (its reads grew to 256 KiB) and then keeps sending small
/// requests, never idle for 2 s, gives the grown buffer back once its reads are small
/// again; it kept it for as long as it stayed busy.
#[test]
fn a_busy_client_gives_back_the_buffer_a_stream_grew() {
    let s = TestServer::start(&[]);
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // 20 MB of 1 KB values: the socket always holds more than a read takes.
    const SETS: usize = 20_000;
    let value = "v".repeat(1000);
    let mut stream = Vec::new();
    for i in 0..SETS {
        stream.extend_from_slice(format!("SET key:{i} {value}\r\n").as_bytes());
    }
    stream.extend_from_slice(b"CLIENT INFO\r\n");
    let mut writer = c.try_clone().unwrap();
    let sent = std::thread::spawn(move || writer.write_all(&stream));
    let mut reader = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    for _ in 0..SETS {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "+OK\r\n");
    }
    sent.join().unwrap().unwrap();
    let client_info = |r: &mut BufReader<TcpStream>| -> usize {
        let mut head = String::new();
        r.read_line(&mut head).unwrap();
        let len: usize = head.trim_start_matches('$').trim().parse().expect("bulk");
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body).unwrap();
        let text = String::from_utf8(body).unwrap();
        text.split(' ')
            .find_map(|f| f.strip_prefix("qbuf-free="))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no qbuf-free: {text}"))
    };
    let streaming = client_info(&mut reader);
    assert!(
        streaming > 64 * 1024,
        "the stream's reads did not grow: {streaming}"
    );
    let mut after = streaming;
    for _ in 0..8 {
        c.write_all(b"CLIENT INFO\r\n").unwrap();
        after = client_info(&mut reader);
    }
    assert!(after <= 32 * 1024, "qbuf-free {streaming} -> {after}");
}

/// CLIENT KILL: ID, ADDR, USER, TYPE and SKIPME pick exactly the matching clients; the old
/// `ip:port` form answers OK / "No such client".
#[test]
fn client_kill_filters_pick_the_right_clients() {
    let s = TestServer::start(&[]);
    let mut admin = s.conn();
    let mut a = s.conn();
    let mut b = s.conn();
    let mut sub = s.conn();
    let _ = q(&mut sub, &["SUBSCRIBE", "ch"]);
    let id_of = |c: &mut redis::Connection| match q(c, &["CLIENT", "ID"]) {
        Value::Int(n) => n.to_string(),
        other => panic!("{other:?}"),
    };
    let a_id = id_of(&mut a);
    let b_id = id_of(&mut b);
    let b_addr = s
        .cli(&["CLIENT", "LIST", "ID", &b_id])
        .split(' ')
        .find_map(|f| f.strip_prefix("addr=").map(str::to_string))
        .expect("addr");
    assert_eq!(
        q(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut admin, &["CLIENT", "KILL", "ID", &a_id]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut admin, &["CLIENT", "KILL", &b_addr]),
        Value::Okay,
        "old form"
    );
    assert!(common::q_err(&mut admin, &["CLIENT", "KILL", &b_addr]).contains("No such client"));
    // Only the caller is left: USER default skips it unless SKIPME no.
    assert_eq!(
        q(&mut admin, &["CLIENT", "KILL", "USER", "default"]),
        Value::Int(0)
    );
    let left = s.cli(&["CLIENT", "LIST"]);
    assert_eq!(left.lines().count(), 2, "{left}");
}

/// A blocked command counts as one call in INFO commandstats, whether served or not.
#[test]
fn blocked_command_counts_one_call() {
    let s = TestServer::start(&[]);
    let waiter = blocked(&s, &["BLPOP", "q", "0"]);
    wait_blocked(&s, 1);
    let mut c = s.conn();
    let _ = q(&mut c, &["RPUSH", "q", "x"]);
    let _ = waiter.join();
    let stats = s.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_blpop:calls=1,"), "{stats}");
    let hist = s.cli(&["LATENCY", "HISTOGRAM", "blpop"]);
    assert!(hist.contains("calls\n1"), "{hist}");
}

/// The active expiry pass is a latency event of its own (`expire-cycle`), as in Redis: a
/// 300k-member set expiring in the background takes milliseconds to free.
#[test]
fn latency_monitor_records_a_slow_expire_cycle() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let _ = q(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let fill = "for i = 1, 300000 do redis.call('SADD', KEYS[1], i) end";
    let _ = q(&mut c, &["EVAL", fill, "1", "big"]);
    let _ = q(&mut c, &["PEXPIRE", "big", "20"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    // DBSIZE does not look the key up: only the active expiry can remove it.
    while q(&mut c, &["DBSIZE"]) != Value::Int(0) {
        assert!(Instant::now() < deadline, "the key never expired");
        std::thread::sleep(Duration::from_millis(20));
    }
    let latest = s.cli(&["LATENCY", "LATEST"]);
    assert!(latest.contains("expire-cycle"), "{latest}");
}

/// FAILOVER's replica-side and target checks, with a real replica attached.
#[test]
fn failover_checks_with_a_replica() {
    let primary = TestServer::start(&[]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    let _ = q(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&primary, "replication", "connected_slaves") != "1" {
        assert!(Instant::now() < deadline, "the replica never attached");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        common::q_err(&mut r, &["FAILOVER"]),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        common::q_err(&mut p, &["FAILOVER", "TO", "127.0.0.1", "1"]),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    assert_eq!(
        common::q_err(&mut p, &["FAILOVER", "FORCE", "TIMEOUT", "100"]),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
}

/// The binary's utility options behave as redis-server's: `-v`, `-h`/`--help` (usage on
/// stderr, exit 1), `--test-memory` without and with a size, `--check-system`, and `-`
/// reading directives from stdin. (Before: `--help` was "FATAL CONFIG FILE ERROR".)
#[test]
fn command_line_utility_options() {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_rubra-server");
    let out = Command::new(bin).arg("-v").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Redis server v=7.0.15 "));

    // The usage text is redis-server's, with our binary's name and no Sentinel mode.
    let ours = Command::new(bin).arg("--help").output().expect("run");
    assert_eq!(ours.status.code(), Some(1));
    let theirs = Command::new("redis-server")
        .arg("-h")
        .output()
        .expect("redis-server");
    let theirs = String::from_utf8_lossy(&theirs.stderr).replace("redis-server", "rubra-server");
    let theirs_head = theirs.split("\nSentinel mode:").next().unwrap_or_default();
    let ours_text = String::from_utf8_lossy(&ours.stderr).into_owned();
    assert!(ours_text.starts_with(theirs_head), "{ours_text}");
    let short = Command::new(bin).arg("-h").output().expect("run");
    assert_eq!(short.stderr, ours.stderr);

    let out = Command::new(bin)
        .arg("--test-memory")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("Please specify the amount of memory to test in megabytes."));
    let out = Command::new(bin)
        .args(["--test-memory", "1"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Your memory passed this test."));

    // Same checks, same verdicts on the same machine (the clock-speed one is timing
    // dependent, so only its name is compared).
    let ours = Command::new(bin)
        .arg("--check-system")
        .output()
        .expect("run");
    let theirs = Command::new("redis-server")
        .arg("--check-system")
        .output()
        .expect("redis-server");
    let verdicts = |o: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(o)
            .lines()
            .filter(|l| l.starts_with('['))
            .map(|l| {
                if l.starts_with("[slow-clocksource]") {
                    "[slow-clocksource]".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    assert_eq!(verdicts(&ours.stdout), verdicts(&theirs.stdout));

    // `-`: directives from stdin, then the command line's options win.
    let port = common::free_port();
    let dir = std::env::temp_dir().join(format!("rubra-stdin-{}-{port}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut child = Command::new(bin)
        .args(["-", "--maxmemory", "5mb", "--save", ""])
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("port {port}\nmaxmemory 3mb\nbind 127.0.0.1\n").as_bytes())
            .expect("stdin");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let conn = loop {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            break c;
        }
        assert!(Instant::now() < deadline, "no server on the stdin port");
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(conn);
    let maxmemory = common::cli_at(port, &["CONFIG", "GET", "maxmemory"]);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(maxmemory, "maxmemory\n5242880");
}

/// FAILOVER hands the primary role to its replica: the replica becomes a primary with the
/// data, the old primary follows it, writes sent during the handover wait and then get
/// READONLY, and new writes on the new primary reach the old one. (Before: unknown command.)
#[test]
fn failover_hands_over_to_the_replica() {
    let primary = TestServer::start(&[]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&[]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    let _ = q(&mut p, &["SET", "k", "v"]);
    let _ = q(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    let wait_for = |s: &TestServer, field: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while info_field(s, "replication", field) != want {
            assert!(
                Instant::now() < deadline,
                "{field} never became {want}: {}",
                s.cli(&["INFO", "replication"])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(&primary, "connected_slaves", "1");
    wait_for(&replica, "master_link_status", "up");
    let replica_port = replica.port.to_string();
    assert_eq!(
        q(
            &mut p,
            &[
                "FAILOVER",
                "TO",
                "127.0.0.1",
                &replica_port,
                "TIMEOUT",
                "10000"
            ]
        ),
        Value::Okay
    );
    assert_eq!(
        common::q_err(&mut p, &["FAILOVER"]),
        "ERR FAILOVER already in progress."
    );
    wait_for(&replica, "role", "master");
    wait_for(&primary, "role", "slave");
    wait_for(&primary, "master_port", &replica_port);
    wait_for(&primary, "master_link_status", "up");
    assert_eq!(
        info_field(&primary, "replication", "master_failover_state"),
        "no-failover"
    );
    assert_eq!(text(&q(&mut r, &["GET", "k"])), "v");
    assert_eq!(q(&mut r, &["SET", "k2", "after"]), Value::Okay);
    let deadline = Instant::now() + Duration::from_secs(10);
    while text(&q(&mut p, &["GET", "k2"])) != "after" {
        assert!(Instant::now() < deadline, "the old primary never got k2");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(common::q_err(&mut p, &["SET", "x", "1"]).starts_with("READONLY"));
}

/// A FAILOVER whose replica cannot catch up gives up at its TIMEOUT: the primary stays a
/// primary and held writes go through. FAILOVER ABORT ends one at once.
#[test]
fn failover_times_out_or_aborts_when_the_replica_lags() {
    let primary = TestServer::start(&[]);
    let port = primary.port.to_string();
    let replica = TestServer::start(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    let _ = q(&mut r, &["REPLICAOF", "127.0.0.1", &port]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while info_field(&primary, "replication", "connected_slaves") != "1" {
        assert!(Instant::now() < deadline, "the replica never attached");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A stopped replica acknowledges nothing more.
    let pid = replica.pid().to_string();
    let stop = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status();
    assert!(stop.is_ok_and(|s| s.success()));
    let _ = q(&mut p, &["SET", "unacked", "1"]);
    assert_eq!(q(&mut p, &["FAILOVER", "TIMEOUT", "300"]), Value::Okay);
    assert_eq!(
        info_field(&primary, "replication", "master_failover_state"),
        "waiting-for-sync"
    );
    let started = Instant::now();
    let writer = common::blocking::blocked(&primary, &["SET", "held", "1"]);
    let (reply, _) = writer.join().expect("writer");
    assert_eq!(reply, Value::Okay);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(info_field(&primary, "replication", "role"), "master");
    assert_eq!(
        info_field(&primary, "replication", "master_failover_state"),
        "no-failover"
    );
    assert_eq!(q(&mut p, &["FAILOVER"]), Value::Okay);
    assert_eq!(q(&mut p, &["FAILOVER", "ABORT"]), Value::Okay);
    assert_eq!(q(&mut p, &["SET", "free", "1"]), Value::Okay);
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
}

//! INFO, CONFIG, CLIENT, COMMAND, DEBUG, TIME and the connection limits, with real clients.

mod common;
use common::*;
use redis::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

#[test]
fn info_has_redis_sections_and_fields() {
    let s = TestServer::start(&[]);
    let info = s.cli(&["info"]);
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(info.contains(section), "missing {section}");
    }
    for field in [
        "redis_version",
        "tcp_port",
        "uptime_in_seconds",
        "connected_clients",
        "used_memory",
        "used_memory_rss",
        "maxmemory_policy",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "keyspace_hits",
        "role",
        "used_cpu_sys",
        "used_cpu_user",
    ] {
        assert!(info_field(&info, field).is_some(), "missing field {field}");
    }
    assert_eq!(info_field(&info, "tcp_port").unwrap(), s.port.to_string());
    let used: u64 = info_field(&info, "used_memory").unwrap().parse().unwrap();
    assert!(
        used > 100_000,
        "used_memory must count real allocations: {used}"
    );
    let only_cpu = s.cli(&["info", "cpu"]);
    assert!(only_cpu.starts_with("# CPU"));
    assert!(!only_cpu.contains("# Server"));
}

#[test]
fn config_get_set_and_errors() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(s.cli(&["config", "set", "maxmemory", "10mb"]), "OK");
    assert_eq!(
        s.cli(&["config", "get", "maxmemory"]),
        "maxmemory\n10485760"
    );
    assert_eq!(
        q(&mut c, &["CONFIG", "GET", "maxmemory-policy", "hz"]),
        Value::Array(vec![
            Value::BulkString(b"maxmemory-policy".to_vec()),
            Value::BulkString(b"noeviction".to_vec()),
            Value::BulkString(b"hz".to_vec()),
            Value::BulkString(b"10".to_vec()),
        ])
    );
    assert_eq!(
        q_err(&mut c, &["CONFIG", "SET", "nosuch", "1"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    let e = q_err(&mut c, &["CONFIG", "SET", "maxmemory-policy", "bogus"]);
    assert!(
        e.starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')"),
        "{e}"
    );
    // Atomic: a bad pair leaves the good one unapplied.
    let _ = q_err(&mut c, &["CONFIG", "SET", "hz", "20", "maxmemory", "lots"]);
    assert_eq!(s.cli(&["config", "get", "hz"]), "hz\n10");
    assert_eq!(
        q_err(&mut c, &["CONFIG", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try CONFIG HELP."
    );
}

#[test]
fn client_commands() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["CLIENT", "SETNAME", "worker-1"]), Value::Okay);
    assert_eq!(
        q(&mut c, &["CLIENT", "GETNAME"]),
        Value::BulkString(b"worker-1".to_vec())
    );
    assert_eq!(
        q_err(&mut c, &["CLIENT", "SETNAME", "bad name"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    let id = match q(&mut c, &["CLIENT", "ID"]) {
        Value::Int(n) => n,
        v => panic!("{v:?}"),
    };
    let list = s.cli(&["client", "list"]);
    assert!(list.contains(&format!("id={id} ")), "{list}");
    assert!(list.contains("name=worker-1"), "{list}");
    assert_eq!(q(&mut c, &["CLIENT", "NO-EVICT", "on"]), Value::Okay);
    // Kill the named client from redis-cli; its next command fails.
    assert_eq!(s.cli(&["client", "kill", "id", &id.to_string()]), "1");
    // The kill may close the socket after its reply: poll until the connection fails.
    common::cluster::wait_for(Duration::from_secs(10), || {
        redis::cmd("PING").query::<String>(&mut c).is_err()
    });
    assert!(redis::cmd("PING").query::<String>(&mut c).is_err());
    assert_eq!(s.cli(&["client", "kill", "id", "999999"]), "0");
}

#[test]
fn command_table_introspection() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    match q(&mut c, &["COMMAND", "COUNT"]) {
        Value::Int(n) => assert!(n > 40, "{n}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(s.cli(&["command", "getkeys", "del", "a", "b"]), "a\nb");
    match q(&mut c, &["COMMAND", "INFO", "expire"]) {
        Value::Array(items) => match &items[0] {
            Value::Array(info) => {
                assert_eq!(info[0], Value::BulkString(b"expire".to_vec()));
                assert_eq!(info[1], Value::Int(-3));
                assert_eq!(info[3], Value::Int(1));
            }
            v => panic!("{v:?}"),
        },
        v => panic!("{v:?}"),
    }
    // As redis-server 7.0: COMMAND GETKEYS has arity -3, checked before the handler.
    assert_eq!(
        q_err(&mut c, &["COMMAND", "GETKEYS", "ping"]),
        "ERR wrong number of arguments for 'command|getkeys' command"
    );
    assert_eq!(
        q_err(&mut c, &["COMMAND", "GETKEYS", "ping", "x"]),
        "ERR The command has no key arguments"
    );
}

#[test]
fn time_lastsave_debug_sleep() {
    // DEBUG is protected as in Redis: refused by default, allowed from loopback with `local`.
    let closed = TestServer::start(&[]);
    assert!(q_err(&mut closed.conn(), &["DEBUG", "SLEEP", "0"])
        .starts_with("ERR DEBUG command not allowed. If the enable-debug-command option"));
    let s = TestServer::start(&["--enable-debug-command", "local"]);
    let mut c = s.conn();
    let t: Vec<String> = redis::cmd("TIME").query(&mut c).unwrap();
    let secs: u64 = t[0].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2);
    let start = Instant::now();
    assert_eq!(q(&mut c, &["DEBUG", "SLEEP", "0.2"]), Value::Okay);
    assert!(start.elapsed() >= Duration::from_millis(190));
    assert!(matches!(q(&mut c, &["LASTSAVE"]), Value::Int(_)));
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = TestServer::start(&["--maxclients", "2"]);
    let mut a = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let mut b = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    a.write_all(b"PING\r\n").unwrap();
    b.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = a.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    let n = b.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    let out = s.raw(b"PING\r\n", Duration::from_millis(500));
    assert_eq!(out, b"-ERR max number of clients reached\r\n");
}

#[test]
fn query_buffer_limit_closes_the_connection() {
    let mut s = TestServer::start(&["--client-query-buffer-limit", "1mb"]);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    conn.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n")
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..64 {
        if conn.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 16];
        closed = matches!(conn.read(&mut buf), Ok(0) | Err(_));
    }
    assert!(
        closed,
        "the server must drop a client whose query buffer passes the limit"
    );
    assert!(s.alive());
    assert_eq!(s.cli(&["ping"]), "PONG");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = TestServer::start(&["--timeout", "1"]);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let n = c.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server closes the idle connection");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

//! Connection, protocol, transactions and pub/sub, with real clients.

mod common;
use common::*;
use redis::Value;
use std::time::Duration;

#[test]
fn ping_echo_and_unknown_commands() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(
        q(&mut c, &["ECHO", "hi"]),
        Value::BulkString(b"hi".to_vec())
    );
    assert_eq!(
        q_err(&mut c, &["NOPE", "a"]),
        "ERR unknown command 'NOPE', with args beginning with: 'a' "
    );
    assert_eq!(
        q_err(&mut c, &["ECHO"]),
        "ERR wrong number of arguments for 'echo' command"
    );
    assert_eq!(s.cli(&["ping"]), "PONG");
}

#[test]
fn pipelining_thousands_of_commands_in_one_write() {
    let s = TestServer::start(&[]);
    let mut req = Vec::new();
    for _ in 0..5000 {
        req.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    }
    req.extend_from_slice(b"PING\r\n");
    let out = s.raw(&req, Duration::from_millis(1500));
    assert_eq!(out, b"+PONG\r\n".repeat(5001));
}

#[test]
fn malformed_frames_get_protocol_error_and_close() {
    let mut s = TestServer::start(&[]);
    let out = s.raw(b"*1\r\n$x\r\n", Duration::from_secs(2));
    assert_eq!(out, b"-ERR Protocol error: invalid bulk length\r\n");
    let out = s.raw(b"*2\r\n:1\r\n", Duration::from_secs(2));
    assert_eq!(out, b"-ERR Protocol error: expected '$', got ':'\r\n");
    let out = s.raw(b"SET \"unbalanced\r\n", Duration::from_secs(2));
    assert_eq!(
        out,
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert!(s.alive());
}

#[test]
fn bulk_larger_than_proto_max_bulk_len_is_refused() {
    let s = TestServer::start(&["--proto-max-bulk-len", "1mb"]);
    let out = s.raw(
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n",
        Duration::from_secs(2),
    );
    assert_eq!(out, b"-ERR Protocol error: invalid bulk length\r\n");
}

#[test]
fn hello_switches_protocol() {
    let s = TestServer::start(&[]);
    let out = s.raw(b"HELLO 3\r\nHELLO 4\r\n", Duration::from_millis(500));
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("%7\r\n$6\r\nserver\r\n"), "{text}");
    assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
    assert!(
        text.ends_with("-NOPROTO unsupported protocol version\r\n"),
        "{text}"
    );
}

#[test]
fn requirepass_auth_and_hello_auth() {
    let s = TestServer::start(&["--requirepass", "s3cret"]);
    assert_eq!(s.cli(&["ping"]), "NOAUTH Authentication required.");
    assert_eq!(
        s.cli(&["--no-auth-warning", "-a", "s3cret", "ping"]),
        "PONG"
    );
    assert!(
        s.cli(&["--no-auth-warning", "-a", "wrong", "ping"])
            .contains("AUTH failed")
            || s.cli(&["--no-auth-warning", "-a", "wrong", "ping"])
                .contains("NOAUTH")
    );
    let out = s.raw(
        b"AUTH nope\r\nHELLO 3 AUTH default s3cret\r\nPING\r\n",
        Duration::from_millis(500),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with(
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n%7\r\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("+PONG\r\n"), "{text}");
}

#[test]
fn multi_exec_discard_and_execabort() {
    let s = TestServer::start(&[]);
    let out = s.raw(
        b"MULTI\r\nPING\r\nECHO x\r\nEXEC\r\nMULTI\r\nECHO\r\nPING\r\nEXEC\r\nEXEC\r\nDISCARD\r\nMULTI\r\nMULTI\r\nDISCARD\r\n",
        Duration::from_millis(500),
    );
    let text = String::from_utf8_lossy(&out);
    let expected = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+PONG\r\n$1\r\nx\r\n\
+OK\r\n-ERR wrong number of arguments for 'echo' command\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n\
-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n";
    assert_eq!(text, expected);
}

#[test]
fn pubsub_delivers_to_channels_and_patterns() {
    let s = TestServer::start(&[]);
    let client = redis::Client::open(s.url()).unwrap();
    let mut sub_conn = client.get_connection().unwrap();
    let mut pubsub = sub_conn.as_pubsub();
    pubsub.subscribe("news").unwrap();
    pubsub.psubscribe("n*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut c = s.conn();
    assert_eq!(q(&mut c, &["PUBLISH", "news", "hello"]), Value::Int(2));
    let mut got = Vec::new();
    for _ in 0..2 {
        let msg = pubsub.get_message().unwrap();
        got.push((
            msg.get_channel_name().to_string(),
            msg.get_payload::<String>().unwrap(),
            msg.from_pattern(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("news".into(), "hello".into(), false),
            ("news".into(), "hello".into(), true)
        ]
    );
    assert_eq!(
        q(&mut c, &["PUBSUB", "NUMSUB", "news", "other"]),
        Value::Array(vec![
            Value::BulkString(b"news".to_vec()),
            Value::Int(1),
            Value::BulkString(b"other".to_vec()),
            Value::Int(0)
        ])
    );
    assert_eq!(q(&mut c, &["PUBSUB", "NUMPAT"]), Value::Int(1));
    assert_eq!(
        q(&mut c, &["PUBSUB", "CHANNELS"]),
        Value::Array(vec![Value::BulkString(b"news".to_vec())])
    );
}

#[test]
fn subscribed_resp2_client_is_restricted() {
    let s = TestServer::start(&[]);
    let out = s.raw(
        b"SUBSCRIBE a\r\nECHO x\r\nPING\r\nUNSUBSCRIBE\r\nECHO y\r\n",
        Duration::from_millis(500),
    );
    let text = String::from_utf8_lossy(&out);
    let expected = "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
-ERR Can't execute 'echo': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n\
*2\r\n$4\r\npong\r\n$0\r\n\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n$1\r\ny\r\n";
    assert_eq!(text, expected);
}

#[test]
fn slow_subscriber_is_disconnected_by_output_limit() {
    let s = TestServer::start(&["--client-output-buffer-limit", "pubsub 64kb 0 0"]);
    // A subscriber that never reads.
    use std::io::Write;
    let mut sub = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    sub.write_all(b"SUBSCRIBE flood\r\n").unwrap();
    let mut c = s.conn();
    // The first PUBLISH must find the subscriber: poll NUMSUB (a fixed sleep could end
    // before the server read SUBSCRIBE, and the first PUBLISH would then count 0).
    let subscribed = Value::Array(vec![Value::BulkString(b"flood".to_vec()), Value::Int(1)]);
    common::cluster::wait_for(Duration::from_secs(20), || {
        q(&mut c, &["PUBSUB", "NUMSUB", "flood"]) == subscribed
    });
    let payload = "x".repeat(16 * 1024);
    // The kernel's socket buffers absorb a few MB first; after that the subscriber's queue
    // grows until it passes the 64kb hard limit and the server drops it.
    let mut receivers = Vec::new();
    for _ in 0..5000 {
        match q(&mut c, &["PUBLISH", "flood", &payload]) {
            Value::Int(n) => receivers.push(n),
            other => panic!("{other:?}"),
        }
        if receivers.last() == Some(&0) {
            break;
        }
    }
    assert_eq!(receivers.first(), Some(&1));
    assert_eq!(
        receivers.last(),
        Some(&0),
        "the slow subscriber must have been dropped"
    );
    assert_eq!(
        q(&mut c, &["PUBSUB", "NUMSUB", "flood"]),
        Value::Array(vec![Value::BulkString(b"flood".to_vec()), Value::Int(0)])
    );
    assert_eq!(q(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
}

/// What a client sees of a server (`bin`) through its `unixsocket` listener (redis-cli -s):
/// commands served, the socket's mode from `unixsocketperm`, and CLIENT INFO's addr,
/// laddr and flags (the path shown as PATH).
fn unix_socket_facts(bin: &std::path::Path, tag: &str) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("rubra-unix-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("s.sock").display().to_string();
    let server = TestServer::start_bin(bin, &["--unixsocket", &path, "--unixsocketperm", "700"]);
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .arg("-s")
            .arg(&path)
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .replace(&path, "PATH")
    };
    let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
    let info = cli(&["CLIENT", "INFO"]);
    let field = |name: &str| {
        info.split(' ')
            .find(|f| f.starts_with(name))
            .unwrap_or("")
            .to_string()
    };
    let mut facts = vec![
        cli(&["SET", "k", "v"]),
        cli(&["GET", "k"]),
        match mode {
            Ok(m) => format!("mode {m:o}"),
            Err(e) => format!("no socket file: {e}"),
        },
        field("addr="),
        field("laddr="),
        field("flags="),
    ];
    // SHUTDOWN removes the socket file.
    cli(&["SHUTDOWN", "NOSAVE"]);
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !std::path::Path::new(&path).exists()
    });
    facts.push(format!("socket removed at shutdown: {gone}"));
    drop(server);
    facts
}

/// `unixsocket` / `unixsocketperm`: rubra accepted them and listened on nothing, so
/// redis-cli -s, redis-benchmark -s and local applications using the socket could not
/// connect. The same facts as redis-server 7.0.
#[test]
fn unix_socket_clients_are_served_as_by_redis() {
    let ours = unix_socket_facts(&rubra_bin(), "rubra");
    let theirs = unix_socket_facts(std::path::Path::new("redis-server"), "redis");
    assert_eq!(
        theirs[0], "OK",
        "redis-server over its unix socket: {theirs:?}"
    );
    assert_eq!(ours, theirs);
}

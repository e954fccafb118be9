//! The replica side of the replication stream against a scripted primary: a real
//! rubra-server replicates from a socket this test drives byte by byte, so the stream can be
//! cut where a real primary's writes happen to be cut by the network.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Reads one RESP array of bulk strings (what a replica sends during the handshake).
fn read_command(r: &mut BufReader<TcpStream>) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).expect("read header");
    let n: usize = line
        .trim_end()
        .strip_prefix('*')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected an array, got {line:?}"));
    (0..n)
        .map(|_| {
            line.clear();
            r.read_line(&mut line).expect("read bulk header");
            let len: usize = line.trim_end()[1..].parse().expect("bulk length");
            let mut b = vec![0; len + 2];
            r.read_exact(&mut b).expect("read bulk");
            String::from_utf8_lossy(&b[..len]).into_owned()
        })
        .collect()
}

/// An empty RDB file, as rubra-server itself writes one.
fn empty_rdb() -> Vec<u8> {
    let s = TestServer::start(&[]);
    assert_eq!(s.cli(&["SAVE"]), "OK");
    std::fs::read(s.dir.join("dump.rdb")).expect("dump.rdb")
}

fn info_field(s: &TestServer, field: &str) -> String {
    s.cli(&["INFO", "replication"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
        .unwrap_or_default()
}

/// A MULTI ... EXEC from the primary that arrives in two reads is applied whole once EXEC
/// arrives, and the replica's offset does not count the transaction until then (Redis
/// advances a replica's offset only outside MULTI), so a link lost inside it resumes from
/// the MULTI. The replica used to forget the open transaction between reads: the commands
/// before the cut were dropped and the ones after it ran outside the transaction.
#[test]
fn a_transaction_split_across_reads_is_applied_whole() {
    let rdb = empty_rdb();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let replica = TestServer::start(&[]);
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &port]), "OK");
    let (sock, _) = listener.accept().expect("the replica connects");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut w = sock.try_clone().expect("clone");
    let mut r = BufReader::new(sock);
    loop {
        let cmd = read_command(&mut r);
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => w.write_all(b"+PONG\r\n").expect("write"),
            "PSYNC" | "SYNC" => break,
            _ => w.write_all(b"+OK\r\n").expect("write"),
        }
    }
    let replid = "0123456789abcdef0123456789abcdef01234567";
    w.write_all(format!("+FULLRESYNC {replid} 0\r\n${}\r\n", rdb.len()).as_bytes())
        .expect("write");
    w.write_all(&rdb).expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    while info_field(&replica, "master_link_status") != "up" {
        assert!(Instant::now() < deadline, "the link never came up");
        std::thread::sleep(Duration::from_millis(20));
    }

    let first = [
        encode(&["SELECT", "0"]),
        encode(&["SET", "plain", "1"]),
        encode(&["MULTI"]),
        encode(&["SET", "before-cut", "1"]),
        encode(&["INCR", "counter"]),
    ]
    .concat();
    w.write_all(&first).expect("write");
    w.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(10);
    while replica.cli(&["GET", "plain"]) != "1" {
        assert!(
            Instant::now() < deadline,
            "the command before MULTI was not applied"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let applied = encode(&["SELECT", "0"]).len() + encode(&["SET", "plain", "1"]).len();
    // Give the replica time to (wrongly) apply the first half before the rest arrives.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        replica.cli(&["EXISTS", "before-cut"]),
        "0",
        "applied before EXEC"
    );
    assert_eq!(
        info_field(&replica, "master_repl_offset"),
        applied.to_string(),
        "the offset counts an open transaction"
    );

    let second = [encode(&["SET", "after-cut", "1"]), encode(&["EXEC"])].concat();
    w.write_all(&second).expect("write");
    w.flush().expect("flush");
    let deadline = Instant::now() + Duration::from_secs(10);
    while replica.cli(&["GET", "after-cut"]) != "1" {
        assert!(Instant::now() < deadline, "the transaction was not applied");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        replica.cli(&["GET", "before-cut"]),
        "1",
        "lost before the cut"
    );
    assert_eq!(replica.cli(&["GET", "counter"]), "1");
    assert_eq!(
        info_field(&replica, "master_repl_offset"),
        (first.len() + second.len()).to_string(),
        "the offset after EXEC"
    );
}

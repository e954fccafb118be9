//! Differential testing against Debian's redis-server 7.0: the same script runs on a fresh
//! rubra-server and a fresh redis-server, and every reply must be byte-identical on the
//! wire. Redis's behaviour is our spec, so the reference is the real thing, not our memory
//! of it. (.ci/run installs redis-server.)
#![allow(dead_code)]

use crate::common::{free_port, TestServer};
use rubra_resp::parse_frame;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server process on a free loopback port, killed when dropped.
pub(crate) struct Reference {
    pub port: u16,
    child: Child,
    dir: std::path::PathBuf,
}

impl Reference {
    /// Starts redis-server without persistence. Panics if it is not installed.
    pub(crate) fn start() -> Reference {
        Reference::start_with(&[])
    }

    /// Starts redis-server in its own temporary directory with extra arguments (which
    /// override the defaults: no saving, no AOF).
    pub(crate) fn start_with(extra: &[&str]) -> Reference {
        // A cluster node also binds port + 10000, and redis-server 7.0 exits at start on a
        // port above 55535; free_port() hands out ephemeral ports up to 60999 here, so about
        // one cluster start in five failed. free_cluster_port() keeps both ports in range.
        let cluster = extra
            .windows(2)
            .any(|w| w[0] == "--cluster-enabled" && w[1] == "yes");
        for _ in 0..5 {
            let port = if cluster {
                crate::common::free_cluster_port()
            } else {
                free_port()
            };
            let dir = std::env::temp_dir().join(format!("rubra-ref-{}-{port}", std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            if let Some(r) = Reference::try_start_in(port, dir, extra) {
                return r;
            }
        }
        panic!("redis-server: on every port tried it exited or another process answered");
    }

    /// Starts redis-server on a copy of an RDB file (as its dump.rdb).
    pub(crate) fn start_from_rdb(rdb: &std::path::Path) -> Reference {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("rubra-ref-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        std::fs::copy(rdb, dir.join("dump.rdb")).expect("copy the RDB file");
        Reference::start_in(port, dir, &[])
    }

    /// The directory holding this server's files.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn start_in(port: u16, dir: std::path::PathBuf, extra: &[&str]) -> Reference {
        Reference::try_start_in(port, dir, extra)
            .unwrap_or_else(|| panic!("port {port} belongs to another process"))
    }

    /// Starts redis-server on `port`; None (and ours stopped) if another process answers
    /// there: ours failed to bind a port another test process picked too.
    fn try_start_in(port: u16, dir: std::path::PathBuf, extra: &[&str]) -> Option<Reference> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install -y redis-server)");
        let mut r = Reference { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(conn) = TcpStream::connect(("127.0.0.1", port)) {
                // Another test process may own the port if ours failed to bind it.
                match crate::common::answering_pid(conn) {
                    Some(pid) if pid != r.child.id() => return None,
                    Some(_) => {}
                    // No pid in the answer (a password, or a listener going away): ours
                    // must still be running, or the port was someone else's.
                    None => {
                        std::thread::sleep(Duration::from_millis(100));
                        if !matches!(r.child.try_wait(), Ok(None)) {
                            return None;
                        }
                        return Some(r);
                    }
                }
                break;
            }
            // Exited without listening (the port was taken, or refused): try another one.
            if !matches!(r.child.try_wait(), Ok(None)) {
                return None;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(r)
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw RESP connection that returns each reply's exact bytes.
pub(crate) struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub(crate) fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one command (a redis-cli style line, quotes allowed) and returns the reply.
    pub(crate) fn call(&mut self, line: &str) -> Vec<u8> {
        self.send(line);
        self.read_reply()
    }

    /// Sends `line` as an inline command (the bytes as they are, then CRLF) and returns
    /// the reply: how the server itself splits the line is what is compared.
    pub(crate) fn call_inline(&mut self, line: &str) -> Vec<u8> {
        let mut out = line.as_bytes().to_vec();
        out.extend_from_slice(b"\r\n");
        self.stream.write_all(&out).expect("write");
        self.read_reply()
    }

    /// Sends one command without waiting for its reply (for blocking commands).
    pub(crate) fn send(&mut self, line: &str) {
        let args = rubra_resp::split_args(line.as_bytes()).expect("bad quoting in script");
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in &args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).expect("write");
    }

    /// Reads one complete reply frame.
    pub(crate) fn read_reply(&mut self) -> Vec<u8> {
        loop {
            if let Some((_, used)) = parse_frame(&self.buf, usize::MAX).expect("bad frame") {
                return self.buf.drain(..used).collect();
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One line of a differential script, trimmed: None for a blank line or a `#` comment,
/// and for `sleep N`, which it carries out (N ms); otherwise the line to run.
pub(crate) fn script_step(line: &str) -> Option<&str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let Some(ms) = line.strip_prefix("sleep ") {
        std::thread::sleep(Duration::from_millis(ms.parse().expect("sleep ms")));
        return None;
    }
    Some(line)
}

/// Runs `script` on a fresh rubra-server and a fresh redis-server and returns every
/// difference. Lines starting with `!` run on both without comparing (e.g. HELLO, whose
/// reply names the server); lines starting with `#` are comments; `sleep N` waits N ms;
/// `inline LINE` sends LINE as an inline command, bytes as they are.
pub(crate) fn differences(script: &[&str]) -> Vec<String> {
    let rubra = TestServer::start(&[]);
    let reference = Reference::start();
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(reference.port);
    let mut diffs = Vec::new();
    for line in script {
        let Some(line) = script_step(line) else {
            continue;
        };
        let (compare, cmd) = match line.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        let (ra, rb) = match cmd.strip_prefix("inline ") {
            Some(raw) => (a.call_inline(raw), b.call_inline(raw)),
            None => (a.call(cmd), b.call(cmd)),
        };
        if compare && ra != rb {
            // Escaped, not decoded: a byte that is not UTF-8 and U+FFFD must look different.
            diffs.push(format!(
                "{}\n    rubra: \"{}\"\n    redis: \"{}\"",
                cmd.escape_debug(),
                ra.escape_ascii(),
                rb.escape_ascii()
            ));
        }
    }
    diffs
}

/// Asserts that `script` gets byte-identical replies from rubra-server and redis-server.
pub(crate) fn assert_same_as_redis(script: &[&str]) {
    let diffs = differences(script);
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// What `RawConn::next_within` found on a connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// One complete frame (a reply or a pushed message), its exact bytes.
    Frame(Vec<u8>),
    /// Nothing complete arrived within the wait.
    Nothing,
    /// The server closed the connection.
    Closed,
}

impl RawConn {
    /// The next complete frame if one arrives within `wait` (for connections that get
    /// pushed messages or may be blocked). A partial frame stays buffered for the next
    /// call; the usual read timeout is restored before returning.
    pub(crate) fn next_within(&mut self, wait: Duration) -> Incoming {
        let deadline = Instant::now() + wait;
        let mut tried = false;
        let got = loop {
            if let Some((_, used)) = parse_frame(&self.buf, usize::MAX).expect("bad frame") {
                break Incoming::Frame(self.buf.drain(..used).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // Even a zero wait reads once what the socket already holds.
            if left.is_zero() && tried {
                break Incoming::Nothing;
            }
            tried = true;
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => break Incoming::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break Incoming::Closed,
            }
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(10)));
        got
    }
}

impl RawConn {
    /// `send` that reports a connection the server closed (false) instead of panicking.
    pub(crate) fn try_send(&mut self, line: &str) -> bool {
        self.try_send_many(&[line])
    }

    /// Sends several commands in one write (a pipeline the server reads at once); false if
    /// the server closed the connection.
    pub(crate) fn try_send_many(&mut self, lines: &[&str]) -> bool {
        let mut out = Vec::new();
        for line in lines {
            let Some(args) = rubra_resp::split_args(line.as_bytes()) else {
                panic!("bad quoting in script: {line}");
            };
            out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in &args {
                out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                out.extend_from_slice(a);
                out.extend_from_slice(b"\r\n");
            }
        }
        self.stream.write_all(&out).is_ok()
    }
}

impl RawConn {
    /// Turns Nagle's algorithm off: a test writing several small commands in a row, each
    /// its own write, does not wait for the server's delayed ACK between them.
    pub(crate) fn no_delay(&self) {
        let _ = self.stream.set_nodelay(true);
    }
}

/// Runs a script over several connections on a fresh rubra-server and a fresh redis-server
/// (both started with `extra`) and returns every difference. Each line names its
/// connection first, `N CMD...` (N counted from 0): the command runs and its reply is
/// compared; `N send CMD...` sends without reading (a command that blocks or is held);
/// `N read` reads and compares one reply sent earlier; `N info FIELD` compares one field
/// of INFO (the rest of INFO differs between the servers); `sleep N` waits N ms on both;
/// `#` starts a comment. Used where a behaviour needs a second client (WATCH, blocking,
/// CLIENT PAUSE).
pub(crate) fn multi_client_differences(extra: &[&str], script: &[&str]) -> Vec<String> {
    let rubra = TestServer::start(extra);
    let reference = Reference::start_with(extra);
    let mut conns: Vec<(RawConn, RawConn)> = Vec::new();
    let mut diffs = Vec::new();
    for (index, line) in script.iter().enumerate() {
        let Some(line) = script_step(line) else {
            continue;
        };
        let (n, cmd) = line.split_once(' ').unwrap_or((line, ""));
        let n: usize = n
            .parse()
            .expect("script line starts with a connection number");
        while conns.len() <= n {
            conns.push((
                RawConn::connect(rubra.port),
                RawConn::connect(reference.port),
            ));
        }
        let (a, b) = &mut conns[n];
        let (ra, rb) = if let Some(rest) = cmd.strip_prefix("send ") {
            a.send(rest);
            b.send(rest);
            continue;
        } else if cmd == "read" {
            (a.read_reply(), b.read_reply())
        } else if let Some(field) = cmd.strip_prefix("info ") {
            let pick = |reply: Vec<u8>| -> Vec<u8> {
                let text = String::from_utf8_lossy(&reply).into_owned();
                let prefix = format!("{field}:");
                text.lines()
                    .find(|l| l.starts_with(&prefix))
                    .unwrap_or("(missing)")
                    .as_bytes()
                    .to_vec()
            };
            (pick(a.call("INFO")), pick(b.call("INFO")))
        } else {
            (a.call(cmd), b.call(cmd))
        };
        if ra != rb {
            diffs.push(format!(
                "line {index}: {}\n    rubra: \"{}\"\n    redis: \"{}\"",
                line.escape_debug(),
                ra.escape_ascii(),
                rb.escape_ascii()
            ));
        }
    }
    diffs
}

/// Asserts that a [`multi_client_differences`] script gets byte-identical replies.
pub(crate) fn assert_multi_client_same_as_redis(extra: &[&str], script: &[&str]) {
    let diffs = multi_client_differences(extra, script);
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

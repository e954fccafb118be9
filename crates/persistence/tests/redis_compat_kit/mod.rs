//! The harness of `redis_compat`: a redis-server child process and a minimal RESP2 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Whether redis-server is installed (the tests skip, with a message, when it is not).
pub(crate) fn have_redis() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("redis-server not found: skipping redis compatibility test");
    }
    ok
}

/// The wall clock in Unix milliseconds (TTLs of the sample data are relative to it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A redis-server child process, killed on drop.
pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Server {
    pub(crate) fn start(dir: &Path, dbfilename: &str, extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", dir.to_str().unwrap(), "--dbfilename", dbfilename])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn redis-server");
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                let mut c = Client::new(s);
                // Loading a dump answers -LOADING until done.
                if c.cmd(&["PING"]) == Reply::Simple("PONG".into()) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(TcpStream::connect(("127.0.0.1", self.port)).unwrap())
    }

    /// Runs redis-cli against database `db` and returns its trimmed output.
    pub(crate) fn cli(&self, db: usize, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "-n", &db.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A RESP2 reply as the client reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

impl Reply {
    pub(crate) fn bytes(self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b,
            Reply::Simple(s) => s.into_bytes(),
            other => panic!("expected bulk, got {other:?}"),
        }
    }
    pub(crate) fn int(self) -> i64 {
        match self {
            Reply::Int(i) => i,
            other => panic!("expected int, got {other:?}"),
        }
    }
    pub(crate) fn array(self) -> Vec<Vec<u8>> {
        match self {
            Reply::Array(v) => v.into_iter().map(Reply::bytes).collect(),
            other => panic!("expected array, got {other:?}"),
        }
    }
}

/// Minimal binary-safe RESP2 client.
pub(crate) struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    pub(crate) fn new(s: TcpStream) -> Client {
        Client {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    pub(crate) fn send(&mut self, args: &[&[u8]]) {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&buf).unwrap();
    }

    pub(crate) fn read(&mut self) -> Reply {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        let line = line.trim_end_matches("\r\n");
        let (t, rest) = line.split_at(1);
        match t {
            "+" => Reply::Simple(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(rest.parse().unwrap()),
            "$" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Reply::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).unwrap();
                b.truncate(n as usize);
                Reply::Bulk(Some(b))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap();
                Reply::Array((0..n.max(0)).map(|_| self.read()).collect())
            }
            _ => panic!("bad reply line {line:?}"),
        }
    }

    pub(crate) fn cmdb(&mut self, args: &[&[u8]]) -> Reply {
        self.send(args);
        self.read()
    }

    pub(crate) fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmdb(&a)
    }

    /// Sends many commands and reads all replies, asserting none is an error.
    pub(crate) fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) {
        for c in cmds {
            let a: Vec<&[u8]> = c.iter().map(|v| v.as_slice()).collect();
            self.send(&a);
        }
        for c in cmds {
            let r = self.read();
            assert!(!matches!(r, Reply::Error(_)), "{r:?} for {:?}", c[0]);
        }
    }
}

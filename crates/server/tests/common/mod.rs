//! Test harness: starts the real rubra-server binary on a free loopback port and gives
//! tests real clients — the `redis` crate and Debian's `redis-cli`.
#![allow(dead_code)]

pub(crate) mod blocking;
pub(crate) mod cluster;
pub(crate) mod netns;
pub(crate) mod replication;
pub(crate) mod tls;
pub(crate) mod tmpfs;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs tests/`script` with python3 and `port` (one node of the cluster under test);
/// panics with its output unless it exits 0 and prints `ok_line`. Real client libraries
/// (redis-py, ...) are driven this way; .ci/run installs them, and a missing python3 or
/// package fails the test rather than skipping it.
pub(crate) fn run_python(script: &str, port: u16, ok_line: &str) -> String {
    let path = format!("{}/tests/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&path)
        .arg(port.to_string())
        .output()
        .expect("python3 must be installed (.ci/run installs the client packages)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(ok_line),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// A running rubra-server process, killed when dropped.
pub(crate) struct TestServer {
    pub port: u16,
    child: Child,
    pub dir: std::path::PathBuf,
    args: Vec<String>,
    /// The server binary: rubra-server, or redis-server for reference runs.
    bin: std::path::PathBuf,
}

/// The rubra-server binary under test.
pub(crate) fn rubra_bin() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_rubra-server").into()
}

/// A port that was free a moment ago (the OS picks it), never handed out twice in this
/// test process.
pub(crate) fn free_port() -> u16 {
    static USED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port");
        let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

/// A port below 55536 that is free together with port + 10000 (the cluster bus port).
pub(crate) fn free_cluster_port() -> u16 {
    static USED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    loop {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let port = 20000 + ((seed >> 33) % 25000) as u16;
        let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
        if used.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
        {
            used.push(port);
            return port;
        }
    }
}

impl TestServer {
    /// Starts a server with extra `--name value` arguments.
    pub(crate) fn start(extra: &[&str]) -> TestServer {
        Self::start_with(free_port, extra)
    }

    /// [`TestServer::start`] with another binary that takes the same options
    /// (redis-server, for the same test against the reference).
    pub(crate) fn start_bin(bin: &std::path::Path, extra: &[&str]) -> TestServer {
        Self::start_with_bin(bin, free_port, extra)
    }

    /// Starts a cluster-mode server (`--cluster-enabled yes`) on a port whose bus port
    /// (port + 10000) is free too.
    pub(crate) fn start_cluster(extra: &[&str]) -> TestServer {
        Self::start_cluster_bin(&rubra_bin(), extra)
    }

    /// [`TestServer::start_cluster`] with another binary that takes the same options
    /// (redis-server, for the same test against the reference).
    pub(crate) fn start_cluster_bin(bin: &std::path::Path, extra: &[&str]) -> TestServer {
        let mut args = vec!["--cluster-enabled", "yes"];
        args.extend_from_slice(extra);
        Self::start_with_bin(bin, free_cluster_port, &args)
    }

    fn start_with(pick: fn() -> u16, extra: &[&str]) -> TestServer {
        Self::start_with_bin(&rubra_bin(), pick, extra)
    }

    fn start_with_bin(bin: &std::path::Path, pick: fn() -> u16, extra: &[&str]) -> TestServer {
        for _ in 0..5 {
            let port = pick();
            let dir =
                std::env::temp_dir().join(format!("rubra-test-{}-{}", std::process::id(), port));
            let _ = std::fs::create_dir_all(&dir);
            let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            let child = spawn(bin, port, &dir, &args);
            let mut server = TestServer {
                port,
                child,
                dir,
                args,
                bin: bin.to_path_buf(),
            };
            if server.wait_ready() {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("rubra-server did not start");
    }

    /// The server's process id (to send it signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (no chance to flush anything).
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data directory, with extra arguments
    /// replacing the original ones if given. Returns false if it exited instead.
    pub(crate) fn restart(&mut self, extra: Option<&[&str]>) -> bool {
        self.kill9();
        if let Some(e) = extra {
            self.args = e.iter().map(|s| s.to_string()).collect();
        }
        self.child = spawn(&self.bin, self.port, &self.dir, &self.args);
        self.wait_ready()
    }

    /// Waits for the process to exit (for start-up failures); returns its exit code.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(conn) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                // Another process may own the port if ours failed to bind (another test
                // process picked the same free port). Ours then exits, but under load it
                // may not have got that far within any fixed wait: ask who answers.
                if answering_pid(conn).is_some_and(|pid| pid != self.child.id()) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
                return matches!(self.child.try_wait(), Ok(None));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The redis:// URL of this server.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A synchronous `redis` crate connection. A reply that never comes fails the test
    /// after 5 minutes instead of hanging the whole run (a lost reply once used up CI's
    /// 90 minutes).
    pub(crate) fn conn(&self) -> redis::Connection {
        let conn = redis::Client::open(self.url())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(300)))
            .expect("read timeout");
        conn
    }

    /// Runs Debian's redis-cli against this server and returns its stdout (trimmed at the end).
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        cli_at(self.port, args)
    }

    /// Sends raw bytes on a fresh connection and returns everything read until the server
    /// closes or `wait` passes.
    pub(crate) fn raw(&self, bytes: &[u8], wait: Duration) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(wait)).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        out
    }

    /// Whether the process is still running (it must never crash on bad input).
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The `process_id` INFO reports on `conn`: which process owns a port (None if it cannot
/// tell, e.g. the server wants a password or does not answer within a second).
pub(crate) fn answering_pid(mut conn: std::net::TcpStream) -> Option<u32> {
    use std::io::{Read, Write};
    conn.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    conn.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got);
        if text.starts_with('-') && text.contains("\r\n") {
            return None;
        }
        if let Some(rest) = text.split("process_id:").nth(1) {
            if let Some((pid, _)) = rest.split_once("\r\n") {
                return pid.trim().parse().ok();
            }
        }
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

/// The file in a server's directory that collects its stdout and stderr over all its
/// starts (to look for panics afterwards).
pub(crate) const SERVER_LOG: &str = "server.log";

fn spawn(bin: &std::path::Path, port: u16, dir: &std::path::Path, args: &[String]) -> Child {
    let log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(SERVER_LOG))
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    let mut cmd = Command::new(bin);
    cmd.arg("--port")
        .arg(port.to_string())
        .arg("--dir")
        .arg(dir)
        .arg("--save")
        .arg("");
    cmd.args(args).stdout(log()).stderr(log());
    // ETXTBSY: a file written by this process a moment ago (a wrapper script) is still open
    // for writing in a child that another test thread forked meanwhile, until that child
    // execs. It passes within milliseconds.
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            spawned => return spawned.expect("spawn the server"),
        }
    }
    cmd.spawn().expect("spawn the server")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs redis-cli against a port. Fails the test if redis-cli is not installed: these
/// tests exist to prove compatibility with the real tool (.ci/run installs redis-tools).
pub(crate) fn cli_at(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli must be installed (apt-get install -y redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Sends a signal by name (STOP, CONT) to a process with kill(1).
pub(crate) fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill -{sig} {pid} failed");
}

/// Runs a command on a `redis` connection and returns the raw value.
pub(crate) fn q(conn: &mut redis::Connection, args: &[&str]) -> redis::Value {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(conn)
        .unwrap_or_else(|e| redis::Value::SimpleString(format!("ERR-CLIENT {e}")))
}

/// Runs a command expecting an error; returns the error text as the server sent it
/// (code + message, e.g. "WRONGTYPE Operation against...").
pub(crate) fn q_err(conn: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<redis::Value>(conn) {
        Ok(v) => panic!("expected an error from {:?}, got {:?}", args, v),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => e.to_string(),
        },
    }
}

/// The incr files of the multi-part AOF under `dir` (appendonlydir, default names), in
/// the manifest's order: where the commands written since the last rewrite are.
pub(crate) fn aof_incr_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let aof_dir = dir.join("appendonlydir");
    let manifest =
        std::fs::read_to_string(aof_dir.join("appendonly.aof.manifest")).unwrap_or_default();
    manifest
        .lines()
        .filter(|l| l.ends_with(" type i"))
        .filter_map(|l| l.split(' ').nth(1))
        .map(|name| aof_dir.join(name))
        .collect()
}

/// The last incr file (the one written to), as redis's tests' get_last_incr_aof_path.
pub(crate) fn last_incr_aof(dir: &std::path::Path) -> std::path::PathBuf {
    aof_incr_files(dir)
        .pop()
        .expect("the manifest lists no incr file")
}

/// The commands of every incr file, concatenated.
pub(crate) fn aof_incr_bytes(dir: &std::path::Path) -> Vec<u8> {
    aof_incr_files(dir)
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

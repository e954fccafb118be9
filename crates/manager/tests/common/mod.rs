//! Helpers for end-to-end tests: free ports, a supervisor guard that always cleans up,
//! and key writes/reads through `redis-cli -c`.

#![allow(dead_code)]

use rubra_manager::resp::Conn;
use rubra_manager::state::{pid_alive, signal, Dir, State};
use rubra_manager::topology::View;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The rubra binary under test.
pub(crate) fn rubra() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rubra"))
}

static NEXT: AtomicU16 = AtomicU16::new(0);

fn free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

/// A base port with `n` free client ports and their bus ports, plus a free API port.
///
/// The seed is drawn once per test process, so the bases handed out within it are all
/// different (97 and 190 are coprime): "free" is only checked, not held, and a test whose
/// server had not bound its port yet lost it to another test drawing the same base with a
/// seed of its own (a node of `backup_under_writes` never came up that way, in CI).
pub(crate) fn ports(n: u16) -> (u16, u16) {
    static SEED: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        (SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id()) as u16
    });
    loop {
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        // Bases 10000..19500, so every bus port (+10000) stays below 32768, the start of
        // Linux's ephemeral range: a long test adds nodes minutes after choosing their ports,
        // and an outgoing connection must not have taken a bus port meanwhile.
        let base = 10000 + (seed.wrapping_add(k.wrapping_mul(97)) % 190) * 50;
        if (base..base + n + 1).all(|p| free(p) && free(p + 10000)) {
            return (base, base + n);
        }
    }
}

/// A fresh temp dir.
pub(crate) fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "rubra-test-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Which node binary `rubra up` runs; the end-to-end tests are written once and run
/// with both kinds, so the manager is checked against the reference server too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// rubra-server embedded in the rubra executable (`rubra up`'s default).
    Embedded,
    /// Debian's redis-server 7.0 (`--server-bin redis-server`).
    Redis,
}

impl Kind {
    /// Extra `rubra up` arguments selecting this node binary.
    pub(crate) fn up_args(self) -> &'static [&'static str] {
        match self {
            Kind::Embedded => &[],
            Kind::Redis => &["--server-bin", "redis-server"],
        }
    }

    /// False (with a note) when this kind cannot run here: redis-server not installed.
    pub(crate) fn available(self) -> bool {
        if self == Kind::Embedded {
            return true;
        }
        let ok = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("redis-server not installed: skipping the redis-server variant");
        }
        ok
    }
}

/// A running `rubra up`; dropping it stops the supervisor and kills any node left.
pub(crate) struct Cluster {
    pub dir: PathBuf,
    pub base: u16,
    pub panel: String,
    sup: Option<Child>,
    pub output: mpsc::Receiver<String>,
    /// What `rubra up` printed up to and including its ready line.
    pub printed: Vec<String>,
}

impl Cluster {
    /// `rubra up` with redis-server nodes; waits for the ready line.
    pub(crate) fn up(dir: &PathBuf, base: u16, panel: u16, extra: &[&str]) -> Cluster {
        Cluster::start(Kind::Redis, dir, base, panel, extra)
    }

    /// `rubra up` with nodes of `kind`; waits for the ready line.
    pub(crate) fn start(
        kind: Kind,
        dir: &PathBuf,
        base: u16,
        panel: u16,
        extra: &[&str],
    ) -> Cluster {
        let mut cmd = rubra();
        cmd.args(["up", "--node-timeout", "2000"])
            .args(kind.up_args())
            .arg("--dir")
            .arg(dir)
            .args(["--base-port", &base.to_string()])
            .args(["--panel", &format!("127.0.0.1:{panel}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn rubra up");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("[rubra] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut c = Cluster {
            dir: dir.clone(),
            base,
            panel: format!("127.0.0.1:{panel}"),
            sup: Some(child),
            output: rx,
            printed: Vec::new(),
        };
        let t0 = Instant::now();
        loop {
            match c.output.recv_timeout(Duration::from_secs(1)) {
                Ok(l) if l.starts_with("rubra: cluster ") => {
                    c.printed.push(l);
                    break;
                }
                Ok(l) => c.printed.push(l),
                Err(_) => {
                    if let Some(s) = c.sup.as_mut() {
                        if let Ok(Some(st)) = s.try_wait() {
                            panic!("rubra up exited early: {st}");
                        }
                    }
                    assert!(t0.elapsed() < Duration::from_secs(90), "rubra up not ready");
                }
            }
        }
        c
    }

    pub(crate) fn state(&self) -> State {
        Dir::new(&self.dir)
            .unwrap()
            .load_state()
            .unwrap()
            .expect("state.json")
    }

    pub(crate) fn password(&self) -> String {
        Dir::new(&self.dir)
            .unwrap()
            .read_password()
            .unwrap()
            .expect("credentials")
    }

    /// The password as `rubra up` printed it ("password: X   (saved in ...)"): only when
    /// it generated one.
    pub(crate) fn printed_password(&self) -> Option<String> {
        self.printed.iter().find_map(|l| {
            let rest = l.strip_prefix("password: ")?;
            let (pw, tail) = rest.split_once("   (saved in ")?;
            assert!(tail.ends_with(')'), "{l}");
            Some(pw.to_string())
        })
    }

    /// The password parsed from DIR/credentials the way an operator's script would:
    /// `key=value` lines, `#` comments, the value after the first `=` taken verbatim.
    /// Independent of rubra's own reader, so a format change breaks this test.
    pub(crate) fn credentials_password(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("credentials")).expect("credentials");
        let mut found = None;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').expect("key=value line");
            if k == "password" {
                assert!(found.is_none(), "two password lines");
                found = Some(v.to_string());
            }
        }
        found.expect("a password= line")
    }

    /// The supervisor's pid.
    pub(crate) fn supervisor_pid(&self) -> u32 {
        self.sup.as_ref().expect("supervisor").id()
    }

    /// kill -9 the supervisor only: its nodes (own process groups) keep running.
    pub(crate) fn kill_supervisor(&mut self) {
        if let Some(mut s) = self.sup.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }

    pub(crate) fn conn(&self, port: u16) -> Conn {
        Conn::connect(&format!("127.0.0.1:{port}"), Some(&self.password())).unwrap()
    }

    pub(crate) fn view(&self) -> View {
        View::fetch(&mut self.conn(self.state().active_ports()[0])).unwrap()
    }

    /// Run a rubra subcommand on this cluster's dir; (success, stdout+stderr).
    pub(crate) fn run(&self, args: &[&str]) -> (bool, String) {
        let out = rubra()
            .args(args)
            .arg("--dir")
            .arg(&self.dir)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("$ rubra {args:?}\n{text}");
        (out.status.success(), text)
    }

    /// `rubra check` until it passes (gossip settles after changes).
    pub(crate) fn wait_check(&self) {
        let t0 = Instant::now();
        loop {
            let (ok, text) = self.run(&["check"]);
            if ok {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "check failing: {text}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Stop via `rubra down` and wait for the supervisor to exit.
    pub(crate) fn down(&mut self) {
        let (ok, text) = self.run(&["down"]);
        assert!(ok, "down failed: {text}");
        if let Some(mut s) = self.sup.take() {
            let _ = s.wait();
        }
    }

    fn kill_all(&mut self) {
        if let Some(mut s) = self.sup.take() {
            signal(s.id(), libc::SIGTERM);
            let t0 = Instant::now();
            while matches!(s.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(15) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Ok(Some(st)) = Dir::new(&self.dir).and_then(|d| d.load_state()) {
            let pids: Vec<_> = st.nodes.iter().filter_map(|n| n.pid).collect();
            for &p in &pids {
                if pid_alive(p) {
                    signal(p, libc::SIGKILL);
                }
            }
            // A killed node holds its ports until it has exited: a test that starts the
            // cluster again right away would find them taken.
            let t0 = Instant::now();
            while pids.iter().any(|&p| running(p)) && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Whether `pid` still runs: alive and not a zombie (a zombie has released its sockets
/// already, and nobody may be left to reap it).
fn running(pid: u32) -> bool {
    pid_alive(pid)
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// Removes the data dir at the end of a test (after the cluster guard is dropped).
pub(crate) struct TempDir(pub PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Pipe commands into `redis-cli -c`; returns its stdout lines.
pub(crate) fn cli(port: u16, pw: &str, script: &str) -> Vec<String> {
    cli_at("127.0.0.1", port, pw, script)
}

/// Pipe commands into `redis-cli -c -h host`; returns its stdout lines.
pub(crate) fn cli_at(host: &str, port: u16, pw: &str, script: &str) -> Vec<String> {
    cli_raw(host, port, pw, script)
        .into_iter()
        .filter(|l| !l.starts_with("-> Redirected"))
        .collect()
}

/// Pipe commands into `redis-cli -c -h host`; every stdout line, redirect notes included.
pub(crate) fn cli_raw(host: &str, port: u16, pw: &str, script: &str) -> Vec<String> {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-c", "-h", host, "-p", &port.to_string(), "-a", pw])
        .arg("--no-auth-warning");
    piped_lines(cmd, script)
}

/// Runs a prepared redis-cli `cmd` with `script` on its stdin; every stdout line.
pub(crate) fn piped_lines(mut cmd: Command, script: &str) -> Vec<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write the script");
    let out = child.wait_with_output().expect("redis-cli output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// SET key:i = v:i for i in 0..n through the cluster.
pub(crate) fn write_keys(port: u16, pw: &str, n: usize) {
    let script: String = (0..n).map(|i| format!("SET key:{i} v:{i}\n")).collect();
    let out = cli(port, pw, &script);
    assert_eq!(out.iter().filter(|l| *l == "OK").count(), n, "{out:?}");
}

/// Every key:i reads back v:i.
pub(crate) fn check_keys(port: u16, pw: &str, n: usize) {
    let script: String = (0..n).map(|i| format!("GET key:{i}\n")).collect();
    let out = cli(port, pw, &script);
    let want: Vec<String> = (0..n).map(|i| format!("v:{i}")).collect();
    let bad: Vec<usize> = (0..n).filter(|&i| out.get(i) != want.get(i)).collect();
    assert!(
        bad.is_empty() && out.len() == n,
        "keys lost or wrong at {bad:?}"
    );
}

/// A redis-rs cluster client (cluster-async), as applications use: follows MOVED/ASK and
/// topology changes on its own.
pub(crate) fn cluster_client(ports: &[u16], pw: &str) -> redis::cluster::ClusterClient {
    cluster_client_builder(ports, pw)
        .retries(10)
        .build()
        .expect("cluster client")
}

/// A cluster client's builder with the nodes, password and timeouts every test uses, for a
/// test that tunes its retries.
pub(crate) fn cluster_client_builder(
    ports: &[u16],
    pw: &str,
) -> redis::cluster::ClusterClientBuilder {
    let nodes: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    redis::cluster::ClusterClient::builder(nodes)
        .password(pw)
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(10))
}

/// Run a future on a fresh single-threaded runtime (tests are plain threads).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The value stored under big key `i`: `size` bytes derived from `i`.
pub(crate) fn big_value(i: usize, size: usize) -> Vec<u8> {
    format!("{i:08}|").bytes().cycle().take(size).collect()
}

/// SET `{prefix}{i}` = big_value(i, size) for i in `range`, through the cluster client.
pub(crate) fn fill(
    ports: &[u16],
    pw: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
    size: usize,
) {
    block_on(async {
        let mut c = cluster_client(ports, pw)
            .get_async_connection()
            .await
            .expect("cluster connection");
        for i in range {
            let _: () = redis::cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg(big_value(i, size))
                .query_async(&mut c)
                .await
                .expect("SET");
        }
    })
}

/// Every `{prefix}{i}` in `range` holds big_value(i, size); `deleted` ones are gone.
pub(crate) fn verify_big(
    ports: &[u16],
    pw: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
    size: usize,
    deleted: impl Fn(usize) -> bool,
) {
    block_on(async {
        let mut c = cluster_client(ports, pw)
            .get_async_connection()
            .await
            .expect("cluster connection");
        let mut bad = Vec::new();
        for i in range {
            let v: Option<Vec<u8>> = redis::cmd("GET")
                .arg(format!("{prefix}{i}"))
                .query_async(&mut c)
                .await
                .expect("GET");
            let want = (!deleted(i)).then(|| big_value(i, size));
            if v != want {
                bad.push(i);
            }
        }
        assert!(bad.is_empty(), "keys lost or wrong: {bad:?}");
    })
}

//! A cluster whose data directory comes back on other addresses: 6 nodes announcing IP A
//! in a network namespace made for the test, stopped, the address replaced by B, and
//! `rubra up --announce-ip B` again. No nodes.conf is edited by hand: the nodes must
//! relearn each other, rewrite nodes.conf and give clients the new addresses.
//!
//! Needs root (CAP_SYS_ADMIN) and iproute2's `ip`; without them the test says why and
//! skips, as the server's namespace tests do.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `ip ARGS`; stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A namespace of the test's own, deleted on drop (with its dummy interface).
struct Netns(String);

impl Netns {
    /// A namespace with loopback up, holding `addr`/32 besides 127.0.0.1 (on `lo`: every
    /// kernel has it, and nothing outside the namespace can reach it).
    fn create(name: &str, addr: &str) -> Result<Netns, String> {
        ip(&["netns", "add", name])?;
        let ns = Netns(name.to_string());
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        ns.set_addr(None, addr)?;
        Ok(ns)
    }

    /// Replaces `old` (if any) by `new`: the host's address changed.
    fn set_addr(&self, old: Option<&str>, new: &str) -> Result<(), String> {
        if let Some(o) = old {
            ip(&[
                "-n",
                &self.0,
                "addr",
                "del",
                &format!("{o}/32"),
                "dev",
                "lo",
            ])?;
        }
        ip(&[
            "-n",
            &self.0,
            "addr",
            "add",
            &format!("{new}/32"),
            "dev",
            "lo",
        ])
    }

    /// Moves the calling thread into the namespace; processes and threads it starts
    /// later are in it too (rubra up, its nodes, redis-cli).
    fn enter(&self) -> Result<(), String> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(format!("/var/run/netns/{}", self.0))
            .map_err(|e| format!("open netns {}: {e}", self.0))?;
        // SAFETY: setns on a descriptor we own and keep open across the call.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!(
                "setns {}: {}",
                self.0,
                std::io::Error::last_os_error()
            ))
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// redis-cli for the cluster: its password, and for a TLS cluster the CA and client
/// certificate from its data dir.
struct Cli {
    pw: String,
    tls: Vec<String>,
}

impl Cli {
    fn new(pw: &str, dir: &std::path::Path, tls: bool) -> Cli {
        let t = dir.join("tls");
        let tls = if tls {
            [
                "--tls",
                "--cacert",
                "ca.crt",
                "--cert",
                "client.crt",
                "--key",
                "client.key",
            ]
            .iter()
            .map(|a| match a.strip_prefix("--") {
                Some(_) => a.to_string(),
                None => t.join(a).to_string_lossy().into_owned(),
            })
            .collect()
        } else {
            Vec::new()
        };
        Cli {
            pw: pw.to_string(),
            tls,
        }
    }

    fn base(&self, host: &str, port: u16) -> Command {
        let mut c = Command::new("redis-cli");
        c.args(&self.tls)
            .args(["-h", host, "-p", &port.to_string(), "-a", &self.pw])
            .arg("--no-auth-warning");
        c
    }

    /// One command (no cluster mode); stdout.
    fn cmd(&self, host: &str, port: u16, args: &[&str]) -> String {
        let out = self
            .base(host, port)
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Commands piped into `redis-cli -c`; stdout lines without redirect notes.
    fn piped(&self, host: &str, port: u16, script: &str) -> Vec<String> {
        let mut cmd = self.base(host, port);
        cmd.arg("-c");
        piped_lines(cmd, script)
            .into_iter()
            .filter(|l| !l.starts_with("-> Redirected"))
            .collect()
    }
}

#[test]
fn a_cluster_started_on_new_addresses_relearns_them_without_edits() {
    readdress(false);
}

/// The same with `rubra up --tls`: node certificates are issued again for the new
/// address, and the bus, replication and clients all go over TLS.
#[test]
fn a_tls_cluster_started_on_new_addresses_relearns_them_without_edits() {
    readdress(true);
}

fn readdress(tls: bool) {
    let pid = std::process::id();
    let net = format!("10.214.{}", pid % 200 + if tls { 1 } else { 0 });
    let (a, b) = (format!("{net}.1"), format!("{net}.2"));
    let ns = match Netns::create(&format!("rbm{pid}-readdr{}", u8::from(tls)), &a) {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("SKIP: network namespaces unavailable (needs root and iproute2): {e}");
            return;
        }
    };
    // This test thread (and all it starts) lives in the namespace from here on.
    ns.enter().expect("enter the namespace");
    let dir = tempdir("readdress");
    let _cleanup = TempDir(dir.clone());
    let (base, panel) = ports(6);
    let ports: Vec<u16> = (base..base + 6).collect();

    // Six nodes announcing A; keys written through A.
    let tls_flag: &[&str] = if tls { &["--tls"] } else { &[] };
    let mut c = Cluster::start(
        Kind::Embedded,
        &dir,
        base,
        panel,
        &[&["--announce-ip", a.as_str()], tls_flag].concat(),
    );
    let cl = Cli::new(&c.password(), &dir, tls);
    let n = 200;
    let script: String = (0..n).map(|i| format!("SET key:{i} v:{i}\n")).collect();
    let out = cl.piped(&a, base, &script);
    assert_eq!(out.iter().filter(|l| *l == "OK").count(), n, "{out:?}");
    assert!(cl.cmd(&a, base, &["CLUSTER", "SLOTS"]).contains(&a));
    c.down();
    drop(c);

    // The host now has address B only; A is gone.
    ns.set_addr(Some(&a), &b).expect("readdress");
    let c = Cluster::start(Kind::Embedded, &dir, base, panel, &["--announce-ip", &b]);
    assert_eq!(c.state().announce_ip.as_deref(), Some(b.as_str()));

    // Every node: state ok, every peer at B, nodes.conf rewritten with B only.
    for &p in &ports {
        let t0 = Instant::now();
        loop {
            let info = cl.cmd(&b, p, &["CLUSTER", "INFO"]);
            let nodes = cl.cmd(&b, p, &["CLUSTER", "NODES"]);
            let conf = std::fs::read_to_string(dir.join(format!("node-{p}/nodes.conf")))
                .unwrap_or_default();
            let settled = info.contains("cluster_state:ok")
                && nodes.lines().count() == 6
                && nodes.lines().all(|l| l.contains(&format!(" {b}:")))
                && !nodes.contains(&format!("{a}:"))
                && conf.matches(&format!(" {b}:")).count() == 6
                && !conf.contains(&format!("{a}:"));
            if settled {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "node {p} did not relearn the addresses:\n{info}\n{nodes}\nnodes.conf:\n{conf}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // Clients are given B: CLUSTER SLOTS and SHARDS, and redirects.
    let slots = cl.cmd(&b, base, &["CLUSTER", "SLOTS"]);
    assert!(slots.contains(&b) && !slots.contains(&a), "{slots}");
    let shards = cl.cmd(&b, base + 3, &["CLUSTER", "SHARDS"]);
    assert!(shards.contains(&b) && !shards.contains(&a), "{shards}");
    let script: String = (0..n).map(|i| format!("GET key:{i}\n")).collect();
    let want: Vec<String> = (0..n).map(|i| format!("v:{i}")).collect();
    assert_eq!(cl.piped(&b, base + 1, &script), want, "keys served at B");
    let out = cl.piped(&b, base, "SET after:1 x\nSET after:2 y\nGET after:1\n");
    assert_eq!(out, ["OK", "OK", "x"]);
    // Replicas follow their primary at its new address.
    for &p in &ports {
        let repl = cl.cmd(&b, p, &["INFO", "replication"]);
        if repl.contains("role:slave") {
            let t0 = Instant::now();
            loop {
                let repl = cl.cmd(&b, p, &["INFO", "replication"]);
                if repl.contains(&format!("master_host:{b}"))
                    && repl.contains("master_link_status:up")
                {
                    break;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "replica {p} not replicating from B: {repl}"
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }
    let (ok, out) = c.run(&["check"]);
    assert!(ok, "{out}");
}

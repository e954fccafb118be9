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

/// `redis-cli -h host -p port -a pw ARGS` (no cluster mode), stdout.
fn cli_cmd(host: &str, port: u16, pw: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args([
            "-h",
            host,
            "-p",
            &port.to_string(),
            "-a",
            pw,
            "--no-auth-warning",
        ])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_cluster_started_on_new_addresses_relearns_them_without_edits() {
    let pid = std::process::id();
    let net = format!("10.214.{}", pid % 200);
    let (a, b) = (format!("{net}.1"), format!("{net}.2"));
    let ns = match Netns::create(&format!("rbm{pid}-readdr"), &a) {
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
    let mut c = Cluster::start(Kind::Embedded, &dir, base, panel, &["--announce-ip", &a]);
    let pw = c.password();
    let n = 200;
    let script: String = (0..n).map(|i| format!("SET key:{i} v:{i}\n")).collect();
    let out = cli_at(&a, base, &pw, &script);
    assert_eq!(out.iter().filter(|l| *l == "OK").count(), n, "{out:?}");
    assert!(cli_cmd(&a, base, &pw, &["CLUSTER", "SLOTS"]).contains(&a));
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
            let info = cli_cmd(&b, p, &pw, &["CLUSTER", "INFO"]);
            let nodes = cli_cmd(&b, p, &pw, &["CLUSTER", "NODES"]);
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
    let slots = cli_cmd(&b, base, &pw, &["CLUSTER", "SLOTS"]);
    assert!(slots.contains(&b) && !slots.contains(&a), "{slots}");
    let shards = cli_cmd(&b, base + 3, &pw, &["CLUSTER", "SHARDS"]);
    assert!(shards.contains(&b) && !shards.contains(&a), "{shards}");
    let script: String = (0..n).map(|i| format!("GET key:{i}\n")).collect();
    let want: Vec<String> = (0..n).map(|i| format!("v:{i}")).collect();
    assert_eq!(cli_at(&b, base + 1, &pw, &script), want, "keys served at B");
    let out = cli_at(&b, base, &pw, "SET after:1 x\nSET after:2 y\nGET after:1\n");
    assert_eq!(out, ["OK", "OK", "x"]);
    // Replicas follow their primary at its new address.
    for &p in &ports {
        let repl = cli_cmd(&b, p, &pw, &["INFO", "replication"]);
        if repl.contains("role:slave") {
            let t0 = Instant::now();
            loop {
                let repl = cli_cmd(&b, p, &pw, &["INFO", "replication"]);
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

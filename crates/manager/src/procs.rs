//! Node processes: config files, spawning, stopping, liveness.

use crate::state::{pid_alive, signal, write_private, Dir};
use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Per-node settings that come from `rubra up` flags.
#[derive(Debug, Clone)]
pub struct NodeOpts {
    /// Node binary (rubra-server by default, redis-server works too).
    pub server_bin: PathBuf,
    /// requirepass / masterauth.
    pub password: String,
    /// maxmemory, e.g. "256mb".
    pub maxmemory: String,
    /// cluster-node-timeout in ms.
    pub node_timeout: u64,
    /// cluster-announce-ip.
    pub announce_ip: Option<String>,
    /// During a password rotation's grace period: the SHA-256 (hex) of the old password,
    /// which a node started now must accept too (see `password`).
    pub also_accept: Option<String>,
    /// `rubra up --tls`: the node listens with TLS only (on its one client port), and
    /// replication and the bus use TLS, with a certificate from DIR/tls.
    pub tls: bool,
}

/// The config file of the node on `port`; written 0600 since it holds the password.
pub fn write_conf(dir: &Dir, port: u16, o: &NodeOpts) -> Result<PathBuf> {
    let nd = dir.node_dir(port);
    std::fs::create_dir_all(&nd).with_context(|| format!("create {nd:?}"))?;
    let mut c = if o.tls {
        tls_lines(dir, port, o.announce_ip.as_deref())?
    } else {
        format!("port {port}\n")
    };
    c.push_str(&format!(
        "cluster-enabled yes\n\
         cluster-config-file nodes.conf\n\
         cluster-node-timeout {}\n\
         dir {}\n\
         requirepass {}\n\
         masterauth {}\n\
         appendonly yes\n\
         maxmemory {}\n",
        o.node_timeout,
        nd.display(),
        o.password,
        o.password,
        o.maxmemory
    ));
    c.push_str(&format!("bind {}\n", bind_line(o.announce_ip.as_deref())));
    if is_rubra(&o.server_bin) {
        c.push_str(&format!(
            "io-threads {}\n",
            node_workers(std::thread::available_parallelism().map_or(1, |n| n.get()))
        ));
    }
    if let Some(ip) = &o.announce_ip {
        c.push_str(&format!("cluster-announce-ip {ip}\n"));
    }
    if let Some(old) = &o.also_accept {
        c.push_str(&crate::password::default_user_line(&o.password, old));
    }
    // Users managed with `rubra acl`: a (re)started node has them from its first moment.
    // An unreadable record must not keep a node from starting; the sync pass reports it.
    match crate::acl::conf_lines(dir) {
        Ok(lines) => c.push_str(&lines),
        Err(e) => eprintln!("rubra: node {port} starts without managed users: {e:#}"),
    }
    let path = nd.join("node.conf");
    write_private(&path, c.as_bytes())?;
    Ok(path)
}

/// How many nodes are counted as sharing one host's CPUs: a cluster's smallest size (three
/// pairs), which `rubra up` runs on one machine.
const NODES_PER_HOST: usize = 6;

/// The worker threads (`io-threads`) of a rubra node on a host with `cpus` CPUs: its share of
/// them, at least one. A rubra-server left to itself takes one worker per CPU, so six nodes on
/// one host ran six times as many busy threads as CPUs; with a client on the same cores one
/// worker each measured 7-13% less CPU per request at -P 1 (docs/server.md). redis-server
/// nodes get no line: their `io-threads` means threaded I/O, and its default is 1 anyway.
fn node_workers(cpus: usize) -> usize {
    (cpus / NODES_PER_HOST).max(1)
}

/// Whether the node binary is rubra's (the embedded node or a rubra-server), which reads
/// `io-threads` as its worker count.
fn is_rubra(bin: &std::path::Path) -> bool {
    is_self(bin)
        || bin
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("rubra"))
}

/// The TLS part of a node's config: the client port (`tls-port`; no plain-text port, so
/// the bus port stays port + 10000 as Redis derives it from the TLS port under
/// `tls-cluster`), a certificate issued now for its addresses, and client certificates
/// required (Redis's default: the bus has no password, so they are what keeps strangers
/// out of it).
fn tls_lines(dir: &Dir, port: u16, announce_ip: Option<&str>) -> Result<String> {
    let pki = crate::tlsgen::Pki::open_or_create(&dir.root)?;
    let f = pki.node(port, announce_ip)?;
    Ok(format!(
        "port 0\n\
         tls-port {port}\n\
         tls-cert-file {}\n\
         tls-key-file {}\n\
         tls-ca-cert-file {}\n\
         tls-auth-clients yes\n\
         tls-replication yes\n\
         tls-cluster yes\n",
        f.cert.display(),
        f.key.display(),
        pki.ca_cert().display()
    ))
}

/// The `bind` addresses of a node.
///
/// BEHAVIOR: without an announce ip, loopback only (a local cluster; nothing outside this
/// host needs it). With one that is an address of this host (any of 127.0.0.0/8 is, on
/// Linux), that address first, then 127.0.0.1: peers dial the announced address on the
/// bus port (rubra-server binds its bus on the first address only), clients follow
/// redirects to it, and rubra itself keeps reaching nodes on 127.0.0.1. An announce ip
/// that is not local (a NAT/public address forwarded to this host) cannot be bound: then
/// every interface is bound and the password guards access. Without this, nodes bound to
/// 127.0.0.1 only would announce an address nobody can connect to.
pub fn bind_line(announce_ip: Option<&str>) -> String {
    match announce_ip {
        None | Some("127.0.0.1") => "127.0.0.1".to_string(),
        Some(ip) => {
            let local = ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| std::net::TcpListener::bind((a, 0)).is_ok());
            if local {
                format!("{ip} 127.0.0.1")
            } else {
                "0.0.0.0".to_string()
            }
        }
    }
}

/// Start the node on `port`; its output goes to node-PORT/node.log. The node gets its
/// own process group so a Ctrl-C in the terminal reaches only the supervisor, which then
/// stops the nodes in order.
pub fn spawn(dir: &Dir, port: u16, o: &NodeOpts) -> Result<Child> {
    let conf = write_conf(dir, port, o)?;
    let nd = dir.node_dir(port);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(nd.join("node.log"))?;
    let mut cmd = Command::new(&o.server_bin);
    if is_self(&o.server_bin) {
        cmd.arg(EMBEDDED_NODE_ARG);
    }
    let child = cmd
        .arg(&conf)
        .current_dir(&nd)
        // The config file carries the password; an inherited RUBRA_PASSWORD must not
        // reach the node's environment lookup (see node_entry).
        .env_remove("RUBRA_PASSWORD")
        .env_remove("RUBRA_PASSWORD_FILE")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawn {:?} for port {port}", o.server_bin))?;
    Ok(child)
}

/// A node process we watch: our child, or one left by an earlier supervisor.
#[derive(Debug)]
pub enum Handle {
    /// Spawned by this supervisor.
    Child(Child),
    /// Found running at startup (pid from state.json); watched with kill(pid, 0).
    Adopted(u32),
}

impl Handle {
    /// Process id.
    pub fn pid(&self) -> u32 {
        match self {
            Handle::Child(c) => c.id(),
            Handle::Adopted(p) => *p,
        }
    }
    /// True while the process runs (reaps our child when it exited).
    pub fn alive(&mut self) -> bool {
        match self {
            Handle::Child(c) => matches!(c.try_wait(), Ok(None)),
            Handle::Adopted(p) => pid_alive(*p),
        }
    }
    /// SIGTERM, wait up to `grace`, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        signal(self.pid(), libc::SIGTERM);
        let t0 = Instant::now();
        while self.alive() && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.alive() {
            signal(self.pid(), libc::SIGKILL);
            if let Handle::Child(c) = self {
                let _ = c.wait();
            }
        }
    }
}

/// The argument that makes the `rubra` executable run as a node (see main.rs): nodes are
/// embedded in the one binary, so `rubra up` needs nothing else installed.
pub const EMBEDDED_NODE_ARG: &str = "server";

/// The default node binary: this executable itself, run with [`EMBEDDED_NODE_ARG`].
pub fn default_server_bin() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rubra-server"))
}

/// Whether `bin` is this executable (so it needs [`EMBEDDED_NODE_ARG`]).
fn is_self(bin: &std::path::Path) -> bool {
    match (std::env::current_exe(), std::fs::canonicalize(bin)) {
        (Ok(me), Ok(b)) => std::fs::canonicalize(me).is_ok_and(|me| me == b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{bind_line, is_rubra, node_workers};

    #[test]
    fn bind_follows_the_announce_ip() {
        assert_eq!(bind_line(None), "127.0.0.1");
        assert_eq!(bind_line(Some("127.0.0.1")), "127.0.0.1");
        // All of 127.0.0.0/8 is loopback on Linux, so it can be bound.
        assert_eq!(bind_line(Some("127.0.0.2")), "127.0.0.2 127.0.0.1");
        // A documentation address (RFC 5737) is not ours: bind everything.
        assert_eq!(bind_line(Some("192.0.2.7")), "0.0.0.0");
        assert_eq!(bind_line(Some("not-an-ip")), "0.0.0.0");
    }

    #[test]
    fn rubra_nodes_share_the_hosts_cpus() {
        assert_eq!(node_workers(1), 1);
        assert_eq!(node_workers(2), 1);
        assert_eq!(node_workers(12), 2);
        assert_eq!(node_workers(64), 10);
        assert!(is_rubra(std::path::Path::new(
            "/usr/local/bin/rubra-server"
        )));
        assert!(!is_rubra(std::path::Path::new("/usr/bin/redis-server")));
    }
}

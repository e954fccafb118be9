//! Real network partitions for cluster tests (cluster_faults.rs, chaos.rs): one network
//! namespace per node, all joined by a bridge in a namespace of its own. Nothing is
//! created in the root namespace, so nothing can clash with the host. Needs root
//! (CAP_SYS_ADMIN) and iproute2's `ip`.

use super::cluster::wait_for;
use super::SERVER_LOG;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `ip ARGS`, returning stderr on failure.
pub(crate) fn ip(args: &[&str]) -> Result<(), String> {
    tool("ip", args)
}

/// Runs `program ARGS`; Err names the command and carries its stderr.
fn tool(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces this test created; deleted on drop (which also destroys the veths and
/// the bridge inside them).
pub(crate) struct Namespaces {
    names: Vec<String>,
}

impl Namespaces {
    pub(crate) fn add(&mut self, name: &str) -> Result<(), String> {
        ip(&["netns", "add", name])?;
        self.names.push(name.to_string());
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

/// A rubra-server running inside a namespace, listening on its own address (for its
/// peers) and on the namespace's loopback (so the test can still ask it questions while
/// its link is down). Killed on drop.
pub(crate) struct NsNode {
    pub ns: String,
    pub ip: String,
    child: Child,
    /// Data directory (nodes.conf, and SERVER_LOG with the output of every start).
    pub dir: std::path::PathBuf,
    bin: std::path::PathBuf,
    args: Vec<String>,
}

/// The port every namespaced node listens on (each has an address of its own).
pub(crate) const NS_PORT: &str = "7000";

impl NsNode {
    /// Starts rubra-server in namespace `ns` on `ip_addr`.
    pub(crate) fn start(ns: &str, ip_addr: &str) -> NsNode {
        Self::start_bin(&super::rubra_bin(), ns, ip_addr, &[])
    }

    /// Starts `bin` (rubra-server, or redis-server which takes the same options) with
    /// extra `--name value` arguments.
    pub(crate) fn start_bin(
        bin: &std::path::Path,
        ns: &str,
        ip_addr: &str,
        extra: &[&str],
    ) -> NsNode {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let dir = ns_dir(ns);
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        let mut node = NsNode {
            ns: ns.to_string(),
            ip: ip_addr.to_string(),
            child: spawn_in(bin, ns, ip_addr, &dir, &args),
            dir,
            bin: bin.to_path_buf(),
            args,
        };
        assert!(node.wait_ready(), "{} in {ns} did not start", bin.display());
        node
    }

    fn wait_ready(&mut self) -> bool {
        wait_for(Duration::from_secs(15), || self.cli(&["ping"]) == "PONG")
    }

    /// The server's process id (`ip netns exec` execs it, so it is the child's).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL.
    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited on its own (or was killed).
    pub(crate) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Starts it again with the same data directory (and nodes.conf).
    pub(crate) fn restart(&mut self) -> bool {
        self.kill9();
        self.child = spawn_in(&self.bin, &self.ns, &self.ip, &self.dir, &self.args);
        self.wait_ready()
    }

    /// Takes the node's only link down (a partition) or up again.
    pub(crate) fn set_link(&self, up: bool) -> Result<(), String> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns, "link", "set", "eth0", state])
    }

    /// redis-cli run inside this node's own namespace, against its loopback listener.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        ns_cli(
            &self.ns,
            &[&["-h", "127.0.0.1", "-p", NS_PORT], args].concat(),
        )
    }

    pub(crate) fn addr(&self) -> String {
        format!("{}:{NS_PORT}", self.ip)
    }

    pub(crate) fn view(&self) -> Vec<super::cluster::NodeLine> {
        super::cluster::parse_nodes(&self.cli(&["cluster", "nodes"]))
    }
}

impl Drop for NsNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The data directory of the node in namespace `ns` (a caller may mount a filesystem
/// there before starting it; only its contents are removed then).
pub(crate) fn ns_dir(ns: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rubra-netns-{ns}"))
}

/// Runs `cmd ARGS` inside namespace `ns` (iptables, for instance); stderr on failure.
pub(crate) fn ns_exec(ns: &str, cmd: &str, args: &[&str]) -> Result<(), String> {
    ip(&[&["netns", "exec", ns, cmd][..], args].concat())
}

/// redis-cli run inside namespace `ns` (stdout + stderr, trimmed).
pub(crate) fn ns_cli(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "redis-cli"])
        .args(args)
        .output()
        .expect("ip netns exec redis-cli");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim_end()
    .to_string()
}

/// Builds the bridge namespace and one namespace per node; returns (namespaces, node
/// namespace names, node addresses, bridge namespace name).
pub(crate) fn build_network(
    n: usize,
) -> Result<(Namespaces, Vec<String>, Vec<String>, String), String> {
    let pid = std::process::id();
    let prefix = format!("rbt{pid}-");
    // 10.213.X.0/24, private space; X from our pid so parallel runs differ anyway (each
    // lives in its own namespaces, so they could not clash even with the same subnet).
    let subnet = format!("10.213.{}", 16 + pid % 200);
    let mut nss = Namespaces { names: Vec::new() };
    let br = format!("{prefix}br");
    nss.add(&br)?;
    ip(&["-n", &br, "link", "set", "lo", "up"])?;
    ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &br, "link", "set", "br0", "up"])?;
    ip(&[
        "-n",
        &br,
        "addr",
        "add",
        &format!("{subnet}.1/24"),
        "dev",
        "br0",
    ])?;
    let mut names = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..n {
        let ns = format!("{prefix}n{i}");
        nss.add(&ns)?;
        let port = format!("v{i}");
        ip(&[
            "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &br, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &br, "link", "set", &port, "up"])?;
        let a = format!("{subnet}.{}", 10 + i);
        ip(&["-n", &ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        names.push(ns);
        addrs.push(a);
    }
    Ok((nss, names, addrs, br))
}

fn spawn_in(
    bin: &std::path::Path,
    ns: &str,
    ip_addr: &str,
    dir: &std::path::Path,
    extra: &[String],
) -> Child {
    // RUBRA_NODE_LOG_DIR keeps the logs off the node's own disk (a full-disk fault loses
    // the lines written while it is full otherwise).
    let log_path = match std::env::var("RUBRA_NODE_LOG_DIR") {
        Ok(d) => std::path::PathBuf::from(d).join(format!("{ns}.log")),
        Err(_) => dir.join(SERVER_LOG),
    };
    let log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    };
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(bin)
        .args(["--port", NS_PORT, "--bind", ip_addr, "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
        .args(["--cluster-announce-ip", ip_addr, "--save", ""])
        // Peers connect from other addresses; no password is set in tests.
        .args(["--protected-mode", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(log())
        .stderr(log())
        .spawn()
        .expect("spawn a server in a namespace")
}

/// Whether this process may create network namespaces (root with CAP_SYS_ADMIN and
/// iproute2); Err says why not.
pub(crate) fn netns_available() -> Result<(), String> {
    let probe = format!("rbt{}-probe", std::process::id());
    ip(&["netns", "add", &probe])?;
    let _ = ip(&["netns", "del", &probe]);
    Ok(())
}

/// Moves the calling thread into network namespace `name` (threads it spawns later
/// inherit it): the test's own clients then reach the nodes as the bridge does.
pub(crate) fn enter_netns(name: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(format!("/var/run/netns/{name}"))
        .map_err(|e| format!("open netns {name}: {e}"))?;
    // SAFETY: setns on a file descriptor we own and keep open across the call.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("setns {name}: {}", std::io::Error::last_os_error()))
    }
}

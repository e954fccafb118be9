//! The chaos suite's cluster: nodes as local processes or in network namespaces of their
//! own (each node's data directory on a small tmpfs when disk faults are on), the
//! convergence check, and what the cluster holds at the end.

use super::check::{read_primary, Held};
use super::client::Addr;
use crate::common::cluster::*;
use crate::common::netns::*;
use crate::common::tmpfs::Tmpfs;
use crate::common::*;
use std::time::Duration;

/// The node timeout every node runs with.
pub(crate) const NODE_TIMEOUT_MS: u64 = 2000;

/// A cluster node: a local process on loopback, or one in a network namespace of its
/// own (then the test's threads live in the bridge namespace, see enter_netns).
pub(crate) enum Member {
    Local(TestServer),
    Ns(NsNode),
}

impl Member {
    /// "ip:port", as the cluster announces it.
    pub(crate) fn addr(&self) -> Addr {
        match self {
            Member::Local(s) => addr(s),
            Member::Ns(n) => n.addr(),
        }
    }
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        match self {
            Member::Local(s) => s.cli(args),
            Member::Ns(n) => n.cli(args),
        }
    }
    pub(crate) fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr()))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect")
    }
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Member::Local(s) => s.pid(),
            Member::Ns(n) => n.pid(),
        }
    }
    pub(crate) fn dir(&self) -> &std::path::Path {
        match self {
            Member::Local(s) => &s.dir,
            Member::Ns(n) => &n.dir,
        }
    }
    pub(crate) fn kill9(&mut self) {
        match self {
            Member::Local(s) => s.kill9(),
            Member::Ns(n) => n.kill9(),
        }
    }
    pub(crate) fn restart(&mut self) -> bool {
        match self {
            Member::Local(s) => s.restart(None),
            Member::Ns(n) => n.restart(),
        }
    }
    /// The node's network namespace, if it has one.
    pub(crate) fn ns(&self) -> Option<&str> {
        match self {
            Member::Local(_) => None,
            Member::Ns(n) => Some(&n.ns),
        }
    }
    /// The node's IP address (without the port).
    pub(crate) fn ip(&self) -> String {
        let a = self.addr();
        a.rsplit_once(':')
            .map(|(ip, _)| ip.to_string())
            .unwrap_or(a)
    }
    /// Whether the process has exited (a node that stopped itself, e.g. on a full disk).
    pub(crate) fn exited(&mut self) -> bool {
        match self {
            Member::Local(s) => !s.alive(),
            Member::Ns(n) => n.exited(),
        }
    }
    pub(crate) fn set_link(&self, up: bool) -> Result<(), String> {
        match self {
            Member::Local(_) => Err("no namespaces".into()),
            Member::Ns(n) => n.set_link(up),
        }
    }
}

/// Every node's CLUSTER NODES, for a failure message.
pub(crate) fn views(nodes: &[Member]) -> String {
    nodes
        .iter()
        .map(|m| format!("{}:\n{}", m.addr(), m.cli(&["cluster", "nodes"])))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cluster under test. Fields drop in order: the nodes stop before their disks are
/// unmounted and before the namespaces go.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Member>,
    /// Each node's data directory, a tmpfs the full-disk fault fills (when enabled).
    pub(crate) disks: Vec<Tmpfs>,
    _namespaces: Option<Namespaces>,
}

/// Size of each node's tmpfs in MB (RUBRA_CHAOS_DISK_MB): room for the AOF of the run,
/// small enough to fill fast. A long run needs more than the default.
fn disk_size() -> String {
    let mb = std::env::var("RUBRA_CHAOS_DISK_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(256);
    format!("{mb}m")
}

/// An `n`-node cluster (n/2 primaries with a replica each) of `bin`: in network
/// namespaces when `netns`, else on loopback; each node's directory on a tmpfs of its own
/// when `disks` (namespaces only).
pub(crate) fn start_cluster(bin: &std::path::Path, netns: bool, n: usize, disks: bool) -> Cluster {
    // Every acknowledged write on disk before the reply: a primary restarted before its
    // replica took over must not come back without writes the replica has, or the
    // replica's resync from it would erase them (true of Redis as well). A small rewrite
    // threshold keeps the AOF well inside a node's tmpfs.
    let durable = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--auto-aof-rewrite-min-size",
        "16mb",
    ];
    let timeout = NODE_TIMEOUT_MS.to_string();
    if !netns {
        let args = [&["--cluster-node-timeout", timeout.as_str()][..], &durable].concat();
        let nodes: Vec<Member> = make_cluster_bin(bin, n, 1, &args)
            .into_iter()
            .map(Member::Local)
            .collect();
        assert!(
            wait_for(Duration::from_secs(30), || converged(&nodes).is_ok()),
            "cluster never converged: {:?}",
            converged(&nodes)
        );
        return Cluster {
            nodes,
            disks: Vec::new(),
            _namespaces: None,
        };
    }
    let (nss, names, addrs, br) = build_network(n).expect("building the test network");
    enter_netns(&br).expect("entering the bridge namespace");
    let mut mounted = Vec::new();
    let nodes: Vec<Member> = names
        .iter()
        .zip(&addrs)
        .map(|(ns, a)| {
            if disks {
                let dir = ns_dir(ns);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).expect("node directory");
                mounted.push(Tmpfs::mount_on(&dir, &disk_size()).expect("tmpfs for a node"));
            }
            Member::Ns(NsNode::start_bin(bin, ns, a, &durable))
        })
        .collect();
    let all: Vec<Addr> = nodes.iter().map(Member::addr).collect();
    let mut args: Vec<&str> = vec!["--cluster", "create"];
    args.extend(all.iter().map(|s| s.as_str()));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let out = cli_raw(&args);
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    assert!(
        wait_for(Duration::from_secs(30), || nodes.iter().all(
            |n| info_field_of(&n.cli(&["cluster", "info"]), "cluster_state") == "ok"
        )),
        "cluster never reached state ok"
    );
    assert!(
        wait_for(Duration::from_secs(30), || converged(&nodes).is_ok()),
        "cluster never converged: {:?}",
        converged(&nodes)
    );
    Cluster {
        nodes,
        disks: mounted,
        _namespaces: Some(nss),
    }
}

/// Ok when every node answers, says cluster_state:ok, knows all nodes with none failed,
/// and all agree on one primary owner for every slot.
pub(crate) fn converged(nodes: &[Member]) -> Result<(), String> {
    let mut first: Option<Vec<Option<String>>> = None;
    for s in nodes {
        let a = s.addr();
        if info_field_of(&s.cli(&["cluster", "info"]), "cluster_state") != "ok" {
            return Err(format!("{a}: cluster_state not ok"));
        }
        // A replica that has not synced cannot take over (Redis refuses a failover after
        // validity-factor x node-timeout disconnected): the next fault waits for it.
        let repl = s.cli(&["info", "replication"]);
        if info_field_of(&repl, "role") == "slave"
            && info_field_of(&repl, "master_link_status") != "up"
        {
            return Err(format!("{a}: replica not in sync with its primary"));
        }
        let text = s.cli(&["cluster", "nodes"]);
        if text.contains("->-") || text.contains("-<-") {
            return Err(format!("{a}: a slot migration is still open"));
        }
        let view = parse_nodes(&text);
        if view.len() != nodes.len() {
            return Err(format!("{a} knows {} nodes", view.len()));
        }
        if let Some(n) = view.iter().find(|n| n.has("fail") || n.has("fail?")) {
            return Err(format!("{a} sees {} failing", n.addr));
        }
        let owners = owner_map(&view);
        if let Some(slot) = owners.iter().position(|o| o.is_none()) {
            return Err(format!("{a}: slot {slot} unowned"));
        }
        if let Some(o) = owners
            .iter()
            .flatten()
            .find(|o| !view.iter().any(|n| &&n.id == o && n.has("master")))
        {
            return Err(format!("{a}: owner {o} is not a primary"));
        }
        match &first {
            None => first = Some(owners),
            Some(f) if *f != owners => return Err(format!("{a} disagrees on slot owners")),
            Some(_) => {}
        }
    }
    Ok(())
}

/// What the cluster holds: every chaos:* key on the primaries, with its contents, and
/// how many keys sat on a primary that does not own their slot.
pub(crate) fn read_all(nodes: &[Member]) -> Held {
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    let mut held = Held::default();
    for p in view
        .iter()
        .filter(|n| n.has("master") && !n.slots.is_empty())
    {
        if let Some(s) = nodes.iter().find(|s| s.addr() == p.addr) {
            read_primary(&mut s.conn(), &p.slots, &mut held);
        }
    }
    held
}

/// Lines of the nodes' logs that report a crash.
pub(crate) fn crashes(nodes: &[Member]) -> Vec<String> {
    nodes
        .iter()
        .flat_map(|s| {
            let log = std::fs::read_to_string(s.dir().join(SERVER_LOG)).unwrap_or_default();
            log.lines()
                .filter(|l| {
                    l.contains("panicked at")
                        || l.contains("BUG REPORT")
                        || l.contains("crashed by signal")
                })
                .map(|l| format!("{}: {l}", s.addr()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The index of the server listening at "ip:port".
pub(crate) fn index_of(nodes: &[Member], address: &str) -> Option<usize> {
    nodes.iter().position(|s| s.addr() == address)
}

/// A node's (used_memory, used_memory_rss, mem_replication_backlog); zeros if it does not
/// answer.
pub(crate) fn memory_of(node: &Member) -> (u64, u64, u64) {
    let info = node.cli(&["info"]);
    let num = |f: &str| info_field_of(&info, f).parse::<u64>().unwrap_or(0);
    (
        num("used_memory"),
        num("used_memory_rss"),
        num("mem_replication_backlog"),
    )
}

/// Brings the cluster to a quiet, empty state for the memory check: FLUSHALL on every
/// primary (replicas follow through the stream), then waits until every node holds no
/// key and has no client connected besides the one asking; Err says which node did not.
pub(crate) fn flush_and_quiesce(nodes: &[Member]) -> Result<(), String> {
    for n in nodes {
        if info_field_of(&n.cli(&["info", "replication"]), "role") == "master" {
            let reply = n.cli(&["flushall"]);
            if reply != "OK" {
                return Err(format!("{}: FLUSHALL answered {reply}", n.addr()));
            }
        }
    }
    let quiet = |n: &Member| n.cli(&["dbsize"]) == "0" && other_clients(n) == 0;
    if !wait_for(Duration::from_secs(30), || nodes.iter().all(quiet)) {
        let loud: Vec<String> = nodes
            .iter()
            .filter(|n| !quiet(n))
            .map(|n| {
                format!(
                    "{} (dbsize {}, clients {})",
                    n.addr(),
                    n.cli(&["dbsize"]),
                    other_clients(n)
                )
            })
            .collect();
        return Err(format!(
            "not empty and quiet after 30 s: {}",
            loud.join(", ")
        ));
    }
    // Let the cron run (client and expiry housekeeping) before the reading.
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

/// Normal clients connected to `node` besides the CLIENT LIST asking (a replica's link
/// to its primary and a primary's replicas do not count).
fn other_clients(node: &Member) -> usize {
    node.cli(&["client", "list"])
        .lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .filter(|l| {
            let flags = l
                .split(' ')
                .find_map(|f| f.strip_prefix("flags="))
                .unwrap_or("");
            !flags.contains('M') && !flags.contains('S')
        })
        .count()
}

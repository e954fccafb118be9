//! Cluster helpers shared by the real-process cluster tests (cluster.rs, cluster_ops.rs,
//! cluster_faults.rs): forming a cluster with `redis-cli --cluster create`, reading
//! CLUSTER INFO / CLUSTER NODES, and checking the end state with `redis-cli --cluster check`.

use super::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `redis-cli` with arbitrary arguments (no -p), returning stdout + stderr.
pub(crate) fn cli_raw(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli must be installed (apt-get install -y redis-tools)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// "127.0.0.1:port" of a test server, as redis-cli --cluster wants it.
pub(crate) fn addr(s: &TestServer) -> String {
    format!("127.0.0.1:{}", s.port)
}

/// One field of CLUSTER INFO (e.g. "cluster_state"), empty if missing.
pub(crate) fn info_field(s: &TestServer, field: &str) -> String {
    info_field_of(&s.cli(&["cluster", "info"]), field)
}

/// One `field:value` line of an INFO-style text.
pub(crate) fn info_field_of(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// Polls `cond` every 100 ms until it holds or `within` passes.
pub(crate) fn wait_for(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Starts `n` cluster nodes and joins them with `redis-cli --cluster create`.
pub(crate) fn make_cluster(n: usize, replicas: usize, extra: &[&str]) -> Vec<TestServer> {
    make_cluster_bin(&rubra_bin(), n, replicas, extra)
}

/// [`make_cluster`] of another server binary (redis-server as the reference).
pub(crate) fn make_cluster_bin(
    bin: &std::path::Path,
    n: usize,
    replicas: usize,
    extra: &[&str],
) -> Vec<TestServer> {
    let nodes: Vec<TestServer> = (0..n)
        .map(|_| TestServer::start_cluster_bin(bin, extra))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(addr).collect();
    let mut args: Vec<&str> = vec!["--cluster", "create"];
    args.extend(addrs.iter().map(|s| s.as_str()));
    let r = replicas.to_string();
    args.extend(["--cluster-replicas", &r, "--cluster-yes"]);
    let out = cli_raw(&args);
    assert!(out.contains("[OK] All 16384 slots covered"), "{out}");
    assert!(
        wait_for(Duration::from_secs(30), || nodes
            .iter()
            .all(|s| info_field(s, "cluster_state") == "ok")),
        "cluster never reached state ok"
    );
    nodes
}

/// Asserts that `redis-cli --cluster check` through `s` is clean.
pub(crate) fn check_ok(s: &TestServer) {
    check_ok_at(&addr(s));
}

/// Waits (up to `within`) for `redis-cli --cluster check` through `s` to come out clean,
/// then asserts it: after a reshard or a join, replicas learn the new map by gossip.
pub(crate) fn wait_check_ok(s: &TestServer, within: Duration) {
    let address = addr(s);
    wait_for(within, || {
        let out = cli_raw(&["--cluster", "check", &address]);
        out.contains("[OK] All nodes agree about slots configuration.")
            && !out.contains("[ERR]")
            && !out.contains("[WARNING]")
    });
    check_ok_at(&address);
}

/// Waits until every node of `nodes` lists exactly these nodes (by id, none in handshake),
/// then asserts it with everybody's CLUSTER NODES. `redis-cli --cluster add-node` returns
/// once the newcomer was told to MEET; the others learn it by gossip a moment later, and
/// until then a second add-node's cluster check sees a partial view.
pub(crate) fn wait_all_know_each_other(nodes: &[TestServer], within: Duration) {
    let ids: Vec<String> = nodes.iter().map(|s| s.cli(&["cluster", "myid"])).collect();
    let agree = || {
        nodes.iter().all(|s| {
            let v = parse_nodes(&s.cli(&["cluster", "nodes"]));
            v.len() == ids.len()
                && ids.iter().all(|id| v.iter().any(|n| &n.id == id))
                && !v.iter().any(|n| n.has("handshake"))
        })
    };
    assert!(wait_for(within, agree), "{}", all_views(nodes));
}

/// Every node's CLUSTER NODES, for a failure message.
pub(crate) fn all_views(nodes: &[TestServer]) -> String {
    nodes
        .iter()
        .map(|s| format!("{}:\n{}", addr(s), s.cli(&["cluster", "nodes"])))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `redis-cli --cluster check HOST:PORT` is clean.
pub(crate) fn check_ok_at(address: &str) {
    let out = cli_raw(&["--cluster", "check", address]);
    assert_check_clean(&out);
}

/// Asserts that a `redis-cli --cluster check` output reports no problem.
pub(crate) fn assert_check_clean(out: &str) {
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    assert!(
        out.contains("[OK] All nodes agree about slots configuration."),
        "{out}"
    );
    assert!(!out.contains("[ERR]"), "{out}");
    assert!(!out.contains("[WARNING]"), "{out}");
}

/// The port serving each slot, from CLUSTER SLOTS.
pub(crate) fn slot_ports(s: &TestServer) -> Vec<u16> {
    let mut c = s.conn();
    let mut ports = vec![0u16; 16384];
    if let redis::Value::Array(ranges) = q(&mut c, &["CLUSTER", "SLOTS"]) {
        for r in ranges {
            if let redis::Value::Array(f) = r {
                if let (redis::Value::Int(a), redis::Value::Int(b), redis::Value::Array(p)) =
                    (&f[0], &f[1], &f[2])
                {
                    if let redis::Value::Int(port) = p[1] {
                        for slot in *a..=*b {
                            ports[slot as usize] = port as u16;
                        }
                    }
                }
            }
        }
    }
    ports
}

/// One parsed CLUSTER NODES line.
#[derive(Debug, Clone)]
pub(crate) struct NodeLine {
    pub id: String,
    /// "ip:port" (without the bus port).
    pub addr: String,
    pub flags: Vec<String>,
    /// The primary's id for a replica, "-" for a primary.
    pub master: String,
    /// Owned slot ranges, inclusive (importing/migrating entries are skipped).
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    /// Whether the flags contain `flag` ("myself", "master", "slave", "fail", ...).
    pub(crate) fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Parses a CLUSTER NODES reply.
pub(crate) fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let addr = f
                .get(1)
                .and_then(|a| a.split('@').next())
                .unwrap_or_default()
                .to_string();
            let slots = f
                .iter()
                .skip(8)
                .filter(|r| !r.starts_with('['))
                .filter_map(|r| match r.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => r.parse().ok().map(|s| (s, s)),
                })
                .collect();
            NodeLine {
                id: f[0].to_string(),
                addr,
                flags: f
                    .get(2)
                    .unwrap_or(&"")
                    .split(',')
                    .map(str::to_string)
                    .collect(),
                master: f.get(3).unwrap_or(&"-").to_string(),
                slots,
            }
        })
        .collect()
}

/// The primary owning slot 0 (the victim of a fault test) and one of its replicas.
pub(crate) fn owner_of_slot_0_and_its_replica(view: &[NodeLine]) -> (NodeLine, NodeLine) {
    let victim = view
        .iter()
        .find(|n| n.has("master") && n.slots.iter().any(|&(a, _)| a == 0))
        .expect("owner of slot 0")
        .clone();
    let replica = view
        .iter()
        .find(|n| n.master == victim.id)
        .expect("a replica of the victim")
        .clone();
    (victim, replica)
}

/// Slot -> owner id as one node sees it (None where unassigned).
pub(crate) fn owner_map(nodes: &[NodeLine]) -> Vec<Option<String>> {
    let mut owners = vec![None; 16384];
    for n in nodes {
        for &(a, b) in &n.slots {
            for s in a..=b {
                owners[s as usize] = Some(n.id.clone());
            }
        }
    }
    owners
}

/// A hash tag whose slot `s` owns (so keys `{tag}...` can be written there).
pub(crate) fn tag_served_by(s: &TestServer) -> String {
    let mine = parse_nodes(&s.cli(&["cluster", "nodes"]))
        .into_iter()
        .find(|n| n.has("myself"))
        .expect("myself line");
    (0..1000)
        .map(|i| format!("t{i}"))
        .find(|tag| {
            let slot: u16 = s.cli(&["cluster", "keyslot", tag]).parse().unwrap_or(0);
            mine.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
        })
        .expect("a tag in our slots")
}

/// A new node of `bin` (with `opts`) joined to `nodes` as a replica of `nodes[0]`, once
/// its replication link is up.
pub(crate) fn add_replica_of_first(
    bin: &std::path::Path,
    nodes: &[TestServer],
    opts: &[&str],
) -> TestServer {
    let r = TestServer::start_cluster_bin(bin, opts);
    let port = nodes[0].port.to_string();
    assert_eq!(r.cli(&["cluster", "meet", "127.0.0.1", &port]), "OK");
    let id = nodes[0].cli(&["cluster", "myid"]);
    // CLUSTER REPLICATE fails until the node learned its future primary by gossip.
    assert!(wait_for(Duration::from_secs(20), || r.cli(&[
        "cluster",
        "replicate",
        &id
    ]) == "OK"));
    assert!(wait_for(Duration::from_secs(20), || info_field_of(
        &r.cli(&["info", "replication"]),
        "master_link_status"
    ) == "up"));
    r
}

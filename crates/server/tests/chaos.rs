//! Chaos suite with a checker (issue 14): a 6-node cluster of bare server processes,
//! several concurrent clients writing counters (INCR), sets of unique ids (SADD), lists
//! (RPUSH) and unique strings (SET), a share of them acknowledged with `WAIT 1 500`, and
//! faults from a seeded schedule: kill -9 and restart of a primary or of a replica, and a
//! SIGSTOP longer than the node timeout. After every fault the cluster must converge
//! within a bound; after the last one the history is checked against what the cluster
//! holds: every WAIT-acked write present, no value that was never sent, every counter
//! between its WAIT-acked and its sent increments, and no node panicked.
//!
//! Knobs (environment): RUBRA_CHAOS_SECS (seconds of faults, default 40),
//! RUBRA_CHAOS_SEED (replays a run; printed either way), RUBRA_CHAOS_CLIENTS (default 4),
//! RUBRA_CHAOS_SERVER=redis (the same run against redis-server, the reference),
//! RUBRA_CHAOS_FAULTS=kill,stop,partition (a subset of the fault kinds; also
//! kill-primary, kill-replica),
//! RUBRA_CHAOS_NETNS=0 (loopback only even as root: no partitions).
//! bench/chaos.sh runs the long version.
//!
//! The clients route by CLUSTER SLOTS and follow MOVED themselves over plain `redis`
//! crate connections rather than using `redis::cluster`: WAIT must reach the node that
//! took the write, and a write is sent exactly once (the cluster client re-sends after
//! a timeout, which could apply an INCR twice and make the counter check meaningless).

mod common;
use common::cluster::*;
use common::netns::*;
use common::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NODE_TIMEOUT_MS: u64 = 2000;
/// How long the cluster may take to converge after a fault ends.
const CONVERGE_BOUND: Duration = Duration::from_secs(30);
const COUNTERS: u64 = 16;
const COLLECTIONS: u64 = 8;
/// Width of one availability bucket.
const BUCKET_MS: u64 = 100;

/// splitmix64: a seeded generator with no dependency, so a seed replays a schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn between_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// What became of one write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// An error reply: the server did not apply it.
    Refused,
    /// No reply (timeout, closed link): it may or may not have been applied.
    Unknown,
    /// A success reply.
    Acked,
    /// A success reply, then WAIT 1 answered >= 1 on the same connection.
    WaitAcked,
}

/// The result of sending one command.
enum Outcome {
    Reply(redis::Value, Addr),
    Refused,
    Unknown,
}

/// A node's client address, "ip:port".
type Addr = String;

/// A minimal cluster client: slot map from CLUSTER SLOTS, MOVED followed, one
/// connection per node, never a blind re-send.
struct Router {
    seeds: Vec<Addr>,
    map: Vec<Option<Addr>>,
    conns: HashMap<Addr, redis::Connection>,
    stale: bool,
    next_seed: usize,
}

impl Router {
    fn new(seeds: Vec<Addr>) -> Router {
        Router {
            seeds,
            map: vec![None; 16384],
            conns: HashMap::new(),
            stale: true,
            next_seed: 0,
        }
    }

    fn conn(&mut self, a: &str) -> Option<&mut redis::Connection> {
        if !self.conns.contains_key(a) {
            let c = redis::Client::open(format!("redis://{a}/"))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
                .ok()?;
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
            self.conns.insert(a.to_string(), c);
        }
        self.conns.get_mut(a)
    }

    /// Reloads the slot map from the first node (round robin) that answers.
    fn refresh(&mut self) {
        for _ in 0..self.seeds.len() {
            let a = self.seeds[self.next_seed % self.seeds.len()].clone();
            self.next_seed += 1;
            let Some(c) = self.conn(&a) else { continue };
            match redis::cmd("CLUSTER").arg("SLOTS").query::<redis::Value>(c) {
                Ok(v) => {
                    let map = slots_map(&v);
                    if map.iter().any(Option::is_some) {
                        self.map = map;
                        self.stale = false;
                        return;
                    }
                }
                Err(e) if e.code().is_none() => {
                    self.conns.remove(&a);
                }
                Err(_) => {}
            }
        }
    }

    /// Sends `cmd` for `slot` once (again only after a MOVED, which means not applied).
    fn exec(&mut self, cmd: &redis::Cmd, slot: u16) -> Outcome {
        for _ in 0..3 {
            if self.stale || self.map[slot as usize].is_none() {
                self.refresh();
            }
            let Some(a) = self.map[slot as usize].clone() else {
                return Outcome::Refused;
            };
            let Some(c) = self.conn(&a) else {
                self.stale = true;
                return Outcome::Refused;
            };
            match cmd.query::<redis::Value>(c) {
                Ok(v) => return Outcome::Reply(v, a),
                Err(e) if e.code().is_some() => {
                    if e.code() == Some("MOVED") {
                        if let Some((host, port)) = e.redirect_node() {
                            self.map[slot as usize] = Some(format!("{host}:{port}"));
                            continue;
                        }
                    }
                    self.stale = true;
                    return Outcome::Refused;
                }
                Err(_) => {
                    self.conns.remove(&a);
                    self.stale = true;
                    return Outcome::Unknown;
                }
            }
        }
        Outcome::Refused
    }

    /// WAIT 1 500 on the connection to `a`: how many replicas acknowledged.
    fn wait(&mut self, a: &str) -> i64 {
        let Some(c) = self.conn(a) else { return 0 };
        match redis::cmd("WAIT").arg(1).arg(500).query::<i64>(c) {
            Ok(n) => n,
            Err(e) => {
                if e.code().is_none() {
                    self.conns.remove(a);
                }
                0
            }
        }
    }
}

/// Slot -> "ip:port" from a CLUSTER SLOTS reply.
fn slots_map(v: &redis::Value) -> Vec<Option<Addr>> {
    let mut map = vec![None; 16384];
    let text = |v: Option<&redis::Value>| match v {
        Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(redis::Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    if let redis::Value::Array(ranges) = v {
        for r in ranges {
            let redis::Value::Array(f) = r else { continue };
            let (Some(redis::Value::Int(a)), Some(redis::Value::Int(b))) = (f.first(), f.get(1))
            else {
                continue;
            };
            let Some(redis::Value::Array(p)) = f.get(2) else {
                continue;
            };
            let (Some(host), Some(redis::Value::Int(port))) = (text(p.first()), p.get(1)) else {
                continue;
            };
            let node = format!("{host}:{port}");
            for s in (*a).max(0)..=(*b).min(16383) {
                map[s as usize] = Some(node.clone());
            }
        }
    }
    map
}

/// Per 100 ms bucket since the start: operations that succeeded and that failed.
struct Buckets {
    ok: Vec<AtomicU32>,
    failed: Vec<AtomicU32>,
    t0: Instant,
}

impl Buckets {
    fn new(secs: u64) -> Buckets {
        let n = ((secs + 600) * 1000 / BUCKET_MS) as usize;
        Buckets {
            ok: (0..n).map(|_| AtomicU32::new(0)).collect(),
            failed: (0..n).map(|_| AtomicU32::new(0)).collect(),
            t0: Instant::now(),
        }
    }
    fn index(&self, t: Instant) -> usize {
        (t.saturating_duration_since(self.t0).as_millis() as u64 / BUCKET_MS) as usize
    }
    /// Records an operation sent at `sent` that just ended: a failure marks every bucket
    /// it spanned (a client blocked on a frozen node is unavailable all that time).
    fn mark(&self, ok: bool, sent: Instant) {
        let end = self.index(Instant::now());
        let (v, from) = if ok {
            (&self.ok, end)
        } else {
            (&self.failed, self.index(sent))
        };
        for b in v.iter().take(end + 1).skip(from) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// Seconds within [from, to] in which some operation failed.
    fn unavailable(&self, from: Instant, to: Instant) -> f64 {
        let (a, b) = (self.index(from), self.index(to));
        (a..=b.min(self.failed.len().saturating_sub(1)))
            .filter(|&i| self.failed[i].load(Ordering::Relaxed) > 0)
            .count() as f64
            * BUCKET_MS as f64
            / 1000.0
    }
}

/// A counter's history.
#[derive(Default, Clone, Copy)]
struct Counter {
    /// Increments that may have been applied (acked or unknown).
    sent: u64,
    acked: u64,
    wait_acked: u64,
    /// The highest value an INCR returned that WAIT then confirmed.
    max_wait_value: i64,
}

/// One client's history.
#[derive(Default)]
struct History {
    /// (key, value or member, fate, seconds since the start) of SET, SADD and RPUSH.
    writes: Vec<(String, String, Fate, f64)>,
    counters: BTreeMap<String, Counter>,
}

fn worker(
    w: usize,
    seed: u64,
    seeds: Vec<Addr>,
    stop: Arc<AtomicBool>,
    buckets: Arc<Buckets>,
) -> History {
    let mut rng = Rng(seed ^ (w as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut r = Router::new(seeds);
    let mut h = History::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("{w}:{n}");
        let want_wait = rng.below(4) == 0;
        let op = rng.below(4);
        let (key, cmd) = match op {
            0 => {
                let k = format!("chaos:c:{}", rng.below(COUNTERS));
                let mut c = redis::cmd("INCR");
                c.arg(&k);
                (k, c)
            }
            1 => {
                let k = format!("chaos:set:{}", rng.below(COLLECTIONS));
                let mut c = redis::cmd("SADD");
                c.arg(&k).arg(&id);
                (k, c)
            }
            2 => {
                let k = format!("chaos:list:{}", rng.below(COLLECTIONS));
                let mut c = redis::cmd("RPUSH");
                c.arg(&k).arg(&id);
                (k, c)
            }
            _ => {
                let k = format!("chaos:s:{id}");
                let mut c = redis::cmd("SET");
                c.arg(&k).arg(&id);
                (k, c)
            }
        };
        let slot = rubra_keys::key_slot(key.as_bytes());
        let sent = Instant::now();
        let (fate, value) = match r.exec(&cmd, slot) {
            Outcome::Reply(v, a) => {
                if want_wait && r.wait(&a) >= 1 {
                    (Fate::WaitAcked, v)
                } else {
                    (Fate::Acked, v)
                }
            }
            Outcome::Refused => (Fate::Refused, redis::Value::Nil),
            Outcome::Unknown => (Fate::Unknown, redis::Value::Nil),
        };
        let ok = matches!(fate, Fate::Acked | Fate::WaitAcked);
        buckets.mark(ok, sent);
        if op == 0 {
            let c = h.counters.entry(key).or_default();
            if fate != Fate::Refused {
                c.sent += 1;
            }
            if ok {
                c.acked += 1;
            }
            if fate == Fate::WaitAcked {
                c.wait_acked += 1;
                if let redis::Value::Int(v) = value {
                    c.max_wait_value = c.max_wait_value.max(v);
                }
            }
        } else {
            h.writes
                .push((key, id, fate, (sent - buckets.t0).as_secs_f64()));
        }
        if !ok {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    h
}

/// The kinds of fault the schedule draws from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Fault {
    KillPrimary,
    KillReplica,
    StopPrimary,
    /// The node's only link down (network namespaces only): a minority primary, or a
    /// replica cut from its primary.
    Partition,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillPrimary => "kill -9 primary",
            Fault::KillReplica => "kill -9 replica",
            Fault::StopPrimary => "SIGSTOP primary",
            Fault::Partition => "partition (netns)",
        }
    }
}

/// A cluster node: a local process on loopback, or one in a network namespace of its
/// own (then the test's threads live in the bridge namespace, see enter_netns).
enum Member {
    Local(TestServer),
    Ns(NsNode),
}

impl Member {
    /// "ip:port", as the cluster announces it.
    fn addr(&self) -> Addr {
        match self {
            Member::Local(s) => addr(s),
            Member::Ns(n) => n.addr(),
        }
    }
    fn cli(&self, args: &[&str]) -> String {
        match self {
            Member::Local(s) => s.cli(args),
            Member::Ns(n) => n.cli(args),
        }
    }
    fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr()))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect")
    }
    fn pid(&self) -> u32 {
        match self {
            Member::Local(s) => s.pid(),
            Member::Ns(n) => n.pid(),
        }
    }
    fn dir(&self) -> &std::path::Path {
        match self {
            Member::Local(s) => &s.dir,
            Member::Ns(n) => &n.dir,
        }
    }
    fn kill9(&mut self) {
        match self {
            Member::Local(s) => s.kill9(),
            Member::Ns(n) => n.kill9(),
        }
    }
    fn restart(&mut self) -> bool {
        match self {
            Member::Local(s) => s.restart(None),
            Member::Ns(n) => n.restart(),
        }
    }
    fn set_link(&self, up: bool) -> Result<(), String> {
        match self {
            Member::Local(_) => Err("no namespaces".into()),
            Member::Ns(n) => n.set_link(up),
        }
    }
}

/// Every node's CLUSTER NODES, for a failure message.
fn views(nodes: &[Member]) -> String {
    nodes
        .iter()
        .map(|m| format!("{}:\n{}", m.addr(), m.cli(&["cluster", "nodes"])))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A 6-node cluster (3 primaries with a replica each) of `bin`: in network namespaces
/// when `netns` (the returned Namespaces must outlive the nodes), else on loopback.
fn start_cluster(bin: &std::path::Path, netns: bool) -> (Option<Namespaces>, Vec<Member>) {
    // Every acknowledged write on disk before the reply: a primary restarted before its
    // replica took over must not come back without writes the replica has, or the
    // replica's resync from it would erase them (true of Redis as well).
    let durable = ["--appendonly", "yes", "--appendfsync", "always"];
    let timeout = NODE_TIMEOUT_MS.to_string();
    if !netns {
        let args = [&["--cluster-node-timeout", timeout.as_str()][..], &durable].concat();
        let nodes = make_cluster_bin(bin, 6, 1, &args);
        return (None, nodes.into_iter().map(Member::Local).collect());
    }
    let (nss, names, addrs, br) = build_network(6).expect("building the test network");
    enter_netns(&br).expect("entering the bridge namespace");
    let nodes: Vec<Member> = names
        .iter()
        .zip(&addrs)
        .map(|(ns, a)| Member::Ns(NsNode::start_bin(bin, ns, a, &durable)))
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
    (Some(nss), nodes)
}

/// Ok when every node answers, says cluster_state:ok, knows all nodes with none failed,
/// and all agree on one primary owner for every slot.
fn converged(nodes: &[Member]) -> Result<(), String> {
    let mut first: Option<Vec<Option<String>>> = None;
    for s in nodes {
        let a = s.addr();
        if info_field_of(&s.cli(&["cluster", "info"]), "cluster_state") != "ok" {
            return Err(format!("{a}: cluster_state not ok"));
        }
        let view = parse_nodes(&s.cli(&["cluster", "nodes"]));
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

/// Strings of a reply (bulk, array or set); empty for nil.
fn strings_of(v: &redis::Value) -> Vec<String> {
    match v {
        redis::Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        redis::Value::SimpleString(s) => vec![s.clone()],
        redis::Value::Int(i) => vec![i.to_string()],
        redis::Value::Array(a) | redis::Value::Set(a) => a.iter().flat_map(strings_of).collect(),
        _ => Vec::new(),
    }
}

/// What the cluster holds: every chaos:* key on the primaries, with its contents, and
/// how many keys sat on a primary that does not own their slot.
fn read_all(nodes: &[Member]) -> (HashMap<String, Vec<String>>, usize) {
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    let mut out = HashMap::new();
    let mut stray = 0;
    for p in view
        .iter()
        .filter(|n| n.has("master") && !n.slots.is_empty())
    {
        let Some(s) = nodes.iter().find(|s| s.addr() == p.addr) else {
            continue;
        };
        let mut c = s.conn();
        let mut keys = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
                .arg(&cursor)
                .arg("MATCH")
                .arg("chaos:*")
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .expect("SCAN");
            keys.extend(batch);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        for chunk in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for k in chunk {
                if k.starts_with("chaos:set:") {
                    pipe.cmd("SMEMBERS").arg(k);
                } else if k.starts_with("chaos:list:") {
                    pipe.cmd("LRANGE").arg(k).arg(0).arg(-1);
                } else {
                    pipe.cmd("GET").arg(k);
                }
            }
            let vals: Vec<redis::Value> = pipe.query(&mut c).expect("read back");
            for (k, v) in chunk.iter().zip(vals) {
                let slot = rubra_keys::key_slot(k.as_bytes());
                if !p.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)) {
                    stray += 1;
                    continue;
                }
                out.insert(k.clone(), strings_of(&v));
            }
        }
    }
    (out, stray)
}

/// Lines of the nodes' logs that report a crash.
fn crashes(nodes: &[Member]) -> Vec<String> {
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
fn index_of(nodes: &[Member], address: &str) -> Option<usize> {
    nodes.iter().position(|s| s.addr() == address)
}

#[test]
fn chaos_seeded_faults_lose_no_wait_acked_write() {
    let secs = env_u64("RUBRA_CHAOS_SECS").unwrap_or(40);
    let seed = env_u64("RUBRA_CHAOS_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            % 1_000_000_007
    });
    let clients = env_u64("RUBRA_CHAOS_CLIENTS").unwrap_or(4) as usize;
    let (server, bin) = match std::env::var("RUBRA_CHAOS_SERVER").as_deref() {
        Ok("redis") => ("redis-server", std::path::PathBuf::from("redis-server")),
        _ => ("rubra", rubra_bin()),
    };
    eprintln!(
        "chaos: server={server} seed={seed} secs={secs} clients={clients} \
         (replay: RUBRA_CHAOS_SEED={seed} RUBRA_CHAOS_SECS={secs})"
    );
    // Namespaces when we may create them (root, as in CI), unless RUBRA_CHAOS_NETNS=0.
    let netns = std::env::var("RUBRA_CHAOS_NETNS").as_deref() != Ok("0")
        && match netns_available() {
            Ok(()) => true,
            Err(e) => {
                eprintln!("chaos: no network namespaces ({e}): no partitions in this run");
                false
            }
        };
    let (_namespaces, mut nodes) = start_cluster(&bin, netns);
    let seeds: Vec<Addr> = nodes.iter().map(Member::addr).collect();
    let mut kinds = vec![Fault::KillPrimary, Fault::KillReplica, Fault::StopPrimary];
    if netns {
        kinds.push(Fault::Partition);
    }
    // RUBRA_CHAOS_FAULTS=kill,stop,partition (any subset) narrows the schedule.
    if let Ok(only) = std::env::var("RUBRA_CHAOS_FAULTS") {
        kinds.retain(|k| {
            only.split(',').any(|w| match w.trim() {
                "kill" => matches!(k, Fault::KillPrimary | Fault::KillReplica),
                "kill-primary" => *k == Fault::KillPrimary,
                "kill-replica" => *k == Fault::KillReplica,
                "stop" => *k == Fault::StopPrimary,
                "partition" => *k == Fault::Partition,
                _ => false,
            })
        });
        assert!(
            !kinds.is_empty(),
            "RUBRA_CHAOS_FAULTS={only} leaves no fault"
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let buckets = Arc::new(Buckets::new(secs));
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let (seeds, stop, buckets) = (seeds.clone(), stop.clone(), buckets.clone());
            std::thread::spawn(move || worker(w, seed, seeds, stop, buckets))
        })
        .collect();

    let mut rng = Rng(seed);
    // (fault, start, end of the fault, converged at)
    let mut episodes: Vec<(Fault, Instant, Instant, Instant)> = Vec::new();
    let mut failure: Option<String> = None;
    let deadline = Instant::now() + Duration::from_secs(secs);
    std::thread::sleep(Duration::from_secs(1));
    while Instant::now() < deadline && failure.is_none() {
        let fault = kinds[rng.below(kinds.len() as u64) as usize];
        let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
        let want_primary = match fault {
            Fault::KillReplica => false,
            Fault::Partition => rng.below(3) != 0,
            _ => true,
        };
        let candidates: Vec<usize> = view
            .iter()
            .filter(|n| {
                if want_primary {
                    n.has("master") && !n.slots.is_empty()
                } else {
                    n.has("slave")
                }
            })
            .filter_map(|n| index_of(&nodes, &n.addr))
            .collect();
        if candidates.is_empty() {
            failure = Some(format!("no {fault:?} candidate:\n{}", views(&nodes)));
            break;
        }
        let victim = candidates[rng.below(candidates.len() as u64) as usize];
        let start = Instant::now();
        match fault {
            Fault::KillPrimary | Fault::KillReplica => {
                nodes[victim].kill9();
                // Down for 0.5 to 8 s: sometimes back before its replica is promoted,
                // sometimes right after, sometimes long after.
                std::thread::sleep(rng.between_ms(500, 8000));
                if !nodes[victim].restart() {
                    failure = Some(format!("{} did not restart", nodes[victim].addr()));
                }
            }
            Fault::StopPrimary => {
                signal(nodes[victim].pid(), "STOP");
                std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 500, NODE_TIMEOUT_MS + 4000));
                signal(nodes[victim].pid(), "CONT");
            }
            Fault::Partition => {
                if let Err(e) = nodes[victim].set_link(false) {
                    failure = Some(e);
                }
                std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 1000, NODE_TIMEOUT_MS + 6000));
                if let Err(e) = nodes[victim].set_link(true) {
                    failure = Some(e);
                }
            }
        }
        let end = Instant::now();
        let mut last = Ok(());
        let ok = wait_for(CONVERGE_BOUND, || {
            last = converged(&nodes);
            last.is_ok()
        });
        eprintln!(
            "chaos: {:>6.1}s {} {} for {:.1}s, converged {:.1}s later",
            (start - buckets.t0).as_secs_f64(),
            fault.name(),
            nodes[victim].addr(),
            (end - start).as_secs_f64(),
            end.elapsed().as_secs_f64()
        );
        if !ok {
            failure = Some(format!(
                "no convergence within {CONVERGE_BOUND:?} after {}: {:?}\n{}",
                fault.name(),
                last,
                views(&nodes)
            ));
        }
        episodes.push((fault, start, end, Instant::now()));
        std::thread::sleep(rng.between_ms(500, 2000));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let histories: Vec<History> = workers
        .into_iter()
        .map(|w| w.join().expect("client thread"))
        .collect();

    // The check.
    let (held, stray) = read_all(&nodes);
    let mut ops = 0u64;
    let mut fates: BTreeMap<&str, u64> = BTreeMap::new();
    let mut count = |f: Fate| {
        *fates
            .entry(match f {
                Fate::Refused => "refused",
                Fate::Unknown => "unknown",
                Fate::Acked => "acked",
                Fate::WaitAcked => "wait-acked",
            })
            .or_default() += 1;
    };
    // Every value each key was sent, with its best fate.
    let mut sent: HashMap<(String, String), (Fate, f64)> = HashMap::new();
    let mut counters: BTreeMap<String, Counter> = BTreeMap::new();
    for h in &histories {
        for (k, v, f, at) in &h.writes {
            ops += 1;
            count(*f);
            sent.insert((k.clone(), v.clone()), (*f, *at));
        }
        for (k, c) in &h.counters {
            let t = counters.entry(k.clone()).or_default();
            t.sent += c.sent;
            t.acked += c.acked;
            t.wait_acked += c.wait_acked;
            t.max_wait_value = t.max_wait_value.max(c.max_wait_value);
        }
    }
    // Lost writes by the fault during which (from its start to its convergence) they
    // were sent: (WAIT-acked, acked only).
    let during = |at: f64| -> &'static str {
        episodes
            .iter()
            .find(|(_, s, _, c)| {
                (*s - buckets.t0).as_secs_f64() <= at && at <= (*c - buckets.t0).as_secs_f64()
            })
            .map(|(f, ..)| f.name())
            .unwrap_or("between faults")
    };
    let mut lost_by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut lost_wait = Vec::new();
    let mut lost_acked = 0u64;
    for ((k, v), (f, at)) in &sent {
        let present = held.get(k).is_some_and(|vals| vals.contains(v));
        if !present && *f == Fate::WaitAcked {
            lost_wait.push(format!("{k} {v} at {at:.1}s"));
            lost_by.entry(during(*at)).or_default().0 += 1;
        }
        if !present && *f == Fate::Acked {
            if lost_acked < 10 {
                eprintln!("chaos: acked write lost: {k} {v} sent at {at:.2}s");
            }
            lost_acked += 1;
            lost_by.entry(during(*at)).or_default().1 += 1;
        }
    }
    let mut phantoms = Vec::new();
    let mut counter_errors = Vec::new();
    for (k, vals) in &held {
        if k.starts_with("chaos:c:") {
            let c = counters.get(k).copied().unwrap_or_default();
            let v: i64 = vals.first().and_then(|v| v.parse().ok()).unwrap_or(-1);
            if v < 0 || v as u64 > c.sent || (v as u64) < c.wait_acked || v < c.max_wait_value {
                counter_errors.push(format!(
                    "{k}={v}: sent {} acked {} wait-acked {} max wait-acked value {}",
                    c.sent, c.acked, c.wait_acked, c.max_wait_value
                ));
            }
            continue;
        }
        for v in vals {
            match sent.get(&(k.clone(), v.clone())).map(|(f, _)| f) {
                Some(Fate::Unknown | Fate::Acked | Fate::WaitAcked) => {}
                Some(Fate::Refused) => phantoms.push(format!("{k} {v} (refused)")),
                None => phantoms.push(format!("{k} {v} (never sent)")),
            }
        }
    }
    for (k, c) in &counters {
        if !held.contains_key(k) && c.wait_acked > 0 {
            counter_errors.push(format!(
                "{k} missing, {} wait-acked increments",
                c.wait_acked
            ));
        }
    }
    for c in counters.values() {
        ops += c.sent;
        // Counter fates folded in: sent = acked + unknown here.
        *fates.entry("acked").or_default() += c.acked - c.wait_acked;
        *fates.entry("wait-acked").or_default() += c.wait_acked;
        *fates.entry("unknown").or_default() += c.sent - c.acked;
    }
    let crashed = crashes(&nodes);

    // The report.
    let mut by_kind: BTreeMap<Fault, (usize, f64, f64, f64)> = BTreeMap::new();
    for (f, start, end, conv) in &episodes {
        let e = by_kind.entry(*f).or_default();
        e.0 += 1;
        e.1 += buckets.unavailable(*start, *conv);
        e.2 = e.2.max((*conv - *end).as_secs_f64());
        e.3 += (*conv - *end).as_secs_f64();
    }
    let mut report = format!(
        "\nchaos report: server={server} seed={seed} faults for {secs}s, {clients} clients, \
         node-timeout {NODE_TIMEOUT_MS} ms\n\
         {:<18} {:>6} {:>14} {:>16} {:>16}\n",
        "fault", "count", "unavail s", "converge max s", "converge avg s"
    );
    for (f, (n, un, max, sum)) in &by_kind {
        report += &format!(
            "{:<18} {:>6} {:>14.1} {:>16.1} {:>16.1}\n",
            f.name(),
            n,
            un,
            max,
            sum / *n as f64
        );
    }
    report += &format!(
        "ops {ops}  acked {}  wait-acked {}  refused {}  unknown {}\n\
         lost: wait-acked {} (must be 0)  acked-only {} (async replication allows it)\n\
         phantom values {}  counter violations {}  stray keys {stray}  crashes {}\n",
        fates.get("acked").unwrap_or(&0) + fates.get("wait-acked").unwrap_or(&0),
        fates.get("wait-acked").unwrap_or(&0),
        fates.get("refused").unwrap_or(&0),
        fates.get("unknown").unwrap_or(&0),
        lost_wait.len(),
        lost_acked,
        phantoms.len(),
        counter_errors.len(),
        crashed.len(),
    );
    for (during, (w, a)) in &lost_by {
        report += &format!("lost while {during}: wait-acked {w}, acked-only {a}\n");
    }
    lost_wait.sort_by(|a, b| a.rsplit(' ').next().cmp(&b.rsplit(' ').next()));
    eprintln!("{report}");
    let failed = failure.is_some()
        || !lost_wait.is_empty()
        || !phantoms.is_empty()
        || !counter_errors.is_empty()
        || !crashed.is_empty()
        || stray > 0;
    if failed || std::env::var("RUBRA_CHAOS_KEEP_LOGS").as_deref() == Ok("1") {
        // The nodes' directories go with them; keep their logs for the post-mortem.
        let keep = std::env::temp_dir().join(format!("rubra-chaos-{server}-{seed}"));
        let _ = std::fs::create_dir_all(&keep);
        for m in &nodes {
            let _ = std::fs::copy(
                m.dir().join(SERVER_LOG),
                keep.join(format!("{}.log", m.addr())),
            );
        }
        eprintln!("chaos: node logs kept in {}", keep.display());
    }
    assert!(
        failure.is_none(),
        "seed {seed}: {}",
        failure.unwrap_or_default()
    );
    assert!(!episodes.is_empty(), "no fault was injected");
    assert!(
        lost_wait.is_empty(),
        "seed {seed}: WAIT-acked writes lost: {:?}",
        &lost_wait[..lost_wait.len().min(10)]
    );
    assert!(
        phantoms.is_empty(),
        "seed {seed}: {:?}",
        &phantoms[..phantoms.len().min(10)]
    );
    assert!(counter_errors.is_empty(), "seed {seed}: {counter_errors:?}");
    assert!(crashed.is_empty(), "seed {seed}: {crashed:?}");
    assert_eq!(
        stray, 0,
        "seed {seed}: keys on a primary that does not own their slot"
    );
}

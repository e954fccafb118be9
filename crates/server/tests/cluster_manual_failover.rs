//! Cluster behaviour with real rubra-server processes, beyond what tests/cluster.rs covers:
//! manual `CLUSTER FAILOVER` under a write load (cluster-spec "Manual failover": no
//! acknowledged write may be lost), pub/sub across the bus (PUBLISH reaches every node,
//! SPUBLISH the shard), and the cluster-* configuration parameters.

mod common;
use common::cluster::{make_cluster, wait_for};
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

/// A `field:value` line of `CLUSTER INFO` (`what` = "cluster") or `INFO replication`
/// (`what` = "info").
fn info_field(port: u16, what: &str, field: &str) -> String {
    let args: &[&str] = if what == "cluster" {
        &["cluster", "info"]
    } else {
        &["info", "replication"]
    };
    cli_at(port, args)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn cluster_state(port: u16) -> String {
    info_field(port, "cluster", "cluster_state")
}

/// One parsed CLUSTER NODES line.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    port: u16,
    flags: String,
    primary: String,
}

fn nodes_of(port: u16) -> Vec<NodeLine> {
    cli_at(port, &["cluster", "nodes"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            if f.len() < 8 {
                return None;
            }
            let port = f[1].split('@').next()?.rsplit(':').next()?.parse().ok()?;
            Some(NodeLine {
                id: f[0].to_string(),
                port,
                flags: f[2].to_string(),
                primary: f[3].to_string(),
            })
        })
        .collect()
}

/// The port of the primary serving `key` (as `port` sees the cluster) and of one replica.
fn shard_of(port: u16, key: &str) -> (u16, u16) {
    let slot: u16 = cli_at(port, &["cluster", "keyslot", key])
        .parse()
        .expect("keyslot");
    for l in cli_at(port, &["cluster", "nodes"]).lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let serves = f.iter().skip(8).any(|r| match r.split_once('-') {
            Some((a, b)) => {
                (a.parse().unwrap_or(u16::MAX)..=b.parse().unwrap_or(0)).contains(&slot)
            }
            None => r.parse() == Ok(slot),
        });
        if serves {
            let nodes = nodes_of(port);
            let primary = nodes.iter().find(|n| n.id == f[0]).expect("owner listed");
            let replica = nodes
                .iter()
                .find(|n| n.primary == primary.id)
                .expect("the primary has a replica");
            return (primary.port, replica.port);
        }
    }
    panic!("no owner for slot {slot}");
}

/// Whether `port` sees itself with `role` ("master"/"slave") in CLUSTER NODES.
fn sees_itself_as(port: u16, role: &str) -> bool {
    nodes_of(port)
        .iter()
        .any(|n| n.flags.contains("myself") && n.flags.contains(role))
}

/// A RESP value, as much as these tests need.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Simple(String),
    Err(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Arr(Vec<Val>),
}

/// A minimal blocking RESP2 client, so the tests see -MOVED and pushes exactly as sent.
struct Resp {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Resp {
    fn connect(port: u16) -> std::io::Result<Resp> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Resp {
            rd: BufReader::new(s.try_clone()?),
            wr: s,
        })
    }

    fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
        }
        self.wr.write_all(&buf)
    }

    fn read(&mut self) -> std::io::Result<Val> {
        let mut line = String::new();
        if self.rd.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches("\r\n");
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad reply");
        let (t, rest) = line.split_at(1.min(line.len()));
        Ok(match t {
            "+" => Val::Simple(rest.to_string()),
            "-" => Val::Err(rest.to_string()),
            ":" => Val::Int(rest.parse().map_err(|_| bad())?),
            "$" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                if n < 0 {
                    Val::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.rd.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Val::Bulk(Some(b))
                }
            }
            "*" => {
                let n: i64 = rest.parse().map_err(|_| bad())?;
                let mut v = Vec::new();
                for _ in 0..n.max(0) {
                    v.push(self.read()?);
                }
                Val::Arr(v)
            }
            _ => return Err(bad()),
        })
    }

    fn cmd(&mut self, args: &[&str]) -> std::io::Result<Val> {
        self.send(args)?;
        self.read()
    }
}

/// What the INCR load saw: acknowledged replies, the highest value acknowledged, and how
/// often it followed a -MOVED.
#[derive(Default)]
struct Load {
    acked: AtomicU64,
    max_value: AtomicU64,
    moved: AtomicU64,
    /// INCRs whose connection broke before the reply: they may or may not have run.
    uncertain: AtomicU64,
    port: AtomicU64,
}

/// INCRs `key` in a loop against `start_port`, following -MOVED to the new owner, until
/// `stop` is set. Only `:n` replies count as acknowledged.
fn incr_load(key: String, start_port: u16, load: Arc<Load>, stop: Arc<AtomicBool>) {
    let mut port = start_port;
    load.port.store(port as u64, Ordering::SeqCst);
    let mut conn: Option<Resp> = None;
    while !stop.load(Ordering::SeqCst) {
        if conn.is_none() {
            conn = Resp::connect(port).ok();
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        match c.cmd(&["INCR", &key]) {
            Ok(Val::Int(n)) => {
                load.acked.fetch_add(1, Ordering::SeqCst);
                load.max_value.fetch_max(n as u64, Ordering::SeqCst);
            }
            Ok(Val::Err(e)) if e.starts_with("MOVED ") => {
                let target = e.rsplit(':').next().and_then(|p| p.parse().ok());
                if let Some(p) = target {
                    port = p;
                    load.port.store(port as u64, Ordering::SeqCst);
                    load.moved.fetch_add(1, Ordering::SeqCst);
                }
                conn = None;
            }
            // CLUSTERDOWN for a moment: not executed, not acknowledged.
            Ok(_) => {
                conn = None;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => {
                load.uncertain.fetch_add(1, Ordering::SeqCst);
                conn = None;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn get_int(port: u16, key: &str) -> u64 {
    let mut c = Resp::connect(port).expect("connect");
    match c.cmd(&["GET", key]).expect("GET") {
        Val::Bulk(Some(b)) => String::from_utf8_lossy(&b).parse().expect("integer value"),
        other => panic!("GET {key} on {port}: {other:?}"),
    }
}

/// Runs CLUSTER FAILOVER on `replica` and waits for the roles to swap with `primary`, as
/// both nodes see themselves and as a third node sees them.
fn manual_failover(replica: u16, primary: u16, observer: u16) -> Duration {
    let start = Instant::now();
    // A manual failover gives up after 5 s (cluster-mf-timeout), as in Redis; on a machine
    // loaded by parallel builds it can, so an operator would ask again — and so do we.
    let mut swapped = false;
    for attempt in 1..=3 {
        assert_eq!(cli_at(replica, &["cluster", "failover"]), "OK");
        swapped = wait_for(Duration::from_secs(12), || {
            sees_itself_as(replica, "master") && sees_itself_as(primary, "slave")
        });
        if swapped {
            break;
        }
        eprintln!("manual failover attempt {attempt} timed out; retrying");
    }
    assert!(
        swapped,
        "roles did not swap:\n{}",
        cli_at(observer, &["cluster", "nodes"])
    );
    let took = start.elapsed();
    let converged = wait_for(Duration::from_secs(20), || {
        let nodes = nodes_of(observer);
        let r = nodes.iter().find(|n| n.port == replica);
        let p = nodes.iter().find(|n| n.port == primary);
        match (r, p) {
            (Some(r), Some(p)) => {
                r.flags.contains("master") && p.flags.contains("slave") && p.primary == r.id
            }
            _ => false,
        }
    });
    assert!(
        converged,
        "observer never saw the swap:\n{}",
        cli_at(observer, &["cluster", "nodes"])
    );
    took
}

// ------------------------------------------------------------------ tests

/// cluster-spec "Manual failover": the primary pauses writes, the replica catches up to its
/// offset and is elected without delay, so every acknowledged INCR survives the switch and
/// the switch back.
#[test]
fn manual_failover_under_write_load_loses_no_acknowledged_write() {
    let nodes = make_cluster(6, 1, &["--cluster-node-timeout", "5000"]);
    let key = "mf-counter".to_string();
    let (primary, replica) = shard_of(nodes[0].port, &key);
    let observer = nodes
        .iter()
        .map(|n| n.port)
        .find(|p| *p != primary && *p != replica)
        .expect("a third node");
    let load = Arc::new(Load::default());
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (key, load, stop) = (key.clone(), load.clone(), stop.clone());
        std::thread::spawn(move || incr_load(key, primary, load, stop))
    };
    assert!(
        wait_for(Duration::from_secs(10), || load
            .acked
            .load(Ordering::SeqCst)
            > 200),
        "the INCR load never got going"
    );
    // Let the replica catch up before asking it to take over (as an operator would).
    assert!(wait_for(Duration::from_secs(10), || info_field(
        replica,
        "info",
        "master_link_status"
    ) == "up"));

    let took = manual_failover(replica, primary, observer);
    eprintln!("manual failover 1 took {took:?}");
    let before = load.acked.load(Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(20), || load.port.load(Ordering::SeqCst)
            == replica as u64
            && load.acked.load(Ordering::SeqCst) > before + 100),
        "the load did not follow -MOVED to the new primary"
    );
    // The load keeps running: take its counters first, the value second.
    let (acked, max) = (
        load.acked.load(Ordering::SeqCst),
        load.max_value.load(Ordering::SeqCst),
    );
    let value = get_int(replica, &key);
    assert!(
        value >= max && value >= acked,
        "lost writes: GET={value}, highest acknowledged INCR={max}, acknowledged={acked}"
    );

    // And back: the old primary, now a replica of the new one, takes over again.
    assert!(
        wait_for(Duration::from_secs(20), || info_field(
            primary,
            "info",
            "master_link_status"
        ) == "up"),
        "the old primary never replicated from the new one"
    );
    let took = manual_failover(primary, replica, observer);
    eprintln!("manual failover 2 took {took:?}");
    let before = load.acked.load(Ordering::SeqCst);
    assert!(
        wait_for(Duration::from_secs(20), || load.port.load(Ordering::SeqCst)
            == primary as u64
            && load.acked.load(Ordering::SeqCst) > before + 100),
        "the load did not follow -MOVED back"
    );
    stop.store(true, Ordering::SeqCst);
    worker.join().expect("load thread");
    let value = get_int(primary, &key);
    let (acked, max, uncertain) = (
        load.acked.load(Ordering::SeqCst),
        load.max_value.load(Ordering::SeqCst),
        load.uncertain.load(Ordering::SeqCst),
    );
    eprintln!(
        "acked {acked}, max {max}, uncertain {uncertain}, GET {value}, moved {}",
        load.moved.load(Ordering::SeqCst)
    );
    assert!(
        value >= max && value >= acked,
        "lost writes: GET={value}, highest acknowledged INCR={max}, acknowledged={acked}"
    );
    assert!(
        value <= acked + uncertain,
        "INCRs ran that were never sent: GET={value}, acknowledged={acked}"
    );
    assert!(load.moved.load(Ordering::SeqCst) >= 2);
}

fn bulk(s: &str) -> Val {
    Val::Bulk(Some(s.as_bytes().to_vec()))
}

fn push(parts: &[&str]) -> Val {
    Val::Arr(parts.iter().map(|p| bulk(p)).collect())
}

/// Redis 7.0 clusterPropagatePublish: PUBLISH on any node reaches (P)SUBSCRIBE clients on
/// every node, once; SPUBLISH reaches SSUBSCRIBE clients on the nodes of the channel's shard
/// (primary and replicas, which serve shard pub/sub without READONLY) and is redirected
/// elsewhere.
#[test]
fn publish_reaches_every_node_and_spublish_its_shard() {
    let nodes = make_cluster(6, 1, &[]);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();

    let mut sub = Resp::connect(ports[1]).expect("connect");
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news"]).expect("subscribe"),
        Val::Arr(vec![bulk("subscribe"), bulk("news"), Val::Int(1)])
    );
    let mut psub = Resp::connect(ports[4]).expect("connect");
    assert_eq!(
        psub.cmd(&["PSUBSCRIBE", "n*"]).expect("psubscribe"),
        Val::Arr(vec![bulk("psubscribe"), bulk("n*"), Val::Int(1)])
    );
    let mut publisher = Resp::connect(ports[0]).expect("connect");
    // Only local receivers are counted, as in Redis.
    assert_eq!(
        publisher
            .cmd(&["PUBLISH", "news", "hello"])
            .expect("publish"),
        Val::Int(0)
    );
    assert_eq!(
        publisher
            .cmd(&["PUBLISH", "news", "second"])
            .expect("publish"),
        Val::Int(0)
    );
    // In order and exactly once each.
    assert_eq!(
        sub.read().expect("message"),
        push(&["message", "news", "hello"])
    );
    assert_eq!(
        sub.read().expect("message"),
        push(&["message", "news", "second"])
    );
    assert_eq!(
        psub.read().expect("pmessage"),
        push(&["pmessage", "n*", "news", "hello"])
    );
    assert_eq!(
        psub.read().expect("pmessage"),
        push(&["pmessage", "n*", "news", "second"])
    );

    // Shard channels: "{sc}" lives in one shard.
    let (primary, replica) = shard_of(ports[0], "{sc}");
    let outsider = *ports
        .iter()
        .find(|p| **p != primary && **p != replica)
        .expect("a node of another shard");
    let mut on_replica = Resp::connect(replica).expect("connect");
    assert_eq!(
        on_replica.cmd(&["SSUBSCRIBE", "{sc}"]).expect("ssubscribe"),
        Val::Arr(vec![bulk("ssubscribe"), bulk("{sc}"), Val::Int(1)])
    );
    let mut on_primary = Resp::connect(primary).expect("connect");
    assert_eq!(
        on_primary.cmd(&["SSUBSCRIBE", "{sc}"]).expect("ssubscribe"),
        Val::Arr(vec![bulk("ssubscribe"), bulk("{sc}"), Val::Int(1)])
    );
    let mut out = Resp::connect(outsider).expect("connect");
    match out.cmd(&["SPUBLISH", "{sc}", "x"]).expect("spublish") {
        Val::Err(e) => assert!(
            e.starts_with("MOVED ") && e.ends_with(&format!(":{primary}")),
            "{e}"
        ),
        other => panic!("SPUBLISH outside the shard: {other:?}"),
    }
    let mut p = Resp::connect(primary).expect("connect");
    assert_eq!(
        p.cmd(&["SPUBLISH", "{sc}", "to-shard"]).expect("spublish"),
        Val::Int(1)
    );
    assert_eq!(
        on_replica.read().expect("smessage"),
        push(&["smessage", "{sc}", "to-shard"])
    );
    assert_eq!(
        on_primary.read().expect("smessage"),
        push(&["smessage", "{sc}", "to-shard"])
    );
    // Published on the replica: its primary's subscriber gets it too.
    let mut r = Resp::connect(replica).expect("connect");
    assert_eq!(
        r.cmd(&["SPUBLISH", "{sc}", "from-replica"])
            .expect("spublish"),
        Val::Int(1)
    );
    assert_eq!(
        on_primary.read().expect("smessage"),
        push(&["smessage", "{sc}", "from-replica"])
    );
    assert_eq!(
        on_replica.read().expect("smessage"),
        push(&["smessage", "{sc}", "from-replica"])
    );
}

/// cluster-replica-no-failover: from the command line, a replica never fails over on its
/// own (its primary's slots stay down) and CLUSTER NODES flags it `nofailover`; turned off
/// with CONFIG SET, the same replica takes over. The other cluster-* parameters answer
/// CONFIG GET/SET as in Redis 7.0.
#[test]
fn replica_no_failover_holds_until_config_set_turns_it_off() {
    let mut nodes = make_cluster(
        6,
        1,
        &[
            "--cluster-node-timeout",
            "2000",
            "--cluster-replica-no-failover",
            "yes",
        ],
    );
    let p0 = nodes[0].port;
    for (name, value) in [
        ("cluster-replica-no-failover", "yes"),
        ("cluster-allow-replica-migration", "yes"),
        ("cluster-migration-barrier", "1"),
        ("cluster-allow-reads-when-down", "no"),
        ("cluster-require-full-coverage", "yes"),
        ("cluster-allow-pubsubshard-when-down", "yes"),
    ] {
        assert_eq!(
            cli_at(p0, &["config", "get", name]),
            format!("{name}\n{value}")
        );
    }
    assert_eq!(
        cli_at(p0, &["config", "set", "cluster-replica-no-failover", "maybe"]),
        "ERR CONFIG SET failed (possibly related to argument 'cluster-replica-no-failover') - argument must be 'yes' or 'no'"
    );
    assert_eq!(
        cli_at(p0, &["config", "set", "cluster-migration-barrier", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'cluster-migration-barrier') - argument must be between 0 and 2147483647 inclusive"
    );
    assert_eq!(
        cli_at(
            p0,
            &["config", "set", "cluster-allow-replica-migration", "no"]
        ),
        "OK"
    );
    assert_eq!(
        cli_at(p0, &["config", "get", "cluster-allow-replica-migration"]),
        "cluster-allow-replica-migration\nno"
    );

    let (primary, replica) = shard_of(p0, "nf-key");
    let observer = nodes
        .iter()
        .map(|n| n.port)
        .find(|p| *p != primary && *p != replica)
        .expect("a third node");
    assert!(
        wait_for(Duration::from_secs(10), || nodes_of(observer)
            .iter()
            .any(|n| n.port == replica && n.flags.contains("nofailover"))),
        "CLUSTER NODES does not flag the replica nofailover:\n{}",
        cli_at(observer, &["cluster", "nodes"])
    );
    let victim = nodes
        .iter_mut()
        .find(|n| n.port == primary)
        .expect("primary process");
    victim.kill9();
    // The primary is marked failed, the cluster goes down, and nobody takes over.
    assert!(
        wait_for(Duration::from_secs(20), || cluster_state(observer)
            == "fail"),
        "the cluster never noticed the dead primary"
    );
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        sees_itself_as(replica, "slave"),
        "a no-failover replica took over:\n{}",
        cli_at(replica, &["cluster", "nodes"])
    );
    assert_eq!(cluster_state(observer), "fail");
    // Turned off at run time: the failover happens.
    assert_eq!(
        cli_at(
            replica,
            &["config", "set", "cluster-replica-no-failover", "no"]
        ),
        "OK"
    );
    assert!(
        wait_for(Duration::from_secs(30), || sees_itself_as(
            replica, "master"
        ) && cluster_state(observer)
            == "ok"),
        "the replica did not take over after CONFIG SET:\n{}",
        cli_at(observer, &["cluster", "nodes"])
    );
    assert!(!nodes_of(observer)
        .iter()
        .any(|n| n.port == replica && n.flags.contains("nofailover")));
}

/// CLUSTER LINKS (Redis 7.0): every peer appears twice, once with the link we opened
/// ("to", events "rw") and once with the link it opened to us ("from", events "r").
#[test]
fn cluster_links_lists_both_directions() {
    let nodes = make_cluster(3, 0, &[]);
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| cli_at(n.port, &["cluster", "myid"]))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let mut want: Vec<(String, String)> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, id)| {
                [
                    ("to".to_string(), id.clone()),
                    ("from".to_string(), id.clone()),
                ]
            })
            .collect();
        want.sort();
        let mut got: Vec<(String, String)> = Vec::new();
        let ok = wait_for(Duration::from_secs(15), || {
            let mut c = match Resp::connect(n.port) {
                Ok(c) => c,
                Err(_) => return false,
            };
            let Ok(Val::Arr(links)) = c.cmd(&["CLUSTER", "LINKS"]) else {
                return false;
            };
            got = links
                .iter()
                .filter_map(|l| {
                    let Val::Arr(kv) = l else { return None };
                    let text = |k: &str| {
                        kv.chunks(2).find_map(|p| match p {
                            [Val::Bulk(Some(key)), Val::Bulk(Some(v))] if key == k.as_bytes() => {
                                Some(String::from_utf8_lossy(v).into_owned())
                            }
                            _ => None,
                        })
                    };
                    let has_time = kv.chunks(2).any(|p| {
                        matches!(p, [Val::Bulk(Some(k)), Val::Int(t)] if k == b"create-time" && *t > 0)
                    });
                    let (dir, node, events) = (text("direction")?, text("node")?, text("events")?);
                    let expected_events = if dir == "to" { "rw" } else { "r" };
                    (has_time && events == expected_events).then_some((dir, node))
                })
                .collect();
            got.sort();
            got == want
        });
        assert!(ok, "node {i}: CLUSTER LINKS {got:?}, expected {want:?}");
    }
}

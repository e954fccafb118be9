//! Atomic slot migration (CLUSTER MIGRATESLOTS) between real rubra-server processes:
//! a pipelined client keeps writing to the moving slots and must see nothing but -MOVED
//! after the hand-over, with every acknowledged write on the new owner and its replica;
//! a cancelled or killed migration leaves the slots and every key with the source.

mod common;

use common::cluster::*;
use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The cluster's primaries as (server index, node line).
fn primaries(nodes: &[TestServer]) -> Vec<(usize, NodeLine)> {
    let view = parse_nodes(&nodes[0].cli(&["cluster", "nodes"]));
    view.into_iter()
        .filter(|n| n.has("master") && !n.slots.is_empty())
        .filter_map(|n| {
            let port: u16 = n.addr.rsplit(':').next()?.parse().ok()?;
            let i = nodes.iter().position(|s| s.port == port)?;
            Some((i, n))
        })
        .collect()
}

/// Hash tags whose slot is in `ranges`, found with CLUSTER KEYSLOT.
fn tags_in(s: &TestServer, ranges: &[(u16, u16)], want: usize) -> Vec<String> {
    let mut c = s.conn();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < want {
        let mut p = redis::pipe();
        let names: Vec<String> = (i..i + 500).map(|j| format!("t{j}")).collect();
        for n in &names {
            p.cmd("CLUSTER").arg("KEYSLOT").arg(n);
        }
        let slots: Vec<i64> = p.query(&mut c).unwrap();
        for (n, slot) in names.into_iter().zip(slots) {
            if ranges
                .iter()
                .any(|&(a, b)| (a as i64..=b as i64).contains(&slot))
            {
                out.push(n);
            }
        }
        i += 500;
    }
    out.truncate(want);
    out
}

/// The source's export record from CLUSTER GETSLOTMIGRATIONS (the last one), as a map.
fn last_export(s: &TestServer) -> HashMap<String, String> {
    let mut c = s.conn();
    let all: Vec<Vec<String>> = redis::cmd("CLUSTER")
        .arg("GETSLOTMIGRATIONS")
        .query(&mut c)
        .unwrap();
    all.into_iter()
        .rev()
        .map(|f| {
            f.chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect::<HashMap<_, _>>()
        })
        .find(|m| m.get("operation").map(String::as_str) == Some("EXPORT"))
        .unwrap_or_default()
}

/// Waits for the export to end; returns its record.
fn wait_export_end(s: &TestServer, within: Duration) -> HashMap<String, String> {
    let mut rec = HashMap::new();
    let ended = wait_for(within, || {
        rec = last_export(s);
        matches!(
            rec.get("state").map(String::as_str),
            Some("success" | "failed" | "cancelled")
        )
    });
    assert!(ended, "export did not end: {rec:?}");
    rec
}

fn migrate_cmd(source: &TestServer, ranges: &[(u16, u16)], target_id: &str) -> String {
    let mut args: Vec<String> = vec!["cluster".into(), "migrateslots".into(), "slotsrange".into()];
    for (a, b) in ranges {
        args.push(a.to_string());
        args.push(b.to_string());
    }
    args.push("node".into());
    args.push(target_id.into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    source.cli(&refs)
}

/// What the writer saw.
#[derive(Default)]
struct WriterLog {
    /// (tag, n): `MSET {tag}:n n {tag}:n:b n` was acknowledged.
    acked: Vec<(usize, u64)>,
    moved: u64,
    errors: Vec<String>,
    /// Longest time one pipelined batch took to be answered.
    worst_batch: Duration,
}

/// A pipelined client (batches of 200 MSETs over hash-tagged key pairs) that follows
/// -MOVED like a cluster client and records everything else as an error.
fn writer(start_port: u16, tags: Vec<String>, stop: Arc<AtomicBool>) -> WriterLog {
    let mut log = WriterLog::default();
    let mut conns: HashMap<String, (TcpStream, BufReader<TcpStream>)> = HashMap::new();
    let mut route: Vec<String> = vec![format!("127.0.0.1:{start_port}"); tags.len()];
    let mut retry: Vec<(usize, u64)> = Vec::new();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) || !retry.is_empty() {
        let mut ops = std::mem::take(&mut retry);
        if !stop.load(Ordering::Relaxed) {
            for _ in 0..200 {
                ops.push(((n as usize) % tags.len(), n));
                n += 1;
            }
        }
        let mut by_addr: HashMap<String, Vec<(usize, u64)>> = HashMap::new();
        for op in ops {
            by_addr.entry(route[op.0].clone()).or_default().push(op);
        }
        let began = Instant::now();
        for (addr, ops) in by_addr {
            let (w, r) = conns.entry(addr.clone()).or_insert_with(|| {
                let s = TcpStream::connect(&addr).unwrap();
                s.set_nodelay(true).unwrap();
                (s.try_clone().unwrap(), BufReader::new(s))
            });
            let mut buf = String::new();
            for &(t, v) in &ops {
                let (k1, k2) = (
                    format!("{{{}}}:{v}", tags[t]),
                    format!("{{{}}}:{v}:b", tags[t]),
                );
                let vs = v.to_string();
                buf.push_str(&format!(
                    "*5\r\n$4\r\nMSET\r\n${}\r\n{k1}\r\n${}\r\n{vs}\r\n${}\r\n{k2}\r\n${}\r\n{vs}\r\n",
                    k1.len(),
                    vs.len(),
                    k2.len(),
                    vs.len()
                ));
            }
            w.write_all(buf.as_bytes()).unwrap();
            for &(t, v) in &ops {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line == "+OK" {
                    log.acked.push((t, v));
                } else if let Some(rest) = line.strip_prefix("-MOVED ") {
                    log.moved += 1;
                    route[t] = rest.split(' ').nth(1).unwrap_or_default().to_string();
                    retry.push((t, v));
                } else {
                    log.errors.push(line.to_string());
                    if log.errors.len() > 20 {
                        return log;
                    }
                }
            }
        }
        log.worst_batch = log.worst_batch.max(began.elapsed());
    }
    log
}

/// Loads `count` keys per tag plus a big zset and string into the moving slots.
fn preload(source: &TestServer, tags: &[String], per_tag: usize) {
    let mut c = source.conn();
    for t in tags {
        let mut p = redis::pipe();
        for i in 0..per_tag {
            p.cmd("SET").arg(format!("{{{t}}}:pre:{i}")).arg(i).ignore();
        }
        p.cmd("PEXPIRE")
            .arg(format!("{{{t}}}:pre:0"))
            .arg(600_000)
            .ignore();
        p.query::<()>(&mut c).unwrap();
    }
    let big = &tags[0];
    for chunk in 0..20 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(format!("{{{big}}}:zset"));
        for i in 0..5000 {
            let m = chunk * 5000 + i;
            cmd.arg(m).arg(format!("m{m}"));
        }
        cmd.query::<i64>(&mut c).unwrap();
    }
    let s = "x".repeat(4 << 20);
    q(&mut c, &["SET", &format!("{{{big}}}:str"), &s]);
}

#[test]
fn migrateslots_under_pipelined_writes_moves_everything() {
    // Nothing is killed here, so the node timeout only has to outlast a loaded CI box:
    // at 2000 ms a debug-build target busy importing on two shared cores once missed its
    // bus pings long enough to be failed over (the move then failed, correctly, READONLY).
    let nodes = make_cluster(6, 1, &["--cluster-node-timeout", "5000"]);
    let prims = primaries(&nodes);
    assert_eq!(prims.len(), 3, "{}", all_views(&nodes));
    let (si, src) = &prims[0];
    let (ti, dst) = &prims[1];
    let (a, b) = src.slots[0];
    // Two ranges: most of the source's first range, leaving a gap.
    let ranges = vec![(a, a + 1000), (a + 1200, b.min(a + 3000))];
    let source = &nodes[*si];
    let target = &nodes[*ti];
    let tags = tags_in(source, &ranges, 400);
    preload(source, &tags, 50);

    let stop = Arc::new(AtomicBool::new(false));
    let port = source.port;
    let handle = {
        let (tags, stop) = (tags.clone(), stop.clone());
        std::thread::spawn(move || writer(port, tags, stop))
    };
    std::thread::sleep(Duration::from_millis(300));
    let writing = Instant::now();
    let reply = migrate_cmd(source, &ranges, &dst.id);
    assert_eq!(reply.trim(), "OK");
    let rec = wait_export_end(source, Duration::from_secs(40));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let log = handle.join().unwrap();
    let secs = writing.elapsed().as_secs_f64() + 0.3;
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("success"),
        "{rec:?}"
    );
    assert!(log.errors.is_empty(), "client saw errors: {:?}", log.errors);
    assert!(log.moved > 0, "the writer never followed the hand-over");
    assert!(
        log.acked.len() > 1000,
        "too few writes: {}",
        log.acked.len()
    );
    eprintln!(
        "acked {} MSETs ({:.0} key writes/s), {} MOVED, worst batch {:?}, export {:?}",
        log.acked.len(),
        log.acked.len() as f64 * 2.0 / secs,
        log.moved,
        log.worst_batch,
        rec
    );

    // Every acknowledged write is on the new owner.
    let mut c = target.conn();
    for chunk in log.acked.chunks(2000) {
        let mut p = redis::pipe();
        for &(t, v) in chunk {
            p.cmd("GET").arg(format!("{{{}}}:{v}", tags[t]));
            p.cmd("GET").arg(format!("{{{}}}:{v}:b", tags[t]));
        }
        let got: Vec<Option<String>> = p.query(&mut c).unwrap();
        for (i, &(_, v)) in chunk.iter().enumerate() {
            assert_eq!(got[2 * i].as_deref(), Some(v.to_string().as_str()));
            assert_eq!(got[2 * i + 1].as_deref(), Some(v.to_string().as_str()));
        }
    }
    let pre: Option<String> = redis::cmd("GET")
        .arg(format!("{{{}}}:pre:49", tags[399]))
        .query(&mut c)
        .unwrap();
    assert_eq!(pre.as_deref(), Some("49"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{{{}}}:pre:0", tags[0]))
        .query(&mut c)
        .unwrap();
    assert!(ttl > 500_000, "TTL lost: {ttl}");
    let zcard: i64 = redis::cmd("ZCARD")
        .arg(format!("{{{}}}:zset", tags[0]))
        .query(&mut c)
        .unwrap();
    assert_eq!(zcard, 100_000);
    let slen: i64 = redis::cmd("STRLEN")
        .arg(format!("{{{}}}:str", tags[0]))
        .query(&mut c)
        .unwrap();
    assert_eq!(slen, 4 << 20);

    // Nothing of the moving slots is left on the source (deleted in batches after the
    // hand-over); the gap between the ranges is still served there.
    assert!(
        wait_for(Duration::from_secs(20), || keys_in(source, &ranges) == 0),
        "keys left on the source"
    );
    let gap = tags_in(source, &[(a + 1001, a + 1199)], 1);
    let mut sc = source.conn();
    q(&mut sc, &["SET", &format!("{{{}}}:gap", gap[0]), "1"]);
    assert_eq!(keys_in(source, &[(a + 1001, a + 1199)]), 1);
    assert_eq!(
        parse_nodes(&source.cli(&["cluster", "nodes"]))
            .iter()
            .find(|n| n.id == dst.id)
            .map(|n| n.slots.iter().any(|&(x, _)| x == a)),
        Some(true),
        "the source does not see the target as owner"
    );

    // Replicas follow their primaries' streams.
    let view = parse_nodes(&target.cli(&["cluster", "nodes"]));
    let replica_of = |id: &str| {
        let l = view.iter().find(|n| n.master == id).expect("replica");
        let port: u16 = l.addr.rsplit(':').next().unwrap().parse().unwrap();
        nodes.iter().find(|s| s.port == port).unwrap()
    };
    let (tr, sr) = (replica_of(&dst.id), replica_of(&src.id));
    let dbsize = |s: &TestServer| match q(&mut s.conn(), &["DBSIZE"]) {
        redis::Value::Int(n) => n,
        v => panic!("{v:?}"),
    };
    assert!(
        wait_for(Duration::from_secs(20), || dbsize(tr) == dbsize(target)
            && dbsize(sr) == dbsize(source)),
        "replicas did not follow: target {} replica {}, source {} replica {}",
        dbsize(target),
        dbsize(tr),
        dbsize(source),
        dbsize(sr)
    );
    let mut rc = tr.conn();
    q(&mut rc, &["READONLY"]);
    let (t, v) = log.acked[log.acked.len() / 2];
    let got: Option<String> = redis::cmd("GET")
        .arg(format!("{{{}}}:{v}", tags[t]))
        .query(&mut rc)
        .unwrap();
    assert_eq!(got.as_deref(), Some(v.to_string().as_str()));
    wait_check_ok(&nodes[0], Duration::from_secs(20));
}

/// Starts an export of `ranges` (heavy enough to take a while) and waits until the
/// snapshot is under way.
fn start_slow_export(source: &TestServer, ranges: &[(u16, u16)], target_id: &str) {
    assert_eq!(migrate_cmd(source, ranges, target_id).trim(), "OK");
    assert!(
        wait_for(Duration::from_secs(10), || {
            let r = last_export(source);
            r.get("keys")
                .and_then(|k| k.parse::<u64>().ok())
                .unwrap_or(0)
                > 0
                || r.get("state").map(String::as_str) != Some("snapshot")
        }),
        "the snapshot never started"
    );
}

/// Keys in `ranges` on `s`.
fn keys_in(s: &TestServer, ranges: &[(u16, u16)]) -> i64 {
    let mut c = s.conn();
    let mut p = redis::pipe();
    for &(a, b) in ranges {
        for slot in a..=b {
            p.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot);
        }
    }
    let counts: Vec<i64> = p.query(&mut c).unwrap();
    counts.iter().sum()
}

fn load_values(s: &TestServer, tags: &[String], per_tag: usize, size: usize) -> i64 {
    let mut c = s.conn();
    let v = "v".repeat(size);
    for t in tags {
        let mut p = redis::pipe();
        for i in 0..per_tag {
            p.cmd("SET").arg(format!("{{{t}}}:{i}")).arg(&v).ignore();
        }
        p.query::<()>(&mut c).unwrap();
    }
    (tags.len() * per_tag) as i64
}

#[test]
fn cancelled_or_killed_migration_leaves_everything_with_the_source() {
    let nodes = make_cluster(
        6,
        1,
        &["--cluster-node-timeout", "2000", "--appendonly", "yes"],
    );
    let prims = primaries(&nodes);
    let (si, src) = &prims[0];
    let (ti, dst) = &prims[1];
    let (a, b) = src.slots[0];
    let ranges = vec![(a, b)];
    let source = &nodes[*si];
    let tags = tags_in(source, &ranges, 200);
    let total = load_values(source, &tags, 400, 1000);
    assert_eq!(keys_in(source, &ranges), total);

    // The target out of memory: RESTORE is refused, the export fails, nothing moved.
    q(&mut nodes[*ti].conn(), &["CONFIG", "SET", "maxmemory", "1"]);
    assert_eq!(migrate_cmd(source, &ranges, &dst.id).trim(), "OK");
    let rec = wait_export_end(source, Duration::from_secs(20));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("failed"),
        "{rec:?}"
    );
    assert!(rec["message"].contains("OOM"), "{rec:?}");
    q(&mut nodes[*ti].conn(), &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(keys_in(&nodes[*ti], &ranges), 0);
    assert_eq!(keys_in(source, &ranges), total);

    // CANCELSLOTMIGRATIONS mid-snapshot: the target (and its replica) drop the import.
    start_slow_export(source, &ranges, &dst.id);
    assert_eq!(
        source.cli(&["cluster", "cancelslotmigrations"]).trim(),
        "OK"
    );
    let rec = wait_export_end(source, Duration::from_secs(20));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("cancelled"),
        "{rec:?}"
    );
    let view = parse_nodes(&source.cli(&["cluster", "nodes"]));
    let tr_port: u16 = view
        .iter()
        .find(|n| n.master == dst.id)
        .and_then(|l| l.addr.rsplit(':').next()?.parse().ok())
        .unwrap();
    let target_replica = nodes.iter().position(|s| s.port == tr_port).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || keys_in(&nodes[*ti], &ranges)
            == 0
            && keys_in(&nodes[target_replica], &ranges) == 0),
        "the target kept imported keys"
    );
    assert_eq!(keys_in(source, &ranges), total);
    let mut c = source.conn();
    q(
        &mut c,
        &["SET", &format!("{{{}}}:after-cancel", tags[0]), "1"],
    );

    // kill -9 of the target mid-snapshot.
    let mut nodes = nodes;
    start_slow_export(&nodes[*si], &ranges, &dst.id);
    nodes[*ti].kill9();
    let rec = wait_export_end(&nodes[*si], Duration::from_secs(30));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("failed"),
        "{rec:?}"
    );
    let source = &nodes[*si];
    assert_eq!(
        keys_in(source, &ranges),
        total + 1,
        "keys lost on the source"
    );
    let owner = owner_map(&parse_nodes(&source.cli(&["cluster", "nodes"])));
    assert!(
        (a..=b).all(|s| owner[s as usize].as_deref() == Some(src.id.as_str())),
        "the source lost slots"
    );
    let mut c = source.conn();
    q(
        &mut c,
        &["SET", &format!("{{{}}}:after-kill", tags[1]), "1"],
    );
    // Restarted with its AOF, the target drops what it had imported.
    assert!(nodes[*ti].restart(None));
    assert!(
        wait_for(Duration::from_secs(20), || keys_in(&nodes[*ti], &ranges)
            == 0),
        "the restarted target holds keys of the source's slots"
    );
}

/// The node (index into `nodes`) replicating `primary_id`, as `view_from` sees it.
fn replica_index(nodes: &[TestServer], view_from: &TestServer, primary_id: &str) -> usize {
    let view = parse_nodes(&view_from.cli(&["cluster", "nodes"]));
    let port: u16 = view
        .iter()
        .find(|n| n.master == primary_id)
        .and_then(|l| l.addr.rsplit(':').next()?.parse().ok())
        .expect("a replica");
    nodes
        .iter()
        .position(|s| s.port == port)
        .expect("known port")
}

fn signal(s: &TestServer, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &s.pid().to_string()])
        .status()
        .is_ok_and(|st| st.success());
    assert!(ok, "kill {sig} failed");
}

/// The target claims the slots only once its replicas hold everything it imported (the
/// source sends `WAIT <replicas>` before FINISH): with the target's replica stopped
/// (SIGSTOP, not yet flagged failing) the export fails and the slots and keys stay with
/// the source; resumed, the same move succeeds and the replica holds every moved key the
/// moment the source reports success. Without the WAIT the first move succeeds, leaving
/// the slots with a target whose only replica lacks them (the simulator shows the
/// acknowledged writes that loses when the target then dies).
#[test]
fn the_target_claims_only_once_its_replicas_hold_the_import() {
    let nodes = make_cluster(6, 1, &["--cluster-node-timeout", "6000"]);
    let prims = primaries(&nodes);
    let (si, src) = &prims[0];
    let (ti, dst) = &prims[1];
    let (a, _) = src.slots[0];
    let ranges = vec![(a, a + 300)];
    let source = &nodes[*si];
    let tags = tags_in(source, &ranges, 100);
    let total = load_values(source, &tags, 50, 100);
    let tr = replica_index(&nodes, source, &dst.id);
    // Both replicas are in sync before anything starts.
    for (p, r) in [(*ti, tr), (*si, replica_index(&nodes, source, &src.id))] {
        q(&mut nodes[p].conn(), &["WAIT", "1", "5000"]);
        assert!(wait_for(Duration::from_secs(10), || {
            nodes[r]
                .cli(&["info", "replication"])
                .contains("master_link_status:up")
        }));
    }

    signal(&nodes[tr], "-STOP");
    assert_eq!(migrate_cmd(source, &ranges, &dst.id).trim(), "OK");
    let rec = wait_export_end(source, Duration::from_secs(20));
    signal(&nodes[tr], "-CONT");
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("failed"),
        "{rec:?}"
    );
    assert!(rec["message"].contains("replicas acknowledged"), "{rec:?}");
    let owner = owner_map(&parse_nodes(&source.cli(&["cluster", "nodes"])));
    assert_eq!(owner[a as usize].as_deref(), Some(src.id.as_str()));
    assert_eq!(keys_in(source, &ranges), total);
    assert!(
        wait_for(Duration::from_secs(10), || keys_in(&nodes[*ti], &ranges)
            == 0
            && keys_in(&nodes[tr], &ranges) == 0),
        "the target side kept the refused import"
    );

    // Resumed (and caught up), the replica follows the import before the claim.
    assert!(wait_for(Duration::from_secs(15), || {
        q(&mut nodes[*ti].conn(), &["WAIT", "1", "200"]) == redis::Value::Int(1)
    }));
    assert_eq!(migrate_cmd(source, &ranges, &dst.id).trim(), "OK");
    let rec = wait_export_end(source, Duration::from_secs(20));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("success"),
        "{rec:?}"
    );
    let mut rc = nodes[tr].conn();
    q(&mut rc, &["READONLY"]);
    let held = keys_in(&nodes[tr], &ranges);
    assert_eq!(
        held, total,
        "the target's replica lacks moved keys at the hand-over"
    );
}

/// Longest time a GET on the source took while `stop` was false.
fn probe(port: u16, key: String, stop: Arc<AtomicBool>) -> Result<Duration, String> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection())
        .map_err(|e| e.to_string())?;
    let mut worst = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let _: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query(&mut c)
            .map_err(|e| format!("GET on the source: {e}"))?;
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(worst)
}

/// The end of a node's log, for failure messages.
fn log_tail(s: &TestServer) -> String {
    let log = std::fs::read_to_string(s.dir.join(SERVER_LOG)).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Issue 13's big keys: a 1M-member zset and a 100 MB string move (as batched writes, not
/// one RESTORE) while a client keeps reading another slot of the source: its longest
/// wait stays far below the move's duration (the source is never blocked for the move),
/// and both values arrive whole on the target and its replica.
#[test]
fn a_million_member_zset_and_a_100mb_string_move_without_blocking_the_source() {
    let nodes = make_cluster(6, 1, &["--cluster-node-timeout", "5000"]);
    let prims = primaries(&nodes);
    let (si, src) = &prims[0];
    let (ti, dst) = &prims[1];
    let (a, b) = src.slots[0];
    let ranges = vec![(a, a + 10)];
    let source = &nodes[*si];
    let tag = tags_in(source, &ranges, 1).remove(0);
    let other = tags_in(source, &[(a + 100, b)], 1).remove(0);
    let mut c = source.conn();
    for chunk in 0..100 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(format!("{{{tag}}}:zset"));
        for i in 0..10_000 {
            let m = chunk * 10_000 + i;
            cmd.arg(m).arg(format!("member:{m}"));
        }
        cmd.query::<i64>(&mut c).unwrap();
    }
    let part = "s".repeat(10 << 20);
    for _ in 0..10 {
        q(&mut c, &["APPEND", &format!("{{{tag}}}:str"), &part]);
    }
    q(&mut c, &["SET", &format!("{{{other}}}:probe"), "here"]);
    q(&mut c, &["WAIT", "1", "20000"]);

    let stop = Arc::new(AtomicBool::new(false));
    let h = {
        let (stop, key, port) = (stop.clone(), format!("{{{other}}}:probe"), source.port);
        std::thread::spawn(move || probe(port, key, stop))
    };
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    assert_eq!(migrate_cmd(source, &ranges, &dst.id).trim(), "OK");
    let rec = wait_export_end(source, Duration::from_secs(120));
    let took = t0.elapsed();
    // Freeing the old copies happens after the hand-over: keep probing through it.
    let purged = wait_for(Duration::from_secs(30), || keys_in(source, &ranges) == 0);
    stop.store(true, Ordering::Relaxed);
    let worst = h
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(source)));
    assert!(purged, "keys left on the source\n{}", log_tail(source));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("success"),
        "{rec:?}"
    );
    eprintln!(
        "moved in {took:?}; longest GET on the source {worst:?}; write pause {} ms",
        rec["write_pause_ms"]
    );
    assert!(
        worst < Duration::from_millis(1000) && worst * 3 < took,
        "the source was blocked for {worst:?} of a {took:?} move"
    );
    let target = &nodes[*ti];
    let tr = &nodes[replica_index(&nodes, source, &dst.id)];
    for (s, readonly) in [(target, false), (tr, true)] {
        let mut c = s.conn();
        if readonly {
            q(&mut c, &["READONLY"]);
        }
        let check = |c: &mut redis::Connection| {
            let zcard: i64 = redis::cmd("ZCARD")
                .arg(format!("{{{tag}}}:zset"))
                .query(c)
                .unwrap();
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(format!("{{{tag}}}:zset"))
                .arg("member:999999")
                .query(c)
                .unwrap();
            let len: i64 = redis::cmd("STRLEN")
                .arg(format!("{{{tag}}}:str"))
                .query(c)
                .unwrap();
            zcard == 1_000_000 && score == Some(999_999.0) && len == 100 << 20
        };
        assert!(
            wait_for(Duration::from_secs(30), || check(&mut c)),
            "node {} lacks the big values",
            s.port
        );
    }
}

/// The failures the simulator covers on the source's side, with real processes: the import
/// link closed mid-snapshot (the target kills its client connections) fails the export
/// and leaves every slot and key with the source; kill -9 of the source mid-snapshot
/// promotes its replica, which owns the slots with every key written before the move,
/// while the target drops what it had imported — no key is lost or held twice.
#[test]
fn a_closed_link_or_a_killed_source_mid_move_leaves_the_slots_with_the_source_shard() {
    let mut nodes = make_cluster(6, 1, &["--cluster-node-timeout", "2000"]);
    let prims = primaries(&nodes);
    let (si, src) = prims[0].clone();
    let (ti, dst) = prims[1].clone();
    let (a, b) = src.slots[0];
    let ranges = vec![(a, b)];
    let tags = tags_in(&nodes[si], &ranges, 200);
    let total = load_values(&nodes[si], &tags, 400, 1000);
    // Every key is on the source's replica before anything fails.
    assert_eq!(
        q(&mut nodes[si].conn(), &["WAIT", "1", "10000"]),
        redis::Value::Int(1)
    );
    let sr = replica_index(&nodes, &nodes[si], &src.id);

    // The import link closed from the target's side mid-snapshot.
    start_slow_export(&nodes[si], &ranges, &dst.id);
    let killed = nodes[ti].cli(&["client", "kill", "type", "normal", "skipme", "yes"]);
    assert!(killed.trim().parse::<i64>().unwrap_or(0) >= 1, "{killed}");
    let rec = wait_export_end(&nodes[si], Duration::from_secs(30));
    assert_eq!(
        rec.get("state").map(String::as_str),
        Some("failed"),
        "{rec:?}"
    );
    let owner = owner_map(&parse_nodes(&nodes[si].cli(&["cluster", "nodes"])));
    assert!(
        (a..=b).all(|s| owner[s as usize].as_deref() == Some(src.id.as_str())),
        "the source lost slots after the link closed"
    );
    assert_eq!(keys_in(&nodes[si], &ranges), total);
    assert!(
        wait_for(Duration::from_secs(10), || keys_in(&nodes[ti], &ranges)
            == 0),
        "the target kept the import of a closed link"
    );

    // kill -9 of the source mid-snapshot: its replica takes the slots over.
    start_slow_export(&nodes[si], &ranges, &dst.id);
    nodes[si].kill9();
    let promoted = wait_for(Duration::from_secs(30), || {
        nodes[sr]
            .cli(&["info", "replication"])
            .contains("role:master")
    });
    assert!(promoted, "the source's replica was not promoted");
    assert!(
        wait_for(Duration::from_secs(20), || {
            let owner = owner_map(&parse_nodes(&nodes[ti].cli(&["cluster", "nodes"])));
            let new_id = nodes[sr].cli(&["cluster", "myid"]);
            (a..=b).all(|s| owner[s as usize].as_deref() == Some(new_id.trim()))
        }),
        "the slots did not stay with the source's shard"
    );
    assert_eq!(
        keys_in(&nodes[sr], &ranges),
        total,
        "keys lost with the source"
    );
    assert!(
        wait_for(Duration::from_secs(10), || keys_in(&nodes[ti], &ranges)
            == 0),
        "the target kept the import of a dead source"
    );
    // The old source comes back as a replica and holds the same keys, none twice.
    assert!(nodes[si].restart(None));
    assert!(
        wait_for(Duration::from_secs(30), || {
            nodes[si]
                .cli(&["info", "replication"])
                .contains("master_link_status:up")
                && keys_in(&nodes[si], &ranges) == total
        }),
        "the old source did not come back as a replica holding the keys"
    );
    assert_eq!(keys_in(&nodes[ti], &ranges), 0);
}

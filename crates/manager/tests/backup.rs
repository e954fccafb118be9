//! `rubra backup` under writes and `rubra restore` into a cluster of another size: the
//! restored cluster holds exactly what the backup holds, the backup holds every write
//! acknowledged before it started, and a damaged backup is refused before anything is written.

mod common;

use common::*;
use rubra_manager::backup::Manifest;
use rubra_manager::resp::{Conn, Value};
use rubra_persistence::RdbValue;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A value in a form both an RDB entry and a node's replies map to.
#[derive(Debug, Clone, PartialEq)]
enum Canon {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, String)>),
}

fn canon_rdb(v: RdbValue) -> Canon {
    match v {
        RdbValue::Str(s) => Canon::Str(s),
        RdbValue::List(l) => Canon::List(l),
        RdbValue::Set(mut s) => {
            s.sort();
            Canon::Set(s)
        }
        RdbValue::Hash(mut h) => {
            h.sort();
            Canon::Hash(h)
        }
        RdbValue::ZSet(z) => {
            let mut z: Vec<_> = z.into_iter().map(|(m, s)| (m, format!("{s}"))).collect();
            z.sort();
            Canon::ZSet(z)
        }
        RdbValue::Stream(_) => panic!("no streams in this test"),
    }
}

fn bulks(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Bulk(b) => b,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn canon_node(c: &mut Conn, key: &[u8]) -> Canon {
    let ty = c.text(&[&b"TYPE"[..], key]).expect("TYPE");
    let q = |c: &mut Conn, args: &[&[u8]]| c.ok(args).expect("read");
    match ty.as_str() {
        "string" => match q(c, &[b"GET", key]) {
            Value::Bulk(b) => Canon::Str(b),
            v => panic!("GET: {v:?}"),
        },
        "list" => Canon::List(bulks(q(c, &[b"LRANGE", key, b"0", b"-1"]))),
        "set" => {
            let mut s = bulks(q(c, &[b"SMEMBERS", key]));
            s.sort();
            Canon::Set(s)
        }
        "hash" => {
            let flat = bulks(q(c, &[b"HGETALL", key]));
            let mut h: Vec<_> = flat
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            h.sort();
            Canon::Hash(h)
        }
        "zset" => {
            let flat = bulks(q(c, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]));
            let mut z: Vec<_> = flat
                .chunks(2)
                .map(|p| {
                    let s: f64 = String::from_utf8_lossy(&p[1]).parse().expect("score");
                    (p[0].clone(), format!("{s}"))
                })
                .collect();
            z.sort();
            Canon::ZSet(z)
        }
        other => panic!("unexpected type {other}"),
    }
}

/// Every key of the backup in `dir`, read with the persistence crate.
fn backup_content(dir: &std::path::Path) -> BTreeMap<Vec<u8>, Canon> {
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for s in &m.shards {
        let bytes = std::fs::read(dir.join(&s.file)).unwrap();
        rubra_persistence::read_rdb(&bytes, |e| {
            assert!(out.insert(e.key, canon_rdb(e.value)).is_none(), "key twice");
        })
        .unwrap();
    }
    out
}

/// Every key of the cluster `c`, by SCAN on each primary.
fn cluster_content(c: &Cluster) -> BTreeMap<Vec<u8>, Canon> {
    let mut out = BTreeMap::new();
    for p in c.view().primaries() {
        let mut conn = c.conn(p.port);
        let mut cursor = b"0".to_vec();
        loop {
            let v = conn
                .ok(&[&b"SCAN"[..], &cursor, b"COUNT", b"1000"])
                .expect("SCAN");
            let Value::Array(mut parts) = v else {
                panic!("SCAN reply")
            };
            let keys = bulks(parts.pop().expect("keys"));
            let Some(Value::Bulk(next)) = parts.pop() else {
                panic!("cursor")
            };
            for k in keys {
                let v = canon_node(&mut conn, &k);
                out.insert(k, v);
            }
            if next == b"0" {
                break;
            }
            cursor = next;
        }
    }
    out
}

#[test]
fn backup_under_writes_restores_into_four_pairs() {
    let (base_a, panel_a) = ports(6);
    let da = tempdir("backup-a");
    let _ta = TempDir(da.clone());
    let a = Cluster::start(Kind::Embedded, &da, base_a, panel_a, &[]);
    let pw = a.password();
    let ports_a = a.state().active_ports();

    // Keys of every type, a TTL and a hash tag, then a writer that keeps going.
    let mut script = String::new();
    for i in 0..300 {
        script.push_str(&format!("SET s:{i} v{i}\n"));
    }
    for i in 0..30 {
        script.push_str(&format!("HSET h:{i} f1 a{i} f2 b{i}\n"));
        script.push_str(&format!("RPUSH l:{i} x y z{i}\n"));
        script.push_str(&format!("SADD set:{i} m1 m2 m{i}\n"));
        script.push_str(&format!("ZADD z:{i} 1.5 one {i} two\n"));
    }
    script.push_str("SET ttl:key alive EX 100000\nSET {tag}a 1\nSET {tag}b 2\n");
    cli(ports_a[0], &pw, &script);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, acked, ports, pw) = (stop.clone(), acked.clone(), ports_a.clone(), pw.clone());
        std::thread::spawn(move || {
            block_on(async {
                let mut c = cluster_client(&ports, &pw)
                    .get_async_connection()
                    .await
                    .expect("cluster connection");
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let _: () = redis::cmd("SET")
                        .arg(format!("w:{n}"))
                        .arg(n)
                        .query_async(&mut c)
                        .await
                        .expect("SET");
                    n += 1;
                    acked.store(n, Ordering::SeqCst);
                }
            })
        })
    };
    while acked.load(Ordering::SeqCst) < 500 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let bk = da.join("bk");
    let before = acked.load(Ordering::SeqCst);
    let (ok, out) = a.run(&["backup", "--to", bk.to_str().unwrap()]);
    assert!(ok, "{out}");
    let after = acked.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");

    // The manifest: three shards from replicas, covering every slot, checksums right.
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(bk.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m.shards.len(), 3);
    assert_eq!(m.nodes.len(), 6);
    let slots: usize = m
        .shards
        .iter()
        .flat_map(|s| s.slots.iter())
        .map(|(a, b)| usize::from(b - a) + 1)
        .sum();
    assert_eq!(slots, 16384);
    for s in &m.shards {
        assert_eq!(s.source_role, "replica", "{s:?}");
        let bytes = std::fs::read(bk.join(&s.file)).unwrap();
        assert_eq!(rubra_manager::password::sha256_hex(&bytes), s.sha256);
    }

    // Point in time: every write acknowledged before the backup started is in it, and
    // nothing written after it returned.
    let content = backup_content(&bk);
    for n in 0..before {
        assert_eq!(
            content.get(format!("w:{n}").as_bytes()),
            Some(&Canon::Str(n.to_string().into_bytes())),
            "w:{n} acknowledged before the backup"
        );
    }
    for k in content.keys().filter(|k| k.starts_with(b"w:")) {
        let n: u64 = String::from_utf8_lossy(&k[2..]).parse().unwrap();
        assert!(
            n <= after,
            "w:{n} written after the backup returned ({after})"
        );
    }
    assert_eq!(content.get(&b"s:7"[..]), Some(&Canon::Str(b"v7".to_vec())));
    assert_eq!(
        content.get(&b"z:3"[..]),
        Some(&Canon::ZSet(vec![
            (b"one".to_vec(), "1.5".into()),
            (b"two".to_vec(), "3".into())
        ]))
    );
    println!(
        "backup: {} keys ({before} writes acked before, {after} after)",
        content.len()
    );

    // A cluster of four pairs gets the backup.
    let (base_b, panel_b) = ports(8);
    let db = tempdir("backup-b");
    let _tb = TempDir(db.clone());
    let b = Cluster::start(Kind::Embedded, &db, base_b, panel_b, &["--nodes", "8"]);
    assert_eq!(b.view().primaries().len(), 4);

    // A damaged copy is refused before anything is written.
    let bad = db.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for e in std::fs::read_dir(&bk).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
    }
    let victim = bad.join(&m.shards[1].file);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, bytes).unwrap();
    let (ok, out) = b.run(&["restore", "--from", bad.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("damaged backup") && out.contains(&m.shards[1].file),
        "{out}"
    );
    assert!(cluster_content(&b).is_empty(), "nothing written");

    let (ok, out) = b.run(&["restore", "--from", bk.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("restored {} keys", content.len())),
        "{out}"
    );
    let restored = cluster_content(&b);
    assert_eq!(restored.len(), content.len());
    assert!(
        restored == content,
        "restored content differs from the backup"
    );
    let lines = cli(base_b, &b.password(), "TTL ttl:key\n");
    let t: i64 = lines[0].parse().expect("ttl");
    assert!(t > 99_000 && t <= 100_000, "TTL kept: {t}");

    // The other way: four pairs back into three. A's data goes, B's backup comes in.
    let bk4 = db.join("bk4");
    let (ok, out) = b.run(&["backup", "--to", bk4.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert_eq!(backup_content(&bk4), content);
    for p in a.view().primaries() {
        a.conn(p.port).ok(&["FLUSHALL"]).expect("FLUSHALL");
    }
    let (ok, out) = a.run(&["restore", "--from", bk4.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        cluster_content(&a) == content,
        "4 -> 3 pairs: content differs"
    );

    // A second restore into the now non-empty cluster needs --replace.
    let (ok, out) = b.run(&["restore", "--from", bk.to_str().unwrap()]);
    assert!(!ok && out.contains("--replace"), "{out}");
    let (ok, out) = b.run(&["restore", "--from", bk.to_str().unwrap(), "--replace"]);
    assert!(ok, "{out}");
}

/// `rubra up --backup-every 2s --keep 2`: backups keep coming, only the newest two stay,
/// each is complete and restorable (verified), and the API lists them.
#[test]
fn scheduled_backups_keep_the_newest() {
    let (base, panel) = ports(6);
    let d = tempdir("backup-sched");
    let _t = TempDir(d.clone());
    let c = Cluster::start(
        Kind::Embedded,
        &d,
        base,
        panel,
        &["--backup-every", "2s", "--keep", "2"],
    );
    let pw = c.password();
    write_keys(base, &pw, 100);
    let t0 = std::time::Instant::now();
    let events = || std::fs::read_to_string(d.join("events.jsonl")).unwrap_or_default();
    while events().matches("\"kind\":\"backup\"").count() < 4 {
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "scheduled backups: {}",
            events()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!events().contains("backup_failed"), "{}", events());
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/backups", &pw, "").unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["keep"], 2);
    assert!(
        v["backups"].as_array().is_some_and(|b| !b.is_empty()),
        "{body}"
    );
    // Stopped, so no backup is being written or pruned while we look.
    let mut c = c;
    c.down();
    let kept = rubra_manager::backup::scheduled(&d.join("backups"));
    assert_eq!(kept.len(), 2, "{kept:?}");
    for (_, dir, m) in &kept {
        let (vm, _) = rubra_manager::backup::verify(dir).expect("a complete backup");
        assert_eq!(&vm, m);
        assert_eq!(m.shards.iter().map(|s| s.keys).sum::<u64>(), 100);
    }
}

/// A Redis 7.0 server's dump.rdb (its own encodings: listpacks, intsets, ...) restored
/// into a rubra cluster with `rubra restore --rdb`; a corrupted copy is refused whole.
#[test]
fn a_redis_rdb_file_restores_into_a_rubra_cluster() {
    if !Kind::Redis.available() {
        return;
    }
    let d = tempdir("backup-redis");
    let _t = TempDir(d.clone());
    std::fs::create_dir_all(&d).unwrap();
    let (rport, _) = ports(1);
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &rport.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&d)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let rcli = |script: &str| {
        let mut child = std::process::Command::new("redis-cli")
            .args(["-p", &rport.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("redis-cli");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let t0 = std::time::Instant::now();
    while !String::from_utf8_lossy(&rcli("PING\n").stdout).contains("PONG") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut script = String::new();
    for i in 0..200 {
        script.push_str(&format!("SET s:{i} {i}\n"));
    }
    for i in 0..20 {
        script.push_str(&format!("HSET h:{i} f a{i} g 7\nRPUSH l:{i} a b {i}\n"));
        script.push_str(&format!("SADD is:{i} 1 2 {i}\nSADD ss:{i} x y\n"));
        script.push_str(&format!("ZADD z:{i} 2 a 0.25 b\n"));
    }
    script.push_str("SAVE\n");
    rcli(&script);
    let _ = redis.kill();
    let _ = redis.wait();
    let rdb = d.join("dump.rdb");
    let want = {
        let bytes = std::fs::read(&rdb).unwrap();
        let mut m = BTreeMap::new();
        rubra_persistence::read_rdb(&bytes, |e| {
            m.insert(e.key, canon_rdb(e.value));
        })
        .unwrap();
        m
    };
    assert_eq!(want.len(), 300);

    let (base, panel) = ports(6);
    let dc = d.join("cluster");
    let c = Cluster::start(Kind::Embedded, &dc, base, panel, &[]);
    let bad = d.join("bad.rdb");
    let mut bytes = std::fs::read(&rdb).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&bad, bytes).unwrap();
    let (ok, out) = c.run(&[
        "restore",
        "--rdb",
        rdb.to_str().unwrap(),
        "--rdb",
        bad.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("not a loadable RDB"), "{out}");
    assert!(cluster_content(&c).is_empty(), "nothing written");
    let (ok, out) = c.run(&["restore", "--rdb", rdb.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        cluster_content(&c) == want,
        "content differs from redis-server's RDB"
    );
}

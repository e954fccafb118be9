//! Replication with real processes: full sync by RDB, partial resync from the backlog after
//! a dropped link, WAIT, promotion with siblings continuing partially, relative TTLs reaching
//! replicas as absolute times, and both directions with Debian's redis-server 7.0.

mod common;
mod reference;
use common::replication::{info_field, link_up, stat, wait_for};
use common::*;
use redis::Value;
use reference::Reference;
use std::time::Duration;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn full_then_partial_resync_and_wait() {
    let primary = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut p = primary.conn();
    for i in 0..1000 {
        q(&mut p, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    q(&mut p, &["HSET", "h", "a", "1"]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the replica link", 10, || link_up(replica.port));
    let mut r = replica.conn();
    wait_for("the full sync data", 10, || {
        q(&mut r, &["DBSIZE"]) == Value::Int(1001)
    });
    assert_eq!(stat(primary.port, "sync_full"), 1);
    // Writes stream; WAIT counts the replica's acknowledgement.
    q(&mut p, &["SET", "streamed", "yes"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    assert_eq!(q(&mut r, &["GET", "streamed"]), bulk("yes"));
    // Replicas refuse writes.
    assert!(q_err(&mut r, &["SET", "x", "1"]).starts_with("READONLY"));
    // Drop the link from the primary's side, write meanwhile: the replica reconnects and
    // continues from the backlog, with no second full sync.
    assert_eq!(primary.cli(&["CLIENT", "KILL", "TYPE", "replica"]), "1");
    for i in 0..100 {
        q(&mut p, &["SET", &format!("gap{i}"), "x"]);
    }
    wait_for("a partial resync", 10, || {
        stat(primary.port, "sync_partial_ok") >= 1
    });
    wait_for("the gap writes", 10, || {
        q(&mut r, &["EXISTS", "gap99"]) == Value::Int(1)
    });
    assert_eq!(stat(primary.port, "sync_full"), 1, "no second full sync");
    let offsets = |port: u16| info_field(port, "replication", "master_repl_offset");
    q(&mut p, &["WAIT", "1", "5000"]);
    wait_for("equal offsets", 10, || {
        offsets(primary.port) == offsets(replica.port)
    });
}

#[test]
fn promoted_replica_serves_its_siblings_partially() {
    let primary = TestServer::start(&[]);
    let a = TestServer::start(&[]);
    let b = TestServer::start(&[]);
    let pport = primary.port.to_string();
    a.cli(&["REPLICAOF", "127.0.0.1", &pport]);
    b.cli(&["REPLICAOF", "127.0.0.1", &pport]);
    wait_for("links", 10, || link_up(a.port) && link_up(b.port));
    let mut p = primary.conn();
    for i in 0..200 {
        q(&mut p, &["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(q(&mut p, &["WAIT", "2", "5000"]), Value::Int(2));
    drop(primary);
    // Promote a; b follows it and continues partially thanks to the second replication id.
    assert_eq!(a.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    let mut ac = a.conn();
    q(&mut ac, &["SET", "after", "promotion"]);
    b.cli(&["REPLICAOF", "127.0.0.1", &a.port.to_string()]);
    wait_for("b following a", 10, || link_up(b.port));
    let mut bc = b.conn();
    wait_for("the new write on b", 10, || {
        q(&mut bc, &["GET", "after"]) == bulk("promotion")
    });
    assert_eq!(stat(a.port, "sync_partial_ok"), 1);
    assert_eq!(stat(a.port, "sync_full"), 0);
    assert_eq!(q(&mut bc, &["DBSIZE"]), Value::Int(201));
}

#[test]
fn relative_ttls_reach_a_replica_as_absolute_times() {
    let primary = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    q(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    );
    q(&mut p, &["SET", "a", "1", "EX", "1000"]);
    q(&mut p, &["SETEX", "b", "1000", "v"]);
    q(&mut p, &["INCRBYFLOAT", "c", "0.1"]);
    q(&mut p, &["SET", "d", "v", "PXAT", "1"]);
    q(&mut p, &["SET", "done", "1"]);
    // Not "!= Nil": a replica still loading the snapshot answers -LOADING.
    wait_for("the replica", 10, || {
        q(&mut r, &["GET", "done"]) == bulk("1")
    });
    for k in ["a", "b"] {
        let (pt, rt) = (
            q(&mut p, &["PEXPIRETIME", k]),
            q(&mut r, &["PEXPIRETIME", k]),
        );
        assert_eq!(pt, rt, "{k}: expire times differ");
        assert!(matches!(pt, Value::Int(n) if n > 0));
    }
    assert_eq!(q(&mut r, &["GET", "c"]), bulk("0.1"));
    assert_eq!(q(&mut r, &["EXISTS", "d"]), Value::Int(0));
}

#[test]
fn redis_server_replicates_from_a_rubra_primary() {
    let primary = TestServer::start(&[]);
    let mut p = primary.conn();
    for i in 0..500 {
        q(&mut p, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    q(&mut p, &["SADD", "s", "a", "b"]);
    q(&mut p, &["SET", "ttl", "v", "EX", "1000"]);
    let reference = Reference::start_with(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    wait_for("redis-server's link", 15, || link_up(reference.port));
    wait_for("the full sync", 10, || {
        cli_at(reference.port, &["DBSIZE"]) == "502"
    });
    q(&mut p, &["SET", "live", "stream"]);
    q(&mut p, &["SELECT", "2"]);
    q(&mut p, &["SET", "in-db2", "x"]);
    wait_for("streamed writes", 10, || {
        cli_at(reference.port, &["-n", "2", "GET", "in-db2"]) == "x"
    });
    assert_eq!(cli_at(reference.port, &["GET", "live"]), "stream");
    assert_eq!(
        cli_at(reference.port, &["SMEMBERS", "s"]).lines().count(),
        2
    );
    let ttl: i64 = cli_at(reference.port, &["TTL", "ttl"]).parse().unwrap();
    assert!(ttl > 990, "{ttl}");
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    // Partial resync: drop the link, write, and redis-server continues from our backlog.
    primary.cli(&["CLIENT", "KILL", "TYPE", "replica"]);
    q(&mut p, &["SET", "gap", "filled"]);
    wait_for("redis-server partial resync", 15, || {
        cli_at(reference.port, &["-n", "2", "GET", "gap"]) == "filled"
    });
    assert_eq!(stat(primary.port, "sync_full"), 1);
    assert!(stat(primary.port, "sync_partial_ok") >= 1);
}

#[test]
fn rubra_replicates_from_a_redis_server_primary() {
    let reference = Reference::start_with(&[]);
    for i in 0..500 {
        cli_at(reference.port, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    cli_at(reference.port, &["HSET", "h", "f", "v"]);
    let replica = TestServer::start(&[]);
    replica.cli(&["REPLICAOF", "127.0.0.1", &reference.port.to_string()]);
    wait_for("our link", 15, || link_up(replica.port));
    let mut r = replica.conn();
    wait_for("the full sync", 10, || {
        q(&mut r, &["DBSIZE"]) == Value::Int(501)
    });
    cli_at(reference.port, &["SET", "live", "1"]);
    cli_at(reference.port, &["INCR", "live"]);
    wait_for("streamed writes", 10, || {
        q(&mut r, &["GET", "live"]) == bulk("2")
    });
    // Partial resync from redis-server's backlog after the link drops.
    cli_at(reference.port, &["CLIENT", "KILL", "TYPE", "replica"]);
    cli_at(reference.port, &["SET", "gap", "filled"]);
    wait_for("partial resync", 15, || {
        q(&mut r, &["GET", "gap"]) == bulk("filled")
    });
    assert_eq!(stat(reference.port, "sync_full"), 1);
    assert!(stat(reference.port, "sync_partial_ok") >= 1);
}

#[test]
fn a_large_dataset_syncs_while_clients_keep_writing() {
    let primary = TestServer::start(&["--enable-debug-command", "yes"]);
    let replica = TestServer::start(&[]);
    let mut p = primary.conn();
    q(&mut p, &["DEBUG", "POPULATE", "200000", "big"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let url = primary.url();
        std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _: () = redis::cmd("SET")
                    .arg(format!("w{n}"))
                    .arg(n)
                    .query(&mut c)
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    replica.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    wait_for("the link", 60, || link_up(replica.port));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    assert_eq!(q(&mut p, &["WAIT", "1", "10000"]), Value::Int(1));
    let mut r = replica.conn();
    let expected = 200_000 + written as i64;
    assert_eq!(q(&mut r, &["DBSIZE"]), Value::Int(expected));
    for n in [0, written / 2, written - 1] {
        assert_eq!(q(&mut r, &["GET", &format!("w{n}")]), bulk(&n.to_string()));
    }
}

/// A replica authenticates as an ACL user (`masteruser` + `masterauth`): a wrong password
/// keeps the link down with the primary's AUTH error in the replica's log; the right one
/// brings it up and the data arrives.
#[test]
fn replica_authenticates_as_an_acl_user() {
    let primary = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let mut p = primary.conn();
    assert_eq!(
        q(
            &mut p,
            &[
                "ACL",
                "SETUSER",
                "repl",
                "on",
                ">s3cret",
                "+psync",
                "+replconf",
                "+ping"
            ]
        ),
        Value::Okay
    );
    // The default user needs a password from now on, so only the ACL user can sync.
    assert_eq!(
        q(&mut p, &["CONFIG", "SET", "requirepass", "adminpw"]),
        Value::Okay
    );
    let admin_url = format!("redis://:adminpw@127.0.0.1:{}/", primary.port);
    let mut p = redis::Client::open(admin_url.as_str())
        .and_then(|c| c.get_connection())
        .expect("admin connection");
    for i in 0..50 {
        q(&mut p, &["SET", &format!("k{i}"), "v"]);
    }
    let mut r = replica.conn();
    assert_eq!(
        q(&mut r, &["CONFIG", "SET", "masteruser", "repl"]),
        Value::Okay
    );
    assert_eq!(
        q(&mut r, &["CONFIG", "SET", "masterauth", "wrong"]),
        Value::Okay
    );
    let pport = primary.port.to_string();
    assert_eq!(q(&mut r, &["REPLICAOF", "127.0.0.1", &pport]), Value::Okay);
    let log = || std::fs::read_to_string(replica.dir.join(SERVER_LOG)).unwrap_or_default();
    wait_for("the AUTH error in the replica's log", 10, || {
        log().contains("Unable to AUTH to MASTER: -WRONGPASS")
    });
    assert!(
        !link_up(replica.port),
        "a wrong password must keep the link down"
    );
    assert_eq!(q(&mut r, &["DBSIZE"]), Value::Int(0));
    assert_eq!(stat(primary.port, "sync_full"), 0);
    // The right password: the link comes up at the next retry and the data arrives.
    assert_eq!(
        q(&mut r, &["CONFIG", "SET", "masterauth", "s3cret"]),
        Value::Okay
    );
    wait_for("the replica link", 10, || link_up(replica.port));
    wait_for("the data", 10, || q(&mut r, &["DBSIZE"]) == Value::Int(50));
    q(&mut p, &["SET", "streamed", "yes"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    assert_eq!(q(&mut r, &["GET", "streamed"]), bulk("yes"));
}

/// `CONFIG SET repl-backlog-size 2mb` shows in INFO and really keeps 2 MB: a replica that
/// misses 1.5 MB of writes (more than the default 1 MB) still resyncs partially.
#[test]
fn a_larger_backlog_serves_a_long_partial_resync() {
    let primary = TestServer::start(&[]);
    let replica = TestServer::start(&[]);
    let backlog = |port| info_field(port, "replication", "repl_backlog_size");
    assert_eq!(backlog(primary.port).as_deref(), Some("1048576"));
    assert_eq!(
        primary.cli(&["CONFIG", "SET", "repl-backlog-size", "2mb"]),
        "OK"
    );
    assert_eq!(backlog(primary.port).as_deref(), Some("2097152"));
    assert_eq!(
        primary.cli(&["CONFIG", "GET", "repl-backlog-size"]),
        "repl-backlog-size\n2097152"
    );
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the replica link", 10, || link_up(replica.port));
    let mut p = primary.conn();
    q(&mut p, &["SET", "before", "x"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    assert_eq!(stat(primary.port, "sync_full"), 1);
    // Freeze the replica, cut its link, write 1.5 MB, then let it reconnect.
    signal(replica.pid(), "STOP");
    assert_eq!(primary.cli(&["CLIENT", "KILL", "TYPE", "replica"]), "1");
    let value = "v".repeat(100 * 1024);
    for i in 0..15 {
        q(&mut p, &["SET", &format!("big{i}"), &value]);
    }
    signal(replica.pid(), "CONT");
    wait_for("a partial resync", 15, || {
        stat(primary.port, "sync_partial_ok") >= 1
    });
    let mut r = replica.conn();
    wait_for("the missed writes", 10, || {
        q(&mut r, &["EXISTS", "big14"]) == Value::Int(1)
    });
    assert_eq!(stat(primary.port, "sync_full"), 1, "no second full sync");
}

/// Every key of databases 0 and 3 with its type and value in a canonical form (members of
/// sets and hash fields sorted), read with pipelined commands.
fn dataset(port: u16) -> std::collections::BTreeMap<(u8, String), String> {
    let mut out = std::collections::BTreeMap::new();
    for db in [0u8, 3] {
        let url = format!("redis://127.0.0.1:{port}/{db}");
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for batch in keys.chunks(500) {
            let mut pipe = redis::pipe();
            for k in batch {
                pipe.cmd("TYPE").arg(k);
            }
            let types: Vec<String> = pipe.query(&mut c).unwrap();
            let mut pipe = redis::pipe();
            for (k, t) in batch.iter().zip(&types) {
                match t.as_str() {
                    "string" => pipe.cmd("GET").arg(k),
                    "set" => pipe.cmd("SMEMBERS").arg(k),
                    "hash" => pipe.cmd("HGETALL").arg(k),
                    "list" => pipe.cmd("LRANGE").arg(k).arg(0).arg(-1),
                    "zset" => pipe.cmd("ZRANGE").arg(k).arg(0).arg(-1).arg("WITHSCORES"),
                    other => panic!("unexpected type {other} of {k}"),
                };
            }
            let values: Vec<Value> = pipe.query(&mut c).unwrap();
            for ((k, t), v) in batch.iter().zip(&types).zip(values) {
                let text = match v {
                    Value::BulkString(b) => vec![String::from_utf8_lossy(&b).into_owned()],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|i| match i {
                            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
                            other => format!("{other:?}"),
                        })
                        .collect(),
                    other => vec![format!("{other:?}")],
                };
                let text = match t.as_str() {
                    "set" => {
                        let mut m = text;
                        m.sort();
                        m
                    }
                    "hash" => {
                        let mut pairs: Vec<String> = text.chunks(2).map(|p| p.join("=")).collect();
                        pairs.sort();
                        pairs
                    }
                    _ => text,
                };
                out.insert((db, k.clone()), format!("{t}:{}", text.join(",")));
            }
        }
    }
    out
}

/// Fills `port` with strings, a set large enough to span several snapshot chunks, the
/// other types, keys with TTLs and a second database.
fn fill(port: u16) {
    let url = format!("redis://127.0.0.1:{port}/0");
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let mut pipe = redis::pipe();
    for i in 0..30_000 {
        pipe.cmd("SET")
            .arg(format!("s{i}"))
            .arg(format!("value:{i}"))
            .ignore();
        if i % 10 == 0 {
            pipe.cmd("SET")
                .arg(format!("long{i}"))
                .arg(format!("{i} text ").repeat(20))
                .ignore();
        }
        if i % 7 == 0 {
            pipe.cmd("SET")
                .arg(format!("ttl{i}"))
                .arg(i)
                .arg("EX")
                .arg(10_000)
                .ignore();
        }
    }
    for i in 0..100_000 {
        pipe.cmd("SADD")
            .arg("bigset")
            .arg(format!("member-{i}"))
            .ignore();
    }
    for i in 0..300 {
        pipe.cmd("HSET")
            .arg(format!("h{}", i % 30))
            .arg(format!("f{i}"))
            .arg(i)
            .ignore();
        pipe.cmd("RPUSH")
            .arg(format!("l{}", i % 30))
            .arg(i)
            .ignore();
        pipe.cmd("ZADD")
            .arg(format!("z{}", i % 30))
            .arg(i as f64 / 7.0)
            .arg(format!("m{i}"))
            .ignore();
    }
    pipe.cmd("SELECT").arg(3).ignore();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("db3-{i}")).arg(i).ignore();
    }
    let () = pipe.query(&mut c).unwrap();
}

/// Writes (overwrites, deletes, growth of the big set, a second database) on `port` from a
/// thread until the returned flag is set; the handle yields how many rounds ran.
fn keep_writing(
    port: u16,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<u64>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let url = format!("redis://127.0.0.1:{port}/0");
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut n = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let () = redis::pipe()
                .cmd("SET")
                .arg(format!("s{}", n * 13 % 30_000))
                .arg(format!("new{n}"))
                .ignore()
                .cmd("DEL")
                .arg(format!("s{}", n * 17 % 30_000 + 1))
                .ignore()
                .cmd("SADD")
                .arg("bigset")
                .arg(format!("added-{n}"))
                .ignore()
                .cmd("HSET")
                .arg(format!("h{}", n % 30))
                .arg("w")
                .arg(n)
                .ignore()
                .cmd("SELECT")
                .arg(3)
                .ignore()
                .cmd("INCR")
                .arg("db3-counter")
                .ignore()
                .cmd("SELECT")
                .arg(0)
                .ignore()
                .query(&mut c)
                .unwrap();
            n += 1;
        }
        n
    });
    (stop, handle)
}

/// Syncs `replica` (a rubra-server or redis-server port) from `primary` while writes go on,
/// then checks both hold exactly the same data.
fn sync_under_writes_and_compare(primary: u16, replica: u16) {
    let (stop, writer) = keep_writing(primary);
    std::thread::sleep(Duration::from_millis(50));
    cli_at(replica, &["REPLICAOF", "127.0.0.1", &primary.to_string()]);
    wait_for("the link", 60, || link_up(replica));
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    // Every replica attached must have acknowledged the last write: with a replica from an
    // earlier sync still attached, `WAIT 1` returned on that one's ack while this one could
    // still be applying the stream (the test then saw a replica behind, not a wrong one).
    let attached = info_field(primary, "replication", "connected_slaves").unwrap_or_default();
    assert_eq!(cli_at(primary, &["WAIT", &attached, "10000"]), attached);
    let (want, got) = (dataset(primary), dataset(replica));
    assert!(want.len() > 10_000, "only {} keys", want.len());
    assert_eq!(want.len(), got.len());
    assert!(want == got, "the replica's data differs from the primary's");
}

/// The diskless `$EOF:<mark>` form (default; the snapshot streams while it is encoded and
/// loads while it arrives) and the `$<len>` form (`repl-diskless-sync no`) both give a
/// rubra replica exactly the primary's data, writes during the sync included; redis-server
/// loads our `$<len>` form too (the EOF form is `redis_server_replicates_from_a_rubra_primary`).
#[test]
fn both_snapshot_forms_sync_exactly_while_clients_write() {
    for diskless in ["yes", "no"] {
        let primary = TestServer::start(&["--repl-diskless-sync", diskless]);
        fill(primary.port);
        let replica = TestServer::start(&[]);
        sync_under_writes_and_compare(primary.port, replica.port);
        let log = std::fs::read_to_string(replica.dir.join(common::SERVER_LOG)).unwrap_or_default();
        assert_eq!(
            stat(primary.port, "sync_full"),
            1,
            "diskless {diskless}: {log}"
        );
        if diskless == "no" {
            let reference = Reference::start_with(&[]);
            sync_under_writes_and_compare(primary.port, reference.port);
        }
    }
}

/// A rubra replica loads redis-server's `$<len>` snapshot (disk-based sync) as it arrives,
/// writes during the sync included.
#[test]
fn rubra_loads_a_disk_based_snapshot_from_redis_server() {
    let reference = Reference::start_with(&["--repl-diskless-sync", "no"]);
    fill(reference.port);
    let replica = TestServer::start(&[]);
    sync_under_writes_and_compare(reference.port, replica.port);
}

/// A replica that does not read its diskless snapshot holds back the encoder: the primary
/// keeps a few MB queued for it, not the whole RDB, and the transfer completes once the
/// replica reads (before, every chunk was queued at once: memory grew by the RDB's size).
#[test]
fn a_replica_that_reads_slowly_holds_back_the_snapshot() {
    use std::io::{Read, Write};
    let primary = TestServer::start(&["--repl-diskless-sync", "yes"]);
    let url = format!("redis://127.0.0.1:{}/0", primary.port);
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    // 64 MB of incompressible values (LZF leaves them as they are).
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for batch in 0..64 {
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            let value: Vec<u8> = (0..1024)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            pipe.cmd("SET")
                .arg(format!("k{batch}:{i}"))
                .arg(value)
                .ignore();
        }
        pipe.query::<()>(&mut c).unwrap();
    }
    let used = |c: &mut redis::Connection| -> i64 {
        let info: String = redis::cmd("INFO").arg("memory").query(c).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let before = used(&mut c);

    let mut replica = std::net::TcpStream::connect(("127.0.0.1", primary.port)).unwrap();
    replica
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    replica
        .write_all(b"REPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n")
        .unwrap();
    // The encoder runs ahead until the replica's queue is full; give it time to (not) do so.
    std::thread::sleep(Duration::from_secs(3));
    let during = used(&mut c);
    assert!(
        during - before < 24 << 20,
        "used_memory grew by {} bytes while the replica did not read",
        during - before
    );

    // Reading now gets everything: the header, the RDB and the closing EOF mark.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mark = loop {
        let n = replica.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the primary closed the link after {} bytes",
            got.len()
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got[..got.len().min(200)]).into_owned();
        if let Some(pos) = text.find("$EOF:") {
            let mark = got[pos + 5..pos + 45].to_vec();
            if got.len() > pos + 47 + 40 && got.ends_with(&mark) {
                break mark;
            }
        }
    };
    assert_eq!(mark.len(), 40);
    assert!(got.len() > 64_000 * 1024, "snapshot of {} bytes", got.len());
}

/// A replica over its own maxmemory keeps every key its primary sends (Redis's
/// replica-ignore-maxmemory, on by default): the primary decides evictions and the replica
/// follows its DELs. Rubra's replica used to evict on its own (5 keys written, 0 kept).
/// The same steps run on a rubra pair and on a redis-server pair.
#[test]
fn a_replica_over_maxmemory_keeps_its_primarys_keys() {
    let rubra = (TestServer::start(&[]), TestServer::start(&[]));
    let redis = (
        Reference::start_with(&["--repl-diskless-sync-delay", "0"]),
        Reference::start(),
    );
    let mut seen = Vec::new();
    for (primary, replica) in [(rubra.0.port, rubra.1.port), (redis.0.port, redis.1.port)] {
        cli_at(replica, &["REPLICAOF", "127.0.0.1", &primary.to_string()]);
        wait_for("the link", 15, || link_up(replica));
        cli_at(
            replica,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        );
        cli_at(replica, &["CONFIG", "SET", "maxmemory", "1"]);
        for i in 0..5 {
            cli_at(primary, &["SET", &format!("k{i}"), "v"]);
        }
        cli_at(primary, &["WAIT", "1", "5000"]);
        // A command on the replica runs its eviction check too.
        cli_at(replica, &["GET", "k0"]);
        seen.push((cli_at(replica, &["DBSIZE"]), stat(replica, "evicted_keys")));
    }
    assert_eq!(seen[1], ("5".to_string(), 0), "redis-server");
    assert_eq!(seen[0], seen[1]);
}

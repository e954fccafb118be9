//! FLUSHALL with save points and DEBUG HTSTATS, against redis-server 7.0. With save
//! points set, FLUSHALL writes the RDB file at once (rdb_changes_since_last_save is 0
//! after it) and still reaches the replicas; DEBUG HTSTATS describes a database's key
//! table and its TTL table in Redis's layout.

mod common;
mod reference;
use common::replication::{info_field, link_up, wait_for};
use common::*;
use reference::{RawConn, Reference};

/// FLUSHALL on a primary with save points and a replica: the primary's dirty counter
/// after it, whether the flush reached the replica, and the dirty counter without saves.
fn flushall_scenario(primary: u16, replica: u16) -> (String, String, String) {
    let mut p = RawConn::connect(primary);
    cli_at(replica, &["REPLICAOF", "127.0.0.1", &primary.to_string()]);
    wait_for("the link to come up", 15, || link_up(replica));
    p.call("CONFIG SET save \"3600 1 300 100 60 10000\"");
    p.call("SET key value");
    p.call("SET other value");
    wait_for("the replica to get the keys", 10, || {
        cli_at(replica, &["DBSIZE"]) == "2"
    });
    p.call("FLUSHALL");
    let with_save =
        info_field(primary, "persistence", "rdb_changes_since_last_save").unwrap_or_default();
    wait_for("the replica to flush", 10, || {
        cli_at(replica, &["DBSIZE"]) == "0"
    });
    let replica_size = cli_at(replica, &["DBSIZE"]);
    p.call("CONFIG SET save \"\"");
    p.call("SET key value");
    p.call("FLUSHALL");
    let without =
        info_field(primary, "persistence", "rdb_changes_since_last_save").unwrap_or_default();
    (with_save, replica_size, (without != "0").to_string())
}

#[test]
fn flushall_with_save_points_saves_and_still_propagates() {
    let (p, r) = (TestServer::start(&[]), TestServer::start(&[]));
    let ours = flushall_scenario(p.port, r.port);
    let (p, r) = (Reference::start(), Reference::start());
    let theirs = flushall_scenario(p.port, r.port);
    assert_eq!(ours, theirs, "rubra vs redis");
    assert_eq!(theirs.0, "0");
}

/// The errors and the empty tables are byte-identical.
#[test]
fn debug_htstats_replies_as_redis() {
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let redis = Reference::start_with(&["--enable-debug-command", "yes"]);
    let (mut a, mut b) = (RawConn::connect(rubra.port), RawConn::connect(redis.port));
    for line in [
        "DEBUG HTSTATS 9",
        "DEBUG HTSTATS 16",
        "DEBUG HTSTATS -1",
        "DEBUG HTSTATS x",
        "DEBUG HTSTATS",
        "DEBUG HTSTATS 1 2",
    ] {
        let (ours, theirs) = (a.call(line), b.call(line));
        assert_eq!(
            ours.escape_ascii().to_string(),
            theirs.escape_ascii().to_string(),
            "{line}"
        );
    }
}

/// With keys the chain figures depend on each table's hashing; the layout, the table size
/// and the number of elements of both tables are the same.
#[test]
fn debug_htstats_counts_keys_and_ttls() {
    let figures = |port: u16| {
        let mut c = RawConn::connect(port);
        c.call("SELECT 9");
        for i in 0..5000 {
            c.call(&format!("SET k{i} v"));
        }
        for i in 0..3 {
            c.call(&format!("EXPIRE k{i} 100"));
        }
        // Redis's dict grows by incremental rehashing, finished by its cron meanwhile.
        let mut text = String::new();
        wait_for("the rehash to finish", 10, || {
            text = String::from_utf8_lossy(&c.call("DEBUG HTSTATS 9")).into_owned();
            !text.contains("rehashing target")
        });
        text.lines()
            .filter(|l| {
                l.starts_with('[')
                    || l.starts_with("Hash table")
                    || l.contains("table size")
                    || l.contains("number of elements")
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let rubra = TestServer::start(&["--enable-debug-command", "yes"]);
    let redis = Reference::start_with(&["--enable-debug-command", "yes"]);
    let (ours, theirs) = (figures(rubra.port), figures(redis.port));
    assert_eq!(ours, theirs, "rubra vs redis");
    assert!(theirs
        .iter()
        .any(|l| l.contains("number of elements: 5000")));
}

//! Replica behaviours against redis-server 7.0, each scenario run on a pair of rubra nodes
//! and on a pair of redis-server nodes: a wrong masterauth is logged with Redis's words
//! ("Unable to AUTH to MASTER") and a binary one (with a NUL byte) works; a writable
//! replica (replica-read-only no) expires the keys its own clients gave a TTL.

mod common;
mod reference;
use common::replication::{link_up, stat, wait_for};
use common::*;
use reference::{RawConn, Reference};
use std::path::PathBuf;

/// A primary and a replica of one kind, their ports and the replica's log file.
struct Pair {
    primary: u16,
    replica: u16,
    replica_log: PathBuf,
    _keep: Vec<Box<dyn std::any::Any>>,
}

fn rubra_pair() -> Pair {
    let p = TestServer::start(&[]);
    let r = TestServer::start(&["--logfile", "replica.log"]);
    Pair {
        primary: p.port,
        replica: r.port,
        replica_log: r.dir.join("replica.log"),
        _keep: vec![Box::new(p), Box::new(r)],
    }
}

fn redis_pair() -> Pair {
    let p = Reference::start();
    let r = Reference::start_with(&["--logfile", "replica.log"]);
    Pair {
        primary: p.port,
        replica: r.port,
        replica_log: r.dir().join("replica.log"),
        _keep: vec![Box::new(p), Box::new(r)],
    }
}

fn log_has(path: &PathBuf, words: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(words))
}

/// Redis's auth unit: the primary's password has a NUL byte in it.
fn masterauth_scenario(pair: &Pair) -> (bool, String) {
    let mut primary = RawConn::connect(pair.primary);
    let mut replica = RawConn::connect(pair.replica);
    assert_eq!(
        primary.call("CONFIG SET requirepass \"abc\\x00def\""),
        b"+OK\r\n"
    );
    // The wrong password before the link: set after REPLICAOF, it raced the handshake
    // (a handshake that began without one logs Redis's -NOAUTH instead of -WRONGPASS).
    assert_eq!(replica.call("CONFIG SET masterauth abc"), b"+OK\r\n");
    replica.call(&format!("REPLICAOF 127.0.0.1 {}", pair.primary));
    wait_for("the AUTH failure in the log", 10, || {
        log_has(&pair.replica_log, "Unable to AUTH to MASTER")
    });
    let down = !link_up(pair.replica);
    assert_eq!(
        replica.call("CONFIG SET masterauth \"abc\\x00def\""),
        b"+OK\r\n"
    );
    wait_for("the link to come up", 15, || link_up(pair.replica));
    let text = std::fs::read_to_string(&pair.replica_log).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.contains("Unable to AUTH to MASTER"))
        .and_then(|l| l.split("Unable to AUTH to MASTER").nth(1))
        .unwrap_or_default()
        .to_string();
    (down, line)
}

#[test]
fn masterauth_failure_is_logged_and_binary_passwords_work() {
    let ours = masterauth_scenario(&rubra_pair());
    let theirs = masterauth_scenario(&redis_pair());
    assert!(ours.0 && theirs.0, "the link was up with a wrong password");
    assert_eq!(ours.1, theirs.1, "the logged reason: rubra vs redis");
}

/// Redis's expire unit: `SET foo bar PX 1` on a writable replica is expired by the replica.
fn writable_replica_scenario(pair: &Pair) -> Vec<String> {
    let mut replica = RawConn::connect(pair.replica);
    replica.call(&format!("REPLICAOF 127.0.0.1 {}", pair.primary));
    wait_for("the link to come up", 15, || link_up(pair.replica));
    assert_eq!(replica.call("CONFIG SET replica-read-only no"), b"+OK\r\n");
    let mut seen = Vec::new();
    for round in ["a", "b"] {
        let before = stat(pair.replica, "expired_keys");
        replica.call(&format!("SET {round}:short v PX 1"));
        replica.call(&format!("SET {round}:long v EX 1000"));
        replica.call(&format!("SET {round}:kept v PX 300"));
        replica.call(&format!("PERSIST {round}:kept"));
        wait_for("the replica to expire its key", 10, || {
            stat(pair.replica, "expired_keys") > before
        });
        seen.push(format!(
            "{} {} {} {}",
            stat(pair.replica, "expired_keys") - before,
            cli_at(pair.replica, &["DBSIZE"]),
            cli_at(pair.replica, &["EXISTS", &format!("{round}:long")]),
            cli_at(pair.replica, &["EXISTS", &format!("{round}:kept")]),
        ));
    }
    seen
}

#[test]
fn a_writable_replica_expires_the_keys_its_clients_wrote() {
    let ours = writable_replica_scenario(&rubra_pair());
    let theirs = writable_replica_scenario(&redis_pair());
    assert_eq!(ours, theirs, "rubra vs redis");
    assert_eq!(theirs[0], "1 2 1 1");
}

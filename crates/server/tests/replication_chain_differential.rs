//! Chained replication (primary -> replica -> sub-replica) as redis-server 7.0 runs it,
//! found by redis 7.0.15's integration/psync2-master-restart and psync2-pingoff: a replica
//! whose own link is not up serves no sync, and a replica that took in a new dataset by a
//! full sync drops its sub-replicas so they resync with it. Each scenario runs on
//! rubra-servers and on redis-servers and the facts must be equal.

mod common;
use common::replication::{info_field, link_up, stat, wait_for};
use common::*;
use std::time::{Duration, Instant};

/// Polls `f` every 50 ms for up to `secs` seconds; whether it came to hold (for facts that
/// one side may never reach).
fn holds_within(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port nothing listens on (a primary that cannot be reached).
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// The first line a server (`bin`) answers to SYNC and to PSYNC while it is a replica of
/// a primary it cannot reach, and while it is a primary.
fn sync_without_primary_link(bin: &std::path::Path) -> Vec<String> {
    let node = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let first_line = |req: &[u8]| {
        let out = node.raw(req, Duration::from_millis(300));
        let text = String::from_utf8_lossy(&out).into_owned();
        text.lines().next().unwrap_or("").to_string()
    };
    let dead = dead_port().to_string();
    assert_eq!(node.cli(&["REPLICAOF", "127.0.0.1", &dead]), "OK");
    let mut seen = vec![
        first_line(b"PSYNC ? -1\r\n"),
        first_line(b"SYNC\r\n"),
        first_line(b"PSYNC 0000000000000000000000000000000000000000 1\r\n"),
    ];
    assert_eq!(node.cli(&["REPLICAOF", "NO", "ONE"]), "OK");
    // A primary serves it (only the reply's kind: the id is random).
    seen.push(first_line(b"PSYNC ? -1\r\n").chars().take(12).collect());
    seen
}

/// A replica whose link to its primary is not up refuses SYNC and PSYNC with
/// -NOMASTERLINK (Redis's syncCommand), so a sub-replica cannot take a history its
/// primary is about to replace. Rubra served a full sync from whatever it held, and a
/// sub-replica attached that way kept the replica's old id after the replica synced
/// (psync2-master-restart's "offset is 0" case, psync2-pingoff's full sync count).
#[test]
fn a_replica_without_its_primary_serves_no_sync_as_in_redis() {
    let ours = sync_without_primary_link(&rubra_bin());
    let theirs = sync_without_primary_link(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[0],
        "-NOMASTERLINK Can't SYNC while not connected with my master"
    );
}

/// A chain primary -> replica -> sub-replica (`bin`); the primary changes its replication
/// id (DEBUG CHANGE-REPL-ID) and the replica's link is killed, so the replica must do a
/// full sync: what the chain then reports.
fn chain_after_full_sync_facts(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(
        bin,
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "yes",
        ],
    );
    let replica = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let sub = TestServer::start_bin(bin, &[]);
    primary.cli(&["SET", "k", "v"]);
    let (pport, rport) = (primary.port.to_string(), replica.port.to_string());
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the replica link", 10, || link_up(replica.port));
    assert_eq!(sub.cli(&["REPLICAOF", "127.0.0.1", &rport]), "OK");
    let offset = |port: u16| info_field(port, "replication", "master_repl_offset");
    let id = |port: u16| info_field(port, "replication", "master_replid");
    let pnum = primary.port;
    let in_sync = || {
        link_up(replica.port)
            && link_up(sub.port)
            && offset(pnum) == offset(replica.port)
            && offset(replica.port) == offset(sub.port)
    };
    wait_for("the chain to catch up", 10, in_sync);
    let before = stat(replica.port, "sync_full");
    assert_eq!(primary.cli(&["DEBUG", "CHANGE-REPL-ID"]), "OK");
    replica.cli(&["CLIENT", "KILL", "TYPE", "master"]);
    wait_for("the replica's full sync", 10, || {
        link_up(replica.port) && id(replica.port) == id(pnum)
    });
    primary.cli(&["SET", "after", "1"]);
    let sub_follows = holds_within(10, || {
        in_sync() && id(sub.port) == id(pnum) && sub.cli(&["GET", "after"]) == "1"
    });
    vec![
        format!("primary sync_full: {}", stat(pnum, "sync_full")),
        format!(
            "replica sync_full since: {}",
            stat(replica.port, "sync_full") - before
        ),
        format!("sub-replica follows the new id: {sub_follows}"),
        format!("sub dbsize: {}", sub.cli(&["DBSIZE"])),
    ]
}

/// A replica that loaded a full sync drops its own replicas (Redis's
/// replicationAttachToNewMaster), which then find its new id and do a full sync with it.
/// Rubra kept them streaming under the replica's old id, which they never left
/// (psync2-master-restart's "too many key expired" case expected the replica's full sync).
#[test]
fn a_full_sync_makes_sub_replicas_resync_as_in_redis() {
    let ours = chain_after_full_sync_facts(&rubra_bin());
    let theirs = chain_after_full_sync_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(ours[1], "replica sync_full since: 1");
}

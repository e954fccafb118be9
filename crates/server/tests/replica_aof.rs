//! A replica's AOF after a full sync (issue 14, found by the chaos suite): it must hold
//! the dataset the replica received, not the history it had before. Otherwise a replica
//! that is later promoted and restarted (kill -9, back before a failover) reloads the
//! wrong data and hands it to its own replica, losing writes both had acknowledged.

mod common;
use common::cluster::wait_for;
use common::*;
use std::time::Duration;

#[test]
fn a_replica_restarted_after_a_full_sync_reloads_the_synced_data() {
    let durable = ["--appendonly", "yes", "--appendfsync", "always"];
    let primary = TestServer::start(&durable);
    let mut replica = TestServer::start(&durable);
    for i in 0..100 {
        assert_eq!(
            primary.cli(&["set", &format!("p{i}"), "from-primary"]),
            "OK"
        );
    }
    assert_eq!(replica.cli(&["set", "stale", "from-before-the-sync"]), "OK");

    let port = primary.port.to_string();
    assert_eq!(replica.cli(&["replicaof", "127.0.0.1", &port]), "OK");
    assert!(
        wait_for(Duration::from_secs(20), || {
            replica
                .cli(&["info", "replication"])
                .contains("master_link_status:up")
                && replica.cli(&["dbsize"]) == "100"
        }),
        "no full sync: {}",
        replica.cli(&["info", "replication"])
    );
    // One write through the stream after the sync, too.
    assert_eq!(primary.cli(&["set", "after", "streamed"]), "OK");
    assert!(wait_for(Duration::from_secs(10), || replica
        .cli(&["get", "after"])
        == "streamed"));

    // kill -9 and start again (REPLICAOF was given at run time: it comes back alone,
    // from its AOF only).
    assert!(replica.restart(None), "replica did not restart");
    assert_eq!(
        replica.cli(&["dbsize"]),
        "101",
        "{}",
        replica.cli(&["keys", "*"])
    );
    assert_eq!(replica.cli(&["get", "p7"]), "from-primary");
    assert_eq!(replica.cli(&["get", "after"]), "streamed");
    assert_eq!(replica.cli(&["exists", "stale"]), "0");
}

//! How a replica takes in its primary's snapshot with the default `repl-diskless-load
//! disabled`, as redis-server 7.0 does it: the transfer is received in full while the old
//! dataset is still served, then loaded with INFO loading:1, other commands answered
//! -LOADING. The same scenario runs on rubra-servers and on redis-servers.

mod common;
use common::replication::{info_field, link_up, wait_for};
use common::*;

/// What a replica (`bin`) holding `old` answers while its primary's slow snapshot is
/// transferred (rdb-key-save-delay) and then while it loads it slowly (key-load-delay).
fn disk_load_facts(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(
        bin,
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "yes",
        ],
    );
    // 2 ms per key loaded: 1000 keys take about 2 s; redis-server serves clients during
    // a load only every this many bytes loaded.
    let replica = TestServer::start_bin(
        bin,
        &[
            "--key-load-delay",
            "2000",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    assert_eq!(primary.cli(&["DEBUG", "POPULATE", "1000"]), "OK");
    // 1 ms per key sent: the transfer takes about 1 s.
    assert_eq!(
        primary.cli(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]),
        "OK"
    );
    assert_eq!(replica.cli(&["SET", "old", "1"]), "OK");
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    let field = |name: &str| info_field(replica.port, "replication", name);
    let loading = || info_field(replica.port, "persistence", "loading");
    let mut facts = Vec::new();
    wait_for("the transfer to start", 10, || {
        field("master_sync_in_progress").as_deref() == Some("1")
            && loading().as_deref() == Some("0")
    });
    facts.push(format!(
        "during the transfer: GET old -> {}",
        replica.cli(&["GET", "old"])
    ));
    wait_for("the load to start", 10, || {
        loading().as_deref() == Some("1")
    });
    for cmd in [&["GET", "old"][..], &["PING"], &["DBSIZE"]] {
        facts.push(format!(
            "while loading: {} -> {}",
            cmd.join(" "),
            replica.cli(cmd)
        ));
    }
    facts.push(format!(
        "while loading: ROLE -> {}",
        replica.cli(&["ROLE"]).lines().next().unwrap_or("")
    ));
    wait_for("the load to end", 20, || link_up(replica.port));
    facts.push(format!("after: DBSIZE -> {}", replica.cli(&["DBSIZE"])));
    facts.push(format!(
        "after: GET old -> {:?}",
        replica.cli(&["GET", "old"])
    ));
    facts
}

/// With `repl-diskless-load disabled` a Redis replica serves its old data while the
/// snapshot is transferred (loading:0) and answers -LOADING to everything not allowed while
/// loading once it loads it (loading:1). Rubra loaded as the bytes came in, reported
/// loading:1 from the FULLRESYNC on and kept serving the old data throughout.
#[test]
fn a_replica_loading_its_primary_snapshot_answers_loading_as_redis_does() {
    let ours = disk_load_facts(&rubra_bin());
    let theirs = disk_load_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[1],
        "while loading: GET old -> LOADING Redis is loading the dataset in memory"
    );
}

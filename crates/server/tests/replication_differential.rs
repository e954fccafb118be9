//! Replication behaviours found by redis 7.0.15's integration tests, each checked against
//! redis-server 7.0: the same scenario runs on two rubra-servers and on two redis-servers,
//! and the facts each reports (replies, INFO fields relative to the scenario, roles,
//! rewritten config lines) must be equal. Restart from RDB, min-replicas-to-write, the
//! primary link as a client, CONFIG REWRITE of replicaof, FAILOVER's handover, and a
//! replica passing a new replication id on to its own replicas.

mod common;
use common::replication::{info_field, link_up, stat, wait_for};
use common::*;
use std::time::{Duration, Instant};

/// What a primary restarted from its own RDB file reports about its replication history,
/// relative to the history it had before (ids compared, offsets as differences), and what
/// its replica saw: the same facts must hold on rubra-server and on redis-server.
fn restart_from_rdb_facts(bin: &std::path::Path) -> Vec<(String, String)> {
    // No delay before a full sync (redis-server waits 5 s by default, and the short keys
    // would expire before the replica attaches).
    let mut primary = TestServer::start_bin(
        bin,
        &["--save", "3600 1", "--repl-diskless-sync-delay", "0"],
    );
    let replica = TestServer::start_bin(bin, &[]);
    let mut p = primary.conn();
    q(&mut p, &["SET", "kept", "1"]);
    for i in 0..3 {
        q(&mut p, &["SET", &format!("short{i}"), "x", "PX", "2500"]);
    }
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    let offset = |port: u16| info_field(port, "replication", "master_repl_offset");
    wait_for("the replica to catch up", 10, || {
        link_up(replica.port) && offset(primary.port) == offset(replica.port)
    });
    let old_id = info_field(primary.port, "replication", "master_replid").unwrap_or_default();
    let old_offset: i64 = offset(primary.port)
        .and_then(|o| o.parse().ok())
        .unwrap_or(-1);
    // SHUTDOWN saves (a save rule is set); the short keys expire while the primary is down.
    let _ = primary.cli(&["SHUTDOWN"]);
    std::thread::sleep(Duration::from_millis(2800));
    assert!(primary.restart(None), "the primary restarts");
    wait_for("the replica to continue", 20, || {
        link_up(replica.port) && offset(primary.port) == offset(replica.port)
    });
    let field = |port: u16, section: &str, name: &str| {
        info_field(port, section, name).unwrap_or_else(|| format!("no {name}"))
    };
    let relative = |port: u16, name: &str| {
        let v: i64 = field(port, "replication", name).parse().unwrap_or(i64::MIN);
        (v - old_offset).to_string()
    };
    let mut facts = vec![
        ("old offset".into(), old_offset.to_string()),
        (
            "new replid".into(),
            (field(primary.port, "replication", "master_replid") != old_id).to_string(),
        ),
        (
            "replid2 is the old id".into(),
            (field(primary.port, "replication", "master_replid2") == old_id).to_string(),
        ),
        (
            "replica follows the new id".into(),
            (field(replica.port, "replication", "master_replid")
                == field(primary.port, "replication", "master_replid"))
            .to_string(),
        ),
    ];
    for name in [
        "second_repl_offset",
        "master_repl_offset",
        "repl_backlog_first_byte_offset",
    ] {
        facts.push((format!("{name} - old offset"), relative(primary.port, name)));
    }
    for (section, name) in [
        ("replication", "repl_backlog_active"),
        ("replication", "repl_backlog_histlen"),
        ("persistence", "rdb_last_load_keys_expired"),
        ("persistence", "rdb_last_load_keys_loaded"),
        ("stats", "sync_full"),
        ("stats", "sync_partial_ok"),
    ] {
        facts.push((name.into(), field(primary.port, section, name)));
    }
    // (The replica's DBSIZE is not compared: a rubra replica does not apply the primary's
    // DEL of a key its own clock already sees expired; see docs/fuzzing.md.)
    facts
}

/// A primary restarted from its RDB file starts a new replication id with the file's
/// history as the secondary one and a backlog holding the DELs of the keys that expired
/// while it was down, so its replica continues with a partial resync (Redis 7.0's
/// loadDataFromDisk). Found by redis 7.0.15's integration/psync2-master-restart: rubra kept
/// the old id as its own, fed nothing, and reported no expired keys loaded.
#[test]
fn a_primary_restarted_from_its_rdb_continues_its_replicas_as_redis_does() {
    let ours = restart_from_rdb_facts(&rubra_bin());
    let theirs = restart_from_rdb_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// The replies a primary (`bin`) gives under min-replicas-to-write with one replica of the
/// same kind: writes accepted while enough replicas acknowledge within the lag, refused
/// with NOREPLICAS otherwise (plain and in MULTI), reads and no-writes scripts still
/// served; a replica ignores the setting. (Scripts and write subcommands:
/// scripting_differential's scripts_that_may_write_get_noreplicas_as_in_redis.)
fn min_replicas_replies(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let replica = TestServer::start_bin(bin, &[]);
    let mut p = primary.conn();
    let mut seen = Vec::new();
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the replica link", 10, || link_up(replica.port));
    // The primary counts the replica once it has acknowledged (a loaded machine can be
    // slower than the replica's first ACK): WAIT asks for one.
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    let steps: &[&[&str]] = &[
        &["CONFIG", "SET", "min-replicas-to-write", "1"],
        &["CONFIG", "SET", "min-replicas-max-lag", "10"],
        &["SET", "foo", "1"],
        &["CONFIG", "SET", "min-replicas-to-write", "2"],
        &["SET", "foo", "2"],
        &["GET", "foo"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
            "1",
            "foo",
        ],
        &["MULTI"],
        &["SET", "foo", "4"],
        &["GET", "foo"],
        &["EXEC"],
        &["CONFIG", "SET", "min-replicas-max-lag", "0"],
        &["SET", "foo", "5"],
        &["CONFIG", "SET", "min-replicas-max-lag", "10"],
        &["CONFIG", "SET", "min-replicas-to-write", "1"],
        &["SET", "foo", "6"],
    ];
    for args in steps {
        seen.push(format!("{args:?} -> {:?}", q(&mut p, args)));
    }
    // The replica is read below: the last SET must have reached it (redis-server's replica
    // answered nil now and then without this).
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), redis::Value::Int(1));
    let mut r = replica.conn();
    seen.push(format!(
        "{:?}",
        q(&mut r, &["CONFIG", "SET", "min-replicas-to-write", "3"])
    ));
    seen.push(format!("{:?}", q(&mut r, &["GET", "foo"])));
    // A replica that stops acknowledging falls out of the count once its lag passes.
    q(&mut p, &["CONFIG", "SET", "min-replicas-max-lag", "1"]);
    let pid = replica.pid().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_millis(3500));
    seen.push(format!(
        "stopped replica: {:?}",
        q(&mut p, &["SET", "foo", "7"])
    ));
    signal("-CONT");
    seen
}

/// min-replicas-to-write / min-replicas-max-lag were accepted by CONFIG SET but never
/// enforced: writes succeeded with too few replicas. Found by redis 7.0.15's
/// integration/replication-2 and replication-4.
#[test]
fn min_replicas_to_write_refuses_writes_as_redis_does() {
    let ours = min_replicas_replies(&rubra_bin());
    let theirs = min_replicas_replies(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// What a replica (`bin`) shows of its link to the primary as a client, and what killing
/// that client does: the link reconnects and continues partially.
fn primary_client_facts(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let replica = TestServer::start_bin(bin, &[]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the replica link", 10, || link_up(replica.port));
    let listed = replica.cli(&["CLIENT", "LIST", "TYPE", "master"]);
    let field = |line: &str, name: &str| {
        line.split(' ')
            .find_map(|f| f.strip_prefix(name))
            .unwrap_or("")
            .to_string()
    };
    let mut facts = vec![
        format!("listed: {}", listed.lines().count()),
        format!("flags: {}", field(&listed, "flags=")),
        format!(
            "addr: {}",
            field(&listed, "addr=") == format!("127.0.0.1:{pport}")
        ),
        format!(
            "kill by type: {}",
            replica.cli(&["CLIENT", "KILL", "TYPE", "master"])
        ),
    ];
    wait_for("the link to come back", 10, || link_up(replica.port));
    let addr = format!("127.0.0.1:{pport}");
    facts.push(format!(
        "kill by addr: {}",
        replica.cli(&["CLIENT", "KILL", &addr])
    ));
    wait_for("the link to come back", 10, || link_up(replica.port));
    facts.push(format!("sync_full: {}", stat(primary.port, "sync_full")));
    facts.push(format!(
        "sync_partial_ok: {}",
        stat(primary.port, "sync_partial_ok")
    ));
    facts
}

/// A replica lists its link to the primary as a client (flag M) that CLIENT KILL (TYPE
/// master, or its address) drops, after which the link continues with a partial resync.
/// Rubra did not list it, so the kill found no client. Found by redis 7.0.15's
/// integration/replication-psync, which kills the link this way to test partial resyncs.
#[test]
fn the_primary_link_is_a_client_that_client_kill_drops_as_in_redis() {
    let ours = primary_client_facts(&rubra_bin());
    let theirs = primary_client_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// The `replicaof` lines CONFIG REWRITE writes on a server (`bin`, started from a config
/// file) after REPLICAOF host port and after REPLICAOF NO ONE (the primary's port shown
/// as PORT).
fn rewritten_replicaof(bin: &std::path::Path) -> Vec<Vec<String>> {
    let primary = TestServer::start_bin(bin, &[]);
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("rubra-rewrite-{}-{port}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let conf = dir.join("node.conf");
    let text = format!(
        "port {port}\nbind 127.0.0.1\nsave \"\"\ndir {}\n",
        dir.display()
    );
    std::fs::write(&conf, text).expect("write the config file");
    let mut child = std::process::Command::new(bin)
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    wait_for("the server to start", 10, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let lines = || -> Vec<String> {
        let text = std::fs::read_to_string(&conf).unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("replicaof") || l.starts_with("slaveof"))
            .map(|l| l.replace(&primary.port.to_string(), "PORT"))
            .collect()
    };
    let pport = primary.port.to_string();
    let mut seen = Vec::new();
    cli_at(port, &["REPLICAOF", "127.0.0.1", &pport]);
    cli_at(port, &["CONFIG", "REWRITE"]);
    seen.push(lines());
    cli_at(port, &["REPLICAOF", "NO", "ONE"]);
    cli_at(port, &["CONFIG", "REWRITE"]);
    seen.push(lines());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// CONFIG REWRITE on a replica writes `replicaof <primary>` (and drops it once the node is
/// a primary again), so a restart comes back as a replica and continues partially; rubra
/// wrote only what the config file had said at start-up. Found by redis 7.0.15's
/// integration/psync2 ("Partial resync after restart using RDB aux fields").
#[test]
fn config_rewrite_persists_the_primary_replicaof_set() {
    let ours = rewritten_replicaof(&rubra_bin());
    let theirs = rewritten_replicaof(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// A forced FAILOVER to a replica that is not answering (`bin`'s facts): the primary
/// turns replica of the target at once (failover-in-progress), the target takes over
/// when it reads the PSYNC ... FAILOVER, and the handover ends with a partial resync.
fn forced_failover_facts(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let replica = TestServer::start_bin(bin, &[]);
    let pport = primary.port.to_string();
    let rport = replica.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    let offset = |port: u16| info_field(port, "replication", "master_repl_offset");
    wait_for("the replica to catch up", 10, || {
        link_up(replica.port) && offset(primary.port) == offset(replica.port)
    });
    // The replica's link is up once it loaded the snapshot, but its primary counts it
    // online only from its first REPLCONF ACK (after a diskless sync, on rubra-server
    // and redis-server alike); FAILOVER TO a replica not yet online is refused, and a
    // replica stopped before that ACK never sends it. This race was the test's
    // flakiness, on either side.
    wait_for("the primary to count the replica online", 10, || {
        info_field(primary.port, "replication", "slave0")
            .is_some_and(|line| line.contains("state=online"))
    });
    let role = |port: u16| {
        cli_at(port, &["ROLE"])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    };
    let state = |port: u16| info_field(port, "replication", "master_failover_state");
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &replica.pid().to_string()])
            .status()
            .expect("kill");
    };
    signal("-STOP");
    let mut facts = vec![primary.cli(&["SET", "case", "2"])];
    facts.push(primary.cli(&[
        "FAILOVER",
        "TO",
        "127.0.0.1",
        &rport,
        "TIMEOUT",
        "100",
        "FORCE",
    ]));
    assert_eq!(facts[1], "OK", "FAILOVER accepted");
    wait_for("the failover to time out", 10, || {
        state(primary.port).as_deref() == Some("failover-in-progress")
    });
    facts.push(format!(
        "in progress, primary's role: {}",
        role(primary.port)
    ));
    signal("-CONT");
    wait_for("the failover to end", 20, || {
        state(primary.port).as_deref() == Some("no-failover")
    });
    wait_for("the old primary to follow", 20, || link_up(primary.port));
    facts.push(format!("old primary's role: {}", role(primary.port)));
    facts.push(format!("target's role: {}", role(replica.port)));
    facts.push(format!(
        "target sync_full: {}",
        stat(replica.port, "sync_full")
    ));
    facts.push(format!(
        "target sync_partial_ok: {}",
        stat(replica.port, "sync_partial_ok")
    ));
    facts.push(format!(
        "case on the target: {}",
        replica.cli(&["GET", "case"])
    ));
    facts
}

/// Redis's FAILOVER hands over by becoming a replica of the target and sending it
/// PSYNC ... FAILOVER, so a forced failover reports the replica role while in progress and
/// completes when a stopped target comes back. Rubra sent the target REPLICAOF NO ONE and
/// stayed a primary until it answered. Found by redis 7.0.15's integration/failover.
#[test]
fn a_forced_failover_hands_over_with_psync_failover_as_redis_does() {
    let ours = forced_failover_facts(&rubra_bin());
    let theirs = forced_failover_facts(std::path::Path::new("redis-server"));
    // The roles through the handover are compared. How the target then serves the old
    // primary is not: redis-server answers with a partial resync in most runs and with a
    // full one (losing `case` on the target) in some, depending on whether the target,
    // resumed, reads the PSYNC before noticing its old link closed. Rubra's answer is the
    // partial resync every time, and is checked as such.
    assert_eq!(ours[..5], theirs[..5]);
    assert_eq!(
        ours[5..],
        [
            "target sync_full: 0",
            "target sync_partial_ok: 1",
            "case on the target: 2"
        ]
    );
}

/// A chain primary -> replica -> sub-replica (`bin`); the primary restarts from its RDB
/// file (a new replication id): what the replica and the sub-replica then report.
fn chain_learns_new_id_facts(bin: &std::path::Path) -> Vec<String> {
    let mut primary = TestServer::start_bin(
        bin,
        &["--save", "3600 1", "--repl-diskless-sync-delay", "0"],
    );
    let replica = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let sub = TestServer::start_bin(bin, &[]);
    primary.cli(&["SET", "k", "v"]);
    let (pport, rport) = (primary.port.to_string(), replica.port.to_string());
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    assert_eq!(sub.cli(&["REPLICAOF", "127.0.0.1", &rport]), "OK");
    let offset = |port: u16| info_field(port, "replication", "master_repl_offset");
    let pnum = primary.port;
    let in_sync = || {
        link_up(replica.port)
            && link_up(sub.port)
            && offset(pnum) == offset(replica.port)
            && offset(replica.port) == offset(sub.port)
    };
    wait_for("the chain to catch up", 10, in_sync);
    let _ = primary.cli(&["SHUTDOWN"]);
    assert!(primary.restart(None), "the primary restarts");
    let id = |port: u16| info_field(port, "replication", "master_replid");
    wait_for("the new id to reach the sub-replica", 20, || {
        in_sync() && id(sub.port) == id(pnum)
    });
    vec![
        format!(
            "replica sync_partial_ok: {}",
            stat(replica.port, "sync_partial_ok")
        ),
        format!("replica sync_full: {}", stat(replica.port, "sync_full")),
        format!("primary sync_partial_ok: {}", stat(pnum, "sync_partial_ok")),
        format!("sub dbsize: {}", sub.cli(&["DBSIZE"])),
    ]
}

/// When its primary continues under a new replication id (+CONTINUE <new id>), a replica
/// drops its own replicas so they learn the id, continuing partially under the old one
/// (Redis's disconnectSlaves there). Rubra kept them, so they never learned the new id.
/// Found by redis 7.0.15's integration/psync2-master-restart.
#[test]
fn a_new_primary_id_reaches_sub_replicas_as_in_redis() {
    let ours = chain_learns_new_id_facts(&rubra_bin());
    let theirs = chain_learns_new_id_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// The RDB `redis-cli --rdb` / `--functions-rdb` gets from a server (`bin`) holding keys
/// and a function library: how many keys and libraries each file holds.
fn cli_rdb_contents(bin: &std::path::Path) -> Vec<(usize, usize)> {
    let server = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let lib = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    server.cli(&["FUNCTION", "LOAD", lib]);
    for i in 0..20 {
        server.cli(&["SET", &format!("k{i}"), "v"]);
    }
    let port = server.port.to_string();
    let mut seen = Vec::new();
    for flag in ["--rdb", "--functions-rdb"] {
        let file = server.dir.join(format!("cli{flag}.rdb"));
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &port, flag])
            .arg(&file)
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli {flag}: {out:?}");
        let bytes = std::fs::read(&file).expect("the RDB file");
        let info = rubra_persistence::read_rdb(&bytes, |_| {}).expect("a valid RDB");
        seen.push((info.keys, info.functions.len()));
    }
    seen
}

/// `REPLCONF rdb-filter-only functions` (redis-cli --functions-rdb) makes the snapshot
/// hold the function libraries only; rubra accepted the option and sent every key.
/// Found by redis 7.0.15's integration/redis-cli ("Dumping an RDB - functions only").
#[test]
fn rdb_filter_only_functions_leaves_the_keys_out_as_redis_does() {
    let ours = cli_rdb_contents(&rubra_bin());
    let theirs = cli_rdb_contents(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(
        theirs,
        vec![(20, 1), (0, 1)],
        "the scenario shows the filter"
    );
}

/// The replica's stored key count after its primary expired a key (active expiry, a DEL in
/// the stream) and after a DEL of a key the replica's own clock already saw as expired:
/// the replica deletes both, as Redis's replicas treat every key as existing for their
/// primary's commands. Rubra's replica looked the key up as expired, so the DEL found
/// nothing and the key stayed stored for good (DBSIZE and memory grew on replicas of a
/// cache with TTLs).
fn expired_key_deletion_on_replica(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(
        bin,
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--enable-debug-command",
            "yes",
        ],
    );
    let replica = TestServer::start_bin(bin, &[]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the link", 15, || link_up(replica.port));
    let mut facts = Vec::new();
    let stored_on_replica = || replica.cli(&["DBSIZE"]) == "1";
    // 1. Active expiry on the primary: its DEL must delete the replica's copy.
    primary.cli(&["SET", "short", "v", "PX", "1000"]);
    wait_for("the key on the replica", 10, stored_on_replica);
    wait_for("the primary's active expiry", 10, || {
        stat(primary.port, "expired_keys") >= 1
    });
    primary.cli(&["WAIT", "1", "5000"]);
    facts.push(replica.cli(&["DBSIZE"]));
    // 2. Active expiry off: the primary's own DEL of an expired key reaches the replica.
    assert_eq!(primary.cli(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), "OK");
    primary.cli(&["SET", "later", "v", "PX", "1000"]);
    wait_for("the key on the replica", 10, stored_on_replica);
    std::thread::sleep(Duration::from_millis(1200));
    facts.push(replica.cli(&["DBSIZE"]));
    facts.push(replica.cli(&["EXISTS", "later"]));
    facts.push(primary.cli(&["DEL", "later"]));
    primary.cli(&["WAIT", "1", "5000"]);
    facts.push(replica.cli(&["DBSIZE"]));
    facts
}

#[test]
fn a_replica_deletes_expired_keys_its_primary_deletes() {
    let ours = expired_key_deletion_on_replica(&rubra_bin());
    let theirs = expired_key_deletion_on_replica(std::path::Path::new("redis-server"));
    assert_eq!(theirs, ["0", "1", "0", "0", "0"], "redis-server");
    assert_eq!(ours, theirs);
}

/// An idle primary PINGs its replica every repl-ping-replica-period seconds (its offset
/// moves by a PING's 14 bytes each time, and the replica follows), and a replica whose
/// primary goes silent (SIGSTOP) drops the link after repl-timeout, as Redis's
/// replicationCron: rubra's primary sent nothing when idle and its replica waited forever.
fn idle_primary_facts(bin: &std::path::Path) -> Vec<String> {
    let primary = TestServer::start_bin(
        bin,
        &[
            "--repl-diskless-sync-delay",
            "0",
            "--repl-ping-replica-period",
            "1",
        ],
    );
    let replica = TestServer::start_bin(bin, &["--repl-timeout", "3"]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the link", 15, || link_up(replica.port));
    let offset = |port: u16| -> u64 {
        info_field(port, "replication", "master_repl_offset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut facts = Vec::new();
    let before = offset(primary.port);
    std::thread::sleep(Duration::from_millis(3500));
    let grown = offset(primary.port) - before;
    facts.push(format!(
        "idle primary's offset grew in PINGs: {}",
        grown > 0 && grown % 14 == 0
    ));
    wait_for("the replica to follow", 10, || {
        offset(replica.port) == offset(primary.port)
    });
    let stop = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &primary.pid().to_string()])
            .status()
            .expect("kill");
    };
    stop("-STOP");
    let silenced = Instant::now();
    wait_for("the replica to drop the silent primary's link", 15, || {
        !link_up(replica.port)
    });
    stop("-CONT");
    facts.push(format!(
        "link dropped after repl-timeout: {}",
        silenced.elapsed() >= Duration::from_secs(2)
    ));
    wait_for("the link back", 15, || link_up(replica.port));
    facts
}

#[test]
fn an_idle_primary_pings_and_a_silent_one_times_out_as_in_redis() {
    let ours = idle_primary_facts(&rubra_bin());
    let theirs = idle_primary_facts(std::path::Path::new("redis-server"));
    assert!(theirs.iter().all(|f| f.ends_with("true")), "{theirs:?}");
    assert_eq!(ours, theirs);
}

/// 17-diskless-load-swapdb (tests/cluster): with `repl-diskless-load swapdb`, a replica
/// whose primary answers FULLRESYNC under the history it already holds (restarted from
/// its RDB, the backlog too short to continue) loads the snapshot while serving its old
/// dataset (INFO async_loading:1), and keeps that dataset when the sync fails. Before,
/// rubra did keep the old data but never said async_loading:1, and had no
/// rdb-key-save-delay to make the primary's snapshot last. Facts: async_loading seen,
/// the old key read during the load, async_loading once the primary died, the key and
/// DBSIZE after.
fn swapdb_facts(bin: &std::path::Path) -> Vec<String> {
    let mut primary = TestServer::start_bin(
        bin,
        &[
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            "--repl-backlog-size",
            "16384",
            "--rdbcompression",
            "no",
        ],
    );
    let pport = primary.port.to_string();
    let mut replica = TestServer::start_bin(
        bin,
        &[
            "--replicaof",
            "127.0.0.1",
            &pport,
            "--repl-diskless-load",
            "swapdb",
            // Redis serves commands (INFO) every so many loaded bytes.
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    let mut p = primary.conn();
    q(&mut p, &["SET", "old", "1"]);
    wait_for("the replica to get the key", 20, || {
        replica.cli(&["GET", "old"]) == "1"
    });
    assert_eq!(replica.cli(&["SAVE"]), "OK");
    replica.kill9();
    q(&mut p, &["DEL", "old"]);
    // 10 ms per key: the snapshot of 1000 keys takes 10 s to produce.
    q(&mut p, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    let value = "A".repeat(1024);
    for j in 0..1000 {
        q(&mut p, &["SET", &j.to_string(), &value]);
    }
    assert!(replica.restart(None), "the replica restarts");
    let async_loading = |s: &TestServer| info_field(s.port, "persistence", "async_loading");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        seen = async_loading(&replica).as_deref() == Some("1");
        std::thread::sleep(Duration::from_millis(10));
    }
    let during = replica.cli(&["GET", "old"]);
    primary.kill9();
    wait_for("the failed load to end", 20, || {
        async_loading(&replica).as_deref() == Some("0")
    });
    vec![
        seen.to_string(),
        during,
        async_loading(&replica).unwrap_or_default(),
        replica.cli(&["GET", "old"]),
        replica.cli(&["DBSIZE"]),
    ]
}

#[test]
fn swapdb_loads_asynchronously_and_keeps_the_old_data_on_failure() {
    let redis = swapdb_facts(std::path::Path::new("redis-server"));
    assert_eq!(
        redis,
        ["true", "1", "0", "1", "1"],
        "redis-server reference"
    );
    assert_eq!(swapdb_facts(&rubra_bin()), redis);
}

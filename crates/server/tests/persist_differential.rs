//! Background persistence jobs as redis 7.0.15's integration units (integration/rdb,
//! unit/multi) see them, each scenario run on rubra-server and on redis-server and the
//! facts compared: FLUSHALL aborting a running BGSAVE (and saving at once when save rules
//! are set), SHUTDOWN leaving no temporary file of an aborted BGSAVE, and Redis's
//! one-background-job-at-a-time replies (BGSAVE during an AOF rewrite, BGSAVE and
//! BGREWRITEAOF inside a transaction).

mod common;
use common::replication::{info_field, stat, wait_for};
use common::*;
use std::path::Path;

fn persistence(port: u16, field: &str) -> String {
    info_field(port, "persistence", field).unwrap_or_default()
}

/// Stores `n` small keys in one MSET.
fn populate(conn: &mut redis::Connection, n: usize) {
    let mut cmd = redis::cmd("MSET");
    for i in 0..n {
        cmd.arg(format!("key:{i}")).arg(format!("value:{i}"));
    }
    let _: () = cmd.query(conn).expect("MSET");
}

/// The temporary RDB files (`temp-*.rdb`) in `dir`.
fn temp_rdbs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("temp-") && n.ends_with(".rdb"))
                .collect()
        })
        .unwrap_or_default()
}

/// A BGSAVE made slow (1 ms per key, 3000 keys) is running when FLUSHALL comes.
fn start_slow_bgsave(s: &TestServer, conn: &mut redis::Connection) {
    q(conn, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    populate(conn, 3000);
    assert_eq!(
        q(conn, &["BGSAVE"]),
        redis::Value::SimpleString("Background saving started".into())
    );
    assert_eq!(persistence(s.port, "rdb_bgsave_in_progress"), "1");
}

/// FLUSHALL during a BGSAVE (save rules off): what stops, what is left on disk and
/// whether a new BGSAVE is accepted.
fn flushall_abort_facts(bin: &Path) -> Vec<String> {
    let s = TestServer::start_bin(bin, &[]);
    let mut c = s.conn();
    start_slow_bgsave(&s, &mut c);
    let mut facts = vec![format!("{:?}", q(&mut c, &["FLUSHALL"]))];
    // The save would take 3 s: it must stop well before.
    wait_for("the BGSAVE to stop", 2, || {
        persistence(s.port, "rdb_bgsave_in_progress") == "0"
    });
    facts.push(format!("temp files: {:?}", temp_rdbs(&s.dir)));
    facts.push(format!("dump.rdb: {}", s.dir.join("dump.rdb").exists()));
    facts.push(persistence(s.port, "rdb_last_bgsave_status"));
    let unsaved: u64 = persistence(s.port, "rdb_changes_since_last_save")
        .parse()
        .unwrap_or(0);
    facts.push(format!("changes kept: {}", unsaved >= 3000));
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    facts.push(format!("{:?}", q(&mut c, &["BGSAVE"])));
    wait_for("the new BGSAVE to end", 10, || {
        persistence(s.port, "rdb_bgsave_in_progress") == "0"
    });
    facts.push(persistence(s.port, "rdb_last_bgsave_status"));
    facts.push(persistence(s.port, "rdb_changes_since_last_save"));
    facts.push(format!("dump.rdb: {}", s.dir.join("dump.rdb").exists()));
    facts
}

/// integration/rdb "Test FLUSHALL aborts bgsave": Redis's FLUSHALL kills the BGSAVE child
/// (its temporary file removed, the status left "ok", the changes still unsaved); ours
/// let the save run to its end, and the next BGSAVE failed with "already in progress".
#[test]
fn flushall_aborts_a_running_bgsave_as_redis_does() {
    let ours = flushall_abort_facts(&rubra_bin());
    let theirs = flushall_abort_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(theirs[1], "temp files: []", "redis-server");
}

/// FLUSHALL with save rules set: Redis saves the emptied dataset at once (no unsaved
/// changes left, dump.rdb written) and still propagates the FLUSHALL to the AOF; ours
/// counted the flush as unsaved changes and wrote nothing.
fn flushall_with_save_rules_facts(bin: &Path) -> Vec<String> {
    let s = TestServer::start_bin(bin, &["--save", "900 1", "--appendonly", "yes"]);
    let mut c = s.conn();
    let mut facts = vec![];
    // On a fresh server (nothing unsaved yet), then after writes.
    for round in 0..2 {
        if round == 1 {
            populate(&mut c, 10);
        }
        facts.push(format!("{:?}", q(&mut c, &["FLUSHALL"])));
        facts.push(persistence(s.port, "rdb_changes_since_last_save"));
        facts.push(format!("dump.rdb: {}", s.dir.join("dump.rdb").exists()));
    }
    wait_for("the FLUSHALLs in the AOF", 5, || {
        let aof = String::from_utf8_lossy(&aof_incr_bytes(&s.dir)).to_lowercase();
        aof.matches("flushall").count() == 2
    });
    facts
}

#[test]
fn flushall_with_save_rules_saves_at_once_as_redis_does() {
    let ours = flushall_with_save_rules_facts(&rubra_bin());
    let theirs = flushall_with_save_rules_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(theirs[1], "0", "redis-server");
}

/// SHUTDOWN NOSAVE during a BGSAVE: Redis kills the child and removes its temporary
/// file; ours exited with the half-written temp-*.rdb left in `dir`.
fn shutdown_during_bgsave_facts(bin: &Path) -> Vec<String> {
    let mut s = TestServer::start_bin(bin, &[]);
    let mut c = s.conn();
    start_slow_bgsave(&s, &mut c);
    wait_for("the temporary file", 5, || !temp_rdbs(&s.dir).is_empty());
    let _ = s.cli(&["SHUTDOWN", "NOSAVE"]);
    let code = s.wait_exit(std::time::Duration::from_secs(10));
    vec![
        format!("exit: {code:?}"),
        format!("temp files: {:?}", temp_rdbs(&s.dir)),
        format!("dump.rdb: {}", s.dir.join("dump.rdb").exists()),
    ]
}

#[test]
fn shutdown_during_bgsave_leaves_no_temp_file_as_redis_does() {
    let ours = shutdown_during_bgsave_facts(&rubra_bin());
    let theirs = shutdown_during_bgsave_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(theirs[1], "temp files: []", "redis-server");
}

/// BGSAVE while an AOF rewrite runs, and BGSAVE SCHEDULE while a BGSAVE runs: Redis runs
/// one background job at a time. Ours started the BGSAVE next to the rewrite and answered
/// "scheduled" to SCHEDULE during a BGSAVE.
fn one_job_at_a_time_facts(bin: &Path) -> Vec<String> {
    let s = TestServer::start_bin(bin, &["--aof-use-rdb-preamble", "yes"]);
    let mut c = s.conn();
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    populate(&mut c, 2000);
    let forks = stat(s.port, "total_forks");
    let mut facts = vec![format!("{:?}", q(&mut c, &["BGREWRITEAOF"]))];
    facts.push(q_err(&mut c, &["BGSAVE"]));
    facts.push(format!("{:?}", q(&mut c, &["BGSAVE", "SCHEDULE"])));
    facts.push(persistence(s.port, "rdb_bgsave_in_progress"));
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    // The rewrite ends, then the scheduled save starts, then it ends (checked in this
    // order: each INFO is a separate look).
    wait_for("the scheduled save to start", 20, || {
        stat(s.port, "total_forks") == forks + 2
    });
    wait_for("the scheduled save to end", 20, || {
        persistence(s.port, "rdb_bgsave_in_progress") == "0"
            && persistence(s.port, "aof_rewrite_in_progress") == "0"
    });
    facts.push(format!("dump.rdb: {}", s.dir.join("dump.rdb").exists()));
    q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    facts.push(format!("{:?}", q(&mut c, &["BGSAVE"])));
    facts.push(q_err(&mut c, &["BGSAVE", "SCHEDULE"]));
    facts.push(q_err(&mut c, &["BGSAVE"]));
    facts
}

#[test]
fn bgsave_waits_for_the_aof_rewrite_as_redis_does() {
    let ours = one_job_at_a_time_facts(&rubra_bin());
    let theirs = one_job_at_a_time_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// unit/multi "MULTI with BGREWRITEAOF": inside EXEC, Redis forks nothing: BGREWRITEAOF
/// and BGSAVE answer "scheduled" and the cron starts them (INFO total_forks grows); ours
/// started both at once ("started") and INFO total_forks stayed 0.
fn in_transaction_facts(bin: &Path) -> Vec<String> {
    let s = TestServer::start_bin(bin, &[]);
    let mut c = s.conn();
    let mut facts = vec![];
    for cmd in ["BGREWRITEAOF", "BGSAVE"] {
        let forks = stat(s.port, "total_forks");
        q(&mut c, &["MULTI"]);
        q(&mut c, &["SET", "foo", "bar"]);
        q(&mut c, &[cmd]);
        facts.push(format!("{:?}", q(&mut c, &["EXEC"])));
        wait_for("the scheduled job to start", 10, || {
            stat(s.port, "total_forks") > forks
        });
        wait_for("the job to end", 10, || {
            persistence(s.port, "aof_rewrite_in_progress") == "0"
                && persistence(s.port, "rdb_bgsave_in_progress") == "0"
        });
    }
    facts.push(persistence(s.port, "aof_last_bgrewrite_status"));
    facts.push(persistence(s.port, "rdb_last_bgsave_status"));
    facts
}

#[test]
fn bgsave_and_bgrewriteaof_in_multi_are_scheduled_as_redis_does() {
    let ours = in_transaction_facts(&rubra_bin());
    let theirs = in_transaction_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

/// Every temporary file (`temp-*`: RDB saves, AOF rewrites) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("temp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A slow AOF rewrite (10 s per key) stopped by `CONFIG SET appendonly no`, then another
/// stopped by SHUTDOWN: what is left of each.
fn stopped_rewrite_facts(bin: &Path) -> Vec<String> {
    let mut s = TestServer::start_bin(bin, &["--appendonly", "yes"]);
    let mut c = s.conn();
    q(&mut c, &["SET", "k", "v"]);
    let mut facts = vec![];
    for stop in ["appendonly no", "shutdown"] {
        q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "10000000"]);
        facts.push(format!("{:?}", q(&mut c, &["BGREWRITEAOF"])));
        wait_for("the rewrite's temporary file", 5, || {
            !temp_files(&s.dir).is_empty()
        });
        if stop == "shutdown" {
            let _ = s.cli(&["SHUTDOWN", "NOSAVE"]);
            let code = s.wait_exit(std::time::Duration::from_secs(10));
            facts.push(format!("exit: {code:?}"));
            facts.push(format!("temp files: {:?}", temp_files(&s.dir)));
            break;
        }
        q(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
        // The rewrite would take 10 s: it must be gone well before.
        wait_for("the rewrite to stop", 2, || {
            temp_files(&s.dir).is_empty() && persistence(s.port, "aof_rewrite_in_progress") == "0"
        });
        facts.push(persistence(s.port, "aof_last_bgrewrite_status"));
        q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
        q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
        wait_for("the AOF to be on again", 10, || {
            persistence(s.port, "aof_rewrite_in_progress") == "0"
                && persistence(s.port, "aof_rewrite_scheduled") == "0"
        });
    }
    facts
}

/// unit/aofrw "Turning off AOF kills the background writing child if any": Redis kills
/// the rewrite child and removes its temporary file at once, on CONFIG SET appendonly no
/// and on SHUTDOWN; ours left the rewrite thread writing to the end (its file there until
/// then, or for good when the process exited).
#[test]
fn a_stopped_aof_rewrite_leaves_nothing_behind_as_redis_does() {
    let ours = stopped_rewrite_facts(&rubra_bin());
    let theirs = stopped_rewrite_facts(Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert_eq!(theirs.last().map(|s| s.as_str()), Some("temp files: []"));
}

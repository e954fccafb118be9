//! Redis 7.0's shutdown sequence, the same scenario on rubra-server and redis-server: a
//! stop signal only asks the cron for a shutdown (DEBUG PAUSE-CRON holds it, SHUTDOWN ABORT
//! cancels it), and a primary whose replica lags waits for it (shutdown-timeout) before it
//! exits, with SHUTDOWN's client blocked meanwhile. Rubra exited at once on SIGTERM and on
//! SHUTDOWN, and refused ABORT as a syntax error. Found by redis 7.0.15's unit/shutdown and
//! integration/shutdown.

mod common;
use common::replication::{info_field, link_up, wait_for};
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

/// Sends `sig` (e.g. "-TERM") to process `pid`.
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

/// A raw connection that sends one command now and reads its reply later.
fn send(port: u16, command: &str) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(command.as_bytes()).expect("send");
    s
}

/// The reply (one line) waiting on `s`, or "(none)" when nothing comes within `wait`.
fn reply(s: &mut std::net::TcpStream, wait: Duration) -> String {
    s.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => String::from_utf8_lossy(&buf[..n]).trim_end().to_string(),
        _ => "(none)".to_string(),
    }
}

fn signal_and_abort_facts(bin: &std::path::Path) -> Vec<String> {
    let mut server = TestServer::start_bin(bin, &["--enable-debug-command", "yes"]);
    let mut facts = Vec::new();
    for args in [
        &["SHUTDOWN", "ABORT"][..],
        &["SHUTDOWN", "ABORT", "NOSAVE"],
        &["SHUTDOWN", "SAVE", "NOSAVE"],
        &["SHUTDOWN", "DEFAULT"],
    ] {
        facts.push(format!("{args:?}: {}", server.cli(args)));
    }
    // The cron is held: the signal's shutdown waits for it, and ABORT cancels it.
    server.cli(&["DEBUG", "PAUSE-CRON", "1"]);
    signal(server.pid(), "-TERM");
    // Nothing may happen while the cron is held: a fixed wait is the point here.
    std::thread::sleep(Duration::from_millis(300));
    facts.push(format!("alive after SIGTERM: {}", server.cli(&["PING"])));
    facts.push(format!("abort: {}", server.cli(&["SHUTDOWN", "ABORT"])));
    facts.push(format!(
        "abort again: {}",
        server.cli(&["SHUTDOWN", "ABORT"])
    ));
    server.cli(&["DEBUG", "PAUSE-CRON", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    facts.push(format!(
        "alive after the cron ran: {}",
        server.cli(&["PING"])
    ));
    // With the cron running, the next SIGTERM stops the server.
    signal(server.pid(), "-TERM");
    facts.push(format!(
        "exit after SIGTERM: {:?}",
        server.wait_exit(Duration::from_secs(10))
    ));
    facts
}

#[test]
fn a_stop_signal_waits_for_the_cron_and_abort_cancels_it_as_in_redis() {
    let ours = signal_and_abort_facts(&rubra_bin());
    let theirs = signal_and_abort_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
}

fn lagging_replica_facts(bin: &std::path::Path) -> Vec<String> {
    let mut primary = TestServer::start_bin(bin, &["--repl-diskless-sync-delay", "0"]);
    let replica = TestServer::start_bin(bin, &[]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    let offset = |port: u16| info_field(port, "replication", "master_repl_offset");
    wait_for("the replica to sync", 20, || {
        link_up(replica.port) && offset(primary.port) == offset(replica.port)
    });
    let mut facts = Vec::new();
    let in_progress = |port: u16| info_field(port, "server", "shutdown_in_milliseconds").is_some();

    // The replica stops; a write it cannot acknowledge; SHUTDOWN waits, ABORT cancels it.
    signal(replica.pid(), "-STOP");
    primary.cli(&["SET", "k", "1"]);
    let mut waiting = send(primary.port, "SHUTDOWN\r\n");
    wait_for("the shutdown to wait for the replica", 10, || {
        in_progress(primary.port)
    });
    facts.push(format!(
        "SHUTDOWN while waiting: {}",
        reply(&mut waiting, Duration::from_millis(200))
    ));
    facts.push(format!("abort: {}", primary.cli(&["SHUTDOWN", "ABORT"])));
    facts.push(format!(
        "the waiting SHUTDOWN: {}",
        reply(&mut waiting, Duration::from_secs(5))
    ));
    facts.push(format!(
        "in progress after abort: {}",
        in_progress(primary.port)
    ));
    facts.push(format!("primary after abort: {}", primary.cli(&["PING"])));

    // Again, and this time the replica comes back: the primary exits once it caught up.
    primary.cli(&["SET", "k", "2"]);
    let mut waiting = send(primary.port, "SHUTDOWN NOSAVE\r\n");
    wait_for("the shutdown to wait again", 10, || {
        in_progress(primary.port)
    });
    signal(replica.pid(), "-CONT");
    facts.push(format!(
        "primary exit: {:?}",
        primary.wait_exit(Duration::from_secs(10))
    ));
    facts.push(format!(
        "the second SHUTDOWN: {}",
        reply(&mut waiting, Duration::from_secs(1))
    ));
    facts.push(format!("k on the replica: {}", replica.cli(&["GET", "k"])));
    facts
}

#[test]
fn shutdown_waits_for_a_lagging_replica_as_in_redis() {
    let ours = lagging_replica_facts(&rubra_bin());
    let theirs = lagging_replica_facts(std::path::Path::new("redis-server"));
    assert_eq!(ours, theirs);
    assert!(
        theirs.iter().any(|f| f == "k on the replica: 2"),
        "{theirs:?}"
    );
}

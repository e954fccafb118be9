//! Other clients during a busy script (differential): while a script runs past
//! busy-reply-threshold, Redis 7.0 still runs MULTI, DISCARD, WATCH and UNWATCH, refuses
//! the rest with -BUSY (which flags an open transaction, so EXEC answers EXECABORT), and
//! answers FUNCTION STATS with the running function. The scenarios of Redis's
//! unit/multi "... and script timeout" tests and unit/functions "test function kill",
//! compared byte for byte with Debian's redis-server.

mod common;
mod reference;
use reference::{assert_multi_client_same_as_redis, RawConn, Reference};

/// A script that loops until killed.
const LOOP: &str = "1 send EVAL \"while true do end\" 0";

/// The start every scenario shares: the threshold, xx = 1, and the transaction's
/// connection (2) connected before the script starts (a connection arriving during a
/// busy script is not registered yet; see docs/fuzzing.md).
const SETUP: &[&str] = &[
    "0 CONFIG SET busy-reply-threshold 10",
    "0 SET xx 1",
    "2 PING",
];

/// The end every scenario shares: the script killed, the transaction's outcome.
const KILL: &[&str] = &["0 SCRIPT KILL", "sleep 200", "1 read"];

fn scenario(body: &[&str]) {
    let script: Vec<&str> = SETUP.iter().chain(body).copied().collect();
    assert_multi_client_same_as_redis(&[], &script);
}

#[test]
fn multi_during_a_busy_script_then_a_refused_command_aborts_exec() {
    let mut body = vec![LOOP, "sleep 200", "2 MULTI", "2 INCR xx"];
    body.extend_from_slice(KILL);
    body.extend_from_slice(&["2 INCR xx", "2 EXEC", "0 GET xx", "2 PING asdf"]);
    scenario(&body);
}

#[test]
fn exec_during_a_busy_script_is_aborted_with_the_busy_reason() {
    let mut body = vec![
        "2 MULTI",
        "2 INCR xx",
        LOOP,
        "sleep 200",
        "2 INCR xx",
        "2 EXEC",
    ];
    body.extend_from_slice(KILL);
    body.extend_from_slice(&["0 GET xx", "2 PING asdf", "2 EXEC"]);
    scenario(&body);
}

#[test]
fn transaction_body_refused_during_a_busy_script_fails_exec_afterwards() {
    let mut body = vec!["2 MULTI", "2 INCR xx", LOOP, "sleep 200", "2 INCR xx"];
    body.extend_from_slice(KILL);
    body.extend_from_slice(&["2 EXEC", "0 GET xx", "2 PING asdf"]);
    scenario(&body);
}

#[test]
fn just_exec_during_a_busy_script() {
    let mut body = vec!["2 MULTI", "2 INCR xx", LOOP, "sleep 200", "2 EXEC"];
    body.extend_from_slice(KILL);
    body.extend_from_slice(&["0 GET xx", "2 PING asdf", "2 EXEC"]);
    scenario(&body);
}

#[test]
fn transaction_commands_and_errors_during_a_busy_script() {
    let mut body = vec![
        LOOP,
        "sleep 200",
        // Outside MULTI: EXEC and DISCARD errors, refused commands, FUNCTION STATS of an
        // EVAL script.
        "2 EXEC",
        "2 DISCARD",
        "2 GET xx",
        "2 NOSUCHCOMMAND",
        "2 GET",
        "2 CONFIG NOSUCH",
        "2 FUNCTION STATS",
        "2 SHUTDOWN",
        "2 UNWATCH",
        // Inside MULTI: nesting, WATCH refused, allow-busy commands queued, DISCARD.
        "2 MULTI",
        "2 MULTI",
        "2 WATCH xx",
        "2 SCRIPT KILL",
        "2 FUNCTION STATS",
        "2 UNWATCH",
        "2 DISCARD",
        "2 DISCARD",
        // A transaction failed by an unknown command and by a wrong arity.
        "2 MULTI",
        "2 NOSUCHCOMMAND",
        "2 DISCARD",
        "2 MULTI",
        "2 SET xx",
        "2 PING",
    ];
    body.extend_from_slice(KILL);
    body.extend_from_slice(&["2 EXEC", "2 MULTI", "2 INCR xx", "2 EXEC", "0 GET xx"]);
    scenario(&body);
}

/// Loops for `ms` milliseconds of the server's clock (TIME, so both servers wait as long).
fn spin(ms: u64) -> String {
    format!(
        "local s = redis.call('TIME') repeat local n = redis.call('TIME') until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > {}",
        ms * 1000
    )
}

#[test]
fn watch_during_a_busy_script_sees_the_scripts_later_writes() {
    // The script writes xx after the WATCH arrived: EXEC fails. Then the same with a
    // write to another key: EXEC runs.
    for (key, _) in [("xx", "dirty"), ("yy", "clean")] {
        let eval = format!(
            "1 send EVAL \"{} redis.call('SET', KEYS[1], 'changed') {}\" 1 {key}",
            spin(1000),
            spin(200)
        );
        let body = [
            eval.as_str(),
            "sleep 300",
            "2 GET xx",
            "2 WATCH xx",
            "sleep 1300",
            "1 read",
            "2 MULTI",
            "2 GET xx",
            "2 EXEC",
            "0 GET xx",
        ];
        scenario(&body);
    }
}

#[test]
fn watch_unwatch_and_discard_during_a_busy_script_take_effect() {
    let body = [
        // WATCH then UNWATCH while busy: a later write by another client does not fail EXEC.
        LOOP,
        "sleep 200",
        "2 WATCH xx",
        "2 UNWATCH",
        "3 PING",
        "0 SCRIPT KILL",
        "sleep 200",
        "1 read",
        "0 SET xx 5",
        "2 MULTI",
        "2 GET xx",
        "2 EXEC",
        // WATCH while busy, a write by another client after the script: EXEC fails.
        LOOP,
        "sleep 200",
        "2 WATCH xx",
        "0 SCRIPT KILL",
        "sleep 200",
        "1 read",
        "3 SET xx 6",
        "2 MULTI",
        "2 GET xx",
        "2 EXEC",
        // MULTI before, WATCH-less DISCARD while busy drops the queued commands.
        "2 MULTI",
        "2 INCR xx",
        LOOP,
        "sleep 200",
        "2 DISCARD",
        "2 EXEC",
        "0 SCRIPT KILL",
        "sleep 200",
        "1 read",
        "0 GET xx",
    ];
    scenario(&body);
}

/// FUNCTION STATS with the running script's duration zeroed (it differs between runs).
fn stats_without_duration(conn: &mut RawConn) -> String {
    let reply = String::from_utf8_lossy(&conn.call("FUNCTION STATS")).into_owned();
    match reply.split_once("duration_ms\r\n:") {
        Some((head, tail)) => {
            let rest = tail.split_once("\r\n").map_or("", |(_, r)| r);
            format!("{head}duration_ms\r\n:0\r\n{rest}")
        }
        None => reply,
    }
}

#[test]
fn function_stats_during_a_busy_function_names_it() {
    let rubra = common::TestServer::start(&[]);
    let reference = Reference::start();
    let mut seen = Vec::new();
    for port in [rubra.port, reference.port] {
        let mut admin = RawConn::connect(port);
        let mut caller = RawConn::connect(port);
        // RESP3 before the script (HELLO during a busy script is left: docs/fuzzing.md).
        let mut resp3 = RawConn::connect(port);
        resp3.call("HELLO 3");
        admin.call("CONFIG SET busy-reply-threshold 10");
        admin.call(
            "FUNCTION LOAD \"#!lua name=lib\nredis.register_function('test', function() local a = 1 while true do a = a + 1 end end)\nredis.register_function('other', function() return 1 end)\"",
        );
        caller.send("FCALL test 0");
        // STATS could be read before the FCALL on a loaded box: poll until the function
        // runs (the reply then has its duration), as a fixed sleep can end first.
        common::cluster::wait_for(std::time::Duration::from_secs(20), || {
            stats_without_duration(&mut admin).contains("duration_ms")
        });
        let busy = stats_without_duration(&mut admin);
        let resp3 = stats_without_duration(&mut resp3);
        let kill = admin.call("FUNCTION KILL");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let killed = caller.read_reply();
        let idle = stats_without_duration(&mut admin);
        seen.push((busy, resp3, kill, killed, idle));
    }
    assert!(seen[1].0.contains("running_script"), "{:?}", seen[1]);
    assert_eq!(seen[0], seen[1], "rubra first, redis second");
}

/// A connection made during a busy script is not registered until the script ends; a
/// request it sends just as the script ends is answered at once. Rubra read that request
/// while it watched for the end of the script, then waited for more input before running
/// it: the client hung (seen in CI as aof_multipart's loading test running for 80 minutes).
/// Each round makes a new connection during the script and sends right after its end.
#[test]
fn a_connection_made_during_the_script_is_answered_right_after_it() {
    let rounds: Vec<[String; 6]> = (3..8)
        .map(|c| {
            [
                LOOP.to_string(),
                "sleep 200".to_string(),
                format!("{c} PING"),
                "0 SCRIPT KILL".to_string(),
                "1 read".to_string(),
                format!("{c} GET xx"),
            ]
        })
        .collect();
    let body: Vec<&str> = rounds.iter().flatten().map(String::as_str).collect();
    scenario(&body);
}

//! Blocked XREAD/XREADGROUP readers and what wakes them, differential against redis-server
//! 7.0: consumer group destroyed (NOGROUP), stream deleted, overwritten, flushed or expired
//! (-UNBLOCKED for group readers, plain readers keep waiting), XGROUP SETID (no wake-up in
//! 7.0; the next XADD serves from the new position). Each step's replies must be
//! byte-identical; a reader that is never woken fails the test by its read timeout.

mod common;
mod reference;
use common::TestServer;
use reference::{RawConn, Reference};
use std::time::Duration;

/// A scenario line: `A cmd` runs on the writer and reads its reply; `B> cmd` sends on the
/// reader without waiting; `B<` reads the reader's pending reply; `sleep N` waits N ms.
fn run(port: u16, resp3: bool, script: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut a = RawConn::connect(port);
    let mut b = RawConn::connect(port);
    if resp3 {
        a.call("HELLO 3");
        b.call("HELLO 3");
    }
    let mut out = Vec::new();
    for line in script {
        if let Some(ms) = line.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        } else if let Some(cmd) = line.strip_prefix("B> ") {
            b.send(cmd);
        } else if *line == "B<" {
            out.push((line.to_string(), b.read_reply()));
        } else if let Some(cmd) = line.strip_prefix("A ") {
            out.push((cmd.to_string(), a.call(cmd)));
        }
    }
    out
}

fn same_as_redis(script: &[&str]) {
    for resp3 in [false, true] {
        let rubra = TestServer::start(&[]);
        let redis = Reference::start();
        let ours = run(rubra.port, resp3, script);
        let theirs = run(redis.port, resp3, script);
        for ((cmd, x), (_, y)) in ours.iter().zip(&theirs) {
            assert_eq!(
                String::from_utf8_lossy(x),
                String::from_utf8_lossy(y),
                "reply to {cmd} differs (resp3: {resp3})"
            );
        }
    }
}

#[test]
fn group_destroyed_wakes_with_nogroup() {
    same_as_redis(&[
        "A XGROUP CREATE s g $ MKSTREAM",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A XGROUP DESTROY s g",
        "B<",
    ]);
}

#[test]
fn stream_deleted_overwritten_or_flushed_wakes_group_readers() {
    same_as_redis(&[
        "A XGROUP CREATE s g $ MKSTREAM",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A DEL s",
        "B<",
        "A XGROUP CREATE s g $ MKSTREAM",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A SET s x",
        "B<",
        "A DEL s",
        "A XGROUP CREATE s g $ MKSTREAM",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A FLUSHALL",
        "B<",
        "A XGROUP CREATE s g $ MKSTREAM",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A FLUSHDB",
        "B<",
        "A XGROUP CREATE s g $ MKSTREAM",
        "A PEXPIRE s 200",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 700",
        "A EXISTS s",
        "B<",
    ]);
}

#[test]
fn plain_readers_keep_waiting_and_setid_does_not_wake() {
    same_as_redis(&[
        "A XADD s 5-1 a 1",
        "B> XREAD BLOCK 0 STREAMS s $",
        "sleep 100",
        "A DEL s",
        "A XADD s 1-1 a 1",
        "A FLUSHALL",
        "A XADD s 6-1 b 2",
        "B<",
        "A XGROUP CREATE s g $",
        "B> XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
        "sleep 100",
        "A XGROUP SETID s g 0",
        "sleep 100",
        "A XADD s 7-1 c 3",
        "B<",
    ]);
}

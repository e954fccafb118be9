//! Helpers for tests of blocking commands (lists, sorted sets, streams): run a command that
//! may block on its own connection, and wait until the server says it is blocked.

use super::*;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Runs a (possibly blocking) command on a fresh connection in a thread; the handle yields
/// the reply and how long the command took.
pub(crate) fn blocked(s: &TestServer, args: &[&str]) -> JoinHandle<(redis::Value, Duration)> {
    let mut c = s.conn();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    std::thread::spawn(move || {
        let started = Instant::now();
        let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
        let v = q(&mut c, &refs);
        (v, started.elapsed())
    })
}

/// Waits until INFO reports exactly `n` blocked clients, so a test knows a client really
/// blocked (or was served) before it goes on; panics after 10 s.
pub(crate) fn wait_blocked(s: &TestServer, n: usize) {
    let want = format!("blocked_clients:{n}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if s.cli(&["INFO", "clients"])
            .lines()
            .any(|l| l.trim() == want)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never saw {want}");
}

//! Helpers for replication tests: INFO fields of a node, a replica's link state, and
//! waiting for a condition with a deadline.

use super::cli_at;
use std::time::{Duration, Instant};

/// One field of an INFO section of the node on `port`.
pub(crate) fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let info = cli_at(port, &["INFO", section]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Polls `f` every 50 ms until it holds; fails the test after `secs` seconds.
pub(crate) fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the replica on `port` reports its link to the primary up.
pub(crate) fn link_up(port: u16) -> bool {
    info_field(port, "replication", "master_link_status").as_deref() == Some("up")
}

/// A counter of INFO stats (0 when missing).
pub(crate) fn stat(port: u16, field: &str) -> u64 {
    info_field(port, "stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

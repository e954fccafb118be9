//! Atomic slot migration for `rubra reshard` / `rebalance` / `scale`: when the source is a
//! rubra-server, the slots a move plan sends from one primary to another go in one
//! `CLUSTER MIGRATESLOTS SLOTSRANGE ... NODE <to>` (snapshot + change stream + one
//! hand-over; clients see no -ASK), followed with `CLUSTER GETSLOTMIGRATIONS`. A source
//! that does not know the command (redis-server) gets the legacy per-slot protocol.

use crate::migrate::Move;
use crate::resp::{Conn, Value};
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Longest a single export may take before the tool gives up waiting (it keeps running).
const EXPORT_LIMIT: Duration = Duration::from_secs(3600);

/// Slots as contiguous (start, end) ranges.
pub fn ranges(slots: &[u16]) -> Vec<(u16, u16)> {
    let mut sorted = slots.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == s => *end = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// Moves grouped by (from, to), in first-appearance order.
pub fn groups(moves: &[Move]) -> Vec<(String, String, Vec<u16>)> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by: HashMap<(String, String), Vec<u16>> = HashMap::new();
    for m in moves {
        let k = (m.from.clone(), m.to.clone());
        if !by.contains_key(&k) {
            order.push(k.clone());
        }
        by.entry(k).or_default().push(m.slot);
    }
    order
        .into_iter()
        .map(|k| {
            let slots = by.remove(&k).unwrap_or_default();
            (k.0, k.1, slots)
        })
        .collect()
}

/// The last EXPORT record of GETSLOTMIGRATIONS as field -> value.
fn last_export(c: &mut Conn) -> Result<HashMap<String, String>> {
    let Value::Array(all) = c.ok(&["CLUSTER", "GETSLOTMIGRATIONS"])? else {
        bail!("unexpected GETSLOTMIGRATIONS reply");
    };
    for rec in all.into_iter().rev() {
        let Value::Array(f) = rec else { continue };
        let text = |v: &Value| match v {
            Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Simple(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            _ => String::new(),
        };
        let m: HashMap<String, String> = f.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect();
        if m.get("operation").map(String::as_str) == Some("EXPORT") {
            return Ok(m);
        }
    }
    bail!("no export recorded")
}

/// What an export has sent so far, as GETSLOTMIGRATIONS counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Keys sent in the snapshot.
    pub keys: u64,
    /// Payload bytes sent (snapshot and change stream).
    pub bytes: u64,
}

/// Moves `slots` from the node behind `src` to node id `to` with MIGRATESLOTS. Returns
/// Ok(None) if the source does not support it, else what was sent. `on_progress` gets
/// what has been sent so far, every poll.
pub fn migrate_slots(
    src: &mut Conn,
    to: &str,
    slots: &[u16],
    mut on_progress: impl FnMut(Sent),
) -> Result<Option<Sent>> {
    let mut args: Vec<String> = vec!["CLUSTER".into(), "MIGRATESLOTS".into(), "SLOTSRANGE".into()];
    for (a, b) in ranges(slots) {
        args.push(a.to_string());
        args.push(b.to_string());
    }
    args.push("NODE".into());
    args.push(to.into());
    let before = last_export(src).ok().and_then(|m| m.get("name").cloned());
    match src.cmd(&args)? {
        Value::Err(e) if e.to_ascii_lowercase().contains("unknown subcommand") => return Ok(None),
        Value::Err(e) => bail!("MIGRATESLOTS refused: {e}"),
        _ => {}
    }
    let began = Instant::now();
    loop {
        let m = last_export(src)?;
        if m.get("name") != before.as_ref() {
            let num = |f: &str| m.get(f).and_then(|k| k.parse().ok()).unwrap_or(0);
            let sent = Sent {
                keys: num("keys"),
                bytes: num("bytes"),
            };
            on_progress(sent);
            match m.get("state").map(String::as_str) {
                Some("success") => return Ok(Some(sent)),
                Some(s @ ("failed" | "cancelled")) => bail!(
                    "slot migration {s}: {} (the slots stay with the source)",
                    m.get("message").cloned().unwrap_or_default()
                ),
                _ => {}
            }
        }
        if began.elapsed() > EXPORT_LIMIT {
            bail!("slot migration still running after {EXPORT_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_become_ranges_and_moves_group_by_pair() {
        assert_eq!(ranges(&[5, 3, 4, 9, 10, 1]), vec![(1, 1), (3, 5), (9, 10)]);
        let mv = |slot, from: &str, to: &str| Move {
            slot,
            from: from.into(),
            to: to.into(),
        };
        let g = groups(&[mv(1, "a", "b"), mv(2, "c", "b"), mv(3, "a", "b")]);
        assert_eq!(
            g,
            vec![
                ("a".to_string(), "b".to_string(), vec![1, 3]),
                ("c".to_string(), "b".to_string(), vec![2])
            ]
        );
    }
}

//! Slots moved between two primaries while faults hit elsewhere: with the legacy
//! protocol (SETSLOT IMPORTING/MIGRATING, GETKEYSINSLOT, MIGRATE, SETSLOT NODE — what
//! `redis-cli --cluster reshard` sends, so it works on redis-server too) or, between
//! rubra nodes, with CLUSTER MIGRATESLOTS.

use super::client::Addr;
use std::time::{Duration, Instant};

/// How slots are moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Legacy,
    /// CLUSTER MIGRATESLOTS (rubra only).
    Atomic,
}

/// One end of a move: a primary's client address and node id.
#[derive(Clone, Debug)]
pub(crate) struct End {
    pub(crate) addr: Addr,
    pub(crate) id: String,
}

fn conn(a: &str) -> Result<redis::Connection, String> {
    let c = redis::Client::open(format!("redis://{a}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .map_err(|e| format!("connect {a}: {e}"))?;
    let _ = c.set_read_timeout(Some(Duration::from_secs(15)));
    Ok(c)
}

fn run<T: redis::FromRedisValue>(
    c: &mut redis::Connection,
    cmd: &redis::Cmd,
    what: &str,
) -> Result<T, String> {
    cmd.query(c).map_err(|e| format!("{what}: {e}"))
}

fn setslot(c: &mut redis::Connection, slot: u16, how: &str, id: &str) -> Result<(), String> {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SETSLOT").arg(slot).arg(how).arg(id);
    run::<redis::Value>(c, &cmd, &format!("SETSLOT {slot} {how}"))?;
    Ok(())
}

/// Moves `slots` from `from` to `to`; returns how many keys moved (legacy) or were sent
/// (atomic, from the export record).
pub(crate) fn move_slots(
    method: Method,
    from: &End,
    to: &End,
    slots: (u16, u16),
) -> Result<u64, String> {
    match method {
        Method::Legacy => legacy(from, to, slots),
        Method::Atomic => atomic(from, to, slots),
    }
}

fn legacy(from: &End, to: &End, (first, last): (u16, u16)) -> Result<u64, String> {
    let mut src = conn(&from.addr)?;
    let mut dst = conn(&to.addr)?;
    let (host, port) = to
        .addr
        .rsplit_once(':')
        .ok_or_else(|| format!("bad address {}", to.addr))?;
    let mut keys_moved = 0u64;
    for slot in first..=last {
        setslot(&mut dst, slot, "IMPORTING", &from.id)?;
        setslot(&mut src, slot, "MIGRATING", &to.id)?;
        loop {
            let mut get = redis::cmd("CLUSTER");
            get.arg("GETKEYSINSLOT").arg(slot).arg(100);
            let keys: Vec<String> = run(&mut src, &get, "GETKEYSINSLOT")?;
            if keys.is_empty() {
                break;
            }
            let mut m = redis::cmd("MIGRATE");
            m.arg(host)
                .arg(port)
                .arg("")
                .arg(0)
                .arg(10_000)
                .arg("KEYS")
                .arg(&keys);
            run::<redis::Value>(&mut src, &m, "MIGRATE")?;
            keys_moved += keys.len() as u64;
        }
        setslot(&mut dst, slot, "NODE", &to.id)?;
        setslot(&mut src, slot, "NODE", &to.id)?;
    }
    Ok(keys_moved)
}

fn atomic(from: &End, to: &End, (first, last): (u16, u16)) -> Result<u64, String> {
    let mut src = conn(&from.addr)?;
    let mut start = redis::cmd("CLUSTER");
    start
        .arg("MIGRATESLOTS")
        .arg("SLOTSRANGE")
        .arg(first)
        .arg(last)
        .arg("NODE")
        .arg(&to.id);
    run::<redis::Value>(&mut src, &start, "MIGRATESLOTS")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let records: Vec<Vec<String>> = run(
            &mut src,
            redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS"),
            "GETSLOTMIGRATIONS",
        )?;
        let field = |r: &Vec<String>, name: &str| {
            r.chunks(2)
                .find(|p| p.first().map(String::as_str) == Some(name))
                .and_then(|p| p.get(1).cloned())
                .unwrap_or_default()
        };
        let last_export = records
            .iter()
            .rev()
            .find(|r| field(r, "operation") == "EXPORT");
        if let Some(r) = last_export {
            match field(r, "state").as_str() {
                "success" => return Ok(field(r, "keys").parse().unwrap_or(0)),
                s @ ("failed" | "cancelled") => {
                    return Err(format!("MIGRATESLOTS {s}: {}", field(r, "message")))
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "MIGRATESLOTS still running after 60 s: {records:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

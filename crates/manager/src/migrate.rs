//! Slot migration, the way `redis-cli --cluster reshard` does it, plus move planning.
//!
//! BEHAVIOR (per slot, from A to B):
//! 1. B: `CLUSTER SETSLOT s IMPORTING A` — B accepts ASKING queries for s.
//! 2. A: `CLUSTER SETSLOT s MIGRATING B` — A answers ASK for keys it no longer has.
//! 3. A: `GETKEYSINSLOT s 100` + `MIGRATE B "" 0 t REPLACE AUTH2 default P KEYS ...` until
//!    A has no keys left in s. REPLACE because a rerun after a crash may find a copy
//!    already on B (the copy is identical: A still owned the slot).
//! 4. `SETSLOT s NODE B` on B first (so B owns s before A stops answering for it), then
//!    A, then every other primary so they stop sending MOVED to A.
//!
//! Every step is safe to repeat, which is what makes a rerun (or `rubra fix`) able to
//! finish a slot left MIGRATING/IMPORTING by a crash.

use crate::ctx::Ctx;
use crate::resp::{Conn, Value};
use crate::topology::{NodeInfo, View, SLOTS};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Keys per GETKEYSINSLOT/MIGRATE batch.
const BATCH: usize = 100;
/// MIGRATE timeout in milliseconds.
const MIGRATE_TIMEOUT_MS: &str = "60000";

/// One planned slot move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// Hash slot.
    pub slot: u16,
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
}

/// Where a move batch stands, for a progress display (CLI line, panel operation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// Slots finished.
    pub done: usize,
    /// Slots in the batch.
    pub total: usize,
    /// Keys sent so far, including those of a migration still running.
    pub keys: u64,
    /// Payload bytes sent so far; only atomic migration measures them (legacy MIGRATE: 0).
    pub bytes: u64,
}

/// Progress reporting: a rewriting line on a terminal, periodic log lines otherwise.
pub struct Progress {
    total: usize,
    done: usize,
    keys: u64,
    bytes: u64,
    /// Keys and bytes sent by the atomic migration still running (not in `keys`/`bytes`).
    flight: (u64, u64),
    start: Instant,
    last: Instant,
    tty: bool,
    quiet: bool,
}

impl Progress {
    /// Progress over `total` slot moves; `quiet` silences it (supervisor internal moves
    /// still log a summary).
    pub fn new(total: usize, quiet: bool) -> Progress {
        Progress {
            total,
            done: 0,
            keys: 0,
            bytes: 0,
            flight: (0, 0),
            start: Instant::now(),
            last: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// The batch's state now.
    pub fn status(&self) -> Status {
        Status {
            done: self.done,
            total: self.total,
            keys: self.keys + self.flight.0,
            bytes: self.bytes + self.flight.1,
        }
    }

    fn show(&mut self) {
        if self.quiet {
            return;
        }
        let st = self.status();
        let el = self.start.elapsed().as_secs_f64().max(0.001);
        let rate = st.done as f64 / el;
        let eta = (st.total - st.done) as f64 / rate.max(0.001);
        let eta = if st.done == 0 {
            "?".to_string()
        } else {
            format!("{eta:.0}s")
        };
        let line = format!(
            "moved {}/{} slots, {} keys, {} bytes ({:.0} KB/s), {:.0} slots/s, ETA {eta}",
            st.done,
            st.total,
            st.keys,
            st.bytes,
            st.bytes as f64 / 1024.0 / el,
            rate
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line}   ");
            if st.done == st.total {
                let _ = writeln!(err);
            }
        } else if self.last.elapsed() >= Duration::from_secs(2) || st.done == st.total {
            self.last = Instant::now();
            let _ = writeln!(err, "rubra: {line}");
        }
    }

    fn tick(&mut self, keys: u64) {
        self.done += 1;
        self.keys += keys;
        self.show();
    }

    /// An atomic migration of a group reports keys and bytes sent so far.
    fn in_flight(&mut self, keys: u64, bytes: u64) {
        self.flight = (keys, bytes);
        self.show();
    }

    /// A whole group of slots finished at once (atomic migration).
    fn tick_many(&mut self, slots: usize, keys: u64, bytes: u64) {
        self.flight = (0, 0);
        self.done += slots;
        self.keys += keys;
        self.bytes += bytes;
        self.show();
    }

    /// Slots and keys moved so far.
    pub fn totals(&self) -> (usize, u64) {
        (self.done, self.keys)
    }
}

/// Reusable connections by node id, so a thousand-slot move opens a handful of sockets.
pub struct Pool<'a> {
    ctx: &'a Ctx,
    conns: HashMap<String, Conn>,
}

impl<'a> Pool<'a> {
    /// Empty pool.
    pub fn new(ctx: &'a Ctx) -> Pool<'a> {
        Pool {
            ctx,
            conns: HashMap::new(),
        }
    }
    /// Connection to `n`, opened on first use.
    pub fn get(&mut self, n: &NodeInfo) -> Result<&mut Conn> {
        if !self.conns.contains_key(&n.id) {
            let c = self.ctx.connect_node(n)?;
            self.conns.insert(n.id.clone(), c);
        }
        match self.conns.get_mut(&n.id) {
            Some(c) => Ok(c),
            None => bail!("connection to {} vanished", n.id),
        }
    }
}

/// Move every key of `slot` from `from` to `to` (steps 3 of BEHAVIOR); returns keys moved.
pub fn migrate_keys(
    ctx: &Ctx,
    pool: &mut Pool,
    slot: u16,
    from: &NodeInfo,
    to: &NodeInfo,
) -> Result<u64> {
    let dst = ctx.addr_of(to);
    let (host, port) = dst.rsplit_once(':').unwrap_or(("127.0.0.1", "0"));
    let (host, port) = (host.to_string(), port.to_string());
    let slot_s = slot.to_string();
    let mut moved = 0u64;
    loop {
        let src = pool.get(from)?;
        let keys = match src.ok(&["CLUSTER", "GETKEYSINSLOT", &slot_s, &BATCH.to_string()])? {
            Value::Array(v) => v,
            other => bail!("GETKEYSINSLOT: unexpected reply {other:?}"),
        };
        if keys.is_empty() {
            return Ok(moved);
        }
        let mut args: Vec<Vec<u8>> = [
            "MIGRATE",
            &host,
            &port,
            "",
            "0",
            MIGRATE_TIMEOUT_MS,
            "REPLACE",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        if let Some(pw) = &ctx.password {
            args.push(b"AUTH2".to_vec());
            args.push(b"default".to_vec());
            args.push(pw.as_bytes().to_vec());
        }
        args.push(b"KEYS".to_vec());
        let n = keys.len() as u64;
        for k in keys {
            match k {
                Value::Bulk(b) => args.push(b),
                other => bail!("GETKEYSINSLOT: unexpected key {other:?}"),
            }
        }
        let mut tries = 0;
        loop {
            match src.cmd(&args)? {
                // The target may not have converged yet (fresh node): retry briefly.
                Value::Err(e)
                    if tries < 40 && (e.contains("CLUSTERDOWN") || e.contains("TRYAGAIN")) =>
                {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(250));
                }
                Value::Err(e) => bail!("MIGRATE slot {slot} {} -> {}: {e}", from.id, to.id),
                _ => {
                    moved += n;
                    break;
                }
            }
        }
    }
}

/// Move one slot from `from` to `to` following BEHAVIOR; returns keys moved.
pub fn move_slot(
    ctx: &Ctx,
    pool: &mut Pool,
    view: &View,
    slot: u16,
    from: &NodeInfo,
    to: &NodeInfo,
) -> Result<u64> {
    let s = slot.to_string();
    // 1. importing on the target. "already the owner" means a previous run got further.
    match pool
        .get(to)?
        .cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &from.id])?
    {
        Value::Err(e) if e.contains("already the owner") => {}
        Value::Err(e) => bail!("SETSLOT {slot} IMPORTING on {}: {e}", to.id),
        _ => {}
    }
    // 2. migrating on the source.
    match pool
        .get(from)?
        .cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &to.id])?
    {
        Value::Err(e) if e.contains("not the owner") => {}
        Value::Err(e) => bail!("SETSLOT {slot} MIGRATING on {}: {e}", from.id),
        _ => {}
    }
    // 3. keys.
    let keys = migrate_keys(ctx, pool, slot, from, to)?;
    // 4. ownership: target, source, then everybody else.
    pool.get(to)?
        .ok(&["CLUSTER", "SETSLOT", &s, "NODE", &to.id])?;
    match pool
        .get(from)?
        .cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &to.id])?
    {
        // Redis 7: a primary that just lost its last slot (gossip from the target can
        // beat us here) turns into a replica of the new owner; nothing left to do on it.
        Value::Err(e) if e.contains("only with masters") => {}
        Value::Err(e) => bail!("SETSLOT {slot} NODE on {}: {e}", from.id),
        _ => {}
    }
    for n in view.primaries() {
        if n.id != to.id && n.id != from.id && !n.is_failing() {
            // Best effort: gossip corrects a node we could not reach.
            if let Ok(c) = pool.get(n) {
                let _ = c.cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &to.id]);
            }
        }
    }
    Ok(keys)
}

/// Execute planned moves with progress; returns (slots, keys) moved.
pub fn execute(ctx: &Ctx, view: &View, moves: &[Move], quiet: bool) -> Result<(usize, u64)> {
    execute_with(ctx, view, moves, quiet, &mut |_| {})
}

/// `execute`, also handing every progress step to `report` (the supervisor feeds its
/// running operation with it).
pub fn execute_with(
    ctx: &Ctx,
    view: &View,
    moves: &[Move],
    quiet: bool,
    report: &mut dyn FnMut(Status),
) -> Result<(usize, u64)> {
    let mut pool = Pool::new(ctx);
    let mut prog = Progress::new(moves.len(), quiet);
    report(prog.status());
    // Each (from, to) group goes as one atomic migration when the source supports it.
    for (from_id, to_id, slots) in crate::atomic::groups(moves) {
        let (Some(from), Some(to)) = (view.get(&from_id), view.get(&to_id)) else {
            bail!("move of slots {slots:?}: unknown node");
        };
        let src = pool.get(from)?;
        let sent = crate::atomic::migrate_slots(src, &to.id, &slots, |s| {
            prog.in_flight(s.keys, s.bytes);
            report(prog.status());
        })?;
        if let Some(s) = sent {
            prog.tick_many(slots.len(), s.keys, s.bytes);
            report(prog.status());
            continue;
        }
        for slot in slots {
            let k = move_slot(ctx, &mut pool, view, slot, from, to)?;
            prog.tick(k);
            report(prog.status());
        }
    }
    Ok(prog.totals())
}

/// Plan `n` slot moves from `from` to `to` (lowest slots first, as redis-cli does).
pub fn plan_reshard(view: &View, from: &NodeInfo, to: &NodeInfo, n: usize) -> Result<Vec<Move>> {
    if from.id == to.id {
        bail!("source and target are the same node");
    }
    if !to.is_primary() {
        bail!("target {} is not a primary", to.id);
    }
    let slots = view
        .get(&from.id)
        .map(|n| n.slot_list())
        .unwrap_or_default();
    if slots.len() < n {
        bail!(
            "{} owns only {} slots, cannot move {n}",
            from.id,
            slots.len()
        );
    }
    Ok(slots
        .into_iter()
        .take(n)
        .map(|slot| Move {
            slot,
            from: from.id.clone(),
            to: to.id.clone(),
        })
        .collect())
}

/// Plan moves so that each node in `members` ends with an equal share of the 16384 slots
/// and every other primary holding slots is drained to zero.
///
/// `threshold_pct`: if no member is off its share by more than this percentage and no
/// node must be drained, nothing moves (like redis-cli's `--cluster-threshold`).
pub fn plan_rebalance(view: &View, members: &[String], threshold_pct: f64) -> Result<Vec<Move>> {
    if members.is_empty() {
        bail!("no primaries to balance over");
    }
    let mut current: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for n in view.primaries() {
        current.insert(n.id.clone(), n.slot_list());
    }
    for m in members {
        if !current.contains_key(m) {
            bail!("{m} is not a known primary");
        }
    }
    let assigned: usize = current.values().map(Vec::len).sum();
    let total = if assigned == 0 { SLOTS } else { assigned };
    let base = total / members.len();
    let extra = total % members.len();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        expected.insert(m.clone(), base + usize::from(i < extra));
    }
    let drain = current
        .iter()
        .any(|(id, s)| !expected.contains_key(id) && !s.is_empty());
    let over_threshold = members.iter().any(|m| {
        let cur = current.get(m).map(Vec::len).unwrap_or(0) as f64;
        let exp = expected.get(m).copied().unwrap_or(0) as f64;
        exp > 0.0 && ((cur - exp).abs() / exp * 100.0) > threshold_pct
    });
    if !drain && !over_threshold {
        return Ok(Vec::new());
    }
    // Surplus slots, taken from the end of each source's list.
    let mut pool: Vec<(u16, String)> = Vec::new();
    for (id, slots) in &current {
        let exp = expected.get(id).copied().unwrap_or(0);
        if slots.len() > exp {
            for &s in &slots[exp..] {
                pool.push((s, id.clone()));
            }
        }
    }
    let mut moves = Vec::new();
    let mut it = pool.into_iter();
    for m in members {
        let cur = current.get(m).map(Vec::len).unwrap_or(0);
        let exp = expected.get(m).copied().unwrap_or(0);
        for _ in cur..exp {
            match it.next() {
                Some((slot, from)) => moves.push(Move {
                    slot,
                    from,
                    to: m.clone(),
                }),
                None => break,
            }
        }
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(lines: &[&str]) -> View {
        View::parse(&lines.join("\n")).unwrap()
    }

    #[test]
    fn rebalance_to_new_empty_primary() {
        let v = view(&[
            "a 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-8191",
            "b 127.0.0.1:3@4 master - 0 0 2 connected 8192-16383",
            "c 127.0.0.1:5@6 master - 0 0 3 connected",
        ]);
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let moves = plan_rebalance(&v, &ids, 2.0).unwrap();
        assert_eq!(moves.len(), 16384 / 3);
        assert!(moves.iter().all(|m| m.to == "c"));
        let from_a = moves.iter().filter(|m| m.from == "a").count();
        assert_eq!(from_a, 8192 - 5462);
    }

    #[test]
    fn drain_moves_everything_off() {
        let v = view(&[
            "a 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-8191",
            "b 127.0.0.1:3@4 master - 0 0 2 connected 8192-12000",
            "c 127.0.0.1:5@6 master - 0 0 3 connected 12001-16383",
        ]);
        let ids: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let moves = plan_rebalance(&v, &ids, 2.0).unwrap();
        assert_eq!(moves.iter().filter(|m| m.from == "c").count(), 4383);
        assert!(moves.iter().all(|m| m.to != "c"));
    }

    #[test]
    fn balanced_within_threshold_moves_nothing() {
        let v = view(&[
            "a 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-8200",
            "b 127.0.0.1:3@4 master - 0 0 2 connected 8201-16383",
        ]);
        let ids: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        assert!(plan_rebalance(&v, &ids, 2.0).unwrap().is_empty());
    }
}

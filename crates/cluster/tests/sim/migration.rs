//! Atomic slot migration (CLUSTER MIGRATESLOTS) in the simulator, with failures injected
//! at every step.
//!
//! The cluster core owns two steps of a migration: the target's claim
//! (`Node::claim_imported_slots`, a config epoch bumped without consensus) and the
//! source's hand-over (`Node::hand_over_slots`). Moving the keys is the server's job
//! (crates/server/src/cluster/migration.rs and migration_send.rs); this module restates
//! that side step for step against a per-node key set, so the real core (gossip, failure
//! detection, elections, epochs) runs under the protocol the server speaks:
//!
//! - source: snapshot of the moving slots + a tap of later writes to them, sent over one
//!   FIFO link; rounds of the tap until one is small; then writes to the slots are held,
//!   the last round goes, `WAIT` for the target's replicas, FINISH; on the target's OK the
//!   source hands the slots over and deletes its copy; a FINISH without an answer is
//!   settled by watching the slot table for two node timeouts;
//! - target: START refuses slots it owns and drops leftovers; commands are refused
//!   (READONLY) once it is a replica; FINISH claims only what the source still owns; a
//!   link closed before FINISH drops the import's keys; a promoted replica or a restarted
//!   node drops keys of slots owned elsewhere.
//!
//! A client writes members to keys of the moving slots (and one slot that stays) through
//! the real redirect decision, and counts a write acknowledged once `WAIT 1` would have
//! said a replica has it. The link is closed at once when either end dies or is cut off
//! (the server notices a partition only at its 10 s I/O timeout; the source side of that
//! is the same outcome, later).

use super::*;
use std::collections::{BTreeSet, VecDeque};

/// A node's keys: key -> the members written to it (like a set written with SADD).
pub(super) type Keys = BTreeMap<u32, BTreeSet<u64>>;

/// The slots the keys live in: the first three move, the last stays with the source.
const KEY_SLOTS: [u16; 4] = [100, 101, 102, 3000];
const MOVING: [u16; 3] = [100, 101, 102];
const NKEYS: u32 = 24;
/// The client's `WAIT 1 <ms>` and the source's `WAIT <replicas> <ms>` before FINISH.
const WAIT_MS: u64 = 1000;
/// A tap round this small ends streaming (the server's SMALL_ROUND, in commands).
const SMALL_ROUND: usize = 2;
/// Streaming gives up converging after this many rounds (the server's STREAM_LIMIT).
const MAX_ROUNDS: u32 = 6;

/// The slot of key `k`.
pub(super) fn key_slot(k: u32) -> u16 {
    KEY_SLOTS[k as usize % KEY_SLOTS.len()]
}

impl Sim {
    /// A change a node made to its own keys. Only a primary may: a replica's keys follow
    /// its primary's stream, and one that changes them itself diverges for good.
    fn local_change(&mut self, i: usize, what: &str) {
        if !self.nodes[i].is_primary() {
            self.violations.push(format!(
                "t={} replica {i} changed its keys itself: {what}",
                self.now
            ));
        }
        self.data_ver[i] += 1;
        // Every change is in the replication stream: the offset a manual failover waits
        // for covers it.
        self.offset[i] += 1;
        let off = self.offset[i];
        self.nodes[i].set_repl_offset(off);
    }

    /// driver::delete_slots: our keys in `slots` go (SlotsLost, START's leftovers).
    pub(super) fn delete_slots(&mut self, i: usize, slots: &[u16]) {
        let before = self.keys[i].len();
        self.keys[i].retain(|k, _| !slots.contains(&key_slot(*k)));
        if self.keys[i].len() != before {
            self.local_change(i, "deleted the keys of slots");
        }
    }

    /// driver::drop_foreign_keys, at promotion and restart: keys of slots another node
    /// owns (half an import whose FINISH never came) go.
    pub(super) fn drop_foreign_keys(&mut self, i: usize) {
        if !self.nodes[i].is_primary() {
            return;
        }
        let st = self.nodes[i].state();
        let foreign: Vec<u16> = KEY_SLOTS
            .iter()
            .copied()
            .filter(|&s| matches!(st.slots[s as usize], Some(o) if o != st.myself))
            .filter(|s| !st.importing.contains_key(s))
            .collect();
        self.delete_slots(i, &foreign);
    }

    /// Keys of `slots` that `i` holds although another node owns them (migration.rs
    /// drop_import_keys).
    fn drop_import_keys(&mut self, i: usize, slots: &[u16]) {
        let st = self.nodes[i].state();
        let foreign: Vec<u16> = slots
            .iter()
            .copied()
            .filter(|&s| st.slots[s as usize] != Some(st.myself))
            .collect();
        self.delete_slots(i, &foreign);
    }

    fn owns_all(&self, i: usize, slots: &[u16]) -> bool {
        let st = self.nodes[i].state();
        self.nodes[i].is_primary()
            && slots
                .iter()
                .all(|&s| st.slots[s as usize] == Some(st.myself))
    }

    /// Replicas of `p` that copy it now.
    fn replicas_of(&self, p: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&r| self.replicates[r] == Some(p))
            .collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// RESTORE ... REPLACE of a snapshot key.
    Restore(u32, BTreeSet<u64>),
    /// A write the tap saw.
    Add(u32, u64),
}

#[derive(Debug)]
enum ToTarget {
    Start(NodeId),
    Ops(Vec<Op>),
    Wait(usize),
    Finish,
}

#[derive(Debug)]
enum ToSource {
    Applied(u64),
    Error(String),
    Waited(usize),
    Finished(Result<(), String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    Snapshot,
    Streaming,
    Paused,
    Waiting,
    FinishSent,
    Settling,
}

/// The source's export (migration.rs `Export` + the sender task's position).
struct Export {
    phase: Phase,
    tap: Vec<Op>,
    sent: u64,
    applied: u64,
    rounds: u32,
    last_round: usize,
    paused: bool,
    want_replicas: usize,
    settle_deadline: u64,
}

/// The target's import and its pending `WAIT`.
struct Import {
    source: NodeId,
    wait: Option<(u64, u64, usize)>,
}

/// What goes wrong during the move, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fault {
    None,
    Cancel,
    KillSource,
    KillTarget,
    CutLink,
    PartitionSource,
    PartitionTarget,
    FailoverSource,
    FailoverTarget,
}

const FAULTS: [Fault; 9] = [
    Fault::None,
    Fault::Cancel,
    Fault::KillSource,
    Fault::KillTarget,
    Fault::CutLink,
    Fault::PartitionSource,
    Fault::PartitionTarget,
    Fault::FailoverSource,
    Fault::FailoverTarget,
];

/// One migration between two primaries of a simulated cluster, plus the writing client.
pub(super) struct Move {
    src: usize,
    tgt: usize,
    target: NodeId,
    source: NodeId,
    /// The two shards at the start (primary first).
    src_shard: Vec<usize>,
    tgt_shard: Vec<usize>,
    export: Option<Export>,
    import: Option<Import>,
    to_t: VecDeque<(u64, ToTarget)>,
    to_s: VecDeque<(u64, ToSource)>,
    link_open: bool,
    /// Send WAIT to the target's replicas before FINISH (the server does).
    pub wait_for_target_replicas: bool,
    /// How the export ended: Ok (target owns), Err(why).
    pub result: Option<Result<(), String>>,
    killed: Vec<usize>,
    next_member: u64,
    /// (node, key, member, written at) of writes waiting for their WAIT.
    pending: Vec<(usize, u32, u64, u64)>,
    pub acked: Vec<(u32, u64)>,
    pub log: Vec<String>,
}

impl Move {
    pub(super) fn new(sim: &Sim, src: usize, tgt: usize) -> Move {
        let shard = |p: usize| {
            let mut v = vec![p];
            v.extend(sim.replicas_of(p));
            v
        };
        Move {
            src,
            tgt,
            target: sim.nodes[tgt].id(),
            source: sim.nodes[src].id(),
            src_shard: shard(src),
            tgt_shard: shard(tgt),
            export: None,
            import: None,
            to_t: VecDeque::new(),
            to_s: VecDeque::new(),
            link_open: false,
            wait_for_target_replicas: true,
            result: None,
            killed: Vec::new(),
            next_member: 1,
            pending: Vec::new(),
            acked: Vec::new(),
            log: Vec::new(),
        }
    }

    fn note(&mut self, sim: &Sim, what: String) {
        self.log.push(format!("t={} {what}", sim.now));
    }

    fn delay(sim: &mut Sim) -> u64 {
        let d = sim.rng.gen_range(1..=sim.max_delay);
        sim.now + d
    }

    fn send_t(&mut self, sim: &mut Sim, m: ToTarget) {
        let at = Self::delay(sim).max(self.to_t.back().map_or(0, |b| b.0));
        self.to_t.push_back((at, m));
    }

    fn send_s(&mut self, sim: &mut Sim, m: ToSource) {
        let at = Self::delay(sim).max(self.to_s.back().map_or(0, |b| b.0));
        self.to_s.push_back((at, m));
    }

    /// CLUSTER MIGRATESLOTS on the source: snapshot + tap in one step, START and the
    /// snapshot down the link.
    pub(super) fn start(&mut self, sim: &mut Sim) -> Result<(), String> {
        if !sim.owns_all(self.src, &MOVING) {
            return Err("the source does not own the slots".into());
        }
        let snapshot: Vec<Op> = sim.keys[self.src]
            .iter()
            .filter(|(k, _)| MOVING.contains(&key_slot(**k)))
            .map(|(k, v)| Op::Restore(*k, v.clone()))
            .collect();
        self.link_open = true;
        self.export = Some(Export {
            phase: Phase::Snapshot,
            tap: Vec::new(),
            sent: 1 + snapshot.len() as u64,
            applied: 0,
            rounds: 0,
            last_round: usize::MAX,
            paused: false,
            want_replicas: 0,
            settle_deadline: 0,
        });
        let source = self.source;
        self.send_t(sim, ToTarget::Start(source));
        // The snapshot in two chunks, as the sender writes it in pieces.
        let half = snapshot.len() / 2;
        let (a, b) = snapshot.split_at(half);
        self.send_t(sim, ToTarget::Ops(a.to_vec()));
        self.send_t(sim, ToTarget::Ops(b.to_vec()));
        self.note(sim, "export started".into());
        Ok(())
    }

    pub(super) fn phase(&self) -> Option<Phase> {
        self.export.as_ref().map(|e| e.phase)
    }

    /// Ends the export as `end_export` does.
    fn end_export(&mut self, sim: &mut Sim, r: Result<(), String>) {
        let Some(_) = self.export.take() else {
            return;
        };
        self.note(sim, format!("export ended: {r:?}"));
        if r.is_ok() {
            let outs = sim.nodes[self.src].hand_over_slots(&MOVING, self.target);
            sim.handle(self.src, outs);
            // purge_some: our copy goes, unless a slot came back to us.
            let st = sim.nodes[self.src].state();
            let gone: Vec<u16> = MOVING
                .iter()
                .copied()
                .filter(|&s| st.slots[s as usize] != Some(st.myself))
                .collect();
            sim.delete_slots(self.src, &gone);
        }
        self.result = Some(r);
        self.close_link(sim, false);
    }

    /// The link ends. Bytes the source already wrote still arrive unless the network or
    /// the target is gone (`drop_to_target`); then the target sees the close.
    fn close_link(&mut self, sim: &mut Sim, drop_to_target: bool) {
        if !self.link_open {
            return;
        }
        self.link_open = false;
        if drop_to_target {
            self.to_t.clear();
        } else {
            while let Some((_, m)) = self.to_t.pop_front() {
                self.at_target(sim, m);
            }
        }
        self.to_s.clear();
        // on_disconnect: an import not finished is dropped with its keys.
        if self.import.take().is_some() && !self.killed.contains(&self.tgt) {
            let tgt = self.tgt;
            sim.drop_import_keys(tgt, &MOVING);
            self.note(sim, "target dropped the import".into());
        }
        // The source's side: before FINISH the slots stay; after it, settle.
        if let Some(e) = self.export.as_mut() {
            if e.phase >= Phase::FinishSent {
                e.phase = Phase::Settling;
                e.settle_deadline = sim.now + 2 * NODE_TIMEOUT;
            } else {
                self.end_export(sim, Err("the link to the target closed".into()));
            }
        }
    }

    fn at_target(&mut self, sim: &mut Sim, m: ToTarget) {
        let t = self.tgt;
        match m {
            ToTarget::Start(source) => {
                let st = sim.nodes[t].state();
                let reply = if !sim.nodes[t].is_primary() {
                    ToSource::Error("ERR Only a primary can import slots".into())
                } else if MOVING
                    .iter()
                    .any(|&s| st.slots[s as usize] == Some(st.myself))
                {
                    ToSource::Error("ERR I'm already the owner".into())
                } else {
                    self.import = Some(Import { source, wait: None });
                    sim.delete_slots(t, &MOVING);
                    ToSource::Applied(1)
                };
                self.send_s(sim, reply);
            }
            ToTarget::Ops(ops) => {
                let n = ops.len() as u64;
                if !sim.nodes[t].is_primary() {
                    self.send_s(
                        sim,
                        ToSource::Error(
                            "READONLY You can't write against a read only replica.".into(),
                        ),
                    );
                    return;
                }
                for op in ops {
                    match op {
                        Op::Restore(k, v) => {
                            sim.keys[t].insert(k, v);
                        }
                        Op::Add(k, m) => {
                            sim.keys[t].entry(k).or_default().insert(m);
                        }
                    }
                    sim.local_change(t, "applied an import command");
                }
                self.send_s(sim, ToSource::Applied(n));
            }
            ToTarget::Wait(n) => {
                let ver = sim.data_ver[t];
                if let Some(imp) = self.import.as_mut() {
                    imp.wait = Some((sim.now, ver, n));
                }
            }
            ToTarget::Finish => {
                let Some(imp) = self.import.take() else {
                    self.send_s(sim, ToSource::Finished(Err("ERR No import".into())));
                    return;
                };
                let st = sim.nodes[t].state();
                let r = if MOVING
                    .iter()
                    .any(|&s| st.slots[s as usize] != Some(imp.source))
                {
                    Err("ERR The source no longer owns the slots".to_string())
                } else {
                    match sim.nodes[t].claim_imported_slots(&MOVING) {
                        Ok(outs) => {
                            sim.handle(t, outs);
                            Ok(())
                        }
                        Err(e) => Err(e.0),
                    }
                };
                if r.is_err() {
                    sim.drop_import_keys(t, &MOVING);
                }
                self.note(sim, format!("target FINISH: {r:?}"));
                self.send_s(sim, ToSource::Finished(r));
            }
        }
    }

    /// take_tap: the tap's writes, after checking the slots are still ours.
    fn take_tap(&mut self, sim: &mut Sim, pause: bool) -> Result<Vec<Op>, String> {
        if !sim.owns_all(self.src, &MOVING) {
            return Err("this node no longer owns the slots".into());
        }
        let Some(e) = self.export.as_mut() else {
            return Err("the export vanished".into());
        };
        if pause {
            e.paused = true;
        }
        Ok(std::mem::take(&mut e.tap))
    }

    fn at_source(&mut self, sim: &mut Sim, m: ToSource) {
        let Some(e) = self.export.as_mut() else {
            return;
        };
        match m {
            ToSource::Applied(n) => e.applied += n,
            ToSource::Error(err) => {
                self.end_export(sim, Err(format!("the target answered: {err}")))
            }
            ToSource::Waited(got) => {
                if got < e.want_replicas {
                    let want = e.want_replicas;
                    self.end_export(
                        sim,
                        Err(format!("{got} of the target's {want} replicas caught up")),
                    );
                    return;
                }
                self.finish(sim);
            }
            ToSource::Finished(Ok(())) => self.end_export(sim, Ok(())),
            ToSource::Finished(Err(err)) => self.end_export(sim, Err(err)),
        }
    }

    /// The last take of the tap and FINISH (from here the target's answer decides).
    fn finish(&mut self, sim: &mut Sim) {
        match self.take_tap(sim, true) {
            Ok(rest) => {
                if let Some(e) = self.export.as_mut() {
                    e.phase = Phase::FinishSent;
                    e.sent += rest.len() as u64;
                }
                self.send_t(sim, ToTarget::Ops(rest));
                self.send_t(sim, ToTarget::Finish);
            }
            Err(err) => self.end_export(sim, Err(err)),
        }
    }

    /// The sender task's next step once everything sent was applied.
    fn advance(&mut self, sim: &mut Sim) {
        let Some(e) = self.export.as_ref() else {
            return;
        };
        if e.applied < e.sent || !self.link_open {
            return;
        }
        match e.phase {
            Phase::Snapshot | Phase::Streaming => {
                let done = e.phase == Phase::Streaming
                    && (e.last_round < SMALL_ROUND || e.rounds >= MAX_ROUNDS);
                match self.take_tap(sim, done) {
                    Ok(ops) => {
                        let e = self.export.as_mut().expect("checked above");
                        e.phase = if done {
                            Phase::Paused
                        } else {
                            Phase::Streaming
                        };
                        e.rounds += 1;
                        e.last_round = ops.len();
                        e.sent += ops.len() as u64;
                        self.send_t(sim, ToTarget::Ops(ops));
                    }
                    Err(err) => self.end_export(sim, Err(err)),
                }
            }
            Phase::Paused => {
                if self.wait_for_target_replicas {
                    // Replicas of the target the source does not hold failed.
                    let st = sim.nodes[self.src].state();
                    let want = st
                        .nodes
                        .values()
                        .filter(|n| n.primary == Some(self.target))
                        .filter(|n| !n.has(rubra_cluster::state::flags::FAIL))
                        .count();
                    let e = self.export.as_mut().expect("checked above");
                    e.phase = Phase::Waiting;
                    e.want_replicas = want;
                    self.send_t(sim, ToTarget::Wait(want));
                } else {
                    self.finish(sim);
                }
            }
            Phase::Waiting | Phase::FinishSent | Phase::Settling => {}
        }
    }

    /// One simulated step of everything the servers and the client do.
    pub(super) fn step(&mut self, sim: &mut Sim) {
        // The link breaks when either end is cut off from the other.
        if self.link_open && sim.group[self.src] != sim.group[self.tgt] {
            let tgt_gone = self.killed.contains(&self.tgt) || !self.killed.contains(&self.src);
            self.close_link(sim, tgt_gone);
        }
        while self.link_open && self.to_t.front().is_some_and(|m| m.0 <= sim.now) {
            let (_, m) = self.to_t.pop_front().expect("peeked");
            self.at_target(sim, m);
        }
        while self.link_open && self.to_s.front().is_some_and(|m| m.0 <= sim.now) {
            let (_, m) = self.to_s.pop_front().expect("peeked");
            self.at_source(sim, m);
        }
        // WAIT on the target: answered when enough replicas copied it, or at its timeout.
        if let Some((since, ver, want)) = self.import.as_ref().and_then(|i| i.wait) {
            let t = self.tgt;
            let got = sim
                .replicas_of(t)
                .into_iter()
                .filter(|&r| sim.group[r] == sim.group[t] && sim.data_ver[r] >= ver)
                .count();
            if got >= want || sim.now >= since + WAIT_MS {
                if let Some(imp) = self.import.as_mut() {
                    imp.wait = None;
                }
                self.send_s(sim, ToSource::Waited(got));
            }
        }
        self.advance(sim);
        if let Some(e) = self.export.as_ref().filter(|e| e.phase == Phase::Settling) {
            let claimed =
                sim.nodes[self.src].state().slots[MOVING[0] as usize] == Some(self.target);
            if claimed {
                self.end_export(sim, Ok(()));
            } else if sim.now > e.settle_deadline {
                self.end_export(sim, Err("the target never claimed the slots".into()));
            }
        }
        self.client(sim);
    }

    /// One write by a cluster client that follows redirects from a node it can reach.
    fn client(&mut self, sim: &mut Sim) {
        let k = sim.rng.gen_range(0..NKEYS);
        let slot = key_slot(k);
        let reachable: Vec<usize> = (0..sim.nodes.len())
            .filter(|&i| sim.group[i] == 0)
            .collect();
        let start = reachable[sim.rng.gen_range(0..reachable.len())];
        let at = match route_key(sim, start, slot, |i| sim.keys[i].contains_key(&k)) {
            Ok(at) => at,
            Err(_) => return,
        };
        let held = self.export.as_ref().is_some_and(|e| e.paused)
            && at == self.src
            && MOVING.contains(&slot);
        if sim.group[at] != 0
            || sim.paused_until[at] > sim.now
            || held
            || !sim.nodes[at].is_primary()
        {
            return;
        }
        let m = self.next_member;
        self.next_member += 1;
        sim.keys[at].entry(k).or_default().insert(m);
        sim.local_change(at, "a client write");
        if at == self.src && MOVING.contains(&slot) {
            if let Some(e) = self.export.as_mut() {
                e.tap.push(Op::Add(k, m));
            }
        }
        self.pending.push((at, k, m, sim.now));
        // WAIT 1: acknowledged once a replica of the node that took it has it.
        let now = sim.now;
        let mut acked = Vec::new();
        self.pending.retain(|&(p, k, m, at)| {
            let copied = sim.replicas_of(p).into_iter().any(|r| {
                sim.group[r] == sim.group[p] && sim.keys[r].get(&k).is_some_and(|v| v.contains(&m))
            });
            if copied {
                acked.push((k, m));
            }
            !copied && now < at + WAIT_MS
        });
        self.acked.extend(acked);
    }

    /// Injects `fault` now.
    fn inject(&mut self, sim: &mut Sim, fault: Fault) {
        self.note(sim, format!("fault {fault:?} in phase {:?}", self.phase()));
        match fault {
            Fault::None => {}
            Fault::Cancel => {
                // CANCELSLOTMIGRATIONS: ignored once FINISH went out.
                if self.phase().is_some_and(|p| p < Phase::FinishSent) {
                    self.end_export(sim, Err("cancelled".into()));
                }
            }
            Fault::KillSource => {
                self.killed.push(self.src);
                sim.group[self.src] = 9;
                // The process and its export are gone; what it wrote still arrives.
                self.export = None;
                self.result = Some(Err("the source died".into()));
                self.close_link(sim, false);
            }
            Fault::KillTarget => {
                self.killed.push(self.tgt);
                sim.group[self.tgt] = 9;
                self.import = None;
                self.close_link(sim, true);
            }
            Fault::CutLink => self.close_link(sim, true),
            Fault::PartitionSource => sim.group[self.src] = 2,
            Fault::PartitionTarget => sim.group[self.tgt] = 2,
            Fault::FailoverSource | Fault::FailoverTarget => {
                let p = if fault == Fault::FailoverSource {
                    self.src
                } else {
                    self.tgt
                };
                if let Some(&r) = sim.replicas_of(p).first() {
                    let now = sim.now;
                    let res = sim.nodes[r].failover(now, rubra_cluster::FailoverMode::Default);
                    sim.admin(r, res);
                }
            }
        }
    }

    /// Heals every partition; killed nodes restart with their keys (AOF) and nodes.conf.
    fn heal(&mut self, sim: &mut Sim) {
        for g in sim.group.iter_mut() {
            *g = 0;
        }
        for i in std::mem::take(&mut self.killed) {
            sim.drop_foreign_keys(i);
        }
    }
}

/// The properties, after everything healed and settled.
fn check_outcome(
    sim: &Sim,
    mv: &Move,
    fault: Fault,
    fault_phase: Option<Phase>,
) -> Result<(), String> {
    if let Some(v) = sim.violations.first() {
        return Err(v.clone());
    }
    sim.converged(&sim.live())?;
    let st = sim.nodes[0].state();
    // The moving slots end together, in the source's or the target's shard.
    let owner = st.slots[MOVING[0] as usize].ok_or("slot unassigned")?;
    if MOVING.iter().any(|&s| st.slots[s as usize] != Some(owner)) {
        return Err("the moving slots ended with different owners".into());
    }
    let owner = sim.index_of_id(&owner).ok_or("unknown owner")?;
    let at_target = mv.tgt_shard.contains(&owner);
    if !at_target && !mv.src_shard.contains(&owner) {
        return Err(format!("the slots ended with node {owner}, neither side"));
    }
    match (fault, &mv.result) {
        (Fault::None, Some(Ok(()))) if at_target => {}
        (Fault::None, r) => {
            return Err(format!(
                "no fault, yet the move ended {r:?}, slots at {owner}"
            ))
        }
        (_, Some(Ok(()))) if !at_target => {
            return Err(format!(
                "the export succeeded but the slots ended with node {owner}"
            ));
        }
        _ => {}
    }
    if fault == Fault::Cancel && fault_phase.is_some_and(|p| p < Phase::FinishSent) && at_target {
        return Err("cancelled before FINISH, yet the slots moved".into());
    }
    // Every key lives on the owner of its slot only; replicas hold what their primary holds.
    for i in 0..sim.nodes.len() {
        let me = sim.nodes[i].id();
        if sim.nodes[i].is_primary() {
            if let Some(k) = sim.keys[i]
                .keys()
                .find(|k| st.slots[key_slot(**k) as usize] != Some(me))
            {
                return Err(format!(
                    "primary {i} still holds key {k} of slot {} owned by {:?}",
                    key_slot(*k),
                    st.slots[key_slot(*k) as usize].and_then(|o| sim.index_of_id(&o))
                ));
            }
        } else if let Some(p) = sim.replicates[i] {
            if sim.keys[i] != sim.keys[p] {
                return Err(format!("replica {i} differs from its primary {p}"));
            }
        }
    }
    // Acknowledged writes survive the move.
    for &(k, m) in &mv.acked {
        let o = st.slots[key_slot(k) as usize]
            .and_then(|o| sim.index_of_id(&o))
            .ok_or("slot unassigned")?;
        if !sim.keys[o].get(&k).is_some_and(|v| v.contains(&m)) {
            return Err(format!(
                "acknowledged member {m} of key {k} (slot {}) is missing on its owner {o}",
                key_slot(k)
            ));
        }
    }
    Ok(())
}

/// One run: form, write, migrate with `fault` injected `after` ms into phase `at` (or
/// after the move if it ends first), heal, settle, check.
pub(super) fn run_one(seed: u64, wait_for_target_replicas: bool) -> Result<String, String> {
    let mut sim = Sim::new(seed, 6);
    sim.fifo = true;
    sim.max_delay = 10;
    sim.form(3, true)?;
    // Node 0 owns slots 0..5460 (the moving ones and 3000); node 3 replicates it.
    let (src, tgt) = (0, 1);
    // Half the runs with the source's config epoch above the target's (CLUSTER BUMPEPOCH
    // on the source): then only the claim's own epoch bump makes the target's claim win.
    if sim.rng.gen_bool(0.5) {
        let (_, outs) = sim.nodes[src].bump_epoch();
        sim.handle(src, outs);
        sim.run_for(500);
    }
    let mut mv = Move::new(&sim, src, tgt);
    mv.wait_for_target_replicas = wait_for_target_replicas;
    let fault = FAULTS[sim.rng.gen_range(0..FAULTS.len())];
    let phases = [
        Phase::Snapshot,
        Phase::Streaming,
        Phase::Paused,
        Phase::Waiting,
        Phase::FinishSent,
    ];
    let at = phases[sim.rng.gen_range(0..phases.len())];
    let after = sim.rng.gen_range(0..3 * sim.max_delay);
    let fail_for = sim.rng.gen_range(NODE_TIMEOUT / 2..NODE_TIMEOUT * 4);
    let step = |sim: &mut Sim, mv: &mut Move| {
        sim.run_for(STEP_MS);
        mv.step(sim);
    };
    for _ in 0..100 {
        step(&mut sim, &mut mv);
    }
    mv.start(&mut sim)?;
    let mut entered = None;
    let mut fault_phase = None;
    let mut injected_at = None;
    for _ in 0..2000 {
        step(&mut sim, &mut mv);
        let ph = mv.phase();
        if ph == Some(at) && entered.is_none() {
            entered = Some(sim.now);
        }
        let due = entered.is_some_and(|t| sim.now >= t + after)
            || (ph.is_none() && injected_at.is_none());
        if due && injected_at.is_none() {
            fault_phase = ph;
            mv.inject(&mut sim, fault);
            injected_at = Some(sim.now);
        }
        if injected_at.is_some_and(|t| sim.now >= t + fail_for) {
            break;
        }
    }
    mv.heal(&mut sim);
    // Settle: the move ends one way or the other, and the cluster converges.
    let mut settled = false;
    for _ in 0..(30_000 / STEP_MS) {
        step(&mut sim, &mut mv);
        if mv.export.is_none() && sim.converged(&sim.live()).is_ok() {
            settled = true;
            break;
        }
    }
    if !settled {
        return Err(format!(
            "did not settle: export {:?}, {:?}; log {:?}",
            mv.phase(),
            sim.converged(&sim.live()),
            mv.log
        ));
    }
    // Stop writing; let replicas copy the last writes.
    sim.run_for(1000);
    check_outcome(&sim, &mv, fault, fault_phase).map_err(|e| {
        format!(
            "{fault:?} in {fault_phase:?}: {e}\nmove ended {:?}\nlog: {:#?}",
            mv.result, mv.log
        )
    })?;
    let owner = sim.nodes[0].state().slots[MOVING[0] as usize];
    let side = if owner
        .and_then(|o| sim.index_of_id(&o))
        .is_some_and(|o| mv.tgt_shard.contains(&o))
    {
        "target"
    } else {
        "source"
    };
    let moved_acked = mv
        .acked
        .iter()
        .filter(|(k, _)| MOVING.contains(&key_slot(*k)))
        .count();
    Ok(format!(
        "{fault:?} in {} -> slots at the {side}, {moved_acked} acked writes to them",
        fault_phase.map_or("after the move".to_string(), |p| format!("{p:?}"))
    ))
}

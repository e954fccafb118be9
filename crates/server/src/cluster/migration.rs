//! Atomic slot migration (Valkey 9's CLUSTER MIGRATESLOTS / GETSLOTMIGRATIONS /
//! CANCELSLOTMIGRATIONS): the bookkeeping on both sides and the commands. The design is in
//! docs/cluster-protocol.md ("Atomic slot migration"); in short:
//!
//! - source: MIGRATESLOTS takes a copy-on-write snapshot of the slots and installs a
//!   [`SlotTap`] on the propagation feed in the same critical section, so snapshot + tap is
//!   exactly the slots' history; `migration_send` streams both to the target over one
//!   client connection, then holds writes to those slots, sends the rest and FINISH;
//! - target: `CLUSTER SYNCSLOTS START` marks that connection as an import link (its
//!   commands skip routing), FINISH claims the slots under a bumped epoch. A link that
//!   closes before FINISH drops what it imported.
//!
//! The slots stay with the source, with normal routing, until the target's claim: clients
//! never see -ASK or -TRYAGAIN.

use crate::client::ClientState;
use crate::cluster::driver::{self, ClusterDriver};
use crate::cluster::slot_tap::SlotTap;
use crate::cmd::args::is;
use crate::cmd::{CmdResult, Ctx};
use crate::store::{now_ms, Store};
use bytes::Bytes;
use rubra_cluster::NodeId;
use rubra_keyspace::DbSnapshot;
use rubra_resp::Reply;
use std::collections::BTreeMap;

/// Finished migrations kept for GETSLOTMIGRATIONS.
const HISTORY: usize = 16;

/// One migration as GETSLOTMIGRATIONS shows it.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub name: String,
    /// "EXPORT" on the source, "IMPORT" on the target.
    pub operation: &'static str,
    pub ranges: Vec<(u16, u16)>,
    pub source: String,
    pub target: String,
    /// snapshot, streaming, paused, handover, success, failed, cancelled.
    pub state: &'static str,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// Keys of the snapshot sent (export) or commands applied (import).
    pub keys: u64,
    pub bytes: u64,
    /// Change-stream commands sent after the snapshot (export).
    pub stream_cmds: u64,
    /// How long writes to the slots were held (export), in ms.
    pub pause_ms: u64,
    pub message: String,
}

impl Record {
    /// A migration that has just started (both sides begin with nothing sent or applied).
    fn new(
        name: String,
        operation: &'static str,
        ranges: Vec<(u16, u16)>,
        source: String,
        target: String,
        state: &'static str,
        now: u64,
    ) -> Record {
        Record {
            name,
            operation,
            ranges,
            source,
            target,
            state,
            created_ms: now,
            updated_ms: now,
            keys: 0,
            bytes: 0,
            stream_cmds: 0,
            pause_ms: 0,
            message: String::new(),
        }
    }
}

/// The export in progress on a source.
pub(crate) struct Export {
    pub rec: Record,
    pub target: NodeId,
    pub slots: Vec<u16>,
    /// `moving[slot]` for the slots above (write-pause check).
    pub moving: Vec<bool>,
    /// Writes to the slots are held (the hand-over is under way).
    pub paused: bool,
    pub paused_at: u64,
    /// FINISH went out: from now on only the target's answer (or its claim seen by gossip)
    /// decides who owns the slots.
    pub finish_sent: bool,
    /// CANCELSLOTMIGRATIONS: flips to true; the sender watches it.
    pub cancel: tokio::sync::watch::Sender<bool>,
}

/// An import in progress on a target, keyed by the import link's client id.
pub(crate) struct Import {
    pub rec: Record,
    pub slots: Vec<u16>,
}

/// Both sides' state, in the cluster driver.
#[derive(Default)]
pub(crate) struct Migrations {
    next: u64,
    pub export: Option<Export>,
    pub imports: BTreeMap<u64, Import>,
    pub history: Vec<Record>,
    /// Slots handed over whose keys are still to be deleted, a batch at a time (deleting
    /// a big range at once would hold the store lock for the whole of it).
    pub purge: Vec<u16>,
}

impl Migrations {
    /// Keeps a finished migration for GETSLOTMIGRATIONS.
    pub(crate) fn remember(&mut self, rec: Record) {
        self.history.push(rec);
        if self.history.len() > HISTORY {
            self.history.remove(0);
        }
    }

    /// Whether a write to `slot` must wait for the hand-over.
    pub(crate) fn holds(&self, slot: u16) -> bool {
        self.export
            .as_ref()
            .is_some_and(|e| e.paused && e.moving[slot as usize])
    }
}

/// What the sender task needs from MIGRATESLOTS.
pub(crate) struct ExportJob {
    pub snapshots: Vec<(usize, DbSnapshot)>,
    pub cancel: tokio::sync::watch::Receiver<bool>,
}

fn driver_mut(store: &mut Store) -> Result<&mut ClusterDriver, Reply> {
    store
        .cluster
        .as_deref_mut()
        .ok_or_else(|| Reply::err("ERR This instance has cluster support disabled"))
}

fn ranges_text(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Slot ranges as given, and every slot in them.
type Ranges = (Vec<(u16, u16)>, Vec<u16>);

/// Slot pairs `a b [a b ...]` from `args`, validated and expanded.
fn parse_ranges(args: &[Bytes]) -> Result<Ranges, Reply> {
    if args.is_empty() || !args.len().is_multiple_of(2) {
        return Err(Reply::err("ERR syntax error"));
    }
    let mut seen = vec![false; rubra_keys::SLOT_COUNT];
    let (mut ranges, mut slots) = (Vec::new(), Vec::new());
    for pair in args.chunks(2) {
        let a = crate::cmd::args::slot_arg(&pair[0])?;
        let b = crate::cmd::args::slot_arg(&pair[1])?;
        if a > b {
            return Err(Reply::error(format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            )));
        }
        for (s, was) in seen.iter_mut().enumerate().take(b + 1).skip(a) {
            if std::mem::replace(was, true) {
                return Err(Reply::error(format!(
                    "ERR Slot {s} specified multiple times"
                )));
            }
            slots.push(s as u16);
        }
        ranges.push((a as u16, b as u16));
    }
    Ok((ranges, slots))
}

/// CLUSTER MIGRATESLOTS SLOTSRANGE a b [a b ...] NODE node-id (on the source primary).
/// Starts the export and answers at once; GETSLOTMIGRATIONS follows it.
pub(crate) fn migrateslots(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if !is(&args[2], "slotsrange") {
        return Err(Reply::err("ERR syntax error"));
    }
    let node_at = args
        .iter()
        .rposition(|a| is(a, "node"))
        .filter(|&i| i > 3 && i + 2 == args.len())
        .ok_or_else(|| Reply::err("ERR syntax error"))?;
    let (ranges, slots) = parse_ranges(&args[3..node_at])?;
    let jobs = ctx
        .store
        .jobs
        .clone()
        .ok_or_else(|| Reply::err("ERR background jobs are not available"))?;
    let now = ctx.now_ms;
    let d = driver_mut(ctx.store)?;
    let st = d.node.state();
    if !st.me().is_primary() {
        return Err(Reply::err("ERR Slots can only be migrated from a primary"));
    }
    if d.migrations.export.is_some() {
        return Err(Reply::err("ERR A slot migration is already in progress"));
    }
    let target = NodeId::from_bytes(&args[node_at + 1])
        .filter(|id| st.nodes.contains_key(id))
        .ok_or_else(|| {
            Reply::error(format!(
                "ERR Unknown node {}",
                String::from_utf8_lossy(&args[node_at + 1])
            ))
        })?;
    if target == st.myself {
        return Err(Reply::err("ERR Can't migrate slots to myself"));
    }
    if st.nodes.get(&target).is_some_and(|n| !n.is_primary()) {
        return Err(Reply::err("ERR Target node is not a primary"));
    }
    for &s in &slots {
        if st.slots[s as usize] != Some(st.myself) {
            return Err(Reply::error(format!(
                "ERR I'm not the owner of hash slot {s}"
            )));
        }
        if st.migrating.contains_key(&s) || st.importing.contains_key(&s) {
            return Err(Reply::error(format!(
                "ERR Slot {s} is being migrated with SETSLOT"
            )));
        }
    }
    let mut moving = vec![false; rubra_keys::SLOT_COUNT];
    for &s in &slots {
        moving[s as usize] = true;
    }
    let name = format!("{:016x}{:08x}", now, d.migrations.next);
    let rec = Record::new(
        name,
        "EXPORT",
        ranges,
        st.myself.as_string(),
        target.as_string(),
        "snapshot",
        now,
    );
    // One critical section: the snapshot and the tap start from the same state.
    let wanted: Vec<usize> = slots.iter().map(|&s| s as usize).collect();
    let snapshots: Vec<(usize, DbSnapshot)> = ctx
        .store
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, db)| !db.is_empty())
        .map(|(i, db)| (i, db.snapshot_slots(&wanted)))
        .collect();
    ctx.store.feed.tap = Some(SlotTap::new(moving.clone()));
    let (cancel, cancel_rx) = tokio::sync::watch::channel(false);
    let d = driver_mut(ctx.store)?;
    d.migrations.next += 1;
    tracing::info!(name = %rec.name, ranges = %ranges_text(&rec.ranges), target = %rec.target, "slot export starting");
    d.migrations.export = Some(Export {
        rec,
        target,
        slots,
        moving,
        paused: false,
        paused_at: 0,
        finish_sent: false,
        cancel,
    });
    let job = ExportJob {
        snapshots,
        cancel: cancel_rx,
    };
    if jobs
        .send(crate::persist::jobs::Job::MigrateSlots(Box::new(job)))
        .is_err()
    {
        end_export(ctx.store, Err("background jobs stopped".into()));
        return Err(Reply::err("ERR background jobs are not available"));
    }
    Ok(Reply::OK)
}

/// CLUSTER CANCELSLOTMIGRATIONS: stops this node's export unless its FINISH already went
/// out (then the target's answer decides). Imports end when their source closes the link.
pub(crate) fn cancel(ctx: &mut Ctx) -> CmdResult {
    let d = driver_mut(ctx.store)?;
    if let Some(e) = d.migrations.export.as_mut() {
        if !e.finish_sent {
            e.cancel.send_replace(true);
        }
    }
    Ok(Reply::OK)
}

/// CLUSTER GETSLOTMIGRATIONS: the migrations in progress and the last finished ones, each
/// as field/value pairs.
pub(crate) fn list(ctx: &mut Ctx) -> CmdResult {
    let d = driver_mut(ctx.store)?;
    let m = &d.migrations;
    let mut all: Vec<Record> = m.history.clone();
    all.extend(m.imports.values().map(|i| i.rec.clone()));
    all.extend(m.export.as_ref().map(|e| e.rec.clone()));
    let now = now_ms();
    Ok(Reply::Array(
        all.iter()
            .map(|r| {
                let pause = match &m.export {
                    Some(e) if e.paused && e.rec.name == r.name => now.saturating_sub(e.paused_at),
                    _ => r.pause_ms,
                };
                let fields: Vec<(&str, String)> = vec![
                    ("name", r.name.clone()),
                    ("operation", r.operation.to_string()),
                    ("slot_ranges", ranges_text(&r.ranges)),
                    ("source_node", r.source.clone()),
                    ("target_node", r.target.clone()),
                    ("state", r.state.to_string()),
                    ("create_time", r.created_ms.to_string()),
                    ("last_update_time", r.updated_ms.to_string()),
                    ("keys", r.keys.to_string()),
                    ("bytes", r.bytes.to_string()),
                    ("stream_commands", r.stream_cmds.to_string()),
                    ("write_pause_ms", pause.to_string()),
                    ("message", r.message.clone()),
                ];
                Reply::Array(
                    fields
                        .into_iter()
                        .flat_map(|(k, v)| {
                            [Reply::bulk_string(k.to_string()), Reply::bulk_string(v)]
                        })
                        .collect(),
                )
            })
            .collect(),
    ))
}

/// Ends the export: on success the target owns the slots, so we record that, delete our
/// copy (DELs go to our replicas and AOF) and release the held writes, which then get
/// -MOVED. On failure the slots simply stay ours. Either way the tap goes.
pub(crate) fn end_export(store: &mut Store, result: Result<(), String>) {
    store.feed.tap = None;
    let Some(d) = store.cluster.as_deref_mut() else {
        return;
    };
    let Some(mut e) = d.migrations.export.take() else {
        return;
    };
    let now = now_ms();
    if e.paused {
        e.rec.pause_ms = now.saturating_sub(e.paused_at);
    }
    e.rec.updated_ms = now;
    match result {
        Ok(()) => {
            let outs = d.node.hand_over_slots(&e.slots, e.target);
            e.rec.state = "success";
            tracing::info!(name = %e.rec.name, keys = e.rec.keys, pause_ms = e.rec.pause_ms, "slot export done");
            d.migrations.remember(e.rec);
            d.migrations.purge.extend(e.slots.iter().copied());
            d.kick_pause_watchers();
            driver::apply(store, outs);
        }
        Err(msg) => {
            let cancelled = *e.cancel.borrow();
            e.rec.state = if cancelled { "cancelled" } else { "failed" };
            tracing::warn!(name = %e.rec.name, error = %msg, "slot export failed; the slots stay here");
            e.rec.message = msg;
            d.migrations.remember(e.rec);
            d.kick_pause_watchers();
        }
    }
    store.flush_feed();
}

/// CLUSTER SYNCSLOTS START name source-id a b [a b ...] | FINISH name: the internal
/// commands of the import link (sent by the source's `migration_send`).
pub(crate) fn syncslots(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let client_id = ctx.client.id;
    if is(&args[2], "start") && args.len() >= 7 {
        let (ranges, slots) = parse_ranges(&args[5..])?;
        let d = driver_mut(ctx.store)?;
        let st = d.node.state();
        if !st.me().is_primary() {
            return Err(Reply::err("ERR Only a primary can import slots"));
        }
        if let Some(s) = slots
            .iter()
            .find(|&&s| st.slots[s as usize] == Some(st.myself))
        {
            return Err(Reply::error(format!(
                "ERR I'm already the owner of hash slot {s}"
            )));
        }
        let busy = d
            .migrations
            .imports
            .values()
            .any(|i| i.slots.iter().any(|s| slots.contains(s)))
            || d.migrations.imports.contains_key(&client_id);
        if busy {
            return Err(Reply::err("ERR These slots are already being imported"));
        }
        let me = d.node.id().as_string();
        let rec = Record::new(
            String::from_utf8_lossy(&args[3]).into_owned(),
            "IMPORT",
            ranges,
            String::from_utf8_lossy(&args[4]).into_owned(),
            me,
            "importing",
            now,
        );
        d.migrations.purge.retain(|s| !slots.contains(s));
        d.migrations.imports.insert(
            client_id,
            Import {
                rec,
                slots: slots.clone(),
            },
        );
        // Leftovers of an earlier attempt must not mix with the snapshot.
        driver::delete_slots(ctx.store, &slots);
        ctx.client.import_link = true;
        return Ok(Reply::OK);
    }
    if is(&args[2], "finish") && args.len() == 4 {
        let d = driver_mut(ctx.store)?;
        let Some(mut imp) = d.migrations.imports.remove(&client_id) else {
            return Err(Reply::err("ERR No import in progress on this connection"));
        };
        if imp.rec.name.as_bytes() != &args[3][..] {
            d.migrations.imports.insert(client_id, imp);
            return Err(Reply::err("ERR Unknown slot migration"));
        }
        // Claim only what the source still owns in our view: if a failover moved the
        // slots meanwhile, a claim with a bumped epoch would override the new owner.
        let st = d.node.state();
        let source = NodeId::from_bytes(imp.rec.source.as_bytes());
        if imp.slots.iter().any(|&s| st.slots[s as usize] != source) {
            imp.rec.state = "failed";
            imp.rec.message = "the source no longer owns the slots".into();
            d.migrations.remember(imp.rec);
            drop_import_keys(ctx.store, &imp.slots);
            ctx.client.import_link = false;
            return Err(Reply::err("ERR The source no longer owns the slots"));
        }
        let outs = match d.node.claim_imported_slots(&imp.slots) {
            Ok(o) => o,
            Err(e) => {
                imp.rec.state = "failed";
                imp.rec.message = e.0.clone();
                d.migrations.remember(imp.rec);
                drop_import_keys(ctx.store, &imp.slots);
                ctx.client.import_link = false;
                return Err(Reply::error(e.0));
            }
        };
        imp.rec.state = "success";
        imp.rec.updated_ms = now;
        let dbs = &ctx.store.dbs;
        imp.rec.keys = imp
            .slots
            .iter()
            .map(|&s| {
                dbs.iter()
                    .map(|db| db.count_in_slot(s as usize) as u64)
                    .sum::<u64>()
            })
            .sum();
        if let Some(d) = ctx.store.cluster.as_deref_mut() {
            d.migrations.remember(imp.rec);
        }
        ctx.client.import_link = false;
        driver::apply(ctx.store, outs);
        tracing::info!("slot import done: the slots are ours");
        return Ok(Reply::OK);
    }
    Err(Reply::err("ERR syntax error"))
}

/// Deletes what an abandoned import brought in (only slots still not ours).
fn drop_import_keys(store: &mut Store, slots: &[u16]) {
    let Some(d) = store.cluster.as_deref() else {
        return;
    };
    let st = d.node.state();
    let foreign: Vec<u16> = slots
        .iter()
        .copied()
        .filter(|&s| st.slots[s as usize] != Some(st.myself))
        .collect();
    driver::delete_slots(store, &foreign);
    store.flush_feed();
}

/// The import link closed: an import it had not finished is dropped with its keys.
pub(crate) fn on_disconnect(store: &mut Store, client: &ClientState) {
    if !client.import_link {
        return;
    }
    let Some(d) = store.cluster.as_deref_mut() else {
        return;
    };
    let Some(mut imp) = d.migrations.imports.remove(&client.id) else {
        return;
    };
    imp.rec.state = "failed";
    imp.rec.message = "the source closed the link before FINISH".into();
    imp.rec.updated_ms = now_ms();
    tracing::warn!(name = %imp.rec.name, "slot import abandoned; dropping its keys");
    d.migrations.remember(imp.rec);
    drop_import_keys(store, &imp.slots);
}

/// Keys deleted per lock acquisition when purging handed-over slots.
pub(crate) const PURGE_BATCH: usize = 2000;

/// SlotsLost while our export hands over: those slots are purged in batches by the export
/// task instead of at once. Returns the slots to delete now.
pub(crate) fn defer_purge(store: &mut Store, slots: Vec<u16>) -> Vec<u16> {
    let Some(d) = store.cluster.as_deref_mut() else {
        return slots;
    };
    let Some(e) = d.migrations.export.as_ref().filter(|e| e.finish_sent) else {
        return slots;
    };
    let (later, now): (Vec<u16>, Vec<u16>) = slots.into_iter().partition(|&s| e.moving[s as usize]);
    d.migrations.purge.extend(later);
    now
}

/// Deletes up to PURGE_BATCH keys of handed-over slots; returns false when none are left.
pub(crate) fn purge_some(store: &mut Store) -> bool {
    let Some(&slot) = store
        .cluster
        .as_deref()
        .and_then(|d| d.migrations.purge.last())
    else {
        return false;
    };
    let mine = store.cluster.as_deref().is_some_and(|d| {
        let st = d.node.state();
        st.slots[slot as usize] == Some(st.myself)
    });
    // A slot that came back to us meanwhile keeps its keys.
    let n = if mine {
        0
    } else {
        driver::delete_in_slot(store, slot, PURGE_BATCH)
    };
    if (n as usize) < PURGE_BATCH {
        if let Some(d) = store.cluster.as_deref_mut() {
            d.migrations.purge.retain(|&s| s != slot);
        }
    }
    store.flush_feed();
    true
}

//! Cluster commands that need only the local keyspace and the routing table: CLUSTER
//! KEYSLOT|COUNTKEYSINSLOT|GETKEYSINSLOT, READONLY, READWRITE, ASKING. The rest of CLUSTER
//! (topology, slots, failover) comes with the cluster bus.

use super::args::{int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_commands::{key_slot, SLOT_COUNT};
use rubra_resp::Reply;

pub static COMMANDS: &[Command] = &[
    Command::new("cluster", -2, 0, (0, 0, 0), "cluster", cluster),
    Command::new(
        "readonly",
        1,
        FAST | LOADING | STALE,
        (0, 0, 0),
        "cluster",
        readonly,
    ),
    Command::new(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        (0, 0, 0),
        "cluster",
        readwrite,
    ),
    Command::new("asking", 1, FAST, (0, 0, 0), "cluster", asking),
];

fn require_cluster(ctx: &Ctx) -> Result<(), Reply> {
    if ctx.store.config.cluster_enabled {
        Ok(())
    } else {
        Err(Reply::err("ERR This instance has cluster support disabled"))
    }
}

fn slot_arg(arg: &[u8]) -> Result<usize, Reply> {
    match int(arg) {
        Ok(n) if (0..SLOT_COUNT as i64).contains(&n) => Ok(n as usize),
        _ => Err(Reply::err("ERR Invalid slot")),
    }
}

/// CLUSTER KEYSLOT key | COUNTKEYSINSLOT slot | GETKEYSINSLOT slot count
fn cluster(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "keyslot") && args.len() == 3 {
        // Works without cluster mode too, as in Redis: it is pure computation.
        return Ok(Reply::Int(key_slot(&args[2]) as i64));
    }
    require_cluster(ctx)?;
    if is(sub, "countkeysinslot") && args.len() == 3 {
        let slot = slot_arg(&args[2])?;
        return Ok(Reply::Int(ctx.db().count_in_slot(slot) as i64));
    }
    if is(sub, "getkeysinslot") && args.len() == 4 {
        let slot = slot_arg(&args[2])?;
        let count = int(&args[3])?;
        if count < 0 {
            return Err(Reply::err("ERR Invalid number of keys"));
        }
        return Ok(Reply::bulk_array(
            ctx.db().keys_in_slot(slot, count as usize),
        ));
    }
    Err(err::unknown_subcommand("cluster", sub))
}

/// READONLY — reads of the primary's slots may be served by this replica.
fn readonly(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    require_cluster(ctx)?;
    ctx.client.readonly = true;
    Ok(Reply::OK)
}

/// READWRITE
fn readwrite(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    require_cluster(ctx)?;
    ctx.client.readonly = false;
    Ok(Reply::OK)
}

/// ASKING — the next command may target a slot being imported here.
fn asking(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    require_cluster(ctx)?;
    ctx.client.asking = true;
    Ok(Reply::OK)
}

//! Cluster commands: the CLUSTER dispatcher (subcommand arity, KEYSLOT / COUNTKEYSINSLOT /
//! GETKEYSINSLOT from the local keyspace; everything that needs the cluster node is in
//! cluster_admin.rs), READONLY, READWRITE, ASKING.

use super::args::{int, slot_arg};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keys::key_slot;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("cluster", -2, CONTAINER, (0, 0, 0), "cluster", cluster),
    Command::new("readonly", 1, FAST | LOADING | STALE, (0, 0, 0), "cluster", readonly),
    Command::new("readwrite", 1, FAST | LOADING | STALE, (0, 0, 0), "cluster", readwrite),
    Command::new("asking", 1, FAST, (0, 0, 0), "cluster", asking),
];

/// The error every cluster-only command gives without `cluster-enabled yes`.
pub(crate) fn require_cluster(ctx: &Ctx) -> Result<(), Reply> {
    if ctx.store.config.cluster_enabled {
        Ok(())
    } else {
        Err(Reply::err("ERR This instance has cluster support disabled"))
    }
}

/// Redis 7.0's arity of each CLUSTER subcommand (negative = at least), so wrong counts
/// get "wrong number of arguments for 'cluster|x'" exactly as Redis words it.
const SUBCOMMANDS: &[(&str, i64)] = &[
    ("addslots", -3),
    ("addslotsrange", -4),
    ("bumpepoch", 2),
    ("cancelslotmigrations", 2),
    ("count-failure-reports", 3),
    ("countkeysinslot", 3),
    ("delslots", -3),
    ("delslotsrange", -4),
    ("failover", -2),
    ("flushslots", 2),
    ("forget", 3),
    ("getkeysinslot", 4),
    ("getslotmigrations", 2),
    ("help", 2),
    ("info", 2),
    ("keyslot", 3),
    ("links", 2),
    ("meet", -4),
    ("migrateslots", -7),
    ("myid", 2),
    ("myshardid", 2),
    ("nodes", 2),
    ("replicas", 3),
    ("replicate", 3),
    ("reset", -2),
    ("saveconfig", 2),
    ("set-config-epoch", 3),
    ("setslot", -4),
    ("shards", 2),
    ("slaves", 3),
    ("slots", 2),
    ("syncslots", -3),
];

/// The CLUSTER subcommands rubra serves beyond Redis 7.0's command table (atomic slot
/// migration, and 7.2's MYSHARDID): the dispatcher's unknown-subcommand check, which
/// follows that table, must let them through to `cluster`.
pub(crate) const BEYOND_CATALOG: &[&str] = &[
    "cancelslotmigrations",
    "getslotmigrations",
    "migrateslots",
    "myshardid",
    "syncslots",
];

/// Whether `sub` (any case) of `container` is one of rubra's own subcommands.
pub(crate) fn beyond_catalog(container: &str, sub: &[u8]) -> bool {
    container == "cluster"
        && BEYOND_CATALOG
            .iter()
            .any(|s| sub.eq_ignore_ascii_case(s.as_bytes()))
}

/// CLUSTER <subcommand> [args...]: topology, slots and failover through the cluster core;
/// KEYSLOT/COUNTKEYSINSLOT/GETKEYSINSLOT from the local keyspace.
fn cluster(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub_raw = &args[1];
    let sub = String::from_utf8_lossy(sub_raw).to_ascii_lowercase();
    let Some(&(_, arity)) = SUBCOMMANDS.iter().find(|(n, _)| *n == sub) else {
        return Err(err::unknown_subcommand("cluster", sub_raw));
    };
    let argc = args.len() as i64;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(err::wrong_args(&format!("cluster|{sub}")));
    }
    // Redis 7.0 refuses every subcommand without cluster mode, KEYSLOT and HELP too (only
    // the unknown-subcommand and arity checks come first).
    require_cluster(ctx)?;
    match sub.as_str() {
        "keyslot" => Ok(Reply::Int(key_slot(&args[2]) as i64)),
        "help" => Ok(help()),
        "links" => Ok(links(ctx)),
        "migrateslots" => crate::cluster::migration::migrateslots(ctx, args),
        "getslotmigrations" => crate::cluster::migration::list(ctx),
        "cancelslotmigrations" => crate::cluster::migration::cancel(ctx),
        "syncslots" => crate::cluster::migration::syncslots(ctx, args),
        "countkeysinslot" => {
            let slot = slot_arg(&args[2])?;
            Ok(Reply::Int(ctx.db().count_in_slot(slot) as i64))
        }
        "getkeysinslot" => {
            let slot = slot_arg(&args[2])?;
            let count = int(&args[3])?;
            if count < 0 {
                return Err(Reply::err("ERR Invalid number of keys"));
            }
            Ok(Reply::bulk_array(
                ctx.db().keys_in_slot(slot, count as usize),
            ))
        }
        _ => super::cluster_admin::run(ctx, &sub, args),
    }
}

fn help() -> Reply {
    let lines = [
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADDSLOTS <slot> [<slot> ...]",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "BUMPEPOCH",
        "CANCELSLOTMIGRATIONS",
        "    Cancel the atomic slot migration this node is exporting (the slots stay here).",
        "COUNT-FAILURE-REPORTS <node-id>",
        "COUNTKEYSINSLOT <slot>",
        "DELSLOTS <slot> [<slot> ...]",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "FAILOVER [FORCE|TAKEOVER]",
        "FORGET <node-id>",
        "FLUSHSLOTS",
        "GETKEYSINSLOT <slot> <count>",
        "GETSLOTMIGRATIONS",
        "    Atomic slot migrations, running and recently finished, with keys and bytes sent.",
        "INFO",
        "KEYSLOT <key>",
        "LINKS",
        "MEET <ip> <port> [<bus-port>]",
        "MIGRATESLOTS SLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...] NODE <node-id>",
        "    Move the slots and their keys to the primary <node-id> in one atomic hand-over.",
        "MYID",
        "NODES",
        "REPLICATE <node-id>",
        "RESET [HARD|SOFT]",
        "SET-CONFIG-EPOCH <epoch>",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "REPLICAS <node-id>",
        "SAVECONFIG",
        "SHARDS",
        "SLOTS",
        "HELP",
    ];
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
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

/// CLUSTER LINKS — Redis 7.0's format: one map per bus link, both the links we opened
/// ("to") and those peers opened to us ("from"), each naming the peer node.
fn links(ctx: &mut Ctx) -> Reply {
    let Some(driver) = ctx.store.cluster.as_deref() else {
        return Reply::Array(Vec::new());
    };
    let field = |k: &str| Reply::bulk(k.as_bytes());
    Reply::Array(
        driver
            .links
            .list()
            .iter()
            .map(|l| {
                let (direction, events): (&[u8], &[u8]) = if l.outgoing {
                    (b"to", b"rw")
                } else {
                    (b"from", b"r")
                };
                Reply::Map(vec![
                    (field("direction"), Reply::bulk(direction)),
                    (field("node"), Reply::bulk_string(l.node.as_string())),
                    (field("create-time"), Reply::Int(l.created_ms as i64)),
                    (field("events"), Reply::bulk(events)),
                    (field("send-buffer-allocated"), Reply::Int(0)),
                    (field("send-buffer-used"), Reply::Int(0)),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand `cluster` serves is in Redis 7.0's table or named as rubra's own,
    /// so the dispatcher's unknown-subcommand check refuses none of them; and none of
    /// rubra's own is in the table.
    #[test]
    fn served_subcommands_are_the_catalogs_and_rubras_own() {
        let cmd = crate::cmd::lookup(b"cluster").expect("cluster command");
        for (sub, arity) in SUBCOMMANDS {
            let mut args = vec![Bytes::from_static(b"cluster"), Bytes::from(sub.to_string())];
            args.resize(arity.unsigned_abs() as usize, Bytes::from_static(b"x"));
            assert_eq!(crate::acl::subcommand_fault(cmd, &args), None, "{sub}");
            let upper = Bytes::from(sub.to_ascii_uppercase());
            let in_catalog = crate::acl::resolve(cmd, &[args[0].clone(), upper])
                .is_some_and(|i| crate::acl::rules::is_sub(&crate::acl::catalog::SPECS[i]));
            assert_ne!(in_catalog, BEYOND_CATALOG.contains(sub), "{sub}");
        }
        let unknown = [
            Bytes::from_static(b"cluster"),
            Bytes::from_static(b"nosuch"),
        ];
        assert_eq!(
            crate::acl::subcommand_fault(cmd, &unknown),
            Some(crate::acl::SubcommandFault::Unknown)
        );
    }
}

//! Consumer groups: XGROUP and XREADGROUP (XACK/XPENDING/XCLAIM in pending.rs, XINFO in
//! xinfo.rs), with Redis 7.0 replies and errors.
//!
//! Propagation follows Redis's: a delivery by XREADGROUP or a claim goes out as
//! `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID id`, which sets
//! the pending entry exactly (owner, time, count) on the replica, and a moved group cursor as
//! `XGROUP SETID key group id ENTRIESREAD n`, sent (as Redis 7.0 does) only for a NOACK
//! read: otherwise the XCLAIMs' LASTID moves the cursor. A consumer that XREADGROUP creates
//! goes out as XGROUP CREATECONSUMER only with NOACK too (no XCLAIM creates it then); a
//! consumer a history read creates is not propagated at all, exactly as in Redis.

use super::xinfo::checked_subcommand;
use super::{
    bulk, entries_reply, entry_reply, id_reply, parse_id, parse_id_with, parse_read, read_reply,
    serving_retry, IdRules, S,
};
use crate::cmd::args::{self, is};
use crate::cmd::err::echo;
use crate::cmd::{err, CmdResult, Ctx};
use bytes::Bytes;
use rubra_keyspace::stream::{ConsumerGroup, ENTRIES_READ_UNKNOWN};
use rubra_keyspace::{Stream, StreamId};
use rubra_resp::Reply;

pub(super) fn nogroup_key(key: &[u8], group: &[u8]) -> Reply {
    echo(&[
        b"NOGROUP No such key '",
        key,
        b"' or consumer group '",
        group,
        b"'",
    ])
}

pub(super) fn nogroup_for_key(group: &[u8], key: &[u8]) -> Reply {
    echo(&[
        b"NOGROUP No such consumer group '",
        group,
        b"' for key name '",
        key,
        b"'",
    ])
}

pub(super) fn sub_syntax(sub: &[u8], cmd: &str) -> Reply {
    echo(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        sub,
        b"'. Try ",
        cmd.as_bytes(),
        b" HELP.",
    ])
}

pub(super) fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

pub(super) use crate::repl::stream_forms::{setid_prop, xclaim_prop};

// ---------------------------------------------------------------------------------------
// XREADGROUP

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key ... id ...
pub(super) fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.touches_nothing();
    let r = parse_read(args, true, crate::script::from_script(ctx.store))?;
    let Some((group, consumer)) = r.group.clone() else {
        return Err(Reply::err("ERR Missing GROUP option for XREADGROUP"));
    };
    let keys: Vec<Bytes> = args[r.streams..r.streams + r.nkeys].to_vec();
    let retry = serving_retry(ctx);
    let mut ids = Vec::with_capacity(r.nkeys);
    for (k, key) in keys.iter().enumerate() {
        let arg = &args[r.streams + r.nkeys + k];
        let s = match ctx.read_as::<S>(key) {
            Ok(s) => s,
            Err(_) if retry => None,
            Err(e) => return Err(e),
        };
        let has_group = s.is_some_and(|s| s.groups.contains_key(&group));
        if !has_group {
            return Err(if retry && ctx.read_as::<S>(key).ok().flatten().is_none() {
                Reply::err("UNBLOCKED the stream key no longer exists")
            } else if retry {
                Reply::err("NOGROUP the consumer group this client was blocked on no longer exists")
            } else {
                echo(&[
                    b"NOGROUP No such key '",
                    key,
                    b"' or consumer group '",
                    &group,
                    b"' in XREADGROUP with GROUP option",
                ])
            });
        }
        if arg.as_ref() == b"$" {
            return Err(Reply::err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        } else if arg.as_ref() == b">" {
            ids.push(StreamId::MAX);
        } else {
            ids.push(parse_id(arg)?);
        }
    }
    let count = if retry && r.count == 0 { 1000 } else { r.count };
    let now = ctx.now_ms;
    let mut props = Vec::new();
    let mut out = Vec::new();
    let mut created = Vec::new();
    // Redis looks each key up again to serve it: another access.
    ctx.separate_lookup();
    for k in ctx.key_order(&keys) {
        if retry && ctx.woken_by_other_key(&keys[k]) {
            continue;
        }
        let key = keys[k].clone();
        let Ok(Some(s)) = ctx.write_as::<S>(&key) else {
            continue;
        };
        let history = ids[k] != StreamId::MAX;
        let (empty, top) = (s.is_empty(), s.last_entry_id());
        let Some(g) = s.groups.get_mut(&group) else {
            continue;
        };
        if !history && (empty || top <= g.last_id) {
            continue;
        }
        let new_consumer = g.create_consumer(&consumer, now);
        if new_consumer {
            created.push(key.clone());
        }
        if new_consumer && r.noack {
            props.push(vec![
                bulk("XGROUP"),
                bulk("CREATECONSUMER"),
                key.clone(),
                group.clone(),
                consumer.clone(),
            ]);
        }
        if let Some(c) = g.consumers.get_mut(&consumer) {
            c.seen_time = now;
        }
        let reply = if history {
            read_history(s, &group, &consumer, ids[k], count, now)
        } else {
            read_new(s, &key, &group, &consumer, count, r.noack, now, &mut props)
        };
        out.push((key, reply));
    }
    let db = ctx.client.db;
    for key in created {
        crate::exec::notify::publish(
            ctx.store,
            crate::exec::notify::STREAM,
            "xgroup-createconsumer",
            &key,
            db,
        );
    }
    if !out.is_empty() {
        let n = out.len() as u64;
        ctx.propagate = Some(props);
        ctx.dirty(n);
        return Ok(read_reply(ctx, out));
    }
    let Some(timeout) = r.block else {
        return Ok(Reply::NilArray);
    };
    ctx.block_on(keys, timeout, Reply::NilArray)
}

/// Entries of the consumer's own PEL after `after` (deleted entries come as [id, nil]).
pub(super) fn read_history(
    s: &mut Stream,
    group: &Bytes,
    consumer: &Bytes,
    after: StreamId,
    count: usize,
    now: u64,
) -> Reply {
    let Some(start) = after.incr() else {
        return Reply::Array(Vec::new());
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let ids: Vec<StreamId> = s.groups[group].consumers[consumer]
        .pel
        .range(start..)
        .take(limit)
        .copied()
        .collect();
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        match s.get(&id) {
            Some(fields) => {
                items.push(entry_reply(id, fields));
                if let Some(p) = s.groups.get_mut(group).and_then(|g| g.pel.get_mut(&id)) {
                    p.delivery_time = now;
                    p.delivery_count += 1;
                }
            }
            None => items.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
        }
    }
    Reply::Array(items)
}

/// New entries for the group (">"): moves the group cursor and fills the PELs.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_new(
    s: &mut Stream,
    key: &Bytes,
    group: &Bytes,
    consumer: &Bytes,
    count: usize,
    noack: bool,
    now: u64,
    props: &mut Vec<Vec<Bytes>>,
) -> Reply {
    let start = match s.groups[group].last_id.incr() {
        Some(id) => id,
        None => return Reply::Array(Vec::new()),
    };
    let items: Vec<(StreamId, rubra_keyspace::stream::Fields)> = s
        .range(start, StreamId::MAX, count, false)
        .into_iter()
        .map(|(id, f)| (id, f.clone()))
        .collect();
    for (id, _) in &items {
        s.advance_group(group, *id);
        if noack {
            continue;
        }
        let Some(g) = s.groups.get_mut(group) else {
            continue;
        };
        let p = g.assign(*id, consumer, now);
        p.delivery_time = now;
        p.delivery_count = 1;
        props.push(xclaim_prop(key, group, g, *id, consumer, now, 1));
    }
    if noack && !items.is_empty() {
        if let Some(g) = s.groups.get(group) {
            props.push(setid_prop(key, group, g));
        }
    }
    let refs: Vec<(StreamId, &rubra_keyspace::stream::Fields)> =
        items.iter().map(|(id, f)| (*id, f)).collect();
    entries_reply(&refs)
}

// ---------------------------------------------------------------------------------------
// XGROUP

pub(super) const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn entries_read_arg(a: &[u8]) -> Result<i64, Reply> {
    let n = args::int(a)?;
    if n < 0 && n != ENTRIES_READ_UNKNOWN {
        return Err(Reply::err(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...
pub(super) fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = checked_subcommand("xgroup", args, |sub, argc| match sub {
        b"create" | b"setid" => Some(argc >= 5),
        b"destroy" => Some(argc == 4),
        b"createconsumer" | b"delconsumer" => Some(argc == 5),
        b"help" => Some(argc == 2),
        _ => None,
    })?;
    let argc = args.len();
    if sub == b"help" {
        return Ok(help(XGROUP_HELP));
    }
    let key = args[2].clone();
    let name = args[3].clone();
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    if sub == b"create" {
        let mut i = 5;
        while i < argc {
            if is(&args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "entriesread") && i + 1 < argc {
                entries_read = entries_read_arg(&args[i + 1])?;
                i += 2;
            } else {
                return Err(sub_syntax(&args[1], "XGROUP"));
            }
        }
    }
    let exists = ctx.write_as::<S>(&key)?.is_some();
    // XGROUP changes group metadata only: Redis signals the key as modified (WATCH,
    // tracking, blocked readers) only when CREATE MKSTREAM made the stream.
    ctx.touches_nothing();
    if !mkstream {
        if !exists {
            return Err(Reply::err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        }
        let has_group = ctx
            .write_as::<S>(&key)?
            .is_some_and(|s| s.groups.contains_key(&name));
        if !has_group
            && matches!(
                sub.as_slice(),
                b"setid" | b"createconsumer" | b"delconsumer"
            )
        {
            return Err(nogroup_for_key(&name, &key));
        }
    }
    let now = ctx.now_ms;
    match sub.as_slice() {
        b"create" if argc <= 8 => {
            let last = ctx
                .write_as::<S>(&key)?
                .map_or(StreamId::ZERO, |s| s.last_id);
            let id = if args[4].as_ref() == b"$" {
                last
            } else {
                parse_id(&args[4])?
            };
            let s = ctx.write_or_create::<S>(&key)?;
            if s.groups.contains_key(&name) {
                return Err(Reply::err("BUSYGROUP Consumer Group name already exists"));
            }
            s.groups.insert(name, ConsumerGroup::new(id, entries_read));
            if !exists {
                ctx.touched_only(&key);
            }
            ctx.dirty(1);
            Ok(Reply::OK)
        }
        b"setid" if argc == 5 || argc == 7 => {
            if argc == 7 {
                if !is(&args[5], "entriesread") {
                    return Err(sub_syntax(&args[1], "XGROUP"));
                }
                entries_read = entries_read_arg(&args[6])?;
            }
            let Some(s) = ctx.write_as::<S>(&key)? else {
                return Err(err::NO_SUCH_KEY);
            };
            let id = if args[4].as_ref() == b"$" {
                s.last_id
            } else {
                let rules = IdRules {
                    strict: false,
                    missing_seq: 0,
                    seq_star: false,
                };
                parse_id_with(&args[4], rules)?.0
            };
            if let Some(g) = s.groups.get_mut(&name) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            // Redis 7.0 does not wake blocked readers on SETID (nothing is signalled, see
            // above): the next XADD serves them from the new position.
            ctx.dirty(1);
            Ok(Reply::OK)
        }
        b"destroy" => {
            let Some(s) = ctx.write_as::<S>(&key)? else {
                return Ok(Reply::Int(0));
            };
            if s.groups.remove(&name).is_some() {
                ctx.dirty(1);
                // Readers blocked on the group get their error (Redis signals the key as
                // ready, not as modified).
                let db = ctx.db_index();
                ctx.store.blocking.signal(db, &key);
                Ok(Reply::Int(1))
            } else {
                Ok(Reply::Int(0))
            }
        }
        b"createconsumer" => {
            let Some(s) = ctx.write_as::<S>(&key)? else {
                return Err(err::NO_SUCH_KEY);
            };
            let created = s
                .groups
                .get_mut(&name)
                .is_some_and(|g| g.create_consumer(&args[4], now));
            if created {
                ctx.dirty(1);
            }
            Ok(Reply::Int(created as i64))
        }
        b"delconsumer" => {
            let Some(s) = ctx.write_as::<S>(&key)? else {
                return Err(err::NO_SUCH_KEY);
            };
            let Some(g) = s.groups.get_mut(&name) else {
                return Ok(Reply::Int(0));
            };
            // A consumer that does not exist changes nothing (and nothing is propagated).
            if !g.consumers.contains_key(&args[4][..]) {
                return Ok(Reply::Int(0));
            }
            let pending = g.delete_consumer(&args[4]);
            ctx.dirty(1);
            Ok(Reply::Int(pending as i64))
        }
        _ => Err(sub_syntax(&args[1], "XGROUP")),
    }
}

// ---------------------------------------------------------------------------------------

//! Consumer groups: XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM and XINFO, with
//! Redis 7.0 replies and errors.
//!
//! Propagation follows Redis's: a delivery by XREADGROUP or a claim goes out as
//! `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID id`, which sets
//! the pending entry exactly (owner, time, count) on the replica, and a moved group cursor as
//! `XGROUP SETID key group id ENTRIESREAD n`. A consumer created by XREADGROUP goes out as
//! XGROUP CREATECONSUMER so that even a read that delivers nothing leaves replicas equal.

use super::{
    bulk, entries_reply, entry_reply, id_arg, id_reply, parse_bound, parse_id, parse_id_with,
    parse_read, read_reply, serving_retry, IdRules, S,
};
use crate::cmd::args::{self, is};
use crate::cmd::{err, CmdResult, Ctx};
use bytes::Bytes;
use rubra_keyspace::stream::{ConsumerGroup, ENTRIES_READ_UNKNOWN};
use rubra_keyspace::{Stream, StreamId};
use rubra_resp::Reply;

fn nogroup_key(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn nogroup_for_key(group: &[u8], key: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

fn sub_syntax(sub: &[u8], cmd: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd
    ))
}

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// The propagated form of one pending entry (streamPropagateXCLAIM).
fn xclaim_prop(
    key: &Bytes,
    group: &Bytes,
    g: &ConsumerGroup,
    id: StreamId,
    consumer: &Bytes,
    time: u64,
    count: u64,
) -> Vec<Bytes> {
    vec![
        bulk("XCLAIM"),
        key.clone(),
        group.clone(),
        consumer.clone(),
        bulk("0"),
        id_arg(id),
        bulk("TIME"),
        Bytes::from(time.to_string()),
        bulk("RETRYCOUNT"),
        Bytes::from(count.to_string()),
        bulk("FORCE"),
        bulk("JUSTID"),
        bulk("LASTID"),
        id_arg(g.last_id),
    ]
}

/// The propagated form of a group's cursor (streamPropagateGroupID).
fn setid_prop(key: &Bytes, group: &Bytes, g: &ConsumerGroup) -> Vec<Bytes> {
    vec![
        bulk("XGROUP"),
        bulk("SETID"),
        key.clone(),
        group.clone(),
        id_arg(g.last_id),
        bulk("ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]
}

// ---------------------------------------------------------------------------------------
// XREADGROUP

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key ... id ...
pub fn xreadgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_read(args, true)?;
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
                Reply::error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&group)
                ))
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
        if g.create_consumer(&consumer, now) {
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
fn read_history(
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
fn read_new(
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
    if !items.is_empty() {
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

const XGROUP_HELP: &[&str] = &[
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

fn entries_read_arg(a: &[u8]) -> Result<i64, Reply> {
    let n = args::int(a)?;
    if n < 0 && n != ENTRIES_READ_UNKNOWN {
        return Err(Reply::err(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP ...
pub fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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
            ctx.dirty(1);
            Ok(Reply::OK)
        }
        b"destroy" => {
            let Some(s) = ctx.write_as::<S>(&key)? else {
                return Ok(Reply::Int(0));
            };
            if s.groups.remove(&name).is_some() {
                ctx.dirty(1);
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
            let pending = s
                .groups
                .get_mut(&name)
                .map_or(0, |g| g.delete_consumer(&args[4]));
            ctx.dirty(1);
            Ok(Reply::Int(pending as i64))
        }
        _ => Err(sub_syntax(&args[1], "XGROUP")),
    }
}

// ---------------------------------------------------------------------------------------
// XACK, XPENDING

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let has_group = match ctx.write_as::<S>(&args[1])? {
        Some(s) => s.groups.contains_key(&args[2]),
        None => false,
    };
    if !has_group {
        return Ok(Reply::Int(0));
    }
    let ids = args[3..]
        .iter()
        .map(|a| parse_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(g) = ctx
        .write_as::<S>(&args[1])?
        .and_then(|s| s.groups.get_mut(&args[2]))
    else {
        return Ok(Reply::Int(0));
    };
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    if acked > 0 {
        ctx.dirty(acked as u64);
    }
    Ok(Reply::Int(acked as i64))
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(err::SYNTAX);
    }
    let mut range = None;
    let mut consumer = None;
    let mut minidle = 0i64;
    if argc >= 6 {
        let mut at = 3;
        if is(&args[3], "idle") {
            minidle = args::int(&args[4])?;
            if argc < 8 {
                return Err(err::SYNTAX);
            }
            at += 2;
        }
        let count = args::int(&args[at + 2])?.max(0) as usize;
        let start = parse_bound(&args[at], true)?;
        let end = parse_bound(&args[at + 1], false)?;
        if at + 3 < argc {
            consumer = Some(args[at + 3].clone());
        }
        range = Some((start, end, count));
    }
    let now = ctx.now_ms;
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Err(nogroup_key(&args[1], &args[2]));
    };
    let Some(g) = s.groups.get(&args[2]) else {
        return Err(nogroup_key(&args[1], &args[2]));
    };
    if justinfo {
        let (Some(first), Some(last)) = (g.pel.keys().next(), g.pel.keys().next_back()) else {
            return Ok(Reply::Array(vec![
                Reply::Int(0),
                Reply::Nil,
                Reply::Nil,
                Reply::NilArray,
            ]));
        };
        let per_consumer = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(n, c)| {
                Reply::Array(vec![
                    Reply::Bulk(n.clone()),
                    Reply::bulk_string(c.pel.len().to_string()),
                ])
            })
            .collect();
        return Ok(Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(*first),
            id_reply(*last),
            Reply::Array(per_consumer),
        ]));
    }
    let Some((start, end, mut count)) = range else {
        return Err(err::SYNTAX);
    };
    let ids: Vec<StreamId> = match &consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) if start <= end => c.pel.range(start..=end).copied().collect(),
            Some(_) => Vec::new(),
            None => return Ok(Reply::Array(Vec::new())),
        },
        None if start <= end => g.pel.range(start..=end).map(|(k, _)| *k).collect(),
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        if count == 0 {
            break;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        let idle = now.saturating_sub(p.delivery_time) as i64;
        if minidle != 0 && idle < minidle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            Reply::Bulk(p.consumer.clone()),
            Reply::Int(idle),
            Reply::Int(p.delivery_count as i64),
        ]));
    }
    Ok(Reply::Array(out))
}

// ---------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (args[1].clone(), args[2].clone(), args[3].clone());
    let has_group = match ctx.write_as::<S>(&key)? {
        Some(s) => s.groups.contains_key(&group),
        None => false,
    };
    if !has_group {
        return Err(nogroup_key(&key, &group));
    }
    let minidle = rubra_keyspace::value::parse_i64_strict(&args[4])
        .ok_or(Reply::err("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_id(&args[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let (mut force, mut justid) = (false, false);
    let mut retrycount: Option<u64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = StreamId::ZERO;
    let opt_int = |a: &[u8], what: &str| {
        rubra_keyspace::value::parse_i64_strict(a)
            .ok_or_else(|| Reply::error(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "force") {
            force = true;
        } else if is(a, "justid") {
            justid = true;
        } else if is(a, "idle") && more {
            j += 1;
            delivery = Some(now as i64 - opt_int(&args[j], "IDLE")?);
        } else if is(a, "time") && more {
            j += 1;
            delivery = Some(opt_int(&args[j], "TIME")?);
        } else if is(a, "retrycount") && more {
            j += 1;
            let n = opt_int(&args[j], "RETRYCOUNT")?;
            retrycount = (n >= 0).then_some(n as u64);
        } else if is(a, "lastid") && more {
            j += 1;
            last_id = parse_id(&args[j])?;
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(a)
            )));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    let Some(s) = ctx.write_as::<S>(&key)? else {
        return Err(nogroup_key(&key, &group));
    };
    let mut props = Vec::new();
    let mut propagate_last_id = false;
    let mut dirty = 0u64;
    let mut out = Vec::new();
    if let Some(g) = s.groups.get_mut(&group) {
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last_id = true;
        }
    }
    for id in ids {
        let exists = s.get(&id).is_some();
        let Some(g) = s.groups.get_mut(&group) else {
            break;
        };
        let pending = g.pel.get(&id).cloned();
        if !exists {
            if let Some(p) = pending {
                props.push(xclaim_prop(
                    &key,
                    &group,
                    g,
                    id,
                    &p.consumer,
                    p.delivery_time,
                    p.delivery_count,
                ));
                propagate_last_id = false;
                g.ack(id);
                dirty += 1;
            }
            continue;
        }
        if pending.is_none() && !force {
            continue;
        }
        if let Some(p) = &pending {
            if minidle > 0 && now.saturating_sub(p.delivery_time) < minidle {
                continue;
            }
        }
        let p = g.assign(id, &consumer, now);
        p.delivery_time = delivery;
        match retrycount {
            Some(n) => p.delivery_count = n,
            None if !justid => p.delivery_count += 1,
            None => {}
        }
        let (t, c) = (p.delivery_time, p.delivery_count);
        if let Some(cons) = g.consumers.get_mut(&consumer) {
            cons.seen_time = now;
        }
        props.push(xclaim_prop(&key, &group, g, id, &consumer, t, c));
        propagate_last_id = false;
        dirty += 1;
        if justid {
            out.push(id_reply(id));
        } else if let Some(fields) = s.get(&id) {
            out.push(entry_reply(id, fields));
        }
    }
    if propagate_last_id {
        if let Some(g) = s.groups.get(&group) {
            props.push(setid_prop(&key, &group, g));
        }
        dirty += 1;
    }
    ctx.propagate = Some(props);
    ctx.dirty(dirty);
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, group, consumer) = (args[1].clone(), args[2].clone(), args[3].clone());
    let minidle = rubra_keyspace::value::parse_i64_strict(&args[4])
        .ok_or(Reply::err(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0) as u64;
    let start = parse_bound(&args[5], true)?;
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "count") && more {
            let max = (i64::MAX / 16) as u64;
            count = match rubra_keyspace::value::parse_i64_strict(&args[j + 1]) {
                Some(n) if n >= 1 && (n as u64) <= max => n as u64,
                _ => return Err(Reply::err("ERR COUNT must be > 0")),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    let now = ctx.now_ms;
    let Some(s) = ctx.write_as::<S>(&key)? else {
        return Err(nogroup_key(&key, &group));
    };
    if !s.groups.contains_key(&group) {
        return Err(nogroup_key(&key, &group));
    }
    let mut attempts = count.saturating_mul(10);
    let candidates: Vec<StreamId> = s.groups[&group]
        .pel
        .range(start..)
        .map(|(k, _)| *k)
        .collect();
    let mut props = Vec::new();
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut dirty = 0u64;
    let mut next = 0usize;
    while attempts > 0 && count > 0 && next < candidates.len() {
        attempts -= 1;
        let id = candidates[next];
        next += 1;
        let exists = s.get(&id).is_some();
        let Some(g) = s.groups.get_mut(&group) else {
            break;
        };
        let Some(p) = g.pel.get(&id).cloned() else {
            continue;
        };
        if !exists {
            props.push(xclaim_prop(
                &key,
                &group,
                g,
                id,
                &p.consumer,
                p.delivery_time,
                p.delivery_count,
            ));
            g.ack(id);
            deleted.push(id_reply(id));
            count -= 1;
            dirty += 1;
            continue;
        }
        if minidle > 0 && now.saturating_sub(p.delivery_time) < minidle {
            continue;
        }
        let p = g.assign(id, &consumer, now);
        p.delivery_time = now;
        if !justid {
            p.delivery_count += 1;
        }
        let c = p.delivery_count;
        if let Some(cons) = g.consumers.get_mut(&consumer) {
            cons.seen_time = now;
        }
        props.push(xclaim_prop(&key, &group, g, id, &consumer, now, c));
        dirty += 1;
        count -= 1;
        if justid {
            out.push(id_reply(id));
        } else if let Some(fields) = s.get(&id) {
            out.push(entry_reply(id, fields));
        }
    }
    // As Redis: the cursor is the PEL entry after the last one examined, or 0-0.
    let cursor = candidates.get(next).copied().unwrap_or(StreamId::ZERO);
    ctx.propagate = Some(props);
    ctx.dirty(dirty);
    Ok(Reply::Array(vec![
        id_reply(cursor),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}

// ---------------------------------------------------------------------------------------
// XINFO

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn s(text: &'static str) -> Reply {
    Reply::Bulk(bulk(text))
}

fn opt_int(v: Option<i64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Int)
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = checked_subcommand("xinfo", args, |sub, argc| match sub {
        b"stream" => Some(argc >= 3),
        b"groups" => Some(argc == 3),
        b"consumers" => Some(argc == 4),
        b"help" => Some(argc == 2),
        _ => None,
    })?;
    if sub == b"help" {
        return Ok(help(XINFO_HELP));
    }
    let now = ctx.now_ms;
    let Some(st) = ctx.read_as::<S>(&args[2])? else {
        return Err(err::NO_SUCH_KEY);
    };
    match sub.as_slice() {
        b"consumers" => {
            let Some(g) = st.groups.get(&args[3]) else {
                return Err(nogroup_for_key(&args[3], &args[2]));
            };
            Ok(Reply::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        Reply::Map(vec![
                            (s("name"), Reply::Bulk(name.clone())),
                            (s("pending"), Reply::Int(c.pel.len() as i64)),
                            (
                                s("idle"),
                                Reply::Int(now.saturating_sub(c.seen_time) as i64),
                            ),
                        ])
                    })
                    .collect(),
            ))
        }
        b"groups" => Ok(Reply::Array(
            st.groups
                .iter()
                .map(|(name, g)| {
                    Reply::Map(vec![
                        (s("name"), Reply::Bulk(name.clone())),
                        (s("consumers"), Reply::Int(g.consumers.len() as i64)),
                        (s("pending"), Reply::Int(g.pel.len() as i64)),
                        (s("last-delivered-id"), id_reply(g.last_id)),
                        (s("entries-read"), opt_int(entries_read(g))),
                        (s("lag"), opt_int(st.group_lag(g))),
                    ])
                })
                .collect(),
        )),
        _ => stream_info(st, &args[1], &args[3..]),
    }
}

fn entries_read(g: &ConsumerGroup) -> Option<i64> {
    (g.entries_read != ENTRIES_READ_UNKNOWN).then_some(g.entries_read)
}

fn stream_info(st: &Stream, sub: &[u8], opts: &[Bytes]) -> CmdResult {
    let mut count: usize = 10;
    let full = !opts.is_empty();
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(sub_syntax(sub, "XINFO"));
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(sub_syntax(sub, "XINFO"));
            }
            let n = args::int(&opts[2])?;
            count = if n < 0 { 10 } else { n as usize };
        }
    }
    let mut m = vec![
        (s("length"), Reply::Int(st.len() as i64)),
        (s("radix-tree-keys"), Reply::Int(st.node_count() as i64)),
        (
            s("radix-tree-nodes"),
            Reply::Int(st.rax_node_count() as i64),
        ),
        (s("last-generated-id"), id_reply(st.last_id)),
        (s("max-deleted-entry-id"), id_reply(st.max_deleted_entry_id)),
        (s("entries-added"), Reply::Int(st.entries_added as i64)),
        (s("recorded-first-entry-id"), id_reply(st.first_id())),
    ];
    if !full {
        m.push((s("groups"), Reply::Int(st.groups.len() as i64)));
        let first = st
            .iter()
            .next()
            .map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        let last = st
            .iter()
            .next_back()
            .map_or(Reply::Nil, |(id, f)| entry_reply(*id, f));
        m.push((s("first-entry"), first));
        m.push((s("last-entry"), last));
        return Ok(Reply::Map(m));
    }
    let limit = if count == 0 { usize::MAX } else { count };
    m.push((
        s("entries"),
        entries_reply(&st.range(StreamId::ZERO, StreamId::MAX, count, false)),
    ));
    let groups = st
        .groups
        .iter()
        .map(|(name, g)| {
            let pel = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Int(p.delivery_time as i64),
                        Reply::Int(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let own = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| {
                            let p = g.pel.get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(p.delivery_time as i64),
                                Reply::Int(p.delivery_count as i64),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        (s("name"), Reply::Bulk(cname.clone())),
                        (s("seen-time"), Reply::Int(c.seen_time as i64)),
                        (s("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (s("pending"), Reply::Array(own)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (s("name"), Reply::Bulk(name.clone())),
                (s("last-delivered-id"), id_reply(g.last_id)),
                (s("entries-read"), opt_int(entries_read(g))),
                (s("lag"), opt_int(st.group_lag(g))),
                (s("pel-count"), Reply::Int(g.pel.len() as i64)),
                (s("pending"), Reply::Array(pel)),
                (s("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((s("groups"), Reply::Array(groups)));
    Ok(Reply::Map(m))
}

// ---------------------------------------------------------------------------------------
// AOF rewrite

/// The group part of a stream's AOF rewrite: XGROUP CREATE with ENTRIESREAD, the PEL as
/// XCLAIM ... JUSTID FORCE, and consumers that own nothing as XGROUP CREATECONSUMER.
pub fn rebuild_group_commands(key: &Bytes, st: &Stream) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    for (name, g) in &st.groups {
        out.push(vec![
            bulk("XGROUP"),
            bulk("CREATE"),
            key.clone(),
            name.clone(),
            id_arg(g.last_id),
            bulk("ENTRIESREAD"),
            Bytes::from(g.entries_read.to_string()),
        ]);
        for (id, p) in &g.pel {
            out.push(xclaim_prop(
                key,
                name,
                g,
                *id,
                &p.consumer,
                p.delivery_time,
                p.delivery_count,
            ));
        }
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                out.push(vec![
                    bulk("XGROUP"),
                    bulk("CREATECONSUMER"),
                    key.clone(),
                    name.clone(),
                    cname.clone(),
                ]);
            }
        }
    }
    out
}

/// The lowercase subcommand of XGROUP/XINFO, checked in Redis's order: an unknown name
/// first, then "wrong number of arguments for 'cmd|sub'". `arity_ok` says whether the
/// argument count fits the subcommand, or None for a name it does not know.
fn checked_subcommand(
    cmd: &str,
    args: &[Bytes],
    arity_ok: fn(&[u8], usize) -> Option<bool>,
) -> Result<Vec<u8>, Reply> {
    let sub = args[1].to_ascii_lowercase();
    match arity_ok(&sub, args.len()) {
        None => Err(err::unknown_subcommand(cmd, &args[1])),
        Some(false) => Err(err::wrong_args(&format!(
            "{cmd}|{}",
            String::from_utf8_lossy(&sub)
        ))),
        Some(true) => Ok(sub),
    }
}

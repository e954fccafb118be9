//! Pending entries: XACK, XPENDING, and ownership changes by XCLAIM and XAUTOCLAIM.

use super::groups::*;
use super::{entry_reply, id_reply, parse_bound, parse_id, S};
use crate::cmd::args::{self, is};
use crate::cmd::{err, CmdResult, Ctx};
use bytes::Bytes;
use rubra_keyspace::StreamId;
use rubra_resp::Reply;

// XACK, XPENDING

/// XACK key group id [id ...]
pub(super) fn xack(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.touches_nothing();
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
pub(super) fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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

fn has_consumer(s: &S, group: &Bytes, consumer: &Bytes) -> bool {
    s.groups
        .get(group)
        .is_some_and(|g| g.consumers.contains_key(consumer))
}

/// XCLAIM and XAUTOCLAIM create their consumer when they first claim an entry; Redis
/// publishes that as `xgroup-createconsumer`.
fn consumer_created(ctx: &mut Ctx, created: bool, key: &Bytes) {
    if created {
        let db = ctx.client.db;
        crate::exec::notify::publish(
            ctx.store,
            crate::exec::notify::STREAM,
            "xgroup-createconsumer",
            key,
            db,
        );
    }
}

// ---------------------------------------------------------------------------------------
// XCLAIM, XAUTOCLAIM

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-ms]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID id]
pub(super) fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.touches_nothing();
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
            return Err(crate::cmd::err::echo(&[
                b"ERR Unrecognized XCLAIM option '",
                a,
                b"'",
            ]));
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
    let had_consumer = has_consumer(s, &group, &consumer);
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
        let forced = pending.is_none();
        let p = g.assign(id, &consumer, now);
        if forced {
            // FORCE makes the entry as a first delivery would (Redis's streamCreateNACK:
            // one delivery), before the count is incremented like any claim.
            p.delivery_count = 1;
        }
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
    let created = !had_consumer && has_consumer(s, &group, &consumer);
    ctx.propagate = Some(props);
    ctx.dirty(dirty);
    consumer_created(ctx, created, &key);
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub(super) fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.touches_nothing();
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
    let had_consumer = has_consumer(s, &group, &consumer);
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
    let created = !had_consumer && has_consumer(s, &group, &consumer);
    ctx.propagate = Some(props);
    ctx.dirty(dirty);
    consumer_created(ctx, created, &key);
    Ok(Reply::Array(vec![
        id_reply(cursor),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}

// ---------------------------------------------------------------------------------------

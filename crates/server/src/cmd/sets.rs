//! Set commands (SADD, SPOP, SINTER, SINTERCARD, SSCAN ...) with Redis 7.0 replies: whole
//! sets are RESP3 set replies, SRANDMEMBER with a count is an array (as in Redis 7.0).

use super::args;
use super::flags::*;
use super::hashes::{
    parse_scan_args, random_indexes, scan_cursor, scan_match, scan_positions, scan_reply,
};
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rand::Rng;
use rubra_keyspace::value::SetValue;
use rubra_keyspace::Value;
use rubra_resp::Reply;

type S = SetValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "set", sadd),
    Command::new("srem", -3, WRITE | FAST, (1, 1, 1), "set", srem),
    Command::new("scard", 2, READONLY | FAST, (1, 1, 1), "set", scard),
    Command::new("sismember", 3, READONLY | FAST, (1, 1, 1), "set", sismember),
    Command::new("smismember", -3, READONLY | FAST, (1, 1, 1), "set", smismember),
    Command::new("smembers", 2, READONLY, (1, 1, 1), "set", smembers),
    Command::new("srandmember", -2, READONLY, (1, 1, 1), "set", srandmember),
    Command::new("spop", -2, WRITE | FAST, (1, 1, 1), "set", spop),
    Command::new("smove", 4, WRITE | FAST, (1, 2, 1), "set", smove),
    Command::new("sinter", -2, READONLY, (1, -1, 1), "set", sinter),
    Command::new("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", sinterstore),
    Command::new("sintercard", -3, READONLY, (0, 0, 0), "set", sintercard).with_keys(sintercard_keys),
    Command::new("sunion", -2, READONLY, (1, -1, 1), "set", sunion),
    Command::new("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", sunionstore),
    Command::new("sdiff", -2, READONLY, (1, -1, 1), "set", sdiff),
    Command::new("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", sdiffstore),
    Command::new("sscan", -3, READONLY, (1, 1, 1), "set", sscan),
];

/// Key positions of `SINTERCARD numkeys key [key ...] ...`.
fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    args::numkeys_positions(args, 1)
}

/// Every member as a reply (an intset lists them in numeric order, as Redis's does).
fn members(set: &SetValue) -> Vec<Reply> {
    set.iter().map(|m| Reply::Bulk(m.to_bytes())).collect()
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = ctx.write_or_create::<S>(&args[1])?;
    let mut added = 0;
    for m in &args[2..] {
        if s.insert_ref(m) {
            added += 1;
        }
    }
    if added > 0 {
        ctx.dirty(added as u64);
    }
    Ok(Reply::Int(added))
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(s) = ctx.write_as::<S>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in &args[2..] {
        if s.remove(m) {
            removed += 1;
        }
    }
    if removed > 0 {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(removed as u64);
    }
    Ok(Reply::Int(removed))
}

/// SCARD key
fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<S>(&args[1])?.map_or(0, |s| s.len() as i64),
    ))
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<S>(&args[1])?
            .is_some_and(|s| s.contains(&args[2])) as i64,
    ))
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let s = ctx.read_as::<S>(&args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::Int(s.is_some_and(|s| s.contains(m)) as i64))
            .collect(),
    ))
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Set(
        ctx.read_as::<S>(&args[1])?.map_or_else(Vec::new, members),
    ))
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        let Some(s) = ctx.read_as::<S>(&args[1])? else {
            return Ok(Reply::Nil);
        };
        if s.is_empty() {
            return Ok(Reply::Nil);
        }
        let i = rand::thread_rng().gen_range(0..s.len());
        return Ok(s
            .get_index(i)
            .map_or(Reply::Nil, |m| Reply::Bulk(m.to_bytes())));
    }
    if args.len() > 3 {
        return Err(err::SYNTAX);
    }
    let count = args::int(&args[2])?;
    if count == i64::MIN {
        return Err(Reply::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = random_indexes(s.len(), count);
    Ok(Reply::Array(
        picks
            .into_iter()
            .filter_map(|i| s.get_index(i).map(|m| Reply::Bulk(m.to_bytes())))
            .collect(),
    ))
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(err::SYNTAX);
    }
    let count = if args.len() == 3 {
        match args::int(&args[2]) {
            Ok(n) if n >= 0 => Some(n as u64),
            _ => return Err(err::VALUE_POSITIVE),
        }
    } else {
        None
    };
    let Some(s) = ctx.write_as::<S>(&args[1])? else {
        return Ok(match count {
            None => Reply::Nil,
            Some(_) => Reply::Set(Vec::new()),
        });
    };
    let mut rng = rand::thread_rng();
    let mut popped = Vec::new();
    let n = count.unwrap_or(1).min(s.len() as u64);
    for _ in 0..n {
        if s.is_empty() {
            break;
        }
        let i = rng.gen_range(0..s.len());
        if let Some(m) = s.swap_remove_index(i) {
            popped.push(m);
        }
    }
    let emptied = s.is_empty();
    if !popped.is_empty() {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(popped.len() as u64);
        // Replicas and the AOF must remove the same members, not pop their own (Redis
        // propagates SREM in batches, or DEL when the whole set went).
        ctx.propagate = Some(if emptied && count.is_some() {
            vec![vec![Bytes::from_static(b"DEL"), args[1].clone()]]
        } else {
            popped
                .chunks(1024)
                .map(|batch| {
                    let mut c = vec![Bytes::from_static(b"SREM"), args[1].clone()];
                    c.extend(batch.iter().cloned());
                    c
                })
                .collect()
        });
    }
    Ok(match count {
        None => popped.pop().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Set(popped.into_iter().map(Reply::Bulk).collect()),
    })
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    // As Redis: both keys are looked up first (an expired one is deleted, and its DEL
    // propagated, whatever the answer: WRONGTYPE included), then a missing source answers
    // 0 before any type is checked.
    let now = ctx.now_ms;
    let src_exists = ctx.db().contains(src, now);
    ctx.db().contains(dst, now);
    if !src_exists {
        return Ok(Reply::Int(0));
    }
    ctx.check_type::<S>(src)?;
    ctx.check_type::<S>(dst)?;
    if src == dst {
        let has = ctx.read_as::<S>(src)?.is_some_and(|s| s.contains(member));
        return Ok(Reply::Int(has as i64));
    }
    let removed = ctx.write_as::<S>(src)?.is_some_and(|s| s.remove(member));
    if !removed {
        return Ok(Reply::Int(0));
    }
    ctx.remove_if_empty(src);
    if !ctx.write_or_create::<S>(dst)?.insert(member.clone()) {
        // The destination already held the member: only the source changed.
        ctx.touched = Some(vec![src.clone()]);
    }
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// Which set algebra to run.
#[derive(Clone, Copy)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes the set operation over `keys`, stopping early once `limit` members are found
/// (0 = no limit; only meaningful for intersections). Every key's type is checked first
/// (WRONGTYPE even if an earlier key is missing, as Redis does); then the sets are borrowed
/// together read-only, so no input set is copied.
fn compute(ctx: &mut Ctx, keys: &[Bytes], op: Op, limit: usize) -> Result<SetValue, Reply> {
    for k in keys {
        ctx.read_as::<S>(k)?;
    }
    let now = ctx.now_ms;
    let db = &ctx.store.dbs[ctx.client.db];
    let sets: Vec<Option<&SetValue>> = keys
        .iter()
        .map(|k| match db.peek(k, now).map(|e| &e.value) {
            Some(Value::Set(s)) => Some(s),
            _ => None,
        })
        .collect();
    let mut result = SetValue::default();
    match op {
        Op::Inter => {
            if sets.iter().any(|s| s.is_none()) {
                return Ok(result);
            }
            let mut sets: Vec<&SetValue> = sets.into_iter().flatten().collect();
            sets.sort_by_key(|s| s.len());
            let Some((first, rest)) = sets.split_first() else {
                return Ok(result);
            };
            for m in first.iter() {
                if rest.iter().all(|s| s.contains(&m)) {
                    result.insert(m.to_bytes());
                    if limit > 0 && result.len() >= limit {
                        break;
                    }
                }
            }
        }
        Op::Union => {
            for s in sets.into_iter().flatten() {
                for m in s.iter() {
                    result.insert(m.to_bytes());
                }
            }
        }
        Op::Diff => {
            let mut it = sets.into_iter();
            let Some(Some(first)) = it.next() else {
                return Ok(result);
            };
            let others: Vec<&SetValue> = it.flatten().collect();
            for m in first.iter() {
                if !others.iter().any(|s| s.contains(&m)) {
                    result.insert(m.to_bytes());
                }
            }
        }
    }
    Ok(result)
}

fn read_op(ctx: &mut Ctx, args: &[Bytes], op: Op) -> CmdResult {
    let result = compute(ctx, &args[1..], op, 0)?;
    Ok(Reply::Set(members(&result)))
}

/// Stores the result of `op` over args[2..] in args[1]; an empty result deletes it.
fn store_op(ctx: &mut Ctx, args: &[Bytes], op: Op) -> CmdResult {
    let result = compute(ctx, &args[2..], op, 0)?;
    let n = result.len() as i64;
    let now = ctx.now_ms;
    ctx.touched_only(&args[1]);
    if result.is_empty() {
        if ctx.db().remove(&args[1]).is_some() {
            ctx.dirty(1);
        }
    } else {
        ctx.expire_before_overwrite(&args[1]);
        ctx.overwrite(
            &args[1],
            rubra_keyspace::Entry::new(Value::Set(result), now),
            0,
        );
        ctx.dirty(1);
    }
    Ok(Reply::Int(n))
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    read_op(ctx, args, Op::Inter)
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    read_op(ctx, args, Op::Union)
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    read_op(ctx, args, Op::Diff)
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    store_op(ctx, args, Op::Inter)
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    store_op(ctx, args, Op::Union)
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    store_op(ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys = match args::int(&args[1]) {
        Ok(n) if n > 0 => n as u64,
        _ => return Err(err::NUMKEYS_POSITIVE),
    };
    if numkeys > (args.len() - 2) as u64 {
        return Err(Reply::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut i = end;
    while i < args.len() {
        if args::is(&args[i], "limit") && i + 1 < args.len() {
            limit = match args::int(&args[i + 1]) {
                Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Err(Reply::err("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let result = compute(ctx, &args[2..end], Op::Inter, limit)?;
    Ok(Reply::Int(result.len() as i64))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = scan_cursor(args)?;
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let sa = parse_scan_args(cursor, args)?;
    if s.is_compact() {
        // Like Redis's intset: the whole set in one reply, cursor 0.
        let items = s
            .iter()
            .filter(|m| scan_match(&sa.pattern, m))
            .map(|m| Reply::Bulk(m.to_bytes()))
            .collect();
        return Ok(scan_reply(0, items));
    }
    let (range, next) = scan_positions(s.len(), sa.cursor, sa.count);
    let mut items = Vec::new();
    for i in range.rev() {
        if let Some(m) = s.get_index(i) {
            if scan_match(&sa.pattern, &m) {
                items.push(Reply::Bulk(m.to_bytes()));
            }
        }
    }
    Ok(scan_reply(next, items))
}

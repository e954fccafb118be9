//! Sorted-set commands (ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF, pops, blocking
//! pops, ZRANDMEMBER, ZSCAN) with Redis 7.0 replies. Scores are RESP3 doubles (bulk strings
//! formatted like `%.17g` in RESP2); member/score pairs are nested two-element arrays in
//! RESP3 and flat in RESP2, as Redis 7.0 shapes them.
//!
//! Every range command resolves its arguments to a half-open interval of ranks over the
//! order-statistic `ZSet`, then walks it forward or backward with offset/limit, so rank,
//! score and lex ranges share one code path.

use super::args::{self, is};
use super::hashes::{
    parse_scan_args, random_indexes, scan_cursor, scan_match, scan_positions, scan_reply,
};
use super::{err, CmdResult, Command, Ctx};
use crate::cmd::flags::*;
use bytes::Bytes;
use rand::Rng;
use rubra_keyspace::value::{Elem, SetValue};
use rubra_keyspace::{Value, ZSet};
use rubra_resp::{format_double, Reply};

mod combine;
mod pop;
mod range;
use combine::*;
use pop::*;
/// GEOSEARCHSTORE and GEORADIUS STORE write their results the way ZRANGESTORE does.
pub(crate) use range::store_result;
use range::*;

type Z = ZSet;

const NOT_FLOAT_RANGE: Reply = Reply::err("ERR min or max is not a float");
const NOT_LEX_RANGE: Reply = Reply::err("ERR min or max not valid string range item");
const NAN_SCORE: Reply = Reply::err("ERR resulting score is not a number (NaN)");

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "sorted_set", zadd),
    Command::new("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "sorted_set", zincrby),
    Command::new("zrem", -3, WRITE | FAST, (1, 1, 1), "sorted_set", zrem),
    Command::new("zcard", 2, READONLY | FAST, (1, 1, 1), "sorted_set", zcard),
    Command::new("zscore", 3, READONLY | FAST, (1, 1, 1), "sorted_set", zscore),
    Command::new("zmscore", -3, READONLY | FAST, (1, 1, 1), "sorted_set", zmscore),
    Command::new("zrank", 3, READONLY | FAST, (1, 1, 1), "sorted_set", zrank),
    Command::new("zrevrank", 3, READONLY | FAST, (1, 1, 1), "sorted_set", zrevrank),
    Command::new("zcount", 4, READONLY | FAST, (1, 1, 1), "sorted_set", zcount),
    Command::new("zlexcount", 4, READONLY | FAST, (1, 1, 1), "sorted_set", zlexcount),
    Command::new("zrange", -4, READONLY, (1, 1, 1), "sorted_set", zrange),
    Command::new("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), "sorted_set", zrangestore),
    Command::new("zrevrange", -4, READONLY, (1, 1, 1), "sorted_set", zrevrange),
    Command::new("zrangebyscore", -4, READONLY, (1, 1, 1), "sorted_set", zrangebyscore),
    Command::new("zrevrangebyscore", -4, READONLY, (1, 1, 1), "sorted_set", zrevrangebyscore),
    Command::new("zrangebylex", -4, READONLY, (1, 1, 1), "sorted_set", zrangebylex),
    Command::new("zrevrangebylex", -4, READONLY, (1, 1, 1), "sorted_set", zrevrangebylex),
    Command::new("zremrangebyrank", 4, WRITE, (1, 1, 1), "sorted_set", zremrangebyrank),
    Command::new("zremrangebyscore", 4, WRITE, (1, 1, 1), "sorted_set", zremrangebyscore),
    Command::new("zremrangebylex", 4, WRITE, (1, 1, 1), "sorted_set", zremrangebylex),
    Command::new("zunion", -3, READONLY, (0, 0, 0), "sorted_set", zunion).with_keys(keys_at_1),
    Command::new("zinter", -3, READONLY, (0, 0, 0), "sorted_set", zinter).with_keys(keys_at_1),
    Command::new("zdiff", -3, READONLY, (0, 0, 0), "sorted_set", zdiff).with_keys(keys_at_1),
    Command::new("zintercard", -3, READONLY, (0, 0, 0), "sorted_set", zintercard).with_keys(keys_at_1),
    Command::new("zunionstore", -4, WRITE | DENYOOM, (0, 0, 0), "sorted_set", zunionstore).with_keys(store_keys),
    Command::new("zinterstore", -4, WRITE | DENYOOM, (0, 0, 0), "sorted_set", zinterstore).with_keys(store_keys),
    Command::new("zdiffstore", -4, WRITE | DENYOOM, (0, 0, 0), "sorted_set", zdiffstore).with_keys(store_keys),
    Command::new("zpopmin", -2, WRITE | FAST, (1, 1, 1), "sorted_set", zpopmin),
    Command::new("zpopmax", -2, WRITE | FAST, (1, 1, 1), "sorted_set", zpopmax),
    Command::new("zmpop", -4, WRITE, (0, 0, 0), "sorted_set", zmpop).with_keys(keys_at_1),
    Command::new("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), "sorted_set", bzpopmin),
    Command::new("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), "sorted_set", bzpopmax),
    Command::new("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), "sorted_set", bzmpop).with_keys(keys_at_2),
    Command::new("zrandmember", -2, READONLY, (1, 1, 1), "sorted_set", zrandmember),
    Command::new("zscan", -3, READONLY, (1, 1, 1), "sorted_set", zscan),
];

/// Members and scores in order, for AOF rewrite and snapshots.
pub(crate) fn members_with_scores(z: &ZSet) -> Vec<(Bytes, f64)> {
    z.iter()
        .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Key positions of numkeys commands.

/// `CMD numkeys key ...` (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZMPOP).
fn keys_at_1(args: &[Bytes]) -> Vec<usize> {
    args::numkeys_positions(args, 1)
}

/// `BZMPOP timeout numkeys key ...`.
fn keys_at_2(args: &[Bytes]) -> Vec<usize> {
    args::numkeys_positions(args, 2)
}

/// `CMD destination numkeys key ...` (the *STORE forms): the destination and the inputs.
fn store_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    keys.extend(args::numkeys_positions(args, 2));
    keys
}

// ---------------------------------------------------------------------------------------
// Reply shapes.

/// A member/score list: members only, or pairs (nested in RESP3, flat in RESP2).
fn pairs_reply(items: Vec<(Bytes, f64)>, withscores: bool, resp3: bool) -> Reply {
    let mut out = Vec::with_capacity(items.len() * if withscores { 2 } else { 1 });
    for (m, s) in items {
        if !withscores {
            out.push(Reply::Bulk(m));
        } else if resp3 {
            out.push(Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
        } else {
            out.push(Reply::Bulk(m));
            out.push(Reply::Double(s));
        }
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------
// ZADD / ZINCRBY / ZREM and point reads.

/// Options of ZADD.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one member did.
enum AddOutcome {
    Added(f64),
    Updated(f64),
    Unchanged(f64),
    /// NX/XX/GT/LT prevented the change.
    Skipped,
}

/// Applies one ZADD element with Redis's zsetAdd rules.
fn add_one(z: &mut ZSet, f: AddFlags, member: &Bytes, score: f64) -> Result<AddOutcome, Reply> {
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(AddOutcome::Skipped);
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(NAN_SCORE);
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(AddOutcome::Skipped);
            }
            if new == cur {
                return Ok(AddOutcome::Unchanged(cur));
            }
            z.insert(member.clone(), new);
            Ok(AddOutcome::Updated(new))
        }
        None => {
            if f.xx {
                return Ok(AddOutcome::Skipped);
            }
            z.insert(member.clone(), score);
            Ok(AddOutcome::Added(score))
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub(crate) fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(err::SYNTAX);
    }
    if f.nx && f.xx {
        return Err(Reply::err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return Err(Reply::err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && rest.len() > 2 {
        return Err(Reply::err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for p in rest.chunks_exact(2) {
        pairs.push((args::float(&p[0])?, &p[1]));
    }
    add_pairs(ctx, &args[1], f, &pairs)
}

/// The body of ZADD once arguments are parsed (ZINCRBY shares it).
fn add_pairs(ctx: &mut Ctx, key: &Bytes, f: AddFlags, pairs: &[(f64, &Bytes)]) -> CmdResult {
    let skipped = if f.incr { Reply::Nil } else { Reply::Int(0) };
    if f.xx && !ctx.check_type::<Z>(key)? {
        return Ok(skipped);
    }
    let z = ctx.write_or_create::<Z>(key)?;
    let (mut added, mut updated) = (0u64, 0u64);
    let mut last = None;
    let mut failure = None;
    for &(score, member) in pairs {
        match add_one(z, f, member, score) {
            Ok(AddOutcome::Added(s)) => {
                added += 1;
                last = Some(s);
            }
            Ok(AddOutcome::Updated(s)) => {
                updated += 1;
                last = Some(s);
            }
            Ok(AddOutcome::Unchanged(s)) => last = Some(s),
            Ok(AddOutcome::Skipped) => last = None,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    ctx.remove_if_empty(key);
    if added + updated > 0 {
        ctx.dirty(added + updated);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(if f.incr {
        last.map_or(Reply::Nil, Reply::Double)
    } else if f.ch {
        Reply::Int((added + updated) as i64)
    } else {
        Reply::Int(added as i64)
    })
}

/// ZINCRBY key increment member
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let incr = args::float(&args[2])?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_pairs(ctx, &args[1], f, &[(incr, &args[3])])
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(z) = ctx.write_as::<Z>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let removed = args[2..].iter().filter(|m| z.remove(m).is_some()).count();
    if removed > 0 {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(removed as u64);
    }
    Ok(Reply::Int(removed as i64))
}

/// ZCARD key
fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<Z>(&args[1])?.map_or(0, |z| z.len() as i64),
    ))
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .read_as::<Z>(&args[1])?
        .and_then(|z| z.score(&args[2]))
        .map_or(Reply::Nil, Reply::Double))
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = ctx.read_as::<Z>(&args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
            .collect(),
    ))
}

/// ZRANK key member
fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .read_as::<Z>(&args[1])?
        .and_then(|z| z.rank(&args[2]))
        .map_or(Reply::Nil, |r| Reply::Int(r as i64)))
}

/// ZREVRANK key member
fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .read_as::<Z>(&args[1])?
        .and_then(|z| z.rev_rank(&args[2]))
        .map_or(Reply::Nil, |r| Reply::Int(r as i64)))
}

//! Sorted-set commands (ZADD, ZRANGE and its variants, ZUNION/ZINTER/ZDIFF, pops, blocking
//! pops, ZRANDMEMBER, ZSCAN) with Redis 7.0 replies. Scores are RESP3 doubles (bulk strings
//! formatted like `%.17g` in RESP2); member/score pairs are nested two-element arrays in
//! RESP3 and flat in RESP2, as Redis 7.0 shapes them.
//!
//! Every range command resolves its arguments to a half-open interval of ranks over the
//! order-statistic `ZSet`, then walks it forward or backward with offset/limit, so rank,
//! score and lex ranges share one code path.

use super::args::{self, is};
use super::flags::*;
use super::hashes::{parse_scan_args, random_indexes, scan_match, scan_positions, scan_reply};
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rand::Rng;
use rubra_keyspace::value::SetValue;
use rubra_keyspace::{Value, ZSet};
use rubra_resp::{format_double, Reply};

type Z = Box<ZSet>;

const NOT_FLOAT_RANGE: Reply = Reply::err("ERR min or max is not a float");
const NOT_LEX_RANGE: Reply = Reply::err("ERR min or max not valid string range item");
const NAN_SCORE: Reply = Reply::err("ERR resulting score is not a number (NaN)");

pub static COMMANDS: &[Command] = &[
    Command::new(
        "zadd",
        -4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "sorted_set",
        zadd,
    ),
    Command::new(
        "zincrby",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "sorted_set",
        zincrby,
    ),
    Command::new("zrem", -3, WRITE | FAST, (1, 1, 1), "sorted_set", zrem),
    Command::new("zcard", 2, READONLY | FAST, (1, 1, 1), "sorted_set", zcard),
    Command::new(
        "zscore",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "sorted_set",
        zscore,
    ),
    Command::new(
        "zmscore",
        -3,
        READONLY | FAST,
        (1, 1, 1),
        "sorted_set",
        zmscore,
    ),
    Command::new("zrank", 3, READONLY | FAST, (1, 1, 1), "sorted_set", zrank),
    Command::new(
        "zrevrank",
        3,
        READONLY | FAST,
        (1, 1, 1),
        "sorted_set",
        zrevrank,
    ),
    Command::new(
        "zcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        "sorted_set",
        zcount,
    ),
    Command::new(
        "zlexcount",
        4,
        READONLY | FAST,
        (1, 1, 1),
        "sorted_set",
        zlexcount,
    ),
    Command::new("zrange", -4, READONLY, (1, 1, 1), "sorted_set", zrange),
    Command::new(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        (1, 2, 1),
        "sorted_set",
        zrangestore,
    ),
    Command::new(
        "zrevrange",
        -4,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrevrange,
    ),
    Command::new(
        "zrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrangebyscore,
    ),
    Command::new(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrevrangebyscore,
    ),
    Command::new(
        "zrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrangebylex,
    ),
    Command::new(
        "zrevrangebylex",
        -4,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrevrangebylex,
    ),
    Command::new(
        "zremrangebyrank",
        4,
        WRITE,
        (1, 1, 1),
        "sorted_set",
        zremrangebyrank,
    ),
    Command::new(
        "zremrangebyscore",
        4,
        WRITE,
        (1, 1, 1),
        "sorted_set",
        zremrangebyscore,
    ),
    Command::new(
        "zremrangebylex",
        4,
        WRITE,
        (1, 1, 1),
        "sorted_set",
        zremrangebylex,
    ),
    Command::new("zunion", -3, READONLY, (0, 0, 0), "sorted_set", zunion).with_keys(keys_at_1),
    Command::new("zinter", -3, READONLY, (0, 0, 0), "sorted_set", zinter).with_keys(keys_at_1),
    Command::new("zdiff", -3, READONLY, (0, 0, 0), "sorted_set", zdiff).with_keys(keys_at_1),
    Command::new(
        "zintercard",
        -3,
        READONLY,
        (0, 0, 0),
        "sorted_set",
        zintercard,
    )
    .with_keys(keys_at_1),
    Command::new(
        "zunionstore",
        -4,
        WRITE | DENYOOM,
        (0, 0, 0),
        "sorted_set",
        zunionstore,
    )
    .with_keys(store_keys),
    Command::new(
        "zinterstore",
        -4,
        WRITE | DENYOOM,
        (0, 0, 0),
        "sorted_set",
        zinterstore,
    )
    .with_keys(store_keys),
    Command::new(
        "zdiffstore",
        -4,
        WRITE | DENYOOM,
        (0, 0, 0),
        "sorted_set",
        zdiffstore,
    )
    .with_keys(store_keys),
    Command::new(
        "zpopmin",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        "sorted_set",
        zpopmin,
    ),
    Command::new(
        "zpopmax",
        -2,
        WRITE | FAST,
        (1, 1, 1),
        "sorted_set",
        zpopmax,
    ),
    Command::new("zmpop", -4, WRITE, (0, 0, 0), "sorted_set", zmpop).with_keys(keys_at_1),
    Command::new(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        (1, -2, 1),
        "sorted_set",
        bzpopmin,
    ),
    Command::new(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | FAST | BLOCKING,
        (1, -2, 1),
        "sorted_set",
        bzpopmax,
    ),
    Command::new(
        "bzmpop",
        -5,
        WRITE | BLOCKING,
        (0, 0, 0),
        "sorted_set",
        bzmpop,
    )
    .with_keys(keys_at_2),
    Command::new(
        "zrandmember",
        -2,
        READONLY,
        (1, 1, 1),
        "sorted_set",
        zrandmember,
    ),
    Command::new("zscan", -3, READONLY, (1, 1, 1), "sorted_set", zscan),
];

/// Members and scores in order, for AOF rewrite and snapshots.
pub fn members_with_scores(z: &ZSet) -> Vec<(Bytes, f64)> {
    z.iter().map(|(m, s)| (m.clone(), s)).collect()
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
fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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
    let z = z.as_deref();
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

// ---------------------------------------------------------------------------------------
// Ranges.

/// A score interval as ZRANGEBYSCORE takes it: "(" marks an exclusive bound.
#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => args::parse_f64(&a[1..]).map(|v| (v, true)),
        _ => args::parse_f64(a).map(|v| (v, false)),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    let (min, minex) = parse_score_bound(min).ok_or(NOT_FLOAT_RANGE)?;
    let (max, maxex) = parse_score_bound(max).ok_or(NOT_FLOAT_RANGE)?;
    Ok(ScoreRange {
        min,
        minex,
        max,
        maxex,
    })
}

impl ScoreRange {
    /// The ranks [lo, hi) whose scores fall in the interval.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        if self.min > self.max || (self.min == self.max && (self.minex || self.maxex)) {
            return (0, 0);
        }
        let lo = z.score_rank(self.min, self.minex);
        let hi = z.score_rank(self.max, !self.maxex);
        (lo, hi.max(lo))
    }
}

/// One end of a lex interval.
#[derive(Clone)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Bytes),
    Excl(Bytes),
}

fn parse_lex_bound(a: &Bytes) -> Option<LexBound> {
    match a.first() {
        Some(b'-') if a.len() == 1 => Some(LexBound::NegInf),
        Some(b'+') if a.len() == 1 => Some(LexBound::PosInf),
        Some(b'[') => Some(LexBound::Incl(a.slice(1..))),
        Some(b'(') => Some(LexBound::Excl(a.slice(1..))),
        _ => None,
    }
}

/// A member interval as ZRANGEBYLEX takes it.
#[derive(Clone)]
struct LexRange {
    min: LexBound,
    max: LexBound,
}

fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
    Ok(LexRange {
        min: parse_lex_bound(min).ok_or(NOT_LEX_RANGE)?,
        max: parse_lex_bound(max).ok_or(NOT_LEX_RANGE)?,
    })
}

impl LexRange {
    /// The ranks [lo, hi) whose members fall in the interval (all scores assumed equal).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let lo = match &self.min {
            LexBound::NegInf => 0,
            LexBound::PosInf => z.len(),
            LexBound::Incl(m) => z.lex_rank(m, false),
            LexBound::Excl(m) => z.lex_rank(m, true),
        };
        let hi = match &self.max {
            LexBound::NegInf => 0,
            LexBound::PosInf => z.len(),
            LexBound::Incl(m) => z.lex_rank(m, true),
            LexBound::Excl(m) => z.lex_rank(m, false),
        };
        (lo, hi.max(lo))
    }
}

/// What a range selects, parsed before the key is looked up (as Redis does).
#[derive(Clone)]
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family request.
struct RangeSpec {
    range: Range,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
}

impl RangeSpec {
    /// Resolves to the selected members, in reply order.
    fn select(&self, z: &ZSet) -> Vec<(Bytes, f64)> {
        let len = z.len();
        let (lo, hi) = match &self.range {
            Range::Rank(start, end) => match args::resolve_range(*start, *end, len) {
                None => (0, 0),
                Some((s, e)) if self.rev => (len - 1 - e, len - s),
                Some((s, e)) => (s, e + 1),
            },
            Range::Score(r) => r.ranks(z),
            Range::Lex(r) => r.ranks(z),
        };
        collect_ranks(z, lo, hi, self.rev, self.offset, self.limit)
    }
}

/// Members at ranks [lo, hi), walked forward or backward, skipping `offset` and taking at
/// most `limit` (negative: all). A negative offset selects nothing, as in Redis.
fn collect_ranks(
    z: &ZSet,
    lo: usize,
    hi: usize,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(Bytes, f64)> {
    if offset < 0 || hi <= lo {
        return Vec::new();
    }
    let count = hi - lo;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if offset >= count {
        return Vec::new();
    }
    let mut n = count - offset;
    if limit >= 0 {
        n = n.min(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let walk = if rev {
        z.iter_rev_from(hi - 1 - offset)
    } else {
        z.iter_from(lo + offset)
    };
    walk.take(n).map(|(m, s)| (m.clone(), s)).collect()
}

/// Parses a ZRANGE-family command: `min`/`max` words at `bounds`, options from `opts`.
/// `kind`/`rev` preset by the legacy forms make the matching options syntax errors.
fn parse_range(
    args: &[Bytes],
    bounds: usize,
    kind: Option<Kind>,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeSpec, Reply> {
    let (mut kind, mut rev) = (kind, rev);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut limit_given = false;
    let mut j = bounds + 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = args::int(&args[j + 1])?;
            limit = args::int(&args[j + 2])?;
            limit_given = true;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if kind.is_none() && is(a, "bylex") {
            kind = Some(Kind::Lex);
        } else if kind.is_none() && is(a, "byscore") {
            kind = Some(Kind::Score);
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    let kind = kind.unwrap_or(Kind::Rank);
    let rev = rev.unwrap_or(false);
    if limit_given && kind == Kind::Rank {
        return Err(Reply::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(Reply::err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (mut min, mut max) = (&args[bounds], &args[bounds + 1]);
    if rev && kind != Kind::Rank {
        std::mem::swap(&mut min, &mut max);
    }
    let range = match kind {
        Kind::Rank => Range::Rank(args::int(min)?, args::int(max)?),
        Kind::Score => Range::Score(parse_score_range(min, max)?),
        Kind::Lex => Range::Lex(parse_lex_range(min, max)?),
    };
    Ok(RangeSpec {
        range,
        rev,
        withscores,
        offset,
        limit,
    })
}

/// Runs a read-only range command on `args[1]`.
fn range_read(ctx: &mut Ctx, args: &[Bytes], kind: Option<Kind>, rev: Option<bool>) -> CmdResult {
    let spec = parse_range(args, 2, kind, rev, false)?;
    let resp3 = ctx.client.resp3;
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(pairs_reply(spec.select(z), spec.withscores, resp3))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, None, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Rank), Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Lex), Some(true))
}

/// Stores `items` as a new sorted set under `dst` (deleting it when empty); returns the
/// cardinality, as the *STORE commands reply.
fn store_result(ctx: &mut Ctx, dst: &Bytes, z: ZSet) -> CmdResult {
    let n = z.len() as i64;
    let now = ctx.now_ms;
    if z.is_empty() {
        if ctx.db().remove(dst).is_some() {
            ctx.dirty(1);
        }
    } else {
        ctx.db().set(dst.clone(), Value::ZSet(Box::new(z)), now);
        ctx.dirty(1);
    }
    Ok(Reply::Int(n))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let spec = parse_range(args, 3, None, None, true)?;
    let items = match ctx.read_as::<Z>(&args[2])? {
        Some(z) => spec.select(z),
        None => Vec::new(),
    };
    let mut out = ZSet::new();
    for (m, s) in items {
        out.insert(m, s);
    }
    store_result(ctx, &args[1], out)
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_score_range(&args[2], &args[3])?;
    Ok(Reply::Int(ctx.read_as::<Z>(&args[1])?.map_or(0, |z| {
        let (lo, hi) = r.ranks(z);
        (hi - lo) as i64
    })))
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_lex_range(&args[2], &args[3])?;
    Ok(Reply::Int(ctx.read_as::<Z>(&args[1])?.map_or(0, |z| {
        let (lo, hi) = r.ranks(z);
        (hi - lo) as i64
    })))
}

/// Removes the members a range selects (ZREMRANGEBY*).
fn remove_range(ctx: &mut Ctx, key: &Bytes, range: Range) -> CmdResult {
    let Some(z) = ctx.write_as::<Z>(key)? else {
        return Ok(Reply::Int(0));
    };
    let spec = RangeSpec {
        range,
        rev: false,
        withscores: false,
        offset: 0,
        limit: -1,
    };
    let victims = spec.select(z);
    for (m, _) in &victims {
        z.remove(m);
    }
    if !victims.is_empty() {
        ctx.remove_if_empty(key);
        ctx.dirty(victims.len() as u64);
    }
    Ok(Reply::Int(victims.len() as i64))
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Rank(args::int(&args[2])?, args::int(&args[3])?);
    remove_range(ctx, &args[1], range)
}

/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Score(parse_score_range(&args[2], &args[3])?);
    remove_range(ctx, &args[1], range)
}

/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Lex(parse_lex_range(&args[2], &args[3])?);
    remove_range(ctx, &args[1], range)
}

// ---------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF and their STORE forms, ZINTERCARD.

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => acc.min(v),
            Aggregate::Max => acc.max(v),
        }
    }
}

/// One input of a set operation: a sorted set, or a plain set whose members score 1.
enum Src<'a> {
    Missing,
    Z(&'a ZSet),
    S(&'a SetValue),
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::Missing => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }

    fn get(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Missing => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn members(&self) -> Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a> {
        match *self {
            Src::Missing => Box::new(std::iter::empty()),
            Src::Z(z) => Box::new(z.iter()),
            Src::S(s) => Box::new(s.iter().map(|m| (m, 1.0))),
        }
    }
}

/// weight * score, with 0 * inf (NaN) counted as 0 as Redis does.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// A parsed ZUNION-family request.
struct SetOpSpec {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

/// Parses `numkeys key... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES] / [LIMIT n]` with
/// numkeys at `args[at]`, checking input types before options as Redis does.
fn parse_setop(
    ctx: &mut Ctx,
    args: &[Bytes],
    at: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpSpec, Reply> {
    let numkeys = args::int(&args[at])?;
    if numkeys < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            name
        )));
    }
    if numkeys as u64 > (args.len() - at - 1) as u64 {
        return Err(err::SYNTAX);
    }
    let n = numkeys as usize;
    let keys: Vec<Bytes> = args[at + 1..at + 1 + n].to_vec();
    for k in &keys {
        if let Some(e) = ctx.read(k) {
            if !matches!(e.value, Value::ZSet(_) | Value::Set(_)) {
                return Err(err::WRONGTYPE);
            }
        }
    }
    let mut spec = SetOpSpec {
        keys,
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let mut j = at + 1 + n;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        if card {
            if is(a, "limit") && remaining >= 2 {
                spec.limit = match args::int(&args[j + 1]) {
                    Ok(l) if l >= 0 => usize::try_from(l).unwrap_or(usize::MAX),
                    _ => return Err(Reply::err("ERR LIMIT can't be negative")),
                };
                j += 2;
            } else {
                return Err(err::SYNTAX);
            }
        } else if op != SetOp::Diff && remaining > n && is(a, "weights") {
            for (w, arg) in spec.weights.iter_mut().zip(&args[j + 1..j + 1 + n]) {
                *w = args::parse_f64(arg).ok_or(Reply::err("ERR weight value is not a float"))?;
            }
            j += 1 + n;
        } else if op != SetOp::Diff && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            spec.aggregate = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(err::SYNTAX);
            };
            j += 2;
        } else if !store && is(a, "withscores") {
            spec.withscores = true;
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok(spec)
}

/// Computes the operation. Inputs are borrowed together read-only; nothing is copied
/// except the result.
fn compute_setop(ctx: &mut Ctx, spec: &SetOpSpec, op: SetOp) -> ZSet {
    let now = ctx.now_ms;
    let db = &ctx.store.dbs[ctx.client.db];
    let srcs: Vec<(Src, f64)> = spec
        .keys
        .iter()
        .zip(&spec.weights)
        .map(|(k, &w)| {
            let src = match db.peek(k, now).map(|e| &e.value) {
                Some(Value::ZSet(z)) => Src::Z(z),
                Some(Value::Set(s)) => Src::S(s),
                _ => Src::Missing,
            };
            (src, w)
        })
        .collect();
    let mut out = ZSet::new();
    match op {
        SetOp::Inter => {
            if srcs.iter().any(|(s, _)| s.len() == 0) {
                return out;
            }
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].0.len());
            let (first, rest) = order.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
            'members: for (m, s) in srcs[first].0.members() {
                let mut acc = weighted(s, srcs[first].1);
                for &i in rest {
                    let Some(v) = srcs[i].0.get(m) else {
                        continue 'members;
                    };
                    acc = spec.aggregate.apply(acc, weighted(v, srcs[i].1));
                }
                out.insert(m.clone(), acc);
                if spec.limit > 0 && out.len() >= spec.limit {
                    break;
                }
            }
        }
        SetOp::Union => {
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].0.len());
            let mut acc: indexmap::IndexMap<Bytes, f64, ahash::RandomState> =
                indexmap::IndexMap::default();
            for &i in &order {
                let (src, w) = &srcs[i];
                for (m, s) in src.members() {
                    let v = weighted(s, *w);
                    match acc.get_mut(m) {
                        Some(cur) => *cur = spec.aggregate.apply(*cur, v),
                        None => {
                            acc.insert(m.clone(), v);
                        }
                    }
                }
            }
            for (m, s) in acc {
                out.insert(m, s);
            }
        }
        SetOp::Diff => {
            let Some(((first, _), rest)) = srcs.split_first() else {
                return out;
            };
            for (m, s) in first.members() {
                if !rest.iter().any(|(o, _)| o.get(m).is_some()) {
                    out.insert(m.clone(), s);
                }
            }
        }
    }
    out
}

/// ZUNION/ZINTER/ZDIFF numkeys key ... [WITHSCORES]
fn setop_read(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let spec = parse_setop(ctx, args, 1, op, false, false)?;
    let z = compute_setop(ctx, &spec, op);
    Ok(pairs_reply(
        members_with_scores(&z),
        spec.withscores,
        ctx.client.resp3,
    ))
}

/// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE destination numkeys key ...
fn setop_store(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let spec = parse_setop(ctx, args, 2, op, true, false)?;
    let z = compute_setop(ctx, &spec, op);
    store_result(ctx, &args[1], z)
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Union)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Inter)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Diff)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Union)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Inter)
}

/// ZDIFFSTORE destination numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Diff)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let spec = parse_setop(ctx, args, 1, SetOp::Inter, false, true)?;
    let z = compute_setop(ctx, &spec, SetOp::Inter);
    Ok(Reply::Int(z.len() as i64))
}

// ---------------------------------------------------------------------------------------
// Pops.

/// Pops up to `count` members from the min or max end of `key` (an existing sorted set),
/// deletes the key if emptied, and propagates the pop as `ZPOPMIN|ZPOPMAX key count` so
/// replicas and the AOF replay exactly what the (possibly blocking) command did.
fn pop_from(ctx: &mut Ctx, key: &Bytes, max: bool, count: usize) -> Vec<(Bytes, f64)> {
    let mut out = Vec::new();
    if let Ok(Some(z)) = ctx.write_as::<Z>(key) {
        while out.len() < count {
            let popped = if max { z.pop_max() } else { z.pop_min() };
            match popped {
                Some(p) => out.push(p),
                None => break,
            }
        }
    }
    if !out.is_empty() {
        ctx.remove_if_empty(key);
        ctx.dirty(out.len() as u64);
        let name = if max { "ZPOPMAX" } else { "ZPOPMIN" };
        ctx.propagate = Some(vec![vec![
            Bytes::from_static(name.as_bytes()),
            key.clone(),
            Bytes::from(out.len().to_string()),
        ]]);
    }
    out
}

/// The first of `keys` holding a sorted set; WRONGTYPE if one before it has another type.
/// When a blocked client is being served (it is still registered as a waiter), keys of
/// another type are skipped instead: Redis 7.0 keeps such a client blocked rather than
/// failing it because some other client reused the key for another type.
fn first_nonempty(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Option<Bytes>, Reply> {
    let serving_blocked = ctx.store.blocking.waiter(ctx.client.id).is_some();
    for i in ctx.key_order(keys) {
        match ctx.write_as::<Z>(&keys[i]) {
            Ok(Some(_)) => return Ok(Some(keys[i].clone())),
            Ok(None) => {}
            Err(_) if serving_blocked => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// ZPOPMIN/ZPOPMAX key [count]
fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(err::SYNTAX);
    }
    let count = match args.get(2) {
        None => None,
        Some(a) => match args::int(a) {
            Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(err::VALUE_POSITIVE),
        },
    };
    if ctx.write_as::<Z>(&args[1])?.is_none() || count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let items = pop_from(ctx, &args[1], max, count.unwrap_or(1));
    let nested = ctx.client.resp3 && count.is_some();
    Ok(pairs_reply(items, true, nested))
}

/// ZPOPMIN key [count]
fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

/// ZPOPMAX key [count]
fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout
fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    let timeout = args::timeout_ms(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match first_nonempty(ctx, keys)? {
        Some(key) => {
            let items = pop_from(ctx, &key, max, 1);
            let mut out = vec![Reply::Bulk(key)];
            for (m, s) in items {
                out.push(Reply::Bulk(m));
                out.push(Reply::Double(s));
            }
            Ok(Reply::Array(out))
        }
        None => ctx.block_on(keys.to_vec(), timeout, Reply::NilArray),
    }
}

/// BZPOPMIN key [key ...] timeout
fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

/// Parses `numkeys key ... MIN|MAX [COUNT count]` with numkeys at `args[at]`.
fn parse_mpop(args: &[Bytes], at: usize) -> Result<(Vec<Bytes>, bool, usize), Reply> {
    let numkeys = match args::int(&args[at]) {
        Ok(n) if n > 0 && n <= i32::MAX as i64 => n,
        _ => return Err(err::NUMKEYS_POSITIVE),
    };
    let where_idx = (at as u64) + numkeys as u64 + 1;
    if where_idx >= args.len() as u64 {
        return Err(err::SYNTAX);
    }
    let where_idx = where_idx as usize;
    let max = if is(&args[where_idx], "min") {
        false
    } else if is(&args[where_idx], "max") {
        true
    } else {
        return Err(err::SYNTAX);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            count = match args::int(&args[j + 1]) {
                Ok(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(err::COUNT_POSITIVE),
            };
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok((args[at + 1..where_idx].to_vec(), max, count.unwrap_or(1)))
}

/// The ZMPOP/BZMPOP reply: [key, [[member, score], ...]].
fn mpop_reply(key: Bytes, items: Vec<(Bytes, f64)>) -> Reply {
    Reply::Array(vec![Reply::Bulk(key), pairs_reply(items, true, true)])
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(args, 1)?;
    match first_nonempty(ctx, &keys)? {
        Some(key) => {
            let items = pop_from(ctx, &key, max, count);
            Ok(mpop_reply(key, items))
        }
        None => Ok(Reply::NilArray),
    }
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = args::timeout_ms(&args[1])?;
    let (keys, max, count) = parse_mpop(args, 2)?;
    match first_nonempty(ctx, &keys)? {
        Some(key) => {
            let items = pop_from(ctx, &key, max, count);
            Ok(mpop_reply(key, items))
        }
        None => ctx.block_on(keys, timeout, Reply::NilArray),
    }
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN.

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        let Some(z) = ctx.read_as::<Z>(&args[1])? else {
            return Ok(Reply::Nil);
        };
        if z.is_empty() {
            return Ok(Reply::Nil);
        }
        let i = rand::thread_rng().gen_range(0..z.len());
        return Ok(z
            .get_by_position(i)
            .map_or(Reply::Nil, |(m, _)| Reply::Bulk(m.clone())));
    }
    let count = args::int(&args[2])?;
    let withscores = match args.len() {
        3 => false,
        4 if is(&args[3], "withscores") => true,
        _ => return Err(err::SYNTAX),
    };
    if count == i64::MIN {
        return Err(Reply::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Reply::err("ERR value is out of range"));
    }
    let resp3 = ctx.client.resp3;
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items: Vec<(Bytes, f64)> = random_indexes(z.len(), count)
        .into_iter()
        .filter_map(|i| z.get_by_position(i).map(|(m, s)| (m.clone(), s)))
        .collect();
    Ok(pairs_reply(items, withscores, resp3))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count] — scores as strings, as Redis sends them.
/// A small set (listpack-sized in Redis) is returned whole in rank order with cursor 0 and
/// listpack score text, as Redis does; a large one walks hash positions (see
/// `scan_positions`), which stay valid while members are added and removed.
fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // The cursor is checked first; options only if the key exists (Redis's order).
    parse_scan_args(&args[..3])?;
    if ctx.read_as::<Z>(&args[1])?.is_none() {
        return Ok(scan_reply(0, Vec::new()));
    }
    let sa = parse_scan_args(args)?;
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let mut items = Vec::new();
    let mut push = |m: &Bytes, text: String| {
        if scan_match(&sa.pattern, m) {
            items.push(Reply::Bulk(m.clone()));
            items.push(Reply::Bulk(Bytes::from(text)));
        }
    };
    if z.is_listpack_sized() {
        for (m, s) in z.iter() {
            push(m, listpack_score(s));
        }
        return Ok(scan_reply(0, items));
    }
    let (range, next) = scan_positions(z.len(), sa.cursor, sa.count);
    for i in range.rev() {
        if let Some((m, s)) = z.get_by_position(i) {
            push(m, format_double(s));
        }
    }
    Ok(scan_reply(next, items))
}

/// A score as Redis's listpack stores it: integral values that fit a 64-bit integer as
/// plain integers, others like `%.17g`.
fn listpack_score(s: f64) -> String {
    if s.fract() == 0.0 && (-(2f64.powi(63))..2f64.powi(63)).contains(&s) {
        (s as i64).to_string()
    } else {
        format_double(s)
    }
}

//! ZRANGE and its variants: score, lex and rank intervals resolved to rank ranges, one walk for all of them; ZREMRANGEBY*, ZRANGESTORE, ZCOUNT/ZLEXCOUNT.

use super::*;

// ---------------------------------------------------------------------------------------
// Ranges.

/// A score interval as ZRANGEBYSCORE takes it: "(" marks an exclusive bound.
#[derive(Clone, Copy)]
pub(super) struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

pub(super) fn parse_score_bound(a: &[u8]) -> Option<(f64, bool)> {
    match a.first() {
        Some(b'(') => range_f64(&a[1..]).map(|v| (v, true)),
        _ => range_f64(a).map(|v| (v, false)),
    }
}

/// A score-range bound as Redis reads it (plain `strtod` up to the first NUL, which must
/// consume everything): an empty string is 0 and leading whitespace is skipped, unlike a
/// score argument. Found by fuzz_commands_differential (`ZCOUNT z "" 1`, `ZRANGEBYSCORE z "(" 1`).
fn range_f64(a: &[u8]) -> Option<f64> {
    let a = &a[..a.iter().position(|&b| b == 0).unwrap_or(a.len())];
    if a.is_empty() {
        return Some(0.0);
    }
    let start = a
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    args::parse_f64(&a[start..])
}

pub(super) fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
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
pub(super) enum LexBound {
    NegInf,
    PosInf,
    Incl(Bytes),
    Excl(Bytes),
}

pub(super) fn parse_lex_bound(a: &Bytes) -> Option<LexBound> {
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
pub(super) struct LexRange {
    min: LexBound,
    max: LexBound,
}

pub(super) fn parse_lex_range(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
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
pub(super) enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Rank,
    Score,
    Lex,
}

/// A parsed ZRANGE-family request.
pub(super) struct RangeSpec {
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
        self.walk(z)
            .1
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))
            .collect()
    }

    /// The reply for the selected members, encoded straight from the set.
    fn reply(&self, z: &ZSet, resp3: bool) -> Reply {
        let (n, walk) = self.walk(z);
        rubra_resp::scored_array(n, walk, self.withscores, resp3)
    }

    /// The selected members, borrowed from the set in reply order, with how many the walk
    /// yields: the range's ranks walked forward or backward, skipping OFFSET and taking at
    /// most LIMIT (negative: all). A negative offset selects nothing, as in Redis.
    fn walk<'z>(&self, z: &'z ZSet) -> (usize, impl Iterator<Item = (&'z [u8], f64)>) {
        let (lo, hi) = self.ranks(z);
        let count = hi.saturating_sub(lo);
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        if offset >= count {
            // Nothing (a negative offset lands here too).
            return (0, z.iter_from(0).take(0));
        }
        let mut n = count - offset;
        if self.limit >= 0 {
            n = n.min(usize::try_from(self.limit).unwrap_or(usize::MAX));
        }
        let walk = if self.rev {
            z.iter_rev_from(hi - 1 - offset)
        } else {
            z.iter_from(lo + offset)
        };
        (n, walk.take(n))
    }

    /// The ranks [lo, hi) the range covers, before OFFSET and LIMIT.
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len();
        match &self.range {
            Range::Rank(start, end) => match args::resolve_range(*start, *end, len) {
                None => (0, 0),
                Some((s, e)) if self.rev => (len - 1 - e, len - s),
                Some((s, e)) => (s, e + 1),
            },
            Range::Score(r) => r.ranks(z),
            Range::Lex(r) => r.ranks(z),
        }
    }
}

/// Parses a ZRANGE-family command: `min`/`max` words at `bounds`, options from `opts`.
/// `kind`/`rev` preset by the legacy forms make the matching options syntax errors.
pub(super) fn parse_range(
    args: &[Bytes],
    bounds: usize,
    kind: Option<Kind>,
    rev: Option<bool>,
    store: bool,
) -> Result<RangeSpec, Reply> {
    let (mut kind, mut rev) = (kind, rev);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = bounds + 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = &args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = args::int(&args[j + 1])?;
            limit = args::int(&args[j + 2])?;
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
    // As Redis 7.0: only a count other than -1 makes LIMIT an error on a rank range
    // (`LIMIT 5 -1` is accepted and ignored), and before the bounds are parsed.
    if limit != -1 && kind == Kind::Rank {
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
    if kind == Kind::Rank {
        offset = 0;
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
pub(super) fn range_read(
    ctx: &mut Ctx,
    args: &[Bytes],
    kind: Option<Kind>,
    rev: Option<bool>,
) -> CmdResult {
    let spec = parse_range(args, 2, kind, rev, false)?;
    let resp3 = ctx.client.resp3;
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(spec.reply(z, resp3))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub(super) fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, None, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub(super) fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Rank), Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub(super) fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub(super) fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub(super) fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub(super) fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_read(ctx, args, Some(Kind::Lex), Some(true))
}

/// Stores `items` as a new sorted set under `dst` (deleting it when empty); returns the
/// cardinality, as the *STORE commands reply.
pub(crate) fn store_result(ctx: &mut Ctx, dst: &Bytes, z: ZSet) -> CmdResult {
    let n = z.len() as i64;
    let now = ctx.now_ms;
    ctx.touched_only(dst);
    if z.is_empty() {
        if ctx.db().remove(dst).is_some() {
            ctx.dirty(1);
        }
    } else {
        ctx.expire_before_overwrite(dst);
        ctx.overwrite(dst, rubra_keyspace::Entry::new(Value::ZSet(z), now), 0);
        ctx.dirty(1);
    }
    Ok(Reply::Int(n))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub(super) fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let spec = parse_range(args, 3, None, None, true)?;
    let items = match ctx.read_as::<Z>(&args[2])? {
        Some(z) => spec.select(z),
        None => Vec::new(),
    };
    let mut out = ZSet::new();
    // Redis sizes the destination up front for a rank range (a skiplist when the count is
    // over zset-max-listpack-entries, so a -0 score stays -0); score and lex ranges start
    // compact and convert on the way.
    if matches!(spec.range, Range::Rank(..))
        && items.len() > rubra_keyspace::limits::Limits::current().zset_max_entries
    {
        out.convert_to_full();
    }
    for (m, s) in items {
        out.insert(m, s);
    }
    store_result(ctx, &args[1], out)
}

/// ZCOUNT key min max
pub(super) fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_score_range(&args[2], &args[3])?;
    Ok(Reply::Int(ctx.read_as::<Z>(&args[1])?.map_or(0, |z| {
        let (lo, hi) = r.ranks(z);
        (hi - lo) as i64
    })))
}

/// ZLEXCOUNT key min max
pub(super) fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_lex_range(&args[2], &args[3])?;
    Ok(Reply::Int(ctx.read_as::<Z>(&args[1])?.map_or(0, |z| {
        let (lo, hi) = r.ranks(z);
        (hi - lo) as i64
    })))
}

/// Removes the members a range selects (ZREMRANGEBY*).
pub(super) fn remove_range(ctx: &mut Ctx, key: &Bytes, range: Range) -> CmdResult {
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
pub(super) fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Rank(args::int(&args[2])?, args::int(&args[3])?);
    remove_range(ctx, &args[1], range)
}

/// ZREMRANGEBYSCORE key min max
pub(super) fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Score(parse_score_range(&args[2], &args[3])?);
    remove_range(ctx, &args[1], range)
}

/// ZREMRANGEBYLEX key min max
pub(super) fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = Range::Lex(parse_lex_range(&args[2], &args[3])?);
    remove_range(ctx, &args[1], range)
}

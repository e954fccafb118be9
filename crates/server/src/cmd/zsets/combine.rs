//! ZUNION / ZINTER / ZDIFF, their STORE forms and ZINTERCARD: weights, aggregates and the order Redis reads inputs in.

use super::*;

// ---------------------------------------------------------------------------------------
// ZUNION / ZINTER / ZDIFF and their STORE forms, ZINTERCARD.

#[derive(Clone, Copy, PartialEq)]
pub(super) enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
pub(super) enum Aggregate {
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
pub(super) enum Src<'a> {
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

    fn members(&self) -> Box<dyn Iterator<Item = (Elem<'a>, f64)> + 'a> {
        match *self {
            Src::Missing => Box::new(std::iter::empty()),
            Src::Z(z) => Box::new(z.iter().map(|(m, s)| (Elem::Ref(m), s))),
            Src::S(s) => Box::new(s.iter().map(|m| (m, 1.0))),
        }
    }
}

/// weight * score, with 0 * inf (NaN) counted as 0 as Redis does.
pub(super) fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// A parsed ZUNION-family request.
pub(super) struct SetOpSpec {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

/// Parses `numkeys key... [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES] / [LIMIT n]` with
/// numkeys at `args[at]`, checking input types before options as Redis does.
pub(super) fn parse_setop(
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
/// except the result. `keep_neg_zero`: a -0 score stays -0 (the result goes to the full
/// form), as in the skiplist Redis builds every result in; see `compact_if_small`.
pub(super) fn compute_setop(
    ctx: &mut Ctx,
    spec: &SetOpSpec,
    op: SetOp,
    keep_neg_zero: bool,
) -> ZSet {
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
    let mut out = Out {
        z: ZSet::new(),
        keep_neg_zero,
    };
    match op {
        SetOp::Inter => {
            if srcs.iter().any(|(s, _)| s.len() == 0) {
                return out.z;
            }
            let mut order: Vec<usize> = (0..srcs.len()).collect();
            order.sort_by_key(|&i| srcs[i].0.len());
            let (first, rest) = order.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
            'members: for (m, s) in srcs[first].0.members() {
                let mut acc = weighted(s, srcs[first].1);
                for &i in rest {
                    let Some(v) = srcs[i].0.get(&m) else {
                        continue 'members;
                    };
                    acc = spec.aggregate.apply(acc, weighted(v, srcs[i].1));
                }
                out.insert(m.to_bytes(), acc);
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
                    match acc.get_mut(&*m) {
                        Some(cur) => *cur = spec.aggregate.apply(*cur, v),
                        None => {
                            acc.insert(m.to_bytes(), v);
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
                return out.z;
            };
            for (m, s) in first.members() {
                if !rest.iter().any(|(o, _)| o.get(&m).is_some()) {
                    out.insert(m.to_bytes(), s);
                }
            }
        }
    }
    out.z
}

/// A result being built, and whether a -0 score must survive (see `compute_setop`).
struct Out {
    z: ZSet,
    keep_neg_zero: bool,
}

impl Out {
    fn insert(&mut self, m: Bytes, s: f64) -> Option<f64> {
        // The compact form stores -0 as 0; the full one keeps it.
        if self.keep_neg_zero && s == 0.0 && s.is_sign_negative() && self.z.is_compact() {
            self.z.convert_to_full();
        }
        self.z.insert(m, s)
    }

    fn len(&self) -> usize {
        self.z.len()
    }
}

/// ZUNION/ZINTER/ZDIFF numkeys key ... [WITHSCORES]
pub(super) fn setop_read(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let spec = parse_setop(ctx, args, 1, op, false, false)?;
    let z = compute_setop(ctx, &spec, op, true);
    Ok(pairs_reply(
        members_with_scores(&z),
        spec.withscores,
        ctx.client.resp3,
    ))
}

/// ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE destination numkeys key ...
pub(super) fn setop_store(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let spec = parse_setop(ctx, args, 2, op, true, false)?;
    let z = compact_if_small(compute_setop(ctx, &spec, op, true));
    store_result(ctx, &args[1], z)
}

/// Redis stores a set-operation result in the listpack form when it fits (which turns a
/// -0 score into 0) and keeps its skiplist otherwise (-0 stays): a result that went to
/// the full form only for a -0 is rebuilt compact when it fits.
fn compact_if_small(z: ZSet) -> ZSet {
    if z.is_compact() || z.len() > rubra_keyspace::limits::Limits::current().zset_max_entries {
        return z;
    }
    let mut c = ZSet::new();
    for (m, s) in z.iter() {
        c.insert(Bytes::copy_from_slice(m), s);
    }
    if c.is_compact() {
        c
    } else {
        z
    }
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub(super) fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Union)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub(super) fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Inter)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub(super) fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_read(ctx, args, SetOp::Diff)
}

/// ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub(super) fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Union)
}

/// ZINTERSTORE destination numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...]
pub(super) fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Inter)
}

/// ZDIFFSTORE destination numkeys key [key ...]
pub(super) fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Diff)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub(super) fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let spec = parse_setop(ctx, args, 1, SetOp::Inter, false, true)?;
    let z = compute_setop(ctx, &spec, SetOp::Inter, false);
    Ok(Reply::Int(z.len() as i64))
}

//! Hash commands (HSET, HGET, HINCRBYFLOAT, HRANDFIELD, HSCAN ...) with Redis 7.0 replies.
//! Also home of the positional SCAN cursor shared with SSCAN (see `scan_positions`).

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rand::Rng;
use rubra_keys::glob::glob_match;
use rubra_keyspace::value::{parse_i64_strict, HashValue};
use rubra_resp::Reply;

type H = HashValue;

/// A reply holding a copy of bytes borrowed from a value.
pub(crate) fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", hset),
    Command::new("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", hsetnx),
    Command::new("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", hmset),
    Command::new("hget", 3, READONLY | FAST, (1, 1, 1), "hash", hget),
    Command::new("hmget", -3, READONLY | FAST, (1, 1, 1), "hash", hmget),
    Command::new("hdel", -3, WRITE | FAST, (1, 1, 1), "hash", hdel),
    Command::new("hlen", 2, READONLY | FAST, (1, 1, 1), "hash", hlen),
    Command::new("hstrlen", 3, READONLY | FAST, (1, 1, 1), "hash", hstrlen),
    Command::new("hexists", 3, READONLY | FAST, (1, 1, 1), "hash", hexists),
    Command::new("hkeys", 2, READONLY, (1, 1, 1), "hash", hkeys),
    Command::new("hvals", 2, READONLY, (1, 1, 1), "hash", hvals),
    Command::new("hgetall", 2, READONLY, (1, 1, 1), "hash", hgetall),
    Command::new("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", hincrby),
    Command::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", hincrbyfloat),
    Command::new("hrandfield", -2, READONLY, (1, 1, 1), "hash", hrandfield),
    Command::new("hscan", -3, READONLY, (1, 1, 1), "hash", hscan),
];

/// Sets field/value pairs from `args[2..]`; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, args: &[Bytes]) -> Result<i64, Reply> {
    if !args.len().is_multiple_of(2) {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(err::wrong_args(&name));
    }
    let h = ctx.write_or_create::<H>(&args[1])?;
    let mut added = 0;
    for pair in args[2..].chunks_exact(2) {
        if h.insert_ref(&pair[0], &pair[1]) {
            added += 1;
        }
    }
    ctx.dirty((args.len() as u64 - 2) / 2);
    Ok(added)
}

/// HSET key field value [field value ...]
fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(set_pairs(ctx, args)?))
}

/// HMSET key field value [field value ...] (deprecated form of HSET that replies OK)
fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_pairs(ctx, args)?;
    Ok(Reply::OK)
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if let Some(h) = ctx.read_as::<H>(&args[1])? {
        if h.contains_key(&args[2]) {
            return Ok(Reply::Int(0));
        }
    }
    let h = ctx.write_or_create::<H>(&args[1])?;
    h.insert_ref(&args[2], &args[3]);
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// HGET key field
fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(
        match ctx.read_as::<H>(&args[1])?.and_then(|h| h.get(&args[2])) {
            Some(v) => bulk(v),
            None => Reply::Nil,
        },
    )
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let h = ctx.read_as::<H>(&args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|f| match h.and_then(|h| h.get(f)) {
                Some(v) => bulk(v),
                None => Reply::Nil,
            })
            .collect(),
    ))
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(h) = ctx.write_as::<H>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for f in &args[2..] {
        if h.remove(f) {
            removed += 1;
        }
    }
    if removed > 0 {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(removed as u64);
    }
    Ok(Reply::Int(removed))
}

/// HLEN key
fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<H>(&args[1])?.map_or(0, |h| h.len() as i64),
    ))
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<H>(&args[1])?
            .and_then(|h| h.get(&args[2]))
            .map_or(0, |v| v.len() as i64),
    ))
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<H>(&args[1])?
            .is_some_and(|h| h.contains_key(&args[2])) as i64,
    ))
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .read_as::<H>(&args[1])?
        .map_or(Reply::Array(Vec::new()), |h| {
            rubra_resp::bulk_array(h.len(), h.keys())
        }))
}

/// HVALS key
fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(ctx
        .read_as::<H>(&args[1])?
        .map_or(Reply::Array(Vec::new()), |h| {
            rubra_resp::bulk_array(h.len(), h.values())
        }))
}

/// HGETALL key — a map in RESP3, a flat field/value array in RESP2.
fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Map(
        ctx.read_as::<H>(&args[1])?.map_or_else(Vec::new, |h| {
            h.iter().map(|(k, v)| (bulk(k), bulk(v))).collect()
        }),
    ))
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let incr = args::int(&args[3])?;
    if let Some(h) = ctx.read_as::<H>(&args[1])? {
        if let Some(v) = h.get(&args[2]) {
            let cur = parse_i64_strict(v).ok_or(Reply::err("ERR hash value is not an integer"))?;
            cur.checked_add(incr).ok_or(err::OVERFLOW)?;
        }
    }
    let h = ctx.write_or_create::<H>(&args[1])?;
    let cur = h.get(&args[2]).and_then(parse_i64_strict).unwrap_or(0);
    let new = cur.checked_add(incr).ok_or(err::OVERFLOW)?;
    h.insert(args[2].clone(), Bytes::from(new.to_string()));
    ctx.dirty(1);
    Ok(Reply::Int(new))
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Long-double arithmetic and printing, as Redis (see `longdouble`).
    use super::longdouble::Ld;
    let incr = match Ld::parse(&args[3]) {
        None => return Err(err::NOT_FLOAT),
        Some(Err(_)) => return Err(Reply::err("ERR value is NaN or Infinity")),
        Some(Ok(v)) => v,
    };
    let mut cur = Some(Ok(Ld::parse(b"0")
        .and_then(Result::ok)
        .ok_or(err::NOT_FLOAT)?));
    if let Some(h) = ctx.read_as::<H>(&args[1])? {
        if let Some(v) = h.get(&args[2]) {
            cur = Some(Ld::parse(v).ok_or(Reply::err("ERR hash value is not a float"))?);
        }
    }
    let nan_inf = Reply::err("ERR increment would produce NaN or Infinity");
    let new = match cur {
        Some(Ok(c)) => c.add(incr).ok_or(nan_inf)?,
        _ => return Err(nan_inf),
    };
    let text = Bytes::from(new.format_human());
    let h = ctx.write_or_create::<H>(&args[1])?;
    h.insert(args[2].clone(), text.clone());
    ctx.dirty(1);
    // Replicas get the resulting value (HSET key field value), as from Redis: redoing the
    // float arithmetic there could round differently.
    ctx.propagate = Some(vec![vec![
        Bytes::from_static(b"HSET"),
        args[1].clone(),
        args[2].clone(),
        text.clone(),
    ]]);
    Ok(Reply::Bulk(text))
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        let Some(h) = ctx.read_as::<H>(&args[1])? else {
            return Ok(Reply::Nil);
        };
        let i = ctx_rand(h.len());
        return Ok(h.get_index(i).map_or(Reply::Nil, |(k, _)| bulk(k)));
    }
    let count = args::int(&args[2])?;
    let withvalues = match args.len() {
        3 => false,
        4 if is(&args[3], "withvalues") => true,
        _ => return Err(err::SYNTAX),
    };
    if count == i64::MIN {
        return Err(Reply::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Reply::err("ERR value is out of range"));
    }
    let resp3 = ctx.client.resp3;
    let Some(h) = ctx.read_as::<H>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let picks = random_indexes(h.len(), count);
    // A packed hash is walked once into positions (get_index is O(n) there).
    let packed: Vec<(&[u8], &[u8])> = if h.is_compact() {
        h.iter().collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for i in picks {
        let pair = if h.is_compact() {
            packed.get(i).copied()
        } else {
            h.get_index(i)
        };
        let Some((k, v)) = pair else {
            continue;
        };
        if !withvalues {
            out.push(bulk(k));
        } else if resp3 {
            out.push(Reply::Array(vec![bulk(k), bulk(v)]));
        } else {
            out.push(bulk(k));
            out.push(bulk(v));
        }
    }
    Ok(Reply::Array(out))
}

/// A uniformly random index below `len` (len > 0).
fn ctx_rand(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        rand::thread_rng().gen_range(0..len)
    }
}

/// Positions for HRANDFIELD/SRANDMEMBER with a count: a negative count gives |count|
/// picks that may repeat; a positive one gives min(count, len) distinct positions. The
/// client's number never sizes an allocation up front; the output grows as it is produced.
pub(crate) fn random_indexes(len: usize, count: i64) -> Vec<usize> {
    let mut rng = rand::thread_rng();
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs();
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(rng.gen_range(0..len));
        }
        return out;
    }
    let n = (count as u64).min(len as u64) as usize;
    if n == len {
        return (0..len).collect();
    }
    rand::seq::index::sample(&mut rng, len, n).into_vec()
}

/// Parsed arguments of HSCAN/SSCAN.
pub(crate) struct ScanArgs {
    pub cursor: u64,
    pub pattern: Option<Bytes>,
    pub count: usize,
}

/// The cursor at `args[2]`. HSCAN/SSCAN/ZSCAN check it before they look the key up, and
/// the options (`parse_scan_args`) only once the key is there: a missing key is an empty
/// scan whatever options follow, a key of another type WRONGTYPE, as in Redis.
pub(crate) fn scan_cursor(args: &[Bytes]) -> Result<u64, Reply> {
    parse_cursor(&args[2]).ok_or(Reply::err("ERR invalid cursor"))
}

/// Parses the `[MATCH pattern] [COUNT count]` options from `args[3]` on, for a cursor
/// already read by `scan_cursor`.
pub(crate) fn parse_scan_args(cursor: u64, args: &[Bytes]) -> Result<ScanArgs, Reply> {
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
    };
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "count") && i + 1 < args.len() {
            let n = args::int(&args[i + 1])?;
            if n < 1 {
                return Err(err::SYNTAX);
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else if is(&args[i], "match") && i + 1 < args.len() {
            let p = &args[i + 1];
            out.pattern = if p.as_ref() == b"*" {
                None
            } else {
                Some(p.clone())
            };
            i += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    Ok(out)
}

/// Parses a SCAN-family cursor as Redis does, with C's strtoul on the argument as a C
/// string: the text ends at a NUL byte; an optional sign ("-1" wraps to 2^64-1) and
/// decimal digits must reach that end; no leading space, no overflow. An argument with no
/// text at all ("" or a leading NUL) is cursor 0: strtoul reads nothing and stops at the
/// end.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    if text.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// The positions one SCAN step visits, and the cursor to return.
///
/// WHY positions from the end: IndexMap/IndexSet `swap_remove` moves the LAST element into
/// the removed slot. So we walk positions from len-1 down to 0. Cursor 0 starts at len-1;
/// a returned cursor c > 0 means "positions < c are still to visit"; 0 means done. An
/// element present for the whole iteration is returned at least once: it only moves when
/// it is last, and then it moves to a lower position — if it was still unvisited (its
/// position < c) it stays below c; if it was visited it may be returned twice (allowed).
/// Elements added during the iteration are appended at the end and may be missed (also
/// allowed by SCAN's contract).
pub(crate) fn scan_positions(
    len: usize,
    cursor: u64,
    count: usize,
) -> (std::ops::Range<usize>, u64) {
    let hi = if cursor == 0 {
        len
    } else {
        (cursor.min(len as u64)) as usize
    };
    let lo = hi.saturating_sub(count);
    (lo..hi, lo as u64)
}

/// Whether a SCAN MATCH pattern accepts `item`.
pub(crate) fn scan_match(pattern: &Option<Bytes>, item: &[u8]) -> bool {
    pattern.as_ref().is_none_or(|p| glob_match(p, item, false))
}

/// The SCAN-family reply: [cursor, [items...]].
pub(crate) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = scan_cursor(args)?;
    let Some(h) = ctx.read_as::<H>(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let sa = parse_scan_args(cursor, args)?;
    let mut items = Vec::new();
    if h.is_compact() {
        // Like Redis's listpack: the whole hash in one reply, cursor 0.
        for (k, v) in h.iter() {
            if scan_match(&sa.pattern, k) {
                items.push(bulk(k));
                items.push(bulk(v));
            }
        }
        return Ok(scan_reply(0, items));
    }
    let (range, next) = scan_positions(h.len(), sa.cursor, sa.count);
    for i in range.rev() {
        if let Some((k, v)) = h.get_index(i) {
            if scan_match(&sa.pattern, k) {
                items.push(bulk(k));
                items.push(bulk(v));
            }
        }
    }
    Ok(scan_reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursor_walks_down_and_ends_at_zero() {
        assert_eq!(scan_positions(25, 0, 10), (15..25, 15));
        assert_eq!(scan_positions(25, 15, 10), (5..15, 5));
        assert_eq!(scan_positions(25, 5, 10), (0..5, 0));
        // The collection shrank below the cursor: clamp.
        assert_eq!(scan_positions(3, 15, 10), (0..3, 0));
        assert_eq!(scan_positions(0, 0, 10), (0..0, 0));
    }
}

//! List commands (LPUSH, LPOP, LRANGE, LPOS, LMOVE, LMPOP ...) and their blocking forms
//! (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) with Redis 7.0 replies and error texts.
//!
//! Blocking commands that find nothing ask the connection to wait (`Ctx::block_on`); the
//! dispatcher re-runs them when a key they wait on is written. A served blocking command is
//! propagated as its non-blocking form, exactly as Redis rewrites it (BLPOP -> LPOP key,
//! BLMPOP -> LPOP key count, BLMOVE -> LMOVE, BRPOPLPUSH -> RPOPLPUSH).

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::ListValue;
use rubra_resp::Reply;

type L = ListValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", lpush),
    Command::new("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", rpush),
    Command::new("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", lpushx),
    Command::new("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", rpushx),
    Command::new("lpop", -2, WRITE | FAST, (1, 1, 1), "list", lpop),
    Command::new("rpop", -2, WRITE | FAST, (1, 1, 1), "list", rpop),
    Command::new("llen", 2, READONLY | FAST, (1, 1, 1), "list", llen),
    Command::new("lindex", 3, READONLY, (1, 1, 1), "list", lindex),
    Command::new("lset", 4, WRITE | DENYOOM, (1, 1, 1), "list", lset),
    Command::new("lrange", 4, READONLY, (1, 1, 1), "list", lrange),
    Command::new("ltrim", 4, WRITE, (1, 1, 1), "list", ltrim),
    Command::new("lrem", 4, WRITE, (1, 1, 1), "list", lrem),
    Command::new("linsert", 5, WRITE | DENYOOM, (1, 1, 1), "list", linsert),
    Command::new("lpos", -3, READONLY, (1, 1, 1), "list", lpos),
    Command::new("lmove", 5, WRITE | DENYOOM, (1, 2, 1), "list", lmove),
    Command::new("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), "list", rpoplpush),
    Command::new("lmpop", -4, WRITE, (0, 0, 0), "list", lmpop).with_keys(lmpop_keys),
    Command::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", blpop),
    Command::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", brpop),
    Command::new("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", blmove),
    Command::new("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", brpoplpush),
    Command::new("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), "list", blmpop).with_keys(blmpop_keys),
];

/// Which end of a list an operation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// LEFT or RIGHT, case-insensitively; anything else is a syntax error (as in Redis).
    fn parse(arg: &[u8]) -> Result<End, Reply> {
        if is(arg, "left") {
            Ok(End::Left)
        } else if is(arg, "right") {
            Ok(End::Right)
        } else {
            Err(err::SYNTAX)
        }
    }

    /// The end as Redis names it when it propagates a BLMOVE served after blocking
    /// ("left" / "right", lower case; served at once, the client's own words are kept).
    fn word(self) -> Bytes {
        Bytes::from_static(match self {
            End::Left => b"left",
            End::Right => b"right",
        })
    }

    /// The single-pop command this end corresponds to, for propagation.
    fn pop_name(self) -> Bytes {
        Bytes::from_static(match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        })
    }
}

fn pop(list: &mut ListValue, end: End) -> Option<Bytes> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

fn push(list: &mut ListValue, end: End, value: Bytes) {
    match end {
        End::Left => list.push_front(value),
        End::Right => list.push_back(value),
    }
}

/// Pops up to `n` elements from one end, in the order they come off the list (so RPOP with
/// a count lists the tail first, as Redis does).
fn pop_n(list: &mut ListValue, end: End, n: usize) -> Vec<Bytes> {
    let n = n.min(list.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match pop(list, end) {
            Some(v) => out.push(v),
            None => break,
        }
    }
    out
}

fn bulks(items: Vec<Bytes>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

/// Whether this run is the dispatcher retrying a blocked client (its registration is still
/// in place while it is being served). Redis 7.0 keeps such a client blocked when a key it
/// waits on now holds another type, instead of failing it with WRONGTYPE.
fn serving_retry(ctx: &Ctx) -> bool {
    ctx.store.blocking.waiter(ctx.client.id).is_some()
}

/// Index of the first key holding a non-empty list. A key of another type met first is
/// WRONGTYPE, except while serving a blocked client (it is then skipped, as in Redis).
fn first_ready(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Option<usize>, Reply> {
    let retry = serving_retry(ctx);
    for i in ctx.key_order(keys) {
        match ctx.write_as::<L>(&keys[i]) {
            Ok(Some(list)) if !list.is_empty() => return Ok(Some(i)),
            Ok(_) => {}
            Err(e) if !retry => return Err(e),
            Err(_) => {}
        }
    }
    Ok(None)
}

/// LMPOP numkeys key [key ...] ...
fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    args::numkeys_positions(args, 1)
}

/// BLMPOP timeout numkeys key [key ...] ...
fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    args::numkeys_positions(args, 2)
}

// ---------------------------------------------------------------------------------------
// Push and pop.

fn push_generic(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let list = if only_existing {
        match ctx.write_as::<L>(&args[1])? {
            Some(l) => l,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        ctx.write_or_create::<L>(&args[1])?
    };
    for v in &args[2..] {
        push(list, end, v.clone());
    }
    let len = list.len() as i64;
    ctx.dirty((args.len() - 2) as u64);
    Ok(Reply::Int(len))
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Left, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push_generic(ctx, args, End::Right, true)
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(err::wrong_args(if end == End::Left {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match args.get(2) {
        Some(a) => Some(args::uint(a, err::VALUE_POSITIVE)?),
        None => None,
    };
    let Some(list) = ctx.write_as::<L>(&args[1])? else {
        return Ok(if count.is_some() {
            Reply::NilArray
        } else {
            Reply::Nil
        });
    };
    let reply = match count {
        None => match pop(list, end) {
            Some(v) => Reply::Bulk(v),
            None => Reply::Nil,
        },
        Some(n) => bulks(pop_n(list, end, usize::try_from(n).unwrap_or(usize::MAX))),
    };
    let popped = match &reply {
        Reply::Bulk(_) => 1,
        Reply::Array(a) => a.len(),
        _ => 0,
    };
    // Known here, while the list is at hand: a pop that leaves elements needs no second
    // look-up of the key.
    let emptied = list.is_empty();
    if popped > 0 {
        if emptied {
            ctx.remove_if_empty(&args[1]);
        }
        ctx.dirty(popped as u64);
    }
    Ok(reply)
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Left)
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, End::Right)
}

// ---------------------------------------------------------------------------------------
// Reading and editing in place.

/// LLEN key
fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<L>(&args[1])?.map_or(0, |l| l.len() as i64),
    ))
}

/// Resolves a possibly negative index into a position, if it is inside the list.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // As Redis: the key is looked up before the index is parsed.
    let Some(list) = ctx.read_as::<L>(&args[1])? else {
        return Ok(Reply::Nil);
    };
    let index = args::int(&args[2])?;
    Ok(resolve_index(index, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Nil, |v| Reply::Bulk(Bytes::copy_from_slice(v))))
}

/// LSET key index element
fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // As Redis 7.0: the key is looked up before the index is parsed.
    let Some(list) = ctx.write_as::<L>(&args[1])? else {
        return Err(err::NO_SUCH_KEY);
    };
    let index = args::int(&args[2])?;
    let i = resolve_index(index, list.len()).ok_or(err::INDEX_OUT_OF_RANGE)?;
    list.set(i, args[3].clone());
    ctx.dirty(1);
    Ok(Reply::OK)
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let Some(list) = ctx.read_as::<L>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(match args::resolve_range(start, stop, list.len()) {
        Some((s, e)) => rubra_resp::bulk_array(e - s + 1, list.range(s, e - s + 1)),
        None => Reply::Array(Vec::new()),
    })
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let Some(list) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::OK);
    };
    let len = list.len();
    let (left, right) = match args::resolve_range(start, stop, len) {
        Some((s, e)) => (s, len - e - 1),
        None => (len, 0),
    };
    list.keep_range(left, len.saturating_sub(left + right));
    let removed = left + right;
    if removed > 0 {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(removed as u64);
    } else {
        // Redis signals the key and fires "ltrim" even when nothing was trimmed.
        ctx.signal_unchanged = true;
    }
    Ok(Reply::OK)
}

/// LREM key count element
fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Redis 7.0 accepts LONG_MIN here (it then removes every match from the tail).
    let count = args::int(&args[2])?;
    let elem = &args[3];
    let Some(list) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let removed = list.remove_matching(elem, count.unsigned_abs(), count < 0);
    if removed > 0 {
        ctx.remove_if_empty(&args[1]);
        ctx.dirty(removed);
    }
    Ok(Reply::Int(removed as i64))
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = if is(&args[2], "after") {
        true
    } else if is(&args[2], "before") {
        false
    } else {
        return Err(err::SYNTAX);
    };
    let Some(list) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(pos) = list.position(&args[3]) else {
        return Ok(Reply::Int(-1));
    };
    list.insert(if after { pos + 1 } else { pos }, args[4].clone());
    let len = list.len() as i64;
    ctx.dirty(1);
    Ok(Reply::Int(len))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        let value = args.get(i + 1);
        match value {
            Some(v) if is(opt, "rank") => {
                rank = args::int(v)?;
                if rank == 0 {
                    return Err(Reply::err(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    ));
                }
            }
            Some(v) if is(opt, "count") => {
                count = Some(args::uint(v, Reply::err("ERR COUNT can't be negative"))?);
            }
            Some(v) if is(opt, "maxlen") => {
                maxlen = args::uint(v, Reply::err("ERR MAXLEN can't be negative"))?;
            }
            _ => return Err(err::SYNTAX),
        }
        i += 2;
    }
    let Some(list) = ctx.read_as::<L>(&args[1])? else {
        return Ok(if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        });
    };
    let elem = &args[2];
    let len = list.len();
    let from_tail = rank < 0;
    // Redis 7.0 negates LONG_MIN into itself, which then matches from the first hit.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let scan = if maxlen == 0 {
        len
    } else {
        usize::try_from(maxlen).unwrap_or(usize::MAX).min(len)
    };
    let walk: Box<dyn Iterator<Item = (usize, &[u8])>> = if from_tail {
        Box::new(
            list.iter_rev()
                .enumerate()
                .map(|(k, e)| (len - 1 - k, e))
                .take(scan),
        )
    } else {
        Box::new(list.iter().enumerate().take(scan))
    };
    let mut found = Vec::new();
    let mut matches: u64 = 0;
    for (p, e) in walk {
        if e != &elem[..] {
            continue;
        }
        matches += 1;
        if matches <= skip {
            continue;
        }
        found.push(Reply::Int(p as i64));
        match count {
            None => break,
            Some(0) => {}
            Some(c) if found.len() as u64 >= c => break,
            Some(_) => {}
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

// ---------------------------------------------------------------------------------------
// Moving between lists.

/// Moves one element from `src` to `dst`: Ok(None) if the source is missing (or, while
/// serving a blocked client, not a list). The destination's type is checked before popping.
fn move_one(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Result<Option<Bytes>, Reply> {
    let retry = serving_retry(ctx);
    match ctx.write_as::<L>(src) {
        Ok(Some(l)) if !l.is_empty() => {}
        Ok(_) => return Ok(None),
        Err(_) if retry => return Ok(None),
        Err(e) => return Err(e),
    }
    ctx.check_type::<L>(dst)?;
    let Some(value) = ctx.write_as::<L>(src)?.and_then(|l| pop(l, from)) else {
        return Ok(None);
    };
    push(ctx.write_or_create::<L>(dst)?, to, value.clone());
    // Only now: with src == dst the key must survive the pop.
    ctx.remove_if_empty(src);
    ctx.dirty(2);
    Ok(Some(value))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    Ok(move_one(ctx, &args[1], &args[2], from, to)?.map_or(Reply::Nil, Reply::Bulk))
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(move_one(ctx, &args[1], &args[2], End::Right, End::Left)?.map_or(Reply::Nil, Reply::Bulk))
}

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
struct Mpop {
    keys: Vec<Bytes>,
    end: End,
    count: u64,
}

/// Parses the LMPOP arguments starting at `numkeys_idx`, with Redis's checks in order.
fn parse_mpop(args: &[Bytes], numkeys_idx: usize) -> Result<Mpop, Reply> {
    let numkeys = match args::int(&args[numkeys_idx]) {
        Ok(n) if n > 0 => n as u64,
        _ => return Err(err::NUMKEYS_POSITIVE),
    };
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&w| w < args.len())
        .ok_or(err::SYNTAX)?;
    let end = End::parse(&args[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        match args.get(j + 1) {
            Some(v) if count.is_none() && is(&args[j], "count") => {
                count = match args::int(v) {
                    Ok(n) if n > 0 => Some(n as u64),
                    _ => return Err(err::COUNT_POSITIVE),
                };
                j += 2;
            }
            _ => return Err(err::SYNTAX),
        }
    }
    Ok(Mpop {
        keys: args[numkeys_idx + 1..where_idx].to_vec(),
        end,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list of `m.keys`; replies [key, [elements]] and
/// propagates as `LPOP|RPOP key n`, as Redis does. Ok(None) if every list is empty.
fn mpop_from_first(ctx: &mut Ctx, m: &Mpop) -> Result<Option<Reply>, Reply> {
    let Some(i) = first_ready(ctx, &m.keys)? else {
        return Ok(None);
    };
    let key = &m.keys[i];
    let n = usize::try_from(m.count).unwrap_or(usize::MAX);
    let Some(list) = ctx.write_as::<L>(key)? else {
        return Ok(None);
    };
    let items = pop_n(list, m.end, n);
    let key = &key.clone();
    touched_by_pop(ctx, key);
    ctx.remove_if_empty(key);
    ctx.dirty(items.len() as u64);
    ctx.propagate = Some(vec![vec![
        m.end.pop_name(),
        key.clone(),
        Bytes::from(items.len().to_string()),
    ]]);
    Ok(Some(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        bulks(items),
    ])))
}

/// Records what a pop from the list at `key` changed: that key, or, for a blocked client
/// being served, nothing. Redis 7.0 does not signal the source list of a served BLPOP /
/// BRPOP / BLMPOP (the push that woke it did): no tracking invalidation (a BCAST key keeps
/// the pusher as its last writer, for NOLOOP), no WATCH abort.
fn touched_by_pop(ctx: &mut Ctx, key: &Bytes) {
    if ctx.client.served_key.is_some() {
        ctx.touches_nothing();
    } else {
        ctx.touched_only(key);
    }
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let m = parse_mpop(args, 1)?;
    Ok(mpop_from_first(ctx, &m)?.unwrap_or(Reply::NilArray))
}

// ---------------------------------------------------------------------------------------
// Blocking forms.

fn bpop_generic(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    let timeout = args::timeout_ms(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    let Some(i) = first_ready(ctx, keys)? else {
        return ctx.block_on(keys.to_vec(), timeout, Reply::NilArray);
    };
    let key = &keys[i];
    let Some(value) = ctx.write_as::<L>(key)?.and_then(|l| pop(l, end)) else {
        return Ok(Reply::NilArray);
    };
    ctx.remove_if_empty(key);
    ctx.dirty(1);
    // Only the key popped from changed: WATCH and tracking leave the others alone.
    touched_by_pop(ctx, key);
    ctx.propagate = Some(vec![vec![end.pop_name(), key.clone()]]);
    Ok(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Bulk(value),
    ]))
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop_generic(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop_generic(ctx, args, End::Right)
}

/// The blocking move shared by BLMOVE and BRPOPLPUSH; `as_cmd` is what to propagate.
fn bmove_generic(
    ctx: &mut Ctx,
    args: &[Bytes],
    from: End,
    to: End,
    timeout: u64,
    as_cmd: Vec<Bytes>,
) -> CmdResult {
    if ctx.client.served_key.is_none() && ctx.write(&args[1]).is_some() {
        // Redis looks the source up before LMOVE's own lookups: one access more.
        ctx.separate_lookup();
    }
    match move_one(ctx, &args[1], &args[2], from, to)? {
        Some(v) => {
            if ctx.client.served_key.is_some() {
                // Served after blocking: only the push signals its key (see
                // `touched_by_pop`).
                ctx.touched_only(&args[2]);
            }
            ctx.propagate = Some(vec![as_cmd]);
            Ok(Reply::Bulk(v))
        }
        // Redis answers a null bulk when it may not block (MULTI) but a null array on
        // timeout (RESP2 `$-1` vs `*-1`).
        None if ctx.client.no_block => Ok(Reply::Nil),
        None => ctx.block_on(vec![args[1].clone()], timeout, Reply::NilArray),
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    let timeout = args::timeout_ms(&args[5])?;
    let served_after_blocking = ctx.store.blocking.waiter(ctx.client.id).is_some();
    let (from_word, to_word) = if served_after_blocking {
        (from.word(), to.word())
    } else {
        (args[3].clone(), args[4].clone())
    };
    let as_cmd = vec![
        Bytes::from_static(b"LMOVE"),
        args[1].clone(),
        args[2].clone(),
        from_word,
        to_word,
    ];
    bmove_generic(ctx, args, from, to, timeout, as_cmd)
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = args::timeout_ms(&args[3])?;
    let as_cmd = vec![
        Bytes::from_static(b"RPOPLPUSH"),
        args[1].clone(),
        args[2].clone(),
    ];
    bmove_generic(ctx, args, End::Right, End::Left, timeout, as_cmd)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let m = parse_mpop(args, 2)?;
    let timeout = args::timeout_ms(&args[1])?;
    match mpop_from_first(ctx, &m)? {
        Some(reply) => Ok(reply),
        None => ctx.block_on(m.keys, timeout, Reply::NilArray),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> ListValue {
        items.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn pop_n_order() {
        let mut l = list(&["a", "b", "c"]);
        assert_eq!(pop_n(&mut l, End::Right, 2), vec!["c", "b"]);
        assert_eq!(pop_n(&mut l, End::Left, 5), vec!["a"]);
        assert!(l.is_empty());
    }

    #[test]
    fn indexes() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
    }

    #[test]
    fn numkeys_positions() {
        let args: Vec<Bytes> = ["lmpop", "2", "a", "b", "left"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(lmpop_keys(&args), vec![2, 3]);
        let args: Vec<Bytes> = ["blmpop", "0", "9", "a"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        assert_eq!(blmpop_keys(&args), vec![3]);
    }
}

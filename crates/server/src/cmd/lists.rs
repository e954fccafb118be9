//! List commands (push/pop, ranges, LPOS, LMOVE, LMPOP) and their blocking forms with Redis
//! 7.0 replies. A served blocking command propagates as its non-blocking form, so replicas
//! and the AOF never block on replay.

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;
use std::collections::VecDeque;

type L = Box<VecDeque<Bytes>>;

pub static COMMANDS: &[Command] = &[
    Command::new(
        "lpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "list",
        lpush,
    ),
    Command::new(
        "rpush",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "list",
        rpush,
    ),
    Command::new(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "list",
        lpushx,
    ),
    Command::new(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        "list",
        rpushx,
    ),
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
    Command::new(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        (1, 2, 1),
        "list",
        rpoplpush,
    ),
    Command::new("lmpop", -4, WRITE, (0, 0, 0), "list", lmpop).with_keys(lmpop_keys),
    Command::new("blpop", -3, WRITE | BLOCKING, (1, -2, 1), "list", blpop),
    Command::new("brpop", -3, WRITE | BLOCKING, (1, -2, 1), "list", brpop),
    Command::new(
        "blmove",
        6,
        WRITE | DENYOOM | BLOCKING,
        (1, 2, 1),
        "list",
        blmove,
    ),
    Command::new(
        "brpoplpush",
        4,
        WRITE | DENYOOM | BLOCKING,
        (1, 2, 1),
        "list",
        brpoplpush,
    ),
    Command::new("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), "list", blmpop).with_keys(blmpop_keys),
];

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    fn parse(arg: &[u8]) -> Result<End, Reply> {
        if is(arg, "left") {
            Ok(End::Left)
        } else if is(arg, "right") {
            Ok(End::Right)
        } else {
            Err(err::SYNTAX)
        }
    }

    fn word(self) -> &'static [u8] {
        match self {
            End::Left => b"LEFT",
            End::Right => b"RIGHT",
        }
    }

    fn pop_command(self) -> &'static [u8] {
        match self {
            End::Left => b"LPOP",
            End::Right => b"RPOP",
        }
    }
}

fn pop_end(l: &mut VecDeque<Bytes>, end: End) -> Option<Bytes> {
    match end {
        End::Left => l.pop_front(),
        End::Right => l.pop_back(),
    }
}

fn push_end(l: &mut VecDeque<Bytes>, end: End, v: Bytes) {
    match end {
        End::Left => l.push_front(v),
        End::Right => l.push_back(v),
    }
}

fn push(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let l = if only_existing {
        match ctx.write_as::<L>(&args[1])? {
            Some(l) => l,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        ctx.write_or_create::<L>(&args[1])?
    };
    for v in &args[2..] {
        push_end(l, end, v.clone());
    }
    let len = l.len();
    ctx.dirty((args.len() - 2) as u64);
    Ok(Reply::Int(len as i64))
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, true)
}

/// Pops up to `count` elements from one end; deletes the key when it empties.
fn pop_many(ctx: &mut Ctx, key: &Bytes, end: End, count: usize) -> Result<Vec<Bytes>, Reply> {
    let Some(l) = ctx.write_as::<L>(key)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(count.min(l.len()));
    while out.len() < count {
        match pop_end(l, end) {
            Some(v) => out.push(v),
            None => break,
        }
    }
    if !out.is_empty() {
        ctx.dirty(out.len() as u64);
        ctx.remove_if_empty(key);
    }
    Ok(out)
}

fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(err::wrong_args(
            &String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        ));
    }
    let Some(count_arg) = args.get(2) else {
        let popped = pop_many(ctx, &args[1], end, 1)?;
        return Ok(popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk));
    };
    let count = args::uint(count_arg, err::VALUE_POSITIVE)?;
    if !ctx.check_type::<L>(&args[1])? {
        return Ok(Reply::NilArray);
    }
    let popped = pop_many(ctx, &args[1], end, count as usize)?;
    Ok(Reply::Array(popped.into_iter().map(Reply::Bulk).collect()))
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Left)
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Right)
}

/// LLEN key
fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<L>(&args[1])?.map_or(0, |l| l.len()) as i64,
    ))
}

/// Resolves a possibly negative index into the list.
fn index_of(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 { len as i64 + index } else { index };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let index = args::int(&args[2])?;
    let Some(l) = ctx.read_as::<L>(&args[1])? else {
        return Ok(Reply::Nil);
    };
    Ok(index_of(l.len(), index)
        .and_then(|i| l.get(i))
        .map_or(Reply::Nil, |v| Reply::Bulk(v.clone())))
}

/// LSET key index element
fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let index = args::int(&args[2])?;
    let l = ctx.write_as::<L>(&args[1])?.ok_or(err::NO_SUCH_KEY)?;
    let i = index_of(l.len(), index).ok_or(err::INDEX_OUT_OF_RANGE)?;
    l[i] = args[3].clone();
    ctx.dirty(1);
    Ok(Reply::OK)
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let Some(l) = ctx.read_as::<L>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(Reply::Array(
        match args::resolve_range(start, stop, l.len()) {
            Some((a, b)) => l.range(a..=b).cloned().map(Reply::Bulk).collect(),
            None => Vec::new(),
        },
    ))
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = args::int(&args[2])?;
    let stop = args::int(&args[3])?;
    let Some(l) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::OK);
    };
    let before = l.len();
    match args::resolve_range(start, stop, l.len()) {
        Some((a, b)) => {
            l.truncate(b + 1);
            l.drain(..a);
        }
        None => l.clear(),
    }
    let removed = before - l.len();
    if removed > 0 {
        ctx.dirty(removed as u64);
        ctx.remove_if_empty(&args[1]);
    }
    Ok(Reply::OK)
}

/// LREM key count element
fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = args::int(&args[2])?;
    let Some(l) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let target = &args[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut removed = 0;
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < limit {
            if l[i] == *target {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < limit {
            i -= 1;
            if l[i] == *target {
                l.remove(i);
                removed += 1;
            }
        }
    }
    if removed > 0 {
        ctx.dirty(removed as u64);
        ctx.remove_if_empty(&args[1]);
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
    let Some(l) = ctx.write_as::<L>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(pos) = l.iter().position(|v| *v == args[3]) else {
        return Ok(Reply::Int(-1));
    };
    l.insert(if after { pos + 1 } else { pos }, args[4].clone());
    let len = l.len();
    ctx.dirty(1);
    Ok(Reply::Int(len as i64))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return Err(err::SYNTAX);
        };
        if is(&args[i], "rank") {
            rank = args::int(v)?;
            if rank == 0 {
                return Err(Reply::err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            if rank == i64::MIN {
                return Err(Reply::err("ERR value is out of range"));
            }
        } else if is(&args[i], "count") {
            let n = args::int(v)?;
            if n < 0 {
                return Err(Reply::err("ERR COUNT can't be negative"));
            }
            count = Some(n as usize);
        } else if is(&args[i], "maxlen") {
            let n = args::int(v)?;
            if n < 0 {
                return Err(Reply::err("ERR MAXLEN can't be negative"));
            }
            maxlen = n as usize;
        } else {
            return Err(err::SYNTAX);
        }
        i += 2;
    }
    let none = || {
        if count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Nil
        }
    };
    let Some(l) = ctx.read_as::<L>(&args[1])? else {
        return Ok(none());
    };
    let wanted = match count {
        Some(0) => usize::MAX,
        Some(n) => n,
        None => 1,
    };
    let mut skip = rank.unsigned_abs() as usize - 1;
    let limit = if maxlen == 0 {
        l.len()
    } else {
        maxlen.min(l.len())
    };
    let mut found = Vec::new();
    let positions: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..limit)
    } else {
        Box::new((l.len() - limit..l.len()).rev())
    };
    for p in positions {
        if l[p] == args[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(p);
            if found.len() >= wanted {
                break;
            }
        }
    }
    Ok(match count {
        Some(_) => Reply::Array(found.into_iter().map(|p| Reply::Int(p as i64)).collect()),
        None => found.first().map_or_else(none, |&p| Reply::Int(p as i64)),
    })
}

/// Moves one element from `src` (at `from`) to `dst` (at `to`); Ok(None) if `src` is
/// missing. The destination's type is checked before anything is popped.
fn move_one(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Result<Option<Bytes>, Reply> {
    if !ctx.check_type::<L>(src)? {
        return Ok(None);
    }
    ctx.check_type::<L>(dst)?;
    let Some(v) = pop_many(ctx, src, from, 1)?.into_iter().next() else {
        return Ok(None);
    };
    let l = ctx.write_or_create::<L>(dst)?;
    push_end(l, to, v.clone());
    ctx.dirty(1);
    Ok(Some(v))
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

/// Key positions of a numkeys command whose numkeys is at `at`.
fn keys_after(args: &[Bytes], at: usize) -> Vec<usize> {
    let n = args
        .get(at)
        .and_then(|a| rubra_keyspace::value::parse_i64_strict(a))
        .unwrap_or(0);
    if n <= 0 {
        return Vec::new();
    }
    let end = (at + 1).saturating_add(n as usize).min(args.len());
    (at + 1..end).collect()
}

fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after(args, 1)
}

fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    keys_after(args, 2)
}

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
struct MpopArgs {
    keys: Vec<Bytes>,
    end: End,
    count: usize,
}

fn parse_mpop(args: &[Bytes]) -> Result<MpopArgs, Reply> {
    let n = args::int(&args[0])
        .ok()
        .filter(|&n| n > 0)
        .ok_or(err::NUMKEYS_POSITIVE)?;
    let n = n as usize;
    if n > args.len() - 1 {
        return Err(err::SYNTAX);
    }
    let keys = args[1..=n].to_vec();
    let rest = &args[n + 1..];
    let Some(where_) = rest.first() else {
        return Err(err::SYNTAX);
    };
    let end = End::parse(where_)?;
    let count = match rest.len() {
        1 => 1,
        3 if is(&rest[1], "count") => {
            let c = args::int(&rest[2])
                .ok()
                .filter(|&c| c > 0)
                .ok_or(err::COUNT_POSITIVE)?;
            c as usize
        }
        _ => return Err(err::SYNTAX),
    };
    Ok(MpopArgs { keys, end, count })
}

/// Pops from the first non-empty list of `keys`; None if all are empty. Propagates the
/// plain pop that reproduces it.
fn mpop(ctx: &mut Ctx, keys: &[Bytes], end: End, count: usize) -> Result<Option<Reply>, Reply> {
    for key in keys {
        if !ctx.check_type::<L>(key)? {
            continue;
        }
        let popped = pop_many(ctx, key, end, count)?;
        if popped.is_empty() {
            continue;
        }
        ctx.propagate = Some(vec![vec![
            Bytes::from_static(end.pop_command()),
            key.clone(),
            Bytes::from(popped.len().to_string()),
        ]]);
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
        ])));
    }
    Ok(None)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let a = parse_mpop(&args[1..])?;
    Ok(mpop(ctx, &a.keys, a.end, a.count)?.unwrap_or(Reply::NilArray))
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = args::timeout_ms(&args[1])?;
    let a = parse_mpop(&args[2..])?;
    match mpop(ctx, &a.keys, a.end, a.count)? {
        Some(r) => Ok(r),
        None => ctx.block_on(a.keys, timeout, Reply::NilArray),
    }
}

/// BLPOP/BRPOP: the first non-empty list in argument order, or wait.
fn bpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    let timeout = args::timeout_ms(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    for key in keys {
        if !ctx.check_type::<L>(key)? {
            continue;
        }
        if let Some(v) = pop_many(ctx, key, end, 1)?.into_iter().next() {
            ctx.propagate = Some(vec![vec![
                Bytes::from_static(end.pop_command()),
                key.clone(),
            ]]);
            return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(v)]));
        }
    }
    ctx.block_on(keys.to_vec(), timeout, Reply::NilArray)
}

/// BLPOP key [key ...] timeout
fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Right)
}

fn bmove(ctx: &mut Ctx, args: &[Bytes], from: End, to: End, timeout: &[u8]) -> CmdResult {
    let timeout = args::timeout_ms(timeout)?;
    match move_one(ctx, &args[1], &args[2], from, to)? {
        Some(v) => {
            ctx.propagate = Some(vec![vec![
                Bytes::from_static(b"LMOVE"),
                args[1].clone(),
                args[2].clone(),
                Bytes::from_static(from.word()),
                Bytes::from_static(to.word()),
            ]]);
            Ok(Reply::Bulk(v))
        }
        // Redis answers a timed-out BLMOVE with a null array, not a null bulk.
        None => ctx.block_on(vec![args[1].clone()], timeout, Reply::NilArray),
    }
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let from = End::parse(&args[3])?;
    let to = End::parse(&args[4])?;
    bmove(ctx, args, from, to, &args[5])
}

/// BRPOPLPUSH source destination timeout
fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bmove(ctx, args, End::Right, End::Left, &args[3])
}

//! String commands (GET, SET and its options, counters, ranges, LCS) with Redis 7.0 replies.
//! Commands whose effect depends on the clock (relative TTLs) propagate an absolute form, so
//! the AOF and replicas reproduce the same state whenever they replay it.

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::value::parse_i64_strict;
use rubra_keyspace::{Entry, StrValue, Value};
use rubra_resp::Reply;

type S = StrValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("get", 2, READONLY | FAST, (1, 1, 1), "string", get),
    Command::new("set", -3, WRITE | DENYOOM, (1, 1, 1), "string", set),
    Command::new("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", setnx),
    Command::new("setex", 4, WRITE | DENYOOM, (1, 1, 1), "string", setex),
    Command::new("psetex", 4, WRITE | DENYOOM, (1, 1, 1), "string", psetex),
    Command::new("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", getset),
    Command::new("getex", -2, WRITE | FAST, (1, 1, 1), "string", getex),
    Command::new("getdel", 2, WRITE | FAST, (1, 1, 1), "string", getdel),
    Command::new("mget", -2, READONLY | FAST, (1, -1, 1), "string", mget),
    Command::new("mset", -3, WRITE | DENYOOM, (1, -1, 2), "string", mset),
    Command::new("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), "string", msetnx),
    Command::new("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", append),
    Command::new("strlen", 2, READONLY | FAST, (1, 1, 1), "string", strlen),
    Command::new("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", incr),
    Command::new("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", decr),
    Command::new("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", incrby),
    Command::new("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", decrby),
    Command::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", incrbyfloat),
    Command::new("getrange", 4, READONLY, (1, 1, 1), "string", getrange),
    Command::new("substr", 4, READONLY, (1, 1, 1), "string", getrange),
    Command::new("setrange", 4, WRITE | DENYOOM, (1, 1, 1), "string", setrange),
    Command::new("lcs", -3, READONLY, (1, 2, 1), "string", lcs),
];

/// Error for APPEND/SETRANGE/SETBIT results above `proto-max-bulk-len`.
pub(crate) const TOO_BIG: Reply =
    Reply::err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

/// Reads a string key: Ok(None) if missing, WRONGTYPE for other types.
fn read_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c S>, Reply> {
    ctx.read_as::<S>(key)
}

/// GET key
fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(match read_str(ctx, &args[1])? {
        Some(s) => Reply::Bulk(Bytes::copy_from_slice(s)),
        None => Reply::Nil,
    })
}

/// How a write sets the key's TTL.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the current TTL (KEEPTTL).
    Keep,
    /// Expire at this absolute unix time in ms.
    At(i64),
}

/// Parses an expiry argument of SET/GETEX (`unit_ms` = 1000 for seconds, 1 for ms;
/// `relative` adds now). Redis rejects values <= 0 and results that overflow.
fn parse_expire(
    ctx: &Ctx,
    arg: &[u8],
    unit_ms: i64,
    relative: bool,
    cmd: &str,
) -> Result<i64, Reply> {
    let n = args::int(arg)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let mut at = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if relative {
        at = at.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?;
    }
    Ok(at)
}

/// The unit (ms per argument unit) and relativity of an EX/PX/EXAT/PXAT option name.
fn expire_option(a: &[u8]) -> Option<(i64, bool)> {
    if is(a, "ex") {
        Some((1000, true))
    } else if is(a, "px") {
        Some((1, true))
    } else if is(a, "exat") {
        Some((1000, false))
    } else if is(a, "pxat") {
        Some((1, false))
    } else {
        None
    }
}

/// Which command's options `parse_string_opts` reads: SET takes NX / XX / GET / KEEPTTL,
/// GETEX takes PERSIST; both take EX / PX / EXAT / PXAT.
#[derive(Clone, Copy, PartialEq)]
enum OptsOf {
    Set,
    Getex,
}

/// Options of SET and GETEX, parsed but not yet validated: the expire value is read only
/// after the whole list parsed (a syntax error wins over a bad time), and GETEX reads it
/// only once the key holds a string.
#[derive(Default)]
struct StringOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (unit in ms, relative, the value argument).
    expire: Option<(i64, bool, &'a Bytes)>,
}

/// Parses SET / GETEX options as Redis's shared parser does. Names are compared as C
/// strings (up to a NUL). The same option may repeat (the last time wins); NX and XX
/// exclude each other, and KEEPTTL, PERSIST and the four expire forms exclude each other
/// (an expire form only excludes the other three); an expire form with no value after it,
/// or anything else, is a syntax error.
fn parse_string_opts(opts: &[Bytes], of: OptsOf) -> Result<StringOpts<'_>, Reply> {
    let set = of == OptsOf::Set;
    let mut o = StringOpts::default();
    let mut i = 0;
    while i < opts.len() {
        let a = args::c_str(&opts[i]);
        let timed = o.expire.is_some();
        if is(a, "nx") && !o.xx && set {
            o.nx = true;
        } else if is(a, "xx") && !o.nx && set {
            o.xx = true;
        } else if is(a, "get") && set {
            o.get = true;
        } else if is(a, "keepttl") && !o.persist && !timed && set {
            o.keepttl = true;
        } else if is(a, "persist") && !timed && !o.keepttl && !set {
            o.persist = true;
        } else if let (Some((unit, relative)), Some(v)) = (expire_option(a), opts.get(i + 1)) {
            let same_form = o.expire.is_none_or(|(u, r, _)| (u, r) == (unit, relative));
            if o.keepttl || o.persist || !same_form {
                return Err(err::SYNTAX);
            }
            o.expire = Some((unit, relative, v));
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    Ok(o)
}

/// SET's options with the expire value validated.
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Ttl,
}

fn parse_set_opts(ctx: &Ctx, opts: &[Bytes]) -> Result<SetOpts, Reply> {
    let o = parse_string_opts(opts, OptsOf::Set)?;
    let ttl = match o.expire {
        Some((unit, relative, v)) => Ttl::At(parse_expire(ctx, v, unit, relative, "set")?),
        None if o.keepttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    Ok(SetOpts {
        nx: o.nx,
        xx: o.xx,
        get: o.get,
        ttl,
    })
}

/// The shared write of SET and friends: stores `value` under `key` with the TTL rule,
/// and sets what replicas get (an absolute PXAT when the TTL is set).
fn store_string(ctx: &mut Ctx, key: &Bytes, value: &Bytes, ttl: Ttl) {
    let now = ctx.now_ms;
    ctx.expire_before_overwrite(key);
    let expire_at = match ttl {
        Ttl::Clear => 0,
        Ttl::Keep => match ctx.db().get(key, now) {
            Some(_) => ctx.db().expire_at(key),
            None => 0,
        },
        Ttl::At(at) => at as u64,
    };
    if let Ttl::At(at) = ttl {
        // A time already past is stored as it is (the key is then expired: the next
        // lookup deletes it and propagates the DEL), and goes out as SET ... PXAT like any
        // other, as Redis 7.0 does.
        ctx.propagate = Some(vec![vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            value.clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::from(at.to_string()),
        ]]);
    }
    let db = ctx.client.db;
    let stored = ctx.adopt.string_for(db, key, value);
    let entry = Entry::new(Value::Str(stored), now);
    ctx.overwrite(key, entry, expire_at);
    ctx.dirty(1);
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ts|KEEPTTL]
fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = parse_set_opts(ctx, &args[3..])?;
    let key = &args[1];
    let old = if o.get {
        Some(read_str(ctx, key)?.map(|s| Bytes::copy_from_slice(s)))
    } else {
        None
    };
    let now = ctx.now_ms;
    if o.nx || o.xx {
        let exists = ctx.db().contains(key, now);
        if o.nx && exists {
            // Redis's lookup for writing was an access.
            ctx.access(key);
        }
        if (o.nx && exists) || (o.xx && !exists) {
            return Ok(match old {
                Some(v) => v.map_or(Reply::Nil, Reply::Bulk),
                None => Reply::Nil,
            });
        }
    }
    store_string(ctx, key, &args[2], o.ttl);
    if o.get && ctx.propagate.is_none() {
        // Replicas get the write without GET (every GET after the value), as from Redis;
        // with an expire the command was rewritten whole already.
        let without_get = args
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !is(a, "get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate = Some(vec![without_get]);
    }
    Ok(match old {
        Some(v) => v.map_or(Reply::Nil, Reply::Bulk),
        None => Reply::OK,
    })
}

/// SETNX key value
fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    if ctx.db().contains(&args[1], now) {
        ctx.access(&args[1]);
        return Ok(Reply::Int(0));
    }
    store_string(ctx, &args[1], &args[2], Ttl::Clear);
    Ok(Reply::Int(1))
}

fn set_with_ttl(ctx: &mut Ctx, args: &[Bytes], unit_ms: i64) -> CmdResult {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    let at = parse_expire(ctx, &args[2], unit_ms, true, &name)?;
    store_string(ctx, &args[1], &args[3], Ttl::At(at));
    Ok(Reply::OK)
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1000)
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1)
}

/// GETSET key value (SET ... GET without options).
fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let old = read_str(ctx, &args[1])?.map(|s| Bytes::copy_from_slice(s));
    store_string(ctx, &args[1], &args[2], Ttl::Clear);
    // Propagated as SET key value, as Redis does.
    ctx.propagate = Some(vec![vec![
        Bytes::from_static(b"SET"),
        args[1].clone(),
        args[2].clone(),
    ]]);
    Ok(old.map_or(Reply::Nil, Reply::Bulk))
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ts|PERSIST]
fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enum Change {
        None,
        Persist,
        At(i64),
    }
    // As Redis 7.0: the options are parsed first, but the expire value is validated only
    // once the key is known to be a string (`GETEX missing PX 0` is nil, not an error).
    let o = parse_string_opts(&args[2..], OptsOf::Getex)?;
    let mut change = if o.persist {
        Change::Persist
    } else {
        Change::None
    };
    let key = &args[1];
    let Some(value) = read_str(ctx, key)?.map(|s| Bytes::copy_from_slice(s)) else {
        return Ok(Reply::Nil);
    };
    if let Some((unit, relative, v)) = o.expire {
        change = Change::At(parse_expire(ctx, v, unit, relative, "getex")?);
    }
    let now = ctx.now_ms;
    match change {
        Change::None => {}
        Change::Persist => {
            if ctx.db().persist(key, now) {
                ctx.propagate = Some(vec![vec![Bytes::from_static(b"PERSIST"), key.clone()]]);
                ctx.dirty(1);
            }
        }
        Change::At(at) if at <= now as i64 => {
            ctx.db().remove(key);
            let del = super::keys::expiry_delete(ctx);
            ctx.propagate = Some(vec![vec![del, key.clone()]]);
            ctx.dirty(1);
        }
        Change::At(at) => {
            ctx.db().set_expire(key, at as u64, now);
            ctx.propagate = Some(vec![vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(at.to_string()),
            ]]);
            ctx.dirty(1);
        }
    }
    Ok(Reply::Bulk(value))
}

/// GETDEL key
fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(value) = read_str(ctx, &args[1])?.map(|s| Bytes::copy_from_slice(s)) else {
        return Ok(Reply::Nil);
    };
    ctx.db().remove(&args[1]);
    ctx.propagate = Some(vec![vec![Bytes::from_static(b"DEL"), args[1].clone()]]);
    ctx.dirty(1);
    Ok(Reply::Bulk(value))
}

/// MGET key [key ...] — non-string keys read as nil, as in Redis.
fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        out.push(match ctx.read(key).map(|e| &e.value) {
            Some(Value::Str(s)) => Reply::Bulk(Bytes::copy_from_slice(s)),
            _ => Reply::Nil,
        });
    }
    Ok(Reply::Array(out))
}

fn check_pairs(args: &[Bytes]) -> Result<(), Reply> {
    if args.len().is_multiple_of(2) {
        return Err(err::wrong_args(
            &String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        ));
    }
    Ok(())
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_pairs(args)?;
    for pair in args[1..].chunks_exact(2) {
        store_string(ctx, &pair[0], &pair[1], Ttl::Clear);
    }
    Ok(Reply::OK)
}

/// MSETNX key value [key value ...] — all or nothing.
fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    check_pairs(args)?;
    let now = ctx.now_ms;
    for pair in args[1..].chunks_exact(2) {
        if ctx.db().contains(&pair[0], now) {
            // Redis looks the keys up for writing until one exists: an access.
            ctx.access(&pair[0]);
            return Ok(Reply::Int(0));
        }
    }
    for pair in args[1..].chunks_exact(2) {
        store_string(ctx, &pair[0], &pair[1], Ttl::Clear);
    }
    Ok(Reply::Int(1))
}

/// The largest string a write may produce.
fn max_len(ctx: &Ctx) -> usize {
    ctx.store.config.proto_max_bulk_len
}

/// APPEND key value
fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let limit = max_len(ctx);
    let current = ctx.write_as::<S>(&args[1])?.map(|s| s.len());
    if current.unwrap_or(0) + args[2].len() > limit {
        return Err(TOO_BIG);
    }
    let s = ctx.write_or_create::<S>(&args[1])?;
    s.extend_from_slice(&args[2]);
    let len = s.len();
    if current.is_some() {
        // Appending to an existing string makes it raw in Redis; a new key is encoded
        // by content.
        ctx.set_raw(&args[1], true);
    }
    ctx.dirty(1);
    Ok(Reply::Int(len as i64))
}

/// STRLEN key
fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        read_str(ctx, &args[1])?.map_or(0, |s| s.len()) as i64
    ))
}

/// Adds `by` to the integer stored at `key`, keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &Bytes, by: i64) -> CmdResult {
    // One lookup for the read, the write and the encoding flag (INCR is a hot path).
    let new = match ctx.write(key) {
        Some(entry) => {
            let Value::Str(s) = &mut entry.value else {
                return Err(err::WRONGTYPE);
            };
            // The error replies are built only when needed: an eager `ok_or(err::X)` builds
            // and drops one on every call.
            let Some(old) = parse_i64_strict(s) else {
                return Err(err::NOT_INTEGER);
            };
            let Some(new) = old.checked_add(by) else {
                return Err(err::OVERFLOW);
            };
            s.set(itoa::Buffer::new().format(new).as_bytes());
            entry.raw = false;
            entry.no_int = false;
            // Redis stores a small result as its shared integer, a big one in place.
            entry.unshared = false;
            new
        }
        None => {
            let now = ctx.now_ms;
            let text = StrValue::from_slice(itoa::Buffer::new().format(by).as_bytes());
            ctx.db().set(key.clone(), Value::Str(text), now);
            by
        }
    };
    ctx.dirty(1);
    Ok(Reply::Int(new))
}

/// INCR key
fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

/// DECR key
fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = args::int(&args[2])?;
    incr_by(ctx, &args[1], by)
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = args::int(&args[2])?;
    let neg = by
        .checked_neg()
        .ok_or(Reply::err("ERR decrement would overflow"))?;
    incr_by(ctx, &args[1], neg)
}

/// INCRBYFLOAT key increment — propagated as SET ... KEEPTTL with the exact result, so
/// replicas never redo floating-point maths.
fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Long-double arithmetic and printing, as Redis (see `longdouble`).
    let current = ctx.write_as::<S>(&args[1])?.map(|s| s.to_vec());
    let text = super::longdouble::incr_text(current.as_deref(), &args[2]).map_err(Reply::err)?;
    let text = Bytes::from(text);
    ctx.write_or_create::<S>(&args[1])?.set(&text);
    // Redis stores the printed long double as is, never int-encoded.
    ctx.set_no_int(&args[1]);
    ctx.dirty(1);
    ctx.propagate = Some(vec![vec![
        Bytes::from_static(b"SET"),
        args[1].clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    Ok(Reply::Bulk(text))
}

/// GETRANGE key start end (SUBSTR is the old name).
fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let start = args::int(&args[2])?;
    let end = args::int(&args[3])?;
    let Some(s) = read_str(ctx, &args[1])? else {
        return Ok(Reply::bulk(b""));
    };
    Ok(match string_range(start, end, s.len()) {
        Some((a, b)) => Reply::Bulk(Bytes::copy_from_slice(&s[a..=b])),
        None => Reply::bulk(b""),
    })
}

/// GETRANGE's index rules (they differ from LRANGE's): negative indexes count from the
/// end and clamp to 0, an end past the string clamps to its last byte.
pub(crate) fn string_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let len = len as i64;
    let fix = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(len - 1));
    (start <= end).then_some((start as usize, end as usize))
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = args::int(&args[2])?;
    if offset < 0 {
        return Err(Reply::err("ERR offset is out of range"));
    }
    let offset = offset as usize;
    let value = &args[3];
    let current = ctx.write_as::<S>(&args[1])?.map(|s| s.len());
    if value.is_empty() {
        return Ok(Reply::Int(current.unwrap_or(0) as i64));
    }
    if offset.saturating_add(value.len()) > max_len(ctx) {
        return Err(TOO_BIG);
    }
    let s = ctx.write_or_create::<S>(&args[1])?;
    let end = offset + value.len();
    if s.len() < end {
        s.resize(end, 0);
    }
    s[offset..end].copy_from_slice(value);
    let len = s.len();
    ctx.set_raw(&args[1], true);
    ctx.dirty(1);
    Ok(Reply::Int(len as i64))
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // The keys' types first, then the options, as Redis checks them.
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, Reply> {
        match ctx.read(key).map(|e| &e.value) {
            None => Ok(Vec::new()),
            Some(Value::Str(s)) => Ok(s.to_vec()),
            Some(_) => Err(Reply::err(
                "ERR The specified keys must contain string values",
            )),
        }
    };
    let a = fetch(&args[1])?;
    let b = fetch(&args[2])?;
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len = 0usize;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "len") {
            want_len = true;
        } else if is(a, "idx") {
            want_idx = true;
        } else if is(a, "withmatchlen") {
            with_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            let n = args::int(&args[i + 1])?;
            min_len = n.max(0) as usize;
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(Reply::err(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    // Redis refuses a table of (len(a)+1) x (len(b)+1) 32-bit cells bigger than
    // proto-max-bulk-len (its transient memory limit), before allocating it.
    let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1);
    if cells * 4 > ctx.store.config.proto_max_bulk_len as u128 {
        return Err(Reply::err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let m = lcs_table(&a, &b);
    let total = m.at(a.len(), b.len());
    if want_len {
        return Ok(Reply::Int(total as i64));
    }
    // Walk back from the end, collecting the common string and, for IDX, the matching
    // ranges (reported from last to first, as Redis does).
    let mut common = vec![0u8; total as usize];
    let mut idx = common.len();
    let mut matches = Vec::new();
    let (mut x, mut y) = (a.len(), b.len());
    let mut current: Option<(usize, usize, usize, usize)> = None; // a range and b range
    let flush = |r: Option<(usize, usize, usize, usize)>, out: &mut Vec<Reply>| {
        if let Some((a0, a1, b0, b1)) = r {
            let len = a1 - a0 + 1;
            if len >= min_len {
                let mut item = vec![
                    Reply::Array(vec![Reply::Int(a0 as i64), Reply::Int(a1 as i64)]),
                    Reply::Array(vec![Reply::Int(b0 as i64), Reply::Int(b1 as i64)]),
                ];
                if with_len {
                    item.push(Reply::Int(len as i64));
                }
                out.push(Reply::Array(item));
            }
        }
    };
    while x > 0 && y > 0 {
        if a[x - 1] == b[y - 1] {
            idx -= 1;
            common[idx] = a[x - 1];
            let (ai, bi) = (x - 1, y - 1);
            current = match current {
                Some((a0, a1, b0, b1)) if a0 == ai + 1 && b0 == bi + 1 => Some((ai, a1, bi, b1)),
                other => {
                    flush(other, &mut matches);
                    Some((ai, ai, bi, bi))
                }
            };
            x -= 1;
            y -= 1;
        } else if m.at(x - 1, y) > m.at(x, y - 1) {
            x -= 1;
        } else {
            y -= 1;
        }
    }
    flush(current, &mut matches);
    if !want_idx {
        return Ok(Reply::Bulk(Bytes::from(common)));
    }
    let pairs = vec![
        (Reply::bulk(b"matches"), Reply::Array(matches)),
        (Reply::bulk(b"len"), Reply::Int(total as i64)),
    ];
    Ok(if ctx.client.resp3 {
        Reply::Map(pairs)
    } else {
        Reply::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    })
}

/// The dynamic-programming table of LCS lengths, (a.len()+1) x (b.len()+1).
struct LcsTable {
    cols: usize,
    cells: Vec<u32>,
}

impl LcsTable {
    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.cols + j]
    }
}

fn lcs_table(a: &[u8], b: &[u8]) -> LcsTable {
    let cols = b.len() + 1;
    let mut cells = vec![0u32; (a.len() + 1) * cols];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            cells[i * cols + j] = if a[i - 1] == b[j - 1] {
                cells[(i - 1) * cols + j - 1] + 1
            } else {
                cells[(i - 1) * cols + j].max(cells[i * cols + j - 1])
            };
        }
    }
    LcsTable { cols, cells }
}

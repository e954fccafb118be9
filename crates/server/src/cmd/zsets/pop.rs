//! ZPOPMIN/ZPOPMAX, ZMPOP and the blocking pops; ZRANDMEMBER and ZSCAN.

use super::*;

// ---------------------------------------------------------------------------------------
// Pops.

/// What a pop propagates, as Redis 7.0 does: ZPOPMIN/ZPOPMAX as the client sent them,
/// BZPOPMIN/BZPOPMAX as `ZPOPMIN|ZPOPMAX key` (no count), ZMPOP/BZMPOP as
/// `ZPOPMIN|ZPOPMAX key n` with n the number popped (their COUNT capped at the set's size).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PopForm {
    AsSent,
    NoCount,
    Popped,
}

/// Pops up to `count` members from the min or max end of `key` (an existing sorted set),
/// deletes the key if emptied, and propagates the pop in `form` so replicas and the AOF
/// replay exactly what the (possibly blocking) command did.
pub(super) fn pop_from(
    ctx: &mut Ctx,
    key: &Bytes,
    max: bool,
    count: usize,
    form: PopForm,
) -> Vec<(Bytes, f64)> {
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
        // As sent: the dispatcher propagates the client's own arguments.
        if form != PopForm::AsSent {
            let name = if max { "ZPOPMAX" } else { "ZPOPMIN" };
            let mut cmd = vec![Bytes::from_static(name.as_bytes()), key.clone()];
            if form == PopForm::Popped {
                cmd.push(Bytes::from(out.len().to_string()));
            }
            ctx.propagate = Some(vec![cmd]);
        }
    }
    out
}

/// The first of `keys` holding a sorted set; WRONGTYPE if one before it has another type.
/// When a blocked client is being served (it is still registered as a waiter), keys of
/// another type are skipped instead: Redis 7.0 keeps such a client blocked rather than
/// failing it because some other client reused the key for another type.
pub(super) fn first_nonempty(ctx: &mut Ctx, keys: &[Bytes]) -> Result<Option<Bytes>, Reply> {
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
pub(super) fn zpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
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
    let items = pop_from(ctx, &args[1], max, count.unwrap_or(1), PopForm::AsSent);
    let nested = ctx.client.resp3 && count.is_some();
    Ok(pairs_reply(items, true, nested))
}

/// ZPOPMIN key [count]
pub(super) fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, false)
}

/// ZPOPMAX key [count]
pub(super) fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zpop(ctx, args, true)
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout
pub(super) fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    let timeout = args::timeout_ms(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    match first_nonempty(ctx, keys)? {
        Some(key) => {
            if ctx.client.served_key.is_none() {
                // Redis's pop looks the key up once more: another access.
                ctx.separate_lookup();
            }
            let items = pop_from(ctx, &key, max, 1, PopForm::NoCount);
            // Only the key popped from changed: WATCH and tracking leave the others alone.
            ctx.touched_only(&key);
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
pub(super) fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub(super) fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

/// Parses `numkeys key ... MIN|MAX [COUNT count]` with numkeys at `args[at]`.
pub(super) fn parse_mpop(args: &[Bytes], at: usize) -> Result<(Vec<Bytes>, bool, usize), Reply> {
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
pub(super) fn mpop_reply(key: Bytes, items: Vec<(Bytes, f64)>) -> Reply {
    Reply::Array(vec![Reply::Bulk(key), pairs_reply(items, true, true)])
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(args, 1)?;
    match first_nonempty(ctx, &keys)? {
        Some(key) => {
            let items = pop_from(ctx, &key, max, count, PopForm::Popped);
            ctx.touched_only(&key);
            Ok(mpop_reply(key, items))
        }
        None => Ok(Reply::NilArray),
    }
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub(super) fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let timeout = args::timeout_ms(&args[1])?;
    let (keys, max, count) = parse_mpop(args, 2)?;
    match first_nonempty(ctx, &keys)? {
        Some(key) => {
            let items = pop_from(ctx, &key, max, count, PopForm::Popped);
            ctx.touched_only(&key);
            Ok(mpop_reply(key, items))
        }
        None => ctx.block_on(keys, timeout, Reply::NilArray),
    }
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN.

/// ZRANDMEMBER key [count [WITHSCORES]]
pub(super) fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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
            .map_or(Reply::Nil, |(m, _)| Reply::Bulk(Bytes::copy_from_slice(m))));
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
        .filter_map(|i| {
            z.get_by_position(i)
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
        })
        .collect();
    Ok(pairs_reply(items, withscores, resp3))
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count] — scores as strings, as Redis sends them.
/// A small set (listpack-sized in Redis) is returned whole in rank order with cursor 0 and
/// listpack score text, as Redis does; a large one walks hash positions (see
/// `scan_positions`), which stay valid while members are added and removed.
pub(super) fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = scan_cursor(args)?;
    let Some(z) = ctx.read_as::<Z>(&args[1])? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let sa = parse_scan_args(cursor, args)?;
    let mut items = Vec::new();
    let mut push = |m: &[u8], text: String| {
        if scan_match(&sa.pattern, m) {
            items.push(Reply::Bulk(Bytes::copy_from_slice(m)));
            items.push(Reply::Bulk(Bytes::from(text)));
        }
    };
    if z.is_compact() {
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
pub(super) fn listpack_score(s: f64) -> String {
    // Redis 7.0's d2string: integral values within +-2^62 print as integers.
    if s.fract() == 0.0 && s.abs() <= 2f64.powi(62) {
        (s as i64).to_string()
    } else {
        format_double(s)
    }
}

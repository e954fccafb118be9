//! Generic keyspace commands: existence, deletion, renaming, copying, moving between
//! databases, iteration (KEYS, SCAN, RANDOMKEY), flushing, OBJECT, and key expiry.

use super::args::{c_int, int, is};
use super::flags::*;
use super::{err, hashes, CmdResult, Command, Ctx};
use crate::exec::lazyfree;
use bytes::Bytes;
use rubra_keys::glob_match;
use rubra_keyspace::{Entry, ValueType};
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("del", -2, WRITE, (1, -1, 1), "generic", del),
    Command::new("unlink", -2, WRITE | FAST, (1, -1, 1), "generic", del),
    Command::new("exists", -2, READONLY | FAST, (1, -1, 1), "generic", exists),
    Command::new("touch", -2, READONLY | FAST, (1, -1, 1), "generic", touch),
    Command::new("type", 2, READONLY | FAST, (1, 1, 1), "generic", type_cmd),
    Command::new("rename", 3, WRITE, (1, 2, 1), "generic", rename),
    Command::new("renamenx", 3, WRITE | FAST, (1, 2, 1), "generic", renamenx),
    Command::new("keys", 2, READONLY, (0, 0, 0), "generic", keys),
    Command::new("scan", -2, READONLY | ARBITRARY_KEYS, (0, 0, 0), "generic", scan),
    Command::new("randomkey", 1, READONLY | ARBITRARY_KEYS, (0, 0, 0), "generic", randomkey),
    Command::new("dbsize", 1, READONLY | FAST, (0, 0, 0), "server", dbsize),
    Command::new("flushdb", -1, WRITE, (0, 0, 0), "server", flushdb),
    Command::new("flushall", -1, WRITE, (0, 0, 0), "server", flushall),
    Command::new("swapdb", 3, WRITE | FAST, (0, 0, 0), "server", swapdb),
    Command::new("move", 3, WRITE | FAST | OTHER_DB, (1, 1, 1), "generic", move_cmd),
    Command::new("copy", -3, WRITE | DENYOOM | OTHER_DB, (1, 2, 1), "generic", copy),
    Command::new("object", -2, READONLY | CONTAINER, (2, 2, 1), "generic", object),
    Command::new("expire", -3, WRITE | FAST, (1, 1, 1), "generic", expire),
    Command::new("pexpire", -3, WRITE | FAST, (1, 1, 1), "generic", pexpire),
    Command::new("expireat", -3, WRITE | FAST, (1, 1, 1), "generic", expireat),
    Command::new("pexpireat", -3, WRITE | FAST, (1, 1, 1), "generic", pexpireat),
    Command::new("ttl", 2, READONLY | FAST, (1, 1, 1), "generic", ttl),
    Command::new("pttl", 2, READONLY | FAST, (1, 1, 1), "generic", pttl),
    Command::new("expiretime", 2, READONLY | FAST, (1, 1, 1), "generic", expiretime),
    Command::new("pexpiretime", 2, READONLY | FAST, (1, 1, 1), "generic", pexpiretime),
    Command::new("persist", 2, WRITE | FAST, (1, 1, 1), "generic", persist),
];

/// DEL key [key ...] / UNLINK key [key ...] — UNLINK (and DEL under
/// lazyfree-lazy-user-del) frees large values on the lazy-free thread.
fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let lazy = is(&args[0], "unlink") || ctx.store.config.lazy_user_del;
    let mut n = 0;
    // Only the keys deleted count as modified (WATCH): a missing one named too is not.
    // Until a key is missing, all key arguments (`touched` left None) say the same, so
    // nothing is collected on the common path.
    let mut deleted: Option<Vec<Bytes>> = None;
    for (i, key) in args.iter().enumerate().skip(1) {
        let db = ctx.db();
        let removed = if db.contains(key, now) {
            db.remove(key)
        } else {
            None
        };
        let Some(entry) = removed else {
            deleted.get_or_insert_with(|| args[1..i].to_vec());
            continue;
        };
        n += 1;
        if let Some(d) = deleted.as_mut() {
            d.push(key.clone());
        }
        if lazy && entry.value.free_effort() > lazyfree::THRESHOLD {
            lazyfree::free_later(1, entry);
        }
    }
    if deleted.is_some() {
        ctx.touched = deleted;
    }
    ctx.dirty(n);
    Ok(Reply::Int(n as i64))
}

/// EXISTS key [key ...] — a key named twice counts twice.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = args[1..]
        .iter()
        .filter(|k| ctx.read_untouched(k).is_some())
        .count();
    Ok(Reply::Int(n as i64))
}

/// TOUCH key [key ...]
fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = args[1..].iter().filter(|k| ctx.write(k).is_some()).count();
    Ok(Reply::Int(n as i64))
}

/// TYPE key
fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::status(match ctx.read_untouched(&args[1]) {
        Some(e) => e.value.value_type().name(),
        None => "none",
    }))
}

/// Moves `from` to `to` keeping its TTL; `nx` refuses to overwrite. Returns whether it moved.
fn do_rename(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Result<bool, Reply> {
    let now = ctx.now_ms;
    let (from, to) = (&args[1], &args[2]);
    // Looked up for writing, as Redis does: an access (the moved value keeps it).
    if ctx.write(from).is_none() {
        return Err(err::NO_SUCH_KEY);
    }
    if from == to {
        return Ok(!nx);
    }
    // The destination is looked up either way, as Redis does: an expired one is deleted
    // (and its DEL propagated) before the rename.
    if ctx.db().contains(to, now) && nx {
        ctx.access(to);
        return Ok(false);
    }
    let expire_at = ctx.db().expire_at(from);
    let Some(entry) = ctx.db().remove(from) else {
        return Err(err::NO_SUCH_KEY);
    };
    ctx.db().remove(to);
    ctx.db().insert(to, entry, expire_at);
    ctx.dirty(1);
    Ok(true)
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    do_rename(ctx, args, false)?;
    Ok(Reply::OK)
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(do_rename(ctx, args, true)? as i64))
}

/// KEYS pattern
fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let pattern = &args[1];
    let all = &pattern[..] == b"*";
    let mut out = Vec::new();
    ctx.db().for_each(now, |k, _, _| {
        if all || glob_match(pattern, k, false) {
            out.push(Reply::Bulk(Bytes::copy_from_slice(k)));
        }
    });
    Ok(Reply::Array(out))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cursor = hashes::parse_cursor(&args[1]).ok_or(Reply::err("ERR invalid cursor"))?;
    let mut pattern: Option<Bytes> = None;
    let mut count = 10usize;
    let mut type_filter: Option<Option<ValueType>> = None;
    let mut type_name: Option<Vec<u8>> = None;
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(err::SYNTAX);
        }
        if is(&args[i], "match") {
            // A lone `*` is no filter at all (the glob itself does not match an empty key).
            pattern = (args[i + 1].as_ref() != b"*").then(|| args[i + 1].clone());
        } else if is(&args[i], "count") {
            let n = int(&args[i + 1])?;
            if n < 1 {
                return Err(err::SYNTAX);
            }
            count = n.min(1 << 20) as usize;
        } else if is(&args[i], "type") {
            // An unknown type name matches nothing, as in Redis.
            type_filter = Some(ValueType::from_name(&args[i + 1]));
            type_name = Some(args[i + 1].to_ascii_lowercase());
        } else {
            return Err(err::SYNTAX);
        }
        i += 2;
    }
    let (next, mut keys) = ctx.db().scan(cursor, count, |k, _| {
        pattern.as_ref().is_none_or(|p| glob_match(p, k, false))
    });
    // As Redis's scanGenericCommand, per key that matched the pattern: with TYPE, a read
    // lookup (a keyspace hit or miss; an expired key is deleted and then reads as type
    // "none"), then the expiry check, which deletes a key found expired (its DEL is
    // propagated and counted in expired_keys) and leaves it out.
    let now = ctx.now_ms;
    keys.retain(|k| {
        if let Some(wanted) = &type_filter {
            let found = ctx.read_untouched(k).map(|e| e.value.value_type());
            let same = match (found, wanted) {
                (Some(t), Some(w)) => t == *w,
                (None, _) => type_name.as_deref() == Some(b"none".as_slice()),
                _ => false,
            };
            if !same {
                return false;
            }
        }
        // A key the TYPE lookup just deleted is no longer stored: kept, as in Redis.
        let due = ctx
            .db()
            .peek_stored(k)
            .is_some_and(|(_, at)| at != 0 && at <= now);
        if due {
            // Deletes it (logged for propagation) unless this node holds expiry back.
            ctx.db().get(k, now);
        }
        !due
    });
    Ok(Reply::Array(vec![
        Reply::bulk_string(next.to_string()),
        Reply::bulk_array(keys),
    ]))
}

/// RANDOMKEY — as Redis's dbRandomKey: expired keys picked on the way are deleted (their
/// DELs propagated) until a live key turns up or none is left. Where expired keys are not
/// deleted (a replica, a pause) and every key has a TTL, the 100th pick is returned as it
/// is, expired or not, instead of looping forever.
fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.client.db;
    let mut tries = 100;
    loop {
        let d = &ctx.store.dbs[db];
        let all_volatile = d.len() == d.expires_count();
        let Some(key) = ctx.store.dbs[db].random_key(&mut ctx.store.rng) else {
            return Ok(Reply::Nil);
        };
        if ctx.store.dbs[db].expire_at(&key) == 0 {
            return Ok(Reply::Bulk(key));
        }
        tries -= 1;
        if all_volatile && ctx.store.dbs[db].replica_mode && tries == 0 {
            return Ok(Reply::Bulk(key));
        }
        if ctx.store.dbs[db].get(&key, now).is_some() {
            return Ok(Reply::Bulk(key));
        }
    }
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.db().len() as i64))
}

/// Whether FLUSHALL/FLUSHDB frees on the lazy-free thread: ASYNC, SYNC, or without an
/// argument as lazyfree-lazy-user-flush says (Redis 7.0).
fn flush_is_async(ctx: &Ctx, args: &[Bytes]) -> Result<bool, Reply> {
    match args.len() {
        1 => Ok(ctx.store.config.get_value("lazyfree-lazy-user-flush") == "yes"),
        2 if is(&args[1], "async") => Ok(true),
        2 if is(&args[1], "sync") => Ok(false),
        _ => Err(err::SYNTAX),
    }
}

/// Empties database `db`, failing the transactions that watch its keys; the keys are
/// freed on the lazy-free thread if `lazy`.
fn flush_db(ctx: &mut Ctx, db: usize, lazy: bool) {
    let now = ctx.now_ms;
    let store = &mut *ctx.store;
    let dbs = &store.dbs;
    store.watches.touch_db(
        db,
        None,
        |d, k| dbs[d].peek(k, 0).is_some(),
        |d, k| super::tx::stored_but_expired(&dbs[d], k, now),
    );
    // Clients blocked on keys of this database are checked again: XREADGROUP readers of a
    // flushed stream get -UNBLOCKED, as in Redis; others keep waiting.
    store.blocking.signal_db(db);
    let n = store.dbs[db].len() as u64;
    if lazy && n > 0 {
        let old = store.dbs[db].take_all();
        lazyfree::free_later(n, old);
    } else {
        store.dbs[db].clear();
    }
    store.dirty += n.max(1);
}

/// FLUSHDB [ASYNC|SYNC]
fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_is_async(ctx, args)?;
    flush_db(ctx, ctx.client.db, lazy);
    crate::exec::tracking::flushed(ctx.store);
    Ok(Reply::OK)
}

/// FLUSHALL [ASYNC|SYNC]
fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_is_async(ctx, args)?;
    for db in 0..ctx.store.dbs.len() {
        flush_db(ctx, db, lazy);
    }
    crate::exec::tracking::flushed(ctx.store);
    crate::repl::replica_expire::forget_all(ctx.store);
    // Its save may leave the change counter where it was: it still propagates.
    crate::persist::saving::after_flushall(ctx.store);
    ctx.force_propagate = true;
    Ok(Reply::OK)
}

/// A database number already parsed as a C int, checked against the databases there are.
fn db_number(ctx: &Ctx, n: i64) -> Result<usize, Reply> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.store.dbs.len())
        .ok_or(err::DB_INDEX)
}

/// SWAPDB index1 index2
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.config.cluster_enabled {
        return Err(Reply::err("ERR SWAPDB is not allowed in cluster mode"));
    }
    // Both numbers are parsed before either is checked against the databases.
    let a = c_int(&args[1], Some("ERR invalid first DB index"))?;
    let b = c_int(&args[2], Some("ERR invalid second DB index"))?;
    let (a, b) = (db_number(ctx, a)?, db_number(ctx, b)?);
    if a != b {
        let now = ctx.now_ms;
        let store = &mut *ctx.store;
        let dbs = &store.dbs;
        for (x, y) in [(a, b), (b, a)] {
            // A watched key changes if it is stored in either database.
            store.watches.touch_db(
                x,
                Some(y),
                |d, k| dbs[d].peek(k, 0).is_some(),
                |d, k| super::tx::stored_but_expired(&dbs[d], k, now),
            );
        }
        store.dbs.swap(a, b);
        store.blocking.swap_dbs(a, b);
    }
    // Counted (and propagated) even when both are the same database, as in Redis.
    ctx.store.dirty += 1;
    Ok(Reply::OK)
}

/// MOVE key db
fn move_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.config.cluster_enabled {
        return Err(Reply::err("ERR MOVE is not allowed in cluster mode"));
    }
    let target = db_number(ctx, c_int(&args[2], None)?)?;
    let src = ctx.client.db;
    if target == src {
        return Err(Reply::err(
            "ERR source and destination objects are the same",
        ));
    }
    let now = ctx.now_ms;
    let key = &args[1];
    // Both lookups are for writing in Redis: accesses to the keys found (the moved value
    // keeps its own).
    if ctx.write(key).is_none() {
        return Ok(Reply::Int(0));
    }
    if ctx.store.dbs[target].contains(key, now) {
        let lfu = ctx.store.config.lfu;
        if let Some(e) = ctx.store.dbs[target].get_mut(key, now) {
            super::ctx::touch(e, now, lfu);
        }
        return Ok(Reply::Int(0));
    }
    let expire_at = ctx.store.dbs[src].expire_at(key);
    let Some(entry) = ctx.store.dbs[src].remove(key) else {
        return Ok(Reply::Int(0));
    };
    ctx.store.dbs[target].insert(key, entry, expire_at);
    ctx.store.key_modified(target, key);
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut target = ctx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
            i += 1;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            // As Redis 7.0: an int, then a valid index, and only after all the options the
            // cluster-mode check (so a bad index gets the integer error there too).
            let n = c_int(&args[i + 1], None)?;
            let databases = ctx
                .store
                .config
                .get_value("databases")
                .parse::<i64>()
                .unwrap_or(16);
            if n < 0 || n >= databases {
                return Err(err::DB_INDEX);
            }
            target = n as usize;
            i += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let (src, dst) = (&args[1], &args[2]);
    let src_db = ctx.client.db;
    if ctx.store.config.cluster_enabled && (src_db != 0 || target != 0) {
        return Err(Reply::err(
            "ERR Copying to another database is not allowed in cluster mode",
        ));
    }
    if target >= ctx.store.dbs.len() {
        return Err(err::DB_INDEX);
    }
    if src_db == target && src == dst {
        return Err(Reply::err(
            "ERR source and destination objects are the same",
        ));
    }
    let now = ctx.now_ms;
    // A read lookup in Redis: a keyspace hit or miss, and an access to the source.
    let Some(entry) = ctx.read(src).cloned() else {
        return Ok(Reply::Int(0));
    };
    let expire_at = ctx.store.dbs[src_db].expire_at(src);
    if ctx.store.dbs[target].contains(dst, now) {
        if !replace {
            // Looked up for writing: an access to the key left in place.
            let lfu = ctx.store.config.lfu;
            if let Some(e) = ctx.store.dbs[target].get_mut(dst, now) {
                super::ctx::touch(e, now, lfu);
            }
            return Ok(Reply::Int(0));
        }
        ctx.store.dbs[target].remove(dst);
    }
    ctx.store.dbs[target].insert(
        dst,
        Entry {
            lfu: rubra_keyspace::db::LFU_INIT,
            unshared: true,
            ..entry
        },
        expire_at,
    );
    // Only the destination changed (and in another database, nothing here did).
    if target != src_db {
        ctx.store.key_modified(target, dst);
        ctx.touched = Some(Vec::new());
    } else {
        ctx.touched_only(dst);
    }
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP
fn object(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") && args.len() == 2 {
        return Ok(Reply::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ));
    }
    if args.len() != 3 {
        return Err(err::unknown_subcommand("object", sub));
    }
    let now = ctx.now_ms;
    use crate::config::EvictionPolicy as P;
    let lfu = ctx.store.config.lfu.enabled;
    // Redis shares the objects of small integers (0..9999) unless an LRU/LFU policy
    // needs per-key access data; a shared object reports INT_MAX references.
    let shares = ctx.store.config.maxmemory == 0
        || !matches!(
            ctx.store.config.policy,
            P::AllKeysLru | P::VolatileLru | P::AllKeysLfu | P::VolatileLfu
        );
    let decay = ctx.store.config.lfu.decay_minutes;
    // Redis's OBJECT lookup counts a keyspace hit or miss (it only skips the touch and
    // the keymiss event).
    if ctx.db().peek(&args[2], now).is_some() {
        ctx.store.stats.keyspace_hits += 1;
    } else {
        ctx.store.stats.keyspace_misses += 1;
    }
    let Some(entry) = ctx.db().peek(&args[2], now) else {
        return Ok(Reply::Nil);
    };
    if is(sub, "encoding") {
        Ok(Reply::bulk(entry.encoding_name().as_bytes()))
    } else if is(sub, "refcount") {
        let small_int = match &entry.value {
            rubra_keyspace::Value::Str(s) => {
                entry.encoding_name() == "int"
                    && std::str::from_utf8(s)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_some_and(|n| (0..10000).contains(&n))
            }
            _ => false,
        };
        Ok(Reply::Int(if shares && small_int && !entry.unshared {
            i32::MAX as i64
        } else {
            1
        }))
    } else if is(sub, "idletime") {
        if lfu {
            return Err(Reply::err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        let idle = (now / 1000).saturating_sub(entry.lru as u64);
        Ok(Reply::Int(idle as i64))
    } else if is(sub, "freq") {
        if !lfu {
            return Err(Reply::err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
        }
        // LFUDecrAndReturn: the counter less one per lfu-decay-time minutes since the
        // last access.
        let elapsed_min = (now / 1000).saturating_sub(entry.lru as u64) / 60;
        let periods = elapsed_min.checked_div(decay).unwrap_or(0);
        Ok(Reply::Int((entry.lfu as u64).saturating_sub(periods) as i64))
    } else {
        Err(err::unknown_subcommand("object", sub))
    }
}

/// The NX/XX/GT/LT condition of the EXPIRE family.
#[derive(Default)]
struct ExpireCond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_cond(args: &[Bytes]) -> Result<ExpireCond, Reply> {
    let mut c = ExpireCond::default();
    for a in args {
        if is(a, "nx") {
            c.nx = true;
        } else if is(a, "xx") {
            c.xx = true;
        } else if is(a, "gt") {
            c.gt = true;
        } else if is(a, "lt") {
            c.lt = true;
        } else {
            return Err(crate::cmd::err::echo(&[b"ERR Unsupported option ", a]));
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(Reply::err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if c.gt && c.lt {
        return Err(Reply::err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(c)
}

/// How a key deleted because its expire time is already past is propagated: UNLINK when
/// expired keys are freed lazily (lazyfree-lazy-expire), else DEL, as Redis.
pub(crate) fn expiry_delete(ctx: &Ctx) -> Bytes {
    if ctx.store.config.get_value("lazyfree-lazy-expire") == "yes" {
        Bytes::from_static(b"UNLINK")
    } else {
        Bytes::from_static(b"DEL")
    }
}

/// The shared body of EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT: `unit_ms` converts the argument
/// to milliseconds, `relative` adds the current time.
fn set_expiry(ctx: &mut Ctx, args: &[Bytes], unit_ms: i64, relative: bool) -> CmdResult {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    // Options before the time, as Redis checks them.
    let cond = parse_expire_cond(&args[3..])?;
    let n = int(&args[2])?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    let mut at = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if relative {
        at = at.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?;
    }
    let now = ctx.now_ms;
    if ctx.write(&args[1]).is_none() {
        return Ok(Reply::Int(0));
    }
    let current = ctx.db().expire_at(&args[1]);
    // A key without TTL counts as an infinite TTL for GT/LT.
    let allowed = if cond.nx {
        current == 0
    } else if cond.xx && current == 0 {
        false
    } else if cond.gt {
        current != 0 && at > current as i64
    } else if cond.lt {
        current == 0 || (at as i128) < current as i128
    } else {
        true
    };
    if !allowed {
        return Ok(Reply::Int(0));
    }
    // Replicas and the AOF get an absolute time (or the deletion), never a relative one
    // that would restart when replayed.
    let key = args[1].clone();
    // While an AOF loads, a time already past is kept as the expiry (Redis's
    // checkAlreadyExpired): later commands in the file still see the key, and it
    // expires once loaded.
    if at <= now as i64 && !ctx.store.loading {
        ctx.db().remove(&key);
        ctx.propagate = Some(vec![vec![expiry_delete(ctx), key]]);
    } else {
        ctx.db().set_expire(&key, at as u64, now);
        // PEXPIREAT goes out as sent; the others as PEXPIREAT with the absolute time and
        // the client's options (Redis rewrites the name and the time only).
        if relative || unit_ms != 1 {
            let mut cmd = vec![
                Bytes::from_static(b"PEXPIREAT"),
                key,
                Bytes::from(at.to_string()),
            ];
            cmd.extend(args[3..].iter().cloned());
            ctx.propagate = Some(vec![cmd]);
        }
    }
    ctx.dirty(1);
    Ok(Reply::Int(1))
}

/// EXPIRE key seconds [NX|XX|GT|LT]
fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_expiry(ctx, args, 1000, true)
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT]
fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_expiry(ctx, args, 1, true)
}

/// EXPIREAT key unix-time-seconds [NX|XX|GT|LT]
fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_expiry(ctx, args, 1000, false)
}

/// PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]
fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_expiry(ctx, args, 1, false)
}

/// -2 if the key is missing, -1 if it has no TTL, else its expiry time (absolute ms).
/// The key's expiry time for TTL and friends, looked up as Redis's LOOKUP_NOTOUCH does:
/// counted as a hit or miss, but the key's access time (OBJECT IDLETIME, LRU) is kept.
fn expiry_of(ctx: &mut Ctx, key: &[u8]) -> i64 {
    if ctx.read_untouched(key).is_none() {
        return -2;
    }
    match ctx.db().expire_at(key) {
        0 => -1,
        at => at as i64,
    }
}

/// TTL key — seconds, rounded to the nearest second as Redis does.
fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let at = expiry_of(ctx, &args[1]);
    Ok(Reply::Int(if at < 0 {
        at
    } else {
        ((at - ctx.now_ms as i64).max(0) + 500) / 1000
    }))
}

/// PTTL key
fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let at = expiry_of(ctx, &args[1]);
    Ok(Reply::Int(if at < 0 {
        at
    } else {
        (at - ctx.now_ms as i64).max(0)
    }))
}

/// EXPIRETIME key — seconds, rounded to the nearest one as TTL is (Redis shares the
/// rounding: an expiry at ...500 ms is the next second).
fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let at = expiry_of(ctx, &args[1]);
    Ok(Reply::Int(if at < 0 {
        at
    } else {
        // Wide arithmetic: the latest expiry (i64::MAX ms) rounds up without overflowing,
        // as Redis's build computes it.
        ((i128::from(at) + 500) / 1000) as i64
    }))
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(expiry_of(ctx, &args[1])))
}

/// PERSIST key
fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let now = ctx.now_ms;
    // Looked up for writing, as Redis does: an access.
    ctx.write(&args[1]);
    let done = ctx.db().persist(&args[1], now);
    if done {
        ctx.dirty(1);
    }
    Ok(Reply::Int(done as i64))
}

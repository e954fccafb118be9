//! DUMP and RESTORE with Redis's payload format (RDB value encoding + RDB version + CRC64),
//! so values move between Rubra and Redis nodes, and MIGRATE has one codec to use.

use super::args::{self, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use crate::persist::rdb::{dump_value, restore_value};
use bytes::Bytes;
use rubra_keyspace::Entry;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("dump", 2, READONLY, (1, 1, 1), "generic", dump),
    Command::new("restore", -4, WRITE | DENYOOM, (1, 1, 1), "generic", restore),
    Command::new("restore-asking", -4, WRITE | DENYOOM, (1, 1, 1), "generic", restore),
];

/// DUMP key
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(match ctx.read(&args[1]) {
        Some(e) => Reply::Bulk(Bytes::from(dump_value(&e.value))),
        None => Reply::Nil,
    })
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None, None);
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if let (true, Some(v)) = (is(a, "idletime") && freq.is_none(), next) {
            let n = args::int(v)?;
            if n < 0 {
                return Err(Reply::err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(n as u64);
            i += 1;
        } else if let (true, Some(v)) = (is(a, "freq") && idle.is_none(), next) {
            let n = args::int(v)?;
            if !(0..=255).contains(&n) {
                return Err(Reply::err(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(n as u8);
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    // Options, an existing key, then the TTL: Redis's order of checks.
    let key = args[1].clone();
    let now = ctx.now_ms;
    if !replace && ctx.db().contains(&key, now) {
        return Err(Reply::err("BUSYKEY Target key name already exists."));
    }
    let ttl = args::int(&args[2])?;
    if ttl < 0 {
        return Err(Reply::err("ERR Invalid TTL value, must be >= 0"));
    }
    // Corruption reasons are logged at Redis's verbose level (loglevel debug or verbose).
    let verbose = matches!(ctx.store.config.get_value("loglevel"), "debug" | "verbose");
    // Deep sanitization unless sanitize-dump-payload is no (rubra's checks are deep in
    // both modes but for redundant fields Redis leaves alone then; see restore_value).
    let deep = ctx.store.config.get_value("sanitize-dump-payload") != "no";
    let checks = (!ctx.store.skip_checksum_validation, deep);
    let value = restore_value(&args[3], checks, verbose)?;
    let expire_at = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t as u64,
        (t, false) => now.saturating_add(t as u64),
    };
    if expire_at != 0 && expire_at <= now {
        // Already expired: the key just goes away (REPLACE deleted the old one).
        if ctx.db().remove(&key).is_some() {
            ctx.propagate = Some(vec![vec![Bytes::from_static(b"DEL"), key]]);
            ctx.dirty(1);
        }
        return Ok(Reply::OK);
    }
    let mut entry = Entry::new(value, now);
    if let Some(secs) = idle {
        entry.lru = rubra_keyspace::db::lru_clock(now.saturating_sub(secs * 1000));
    }
    if let Some(f) = freq {
        entry.lfu = f;
    }
    ctx.db().insert(&key, entry, expire_at);
    if expire_at != 0 && !absttl {
        // Replicas get the absolute time, never a TTL that restarts on replay.
        // As Redis: the TTL argument becomes the absolute time and ABSTTL is appended;
        // everything else goes as the client sent it.
        let mut rewritten = args.to_vec();
        rewritten[2] = Bytes::from(expire_at.to_string());
        rewritten.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate = Some(vec![rewritten]);
    }
    ctx.dirty(1);
    Ok(Reply::OK)
}

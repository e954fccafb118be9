//! Whole-server commands: TIME, LASTSAVE, DEBUG, MEMORY, SHUTDOWN.

use super::*;

/// TIME
pub(super) fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(ctx.now_ms as u128 * 1000);
    Ok(Reply::Array(vec![
        Reply::bulk_string((micros / 1_000_000).to_string()),
        Reply::bulk_string((micros % 1_000_000).to_string()),
    ]))
}

/// LASTSAVE
pub(super) fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.store.lastsave as i64))
}

/// DEBUG SLEEP seconds | DEBUG POPULATE count [prefix] [size] | DEBUG HELP
pub(super) fn debug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "populate") && (3..=5).contains(&args.len()) {
        let count = int(&args[2])?;
        if count < 0 {
            return Err(Reply::err("ERR count must be positive"));
        }
        let prefix = args.get(3).map_or(&b"key"[..], |p| &p[..]).to_vec();
        let size = match args.get(4) {
            Some(s) => Some(int(s)?.max(0) as usize),
            None => None,
        };
        let now = ctx.now_ms;
        for i in 0..count {
            let mut key = prefix.clone();
            key.extend_from_slice(format!(":{i}").as_bytes());
            if ctx.db().contains(&key, now) {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            ctx.db()
                .set(Bytes::from(key), rubra_keyspace::Value::Str(value), now);
        }
        return Ok(Reply::OK);
    }
    if is(sub, "sleep") && args.len() == 3 {
        let secs = float(&args[2])?;
        if secs > 0.0 {
            // Holds the store lock on purpose: DEBUG SLEEP simulates a busy server.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        }
        return Ok(Reply::OK);
    }
    if is(sub, "help") {
        return Ok(help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "SLEEP <seconds>",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("debug", sub))
}

/// MEMORY USAGE key [SAMPLES n] — an estimate of the bytes a key uses.
pub(super) fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if is(&args[1], "usage") && args.len() >= 3 {
        let now = ctx.now_ms;
        let Some(entry) = ctx.db().peek(&args[2], now) else {
            return Ok(Reply::Nil);
        };
        use rubra_keyspace::Value;
        let overhead = 64 + args[2].len();
        let size = match &entry.value {
            Value::Str(s) => s.len(),
            Value::List(l) => l.iter().map(|e| e.len() + 32).sum(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + 72).sum(),
            Value::Set(s) => s.iter().map(|m| m.len() + 40).sum(),
            Value::ZSet(z) => z.iter().map(|(m, _)| m.len() + 80).sum(),
            Value::Stream(s) => s.approx_bytes(),
        };
        return Ok(Reply::Int((overhead + size) as i64));
    }
    if is(&args[1], "help") {
        return Ok(help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("memory", &args[1]))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] — flushes the AOF, saves an RDB file when asked
/// or when save rules exist (unless NOSAVE), and exits. A failed save refuses to stop
/// unless FORCE, as in Redis, so data is not silently lost.
pub(super) fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut save = None;
    let mut force = false;
    for a in &args[1..] {
        if is(a, "nosave") && save.is_none() {
            save = Some(false);
        } else if is(a, "save") && save.is_none() {
            save = Some(true);
        } else if is(a, "force") {
            force = true;
        } else if !is(a, "now") {
            return Err(err::SYNTAX);
        }
    }
    tracing::info!("shutdown requested by client");
    if let Err(e) = crate::persist::saving::prepare_shutdown(ctx.store, save) {
        tracing::error!(error = %e, "error preparing to shut down");
        if !force {
            return Err(Reply::err("ERR Errors trying to SHUTDOWN. Check logs."));
        }
    }
    std::process::exit(0);
}

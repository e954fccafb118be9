//! Persistence commands: SAVE, BGSAVE, BGREWRITEAOF.

use super::flags::*;
use super::{CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("bgrewriteaof", 1, ADMIN | NOSCRIPT, (0, 0, 0), "server", bgrewriteaof),
    Command::new("save", 1, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), "server", save),
    Command::new("bgsave", -1, ADMIN | NOSCRIPT, (0, 0, 0), "server", bgsave),
];

/// SAVE — writes dump.rdb synchronously (blocks all clients, as in Redis).
fn save(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.store.saving.bgsave_in_progress {
        return Err(Reply::err("ERR Background save already in progress"));
    }
    crate::persist::saving::save_now(ctx.store).map_err(|e| {
        tracing::error!(error = %e, "SAVE failed");
        Reply::error(format!("ERR {e}"))
    })?;
    Ok(Reply::OK)
}

/// BGSAVE [SCHEDULE] — saves from copy-on-write snapshots while clients keep being served.
/// Redis runs one background job at a time and none from a transaction: during an AOF
/// rewrite it refuses (or, with SCHEDULE, schedules), inside EXEC it schedules; the cron
/// starts a scheduled save once nothing runs.
fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if args.len() == 2 && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => return Err(super::err::SYNTAX),
    };
    if ctx.store.saving.bgsave_in_progress {
        return Err(Reply::err("ERR Background save already in progress"));
    }
    if ctx.store.aof_rewrite_in_progress || ctx.client.in_exec {
        if schedule || ctx.client.in_exec {
            ctx.store.saving.scheduled = true;
            return Ok(Reply::status("Background saving scheduled"));
        }
        return Err(Reply::err(
            "ERR Another child process is active (AOF?): can't BGSAVE right now. \
             Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
        ));
    }
    crate::persist::saving::start_bgsave(ctx.store).map_err(Reply::error)?;
    Ok(Reply::status("Background saving started"))
}

/// BGREWRITEAOF — writes a new AOF base from a point-in-time snapshot in the background;
/// clients keep being served, and writes made meanwhile go to a new incr file opened now.
/// With the AOF off it still writes the base (Redis 7.0 does too: the manifest then lists
/// just that base, which a later `appendonly yes` start loads).
fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.store.aof_rewrite_in_progress {
        return Err(Reply::err(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    // Redis runs one child at a time and forks none inside EXEC: during a BGSAVE or a
    // transaction the rewrite waits for the cron.
    if ctx.store.saving.bgsave_in_progress || ctx.client.in_exec {
        ctx.store.saving.aof_rewrite_scheduled = true;
        ctx.store.saving.aof_rewrite_failures = 0;
        return Ok(Reply::status(
            "Background append only file rewriting scheduled",
        ));
    }
    crate::persist::aof_files::start_background_rewrite(ctx.store).map_err(Reply::error)?;
    Ok(Reply::status(
        "Background append only file rewriting started",
    ))
}

//! Persistence commands: SAVE, BGSAVE, BGREWRITEAOF.

use super::flags::*;
use super::{CmdResult, Command, Ctx};
use crate::persist::jobs::Job;
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
fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if args.len() == 2 && a.eq_ignore_ascii_case(b"schedule") => true,
        Some(_) => return Err(super::err::SYNTAX),
    };
    if ctx.store.saving.bgsave_in_progress {
        if schedule {
            ctx.store.saving.scheduled = true;
            return Ok(Reply::status("Background saving scheduled"));
        }
        return Err(Reply::err("ERR Background save already in progress"));
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
    let Some(jobs) = ctx.store.jobs.clone() else {
        return Err(Reply::err("ERR background jobs are not available"));
    };
    let store = &mut *ctx.store;
    let tmp = match crate::persist::aof_files::begin_rewrite(store) {
        Ok(tmp) => tmp,
        Err(e) => {
            tracing::warn!("{e}");
            store.saving.last_aof_rewrite_ok = false;
            return Err(Reply::err(
                "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.",
            ));
        }
    };
    let snapshots = store.dbs.iter().map(|db| db.snapshot()).collect();
    store.aof_rewrite_in_progress = true;
    store.saving.aof_rewrites += 1;
    let job = Job::RewriteAof {
        snapshots,
        functions: store.scripts.library_codes(),
        tmp,
        rdb: store.config.get_value("aof-use-rdb-preamble") == "yes",
        replid: store.feed.replid.clone(),
        offset: store.feed.offset,
        generation: store.saving.aof_rewrite_generation,
    };
    if jobs.send(job).is_err() {
        store.aof_rewrite_in_progress = false;
        return Err(Reply::err("ERR background jobs are not available"));
    }
    tracing::info!("Background append only file rewriting started");
    Ok(Reply::status(
        "Background append only file rewriting started",
    ))
}

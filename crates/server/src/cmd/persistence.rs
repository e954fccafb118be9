//! Persistence commands: SAVE, BGSAVE, BGREWRITEAOF.

use super::flags::*;
use super::{CmdResult, Command, Ctx};
use crate::persist::jobs::Job;
use bytes::Bytes;
use rubra_resp::Reply;
use std::path::PathBuf;

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

/// BGREWRITEAOF — rewrites the AOF from a point-in-time snapshot in the background;
/// clients keep being served, and writes made meanwhile are appended to the new file.
/// With the AOF off it still writes the file from a snapshot (Redis 7.0 rewrites then too,
/// producing the base file a later `appendonly yes` start would load).
fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.store.aof_rewrite_in_progress {
        return Err(Reply::err(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    let Some(jobs) = ctx.store.jobs.clone() else {
        return Err(Reply::err("ERR background jobs are not available"));
    };
    let cfg = &ctx.store.config;
    let configured = PathBuf::from(cfg.get_value("dir")).join(cfg.get_value("appendfilename"));
    let (path, standalone) = match ctx.store.aof.as_mut() {
        Some(aof) => {
            aof.start_rewrite();
            (aof.path.clone(), None)
        }
        None => (configured.clone(), Some(configured)),
    };
    let tmp = PathBuf::from(format!("{}.rewrite-{}", path.display(), std::process::id()));
    // The rewritten file ends with the snapshot's last SELECT: make the tail start with one.
    ctx.store.feed.reset_db();
    let snapshots = ctx.store.dbs.iter().map(|db| db.snapshot()).collect();
    ctx.store.aof_rewrite_in_progress = true;
    ctx.store.saving.aof_rewrites += 1;
    let functions = ctx.store.scripts.library_codes();
    let job = Job::RewriteAof {
        snapshots,
        functions,
        tmp,
        standalone,
    };
    if jobs.send(job).is_err() {
        ctx.store.aof_rewrite_in_progress = false;
        if let Some(aof) = ctx.store.aof.as_mut() {
            aof.abort_rewrite();
        }
        return Err(Reply::err("ERR background jobs are not available"));
    }
    Ok(Reply::status(
        "Background append only file rewriting started",
    ))
}

//! Persistence commands: BGREWRITEAOF (SAVE/BGSAVE come with the RDB codec).

use super::flags::*;
use super::{CmdResult, Command, Ctx};
use crate::jobs::Job;
use bytes::Bytes;
use rubra_resp::Reply;
use std::path::PathBuf;

pub static COMMANDS: &[Command] = &[Command::new(
    "bgrewriteaof",
    1,
    ADMIN | NOSCRIPT | NO_MULTI,
    (0, 0, 0),
    "server",
    bgrewriteaof,
)];

/// BGREWRITEAOF — rewrites the AOF from a point-in-time snapshot in the background;
/// clients keep being served, and writes made meanwhile are appended to the new file.
fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.store.aof_rewrite_in_progress {
        return Err(Reply::err(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    let Some(jobs) = ctx.store.jobs.clone() else {
        return Err(Reply::err("ERR background jobs are not available"));
    };
    let Some(aof) = ctx.store.aof.as_mut() else {
        return Err(Reply::err(
            "ERR AOF is off: set appendonly yes (in the config or at start-up) first",
        ));
    };
    let tmp = PathBuf::from(format!(
        "{}.rewrite-{}",
        aof.path.display(),
        std::process::id()
    ));
    aof.start_rewrite();
    // The rewritten file ends with the snapshot's last SELECT: make the tail start with one.
    ctx.store.feed.reset_db();
    let snapshots = ctx.store.dbs.iter().map(|db| db.snapshot()).collect();
    ctx.store.aof_rewrite_in_progress = true;
    if jobs.send(Job::RewriteAof { snapshots, tmp }).is_err() {
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

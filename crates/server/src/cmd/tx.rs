//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's semantics — queued
//! commands run atomically (under the store lock, nothing interleaves), a command rejected
//! while queueing aborts EXEC with EXECABORT, and a changed, expired or flushed WATCHed key
//! makes EXEC return a null array.

use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use crate::exec::dispatch::call;
use bytes::Bytes;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("multi", 1, NOSCRIPT | LOADING | STALE | FAST | TX_CONTROL, (0, 0, 0), "transactions", multi),
    Command::new("exec", 1, NOSCRIPT | LOADING | STALE | TX_CONTROL, (0, 0, 0), "transactions", exec),
    Command::new("discard", 1, NOSCRIPT | LOADING | STALE | FAST | TX_CONTROL, (0, 0, 0), "transactions", discard),
    Command::new("watch", -2, NOSCRIPT | LOADING | STALE | FAST | TX_CONTROL, (1, -1, 1), "transactions", watch),
    Command::new("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "transactions", unwatch),
];

/// MULTI
fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Reply::err("ERR MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_failed = false;
    Ok(Reply::OK)
}

fn clear_watches(ctx: &mut Ctx) {
    let watched = std::mem::take(&mut ctx.client.watched);
    ctx.store.watches.unwatch_all(ctx.client.id, &watched);
}

/// Whether a watched key has logically expired but is still stored (Redis fails EXEC then).
fn watched_key_expired(ctx: &mut Ctx) -> bool {
    let now = ctx.now_ms;
    ctx.client.watched.iter().any(|(db, key)| {
        let db = &ctx.store.dbs[*db];
        db.peek(key, u64::MAX).is_some() && db.peek(key, now).is_none()
    })
}

/// EXEC
fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let Some(queue) = ctx.client.multi.take() else {
        return Err(Reply::err("ERR EXEC without MULTI"));
    };
    if std::mem::take(&mut ctx.client.multi_failed) {
        clear_watches(ctx);
        return Err(Reply::err(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let doomed = ctx.store.watches.is_dirty(ctx.client.id) || watched_key_expired(ctx);
    clear_watches(ctx);
    if doomed {
        return Ok(Reply::NilArray);
    }
    let mut replies = Vec::with_capacity(queue.len());
    ctx.client.no_block = true;
    ctx.client.in_exec = true;
    ctx.store.feed.begin_exec();
    for args in &queue {
        let reply = match super::lookup(&args[0]) {
            Some(cmd) => call(ctx, cmd, args),
            None => err::unknown_command(args),
        };
        replies.push(reply);
    }
    ctx.client.no_block = false;
    ctx.client.in_exec = false;
    ctx.store.feed.end_exec();
    Ok(Reply::Array(replies))
}

/// DISCARD
fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(Reply::err("ERR DISCARD without MULTI"));
    }
    ctx.client.multi_failed = false;
    clear_watches(ctx);
    Ok(Reply::OK)
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(Reply::err("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for key in &args[1..] {
        if !ctx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            ctx.client.watched.push((db, key.clone()));
            ctx.store.watches.watch(ctx.client.id, db, key.clone());
        }
    }
    Ok(Reply::OK)
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    clear_watches(ctx);
    Ok(Reply::OK)
}

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
    ctx.store.watches.unwatch_all(ctx.client.id);
}

/// Whether `key` is stored but past its TTL at `now` (Redis's keyIsExpired).
pub(crate) fn stored_but_expired(db: &rubra_keyspace::Db, key: &[u8], now: u64) -> bool {
    let at = db.expire_at(key);
    at != 0 && at <= now
}

/// Whether a key that was live when WATCHed has logically expired since, deleted or not
/// (Redis fails EXEC then; keys already expired at WATCH time do not count).
fn watched_key_expired(ctx: &mut Ctx) -> bool {
    let now = ctx.now_ms;
    let keys = ctx.store.watches.live_at_watch(ctx.client.id);
    keys.iter()
        .any(|(db, key)| stored_but_expired(&ctx.store.dbs[*db], key, now))
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
    // Replies before `written` are already encoded (see `written_in`).
    let mut written = 0;
    for args in &queue {
        let resp3 = ctx.client.resp3;
        let reply = match super::lookup(&args[0]) {
            Some(cmd) => call(ctx, cmd, args),
            None => err::unknown_command(args),
        };
        if ctx.client.resp3 != resp3 {
            written = written_in(&mut replies, written, resp3);
        }
        replies.push(reply);
    }
    ctx.client.no_block = false;
    ctx.client.in_exec = false;
    ctx.store.feed.end_exec();
    Ok(Reply::Array(replies))
}

/// A HELLO inside the transaction switched the protocol: Redis has written the replies
/// before it (from `from` on) in the protocol they ran in, and writes the later ones,
/// HELLO's own included, in the new one. Encodes them so; returns the new `from`.
#[cold]
fn written_in(replies: &mut [Reply], from: usize, resp3: bool) -> usize {
    for r in &mut replies[from..] {
        let mut bytes = Vec::new();
        r.encode(&mut bytes, resp3);
        *r = Reply::Raw(bytes.into());
    }
    replies.len()
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
    let now = ctx.now_ms;
    for key in &args[1..] {
        let expired = stored_but_expired(&ctx.store.dbs[db], key, now);
        ctx.store
            .watches
            .watch(ctx.client.id, db, key.clone(), expired);
    }
    Ok(Reply::OK)
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    clear_watches(ctx);
    Ok(Reply::OK)
}

//! Pub/Sub commands. Subscription confirmations are several top-level replies for one
//! command, so handlers return them pre-encoded for the client's protocol (pushes in RESP3).

use super::flags::*;
use super::{args::is, err, CmdResult, Command, Ctx};
use crate::exec::pubsub::Kind;
use bytes::Bytes;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (0, 0, 0), "pubsub", subscribe),
    Command::new("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (0, 0, 0), "pubsub", unsubscribe),
    Command::new("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (0, 0, 0), "pubsub", psubscribe),
    Command::new("punsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (0, 0, 0), "pubsub", punsubscribe),
    Command::new("ssubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (1, -1, 1), "pubsub", ssubscribe),
    Command::new("sunsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE | SUB_OK, (1, -1, 1), "pubsub", sunsubscribe),
    Command::new("publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, (0, 0, 0), "pubsub", publish),
    Command::new("spublish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, (1, 1, 1), "pubsub", spublish),
    Command::new("pubsub", -2, PUBSUB | LOADING | STALE | CONTAINER, (0, 0, 0), "pubsub", pubsub_cmd),
];

fn confirmations(
    ctx: &mut Ctx,
    kind: Kind,
    tag: &str,
    names: Vec<Bytes>,
    subscribe: bool,
) -> Reply {
    let mut out = Vec::new();
    let id = ctx.client.id;
    let count_kinds: &[Kind] = if kind == Kind::Shard {
        &[Kind::Shard]
    } else {
        &[Kind::Channel, Kind::Pattern]
    };
    if names.is_empty() {
        // Unsubscribe from nothing: one reply with a null channel.
        let count = ctx.store.pubsub.count_of(id, count_kinds) as i64;
        Reply::Push(vec![
            Reply::bulk(tag.as_bytes()),
            Reply::Nil,
            Reply::Int(count),
        ])
        .encode(&mut out, ctx.client.resp3);
    }
    for name in names {
        if subscribe {
            ctx.store.pubsub.subscribe(id, kind, name.clone());
        } else {
            ctx.store.pubsub.unsubscribe(id, kind, &name);
        }
        let count = ctx.store.pubsub.count_of(id, count_kinds) as i64;
        Reply::Push(vec![
            Reply::bulk(tag.as_bytes()),
            Reply::Bulk(name),
            Reply::Int(count),
        ])
        .encode(&mut out, ctx.client.resp3);
    }
    ctx.client.subscriptions = ctx
        .store
        .pubsub
        .count_of(id, &[Kind::Channel, Kind::Pattern, Kind::Shard]);
    ctx.client.reply_is_push = true;
    Reply::Raw(Bytes::from(out))
}

/// Redis refuses a subscription to a client that must not block (a script, the AOF
/// loader) with the command's name; MULTI/EXEC is exempt for SUBSCRIBE and PSUBSCRIBE
/// (kept for backward compatibility), not for SSUBSCRIBE.
fn deny_blocking_client(ctx: &Ctx, name: &str, exec_allowed: bool) -> Result<(), Reply> {
    if ctx.client.no_block && !(exec_allowed && ctx.client.in_exec) {
        return Err(Reply::error(format!(
            "ERR {name} isn't allowed for a DENY BLOCKING client"
        )));
    }
    Ok(())
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    deny_blocking_client(ctx, "SUBSCRIBE", true)?;
    Ok(confirmations(
        ctx,
        Kind::Channel,
        "subscribe",
        args[1..].to_vec(),
        true,
    ))
}

/// UNSUBSCRIBE [channel ...]
fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let names = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ctx.store
            .pubsub
            .subscriptions_of(ctx.client.id, Kind::Channel)
    };
    Ok(confirmations(
        ctx,
        Kind::Channel,
        "unsubscribe",
        names,
        false,
    ))
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    deny_blocking_client(ctx, "PSUBSCRIBE", true)?;
    Ok(confirmations(
        ctx,
        Kind::Pattern,
        "psubscribe",
        args[1..].to_vec(),
        true,
    ))
}

/// PUNSUBSCRIBE [pattern ...]
fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let names = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ctx.store
            .pubsub
            .subscriptions_of(ctx.client.id, Kind::Pattern)
    };
    Ok(confirmations(
        ctx,
        Kind::Pattern,
        "punsubscribe",
        names,
        false,
    ))
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    deny_blocking_client(ctx, "SSUBSCRIBE", false)?;
    Ok(confirmations(
        ctx,
        Kind::Shard,
        "ssubscribe",
        args[1..].to_vec(),
        true,
    ))
}

/// SUNSUBSCRIBE [shardchannel ...]
fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let names = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ctx.store
            .pubsub
            .subscriptions_of(ctx.client.id, Kind::Shard)
    };
    Ok(confirmations(
        ctx,
        Kind::Shard,
        "sunsubscribe",
        names,
        false,
    ))
}

fn deliver(ctx: &mut Ctx, kind: Kind, args: &[Bytes]) -> CmdResult {
    let limits = ctx.store.config.pubsub_output_limits;
    let now = ctx.now_ms;
    let store = &mut *ctx.store;
    let n = store
        .pubsub
        .publish(&mut store.clients, kind, &args[1], &args[2], now, limits);
    store.stats.pubsub_messages += 1;
    // Cluster mode: the other nodes deliver it to their subscribers (all nodes for
    // PUBLISH, our shard for SPUBLISH). The reply counts local receivers only, as in Redis.
    if let Some(driver) = store.cluster.as_mut() {
        let outs = driver
            .node
            .publish(&args[1], &args[2], matches!(kind, Kind::Shard));
        crate::cluster::driver::apply(store, outs);
    } else {
        propagate_to_replicas(ctx, args);
    }
    Ok(Reply::Int(n as i64))
}

/// Outside cluster mode a published message goes down the replication stream (not to the
/// AOF), so clients subscribed on the replicas receive it too, as Redis's
/// `forceCommandPropagation(c, PROPAGATE_REPL)` does.
fn propagate_to_replicas(ctx: &mut Ctx, args: &[Bytes]) {
    let feed = &mut ctx.store.feed;
    let before = feed.targets;
    feed.targets &= crate::repl::feed::TARGET_REPL;
    feed.propagate(ctx.client.db, args);
    feed.targets = before;
}

/// PUBLISH channel message
fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    deliver(ctx, Kind::Channel, args)
}

/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    deliver(ctx, Kind::Shard, args)
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS [pattern] | SHARDNUMSUB [channel ...]
fn pubsub_cmd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let ps = &ctx.store.pubsub;
    if is(sub, "channels") || is(sub, "shardchannels") {
        if args.len() > 3 {
            return Err(err::wrong_args("pubsub|channels"));
        }
        let kind = if is(sub, "channels") {
            Kind::Channel
        } else {
            Kind::Shard
        };
        return Ok(Reply::bulk_array(
            ps.channels(kind, args.get(2).map(|p| &p[..])),
        ));
    }
    if is(sub, "numsub") || is(sub, "shardnumsub") {
        let kind = if is(sub, "numsub") {
            Kind::Channel
        } else {
            Kind::Shard
        };
        let mut out = Vec::new();
        for ch in &args[2..] {
            out.push(Reply::Bulk(ch.clone()));
            out.push(Reply::Int(ps.numsub(kind, ch) as i64));
        }
        return Ok(Reply::Array(out));
    }
    if is(sub, "numpat") && args.len() == 2 {
        return Ok(Reply::Int(ps.numpat() as i64));
    }
    if is(sub, "help") {
        return Ok(Reply::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "NUMPAT",
                "NUMSUB [<channel> ...]",
                "SHARDCHANNELS [<pattern>]",
                "SHARDNUMSUB [<shardchannel> ...]",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ));
    }
    Err(err::unknown_subcommand("pubsub", sub))
}

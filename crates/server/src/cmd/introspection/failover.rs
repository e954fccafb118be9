//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis 7.0's standalone
//! coordinated failover. Arguments and preconditions are checked in Redis's order with its
//! error texts; the handover itself is driven by repl/failover.rs.

use super::*;

/// FAILOVER ...
pub(super) fn failover(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.config.cluster_enabled {
        return Err(Reply::err(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        ));
    }
    if args.len() == 2 && is(&args[1], "abort") {
        if ctx.store.failover.is_none() {
            return Err(Reply::err("ERR No failover in progress."));
        }
        crate::repl::failover::abort(ctx.store, "Failover manually aborted");
        return Ok(Reply::OK);
    }
    let mut timeout_ms = 0i64;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < args.len() {
        let a = &args[j];
        if is(a, "timeout") && j + 1 < args.len() && timeout_ms == 0 {
            timeout_ms = int(&args[j + 1])?;
            if timeout_ms <= 0 {
                return Err(Reply::err("ERR FAILOVER timeout must be greater than 0"));
            }
            j += 1;
        } else if is(a, "to") && j + 2 < args.len() && target.is_none() {
            let port = int(&args[j + 2])?;
            target = Some((String::from_utf8_lossy(&args[j + 1]).into_owned(), port));
            j += 2;
        } else if is(a, "force") && !force {
            force = true;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    if ctx.store.failover.is_some() {
        return Err(Reply::err("ERR FAILOVER already in progress."));
    }
    let repl = &ctx.store.replication;
    if repl.primary.is_some() {
        return Err(Reply::err(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    if repl.replicas.is_empty() {
        return Err(Reply::err("ERR FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(Reply::err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    let mut target_addr = None;
    if let Some((host, port)) = &target {
        let replica = repl
            .replicas
            .values()
            .find(|r| r.ip == *host && i64::from(r.listening_port) == *port);
        let Some(replica) = replica else {
            return Err(Reply::err(
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ));
        };
        if replica.state != crate::repl::state::SyncState::Online {
            return Err(Reply::err("ERR FAILOVER target replica is not online."));
        }
        target_addr = Some((host.clone(), replica.listening_port));
    }
    let deadline_ms = (timeout_ms > 0).then(|| crate::store::now_ms() + timeout_ms as u64);
    crate::repl::failover::start(
        ctx.store,
        crate::repl::failover::Failover {
            phase: crate::repl::failover::Phase::WaitForSync,
            target: target_addr,
            deadline_ms,
            force,
        },
    );
    Ok(Reply::OK)
}

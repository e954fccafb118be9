//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis 7.0's standalone
//! coordinated failover. Arguments and preconditions are checked in Redis's order with its
//! error texts. The handover itself (pause writes, wait for the target to catch up, then
//! PSYNC ... FAILOVER so the target promotes itself) needs a replication-link change that
//! is not built yet, so a valid request is refused with an explicit error instead of an OK
//! that would do nothing.

use super::*;

/// FAILOVER ...
pub(super) fn failover(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.config.cluster_enabled {
        return Err(Reply::err(
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
        ));
    }
    // No failover is ever in progress here (see the module comment).
    if args.len() == 2 && is(&args[1], "abort") {
        return Err(Reply::err("ERR No failover in progress."));
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
    }
    Err(Reply::err(
        "ERR FAILOVER handover is not supported by this server yet: run REPLICAOF NO ONE on the replica, then REPLICAOF <host> <port> here",
    ))
}

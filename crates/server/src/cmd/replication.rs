//! Replication commands: REPLICAOF/SLAVEOF, PSYNC/SYNC and REPLCONF (spoken by replicas to
//! their primary), WAIT and ROLE.

use super::args::{int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use crate::persist::jobs::Job;
use crate::repl::role::{clear_primary, set_primary};
use crate::repl::state::{getack_bytes, Announced, ReplicaInfo, SyncState, WaitRequest};
use bytes::Bytes;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("replicaof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "server", replicaof),
    Command::new("slaveof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "server", replicaof),
    Command::new("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), "server", psync),
    Command::new("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), "server", sync),
    Command::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", replconf),
    Command::new("wait", 3, NOSCRIPT, (0, 0, 0), "generic", wait),
    Command::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "server", role),
];

/// REPLICAOF host port | REPLICAOF NO ONE. The checks come in Redis's order: cluster
/// mode, a failover under way, NO ONE, a replica's own connection, then the port (any
/// bad port, not a number or out of range, is "Invalid master port").
fn replicaof(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.config.cluster_enabled {
        return Err(Reply::err("ERR REPLICAOF not allowed in cluster mode."));
    }
    if ctx.store.failover.is_some() {
        return Err(Reply::err("ERR REPLICAOF not allowed while failing over."));
    }
    if is(&args[1], "no") && is(&args[2], "one") {
        if clear_primary(ctx.store) {
            tracing::info!("MASTER MODE enabled (user request)");
        }
        return Ok(Reply::OK);
    }
    if ctx.client.is_replica {
        return Err(Reply::err(
            "ERR Command is not valid when client is a replica.",
        ));
    }
    let port = int(&args[2])
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(Reply::err("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    if let Some(p) = &ctx.store.replication.primary {
        // Redis compares the host with strcasecmp.
        if p.host.eq_ignore_ascii_case(&host) && p.port == port {
            return Ok(Reply::status("OK Already connected to specified master"));
        }
    }
    if ctx.store.jobs.is_none() {
        return Err(Reply::err("ERR background jobs are not available"));
    }
    set_primary(ctx.store, host, port);
    Ok(Reply::OK)
}

fn register_replica(ctx: &mut Ctx, state: SyncState) {
    let id = ctx.client.id;
    let ip = ctx
        .store
        .clients
        .map
        .get(&id)
        .and_then(|h| h.info.addr.rsplit_once(':').map(|(ip, _)| ip.to_string()))
        .unwrap_or_default();
    let announced = ctx
        .store
        .replication
        .announced_ports
        .remove(&id)
        .unwrap_or_default();
    ctx.store.replication.replicas.insert(
        id,
        ReplicaInfo {
            ip,
            listening_port: announced.port,
            state,
            held: Vec::new(),
            capa_eof: announced.capa_eof,
            await_ack: false,
            ack_offset: 0,
            ack_ms: ctx.now_ms,
        },
    );
    ctx.client.is_replica = true;
    ctx.store.feed.active = true;
}

/// PSYNC replid offset — a partial resync from the backlog when possible, else a full one.
fn psync(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.client.is_replica {
        return Err(Reply::err("ERR Replica already attached"));
    }
    let replid = String::from_utf8_lossy(&args[1]).into_owned();
    // PSYNC ... FAILOVER: our primary hands over to us (its FAILOVER): we become a
    // primary, keeping its history as our secondary one, then answer the PSYNC.
    if args.len() > 3 && is(&args[3], "failover") {
        tracing::warn!(replid = %replid, "Failover request received");
        if ctx.store.replication.primary.is_none() {
            return Err(Reply::err("ERR PSYNC FAILOVER can't be sent to a master."));
        }
        if !replid.eq_ignore_ascii_case(&ctx.store.feed.replid) {
            return Err(Reply::err(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        clear_primary(ctx.store);
        tracing::warn!("MASTER MODE enabled (failover request)");
    }
    // No replica may sync with us while we hand over.
    if ctx.store.failover.is_some() {
        return Err(Reply::err("NOMASTERLINK Can't SYNC while failing over"));
    }
    refuse_without_primary_link(ctx)?;
    let wanted = int(&args[2]).unwrap_or(-1);
    if wanted > 0 {
        // The replica asks for the byte after its last one, i.e. it holds wanted - 1 bytes.
        if let Some(tail) = ctx.store.feed.backlog_from(&replid, wanted as u64 - 1) {
            register_replica(ctx, SyncState::Online);
            ctx.store.replication.sync_partial_ok += 1;
            tracing::info!(
                replica = ctx.client.id,
                bytes = tail.len(),
                "partial resynchronization accepted"
            );
            let mut out = format!("+CONTINUE {}\r\n", ctx.store.feed.replid).into_bytes();
            out.extend_from_slice(&tail);
            return Ok(Reply::Raw(Bytes::from(out)));
        }
        ctx.store.replication.sync_partial_err += 1;
    }
    full_sync(ctx, true)
}

/// A replica whose own link is not up serves no sync (Redis's syncCommand): what it
/// holds may be about to be replaced, and a sub-replica that synced now would keep a
/// history its primary is leaving. The sub-replica retries.
fn refuse_without_primary_link(ctx: &Ctx) -> Result<(), Reply> {
    let connected = ctx
        .store
        .replication
        .primary
        .as_ref()
        .is_none_or(|p| p.state == crate::repl::state::LinkState::Connected);
    if connected {
        Ok(())
    } else {
        Err(Reply::err(
            "NOMASTERLINK Can't SYNC while not connected with my master",
        ))
    }
}

/// SYNC — the old protocol: always a full sync, no +FULLRESYNC line.
fn sync(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.is_replica {
        return Err(Reply::err("ERR Replica already attached"));
    }
    if ctx.store.failover.is_some() {
        return Err(Reply::err("NOMASTERLINK Can't SYNC while failing over"));
    }
    refuse_without_primary_link(ctx)?;
    full_sync(ctx, false)
}

fn full_sync(ctx: &mut Ctx, announce: bool) -> CmdResult {
    let Some(jobs) = ctx.store.jobs.clone() else {
        return Err(Reply::err("ERR background jobs are not available"));
    };
    let filters = ctx
        .store
        .replication
        .announced_ports
        .get(&ctx.client.id)
        .copied()
        .unwrap_or_default();
    register_replica(ctx, SyncState::WaitSnapshot);
    ctx.store.replication.sync_full += 1;
    // The stream after the snapshot must start with a SELECT.
    ctx.store.feed.reset_db();
    let offset = ctx.store.feed.offset;
    let replid = ctx.store.feed.replid.clone();
    let snapshots = if filters.exclude_data {
        let empty = rubra_keyspace::Db::new();
        ctx.store.dbs.iter().map(|_| empty.snapshot()).collect()
    } else {
        ctx.store.dbs.iter().map(|d| d.snapshot()).collect()
    };
    let functions = if filters.exclude_functions {
        Vec::new()
    } else {
        ctx.store.scripts.library_codes()
    };
    tracing::info!(
        replica = ctx.client.id,
        offset,
        "full resync requested: starting snapshot"
    );
    let _ = jobs.send(Job::FullSync {
        client: ctx.client.id,
        snapshots,
        functions,
        replid: replid.clone(),
        offset,
    });
    if announce {
        Ok(Reply::Raw(Bytes::from(format!(
            "+FULLRESYNC {replid} {offset}\r\n"
        ))))
    } else {
        Ok(Reply::Raw(Bytes::new()))
    }
}

/// REPLCONF listening-port p | capa c ... | ACK offset | GETACK * | ip-address a
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if !(args.len() - 1).is_multiple_of(2) {
        return Err(err::SYNTAX);
    }
    let mut i = 1;
    while i + 1 < args.len() {
        let (opt, val) = (&args[i], &args[i + 1]);
        if is(opt, "ack") {
            // No reply to ACKs: they flow inside the replication link.
            let offset = int(val).unwrap_or(0).max(0) as u64;
            let now = ctx.now_ms;
            if let Some(r) = ctx.store.replication.replicas.get_mut(&ctx.client.id) {
                r.ack_offset = r.ack_offset.max(offset);
                r.ack_ms = now;
            }
            crate::repl::fullsync::start_stream_on_ack(ctx.store, ctx.client.id);
            serve_waiters(ctx);
            return Ok(Reply::Raw(Bytes::new()));
        } else if is(opt, "getack") {
            // Only meaningful from our primary; the link task answers it.
            return Ok(Reply::Raw(Bytes::new()));
        } else if is(opt, "listening-port") {
            let port = int(val)?;
            ctx.store
                .replication
                .announced_ports
                .entry(ctx.client.id)
                .or_default()
                .port = port.clamp(0, 65535) as u16;
        } else if is(opt, "capa") {
            if is(val, "eof") {
                let announced = ctx.store.replication.announced_ports.entry(ctx.client.id);
                announced.or_default().capa_eof = true;
            }
        } else if is(opt, "rdb-filter-only") {
            // Everything is left out but what the filters name; only `functions` exists.
            let filters = rubra_resp::split_args(val)
                .ok_or_else(|| Reply::err("ERR Missing rdb-filter-only values"))?;
            let mut wanted = Announced {
                exclude_data: true,
                exclude_functions: true,
                ..Announced::default()
            };
            for f in &filters {
                if !f.eq_ignore_ascii_case(b"functions") {
                    return Err(crate::cmd::err::echo(&[
                        b"ERR Unsupported rdb-filter-only option: ",
                        f,
                    ]));
                }
                wanted.exclude_functions = false;
            }
            let announced = ctx.store.replication.announced_ports.entry(ctx.client.id);
            let entry = announced.or_default();
            entry.exclude_data = wanted.exclude_data;
            entry.exclude_functions = wanted.exclude_functions;
        } else if is(opt, "ip-address") || is(opt, "rdb-only") {
            // Accepted: the stream follows the RDB in any case.
        } else {
            return Err(crate::cmd::err::echo(&[
                b"ERR Unrecognized REPLCONF option: ",
                opt,
            ]));
        }
        i += 2;
    }
    Ok(Reply::OK)
}

/// Answers WAIT clients whose target is now acknowledged by enough replicas.
pub(crate) fn serve_waiters(ctx: &mut Ctx) {
    let repl = &mut ctx.store.replication;
    let ready: Vec<(u64, usize)> = repl
        .waiters
        .iter()
        .filter_map(|(id, w)| {
            let n = repl.acked(w.target_offset);
            (n >= w.numreplicas).then_some((*id, n))
        })
        .collect();
    for (id, n) in ready {
        ctx.store.replication.waiters.remove(&id);
        ctx.store.blocking.unblock(id);
        ctx.store.clients.unblock(id, Reply::Int(n as i64));
    }
}

/// WAIT numreplicas timeout — blocks until that many replicas acknowledged every write made
/// before it, or the timeout (ms, 0 = forever) passes; replies with the count reached.
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.store.replication.is_replica() {
        return Err(Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let numreplicas = int(&args[1])?.max(0) as usize;
    let timeout = int(&args[2])?;
    if timeout < 0 {
        return Err(err::TIMEOUT_NEGATIVE);
    }
    let target = ctx.store.feed.offset;
    let acked = ctx.store.replication.acked(target);
    if acked >= numreplicas || ctx.client.no_block {
        return Ok(Reply::Int(acked as i64));
    }
    // Ask replicas to acknowledge now instead of at their next second.
    let getack = getack_bytes();
    ctx.store.feed.emit_raw(&getack);
    ctx.store.replication.waiters.insert(
        ctx.client.id,
        WaitRequest {
            target_offset: target,
            numreplicas,
        },
    );
    ctx.block_on(Vec::new(), timeout as u64, Reply::Int(acked as i64))
}

/// ROLE
fn role(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let repl = &ctx.store.replication;
    if let Some(p) = &repl.primary {
        return Ok(Reply::Array(vec![
            Reply::bulk(b"slave"),
            Reply::bulk(p.host.as_bytes()),
            Reply::Int(p.port as i64),
            Reply::bulk(p.state.role_word().as_bytes()),
            Reply::Int(ctx.store.feed.offset as i64),
        ]));
    }
    let replicas = repl
        .replicas
        .values()
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk(r.ip.as_bytes()),
                Reply::bulk(r.listening_port.to_string().as_bytes()),
                Reply::bulk(r.ack_offset.to_string().as_bytes()),
            ])
        })
        .collect();
    Ok(Reply::Array(vec![
        Reply::bulk(b"master"),
        Reply::Int(ctx.store.feed.offset as i64),
        Reply::Array(replicas),
    ]))
}

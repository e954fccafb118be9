//! MONITOR: turns the connection into a monitor fed by the dispatcher (exec/monitor.rs).

use super::*;

/// MONITOR — answers OK, then every command the server runs arrives on this connection
/// as a status line. Asking again changes nothing and answers nothing, as in Redis; a
/// client that must get one reply per command (inside MULTI) may not monitor.
pub(super) fn monitor(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    if ctx.client.no_block {
        return Err(Reply::err(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if ctx.client.monitor || ctx.client.is_replica {
        return Ok(Reply::Raw(Bytes::new()));
    }
    ctx.client.monitor = true;
    let id = ctx.client.id;
    ctx.store.monitors.ids.push(id);
    if let Some(h) = ctx.store.clients.map.get_mut(&id) {
        h.info.monitor = true;
    }
    Ok(Reply::OK)
}

/// What RESET clears of this module's per-client state: MONITOR mode and CLIENT REPLY
/// OFF/SKIP, as Redis's clearClientConnectionState.
pub(crate) fn reset_client(ctx: &mut Ctx) {
    let id = ctx.client.id;
    if ctx.client.monitor {
        ctx.client.monitor = false;
        ctx.store.monitors.ids.retain(|m| *m != id);
        if let Some(h) = ctx.store.clients.map.get_mut(&id) {
            h.info.monitor = false;
        }
    }
    ctx.client.reply_off = false;
    ctx.client.reply_skip_next = false;
}

//! CLIENT TRACKING | CACHING | GETREDIR | TRACKINGINFO: turning client-side caching on and
//! off, with Redis 7.0's option checks and error texts (state in exec/tracking.rs).

use super::*;
use crate::exec::tracking::ClientMode;

/// The tracking subcommands of CLIENT; None for the other subcommands.
pub(super) fn client_subcommand(ctx: &mut Ctx, args: &[Bytes]) -> Option<CmdResult> {
    let sub = &args[1];
    let n = args.len();
    if is(sub, "tracking") && n >= 3 {
        return Some(tracking(ctx, args));
    }
    if is(sub, "caching") && n >= 3 {
        return Some(caching(ctx, &args[2]));
    }
    if is(sub, "getredir") && n == 2 {
        let r = ctx
            .store
            .tracking
            .clients
            .get(&ctx.client.id)
            .map_or(-1, |m| m.redirect as i64);
        return Some(Ok(Reply::Int(r)));
    }
    if is(sub, "trackinginfo") && n == 2 {
        return Some(Ok(info(ctx)));
    }
    None
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
fn tracking(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    let mut mode = ClientMode::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "redirect") && more {
            j += 1;
            if mode.redirect != 0 {
                return Err(Reply::err(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = int(&args[j])?;
            if id <= 0 || !ctx.store.clients.map.contains_key(&(id as u64)) {
                return Err(Reply::err(
                    "ERR The client ID you want redirect to does not exist",
                ));
            }
            mode.redirect = id as u64;
        } else if is(a, "bcast") {
            mode.bcast = true;
        } else if is(a, "optin") {
            mode.optin = true;
        } else if is(a, "optout") {
            mode.optout = true;
        } else if is(a, "noloop") {
            mode.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }
    if is(&args[2], "off") {
        ctx.store.tracking.disable(me);
        return Ok(Reply::OK);
    }
    if !is(&args[2], "on") {
        return Err(err::SYNTAX);
    }
    if !mode.bcast && !prefixes.is_empty() {
        return Err(Reply::err(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let current = ctx.store.tracking.clients.get(&me).cloned();
    if let Some(cur) = &current {
        if cur.bcast != mode.bcast {
            return Err(Reply::err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(Reply::err(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if mode.optin && mode.optout {
        return Err(Reply::err(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if let Some(cur) = &current {
        if (mode.optin && cur.optout) || (mode.optout && cur.optin) {
            return Err(Reply::err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
    }
    if mode.bcast {
        let existing = current
            .as_ref()
            .map(|c| c.prefixes.clone())
            .unwrap_or_default();
        let overlap = |a: &[u8], b: &[u8]| {
            let n = a.len().min(b.len());
            a[..n] == b[..n]
        };
        for (i, p) in prefixes.iter().enumerate() {
            const MUST_NOT: &[u8] = b"'. Prefixes for a single client must not overlap.";
            if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
                return Err(crate::cmd::err::echo(&[
                    b"ERR Prefix '",
                    p,
                    b"' overlaps with an existing prefix '",
                    e,
                    MUST_NOT,
                ]));
            }
            if let Some(q) = prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return Err(crate::cmd::err::echo(&[
                    b"ERR Prefix '",
                    p,
                    b"' overlaps with another provided prefix '",
                    q,
                    MUST_NOT,
                ]));
            }
        }
    }
    ctx.store.tracking.enable(me, mode, &prefixes);
    Ok(Reply::OK)
}

/// CLIENT CACHING YES|NO
fn caching(ctx: &mut Ctx, opt: &[u8]) -> CmdResult {
    let Some(mode) = ctx.store.tracking.clients.get_mut(&ctx.client.id) else {
        return Err(Reply::err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if is(opt, "yes") {
        if !mode.optin {
            return Err(Reply::err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(opt, "no") {
        if !mode.optout {
            return Err(Reply::err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(err::SYNTAX);
    }
    mode.caching = true;
    Ok(Reply::OK)
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes.
fn info(ctx: &Ctx) -> Reply {
    let mode = ctx.store.tracking.clients.get(&ctx.client.id);
    let mut flags = Vec::new();
    let mut redirect = -1;
    let mut prefixes = Vec::new();
    match mode {
        None => flags.push(Reply::bulk(b"off")),
        Some(m) => {
            flags.push(Reply::bulk(b"on"));
            if m.bcast {
                flags.push(Reply::bulk(b"bcast"));
            }
            if m.optin {
                flags.push(Reply::bulk(b"optin"));
                if m.caching {
                    flags.push(Reply::bulk(b"caching-yes"));
                }
            }
            if m.optout {
                flags.push(Reply::bulk(b"optout"));
                if m.caching {
                    flags.push(Reply::bulk(b"caching-no"));
                }
            }
            if m.noloop {
                flags.push(Reply::bulk(b"noloop"));
            }
            if m.broken_redirect {
                flags.push(Reply::bulk(b"broken_redirect"));
            }
            redirect = m.redirect as i64;
            prefixes = m.prefixes.iter().map(|p| Reply::Bulk(p.clone())).collect();
        }
    }
    Reply::Map(vec![
        (Reply::bulk(b"flags"), Reply::Set(flags)),
        (Reply::bulk(b"redirect"), Reply::Int(redirect)),
        (Reply::bulk(b"prefixes"), Reply::Array(prefixes)),
    ])
}

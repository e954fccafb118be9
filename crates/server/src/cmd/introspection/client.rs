//! CLIENT and its subcommands: LIST/INFO lines in Redis's field order, KILL filters.

use super::*;

pub(super) fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

pub(super) fn client_line(
    h: &crate::client::ClientHandle,
    now: u64,
    subs: (usize, usize, usize),
    blocked: bool,
) -> String {
    let i = &h.info;
    let mut flags = String::new();
    if subs.0 + subs.1 + subs.2 > 0 {
        flags.push('P');
    }
    if blocked {
        flags.push('b');
    }
    if i.multi.is_some() {
        flags.push('x');
    }
    if i.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        i.id,
        i.addr,
        i.laddr,
        i.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        now.saturating_sub(i.created_ms) / 1000,
        now.saturating_sub(i.last_active_ms) / 1000,
        flags,
        i.db,
        subs.0,
        subs.1,
        subs.2,
        i.multi.map_or(-1, |n| n as i64),
        i.qbuf,
        h.pending_out.load(std::sync::atomic::Ordering::Relaxed),
        if i.last_cmd.is_empty() { "NULL" } else { &i.last_cmd },
        i.resp,
        i.lib_name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        i.lib_ver.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
    )
}

pub(super) fn subs_of(ctx: &Ctx, id: u64) -> (usize, usize, usize) {
    use crate::exec::pubsub::Kind;
    let p = &ctx.store.pubsub;
    (
        p.count_of(id, &[Kind::Channel]),
        p.count_of(id, &[Kind::Pattern]),
        p.count_of(id, &[Kind::Shard]),
    )
}

/// CLIENT LIST|INFO|ID|SETNAME|GETNAME|KILL|NO-EVICT|SETINFO|HELP
pub(super) fn client(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let now = ctx.now_ms;
    let me = ctx.client.id;
    // The caller's own entry reflects this batch, not the last one.
    if let Some(h) = ctx.store.clients.map.get_mut(&me) {
        h.info.db = ctx.client.db;
        h.info.last_cmd = format!(
            "client|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        h.info.multi = ctx.client.multi.as_ref().map(|q| q.len());
        h.info.resp = if ctx.client.resp3 { 3 } else { 2 };
    }
    if is(sub, "id") && args.len() == 2 {
        return Ok(Reply::Int(me as i64));
    }
    // Client-side caching subcommands live in tracking.rs.
    if let Some(r) = super::tracking::client_subcommand(ctx, args) {
        return r;
    }
    if is(sub, "list") {
        let mut ids: Option<Vec<u64>> = None;
        let mut i = 2;
        while i < args.len() {
            if is(&args[i], "id") && i + 1 < args.len() {
                let mut list = Vec::new();
                for a in &args[i + 1..] {
                    let n = int(a).map_err(|_| Reply::err("ERR Invalid client ID"))?;
                    list.push(n as u64);
                }
                ids = Some(list);
                break;
            } else if is(&args[i], "type") && i + 1 < args.len() {
                let t = &args[i + 1];
                if !(is(t, "normal")
                    || is(t, "pubsub")
                    || is(t, "master")
                    || is(t, "replica")
                    || is(t, "slave"))
                {
                    return Err(Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(t)
                    )));
                }
                if !is(t, "normal") && !is(t, "pubsub") {
                    ids = Some(Vec::new());
                }
                i += 2;
            } else {
                return Err(err::SYNTAX);
            }
        }
        let mut text = String::new();
        for (id, h) in &ctx.store.clients.map {
            if ids.as_ref().is_some_and(|l| !l.contains(id)) {
                continue;
            }
            text.push_str(&client_line(
                h,
                now,
                subs_of(ctx, *id),
                ctx.store.blocking.waiter(*id).is_some(),
            ));
            text.push('\n');
        }
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, text));
    }
    if is(sub, "info") && args.len() == 2 {
        let subs = subs_of(ctx, me);
        let line = ctx
            .store
            .clients
            .map
            .get(&me)
            .map(|h| client_line(h, now, subs, false))
            .unwrap_or_default();
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, line + "\n"));
    }
    if is(sub, "setname") && args.len() == 3 {
        return set_client_name(ctx, args[2].clone());
    }
    if is(sub, "getname") && args.len() == 2 {
        return Ok(ctx
            .store
            .clients
            .map
            .get(&me)
            .and_then(|h| h.info.name.clone())
            .map_or(Reply::Nil, Reply::Bulk));
    }
    if is(sub, "no-evict") && args.len() == 3 {
        let on = if is(&args[2], "on") {
            true
        } else if is(&args[2], "off") {
            false
        } else {
            return Err(err::SYNTAX);
        };
        if let Some(h) = ctx.store.clients.map.get_mut(&me) {
            h.info.no_evict = on;
        }
        return Ok(Reply::OK);
    }
    if is(sub, "setinfo") && args.len() == 4 {
        let value = args[3].clone();
        if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
            return Err(Reply::err(
                "ERR lib-name or lib-ver cannot contain spaces, newlines or special characters.",
            ));
        }
        let h = ctx.store.clients.map.get_mut(&me);
        if is(&args[2], "lib-name") {
            if let Some(h) = h {
                h.info.lib_name = Some(value);
            }
        } else if is(&args[2], "lib-ver") {
            if let Some(h) = h {
                h.info.lib_ver = Some(value);
            }
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(&args[2])
            )));
        }
        return Ok(Reply::OK);
    }
    if is(sub, "kill") {
        return client_kill(ctx, args);
    }
    if is(sub, "help") {
        return Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "INFO",
            "KILL <ip:port> | <option> <value> [...]",
            "LIST [TYPE <type>] [ID <id> ...]",
            "GETNAME",
            "SETNAME <name>",
            "NO-EVICT (ON|OFF)",
            "SETINFO <option> <value>",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("client", sub))
}

/// The TYPE filter of CLIENT KILL.
#[derive(Clone, Copy)]
pub(super) enum ClientKind {
    Replica,
    Normal,
    Other,
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [USER u] [SKIPME yes|no]
pub(super) fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]).into_owned();
        let target = ctx
            .store
            .clients
            .map
            .iter()
            .find(|(_, h)| h.info.addr == addr)
            .map(|(id, _)| *id);
        return match target {
            Some(id) => {
                kill_client(ctx, id);
                Ok(Reply::OK)
            }
            None => Err(Reply::err("ERR No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(err::SYNTAX);
    }
    let (mut id, mut addr, mut laddr) = (None, None, None);
    let mut skipme = true;
    let mut kind = None;
    for pair in args[2..].chunks(2) {
        let v = String::from_utf8_lossy(&pair[1]).into_owned();
        if is(&pair[0], "id") {
            id = Some(
                v.parse::<u64>()
                    .map_err(|_| Reply::err("ERR client-id should be greater than 0"))?,
            );
        } else if is(&pair[0], "addr") {
            addr = Some(v);
        } else if is(&pair[0], "laddr") {
            laddr = Some(v);
        } else if is(&pair[0], "skipme") {
            skipme = match v.as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(err::SYNTAX),
            };
        } else if is(&pair[0], "type") {
            kind = Some(match v.to_ascii_lowercase().as_str() {
                "replica" | "slave" => ClientKind::Replica,
                "normal" => ClientKind::Normal,
                "master" | "pubsub" => ClientKind::Other,
                _ => return Err(Reply::error(format!("ERR Unknown client type '{v}'"))),
            });
        } else if is(&pair[0], "user") {
            // Only the default user exists.
        } else {
            return Err(err::SYNTAX);
        }
    }
    let victims: Vec<u64> = ctx
        .store
        .clients
        .map
        .iter()
        .filter(|(cid, h)| {
            id.is_none_or(|i| i == **cid)
                && addr.as_ref().is_none_or(|a| *a == h.info.addr)
                && laddr.as_ref().is_none_or(|a| *a == h.info.laddr)
                && !(skipme && **cid == me)
                && kind.is_none_or(|k| {
                    let replica = ctx.store.replication.replicas.contains_key(*cid);
                    match k {
                        ClientKind::Replica => replica,
                        ClientKind::Normal => !replica,
                        // The primary link is not a registered client, and subscribed
                        // clients are not tracked here: nothing matches.
                        ClientKind::Other => false,
                    }
                })
        })
        .map(|(cid, _)| *cid)
        .collect();
    for v in &victims {
        kill_client(ctx, *v);
    }
    Ok(Reply::Int(victims.len() as i64))
}

pub(super) fn kill_client(ctx: &mut Ctx, id: u64) {
    if id == ctx.client.id {
        ctx.client.closing = true;
    } else {
        ctx.store.clients.kill(id);
    }
}

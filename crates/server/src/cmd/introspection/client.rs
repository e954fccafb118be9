//! CLIENT and its subcommands (Redis 7.0's clientCommand): LIST/INFO lines in Redis's field
//! order, KILL with every filter, REPLY, PAUSE/UNPAUSE, UNBLOCK, NO-EVICT, names.

use super::slowlog::bad_subcommand;
use super::*;
use crate::client::{ClientHandle, ClientState};

/// Replies made of status lines (the HELP of commands whose help text we list in full).
pub(super) fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

/// What a CLIENT LIST line needs besides the registry entry.
pub(super) struct LineCtx<'a> {
    pub now: u64,
    pub subs: (usize, usize, usize),
    pub blocked: bool,
    pub replica: bool,
    /// The calling client's live state: its own line shows the command being run.
    pub live: Option<&'a ClientState>,
    /// Client-side caching mode, when tracking is on (flags t/R/B, redir=).
    pub tracking: Option<&'a crate::exec::tracking::ClientMode>,
    /// A WATCHed key was modified (flag d: the EXEC will fail).
    pub dirty_cas: bool,
}

/// One CLIENT LIST / CLIENT INFO line, fields as Redis 7.0's catClientInfoString. The
/// buffer fields are ours: qbuf/qbuf-free from the connection's input buffer, argv-mem
/// and multi-mem from the arguments held, omem from replies queued but not yet written;
/// rbs/rbp/obl/oll describe Redis's reply buffer, which we do not have (fixed values).
pub(super) fn client_line(h: &ClientHandle, c: &LineCtx) -> Vec<u8> {
    let i = &h.info;
    let live = c.live;
    let multi = live.map_or(i.multi, |l| l.multi.as_ref().map(|q| q.len()));
    let monitor = live.map_or(i.monitor, |l| l.monitor);
    let readonly = live.map_or(i.readonly, |l| l.readonly);
    let mut flags = String::new();
    if monitor {
        flags.push('O');
    } else if c.replica {
        flags.push('S');
    }
    if i.primary_link {
        flags.push('M');
    }
    if c.subs.0 + c.subs.1 + c.subs.2 > 0 {
        flags.push('P');
    }
    if multi.is_some() {
        flags.push('x');
    }
    if c.blocked {
        flags.push('b');
    }
    if let Some(t) = c.tracking {
        flags.push('t');
        if t.broken_redirect {
            flags.push('R');
        }
        if t.bcast {
            flags.push('B');
        }
    }
    if c.dirty_cas {
        flags.push('d');
    }
    if live.is_some_and(|l| l.closing) {
        flags.push('c');
    }
    if i.unix {
        flags.push('U');
    }
    if readonly {
        flags.push('r');
    }
    if i.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    let (qbuf, qbuf_free, argv_mem) = match live {
        Some(l) => (l.qbuf, l.qbuf_free, l.argv_mem),
        None => (i.qbuf, i.qbuf_free, i.argv_mem),
    };
    let multi_mem = live.map_or(i.multi_mem, ClientState::multi_mem);
    let omem = h.pending_out.load(std::sync::atomic::Ordering::Relaxed) + h.evict.out_mem;
    const RBS: usize = 16384;
    let tot_mem = crate::exec::client_evict::memory(h, qbuf, qbuf_free, argv_mem, multi_mem);
    let last_cmd = live.map_or(i.last_cmd, |l| l.last_cmd);
    let user: &[u8] = live
        .map_or(i.user.as_ref(), |l| l.user.as_ref())
        .map_or(b"default", |u| u.as_ref());
    let db = live.map_or(i.db, |l| l.db);
    let resp = live.map_or(i.resp, |l| if l.resp3 { 3 } else { 2 });
    // name= and user= are the client's bytes, as Redis's %s prints them.
    let mut line = format!(
        "id={} addr={} laddr={} fd={} name=",
        i.id, i.addr, i.laddr, i.fd
    )
    .into_bytes();
    line.extend_from_slice(i.name.as_deref().unwrap_or_default());
    line.extend_from_slice(
        format!(
            " age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=",
            c.now.saturating_sub(i.created_ms) / 1000,
            if live.is_some() { 0 } else { c.now.saturating_sub(i.last_active_ms) / 1000 },
            flags,
            db,
            c.subs.0,
            c.subs.1,
            c.subs.2,
            multi.map_or(-1, |n| n as i64),
            qbuf,
            qbuf_free,
            argv_mem,
            multi_mem,
            RBS,
            omem,
            tot_mem,
            last_cmd.unwrap_or("NULL"),
        )
        .as_bytes(),
    );
    line.extend_from_slice(user);
    line.extend_from_slice(
        format!(
            " redir={} resp={}",
            c.tracking.map_or(-1, |t| t.redirect as i64),
            resp
        )
        .as_bytes(),
    );
    line
}

/// Pub/sub subscription counts of a client: channels, patterns, shard channels.
pub(super) fn subs_of(ctx: &Ctx, id: u64) -> (usize, usize, usize) {
    use crate::exec::pubsub::Kind;
    let p = &ctx.store.pubsub;
    (
        p.count_of(id, &[Kind::Channel]),
        p.count_of(id, &[Kind::Pattern]),
        p.count_of(id, &[Kind::Shard]),
    )
}

/// Redis's client types, for the TYPE filters of LIST and KILL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ClientKind {
    Normal,
    Replica,
    PubSub,
    Master,
}

/// getClientTypeByName: `normal`, `slave`/`replica`, `pubsub`, `master`.
fn kind_by_name(name: &[u8]) -> Result<ClientKind, Reply> {
    let lower = name.to_ascii_lowercase();
    match &lower[..] {
        b"normal" => Ok(ClientKind::Normal),
        b"slave" | b"replica" => Ok(ClientKind::Replica),
        b"pubsub" => Ok(ClientKind::PubSub),
        b"master" => Ok(ClientKind::Master),
        _ => Err(crate::cmd::err::echo(&[
            b"ERR Unknown client type '",
            name,
            b"'",
        ])),
    }
}

/// getClientType: the link to our primary is MASTER; replicas (not monitors) are
/// REPLICA; a client with subscriptions is PUBSUB; everyone else NORMAL.
fn kind_of(ctx: &Ctx, id: u64) -> ClientKind {
    let handle = ctx.store.clients.map.get(&id);
    if handle.is_some_and(|h| h.info.primary_link) {
        return ClientKind::Master;
    }
    let monitor =
        handle.is_some_and(|h| h.info.monitor) || (id == ctx.client.id && ctx.client.monitor);
    if !monitor && ctx.store.replication.replicas.contains_key(&id) {
        return ClientKind::Replica;
    }
    let (a, b, c) = subs_of(ctx, id);
    if a + b + c > 0 {
        return ClientKind::PubSub;
    }
    ClientKind::Normal
}

/// The CLIENT LIST line of client `id` (the caller's shows its live state).
fn line_of(ctx: &Ctx, id: u64) -> Option<Vec<u8>> {
    let h = ctx.store.clients.map.get(&id)?;
    let me = id == ctx.client.id;
    let c = LineCtx {
        now: ctx.now_ms,
        subs: subs_of(ctx, id),
        blocked: !me
            && (ctx.store.blocking.waiter(id).is_some() || ctx.store.pause.postponed.contains(&id)),
        replica: ctx.store.replication.replicas.contains_key(&id),
        live: me.then_some(&*ctx.client),
        tracking: ctx.store.tracking.clients.get(&id),
        dirty_cas: ctx.store.watches.is_dirty(id),
    };
    Some(client_line(h, &c))
}

/// The CLIENT LIST line of a connection in the middle of a command (its live state):
/// ACL LOG's client-info, which Redis fills with the same catClientInfoString.
pub(crate) fn live_line(
    store: &crate::store::Store,
    client: &ClientState,
    now: u64,
) -> Option<Vec<u8>> {
    use crate::exec::pubsub::Kind;
    let id = client.id;
    let h = store.clients.map.get(&id)?;
    let p = &store.pubsub;
    let c = LineCtx {
        now,
        subs: (
            p.count_of(id, &[Kind::Channel]),
            p.count_of(id, &[Kind::Pattern]),
            p.count_of(id, &[Kind::Shard]),
        ),
        blocked: false,
        replica: store.replication.replicas.contains_key(&id),
        live: Some(client),
        tracking: store.tracking.clients.get(&id),
        dirty_cas: store.watches.is_dirty(id),
    };
    Some(client_line(h, &c))
}

/// CLIENT <subcommand> ... (TRACKING and its relatives live in their own module.)
pub(super) fn client(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let me = ctx.client.id;
    let argc = args.len();
    if argc == 2 && is(sub, "help") {
        return Ok(super::slowlog::help_reply("CLIENT", CLIENT_HELP));
    }
    if is(sub, "id") && argc == 2 {
        return Ok(Reply::Int(me as i64));
    }
    // Client-side caching subcommands live in tracking.rs.
    if let Some(r) = super::tracking::client_subcommand(ctx, args) {
        return r;
    }
    if is(sub, "info") && argc == 2 {
        let mut line = line_of(ctx, me).unwrap_or_default();
        line.push(b'\n');
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, line));
    }
    if is(sub, "list") {
        return client_list(ctx, args);
    }
    if is(sub, "reply") && argc == 3 {
        let mode = &args[2];
        if is(mode, "on") {
            ctx.client.reply_off = false;
            ctx.client.reply_skip = false;
            return Ok(Reply::OK);
        }
        if is(mode, "off") {
            ctx.client.reply_off = true;
        } else if is(mode, "skip") {
            if !ctx.client.reply_off {
                ctx.client.reply_skip_next = true;
            }
        } else {
            return Err(err::SYNTAX);
        }
        // No reply at all: OFF and SKIP are not acknowledged, as in Redis.
        return Ok(Reply::Raw(Bytes::new()));
    }
    if is(sub, "no-evict") && argc == 3 {
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
    if is(sub, "kill") {
        return client_kill(ctx, args);
    }
    if is(sub, "unblock") && (argc == 3 || argc == 4) {
        return client_unblock(ctx, args);
    }
    if is(sub, "setname") && argc == 3 {
        return set_client_name(ctx, args[2].clone());
    }
    if is(sub, "getname") && argc == 2 {
        return Ok(ctx
            .store
            .clients
            .map
            .get(&me)
            .and_then(|h| h.info.name.clone())
            .map_or(Reply::Nil, Reply::Bulk));
    }
    if is(sub, "unpause") && argc == 2 {
        ctx.store.pause.unpause();
        ctx.store.sync_expiry_mode(crate::store::now_ms());
        return Ok(Reply::OK);
    }
    if is(sub, "pause") && (argc == 3 || argc == 4) {
        let mut all = true;
        if argc == 4 {
            if is(&args[3], "write") {
                all = false;
            } else if !is(&args[3], "all") {
                return Err(Reply::err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
            }
        }
        let timeout = int(&args[2])
            .map_err(|_| Reply::err("ERR timeout is not an integer or out of range"))?;
        if timeout < 0 {
            return Err(Reply::err("ERR timeout is negative"));
        }
        let now = crate::store::now_ms();
        let end = if timeout > 0 {
            now.saturating_add(timeout as u64)
        } else {
            0
        };
        ctx.store.pause.pause(end, all, now);
        ctx.store.sync_expiry_mode(now);
        return Ok(Reply::OK);
    }
    Err(bad_subcommand("client", args))
}

/// CLIENT HELP's lines (Redis 7.0's wording).
const CLIENT_HELP: &[&str] = &[
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

/// CLIENT LIST [TYPE type] | CLIENT LIST ID id [id ...]
fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let argc = args.len();
    let mut kind = None;
    let mut text = Vec::new();
    if argc == 4 && is(&args[2], "type") {
        kind = Some(kind_by_name(&args[3])?);
    } else if argc > 3 && is(&args[2], "id") {
        for a in &args[3..] {
            let id = int(a).map_err(|_| Reply::err("ERR Invalid client ID"))?;
            if let Some(line) = line_of(ctx, id as u64) {
                text.extend_from_slice(&line);
                text.push(b'\n');
            }
        }
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, text));
    } else if argc != 2 {
        return Err(err::SYNTAX);
    }
    let ids = ctx.store.clients.ids();
    for id in ids {
        if kind.is_some_and(|k| kind_of(ctx, id) != k) {
            continue;
        }
        if let Some(line) = line_of(ctx, id) {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
    }
    Ok(Reply::Verbatim(VerbatimFormat::Txt, text))
}

/// CLIENT KILL ip:port | CLIENT KILL <filter> <value> ... (ID, TYPE, USER, ADDR, LADDR,
/// SKIPME). The old form answers OK or "No such client" and may kill the caller; the new
/// form answers the number killed and skips the caller unless SKIPME no.
pub(super) fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    let argc = args.len();
    let (mut id, mut addr, mut laddr, mut user, mut kind) = (None, None, None, None, None);
    let mut skipme = true;
    if argc == 3 {
        addr = Some(args[2].clone());
        skipme = false;
    } else if argc > 3 {
        let mut i = 2;
        while i < argc {
            let more = argc > i + 1;
            let opt = &args[i];
            if !more {
                return Err(err::SYNTAX);
            }
            let v = &args[i + 1];
            if is(opt, "id") {
                let n = int(v)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Reply::err("ERR client-id should be greater than 0"))?;
                id = Some(n as u64);
            } else if is(opt, "type") {
                kind = Some(kind_by_name(v)?);
            } else if is(opt, "addr") {
                addr = Some(v.clone());
            } else if is(opt, "laddr") {
                laddr = Some(v.clone());
            } else if is(opt, "user") {
                if !ctx.store.acl.users.contains_key(&v[..]) {
                    return Err(crate::cmd::err::echo(&[b"ERR No such user '", v, b"'"]));
                }
                user = Some(v.clone());
            } else if is(opt, "skipme") {
                if is(v, "yes") {
                    skipme = true;
                } else if is(v, "no") {
                    skipme = false;
                } else {
                    return Err(err::SYNTAX);
                }
            } else {
                return Err(err::SYNTAX);
            }
            i += 2;
        }
    } else {
        return Err(err::SYNTAX);
    }
    let candidates = ctx.store.clients.ids();
    let mut victims = Vec::new();
    for cid in candidates {
        let Some(h) = ctx.store.clients.map.get(&cid) else {
            continue;
        };
        let info = &h.info;
        let client_user: &[u8] = if cid == me {
            ctx.client.user.as_deref().unwrap_or(b"default")
        } else {
            info.user.as_deref().unwrap_or(b"default")
        };
        if addr
            .as_ref()
            .is_some_and(|a| a[..] != *info.addr.as_bytes())
            || laddr
                .as_ref()
                .is_some_and(|a| a[..] != *info.laddr.as_bytes())
            || id.is_some_and(|i| i != cid)
            || user.as_ref().is_some_and(|u| u[..] != *client_user)
            || (skipme && cid == me)
        {
            continue;
        }
        if kind.is_some_and(|k| kind_of(ctx, cid) != k) {
            continue;
        }
        victims.push(cid);
    }
    for v in &victims {
        kill_client(ctx, *v);
    }
    if argc == 3 {
        return if victims.is_empty() {
            Err(Reply::err("ERR No such client"))
        } else {
            Ok(Reply::OK)
        };
    }
    Ok(Reply::Int(victims.len() as i64))
}

/// Closes client `id`: the caller after its reply, anyone else now.
pub(super) fn kill_client(ctx: &mut Ctx, id: u64) {
    if id == ctx.client.id {
        ctx.client.closing = true;
    } else {
        if ctx
            .store
            .clients
            .map
            .get(&id)
            .is_some_and(|h| h.info.primary_link)
        {
            crate::repl::link::primary_client_killed(ctx.store, ctx.now_ms);
        }
        ctx.store.clients.kill(id);
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking command (BLPOP,
/// XREAD, WAIT, ...) as its timeout would, or with an UNBLOCKED error. 1 if it was
/// blocked, else 0. Redis counts the unblocked command as failed either way.
fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut error = false;
    if let Some(reason) = args.get(3) {
        if is(reason, "error") {
            error = true;
        } else if !is(reason, "timeout") {
            return Err(Reply::err(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    }
    let id = int(&args[2])?;
    let Ok(id) = u64::try_from(id) else {
        return Ok(Reply::Int(0));
    };
    let Some(waiter) = ctx.store.blocking.unblock(id) else {
        return Ok(Reply::Int(0));
    };
    if let Some(cmd) = crate::cmd::lookup(&waiter.args[0]) {
        let name = crate::exec::stats::stat_name(cmd, &waiter.args);
        ctx.store
            .cmdstats
            .by_cmd
            .entry(name)
            .or_default()
            .failed_calls += 1;
    }
    if error {
        ctx.store.replication.waiters.remove(&id);
        let text = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
        ctx.store.cmdstats.record_error(text.as_bytes());
        ctx.store.clients.unblock(id, Reply::err(text));
    } else if let Some(h) = ctx.store.clients.map.get(&id) {
        let _ = h.tx.send(crate::client::ClientMsg::UnblockTimeout);
    }
    Ok(Reply::Int(1))
}

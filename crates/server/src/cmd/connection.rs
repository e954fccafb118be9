//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, QUIT, RESET.

use super::args::{c_int, int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new(
        "ping",
        -1,
        // Not STALE: a stale replica with replica-serve-stale-data no answers MASTERDOWN.
        FAST | SUB_OK,
        (0, 0, 0),
        "connection",
        ping,
    ),
    Command::new("echo", 2, FAST | LOADING | STALE, (0, 0, 0), "connection", echo),
    Command::new("select", 2, FAST | LOADING | STALE, (0, 0, 0), "connection", select),
    Command::new("auth", -2, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, (0, 0, 0), "connection", auth),
    Command::new("hello", -1, FAST | NO_AUTH | LOADING | STALE | NOSCRIPT, (0, 0, 0), "connection", hello),
    Command::new("quit", -1, FAST | NO_AUTH | LOADING | STALE | TX_CONTROL | SUB_OK | NOSCRIPT, (0, 0, 0), "connection", quit),
    Command::new("reset", 1, FAST | NO_AUTH | LOADING | STALE | TX_CONTROL | SUB_OK | NOSCRIPT, (0, 0, 0), "connection", reset),
];

/// PING [message] — in RESP2 subscribed mode the reply is ["pong", message].
fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(err::wrong_args("ping"));
    }
    if ctx.client.subscriptions > 0 && !ctx.client.resp3 {
        let msg = args.get(1).cloned().unwrap_or_default();
        return Ok(Reply::Array(vec![Reply::bulk(b"pong"), Reply::Bulk(msg)]));
    }
    Ok(match args.get(1) {
        Some(m) => Reply::Bulk(m.clone()),
        None => Reply::status("PONG"),
    })
}

/// ECHO message
fn echo(_ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Bulk(args[1].clone()))
}

/// SELECT index
fn select(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = c_int(&args[1], None)?;
    if ctx.store.config.cluster_enabled && n != 0 {
        return Err(Reply::err("ERR SELECT is not allowed in cluster mode"));
    }
    if n < 0 || n as usize >= ctx.store.dbs.len() {
        return Err(err::DB_INDEX);
    }
    ctx.client.db = n as usize;
    Ok(Reply::OK)
}

/// Checks a username/password pair against the ACL users (`requirepass` is the default
/// user's password); on success the connection is authenticated as that user. A failure
/// is logged in the ACL LOG with reason "auth", as Redis does.
fn check_password(
    ctx: &mut Ctx,
    typed: &Bytes,
    user: Option<&[u8]>,
    pass: &[u8],
) -> Result<(), Reply> {
    let requirepass = ctx.store.config.requirepass.clone();
    ctx.store.acl.sync_requirepass(&requirepass);
    if user.is_none() && ctx.store.acl.default_nopass() {
        return Err(Reply::err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    let name = user.unwrap_or(b"default");
    if !ctx.store.acl.authenticate(name, pass) {
        let context = if ctx.client.multi.is_some() {
            crate::acl::Context::Multi
        } else {
            crate::acl::Context::Toplevel
        };
        crate::acl::log_denial(
            ctx.store,
            ctx.client,
            "auth",
            context,
            typed.clone(),
            Some(Bytes::copy_from_slice(name)),
        );
        return Err(err::WRONGPASS);
    }
    ctx.client.authenticated = true;
    ctx.client.user = (name != b"default").then(|| Bytes::copy_from_slice(name));
    Ok(())
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => check_password(ctx, &args[0], None, &args[1])?,
        3 => check_password(ctx, &args[0], Some(&args[1]), &args[2])?,
        _ => return Err(err::SYNTAX),
    }
    Ok(Reply::OK)
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut resp3 = ctx.client.resp3;
    let mut i = 1;
    if let Some(v) = args.get(1) {
        let ver = int(v)
            .map_err(|_| Reply::err("ERR Protocol version is not an integer or out of range"))?;
        if ver != 2 && ver != 3 {
            return Err(Reply::err("NOPROTO unsupported protocol version"));
        }
        resp3 = ver == 3;
        i = 2;
    }
    let mut name = None;
    while i < args.len() {
        if is(&args[i], "auth") && i + 2 < args.len() {
            check_password(ctx, &args[0], Some(&args[i + 1]), &args[i + 2])?;
            i += 3;
        } else if is(&args[i], "setname") && i + 1 < args.len() {
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(crate::cmd::err::echo(&[
                b"ERR Syntax error in HELLO option '",
                &args[i],
                b"'",
            ]));
        }
    }
    if !ctx.client.authenticated && !ctx.store.acl.default_auto_auth() {
        return Err(Reply::err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        super::introspection::set_client_name(ctx, n)?;
    }
    set_protocol(ctx, resp3);
    let role = if !ctx.store.replication.is_replica() {
        "master"
    } else {
        "replica"
    };
    let mode = if ctx.store.config.cluster_enabled {
        "cluster"
    } else {
        "standalone"
    };
    Ok(Reply::Map(vec![
        (Reply::bulk(b"server"), Reply::bulk(b"redis")),
        (Reply::bulk(b"version"), Reply::bulk(b"7.0.15")),
        (Reply::bulk(b"proto"), Reply::Int(if resp3 { 3 } else { 2 })),
        (Reply::bulk(b"id"), Reply::Int(ctx.client.id as i64)),
        (Reply::bulk(b"mode"), Reply::bulk(mode.as_bytes())),
        (Reply::bulk(b"role"), Reply::bulk(role.as_bytes())),
        (Reply::bulk(b"modules"), Reply::Array(vec![])),
    ]))
}

/// Switches the client's protocol, in its registry row too: what is sent to it from now
/// on, inside the same batch or EXEC, is decided by the protocol it has (an invalidation
/// owed to it is a push in RESP3, nothing in RESP2 without a redirect), as in Redis.
fn set_protocol(ctx: &mut Ctx, resp3: bool) {
    ctx.client.resp3 = resp3;
    if let Some(h) = ctx.store.clients.map.get_mut(&ctx.client.id) {
        h.info.resp = if resp3 { 3 } else { 2 };
    }
}

/// QUIT — replies OK, then the connection closes.
fn quit(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    ctx.client.closing = true;
    Ok(Reply::OK)
}

/// RESET — back to a fresh connection's state (db 0, RESP2, no transaction, no
/// subscriptions, unauthenticated if a password is set).
fn reset(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let id = ctx.client.id;
    ctx.store.watches.unwatch_all(id);
    ctx.store.pubsub.remove_client(id);
    ctx.store.tracking.disable(id);
    ctx.client.multi = None;
    ctx.client.multi_failed = false;
    ctx.client.subscriptions = 0;
    ctx.client.db = 0;
    set_protocol(ctx, false);
    ctx.client.readonly = false;
    ctx.client.asking = false;
    ctx.client.user = None;
    ctx.client.authenticated = ctx.store.acl.default_auto_auth();
    crate::cmd::introspection::reset_client(ctx);
    // CLIENT NO-EVICT survives: Redis 7.0's RESET clears only the state it lists.
    if let Some(h) = ctx.store.clients.map.get_mut(&id) {
        h.info.name = None;
    }
    Ok(Reply::status("RESET"))
}

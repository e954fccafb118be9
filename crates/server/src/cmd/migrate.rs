//! MIGRATE (what `redis-cli --cluster reshard` uses to move a slot's keys): values are
//! serialised with the one DUMP payload codec in dump.rs (Redis's format), and restored on
//! the target with RESTORE-ASKING (RESTORE outside cluster mode).
//!
//! MIGRATE does its network I/O synchronously with a timeout while the command runs, as
//! Redis does (the node is busy meanwhile; the timeout bounds it).

use super::args::{int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::{encode_request, Frame, FrameReader, Reply};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub(crate) static COMMANDS: &[Command] =
    &[Command::new("migrate", -6, WRITE, (3, 3, 1), "generic", migrate).with_keys(migrate_keys)];

/// MIGRATE's keys as Redis's key finder reads them: the key argument, or with KEYS (looked
/// for from the options on, skipping AUTH's and AUTH2's values) everything after it when
/// the key argument is "", and no key when it is not (MIGRATE then refuses the syntax).
fn migrate_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 6;
    while i < args.len() {
        let a = &args[i];
        if is(a, "keys") {
            return if args[3].is_empty() {
                (i + 1..args.len()).collect()
            } else {
                Vec::new()
            };
        }
        if is(a, "auth") {
            i += 1;
        } else if is(a, "auth2") {
            i += 2;
        }
        i += 1;
    }
    vec![3]
}

struct MigrateOpts {
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn parse_migrate(args: &[Bytes]) -> Result<MigrateOpts, Reply> {
    let mut o = MigrateOpts {
        copy: false,
        replace: false,
        auth: None,
        keys: Vec::new(),
    };
    let mut i = 6;
    while i < args.len() {
        let a = &args[i];
        if is(a, "copy") {
            o.copy = true;
        } else if is(a, "replace") {
            o.replace = true;
        } else if is(a, "auth") && i + 1 < args.len() {
            o.auth = Some((None, args[i + 1].clone()));
            i += 1;
        } else if is(a, "auth2") && i + 2 < args.len() {
            o.auth = Some((Some(args[i + 1].clone()), args[i + 2].clone()));
            i += 2;
        } else if is(a, "keys") {
            if !args[3].is_empty() {
                return Err(Reply::err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"));
            }
            o.keys = args[i + 1..].to_vec();
            break;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if o.keys.is_empty() {
        o.keys.push(args[3].clone());
    }
    Ok(o)
}

/// Reads the target's reply to one request: `Err(text)` for an error reply. A failed read
/// (timeout, closed connection, garbage) is the IOERR reply Redis gives.
fn read_reply(s: &mut TcpStream, reader: &mut FrameReader) -> Result<Result<(), String>, Reply> {
    match reader.read_frame(s) {
        Ok(Frame::Error(e)) => Ok(Err(String::from_utf8_lossy(&e).into_owned())),
        Ok(_) => Ok(Ok(())),
        Err(_) => Err(Reply::err(
            "IOERR error or timeout reading to target instance",
        )),
    }
}

/// MIGRATE's reply when the payload cannot be sent.
const WRITE_ERR: &str = "IOERR error or timeout writing to target instance";

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key [key ...]]
fn migrate(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = parse_migrate(args)?;
    let port = int(&args[2])?;
    let db = int(&args[4])?;
    let timeout = int(&args[5])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let now = ctx.now_ms;
    // Only keys that exist are moved; none at all is +NOKEY.
    let mut found: Vec<(Bytes, Vec<u8>, u64)> = Vec::new();
    for k in &opts.keys {
        let expire_at = ctx.db().expire_at(k);
        if let Some(e) = ctx.db().get(k, now) {
            let ttl = if expire_at == 0 {
                0
            } else {
                expire_at.saturating_sub(now).max(1)
            };
            found.push((k.clone(), crate::persist::rdb::dump_value(&e.value), ttl));
        }
    }
    if found.is_empty() {
        return Ok(Reply::status("NOKEY"));
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let connect_err = || Reply::err("IOERR error or timeout connecting to the client");
    let addr = (host.as_str(), port.clamp(0, 65535) as u16)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(connect_err)?;
    // Redis connects without blocking and only waits for the socket to turn writable: a
    // refused connection passes that wait and fails at the first write ("writing to
    // target instance"); only a connect that times out is a connect error.
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            connect_err()
        } else {
            Reply::err(WRITE_ERR)
        }
    })?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let _ = s.set_nodelay(true);
    let mut req = Vec::new();
    let mut expected = 0;
    if let Some((user, pass)) = &opts.auth {
        match user {
            Some(u) => encode_request::<&[u8]>(&mut req, &[b"AUTH", u, pass]),
            None => encode_request::<&[u8]>(&mut req, &[b"AUTH", pass]),
        }
        expected += 1;
    }
    encode_request::<&[u8]>(&mut req, &[b"SELECT", db.to_string().as_bytes()]);
    expected += 1;
    let cluster = ctx.store.config.cluster_enabled;
    let verb: &[u8] = if cluster {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for (k, payload, ttl) in &found {
        let ttl = ttl.to_string();
        let mut parts: Vec<&[u8]> = vec![verb, k, ttl.as_bytes(), payload];
        if opts.replace {
            parts.push(b"REPLACE");
        }
        encode_request(&mut req, &parts);
    }
    s.write_all(&req).map_err(|_| Reply::err(WRITE_ERR))?;
    let mut reader = FrameReader::new(64 * 1024);
    let mut first_error: Option<String> = None;
    for _ in 0..expected {
        if let Err(e) = read_reply(&mut s, &mut reader)? {
            return Err(Reply::error(format!(
                "ERR Target instance replied with error: {e}"
            )));
        }
    }
    let mut moved = Vec::new();
    for (k, _, _) in &found {
        match read_reply(&mut s, &mut reader)? {
            Err(e) => {
                first_error.get_or_insert(e);
            }
            Ok(()) => moved.push(k.clone()),
        }
    }
    if !opts.copy && !moved.is_empty() {
        let dbi = ctx.db_index();
        for k in &moved {
            ctx.db().remove(k);
            ctx.store.key_modified(dbi, k);
        }
        ctx.dirty(moved.len() as u64);
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(moved.iter().cloned());
        ctx.propagate = Some(vec![del]);
    }
    match first_error {
        Some(e) => Err(Reply::error(format!(
            "ERR Target instance replied with error: {e}"
        ))),
        None => Ok(Reply::OK),
    }
}

//! Moving keys between nodes: DUMP, RESTORE, RESTORE-ASKING and MIGRATE (what
//! `redis-cli --cluster reshard` uses to move a slot's keys).
//!
//! THE PAYLOAD SEAM: every byte format question goes through [`encode_value`] and
//! [`decode_value`]. They use a TEMPORARY private format (marked `RBRDUMP1`, below) so that
//! MIGRATE works between Rubra nodes today; they are to be replaced by the RDB DUMP payload
//! codec of `rubra-persistence` (RDB object encoding + RDB version + CRC64), which will make
//! DUMP/RESTORE interoperable with real Redis. Nothing else in this file knows the format.
//!
//! MIGRATE does its network I/O synchronously with a timeout while the command runs, as
//! Redis does (the node is busy meanwhile; the timeout bounds it).

use super::args::{int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::value::{HashValue, SetValue};
use rubra_keyspace::{Entry, Value};
use rubra_resp::Reply;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub static COMMANDS: &[Command] = &[
    Command::new("dump", 2, READONLY, (1, 1, 1), "generic", dump),
    Command::new(
        "restore",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        "generic",
        restore,
    ),
    Command::new(
        "restore-asking",
        -4,
        WRITE | DENYOOM,
        (1, 1, 1),
        "generic",
        restore,
    ),
    Command::new("migrate", -6, WRITE, (3, 3, 1), "generic", migrate).with_keys(migrate_keys),
];

// ------------------------------------------------------------------ the payload seam

/// Marks the temporary format (version 1). Replaced with the RDB payload later.
const MAGIC: &[u8] = b"RBRDUMP1";

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Serialises a value for DUMP / MIGRATE. TEMPORARY format, see the module docs.
pub fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    match v {
        Value::Str(s) => {
            out.push(0);
            put_bytes(&mut out, s);
        }
        Value::List(l) => {
            out.push(1);
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for item in l.iter() {
                put_bytes(&mut out, item);
            }
        }
        Value::Set(s) => {
            out.push(2);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            for m in s.iter() {
                put_bytes(&mut out, m);
            }
        }
        Value::ZSet(z) => {
            out.push(3);
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            for (m, score) in z.iter() {
                put_bytes(&mut out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Hash(h) => {
            out.push(4);
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
            for (k, v) in h.iter() {
                put_bytes(&mut out, k);
                put_bytes(&mut out, v);
            }
        }
    }
    out
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("truncated payload".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u32(&mut self) -> Result<usize, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn bytes(&mut self) -> Result<Bytes, String> {
        let n = self.u32()?;
        Ok(Bytes::copy_from_slice(self.take(n)?))
    }
}

/// Parses a DUMP payload back into a value; Err for anything malformed.
pub fn decode_value(payload: &[u8]) -> Result<Value, String> {
    let Some(rest) = payload.strip_prefix(MAGIC) else {
        return Err("unknown payload format".into());
    };
    let mut c = Cursor(rest);
    let ty = c.take(1)?[0];
    let v = match ty {
        0 => Value::Str(c.bytes()?.to_vec()),
        1 => {
            let n = c.u32()?;
            let mut l = VecDeque::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                l.push_back(c.bytes()?);
            }
            Value::List(Box::new(l))
        }
        2 => {
            let n = c.u32()?;
            let mut s = SetValue::default();
            for _ in 0..n {
                s.insert(c.bytes()?);
            }
            Value::Set(Box::new(s))
        }
        4 => {
            let n = c.u32()?;
            let mut h = HashValue::default();
            for _ in 0..n {
                let k = c.bytes()?;
                h.insert(k, c.bytes()?);
            }
            Value::Hash(Box::new(h))
        }
        // Sorted sets cannot be built until the real ZSet lands in rubra-keyspace.
        _ => return Err("unsupported value type".into()),
    };
    if !c.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(v)
}

// ------------------------------------------------------------------ commands

const BAD_PAYLOAD: Reply = Reply::err("ERR DUMP payload version or checksum are wrong");

/// DUMP key
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match ctx.read(&args[1]) {
        None => Ok(Reply::Nil),
        Some(e) => Ok(Reply::Bulk(Bytes::from(encode_value(&e.value)))),
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut replace = false;
    let mut absttl = false;
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if (is(a, "idletime") || is(a, "freq")) && i + 1 < args.len() {
            let n = int(&args[i + 1])?;
            if n < 0 {
                return Err(if is(a, "idletime") {
                    Reply::err("ERR Invalid IDLETIME value, must be >= 0")
                } else {
                    Reply::err("ERR Invalid FREQ value, must be >= 0 and <= 255")
                });
            }
            i += 1;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    let ttl = int(&args[2])?;
    if ttl < 0 {
        return Err(Reply::err("ERR Invalid TTL value, must be >= 0"));
    }
    let now = ctx.now_ms;
    if !replace && ctx.db().get(key, now).is_some() {
        return Err(Reply::err("BUSYKEY Target key name already exists."));
    }
    let value = decode_value(&args[3]).map_err(|_| BAD_PAYLOAD)?;
    let expire_at = match (ttl, absttl) {
        (0, _) => 0,
        (t, true) => t as u64,
        (t, false) => now.saturating_add(t as u64),
    };
    ctx.db().remove(key);
    if expire_at != 0 && expire_at <= now {
        // Already expired: the key is simply gone (Redis deletes it and says OK).
        ctx.dirty(1);
        return Ok(Reply::OK);
    }
    let mut entry = Entry::new(value, now);
    entry.expire_at = expire_at;
    ctx.db().insert(key.clone(), entry);
    ctx.dirty(1);
    Ok(Reply::OK)
}

/// MIGRATE's keys: the key argument, or everything after KEYS when it is "".
fn migrate_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() > 3 && args[3].is_empty() {
        if let Some(k) = args.iter().skip(6).position(|a| is(a, "keys")) {
            return (6 + k + 1..args.len()).collect();
        }
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

fn encode_cmd(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one simple reply line (+OK / -ERR ...) from the target.
fn read_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<String, Reply> {
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..pos + 2);
            return Ok(line);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => {
                return Err(Reply::err(
                    "IOERR error or timeout reading to target instance",
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

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
        if let Some(e) = ctx.db().get(k, now) {
            let ttl = if e.expire_at == 0 {
                0
            } else {
                e.expire_at.saturating_sub(now).max(1)
            };
            found.push((k.clone(), encode_value(&e.value), ttl));
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
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|_| connect_err())?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let _ = s.set_nodelay(true);
    let mut req = Vec::new();
    let mut expected = 0;
    if let Some((user, pass)) = &opts.auth {
        match user {
            Some(u) => encode_cmd(&mut req, &[b"AUTH", u, pass]),
            None => encode_cmd(&mut req, &[b"AUTH", pass]),
        }
        expected += 1;
    }
    encode_cmd(&mut req, &[b"SELECT", db.to_string().as_bytes()]);
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
        encode_cmd(&mut req, &parts);
    }
    s.write_all(&req)
        .map_err(|_| Reply::err("IOERR error or timeout writing to target instance"))?;
    let mut buf = Vec::new();
    let mut first_error: Option<String> = None;
    for _ in 0..expected {
        let line = read_line(&mut s, &mut buf)?;
        if let Some(e) = line.strip_prefix('-') {
            return Err(Reply::error(format!(
                "ERR Target instance replied with error: {e}"
            )));
        }
    }
    let mut moved = Vec::new();
    for (k, _, _) in &found {
        let line = read_line(&mut s, &mut buf)?;
        match line.strip_prefix('-') {
            Some(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
            None => moved.push(k.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let mut h = HashValue::default();
        h.insert(Bytes::from_static(b"f"), Bytes::from_static(b"v"));
        let v = Value::Hash(Box::new(h));
        let p = encode_value(&v);
        match decode_value(&p) {
            Ok(Value::Hash(h)) => assert_eq!(h.get(&b"f"[..]).map(|b| &b[..]), Some(&b"v"[..])),
            other => panic!("{other:?}"),
        }
        assert!(decode_value(b"nope").is_err());
        assert!(decode_value(&p[..p.len() - 1]).is_err());
        let s = encode_value(&Value::Str(b"abc".to_vec()));
        assert!(matches!(decode_value(&s), Ok(Value::Str(x)) if x == b"abc"));
    }
}

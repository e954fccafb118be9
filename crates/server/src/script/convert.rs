//! The Lua <-> RESP conversion rules of Redis 7.0, both directions and both protocols:
//! a command's reply becomes a Lua value as the script's protocol (redis.setresp) shows
//! it, and a script's return value becomes the caller's reply.

use crate::cmd::args::c_str;
use mlua::{Lua, Table, Value};
use rubra_resp::{parse_frame, Frame, Reply};

/// `{err = "CODE msg"}` as Redis's luaPushErrorBuff builds it from "-CODE msg" or "msg".
/// Bytes, not text: a command's error may quote a client's argument, which the script
/// sees as it came, UTF-8 or not.
pub(crate) fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let (code, msg): (&[u8], &[u8]) = match text.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(space) => (&rest[..space], &rest[space + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", text),
    };
    let err = [code, b" ", trim_line_ends(msg)].concat();
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(err)?)?;
    Ok(t)
}

/// `s` without the CRs and LFs at either end.
fn trim_line_ends(s: &[u8]) -> &[u8] {
    let is_end = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = s.iter().position(|b| !is_end(b)).unwrap_or(s.len());
    let stop = s.iter().rposition(|b| !is_end(b)).map_or(start, |i| i + 1);
    &s[start..stop]
}

/// A command's error reply as the table redis.call raises / redis.pcall returns.
fn command_error(lua: &Lua, text: &[u8]) -> mlua::Result<Value> {
    let t = error_table(lua, &[b"-", text].concat())?;
    t.raw_set("ignore_error_stats_update", true)?;
    Ok(Value::Table(t))
}

/// A one-field table `{name = value}`.
fn single(lua: &Lua, name: &str, value: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, value)?;
    Ok(Value::Table(t))
}

/// Converts a command reply to Lua as a client speaking RESP3 (`resp3`) or RESP2 sees it.
pub(crate) fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Status(s) => single(lua, "ok", lua.create_string(s)?)?,
        Reply::Error(e) => command_error(lua, e)?,
        Reply::Int(i) => Value::Number(*i as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items, resp3)?,
        Reply::Set(items) if !resp3 => array(lua, items, resp3)?,
        Reply::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            single(lua, "set", set)?
        }
        Reply::Map(pairs) if !resp3 => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp3)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp3)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            single(lua, "map", map)?
        }
        Reply::Bool(b) if !resp3 => Value::Number(if *b { 1.0 } else { 0.0 }),
        Reply::Bool(b) => Value::Boolean(*b),
        Reply::Double(d) if resp3 => single(lua, "double", *d)?,
        // Doubles in RESP2, verbatim strings and pre-encoded replies: through the wire
        // format, so the script sees exactly what a client of that protocol would.
        other => {
            let bytes = other.to_bytes(resp3);
            match parse_frame(&bytes, usize::MAX) {
                Ok(Some((frame, _))) => frame_to_lua(lua, &frame)?,
                _ => Value::Boolean(false),
            }
        }
    })
}

fn array(lua: &Lua, items: &[Reply], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

/// A parsed RESP frame to Lua, by the same rules.
fn frame_to_lua(lua: &Lua, frame: &Frame) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Simple(s) => single(lua, "ok", lua.create_string(s)?)?,
        Frame::Error(e) => command_error(lua, e)?,
        Frame::Int(i) => Value::Number(*i as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(b)?),
        Frame::Null => Value::Nil,
        Frame::Array(items) | Frame::Push(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Frame::Set(items) => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(frame_to_lua(lua, item)?, true)?;
            }
            single(lua, "set", set)?
        }
        Frame::Map(pairs) => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(frame_to_lua(lua, k)?, frame_to_lua(lua, v)?)?;
            }
            single(lua, "map", map)?
        }
        Frame::Double(d) => single(lua, "double", *d)?,
        Frame::Bool(b) => Value::Boolean(*b),
        Frame::BigNumber(n) => single(lua, "big_number", lua.create_string(n)?)?,
        Frame::Verbatim(v) => {
            let (format, text) = if v.len() >= 4 && v[3] == b':' {
                (&v[..3], &v[4..])
            } else {
                (&b"txt"[..], &v[..])
            };
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            single(lua, "verbatim_string", inner)?
        }
    })
}

/// Replaces CR and LF with spaces, as Redis does for status and error texts from Lua.
fn one_line(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// Converts a script's return value to the reply for a caller speaking `caller_resp3`;
/// `script_resp3` is the protocol the script chose (booleans differ).
pub(crate) fn lua_to_reply(value: &Value, script_resp3: bool, caller_resp3: bool) -> Reply {
    lua_to_reply_depth(value, script_resp3, caller_resp3, 0)
}

/// Nesting deeper than this is answered as Redis answers a Lua stack overflow.
const MAX_DEPTH: usize = 1000;

fn lua_to_reply_depth(value: &Value, s3: bool, c3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::err("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(bytes::Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if !s3 => {
            if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        Value::Boolean(b) => Reply::Bool(*b),
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(c_i64(*n)),
        Value::Table(t) => table_to_reply(t, s3, c3, depth),
        _ => Reply::Nil,
    }
}

fn table_to_reply(t: &Table, s3: bool, c3: bool, depth: usize) -> Reply {
    let get = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    // Redis reads both as C strings (up to a NUL); an error goes through
    // addReplyErrorFormat("-%s"), which also trims CRs and LFs at its end.
    if let Value::String(e) = get("err") {
        let e = e.as_bytes();
        let text = c_str(&e);
        let end = text
            .iter()
            .rposition(|&b| b != b'\r' && b != b'\n')
            .map_or(0, |i| i + 1);
        return Reply::error_bytes(one_line(&text[..end]));
    }
    if let Value::String(s) = get("ok") {
        return Reply::status_bytes(one_line(c_str(&s.as_bytes())));
    }
    match get("double") {
        Value::Number(d) => return Reply::Double(d),
        Value::Integer(i) => return Reply::Double(i as f64),
        _ => {}
    }
    if let Value::String(n) = get("big_number") {
        let n = one_line(&n.as_bytes());
        return if c3 {
            Reply::Raw([&b"("[..], &n, b"\r\n"].concat().into())
        } else {
            Reply::Bulk(n.into())
        };
    }
    if let Value::Table(v) = get("verbatim_string") {
        let format = v.raw_get::<Value>("format").unwrap_or(Value::Nil);
        let text = v.raw_get::<Value>("string").unwrap_or(Value::Nil);
        if let (Value::String(f), Value::String(s)) = (format, text) {
            let (f, s) = (f.as_bytes().to_vec(), s.as_bytes().to_vec());
            if !c3 {
                return Reply::Bulk(s.into());
            }
            let mut out = format!("={}\r\n", s.len() + 4).into_bytes();
            // The format is a C string, padded with spaces to three bytes.
            let mut fmt = c_str(&f).to_vec();
            fmt.resize(3, b' ');
            out.extend_from_slice(&fmt);
            out.push(b':');
            out.extend_from_slice(&s);
            out.extend_from_slice(b"\r\n");
            return Reply::Raw(out.into());
        }
    }
    if let Value::Table(m) = get("map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((
                lua_to_reply_depth(&k, s3, c3, depth + 1),
                lua_to_reply_depth(&v, s3, c3, depth + 1),
            ));
        }
        return Reply::Map(pairs);
    }
    if let Value::Table(s) = get("set") {
        let items = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| lua_to_reply_depth(&k, s3, c3, depth + 1))
            .collect();
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(lua_to_reply_depth(&v, s3, c3, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// C's `(long long)d` on x86-64, which Redis uses to turn Lua numbers into integer
/// replies: truncation, and INT64_MIN for NaN, infinities and anything out of range
/// (Rust's `as` would saturate instead).
pub(crate) fn c_i64(d: f64) -> i64 {
    // 2^63: the first double past i64::MAX.
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() || !(-TWO63..TWO63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

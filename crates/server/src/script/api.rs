//! The parts of the `redis` table that can raise errors, written in Rust: a Rust (C)
//! function keeps the calling script's frame even when called as `return redis.x(...)`, so
//! the error names the script line as in Redis. The run-dependent ones reach the running
//! script through `rt.op`, which only exists while a script runs.

use super::errors::{Counted, ScriptError};
use mlua::{Function, Lua, Table, Value, Variadic};

/// Raises `{err = msg}` the way Redis's luaPushError + lua_error does.
fn raise<T>(msg: &str) -> mlua::Result<T> {
    Err(mlua::Error::external(ScriptError(
        msg.as_bytes().to_vec(),
        Counted::No,
    )))
}

/// `lua_tonumber`: numbers, and strings that convert; 0 otherwise.
fn to_number(lua: &Lua, v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(v.clone()).ok().flatten(),
        _ => None,
    }
}

/// The running script's control function `rt.op`, or the "outside a script" error.
fn op(rt: &Table, what: &str) -> mlua::Result<Function> {
    if !super::run::in_run() {
        return raise(&format!(
            "ERR {what} can only be called inside a script invocation"
        ));
    }
    rt.raw_get("op")
}

/// Installs setresp, set_repl, log, sha1hex and acl_check_cmd into `rt`.
pub(crate) fn install(lua: &Lua, rt: &Table) -> mlua::Result<()> {
    let r = rt.clone();
    rt.raw_set(
        "setresp",
        lua.create_function(move |lua, a: Variadic<Value>| {
            let f = op(&r, "redis.setresp")?;
            if a.len() != 1 {
                return raise("ERR redis.setresp() requires one argument.");
            }
            let n = to_number(lua, &a[0]).unwrap_or(0.0) as i64;
            if n != 2 && n != 3 {
                return raise("ERR RESP version must be 2 or 3.");
            }
            f.call::<()>((1, n))
        })?,
    )?;
    let r = rt.clone();
    rt.raw_set(
        "set_repl",
        lua.create_function(move |lua, a: Variadic<Value>| {
            let f = op(&r, "redis.set_repl")?;
            if a.len() != 1 {
                return raise("ERR redis.set_repl() requires two arguments.");
            }
            let n = to_number(lua, &a[0]).unwrap_or(0.0) as i64;
            if !(0..=3).contains(&n) {
                return raise(
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                );
            }
            f.call::<()>((2, n))
        })?,
    )?;
    let r = rt.clone();
    rt.raw_set(
        "acl_check_cmd",
        lua.create_function(move |_, a: Variadic<Value>| {
            let f = op(&r, "redis.acl_check_cmd")?;
            let mut args = vec![Value::Integer(3)];
            args.extend(a);
            let (ok, v): (bool, Value) = f.call(Variadic::from_iter(args))?;
            if ok {
                return Ok(v);
            }
            match v {
                Value::Table(t) => raise(&t.raw_get::<String>("err").unwrap_or_default()),
                _ => raise("ERR acl check failed"),
            }
        })?,
    )?;
    rt.raw_set(
        "log",
        lua.create_function(|lua, a: Variadic<Value>| {
            if a.len() < 2 {
                return raise("ERR redis.log() requires two arguments or more.");
            }
            let Some(level) = to_number(lua, &a[0]) else {
                return raise("ERR First argument must be a number (log level).");
            };
            let level = level as i64;
            if !(0..=3).contains(&level) {
                return raise("ERR Invalid debug level.");
            }
            let mut msg = Vec::new();
            for (j, v) in a.iter().enumerate().skip(1) {
                if let Value::String(_) | Value::Integer(_) | Value::Number(_) = v {
                    if let Ok(Some(s)) = lua.coerce_string(v.clone()) {
                        if j != 1 {
                            msg.push(b' ');
                        }
                        msg.extend_from_slice(&s.as_bytes());
                    }
                }
            }
            let msg = String::from_utf8_lossy(&msg);
            match level {
                0 => tracing::debug!(target: "script", "{msg}"),
                1 | 2 => tracing::info!(target: "script", "{msg}"),
                _ => tracing::warn!(target: "script", "{msg}"),
            }
            Ok(())
        })?,
    )?;
    rt.raw_set(
        "sha1hex",
        lua.create_function(|lua, a: Variadic<Value>| {
            if a.len() != 1 {
                return raise("ERR wrong number of arguments");
            }
            let bytes = match &a[0] {
                Value::String(_) | Value::Integer(_) | Value::Number(_) => lua
                    .coerce_string(a[0].clone())?
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(super::sha1hex(&bytes))
        })?,
    )?;
    Ok(())
}

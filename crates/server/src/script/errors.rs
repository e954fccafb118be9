//! How a script's errors read: the error tables redis.call raises, the handler every run
//! uses (Redis's __redis__err__handler) that names the script line, and the strings a C
//! library's luaL_error would have made of errors raised from Rust.

use super::busy::BusyState;
use mlua::{Function, Lua, Table, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// An error redis.call raises: the `err` text of the table Redis would raise. Bytes: a
/// command's error may quote a client's argument, which goes back as it came.
#[derive(Debug)]
pub(crate) struct ScriptError(pub Vec<u8>, pub Counted);

/// Whether a [`ScriptError`] was a command's error, already counted in the error stats
/// (its table carries `ignore_error_stats_update`), or redis.call's own (no arguments,
/// arguments of the wrong type, outside a script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    Yes,
    No,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl std::error::Error for ScriptError {}

/// The `err` text of an error table.
pub(super) fn err_text(v: &Value) -> Vec<u8> {
    if let Value::Table(t) = v {
        if let Ok(Value::String(s)) = t.raw_get::<Value>("err") {
            return s.as_bytes().to_vec();
        }
    }
    b"ERR unknown error".to_vec()
}

/// The message of a killed script.
pub(crate) const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The error handler every run uses (Redis's __redis__err__handler): an error becomes a
/// table `{err = "CODE msg", source = ..., line = ...}` naming the script line that raised
/// it, skipping C functions and our own prelude's frames.
pub(crate) fn error_handler(
    lua: &Lua,
    busy: Arc<BusyState>,
    globals: &Table,
) -> mlua::Result<Function> {
    let tostring: Function = globals.raw_get("tostring")?;
    lua.create_function(move |lua, err: Value| {
        let frame = script_frame(lua);
        let table = match err {
            Value::Table(t) => t,
            Value::Error(e) if script_error(&e).is_some() => {
                let t = lua.create_table()?;
                let text = script_error(&e).unwrap_or_default();
                t.raw_set("err", lua.create_string(text)?)?;
                t.raw_set("ignore_error_stats_update", true)?;
                t
            }
            Value::Error(e) => {
                let msg = if busy.kill.load(Ordering::Acquire) {
                    format!("ERR {KILLED}")
                } else {
                    let place = frame
                        .as_ref()
                        .filter(|_| !unplaced(&e))
                        .map(|(s, l)| format!("{}:{}: ", s.trim_start_matches('@'), l))
                        .unwrap_or_default();
                    format!("ERR {place}{}", error_text(&e))
                };
                let t = lua.create_table()?;
                t.raw_set("err", msg)?;
                t
            }
            other => {
                let s: mlua::LuaString = tostring.call(other)?;
                let t = lua.create_table()?;
                let mut msg = b"ERR ".to_vec();
                msg.extend_from_slice(&s.as_bytes());
                t.raw_set("err", lua.create_string(msg)?)?;
                t
            }
        };
        if let Some((source, line)) = frame {
            table.raw_set("source", source)?;
            table.raw_set("line", line)?;
        }
        Ok(table)
    })
}

/// An error Lua itself raises from inside a library function (luaG_runerror, e.g. "table
/// index is nil"): its text carries no script position, unlike luaL_error's.
#[derive(Debug)]
pub(crate) struct Unplaced(pub String);

impl std::fmt::Display for Unplaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unplaced {}

/// Whether `e` is an [`Unplaced`] error.
fn unplaced(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => unplaced(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<Unplaced>().is_some(),
        _ => false,
    }
}

/// The text of a ScriptError (redis.call's failures) inside `e`, if that is what it is.
fn script_error(e: &mlua::Error) -> Option<Vec<u8>> {
    match e {
        mlua::Error::CallbackError { cause, .. } => script_error(cause),
        mlua::Error::ExternalError(x) => x.downcast_ref::<ScriptError>().map(|s| s.0.clone()),
        _ => None,
    }
}

/// Whether `e` holds a [`ScriptError`] of a command's (already counted) error.
fn counted_script_error(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } => counted_script_error(cause),
        mlua::Error::ExternalError(x) => x
            .downcast_ref::<ScriptError>()
            .is_some_and(|s| s.1 == Counted::Yes),
        _ => false,
    }
}

/// The innermost message of an error raised from Rust.
pub(crate) fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::ExternalError(x) => x.to_string(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The message handler of the sandbox's pcall. An error a Rust function raised (not
/// redis.call's, not one that must stay unplaced) becomes the string a C library's
/// luaL_error raises: the place of the line that called the function, then the message.
/// Anything else is left as it is.
pub(crate) fn placed(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let Value::Error(e) = &v else {
        return Ok(v);
    };
    if script_error(e).is_some() || unplaced(e) {
        return Ok(v);
    }
    // Level 0 is this handler, 1 the function that raised, 2 its caller: luaL_where(L, 1)
    // as seen from the function that raised.
    let place = lua
        .inspect_stack(2, |d| {
            let src = d.source().short_src.map(|s| s.into_owned());
            match (src, d.current_line()) {
                (Some(src), Some(line)) if line > 0 => format!("{src}:{line}: "),
                _ => String::new(),
            }
        })
        .unwrap_or_default();
    let text = format!("{place}{}", error_text(e));
    Ok(Value::String(lua.create_string(text)?))
}

/// What Redis's Lua would have raised in place of an error a Rust function raised, for an
/// xpcall message handler: redis.call's failure is the error table
/// `{err = ...}` (with `ignore_error_stats_update = true` for a command's error), a library function's error the string
/// luaL_error makes (the calling line's place, then the message). Anything else is left
/// as it is. Called from the sandbox's xpcall handler: level 1 is that handler, 2 the
/// function that raised, 3 its caller.
pub(crate) fn as_raised(lua: &Lua, v: Value) -> mlua::Result<Value> {
    let Value::Error(e) = &v else {
        return Ok(v);
    };
    if let Some(text) = script_error(e) {
        let t = lua.create_table()?;
        t.raw_set("err", lua.create_string(text)?)?;
        if counted_script_error(e) {
            t.raw_set("ignore_error_stats_update", true)?;
        }
        return Ok(Value::Table(t));
    }
    let place = if unplaced(e) {
        String::new()
    } else {
        lua.inspect_stack(3, |d| {
            let src = d.source().short_src.map(|s| s.into_owned());
            match (src, d.current_line()) {
                (Some(src), Some(line)) if line > 0 => format!("{src}:{line}: "),
                _ => String::new(),
            }
        })
        .unwrap_or_default()
    };
    let text = format!("{place}{}", error_text(e));
    Ok(Value::String(lua.create_string(text)?))
}

/// (source, current line) of the script frame the error belongs to.
fn script_frame(lua: &Lua) -> Option<(String, i64)> {
    for level in 1..8 {
        let info = lua.inspect_stack(level, |d| {
            let src = d.source();
            (
                src.what,
                src.source.map(|s| s.into_owned()),
                d.current_line(),
            )
        })?;
        match info {
            ("C", _, _) => continue,
            (_, Some(s), _) if s == "=rubra" => continue,
            (_, Some(s), Some(line)) => return Some((s, line as i64)),
            _ => continue,
        }
    }
    None
}

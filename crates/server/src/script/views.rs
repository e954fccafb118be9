//! next, pairs, ipairs, rawget and getmetatable as scripts see them. Redis 7.0 marks its
//! globals and library tables read-only with a flag inside its Lua; rubra's read-only
//! tables are empty proxies (see prelude.lua), so these functions look through a proxy to
//! its table, and getmetatable answers what Redis's sandbox answers: the globals' error
//! metatable, no metatable for a library table, strings' metatable read-only.
//!
//! Written in Rust, not in the prelude: a Rust (C) function keeps its caller's frame even
//! in `return next(nil)`, so a bad argument's error names the script line as in Redis.

use mlua::{Function, Lua, MultiValue, Table, Value, Variadic};

/// What the functions need from the prelude: each proxy's table, the globals' proxy, the
/// metatables getmetatable shows, and Lua's own functions.
struct Views {
    underlying: Table,
    globals: Table,
    globals_mt: Table,
    string_mt: Table,
    next: Function,
    ipairs: Function,
    getmetatable: Function,
}

impl Views {
    /// Argument 1 as a table (luaL_checktype's error otherwise), seen through a proxy.
    fn table_arg(&self, lua: &Lua, args: &[Value]) -> mlua::Result<Table> {
        match args.first() {
            Some(Value::Table(t)) => match self.underlying.raw_get::<Value>(t.clone())? {
                Value::Table(u) => Ok(u),
                _ => Ok(t.clone()),
            },
            other => {
                let got = match other {
                    None => "no value",
                    Some(Value::LightUserData(_)) => "userdata",
                    // Lua 5.1 has one number type.
                    Some(Value::Integer(_)) => "number",
                    Some(v) => v.type_name(),
                };
                Err(super::libs::bad_arg(
                    lua,
                    1,
                    &format!("table expected, got {got}"),
                ))
            }
        }
    }
}

/// `rt.views(underlying, P, globals_mt, string_mt)`: returns next, pairs, ipairs, rawget
/// and getmetatable for the sandbox's globals.
pub(crate) fn install(lua: &Lua, rt: &Table) -> mlua::Result<()> {
    rt.raw_set(
        "views",
        lua.create_function(
            |lua, (underlying, globals, globals_mt, string_mt): (Table, Table, Table, Table)| {
                let g = lua.globals();
                let v = std::sync::Arc::new(Views {
                    underlying,
                    globals,
                    globals_mt,
                    string_mt,
                    next: g.raw_get("next")?,
                    ipairs: g.raw_get("ipairs")?,
                    getmetatable: g.raw_get("getmetatable")?,
                });
                let x = v.clone();
                let next = lua.create_function(move |lua, a: Variadic<Value>| {
                    let t = x.table_arg(lua, &a)?;
                    let key = a.get(1).cloned().unwrap_or(Value::Nil);
                    x.next.call::<MultiValue>((t, key))
                })?;
                let x = v.clone();
                let pairs = lua.create_function(move |lua, a: Variadic<Value>| {
                    let t = x.table_arg(lua, &a)?;
                    Ok((x.next.clone(), t, Value::Nil))
                })?;
                let x = v.clone();
                let ipairs = lua.create_function(move |lua, a: Variadic<Value>| {
                    let t = x.table_arg(lua, &a)?;
                    x.ipairs.call::<MultiValue>(t)
                })?;
                let x = v.clone();
                let rawget = lua.create_function(move |lua, a: Variadic<Value>| {
                    let t = x.table_arg(lua, &a)?;
                    let key = a.get(1).cloned().unwrap_or(Value::Nil);
                    t.raw_get::<Value>(key)
                })?;
                let x = v;
                let getmetatable = lua.create_function(move |lua, a: Variadic<Value>| {
                    let Some(value) = a.first() else {
                        return Err(super::libs::bad_arg(lua, 1, "value expected"));
                    };
                    match value {
                        Value::Table(t) if *t == x.globals => {
                            Ok(Value::Table(x.globals_mt.clone()))
                        }
                        Value::Table(t) if !x.underlying.raw_get::<Value>(t.clone())?.is_nil() => {
                            Ok(Value::Nil)
                        }
                        Value::String(_) => Ok(Value::Table(x.string_mt.clone())),
                        v => x.getmetatable.call::<Value>(v.clone()),
                    }
                })?;
                Ok((next, pairs, ipairs, rawget, getmetatable))
            },
        )?,
    )
}

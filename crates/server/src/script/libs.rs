//! The extra libraries Redis gives scripts (`bit`, `cjson`, `cmsgpack`, `struct`), written
//! here in Rust against the same Lua API, installed as globals before the sandbox locks them.

use mlua::{Lua, Table, Value, Variadic};

/// Installs the libraries into `globals`; returns the settings of the cjson installed.
pub(crate) fn install(lua: &Lua, globals: &Table) -> mlua::Result<super::cjson::Shared> {
    globals.raw_set("bit", bit(lua)?)?;
    let (cjson, settings) = super::cjson::table_with_config(lua)?;
    globals.raw_set("cjson", cjson)?;
    globals.raw_set("cmsgpack", super::msgpack::table(lua)?)?;
    globals.raw_set("struct", super::structlib::table(lua)?)?;
    Ok(settings)
}

/// luaL_argerror: "bad argument #n to 'name' (msg)", naming the function as its caller
/// did (`?` when it has no name, e.g. called through pcall; a method call does not count
/// `self`), as the C libraries' errors read.
pub(crate) fn bad_arg(lua: &Lua, narg: usize, msg: &str) -> mlua::Error {
    let named = lua.inspect_stack(0, |d| {
        let n = d.names();
        (n.name.map(|s| s.into_owned()), n.name_what)
    });
    let Some((name, what)) = named else {
        return mlua::Error::runtime(format!("bad argument #{narg} ({msg})"));
    };
    let name = name.unwrap_or_else(|| "?".into());
    let mut narg = narg;
    if what == Some("method") {
        narg = narg.saturating_sub(1);
        if narg == 0 {
            return mlua::Error::runtime(format!("calling '{name}' on bad self ({msg})"));
        }
    }
    mlua::Error::runtime(format!("bad argument #{narg} to '{name}' ({msg})"))
}

/// LuaBitOp's tobit: add 2^52 + 2^51 and keep the low 32 bits of the double's
/// representation. A fraction rounds to nearest, ties to even (3.5 -> 4, 2.5 -> 2), not
/// toward zero, and the result is the number modulo 2^32.
fn norm(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

/// LuaBitOp's barg: argument `n` (from 1) as 32 bits; anything but a number or a numeric
/// string is luaL_typerror's "number expected, got <type>" ("no value" past the end).
fn barg(lua: &Lua, args: &[Value], n: usize) -> mlua::Result<i32> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    let got = match &v {
        _ if args.len() < n => "no value",
        Value::LightUserData(_) => "userdata",
        v => v.type_name(),
    };
    match lua.coerce_number(v)? {
        Some(x) => Ok(norm(x)),
        None => Err(bad_arg(lua, n, &format!("number expected, got {got}"))),
    }
}

/// LuaBitOp 1.0 as Redis ships it: 32-bit operations on numbers, results as signed ints.
/// Arguments are read as the C library reads them: the first, then (for band / bor /
/// bxor) the others from the last down, so a bad one is reported in that order.
fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary = |f: fn(i32) -> i32| {
        move |lua: &Lua, args: Variadic<Value>| Ok(f(barg(lua, &args, 1)?) as f64)
    };
    t.raw_set("tobit", lua.create_function(unary(|x| x))?)?;
    t.raw_set("bnot", lua.create_function(unary(|x| !x))?)?;
    t.raw_set("bswap", lua.create_function(unary(|x| x.swap_bytes()))?)?;
    let fold = |f: fn(i32, i32) -> i32| {
        move |lua: &Lua, args: Variadic<Value>| {
            let mut acc = barg(lua, &args, 1)?;
            for n in (2..=args.len()).rev() {
                acc = f(acc, barg(lua, &args, n)?);
            }
            Ok(acc as f64)
        }
    };
    t.raw_set("band", lua.create_function(fold(|a, b| a & b))?)?;
    t.raw_set("bor", lua.create_function(fold(|a, b| a | b))?)?;
    t.raw_set("bxor", lua.create_function(fold(|a, b| a ^ b))?)?;
    let shift = |f: fn(i32, u32) -> i32| {
        move |lua: &Lua, args: Variadic<Value>| {
            let x = barg(lua, &args, 1)?;
            let n = (barg(lua, &args, 2)? & 31) as u32;
            Ok(f(x, n) as f64)
        }
    };
    t.raw_set(
        "lshift",
        lua.create_function(shift(|x, n| x.wrapping_shl(n)))?,
    )?;
    t.raw_set(
        "rshift",
        lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?,
    )?;
    t.raw_set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    t.raw_set("rol", lua.create_function(shift(|x, n| x.rotate_left(n)))?)?;
    t.raw_set("ror", lua.create_function(shift(|x, n| x.rotate_right(n)))?)?;
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: Variadic<Value>| {
            let x = barg(lua, &args, 1)? as u32;
            // lua_isnone: an explicit nil is read (and refused), only a missing one is 8.
            let n = if args.len() < 2 {
                8
            } else {
                barg(lua, &args, 2)?
            };
            let (upper, width) = if n < 0 {
                (true, n.unsigned_abs() as usize)
            } else {
                (false, n as usize)
            };
            let width = width.min(8);
            let s = if upper {
                format!("{:08X}", x)
            } else {
                format!("{:08x}", x)
            };
            Ok(s[8 - width..].to_string())
        })?,
    )?;
    Ok(t)
}

//! What crosses the Lua stack on every run, moved with the plain Lua API instead of
//! through mlua `Value`s (each of which takes and releases a Lua reference): redis.call's
//! arguments become command words straight from the stack, and KEYS / ARGV are built on
//! it. This uses mlua's hidden stack-conversion hooks (`FromLuaMulti::from_stack_multi`,
//! `IntoLua::push_into_stack`), as mlua's own `BString` and `&str` conversions do, and
//! like them pushes unprotected: the engine sets no Lua memory limit, so a Lua allocation
//! fails only when the process is out of memory.

use crate::cmd::Command;
use bytes::Bytes;
use mlua::state::RawLua;
use mlua::{ffi, FromLuaMulti, IntoLua, Lua, MultiValue, Value};
use std::cell::RefCell;
use std::os::raw::{c_char, c_int};

/// The arguments of one redis.call / redis.pcall as command words.
pub(crate) struct CallArgs {
    /// The words, or None when an argument was neither a string nor a number.
    pub words: Option<Vec<Bytes>>,
    /// How many arguments the script passed.
    pub count: usize,
    /// The command the first word names, when it was found in [`NAMES`].
    pub cmd: Option<&'static Command>,
}

thread_local! {
    /// Command names scripts called lately (exactly as spelled) with their commands: a
    /// known name becomes a word by a reference count instead of an allocation and a
    /// copy, and needs no command lookup. Names of existing commands only, so it stays
    /// small; the command table never changes while the server runs.
    static NAMES: RefCell<Vec<(Bytes, &'static Command)>> = const { RefCell::new(Vec::new()) };
}

/// How many names [`NAMES`] keeps.
const NAMES_MAX: usize = 32;

/// The word and command for a command name `name`, from [`NAMES`] or looked up (and
/// remembered).
fn command_word(name: &[u8]) -> (Bytes, Option<&'static Command>) {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((word, cmd)) = names.iter().find(|(w, _)| w.as_ref() == name) {
            return (word.clone(), Some(*cmd));
        }
        let word = Bytes::copy_from_slice(name);
        let cmd = crate::cmd::lookup(name);
        if let Some(cmd) = cmd {
            if names.len() < NAMES_MAX {
                names.push((word.clone(), cmd));
            }
        }
        (word, cmd)
    })
}

impl CallArgs {
    /// From already converted values (the `rt.op` path).
    pub(crate) fn from_values(values: &[Value]) -> CallArgs {
        CallArgs {
            words: values.iter().map(value_word).collect(),
            count: values.len(),
            cmd: None,
        }
    }
}

/// A string as its bytes, a number as `%.17g` (Redis formats Lua numbers so).
fn value_word(v: &Value) -> Option<Bytes> {
    match v {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Some(Bytes::from(rubra_resp::format_double(*i as f64))),
        Value::Number(n) => Some(Bytes::from(rubra_resp::format_double(*n))),
        _ => None,
    }
}

impl FromLuaMulti for CallArgs {
    fn from_lua_multi(values: MultiValue, _: &Lua) -> mlua::Result<Self> {
        let values: Vec<Value> = values.into_iter().collect();
        Ok(CallArgs::from_values(&values))
    }

    unsafe fn from_stack_multi(nvals: c_int, lua: &RawLua) -> mlua::Result<Self> {
        let state = lua.state();
        let args = unsafe { read_call_args(state, nvals) };
        // The arguments are copied: pop them, so that the reply can be pushed even when a
        // script passed thousands (`unpack` of a large table). Lua 5.1 refuses to grow a C
        // function's stack past 8000 slots, and mlua checks for room before it pushes a
        // result; Redis's C code pushes its reply in the room Lua always leaves.
        // SAFETY: the `nvals` arguments are on top of the stack (see read_call_args) and
        // mlua takes the callback's results from the top, never the argument slots.
        unsafe { ffi::lua_pop(state, nvals.max(0)) };
        Ok(args)
    }
}

/// Reads redis.call's arguments, the `nvals` values on top of `state`'s stack.
///
/// # Safety
/// `state` must be a live Lua state with at least `nvals` values on its stack.
unsafe fn read_call_args(state: *mut ffi::lua_State, nvals: c_int) -> CallArgs {
    {
        let count = nvals.max(0) as usize;
        let mut words = Vec::with_capacity(count);
        let mut cmd = None;
        for idx in -nvals..0 {
            // SAFETY: mlua calls this with the `nvals` arguments on top of `state`'s stack,
            // so every index in -nvals..0 names one of them; a string's pointer and length
            // stay valid while it is on the stack, and it is copied before we return.
            let word = unsafe {
                match ffi::lua_type(state, idx) {
                    ffi::LUA_TSTRING => {
                        let mut len = 0;
                        let p = ffi::lua_tolstring(state, idx, &mut len);
                        let s = std::slice::from_raw_parts(p as *const u8, len);
                        if idx == -nvals {
                            let (word, c) = command_word(s);
                            cmd = c;
                            Some(word)
                        } else {
                            Some(Bytes::copy_from_slice(s))
                        }
                    }
                    ffi::LUA_TNUMBER => Some(Bytes::from(rubra_resp::format_double(
                        ffi::lua_tonumber(state, idx),
                    ))),
                    _ => None,
                }
            };
            match word {
                Some(w) => words.push(w),
                None => {
                    return CallArgs {
                        words: None,
                        count,
                        cmd: None,
                    };
                }
            }
        }
        CallArgs {
            words: Some(words),
            count,
            cmd,
        }
    }
}

/// KEYS or ARGV: a Lua array of the strings, made on the stack where it is passed.
pub(crate) struct StrArray<'a>(pub &'a [Bytes]);

impl IntoLua for StrArray<'_> {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(self.0.len(), 0)?;
        for (i, item) in self.0.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(Value::Table(t))
    }

    unsafe fn push_into_stack(self, lua: &RawLua) -> mlua::Result<()> {
        let items = self.0;
        let Ok(n) = c_int::try_from(items.len()) else {
            return Err(mlua::Error::StackError);
        };
        let state = lua.state();
        // SAFETY: the table and one string at a time take two slots, checked for first;
        // each string is pushed (copied by Lua) from a live slice, then moved into the
        // table, which stays on the stack as the pushed value.
        unsafe {
            if ffi::lua_checkstack(state, 2) == 0 {
                return Err(mlua::Error::StackError);
            }
            ffi::lua_createtable(state, n, 0);
            for (i, item) in items.iter().enumerate() {
                ffi::lua_pushlstring(state, item.as_ptr() as *const c_char, item.len());
                ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
            }
        }
        Ok(())
    }
}

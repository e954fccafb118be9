//! The Lua engine behind EVAL and FUNCTION: one Lua 5.1 state per node, sandboxed as
//! Redis 7.0 sandboxes its own (read-only globals and libraries, no os/io/loadfile/dofile,
//! Redis's `math.random`), the script cache, and how a script is run (`run`).

mod api;
pub(crate) mod busy;
mod busy_serve;
mod cjson;
pub(crate) mod convert;
pub(crate) mod dump;
pub(crate) mod errors;
pub(crate) mod functions;
pub(crate) mod libs;
mod msgpack;
pub(crate) mod rand48;
pub(crate) mod run;
pub(crate) mod shebang;
mod stack;
mod structlib;
mod views;

use ahash::AHashMap;
use bytes::Bytes;
use mlua::{ffi, Function, Lua, LuaOptions, StdLib, Table, Value};
use rand48::{Rand48, LRAND48_MAX};
use std::sync::Arc;

/// The version scripts see in `redis.REDIS_VERSION` (what INFO reports too).
pub(crate) const VERSION: &str = "7.0.15";
/// Same as a number: 0x00MMmmpp.
pub(crate) const VERSION_NUM: i64 = 0x0007_000f;

/// A compiled EVAL script.
pub(crate) struct Script {
    pub flags: u32,
    /// The compiled chunk, kept in the Lua registry: a `Function` handle would hold a slot
    /// of mlua's reference stack, which Lua 5.1 caps at about 8000, so a cache of that
    /// many scripts refused every new one ("out of Lua stack"); Redis has no such limit.
    pub func: mlua::RegistryKey,
}

/// The Lua state and everything that lives in it.
pub(crate) struct Engine {
    pub lua: Lua,
    /// The environment scripts run in: the read-only proxy.
    pub env: Table,
    /// Rust helpers the prelude calls (`rt.op` is set only while a script runs).
    pub rt: Table,
    /// EVAL scripts by lower-case SHA1.
    pub scripts: AHashMap<String, Script>,
    /// Bytes of script bodies held (INFO used_memory_scripts_eval).
    pub scripts_bytes: usize,
    /// Loaded function libraries.
    pub functions: functions::Libraries,
    /// The busy state other connections read without the lock.
    pub busy: Arc<busy::BusyState>,
    /// What every run needs, gathered once.
    pub handles: Arc<run::Handles>,
    /// EVAL's cjson settings (Redis's SCRIPT FLUSH makes a new Lua state: defaults again).
    /// Functions have a cjson module of their own, as Redis's function engine has.
    pub eval_cjson: cjson::Shared,
}

/// Lower-case hex SHA1, as Redis names scripts.
pub(crate) fn sha1hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

impl Engine {
    /// A fresh engine. Only our own Lua code runs here, so a failure is a bug.
    pub(crate) fn new(busy: Arc<busy::BusyState>) -> Engine {
        match Engine::build(busy) {
            Ok(e) => e,
            Err(e) => panic!("the Lua sandbox failed to initialise: {e}"),
        }
    }

    fn build(busy: Arc<busy::BusyState>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let globals = lua.globals();
        let eval_cjson = libs::install(&lua, &globals)?;
        let rt = lua.create_table()?;
        rt.set("fn_cjson", cjson::table(&lua)?)?;
        let rng = Arc::new(parking_lot::Mutex::new(Rand48::default()));
        let r = rng.clone();
        rt.set(
            "random",
            lua.create_function(move |_, args: mlua::Variadic<Value>| {
                math_random(&mut r.lock(), &args)
            })?,
        )?;
        let r = rng.clone();
        rt.set(
            "randomseed",
            lua.create_function(move |_, seed: mlua::Number| {
                r.lock().seed(seed as i64 as i32);
                Ok(())
            })?,
        )?;
        api::install(&lua, &rt)?;
        views::install(&lua, &rt)?;
        rt.set("version", VERSION)?;
        rt.set("version_num", VERSION_NUM)?;
        let prelude = lua
            .load(include_str!("prelude.lua"))
            .set_name("=rubra")
            .into_function()?;
        rt.set(
            "errmsg",
            lua.create_function(|_, v: Value| match v {
                Value::Error(e) => Ok(Some(errors::error_text(&e))),
                _ => Ok(None),
            })?,
        )?;
        rt.set(
            "placed",
            lua.create_function(|lua, v: Value| errors::placed(lua, v))?,
        )?;
        rt.set(
            "as_raised",
            lua.create_function(|lua, v: Value| errors::as_raised(lua, v))?,
        )?;
        rt.set(
            "is_c",
            lua.create_function(|_, f: Function| Ok(f.info().what == "C"))?,
        )?;
        let (env, redis_api): (Table, Table) = prelude.call((globals.clone(), rt.clone()))?;
        // The chunk itself is garbage now (the closures it made keep their own code).
        drop(prelude);
        let err_handler = errors::error_handler(&lua, busy.clone(), &globals)?;
        // Redis's scripts see their error handler as a global of that name.
        globals.raw_set("__redis__err__handler", err_handler.clone())?;
        let handles = Arc::new(run::Handles::new(
            &lua,
            &rt,
            &redis_api,
            &err_handler,
            &globals,
        )?);
        // Each run allocates a little (KEYS/ARGV, scoped callbacks); with Lua's default
        // pause (200%) a full mark of the whole state came every few hundred runs and took
        // an eighth of EVALSHA's time. Waiting for 5x growth keeps the heap small still.
        lua.gc_set_mode(mlua::state::GcMode::Incremental(
            mlua::state::GcIncParams::default().pause(500),
        ));
        // Setting up leaves garbage (a third of the heap: the prelude's compilation, the
        // temporaries of the tables built above) that the raised pause would keep until the
        // heap grew fivefold; a fresh Redis state holds none of it.
        lua.gc_collect()?;
        Ok(Engine {
            lua,
            env,
            rt,
            scripts: AHashMap::new(),
            scripts_bytes: 0,
            functions: functions::Libraries::default(),
            busy,
            handles,
            eval_cjson,
        })
    }

    /// Compiles `body` (skipping a shebang line but keeping its newline, so line numbers
    /// stay right) in the script environment under the chunk name `name`. The error is
    /// Lua's message in bytes, up to a NUL as Redis prints it (`%s`): it may quote the
    /// source near the fault, bytes that are not UTF-8 included.
    pub(crate) fn compile(
        &self,
        body: &[u8],
        skip: usize,
        name: &str,
        env: &Table,
    ) -> Result<Function, Vec<u8>> {
        let code = &body[skip..];
        self.lua
            .load(code)
            .set_name(name)
            .set_environment(env.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => self
                    .syntax_error(code, name)
                    .unwrap_or_else(|| message.into_bytes()),
                other => other.to_string().into_bytes(),
            })
            .map_err(|m| crate::cmd::args::c_str(&m).to_vec())
    }

    /// Lua's own message for `code` that does not compile, as bytes: mlua hands a syntax
    /// error over as a String, with U+FFFD for each byte that is not UTF-8. Compiles
    /// again (on the error path only) to read the message off the stack; None if that
    /// compiles, or the name cannot be a C string.
    fn syntax_error(&self, code: &[u8], name: &str) -> Option<Vec<u8>> {
        let name = std::ffi::CString::new(name).ok()?;
        self.lua.exec_raw_lua(|raw| {
            let l = raw.state();
            // SAFETY: one slot is checked for and the stack is put back as it was: the
            // chunk or the message that luaL_loadbuffer (protected: it returns an error
            // code, never unwinds) pushed is popped after the message's bytes are copied.
            unsafe {
                if ffi::lua_checkstack(l, 1) == 0 {
                    return None;
                }
                let rc = ffi::luaL_loadbuffer(
                    l,
                    code.as_ptr() as *const std::os::raw::c_char,
                    code.len(),
                    name.as_ptr(),
                );
                let mut len = 0;
                let p = ffi::lua_tolstring(l, -1, &mut len);
                let message = (rc != 0 && !p.is_null())
                    .then(|| std::slice::from_raw_parts(p as *const u8, len).to_vec());
                ffi::lua_pop(l, 1);
                message
            }
        })
    }

    /// SCRIPT LOAD / the first EVAL of a body: compiles and caches it, returning its SHA1.
    /// The error is the reply's text, in bytes.
    pub(crate) fn load_script(&mut self, body: &Bytes) -> Result<String, Vec<u8>> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) = shebang::parse_eval(body)?;
        let func = self
            .compile(body, skip, "@user_script", &self.env)
            .map_err(|m| [&b"ERR Error compiling script (new function): "[..], &m].concat())?;
        let func = self
            .lua
            .create_registry_value(func)
            .map_err(|e| format!("ERR Error compiling script (new function): {e}").into_bytes())?;
        self.scripts_bytes += body.len() + 40;
        self.scripts.insert(sha.clone(), Script { flags, func });
        Ok(sha)
    }

    /// Every library's source, for RDB files, AOF rewrites and full syncs.
    pub(crate) fn library_codes(&self) -> Vec<Bytes> {
        self.functions
            .libs
            .values()
            .map(|l| l.code.clone())
            .collect()
    }

    /// Replaces all libraries with those in `codes` (an RDB file's), as Redis does when it
    /// loads one. A library that fails to load is logged and skipped.
    pub(crate) fn replace_libraries(&mut self, codes: &[Vec<u8>]) {
        self.functions = functions::Libraries::default();
        for code in codes {
            if let Err(e) = self.load_library(&Bytes::copy_from_slice(code), true) {
                tracing::warn!(
                    error = %String::from_utf8_lossy(&e),
                    "a function library from the RDB file did not load"
                );
            }
        }
    }

    /// SCRIPT FLUSH: forgets every cached script and collects their code.
    pub(crate) fn flush_scripts(&mut self) {
        self.scripts.clear();
        self.scripts_bytes = 0;
        *self.eval_cjson.lock() = cjson::Config::default();
        let _ = run::empty_arg_tables(&self.lua, &self.handles);
        self.collect_all();
    }

    /// Frees what nothing references any more, as far as a new Lua state would: the values
    /// of dropped registry keys first (mlua keeps a dropped key's value in the registry
    /// until the slot is reused or expired, so a flushed script's code stayed alive:
    /// SCRIPT FLUSH after 2000 scripts left 850 KB where Redis's new state has 32 KB),
    /// then full collections until the heap stops shrinking (each halves at most Lua's
    /// string table, which many strings had grown), a few at most.
    pub(crate) fn collect_all(&self) {
        self.lua.expire_registry_values();
        let mut used = self.lua.used_memory();
        for _ in 0..8 {
            let _ = self.lua.gc_collect();
            let now = self.lua.used_memory();
            if now >= used {
                break;
            }
            used = now;
        }
    }
}

/// The flags the command path checks for a script command (Redis's getCommandFlags): an
/// EVAL script or function that declares flags has the command's WRITE / DENYOOM / STALE
/// replaced by what they imply, so a stale or read-only replica and maxmemory refuse it
/// (and min-replicas-to-write with NOREPLICAS, before EVAL_RO's own refusal and before
/// MULTI queues it) with the generic replies before it runs, as Redis does. Other commands keep their own
/// (a container's subcommand the flags Redis gives that subcommand).
/// Only worked out when one of those checks can apply (the common path stays a compare);
/// CLIENT PAUSE WRITE is one (a no-writes script is not held, as in Redis). The tests are
/// inlined into the command path; the rest is `checked_command_flags`.
#[inline(always)]
pub(crate) fn command_flags(
    store: &crate::store::Store,
    cmd: &crate::cmd::Command,
    args: &[Bytes],
) -> u32 {
    if !(store.config.maxmemory > 0
        || store.config.min_replicas.0 > 0
        || store.pause.end_ms != 0
        || store.pause.failover
        || store.replication.is_replica()
        || store
            .aof
            .as_ref()
            .is_some_and(|a| a.write_error().is_some()))
    {
        return cmd.flags;
    }
    checked_command_flags(store, cmd, args)
}

/// `command_flags` once one of its checks can apply.
#[inline(never)]
fn checked_command_flags(
    store: &crate::store::Store,
    cmd: &crate::cmd::Command,
    args: &[Bytes],
) -> u32 {
    use crate::cmd::flags::{DENYOOM, MAY_REPLICATE, STALE, WRITE};
    let Some(first) = args.get(1) else {
        return cmd.flags;
    };
    // A subcommand's own flags (Redis's per-subcommand table), not its container's.
    let base = crate::acl::command_docs::flags_for(cmd, args);
    let engine = &store.scripts;
    let script_flags = match cmd.name {
        "eval" | "eval_ro" => match engine.scripts.get(&sha1hex(first)) {
            Some(s) => s.flags,
            None => match shebang::parse_eval(first) {
                Ok((f, _)) => f,
                Err(_) => return base,
            },
        },
        "evalsha" | "evalsha_ro" if first.len() == 40 => {
            let sha = String::from_utf8_lossy(first).to_ascii_lowercase();
            match engine.scripts.get(&sha) {
                Some(s) => s.flags,
                None => return base,
            }
        }
        "fcall" | "fcall_ro" => match engine.functions.function(&String::from_utf8_lossy(first)) {
            Some(f) => f.flags,
            None => return base,
        },
        _ => return base,
    };
    if script_flags & shebang::EVAL_COMPAT != 0 {
        return base;
    }
    let mut f = base & !(STALE | DENYOOM | WRITE | MAY_REPLICATE);
    if script_flags & (shebang::ALLOW_OOM | shebang::NO_WRITES) == 0 {
        f |= DENYOOM;
    }
    if script_flags & shebang::NO_WRITES == 0 {
        f |= WRITE;
    }
    if script_flags & shebang::ALLOW_STALE != 0 {
        f |= STALE;
    }
    f
}

/// Whether the command being run comes from a script: while a script runs it holds the
/// store, so every command executed meanwhile is one of its calls (Redis's CLIENT_SCRIPT).
pub(crate) fn from_script(store: &crate::store::Store) -> bool {
    store
        .scripts
        .busy
        .running
        .load(std::sync::atomic::Ordering::Acquire)
}

/// Whether this node is a replica whose link is down and that must not serve stale data
/// (`replica-serve-stale-data no`): then only STALE commands run (Redis's MASTERDOWN).
pub(crate) fn running_stale(store: &crate::store::Store) -> bool {
    store.replication.primary.as_ref().is_some_and(|p| {
        p.state != crate::repl::state::LinkState::Connected
            && store.config.get_value("replica-serve-stale-data") == "no"
    })
}

/// Redis's `math.random`: lrand48-based, with Lua 5.1's argument rules.
fn math_random(rng: &mut Rand48, args: &[Value]) -> mlua::Result<f64> {
    let r = (rng.next() % LRAND48_MAX) as f64 / LRAND48_MAX as f64;
    let int_arg = |i: usize| -> mlua::Result<i64> {
        match &args[i] {
            Value::Integer(n) => Ok(*n),
            Value::Number(n) => Ok(*n as i64),
            Value::String(s) => s
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|n| n as i64)
                .ok_or_else(|| arg_error(i + 1, "number expected, got string")),
            other => Err(arg_error(
                i + 1,
                &format!("number expected, got {}", other.type_name()),
            )),
        }
    };
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int_arg(0)?;
            if u < 1 {
                return Err(arg_error(1, "interval is empty"));
            }
            Ok((r * u as f64).floor() + 1.0)
        }
        2 => {
            let l = int_arg(0)?;
            let u = int_arg(1)?;
            if l > u {
                return Err(arg_error(2, "interval is empty"));
            }
            Ok((r * (u - l + 1) as f64).floor() + l as f64)
        }
        _ => Err(mlua::Error::runtime("wrong number of arguments")),
    }
}

fn arg_error(n: usize, msg: &str) -> mlua::Error {
    mlua::Error::runtime(format!("bad argument #{n} to 'random' ({msg})"))
}

//! Running a script: the checks Redis makes before a run (shebang flags against the node's
//! state), the run itself with `redis.call` going through the normal command path, the
//! busy/kill hook, and effects propagation wrapped in MULTI/EXEC (error texts: `errors`).

use super::busy::BusyState;
use super::errors::{err_text, Counted, ScriptError, KILLED};
use super::stack::{CallArgs, StrArray};
use super::{convert, shebang};
use crate::client::ClientState;
use crate::cmd::{flags, Ctx};
use crate::exec::dispatch;
use bytes::Bytes;
use mlua::state::RawLua;
use mlua::{ffi, FromLua, Function, HookTriggers, IntoLua, Lua, Table, Value, Variadic, VmState};
use rubra_resp::Reply;
use std::cell::Cell;
use std::os::raw::c_char;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How a script was invoked.
pub(crate) struct Invocation<'a> {
    /// EVAL family (globals KEYS/ARGV, SCRIPT KILL) or FCALL (arguments, FUNCTION KILL).
    pub is_eval: bool,
    /// *_RO variant.
    pub ro_command: bool,
    /// Shebang / register_function flags.
    pub flags: u32,
    /// SHA1 or function name, for error texts.
    pub name: &'a str,
    pub keys: &'a [Bytes],
    pub args: &'a [Bytes],
    /// The whole command as the caller sent it (FUNCTION STATS during a busy run).
    pub command: &'a [Bytes],
}

/// What a run may do and has done.
struct RunState {
    read_only: bool,
    allow_oom: bool,
    allow_cross_slot: bool,
    /// Used memory was over maxmemory when the script started.
    oom_at_start: bool,
    /// The script called a write command (it can no longer be killed).
    wrote: bool,
    /// redis.set_repl flags (bit 0 AOF, bit 1 replicas).
    repl: u8,
    /// Cluster mode: the slot of the first key the script touched.
    slot: Option<u16>,
    /// The client the script's commands run as (its db, its protocol).
    client: ClientState,
    /// The caller's cluster flags (READONLY / ASKING), as Redis copies them.
    caller_readonly: bool,
    caller_asking: bool,
    from_primary: bool,
}

/// Checks the node state against the script's flags before it runs (Redis's
/// scriptPrepareForRun); an error reply refuses the run.
fn prepare(ctx: &mut Ctx, inv: &Invocation) -> Result<(), Reply> {
    let store = &mut *ctx.store;
    let obey = ctx.client.is_primary_link;
    let stale = !obey && super::running_stale(store);
    if inv.flags & shebang::EVAL_COMPAT != 0 {
        if stale {
            return Err(Reply::err(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
        return Ok(());
    }
    if inv.flags & shebang::NO_CLUSTER != 0 && store.cluster.is_some() {
        return Err(Reply::err(
            "ERR Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    if stale && inv.flags & shebang::ALLOW_STALE == 0 {
        return Err(Reply::err(
            "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.",
        ));
    }
    if inv.flags & shebang::NO_WRITES == 0 {
        if store.replication.is_replica()
            && store.config.get_value("replica-read-only") == "yes"
            && !obey
        {
            return Err(Reply::err(
                "READONLY Can not run script with write flag on readonly replica",
            ));
        }
        if inv.ro_command {
            return Err(Reply::err(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
        if dispatch::lacks_good_replicas(store) {
            return Err(Reply::err(dispatch::NOREPLICAS));
        }
    }
    if inv.flags & (shebang::ALLOW_OOM | shebang::NO_WRITES) == 0
        && store.config.maxmemory > 0
        && !obey
        && !crate::exec::evict::make_room(store)
    {
        return Err(Reply::err(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'",
        ));
    }
    Ok(())
}

/// Runs `func` for the calling client in `ctx` and returns the caller's reply.
pub(crate) fn run(ctx: &mut Ctx, func: &Function, inv: &Invocation) -> Reply {
    if let Err(e) = prepare(ctx, inv) {
        return e;
    }
    let engine = &ctx.store.scripts;
    let (lua, busy) = (engine.lua.clone(), engine.busy.clone());
    let handles = engine.handles.clone();
    let compat = inv.flags & shebang::EVAL_COMPAT != 0;
    let oom_at_start = ctx.store.config.maxmemory > 0
        && !ctx.store.loading
        && crate::alloc::used_memory() > ctx.store.config.maxmemory as usize;
    let mut state = RunState {
        read_only: inv.ro_command || (!compat && inv.flags & shebang::NO_WRITES != 0),
        allow_oom: !compat && inv.flags & shebang::ALLOW_OOM != 0,
        allow_cross_slot: compat || inv.flags & shebang::ALLOW_CROSS_SLOT != 0,
        oom_at_start,
        wrote: false,
        repl: 3,
        // The keys the script declared fix its slot, as Redis's routing of the EVAL/FCALL
        // itself sets the caller's slot: a key of another slot is refused even when this
        // node serves both.
        slot: match (&ctx.store.cluster, inv.keys.first()) {
            (Some(_), Some(key)) => Some(rubra_keys::key_slot(key)),
            _ => None,
        },
        client: ClientState {
            db: ctx.client.db,
            // Redis runs the script's commands as the caller's user (SORT's BY/GET check).
            user: ctx.client.user.clone(),
            script_caller: ctx.client.id,
            authenticated: true,
            no_block: true,
            is_primary_link: ctx.client.is_primary_link,
            ..ClientState::default()
        },
        caller_readonly: ctx.client.readonly,
        caller_asking: ctx.client.asking,
        from_primary: ctx.client.is_primary_link || ctx.store.loading,
    };
    busy.start(inv.is_eval, state.from_primary);
    let threshold = ctx.store.config.busy_reply_threshold_ms;
    busy.threshold_ms.store(threshold, Ordering::Relaxed);
    if threshold > 0 {
        let mut name = busy.name.lock();
        name.clear();
        name.push_str(inv.name);
        if !inv.is_eval {
            let mut command = busy.command.lock();
            command.clear();
            command.extend_from_slice(inv.command);
            let f = &ctx.store.scripts.functions;
            busy.libraries.store(f.libs.len() as u64, Ordering::Relaxed);
            busy.functions
                .store(f.function_count() as u64, Ordering::Relaxed);
        }
    }
    // The count hook stays installed between runs (setting a hook through mlua allocates
    // and registers a callback: per run, that was a tenth of EVALSHA's time).
    if !busy.hook_armed.swap(true, Ordering::Relaxed) {
        install_hook(&lua, busy.clone());
    }
    let own_exec = !ctx.store.feed.in_exec();
    if own_exec {
        ctx.store.feed.begin_exec();
    }
    let caller_resp3 = ctx.client.resp3;
    let outcome = execute(ctx, &mut state, &handles, func, inv, caller_resp3);
    if own_exec {
        ctx.store.feed.end_exec();
    }
    if !busy.hook_armed.load(Ordering::Relaxed) {
        // A kill replaced the count hook with a per-line one: it must not outlive the run.
        lua.remove_hook();
    }
    let deferred = busy.finish();
    if !deferred.is_empty() {
        apply_deferred(ctx, deferred);
    }
    gc_step(&lua);
    match outcome {
        Ok(reply) => reply,
        Err(e) => Reply::error(format!("ERR Error running script {}, {}", inv.name, e)),
    }
}

/// Makes the watch changes that connections asked for while the run was busy, in their
/// order, before anyone else gets the store (see `busy_serve`).
fn apply_deferred(ctx: &mut Ctx, ops: Vec<super::busy::WatchOp>) {
    use super::busy::WatchOp;
    for op in ops {
        match op {
            WatchOp::Unwatch { client } => ctx.store.watches.unwatch_all(client),
            WatchOp::Watch {
                client,
                db,
                keys,
                dirty,
            } => {
                for key in keys {
                    let expired =
                        crate::cmd::tx::stored_but_expired(&ctx.store.dbs[db], &key, ctx.now_ms);
                    ctx.store.watches.watch(client, db, key, expired);
                }
                if dirty {
                    ctx.store.watches.doom(client);
                }
            }
        }
    }
}

/// The engine's tables, functions and key strings a run uses, made once (an `Arc` of
/// them is what a run clones out of the store: one reference count, not a Lua reference
/// per handle, and no key string hashed again per run).
pub(crate) struct Handles {
    pub handler: Function,
    /// Prelude helper: xpcall of a function with (keys, args).
    pub run_fn: Function,
    /// The real global table (not the scripts' read-only proxy, which `lua.globals()`
    /// returns once the prelude ran), where the first EVAL run installs `keys` and `argv`.
    globals: Table,
    /// The KEYS and ARGV tables of EVAL runs: one pair, emptied and refilled per run (a
    /// fresh pair per run was an eighth of EVALSHA's instructions, in allocation and the
    /// collection it caused). A script cannot keep a reference across runs (the globals
    /// and libraries are read-only and an EVAL body has no upvalues), so reuse is not
    /// observable, unlike FCALL's arguments, which a library's closure may keep.
    keys: Table,
    argv: Table,
    /// Whether KEYS and ARGV are globals yet (before the first EVAL they are not, and a
    /// function reading them fails as in Redis).
    installed: std::sync::atomic::AtomicBool,
}

impl Handles {
    /// Gathers the handles from a built engine's tables, and installs redis.call,
    /// redis.pcall and `rt.op` for good: they reach the running script through `CURRENT`
    /// and raise the "outside a script" error when there is none (setting them per run
    /// cost six table writes a run).
    pub(crate) fn new(
        lua: &Lua,
        rt: &Table,
        redis_api: &Table,
        handler: &Function,
        globals: &Table,
    ) -> mlua::Result<Handles> {
        let (op, call, pcall) = make_callbacks(lua)?;
        rt.raw_set("op", op)?;
        redis_api.raw_set("call", call)?;
        redis_api.raw_set("pcall", pcall)?;
        Ok(Handles {
            handler: handler.clone(),
            run_fn: rt.raw_get("run_fn")?,
            globals: globals.clone(),
            keys: lua.create_table()?,
            argv: lua.create_table()?,
            installed: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// Calls the script under `xpcall` with the run published in `CURRENT` (for redis.call,
/// redis.pcall and `rt.op`) and converts what it returned or raised.
fn execute(
    ctx: &mut Ctx,
    state: &mut RunState,
    h: &Handles,
    func: &Function,
    inv: &Invocation,
    caller_resp3: bool,
) -> mlua::Result<Reply> {
    if inv.is_eval {
        return execute_eval(ctx, state, h, func, inv, caller_resp3);
    }
    let handler = &h.handler;
    let (keys, args) = (StrArray(inv.keys), StrArray(inv.args));
    let result: mlua::Result<(bool, Value)> = {
        let mut pair: (&mut Ctx, &mut RunState) = (&mut *ctx, &mut *state);
        let _current = CurrentRun::enter(&mut pair);
        h.run_fn.call((func, handler, keys, args))
    };
    let (ok, value) = result?;
    Ok(if ok {
        convert::lua_to_reply(&value, state.client.resp3, caller_resp3)
    } else {
        raised_error(&value, inv.name)
    })
}

/// What an EVAL body's protected call ended with.
enum Outcome {
    /// A string or number return, already the reply.
    Reply(Reply),
    /// Any other return value, converted once the script's protocol is known.
    Returned(Value),
    /// The error value (our handler's table) of a failed run.
    Raised(Value),
}

/// An EVAL run on the raw Lua stack: KEYS and ARGV refilled in place, then
/// `lua_pcall(body)` with the error handler, the result read from the stack. Through mlua
/// values this took a prelude wrapper (two global writes and an xpcall), two fresh tables
/// and a Lua reference per value passed or returned.
fn execute_eval(
    ctx: &mut Ctx,
    state: &mut RunState,
    h: &Handles,
    func: &Function,
    inv: &Invocation,
    caller_resp3: bool,
) -> mlua::Result<Reply> {
    if !h.installed.swap(true, Ordering::Relaxed) {
        h.globals.raw_set("KEYS", &h.keys)?;
        h.globals.raw_set("ARGV", &h.argv)?;
    }
    let lua = ctx.store.scripts.lua.clone();
    let mut pair: (&mut Ctx, &mut RunState) = (&mut *ctx, &mut *state);
    let outcome = lua.exec_raw_lua(|raw| -> mlua::Result<Outcome> {
        let l = raw.state();
        // SAFETY: every push below is within the slots checked for first; the stack is
        // put back to `top` before returning, whatever happened; the run's context is
        // published only for the duration of the call (see `CurrentRun`).
        unsafe {
            let top = ffi::lua_gettop(l);
            if ffi::lua_checkstack(l, 8) == 0 {
                return Err(mlua::Error::StackError);
            }
            let done = (|| {
                refill(raw, &h.keys, inv.keys)?;
                refill(raw, &h.argv, inv.args)?;
                (&h.handler).push_into_stack(raw)?;
                func.push_into_stack(raw)?;
                let rc = {
                    let _current = CurrentRun::enter(&mut pair);
                    ffi::lua_pcall(l, 0, 1, top + 1)
                };
                if rc != 0 {
                    return Ok(Outcome::Raised(<Value as FromLua>::from_stack(-1, raw)?));
                }
                Ok(match ffi::lua_type(l, -1) {
                    ffi::LUA_TSTRING => {
                        let mut len = 0;
                        let p = ffi::lua_tolstring(l, -1, &mut len);
                        Outcome::Reply(Reply::Bulk(Bytes::copy_from_slice(
                            std::slice::from_raw_parts(p as *const u8, len),
                        )))
                    }
                    ffi::LUA_TNUMBER => {
                        Outcome::Reply(Reply::Int(convert::c_i64(ffi::lua_tonumber(l, -1))))
                    }
                    _ => Outcome::Returned(<Value as FromLua>::from_stack(-1, raw)?),
                })
            })();
            ffi::lua_settop(l, top);
            done
        }
    })?;
    Ok(match outcome {
        Outcome::Reply(r) => r,
        Outcome::Returned(v) => convert::lua_to_reply(&v, state.client.resp3, caller_resp3),
        Outcome::Raised(v) => raised_error(&v, inv.name),
    })
}

/// Empties `table` (whatever the last script left in it) and fills it with `items` as
/// the array 1..n. A table emptied of many more entries than it gets back gives its array
/// part back (Lua never shrinks one on its own): Redis makes new KEYS / ARGV tables for
/// each run, so the old ones become garbage, and one EVAL of 10000 arguments left rubra's
/// ARGV holding 256 KB of empty slots for good.
///
/// # Safety
/// Needs three free stack slots; leaves the stack as it found it.
unsafe fn refill(raw: &RawLua, table: &Table, items: &[Bytes]) -> mlua::Result<()> {
    let l = raw.state();
    // SAFETY: the caller checked the stack space; `t` stays at the same index while the
    // keys are traversed (clearing a field during lua_next is allowed) and refilled.
    unsafe {
        table.push_into_stack(raw)?;
        let t = ffi::lua_gettop(l);
        let mut cleared = 0usize;
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, t) != 0 {
            ffi::lua_pop(l, 1);
            ffi::lua_pushvalue(l, -1);
            ffi::lua_pushnil(l);
            ffi::lua_rawset(l, t);
            cleared += 1;
        }
        if cleared >= SHRINK_FROM && items.len() * 4 < cleared {
            // A new key the empty hash part has no room for makes Lua rehash the table,
            // which sizes the array part for the (zero) integer keys left; the key then
            // goes again.
            for value in [true, false] {
                ffi::lua_pushstring(l, c"rubra:shrink".as_ptr());
                if value {
                    ffi::lua_pushboolean(l, 1);
                } else {
                    ffi::lua_pushnil(l);
                }
                ffi::lua_rawset(l, t);
            }
        }
        for (i, item) in items.iter().enumerate() {
            ffi::lua_pushlstring(l, item.as_ptr() as *const c_char, item.len());
            ffi::lua_rawseti(l, t, i as ffi::lua_Integer + 1);
        }
        ffi::lua_pop(l, 1);
    }
    Ok(())
}

/// KEYS / ARGV emptied of at least this many entries may give their array part back
/// (see `refill`); smaller ones are kept whatever comes next.
const SHRINK_FROM: usize = 64;

/// SCRIPT FLUSH: empties KEYS and ARGV, giving back what a big run left in them (Redis's
/// flush starts a new Lua state).
pub(crate) fn empty_arg_tables(lua: &Lua, h: &Handles) -> mlua::Result<()> {
    lua.exec_raw_lua(|raw| {
        // SAFETY: three slots are checked for; refill leaves the stack as it found it.
        unsafe {
            if ffi::lua_checkstack(raw.state(), 3) == 0 {
                return Err(mlua::Error::StackError);
            }
            refill(raw, &h.keys, &[])?;
            refill(raw, &h.argv, &[])
        }
    })
}

thread_local! {
    /// The run in progress on this thread: a type-erased `*mut (&mut Ctx, &mut RunState)`,
    /// null outside a run. redis.call / redis.pcall / `rt.op` are made once per engine
    /// (not per run: creating callbacks per run was a third of EVALSHA's time, in
    /// allocation and the garbage collection it caused) and reach the run through it.
    static CURRENT: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
}

/// Publishes a run's context in CURRENT for as long as it lives.
struct CurrentRun(*mut ());

impl CurrentRun {
    fn enter(pair: &mut (&mut Ctx, &mut RunState)) -> CurrentRun {
        let p = pair as *mut (&mut Ctx, &mut RunState) as *mut ();
        CurrentRun(CURRENT.with(|c| c.replace(p)))
    }
}

impl Drop for CurrentRun {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// Runs `f` with the current run's context, taken out of CURRENT meanwhile (a nested
/// call finds none, so there is never a second reference). None outside a run.
fn with_current<R>(f: impl FnOnce(&mut Ctx, &mut RunState) -> R) -> Option<R> {
    let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    if p.is_null() {
        return None;
    }
    struct Restore(*mut ());
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(p);
    // SAFETY: `p` was set by `CurrentRun::enter` from a pair that outlives the run (it is
    // cleared when the run's `CurrentRun` drops, before the pair goes out of scope) and on
    // this thread (scripts run to completion on the thread that started them). It has been
    // taken out of CURRENT, so this is the only reference to the pair until `f` returns.
    let pair = unsafe { &mut *(p as *mut (&mut Ctx, &mut RunState)) };
    Some(f(pair.0, pair.1))
}

/// What redis.call / redis.pcall raise when no script runs on this thread (a run's own
/// calls never nest: the command path runs no Lua).
const OUTSIDE: &str = "ERR redis.call/pcall can only be called inside a script invocation";

/// Whether a script is running on this thread (outside a redis.call in progress).
pub(crate) fn in_run() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// The engine-lifetime callbacks behind redis.call, redis.pcall and `rt.op`.
fn make_callbacks(lua: &Lua) -> mlua::Result<(Function, Function, Function)> {
    let op = lua.create_function(|lua, mut a: Variadic<Value>| {
        let code = match a.first() {
            Some(Value::Integer(i)) => *i,
            Some(Value::Number(n)) => *n as i64,
            _ => 0,
        };
        if !a.is_empty() {
            a.remove(0);
        }
        let done = with_current(|ctx, state| match code {
            0 => Ok(
                match redis_call(lua, ctx, state, CallArgs::from_values(&a))? {
                    Called::Reply(reply, resp3) => {
                        (true, convert::reply_to_lua(lua, &reply, resp3)?)
                    }
                    Called::Failed(e) => (false, e),
                },
            ),
            1 => {
                state.client.resp3 = matches!(a.first(), Some(Value::Integer(3)))
                    || matches!(a.first(), Some(Value::Number(n)) if *n == 3.0);
                Ok((true, Value::Nil))
            }
            2 => {
                state.repl = match a.first() {
                    Some(Value::Integer(i)) => *i as u8,
                    Some(Value::Number(n)) => *n as u8,
                    _ => 3,
                };
                Ok((true, Value::Nil))
            }
            _ => acl_check(lua, ctx, &a),
        });
        match done {
            Some(r) => r,
            None => {
                let t = convert::error_table(lua, OUTSIDE.as_bytes())?;
                Ok((false, Value::Table(t)))
            }
        }
    })?;
    let call = lua.create_function(|lua, a: CallArgs| {
        match with_current(|ctx, state| redis_call(lua, ctx, state, a)) {
            Some(r) => match r? {
                Called::Reply(reply, resp3) => Pushed::new(lua, reply, resp3),
                Called::Failed(e) => {
                    let counted = match &e {
                        Value::Table(t)
                            if t.raw_get::<bool>("ignore_error_stats_update")
                                .unwrap_or(false) =>
                        {
                            Counted::Yes
                        }
                        _ => Counted::No,
                    };
                    Err(mlua::Error::external(ScriptError(err_text(&e), counted)))
                }
            },
            None => Err(mlua::Error::external(ScriptError(
                OUTSIDE.as_bytes().to_vec(),
                Counted::No,
            ))),
        }
    })?;
    let pcall = lua.create_function(|lua, a: CallArgs| {
        match with_current(|ctx, state| redis_call(lua, ctx, state, a)) {
            Some(r) => match r? {
                Called::Reply(reply, resp3) => Pushed::new(lua, reply, resp3),
                Called::Failed(e) => Ok(Pushed::Value(e)),
            },
            None => Err(mlua::Error::external(ScriptError(
                OUTSIDE.as_bytes().to_vec(),
                Counted::No,
            ))),
        }
    })?;
    Ok((op, call, pcall))
}

/// A command's reply on its way to the script. Bulk strings, integers and nils are pushed
/// straight onto the Lua stack (through an mlua `Value` each string took a Lua reference,
/// taken and released); other replies are converted to a `Value` first.
enum Pushed {
    /// A bulk string, integer or nil, and whether the script speaks RESP3.
    Simple(Reply, bool),
    Value(Value),
}

impl Pushed {
    fn new(lua: &Lua, reply: Reply, resp3: bool) -> mlua::Result<Pushed> {
        Ok(match reply {
            Reply::Bulk(_) | Reply::Int(_) | Reply::Nil | Reply::NilArray => {
                Pushed::Simple(reply, resp3)
            }
            other => Pushed::Value(convert::reply_to_lua(lua, &other, resp3)?),
        })
    }
}

impl IntoLua for Pushed {
    fn into_lua(self, lua: &Lua) -> mlua::Result<Value> {
        match self {
            Pushed::Simple(r, resp3) => convert::reply_to_lua(lua, &r, resp3),
            Pushed::Value(v) => Ok(v),
        }
    }

    unsafe fn push_into_stack(self, raw: &RawLua) -> mlua::Result<()> {
        let l = raw.state();
        // SAFETY: one slot is checked for and then pushed into; a bulk string is copied
        // by Lua from a live slice.
        unsafe {
            if ffi::lua_checkstack(l, 2) == 0 {
                return Err(mlua::Error::StackError);
            }
            match self {
                Pushed::Simple(Reply::Bulk(b), _) => {
                    ffi::lua_pushlstring(l, b.as_ptr() as *const c_char, b.len());
                }
                Pushed::Simple(Reply::Int(i), _) => ffi::lua_pushnumber(l, i as f64),
                Pushed::Simple(_, true) => ffi::lua_pushnil(l),
                Pushed::Simple(_, false) => ffi::lua_pushboolean(l, 0),
                Pushed::Value(v) => raw.push_value(&v)?,
            }
        }
        Ok(())
    }
}

/// What one redis.call / redis.pcall came to.
enum Called {
    /// The command's reply (not an error), and whether the script speaks RESP3.
    Reply(Reply, bool),
    /// The error table redis.call raises / redis.pcall returns.
    Failed(Value),
}

/// The reply for an error the script raised (after our handler shaped it as a table).
/// Bytes as the script had them; Redis reads the message as a C string (up to a NUL).
fn raised_error(value: &Value, name: &str) -> Reply {
    let Value::Table(t) = value else {
        return Reply::error(format!(
            "ERR Error running script {name}, execution failure"
        ));
    };
    // lua_tostring: a number as Lua prints it (`error({err=0.5})` reads "0.5").
    let text = |k: &str| -> Option<Vec<u8>> {
        let s = super::functions::lua_string(&t.raw_get::<Value>(k).ok()?)?;
        Some(crate::cmd::args::c_str(&s).to_vec())
    };
    let mut out = text("err").unwrap_or_else(|| b"ERR execution failure".to_vec());
    if let (Some(source), Some(line)) = (text("source"), text("line")) {
        out.extend_from_slice(b" script: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b", on ");
        out.extend_from_slice(&source);
        out.push(b':');
        out.extend_from_slice(&line);
        out.push(b'.');
    }
    for b in out.iter_mut() {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    Reply::error_bytes(out)
}

/// One redis.call / redis.pcall: the reply, or the error table.
fn redis_call(
    lua: &Lua,
    ctx: &mut Ctx,
    state: &mut RunState,
    args: CallArgs,
) -> mlua::Result<Called> {
    // The error table; `counted`: the error was a command's (Redis marks those so that
    // the script's own error is not counted again). A script sees the mark (pcall
    // returns the table), so only those errors get it, as in Redis.
    let fail = |text: &str, counted: bool| -> mlua::Result<Called> {
        let t = convert::error_table(lua, text.as_bytes())?;
        if counted {
            t.raw_set("ignore_error_stats_update", true)?;
        }
        Ok(Called::Failed(Value::Table(t)))
    };
    if args.count == 0 {
        return fail(
            "Please specify at least one argument for this redis lib call",
            false,
        );
    }
    let Some(words) = args.words else {
        return fail(
            "Lua redis lib command arguments must be strings or integers",
            false,
        );
    };
    let reply = match check_and_call(ctx, state, args.cmd, &words) {
        Ok(reply) => reply,
        Err(text) => {
            // Redis's scriptCall counts a refusal as an error reply at once (its table is
            // marked counted): once, even if the script then fails with it.
            let t = convert::error_table(lua, text.as_bytes())?;
            let err = t.raw_get::<mlua::LuaString>("err")?.as_bytes().to_vec();
            if !ctx.store.loading {
                ctx.store.cmdstats.record_error(&err);
                ctx.store.cmdstats.last_script_error = Some(err);
            }
            t.raw_set("ignore_error_stats_update", true)?;
            return Ok(Called::Failed(Value::Table(t)));
        }
    };
    if let Reply::Error(_) = &reply {
        return Ok(Called::Failed(convert::reply_to_lua(lua, &reply, false)?));
    }
    Ok(Called::Reply(reply, state.client.resp3))
}

/// Redis's scriptCall: the checks a command from a script must pass, then the normal
/// command path (`dispatch::call`: stats, key signals, propagation).
fn check_and_call(
    ctx: &mut Ctx,
    state: &mut RunState,
    cmd: Option<&'static crate::cmd::Command>,
    words: &[Bytes],
) -> Result<Reply, &'static str> {
    let Some(cmd) = cmd.or_else(|| crate::cmd::lookup(&words[0])) else {
        return Err("Unknown Redis command called from script");
    };
    if let Err(text) = script_checks(ctx, state, cmd, words) {
        // A command Redis found (not an unknown subcommand) counts the refusal in its
        // rejected_calls, as a client's refused command does.
        let unknown = matches!(
            crate::acl::subcommand_fault(cmd, words),
            Some(crate::acl::SubcommandFault::Unknown)
        );
        if !unknown {
            ctx.store.cmdstats.record_rejected(cmd, words);
        }
        return Err(text);
    }
    // redis.set_repl: the command's effects go only to the chosen targets.
    let targets_before = std::mem::replace(&mut ctx.store.feed.targets, state.repl);
    let mut inner = Ctx::new(&mut *ctx.store, &mut state.client, ctx.now_ms);
    let reply = dispatch::call(&mut inner, cmd, words);
    ctx.store.feed.targets = targets_before;
    Ok(reply)
}

/// The checks of Redis's scriptCall, in its order, for a command it found: the reason the
/// script may not run it, if any.
fn script_checks(
    ctx: &mut Ctx,
    state: &mut RunState,
    cmd: &'static crate::cmd::Command,
    words: &[Bytes],
) -> Result<(), &'static str> {
    if !cmd.arity_ok(words.len()) {
        return Err("Wrong number of args calling Redis command from script");
    }
    if let Some(fault) = crate::acl::subcommand_fault(cmd, words) {
        return Err(match fault {
            // Redis's lookup finds no command for an unknown subcommand.
            crate::acl::SubcommandFault::Unknown => "Unknown Redis command called from script",
            crate::acl::SubcommandFault::Arity(_) => {
                "Wrong number of args calling Redis command from script"
            }
        });
    }
    // CLUSTER RESET is the one subcommand Redis 7.0 flags NOSCRIPT on its own.
    let denied = cmd.has(flags::NOSCRIPT)
        || (cmd.name == "cluster"
            && words
                .get(1)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"reset")));
    if denied && !ctx.store.script_deny_disabled {
        return Err("This Redis command is not allowed from script");
    }
    // A subcommand runs with its own flags (CLUSTER INFO on a stale replica).
    let own = crate::acl::command_docs::flags_for(cmd, words);
    if own & flags::STALE == 0 && super::running_stale(ctx.store) {
        return Err("Can not execute the command on a stale replica");
    }
    crate::acl::check_script(ctx.store, ctx.client, cmd, words)?;
    if state.read_only && own & (flags::WRITE | flags::MAY_REPLICATE) != 0 {
        return Err("Write commands are not allowed from read-only scripts.");
    }
    if own & flags::WRITE != 0
        && !state.wrote
        && ctx.store.replication.is_replica()
        && ctx.store.config.get_value("replica-read-only") == "yes"
        && !state.from_primary
    {
        return Err("-READONLY You can't write against a read only replica.");
    }
    if own & flags::WRITE != 0
        && !state.wrote
        && !state.from_primary
        && dispatch::lacks_good_replicas(ctx.store)
    {
        return Err("-NOREPLICAS Not enough good replicas to write.");
    }
    if !state.allow_oom
        && ctx.store.config.maxmemory > 0
        && !state.from_primary
        && !state.wrote
        && state.oom_at_start
        && own & flags::DENYOOM != 0
    {
        return Err("-OOM command not allowed when used memory > 'maxmemory'.");
    }
    if own & flags::WRITE != 0 {
        state.wrote = true;
        let busy = &ctx.store.scripts.busy;
        busy.wrote.store(true, Ordering::Relaxed);
        // WATCHes answered during this busy run see the write (usually none: one load).
        if busy.has_deferred() {
            let mut keys = Vec::new();
            cmd.for_each_key_position(words, |i| keys.push(words[i].as_ref()));
            let all = keys.is_empty() || matches!(cmd.name, "move" | "copy" | "swapdb");
            busy.script_writes(state.client.db, &keys, all);
        }
    }
    check_cluster(ctx, state, cmd, words)
}

/// Cluster mode: the keys a script touches must be served here and, unless the script
/// allows cross-slot keys, hash to one slot.
fn check_cluster(
    ctx: &mut Ctx,
    state: &mut RunState,
    cmd: &'static crate::cmd::Command,
    words: &[Bytes],
) -> Result<(), &'static str> {
    let store = &mut *ctx.store;
    let Some(driver) = store.cluster.as_deref() else {
        return Ok(());
    };
    if state.from_primary {
        return Ok(());
    }
    let mut probe = ClientState {
        readonly: state.caller_readonly,
        asking: state.caller_asking,
        ..ClientState::default()
    };
    let db = &mut store.dbs[state.client.db];
    if let Some(redirect) =
        crate::cluster::routing::redirect(driver, &mut probe, cmd, words, db, ctx.now_ms)
    {
        if let Reply::Error(e) = &redirect {
            if e.starts_with(b"CLUSTERDOWN") {
                return Err("Script attempted to execute a command while the cluster is down");
            }
        }
        return Err("Script attempted to access a non local key in a cluster node");
    }
    if state.allow_cross_slot {
        return Ok(());
    }
    if let Some(&i) = cmd.key_positions(words).first() {
        let slot = rubra_keys::key_slot(&words[i]);
        match state.slot {
            None => state.slot = Some(slot),
            Some(s) if s != slot => {
                return Err("Script attempted to access keys that do not hash to the same slot")
            }
            _ => {}
        }
    }
    Ok(())
}

/// redis.acl_check_cmd: whether the caller's user may run the command, which must exist
/// (Redis's lookupCommand: a container's subcommand is looked up, no arity is checked).
fn acl_check(lua: &Lua, ctx: &Ctx, args: &[Value]) -> mlua::Result<(bool, Value)> {
    let fail = |text: &str| -> mlua::Result<(bool, Value)> {
        Ok((
            false,
            Value::Table(convert::error_table(lua, text.as_bytes())?),
        ))
    };
    if args.is_empty() {
        return fail("Please specify at least one argument for this redis lib call");
    }
    let Some(words) = CallArgs::from_values(args).words else {
        return fail("Lua redis lib command arguments must be strings or integers");
    };
    let unknown_sub = |cmd| {
        matches!(
            crate::acl::subcommand_fault(cmd, &words),
            Some(crate::acl::SubcommandFault::Unknown)
        )
    };
    match crate::cmd::lookup(&words[0]) {
        Some(cmd) if !unknown_sub(cmd) => {
            let ok = crate::acl::script_may_run(ctx.store, ctx.client, cmd, &words);
            Ok((true, Value::Boolean(ok)))
        }
        _ => fail("Invalid command passed to redis.acl_check_cmd()"),
    }
}

/// Every 100,000 instructions of a run: notice a slow script (other clients then get
/// -BUSY) and stop it when SCRIPT KILL / FUNCTION KILL asked. After a kill the hook runs on
/// every line, so a script cannot swallow the error with pcall and go on. Installed once
/// and kept between runs (it does nothing outside a run or with busy-reply-threshold 0);
/// the run's threshold and name are read from `busy`.
fn install_hook(lua: &Lua, busy: Arc<BusyState>) {
    let triggers = HookTriggers::new().every_nth_instruction(100_000);
    let _ = lua.set_hook(triggers, move |lua, _| {
        let threshold = busy.threshold_ms.load(Ordering::Relaxed);
        if threshold == 0 || !busy.running.load(Ordering::Acquire) {
            return Ok(VmState::Continue);
        }
        if busy.kill.load(Ordering::Acquire) {
            busy.hook_armed.store(false, Ordering::Relaxed);
            let _ = lua.set_hook(HookTriggers::EVERY_LINE, move |_, _| {
                Err(mlua::Error::runtime(KILLED))
            });
            return Err(mlua::Error::runtime(KILLED));
        }
        // Attempt n once the run is HANDOFF_MS << n old, pausing 2^n ms (at most 16): once
        // the core has moved this thread has none left, and a replacement thread slow to
        // start on a loaded machine gets more chances, at a cost logarithmic in the run.
        let tries = busy.handoffs.load(Ordering::Relaxed).min(20);
        if busy.elapsed_ms() >= HANDOFF_MS << tries {
            busy.handoffs.store(tries + 1, Ordering::Relaxed);
            super::busy::hand_off_worker(std::time::Duration::from_millis(1 << tries.min(4)));
        }
        if !busy.timed_out.load(Ordering::Relaxed) && busy.elapsed_ms() >= threshold {
            let is_eval = busy.is_eval.load(Ordering::Relaxed);
            tracing::warn!(
                "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                busy.elapsed_ms(),
                if is_eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
                busy.name.lock()
            );
            busy.timed_out.store(true, Ordering::Release);
        }
        Ok(VmState::Continue)
    });
}

/// A script running longer than this (ms) gives its async worker's other tasks (the I/O
/// driver, other connections) to another thread, so the node keeps answering (-BUSY).
const HANDOFF_MS: u64 = 50;

/// Scripts and functions run between two GC steps, and the size of each step in KB: Redis
/// calls `lua_gc(L, LUA_GCSTEP, 50)` after every 50th run (one counter for EVAL and
/// functions) so that Lua's own collector never has to run a long cycle in one go. A
/// step of 50 KB does about fifty of Lua's incremental steps (it stops early when the
/// cycle ends), enough to finish a cycle over a small heap.
const GC_PERIOD: u32 = 50;

/// Runs Redis's periodic GC step (see `GC_PERIOD`).
fn gc_step(lua: &Lua) {
    use std::sync::atomic::AtomicU32;
    static RUNS: AtomicU32 = AtomicU32::new(0);
    if RUNS.fetch_add(1, Ordering::Relaxed) % GC_PERIOD != GC_PERIOD - 1 {
        return;
    }
    unsafe extern "C-unwind" fn step(l: *mut ffi::lua_State) -> std::os::raw::c_int {
        // SAFETY: called by lua_cpcall with a valid state; a collector error unwinds to
        // lua_cpcall's protected frame, and this frame owns nothing to drop.
        unsafe { ffi::lua_gc(l, ffi::LUA_GCSTEP, GC_PERIOD as std::os::raw::c_int) };
        0
    }
    // The code of scripts and functions dropped since (SCRIPT FLUSH, FUNCTION DELETE,
    // LOAD REPLACE) is left in the registry by mlua until expired: make it garbage.
    lua.expire_registry_values();
    lua.exec_raw_lua(|raw| {
        // SAFETY: lua_cpcall runs `step` protected on the main state and leaves the stack
        // as it was (an error message it may push is popped).
        unsafe {
            let l = raw.state();
            if ffi::lua_cpcall(l, step, std::ptr::null_mut()) != 0 {
                ffi::lua_pop(l, 1);
            }
        }
    });
}

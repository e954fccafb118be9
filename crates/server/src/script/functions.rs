//! Function libraries (FUNCTION LOAD / FCALL): each library's code and its functions with
//! their flags, compiled in the engine's Lua state next to the EVAL scripts. Loading runs
//! the library's code once with `redis.register_function` available.

use super::{convert, shebang, Engine};
use crate::cmd::args::c_str;
use bytes::Bytes;
use indexmap::IndexMap;
use mlua::{Function, HookTriggers, Table, Value, Variadic, VmState};
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// One registered function.
pub(crate) struct LibFunction {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: u32,
    /// The callback, kept in the Lua registry: a `Function` handle would hold a slot of
    /// mlua's reference stack for as long as the library is loaded, and a few thousand of
    /// them make every later call fail with "out of Lua stack" (as cached EVAL scripts did).
    pub func: mlua::RegistryKey,
}

/// What redis.register_function was given, before the callback moves to the registry.
struct Registration {
    name: String,
    description: Option<Bytes>,
    flags: u32,
    func: Function,
}

/// One library: its name, its full source (with the shebang) and its functions in
/// registration order.
pub(crate) struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: IndexMap<String, LibFunction>,
    /// What loading it added to the Lua heap. Redis runs functions in a Lua state of their
    /// own (INFO used_memory_vm_functions); rubra's is shared with EVAL, so the functions'
    /// part is counted per library, as loading measured it.
    pub vm_bytes: usize,
}

/// All loaded libraries, and an index from function name to library.
#[derive(Default)]
pub(crate) struct Libraries {
    pub libs: IndexMap<String, Library>,
    /// Keyed by the function name in lower case: Redis finds functions (FCALL, and the
    /// name collisions of FUNCTION LOAD / RESTORE) case-insensitively, while a library
    /// keeps each name as it was registered.
    by_function: ahash::AHashMap<String, String>,
}

impl Libraries {
    /// The function called `name`, if loaded.
    pub(crate) fn function(&self, name: &str) -> Option<&LibFunction> {
        let lib = self.owner(name)?;
        let functions = &self.libs.get(lib)?.functions;
        functions.get(name).or_else(|| {
            functions
                .iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(name))
                .map(|(_, f)| f)
        })
    }

    /// The library holding the function called `name` (in any case), if loaded.
    pub(crate) fn owner(&self, name: &str) -> Option<&String> {
        self.by_function.get(&name.to_ascii_lowercase())
    }

    /// The Lua heap the loaded libraries account for (see `Library::vm_bytes`).
    pub(crate) fn vm_bytes(&self) -> usize {
        self.libs.values().map(|l| l.vm_bytes).sum()
    }

    /// INFO used_memory_functions: what Redis's functions_caches counts, the library
    /// context and, per library and function, its record, name, code and description
    /// (allocation sizes estimated: Redis 7.0 reports 200 bytes for none).
    pub(crate) fn cache_bytes(&self) -> usize {
        200 + self
            .libs
            .values()
            .map(|l| {
                64 + l.name.len()
                    + l.code.len()
                    + l.functions
                        .values()
                        .map(|f| 80 + f.name.len() + f.description.as_ref().map_or(0, |d| d.len()))
                        .sum::<usize>()
            })
            .sum::<usize>()
    }

    /// Number of functions across all libraries.
    pub(crate) fn function_count(&self) -> usize {
        self.by_function.len()
    }

    /// Adds a library, indexing its functions.
    pub(crate) fn link_library(&mut self, lib: Library) {
        for f in lib.functions.keys() {
            self.by_function
                .insert(f.to_ascii_lowercase(), lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    /// Removes a library and its functions' index entries.
    pub(crate) fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.shift_remove(name)?;
        for f in lib.functions.keys() {
            self.by_function.remove(&f.to_ascii_lowercase());
        }
        Some(lib)
    }
}

/// Library and function names: letters, digits and underscores, at least one.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// The `#!lua name=LIB` first line: (engine, library name), read as Redis reads it
/// (functionExtractLibMetaData): words split by sdssplitargs, an option's key compared as
/// a C string (up to a NUL) but its value taken whole. The error is Redis's text without
/// "ERR ", in bytes: it quotes a word as it came, up to a NUL (`%s`).
fn metadata(code: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Vec<u8>> {
    if !code.starts_with(b"#!") {
        return Err(b"Missing library metadata".to_vec());
    }
    let Ok((words, _)) = shebang::first_line_words(code) else {
        return Err(b"Invalid library metadata".to_vec());
    };
    let engine = words[0].get(2..).unwrap_or_default().to_vec();
    let mut name = None;
    for word in &words[1..] {
        let key = c_str(word);
        if key.len() >= 5 && key[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    b"Invalid metadata value, name argument was given multiple times".to_vec(),
                );
            }
            name = Some(word[5..].to_vec());
            continue;
        }
        return Err([&b"Invalid metadata value given: "[..], key].concat());
    }
    let name = name.ok_or_else(|| b"Library name was not given".to_vec())?;
    Ok((engine, name))
}

/// Longest a library's top-level code may run (Redis's load timeout).
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

impl Engine {
    /// FUNCTION LOAD [REPLACE] code: compiles and runs the library code, registering its
    /// functions; returns the library name. Errors are Redis's texts without "ERR ", in
    /// bytes (a compile error may quote the code).
    pub(crate) fn load_library(&mut self, code: &Bytes, replace: bool) -> Result<String, Vec<u8>> {
        let (engine, name) = metadata(code)?;
        if !valid_name(&name) {
            return Err(BAD_NAME.into());
        }
        // Letters, digits and underscores: the bytes are the text.
        let name: String = name.iter().map(|&b| char::from(b)).collect();
        // Engines are looked up by their whole name, case-insensitively; Redis quotes it
        // whole (`%S`).
        if !engine.eq_ignore_ascii_case(b"lua") {
            return Err([&b"Engine '"[..], &engine, b"' not found"].concat());
        }
        if self.functions.libs.contains_key(&name) && !replace {
            return Err(format!("Library '{name}' already exists").into_bytes());
        }
        let skip = code.iter().position(|&b| b == b'\n').unwrap_or(0);
        let heap_before = self.lua.used_memory();
        let lib_env: Table = self
            .rt
            .raw_get("lib_env")
            .map_err(|e| format!("Error compiling function: {e}").into_bytes())?;
        let chunk = self
            .compile(code, skip, "@user_function", &lib_env)
            .map_err(|m| [&b"Error compiling function: "[..], &m].concat())?;
        let functions = self.register_all(&chunk)?;
        if functions.is_empty() {
            return Err(b"No functions registered".to_vec());
        }
        for f in functions.keys() {
            if let Some(owner) = self.functions.owner(f) {
                if *owner != name {
                    return Err(format!("Function {f} already exists").into_bytes());
                }
            }
        }
        let vm_bytes = self.lua.used_memory().saturating_sub(heap_before);
        self.functions.unlink(&name);
        self.functions.link_library(Library {
            name: name.clone(),
            code: code.clone(),
            functions,
            vm_bytes,
        });
        Ok(name)
    }

    /// Runs a library's top level with `rt.register` set, collecting its functions. The
    /// error is in bytes: a Lua error's message may quote the code (a field's name).
    fn register_all(&self, chunk: &Function) -> Result<IndexMap<String, LibFunction>, Vec<u8>> {
        let lua = &self.lua;
        let collected: RefCell<IndexMap<String, LibFunction>> = RefCell::new(IndexMap::new());
        let started = Instant::now();
        let _ = lua.set_hook(
            HookTriggers::new().every_nth_instruction(100_000),
            move |lua, _| {
                if started.elapsed() > LOAD_TIMEOUT {
                    let _ = lua;
                    return Err(mlua::Error::external("FUNCTION LOAD timeout"));
                }
                Ok(VmState::Continue)
            },
        );
        let result = lua.scope(|scope| {
            let register =
                scope.create_function(|lua, a: Variadic<Value>| match parse_registration(&a) {
                    Ok(r) => {
                        let mut map = collected.borrow_mut();
                        if map.contains_key(&r.name) {
                            let t = convert::error_table(
                                lua,
                                b"Function already exists in the library",
                            )?;
                            return Ok((false, Value::Table(t)));
                        }
                        let f = LibFunction {
                            name: r.name,
                            description: r.description,
                            flags: r.flags,
                            func: lua.create_registry_value(r.func)?,
                        };
                        map.insert(f.name.clone(), f);
                        Ok((true, Value::Nil))
                    }
                    Err(msg) => Ok((
                        false,
                        Value::Table(convert::error_table(lua, msg.as_bytes())?),
                    )),
                })?;
            self.rt.raw_set("register", register)?;
            let loading: Function = self.rt.raw_get("lib_loading")?;
            loading.call::<()>(true)?;
            let pcall: Function = self.rt.raw_get("raw_pcall")?;
            let out: mlua::MultiValue = pcall.call(chunk.clone())?;
            self.rt.raw_set("register", Value::Nil)?;
            loading.call::<()>(false)?;
            Ok(out)
        });
        lua.remove_hook();
        // That replaced the runs' count hook: the next run installs it again.
        self.busy
            .hook_armed
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let out = result.map_err(|e| format!("Error registering functions: {e}").into_bytes())?;
        let mut values = out.into_iter();
        if let Some(Value::Boolean(false)) = values.next() {
            let msg = match values.next() {
                Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                    Ok(Value::String(s)) => s.as_bytes().to_vec(),
                    _ => b"ERR unknown error".to_vec(),
                },
                Some(Value::String(s)) => [&b"ERR "[..], &s.as_bytes()].concat(),
                Some(Value::Error(e)) => load_error_text(&e).into_bytes(),
                _ => b"ERR unknown error".to_vec(),
            };
            // Redis prints the message with %s: up to a NUL.
            let msg = c_str(&msg);
            return Err([&b"Error registering functions: "[..], msg].concat());
        }
        Ok(collected.into_inner())
    }

    /// FUNCTION FLUSH: drops every library.
    pub(crate) fn flush_functions(&mut self) {
        self.functions = Libraries::default();
        self.collect_all();
    }
}

/// The message of a load-time error raised from Rust (the timeout).
fn load_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => load_error_text(cause),
        mlua::Error::ExternalError(x) => format!("ERR {x}"),
        other => other.to_string(),
    }
}

/// Reads redis.register_function's arguments: `(name, callback)` or a table with
/// function_name, callback, flags and description.
fn parse_registration(a: &[Value]) -> Result<Registration, &'static str> {
    let mut name = None;
    let mut callback = None;
    let mut description = None;
    let mut flags = 0;
    match a {
        [Value::Table(t)] => {
            for pair in t.pairs::<Value, Value>() {
                let Ok((k, v)) = pair else {
                    return Err("unknown argument given to redis.register_function");
                };
                let Some(key) = lua_string(&k) else {
                    return Err("named argument key given to redis.register_function is not a string");
                };
                match key.to_ascii_lowercase().as_slice() {
                    b"function_name" => match lua_string(&v) {
                        Some(s) => name = Some(s),
                        None => return Err("function_name argument given to redis.register_function must be a string"),
                    },
                    b"description" => match lua_string(&v) {
                        Some(s) => description = Some(Bytes::from(s)),
                        None => return Err("description argument given to redis.register_function must be a string"),
                    },
                    b"callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("callback argument given to redis.register_function must be a function"),
                    },
                    b"flags" => {
                        let Value::Table(ft) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags");
                        };
                        flags = parse_flags(&ft)?;
                    }
                    _ => return Err("unknown argument given to redis.register_function"),
                }
            }
            if name.is_none() {
                return Err("redis.register_function must get a function name argument");
            }
            if callback.is_none() {
                return Err("redis.register_function must get a callback argument");
            }
        }
        [_] => return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        [n, f] => {
            let Some(n) = lua_string(n) else {
                return Err("first argument to redis.register_function must be a string");
            };
            let Value::Function(f) = f else {
                return Err("second argument to redis.register_function must be a function");
            };
            name = Some(n);
            callback = Some(f.clone());
        }
        _ => return Err("wrong number of arguments to redis.register_function"),
    }
    let (Some(name), Some(func)) = (name, callback) else {
        return Err("wrong number of arguments to redis.register_function");
    };
    if !valid_name(&name) {
        return Err(BAD_NAME);
    }
    Ok(Registration {
        name: String::from_utf8_lossy(&name).into_owned(),
        description,
        flags,
        func,
    })
}

/// lua_isstring + lua_tostring: strings, and numbers as Lua prints them (`%.14g`), which
/// Redis accepts wherever register_function wants a string (and reads an error table's
/// fields with).
pub(crate) fn lua_string(v: &Value) -> Option<Vec<u8>> {
    let n = match v {
        Value::String(s) => return Some(s.as_bytes().to_vec()),
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        _ => return None,
    };
    let text = if n.is_nan() {
        if n.is_sign_negative() { "-nan" } else { "nan" }.to_string()
    } else if n.is_infinite() {
        if n < 0.0 { "-inf" } else { "inf" }.to_string()
    } else {
        super::cjson::format_g(n, 14)
    };
    Some(text.into_bytes())
}

/// A flags table: an array of flag names.
fn parse_flags(t: &Table) -> Result<u32, &'static str> {
    let mut flags = 0;
    for v in t.sequence_values::<Value>() {
        let Ok(Value::String(s)) = v else {
            return Err("unknown flag given");
        };
        flags |= shebang::flag_by_name(&s.as_bytes()).ok_or("unknown flag given")?;
    }
    Ok(flags)
}

/// FUNCTION STATS's `engines` map: the one engine, LUA, with its counts.
pub(crate) fn engine_stats(libraries: usize, functions: usize) -> rubra_resp::Reply {
    use rubra_resp::Reply;
    let bulk = |s: &'static str| Reply::Bulk(Bytes::from_static(s.as_bytes()));
    Reply::Map(vec![(
        bulk("LUA"),
        Reply::Map(vec![
            (bulk("libraries_count"), Reply::Int(libraries as i64)),
            (bulk("functions_count"), Reply::Int(functions as i64)),
        ]),
    )])
}

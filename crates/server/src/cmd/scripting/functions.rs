//! FCALL, FCALL_RO and FUNCTION LOAD | LIST | DELETE | FLUSH | STATS | KILL | DUMP |
//! RESTORE | HELP. Library changes are propagated to replicas and the AOF as the command
//! itself, as Redis does.

use super::split_keys;
use crate::cmd::args::is;
use crate::cmd::{CmdResult, Ctx};
use crate::script::run::{self, Invocation};
use crate::script::shebang;
use bytes::Bytes;
use rubra_resp::Reply;

/// FCALL function numkeys [key ...] [arg ...]
pub(crate) fn fcall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false)
}

/// FCALL_RO: FCALL of a function flagged no-writes.
pub(crate) fn fcall_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true)
}

fn generic(ctx: &mut Ctx, args: &[Bytes], ro: bool) -> CmdResult {
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let Some(f) = ctx.store.scripts.functions.function(&name) else {
        return Err(Reply::err("ERR Function not found"));
    };
    // Found case-insensitively; errors name the function as it was registered.
    let (flags, name) = (f.flags, f.name.clone());
    let func: mlua::Function = ctx
        .store
        .scripts
        .lua
        .registry_value(&f.func)
        .map_err(|e| Reply::error(format!("ERR Error running function {name}: {e}")))?;
    if crate::cmd::args::int(&args[2]).is_err() {
        return Err(Reply::err("ERR Bad number of keys provided"));
    }
    let (keys, argv) = split_keys(args)?;
    let inv = Invocation {
        is_eval: false,
        ro_command: ro,
        flags,
        name: &name,
        keys,
        args: argv,
        command: args,
    };
    Ok(run::run(ctx, &func, &inv))
}

const HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// The arity of each subcommand, as Redis declares `function|sub`.
fn arity(sub: &[u8]) -> Option<i32> {
    let s = sub.to_ascii_lowercase();
    Some(match s.as_slice() {
        b"load" => -3,
        b"list" => -2,
        b"delete" => 3,
        b"flush" => -2,
        b"stats" | b"kill" | b"dump" | b"help" => 2,
        b"restore" => -3,
        _ => return None,
    })
}

/// FUNCTION <subcommand> ...
pub(crate) fn function(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let Some(a) = arity(sub) else {
        return Err(crate::cmd::err::unknown_subcommand("function", sub));
    };
    let n = args.len() as i32;
    if (a >= 0 && n != a) || (a < 0 && n < -a) {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for 'function|{}' command",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        )));
    }
    if is(sub, "help") {
        return Ok(Reply::Array(
            HELP.iter().map(|l| Reply::status(l)).collect(),
        ));
    }
    if is(sub, "list") {
        return list(ctx, args);
    }
    if is(sub, "stats") {
        return Ok(stats(ctx));
    }
    if is(sub, "kill") {
        // Reached only when no function runs: see script::busy for the busy case.
        return Err(Reply::err("NOTBUSY No scripts in execution right now."));
    }
    if is(sub, "dump") {
        return Ok(Reply::Bulk(Bytes::from(crate::script::dump::dump_payload(
            &ctx.store.scripts.functions,
        ))));
    }
    // The rest change the libraries: refused on a read-only replica, then propagated.
    if ctx.store.replication.is_replica()
        && !ctx.client.is_primary_link
        && ctx.store.config.replica_read_only
    {
        return Err(Reply::err(
            "READONLY You can't write against a read only replica.",
        ));
    }
    let reply = if is(sub, "load") {
        load(ctx, args)?
    } else if is(sub, "delete") {
        let name = String::from_utf8_lossy(&args[2]).into_owned();
        if ctx.store.scripts.functions.unlink(&name).is_none() {
            return Err(Reply::err("ERR Library not found"));
        }
        Reply::OK
    } else if is(sub, "flush") {
        if n > 3 {
            // Redis's addReplySubcommandSyntaxError, the subcommand as the client wrote it.
            let sub = &args[1][..args[1].len().min(128)];
            return Err(crate::cmd::err::echo(&[
                b"ERR unknown subcommand or wrong number of arguments for '",
                sub,
                b"'. Try FUNCTION HELP.",
            ]));
        }
        if n == 3 && !is(&args[2], "sync") && !is(&args[2], "async") {
            return Err(Reply::err(
                "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
            ));
        }
        ctx.store.scripts.flush_functions();
        Reply::OK
    } else {
        restore(ctx, args)?
    };
    ctx.dirty(1);
    let db = ctx.client.db;
    ctx.store.feed.propagate(db, args);
    Ok(reply)
}

/// FUNCTION LOAD [REPLACE] code
fn load(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < args.len() - 1 {
        if is(&args[i], "replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(crate::cmd::err::echo(&[
            b"ERR Unknown option given: ",
            &args[i],
        ]));
    }
    if i != args.len() - 1 {
        return Err(Reply::err("ERR Function code is missing"));
    }
    let name = ctx
        .store
        .scripts
        .load_library(&args[i], replace)
        .map_err(|e| Reply::error_bytes([&b"ERR "[..], &e].concat()))?;
    Ok(Reply::Bulk(Bytes::from(name)))
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
fn list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(&args[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(&args[i], "libraryname") {
            if i >= args.len() - 1 {
                return Err(Reply::err("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Err(crate::cmd::err::echo(&[b"ERR Unknown argument ", &args[i]]));
        }
        i += 1;
    }
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let mut out = Vec::new();
    for lib in ctx.store.scripts.functions.libs.values() {
        if let Some(p) = pattern {
            if !rubra_keys::glob::glob_match(p, lib.name.as_bytes(), true) {
                continue;
            }
        }
        let functions = lib
            .functions
            .values()
            .map(|f| {
                Reply::Map(vec![
                    (bulk("name"), bulk(&f.name)),
                    (
                        bulk("description"),
                        f.description.clone().map_or(Reply::Nil, Reply::Bulk),
                    ),
                    (
                        bulk("flags"),
                        Reply::Set(
                            shebang::NAMES
                                .iter()
                                .filter(|(flag, _)| f.flags & flag != 0)
                                .map(|(_, name)| Reply::status(name))
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        let mut entry = vec![
            (bulk("library_name"), bulk(&lib.name)),
            (bulk("engine"), bulk("LUA")),
            (bulk("functions"), Reply::Array(functions)),
        ];
        if with_code {
            entry.push((bulk("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(entry));
    }
    Ok(Reply::Array(out))
}

/// FUNCTION STATS: the running script (none can be, when this runs under the lock; see
/// `script::busy_serve` for the answer during a busy one) and the engine's counts.
fn stats(ctx: &mut Ctx) -> Reply {
    let f = &ctx.store.scripts.functions;
    Reply::Map(vec![
        (
            Reply::Bulk(Bytes::from_static(b"running_script")),
            Reply::Nil,
        ),
        (
            Reply::Bulk(Bytes::from_static(b"engines")),
            crate::script::functions::engine_stats(f.libs.len(), f.function_count()),
        ),
    ])
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    // Redis refuses extra words before it reads the policy, as a subcommand syntax error.
    if args.len() > 4 {
        return Err(crate::cmd::err::echo(&[
            b"ERR unknown subcommand or wrong number of arguments for '",
            &args[1],
            b"'. Try FUNCTION HELP.",
        ]));
    }
    let policy =
        match args.get(3) {
            None => Policy::Append,
            Some(p) if is(p, "flush") => Policy::Flush,
            Some(p) if is(p, "append") => Policy::Append,
            Some(p) if is(p, "replace") => Policy::Replace,
            Some(_) => return Err(Reply::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = crate::script::dump::parse_payload(&args[2])
        .map_err(|e| Reply::error(format!("ERR {e}")))?;
    let engine = &mut ctx.store.scripts;
    let saved = std::mem::take(&mut engine.functions);
    if policy != Policy::Flush {
        engine.functions = crate::script::functions::Libraries::default();
    }
    // Load into an empty set first, so a bad payload leaves the libraries untouched.
    let mut fresh = Vec::new();
    for code in &codes {
        match engine.load_library(code, false) {
            Ok(name) => fresh.push(name),
            Err(e) => {
                engine.functions = saved;
                return Err(Reply::error_bytes([&b"ERR "[..], &e].concat()));
            }
        }
    }
    if policy == Policy::Flush {
        return Ok(Reply::OK);
    }
    let loaded = std::mem::replace(&mut engine.functions, saved);
    for name in &fresh {
        let exists = engine.functions.libs.contains_key(name);
        if exists && policy == Policy::Append {
            // Roll back: nothing of the payload is kept.
            return Err(Reply::error(format!("ERR Library {name} already exists")));
        }
    }
    let mut merged = std::mem::take(&mut engine.functions);
    for name in &fresh {
        if let Some(lib) = loaded.libs.get(name) {
            for f in lib.functions.keys() {
                if merged.owner(f).is_some_and(|owner| owner != name) {
                    engine.functions = merged;
                    return Err(Reply::error(format!("ERR Function {f} already exists")));
                }
            }
        }
    }
    let mut loaded = loaded;
    for name in fresh {
        merged.unlink(&name);
        if let Some(lib) = loaded.unlink(&name) {
            merged.link_library(lib);
        }
    }
    engine.functions = merged;
    Ok(Reply::OK)
}

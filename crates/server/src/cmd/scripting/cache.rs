//! SCRIPT LOAD | EXISTS | FLUSH [ASYNC|SYNC] | KILL | HELP: the EVAL script cache.

use crate::cmd::args::is;
use crate::cmd::{CmdResult, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// SCRIPT <subcommand> ...
pub(crate) fn script(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let n = args.len();
    let lower = sub.to_ascii_lowercase();
    let arity: i32 = match lower.as_slice() {
        b"exists" => -3,
        b"load" | b"debug" => 3,
        b"flush" => -2,
        b"kill" | b"help" => 2,
        _ => return Err(crate::cmd::err::unknown_subcommand("script", sub)),
    };
    if (arity >= 0 && n as i32 != arity) || (arity < 0 && (n as i32) < -arity) {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for 'script|{}' command",
            String::from_utf8_lossy(&lower)
        )));
    }
    if n == 2 && is(sub, "help") {
        return Ok(Reply::Array(
            HELP.iter().map(|l| Reply::status(l)).collect(),
        ));
    }
    if is(sub, "flush") {
        if n > 3 || (n == 3 && !is(&args[2], "sync") && !is(&args[2], "async")) {
            return Err(Reply::err(
                "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            ));
        }
        ctx.store.scripts.flush_scripts();
        return Ok(Reply::OK);
    }
    if is(sub, "exists") && n >= 2 {
        let scripts = &ctx.store.scripts.scripts;
        return Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|sha| {
                    let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                    Reply::Int(scripts.contains_key(&sha) as i64)
                })
                .collect(),
        ));
    }
    if is(sub, "load") && n == 3 {
        let sha = ctx
            .store
            .scripts
            .load_script(&args[2])
            .map_err(Reply::error_bytes)?;
        return Ok(Reply::Bulk(Bytes::from(sha)));
    }
    if is(sub, "kill") && n == 2 {
        // Reached only when no script is running: a busy script's SCRIPT KILL is answered
        // by the connection without the store lock (see script::busy).
        return Err(Reply::err("NOTBUSY No scripts in execution right now."));
    }
    if is(sub, "debug") && n == 3 {
        if is(&args[2], "no") {
            return Ok(Reply::OK);
        }
        return Err(Reply::err(
            "ERR SCRIPT DEBUG is not supported by this server (the Lua debugger is not available)",
        ));
    }
    Err(Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try SCRIPT HELP.",
        String::from_utf8_lossy(sub)
    )))
}

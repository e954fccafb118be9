//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO: find or compile the script, then run it.

use super::split_keys;
use crate::cmd::{CmdResult, Ctx};
use crate::script::run::{self, Invocation};
use bytes::Bytes;
use rubra_resp::Reply;

/// Redis's reply when EVALSHA names an unknown script.
pub(crate) const NOSCRIPT: Reply = Reply::err("NOSCRIPT No matching script. Please use EVAL.");

/// EVAL script numkeys [key ...] [arg ...]
pub(crate) fn eval(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub(crate) fn evalsha(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true, false)
}

/// EVAL_RO: EVAL that refuses writes.
pub(crate) fn eval_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false, true)
}

/// EVALSHA_RO: EVALSHA that refuses writes.
pub(crate) fn evalsha_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true, true)
}

fn generic(ctx: &mut Ctx, args: &[Bytes], by_sha: bool, ro: bool) -> CmdResult {
    if by_sha && args[1].len() != 40 {
        return Err(NOSCRIPT);
    }
    let (keys, argv) = split_keys(args)?;
    // EVALSHA names the script in any case: lower-cased on the stack, not in a String.
    let mut lower = [0u8; 40];
    let loaded;
    let sha: &str = if by_sha {
        lower.copy_from_slice(&args[1]);
        lower.make_ascii_lowercase();
        std::str::from_utf8(&lower).map_err(|_| NOSCRIPT)?
    } else {
        loaded = ctx
            .store
            .scripts
            .load_script(&args[1])
            .map_err(Reply::error_bytes)?;
        &loaded
    };
    let Some(script) = ctx.store.scripts.scripts.get(sha) else {
        return Err(NOSCRIPT);
    };
    let func: mlua::Function = ctx
        .store
        .scripts
        .lua
        .registry_value(&script.func)
        .map_err(|e| Reply::error(format!("ERR Error running script {sha}: {e}")))?;
    let flags = script.flags;
    let inv = Invocation {
        is_eval: true,
        ro_command: ro,
        flags,
        name: sha,
        keys,
        args: argv,
        command: args,
    };
    Ok(run::run(ctx, &func, &inv))
}

//! MODULE: Rubra has no module system, but tools probe `MODULE LIST` (e.g. to learn
//! whether RedisJSON is there) and expect Redis's replies: an empty list, and the error
//! Redis gives for a library it cannot load.

use super::slowlog::{bad_subcommand, help_reply};
use super::*;

/// MODULE HELP | LIST | LOAD path [arg ...] | LOADEX path ... | UNLOAD name. LOAD, LOADEX
/// and UNLOAD only get here when `enable-module-command` allows them (dispatch checks).
pub(super) fn module(_ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if args.len() == 2 && is(sub, "help") {
        return Ok(help_reply(
            "MODULE",
            &[
                "LIST",
                "    Return a list of loaded modules.",
                "LOAD <path> [<arg> ...]",
                "    Load a module library from <path>, passing to it any optional arguments.",
                "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
                "    Load a module library from <path>, while passing it module configurations and optional arguments.",
                "UNLOAD <name>",
                "    Unload a module.",
            ],
        ));
    }
    if args.len() == 2 && is(sub, "list") {
        return Ok(Reply::Array(Vec::new()));
    }
    if args.len() >= 3 && (is(sub, "load") || is(sub, "loadex")) {
        return Err(Reply::err(
            "ERR Error loading the extension. Please check the server logs.",
        ));
    }
    if args.len() == 3 && is(sub, "unload") {
        return Err(Reply::err(
            "ERR Error unloading module: no such module with that name",
        ));
    }
    Err(bad_subcommand("module", args))
}

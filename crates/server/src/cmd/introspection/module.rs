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

/// Redis's protected commands (processCommand's CMD_PROTECTED check, made before AUTH):
/// DEBUG and MODULE LOAD|LOADEX|UNLOAD run only when `enable-debug-command` /
/// `enable-module-command` is `yes`, or `local` and the client is on loopback or the
/// unix socket. Both settings are immutable, so they are fixed when the node starts.
pub(crate) fn protected_refusal(
    config: &crate::config::Config,
    client_addr: Option<&str>,
    cmd: &str,
    args: &[Bytes],
) -> Option<Reply> {
    let (what, param) = match cmd {
        "debug" => ("DEBUG", "enable-debug-command"),
        "module"
            if args.len() >= 2
                && (is(&args[1], "load") || is(&args[1], "loadex") || is(&args[1], "unload")) =>
        {
            ("MODULE", "enable-module-command")
        }
        _ => return None,
    };
    let allowed = match config.get_value(param) {
        "yes" => true,
        "local" => client_addr.is_none_or(is_local_addr),
        _ => false,
    };
    (!allowed).then(|| {
        Reply::error(format!(
            "ERR {what} command not allowed. If the {param} option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
        ))
    })
}

/// Whether a client address (`ip:port`, or a unix socket path) is local, as Redis's
/// islocalClient: loopback addresses and unix sockets.
pub(crate) fn is_local_addr(addr: &str) -> bool {
    addr.starts_with("127.")
        || addr.starts_with("[::1]")
        || addr.starts_with("::1")
        || addr.starts_with('/')
}

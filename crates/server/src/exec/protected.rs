//! Redis's protected commands: DEBUG and MODULE LOAD|LOADEX|UNLOAD are refused before
//! anything else unless `enable-debug-command` / `enable-module-command` allow them. The
//! dispatcher checks this for every command, so it lives with dispatch, not with them.

use crate::cmd::args::is;
use bytes::Bytes;
use rubra_resp::Reply;

/// Redis's protected commands (processCommand's CMD_PROTECTED check, made before AUTH):
/// DEBUG and MODULE LOAD|LOADEX|UNLOAD run only when `enable-debug-command` /
/// `enable-module-command` is `yes`, or `local` and the client is on loopback or the
/// unix socket. Both settings are immutable, so they are fixed when the node starts.
pub(crate) fn refusal(
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

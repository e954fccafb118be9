//! Error replies whose exact text clients and tests match on, spelled once.

use crate::cmd::args::c_str;
use rubra_resp::Reply;

pub(crate) const WRONGTYPE: Reply =
    Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value");
pub(crate) const NOT_INTEGER: Reply = Reply::err("ERR value is not an integer or out of range");
pub(crate) const NOT_FLOAT: Reply = Reply::err("ERR value is not a valid float");
pub(crate) const SYNTAX: Reply = Reply::err("ERR syntax error");
pub(crate) const OVERFLOW: Reply = Reply::err("ERR increment or decrement would overflow");
pub(crate) const NO_SUCH_KEY: Reply = Reply::err("ERR no such key");
pub(crate) const INDEX_OUT_OF_RANGE: Reply = Reply::err("ERR index out of range");
pub(crate) const DB_INDEX: Reply = Reply::err("ERR DB index is out of range");
pub(crate) const NOAUTH: Reply = Reply::err("NOAUTH Authentication required.");
pub(crate) const WRONGPASS: Reply =
    Reply::err("WRONGPASS invalid username-password pair or user is disabled.");
pub(crate) const OOM: Reply = Reply::err("OOM command not allowed when used memory > 'maxmemory'.");
pub(crate) const TIMEOUT_NOT_FLOAT: Reply =
    Reply::err("ERR timeout is not a float or out of range");
pub(crate) const TIMEOUT_NEGATIVE: Reply = Reply::err("ERR timeout is negative");
pub(crate) const NUMKEYS_POSITIVE: Reply = Reply::err("ERR numkeys should be greater than 0");
pub(crate) const COUNT_POSITIVE: Reply = Reply::err("ERR count should be greater than 0");
pub(crate) const VALUE_POSITIVE: Reply = Reply::err("ERR value is out of range, must be positive");
pub(crate) const NOT_ALLOWED_IN_MULTI: Reply =
    Reply::err("ERR Command not allowed inside a transaction");

/// "ERR wrong number of arguments for 'x' command".
pub(crate) fn wrong_args(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name
    ))
}

/// "ERR unknown command 'x', with args beginning with: 'a' 'b' ", cut as Redis cuts it:
/// the name at 128 bytes, and the quoted arguments added while the list is under 128 bytes,
/// each one to what is left of those 128. The client's bytes go back as they came.
pub(crate) fn unknown_command(args: &[bytes::Bytes]) -> Reply {
    let name = args.first().map_or(&b""[..], |a| c_string(a, 128));
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(name);
    text.extend_from_slice(b"', with args beginning with: ");
    let list_start = text.len();
    for a in args.iter().skip(1) {
        let listed = text.len() - list_start;
        if listed >= 128 {
            break;
        }
        text.push(b'\'');
        text.extend_from_slice(c_string(a, 128 - listed));
        text.extend_from_slice(b"' ");
    }
    Reply::error_bytes(text)
}

/// "ERR unknown subcommand 'x'. Try NAME HELP.", with the client's bytes as they came.
pub(crate) fn unknown_subcommand(name: &str, sub: &[u8]) -> Reply {
    echo(&[
        b"ERR unknown subcommand '",
        c_string(sub, 128),
        b"'. Try ",
        name.to_ascii_uppercase().as_bytes(),
        b" HELP.",
    ])
}

/// An error reply put together from text and a client's bytes as Redis's
/// addReplyErrorFormat prints them: each part as `%s` prints it, byte for byte (UTF-8 or
/// not) up to its first NUL (the fixed text has none), then CRs and LFs trimmed from the
/// end and turned into spaces inside. The reply holds what Redis's does, so a script
/// that gets it from redis.pcall sees the same text.
pub(crate) fn echo(parts: &[&[u8]]) -> Reply {
    let mut text: Vec<u8> = parts.iter().flat_map(|p| c_str(p)).copied().collect();
    while let Some(b'\r' | b'\n') = text.last() {
        text.pop();
    }
    for b in text.iter_mut() {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    Reply::error_bytes(text)
}

/// What C's `%.*s` prints of an argument, as in Redis's error texts: at most `max` bytes,
/// ending at the first NUL.
fn c_string(arg: &[u8], max: usize) -> &[u8] {
    c_str(&arg[..arg.len().min(max)])
}

//! Scripting commands: EVAL and friends (eval.rs), the script cache (cache.rs) and
//! functions (functions.rs). The engine itself lives in `crate::script`.

mod cache;
mod eval;
mod functions;

use super::flags::*;
use super::Command;
use bytes::Bytes;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("eval", -3, NOSCRIPT | STALE | MAY_REPLICATE, (0, 0, 0), "scripting", eval::eval).with_keys(numkeys_at_2),
    Command::new("evalsha", -3, NOSCRIPT | STALE | MAY_REPLICATE, (0, 0, 0), "scripting", eval::evalsha).with_keys(numkeys_at_2),
    Command::new("eval_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), "scripting", eval::eval_ro).with_keys(numkeys_at_2),
    Command::new("evalsha_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), "scripting", eval::evalsha_ro).with_keys(numkeys_at_2),
    Command::new("fcall", -3, NOSCRIPT | STALE | MAY_REPLICATE, (0, 0, 0), "scripting", functions::fcall).with_keys(numkeys_at_2),
    Command::new("fcall_ro", -3, NOSCRIPT | STALE | READONLY, (0, 0, 0), "scripting", functions::fcall_ro).with_keys(numkeys_at_2),
    Command::new("script", -2, NOSCRIPT | CONTAINER, (0, 0, 0), "scripting", cache::script),
    Command::new("function", -2, NOSCRIPT | CONTAINER, (0, 0, 0), "scripting", functions::function),
];

/// Key positions of `CMD script-or-name numkeys key... arg...`.
fn numkeys_at_2(args: &[Bytes]) -> Vec<usize> {
    let n = args
        .get(2)
        .and_then(|n| std::str::from_utf8(n).ok())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    (3..3 + n.min(args.len().saturating_sub(3))).collect()
}

/// Parses numkeys and splits the rest into keys and arguments, with Redis's errors.
fn split_keys(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), rubra_resp::Reply> {
    let n = super::args::int(&args[2])?;
    if n > (args.len() - 3) as i64 {
        return Err(rubra_resp::Reply::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(rubra_resp::Reply::err(
            "ERR Number of keys can't be negative",
        ));
    }
    let n = n as usize;
    Ok((&args[3..3 + n], &args[3 + n..]))
}

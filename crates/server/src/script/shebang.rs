//! Script flags from a `#!lua flags=...` first line (Redis 7's shebang), shared by EVAL
//! scripts and functions, and what they change about a run.

use crate::cmd::args::c_str;

/// `no-writes`: the script may only read.
pub(crate) const NO_WRITES: u32 = 1;
/// `allow-oom`: runs even above maxmemory.
pub(crate) const ALLOW_OOM: u32 = 1 << 1;
/// `allow-stale`: runs on a stale replica.
pub(crate) const ALLOW_STALE: u32 = 1 << 2;
/// `no-cluster`: refused in cluster mode.
pub(crate) const NO_CLUSTER: u32 = 1 << 3;
/// No shebang: an EVAL script with pre-7.0 behaviour.
pub(crate) const EVAL_COMPAT: u32 = 1 << 4;
/// `allow-cross-slot-keys`: undeclared keys may live in other slots.
pub(crate) const ALLOW_CROSS_SLOT: u32 = 1 << 5;

/// Flag names as Redis spells them (FUNCTION LIST shows them in this order).
pub(crate) const NAMES: &[(u32, &str)] = &[
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (ALLOW_STALE, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// The flag called `name`, if any.
pub(crate) fn flag_by_name(name: &[u8]) -> Option<u32> {
    NAMES
        .iter()
        .find(|(_, n)| n.as_bytes() == name)
        .map(|(f, _)| *f)
}

/// Why a `#!` first line has no words, as Redis tells the two apart.
pub(crate) enum NoWords {
    /// No newline ends the line (or a NUL comes first: Redis reads the body as a C
    /// string).
    NoNewline,
    /// Unbalanced quotes (sdssplitargs gives up).
    BadQuotes,
}

/// The words of a body's `#!` first line as Redis reads them (evalExtractShebangFlags,
/// functionExtractLibMetaData): the line ends at the first newline, unless a NUL comes
/// first; it is split by sdssplitargs (quotes, escapes, C's spaces). With the line's
/// length without its newline. The body must start with `#!`.
pub(crate) fn first_line_words(body: &[u8]) -> Result<(Vec<bytes::Bytes>, usize), NoWords> {
    let end = match body.iter().position(|&b| b == b'\n' || b == 0) {
        Some(end) if body[end] == b'\n' => end,
        _ => return Err(NoWords::NoNewline),
    };
    match rubra_resp::split_args(&body[..end]) {
        Some(words) if !words.is_empty() => Ok((words, end)),
        _ => Err(NoWords::BadQuotes),
    }
}

/// Parses an EVAL body's shebang: (flags, length of the shebang line without its newline,
/// which is blanked so that line numbers stay right). No shebang: compat mode. The error
/// is the reply's text, in bytes: it quotes the line's words as they came, up to a NUL
/// (Redis compares and prints them as C strings).
pub(crate) fn parse_eval(body: &[u8]) -> Result<(u32, usize), Vec<u8>> {
    if !body.starts_with(b"#!") {
        return Ok((EVAL_COMPAT, 0));
    }
    let (words, end) = match first_line_words(body) {
        Ok(found) => found,
        Err(NoWords::NoNewline) => return Err(b"ERR Invalid script shebang".to_vec()),
        Err(NoWords::BadQuotes) => {
            return Err(b"ERR Invalid engine in script shebang".to_vec());
        }
    };
    let engine = c_str(&words[0]);
    if engine != b"#!lua" {
        return Err([&b"ERR Unexpected engine in script shebang: "[..], engine].concat());
    }
    let mut flags = 0;
    for word in &words[1..] {
        if !c_str(word).starts_with(b"flags=") {
            return Err([&b"ERR Unknown lua shebang option: "[..], c_str(word)].concat());
        }
        // The list is the whole word after "flags=", NULs and all (sdssplitlen); each
        // name is compared as a C string.
        let list = &word[6..];
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match flag_by_name(c_str(name)) {
                Some(f) => flags |= f,
                None => {
                    return Err(
                        [&b"ERR Unexpected flag in script shebang: "[..], c_str(name)].concat(),
                    )
                }
            }
        }
    }
    Ok((flags, end))
}

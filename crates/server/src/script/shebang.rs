//! Script flags from a `#!lua flags=...` first line (Redis 7's shebang), shared by EVAL
//! scripts and functions, and what they change about a run.

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

/// Parses an EVAL body's shebang: (flags, length of the shebang line without its newline,
/// which is blanked so that line numbers stay right). No shebang: compat mode.
pub(crate) fn parse_eval(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    if parts.is_empty() {
        return Err("ERR Invalid engine in script shebang".into());
    }
    if parts[0] != "#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            parts[0]
        ));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(',') {
            match flag_by_name(name.as_bytes()) {
                Some(f) => flags |= f,
                None => return Err(format!("ERR Unexpected flag in script shebang: {name}")),
            }
        }
    }
    Ok((flags, end))
}

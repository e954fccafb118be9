//! The reply comparison, the pair runner (SCAN and RANDOMKEY resolved, the closing
//! keyspace listing) and the sequence builder of `fuzz_keyspace_differential`; the
//! commands themselves come from `generate`.

mod generate;
use super::*;
pub(crate) use generate::*;

/// Whether two replies agree under `cmp` (RandomKey and Scan are resolved by the runner).
pub(crate) fn same(cmp: Cmp, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let sorted = |mut v: Vec<Frame>| {
        v.sort_by_key(|f| format!("{f:?}"));
        v
    };
    match (cmp, frame(a), frame(b)) {
        (Cmp::Unordered, Some(Frame::Array(x)), Some(Frame::Array(y))) => sorted(x) == sorted(y),
        (Cmp::Ttl(tol), Some(Frame::Int(x)), Some(Frame::Int(y))) => {
            x > 0 && y > 0 && (x - y).abs() <= tol
        }
        (Cmp::Idle, Some(Frame::Int(x)), Some(Frame::Int(y))) => x >= 0 && y >= 0,
        (Cmp::ConfigNames, Some(x), Some(y)) => config_names(x) == config_names(y),
        _ => false,
    }
}

/// The sorted parameter names of a CONFIG GET reply (RESP2 pairs or a RESP3 map).
pub(crate) fn config_names(f: Frame) -> Option<Vec<String>> {
    let mut names: Vec<String> = match f {
        Frame::Array(v) => v.iter().step_by(2).map(|k| format!("{k:?}")).collect(),
        Frame::Map(m) => m.iter().map(|(k, _)| format!("{k:?}")).collect(),
        _ => return None,
    };
    names.sort();
    Some(names)
}

/// `line` with its `pos`th argument replaced by `cursor`, re-quoted.
pub(crate) fn with_cursor(line: &str, pos: usize, cursor: &[u8]) -> String {
    let mut args = rubra_resp::split_args(line.as_bytes()).unwrap_or_default();
    if pos < args.len() {
        args[pos] = cursor.to_vec().into();
    }
    args.iter().map(|a| lit(a)).collect::<Vec<_>>().join(" ")
}

/// The cursor and the elements of one SCAN-family reply, or None if it is something else.
pub(crate) fn scan_page(raw: &[u8]) -> Option<(Vec<u8>, Vec<Frame>)> {
    match frame(raw)? {
        Frame::Array(mut v) if v.len() == 2 => {
            let items = match v.pop()? {
                Frame::Array(items) => items,
                _ => return None,
            };
            match v.pop()? {
                Frame::Bulk(c) => Some((c.to_vec(), items)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Everything a SCAN-family iteration returns from `line`'s cursor to the end, as sorted
/// element strings (pairs for HSCAN / ZSCAN), or the first reply that is not a page.
pub(crate) fn scan_all(
    conn: &mut reference::RawConn,
    line: &str,
    pos: usize,
) -> Result<Vec<String>, Vec<u8>> {
    let pairs = !line.to_ascii_uppercase().starts_with("SCAN")
        && !line.to_ascii_uppercase().starts_with("SSCAN");
    let mut out = Vec::new();
    let mut reply = conn.call(line);
    for _ in 0..10_000 {
        let Some((cursor, items)) = scan_page(&reply) else {
            return Err(reply);
        };
        if pairs {
            out.extend(items.chunks(2).map(|c| format!("{c:?}")));
        } else {
            out.extend(items.iter().map(|f| format!("{f:?}")));
        }
        if cursor == b"0" {
            break;
        }
        reply = conn.call(&with_cursor(line, pos, &cursor));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl Pair {
    /// Back to an empty keyspace in database 0 speaking RESP3 if `resp3`.
    pub(crate) fn reset(&mut self, resp3: bool) {
        let hello = if resp3 { "HELLO 3" } else { "HELLO 2" };
        for c in [&mut self.a, &mut self.b] {
            // A sequence may end inside MULTI or with keys watched.
            c.call("DISCARD");
            c.call("UNWATCH");
            c.call("FLUSHALL");
            c.call("SELECT 0");
            c.call(hello);
        }
    }

    /// One step on both servers; the two replies shown if they differ.
    pub(crate) fn step(&mut self, line: &str, cmp: Cmp) -> Option<String> {
        let show = |ra: &[u8], rb: &[u8]| {
            // Long replies are cut: the first 2000 bytes show where they part.
            let cut = |r: &[u8]| r[..r.len().min(2000)].escape_ascii().to_string();
            format!(
                "{line}\n    rubra: \"{}\"\n    redis: \"{}\"",
                cut(ra),
                cut(rb)
            )
        };
        match cmp {
            Cmp::Scan(pos) => {
                let ra = scan_all(&mut self.a, line, pos);
                let rb = scan_all(&mut self.b, line, pos);
                match (&ra, &rb) {
                    (Ok(x), Ok(y)) if x == y => None,
                    (Err(x), Err(y)) if x == y => None,
                    _ => {
                        let text = |r: &Result<Vec<String>, Vec<u8>>| match r {
                            Ok(v) => format!("{v:?}"),
                            Err(e) => format!("\"{}\"", e.escape_ascii()),
                        };
                        Some(format!(
                            "{line}\n    rubra: {}\n    redis: {}",
                            text(&ra),
                            text(&rb)
                        ))
                    }
                }
            }
            Cmp::RandomKey => {
                let ra = self.a.call(line);
                let rb = self.b.call(line);
                let one_key =
                    matches!(frame(&self.b.call("DBSIZE")), Some(Frame::Int(n)) if n <= 1);
                let kind = |f: Option<Frame>| match f {
                    Some(Frame::Bulk(_)) => "bulk".to_string(),
                    other => format!("{other:?}"),
                };
                let ok = ra == rb || (!one_key && kind(frame(&ra)) == kind(frame(&rb)));
                (!ok).then(|| show(&ra, &rb))
            }
            _ => {
                let ra = self.a.call(line);
                let rb = self.b.call(line);
                (!same(cmp, &ra, &rb)).then(|| show(&ra, &rb))
            }
        }
    }

    /// Runs `seq` from an empty keyspace; the first difference, if any.
    pub(crate) fn first_difference(&mut self, resp3: bool, seq: &[Step]) -> Option<String> {
        self.reset(resp3);
        seq.iter().find_map(|(line, cmp)| self.step(line, *cmp))
    }
}

/// Known deviations from Redis 7.0 the generator must not produce:
/// - a command name that is a known one followed by a NUL byte ("SET\0"): Redis finds the
///   command or not depending on its per-process hash seed (never generated);
/// - MEMORY HELP, ACL HELP and PUBSUB HELP: the help prose is rubra's own wording (PUBSUB's
///   lists the subcommands without descriptions); matching it would mean copying Redis's
///   text. Their unknown-subcommand and arity errors are still compared.
pub(crate) fn known_deviation(line: &str) -> bool {
    let args = rubra_resp::split_args(line.as_bytes()).unwrap_or_default();
    match (args.first(), args.get(1)) {
        (Some(c), Some(sub)) => {
            ["memory", "acl", "pubsub"]
                .iter()
                .any(|n| c.eq_ignore_ascii_case(n.as_bytes()))
                && sub.eq_ignore_ascii_case(b"help")
        }
        _ => false,
    }
}

/// A WATCH / MULTI / EXEC block around database commands: keys watched in one database
/// and touched from another (SWAPDB, MOVE, COPY ... DB, FLUSHDB, FLUSHALL), SELECT queued
/// inside, a queued error aborting EXEC, or DISCARD.
pub(crate) fn transaction(r: &mut Rng) -> Vec<Step> {
    let exact = |r: &mut Rng| loop {
        let (l, c) = command(r);
        let up = l.to_ascii_uppercase();
        let control = ["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "FLUSHALL"]
            .iter()
            .any(|w| up.starts_with(w));
        // Known deviation: in a transaction Redis's OBJECT REFCOUNT also counts the
        // references the queued commands' arguments still hold to a value they stored
        // (MULTI, APPEND a x, OBJECT REFCOUNT a, EXEC: 2), an artefact of its objects.
        let refcount = up.starts_with("OBJECT REFCOUNT");
        if c == Cmp::Exact && !control && !refcount && !known_deviation(&l) {
            return (l, c);
        }
    };
    let mut out = Vec::new();
    if !r.one_in(4) {
        let mut w = cased(r, "WATCH");
        for _ in 0..1 + r.below(2) {
            w += &format!(" {}", key(r));
        }
        out.push((w, Cmp::Exact));
        for _ in 0..r.below(3) {
            out.push(match r.below(4) {
                0 => (format!("SWAPDB {} {}", ps(r, DBS), ps(r, DBS)), Cmp::Exact),
                1 => (format!("SELECT {}", ps(r, DBS)), Cmp::Exact),
                _ => exact(r),
            });
        }
    }
    out.push((cased(r, "MULTI"), Cmp::Exact));
    for _ in 0..1 + r.below(4) {
        out.push(match r.below(12) {
            0 => ("NOSUCHCMD x".to_string(), Cmp::Exact),
            1 => ("GET".to_string(), Cmp::Exact),
            2 => (format!("SELECT {}", ps(r, DBS)), Cmp::Exact),
            3 => (format!("WATCH {}", key(r)), Cmp::Exact),
            _ => exact(r),
        });
    }
    let end = if r.one_in(5) { "DISCARD" } else { "EXEC" };
    out.push((cased(r, end), Cmp::Exact));
    out
}

/// Whether `line` sets an expiry relative to the clock (EXPIRE, PEXPIRE, SETEX, PSETEX, or
/// an EX / PX option).
pub(crate) fn relative_expire(line: &str) -> bool {
    let args = rubra_resp::split_args(line.as_bytes()).unwrap_or_default();
    let up = |a: &[u8]| a.to_ascii_uppercase();
    let first = args.first().map(|a| up(a)).unwrap_or_default();
    [&b"EXPIRE"[..], b"PEXPIRE", b"SETEX", b"PSETEX"].contains(&first.as_slice())
        || args
            .iter()
            .skip(1)
            .any(|a| [&b"EX"[..], b"PX"].contains(&up(a).as_slice()))
}

/// A random sequence, then KEYS *, DBSIZE and the main keys' types and expiry times in
/// every database the generator selects. Half
/// the sequences set only absolute expiry times: their EXPIRETIME / PEXPIRETIME replies
/// do not depend on the clock and compare exactly.
pub(crate) fn sequence(r: &mut Rng) -> Vec<Step> {
    let absolute = r.one_in(2);
    let mut seq = Vec::with_capacity(SEQ_LEN + 9 * CHECK_DBS.len());
    while seq.len() < SEQ_LEN {
        if r.one_in(12) {
            let block = transaction(r);
            if !absolute || !block.iter().any(|(l, _)| relative_expire(l)) {
                seq.extend(block);
            }
            continue;
        }
        let mut c = command(r);
        if absolute {
            if relative_expire(&c.0) {
                continue;
            }
            let up = c.0.to_ascii_uppercase();
            if up.starts_with("EXPIRETIME") || up.starts_with("PEXPIRETIME") {
                c.1 = Cmp::Exact;
            }
        }
        if !known_deviation(&c.0) {
            seq.push(c);
        }
    }
    let expiry = if absolute { Cmp::Exact } else { Cmp::Ttl(2000) };
    for db in CHECK_DBS {
        seq.push((format!("SELECT {db}"), Cmp::Exact));
        seq.push(("KEYS *".to_string(), Cmp::Unordered));
        seq.push(("DBSIZE".to_string(), Cmp::Exact));
        for k in MAIN_KEYS {
            let k = lit(k);
            seq.push((format!("TYPE {k}"), Cmp::Exact));
            seq.push((format!("PEXPIRETIME {k}"), expiry));
        }
    }
    seq
}

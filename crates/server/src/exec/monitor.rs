//! MONITOR: every command the server runs, as one status line per command sent to each
//! monitoring client (`+1700000000.123456 [0 127.0.0.1:5555] "SET" "k" "v"`), with
//! Redis's quoting and the redaction of secrets (AUTH, HELLO AUTH, MIGRATE AUTH/AUTH2,
//! ACL SETUSER) that Redis applies before it shows a command anywhere.

use bytes::Bytes;
use std::borrow::Cow;

/// The clients in MONITOR mode, in the order they asked.
#[derive(Debug, Default)]
pub(crate) struct Monitors {
    pub ids: Vec<u64>,
}

impl Monitors {
    /// Whether anyone is watching (the fast path: nothing is formatted otherwise).
    pub(crate) fn active(&self) -> bool {
        !self.ids.is_empty()
    }
}

/// The text Redis writes for one argument in MONITOR and `redis-cli` (sdscatrepr): in
/// double quotes, with \\ \" \n \r \t \a \b escaped and other unprintable bytes as \xHH.
pub(crate) fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// One MONITOR line: `+<secs>.<usecs> [<db> <who>] "arg" ...\r\n`.
pub(crate) fn line(now_us: u128, db: usize, who: &str, args: &[Bytes]) -> Bytes {
    let mut out = format!(
        "+{}.{:06} [{db} {who}] ",
        now_us / 1_000_000,
        now_us % 1_000_000
    )
    .into_bytes();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        repr(&mut out, a);
    }
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

/// The arguments as Redis shows them in MONITOR and SLOWLOG: secrets replaced by
/// "(redacted)". `sensitive_config` says whether a CONFIG SET parameter is a secret.
pub(crate) fn redacted<'a>(args: &'a [Bytes]) -> Cow<'a, [Bytes]> {
    let Some(name) = args.first() else {
        return Cow::Borrowed(args);
    };
    let mut hide: Vec<usize> = Vec::new();
    let is = |a: &Bytes, s: &str| a.eq_ignore_ascii_case(s.as_bytes());
    if is(name, "auth") && args.len() <= 3 {
        hide.extend(1..args.len());
    } else if is(name, "acl") && args.len() >= 3 && is(&args[1], "setuser") {
        hide.extend(2..args.len());
    } else if is(name, "hello") && args.len() >= 2 {
        let version_ok = std::str::from_utf8(&args[1])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .is_some_and(|v| (2..=3).contains(&v));
        if version_ok {
            let mut j = 2;
            while j < args.len() {
                let more = args.len() - 1 - j;
                if is(&args[j], "auth") && more >= 2 {
                    hide.extend([j + 1, j + 2]);
                    j += 3;
                } else if is(&args[j], "setname") && more >= 1 {
                    j += 2;
                } else {
                    break;
                }
            }
        }
    } else if is(name, "migrate") {
        let mut j = 6;
        while j < args.len() {
            let more = args.len() - 1 - j;
            if is(&args[j], "auth") && more >= 1 {
                hide.push(j + 1);
                j += 2;
            } else if is(&args[j], "auth2") && more >= 2 {
                hide.extend([j + 1, j + 2]);
                j += 3;
            } else if is(&args[j], "keys") {
                break;
            } else {
                j += 1;
            }
        }
    } else if is(name, "config") && args.len() >= 4 && is(&args[1], "set") {
        for pair in (2..args.len()).step_by(2) {
            if pair + 1 < args.len()
                && ["masteruser", "masterauth", "requirepass"]
                    .iter()
                    .any(|p| is(&args[pair], p))
            {
                hide.push(pair + 1);
            }
        }
    }
    if hide.is_empty() {
        return Cow::Borrowed(args);
    }
    let mut v = args.to_vec();
    for i in hide {
        if let Some(a) = v.get_mut(i) {
            *a = Bytes::from_static(b"(redacted)");
        }
    }
    Cow::Owned(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn line_format_and_quoting() {
        let l = line(
            1_700_000_000_123_456,
            0,
            "127.0.0.1:5555",
            &b(&["SET", "k\n\"x", "\u{1}"]),
        );
        assert_eq!(
            &l[..],
            &b"+1700000000.123456 [0 127.0.0.1:5555] \"SET\" \"k\\n\\\"x\" \"\\x01\"\r\n"[..]
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redacted(&b(&["auth", "u", "p"]))[1..],
            b(&["(redacted)", "(redacted)"])[..]
        );
        assert_eq!(
            redacted(&b(&["hello", "3", "AUTH", "u", "p"]))[..],
            b(&["hello", "3", "AUTH", "(redacted)", "(redacted)"])[..]
        );
        assert_eq!(redacted(&b(&["get", "k"]))[..], b(&["get", "k"])[..]);
    }
}

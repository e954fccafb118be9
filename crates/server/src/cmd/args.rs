//! Argument parsing with Redis's rules and error texts.

use super::err;
use bytes::Bytes;
use rubra_keyspace::value::parse_i64_strict;
use rubra_resp::Reply;

/// What C sees of bytes given as a `char *` (`%s`, strlen, strcmp, strtod): up to the
/// first NUL. Redis reads many arguments so, and its error texts print them so.
pub(crate) fn c_str(s: &[u8]) -> &[u8] {
    s.iter().position(|&b| b == 0).map_or(s, |nul| &s[..nul])
}

/// Case-insensitive comparison of an argument with an option name.
pub(crate) fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

/// Parses a 64-bit integer argument ("ERR value is not an integer or out of range").
pub(crate) fn int(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64_strict(arg).ok_or(err::NOT_INTEGER)
}

/// Parses a C `int` argument as Redis's getIntFromObjectOrReply: not an integer is
/// `error` (or the usual "not an integer" error), an integer outside i32 is `error` too,
/// or "value is out of range, value must between <INT_MIN> and <INT_MAX>" without one.
pub(crate) fn c_int(arg: &[u8], error: Option<&'static str>) -> Result<i64, Reply> {
    let n = parse_i64_strict(arg).ok_or(error.map_or(err::NOT_INTEGER, Reply::err))?;
    if n < i64::from(i32::MIN) || n > i64::from(i32::MAX) {
        return Err(match error {
            Some(e) => Reply::err(e),
            None => Reply::error(format!(
                "ERR value is out of range, value must between {} and {}",
                i32::MIN,
                i32::MAX
            )),
        });
    }
    Ok(n)
}

/// Parses a non-negative integer with a custom error.
pub(crate) fn uint(arg: &[u8], error: Reply) -> Result<u64, Reply> {
    match parse_i64_strict(arg) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(error),
    }
}

/// Parses a double as Redis's strtod-based parser does: accepts inf/-inf/+inf, decimal and
/// exponent forms; rejects NaN, empty strings and surrounding spaces.
pub(crate) fn float(arg: &[u8]) -> Result<f64, Reply> {
    parse_f64(arg).ok_or(err::NOT_FLOAT)
}

/// The parsing behind `float`, usable where the error text differs.
pub(crate) fn parse_f64(arg: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(arg).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    // The usual argument, a plain number: no spelling of inf or nan can hide in it, so it
    // needs neither the lower-cased copy nor the checks below.
    if arg
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return s.parse::<f64>().ok().filter(|v| !v.is_nan());
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        other => {
            if other.contains("nan") || other.contains("inf") {
                return None;
            }
            other.parse().ok()?
        }
    };
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// Parses a blocking timeout in seconds (may be fractional) into milliseconds; 0 = forever.
/// As Redis 7.0 does: milliseconds are rounded up (0.0001 waits 1 ms, -0.0001 becomes 0 and
/// blocks forever), and infinities or values too large for a C long long come out negative.
pub(crate) fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let secs = parse_f64(arg).ok_or(err::TIMEOUT_NOT_FLOAT)?;
    let ms = (secs * 1000.0).ceil();
    if !(0.0..i64::MAX as f64).contains(&ms) {
        return Err(err::TIMEOUT_NEGATIVE);
    }
    Ok(ms as u64)
}

/// Key positions of `... numkeys key [key ...] ...` with numkeys at `args[at]`. One helper
/// for every numkeys command, so routing and CROSSSLOT checks see exactly the keys the
/// command will read; a bad numkeys yields no keys and the command itself reports the error.
pub(crate) fn numkeys_positions(args: &[Bytes], at: usize) -> Vec<usize> {
    let n = args.get(at).and_then(|a| parse_i64_strict(a)).unwrap_or(0);
    if n <= 0 {
        return Vec::new();
    }
    let start = at + 1;
    let end = start.saturating_add(n as usize).min(args.len());
    (start..end).collect()
}

/// Resolves Redis-style ranges: negative indexes count from the end; the result is an
/// inclusive [start, end] clamped to the length, or None if empty.
pub(crate) fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if len == 0 || s > e || s >= len {
        return None;
    }
    if e < 0 {
        e = 0;
    }
    Some((s as usize, e as usize))
}

/// A slot number argument (COUNTKEYSINSLOT, GETKEYSINSLOT, slot ranges of a migration).
pub(crate) fn slot_arg(arg: &[u8]) -> Result<usize, Reply> {
    match int(arg) {
        Ok(n) if (0..rubra_keys::SLOT_COUNT as i64).contains(&n) => Ok(n as usize),
        _ => Err(Reply::err("ERR Invalid slot")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_redis() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"abc"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(3, 1, 5), None);
        assert_eq!(resolve_range(0, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(-100, 0, 5), Some((0, 0)));
        assert_eq!(resolve_range(5, 10, 5), None);
        assert_eq!(resolve_range(0, -1, 0), None);
    }
}

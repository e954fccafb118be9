//! The parameters Redis gives their own parser ("special" configs): dir, save,
//! client-output-buffer-limit, oom-score-adj-values, notify-keyspace-events, bind,
//! replicaof and latency-tracking-info-percentiles. Each is validated as Redis does and
//! kept in the form CONFIG GET prints.

use super::value::{c_text, parse_memory};

/// Output buffer limits Redis starts with, per class (normal, slave, pubsub).
pub(super) const DEFAULT_OUTPUT_LIMITS: &str =
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// The default of a special parameter as CONFIG GET prints it.
pub(super) fn default_text(name: &str) -> String {
    match name {
        "dir" => std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        "save" => "3600 1 300 100 60 10000".into(),
        "client-output-buffer-limit" => DEFAULT_OUTPUT_LIMITS.into(),
        "oom-score-adj-values" => "0 200 800".into(),
        "bind" => "* -::*".into(),
        "latency-tracking-info-percentiles" => "50 99 99.9".into(),
        _ => String::new(),
    }
}

/// Words of a multi-argument value, split on single spaces as Redis does (an empty value
/// has no words).
fn words(value: &str) -> Vec<&str> {
    if value.is_empty() {
        Vec::new()
    } else {
        value.split(' ').collect()
    }
}

/// C's strtoll over the whole word: optional sign and digits (saturating); `None` if
/// anything else is left. An empty word is 0, as strtoll leaves it.
fn strtoll(w: &str) -> Option<i64> {
    let t = c_text(w).trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if digits.is_empty() {
        return if t.is_empty() { Some(0) } else { None };
    }
    let v = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { v.saturating_neg() } else { v })
}

/// Validates and normalises a special parameter; `current` is its value now (for the
/// parameters that update part of themselves).
pub(super) fn normalise(name: &str, value: &str, current: &str) -> Result<String, String> {
    match name {
        "dir" => {
            let path = std::fs::canonicalize(value).map_err(|e| crate::strerror(&e))?;
            if !path.is_dir() {
                return Err("Not a directory".into());
            }
            Ok(path.to_string_lossy().into_owned())
        }
        "save" => save(value),
        "client-output-buffer-limit" => output_limits(current, value),
        "oom-score-adj-values" => {
            let w = words(value);
            if w.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut out = Vec::new();
            for x in w {
                match strtoll(x) {
                    Some(v) if (-2000..=2000).contains(&v) => out.push(v.to_string()),
                    _ => return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    ),
                }
            }
            Ok(out.join(" "))
        }
        "notify-keyspace-events" => keyspace_events(c_text(value))
            .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        "bind" => {
            let w = words(value);
            if w.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(w.join(" "))
        }
        "replicaof" => {
            let w = words(value);
            if w.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            if w[0].eq_ignore_ascii_case("no") && w[1].eq_ignore_ascii_case("one") {
                return Ok(String::new());
            }
            match strtoll(w[1]) {
                Some(p) if (0..=65535).contains(&p) && !w[1].is_empty() => {
                    Ok(format!("{} {}", w[0], p))
                }
                _ => Err("Invalid master port".into()),
            }
        }
        "latency-tracking-info-percentiles" => {
            let w = words(value);
            let mut out = Vec::new();
            if !(w.len() == 1 && w[0].is_empty()) {
                for x in w {
                    let p = string2d(x)
                        .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    out.push(trim_double(p));
                }
            }
            Ok(out.join(" "))
        }
        _ => Ok(value.to_string()),
    }
}

/// Redis's string2d: C's strtod over the whole word (hexadecimal, `inf` and exponents
/// included), refusing an empty word, leading space, a NUL, NaN and a value out of range
/// (overflow to infinity, or underflow to zero).
fn string2d(w: &str) -> Option<f64> {
    if w.is_empty() || w.as_bytes()[0].is_ascii_whitespace() || w.as_bytes()[0] == 0x0b {
        return None;
    }
    let text = std::ffi::CString::new(w).ok()?;
    let mut stop: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod sets `stop` to a
    // position within it. The process never calls setlocale, so the decimal point is '.'.
    let v = unsafe { libc::strtod(text.as_ptr(), &mut stop) };
    let used = (stop as usize).saturating_sub(text.as_ptr() as usize);
    if used != w.len() || v.is_nan() {
        return None;
    }
    let body = w.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if v.is_infinite() && !body.starts_with('i') {
        return None; // ERANGE: overflow
    }
    if v == 0.0 && out_of_range_zero(&body) {
        return None; // ERANGE: underflow
    }
    Some(v)
}

/// A number (sign removed, lower case) that strtod reads as zero although its mantissa
/// has a non-zero digit: an underflow.
fn out_of_range_zero(body: &str) -> bool {
    let (digits, exponent) = match body.strip_prefix("0x") {
        Some(hex) => (hex, 'p'),
        None => (body, 'e'),
    };
    digits
        .split(exponent)
        .next()
        .is_some_and(|m| m.bytes().any(|b| b.is_ascii_hexdigit() && b != b'0'))
}

/// `%f` with trailing zeros (and a trailing dot) removed, as Redis prints percentiles.
pub(super) fn trim_double(p: f64) -> String {
    let s = format!("{p:.6}");
    let s = s.trim_end_matches('0');
    s.trim_end_matches('.').to_string()
}

fn save(value: &str) -> Result<String, String> {
    let w = words(value);
    let w: Vec<&str> = if w.len() == 1 && c_text(w[0]).is_empty() {
        Vec::new()
    } else {
        w
    };
    if w.len() % 2 == 1 {
        return Err("Invalid save parameters".into());
    }
    let mut out = Vec::new();
    for (j, x) in w.iter().enumerate() {
        match strtoll(x) {
            Some(v) if j % 2 == 0 && v >= 1 => out.push(v),
            // Redis keeps the change count in an int, so it shows 2^63-1 as -1 and then
            // cannot load its own CONFIG REWRITE; a count that truncates to a negative int
            // is refused instead (found by fuzz_config_file).
            Some(v) if j % 2 == 1 && v >= 0 && v as i32 >= 0 => out.push(v as i32 as i64),
            _ => return Err("Invalid save parameters".into()),
        }
    }
    Ok(out
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" "))
}

/// CONFIG SET client-output-buffer-limit replaces only the classes it names; all are
/// checked before any is changed.
fn output_limits(current: &str, update: &str) -> Result<String, String> {
    const BAD: &str = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
    let w = words(update);
    if !w.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: Vec<(&str, String)> = ["normal", "slave", "pubsub"]
        .iter()
        .map(|c| (*c, String::new()))
        .collect();
    let cur = words(current);
    for c in cur.chunks(4) {
        if let Some(slot) = classes.iter_mut().find(|(n, _)| *n == c[0]) {
            slot.1 = c[1..].join(" ");
        }
    }
    let mut updates = Vec::new();
    for c in w.chunks(4) {
        let class = match c[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let hard = parse_memory(c[1]).ok_or(BAD)?;
        let soft = parse_memory(c[2]).ok_or(BAD)?;
        let secs = match strtoll(c[3]) {
            Some(s) if s >= 0 => s as i32 as i64,
            _ => return Err(BAD.into()),
        };
        if secs < 0 {
            return Err(BAD.into());
        }
        updates.push((class, format!("{hard} {soft} {secs}")));
    }
    for (class, v) in updates {
        if let Some(slot) = classes.iter_mut().find(|(n, _)| *n == class) {
            slot.1 = v;
        }
    }
    Ok(classes
        .iter()
        .map(|(n, v)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// notify-keyspace-events: parses the class characters and prints them in Redis's
/// canonical order (`A` for all of g$lshzxetd).
fn keyspace_events(value: &str) -> Option<String> {
    const ORDER: &[(char, u32)] = &[
        ('g', 1 << 2),
        ('$', 1 << 3),
        ('l', 1 << 4),
        ('s', 1 << 5),
        ('h', 1 << 6),
        ('z', 1 << 7),
        ('x', 1 << 8),
        ('e', 1 << 9),
        ('t', 1 << 10),
        ('d', 1 << 13),
        ('n', 1 << 14),
    ];
    const ALL: u32 = (1 << 2)
        | (1 << 3)
        | (1 << 4)
        | (1 << 5)
        | (1 << 6)
        | (1 << 7)
        | (1 << 8)
        | (1 << 9)
        | (1 << 10)
        | (1 << 13);
    const K: u32 = 1;
    const E: u32 = 1 << 1;
    const M: u32 = 1 << 12;
    let mut flags = 0u32;
    for c in value.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => K,
            'E' => E,
            'm' => M,
            other => ORDER.iter().find(|(ch, _)| *ch == other)?.1,
        };
    }
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (ch, bit) in ORDER {
            if flags & bit != 0 {
                out.push(*ch);
            }
        }
    }
    for (ch, bit) in [('K', K), ('E', E), ('m', M)] {
        if flags & bit != 0 {
            out.push(ch);
        }
    }
    Some(out)
}

/// Output limits of one class from the normalised value: (hard, soft, soft_seconds).
pub(super) fn class_limits(value: &str, class: &str) -> (u64, u64, u64) {
    let w: Vec<&str> = value.split(' ').collect();
    for c in w.chunks(4) {
        if c.len() == 4 && c[0] == class {
            return (
                c[1].parse().unwrap_or(0),
                c[2].parse().unwrap_or(0),
                c[3].parse().unwrap_or(0),
            );
        }
    }
    (0, 0, 0)
}

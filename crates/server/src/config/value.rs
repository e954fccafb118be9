//! Validation and normalisation of one parameter's value, per kind, with Redis 7.0's rules
//! and error texts: what CONFIG SET and redis.conf accept, and the form CONFIG GET prints.

use super::{Kind, NumFormat, Param, MULTI_ARG};
use rubra_keyspace::value::parse_i64_strict;

/// What C code reads of a value it is given as a `char *` (strcasecmp, strtoll, strdup):
/// the text before the first NUL. Redis parses most parameter values so; a value that
/// went through `sdslen` (integers, percentages, percentiles, passwords) is read whole.
pub(crate) fn c_text(s: &str) -> &str {
    s.split('\0').next().unwrap_or(s)
}

/// `masterauth` and `requirepass` are sds strings in Redis and keep every byte; its other
/// free-form string parameters are C strings, copied up to a NUL.
fn is_sds(name: &str) -> bool {
    matches!(name, "masterauth" | "requirepass")
}

/// The bytes a free-form string parameter keeps of `value` (see `is_sds`).
pub(crate) fn string_bytes<'a>(name: &str, value: &'a [u8]) -> &'a [u8] {
    if is_sds(name) {
        value
    } else {
        crate::cmd::args::c_str(value)
    }
}

/// Redis's memtoull: digits then an optional unit (b, k, kb, m, mb, g, gb, any case);
/// no sign. An empty digit string counts as 0, as strtoull leaves it; digits past
/// 2^64 - 1 give 2^64 - 1 (strtoull's ERANGE is not checked), and the product wraps.
pub(crate) fn parse_memory(s: &str) -> Option<u64> {
    let s = c_text(s);
    if s.starts_with('-') {
        return None;
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1024 * 1024,
        "g" => 1_000_000_000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let n: u64 = if digits.is_empty() {
        0
    } else {
        digits.parse().unwrap_or(u64::MAX)
    };
    Some(n.wrapping_mul(mul))
}

/// Why `activedefrag yes` is refused: rubra has no active defragmentation, as a Redis
/// built without its own jemalloc (Debian's) has none, and says so with its words.
const NO_DEFRAG: &str = "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution";

/// The value CONFIG GET prints for `value` set on `param`, or Redis's error text.
pub(super) fn normalise(param: &Param, value: &str, current: &str) -> Result<String, String> {
    match param.kind {
        Kind::Bool(_) => match c_text(value).to_ascii_lowercase().as_str() {
            "yes" if param.name == "activedefrag" => Err(NO_DEFRAG.into()),
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Str { .. } => {
            let value = if is_sds(param.name) {
                value
            } else {
                c_text(value)
            };
            check_string(param.name, value)?;
            Ok(value.to_string())
        }
        Kind::Enum { options, .. } => {
            let multi = param.flags & MULTI_ARG != 0;
            let v = enum_value(options, value, multi).ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })?;
            if multi && v & 1 != 0 && v & 2 != 0 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            Ok(enum_name(options, v, multi))
        }
        Kind::Num {
            min,
            max,
            unsigned,
            format,
            ..
        } => {
            let n = parse_number(value, format)?;
            check_bounds(n, min, max, unsigned, format)?;
            Ok(format_number(applied(param.name, n), unsigned, format))
        }
        Kind::Special => super::special::normalise(param.name, value, current),
    }
}

/// What Redis's apply step makes of a number it accepted: hz is kept within 1..=500,
/// and the replication backlog is never smaller than 16 KiB.
fn applied(name: &str, n: i64) -> i64 {
    match name {
        "hz" => n.clamp(1, 500),
        "repl-backlog-size" => n.max(16 * 1024),
        _ => n,
    }
}

/// The default value as CONFIG GET prints it (`Special` ones are given by `special`).
pub(super) fn default_text(param: &Param) -> String {
    match param.kind {
        Kind::Bool(b) => if b { "yes" } else { "no" }.to_string(),
        Kind::Str { default, .. } => default.to_string(),
        Kind::Enum { options, default } => {
            enum_name(options, default, param.flags & MULTI_ARG != 0)
        }
        Kind::Num {
            default,
            unsigned,
            format,
            ..
        } => format_number(default as i64, unsigned, format),
        Kind::Special => super::special::default_text(param.name),
    }
}

/// Parses an enum value (case-insensitive); several space-separated names OR together for
/// multi-argument (bit flag) enums.
pub(super) fn enum_value(options: &[(&str, i32)], value: &str, multi: bool) -> Option<i32> {
    let words: Vec<&str> = if multi {
        value.split(' ').collect()
    } else {
        vec![value]
    };
    let mut v = 0;
    for w in words.into_iter().map(c_text) {
        let mut matched = false;
        for (name, bits) in options {
            if name.eq_ignore_ascii_case(w) {
                v |= bits;
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(v)
}

/// The name Redis prints for an enum value: the first exact match, or for bit flags the
/// names covering the bits, high to low as listed ("unknown" if none fit).
pub(super) fn enum_name(options: &[(&str, i32)], value: i32, multi: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for (name, bits) in options {
        if *bits == value {
            return name.to_string();
        }
        if multi && *bits != 0 && *bits == unmatched & bits {
            names.push(name);
            unmatched &= !bits;
        }
    }
    if names.is_empty() || unmatched != 0 {
        return "unknown".into();
    }
    names.join(" ")
}

/// Parses a numeric parameter: memory units, `N%` (stored negative), octal, or a plain
/// integer, depending on the parameter's format.
pub(super) fn parse_number(value: &str, format: NumFormat) -> Result<i64, String> {
    if matches!(format, NumFormat::Memory | NumFormat::MemoryOrPercent) {
        if let Some(n) = parse_memory(value) {
            return Ok(n as i64);
        }
    }
    if format == NumFormat::MemoryOrPercent && value.len() > 1 && value.ends_with('%') {
        if let Some(n) = parse_i64_strict(&value.as_bytes()[..value.len() - 1]) {
            if n >= 0 {
                return Ok(-n);
            }
        }
    }
    if format == NumFormat::Octal {
        if let Ok(n) = i64::from_str_radix(value, 8) {
            if !value.starts_with('+') && !value.is_empty() {
                return Ok(n);
            }
        }
    }
    if format == NumFormat::Plain {
        if let Some(n) = parse_i64_strict(value.as_bytes()) {
            return Ok(n);
        }
    }
    Err(match format {
        NumFormat::MemoryOrPercent => "argument must be a memory or percent value",
        NumFormat::Memory => "argument must be a memory value",
        NumFormat::Octal => "argument couldn't be parsed as an octal number",
        NumFormat::Plain => "argument couldn't be parsed into an integer",
    }
    .into())
}

fn check_bounds(
    n: i64,
    min: i128,
    max: i128,
    unsigned: bool,
    format: NumFormat,
) -> Result<(), String> {
    if unsigned {
        let u = n as u64 as i128;
        if u > max || u < min {
            return Err(if format == NumFormat::Octal {
                format!("argument must be between {min:o} and {max:o} inclusive")
            } else {
                format!("argument must be between {min} and {max} inclusive")
            });
        }
        return Ok(());
    }
    if format == NumFormat::MemoryOrPercent && n < 0 {
        if (n as i128) < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -min
            ));
        }
        return Ok(());
    }
    if (n as i128) > max || (n as i128) < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

/// How CONFIG GET prints a number.
pub(super) fn format_number(n: i64, unsigned: bool, format: NumFormat) -> String {
    match format {
        NumFormat::MemoryOrPercent if n < 0 => format!("{}%", -(n as i128)),
        NumFormat::Memory | NumFormat::MemoryOrPercent => (n as u64).to_string(),
        NumFormat::Octal => format!("{:o}", n),
        NumFormat::Plain if unsigned => (n as u64).to_string(),
        NumFormat::Plain => n.to_string(),
    }
}

/// The extra checks Redis makes on a few string parameters.
fn check_string(name: &str, value: &str) -> Result<(), String> {
    let is_path = value.contains('/');
    match name {
        "dbfilename" if is_path => Err("dbfilename can't be a path, just a filename".into()),
        "appendfilename" if value.is_empty() => Err("appendfilename can't be empty".into()),
        "appendfilename" if is_path => {
            Err("appendfilename can't be a path, just a filename".into())
        }
        "appenddirname" if value.is_empty() => Err("appenddirname can't be empty".into()),
        "appenddirname" if is_path => Err("appenddirname can't be a path, just a dirname".into()),
        "cluster-announce-hostname" => {
            if value.len() >= 256 {
                return Err("Hostnames must be less than 256 characters".into());
            }
            if value
                .bytes()
                .any(|c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.'))
            {
                return Err(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots".into(),
                );
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Why a process title template is refused.
pub(crate) const BAD_TITLE_TEMPLATE: &str =
    "template format is invalid or contains unknown variables";

/// Whether Redis takes `t` as a process title template: it expands it as its sdstemplate
/// does (`{{` is a `{`, a lone `}` is text, `{name}` must name a variable it knows) with
/// an empty title, and the result, spaces trimmed, must not be empty. `expands_empty`
/// says which variables give no text here (`title` always; `server-mode` outside a
/// cluster, `unixsocket` without a socket).
pub(crate) fn valid_title_template(t: &str, expands_empty: impl Fn(&str) -> bool) -> bool {
    const VARS: &[&str] = &[
        "title",
        "listen-addr",
        "server-mode",
        "port",
        "tls-port",
        "unixsocket",
        "config-file",
    ];
    let mut rest = t;
    let mut expanded = String::new();
    while let Some(open) = rest.find('{') {
        expanded.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if after.is_empty() {
            return false;
        }
        if let Some(quoted) = after.strip_prefix('{') {
            expanded.push('{');
            rest = quoted;
            continue;
        }
        let Some(close) = after.find('}') else {
            return false;
        };
        let var = &after[..close];
        if !VARS.contains(&var) {
            return false;
        }
        if !expands_empty(var) {
            expanded.push('x');
        }
        rest = &after[close + 1..];
    }
    expanded.push_str(rest);
    !expanded.trim_matches(' ').is_empty()
}

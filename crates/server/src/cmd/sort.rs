//! SORT and SORT_RO over lists, sets and sorted sets, as Redis 7.0's sort.c: numeric (strtod
//! rules) or ALPHA ordering, BY with `*` patterns and `->field` hash lookups (a pattern
//! without `*` means "don't sort"), GET with `#`, LIMIT, ASC/DESC and STORE into a list;
//! in cluster mode BY patterns and GET are refused with Redis's errors. Ties keep Redis's
//! order: a stable sort where Redis uses glibc's qsort (a merge sort), its pqsort where it
//! sorts a LIMIT window.

use super::args::{c_str, is};
use super::flags::*;
use super::pqsort::pqsort;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::value::parse_i64_strict;
use rubra_keyspace::{ListValue, Value};
use rubra_resp::Reply;
use std::cmp::Ordering;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("sort", -2, WRITE | DENYOOM, (1, 1, 1), "generic", sort).with_keys(sort_keys),
    Command::new("sort_ro", -2, READONLY, (1, 1, 1), "generic", sort_ro),
];

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]
fn sort(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
fn sort_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    generic(ctx, args, true)
}

/// Key positions of SORT: the source and the last STORE destination, skipping the
/// arguments of LIMIT, GET and BY as Redis's `sortGetKeys` does.
fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "limit") {
            i += 2;
        } else if is(a, "get") || is(a, "by") {
            i += 1;
        } else if is(a, "store") && i + 1 < args.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    std::iter::once(1).chain(store).collect()
}

/// Parses a sort weight as `strtod` does, with Redis's acceptance rule: the whole C string
/// must be consumed, no overflow or underflow, no NaN. Leading whitespace is skipped, an
/// empty string is 0, and `0x` hexadecimal integers are accepted.
fn strtod(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let text = std::str::from_utf8(&s[start..]).ok()?;
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let v = if let Some(hex) = lower.strip_prefix("0x") {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        hex.bytes().fold(0f64, |acc, b| {
            acc * 16.0 + (b as char).to_digit(16).unwrap_or(0) as f64
        })
    } else if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else {
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = body.parse().ok()?;
        if v.is_infinite() {
            return None; // ERANGE
        }
        let has_nonzero_digit = body
            .split(['e', 'E'])
            .next()
            .is_some_and(|m| m.bytes().any(|b| (b'1'..=b'9').contains(&b)));
        if (v == 0.0 && has_nonzero_digit) || (v != 0.0 && !v.is_normal()) {
            return None; // ERANGE (underflow)
        }
        v
    };
    Some(if neg { -v } else { v })
}

/// One element to sort with its weight.
struct Item {
    obj: Bytes,
    score: f64,
    cmp: Option<Bytes>,
}

/// Resolves a BY/GET pattern for an element: `#` is the element, `*` is replaced by it,
/// `->field` reads a hash field; missing keys, wrong types or a pattern without `*` give
/// None. Lookups count as reads, as in Redis.
fn lookup_pattern(ctx: &mut Ctx, pattern: &[u8], subst: &[u8]) -> Option<Bytes> {
    let pat = c_str(pattern);
    if pat == b"#" {
        return Some(Bytes::copy_from_slice(subst));
    }
    let star = pat.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&at| at + 2 < after.len())
        .map(|at| (&after[..at], &after[at + 2..]));
    let (postfix, field) = match field {
        Some((post, f)) => (post, Some(f)),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + subst.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(postfix);
    let entry = ctx.read(&key)?;
    match (&entry.value, field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(Bytes::copy_from_slice),
        (Value::Str(s), None) => Some(Bytes::copy_from_slice(s)),
        _ => None,
    }
}

/// The body of SORT and SORT_RO.
fn generic(ctx: &mut Ctx, args: &[Bytes], readonly: bool) -> CmdResult {
    let cluster = ctx.store.config.cluster_enabled;
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut sortby: Option<Bytes> = None;
    let mut store: Option<Bytes> = None;
    let mut gets: Vec<Bytes> = Vec::new();
    let mut j = 2;
    // Asked once, as Redis does before parsing: BY and GET patterns need every key.
    let full_access = crate::acl::full_key_read_access(ctx.store, ctx.client, args);
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if is(a, "asc") {
            desc = false;
        } else if is(a, "desc") {
            desc = true;
        } else if is(a, "alpha") {
            alpha = true;
        } else if is(a, "limit") && left >= 2 {
            limit_start = parse_i64_strict(&args[j + 1]).ok_or(err::NOT_INTEGER)?;
            limit_count = parse_i64_strict(&args[j + 2]).ok_or(err::NOT_INTEGER)?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            store = Some(args[j + 1].clone());
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let p = &args[j + 1];
            if !c_str(p).contains(&b'*') {
                dontsort = true;
            } else if cluster {
                return Err(Reply::err("ERR BY option of SORT denied in Cluster mode."));
            } else if !full_access {
                return Err(Reply::err(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            sortby = Some(p.clone());
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if cluster {
                return Err(Reply::err("ERR GET option of SORT denied in Cluster mode."));
            }
            if !full_access {
                return Err(Reply::err(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(err::SYNTAX);
        }
        j += 1;
    }

    // The elements, in the order Redis loads them.
    #[derive(PartialEq)]
    enum Src {
        List,
        Set,
        ZSet,
    }
    let (kind, elements): (Src, Vec<Bytes>) = match ctx.read(&args[1]) {
        None => (Src::List, Vec::new()),
        Some(e) => match &e.value {
            Value::List(l) => (Src::List, list_items(l)),
            Value::Set(s) => (Src::Set, s.iter().map(|m| m.to_bytes()).collect()),
            Value::ZSet(z) => (
                Src::ZSet,
                z.iter().map(|(m, _)| Bytes::copy_from_slice(m)).collect(),
            ),
            _ => return Err(err::WRONGTYPE),
        },
    };
    if kind == Src::ZSet {
        // Redis 7.0's SORT (and SORT_RO) converts a listpack sorted set to a skiplist in
        // place; OBJECT ENCODING shows it afterwards.
        let now = ctx.now_ms;
        if let Some(Value::ZSet(z)) = ctx.db().get_mut(&args[1], now).map(|e| &mut e.value) {
            z.convert_to_full();
        }
    }
    // While a script runs (it holds the store) every command is the script's.
    let from_script = ctx
        .store
        .scripts
        .busy
        .running
        .load(std::sync::atomic::Ordering::Relaxed);
    if dontsort && kind == Src::Set && (store.is_some() || from_script) {
        // A set has no order of its own: make the stored result, and what a script sees,
        // deterministic (Redis's sortCommandGeneric forces ALPHA for both).
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let len = elements.len() as i64;
    let mut start = limit_start.max(0).min(len);
    let count = limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }

    let item = |obj| Item {
        obj,
        score: 0.0,
        cmp: None,
    };
    let mut items: Vec<Item>;
    if dontsort && kind != Src::Set {
        // Native order (reversed for DESC), just the LIMIT window.
        let window: Vec<Bytes> = if end >= start {
            let take = (end - start + 1) as usize;
            if desc {
                elements
                    .iter()
                    .rev()
                    .skip(start as usize)
                    .take(take)
                    .cloned()
                    .collect()
            } else {
                elements
                    .iter()
                    .skip(start as usize)
                    .take(take)
                    .cloned()
                    .collect()
            }
        } else {
            Vec::new()
        };
        end -= start;
        start = 0;
        items = window.into_iter().map(item).collect();
    } else {
        items = elements.into_iter().map(item).collect();
    }

    let mut conversion_error = false;
    if !dontsort {
        for it in &mut items {
            let byval = match &sortby {
                Some(p) => match lookup_pattern(ctx, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match strtod(&byval) {
                    Some(v) => it.score = v,
                    None => conversion_error = true,
                }
            }
        }
        let by_pattern = sortby.is_some();
        let storing = store.is_some();
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.obj.cmp(&b.obj))
            } else if by_pattern {
                match (&a.cmp, &b.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
                }
            } else if storing {
                a.obj.cmp(&b.obj)
            } else {
                c_str(&a.obj).cmp(c_str(&b.obj))
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        let n = items.len() as i64;
        if by_pattern && (start != 0 || end != n - 1) && end >= start {
            pqsort(&mut items, start as usize, end as usize, &cmp);
        } else {
            items.sort_by(cmp);
        }
    }

    let window = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &items[0..0]
    };
    let per = gets.len().max(1);
    let outputlen = window.len() * per;
    if conversion_error {
        return Err(Reply::err(
            "ERR One or more scores can't be converted into double",
        ));
    }
    let mut out: Vec<Option<Bytes>> = Vec::with_capacity(outputlen);
    for it in window {
        if gets.is_empty() {
            out.push(Some(it.obj.clone()));
        }
        for g in &gets {
            out.push(lookup_pattern(ctx, g, &it.obj));
        }
    }
    match store {
        None => Ok(Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        )),
        Some(dest) => {
            let now = ctx.now_ms;
            ctx.touched_only(&dest);
            if outputlen > 0 {
                let list: ListValue = out.into_iter().map(Option::unwrap_or_default).collect();
                ctx.expire_before_overwrite(&dest);
                ctx.overwrite(&dest, rubra_keyspace::Entry::new(Value::List(list), now), 0);
                ctx.dirty(outputlen as u64);
            } else if ctx.db().remove(&dest).is_some() {
                ctx.dirty(1);
            }
            Ok(Reply::Int(outputlen as i64))
        }
    }
}

/// The elements of a list, head to tail.
fn list_items(l: &ListValue) -> Vec<Bytes> {
    l.iter().map(Bytes::copy_from_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_like_strtod() {
        assert_eq!(strtod(b"1.5"), Some(1.5));
        assert_eq!(strtod(b"  -2"), Some(-2.0));
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b"0x10"), Some(16.0));
        assert_eq!(strtod(b"inf"), Some(f64::INFINITY));
        assert_eq!(strtod(b"3\0junk"), Some(3.0));
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b"1e999"), None);
        assert_eq!(strtod(b"1e-999"), None);
        assert_eq!(strtod(b"5 "), None);
        assert_eq!(strtod(b" "), None);
        assert_eq!(strtod(b"abc"), None);
        assert_eq!(strtod(b"--5"), None);
    }

    #[test]
    fn store_key_is_found_after_skipped_arguments() {
        let a = |s: &str| {
            s.split(' ')
                .map(|w| Bytes::from(w.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(sort_keys(&a("SORT k")), vec![1]);
        assert_eq!(sort_keys(&a("SORT k STORE d")), vec![1, 3]);
        assert_eq!(
            sort_keys(&a("SORT k GET store STORE d LIMIT 0 1")),
            vec![1, 5]
        );
        assert_eq!(sort_keys(&a("SORT k STORE a STORE b")), vec![1, 5]);
    }
}

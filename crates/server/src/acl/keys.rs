//! Which arguments of a call the ACL checks as keys, and for which access, as Redis 7.0's
//! ACL check finds them (getKeysFromCommandWithSpecs): from the key specs of the command
//! or subcommand called (MEMORY USAGE, OBJECT, XINFO... have theirs), each key needing
//! what its spec's flags say (ACCESS: read; INSERT, DELETE, UPDATE: write; none of those:
//! only a pattern that matches it). When the specs cannot say — incomplete (SORT,
//! MIGRATE), argument-dependent (SET, BITFIELD) or not fitting the arguments (EVAL "" 3 a
//! with two keys) — the command's own key finder answers, as Redis falls back to its
//! getkeys procedure, and a command without one has no keys to check.

use super::command_docs::{key_specs_of, keys_by_specs};
use super::rules::{READ, WRITE};
use crate::cmd::Command;
use bytes::Bytes;

/// A key argument's position and the access it needs (READ | WRITE bits, 0: any pattern
/// that matches it).
pub(crate) type KeyNeed = (usize, u8);

/// The keys of `args` that the ACL checks; `full_name` is the catalogue entry called.
pub(crate) fn keys_to_check(cmd: &Command, full_name: &str, args: &[Bytes]) -> Vec<KeyNeed> {
    let specs = key_specs_of(full_name);
    let has_flag = |flag: &str| {
        specs
            .iter()
            .any(|s| s.flags.iter().any(|f| f.eq_ignore_ascii_case(flag)))
    };
    let has_keys = specs
        .iter()
        .any(|s| !s.flags.iter().any(|f| f.eq_ignore_ascii_case("not_key")));
    if has_keys && !has_flag("variable_flags") {
        if let Some(Ok(found)) = keys_by_specs(specs, args) {
            return found
                .into_iter()
                .map(|(pos, flags)| (pos, need_of(&flags)))
                .collect();
        }
    }
    key_finder(cmd, args)
}

/// The access a key spec's flags ask for.
fn need_of(flags: &[String]) -> u8 {
    let mut need = 0;
    for f in flags {
        if f.eq_ignore_ascii_case("access") {
            need |= READ;
        } else if ["insert", "delete", "update"]
            .iter()
            .any(|w| f.eq_ignore_ascii_case(w))
        {
            need |= WRITE;
        }
    }
    need
}

/// C's atoi: optional blanks and sign, then digits; 0 when there are none.
fn atoi(arg: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(arg);
    let t = text.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n = digits
        .parse::<i64>()
        .unwrap_or(if digits.is_empty() { 0 } else { i64::MAX });
    if neg {
        -n
    } else {
        n
    }
}

/// Redis's getkeys procedures, for the commands that have one: the numkeys commands
/// (keys with no flags, none at all when numkeys does not fit), and the ones whose keys
/// our command table finds, with the access Redis's procedure gives them.
fn key_finder(cmd: &Command, args: &[Bytes]) -> Vec<KeyNeed> {
    // (store key position, numkeys position, first key position) of genericGetKeys.
    let numkeys = match cmd.name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => Some((0, 2, 3)),
        "sintercard" | "zintercard" | "zunion" | "zinter" | "zdiff" | "lmpop" | "zmpop" => {
            Some((0, 1, 2))
        }
        "zunionstore" | "zinterstore" | "zdiffstore" => Some((1, 2, 3)),
        _ => None,
    };
    if let Some((store, count, first)) = numkeys {
        let Some(n) = args.get(count).map(|a| atoi(a)) else {
            return Vec::new();
        };
        if n < 1 || n > args.len() as i64 - first as i64 {
            return Vec::new();
        }
        let mut keys: Vec<KeyNeed> = (0..n as usize).map(|i| (first + i, 0)).collect();
        if store != 0 {
            keys.push((store, 0));
        }
        return keys;
    }
    let positions = || cmd.key_positions(args).into_iter();
    match cmd.name {
        "sort" | "sort_ro" => positions()
            .enumerate()
            .map(|(j, pos)| (pos, if j == 0 { READ } else { WRITE }))
            .collect(),
        "migrate" => positions().map(|pos| (pos, READ | WRITE)).collect(),
        "georadius" | "georadiusbymember" | "xread" | "xreadgroup" => {
            positions().map(|pos| (pos, 0)).collect()
        }
        "set" => {
            let need = if args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get")) {
                READ | WRITE
            } else {
                WRITE
            };
            positions().map(|pos| (pos, need)).collect()
        }
        "bitfield" => {
            let need = bitfield_access(args);
            positions().map(|pos| (pos, need)).collect()
        }
        _ => Vec::new(),
    }
}

/// BITFIELD reads only with nothing but GET and OVERFLOW (Redis's bitfieldGetKeys); SET,
/// INCRBY or a syntax error make it a write.
fn bitfield_access(args: &[Bytes]) -> u8 {
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"get") && left >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && left >= 1 {
            i += 2;
        } else {
            return READ | WRITE;
        }
    }
    READ
}

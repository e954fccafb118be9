//! COMMAND and its subcommands: the command table as Redis 7.0 describes it to clients.
//! What is reported about a command (flags, key specs, tips, categories, docs) comes from
//! the catalogue of Redis's own answers (acl/command_docs.rs); which commands are listed
//! comes from rubra's dispatch table, so only what rubra runs is reported.

use super::*;
use crate::acl::command_docs::{facts, keys_by_specs, Facts};

/// The fallback COMMAND INFO entry for a command the catalogue does not know.
fn own_info(cmd: &Command) -> Reply {
    let flag_names: Vec<Reply> = crate::cmd::flags::NAMES
        .iter()
        .filter(|(f, _)| cmd.has(*f))
        .map(|(_, n)| Reply::status(n))
        .collect();
    let acl: Vec<Reply> = cmd
        .acl_categories()
        .into_iter()
        .map(Reply::status)
        .collect();
    Reply::Array(vec![
        Reply::bulk(cmd.name.as_bytes()),
        Reply::Int(cmd.arity as i64),
        Reply::Set(flag_names),
        Reply::Int(cmd.first_key as i64),
        Reply::Int(cmd.last_key as i64),
        Reply::Int(cmd.step as i64),
        Reply::Set(acl),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

/// The COMMAND INFO entry of a rubra command.
pub(super) fn command_info(cmd: &Command) -> Reply {
    facts()
        .get(cmd.name)
        .map_or_else(|| own_info(cmd), |f| f.info.clone())
}

fn own_docs(cmd: &Command) -> Reply {
    Reply::Map(vec![
        (Reply::bulk(b"summary"), Reply::bulk(cmd.name.as_bytes())),
        (Reply::bulk(b"since"), Reply::bulk(b"1.0.0")),
        (Reply::bulk(b"group"), Reply::bulk(cmd.group.as_bytes())),
    ])
}

pub(super) fn sorted_commands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = crate::cmd::table().values().copied().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// A command or `container|sub` that rubra runs, with its catalogue entry if any.
fn find(name: &[u8]) -> Option<(&'static Command, Option<&'static Facts>)> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let top = lower.split('|').next().unwrap_or("");
    let cmd = crate::cmd::lookup(top.as_bytes())?;
    let f = facts().get(&lower);
    if lower.contains('|') && f.is_none() {
        return None;
    }
    Some((cmd, f))
}

/// Every full name COMMAND LIST reports: rubra's commands and their subcommands.
fn all_names() -> Vec<(String, Option<&'static Facts>)> {
    let mut out = Vec::new();
    for cmd in sorted_commands() {
        let f = facts().get(cmd.name);
        out.push((cmd.name.to_string(), f));
        if let Some(f) = f {
            for sub in &f.subcommands {
                out.push((sub.clone(), facts().get(sub)));
            }
        }
    }
    out
}

/// COMMAND | COUNT | INFO [name ...] | DOCS [name ...] | LIST [FILTERBY ...] |
/// GETKEYS cmd args... | GETKEYSANDFLAGS cmd args... | HELP
pub(super) fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        return Ok(Reply::Array(
            sorted_commands().into_iter().map(command_info).collect(),
        ));
    }
    let sub = &args[1];
    let n = args.len();
    if is(sub, "count") && n == 2 {
        return Ok(Reply::Int(crate::cmd::table().len() as i64));
    }
    if is(sub, "info") {
        if n == 2 {
            return Ok(Reply::Array(
                sorted_commands().into_iter().map(command_info).collect(),
            ));
        }
        return Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|name| match find(name) {
                    Some((_, Some(f))) => f.info.clone(),
                    Some((cmd, None)) => own_info(cmd),
                    None => Reply::Nil,
                })
                .collect(),
        ));
    }
    if is(sub, "docs") {
        let mut pairs = Vec::new();
        let entry =
            |cmd: &Command, f: Option<&Facts>| f.map_or_else(|| own_docs(cmd), |f| f.docs.clone());
        if n == 2 {
            for cmd in sorted_commands() {
                pairs.push((
                    Reply::bulk(cmd.name.as_bytes()),
                    entry(cmd, facts().get(cmd.name)),
                ));
            }
        } else {
            for name in &args[2..] {
                if let Some((cmd, f)) = find(name) {
                    let full = String::from_utf8_lossy(name).to_ascii_lowercase();
                    pairs.push((Reply::bulk(full.as_bytes()), entry(cmd, f)));
                }
            }
        }
        return Ok(Reply::Map(pairs));
    }
    if is(sub, "list") {
        return list(args);
    }
    if is(sub, "getkeys") || is(sub, "getkeysandflags") {
        if n < 3 {
            let which = if is(sub, "getkeys") {
                "command|getkeys"
            } else {
                "command|getkeysandflags"
            };
            return Err(err::wrong_args(which));
        }
        return getkeys(&args[2..], is(sub, "getkeysandflags"));
    }
    if is(sub, "help") && n == 2 {
        return Ok(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    Err(err::unknown_subcommand("command", sub))
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
fn list(args: &[Bytes]) -> CmdResult {
    let names = all_names();
    let keep: Vec<String> = match args.len() {
        2 => names.into_iter().map(|(n, _)| n).collect(),
        5 if is(&args[2], "filterby") => {
            let value = &args[4];
            if is(&args[3], "module") {
                Vec::new()
            } else if is(&args[3], "aclcat") {
                let cat = String::from_utf8_lossy(value).to_ascii_lowercase();
                names
                    .into_iter()
                    .filter(|(_, f)| f.is_some_and(|f| f.categories.contains(&cat)))
                    .map(|(n, _)| n)
                    .collect()
            } else if is(&args[3], "pattern") {
                names
                    .into_iter()
                    .filter(|(n, _)| rubra_keys::glob_match(value, n.as_bytes(), true))
                    .map(|(n, _)| n)
                    .collect()
            } else {
                return Err(Reply::err("ERR syntax error"));
            }
        }
        _ => return Err(Reply::err("ERR syntax error")),
    };
    Ok(Reply::Array(
        keep.into_iter()
            .map(|n| Reply::bulk(n.as_bytes()))
            .collect(),
    ))
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS over `cmd_args` (the command and its arguments), in
/// Redis's order of checks: unknown command, a command without keys, arity, then keys.
fn getkeys(cmd_args: &[Bytes], with_flags: bool) -> CmdResult {
    let Some(cmd) = crate::cmd::lookup(&cmd_args[0]) else {
        return Err(Reply::err("ERR Invalid command specified"));
    };
    // A container's subcommand has its own key specs and arity; one the container does
    // not have is no command at all (Redis's lookup finds nothing).
    let mut f = facts().get(cmd.name);
    if let (Some(top), Some(subname)) = (f, cmd_args.get(1)) {
        if !top.subcommands.is_empty() {
            let full = format!(
                "{}|{}",
                cmd.name,
                String::from_utf8_lossy(subname).to_ascii_lowercase()
            );
            f = Some(
                facts()
                    .get(&full)
                    .ok_or(Reply::err("ERR Invalid command specified"))?,
            );
        }
    }
    let info: &[Reply] = match f.map(|f| &f.info) {
        Some(Reply::Array(fields)) => fields,
        _ => &[],
    };
    let specs = f.map(|f| f.key_specs.as_slice()).unwrap_or(&[]);
    // Specs that only name channels (SPUBLISH, SSUBSCRIBE) are no keys.
    let has_keys = match f {
        Some(_) => specs
            .iter()
            .any(|s| !s.flags.iter().any(|f| f == "not_key")),
        None => cmd.first_key > 0 || cmd.keys_fn.is_some(),
    };
    if !has_keys {
        return Err(Reply::err("ERR The command has no key arguments"));
    }
    let arity = match info.get(1) {
        Some(Reply::Int(a)) => *a,
        _ => cmd.arity as i64,
    };
    let argc = cmd_args.len() as i64;
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(Reply::err(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let no_mandatory = match info.get(2) {
        Some(Reply::Set(flags)) => flags
            .iter()
            .any(|r| matches!(r, Reply::Status(s) if s.as_ref() == b"no_mandatory_keys")),
        _ => false,
    };
    let found = match keys_by_specs(specs, cmd_args) {
        Some(Ok(k)) => Some(k),
        Some(Err(())) => None,
        None => {
            let first = specs.first().map(|s| s.flags.clone()).unwrap_or_default();
            // SORT's key finder gives its STORE key the flags of a write (its last spec).
            let store = match (cmd.name, specs.last()) {
                ("sort", Some(s)) => s.flags.clone(),
                _ => first.clone(),
            };
            Some(
                cmd.key_positions(cmd_args)
                    .into_iter()
                    .map(|i| (i, if i == 1 { first.clone() } else { store.clone() }))
                    .collect(),
            )
        }
    };
    let mut keys = match found {
        Some(k) if !k.is_empty() => k,
        _ if no_mandatory => return Ok(Reply::Array(Vec::new())),
        _ => return Err(Reply::err("ERR Invalid arguments specified for command")),
    };
    for (_, flags) in keys.iter_mut() {
        if flags.iter().any(|f| f == "variable_flags") {
            *flags = variable_flags(cmd.name, cmd_args);
        }
    }
    Ok(Reply::Array(
        keys.into_iter()
            .map(|(i, flags)| {
                let key = Reply::Bulk(cmd_args[i].clone());
                if with_flags {
                    Reply::Array(vec![
                        key,
                        Reply::Set(
                            flags
                                .into_iter()
                                .map(|f| Reply::status_bytes(f.into_bytes()))
                                .collect(),
                        ),
                    ])
                } else {
                    key
                }
            })
            .collect(),
    ))
}

/// The key flags of the commands whose flags depend on their arguments (SET with or
/// without GET; BITFIELD with only GETs or with writes), as Redis's key finders give them.
fn variable_flags(name: &str, args: &[Bytes]) -> Vec<String> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect();
    match name {
        "set" => {
            if args.iter().skip(3).any(|a| is(a, "get")) {
                words(&["RW", "access", "update"])
            } else {
                words(&["OW", "update"])
            }
        }
        "bitfield" => {
            let mut readonly = true;
            let mut i = 2;
            while i < args.len() {
                let rem = args.len() - i - 1;
                let a = &args[i];
                if is(a, "get") && rem >= 2 {
                    i += 3;
                } else if (is(a, "set") || is(a, "incrby")) && rem >= 3 {
                    readonly = false;
                    break;
                } else if is(a, "overflow") && rem >= 1 {
                    i += 2;
                } else {
                    readonly = false;
                    break;
                }
            }
            if readonly {
                words(&["RO", "access"])
            } else {
                words(&["RW", "access", "update"])
            }
        }
        _ => Vec::new(),
    }
}

//! COMMAND and its subcommands: the command table as Redis 7.0 describes it to clients.

use super::*;

pub(super) fn command_info(cmd: &Command) -> Reply {
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

pub(super) fn sorted_commands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = crate::cmd::table().values().copied().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// COMMAND | COMMAND COUNT | INFO [name ...] | DOCS [name ...] | LIST | GETKEYS cmd args...
pub(super) fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        return Ok(Reply::Array(
            sorted_commands().into_iter().map(command_info).collect(),
        ));
    }
    let sub = &args[1];
    if is(sub, "count") && args.len() == 2 {
        return Ok(Reply::Int(crate::cmd::table().len() as i64));
    }
    if is(sub, "info") {
        if args.len() == 2 {
            return Ok(Reply::Array(
                sorted_commands().into_iter().map(command_info).collect(),
            ));
        }
        return Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|n| crate::cmd::lookup(n).map_or(Reply::NilArray, command_info))
                .collect(),
        ));
    }
    if is(sub, "list") {
        return Ok(Reply::Array(
            sorted_commands()
                .into_iter()
                .map(|c| Reply::bulk(c.name.as_bytes()))
                .collect(),
        ));
    }
    if is(sub, "docs") {
        let cmds: Vec<&'static Command> = if args.len() == 2 {
            sorted_commands()
        } else {
            args[2..]
                .iter()
                .filter_map(|n| crate::cmd::lookup(n))
                .collect()
        };
        return Ok(Reply::Map(
            cmds.into_iter()
                .map(|c| {
                    (
                        Reply::bulk(c.name.as_bytes()),
                        Reply::Map(vec![
                            (
                                Reply::bulk(b"summary"),
                                Reply::bulk(c.name.to_ascii_uppercase().as_bytes()),
                            ),
                            (Reply::bulk(b"since"), Reply::bulk(b"1.0.0")),
                            (Reply::bulk(b"group"), Reply::bulk(c.group.as_bytes())),
                        ]),
                    )
                })
                .collect(),
        ));
    }
    if is(sub, "getkeys") {
        if args.len() < 3 {
            return Err(err::wrong_args("command|getkeys"));
        }
        let Some(cmd) = crate::cmd::lookup(&args[2]) else {
            return Err(Reply::err("ERR Invalid command specified"));
        };
        let cmd_args = &args[2..];
        if !cmd.arity_ok(cmd_args.len()) {
            return Err(Reply::err(
                "ERR Invalid number of arguments specified for command",
            ));
        }
        let keys = cmd.key_positions(cmd_args);
        if keys.is_empty() {
            return Err(Reply::err("ERR The command has no key arguments"));
        }
        return Ok(Reply::Array(
            keys.into_iter()
                .map(|i| Reply::Bulk(cmd_args[i].clone()))
                .collect(),
        ));
    }
    if is(sub, "help") {
        return Ok(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "COUNT",
            "DOCS [<command-name> ...]",
            "GETKEYS <full-command>",
            "INFO [<command-name> ...]",
            "LIST",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("command", sub))
}

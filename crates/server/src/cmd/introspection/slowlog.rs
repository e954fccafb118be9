//! SLOWLOG GET|LEN|RESET|HELP over the log the dispatcher keeps (exec/slowlog.rs).

use super::*;

/// Redis's addReplySubcommandSyntaxError: a known subcommand with arguments it does not
/// take.
pub(super) fn subcommand_syntax(args: &[Bytes]) -> Reply {
    let sub: String = String::from_utf8_lossy(&args[1])
        .chars()
        .take(128)
        .collect();
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {} HELP.",
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    ))
}

/// The answer to a subcommand no branch took: Redis rejects an unknown one before the
/// command runs ("unknown subcommand") and a known one with the wrong arguments in the
/// command ("unknown subcommand or wrong number of arguments").
pub(super) fn bad_subcommand(container: &str, args: &[Bytes]) -> Reply {
    if crate::exec::stats::is_known_subcommand(container, &args[1]) {
        subcommand_syntax(args)
    } else {
        err::unknown_subcommand(container, &args[1])
    }
}

/// Redis's addReplyHelp: the title line, the given lines, then HELP's own entry.
pub(super) fn help_reply(name: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::status_bytes(
        format!("{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into_bytes(),
    )];
    out.extend(
        lines
            .iter()
            .map(|l| Reply::status_bytes(l.as_bytes().to_vec())),
    );
    out.push(Reply::status("HELP"));
    out.push(Reply::status("    Prints this help."));
    Reply::Array(out)
}

/// SLOWLOG GET [count] | LEN | RESET | HELP
pub(super) fn slowlog(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if args.len() == 2 && is(sub, "help") {
        return Ok(help_reply(
            "SLOWLOG",
            &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
        ));
    }
    if args.len() == 2 && is(sub, "reset") {
        ctx.store.slowlog.reset();
        return Ok(Reply::OK);
    }
    if args.len() == 2 && is(sub, "len") {
        return Ok(Reply::Int(ctx.store.slowlog.entries.len() as i64));
    }
    if (args.len() == 2 || args.len() == 3) && is(sub, "get") {
        let mut count = 10usize;
        if let Some(a) = args.get(2) {
            let bad = || Reply::err("ERR count should be greater than or equal to -1");
            let n = int(a).map_err(|_| bad())?;
            if n < -1 {
                return Err(bad());
            }
            count = if n == -1 { usize::MAX } else { n as usize };
        }
        let entries = ctx
            .store
            .slowlog
            .entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time as i64),
                    Reply::Int(e.duration as i64),
                    Reply::Array(e.args.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk_string(e.peer.clone()),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect();
        return Ok(Reply::Array(entries));
    }
    Err(bad_subcommand("slowlog", args))
}

//! CONFIG GET|SET|RESETSTAT|REWRITE over the one parameter table in crate::config.

use super::*;

/// CONFIG GET|SET|RESETSTAT|REWRITE|HELP
pub(super) fn config(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "get") {
        if args.len() < 3 {
            return Err(err::wrong_args("config|get"));
        }
        let mut pairs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for pattern in &args[2..] {
            for (name, value) in ctx.store.config.matching(pattern) {
                if seen.insert(name) {
                    pairs.push((Reply::bulk(name.as_bytes()), Reply::bulk_string(value)));
                }
            }
        }
        return Ok(Reply::Map(pairs));
    }
    if is(sub, "set") {
        if args.len() < 4 || !args.len().is_multiple_of(2) {
            return Err(err::wrong_args("config|set"));
        }
        // All or nothing: apply to a copy, then swap in.
        let mut updated = ctx.store.config.clone();
        for pair in args[2..].chunks(2) {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = String::from_utf8_lossy(&pair[1]).into_owned();
            if let Err(e) = updated.set(&name, &value, false) {
                if e.starts_with("Bad directive") {
                    return Err(Reply::error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    )));
                }
                return Err(Reply::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                )));
            }
        }
        ctx.store.config = updated;
        ctx.store.apply_config();
        return Ok(Reply::OK);
    }
    if is(sub, "resetstat") && args.len() == 2 {
        crate::exec::observe::reset_stats(ctx.store);
        return Ok(Reply::OK);
    }
    if is(sub, "rewrite") && args.len() == 2 {
        return Err(Reply::err(
            "ERR The server is running without a config file",
        ));
    }
    if is(sub, "help") {
        return Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "SET <directive> <value>",
            "RESETSTAT",
            "REWRITE",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("config", sub))
}

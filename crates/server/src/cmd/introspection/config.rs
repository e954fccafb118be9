//! CONFIG GET|SET|RESETSTAT|REWRITE|HELP over the one parameter table in crate::config,
//! with Redis 7.0's checks in its order: unknown names, immutable/protected parameters and
//! duplicates are refused before any value is looked at; then all values are set or none.

use super::*;
use crate::config::{lookup, refusal, rewrite_file, Param};

/// CONFIG GET|SET|RESETSTAT|REWRITE|HELP
pub(super) fn config(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "get") {
        if args.len() < 3 {
            return Err(err::wrong_args("config|get"));
        }
        return Ok(get(ctx, &args[2..]));
    }
    if is(sub, "set") {
        if args.len() < 4 {
            return Err(err::wrong_args("config|set"));
        }
        if !args.len().is_multiple_of(2) {
            return Err(Reply::err("ERR syntax error"));
        }
        return set(ctx, &args[2..]);
    }
    if is(sub, "resetstat") && args.len() == 2 {
        crate::exec::observe::reset_stats(ctx.store);
        return Ok(Reply::OK);
    }
    if is(sub, "rewrite") && args.len() == 2 {
        let users = ctx.store.acl.user_lines();
        return match rewrite_file(&ctx.store.config, &users) {
            Ok(()) => Ok(Reply::OK),
            Err(e) if ctx.store.config.file.is_none() => Err(Reply::error(format!("ERR {e}"))),
            Err(e) => Err(Reply::error(format!("ERR Rewriting config file: {e}"))),
        };
    }
    if is(sub, "help") && args.len() == 2 {
        return Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
            "HELP",
            "    Prints this help.",
        ]));
    }
    Err(err::unknown_subcommand("config", sub))
}

/// CONFIG GET pattern [pattern ...]: each parameter once, as a map.
fn get(ctx: &Ctx, patterns: &[Bytes]) -> Reply {
    let mut pairs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pattern in patterns {
        for (name, mut value) in ctx.store.config.matching(pattern) {
            // REPLICAOF at run time changes our primary; the parameter shows the current one.
            if name.eq_ignore_ascii_case("replicaof") || name.eq_ignore_ascii_case("slaveof") {
                value = ctx
                    .store
                    .replication
                    .primary
                    .as_ref()
                    .map_or_else(String::new, |p| format!("{} {}", p.host, p.port));
            }
            if seen.insert(name.to_ascii_lowercase()) {
                // A value set as bytes that are not UTF-8 goes back as those bytes.
                let value = match ctx.store.config.raw_value(&name) {
                    Some(raw) => Reply::bulk(raw),
                    None => Reply::bulk_string(value),
                };
                pairs.push((Reply::bulk(name.as_bytes()), value));
            }
        }
    }
    Reply::Map(pairs)
}

/// CONFIG SET name value [name value ...]: all or nothing.
fn set(ctx: &mut Ctx, pairs: &[Bytes]) -> CmdResult {
    let protected_ok = match ctx.store.config.get_value("enable-protected-configs") {
        "yes" => true,
        "local" => ctx
            .store
            .clients
            .map
            .get(&ctx.client.id)
            .is_none_or(|h| crate::exec::protected::is_local_addr(&h.info.addr)),
        _ => false,
    };
    let mut unknown: Option<&[u8]> = None;
    let mut refused: Option<(String, &'static str)> = None;
    let mut chosen: Vec<(&'static Param, String, &[u8])> = Vec::new();
    for pair in pairs.chunks(2) {
        let given = String::from_utf8_lossy(&pair[0]).into_owned();
        let Some(param) = lookup(&given) else {
            if refused.is_none() {
                unknown.get_or_insert(&pair[0]);
            }
            continue;
        };
        if unknown.is_some() || refused.is_some() {
            continue;
        }
        if let Some(why) = refusal(param, protected_ok) {
            refused = Some((given, why));
            continue;
        }
        // Redis names the parameter as it knows it: the alias if that was used.
        let shown = if param.name.eq_ignore_ascii_case(&given) {
            param.name
        } else {
            param.alias.unwrap_or(param.name)
        };
        // Redis keeps an alias as a parameter of its own: a name given twice is a
        // duplicate, a parameter set under both its names is set twice (the last wins).
        if chosen
            .iter()
            .any(|(p, name, _)| std::ptr::eq(*p, param) && name == shown)
        {
            refused = Some((given, "duplicate parameter"));
            continue;
        }
        chosen.push((param, shown.to_string(), &pair[1]));
    }
    if let Some(name) = unknown {
        return Err(crate::cmd::err::echo(&[
            b"ERR Unknown option or number of arguments for CONFIG SET - '",
            name,
            b"'",
        ]));
    }
    if let Some((name, why)) = refused {
        return Err(failed(&name, why));
    }
    let mut updated = ctx.store.config.clone();
    for (i, (param, shown, value)) in chosen.iter().enumerate() {
        if let Err(e) = updated.set_param_bytes(param, value) {
            restore_from_shown_values(ctx, chosen[..=i].iter().map(|(p, _, _)| *p));
            return Err(failed(shown, &e));
        }
    }
    // Apply step: what rubra cannot change while running fails as Redis's apply does
    // when it cannot (listening sockets are bound once, at start-up).
    for (param, shown, _) in &chosen {
        let (old, new) = (
            ctx.store.config.get_value(param.name),
            updated.get_value(param.name),
        );
        if old != new && (param.name == "port" || param.name == "tls-port") {
            return Err(failed(
                shown,
                "Unable to listen on this port. Check server logs.",
            ));
        }
        if old != new && param.name == "bind" {
            return Err(failed(shown, "Failed to bind to specified addresses."));
        }
        if old != new && param.name == "maxclients" {
            let asked = updated.maxclients.min(u32::MAX as usize) as u32;
            let fits = crate::config::open_files::fit(asked);
            if fits != i64::from(asked) {
                return Err(failed(
                    shown,
                    &format!("The operating system is not able to handle the specified number of clients, try with {fits}"),
                ));
            }
        }
    }
    // Redis's applyTlsCfg: a changed tls-* parameter rebuilds the TLS context for new
    // connections, or the whole CONFIG SET fails.
    if let Err(e) = crate::tls::reload_if_changed(&ctx.store.tls, &ctx.store.config, &updated) {
        tracing::warn!(error = %e, "CONFIG SET: TLS configuration refused");
        return Err(failed(
            chosen.first().map_or("tls", |(_, shown, _)| shown.as_str()),
            &format!("Unable to update TLS configuration: {e}"),
        ));
    }
    let aof_was = ctx.store.config.get_value("appendonly") == "yes";
    ctx.store.config = updated;
    ctx.store.apply_config();
    crate::cluster::driver::sync_config(ctx.store);
    let aof_now = ctx.store.config.get_value("appendonly") == "yes";
    // Redis's aof-disable-auto-gc apply hook: history kept while it was on goes now.
    crate::persist::aof_files::delete_history(ctx.store);
    if aof_was != aof_now {
        if let Err(e) = switch_aof(ctx, aof_now) {
            tracing::warn!(error = %e, "CONFIG SET appendonly failed");
            ctx.store
                .config
                .set("appendonly", if aof_was { "yes" } else { "no" }, true)
                .ok();
            return Err(failed(
                "appendonly",
                "Unable to turn on AOF. Check server logs.",
            ));
        }
    }
    Ok(Reply::OK)
}

/// CONFIG SET appendonly: turning it on collects writes in a temporary incr file until a
/// background rewrite of the current data makes the new base (as Redis does); turning it
/// off closes the incr file.
fn switch_aof(ctx: &mut Ctx, on: bool) -> Result<(), String> {
    if !on {
        ctx.store.flush_feed();
        if let Some(mut aof) = ctx.store.aof.take() {
            aof.fsync_now().ok();
        }
        ctx.store.feed.aof_on = false;
        // Redis kills a rewrite in flight and forgets a scheduled one (stopAppendOnly).
        crate::persist::aof_files::abandon_background_rewrite(ctx.store);
        ctx.store.saving.aof_rewrite_scheduled = false;
        return Ok(());
    }
    if ctx.store.aof.is_some() {
        return Ok(());
    }
    // A rewrite in flight does not collect the new incr file: Redis kills it and starts
    // another.
    crate::persist::aof_files::abandon_background_rewrite(ctx.store);
    crate::persist::aof_files::enable(ctx.store)?;
    if ctx.store.saving.bgsave_in_progress {
        tracing::warn!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        ctx.store.saving.aof_rewrite_scheduled = true;
        return Ok(());
    }
    if ctx.client.in_exec {
        tracing::warn!("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        ctx.store.saving.aof_rewrite_scheduled = true;
        return Ok(());
    }
    if let Err(e) = crate::persist::aof_files::start_background_rewrite(ctx.store) {
        // Redis goes back to AOF_OFF.
        ctx.store.aof = None;
        ctx.store.feed.aof_on = false;
        return Err(e);
    }
    Ok(())
}

/// What Redis's failed CONFIG SET leaves behind: it sets the parameters it had tried back
/// from their CONFIG GET text, and notify-keyspace-events' text drops `n` next to `A`
/// ("KEA" plus "n" reads back as "AKE"), so a failed CONFIG SET naming it loses new-key
/// events. Other parameters read back as they were.
fn restore_from_shown_values<'a>(ctx: &mut Ctx, tried: impl Iterator<Item = &'a Param>) {
    for param in tried {
        if param.name == "notify-keyspace-events" {
            let shown = ctx.store.config.get_value(param.name).to_string();
            ctx.store.config.notify_flags = crate::exec::notify::parse_flags(&shown);
            ctx.store.notify_flags = ctx.store.config.notify_flags;
        }
    }
}

fn failed(name: &str, why: &str) -> Reply {
    Reply::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

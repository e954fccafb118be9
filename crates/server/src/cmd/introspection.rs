//! Server and introspection commands: INFO, CONFIG, CLIENT, COMMAND, TIME, LASTSAVE, DEBUG,
//! MEMORY USAGE, SHUTDOWN.

use super::args::{float, int, is};
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use crate::alloc::{cpu_times, rss_bytes, used_memory};
use bytes::Bytes;
use rubra_resp::{Reply, VerbatimFormat};
use std::fmt::Write;

pub static COMMANDS: &[Command] = &[
    Command::new("info", -1, LOADING | STALE, (0, 0, 0), "server", info),
    Command::new(
        "config",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "server",
        config,
    ),
    Command::new(
        "client",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "connection",
        client,
    ),
    Command::new("command", -1, LOADING | STALE, (0, 0, 0), "server", command),
    Command::new("time", 1, LOADING | STALE | FAST, (0, 0, 0), "server", time),
    Command::new(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        (0, 0, 0),
        "server",
        lastsave,
    ),
    Command::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        "server",
        debug,
    ),
    Command::new("memory", -2, READONLY, (0, 0, 0), "server", memory),
    Command::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI,
        (0, 0, 0),
        "server",
        shutdown,
    ),
];

/// Sets the client's name (CLIENT SETNAME, HELLO SETNAME): no spaces or newlines allowed.
pub fn set_client_name(ctx: &mut Ctx, name: Bytes) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Some(h) = ctx.store.clients.map.get_mut(&ctx.client.id) {
        h.info.name = if name.is_empty() { None } else { Some(name) };
    }
    Ok(Reply::OK)
}

fn human(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{}B", bytes)
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    }
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
];

/// INFO [section ...] — Redis's sections and field names, so monitoring tools and the
/// operator's autoscaler read it unchanged.
fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "default" || w == "all" || w == "everything")
    {
        wanted = DEFAULT_SECTIONS.iter().map(|s| s.to_string()).collect();
    }
    let mut out = String::new();
    for section in DEFAULT_SECTIONS {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        info_section(ctx, section, &mut out);
    }
    Ok(Reply::Verbatim(VerbatimFormat::Txt, out))
}

fn info_section(ctx: &mut Ctx, section: &str, out: &mut String) {
    let title = match section {
        "cpu" => "CPU".to_string(),
        other => other[..1].to_ascii_uppercase() + &other[1..],
    };
    let _ = write!(out, "# {title}\r\n");
    let s = &*ctx.store;
    let now = ctx.now_ms;
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match section {
        "server" => {
            let uptime = now.saturating_sub(s.started_ms) / 1000;
            line("redis_version", &"7.0.15");
            line("redis_git_sha1", &"00000000");
            line("redis_git_dirty", &0);
            line("redis_build_id", &"0");
            line(
                "redis_mode",
                &if s.config.cluster_enabled {
                    "cluster"
                } else {
                    "standalone"
                },
            );
            line("os", &std::env::consts::OS);
            line("arch_bits", &64);
            line("multiplexing_api", &"epoll");
            line("process_id", &std::process::id());
            line("run_id", &s.run_id);
            line("tcp_port", &s.config.port);
            line("server_time_usec", &(now * 1000));
            line("uptime_in_seconds", &uptime);
            line("uptime_in_days", &(uptime / 86400));
            line("hz", &s.config.hz);
            line("configured_hz", &s.config.hz);
            line("lru_clock", &((now / 1000) & 0xFF_FFFF));
            line(
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            line("rubra_version", &env!("CARGO_PKG_VERSION"));
        }
        "clients" => {
            line("connected_clients", &s.clients.len());
            line("cluster_connections", &0);
            line("maxclients", &s.config.maxclients);
            line("blocked_clients", &s.blocking.len());
            line("tracking_clients", &0);
            line("clients_in_timeout_table", &s.blocking.len());
        }
        "memory" => {
            let used = used_memory();
            let rss = rss_bytes();
            let peak = s.stats.used_memory_peak.max(used);
            line("used_memory", &used);
            line("used_memory_human", &human(used));
            line("used_memory_rss", &rss);
            line("used_memory_rss_human", &human(rss));
            line("used_memory_peak", &peak);
            line("used_memory_peak_human", &human(peak));
            line("maxmemory", &s.config.maxmemory);
            line("maxmemory_human", &human(s.config.maxmemory as usize));
            line("maxmemory_policy", &s.config.get_value("maxmemory-policy"));
            line(
                "mem_fragmentation_ratio",
                &format!(
                    "{:.2}",
                    if used > 0 {
                        rss as f64 / used as f64
                    } else {
                        0.0
                    }
                ),
            );
            line("mem_allocator", &"libc");
        }
        "persistence" => {
            line("loading", &0);
            line("rdb_changes_since_last_save", &s.dirty);
            line(
                "rdb_bgsave_in_progress",
                &(s.saving.bgsave_in_progress as u8),
            );
            line("rdb_last_save_time", &s.lastsave);
            line(
                "rdb_last_bgsave_status",
                &if s.saving.last_bgsave_ok { "ok" } else { "err" },
            );
            line("rdb_last_bgsave_time_sec", &s.saving.last_bgsave_secs);
            line(
                "aof_enabled",
                &((s.config.get_value("appendonly") == "yes") as u8),
            );
            line(
                "aof_rewrite_in_progress",
                &(s.aof_rewrite_in_progress as u8),
            );
            line("aof_current_size", &s.aof.as_ref().map_or(0, |a| a.size));
        }
        "stats" => {
            let st = &s.stats;
            line("total_connections_received", &st.total_connections);
            line("total_commands_processed", &st.total_commands);
            line("instantaneous_ops_per_sec", &st.instantaneous_ops());
            line(
                "total_net_input_bytes",
                &crate::conn::NET_INPUT_BYTES.load(std::sync::atomic::Ordering::Relaxed),
            );
            line(
                "total_net_output_bytes",
                &crate::conn::NET_OUTPUT_BYTES.load(std::sync::atomic::Ordering::Relaxed),
            );
            line("rejected_connections", &st.rejected_connections);
            line("expired_keys", &st.expired_keys);
            line("evicted_keys", &st.evicted_keys);
            line("keyspace_hits", &st.keyspace_hits);
            line("keyspace_misses", &st.keyspace_misses);
            line(
                "pubsub_channels",
                &s.pubsub.channels(crate::pubsub::Kind::Channel, None).len(),
            );
            line("pubsub_patterns", &s.pubsub.numpat());
            line("total_published_messages", &st.pubsub_messages);
            line("sync_full", &s.replication.sync_full);
            line("sync_partial_ok", &s.replication.sync_partial_ok);
            line("sync_partial_err", &s.replication.sync_partial_err);
            line(
                "client_query_buffer_limit_disconnections",
                &st.client_query_limit_disconnections,
            );
            line(
                "client_output_buffer_limit_disconnections",
                &st.client_output_limit_disconnections,
            );
        }
        "replication" => {
            let r = &s.replication;
            match &r.primary {
                Some(p) => {
                    line("role", &"slave");
                    line("master_host", &p.host);
                    line("master_port", &p.port);
                    let up = p.state == crate::replication::LinkState::Connected;
                    line("master_link_status", &if up { "up" } else { "down" });
                    line(
                        "master_last_io_seconds_ago",
                        &(now.saturating_sub(p.last_io_ms) / 1000),
                    );
                    line(
                        "master_sync_in_progress",
                        &((p.state == crate::replication::LinkState::Sync) as u8),
                    );
                    line("slave_read_repl_offset", &s.feed.offset);
                    line("slave_repl_offset", &s.feed.offset);
                    line("slave_priority", &100);
                    line(
                        "slave_read_only",
                        &((s.config.get_value("replica-read-only") == "yes") as u8),
                    );
                    line("replica_announced", &1);
                }
                None => line("role", &"master"),
            }
            line("connected_slaves", &r.replicas.len());
            for (i, rep) in r.replicas.values().enumerate() {
                let state = match rep.state {
                    crate::replication::SyncState::Online => "online",
                    crate::replication::SyncState::WaitSnapshot => "wait_bgsave",
                };
                line(
                    &format!("slave{i}"),
                    &format!(
                        "ip={},port={},state={},offset={},lag={}",
                        rep.ip,
                        rep.listening_port,
                        state,
                        rep.ack_offset,
                        now.saturating_sub(rep.ack_ms) / 1000
                    ),
                );
            }
            line("master_failover_state", &"no-failover");
            line("master_replid", &s.feed.replid);
            line("master_replid2", &s.feed.replid2);
            line("master_repl_offset", &s.feed.offset);
            line("second_repl_offset", &s.feed.second_offset);
            line("repl_backlog_active", &(s.feed.active as u8));
            line(
                "repl_backlog_size",
                &s.config.get_value("repl-backlog-size"),
            );
            line("repl_backlog_first_byte_offset", &s.feed.backlog_start());
            line("repl_backlog_histlen", &s.feed.backlog_len());
        }
        "cpu" => {
            let (user, sys) = cpu_times();
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
            line("used_cpu_sys_children", &"0.000000");
            line("used_cpu_user_children", &"0.000000");
        }
        "cluster" => {
            line("cluster_enabled", &(s.config.cluster_enabled as u8));
        }
        "keyspace" => {
            for (i, db) in s.dbs.iter().enumerate() {
                if !db.is_empty() {
                    line(
                        &format!("db{i}"),
                        &format!("keys={},expires={},avg_ttl=0", db.len(), db.expires_count()),
                    );
                }
            }
        }
        _ => {}
    }
}

/// CONFIG GET|SET|RESETSTAT|REWRITE|HELP
fn config(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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
        return Ok(Reply::OK);
    }
    if is(sub, "resetstat") && args.len() == 2 {
        ctx.store.stats = crate::store::Stats::default();
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

fn help(lines: &[&'static str]) -> Reply {
    Reply::Array(lines.iter().map(|l| Reply::status(l)).collect())
}

fn client_line(
    h: &crate::client::ClientHandle,
    now: u64,
    subs: (usize, usize, usize),
    blocked: bool,
) -> String {
    let i = &h.info;
    let mut flags = String::new();
    if subs.0 + subs.1 + subs.2 > 0 {
        flags.push('P');
    }
    if blocked {
        flags.push('b');
    }
    if i.multi.is_some() {
        flags.push('x');
    }
    if i.no_evict {
        flags.push('e');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        i.id,
        i.addr,
        i.laddr,
        i.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        now.saturating_sub(i.created_ms) / 1000,
        now.saturating_sub(i.last_active_ms) / 1000,
        flags,
        i.db,
        subs.0,
        subs.1,
        subs.2,
        i.multi.map_or(-1, |n| n as i64),
        i.qbuf,
        h.pending_out.load(std::sync::atomic::Ordering::Relaxed),
        if i.last_cmd.is_empty() { "NULL" } else { &i.last_cmd },
        i.resp,
        i.lib_name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
        i.lib_ver.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default(),
    )
}

fn subs_of(ctx: &Ctx, id: u64) -> (usize, usize, usize) {
    use crate::pubsub::Kind;
    let p = &ctx.store.pubsub;
    (
        p.count_of(id, &[Kind::Channel]),
        p.count_of(id, &[Kind::Pattern]),
        p.count_of(id, &[Kind::Shard]),
    )
}

/// CLIENT LIST|INFO|ID|SETNAME|GETNAME|KILL|NO-EVICT|SETINFO|HELP
fn client(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let now = ctx.now_ms;
    let me = ctx.client.id;
    // The caller's own entry reflects this batch, not the last one.
    if let Some(h) = ctx.store.clients.map.get_mut(&me) {
        h.info.db = ctx.client.db;
        h.info.last_cmd = format!(
            "client|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        );
        h.info.multi = ctx.client.multi.as_ref().map(|q| q.len());
        h.info.resp = if ctx.client.resp3 { 3 } else { 2 };
    }
    if is(sub, "id") && args.len() == 2 {
        return Ok(Reply::Int(me as i64));
    }
    if is(sub, "list") {
        let mut ids: Option<Vec<u64>> = None;
        let mut i = 2;
        while i < args.len() {
            if is(&args[i], "id") && i + 1 < args.len() {
                let mut list = Vec::new();
                for a in &args[i + 1..] {
                    let n = int(a).map_err(|_| Reply::err("ERR Invalid client ID"))?;
                    list.push(n as u64);
                }
                ids = Some(list);
                break;
            } else if is(&args[i], "type") && i + 1 < args.len() {
                let t = &args[i + 1];
                if !(is(t, "normal")
                    || is(t, "pubsub")
                    || is(t, "master")
                    || is(t, "replica")
                    || is(t, "slave"))
                {
                    return Err(Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(t)
                    )));
                }
                if !is(t, "normal") && !is(t, "pubsub") {
                    ids = Some(Vec::new());
                }
                i += 2;
            } else {
                return Err(err::SYNTAX);
            }
        }
        let mut text = String::new();
        for (id, h) in &ctx.store.clients.map {
            if ids.as_ref().is_some_and(|l| !l.contains(id)) {
                continue;
            }
            text.push_str(&client_line(
                h,
                now,
                subs_of(ctx, *id),
                ctx.store.blocking.waiter(*id).is_some(),
            ));
            text.push('\n');
        }
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, text));
    }
    if is(sub, "info") && args.len() == 2 {
        let subs = subs_of(ctx, me);
        let line = ctx
            .store
            .clients
            .map
            .get(&me)
            .map(|h| client_line(h, now, subs, false))
            .unwrap_or_default();
        return Ok(Reply::Verbatim(VerbatimFormat::Txt, line + "\n"));
    }
    if is(sub, "setname") && args.len() == 3 {
        return set_client_name(ctx, args[2].clone());
    }
    if is(sub, "getname") && args.len() == 2 {
        return Ok(ctx
            .store
            .clients
            .map
            .get(&me)
            .and_then(|h| h.info.name.clone())
            .map_or(Reply::Nil, Reply::Bulk));
    }
    if is(sub, "no-evict") && args.len() == 3 {
        let on = if is(&args[2], "on") {
            true
        } else if is(&args[2], "off") {
            false
        } else {
            return Err(err::SYNTAX);
        };
        if let Some(h) = ctx.store.clients.map.get_mut(&me) {
            h.info.no_evict = on;
        }
        return Ok(Reply::OK);
    }
    if is(sub, "setinfo") && args.len() == 4 {
        let value = args[3].clone();
        if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
            return Err(Reply::err(
                "ERR lib-name or lib-ver cannot contain spaces, newlines or special characters.",
            ));
        }
        let h = ctx.store.clients.map.get_mut(&me);
        if is(&args[2], "lib-name") {
            if let Some(h) = h {
                h.info.lib_name = Some(value);
            }
        } else if is(&args[2], "lib-ver") {
            if let Some(h) = h {
                h.info.lib_ver = Some(value);
            }
        } else {
            return Err(Reply::error(format!(
                "ERR Unrecognized option '{}'",
                String::from_utf8_lossy(&args[2])
            )));
        }
        return Ok(Reply::OK);
    }
    if is(sub, "kill") {
        return client_kill(ctx, args);
    }
    if is(sub, "help") {
        return Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "INFO",
            "KILL <ip:port> | <option> <value> [...]",
            "LIST [TYPE <type>] [ID <id> ...]",
            "GETNAME",
            "SETNAME <name>",
            "NO-EVICT (ON|OFF)",
            "SETINFO <option> <value>",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("client", sub))
}

/// The TYPE filter of CLIENT KILL.
#[derive(Clone, Copy)]
enum ClientKind {
    Replica,
    Normal,
    Other,
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [USER u] [SKIPME yes|no]
fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let me = ctx.client.id;
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]).into_owned();
        let target = ctx
            .store
            .clients
            .map
            .iter()
            .find(|(_, h)| h.info.addr == addr)
            .map(|(id, _)| *id);
        return match target {
            Some(id) => {
                kill_client(ctx, id);
                Ok(Reply::OK)
            }
            None => Err(Reply::err("ERR No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(err::SYNTAX);
    }
    let (mut id, mut addr, mut laddr) = (None, None, None);
    let mut skipme = true;
    let mut kind = None;
    for pair in args[2..].chunks(2) {
        let v = String::from_utf8_lossy(&pair[1]).into_owned();
        if is(&pair[0], "id") {
            id = Some(
                v.parse::<u64>()
                    .map_err(|_| Reply::err("ERR client-id should be greater than 0"))?,
            );
        } else if is(&pair[0], "addr") {
            addr = Some(v);
        } else if is(&pair[0], "laddr") {
            laddr = Some(v);
        } else if is(&pair[0], "skipme") {
            skipme = match v.as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(err::SYNTAX),
            };
        } else if is(&pair[0], "type") {
            kind = Some(match v.to_ascii_lowercase().as_str() {
                "replica" | "slave" => ClientKind::Replica,
                "normal" => ClientKind::Normal,
                "master" | "pubsub" => ClientKind::Other,
                _ => return Err(Reply::error(format!("ERR Unknown client type '{v}'"))),
            });
        } else if is(&pair[0], "user") {
            // Only the default user exists.
        } else {
            return Err(err::SYNTAX);
        }
    }
    let victims: Vec<u64> = ctx
        .store
        .clients
        .map
        .iter()
        .filter(|(cid, h)| {
            id.is_none_or(|i| i == **cid)
                && addr.as_ref().is_none_or(|a| *a == h.info.addr)
                && laddr.as_ref().is_none_or(|a| *a == h.info.laddr)
                && !(skipme && **cid == me)
                && kind.is_none_or(|k| {
                    let replica = ctx.store.replication.replicas.contains_key(*cid);
                    match k {
                        ClientKind::Replica => replica,
                        ClientKind::Normal => !replica,
                        // The primary link is not a registered client, and subscribed
                        // clients are not tracked here: nothing matches.
                        ClientKind::Other => false,
                    }
                })
        })
        .map(|(cid, _)| *cid)
        .collect();
    for v in &victims {
        kill_client(ctx, *v);
    }
    Ok(Reply::Int(victims.len() as i64))
}

fn kill_client(ctx: &mut Ctx, id: u64) {
    if id == ctx.client.id {
        ctx.client.closing = true;
    } else {
        ctx.store.clients.kill(id);
    }
}

fn command_info(cmd: &Command) -> Reply {
    let flag_names: Vec<Reply> = super::flags::NAMES
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

fn sorted_commands() -> Vec<&'static Command> {
    let mut all: Vec<&'static Command> = super::table().values().copied().collect();
    all.sort_by_key(|c| c.name);
    all
}

/// COMMAND | COMMAND COUNT | INFO [name ...] | DOCS [name ...] | LIST | GETKEYS cmd args...
fn command(_ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        return Ok(Reply::Array(
            sorted_commands().into_iter().map(command_info).collect(),
        ));
    }
    let sub = &args[1];
    if is(sub, "count") && args.len() == 2 {
        return Ok(Reply::Int(super::table().len() as i64));
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
                .map(|n| super::lookup(n).map_or(Reply::NilArray, command_info))
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
            args[2..].iter().filter_map(|n| super::lookup(n)).collect()
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
        let Some(cmd) = super::lookup(&args[2]) else {
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

/// TIME
fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(ctx.now_ms as u128 * 1000);
    Ok(Reply::Array(vec![
        Reply::bulk_string((micros / 1_000_000).to_string()),
        Reply::bulk_string((micros % 1_000_000).to_string()),
    ]))
}

/// LASTSAVE
fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.store.lastsave as i64))
}

/// DEBUG SLEEP seconds | DEBUG POPULATE count [prefix] [size] | DEBUG HELP
fn debug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "populate") && (3..=5).contains(&args.len()) {
        let count = int(&args[2])?;
        if count < 0 {
            return Err(Reply::err("ERR count must be positive"));
        }
        let prefix = args.get(3).map_or(&b"key"[..], |p| &p[..]).to_vec();
        let size = match args.get(4) {
            Some(s) => Some(int(s)?.max(0) as usize),
            None => None,
        };
        let now = ctx.now_ms;
        for i in 0..count {
            let mut key = prefix.clone();
            key.extend_from_slice(format!(":{i}").as_bytes());
            if ctx.db().contains(&key, now) {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            ctx.db()
                .set(Bytes::from(key), rubra_keyspace::Value::Str(value), now);
        }
        return Ok(Reply::OK);
    }
    if is(sub, "sleep") && args.len() == 3 {
        let secs = float(&args[2])?;
        if secs > 0.0 {
            // Holds the store lock on purpose: DEBUG SLEEP simulates a busy server.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        }
        return Ok(Reply::OK);
    }
    if is(sub, "help") {
        return Ok(help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "SLEEP <seconds>",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("debug", sub))
}

/// MEMORY USAGE key [SAMPLES n] — an estimate of the bytes a key uses.
fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if is(&args[1], "usage") && args.len() >= 3 {
        let now = ctx.now_ms;
        let Some(entry) = ctx.db().peek(&args[2], now) else {
            return Ok(Reply::Nil);
        };
        use rubra_keyspace::Value;
        let overhead = 64 + args[2].len();
        let size = match &entry.value {
            Value::Str(s) => s.len(),
            Value::List(l) => l.iter().map(|e| e.len() + 32).sum(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + 72).sum(),
            Value::Set(s) => s.iter().map(|m| m.len() + 40).sum(),
            Value::ZSet(z) => z.iter().map(|(m, _)| m.len() + 80).sum(),
            Value::Stream(s) => s.approx_bytes(),
        };
        return Ok(Reply::Int((overhead + size) as i64));
    }
    if is(&args[1], "help") {
        return Ok(help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "USAGE <key> [SAMPLES <count>]",
            "HELP",
        ]));
    }
    Err(err::unknown_subcommand("memory", &args[1]))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] — flushes the AOF, saves an RDB file when asked
/// or when save rules exist (unless NOSAVE), and exits. A failed save refuses to stop
/// unless FORCE, as in Redis, so data is not silently lost.
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut save = None;
    let mut force = false;
    for a in &args[1..] {
        if is(a, "nosave") && save.is_none() {
            save = Some(false);
        } else if is(a, "save") && save.is_none() {
            save = Some(true);
        } else if is(a, "force") {
            force = true;
        } else if !is(a, "now") {
            return Err(err::SYNTAX);
        }
    }
    tracing::info!("shutdown requested by client");
    if let Err(e) = crate::saving::prepare_shutdown(ctx.store, save) {
        tracing::error!(error = %e, "error preparing to shut down");
        if !force {
            return Err(Reply::err("ERR Errors trying to SHUTDOWN. Check logs."));
        }
    }
    std::process::exit(0);
}

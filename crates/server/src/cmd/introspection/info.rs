//! INFO: Redis's sections and field names, so monitoring tools and the operator's autoscaler read it unchanged.

use super::*;

pub(super) fn human(bytes: usize) -> String {
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

pub(super) const DEFAULT_SECTIONS: &[&str] = &[
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
pub(super) fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
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

pub(super) fn info_section(ctx: &mut Ctx, section: &str, out: &mut String) {
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
            line("tracking_clients", &s.tracking.clients.len());
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
            let aof_write_ok = s.aof.as_ref().is_none_or(|a| a.write_error().is_none());
            line(
                "aof_last_write_status",
                &if aof_write_ok { "ok" } else { "err" },
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
                &s.pubsub
                    .channels(crate::exec::pubsub::Kind::Channel, None)
                    .len(),
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
            line("tracking_total_keys", &s.tracking.total_keys());
            line("tracking_total_items", &s.tracking.total_items());
            line("tracking_total_prefixes", &s.tracking.total_prefixes());
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
                    let up = p.state == crate::repl::state::LinkState::Connected;
                    line("master_link_status", &if up { "up" } else { "down" });
                    line(
                        "master_last_io_seconds_ago",
                        &(now.saturating_sub(p.last_io_ms) / 1000),
                    );
                    line(
                        "master_sync_in_progress",
                        &((p.state == crate::repl::state::LinkState::Sync) as u8),
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
                    crate::repl::state::SyncState::Online => "online",
                    crate::repl::state::SyncState::WaitSnapshot => "wait_bgsave",
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

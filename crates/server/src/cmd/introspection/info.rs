//! INFO: Redis's sections and field names, so monitoring tools and the operator's autoscaler read it unchanged.

use super::*;

/// A byte count as Redis's bytesToHuman prints it: B, then K, M, G, T and P with two
/// decimals, and from 1024 P on whole bytes again.
pub(super) fn human(bytes: usize) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    let n = bytes as u64;
    if !(1024..1 << 60).contains(&n) {
        return format!("{n}B");
    }
    let (unit, name) = UNITS
        .iter()
        .rev()
        .find(|(unit, _)| n >= *unit)
        .copied()
        .unwrap_or((1, "B"));
    format!("{:.2}{name}", n as f64 / unit as f64)
}

/// Every section in the order Redis prints them. `modules` is Redis's `module_list`
/// (always empty here: no modules), listed by default as Redis does.
const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// What INFO prints with no argument or `default`.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// The sections an INFO call asks for, as Redis's genInfoSectionDict reads its arguments:
/// case-insensitive names, `default` adds the default set, `all`/`everything` every
/// section; unknown names are ignored. Output order is always Redis's, whatever the order
/// of the arguments, and a section asked twice prints once.
pub(super) fn wanted_sections(args: &[Bytes]) -> Vec<&'static str> {
    if args.is_empty() {
        return DEFAULT_SECTIONS.to_vec();
    }
    let mut all = false;
    let mut names: Vec<String> = Vec::new();
    for a in args {
        let lower = String::from_utf8_lossy(a).to_ascii_lowercase();
        match lower.as_str() {
            "default" => names.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => all = true,
            "module_list" => names.push("modules".to_string()),
            _ => names.push(lower),
        }
    }
    SECTIONS
        .iter()
        .copied()
        .filter(|s| all || names.iter().any(|n| n == s))
        .collect()
}

/// INFO [section ...] — Redis's sections and field names, so monitoring tools and the
/// operator's autoscaler read it unchanged.
pub(super) fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut out = String::new();
    for (i, section) in wanted_sections(&args[1..]).into_iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        info_section(ctx, section, &mut out);
    }
    Ok(Reply::Verbatim(VerbatimFormat::Txt, out.into()))
}

/// Writes one section: its `# Title` header and its `field:value` lines, in Redis 7.0's
/// field order. Fields for machinery we do not have (forks, defrag, io threads) are given
/// the value Redis shows when that machinery is idle, so parsers find every name.
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
        "server" => server_fields(s, now, &mut line),
        "clients" => {
            // Replicas are not counted, as in Redis (clients minus slaves).
            let replicas = s.replication.replicas.len();
            line(
                "connected_clients",
                &s.clients.len().saturating_sub(replicas),
            );
            line("cluster_connections", &0);
            line("maxclients", &s.config.maxclients);
            let max_in = s
                .clients
                .map
                .values()
                .map(|h| h.info.qbuf)
                .max()
                .unwrap_or(0);
            let max_out = s
                .clients
                .map
                .values()
                .map(|h| h.pending_out.load(std::sync::atomic::Ordering::Relaxed))
                .max()
                .unwrap_or(0);
            line("client_recent_max_input_buffer", &max_in);
            line("client_recent_max_output_buffer", &max_out);
            line(
                "blocked_clients",
                &(s.blocking.len() + s.pause.postponed.len()),
            );
            line("tracking_clients", &s.tracking.clients.len());
            line("clients_in_timeout_table", &s.blocking.len());
        }
        "memory" => memory_fields(s, &mut line),
        "persistence" => persistence_fields(s, &mut line),
        "stats" => stats_fields(s, &mut line),
        "replication" => replication_fields(s, now, &mut line),
        "cpu" => {
            let (user, sys) = cpu_times();
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
            line("used_cpu_sys_children", &"0.000000");
            line("used_cpu_user_children", &"0.000000");
            line("used_cpu_sys_main_thread", &format!("{sys:.6}"));
            line("used_cpu_user_main_thread", &format!("{user:.6}"));
        }
        "modules" => {}
        "commandstats" => {
            let mut names: Vec<_> = s.cmdstats.by_cmd.iter().collect();
            names.sort_by_key(|(n, _)| **n);
            for (name, st) in names {
                if st.calls == 0 && st.failed_calls == 0 && st.rejected_calls == 0 {
                    continue;
                }
                let per_call = if st.calls > 0 {
                    st.usec as f64 / st.calls as f64
                } else {
                    0.0
                };
                line(
                    &format!("cmdstat_{name}"),
                    &format!(
                        "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                        st.calls, st.usec, st.rejected_calls, st.failed_calls
                    ),
                );
            }
        }
        "errorstats" => {
            for (prefix, n) in &s.cmdstats.errors {
                line(&format!("errorstat_{prefix}"), &format!("count={n}"));
            }
        }
        // With latency-tracking off Redis lists no histogram, even those kept from before.
        "latencystats" if s.config.get_value("latency-tracking") == "no" => {}
        "latencystats" => {
            let percentiles = latency_percentiles(s);
            let mut names: Vec<_> = s.cmdstats.by_cmd.iter().collect();
            names.sort_by_key(|(n, _)| **n);
            for (name, st) in names {
                if st.histogram.total() == 0 {
                    continue;
                }
                let values: Vec<String> = percentiles
                    .iter()
                    .map(|&p| {
                        format!(
                            "p{}={:.3}",
                            format_percentile(p),
                            st.histogram.value_at_percentile(p) as f64 / 1000.0
                        )
                    })
                    .collect();
                line(
                    &format!("latency_percentiles_usec_{name}"),
                    &values.join(","),
                );
            }
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

/// `latency-tracking-info-percentiles` (default "50 99 99.9").
fn latency_percentiles(s: &crate::store::Store) -> Vec<f64> {
    // Set to "", it lists no percentile: each command's line is left empty, as in Redis.
    s.config
        .get_value("latency-tracking-info-percentiles")
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect()
}

/// A percentile as Redis names it in INFO (`50`, `99.9`): %f without trailing zeros.
fn format_percentile(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

type Line<'a> = dyn FnMut(&str, &dyn std::fmt::Display) + 'a;

fn server_fields(s: &crate::store::Store, now: u64, line: &mut Line) {
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
    line("os", &os_name());
    line("arch_bits", &64);
    line("monotonic_clock", &"POSIX clock_gettime");
    line("multiplexing_api", &"epoll");
    line("atomicvar_api", &"c11-builtin");
    line("gcc_version", &"0.0.0");
    line("process_id", &std::process::id());
    line("process_supervised", &"no");
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
    line("config_file", &s.config.get_value("config-file-path"));
    line("io_threads_active", &0);
    if let Some(ms) = crate::shutdown::remaining_ms(s, crate::store::now_ms()) {
        line("shutdown_in_milliseconds", &ms);
    }
    line("rubra_version", &env!("CARGO_PKG_VERSION"));
}

/// `os` as Redis prints it: kernel name, release and machine (uname).
fn os_name() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let sysname = match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    };
    format!("{sysname} {} {}", release.trim(), std::env::consts::ARCH)
}

/// MemTotal from /proc/meminfo, in bytes (0 if unknown).
fn total_system_memory() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn memory_fields(s: &crate::store::Store, line: &mut Line) {
    let used = used_memory();
    let rss = rss_bytes();
    let peak = s.stats.used_memory_peak.max(used);
    let lua = s.scripts.lua.used_memory();
    let scripts = s.scripts.scripts_bytes;
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "0.00%".to_string()
        } else {
            format!("{:.2}%", a as f64 * 100.0 / b as f64)
        }
    };
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            "0.00".to_string()
        } else {
            format!("{:.2}", a as f64 / b as f64)
        }
    };
    let backlog = s.feed.backlog_allocated();
    let overhead = backlog + lua;
    let dataset = used.saturating_sub(overhead);
    let system = total_system_memory();
    line("used_memory", &used);
    line("used_memory_human", &human(used));
    line("used_memory_rss", &rss);
    line("used_memory_rss_human", &human(rss));
    line("used_memory_peak", &peak);
    line("used_memory_peak_human", &human(peak));
    line("used_memory_peak_perc", &pct(used, peak));
    line("used_memory_overhead", &overhead);
    line("used_memory_startup", &0);
    line("used_memory_dataset", &dataset);
    line("used_memory_dataset_perc", &pct(dataset, used));
    line("allocator_allocated", &used);
    line("allocator_active", &used);
    line("allocator_resident", &rss);
    line("total_system_memory", &system);
    line("total_system_memory_human", &human(system));
    // One Lua heap for EVAL and functions: the libraries' part is the functions' VM (Redis
    // has a Lua state for each), the rest EVAL's (used_memory_lua is EVAL's only).
    let vm_functions = s.scripts.functions.vm_bytes().min(lua);
    let vm_eval = lua - vm_functions;
    let functions = s.scripts.functions.cache_bytes();
    line("used_memory_lua", &vm_eval);
    line("used_memory_vm_eval", &vm_eval);
    line("used_memory_lua_human", &human(vm_eval));
    line("used_memory_scripts_eval", &scripts);
    line("number_of_cached_scripts", &s.scripts.scripts.len());
    line("number_of_functions", &s.scripts.functions.function_count());
    line("number_of_libraries", &s.scripts.library_codes().len());
    line("used_memory_vm_functions", &vm_functions);
    line("used_memory_vm_total", &lua);
    line("used_memory_vm_total_human", &human(lua));
    line("used_memory_functions", &functions);
    line("used_memory_scripts", &(scripts + functions));
    line("used_memory_scripts_human", &human(scripts + functions));
    // Printed signed (%lld) by Redis: past 2^63 - 1 it shows negative.
    line("maxmemory", &(s.config.maxmemory as i64));
    line("maxmemory_human", &human(s.config.maxmemory as usize));
    line("maxmemory_policy", &s.config.get_value("maxmemory-policy"));
    line("allocator_frag_ratio", &"1.00");
    line("allocator_frag_bytes", &0);
    line("allocator_rss_ratio", &ratio(rss, used));
    line("allocator_rss_bytes", &(rss as i64 - used as i64));
    line("rss_overhead_ratio", &"1.00");
    line("rss_overhead_bytes", &0);
    line("mem_fragmentation_ratio", &ratio(rss, used));
    line("mem_fragmentation_bytes", &(rss as i64 - used as i64));
    line("mem_not_counted_for_evict", &0);
    line("mem_replication_backlog", &backlog);
    // Redis 7.0 shares one buffer between the backlog and the replicas' output: it holds
    // whatever the backlog or the slowest replica still needs. Ours are the backlog and
    // each replica's queued stream, so the larger of them is the same figure.
    let slowest = s
        .replication
        .replicas
        .keys()
        .filter_map(|&id| s.clients.pending_out(id))
        .max()
        .unwrap_or(0);
    line("mem_total_replication_buffers", &backlog.max(slowest));
    line("mem_clients_slaves", &0);
    line("mem_clients_normal", &0);
    line("mem_cluster_links", &0);
    line("mem_aof_buffer", &0);
    line("mem_allocator", &"jemalloc-5.3.1");
    line("active_defrag_running", &0);
    line(
        "lazyfree_pending_objects",
        &crate::exec::lazyfree::pending(),
    );
    line("lazyfreed_objects", &crate::exec::lazyfree::freed());
}

fn persistence_fields(s: &crate::store::Store, line: &mut Line) {
    let sync_load = s.replication.sync_load;
    let loading = s.loading || sync_load == crate::repl::state::SyncLoad::Loading;
    line("loading", &(loading as u8));
    line(
        "async_loading",
        &((sync_load == crate::repl::state::SyncLoad::Async) as u8),
    );
    line("current_cow_peak", &0);
    line("current_cow_size", &0);
    line("current_cow_size_age", &0);
    line("current_fork_perc", &"0.00");
    line("current_save_keys_processed", &0);
    line("current_save_keys_total", &0);
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
    line("rdb_current_bgsave_time_sec", &-1);
    line("rdb_saves", &0);
    line("rdb_last_cow_size", &0);
    line("rdb_last_load_keys_expired", &s.saving.last_load_expired);
    line("rdb_last_load_keys_loaded", &s.saving.last_load_loaded);
    line(
        "aof_enabled",
        &((s.config.get_value("appendonly") == "yes") as u8),
    );
    line(
        "aof_rewrite_in_progress",
        &(s.aof_rewrite_in_progress as u8),
    );
    line(
        "aof_rewrite_scheduled",
        &(s.saving.aof_rewrite_scheduled as u8),
    );
    line("aof_last_rewrite_time_sec", &s.saving.aof_last_rewrite_secs);
    let current_rewrite = if s.aof_rewrite_in_progress {
        crate::persist::saving::secs_since(s.saving.aof_rewrite_started_ms)
    } else {
        -1
    };
    line("aof_current_rewrite_time_sec", &current_rewrite);
    let rewrite_ok = s.saving.last_aof_rewrite_ok;
    line(
        "aof_last_bgrewrite_status",
        &if rewrite_ok { "ok" } else { "err" },
    );
    line("aof_rewrites", &s.saving.aof_rewrites);
    line(
        "aof_rewrites_consecutive_failures",
        &s.saving.aof_rewrite_failures,
    );
    let aof_write_ok = s.aof.as_ref().is_none_or(|a| a.write_error().is_none());
    line(
        "aof_last_write_status",
        &if aof_write_ok { "ok" } else { "err" },
    );
    line("aof_last_cow_size", &0);
    line("module_fork_in_progress", &0);
    line("module_fork_last_cow_size", &0);
    if let Some(aof) = s.aof.as_ref() {
        line("aof_current_size", &(aof.others_size + aof.size));
        line("aof_base_size", &s.saving.aof_base_size);
        line("aof_pending_rewrite", &0);
        line("aof_buffer_length", &0);
        line("aof_pending_bio_fsync", &0);
        line("aof_delayed_fsync", &0);
    }
}

fn stats_fields(s: &crate::store::Store, line: &mut Line) {
    use std::sync::atomic::Ordering::Relaxed;
    let st = &s.stats;
    line("total_connections_received", &st.total_connections);
    line("total_commands_processed", &st.total_commands);
    line("instantaneous_ops_per_sec", &st.instantaneous_ops());
    line(
        "total_net_input_bytes",
        &crate::conn::NET_INPUT_BYTES.load(Relaxed),
    );
    line(
        "total_net_output_bytes",
        &crate::conn::NET_OUTPUT_BYTES.load(Relaxed),
    );
    line("total_net_repl_input_bytes", &0);
    line("total_net_repl_output_bytes", &0);
    line("instantaneous_input_kbps", &"0.00");
    line("instantaneous_output_kbps", &"0.00");
    line("instantaneous_input_repl_kbps", &"0.00");
    line("instantaneous_output_repl_kbps", &"0.00");
    line("rejected_connections", &st.rejected_connections);
    line("sync_full", &s.replication.sync_full);
    line("sync_partial_ok", &s.replication.sync_partial_ok);
    line("sync_partial_err", &s.replication.sync_partial_err);
    line("expired_keys", &st.expired_keys);
    line("expired_stale_perc", &"0.00");
    line("expired_time_cap_reached_count", &0);
    line("expire_cycle_cpu_milliseconds", &0);
    line("evicted_keys", &st.evicted_keys);
    line("evicted_clients", &s.stats.evicted_clients);
    line("total_eviction_exceeded_time", &0);
    line("current_eviction_exceeded_time", &0);
    line("keyspace_hits", &st.keyspace_hits);
    line("keyspace_misses", &st.keyspace_misses);
    line(
        "pubsub_channels",
        &s.pubsub
            .channels(crate::exec::pubsub::Kind::Channel, None)
            .len(),
    );
    line("pubsub_patterns", &s.pubsub.numpat());
    line(
        "pubsubshard_channels",
        &s.pubsub
            .channels(crate::exec::pubsub::Kind::Shard, None)
            .len(),
    );
    line("latest_fork_usec", &0);
    line("total_forks", &s.stats.total_forks);
    // MIGRATE opens a connection per call and keeps none: nothing is cached.
    line("migrate_cached_sockets", &0);
    line("slave_expires_tracked_keys", &0);
    line("active_defrag_hits", &0);
    line("active_defrag_misses", &0);
    line("active_defrag_key_hits", &0);
    line("active_defrag_key_misses", &0);
    line("total_active_defrag_time", &0);
    line("current_active_defrag_time", &0);
    line("tracking_total_keys", &s.tracking.total_keys());
    line("tracking_total_items", &s.tracking.total_items());
    line("tracking_total_prefixes", &s.tracking.total_prefixes());
    line(
        "unexpected_error_replies",
        &s.cmdstats.unexpected_error_replies,
    );
    line("total_error_replies", &s.cmdstats.total_error_replies);
    line("dump_payload_sanitizations", &0);
    line("total_reads_processed", &st.total_commands);
    line("total_writes_processed", &st.total_commands);
    line("io_threaded_reads_processed", &0);
    line("io_threaded_writes_processed", &0);
    line("reply_buffer_shrinks", &0);
    line("reply_buffer_expands", &0);
}

fn replication_fields(s: &crate::store::Store, now: u64, line: &mut Line) {
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
    line(
        "master_failover_state",
        &crate::repl::failover::state_name(s),
    );
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

//! What happens around every command besides running it, in Redis's call() order:
//! MONITOR feed, latency monitor sample, slow log entry, INFO commandstats/errorstats and
//! the latency histogram. Kept apart from dispatch so the command path stays readable.

use crate::client::{ClientState, OutputLimits};
use crate::cmd::{flags, Command, Ctx};
use crate::exec::{monitor, stats};
use crate::store::Store;
use bytes::Bytes;
use rubra_resp::Reply;

/// The parameters read around every command, parsed once per CONFIG SET rather than
/// looked up by name on the hot path.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold` in ms; 0 turns the monitor off.
    pub latency_threshold: u64,
    /// `latency-tracking`: per-command histograms on.
    pub tracking: bool,
}

impl Settings {
    /// Reads the parameters from `config` (Redis's defaults for anything unreadable).
    pub(crate) fn from_config(config: &crate::config::Config) -> Settings {
        Settings {
            slowlog_slower_than: config
                .get_value("slowlog-log-slower-than")
                .parse()
                .unwrap_or(10000),
            slowlog_max_len: config.get_value("slowlog-max-len").parse().unwrap_or(128),
            latency_threshold: config
                .get_value("latency-monitor-threshold")
                .parse()
                .unwrap_or(0),
            tracking: config.get_value("latency-tracking") != "no",
        }
    }
}

/// Commands Redis never shows in MONITOR after they ran (SKIP_MONITOR): scripts show
/// themselves before their commands run, so their commands follow them in the feed.
/// Asked twice for every command: the first letter rules out almost all at once.
#[inline]
fn feeds_monitor_first(cmd: &Command) -> bool {
    matches!(cmd.name.as_bytes().first(), Some(b'e' | b'f'))
        && matches!(
            cmd.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        )
}

/// Who the client is in MONITOR lines and SLOWLOG entries: its address, `lua` for a
/// script's commands, the primary's address for the replication stream.
fn peer_of(store: &Store, client: &ClientState, for_monitor: bool) -> (String, Bytes) {
    if let Some(h) = store.clients.map.get(&client.id) {
        return (h.info.addr.clone(), h.info.name.clone().unwrap_or_default());
    }
    if client.is_primary_link {
        if let Some(p) = &store.replication.primary {
            return (format!("{}:{}", p.host, p.port), Bytes::new());
        }
    }
    let who = if for_monitor { "lua" } else { "?:0" };
    (who.to_string(), Bytes::new())
}

/// Sends one command to the MONITOR clients (not while loading, as Redis).
pub(crate) fn feed_monitors(store: &mut Store, client: &ClientState, args: &[Bytes]) {
    if !store.monitors.active() || store.loading {
        return;
    }
    let (who, _) = peer_of(store, client, true);
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let shown = monitor::redacted(args);
    let line = monitor::line(now_us, client.db, &who, &shown);
    let none = OutputLimits {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };
    let now = crate::store::now_ms();
    let ids = store.monitors.ids.clone();
    for id in ids {
        if !store.clients.push_raw(id, line.clone(), now, none) {
            store.monitors.ids.retain(|m| *m != id);
        }
    }
}

/// Before a command's handler runs: scripts show in MONITOR ahead of their commands.
pub(crate) fn before_call(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes]) {
    if feeds_monitor_first(cmd) && ctx.client.served_key.is_none() {
        ctx.store.cmdstats.last_script_error = None;
        feed_monitors(ctx.store, ctx.client, args);
    }
}

/// After a command ran for `usec` microseconds and produced `reply`: the bookkeeping of
/// Redis's call(). A command that blocked is counted once now and gets its duration,
/// histogram and slow log entry when it is served (`served_key` set), as Redis does.
/// Runs for every command, scripts' included: the counters are found by the command's
/// number (`StatTable::for_call`), and its reported name is worked out only for MONITOR.
pub(crate) fn after_call(
    ctx: &mut Ctx,
    cmd: &'static Command,
    args: &[Bytes],
    reply: &Reply,
    usec: u64,
) {
    let store = &mut *ctx.store;
    if store.loading {
        return;
    }
    let served = ctx.client.served_key.is_some();
    let blocked = ctx.block.is_some();
    let failed = match reply {
        Reply::Error(text) if !blocked => {
            record_failure(store, ctx.client, cmd, text);
            true
        }
        _ => false,
    };
    let Settings {
        slowlog_slower_than,
        latency_threshold,
        tracking,
        ..
    } = store.observe;
    let s = store.cmdstats.by_cmd.for_call(cmd, args);
    if served {
        s.usec += usec;
        if failed {
            s.failed_calls += 1;
        }
        if tracking {
            s.histogram.record(usec * 1000);
        }
    } else {
        s.calls += 1;
        s.usec += usec;
        if failed {
            s.failed_calls += 1;
        }
        if tracking && !blocked {
            s.histogram.record(usec * 1000);
        }
        store.stats.total_commands += 1;
        if latency_threshold > 0 {
            let event = if cmd.has(flags::FAST) {
                "fast-command"
            } else {
                "command"
            };
            store
                .latency
                .add_if_needed(event, usec / 1000, latency_threshold, now_secs());
        }
    }
    if !blocked
        && slowlog_slower_than >= 0
        && usec as i64 >= slowlog_slower_than
        && cmd.name != "exec"
    {
        log_slow(store, ctx.client, args, usec);
    }
    if !served
        && store.monitors.active()
        && !feeds_monitor_first(cmd)
        && !stats::is_admin(stats::stat_name(cmd, args))
    {
        feed_monitors(store, ctx.client, args);
    }
}

/// Counts a command's error reply (INFO errorstats), once when a script's command
/// failed and the script then fails with that same error.
#[cold]
fn record_failure(store: &mut Store, client: &ClientState, cmd: &Command, text: &[u8]) {
    let repeated = feeds_monitor_first(cmd)
        && store
            .cmdstats
            .last_script_error
            .as_deref()
            .is_some_and(|e| text.starts_with(e));
    if !repeated {
        store.cmdstats.record_error(text);
    }
    if client.id == 0 && !client.is_primary_link {
        store.cmdstats.last_script_error = Some(text.to_vec());
    }
}

/// Adds a slow log entry for a call that took `usec`.
#[cold]
fn log_slow(store: &mut Store, client: &ClientState, args: &[Bytes], usec: u64) {
    let slower_than = store.observe.slowlog_slower_than;
    let max_len = store.observe.slowlog_max_len;
    let (peer, cname) = peer_of(store, client, false);
    let shown = monitor::redacted(args);
    store
        .slowlog
        .push_if_needed(slower_than, max_len, &shown, usec, now_secs(), peer, cname);
}

/// A command refused before it ran (unknown, arity, auth, ACL, OOM, READONLY, ...): its
/// error is counted and, for a known command, its `rejected_calls`. A container with a
/// subcommand Redis does not know (CONFIG NOSUCH) is no known command: Redis's lookup
/// finds none, so no command's counters move.
pub(crate) fn rejected(store: &mut Store, args: &[Bytes], reply: &Reply) {
    if store.loading {
        return;
    }
    if let Reply::Error(text) = reply {
        store.cmdstats.record_error(text);
        if let Some(cmd) = args.first().and_then(|n| crate::cmd::lookup(n)) {
            let unknown_sub = matches!(
                crate::acl::subcommand_fault(cmd, args),
                Some(crate::acl::SubcommandFault::Unknown)
            );
            if !unknown_sub {
                store.cmdstats.record_rejected(cmd, args);
            }
        }
    }
}

/// Unix time in nanoseconds (CLOCK_REALTIME, as `SystemTime`), read straight from the
/// C library: every command reads it twice (start and end), and std's `SystemTime` adds
/// checked conversions that cost as much as the read. One read at the start of a command
/// gives both its "now" in ms and the start of its duration, as Redis 7.2 takes both from
/// one ustime(); a clock stepped back during a call gives it a duration of 0.
#[inline]
pub(crate) fn clock_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    // Before 1970 (or no clock): 0, as `store::now_ms` answers.
    if rc != 0 || ts.tv_sec < 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Lets one clock read be both the end of a command and the start of the next in the same
/// batch of pipelined requests: every command reads the clock at its start and its end, and
/// at -P 16 those reads were 7-8% of a GET's server CPU (Redis spends as much on its own two
/// reads). Open only while a connection runs a batch under the lock, so a carried time is
/// older than the next command's start only by what ran in between (the previous
/// command's propagation and reply encoding, the next request's parse); a command whose
/// reply is big to encode carries nothing (its encoding would count against the next one).
#[derive(Debug, Default)]
pub(crate) struct BatchClock {
    open: bool,
    /// The end of the last command, 0 when there is none to carry.
    carried_ns: u64,
}

impl BatchClock {
    /// A batch starts: commands may hand their end to the next one.
    pub(crate) fn open(&mut self) {
        self.open = true;
        self.carried_ns = 0;
    }

    /// The batch is over (the lock is about to be released): nothing carries past it.
    pub(crate) fn close(&mut self) {
        self.open = false;
        self.carried_ns = 0;
    }

    /// The start of a top-level command: the previous command's end, or a fresh read.
    #[inline]
    pub(crate) fn start(&mut self) -> u64 {
        match std::mem::take(&mut self.carried_ns) {
            0 => clock_ns(),
            carried => carried,
        }
    }

    /// The end of a command (read now), kept for the next one while a batch is open.
    #[inline]
    pub(crate) fn end(&mut self) -> u64 {
        let now = clock_ns();
        if self.open {
            self.carried_ns = now;
        }
        now
    }

    /// Something that is not a command ran since the last end: the next start reads.
    pub(crate) fn forget(&mut self) {
        self.carried_ns = 0;
    }
}

/// Unix time in seconds.
pub(crate) fn now_secs() -> u64 {
    crate::store::now_ms() / 1000
}

/// CONFIG RESETSTAT: the INFO stats counters, commandstats, errorstats and latency
/// histograms start again from zero (the slow log and latency events are kept, as Redis).
pub(crate) fn reset_stats(store: &mut Store) {
    use std::sync::atomic::Ordering::Relaxed;
    store.stats = crate::store::Stats::default();
    store.cmdstats = stats::CommandStats::default();
    store.replication.sync_full = 0;
    store.replication.sync_partial_ok = 0;
    store.replication.sync_partial_err = 0;
    crate::conn::NET_INPUT_BYTES.store(0, Relaxed);
    crate::conn::NET_OUTPUT_BYTES.store(0, Relaxed);
    crate::exec::lazyfree::reset_freed();
}

#[cfg(test)]
mod batch_clock_tests {
    use super::BatchClock;

    #[test]
    fn an_open_batch_hands_a_commands_end_to_the_next_start_once() {
        let mut clock = BatchClock::default();
        clock.open();
        let ended = clock.end();
        assert_eq!(clock.start(), ended);
        // Taken: the next start reads the clock again.
        assert_eq!(clock.carried_ns, 0);
        assert!(clock.start() >= ended);
    }

    #[test]
    fn nothing_carries_outside_a_batch_or_after_forget_or_close() {
        let mut clock = BatchClock::default();
        clock.end();
        assert_eq!(clock.carried_ns, 0, "no batch open");
        clock.open();
        clock.end();
        clock.forget();
        assert_eq!(clock.carried_ns, 0, "forgotten");
        clock.end();
        clock.close();
        assert_eq!(clock.carried_ns, 0, "closed");
        clock.end();
        assert_eq!(clock.carried_ns, 0, "closed batches carry nothing");
    }
}

//! Everything a command may touch, behind one lock (ARCHITECTURE decision 3, first model):
//! connections parse and encode in parallel on all cores, while command execution takes this
//! lock once per batch of pipelined commands. That keeps MULTI/EXEC, multi-key commands and
//! blocking wake-ups atomic exactly as in Redis, with no cross-shard protocol.

use crate::client::ClientRegistry;
use crate::config::Config;
use crate::exec::blocking::Blocking;
use crate::exec::pubsub::PubSub;
use crate::exec::watch::Watches;
use crate::persist::aof::{AofWriter, FsyncPolicy};
use crate::repl::feed::Feed;
use crate::repl::state::{Replication, SyncState};
use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rubra_keyspace::Db;

/// Counters reported by INFO stats.
#[derive(Debug, Default, Clone)]
pub(crate) struct Stats {
    pub total_connections: u64,
    pub rejected_connections: u64,
    pub total_commands: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    /// Clients closed by client eviction (maxmemory-clients).
    pub evicted_clients: u64,
    pub pubsub_messages: u64,
    pub client_output_limit_disconnections: u64,
    pub client_query_limit_disconnections: u64,
    /// Highest used_memory seen by the cron (INFO used_memory_peak).
    pub used_memory_peak: usize,
    /// Samples of (time ms, total commands) for instantaneous_ops_per_sec.
    pub ops_samples: Vec<(u64, u64)>,
    /// Background snapshots started (BGSAVE, AOF rewrite): what Redis forks a child
    /// for, so INFO total_forks counts them as Redis's tools expect.
    pub total_forks: u64,
}

impl Stats {
    /// Operations per second over the recent samples, as INFO's instantaneous_ops_per_sec.
    pub(crate) fn instantaneous_ops(&self) -> u64 {
        match (self.ops_samples.first(), self.ops_samples.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }
}

/// The shared state of the node.
pub(crate) struct Store {
    pub dbs: Vec<Db>,
    pub config: Config,
    /// Writes since the last successful save (INFO rdb_changes_since_last_save).
    pub dirty: u64,
    pub stats: Stats,
    pub clients: ClientRegistry,
    pub pubsub: PubSub,
    pub blocking: Blocking,
    pub watches: Watches,
    /// Client-side caching (CLIENT TRACKING): who may cache which keys.
    pub tracking: crate::exec::tracking::Tracking,
    pub rng: SmallRng,
    /// Unix time (s) of the last successful save.
    pub lastsave: u64,
    /// When the process started (Unix ms), for uptime.
    pub started_ms: u64,
    /// 40 hex chars identifying this run (INFO run_id).
    pub run_id: String,
    /// Changes as commands, for replicas and the AOF.
    pub feed: Feed,
    /// The append-only file, when `appendonly yes`.
    pub aof: Option<AofWriter>,
    /// Set while a background save or AOF rewrite runs.
    pub aof_rewrite_in_progress: bool,
    /// Replaying the AOF or a snapshot: limits such as maxmemory are not enforced.
    pub loading: bool,
    /// Replicas attached to us and our own primary link.
    pub replication: Replication,
    /// Cluster mode: the cluster node and its bus links (see cluster/driver.rs for why it
    /// lives under this lock).
    pub cluster: Option<Box<crate::cluster::driver::ClusterDriver>>,
    /// Where background jobs are sent (set once the runtime is up).
    pub jobs: Option<tokio::sync::mpsc::UnboundedSender<crate::persist::jobs::Job>>,
    /// RDB save status (BGSAVE in progress, last result).
    pub saving: crate::persist::saving::SaveState,
    /// ACL users and the ACL LOG.
    pub acl: crate::acl::Acl,
    /// The Lua engine: EVAL script cache and function libraries.
    pub scripts: crate::script::Engine,
    /// INFO commandstats/errorstats/latencystats, kept by the dispatcher.
    pub cmdstats: crate::exec::stats::CommandStats,
    /// SLOWLOG entries.
    pub slowlog: crate::exec::slowlog::SlowLog,
    /// LATENCY event samples.
    pub latency: crate::exec::latency::LatencyMonitor,
    /// Clients in MONITOR mode.
    pub monitors: crate::exec::monitor::Monitors,
    /// CLIENT PAUSE state.
    pub pause: crate::client::PauseState,
    /// Slow log / latency parameters, parsed once per CONFIG SET.
    pub observe: crate::exec::observe::Settings,
    /// A FAILOVER in progress.
    pub failover: Option<crate::repl::failover::Failover>,
    /// notify-keyspace-events parsed once per CONFIG SET (0: nothing is published).
    pub notify_flags: u32,
    /// Keys a read lookup missed during the running command, while `keymiss` events are
    /// enabled: published when the handler returns (a lookup cannot publish while it
    /// holds the database borrowed).
    pub key_misses: Vec<Bytes>,
    /// The TLS configuration for new client connections (reloaded by CONFIG SET tls-*).
    pub tls: crate::tls::Reloadable,
    /// DEBUG SET-ACTIVE-EXPIRE 0 turns the cron's expiry sampling off (keys then expire
    /// only when accessed), as test suites and tools use it.
    pub active_expire: bool,
    /// DEBUG PAUSE-CRON 1 stops the cron's periodic work (tests that must see what a
    /// command alone does, e.g. the tracking table limit, use it, as with Redis).
    pub pause_cron: bool,
    /// A shutdown waiting for replicas (SHUTDOWN, or a stop signal via the cron).
    pub shutdown: crate::shutdown::Shutdown,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS 1 lets scripts call commands flagged NOSCRIPT (test
    /// suites use it to reach DEBUG PROTOCOL from Lua), as Redis's debug knob does.
    pub script_deny_disabled: bool,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION 1: RESTORE skips the payload's CRC-64 check (the
    /// version is still checked), as Redis's knob does, so corrupt bodies reach the decoder.
    pub skip_checksum_validation: bool,
    /// When the last command of the current batch started (ms), from the clock read that
    /// gave it its "now"; 0 until one has run. The batch's bookkeeping (a client's
    /// last-interaction time) takes it from here instead of reading the clock once more
    /// per request.
    pub command_ms: u64,
    /// Hands a command's end time to the next command of the same batch (one clock read
    /// per pipelined command instead of two).
    pub clock: crate::exec::observe::BatchClock,
}

/// The replication backlog size the config asks for (1 MB if unreadable, as Redis's default).
fn backlog_size(config: &Config) -> usize {
    crate::config::parse_memory(config.get_value("repl-backlog-size")).unwrap_or(1 << 20) as usize
}

/// The compact-encoding thresholds the config asks for (`*-max-listpack-*`,
/// `set-max-intset-entries`); the keyspace reads them on every collection insert.
fn encoding_limits(config: &Config) -> rubra_keyspace::Limits {
    let int = |name: &str| config.get_value(name).parse::<i64>().unwrap_or(0);
    let size = |name: &str| rubra_keyspace::limits::clamp(int(name));
    rubra_keyspace::Limits {
        hash_max_entries: size("hash-max-listpack-entries"),
        hash_max_value: size("hash-max-listpack-value"),
        set_max_intset_entries: size("set-max-intset-entries"),
        zset_max_entries: size("zset-max-listpack-entries"),
        zset_max_value: size("zset-max-listpack-value"),
        list_max_size: int("list-max-listpack-size"),
        stream_node_max_entries: int("stream-node-max-entries"),
        stream_node_max_bytes: crate::config::parse_memory(
            config.get_value("stream-node-max-bytes"),
        )
        .map_or(4096, |b| b as usize),
    }
}

impl Store {
    /// Applies the parameters that live outside `config` after CONFIG SET changed it, so a
    /// setting that answers OK also takes effect.
    pub(crate) fn apply_config(&mut self) {
        // Redis's eviction time event, started by CONFIG SET: memory over a lowered
        // maxmemory is brought back right after the command, not at the next one.
        if self.config.maxmemory != 0 && !self.loading {
            crate::exec::evict::make_room(self);
        }
        self.feed.set_backlog_size(backlog_size(&self.config));
        encoding_limits(&self.config).install();
        crate::persist::rdb::set_key_delays(&self.config);
        self.observe = crate::exec::observe::Settings::from_config(&self.config);
        self.notify_flags = self.config.notify_flags;
        // requirepass is the default user's password from now on: RESET, ACL LIST and
        // ACL WHOAMI see it at once, not at the next unauthenticated command.
        self.acl.sync_requirepass(&self.config.requirepass);
        if let Some(aof) = self.aof.as_mut() {
            aof.policy =
                crate::persist::aof::FsyncPolicy::from_config(self.config.get_value("appendfsync"));
        }
    }

    /// A fresh store for `config`.
    pub(crate) fn new(config: Config, now_ms: u64) -> Store {
        encoding_limits(&config).install();
        crate::persist::rdb::set_key_delays(&config);
        let dbs = (0..config.databases).map(|_| Db::new()).collect();
        let observe = crate::exec::observe::Settings::from_config(&config);
        let notify_flags = config.notify_flags;
        let mut rng = SmallRng::from_entropy();
        let run_id = random_hex(&mut rng, 40);
        let feed = Feed::new(random_hex(&mut rng, 40), backlog_size(&config));
        Store {
            feed,
            aof: None,
            aof_rewrite_in_progress: false,
            loading: false,
            jobs: None,
            saving: crate::persist::saving::SaveState::default(),
            acl: crate::acl::Acl::default(),
            scripts: crate::script::Engine::new(crate::script::busy::BusyState::new()),
            replication: Replication::default(),
            cluster: None,
            dbs,
            config,
            dirty: 0,
            stats: Stats::default(),
            clients: ClientRegistry::default(),
            pubsub: PubSub::default(),
            blocking: Blocking::default(),
            watches: Watches::default(),
            tracking: Default::default(),
            rng,
            lastsave: now_ms / 1000,
            started_ms: now_ms,
            command_ms: 0,
            clock: Default::default(),
            run_id,
            cmdstats: Default::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            monitors: Default::default(),
            pause: Default::default(),
            observe,
            failover: None,
            notify_flags,
            key_misses: Vec::new(),
            tls: Default::default(),
            active_expire: true,
            pause_cron: false,
            shutdown: Default::default(),
            script_deny_disabled: false,
            skip_checksum_validation: false,
        }
    }

    /// Called after a command changed `key`: invalidates WATCHes on it and, if clients are
    /// blocked on it, queues it so they are served (Redis's signalModifiedKey +
    /// signalKeyAsReady).
    #[inline]
    pub(crate) fn key_modified(&mut self, db: usize, key: &Bytes) {
        let dbs = &self.dbs;
        if dbs[db].has_expired_log() && dbs[db].expired_since_drain(key) {
            // The command found the key expired and deleted it before writing it: that
            // deletion comes first for WATCH, as in Redis (where it touches at the lookup).
            self.watches.touch(db, key, || false);
        }
        self.watches
            .touch(db, key, || dbs[db].peek(key, 0).is_some());
        self.blocking.signal(db, key);
        crate::exec::tracking::key_changed(self, key);
    }

    /// Sends what the feed produced to the AOF (and fsyncs under `appendfsync always`).
    /// Called at the end of every batch, before its replies are written.
    pub(crate) fn flush_feed(&mut self) {
        crate::exec::tracking::end_of_batch(self);
        if !self.feed.has_output() {
            return;
        }
        let out = self.feed.take_output();
        let aof_out = self.feed.take_aof_output();
        let stamp =
            (self.config.get_value("aof-timestamp-enabled") == "yes").then(|| now_ms() / 1000);
        if let (Some(aof), false) = (self.aof.as_mut(), aof_out.is_empty()) {
            if self.saving.aof_flush_sleep_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(
                    self.saving.aof_flush_sleep_us,
                ));
            }
            if let Err(e) = aof.append_stamped(&aof_out, stamp) {
                // Under `always` an OK promises the write is on disk; the replies of this
                // batch are not sent yet, so stopping keeps that promise (Redis exits too).
                if aof.policy == FsyncPolicy::Always {
                    // The exit must not depend on the log line (the log may sit on the
                    // same full disk): nothing after this may unwind past the exit.
                    let error = e.to_string();
                    let _ = std::panic::catch_unwind(|| {
                        tracing::error!(
                            error = %error,
                            "can't recover from AOF write error when the AOF fsync policy is 'always': exiting"
                        );
                    });
                    std::process::exit(1);
                }
            }
        }
        if self.replication.replicas.is_empty() || out.is_empty() {
            return;
        }
        let bytes = Bytes::from(out);
        let limits = self.config.replica_output_limits;
        let now = now_ms();
        let mut dropped = Vec::new();
        for (id, r) in self.replication.replicas.iter_mut() {
            match r.state {
                SyncState::WaitSnapshot => r.held.extend_from_slice(&bytes),
                SyncState::Online => {
                    if !self.clients.push_raw(*id, bytes.clone(), now, limits) {
                        dropped.push(*id);
                    }
                }
            }
        }
        for id in dropped {
            tracing::warn!(replica = id, "replica dropped: output buffer limit or gone");
            self.replication.replicas.remove(&id);
            self.stats.client_output_limit_disconnections += 1;
        }
    }

    /// Lookups find expired keys missing without deleting them while this node is a
    /// replica (its primary sends the DELs) and while clients are paused (CLIENT PAUSE,
    /// FAILOVER): Redis deletes no expired key then, so a paused primary's dataset and
    /// replication stream stay still. Active expiry skips such databases too.
    pub(crate) fn sync_expiry_mode(&mut self, now: u64) {
        let hold =
            self.replication.is_replica() || self.pause.active(now) || self.pause.writes_held();
        for db in &mut self.dbs {
            db.replica_mode = hold;
        }
    }

    /// Turns the primary's view on the databases on or off: on only while a replica runs
    /// a command from its primary's stream (`Db::primary_view`).
    pub(crate) fn set_primary_view(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.primary_view = on;
        }
    }

    /// Handles keys removed by lazy or active expiry in `db` since the last call.
    pub(crate) fn collect_expired(&mut self, db: usize) {
        if !self.dbs[db].has_expired_log() {
            return;
        }
        // As Redis's propagateDeletion: UNLINK when expired keys are freed lazily.
        let del: &'static [u8] = if self.config.get_value("lazyfree-lazy-expire") == "yes" {
            b"UNLINK"
        } else {
            b"DEL"
        };
        for key in self.dbs[db].drain_expired() {
            self.expired_key_gone(db, key, del);
        }
    }

    /// What follows the deletion of an expired key that was not found by the database
    /// itself (a writable replica's own keys, repl/replica_expire.rs): counted, signalled
    /// and propagated as `collect_expired` does for the others.
    pub(crate) fn key_expired(&mut self, db: usize, key: Bytes) {
        let del: &'static [u8] = if self.config.get_value("lazyfree-lazy-expire") == "yes" {
            b"UNLINK"
        } else {
            b"DEL"
        };
        self.expired_key_gone(db, key, del);
    }

    /// The bookkeeping of one key removed by expiry: the expired_keys count, WATCH,
    /// client-side caching, blocked XREADGROUP readers, the `expired` event, the DEL.
    fn expired_key_gone(&mut self, db: usize, key: Bytes, del: &'static [u8]) {
        self.stats.expired_keys += 1;
        let dbs = &self.dbs;
        self.watches
            .touch(db, &key, || dbs[db].peek(&key, 0).is_some());
        crate::exec::tracking::key_changed(self, &key);
        // An expired stream unblocks its XREADGROUP readers, as a deleted one does.
        self.blocking.signal(db, &key);
        if self.notify_flags != 0 {
            crate::exec::notify::publish(self, crate::exec::notify::EXPIRED, "expired", &key, db);
        }
        self.feed.propagate(db, &[Bytes::from_static(del), key]);
    }
}

/// Random lowercase hex, for run ids.
pub(crate) fn random_hex(rng: &mut impl rand::Rng, len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..len)
        .map(|_| HEX[rng.gen_range(0..16)] as char)
        .collect()
}

/// Current Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

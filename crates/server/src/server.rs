//! The node process: listeners, the accept loop, and the periodic cron (active expiry,
//! ops/sec sampling, serving blocked clients) that runs `hz` times per second.

use crate::config::Config;
use crate::store::{now_ms, Store};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Shared by every connection task.
pub(crate) struct Server {
    /// The single lock around all command state; see store.rs for why.
    pub store: Mutex<Store>,
    /// A running script's state, readable without the store lock (see script::busy).
    pub busy: Arc<crate::script::busy::BusyState>,
}

/// Most keys removed by one active-expiry pass per database, to bound the pause.
const ACTIVE_EXPIRE_BUDGET: usize = 2000;

impl Server {
    /// The store lock for code that waits its turn; see `script::busy::lock_waiting` for
    /// why this matters while a script runs.
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, Store> {
        crate::script::busy::lock_waiting(&self.store, &self.busy)
    }

    /// A server for `config`, with its data loaded from disk (AOF) if configured.
    pub(crate) fn new(config: Config) -> Result<Arc<Server>, String> {
        let mut store = Store::new(config, now_ms());
        // The role decides what loading keeps (a replica keeps expired keys): in cluster
        // mode nodes.conf says it, so it is read first, as Redis does.
        let cluster = crate::cluster::driver::open(&mut store)?;
        let as_replica = match cluster.as_deref() {
            Some(driver) => crate::cluster::driver::is_replica(driver),
            None => crate::persist::saving::configured_replica(&store),
        };
        crate::persist::saving::load_at_startup(&mut store, as_replica)?;
        if as_replica {
            // Nothing expires while the AOF is replayed either.
            for db in &mut store.dbs {
                db.replica_mode = true;
            }
        }
        crate::persist::aof_files::start(&mut store)?;
        crate::cluster::driver::install(&mut store, cluster);
        crate::acl::load_at_startup(&mut store)?;
        let busy = store.scripts.busy.clone();
        Ok(Arc::new(Server {
            busy,
            store: Mutex::new(store),
        }))
    }
}

/// Binds the configured addresses on `port`; none when `port` is 0 (Redis's `port 0` with a
/// `tls-port`: TLS clients only).
pub(crate) async fn bind(config: &Config) -> std::io::Result<Vec<TcpListener>> {
    if config.port == 0 {
        return Ok(Vec::new());
    }
    bind_port(config, config.port).await
}

/// Binds the `bind` addresses on one port; fails like redis-server if none can be bound.
pub(crate) async fn bind_port(config: &Config, port: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let binds = config.get_value("bind").to_string();
    for addr in binds.split_whitespace() {
        // Redis's syntax: a leading '-' marks an address that may be unavailable (skipped
        // if it cannot be bound); "*" is every IPv4 address, "::*" every IPv6 one.
        let optional = addr.starts_with('-');
        let addr = addr.trim_start_matches('-');
        let addr = match addr {
            "*" => "0.0.0.0",
            "::*" => "::",
            a => a,
        };
        let sock: SocketAddr = if addr.contains(':') {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        }
        .parse()
        .map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad bind address {addr}: {e}"),
            )
        })?;
        match TcpListener::bind(sock).await {
            Ok(l) => listeners.push(l),
            Err(_) if optional => {}
            Err(e) => return Err(e),
        }
    }
    if listeners.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no bind address",
        ));
    }
    Ok(listeners)
}

/// Binds `unixsocket` when it is set (None otherwise), as redis-server does at start-up:
/// a file left at the path by an earlier run is removed first, and `unixsocketperm`, when
/// not 0, becomes the socket's mode.
pub(crate) fn bind_unix(
    config: &Config,
) -> std::io::Result<Option<(tokio::net::UnixListener, String)>> {
    let path = config.get_value("unixsocket").to_string();
    if path.is_empty() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    let perm = u32::from_str_radix(config.get_value("unixsocketperm"), 8).unwrap_or(0);
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm))?;
    }
    Ok(Some((listener, path)))
}

/// The one accept loop of every client listener (TCP, TLS, unix socket): a failed accept
/// (EMFILE, ECONNABORTED...) is logged and retried after a short pause instead of ending the
/// listener, as Redis keeps its listening sockets through such errors. `poll_accept` is the
/// listener's own; `serve` starts the connection's task.
pub(crate) async fn accept_forever<T>(
    listener: &'static str,
    mut poll_accept: impl FnMut(&mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<T>>,
    mut serve: impl FnMut(T),
) {
    loop {
        match std::future::poll_fn(&mut poll_accept).await {
            Ok(accepted) => serve(accepted),
            Err(e) => {
                tracing::warn!(error = %e, listener, "accept failed");
                crate::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs the node until the process is stopped.
pub(crate) async fn run(
    server: Arc<Server>,
    listeners: Vec<TcpListener>,
    tls_listeners: Vec<TcpListener>,
    unix: Option<(tokio::net::UnixListener, String)>,
) {
    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::unbounded_channel();
    server.lock().jobs = Some(jobs_tx);
    start_replication_if_configured(&server);
    // A replica per nodes.conf follows its primary before the first cron, so neither
    // active expiry nor a lookup deletes the expired keys it loaded (Redis never runs
    // active expiry on a cluster replica).
    crate::cluster::driver::replicate_if_loaded_as_replica(&mut server.lock());
    tokio::spawn(crate::persist::jobs::run(server.clone(), jobs_rx));
    tokio::spawn(cron(server.clone()));
    crate::shutdown::listen_for_signals();
    if let Err(e) = crate::cluster::bus::start(&server).await {
        // Through the log (the logfile when one is set), as Redis's serverLog: its
        // cluster test harness counts any stderr output of an instance as a failure.
        tracing::error!("Could not bind the cluster bus port: {e}");
        std::process::exit(1);
    }
    for listener in listeners {
        let server = server.clone();
        tokio::spawn(async move {
            accept_forever(
                "tcp",
                |cx| listener.poll_accept(cx),
                |(stream, peer)| {
                    tokio::spawn(crate::conn::serve(server.clone(), stream, peer));
                },
            )
            .await
        });
    }
    if let Some((listener, path)) = unix {
        let server = server.clone();
        tokio::spawn(async move {
            accept_forever(
                "unix",
                |cx| listener.poll_accept(cx),
                |(stream, _)| {
                    tokio::spawn(crate::conn::serve_unix(
                        server.clone(),
                        stream,
                        path.clone(),
                    ));
                },
            )
            .await
        });
    }
    let tls = server.store.lock().tls.clone();
    for listener in tls_listeners {
        tokio::spawn(crate::tls::accept_loop(
            server.clone(),
            listener,
            tls.clone(),
        ));
    }
    std::future::pending::<()>().await;
}

/// `replicaof host port` in the config file or on the command line: start as a replica of
/// that primary, as redis-server does (ignored in cluster mode, where the cluster decides).
fn start_replication_if_configured(server: &Server) {
    let mut store = server.store.lock();
    if store.config.cluster_enabled {
        return;
    }
    let target = store.config.get_value("replicaof").to_string();
    let mut words = target.split_whitespace();
    let (Some(host), Some(port)) = (words.next(), words.next()) else {
        return;
    };
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return;
    }
    match port.parse::<u16>() {
        Ok(port) => crate::repl::role::set_primary(&mut store, host.to_string(), port),
        Err(_) => tracing::warn!(replicaof = %target, "invalid replicaof port"),
    }
}

/// Periodic work, `hz` times per second.
async fn cron(server: Arc<Server>) {
    let mut last_clients_scan = 0;
    let mut last_replica_ping = 0;
    loop {
        // While a script runs, the cron waits its turn without holding a worker thread.
        let hz = crate::script::busy::lock_unless_script(&server.store, &server.busy)
            .map_or(10, |s| s.config.hz);
        crate::timer::sleep(Duration::from_millis(1000 / hz)).await;
        let Some(mut store) = crate::script::busy::lock_unless_script(&server.store, &server.busy)
        else {
            continue;
        };
        if store.pause_cron {
            continue;
        }
        let now = now_ms();
        crate::shutdown::tick(&mut store, now);
        // A pause's end is a time: the databases learn of it here (and from CLIENT
        // PAUSE / UNPAUSE at once).
        store.sync_expiry_mode(now);
        let cycle_started = std::time::Instant::now();
        for db in 0..store.dbs.len() {
            if store.active_expire {
                store.dbs[db].active_expire(now, ACTIVE_EXPIRE_BUDGET);
            }
            store.collect_expired(db);
        }
        // A replica's databases expire nothing by themselves; the keys its own clients
        // gave a TTL (replica-read-only no) it expires here.
        if store.active_expire && store.replication.primary.is_some() {
            crate::repl::replica_expire::expire_due(&mut store, now);
        }
        // Redis's `expire-cycle` latency event: the whole active expiry pass, freeing
        // included (a big value expiring without lazyfree-lazy-expire shows here).
        let threshold = store.observe.latency_threshold;
        store.latency.add_if_needed(
            "expire-cycle",
            cycle_started.elapsed().as_millis() as u64,
            threshold,
            crate::exec::observe::now_secs(),
        );
        let used = crate::alloc::used_memory();
        if used > store.stats.used_memory_peak {
            store.stats.used_memory_peak = used;
        }
        // Once a second, as Redis's clientsCron: clients idle for over 2 s give back the
        // free space of their buffers (when the query buffer has more than 4 KB of it).
        if now / 1000 != last_clients_scan / 1000 {
            last_clients_scan = now;
            store.clients.release_idle_buffers(now, 2000, 4096);
            crate::cluster::routing::redirect_blocked(&mut store);
        }
        // As Redis's serverCron: a lowered tracking-table-max-keys applies without
        // waiting for a command.
        if store.tracking.active() {
            crate::exec::tracking::limit_table(&mut store);
        }
        let total = store.stats.total_commands;
        let samples = &mut store.stats.ops_samples;
        samples.push((now, total));
        if samples.len() > 16 {
            samples.remove(0);
        }
        if store.blocking.has_ready() {
            crate::exec::dispatch::serve_blocked(&mut store);
        }
        crate::repl::failover::tick(&mut store);
        if now / 1000 != last_replica_ping / 1000 {
            last_replica_ping = now;
            crate::repl::ping_replicas_if_due(&mut store, now);
        }
        store.flush_feed();
        crate::persist::saving::autosave_if_due(&mut store, now);
        crate::persist::aof_files::auto_rewrite_if_due(&mut store, now);
        if let Some(aof) = store.aof.as_mut() {
            if aof.write_error().is_some() {
                let _ = aof.retry_pending();
            }
            if let Err(e) = aof.fsync_if_needed() {
                tracing::error!(error = %e, "fsync of the AOF failed");
            }
        }
    }
}

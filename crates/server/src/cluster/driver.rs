//! The cluster driver: owns the sans-I/O [`rubra_cluster::Node`], executes the
//! [`Output`]s it returns. Requests are routed against the node's own slot table
//! ([`rubra_cluster::redirect`]), so there is no second copy to keep in step.
//!
//! WHY UNDER THE STORE LOCK: the node lives in `Store::cluster`, behind the same mutex as
//! the keyspace. CLUSTER subcommands need both at once (SETSLOT NODE and FLUSHSLOTS check
//! key counts, RESET and REPLICATE look at the database, SlotsLost deletes keys), and the
//! routing decision reads the slot table in the same critical section that changes it, so
//! no command can ever be routed by a table older than the node's. Bus work is small (a message is
//! decoded and handled in microseconds; a tick every 100 ms), so sharing the lock costs
//! clients nothing measurable, while a second lock would invite ordering bugs.
//!
//! BEHAVIOR: every entry point (bus frame, tick, CLUSTER command) ends with [`apply`], which
//! sends bus bytes (queued to per-peer writer tasks, never awaited here), persists
//! nodes.conf atomically, starts/stops replication, delivers bus pub/sub, deletes keys of
//! lost slots, then refreshes what a down cluster may still serve.

use crate::cluster::bus::Links;
use crate::cluster::nodes_file::ConfFile;
use crate::config::Config;
use crate::store::{now_ms, Store};
use bytes::Bytes;
use rubra_cluster::redirect::DownPolicy;
use rubra_cluster::{Node, NodeConfig, Output};
use std::path::PathBuf;

/// The cluster side of the node: the state machine plus the transport state around it.
pub(crate) struct ClusterDriver {
    /// The cluster brain (gossip, failure detection, failover, slot table).
    pub node: Node,
    /// nodes.conf (`dir` joined with `cluster-config-file`).
    pub conf: ConfFile,
    /// Outgoing bus links, one writer task per peer address.
    pub links: Links,
    /// Manual failover on the primary side: writes are held back until this time (ms);
    /// 0 = not paused. Change it only through [`ClusterDriver::set_pause`].
    pub writes_paused_until: u64,
    /// Publishes `writes_paused_until` to connections waiting out a pause off-lock, so they
    /// wake the moment it ends instead of polling (a watch channel loses no wake-up: a
    /// receiver subscribed under the lock sees every later change).
    pause_tx: tokio::sync::watch::Sender<u64>,
    /// When our replication link was last seen going down (None while it is up).
    repl_down_since: Option<u64>,
    /// The port the bus listener binds (cluster-port or port + 10000).
    pub bus_port: u16,
    /// cluster-allow-reads-when-down / -pubsubshard-when-down, read from the config after
    /// every [`apply`] so the per-request decision does not parse config strings.
    pub down_policy: DownPolicy,
    /// cluster-preferred-endpoint-type, read from the config with `down_policy`.
    pub preferred_endpoint: crate::cluster::routing::Preferred,
    /// Atomic slot migrations (CLUSTER MIGRATESLOTS) on either side.
    pub migrations: crate::cluster::migration::Migrations,
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: bus frames of this message type are dropped on
    /// arrival (-1, the default, drops none). Redis's test suite uses it to keep a node
    /// in the handshake phase or deaf to one kind of message.
    pub drop_packet_filter: i64,
}

fn param_u64(config: &Config, name: &str, default: u64) -> u64 {
    config.get_value(name).parse().unwrap_or(default)
}

fn param_bool(config: &Config, name: &str, default: bool) -> bool {
    match config.get_value(name) {
        "yes" => true,
        "no" => false,
        _ => default,
    }
}

/// The address other nodes and clients should use for us: cluster-announce-ip, else the
/// first concrete bind address, else loopback (a wildcard bind has no single address;
/// peers then learn ours from the connection, and CLUSTER MEET fixes it).
fn announced_ip(config: &Config) -> String {
    let announce = config.get_value("cluster-announce-ip");
    if !announce.is_empty() {
        return announce.to_string();
    }
    config
        .get_value("bind")
        .split_whitespace()
        .map(|a| a.trim_start_matches('-'))
        .find(|a| !matches!(*a, "*" | "0.0.0.0" | "::" | "::*"))
        .unwrap_or("127.0.0.1")
        .to_string()
}

/// The core's settings from redis.conf-style parameters.
pub(crate) fn node_config(config: &Config) -> (NodeConfig, u16) {
    // With tls-cluster, clients and other nodes are given the TLS port (as Redis does).
    let port = if config.get_value("tls-cluster") == "yes" {
        crate::tls::tls_port(config)
    } else {
        config.port
    };
    let listen_cport = match param_u64(config, "cluster-port", 0) {
        0 => port.wrapping_add(10000),
        p => p as u16,
    };
    let mut nc = NodeConfig::new(&announced_ip(config), port);
    if let p @ 1.. = param_u64(config, "cluster-announce-port", 0) {
        nc.port = p as u16;
    }
    nc.cport = match param_u64(config, "cluster-announce-bus-port", 0) {
        0 => listen_cport,
        p => p as u16,
    };
    nc.hostname = config.get_value("cluster-announce-hostname").to_string();
    nc.node_timeout_ms = param_u64(config, "cluster-node-timeout", 15000).max(1);
    nc.require_full_coverage = param_bool(config, "cluster-require-full-coverage", true);
    nc.migration_barrier = param_u64(config, "cluster-migration-barrier", 1) as usize;
    nc.allow_replica_migration = param_bool(config, "cluster-allow-replica-migration", true);
    nc.replica_no_failover = param_bool(config, "cluster-replica-no-failover", false);
    nc.replica_validity_factor = param_u64(config, "cluster-replica-validity-factor", 10);
    nc.repl_ping_period_ms = param_u64(config, "repl-ping-replica-period", 10) * 1000;
    (nc, listen_cport)
}

impl ClusterDriver {
    /// Loads nodes.conf if it exists (a corrupt file is fatal, as in Redis), otherwise
    /// creates a fresh node with a random id and saves it at once.
    pub(crate) fn open(config: &Config, seed: u64) -> Result<ClusterDriver, String> {
        let (nc, bus_port) = node_config(config);
        let conf_path =
            PathBuf::from(config.get_value("dir")).join(config.get_value("cluster-config-file"));
        let now = now_ms();
        let text = std::fs::read_to_string(&conf_path).unwrap_or_default();
        let fresh = text.trim().is_empty();
        let node = if fresh {
            Node::new(nc, seed, now)
        } else {
            Node::from_nodes_conf(nc, seed, &text, now)
                .map_err(|e| format!("{}: {e}", conf_path.display()))?
        };
        let mut driver = ClusterDriver {
            node,
            conf: ConfFile::new(conf_path),
            links: Links::default(),
            writes_paused_until: 0,
            pause_tx: tokio::sync::watch::Sender::new(0),
            repl_down_since: None,
            bus_port,
            down_policy: DownPolicy::default(),
            preferred_endpoint: Default::default(),
            migrations: Default::default(),
            drop_packet_filter: -1,
        };
        driver.save_config(true)?;
        tracing::info!(
            id = %driver.node.id().as_string(),
            loaded = !fresh,
            "cluster node ready"
        );
        Ok(driver)
    }

    /// Saves nodes.conf (see [`ConfFile`]): `durable` for CLUSTER SAVECONFIG; epoch
    /// changes are always durable, other changes are written in the background.
    pub(crate) fn save_config(&mut self, durable: bool) -> Result<(), String> {
        let text = self.node.nodes_conf();
        self.conf.save(text, durable)
    }

    /// Whether writes are held for a manual failover at `now`.
    pub(crate) fn writes_paused(&self, now: u64) -> bool {
        self.writes_paused_until > now
    }

    /// Starts (`until_ms` > 0) or ends (0) the manual-failover write pause, waking every
    /// connection that waits for it.
    pub(crate) fn set_pause(&mut self, until_ms: u64) {
        if self.writes_paused_until != until_ms {
            self.writes_paused_until = until_ms;
            self.pause_tx.send_replace(until_ms);
        }
    }

    /// Wakes every connection waiting out a pause so it looks again (a slot migration's
    /// hold ended).
    pub(crate) fn kick_pause_watchers(&mut self) {
        self.pause_tx.send_replace(self.writes_paused_until);
    }

    /// A receiver that changes when the pause starts or ends. Take it under the store lock
    /// together with the decision to wait, then await it off-lock.
    pub(crate) fn pause_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.pause_tx.subscribe()
    }
}

/// Cluster mode start-up, before the data is loaded (as Redis's clusterInit): reads
/// nodes.conf or builds a fresh node, so the loader knows the node's role. None without
/// `cluster-enabled yes`.
pub(crate) fn open(store: &mut Store) -> Result<Option<Box<ClusterDriver>>, String> {
    if !store.config.cluster_enabled {
        return Ok(None);
    }
    let seed = rand::Rng::gen::<u64>(&mut store.rng);
    Ok(Some(Box::new(ClusterDriver::open(&store.config, seed)?)))
}

/// Whether nodes.conf made this node a replica (known before the data is loaded).
pub(crate) fn is_replica(driver: &ClusterDriver) -> bool {
    driver.node.state().me().is_replica()
}

/// The second half of start-up, once the data is loaded: the node takes its place and
/// drops keys of slots another node owns (see [`drop_foreign_keys`]).
pub(crate) fn install(store: &mut Store, driver: Option<Box<ClusterDriver>>) {
    let Some(driver) = driver else {
        return;
    };
    store.cluster = Some(driver);
    refresh_down_policy(store);
    drop_foreign_keys(store);
}

/// At start-up and on promotion, a primary drops keys it holds in slots another node owns
/// and that are not being imported with SETSLOT: they can only be what an atomic slot
/// migration imported before this node (or the primary it replicated) died, whose FINISH
/// never came, so the source kept the slots. Redis would
/// mark such slots importing instead; for atomic migration that would resurrect half an
/// import.
fn drop_foreign_keys(store: &mut Store) {
    let Some(driver) = store.cluster.as_deref() else {
        return;
    };
    let st = driver.node.state();
    if !st.me().is_primary() {
        return;
    }
    let foreign: Vec<u16> = (0..rubra_keys::SLOT_COUNT)
        .filter(|&s| matches!(st.slots[s], Some(o) if o != st.myself))
        .filter(|&s| !st.importing.contains_key(&(s as u16)))
        .filter(|&s| store.dbs.iter().any(|db| db.count_in_slot(s) > 0))
        .map(|s| s as u16)
        .collect();
    if !foreign.is_empty() {
        tracing::warn!(
            slots = foreign.len(),
            "dropping keys of slots owned elsewhere (an unfinished slot import)"
        );
        delete_slots(store, &foreign);
    }
}

/// Inputs the core expects before each tick: our replication offset and, on a replica,
/// since when the link to the primary is down.
///
/// The down time counts from when the link was lost (PrimaryLink::down_since_ms, Redis's
/// repl_down_since), or else from when this node first saw it not connected (a link that
/// never connected; checked every tick).
fn feed_inputs(store: &mut Store, now: u64) {
    let offset = crate::repl::my_offset(store);
    let link = store
        .replication
        .primary
        .as_ref()
        .map(|p| (p.state, p.down_since_ms));
    let Some(driver) = store.cluster.as_mut() else {
        return;
    };
    driver.node.set_repl_offset(offset);
    match link {
        Some((crate::repl::state::LinkState::Connected, _)) | None => {
            driver.repl_down_since = None;
            driver.node.set_repl_link_down_since(None);
        }
        Some((_, lost_at)) => {
            let seen = lost_at.unwrap_or(now);
            let first_seen = driver.repl_down_since.map_or(seen, |d| d.min(seen));
            driver.repl_down_since = Some(first_seen);
            driver.node.set_repl_link_down_since(Some(first_seen));
        }
    }
}

/// Gives the node the cluster-* parameters of the config table when they changed. CONFIG
/// SET calls it at once, as Redis applies them in the command (a test that sets
/// cluster-announce-hostname and then reads CLUSTER SLOTS on the same node saw the old
/// value for up to a tick); the tick calls it too, for any other path.
pub(crate) fn sync_config(store: &mut Store) {
    let (wanted, _) = node_config(&store.config);
    let Some(driver) = store.cluster.as_mut() else {
        return;
    };
    if wanted != *driver.node.config() {
        tracing::info!("cluster configuration changed");
        let outs = driver.node.set_config(wanted);
        apply(store, outs);
    }
    refresh_down_policy(store);
}

/// One clusterCron step (called every ~100 ms by the bus ticker).
pub(crate) fn tick(store: &mut Store) {
    let now = now_ms();
    feed_inputs(store, now);
    sync_config(store);
    let Some(driver) = store.cluster.as_mut() else {
        return;
    };
    if driver.writes_paused_until != 0 && driver.writes_paused_until <= now {
        driver.set_pause(0);
    }
    let outs = driver.node.tick(now);
    if let Some((end, primary_offset, can_start)) = driver.node.manual_failover_state() {
        tracing::debug!(
            end,
            ?primary_offset,
            can_start,
            offset = store.feed.offset,
            paused_until = driver.writes_paused_until,
            "manual failover in progress"
        );
    }
    driver.links.prune(driver.node.state());
    apply(store, outs);
    replicate_if_loaded_as_replica(store);
}

/// clusterCron's rule: a replica that replicates from no one (it loaded nodes.conf as a
/// replica after a restart, where no role change tells it to) starts replicating from its
/// primary once that primary's address is known.
pub(crate) fn replicate_if_loaded_as_replica(store: &mut Store) {
    if store.replication.primary.is_some() {
        return;
    }
    let Some(driver) = store.cluster.as_ref() else {
        return;
    };
    let st = driver.node.state();
    let me = st.me();
    if !me.is_replica() {
        return;
    }
    let Some(p) = me.primary.as_ref().and_then(|id| st.nodes.get(id)) else {
        return;
    };
    if p.ip.is_empty() || p.port == 0 {
        return;
    }
    let (host, port) = (p.ip.clone(), p.port);
    tracing::info!(primary = %format!("{host}:{port}"), "cluster: replicating (loaded as a replica)");
    crate::repl::role::set_primary(store, host, port);
}

/// Deadline work between ticks (failure detection, election start); see `Node::wake`.
pub(crate) fn wake(store: &mut Store) {
    let now = now_ms();
    feed_inputs(store, now);
    let Some(driver) = store.cluster.as_mut() else {
        return;
    };
    let outs = driver.node.wake(now);
    apply(store, outs);
}

/// Feeds one received bus frame to the node. Err means the link must be closed.
pub(crate) fn on_frame(store: &mut Store, from_ip: &str, frame: &[u8]) -> Result<(), String> {
    let now = now_ms();
    let offset = crate::repl::my_offset(store);
    let Some(driver) = store.cluster.as_mut() else {
        return Err("cluster mode is off".into());
    };
    if driver.drop_packet_filter >= 0
        && rubra_cluster::wire::peek_type(frame).map(i64::from) == Some(driver.drop_packet_filter)
    {
        tracing::warn!("Dropping packet that matches debug drop filter");
        return Ok(());
    }
    driver.node.set_repl_offset(offset);
    let outs = driver
        .node
        .step(now, from_ip, frame)
        .map_err(|e| e.to_string())?;
    apply(store, outs);
    Ok(())
}

/// Store-level work an output asks for, done after the outputs touching only the driver.
enum Deferred {
    ReplicateFrom(String, u16),
    BecamePrimary,
    Publish(Vec<u8>, Vec<u8>, bool),
    SlotsLost(Vec<u16>),
}

/// Executes the node's outputs, then refreshes the down policy. Never blocks on the
/// network: bus bytes are queued to writer tasks.
pub(crate) fn apply(store: &mut Store, outs: Vec<Output>) {
    let Some(driver) = store.cluster.as_mut() else {
        return;
    };
    let mut save = false;
    let mut deferred = Vec::new();
    for out in outs {
        match out {
            Output::Send { to, node, bytes } => driver.links.send(&to, node, bytes),
            Output::SaveConfig => save = true,
            Output::ReplicateFrom { addr, .. } => {
                deferred.push(Deferred::ReplicateFrom(addr.ip, addr.port))
            }
            Output::BecamePrimary => deferred.push(Deferred::BecamePrimary),
            Output::PauseWrites { until_ms } => driver.set_pause(until_ms),
            Output::ResumeWrites => driver.set_pause(0),
            Output::Publish {
                channel,
                message,
                sharded,
            } => deferred.push(Deferred::Publish(channel, message, sharded)),
            Output::SlotsLost { slots } => deferred.push(Deferred::SlotsLost(slots)),
            // The dispatcher reads the state from the node itself.
            Output::StateChanged { ok } => tracing::info!(ok, "cluster state changed"),
        }
    }
    if save {
        if let Err(e) = driver.save_config(false) {
            tracing::error!(error = %e, "saving the cluster config failed");
        }
    }
    for d in deferred {
        match d {
            Deferred::ReplicateFrom(host, port) => {
                tracing::info!(primary = %format!("{host}:{port}"), "cluster: replicating");
                crate::repl::role::set_primary(store, host, port);
            }
            Deferred::BecamePrimary => {
                tracing::info!("cluster: this node is now a primary");
                crate::repl::role::clear_primary(store);
                drop_foreign_keys(store);
            }
            Deferred::Publish(channel, message, sharded) => {
                let kind = if sharded {
                    crate::exec::pubsub::Kind::Shard
                } else {
                    crate::exec::pubsub::Kind::Channel
                };
                let limits = store.config.pubsub_output_limits;
                let s = &mut *store;
                s.pubsub.publish(
                    &mut s.clients,
                    kind,
                    &Bytes::from(channel),
                    &Bytes::from(message),
                    now_ms(),
                    limits,
                );
            }
            Deferred::SlotsLost(slots) => {
                let now_purged = crate::cluster::migration::defer_purge(store, slots);
                delete_slots(store, &now_purged);
            }
        }
    }
    drop_foreign_shard_channels(store);
    refresh_down_policy(store);
}

/// Shard channels whose slot our shard no longer serves (SETSLOT NODE elsewhere, DELSLOTS,
/// FLUSHSLOTS, a slot taken over by another shard) lose their subscribers, each told with
/// `sunsubscribe`, as Redis's clusterDelSlot does: a shard-pub/sub client learns it must
/// subscribe at the slot's new owner. A slot being imported here keeps its channels (an
/// ASKING client may subscribe there). Nothing to do, and no cost, without shard
/// subscriptions.
fn drop_foreign_shard_channels(store: &mut Store) {
    let Some(driver) = store.cluster.as_ref() else {
        return;
    };
    let st = driver.node.state();
    let me = st.myself;
    let my_primary = st.me().primary;
    let keep = |channel: &Bytes| {
        let slot = rubra_keys::key_slot(channel);
        let owner = st.slots.get(slot as usize).copied().flatten();
        owner.is_some_and(|o| o == me || Some(o) == my_primary) || st.importing.contains_key(&slot)
    };
    let limits = store.config.pubsub_output_limits;
    store
        .pubsub
        .drop_shard_channels(&mut store.clients, keep, now_ms(), limits);
}

/// Deletes our keys in slots another primary took over, propagating DELs to our replicas
/// and AOF as Redis's delKeysInSlot does.
pub(crate) fn delete_slots(store: &mut Store, slots: &[u16]) {
    let mut deleted = 0;
    for &slot in slots {
        deleted += delete_in_slot(store, slot, usize::MAX);
    }
    if deleted > 0 {
        tracing::info!(keys = deleted, "deleted keys of slots we lost");
    }
}

/// Deletes up to `budget` keys of one slot (in every database), with DELs to replicas and
/// AOF; returns how many.
pub(crate) fn delete_in_slot(store: &mut Store, slot: u16, budget: usize) -> u64 {
    let mut deleted = 0;
    {
        for db in 0..store.dbs.len() {
            let left = budget.saturating_sub(deleted as usize);
            if left == 0 {
                break;
            }
            let keys = store.dbs[db].keys_in_slot(slot as usize, left);
            for key in keys {
                if let Some(entry) = store.dbs[db].remove(&key) {
                    if crate::cluster::migration_send::is_big(&entry.value) {
                        // Freeing a million-member value takes tens of ms: not under the lock.
                        std::thread::spawn(move || drop(entry));
                    }
                    deleted += 1;
                    store.key_modified(db, &key);
                    store
                        .feed
                        .propagate(db, &[Bytes::from_static(b"DEL"), key.clone()]);
                }
            }
        }
    }
    store.dirty += deleted;
    deleted
}

/// Reads what a down cluster may still serve, and the preferred endpoint type, from the
/// config (CONFIG SET can change them at any time; it calls [`sync_config`], and every
/// tick passes through [`apply`]).
pub(crate) fn refresh_down_policy(store: &mut Store) {
    let policy = DownPolicy {
        allow_reads: store.config.get_value("cluster-allow-reads-when-down") == "yes",
        allow_pubsubshard: store
            .config
            .get_value("cluster-allow-pubsubshard-when-down")
            == "yes",
    };
    let preferred = crate::cluster::routing::Preferred::from_config(
        store.config.get_value("cluster-preferred-endpoint-type"),
    );
    let sendbuf_limit =
        crate::config::parse_memory(store.config.get_value("cluster-link-sendbuf-limit"))
            .unwrap_or(0) as usize;
    if let Some(driver) = store.cluster.as_mut() {
        driver.down_policy = policy;
        driver.preferred_endpoint = preferred;
        driver.links.sendbuf_limit = sendbuf_limit;
    }
}

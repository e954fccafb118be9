//! Role changes: becoming a replica of a primary, or a primary again. REPLICAOF and the
//! cluster driver (a failover, CLUSTER REPLICATE) both go through here.

use crate::persist::jobs::Job;
use crate::repl::state::{LinkState, PrimaryLink};
use crate::store::{random_hex, Store};

/// Stops replicating (REPLICAOF NO ONE, or a cluster failover promoting us). The old
/// replication id is kept as the secondary one, so former siblings can still resync
/// partially from us (PSYNC2). Returns whether we were a replica.
pub(crate) fn clear_primary(store: &mut Store) -> bool {
    let repl = &mut store.replication;
    if repl.primary.take().is_none() {
        return false;
    }
    repl.offset_unknown = false;
    repl.no_cached_primary = false;
    repl.sync_load = crate::repl::state::SyncLoad::Idle;
    repl.link_generation += 1;
    // CONFIG REWRITE writes the primary we follow now (none): Redis's replicaof option is
    // the live masterhost.
    store.config.set("replicaof", "no one", true).ok();
    let new_id = random_hex(&mut store.rng, 40);
    store.feed.shift_replid(new_id);
    for db in &mut store.dbs {
        db.replica_mode = false;
    }
    true
}

/// Starts (or restarts) replication from `host:port` (REPLICAOF host port, or the cluster
/// making us a replica). A no-op if that primary is already the one we follow.
pub(crate) fn set_primary(store: &mut Store, host: String, port: u16) {
    if let Some(p) = &store.replication.primary {
        if p.host == host && p.port == port {
            return;
        }
    }
    let Some(jobs) = store.jobs.clone() else {
        return;
    };
    let now = crate::store::now_ms();
    store
        .config
        .set("replicaof", &format!("{host} {port}"), true)
        .ok();
    let repl = &mut store.replication;
    repl.link_generation += 1;
    let generation = repl.link_generation;
    repl.primary = Some(PrimaryLink {
        host: host.clone(),
        port,
        state: LinkState::Connecting,
        generation,
        last_io_ms: now,
        down_since_ms: None,
    });
    // Our replicas must resync from us: drop them so they reconnect.
    disconnect_replicas(store);
    for db in &mut store.dbs {
        db.replica_mode = true;
    }
    let _ = jobs.send(Job::ReplicateFrom {
        host,
        port,
        generation,
    });
}

/// Drops every replica attached to us (Redis's disconnectSlaves): they reconnect and ask
/// again, learning a new replication id or doing a full sync if our history changed.
pub(crate) fn disconnect_replicas(store: &mut Store) {
    let ids: Vec<u64> = store.replication.replicas.keys().copied().collect();
    for id in ids {
        store.clients.kill(id);
    }
}

/// A replica takes in a new primary's dataset (Redis's replicationAttachToNewMaster): its
/// own replicas must resync with it (they are dropped), and its old history can no longer
/// be continued, so its next handshake asks for a full sync.
pub(crate) fn attach_to_new_primary(store: &mut Store) {
    store.replication.no_cached_primary = true;
    disconnect_replicas(store);
}

//! Replication as Redis does it: primary/replica state and WAIT bookkeeping, the replica's
//! link to its primary, and the propagation feed that carries every change to replicas
//! and the AOF.

pub(crate) mod failover;
pub(crate) mod feed;
pub(crate) mod fullsync;
pub(crate) mod link;
pub(crate) mod replica_expire;
pub(crate) mod role;
pub(crate) mod state;
pub(crate) mod stream_forms;

/// Redis's iAmMaster(): in cluster mode the role nodes.conf and the cluster give this
/// node, otherwise whether it follows no primary. Loading a file drops keys that are
/// already expired only on a primary.
pub(crate) fn i_am_primary(store: &crate::store::Store) -> bool {
    match store.cluster.as_deref() {
        Some(driver) => driver.node.state().me().is_primary(),
        None => !store.replication.is_replica(),
    }
}

/// Our replication offset as the cluster sees it (Redis's replicationGetSlaveOffset on a
/// replica, master_repl_offset on a primary): 0 on a replica from its primary's
/// FULLRESYNC answer until the snapshot is loaded, since Redis discards its cached
/// primary there. CLUSTER SLOTS hides, and CLUSTER SHARDS shows as `loading`, a replica
/// whose offset is 0.
pub(crate) fn my_offset(store: &crate::store::Store) -> u64 {
    let r = &store.replication;
    if r.is_replica() && r.offset_unknown {
        0
    } else {
        store.feed.offset
    }
}

/// Once a second from the cron: every `repl-ping-replica-period` seconds a primary with
/// replicas sends them a PING (Redis's replicationCron), except while a failover holds
/// writes (the PING would move the offset the handover compares).
pub(crate) fn ping_replicas_if_due(store: &mut crate::store::Store, now_ms: u64) {
    if store.replication.is_replica() || store.replication.replicas.is_empty() {
        return;
    }
    let period = store
        .config
        .get_value("repl-ping-replica-period")
        .parse::<u64>()
        .unwrap_or(10)
        .max(1);
    if !(now_ms / 1000).is_multiple_of(period) {
        return;
    }
    let failover_pause = store.pause.writes_held()
        || store
            .cluster
            .as_ref()
            .is_some_and(|c| c.writes_paused(now_ms));
    if !failover_pause {
        store.feed.ping_replicas();
    }
}

/// `repl-timeout` (seconds, at least 1): how long a link may stay silent.
pub(crate) fn repl_timeout(config: &crate::config::Config) -> std::time::Duration {
    let secs = config
        .get_value("repl-timeout")
        .parse::<u64>()
        .unwrap_or(60);
    std::time::Duration::from_secs(secs.max(1))
}

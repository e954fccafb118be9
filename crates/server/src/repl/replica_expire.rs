//! Keys that clients of a writable replica (`replica-read-only no`) gave a TTL. The primary
//! knows nothing of them and will never send their DEL, so the replica expires them
//! itself, as Redis 7.0 does: it remembers such keys (its slaveKeysWithExpire) and its
//! cron deletes those whose time has come (expireSlaveKeys), counting them in
//! expired_keys. Keys the primary wrote are still left to the primary's DELs.

use crate::store::Store;
use bytes::Bytes;

/// Databases Redis can track a key in (one bit each of a 64-bit mask).
const TRACKED_DBS: usize = 64;

/// Whether writes by this node's own clients are a writable replica's.
pub(crate) fn writable_replica(store: &Store) -> bool {
    store.replication.primary.is_some() && !store.config.replica_read_only
}

/// The TTLs a write is about to change: each key argument of the command in `db` with
/// its expiry time now (0: none). Empty unless this is a writable replica.
pub(crate) fn before_write(
    store: &Store,
    db: usize,
    cmd: &crate::cmd::Command,
    args: &[Bytes],
) -> Vec<(Bytes, u64)> {
    if !writable_replica(store) || db >= TRACKED_DBS {
        return Vec::new();
    }
    let mut keys = Vec::new();
    cmd.for_each_key_position(args, |i| {
        keys.push((args[i].clone(), store.dbs[db].expire_at(&args[i])));
    });
    keys
}

/// After the write: a key whose expiry time it set or changed is remembered (Redis
/// remembers a key when a replica's client sets its expire).
pub(crate) fn after_write(store: &mut Store, db: usize, before: Vec<(Bytes, u64)>) {
    for (key, was) in before {
        let now = store.dbs[db].expire_at(&key);
        if now != 0 && now != was {
            *store.replication.written_expires.entry(key).or_insert(0) |= 1 << db;
        }
    }
}

/// Forgets every remembered key (the dataset was emptied: FLUSHALL, a full sync).
pub(crate) fn forget_all(store: &mut Store) {
    store.replication.written_expires.clear();
}

/// The cron's pass on a replica: deletes the remembered keys whose time has come, and
/// forgets those that no longer have a TTL (deleted, persisted, overwritten).
pub(crate) fn expire_due(store: &mut Store, now_ms: u64) {
    if store.replication.written_expires.is_empty() {
        return;
    }
    let tracked = std::mem::take(&mut store.replication.written_expires);
    let mut kept = std::collections::HashMap::with_capacity(tracked.len());
    for (key, mask) in tracked {
        let mut still = 0u64;
        for db in (0..store.dbs.len().min(TRACKED_DBS)).filter(|d| mask & (1 << d) != 0) {
            let at = store.dbs[db].expire_at(&key);
            if at == 0 {
                continue;
            }
            if at <= now_ms {
                store.dbs[db].remove(&key);
                store.key_expired(db, key.clone());
            } else {
                still |= 1 << db;
            }
        }
        if still != 0 {
            kept.insert(key, still);
        }
    }
    store.replication.written_expires = kept;
}

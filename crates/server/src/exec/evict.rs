//! maxmemory enforcement: before a command that may grow memory, evict keys chosen by the
//! configured policy until used memory is back under the limit, sampling a few candidates
//! per victim as Redis does (maxmemory-samples) instead of keeping a global LRU list.

use crate::alloc::used_memory;
use crate::config::EvictionPolicy;
use crate::store::Store;
use bytes::Bytes;

/// Most victims per call, so one command never stalls for long; the next one continues.
const MAX_EVICTIONS_PER_CALL: usize = 10_000;

/// Returns true if memory is within the limit (after evicting if the policy allows).
pub(crate) fn make_room(store: &mut Store) -> bool {
    let limit = store.config.maxmemory as usize;
    if limit == 0 || used_memory() <= limit {
        return true;
    }
    if !safe_to_evict(store) {
        return true;
    }
    if store.config.policy == EvictionPolicy::NoEviction {
        return false;
    }
    for _ in 0..MAX_EVICTIONS_PER_CALL {
        if used_memory() <= limit {
            return true;
        }
        let Some((db, key)) = pick_victim(store) else {
            return false;
        };
        store.dbs[db].remove(&key);
        store.stats.evicted_keys += 1;
        store.key_modified(db, &key);
        crate::exec::notify::publish(store, crate::exec::notify::EVICTED, "evicted", &key, db);
        store.feed.propagate(db, &[Bytes::from_static(b"DEL"), key]);
    }
    used_memory() <= limit
}

/// Whether eviction may run now, as Redis's isSafeToPerformEvictions (when it may not,
/// the limit counts as met): a replica follows its primary's DELs instead
/// (replica-ignore-maxmemory, on by default), since evicting on its own would lose keys the
/// primary still has; and while clients are paused the dataset stays still, evictions
/// included.
fn safe_to_evict(store: &Store) -> bool {
    let now = crate::store::now_ms();
    if store.pause.active(now) || store.pause.writes_held() {
        return false;
    }
    !(store.replication.is_replica() && store.config.get_value("replica-ignore-maxmemory") == "yes")
}

/// Samples candidates across databases and returns the best victim for the policy.
fn pick_victim(store: &mut Store) -> Option<(usize, Bytes)> {
    let policy = store.config.policy;
    let volatile = matches!(
        policy,
        EvictionPolicy::VolatileLru
            | EvictionPolicy::VolatileLfu
            | EvictionPolicy::VolatileRandom
            | EvictionPolicy::VolatileTtl
    );
    let samples = store.config.maxmemory_samples;
    let mut best: Option<(u64, usize, Bytes)> = None;
    for db in 0..store.dbs.len() {
        if store.dbs[db].is_empty() {
            continue;
        }
        if policy == EvictionPolicy::VolatileTtl {
            if let Some(k) = store.dbs[db].soonest_expiring(&mut store.rng) {
                let at = match store.dbs[db].expire_at(&k) {
                    0 => u64::MAX,
                    at => at,
                };
                // Lower expiry time = better victim; score is inverted so larger wins.
                let score = u64::MAX - at;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    best = Some((score, db, k));
                }
            }
            continue;
        }
        for _ in 0..samples {
            let key = if volatile {
                store.dbs[db].random_volatile_key(&mut store.rng)
            } else {
                store.dbs[db].random_key(&mut store.rng)
            };
            let Some(key) = key else { break };
            let Some(entry) = store.dbs[db].peek(&key, 0) else {
                continue;
            };
            let score = match policy {
                EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                    u64::MAX - entry.lru as u64
                }
                EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => 255 - entry.lfu as u64,
                _ => 0,
            };
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, db, key));
            }
            if matches!(
                policy,
                EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
            ) {
                break;
            }
        }
    }
    best.map(|(_, db, k)| (db, k))
}

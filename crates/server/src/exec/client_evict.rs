//! Client eviction (Redis 7.0's `maxmemory-clients`): when the memory of the normal and
//! pub/sub clients together reaches the limit, clients are closed, the largest first, until
//! it is below again. Replicas, the link to our primary and CLIENT NO-EVICT clients are
//! never evicted (no-evict clients still count in the total, as in Redis).
//!
//! A client's memory is what CLIENT LIST shows as `tot-mem` (`memory`): its query buffer
//! (length and free space), the arguments of a request still arriving, the MULTI queue,
//! the reply buffer, the replies queued and not yet written, and the overhead of its
//! watched keys, subscriptions and tracking prefixes. It is counted only while
//! maxmemory-clients is set: at the end of each of the client's batches and whenever a
//! message is queued for it; the check itself (`Store::evict_clients`) is one comparison
//! of the running total with the limit unless eviction is due.
//!
//! Order, as Redis's memory buckets: clients are grouped by the power of two of their
//! memory (32 KB and below share the first group, 8 GB and above the last), the largest
//! group goes first, and within a group the client that entered it first goes first.

use crate::client::{ClientHandle, ClientRegistry, ClientState};
use crate::store::Store;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What client eviction knows of one client, kept in its registry entry.
#[derive(Debug, Default)]
pub(crate) struct EvictState {
    /// Wakes the client's connection to close it, even in the middle of a stalled write.
    pub kill: Arc<tokio::sync::Notify>,
    /// Counted in the total: a normal or pub/sub client (not a replica, not our primary).
    pub countable: bool,
    /// Its memory as last counted, and whether that is in `ClientRegistry::clients_mem`.
    pub mem: usize,
    pub counted: bool,
    /// Its memory bucket and when it entered it (`ClientRegistry::bucket_clock`).
    pub bucket: u8,
    pub bucket_since: u64,
    /// Reply bytes of its last batch not yet written when the batch ended.
    pub out_mem: usize,
    /// Overhead of its watched keys, subscriptions and tracking prefixes (last batch).
    pub extra_mem: usize,
}

/// The reply buffer Redis gives every client (CLIENT LIST rbs=) and the client structure
/// itself, counted in every client's memory.
pub(crate) const REPLY_BUFFER: usize = 16384;
const CLIENT_STRUCT: usize = 1024;

/// Bytes a watched key costs its client (Redis: a list node and a watchedKey).
const WATCHED_KEY: usize = 24 + 32;
/// Bytes a pattern subscription costs (a list node) and a channel (a dict entry and slot).
const PATTERN: usize = 24;
const CHANNEL: usize = 24 + 8;
/// Bytes a tracking prefix costs (Redis counts rax nodes; about two per prefix).
const PREFIX: usize = 2 * 32;

/// Replies above this many bytes still unwritten at the end of a batch are counted in the
/// client's memory until written (`ClientState::out_counted`); smaller ones leave at once.
pub(crate) const OUT_COUNTED_MIN: usize = 16 * 1024;

/// A client's memory as CLIENT LIST's tot-mem shows it: `qbuf`, `qbuf_free`, `argv_mem`
/// and `multi_mem` as listed, `omem` the replies queued for it and not yet written.
pub(crate) fn memory(
    h: &ClientHandle,
    qbuf: usize,
    qbuf_free: usize,
    argv_mem: usize,
    multi_mem: usize,
) -> usize {
    qbuf + qbuf_free
        + argv_mem
        + multi_mem
        + REPLY_BUFFER
        + CLIENT_STRUCT
        + h.pending_out.load(Ordering::Relaxed)
        + h.evict.out_mem
        + h.evict.extra_mem
}

/// Redis's getMemUsageBucket: log2 of the memory, 2^15 and below in bucket 0.
fn bucket_of(mem: usize) -> u8 {
    let bits = usize::BITS - mem.leading_zeros();
    (bits.clamp(15, 33) - 15) as u8
}

impl ClientRegistry {
    /// Recounts client `id`'s memory from its registry entry, keeping the total and its
    /// bucket current. A no-op while eviction is off.
    pub(crate) fn update_mem(&mut self, id: u64) {
        if !self.eviction_on {
            return;
        }
        let Some(h) = self.map.get_mut(&id) else {
            return;
        };
        let i = &h.info;
        let mem = memory(h, i.qbuf, i.qbuf_free, i.argv_mem, i.multi_mem);
        let e = &mut h.evict;
        if e.counted {
            self.clients_mem -= e.mem;
        }
        e.counted = e.countable;
        if e.counted {
            self.clients_mem += mem;
        }
        e.mem = mem;
        let bucket = bucket_of(mem);
        if bucket != e.bucket || e.bucket_since == 0 {
            self.bucket_clock += 1;
            e.bucket = bucket;
            e.bucket_since = self.bucket_clock;
        }
    }

    /// Takes a departing client's memory out of the total.
    pub(crate) fn forget_mem(&mut self, h: &ClientHandle) {
        if h.evict.counted {
            self.clients_mem -= h.evict.mem;
        }
    }
}

impl Store {
    /// Redis's getClientEvictionLimit: maxmemory-clients in bytes (a percentage of
    /// maxmemory when negative, none without maxmemory), at least 128 KB; 0 = no eviction.
    pub(crate) fn client_eviction_limit(&self) -> usize {
        let setting = self.config.maxmemory_clients;
        let limit = if setting < 0 && self.config.maxmemory > 0 {
            (self.config.maxmemory as f64 * (-setting) as f64 / 100.0) as usize
        } else if setting > 0 {
            setting as usize
        } else {
            return 0;
        };
        limit.max(128 * 1024)
    }

    /// Counts `client`'s memory after its batch (`out_len`: its replies not yet written),
    /// when eviction is on; turns the counting on or off when maxmemory-clients changed.
    pub(crate) fn count_client_mem(&mut self, client: &mut ClientState, out_len: usize) {
        let on = self.config.maxmemory_clients != 0;
        if on != self.clients.eviction_on {
            self.clients.eviction_on = on;
            self.clients.clients_mem = 0;
            if on {
                self.recount_all_clients();
            } else {
                for h in self.clients.map.values_mut() {
                    h.evict.counted = false;
                }
            }
        }
        if !on {
            return;
        }
        // A client over its output hard limit is closed by its connection without its
        // replies: they do not count (Redis frees it before any eviction).
        let closing =
            client.over_output_limit(out_len) == Some(std::time::Duration::ZERO) || client.closing;
        client.out_counted = !closing && out_len >= OUT_COUNTED_MIN;
        let extra = self.extra_mem(client.id);
        if let Some(h) = self.clients.map.get_mut(&client.id) {
            h.evict.countable = !client.is_replica && !client.is_primary_link && !closing;
            h.evict.out_mem = if client.out_counted { out_len } else { 0 };
            h.evict.extra_mem = extra;
        }
        self.clients.update_mem(client.id);
    }

    /// `client`'s replies counted by `count_client_mem` were written: they no longer count.
    pub(crate) fn replies_written(&mut self, client: &mut ClientState) {
        client.out_counted = false;
        if let Some(h) = self.clients.map.get_mut(&client.id) {
            h.evict.out_mem = 0;
        }
        self.clients.update_mem(client.id);
        self.evict_clients(client.id);
    }

    /// The overhead of client `id`'s watched keys, subscriptions and tracking prefixes.
    fn extra_mem(&self, id: u64) -> usize {
        use crate::exec::pubsub::Kind;
        let watched = self.watches.count(id) * WATCHED_KEY;
        let patterns = self.pubsub.count_of(id, &[Kind::Pattern]) * PATTERN;
        let channels = self.pubsub.count_of(id, &[Kind::Channel, Kind::Shard]) * CHANNEL;
        let prefixes = self
            .tracking
            .clients
            .get(&id)
            .map_or(0, |m| m.prefixes.len() * PREFIX);
        watched + patterns + channels + prefixes
    }

    /// Counts every client afresh (eviction was just turned on).
    fn recount_all_clients(&mut self) {
        let ids = self.clients.ids();
        for id in ids {
            let extra = self.extra_mem(id);
            let replica = self.replication.replicas.contains_key(&id);
            if let Some(h) = self.clients.map.get_mut(&id) {
                h.evict.counted = false;
                h.evict.countable = !replica && !h.info.primary_link;
                h.evict.extra_mem = extra;
            }
            self.clients.update_mem(id);
        }
    }

    /// Redis's evictClients: while the clients' memory is at or over the limit, closes the
    /// evictable clients, largest bucket first. Returns whether `current` (the client whose
    /// batch just ended) was among them, so that its connection closes.
    pub(crate) fn evict_clients(&mut self, current: u64) -> bool {
        if !self.clients.eviction_on {
            return false;
        }
        let limit = self.client_eviction_limit();
        if limit == 0 || self.clients.clients_mem < limit {
            return false;
        }
        let mut order: Vec<(u8, u64, u64)> = self
            .clients
            .map
            .iter()
            .filter(|(_, h)| h.evict.counted && !h.info.no_evict)
            .map(|(id, h)| (h.evict.bucket, h.evict.bucket_since, *id))
            .collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut evicted_current = false;
        let mut left = order.into_iter();
        while self.clients.clients_mem >= limit {
            let Some((_, _, id)) = left.next() else {
                tracing::warn!("Over client maxmemory after evicting all evictable clients");
                break;
            };
            if let Some(h) = self.clients.map.get(&id) {
                tracing::info!(
                    "Evicting client: id={} addr={} name={} tot-mem={}",
                    id,
                    h.info.addr,
                    String::from_utf8_lossy(h.info.name.as_deref().unwrap_or_default()),
                    h.evict.mem
                );
            }
            self.clients.kill(id);
            self.stats.evicted_clients += 1;
            evicted_current |= id == current;
        }
        evicted_current
    }
}

#[cfg(test)]
mod tests {
    use super::bucket_of;

    #[test]
    fn buckets_are_powers_of_two_from_32k() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(32 * 1024 - 1), 0);
        assert_eq!(bucket_of(32 * 1024), 1);
        assert_eq!(bucket_of(64 * 1024), 2);
        assert_eq!(bucket_of(3 << 20), 7);
        assert_eq!(bucket_of(usize::MAX), 18);
    }
}

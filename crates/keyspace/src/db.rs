//! One logical database (SELECT n). Keys are stored per hash slot (ARCHITECTURE decision 2):
//! 16384 small maps instead of one large one, so that COUNTKEYSINSLOT, GETKEYSINSLOT,
//! migration and slot deletion touch only their slot, and SCAN can use the slot number as a
//! cursor that keeps Redis's guarantee (every key present for the whole scan is returned)
//! across any amount of growth or shrinkage.

use crate::value::Value;
use ahash::RandomState;
use bytes::Bytes;
use rand::Rng;
use rubra_keys::{key_slot, SLOT_COUNT};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Where a key lives: its hash slot.
pub type SlotIndex = usize;

/// A value with its metadata.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry time in Unix milliseconds; 0 means no expiry.
    pub expire_at: u64,
    /// Last access time in seconds (LRU clock) for OBJECT IDLETIME and LRU eviction.
    pub lru: u32,
    /// Logarithmic access counter for LFU eviction and OBJECT FREQ (starts at 5 as in Redis).
    pub lfu: u8,
}

/// The LFU counter a new key starts with, so new keys are not evicted first.
pub const LFU_INIT: u8 = 5;

impl Entry {
    /// A fresh entry without expiry.
    pub fn new(value: Value, now_ms: u64) -> Entry {
        Entry {
            value,
            expire_at: 0,
            lru: lru_clock(now_ms),
            lfu: LFU_INIT,
        }
    }

    /// Whether the entry is logically gone at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }
}

/// Seconds resolution is what OBJECT IDLETIME reports, and fits the LRU field in 32 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// The keys of one slot.
pub type SlotMap = HashMap<Bytes, Entry, RandomState>;

/// A point-in-time view of a database for BGSAVE, AOF rewrite and replica full sync.
/// Taking it copies 16384 pointers; afterwards the first write to a slot copies that slot
/// only (copy-on-write per slot), so neither side ever stops the world over the dataset.
#[derive(Clone, Default)]
pub struct DbSnapshot {
    slots: Vec<Arc<SlotMap>>,
}

impl DbSnapshot {
    /// Calls `f` for every key that is live at `now_ms`.
    pub fn for_each(&self, now_ms: u64, mut f: impl FnMut(&Bytes, &Entry)) {
        for map in &self.slots {
            for (k, e) in map.iter() {
                if !e.is_expired(now_ms) {
                    f(k, e);
                }
            }
        }
    }

    /// Number of keys (including logically expired ones).
    pub fn len(&self) -> usize {
        self.slots.iter().map(|m| m.len()).sum()
    }

    /// Whether the snapshot holds no key.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|m| m.is_empty())
    }
}

/// One database: keys per slot, the expiry index, and the log of keys removed by expiry.
#[derive(Debug, Default)]
pub struct Db {
    /// Empty until the first key is written: 15 of 16 databases are usually never used,
    /// and a cluster node only uses database 0. Each slot is behind an Arc so snapshots can
    /// share it (see `DbSnapshot`); `Arc::make_mut` copies a slot only while shared.
    slots: Vec<Arc<SlotMap>>,
    hasher: RandomState,
    /// (expire_at, key) for every key with a TTL, so active expiry finds due keys in
    /// O(log n) without sampling.
    expires: BTreeSet<(u64, Bytes)>,
    len: usize,
    /// Keys deleted because they expired, since the last `drain_expired`. The server
    /// propagates them as DELs and invalidates WATCH on them.
    expired_log: Vec<Bytes>,
    /// On a replica, expired keys read as missing but are only deleted by the primary's DEL.
    pub replica_mode: bool,
}

impl Db {
    /// An empty database.
    pub fn new() -> Db {
        Db::default()
    }

    fn slot_map(&self, key: &[u8]) -> Option<&SlotMap> {
        self.slots.get(key_slot(key) as usize).map(|m| &**m)
    }

    fn slot_map_mut(&mut self, key: &[u8]) -> &mut SlotMap {
        if self.slots.is_empty() {
            let hasher = self.hasher.clone();
            self.slots = (0..SLOT_COUNT)
                .map(|_| Arc::new(SlotMap::with_hasher(hasher.clone())))
                .collect();
        }
        Arc::make_mut(&mut self.slots[key_slot(key) as usize])
    }

    /// A point-in-time snapshot; see `DbSnapshot`.
    pub fn snapshot(&self) -> DbSnapshot {
        DbSnapshot {
            slots: self.slots.clone(),
        }
    }

    /// Number of keys, including logically expired ones not yet removed (as DBSIZE in Redis).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of keys with a TTL (INFO keyspace `expires=`).
    pub fn expires_count(&self) -> usize {
        self.expires.len()
    }

    /// Looks a key up for reading or writing; an expired key is deleted (on a primary) and
    /// reported missing.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        if !self.is_live(key, now_ms)? {
            return None;
        }
        Arc::make_mut(&mut self.slots[key_slot(key) as usize]).get_mut(key)
    }

    /// Looks a key up for reading; see `get_mut` for expiry.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.get_mut(key, now_ms).map(|e| &*e)
    }

    /// Whether the key exists and is live, deleting it lazily if it expired.
    /// None if the key does not exist at all.
    fn is_live(&mut self, key: &[u8], now_ms: u64) -> Option<bool> {
        let entry = self.slot_map(key)?.get(key)?;
        if !entry.is_expired(now_ms) {
            return Some(true);
        }
        if !self.replica_mode {
            self.remove(key);
            self.expired_log.push(Bytes::copy_from_slice(key));
        }
        Some(false)
    }

    /// Reads a key without touching expiry state (for introspection that must not delete).
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.slot_map(key)?
            .get(key)
            .filter(|e| !e.is_expired(now_ms))
    }

    /// Whether a live key exists.
    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Stores `entry` under `key`, replacing any previous value and TTL.
    /// Returns the previous entry if there was one (expired or not).
    pub fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        if entry.expire_at != 0 {
            self.expires.insert((entry.expire_at, key.clone()));
        }
        let expire_at = entry.expire_at;
        let old = self.slot_map_mut(&key).insert(key.clone(), entry);
        match &old {
            Some(prev) => {
                if prev.expire_at != 0 && prev.expire_at != expire_at {
                    self.expires.remove(&(prev.expire_at, key));
                }
            }
            None => self.len += 1,
        }
        old
    }

    /// Stores a value without TTL, replacing any previous value (SET semantics).
    pub fn set(&mut self, key: Bytes, value: Value, now_ms: u64) -> Option<Entry> {
        self.insert(key, Entry::new(value, now_ms))
    }

    /// Deletes a key, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let slot = key_slot(key) as usize;
        if !self.slots[slot].contains_key(key) {
            return None;
        }
        let (k, entry) = Arc::make_mut(&mut self.slots[slot]).remove_entry(key)?;
        self.len -= 1;
        if entry.expire_at != 0 {
            self.expires.remove(&(entry.expire_at, k));
        }
        Some(entry)
    }

    /// Sets or replaces the expiry of an existing key. Returns false if the key is missing.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64, now_ms: u64) -> bool {
        let Some(entry) = self.get_mut(key, now_ms) else {
            return false;
        };
        let old = std::mem::replace(&mut entry.expire_at, expire_at);
        let k = Bytes::copy_from_slice(key);
        if old != 0 {
            self.expires.remove(&(old, k.clone()));
        }
        if expire_at != 0 {
            self.expires.insert((expire_at, k));
        }
        true
    }

    /// Removes the TTL of a key. Returns true if there was one.
    pub fn persist(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.get(key, now_ms) {
            Some(e) if e.expire_at != 0 => self.set_expire(key, 0, now_ms),
            _ => false,
        }
    }

    /// Deletes up to `budget` keys whose expiry time has passed; returns how many.
    /// This is active expiry: keys disappear even if nobody touches them.
    pub fn active_expire(&mut self, now_ms: u64, budget: usize) -> usize {
        if self.replica_mode {
            return 0;
        }
        let mut done = 0;
        while done < budget {
            let Some((at, key)) = self.expires.first().cloned() else {
                break;
            };
            if at > now_ms {
                break;
            }
            self.remove(&key);
            self.expired_log.push(key);
            done += 1;
        }
        done
    }

    /// Takes the keys removed by expiry since the last call.
    pub fn drain_expired(&mut self) -> Vec<Bytes> {
        std::mem::take(&mut self.expired_log)
    }

    /// Whether any key was removed by expiry since the last drain (cheap check).
    pub fn has_expired_log(&self) -> bool {
        !self.expired_log.is_empty()
    }

    /// Deletes every key.
    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.expires.clear();
        self.len = 0;
    }

    /// One SCAN step. The cursor is the next slot to visit; whole slots are returned at a
    /// time until at least `count` keys were visited. Returns (next cursor, keys); a next
    /// cursor of 0 means the scan is complete.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        now_ms: u64,
        mut keep: impl FnMut(&Bytes, &Entry) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut out = Vec::new();
        if self.slots.is_empty() {
            return (0, out);
        }
        let mut slot = cursor as usize;
        let mut visited = 0;
        while slot < SLOT_COUNT {
            for (k, e) in self.slots[slot].iter() {
                visited += 1;
                if !e.is_expired(now_ms) && keep(k, e) {
                    out.push(k.clone());
                }
            }
            slot += 1;
            // Bound the work per call by keys visited (Redis's COUNT rule). Empty slots
            // cost one length check each, so a small keyspace is scanned in one call, as
            // Redis does for small dicts.
            if visited >= count {
                break;
            }
        }
        let next = if slot >= SLOT_COUNT { 0 } else { slot as u64 };
        (next, out)
    }

    /// Calls `f` for every live key (KEYS, snapshots).
    pub fn for_each(&self, now_ms: u64, mut f: impl FnMut(&Bytes, &Entry)) {
        for map in &self.slots {
            for (k, e) in map.iter() {
                if !e.is_expired(now_ms) {
                    f(k, e);
                }
            }
        }
    }

    /// A random key, or None if the database is empty. Picks a random slot and walks to the
    /// next non-empty one, then a random key inside it.
    pub fn random_key(&self, rng: &mut impl Rng) -> Option<Bytes> {
        if self.len == 0 || self.slots.is_empty() {
            return None;
        }
        let start = rng.gen_range(0..SLOT_COUNT);
        for i in 0..SLOT_COUNT {
            let map = &self.slots[(start + i) % SLOT_COUNT];
            if !map.is_empty() {
                let n = rng.gen_range(0..map.len());
                return map.keys().nth(n).cloned();
            }
        }
        None
    }

    /// A random key that has a TTL (for volatile-* eviction policies).
    pub fn random_volatile_key(&self, rng: &mut impl Rng) -> Option<Bytes> {
        if self.expires.is_empty() {
            return None;
        }
        // The expiry index is ordered by time; pick from a random position near the front
        // by skipping a random count bounded to keep this O(small).
        let skip = rng.gen_range(0..self.expires.len().min(64));
        self.expires.iter().nth(skip).map(|(_, k)| k.clone())
    }

    /// The key with the nearest expiry (volatile-ttl eviction's best candidate).
    pub fn soonest_expiring(&self) -> Option<Bytes> {
        self.expires.first().map(|(_, k)| k.clone())
    }

    /// Number of keys in one slot (CLUSTER COUNTKEYSINSLOT).
    pub fn count_in_slot(&self, slot: SlotIndex) -> usize {
        self.slots.get(slot).map_or(0, |m| m.len())
    }

    /// Up to `count` keys of one slot (CLUSTER GETKEYSINSLOT).
    pub fn keys_in_slot(&self, slot: SlotIndex, count: usize) -> Vec<Bytes> {
        self.slots
            .get(slot)
            .map(|m| m.keys().take(count).cloned().collect())
            .unwrap_or_default()
    }

    /// Deletes every key of one slot; returns how many.
    pub fn clear_slot(&mut self, slot: SlotIndex) -> usize {
        let keys = self.keys_in_slot(slot, usize::MAX);
        for k in &keys {
            self.remove(k);
        }
        keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn lazy_expiry_removes_and_logs() {
        let mut db = Db::new();
        let mut e = Entry::new(Value::Str(b"v".to_vec()), 0);
        e.expire_at = 100;
        db.insert(key("k"), e);
        assert!(db.get(b"k", 99).is_some());
        assert!(db.get(b"k", 100).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.drain_expired(), vec![key("k")]);
        assert_eq!(db.expires_count(), 0);
    }

    #[test]
    fn active_expiry_without_access() {
        let mut db = Db::new();
        for i in 0..10 {
            let mut e = Entry::new(Value::Str(vec![]), 0);
            e.expire_at = 10 + i;
            db.insert(key(&format!("k{i}")), e);
        }
        db.set(key("forever"), Value::Str(vec![]), 0);
        assert_eq!(db.active_expire(14, 100), 5);
        assert_eq!(db.len(), 6);
        assert_eq!(db.active_expire(1000, 2), 2);
        assert_eq!(db.active_expire(1000, 100), 3);
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn replacing_a_value_clears_the_ttl_index() {
        let mut db = Db::new();
        let mut e = Entry::new(Value::Str(vec![]), 0);
        e.expire_at = 50;
        db.insert(key("k"), e);
        db.set(key("k"), Value::Str(b"new".to_vec()), 0);
        assert_eq!(db.expires_count(), 0);
        assert_eq!(db.active_expire(100, 10), 0);
        assert!(db.get(b"k", 100).is_some());
    }

    #[test]
    fn scan_visits_every_key_once_when_nothing_changes() {
        let mut db = Db::new();
        for i in 0..5000 {
            db.set(key(&format!("key:{i}")), Value::Str(vec![]), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = db.scan(cursor, 10, 0, |_, _| true);
            for k in keys {
                assert!(seen.insert(k));
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen.len(), 5000);
    }

    #[test]
    fn snapshots_are_point_in_time_and_copy_on_write() {
        let mut db = Db::new();
        db.set(key("a"), Value::Str(b"1".to_vec()), 0);
        db.set(key("b"), Value::Str(b"2".to_vec()), 0);
        let snap = db.snapshot();
        db.set(key("a"), Value::Str(b"changed".to_vec()), 0);
        db.remove(b"b");
        db.set(key("c"), Value::Str(b"3".to_vec()), 0);
        let mut seen = Vec::new();
        snap.for_each(0, |k, e| {
            if let Value::Str(v) = &e.value {
                seen.push((k.clone(), v.clone()));
            }
        });
        seen.sort();
        assert_eq!(
            seen,
            vec![(key("a"), b"1".to_vec()), (key("b"), b"2".to_vec())]
        );
        assert_eq!(db.len(), 2);
        assert!(matches!(&db.get(b"a", 0).unwrap().value, Value::Str(v) if v == b"changed"));
    }

    #[test]
    fn slot_operations() {
        let mut db = Db::new();
        db.set(key("{a}1"), Value::Str(vec![]), 0);
        db.set(key("{a}2"), Value::Str(vec![]), 0);
        let slot = key_slot(b"a") as usize;
        assert_eq!(db.count_in_slot(slot), 2);
        assert_eq!(db.keys_in_slot(slot, 1).len(), 1);
        assert_eq!(db.clear_slot(slot), 2);
        assert!(db.is_empty());
    }
}

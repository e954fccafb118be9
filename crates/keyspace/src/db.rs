//! One logical database (SELECT n). Keys are stored per hash slot (ARCHITECTURE decision 2):
//! 16384 small maps instead of one large one, so that COUNTKEYSINSLOT, GETKEYSINSLOT,
//! migration and slot deletion touch only their slot, and SCAN can use the slot number as a
//! cursor that keeps Redis's guarantee (every key present for the whole scan is returned)
//! across any amount of growth or shrinkage.

use crate::node::Node;
use crate::slot::{hash_key, Found, SlotTable, Verdict};
use crate::value::Value;
use bytes::Bytes;
use rand::Rng;
use rubra_keys::{key_slot, SLOT_COUNT};
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, OnceLock};

/// Where a key lives: its hash slot.
pub type SlotIndex = usize;

/// `Arc::make_mut` for a slot's table, without its atomic read-modify-write (a locked
/// compare-exchange, some 20 cycles) when nothing shares the table: every write, and
/// every read that updates an access time, asks for it, and a snapshot is rare.
fn table_mut(slot: &mut Arc<SlotTable>) -> &mut SlotTable {
    if Arc::strong_count(slot) == 1 && Arc::weak_count(slot) == 0 {
        // Pairs with the release decrement of the last other holder (a snapshot dropped
        // on another thread): its reads of the table happen before the writes below.
        fence(Ordering::Acquire);
        // SAFETY: `slot` is borrowed mutably and is the only strong reference, and no Weak
        // exists (none is ever made; making one needs an `Arc`, and ours is borrowed), so
        // nothing else can reach the table while the returned borrow lives. `as_ptr`
        // comes from the allocation's own pointer, valid for writes.
        return unsafe { &mut *(Arc::as_ptr(slot) as *mut SlotTable) };
    }
    Arc::make_mut(slot)
}

/// `Db::get_mut_or_create` found the key but its entry failed the caller's check (in
/// practice: a value of another type, WRONGTYPE to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// A value with its access metadata. The expiry time is not here: only keys that have one
/// pay for it (see `SlotTable::volatile`); ask the `Db` for it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Last access time in seconds (LRU clock) for OBJECT IDLETIME and LRU eviction.
    pub lru: u32,
    /// Logarithmic access counter for LFU eviction and OBJECT FREQ (starts at 5 as in Redis).
    pub lfu: u8,
    /// A string edited in place (APPEND, SETRANGE, SETBIT, BITFIELD): Redis then holds it
    /// as a raw sds whatever its content, and OBJECT ENCODING says so. Lives in padding.
    pub raw: bool,
    /// A string Redis built from a printed number without trying the integer encoding
    /// (INCRBYFLOAT's result): "embstr" or "raw" by length even when it reads as an
    /// integer. Lives in padding too.
    pub no_int: bool,
    /// A string COPY duplicated: Redis's copy of a small integer is an object of its own
    /// (OBJECT REFCOUNT 1) where SET and INCR would share one. Lives in padding too.
    pub unshared: bool,
}

// Every key's node starts with an Entry: its flags live in the Value's padding, and a
// new one must not grow the per-key cost (issue 17's memory table).
const _: () = assert!(std::mem::size_of::<Entry>() == 32);

/// The LFU counter a new key starts with, so new keys are not evicted first.
pub const LFU_INIT: u8 = 5;

impl Entry {
    /// A fresh entry.
    pub fn new(value: Value, now_ms: u64) -> Entry {
        Entry {
            value,
            lru: lru_clock(now_ms),
            lfu: LFU_INIT,
            raw: false,
            no_int: false,
            unshared: false,
        }
    }

    /// The encoding OBJECT ENCODING reports (see `Value::encoding_name` and `raw`).
    pub fn encoding_name(&self) -> &'static str {
        match &self.value {
            Value::Str(_) if self.raw => "raw",
            Value::Str(s) if self.no_int => {
                if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            _ => self.value.encoding_name(),
        }
    }
}

/// Seconds resolution is what OBJECT IDLETIME reports, and fits the LRU field in 32 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// Whether an expiry time (0 = none) has passed at `now_ms`.
fn is_due(expire_at: u64, now_ms: u64) -> bool {
    expire_at != 0 && expire_at <= now_ms
}

/// A point-in-time view of a database for BGSAVE, AOF rewrite and replica full sync.
/// Taking it copies 16384 pointers; afterwards the first write to a slot copies that slot
/// only (copy-on-write per slot), and reads never copy: while a slot is shared, reads skip
/// the LRU/LFU update (Redis also skips it while a fork child runs).
#[derive(Clone, Default)]
pub struct DbSnapshot {
    slots: Vec<Arc<SlotTable>>,
}

impl DbSnapshot {
    /// Calls `f(key, entry, expire_at)` for every key that is live at `now_ms`
    /// (`expire_at` is 0 for keys without a TTL).
    pub fn for_each(&self, now_ms: u64, mut f: impl FnMut(&[u8], &Entry, u64)) {
        for table in &self.slots {
            table.for_each(|k, e, at| {
                if !is_due(at, now_ms) {
                    f(k, e, at);
                }
            });
        }
    }

    /// Number of keys (including logically expired ones).
    pub fn len(&self) -> usize {
        self.slots.iter().map(|m| m.len()).sum()
    }

    /// Whether the snapshot holds no key.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|m| m.len() == 0)
    }

    /// Number of keys with a TTL (including logically expired ones), from the per-slot
    /// volatile tables: the RDB writer's RESIZEDB hint without a pass over every key.
    pub fn expires_len(&self) -> usize {
        self.slots.iter().map(|m| m.volatile.len()).sum()
    }
}

/// One database: keys per slot (each with its volatile keys), and the log of keys removed
/// by expiry.
#[derive(Debug, Default)]
pub struct Db {
    /// Empty until the first key is written: 15 of 16 databases are usually never used,
    /// and a cluster node only uses database 0. Each slot is behind an Arc so snapshots can
    /// share it (see `DbSnapshot`); `Arc::make_mut` copies a slot only while shared.
    slots: Vec<Arc<SlotTable>>,
    len: usize,
    /// Keys with a TTL (INFO keyspace `expires=`).
    volatile: usize,
    /// Where active expiry continues: the next slot to visit.
    expire_cursor: usize,
    /// Keys deleted because they expired, since the last `drain_expired`. The server
    /// propagates them as DELs and invalidates WATCH on them.
    expired_log: Vec<Bytes>,
    /// On a replica, expired keys read as missing but are only deleted by the primary's DEL.
    pub replica_mode: bool,
    /// While a replica applies its primary's stream: no key is expired at all (Redis's
    /// expireIfNeeded answers "not expired" to the master client), so the primary's DEL
    /// of a key this clock already sees as expired deletes it, and its INCR finds the
    /// value the primary has. Without it such keys stayed stored for good on replicas.
    pub primary_view: bool,
    /// The slot and hash of the key located last. A write looks its key up several times
    /// (type check, get-or-create, remove-if-empty, TTL): CRC16 and the hash are computed
    /// once per key instead of once per lookup. The dispatcher forgets it before each
    /// command, so a command only reuses what it computed itself.
    last: LastKey,
}

/// A short key and where it lives: see `Db::last`. Both are functions of the key alone,
/// so a remembered location can be stale only in being unused, never wrong.
#[derive(Debug)]
struct LastKey {
    /// Length of `bytes` in use; [`LastKey::NONE`] when nothing is remembered.
    len: u8,
    bytes: [u8; LastKey::MAX],
    slot: u16,
    hash: u64,
}

impl LastKey {
    /// Keys longer than this are located afresh each time (copying them would cost more
    /// than it saves).
    const MAX: usize = 40;
    const NONE: u8 = u8::MAX;
}

impl Default for LastKey {
    fn default() -> Self {
        LastKey {
            len: LastKey::NONE,
            bytes: [0; LastKey::MAX],
            slot: 0,
            hash: 0,
        }
    }
}

/// The one empty table every unused slot of every database points to. The first write to
/// a slot copies it (`table_mut`), so a slot costs its own allocation only while it holds
/// a key: 10k keys would otherwise pay for 16384 tables (~130 B/key), and a slot emptied
/// by DEL, expiry or eviction gives its tables back (`release_if_empty`).
fn empty_slot() -> &'static Arc<SlotTable> {
    static EMPTY: OnceLock<Arc<SlotTable>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(SlotTable::default()))
}

/// A slot array whose every slot is the shared empty table.
fn empty_slots() -> Vec<Arc<SlotTable>> {
    (0..SLOT_COUNT).map(|_| empty_slot().clone()).collect()
}

impl Db {
    /// An empty database.
    pub fn new() -> Db {
        Db::default()
    }

    fn slot_table(&self, key: &[u8]) -> Option<&SlotTable> {
        self.slots.get(key_slot(key) as usize).map(|m| &**m)
    }

    /// The slot and hash of `key`, reusing those of the key located last when it is the
    /// same key (see `Db::last`).
    #[inline]
    fn locate(&mut self, key: &[u8]) -> (usize, u64) {
        let last = &mut self.last;
        if key.len() <= LastKey::MAX
            && key.len() == last.len as usize
            && last.bytes[..key.len()] == *key
        {
            return (last.slot as usize, last.hash);
        }
        let slot = key_slot(key);
        let hash = hash_key(key);
        if key.len() <= LastKey::MAX {
            last.bytes[..key.len()].copy_from_slice(key);
            last.len = key.len() as u8;
            last.slot = slot;
            last.hash = hash;
        }
        (slot as usize, hash)
    }

    /// Forgets the remembered key location: called before each command, so that no command
    /// is cheaper for running right after another on the same key.
    pub fn forget_last_key(&mut self) {
        self.last.len = LastKey::NONE;
    }

    fn slot_table_mut(&mut self, slot: usize) -> &mut SlotTable {
        if self.slots.is_empty() {
            self.slots = empty_slots();
        }
        table_mut(&mut self.slots[slot])
    }

    /// A point-in-time snapshot; see `DbSnapshot`.
    pub fn snapshot(&self) -> DbSnapshot {
        DbSnapshot {
            slots: self.slots.clone(),
        }
    }

    /// A point-in-time snapshot of some slots only (atomic slot migration): writes to the
    /// other slots never pay for a copy while it is held.
    pub fn snapshot_slots(&self, slots: &[usize]) -> DbSnapshot {
        DbSnapshot {
            slots: slots
                .iter()
                .filter_map(|&s| self.slots.get(s).cloned())
                .collect(),
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
        self.volatile
    }

    /// The expiry time of a key in Unix ms, 0 if it has none or does not exist.
    pub fn expire_at(&self, key: &[u8]) -> u64 {
        let Some(table) = self.slot_table(key) else {
            return 0;
        };
        let hash = hash_key(key);
        table
            .find(hash, key)
            .map_or(0, |n| table.expire_of(hash, n))
    }

    /// Deletes an expired key found by a lookup (unless this is a replica) and logs it.
    fn expire_found(&mut self, key: &[u8]) {
        if !self.replica_mode {
            self.remove(key);
            self.expired_log.push(Bytes::copy_from_slice(key));
        }
    }

    /// The single-lookup path when slot `slot` is not shared with a snapshot: finds the
    /// key, deletes it if expired (on a primary), and returns its node.
    fn find_unshared(
        &mut self,
        slot: usize,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Option<&mut Node> {
        let (primary_view, replica_mode) = (self.primary_view, self.replica_mode);
        let table = table_mut(&mut self.slots[slot]);
        let found = table.find_checked(hash, key, |at| {
            if primary_view || !is_due(at, now_ms) {
                Verdict::Keep
            } else if replica_mode {
                Verdict::Hide
            } else {
                Verdict::Remove
            }
        });
        match found {
            Found::Live(node) => Some(node),
            Found::Missing => None,
            Found::Removed(node) => {
                drop(node);
                self.volatile -= 1;
                self.len -= 1;
                self.expired_log.push(Bytes::copy_from_slice(key));
                None
            }
        }
    }

    /// Looks a key up for writing (copying its slot first if a snapshot shares it); an
    /// expired key is deleted (on a primary) and reported missing. One hash lookup unless
    /// the slot is shared.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let (slot, hash) = self.locate(key);
        if Arc::strong_count(&self.slots[slot]) > 1 {
            // Shared with a snapshot: only copy the slot if the key is there and live.
            self.get(key, now_ms)?;
        }
        self.find_unshared(slot, hash, key, now_ms)
            .map(|n| n.entry_mut())
    }

    /// Looks a key up for reading, applying `touch` (the LRU/LFU update) when the slot is
    /// not shared with a snapshot; never copies data. Expired keys as in `get_mut`.
    pub fn get_touch(
        &mut self,
        key: &[u8],
        now_ms: u64,
        touch: impl FnOnce(&mut Entry),
    ) -> Option<&Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let (slot, hash) = self.locate(key);
        if Arc::strong_count(&self.slots[slot]) > 1 {
            return self.get(key, now_ms);
        }
        let node = self.find_unshared(slot, hash, key, now_ms)?;
        touch(node.entry_mut());
        Some(node.entry())
    }

    /// Looks a key up for reading without touching its access metadata; never copies data.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let (slot, hash) = self.locate(key);
        let table = &*self.slots[slot];
        // The bucket's index, not a reference: the expired case below needs `self` back,
        // and the live case then reads the bucket again without a second probe.
        let at = table.keys.find_index(hash, key)?;
        let node = table.keys.get_at(at)?;
        if node.has_ttl() && !self.primary_view && is_due(table.expire_of(hash, node), now_ms) {
            self.expire_found(key);
            return None;
        }
        self.slots[slot].keys.get_at(at).map(|n| n.entry())
    }

    /// Looks a key up for writing, creating it with `make()` if it is missing, unless its
    /// live entry fails `accept` (a type check: `Err(Refused)`, nothing copied or created).
    /// Returns the entry and whether it was created. One hash probe when the key exists and
    /// its slot is not shared with a snapshot (HSET, SADD, ZADD on an existing key), where
    /// a check with `get` and then `get_mut` takes three.
    pub fn get_mut_or_create(
        &mut self,
        key: &[u8],
        now_ms: u64,
        accept: impl Fn(&Entry) -> bool,
        make: impl FnOnce() -> Value,
    ) -> Result<(&mut Entry, bool), Refused> {
        if !self.slots.is_empty() {
            let (slot, hash) = self.locate(key);
            if Arc::strong_count(&self.slots[slot]) == 1 {
                let table = &*self.slots[slot];
                let found = table.keys.find_index(hash, key);
                let live = found.and_then(|at| {
                    let node = table.keys.get_at(at)?;
                    let expired = node.has_ttl()
                        && !self.primary_view
                        && is_due(table.expire_of(hash, node), now_ms);
                    (!expired).then_some((at, accept(node.entry())))
                });
                if let Some((at, accepted)) = live {
                    if !accepted {
                        return Err(Refused);
                    }
                    // Not shared: nothing is copied.
                    let keys = &mut table_mut(&mut self.slots[slot]).keys;
                    return keys
                        .get_at_mut(at)
                        .map(|n| (n.entry_mut(), false))
                        .ok_or(Refused);
                }
            }
        }
        // Missing, expired, or in a slot a snapshot shares (copied only for an accepted key).
        let created = match self.get(key, now_ms) {
            Some(e) if !accept(e) => return Err(Refused),
            Some(_) => false,
            None => {
                self.set(key, make(), now_ms);
                true
            }
        };
        self.get_mut(key, now_ms)
            .map(|e| (e, created))
            .ok_or(Refused)
    }

    /// Reads a key without touching expiry state (for introspection that must not delete).
    pub fn peek(&self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let table = self.slot_table(key)?;
        let hash = hash_key(key);
        let node = table.find(hash, key)?;
        (self.primary_view || !is_due(table.expire_of(hash, node), now_ms)).then(|| node.entry())
    }

    /// Reads a key as stored, logically expired or not, with its expiry time (0 = none):
    /// DEBUG DIGEST-VALUE looks at the dict as Redis does, without expiring anything.
    pub fn peek_stored(&self, key: &[u8]) -> Option<(&Entry, u64)> {
        let table = self.slot_table(key)?;
        let hash = hash_key(key);
        let node = table.find(hash, key)?;
        Some((node.entry(), table.expire_of(hash, node)))
    }

    /// Whether a live key exists.
    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Stores `entry` under `key` with expiry time `expire_at` (0 = none), replacing any
    /// previous value and TTL. Returns the previous entry if there was one (expired or not).
    pub fn insert(&mut self, key: impl AsRef<[u8]>, entry: Entry, expire_at: u64) -> Option<Entry> {
        let key = key.as_ref();
        let (slot, hash) = self.locate(key);
        let table = self.slot_table_mut(slot);
        let SlotTable { keys, volatile } = table;
        let (old, delta, added) = match keys.find_mut(hash, key) {
            Some(node) => {
                // Overwrite in place: no allocation for the key.
                let old = std::mem::replace(node.entry_mut(), entry);
                let delta = SlotTable::set_expire(volatile, hash, node, expire_at);
                (Some(old), delta, false)
            }
            None => {
                let mut node = Node::new(key, entry, 0);
                let delta = SlotTable::set_expire(volatile, hash, &mut node, expire_at);
                keys.insert_new(hash, node);
                (None, delta, true)
            }
        };
        self.volatile = self.volatile.wrapping_add_signed(delta);
        if added {
            self.len += 1;
        }
        old
    }

    /// Stores a value without TTL, replacing any previous value (SET semantics).
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: Value, now_ms: u64) -> Option<Entry> {
        self.insert(key, Entry::new(value, now_ms), 0)
    }

    /// Deletes a key, returning its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        if self.slots.is_empty() {
            return None;
        }
        let (slot, hash) = self.locate(key);
        self.slots[slot].find(hash, key)?;
        let SlotTable { keys, volatile } = table_mut(&mut self.slots[slot]);
        let node = keys.remove(hash, key)?;
        if node.has_ttl() {
            SlotTable::forget_expire(volatile, hash, &node);
            self.volatile -= 1;
        }
        self.len -= 1;
        self.release_if_empty(slot);
        Some(node.into_entry())
    }

    /// Points a slot left without keys back at the shared empty table, freeing its own
    /// tables: a key alone in its slot costs a 64 B slot allocation beside its node (and a
    /// slot of more keys a hash table too), and eviction
    /// must get that back to bring used_memory under maxmemory (Redis frees a key's
    /// dictEntry with it; a slot's tables are our equivalent).
    fn release_if_empty(&mut self, slot: usize) {
        if self.slots[slot].len() == 0 && !Arc::ptr_eq(&self.slots[slot], empty_slot()) {
            self.slots[slot] = empty_slot().clone();
        }
    }

    /// Sets (or with 0, removes) the expiry of an existing key. Returns false if the key
    /// is missing.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64, now_ms: u64) -> bool {
        if self.get_mut(key, now_ms).is_none() {
            return false;
        }
        let (slot, hash) = self.locate(key);
        let SlotTable { keys, volatile } = self.slot_table_mut(slot);
        let Some(node) = keys.find_mut(hash, key) else {
            return false;
        };
        let delta = SlotTable::set_expire(volatile, hash, node, expire_at);
        self.volatile = self.volatile.wrapping_add_signed(delta);
        true
    }

    /// Removes the TTL of a key. Returns true if there was one.
    pub fn persist(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.get(key, now_ms).is_none() || self.expire_at(key) == 0 {
            return false;
        }
        self.set_expire(key, 0, now_ms)
    }

    /// Deletes up to `budget` keys whose expiry time has passed; returns how many. This is
    /// active expiry: keys disappear even if nobody touches them. It walks the slots' volatile
    /// tables from where the previous call stopped, visiting at most `budget * 20` volatile
    /// keys (or every slot once) per call, as Redis bounds its expire cycle.
    pub fn active_expire(&mut self, now_ms: u64, budget: usize) -> usize {
        if self.replica_mode || self.volatile == 0 || self.slots.is_empty() {
            return 0;
        }
        let max_visits = budget.saturating_mul(20).max(1);
        let (mut done, mut visited, mut slots_seen) = (0, 0, 0);
        let mut due: Vec<Bytes> = Vec::new();
        while done < budget && visited < max_visits && slots_seen < SLOT_COUNT {
            let slot = self.expire_cursor;
            self.expire_cursor = (slot + 1) % SLOT_COUNT;
            slots_seen += 1;
            let table = &self.slots[slot];
            if table.volatile.is_empty() {
                continue;
            }
            due.clear();
            for (id, at) in table.volatile.iter() {
                visited += 1;
                if is_due(*at, now_ms) && done + due.len() < budget {
                    // SAFETY: volatile ids name nodes alive in this slot.
                    due.push(Bytes::copy_from_slice(unsafe { id.key() }));
                }
            }
            for key in due.drain(..) {
                self.remove(&key);
                self.expired_log.push(key);
                done += 1;
            }
        }
        done
    }

    /// Takes the keys removed by expiry since the last call.
    pub fn drain_expired(&mut self) -> Vec<Bytes> {
        // A lookup that deleted an expired key could not release its slot (it held the
        // slot's borrow); the drain after the command does.
        let expired = std::mem::take(&mut self.expired_log);
        if !self.slots.is_empty() {
            for key in &expired {
                let slot = key_slot(key) as usize;
                self.release_if_empty(slot);
                // Nor could it move a table left with few keys back inline.
                if Arc::strong_count(&self.slots[slot]) == 1 {
                    table_mut(&mut self.slots[slot]).keys.shrink();
                }
            }
        }
        expired
    }

    /// Whether `key` was removed by expiry since the last drain.
    pub fn expired_since_drain(&self, key: &[u8]) -> bool {
        self.expired_log.iter().any(|k| k.as_ref() == key)
    }

    /// Whether any key was removed by expiry since the last drain (cheap check).
    pub fn has_expired_log(&self) -> bool {
        !self.expired_log.is_empty()
    }

    /// Moves every key out into a database of its own, leaving this one empty: FLUSHALL
    /// ASYNC frees the old contents on another thread instead of under the store lock.
    pub fn take_all(&mut self) -> Db {
        let slots = if self.slots.is_empty() {
            Vec::new()
        } else {
            std::mem::replace(&mut self.slots, empty_slots())
        };
        let old = Db {
            slots,
            len: self.len,
            volatile: self.volatile,
            ..Db::default()
        };
        self.clear();
        old
    }

    /// Deletes every key. A database that held keys keeps its slot array (16384 pointers
    /// to the shared empty table, 128 KiB): the first write after a FLUSHALL then costs a
    /// slot table, as a write to an empty Redis dict costs a small table, instead of the
    /// whole array again (redis 7.0.15's unit/maxmemory sets maxmemory to used_memory +
    /// 100 KB right after a FLUSHALL and expects room for more than ten keys).
    pub fn clear(&mut self) {
        if !self.slots.is_empty() {
            self.slots = empty_slots();
        }
        self.volatile = 0;
        self.len = 0;
    }

    /// One SCAN step. The cursor is the next slot to visit; whole slots are returned at a
    /// time until at least `count` keys were visited. Returns (next cursor, keys); a next
    /// cursor of 0 means the scan is complete. Keys stored though logically expired are
    /// returned too (when `keep` accepts them): SCAN looks each one up, as Redis does,
    /// which deletes them (and propagates their DELs).
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut keep: impl FnMut(&[u8], &Entry) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut out = Vec::new();
        if self.slots.is_empty() {
            return (0, out);
        }
        let mut slot = cursor as usize;
        let mut visited = 0;
        while slot < SLOT_COUNT {
            self.slots[slot].for_each(|k, e, _| {
                visited += 1;
                if keep(k, e) {
                    out.push(Bytes::copy_from_slice(k));
                }
            });
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

    /// Calls `f(key, entry, expire_at)` for every stored key, logically expired ones too
    /// (DEBUG DIGEST walks the dict as it is, as Redis does).
    pub fn for_each_stored(&self, mut f: impl FnMut(&[u8], &Entry, u64)) {
        for table in &self.slots {
            table.for_each(&mut f);
        }
    }

    /// Calls `f(key, entry, expire_at)` for every live key (KEYS, snapshots).
    pub fn for_each(&self, now_ms: u64, mut f: impl FnMut(&[u8], &Entry, u64)) {
        for table in &self.slots {
            table.for_each(|k, e, at| {
                if !is_due(at, now_ms) {
                    f(k, e, at);
                }
            });
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
            let table = &self.slots[(start + i) % SLOT_COUNT];
            if table.len() > 0 {
                let n = rng.gen_range(0..table.len());
                return table
                    .keys
                    .iter()
                    .nth(n)
                    .map(|n| Bytes::copy_from_slice(n.key()));
            }
        }
        None
    }

    /// A random key that has a TTL (for volatile-* eviction policies).
    pub fn random_volatile_key(&self, rng: &mut impl Rng) -> Option<Bytes> {
        self.sample_volatile(rng, 1)
            .into_iter()
            .next()
            .map(|(k, _)| k)
    }

    /// Up to `n` random keys with a TTL and their expiry times: a random slot, then the
    /// next slots with volatile keys, one key from each.
    fn sample_volatile(&self, rng: &mut impl Rng, n: usize) -> Vec<(Bytes, u64)> {
        let mut out = Vec::new();
        if self.volatile == 0 || self.slots.is_empty() {
            return out;
        }
        let start = rng.gen_range(0..SLOT_COUNT);
        for i in 0..SLOT_COUNT {
            let table = &self.slots[(start + i) % SLOT_COUNT];
            if !table.volatile.is_empty() {
                let pick = rng.gen_range(0..table.volatile.len());
                if let Some((id, at)) = table.volatile.iter().nth(pick) {
                    // SAFETY: volatile ids name nodes alive in this slot.
                    out.push((Bytes::copy_from_slice(unsafe { id.key() }), *at));
                }
                if out.len() >= n {
                    break;
                }
            }
        }
        out
    }

    /// The key expiring soonest among a sample of 16 keys with a TTL (volatile-ttl
    /// eviction's candidate; Redis samples too).
    pub fn soonest_expiring(&self, rng: &mut impl Rng) -> Option<Bytes> {
        self.sample_volatile(rng, 16)
            .into_iter()
            .min_by_key(|(_, at)| *at)
            .map(|(k, _)| k)
    }

    /// Number of keys in one slot (CLUSTER COUNTKEYSINSLOT).
    pub fn count_in_slot(&self, slot: SlotIndex) -> usize {
        self.slots.get(slot).map_or(0, |m| m.len())
    }

    /// Up to `count` keys of one slot (CLUSTER GETKEYSINSLOT).
    pub fn keys_in_slot(&self, slot: SlotIndex, count: usize) -> Vec<Bytes> {
        self.slots
            .get(slot)
            .map(|m| {
                m.keys
                    .iter()
                    .take(count)
                    .map(|n| Bytes::copy_from_slice(n.key()))
                    .collect()
            })
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
        db.insert(key("k"), Entry::new(Value::Str(b"v".into()), 0), 100);
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
            db.insert(
                key(&format!("k{i}")),
                Entry::new(Value::Str(Default::default()), 0),
                10 + i,
            );
        }
        db.set(key("forever"), Value::Str(Default::default()), 0);
        assert_eq!(db.active_expire(14, 100), 5);
        assert_eq!(db.len(), 6);
        assert_eq!(db.active_expire(1000, 2), 2);
        assert_eq!(db.active_expire(1000, 100), 3);
        assert_eq!(db.len(), 1);
    }

    #[test]
    fn replacing_a_value_clears_the_ttl_index() {
        let mut db = Db::new();
        db.insert(key("k"), Entry::new(Value::Str(Default::default()), 0), 50);
        db.set(key("k"), Value::Str(b"new".into()), 0);
        assert_eq!(db.expires_count(), 0);
        assert_eq!(db.active_expire(100, 10), 0);
        assert!(db.get(b"k", 100).is_some());
    }

    #[test]
    fn scan_visits_every_key_once_when_nothing_changes() {
        let mut db = Db::new();
        for i in 0..5000 {
            db.set(key(&format!("key:{i}")), Value::Str(Default::default()), 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = db.scan(cursor, 10, |_, _| true);
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
        db.set(key("a"), Value::Str(b"1".into()), 0);
        db.set(key("b"), Value::Str(b"2".into()), 0);
        let snap = db.snapshot();
        db.set(key("a"), Value::Str(b"changed".into()), 0);
        db.remove(b"b");
        db.set(key("c"), Value::Str(b"3".into()), 0);
        let mut seen = Vec::new();
        snap.for_each(0, |k, e, _| {
            if let Value::Str(v) = &e.value {
                seen.push((Bytes::copy_from_slice(k), v.to_vec()));
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
    fn get_mut_or_create_checks_creates_and_expires() {
        let is_str = |e: &Entry| matches!(e.value, Value::Str(_));
        let make = || Value::Str(b"new".into());
        let mut db = Db::new();
        // Missing: created.
        let (e, created) = db.get_mut_or_create(b"k", 0, is_str, make).unwrap();
        assert!(created);
        if let Value::Str(s) = &mut e.value {
            s.extend_from_slice(b"!");
        }
        // Present: the same entry, changed in place, one key.
        let (e, created) = db.get_mut_or_create(b"k", 0, is_str, make).unwrap();
        assert!(!created);
        assert!(matches!(&e.value, Value::Str(v) if v == b"new!"));
        assert_eq!(db.len(), 1);
        // Another type: refused, left alone.
        db.set(key("h"), Value::new_hash(), 0);
        assert_eq!(
            db.get_mut_or_create(b"h", 0, is_str, make).err(),
            Some(Refused)
        );
        assert!(matches!(db.get(b"h", 0).unwrap().value, Value::Hash(_)));
        // Expired: gone (logged), then created afresh, even of another type.
        db.insert(key("t"), Entry::new(Value::new_hash(), 0), 10);
        let (_, created) = db.get_mut_or_create(b"t", 10, is_str, make).unwrap();
        assert!(created);
        assert_eq!(db.drain_expired(), vec![key("t")]);
        assert_eq!(db.expire_at(b"t"), 0);
        // A slot shared with a snapshot: copied for a write, the snapshot unchanged; a
        // refused key copies nothing the snapshot could see either.
        let snap = db.snapshot();
        let (e, _) = db.get_mut_or_create(b"k", 0, is_str, make).unwrap();
        e.value = Value::Str(b"after".into());
        assert_eq!(
            db.get_mut_or_create(b"h", 0, is_str, make).err(),
            Some(Refused)
        );
        let mut seen = Vec::new();
        snap.for_each(0, |k, e, _| {
            if let Value::Str(v) = &e.value {
                seen.push((Bytes::copy_from_slice(k), v.to_vec()));
            }
        });
        assert!(seen.contains(&(key("k"), b"new!".to_vec())));
    }

    #[test]
    fn slot_operations() {
        let mut db = Db::new();
        db.set(key("{a}1"), Value::Str(Default::default()), 0);
        db.set(key("{a}2"), Value::Str(Default::default()), 0);
        let slot = key_slot(b"a") as usize;
        assert_eq!(db.count_in_slot(slot), 2);
        assert_eq!(db.keys_in_slot(slot, 1).len(), 1);
        assert_eq!(db.clear_slot(slot), 2);
        assert!(db.is_empty());
    }
}

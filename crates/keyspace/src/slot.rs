//! The keys of one hash slot: a table of thin node pointers (9 bytes per bucket instead of
//! 73), plus a table of the slot's keys that have a TTL with their expiry times, so keys
//! without a TTL pay nothing for expiry and active expiry visits only volatile keys.
//!
//! A slot with few keys (the usual case below ~16k keys: most keys are alone in their slot)
//! keeps them inline in the slot's own allocation, searched by key bytes, instead of in a
//! hash table of their own: a hashbrown table of one pointer is a 64-byte allocation, and
//! the slot's Arc is 64 bytes with the inline keys where it was 80 without them. See
//! docs/engine-data-layout.md for the measurements behind `SMALL`.

use crate::node::{Node, NodeId, FLAG_TTL};
use crate::Entry;
use ahash::RandomState;
use hashbrown::HashTable;
use std::sync::OnceLock;

/// Most keys a slot keeps inline. Four fill the slot's Arc allocation to exactly 64 bytes
/// (16 of counts, 40 of keys, 8 of volatile pointer), a jemalloc size class; a fifth would
/// take it to the 80-byte class. A search compares at most four keys, no more than a probe
/// of a loaded table usually does.
pub(crate) const SMALL: usize = 4;

/// A slot's keys go back inline when a removal leaves this many in the table: not at
/// `SMALL`, so a slot whose size wavers around it does not convert at every write.
const SHRINK_AT: usize = SMALL / 2;

/// The keys of a slot: inline while there are at most `SMALL`, a hash table above.
pub(crate) enum Keys {
    /// The first `len` places hold a node, the rest are None (kept packed on removal).
    Small([Option<Node>; SMALL]),
    /// Keys by hash (`hash_key`).
    Table(HashTable<Node>),
}

impl Default for Keys {
    fn default() -> Keys {
        Keys::Small([None, None, None, None])
    }
}

/// The keys of a slot that have a TTL, with their expiry times: (node, expire_at ms).
/// Boxed and absent until the slot has one, so a slot without TTLs pays 8 bytes for it.
#[derive(Default)]
pub(crate) struct Volatile(Option<Box<Expiries>>);

/// Expiry records a slot keeps in the box itself before it makes a table. Two make the
/// box 40 bytes (the 48-byte class): a lone key with a TTL costs that instead of a boxed
/// table header (32) plus the smallest table (96), which it paid when most keys are alone
/// in their slot (docs/engine-data-layout.md).
const FEW: usize = 2;

/// A slot's expiry records: packed at the front of an array while there are at most
/// `FEW`, a hash table by key hash above (it goes back at one record).
enum Expiries {
    Few([Option<(NodeId, u64)>; FEW]),
    Table(HashTable<(NodeId, u64)>),
}

const _: () = assert!(std::mem::size_of::<Expiries>() <= 48);

/// The hash a table of expiry records keeps its entries by.
fn record_hash(record: &(NodeId, u64)) -> u64 {
    // SAFETY: every id in a slot's expiry records names a node alive in its key table.
    hash_key(unsafe { record.0.key() })
}

/// The keys of one slot. Cloning copies every node (copy-on-write of a slot shared with a
/// snapshot happens on its first write only).
#[derive(Default)]
pub(crate) struct SlotTable {
    pub(crate) keys: Keys,
    /// The slot's keys with a TTL (FLAG_TTL set on their node).
    pub(crate) volatile: Volatile,
}

// The inline keys must not push the slot's allocation (with the Arc's two counts) out of
// the 64-byte size class.
const _: () = assert!(std::mem::size_of::<SlotTable>() + 16 <= 64);

/// The hash of a key. One random seed per process (chosen at first use) keeps the tables
/// safe from crafted collisions, and lets a slot copy itself without a hasher handed in.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    static HASHER: OnceLock<RandomState> = OnceLock::new();
    HASHER.get_or_init(RandomState::new).hash_one(key)
}

/// The number of items packed at the front of an inline array (keys or expiry records).
#[inline]
fn small_len<T>(nodes: &[Option<T>]) -> usize {
    nodes.iter().take_while(|n| n.is_some()).count()
}

/// Where an inline array holds `key`.
#[inline]
fn small_find(nodes: &[Option<Node>; SMALL], key: &[u8]) -> Option<usize> {
    nodes
        .iter()
        .map_while(Option::as_ref)
        .position(|n| n.key() == key)
}

impl Keys {
    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Small(nodes) => small_len(nodes),
            Keys::Table(t) => t.len(),
        }
    }

    /// The node of `key`.
    #[inline(always)]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<&Node> {
        match self {
            Keys::Small(nodes) => nodes
                .iter()
                .map_while(Option::as_ref)
                .find(|n| n.key() == key),
            Keys::Table(t) => t.find(hash, |n| n.key() == key),
        }
    }

    /// The node of `key`, mutably.
    #[inline(always)]
    pub(crate) fn find_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Node> {
        match self {
            Keys::Small(nodes) => nodes
                .iter_mut()
                .map_while(Option::as_mut)
                .find(|n| n.key() == key),
            Keys::Table(t) => t.find_mut(hash, |n| n.key() == key),
        }
    }

    /// Where `key` is, for `get_at`/`get_at_mut` (valid until the keys change).
    #[inline(always)]
    pub(crate) fn find_index(&self, hash: u64, key: &[u8]) -> Option<usize> {
        match self {
            Keys::Small(nodes) => small_find(nodes, key),
            Keys::Table(t) => t.find_bucket_index(hash, |n| n.key() == key),
        }
    }

    /// The node at an index from `find_index`.
    #[inline(always)]
    pub(crate) fn get_at(&self, at: usize) -> Option<&Node> {
        match self {
            Keys::Small(nodes) => nodes.get(at)?.as_ref(),
            Keys::Table(t) => t.get_bucket(at),
        }
    }

    /// The node at an index from `find_index`, mutably.
    #[inline(always)]
    pub(crate) fn get_at_mut(&mut self, at: usize) -> Option<&mut Node> {
        match self {
            Keys::Small(nodes) => nodes.get_mut(at)?.as_mut(),
            Keys::Table(t) => t.get_bucket_mut(at),
        }
    }

    /// Adds the node of a key that is not present, moving the keys into a table when they
    /// no longer fit inline.
    pub(crate) fn insert_new(&mut self, hash: u64, node: Node) {
        match self {
            Keys::Small(nodes) => {
                if let Some(free) = nodes.iter_mut().find(|n| n.is_none()) {
                    *free = Some(node);
                    return;
                }
                let mut t = HashTable::with_capacity(SMALL + 1);
                for n in nodes.iter_mut().filter_map(Option::take) {
                    t.insert_unique(hash_key(n.key()), n, |n| hash_key(n.key()));
                }
                t.insert_unique(hash, node, |n| hash_key(n.key()));
                *self = Keys::Table(t);
            }
            Keys::Table(t) => {
                t.insert_unique(hash, node, |n| hash_key(n.key()));
            }
        }
    }

    /// Takes the node of `key` out; a table left with few keys goes back inline.
    pub(crate) fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Node> {
        let node = match self {
            Keys::Small(nodes) => {
                let at = small_find(nodes, key)?;
                return small_take(nodes, at);
            }
            Keys::Table(t) => t.find_entry(hash, |n| n.key() == key).ok()?.remove().0,
        };
        self.shrink();
        Some(node)
    }

    /// Moves a table holding `SHRINK_AT` keys or fewer back inline, freeing it.
    pub(crate) fn shrink(&mut self) {
        if let Keys::Table(t) = self {
            if t.len() <= SHRINK_AT {
                let mut nodes: [Option<Node>; SMALL] = [None, None, None, None];
                for (place, n) in nodes.iter_mut().zip(t.drain()) {
                    *place = Some(n);
                }
                *self = Keys::Small(nodes);
            }
        }
    }

    /// Every node, in no particular order.
    #[inline]
    pub(crate) fn iter(&self) -> KeysIter<'_> {
        match self {
            Keys::Small(nodes) => KeysIter::Small(nodes.iter()),
            Keys::Table(t) => KeysIter::Table(t.iter()),
        }
    }

    /// Whether the keys are held inline (tests check the conversions).
    #[cfg(test)]
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self, Keys::Small(_))
    }
}

/// Takes the node at `at` out of an inline array, moving the last one into its place so
/// the nodes stay packed at the front.
fn small_take<T>(nodes: &mut [Option<T>], at: usize) -> Option<T> {
    let node = nodes.get_mut(at)?.take()?;
    if let Some(tail) = (at + 1..nodes.len()).rev().find(|&i| nodes[i].is_some()) {
        nodes.swap(at, tail);
    }
    Some(node)
}

/// The nodes of a slot (see `Keys::iter`).
pub(crate) enum KeysIter<'a> {
    /// Inline nodes: stops at the first free place.
    Small(std::slice::Iter<'a, Option<Node>>),
    /// A table's nodes.
    Table(hashbrown::hash_table::Iter<'a, Node>),
}

impl<'a> Iterator for KeysIter<'a> {
    type Item = &'a Node;

    #[inline]
    fn next(&mut self) -> Option<&'a Node> {
        match self {
            KeysIter::Small(it) => it.next()?.as_ref(),
            KeysIter::Table(it) => it.next(),
        }
    }
}

impl Volatile {
    /// Room for `n` records (a copy of a slot), none stored yet.
    fn with_capacity(n: usize) -> Volatile {
        Volatile(match n {
            0 => None,
            n if n <= FEW => Some(Box::new(Expiries::Few([None; FEW]))),
            n => Some(Box::new(Expiries::Table(HashTable::with_capacity(n)))),
        })
    }

    /// Number of keys with a TTL.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self.0.as_deref() {
            None => 0,
            Some(Expiries::Few(few)) => small_len(few),
            Some(Expiries::Table(t)) => t.len(),
        }
    }

    /// Whether no key has a TTL.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every (node, expire_at), in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(NodeId, u64)> {
        let (few, table) = match self.0.as_deref() {
            None => (None, None),
            Some(Expiries::Few(few)) => (Some(few), None),
            Some(Expiries::Table(t)) => (None, Some(t)),
        };
        few.into_iter()
            .flat_map(|f| f.iter().map_while(Option::as_ref))
            .chain(table.into_iter().flat_map(|t| t.iter()))
    }

    /// The expiry time of a node with FLAG_TTL (0 if it has no record).
    #[inline]
    fn get(&self, hash: u64, id: NodeId) -> u64 {
        let found = match self.0.as_deref() {
            None => None,
            Some(Expiries::Few(few)) => {
                few.iter().map_while(Option::as_ref).find(|(n, _)| *n == id)
            }
            Some(Expiries::Table(t)) => t.find(hash, |(n, _)| *n == id),
        };
        found.map_or(0, |(_, at)| *at)
    }

    /// Changes the expiry time of a node's record; false if it has none.
    fn update(&mut self, hash: u64, id: NodeId, at: u64) -> bool {
        let found = match self.0.as_deref_mut() {
            None => None,
            Some(Expiries::Few(few)) => few
                .iter_mut()
                .map_while(Option::as_mut)
                .find(|(n, _)| *n == id),
            Some(Expiries::Table(t)) => t.find_mut(hash, |(n, _)| *n == id),
        };
        found.map(|r| r.1 = at).is_some()
    }

    /// Adds the record of a node that has none.
    fn insert(&mut self, hash: u64, id: NodeId, at: u64) {
        let expiries = self
            .0
            .get_or_insert_with(|| Box::new(Expiries::Few([None; FEW])));
        if let Expiries::Few(few) = &mut **expiries {
            if let Some(free) = few.iter_mut().find(|r| r.is_none()) {
                *free = Some((id, at));
                return;
            }
            let mut t = HashTable::with_capacity(FEW + 1);
            for r in few.iter().flatten() {
                t.insert_unique(record_hash(r), *r, record_hash);
            }
            **expiries = Expiries::Table(t);
        }
        if let Expiries::Table(t) = &mut **expiries {
            t.insert_unique(hash, (id, at), record_hash);
        }
    }

    /// Removes a node's record; frees the box when it is left empty, and a table left
    /// with one record goes back into the box.
    fn remove(&mut self, hash: u64, id: NodeId) {
        let Some(expiries) = self.0.as_deref_mut() else {
            return;
        };
        match expiries {
            Expiries::Few(few) => {
                if let Some(at) = few.iter().position(|r| r.is_some_and(|(n, _)| n == id)) {
                    small_take(few, at);
                }
                if few[0].is_none() {
                    self.0 = None;
                }
            }
            Expiries::Table(t) => {
                if let Ok(e) = t.find_entry(hash, |(n, _)| *n == id) {
                    e.remove();
                }
                if t.len() <= 1 {
                    let last = t.iter().next().copied();
                    self.0 = last.map(|r| Box::new(Expiries::Few([Some(r), None])));
                }
            }
        }
    }
}

/// What `SlotTable::find_checked` does with a key that has a TTL, given its expiry time.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Live: return it.
    Keep,
    /// Expired but left stored (a replica): report it missing.
    Hide,
    /// Expired: remove it and report it missing.
    Remove,
}

/// The outcome of `SlotTable::find_checked`.
pub(crate) enum Found<'a> {
    /// No such key, or an expired one left stored.
    Missing,
    /// An expired key, taken out of the slot (its volatile record too).
    Removed(Node),
    /// The live key.
    Live(&'a mut Node),
}

impl SlotTable {
    /// Number of keys.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The node of `key`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<&Node> {
        self.keys.find(hash, key)
    }

    /// Finds `key` for writing with one probe: a key with a TTL is judged by `verdict`
    /// (given its expiry time) and kept, hidden or removed. The read fast path (GET
    /// touches the LRU clock through it), so the table case keeps hashbrown's single
    /// `find_entry`.
    #[inline(always)]
    pub(crate) fn find_checked(
        &mut self,
        hash: u64,
        key: &[u8],
        verdict: impl FnOnce(u64) -> Verdict,
    ) -> Found<'_> {
        let SlotTable { keys, volatile } = self;
        match keys {
            Keys::Table(t) => {
                let Ok(occ) = t.find_entry(hash, |n| n.key() == key) else {
                    return Found::Missing;
                };
                if occ.get().has_ttl() {
                    match verdict(volatile.get(hash, occ.get().id())) {
                        Verdict::Keep => {}
                        Verdict::Hide => return Found::Missing,
                        Verdict::Remove => {
                            let (node, _) = occ.remove();
                            volatile.remove(hash, node.id());
                            // Not moved back inline here (the borrow of the live case
                            // forbids it): `Db::drain_expired` does it after the command.
                            return Found::Removed(node);
                        }
                    }
                }
                Found::Live(occ.into_mut())
            }
            Keys::Small(nodes) => {
                let Some(at) = small_find(nodes, key) else {
                    return Found::Missing;
                };
                let has_ttl = nodes[at].as_ref().is_some_and(Node::has_ttl);
                if has_ttl {
                    let Some(id) = nodes[at].as_ref().map(Node::id) else {
                        return Found::Missing;
                    };
                    match verdict(volatile.get(hash, id)) {
                        Verdict::Keep => {}
                        Verdict::Hide => return Found::Missing,
                        Verdict::Remove => {
                            let Some(node) = small_take(nodes, at) else {
                                return Found::Missing;
                            };
                            volatile.remove(hash, node.id());
                            return Found::Removed(node);
                        }
                    }
                }
                match nodes[at].as_mut() {
                    Some(n) => Found::Live(n),
                    None => Found::Missing,
                }
            }
        }
    }

    /// The expiry time of a node of this slot (0 when it has none).
    #[inline]
    pub(crate) fn expire_of(&self, hash: u64, node: &Node) -> u64 {
        if !node.has_ttl() {
            return 0;
        }
        self.volatile.get(hash, node.id())
    }

    /// Sets (at != 0) or clears (at == 0) the expiry of a node of this slot. Returns the
    /// change in the number of volatile keys (-1, 0 or +1).
    pub(crate) fn set_expire(
        volatile: &mut Volatile,
        hash: u64,
        node: &mut Node,
        at: u64,
    ) -> isize {
        let id = node.id();
        let had = node.has_ttl();
        if at == 0 {
            if had {
                volatile.remove(hash, id);
            }
            node.set_flags(node.flags() & !FLAG_TTL);
            return if had { -1 } else { 0 };
        }
        if had && volatile.update(hash, id, at) {
            return 0;
        }
        node.set_flags(node.flags() | FLAG_TTL);
        volatile.insert(hash, id, at);
        if had {
            0
        } else {
            1
        }
    }

    /// Removes a node's volatile record if it has one (before the node is freed).
    #[inline]
    pub(crate) fn forget_expire(volatile: &mut Volatile, hash: u64, node: &Node) {
        if node.has_ttl() {
            volatile.remove(hash, node.id());
        }
    }

    /// Calls `f` for every key with its entry and expiry time (0 for none).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8], &Entry, u64)) {
        for node in self.keys.iter() {
            let at = if node.has_ttl() {
                self.expire_of(hash_key(node.key()), node)
            } else {
                0
            };
            f(node.key(), node.entry(), at);
        }
    }
}

impl Clone for SlotTable {
    /// A deep copy whose volatile table points at the copied nodes.
    fn clone(&self) -> SlotTable {
        let mut out = SlotTable {
            keys: match &self.keys {
                Keys::Small(_) => Keys::default(),
                Keys::Table(t) => Keys::Table(HashTable::with_capacity(t.len())),
            },
            volatile: Volatile::with_capacity(self.volatile.len()),
        };
        for node in self.keys.iter() {
            let hash = hash_key(node.key());
            let copy = node.clone();
            if node.has_ttl() {
                let at = self.expire_of(hash, node);
                out.volatile.insert(hash, copy.id(), at);
            }
            out.keys.insert_new(hash, copy);
        }
        out
    }
}

impl std::fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotTable")
            .field("keys", &self.keys.len())
            .field("volatile", &self.volatile.len())
            .finish()
    }
}

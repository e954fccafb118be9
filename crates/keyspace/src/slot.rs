//! The keys of one hash slot: a table of thin node pointers (9 bytes per bucket instead of
//! 73), plus a table of the slot's keys that have a TTL with their expiry times, so keys
//! without a TTL pay nothing for expiry and active expiry visits only volatile keys.

use crate::node::{Node, NodeId, FLAG_TTL};
use crate::Entry;
use ahash::RandomState;
use hashbrown::HashTable;
use std::sync::OnceLock;

/// The keys of one slot. Cloning copies every node (copy-on-write of a slot shared with a
/// snapshot happens on its first write only).
#[derive(Default)]
pub(crate) struct SlotTable {
    pub(crate) keys: HashTable<Node>,
    /// (node, expire_at ms) for the slot's keys that have a TTL (FLAG_TTL set on the node).
    pub(crate) volatile: HashTable<(NodeId, u64)>,
}

/// The hash of a key. One random seed per process (chosen at first use) keeps the tables
/// safe from crafted collisions, and lets a slot copy itself without a hasher handed in.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    static HASHER: OnceLock<RandomState> = OnceLock::new();
    HASHER.get_or_init(RandomState::new).hash_one(key)
}

impl SlotTable {
    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The node of `key`.
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<&Node> {
        self.keys.find(hash, |n| n.key() == key)
    }

    /// The expiry time of a node of this slot (0 when it has none).
    pub(crate) fn expire_of(&self, hash: u64, node: &Node) -> u64 {
        if !node.has_ttl() {
            return 0;
        }
        let id = node.id();
        self.volatile
            .find(hash, |(n, _)| *n == id)
            .map_or(0, |(_, at)| *at)
    }

    /// Sets (at != 0) or clears (at == 0) the expiry of a node of this slot. Returns the
    /// change in the number of volatile keys (-1, 0 or +1).
    pub(crate) fn set_expire(
        volatile: &mut HashTable<(NodeId, u64)>,
        hash: u64,
        node: &mut Node,
        at: u64,
    ) -> isize {
        let id = node.id();
        let had = node.has_ttl();
        if had {
            if let Ok(mut e) = volatile.find_entry(hash, |(n, _)| *n == id) {
                if at != 0 {
                    e.get_mut().1 = at;
                    return 0;
                }
                e.remove();
            }
        }
        if at == 0 {
            node.set_flags(node.flags() & !FLAG_TTL);
            return if had { -1 } else { 0 };
        }
        node.set_flags(node.flags() | FLAG_TTL);
        // SAFETY: every id in `volatile` names a node alive in this slot's key table.
        volatile.insert_unique(hash, (id, at), |(n, _)| hash_key(unsafe { n.key() }));
        if had {
            0
        } else {
            1
        }
    }

    /// Removes a node's volatile record if it has one (before the node is freed).
    pub(crate) fn forget_expire(volatile: &mut HashTable<(NodeId, u64)>, hash: u64, node: &Node) {
        if node.has_ttl() {
            let id = node.id();
            if let Ok(e) = volatile.find_entry(hash, |(n, _)| *n == id) {
                e.remove();
            }
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
            keys: HashTable::with_capacity(self.keys.len()),
            volatile: HashTable::with_capacity(self.volatile.len()),
        };
        for node in self.keys.iter() {
            let hash = hash_key(node.key());
            let copy = node.clone();
            if node.has_ttl() {
                let at = self.expire_of(hash, node);
                let id = copy.id();
                // SAFETY: ids in `out.volatile` name nodes alive in `out.keys`.
                out.volatile
                    .insert_unique(hash, (id, at), |(n, _)| hash_key(unsafe { n.key() }));
            }
            out.keys.insert_unique(hash, copy, |n| hash_key(n.key()));
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

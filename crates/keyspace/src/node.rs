//! One heap allocation per key: the `Entry` header, a flags byte, the key length as a
//! varint and the key bytes, addressed by a thin pointer. The per-slot tables store these
//! 8-byte pointers instead of fat (key handle, entry) buckets, which at hashbrown's ~55%
//! load cost more than the data itself (issue 17: 134 B/key of buckets for a 20-byte pair).
//!
//! Layout: `[Entry][flags u8][varint key length][key bytes]`. The flags and length live
//! after the `Entry`, never inside it, so code holding `&mut Entry` (command handlers) can
//! overwrite the entry freely without touching what the allocation's size depends on.

use crate::db::Entry;
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

/// The key has a TTL, kept in the slot's volatile table.
pub(crate) const FLAG_TTL: u8 = 1;

const HEADER: usize = size_of::<Entry>();

/// An owned key node (like a `Box`, but thin and variable-sized).
pub(crate) struct Node(NonNull<u8>);

// SAFETY: a Node exclusively owns its allocation, like Box<Entry>; Entry is Send + Sync.
unsafe impl Send for Node {}
// SAFETY: shared access only reads (&self methods never write).
unsafe impl Sync for Node {}

/// A node's address, used to identify it in the volatile table (never dereferenced
/// without the owning `Node` being alive in the same slot).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct NodeId(NonNull<u8>);

// SAFETY: an address; dereferenced only through `SlotTable` while its Node is alive.
unsafe impl Send for NodeId {}
// SAFETY: as above.
unsafe impl Sync for NodeId {}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Reads the key stored after a node header at `p`. Returns (offset of key, key length).
///
/// # Safety
/// `p` must point at a live node.
unsafe fn key_span(p: *const u8) -> (usize, usize) {
    let mut off = HEADER + 1;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = *p.add(off);
        off += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return (off, len);
        }
        shift += 7;
    }
}

impl Node {
    fn layout_for(key_len: usize) -> Layout {
        let size = HEADER + 1 + varint_len(key_len) + key_len;
        // A key that is already in memory always fits in a Layout; report it as an
        // allocation failure if that ever stops being true.
        Layout::from_size_align(size, align_of::<Entry>())
            .unwrap_or_else(|_| handle_alloc_error(Layout::new::<Entry>()))
    }

    /// Allocates a node holding `entry` under `key`.
    pub(crate) fn new(key: &[u8], entry: Entry, flags: u8) -> Node {
        let layout = Self::layout_for(key.len());
        // SAFETY: the layout has a non-zero size (HEADER > 0).
        let p = unsafe { alloc(layout) };
        let Some(p) = NonNull::new(p) else {
            handle_alloc_error(layout)
        };
        // SAFETY: p is a fresh allocation of layout.size() bytes, aligned for Entry; every
        // write below stays inside it (the size was computed from the same pieces).
        unsafe {
            let raw = p.as_ptr();
            std::ptr::write(raw as *mut Entry, entry);
            *raw.add(HEADER) = flags;
            let mut off = HEADER + 1;
            let mut n = key.len();
            while n >= 0x80 {
                *raw.add(off) = (n as u8) | 0x80;
                n >>= 7;
                off += 1;
            }
            *raw.add(off) = n as u8;
            off += 1;
            std::ptr::copy_nonoverlapping(key.as_ptr(), raw.add(off), key.len());
        }
        Node(p)
    }

    /// The key bytes.
    pub(crate) fn key(&self) -> &[u8] {
        // SAFETY: the node is alive for &self; the span was written by `new`.
        unsafe {
            let (off, len) = key_span(self.0.as_ptr());
            std::slice::from_raw_parts(self.0.as_ptr().add(off), len)
        }
    }

    /// The entry.
    pub(crate) fn entry(&self) -> &Entry {
        // SAFETY: an initialised Entry sits at the start of the allocation.
        unsafe { &*(self.0.as_ptr() as *const Entry) }
    }

    /// The entry, mutably.
    pub(crate) fn entry_mut(&mut self) -> &mut Entry {
        // SAFETY: as in `entry`, and &mut self gives exclusive access.
        unsafe { &mut *(self.0.as_ptr() as *mut Entry) }
    }

    /// The flags byte (FLAG_*).
    pub(crate) fn flags(&self) -> u8 {
        // SAFETY: the flags byte follows the header inside the allocation.
        unsafe { *self.0.as_ptr().add(HEADER) }
    }

    /// Replaces the flags byte.
    pub(crate) fn set_flags(&mut self, flags: u8) {
        // SAFETY: as in `flags`; it lies outside the Entry, so no &mut Entry aliases it.
        unsafe { *self.0.as_ptr().add(HEADER) = flags }
    }

    /// Whether the key has a TTL.
    pub(crate) fn has_ttl(&self) -> bool {
        self.flags() & FLAG_TTL != 0
    }

    /// This node's identity for the volatile table.
    pub(crate) fn id(&self) -> NodeId {
        NodeId(self.0)
    }

    /// Frees the node and returns its entry.
    pub(crate) fn into_entry(self) -> Entry {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the entry is read out exactly once and the allocation is freed with the
        // layout it was made with; `this` is never dropped.
        unsafe {
            let (_, len) = key_span(this.0.as_ptr());
            let entry = std::ptr::read(this.0.as_ptr() as *const Entry);
            dealloc(this.0.as_ptr(), Self::layout_for(len));
            entry
        }
    }
}

impl NodeId {
    /// The key of the node this id names.
    ///
    /// # Safety
    /// The node must be alive (owned by a table the caller can read).
    pub(crate) unsafe fn key<'a>(self) -> &'a [u8] {
        let (off, len) = key_span(self.0.as_ptr());
        std::slice::from_raw_parts(self.0.as_ptr().add(off), len)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: as in `into_entry`, dropping the entry in place instead of moving it.
        unsafe {
            let (_, len) = key_span(self.0.as_ptr());
            std::ptr::drop_in_place(self.0.as_ptr() as *mut Entry);
            dealloc(self.0.as_ptr(), Self::layout_for(len));
        }
    }
}

impl Clone for Node {
    fn clone(&self) -> Node {
        Node::new(self.key(), self.entry().clone(), self.flags())
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("entry", self.entry())
            .field("flags", &self.flags())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    #[test]
    fn keys_of_every_length_class_round_trip() {
        for len in [0usize, 1, 10, 127, 128, 300, 16_383, 16_384, 70_000] {
            let key: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut n = Node::new(&key, Entry::new(Value::Str(b"v".into()), 5000), 0);
            assert_eq!(n.key(), &key[..]);
            assert_eq!(n.flags(), 0);
            n.set_flags(FLAG_TTL);
            assert!(n.has_ttl());
            assert_eq!(n.key(), &key[..], "flags must not clobber the key");
            n.entry_mut().value = Value::Str(vec![b'x'; 100].into());
            let c = n.clone();
            assert_eq!(c.key(), &key[..]);
            assert!(c.has_ttl());
            // SAFETY: c is alive.
            assert_eq!(unsafe { c.id().key() }, &key[..]);
            let e = c.into_entry();
            assert!(matches!(e.value, Value::Str(v) if v.len() == 100));
        }
    }

    #[test]
    fn overwriting_the_entry_keeps_the_node_intact() {
        let mut n = Node::new(
            b"key:1",
            Entry::new(Value::Str(Default::default()), 0),
            FLAG_TTL,
        );
        *n.entry_mut() = Entry::new(Value::new_hash(), 1000);
        assert_eq!(n.key(), b"key:1");
        assert!(n.has_ttl());
        assert_eq!(n.entry().value.value_type().name(), "hash");
    }
}

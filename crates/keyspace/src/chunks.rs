//! The large list form: a deque of nodes (see `list_node`), each within
//! `list-max-listpack-size` (an element too big for a node gets a node of its own). Redis's
//! quicklist plays this role.
//!
//! WHY: a deque of `Bytes` paid a 32-byte handle and an allocation per element and chased a
//! pointer per element on LRANGE. Here pushes and pops touch only the end node, which keeps
//! spare room on its outer side (a push is a copy, a pop moves nothing); index operations
//! skip whole nodes by their counts, and a node's entries sit next to each other. Middle
//! edits split a node that grows past its bound and merge neighbours that fit together
//! again, so a list that shrinks does not keep many near-empty nodes. Nodes between the
//! ends hold no spare room.

use crate::list_node::{encode, entry_size, Bound, Fwd, Node};
use crate::pack::{read_entry, Pack};
use bytes::Bytes;
use std::collections::VecDeque;

/// The chunked form (opaque: only `ListValue` edits it).
#[derive(Clone, Default)]
pub struct Chunks {
    nodes: VecDeque<Node>,
    len: usize,
}

impl Chunks {
    /// The chunked form of a small list's pack: its entries re-encoded once into nodes
    /// filled up to the node bound.
    pub(crate) fn from_pack(p: &Pack) -> Chunks {
        let bound = Bound::node();
        let mut c = Chunks {
            nodes: VecDeque::new(),
            len: p.count(),
        };
        let data = p.data();
        let (mut off, mut raw, mut n) = (0, Vec::with_capacity(data.len() + p.count()), 0);
        while off < data.len() {
            let (e, next) = read_entry(data, off);
            off = next;
            if n > 0 && !bound.fits(n + 1, raw.len() + entry_size(e.len())) {
                c.nodes.push_back(Node::from_raw(&raw, n));
                raw.clear();
                n = 0;
            }
            encode(&mut raw, e);
            n += 1;
        }
        if n > 0 {
            c.nodes.push_back(Node::from_raw(&raw, n));
        }
        c
    }

    /// The small form's pack of these elements.
    pub(crate) fn to_pack(&self) -> Pack {
        let mut raw = Vec::new();
        for e in self.iter() {
            crate::pack::encode_entry(&mut raw, e);
        }
        let mut p = Pack::new();
        p.push_raw(&raw, self.len as isize);
        p
    }

    /// Number of elements.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of nodes (what freeing the list costs, in allocations).
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The only node, if the list has exactly one (where it may go back to the small form).
    pub(crate) fn lone_node(&self) -> Option<&Node> {
        match self.nodes.len() {
            1 => self.nodes.front(),
            _ => None,
        }
    }

    /// Heap bytes held: the node buffers (with their spare room), the deque's slots and
    /// this header (MEMORY USAGE).
    pub(crate) fn heap_bytes(&self) -> usize {
        let buffers: usize = self.nodes.iter().map(Node::capacity).sum();
        buffers + self.nodes.capacity() * std::mem::size_of::<Node>() + std::mem::size_of::<Self>()
    }

    /// Adds an element at the tail, in the tail node when it fits there.
    #[inline]
    pub(crate) fn push_back(&mut self, v: &[u8]) {
        let add = entry_size(v.len());
        let bound = Bound::node();
        let alone = self.nodes.len() == 1;
        match self.nodes.back_mut() {
            Some(n) if bound.fits(n.count() + 1, n.byte_len() + add) => {
                n.push_back(v, bound.bytes, alone)
            }
            _ => self.new_tail(v, bound),
        }
        self.len += 1;
    }

    #[cold]
    fn new_tail(&mut self, v: &[u8], bound: Bound) {
        // The old tail stops being an end (unless it is also the head): drop its room.
        if self.nodes.len() >= 2 {
            if let Some(old) = self.nodes.back_mut() {
                old.trim();
            }
        }
        let mut n = Node::new();
        n.push_back(v, bound.bytes, false);
        self.nodes.push_back(n);
    }

    /// Adds an element at the head, in the head node when it fits there.
    #[inline]
    pub(crate) fn push_front(&mut self, v: &[u8]) {
        let add = entry_size(v.len());
        let bound = Bound::node();
        let alone = self.nodes.len() == 1;
        match self.nodes.front_mut() {
            Some(n) if bound.fits(n.count() + 1, n.byte_len() + add) => {
                n.push_front(v, bound.bytes, alone)
            }
            _ => self.new_head(v, bound),
        }
        self.len += 1;
    }

    #[cold]
    fn new_head(&mut self, v: &[u8], bound: Bound) {
        if self.nodes.len() >= 2 {
            if let Some(old) = self.nodes.front_mut() {
                old.trim();
            }
        }
        let mut n = Node::new();
        n.push_front(v, bound.bytes, false);
        self.nodes.push_front(n);
    }

    /// Removes the head (dropping the head node once it is empty).
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Bytes> {
        let n = self.nodes.front_mut()?;
        let v = n.pop_front();
        if n.count() == 0 {
            self.nodes.pop_front();
        }
        self.len -= 1;
        v
    }

    /// Removes the tail (dropping the tail node once it is empty).
    #[inline]
    pub(crate) fn pop_back(&mut self) -> Option<Bytes> {
        let n = self.nodes.back_mut()?;
        let v = n.pop_back();
        if n.count() == 0 {
            self.nodes.pop_back();
        }
        self.len -= 1;
        v
    }

    /// (node, position in it) of element `i` (i < len), counting from the nearer end.
    fn locate(&self, mut i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            for (k, n) in self.nodes.iter().enumerate() {
                if i < n.count() {
                    return (k, i);
                }
                i -= n.count();
            }
        } else {
            let mut from_end = self.len - i;
            for (k, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.count() {
                    return (k, n.count() - from_end);
                }
                from_end -= n.count();
            }
        }
        (self.nodes.len(), 0)
    }

    /// The element at position `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (k, j) = self.locate(i);
        Some(self.nodes[k].entry_at(j).0)
    }

    /// Replaces the element at position `i` (i < len).
    pub(crate) fn set(&mut self, i: usize, v: &[u8]) {
        if i >= self.len {
            return;
        }
        let (k, j) = self.locate(i);
        self.nodes[k].set(j, v);
        self.settle(k);
    }

    /// Inserts an element before position `i` (i <= len).
    pub(crate) fn insert(&mut self, i: usize, v: &[u8]) {
        if i == 0 {
            return self.push_front(v);
        }
        if i >= self.len {
            return self.push_back(v);
        }
        let (k, j) = self.locate(i);
        let add = entry_size(v.len());
        if j == 0 && k > 0 {
            // At a node boundary: the end of the previous node, if it has room.
            let prev = &mut self.nodes[k - 1];
            if Bound::node().fits(prev.count() + 1, prev.byte_len() + add) {
                prev.insert(prev.count(), v);
                self.len += 1;
                self.settle(k - 1);
                return;
            }
        }
        self.nodes[k].insert(j, v);
        self.len += 1;
        self.settle(k);
    }

    /// A walk over all elements from the head.
    pub(crate) fn iter(&self) -> ChunkIter<'_> {
        self.range(0, self.len)
    }

    /// The `n` elements from position `start` (both already clamped to the list).
    pub(crate) fn range(&self, start: usize, n: usize) -> ChunkIter<'_> {
        if n == 0 || start >= self.len {
            return ChunkIter {
                cur: Fwd::empty(),
                rest: self.nodes.range(0..0),
                left: 0,
            };
        }
        let (k, j) = self.locate(start);
        let cur = &self.nodes[k];
        ChunkIter {
            cur: cur.fwd(cur.offset_of(j)),
            rest: self.nodes.range(k + 1..),
            left: n,
        }
    }

    /// All elements from the tail.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().rev().flat_map(Node::back)
    }

    /// Keeps positions `start..start + n` (clamped by the caller) and drops the rest, whole
    /// nodes at a time where it can.
    pub(crate) fn keep_range(&mut self, start: usize, n: usize) {
        let mut front = start;
        while let Some(f) = self.nodes.front_mut() {
            if f.count() <= front {
                front -= f.count();
                self.nodes.pop_front();
            } else {
                f.drop_front(front);
                break;
            }
        }
        let mut back = self.len - start - n;
        while let Some(b) = self.nodes.back_mut() {
            if b.count() <= back {
                back -= b.count();
                self.nodes.pop_back();
            } else {
                b.drop_back(back);
                break;
            }
        }
        self.len = n;
        if self.nodes.len() >= 2 {
            self.try_merge(0);
        }
        if self.nodes.len() >= 2 {
            self.try_merge(self.nodes.len() - 2);
        }
    }

    /// Removes the elements at the (ascending) positions `hits`, then merges neighbours that
    /// fit together.
    pub(crate) fn remove_positions(&mut self, hits: &[usize]) {
        let mut next = hits.iter().copied().peekable();
        let mut base = 0;
        for n in self.nodes.iter_mut() {
            let c = n.count();
            if next.peek().is_some_and(|&h| h < base + c) {
                let gone = n.remove_where(|j| {
                    let hit = next.peek() == Some(&(base + j));
                    if hit {
                        next.next();
                    }
                    hit
                });
                self.len -= gone;
            }
            base += c;
        }
        self.nodes.retain(|n| n.count() > 0);
        let mut k = 0;
        while k + 1 < self.nodes.len() {
            if !self.try_merge(k) {
                k += 1;
            }
        }
        self.trim_middle();
    }

    /// Whether node `k` lies between the ends (and so holds no spare room).
    fn is_middle(&self, k: usize) -> bool {
        k > 0 && k + 1 < self.nodes.len()
    }

    /// Trims every node between the ends (after edits that change which nodes those are).
    fn trim_middle(&mut self) {
        let last = self.nodes.len().saturating_sub(1);
        for (k, n) in self.nodes.iter_mut().enumerate() {
            if k > 0 && k < last {
                n.trim();
            }
        }
    }

    /// After an edit of node `k`: drops it if empty, splits it if over its bound, else
    /// merges it with a neighbour it now fits with; middle nodes end trimmed.
    fn settle(&mut self, k: usize) {
        if self.nodes[k].count() == 0 {
            self.nodes.remove(k);
            if k > 0 && k < self.nodes.len() {
                self.try_merge(k - 1);
            }
        } else if !self.split_if_over(k) {
            if k + 1 < self.nodes.len() {
                self.try_merge(k);
            }
            if k > 0 {
                self.try_merge(k - 1);
            }
        }
        self.trim_near(k);
    }

    /// Trims the middle nodes around position `k` (the only ones an edit there touched).
    fn trim_near(&mut self, k: usize) {
        for m in k.saturating_sub(1)..(k + 3).min(self.nodes.len()) {
            if self.is_middle(m) {
                self.nodes[m].trim();
            }
        }
    }

    /// Splits node `k` in halves (recursively) while it is over its bound and holds more
    /// than one element; returns whether it split.
    fn split_if_over(&mut self, k: usize) -> bool {
        let n = &self.nodes[k];
        if n.count() < 2 || Bound::node().fits(n.count(), n.byte_len()) {
            return false;
        }
        let (a, b) = n.split_half();
        self.nodes[k] = a;
        self.nodes.insert(k + 1, b);
        self.split_if_over(k + 1);
        self.split_if_over(k);
        true
    }

    /// Merges node `k + 1` into node `k` when together they fit; returns whether it did.
    fn try_merge(&mut self, k: usize) -> bool {
        let (a, b) = (&self.nodes[k], &self.nodes[k + 1]);
        if !Bound::node().fits(a.count() + b.count(), a.byte_len() + b.byte_len()) {
            return false;
        }
        if let Some(b) = self.nodes.remove(k + 1) {
            self.nodes[k].append_raw(b.data(), b.count());
        }
        if self.is_middle(k) {
            self.nodes[k].trim();
        }
        true
    }

    /// Checks the invariants (tests): counts add up, no empty node, every node within its
    /// bound unless it holds a single element, and no spare room between the ends.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        let sum: usize = self.nodes.iter().map(Node::count).sum();
        if sum != self.len {
            return Err(format!("node counts {sum} != len {}", self.len));
        }
        for (k, n) in self.nodes.iter().enumerate() {
            if n.count() == 0 {
                return Err("empty node".into());
            }
            if n.count() > 1 && !Bound::node().fits(n.count(), n.byte_len()) {
                return Err(format!("node over bound: {} / {}", n.count(), n.byte_len()));
            }
            if self.is_middle(k) && n.capacity() != n.byte_len() {
                return Err(format!(
                    "middle node {k} with spare room: {} / {}",
                    n.byte_len(),
                    n.capacity()
                ));
            }
        }
        Ok(())
    }
}

/// A forward walk over (part of) a chunked list: the node it is in, the nodes after it,
/// and how many elements are left to yield.
pub(crate) struct ChunkIter<'a> {
    cur: Fwd<'a>,
    rest: std::collections::vec_deque::Iter<'a, Node>,
    left: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(e) = self.cur.next() {
                self.left -= 1;
                return Some(e);
            }
            self.cur = self.rest.next()?.fwd(0);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

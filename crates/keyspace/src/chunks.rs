//! The large list form: a deque of packed nodes, each within `list-max-listpack-size` (an
//! element too big for a node gets a node of its own). Redis's quicklist plays this role.
//!
//! WHY: a deque of `Bytes` paid a 32-byte handle and an allocation per element and chased a
//! pointer per element on LRANGE. Here pushes and pops touch only the end node (O(1)
//! amortised), index operations skip whole nodes by their counts, and a node is one
//! allocation of entries that sit next to each other. Middle edits split a node that grows
//! past its bound and merge neighbours that fit together again, so a list that shrinks does
//! not keep many near-empty nodes.

use crate::list_node::{self as node, Back, Bound, Fwd};
use crate::pack::Pack;
use bytes::Bytes;
use std::collections::VecDeque;

/// The chunked form (opaque: only `ListValue` edits it).
#[derive(Clone, Default)]
pub struct Chunks {
    nodes: VecDeque<Pack>,
    len: usize,
}

impl Chunks {
    /// The chunked form of a small list's pack (split if it is over a node's bound).
    pub(crate) fn from_pack(p: Pack) -> Chunks {
        let len = p.count();
        let mut c = Chunks {
            nodes: VecDeque::new(),
            len,
        };
        if len > 0 {
            c.nodes.push_back(p);
            c.split_if_over(0);
        }
        c
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of nodes (what freeing the list costs, in allocations).
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Adds an element at the tail, in the tail node when it fits there.
    pub(crate) fn push_back(&mut self, v: &[u8]) {
        let add = node::entry_size(v.len());
        let bound = Bound::node();
        match self.nodes.back_mut() {
            Some(n) if bound.fits(n.count() + 1, n.byte_len() + add) => node::append(n, v),
            _ => {
                let mut n = Pack::new();
                node::append(&mut n, v);
                self.nodes.push_back(n);
            }
        }
        self.len += 1;
    }

    /// Adds an element at the head, in the head node when it fits there.
    pub(crate) fn push_front(&mut self, v: &[u8]) {
        let add = node::entry_size(v.len());
        let bound = Bound::node();
        match self.nodes.front_mut() {
            Some(n) if bound.fits(n.count() + 1, n.byte_len() + add) => node::insert(n, 0, v),
            _ => {
                let mut n = Pack::new();
                node::append(&mut n, v);
                self.nodes.push_front(n);
            }
        }
        self.len += 1;
    }

    /// Removes the head (dropping the head node once it is empty).
    pub(crate) fn pop_front(&mut self) -> Option<Bytes> {
        let n = self.nodes.front_mut()?;
        let v = node::pop_front(n);
        if n.count() == 0 {
            self.nodes.pop_front();
        }
        self.len -= 1;
        v
    }

    /// Removes the tail (dropping the tail node once it is empty).
    pub(crate) fn pop_back(&mut self) -> Option<Bytes> {
        let n = self.nodes.back_mut()?;
        let v = node::pop_back(n);
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
        Some(node::entry_at(&self.nodes[k], j).0)
    }

    /// Replaces the element at position `i` (i < len).
    pub(crate) fn set(&mut self, i: usize, v: &[u8]) {
        if i >= self.len {
            return;
        }
        let (k, j) = self.locate(i);
        node::set(&mut self.nodes[k], j, v);
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
        let add = node::entry_size(v.len());
        if j == 0 && k > 0 {
            // At a node boundary: the end of the previous node, if it has room.
            let prev = &mut self.nodes[k - 1];
            if Bound::node().fits(prev.count() + 1, prev.byte_len() + add) {
                node::append(prev, v);
                self.len += 1;
                return;
            }
        }
        let n = &mut self.nodes[k];
        let at = node::offset_of(n, j);
        node::insert(n, at, v);
        self.len += 1;
        self.settle(k);
    }

    /// The `n` elements from position `start` (both already clamped to the list).
    pub(crate) fn range(
        &self,
        start: usize,
        n: usize,
    ) -> (Fwd<'_>, std::collections::vec_deque::Iter<'_, Pack>) {
        if n == 0 || start >= self.len {
            return (Fwd { data: &[], off: 0 }, self.nodes.range(0..0));
        }
        let (k, j) = self.locate(start);
        let cur = &self.nodes[k];
        let first = Fwd {
            data: cur.data(),
            off: node::offset_of(cur, j),
        };
        (first, self.nodes.range(k + 1..))
    }

    /// All elements from the tail.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.nodes.iter().rev().flat_map(|n| Back {
            data: n.data(),
            end: n.byte_len(),
        })
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
                node::drop_front(f, front);
                break;
            }
        }
        let mut back = self.len - start - n;
        while let Some(b) = self.nodes.back_mut() {
            if b.count() <= back {
                back -= b.count();
                self.nodes.pop_back();
            } else {
                node::drop_back(b, back);
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
                let gone = node::remove_where(n, |j| {
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
    }

    /// After an edit of node `k`: drops it if empty, splits it if over its bound, else
    /// merges it with a neighbour it now fits with.
    fn settle(&mut self, k: usize) {
        if self.nodes[k].count() == 0 {
            self.nodes.remove(k);
            if k > 0 && k < self.nodes.len() {
                self.try_merge(k - 1);
            }
            return;
        }
        if self.split_if_over(k) {
            return;
        }
        if k + 1 < self.nodes.len() {
            self.try_merge(k);
        }
        if k > 0 {
            self.try_merge(k - 1);
        }
    }

    /// Splits node `k` in halves (recursively) while it is over its bound and holds more
    /// than one element; returns whether it split.
    fn split_if_over(&mut self, k: usize) -> bool {
        let n = &self.nodes[k];
        if n.count() < 2 || Bound::node().fits(n.count(), n.byte_len()) {
            return false;
        }
        let (a, b) = node::split_half(n);
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
            self.nodes[k].push_raw(b.data(), b.count() as isize);
        }
        true
    }

    /// Checks the invariants (tests): counts add up, no empty node, and every node within
    /// its bound unless it holds a single element.
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        let sum: usize = self.nodes.iter().map(Pack::count).sum();
        if sum != self.len {
            return Err(format!("node counts {sum} != len {}", self.len));
        }
        for n in &self.nodes {
            if n.count() == 0 {
                return Err("empty node".into());
            }
            if n.count() > 1 && !Bound::node().fits(n.count(), n.byte_len()) {
                return Err(format!("node over bound: {} / {}", n.count(), n.byte_len()));
            }
        }
        Ok(())
    }
}

//! The list type: one packed run of entries while it is within `list-max-listpack-size`
//! (one quicklist node's worth in Redis: 8 KiB by default), a deque of such runs (nodes,
//! see `chunks`) past it. Redis 7.0 calls every list "quicklist", so OBJECT ENCODING does not
//! tell the two apart. Conversion is one-way: the small form's pack becomes the first node.

use crate::chunks::Chunks;
use crate::list_node::{self as node, Back, Bound, Fwd};
use crate::pack::Pack;
use bytes::Bytes;
use std::collections::vec_deque;

/// A list value in its current encoding.
#[derive(Clone)]
pub enum ListValue {
    /// Entries in order, in one pack.
    Pack(PackedList),
    /// Entries in order, in a deque of packed nodes.
    Chunked(Box<Chunks>),
}

/// The packed form (opaque: only `ListValue` edits it).
#[derive(Clone, Default)]
pub struct PackedList(Pack);

impl Default for ListValue {
    fn default() -> Self {
        ListValue::Pack(PackedList::default())
    }
}

impl std::fmt::Debug for ListValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

impl ListValue {
    /// An empty list (packed).
    pub fn new() -> ListValue {
        ListValue::default()
    }

    /// Number of elements (LLEN).
    pub fn len(&self) -> usize {
        match self {
            ListValue::Pack(p) => p.0.count(),
            ListValue::Chunked(c) => c.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is in its compact encoding.
    pub fn is_compact(&self) -> bool {
        matches!(self, ListValue::Pack(_))
    }

    /// How many allocations freeing the list takes: one per node (Redis counts a
    /// quicklist's nodes the same way for lazy freeing).
    pub fn node_count(&self) -> usize {
        match self {
            ListValue::Pack(_) => 1,
            ListValue::Chunked(c) => c.node_count(),
        }
    }

    /// Converts to the chunked form when `extra` more bytes and `extra_count` more elements
    /// would not fit the pack. Returns the pack when it stays.
    fn room(&mut self, extra: usize, extra_count: usize) -> Option<&mut Pack> {
        if let ListValue::Pack(p) = self {
            if Bound::pack().fits(p.0.count() + extra_count, p.0.byte_len() + extra) {
                return match self {
                    ListValue::Pack(p) => Some(&mut p.0),
                    ListValue::Chunked(_) => None,
                };
            }
            let c = Chunks::from_pack(std::mem::take(&mut p.0));
            *self = ListValue::Chunked(Box::new(c));
        }
        None
    }

    fn chunks(&mut self) -> Option<&mut Chunks> {
        match self {
            ListValue::Chunked(c) => Some(c),
            ListValue::Pack(_) => None,
        }
    }

    /// Adds an element at the head.
    pub fn push_front(&mut self, v: Bytes) {
        if let Some(p) = self.room(node::entry_size(v.len()), 1) {
            node::insert(p, 0, &v);
        } else if let Some(c) = self.chunks() {
            c.push_front(&v);
        }
    }

    /// Adds an element at the tail.
    pub fn push_back(&mut self, v: Bytes) {
        if let Some(p) = self.room(node::entry_size(v.len()), 1) {
            node::append(p, &v);
        } else if let Some(c) = self.chunks() {
            c.push_back(&v);
        }
    }

    /// Removes the head.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        match self {
            ListValue::Pack(p) => node::pop_front(&mut p.0),
            ListValue::Chunked(c) => c.pop_front(),
        }
    }

    /// Removes the tail.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        match self {
            ListValue::Pack(p) => node::pop_back(&mut p.0),
            ListValue::Chunked(c) => c.pop_back(),
        }
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            ListValue::Pack(p) if i < p.0.count() => Some(node::entry_at(&p.0, i).0),
            ListValue::Pack(_) => None,
            ListValue::Chunked(c) => c.get(i),
        }
    }

    /// Replaces the element at position `i` (i < len).
    pub fn set(&mut self, i: usize, v: Bytes) {
        if i >= self.len() {
            return;
        }
        let old = match self {
            ListValue::Pack(p) => node::entry_size(node::entry_at(&p.0, i).0.len()),
            ListValue::Chunked(_) => 0,
        };
        if let Some(p) = self.room(node::entry_size(v.len()).saturating_sub(old), 0) {
            node::set(p, i, &v);
        } else if let Some(c) = self.chunks() {
            c.set(i, &v);
        }
    }

    /// Inserts an element before position `i` (i <= len).
    pub fn insert(&mut self, i: usize, v: Bytes) {
        let i = i.min(self.len());
        if let Some(p) = self.room(node::entry_size(v.len()), 1) {
            let at = node::offset_of(p, i);
            node::insert(p, at, &v);
        } else if let Some(c) = self.chunks() {
            c.insert(i, &v);
        }
    }

    /// The elements from the head.
    pub fn iter(&self) -> ListIter<'_> {
        self.range(0, self.len())
    }

    /// The `n` elements starting at position `start` (clamped to the list).
    pub fn range(&self, start: usize, n: usize) -> ListIter<'_> {
        let start = start.min(self.len());
        let n = n.min(self.len() - start);
        match self {
            ListValue::Pack(p) => ListIter {
                cur: Fwd {
                    data: p.0.data(),
                    off: node::offset_of(&p.0, start),
                },
                rest: None,
                left: n,
            },
            ListValue::Chunked(c) => {
                let (cur, rest) = c.range(start, n);
                ListIter {
                    cur,
                    rest: Some(rest),
                    left: n,
                }
            }
        }
    }

    /// The elements from the tail.
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            ListValue::Pack(p) => Box::new(Back {
                data: p.0.data(),
                end: p.0.byte_len(),
            }),
            ListValue::Chunked(c) => Box::new(c.iter_rev()),
        }
    }

    /// Keeps positions `start..start + n` and drops the rest (LTRIM).
    pub fn keep_range(&mut self, start: usize, n: usize) {
        let len = self.len();
        let start = start.min(len);
        let n = n.min(len - start);
        match self {
            ListValue::Pack(p) => {
                node::drop_back(&mut p.0, len - start - n);
                node::drop_front(&mut p.0, start);
            }
            ListValue::Chunked(c) => c.keep_range(start, n),
        }
    }

    /// Removes up to `limit` elements equal to `elem` (0 = all), from the head or from the
    /// tail (LREM); returns how many went.
    pub fn remove_matching(&mut self, elem: &[u8], limit: u64, from_tail: bool) -> u64 {
        let len = self.len();
        let mut hits: Vec<usize> = Vec::new();
        let mut take = |i: usize, e: &[u8]| {
            if e == elem && (limit == 0 || (hits.len() as u64) < limit) {
                hits.push(i);
            }
        };
        if from_tail {
            for (k, e) in self.iter_rev().enumerate() {
                take(len - 1 - k, e);
            }
            hits.reverse();
        } else {
            for (i, e) in self.iter().enumerate() {
                take(i, e);
            }
        }
        if hits.is_empty() {
            return 0;
        }
        match self {
            ListValue::Pack(p) => {
                let mut next = hits.iter().copied().peekable();
                node::remove_where(&mut p.0, |j| {
                    let hit = next.peek() == Some(&j);
                    if hit {
                        next.next();
                    }
                    hit
                });
            }
            ListValue::Chunked(c) => c.remove_positions(&hits),
        }
        hits.len() as u64
    }

    /// Position of the first element equal to `elem`.
    pub fn position(&self, elem: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == elem)
    }

    /// Checks the chunked form's invariants (tests).
    #[cfg(test)]
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            ListValue::Pack(_) => Ok(()),
            ListValue::Chunked(c) => c.check(),
        }
    }
}

/// A forward walk over (part of) a list: the node it is in, the nodes after it (chunked
/// form), and how many elements are left to yield.
pub struct ListIter<'a> {
    cur: Fwd<'a>,
    rest: Option<vec_deque::Iter<'a, Pack>>,
    left: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(e) = self.cur.next() {
                self.left -= 1;
                return Some(e);
            }
            let n = self.rest.as_mut()?.next()?;
            self.cur = Fwd {
                data: n.data(),
                off: 0,
            };
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl FromIterator<Bytes> for ListValue {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut l = ListValue::new();
        for v in iter {
            l.push_back(v);
        }
        l
    }
}

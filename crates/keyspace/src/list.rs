//! The list type: one packed buffer of entries while it is within
//! `list-max-listpack-size` (one quicklist node's worth in Redis: 8 KiB by default), a deque
//! of packed nodes (`chunks`) past it. Redis 7.0 calls every list "quicklist", so OBJECT
//! ENCODING does not tell the two apart.
//!
//! The small form keeps the plain pack encoding (`[varint len][bytes]`, one exact-size
//! allocation): it is what most keys of a keyspace of small lists cost. Only the chunked
//! form's nodes carry the back-length that reading from both ends needs, so crossing the
//! threshold re-encodes the entries once; a chunked list that shrinks back to one node
//! within half the threshold returns to the small form (Redis 7.2's hysteresis).

use crate::chunks::{ChunkIter, Chunks};
use crate::list_node::Bound;
use crate::pack::{entry_size, read_entry, Entries, Pack};
use bytes::Bytes;

/// A list value in its current encoding.
#[derive(Clone)]
pub enum ListValue {
    /// Entries in order.
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

    /// Heap bytes the list holds: the pack's buffer, or the nodes' buffers (spare room
    /// included) plus the node table (MEMORY USAGE reports these, not an estimate).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ListValue::Pack(p) => p.0.byte_len(),
            ListValue::Chunked(c) => c.heap_bytes(),
        }
    }

    /// Converts to the chunked form when `extra` more bytes and `extra_count` more elements
    /// would not fit the pack (the entries are re-encoded once, into nodes).
    #[inline]
    fn make_room(&mut self, extra: usize, extra_count: usize) {
        if let ListValue::Pack(p) = self {
            if !Bound::pack().fits(p.0.count() + extra_count, p.0.byte_len() + extra) {
                let c = Chunks::from_pack(&p.0);
                *self = ListValue::Chunked(Box::new(c));
            }
        }
    }

    /// After a removal: a chunked list down to one node within half the pack's bound goes
    /// back to the small form.
    #[inline]
    fn shrunk(&mut self) {
        if let ListValue::Chunked(c) = self {
            if let Some(n) = c.lone_node() {
                if Bound::pack().half().fits(n.count(), n.byte_len()) {
                    *self = ListValue::Pack(PackedList(c.to_pack()));
                }
            }
        }
    }

    /// Adds an element at the head.
    pub fn push_front(&mut self, v: Bytes) {
        self.make_room(entry_size(v.len()), 1);
        match self {
            ListValue::Pack(p) => p.0.insert_entry(0, &v),
            ListValue::Chunked(c) => c.push_front(&v),
        }
    }

    /// Adds an element at the tail.
    pub fn push_back(&mut self, v: Bytes) {
        self.make_room(entry_size(v.len()), 1);
        match self {
            ListValue::Pack(p) => {
                let end = p.0.byte_len();
                p.0.insert_entry(end, &v)
            }
            ListValue::Chunked(c) => c.push_back(&v),
        }
    }

    /// Removes the head.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        match self {
            ListValue::Pack(p) => {
                let (v, end) = p.0.entries_from(0).next().map(|e| {
                    let end = entry_size(e.len());
                    (Bytes::copy_from_slice(e), end)
                })?;
                p.0.remove_range(0, end, 1);
                Some(v)
            }
            ListValue::Chunked(c) => {
                let v = c.pop_front();
                self.shrunk();
                v
            }
        }
    }

    /// Removes the tail.
    pub fn pop_back(&mut self) -> Option<Bytes> {
        match self {
            ListValue::Pack(p) => {
                let n = p.0.count();
                if n == 0 {
                    return None;
                }
                let start = p.0.offset_of(n - 1);
                let v = Bytes::copy_from_slice(read_entry(p.0.data(), start).0);
                let end = p.0.byte_len();
                p.0.remove_range(start, end, 1);
                Some(v)
            }
            ListValue::Chunked(c) => {
                let v = c.pop_back();
                self.shrunk();
                v
            }
        }
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            ListValue::Pack(p) => p.0.entries_from(0).nth(i),
            ListValue::Chunked(c) => c.get(i),
        }
    }

    /// Replaces the element at position `i` (i < len).
    pub fn set(&mut self, i: usize, v: Bytes) {
        if let ListValue::Pack(p) = self {
            let old =
                p.0.entries_from(0)
                    .nth(i)
                    .map_or(0, |e| entry_size(e.len()));
            self.make_room(entry_size(v.len()).saturating_sub(old), 0);
        }
        match self {
            ListValue::Pack(p) => {
                let start = p.0.offset_of(i);
                let end = read_entry(p.0.data(), start).1;
                p.0.replace_entry(start, end, &v);
            }
            ListValue::Chunked(c) => c.set(i, &v),
        }
    }

    /// Inserts an element before position `i` (i <= len).
    pub fn insert(&mut self, i: usize, v: Bytes) {
        self.make_room(entry_size(v.len()), 1);
        match self {
            ListValue::Pack(p) => {
                let at = p.0.offset_of(i);
                p.0.insert_entry(at, &v);
            }
            ListValue::Chunked(c) => c.insert(i, &v),
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
            ListValue::Pack(p) => ListIter(Walk::Pack(p.0.entries_from(p.0.offset_of(start)), n)),
            ListValue::Chunked(c) => ListIter(Walk::Chunked(c.range(start, n))),
        }
    }

    /// The elements from the tail.
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            ListValue::Pack(_) => {
                let all: Vec<&[u8]> = self.iter().collect();
                Box::new(all.into_iter().rev())
            }
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
                let a = p.0.offset_of(start);
                let b =
                    p.0.entries_from(a)
                        .take(n)
                        .map(|e| entry_size(e.len()))
                        .sum::<usize>()
                        + a;
                let end = p.0.byte_len();
                p.0.remove_range(b, end, len - start - n);
                p.0.remove_range(0, a, start);
            }
            ListValue::Chunked(c) => {
                c.keep_range(start, n);
                self.shrunk();
            }
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
        let removed = hits.len() as u64;
        match self {
            ListValue::Pack(p) => {
                let mut kept = Pack::new();
                let mut next = hits.iter().peekable();
                let mut raw = Vec::with_capacity(p.0.byte_len());
                let data = p.0.data();
                let mut off = 0;
                for i in 0..len {
                    let end = read_entry(data, off).1;
                    if next.peek() == Some(&&i) {
                        next.next();
                    } else {
                        raw.extend_from_slice(&data[off..end]);
                    }
                    off = end;
                }
                kept.push_raw(&raw, (len as u64 - removed) as isize);
                p.0 = kept;
            }
            ListValue::Chunked(c) => {
                c.remove_positions(&hits);
                self.shrunk();
            }
        }
        removed
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

/// A forward walk over (part of) a list.
pub struct ListIter<'a>(Walk<'a>);

enum Walk<'a> {
    /// Over packed entries, with how many are left to yield.
    Pack(Entries<'a>, usize),
    /// Over the chunked form's nodes.
    Chunked(ChunkIter<'a>),
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            Walk::Pack(it, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                it.next()
            }
            Walk::Chunked(it) => it.next(),
        }
    }

    /// Exact: LRANGE collects into a reply array sized once.
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            Walk::Pack(_, left) => *left,
            Walk::Chunked(it) => it.size_hint().0,
        };
        (n, Some(n))
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

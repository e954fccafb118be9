//! The list type: one packed buffer of entries while it is within
//! `list-max-listpack-size` (one quicklist node's worth in Redis: 8 KiB by default), a deque
//! of `Bytes` past it. Redis 7.0 calls every list "quicklist", so OBJECT ENCODING does not
//! tell the two apart; memory does (a 100-element list of short strings is ~500 bytes in a
//! pack, ~6 KB as a deque of handles). Conversion is one-way.

use crate::limits::Limits;
use crate::pack::{entry_size, read_entry, Entries, Pack, MAX_PACK_BYTES};
use bytes::Bytes;
use std::collections::VecDeque;

/// A list value in its current encoding.
#[derive(Clone)]
pub enum ListValue {
    /// Entries in order.
    Pack(PackedList),
    /// The full deque.
    Deque(Box<VecDeque<Bytes>>),
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
            ListValue::Deque(d) => d.len(),
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

    fn convert(&mut self) {
        if let ListValue::Pack(p) = self {
            let d: VecDeque<Bytes> = p.0.entries_from(0).map(Bytes::copy_from_slice).collect();
            *self = ListValue::Deque(Box::new(d));
        }
    }

    /// Converts to the deque when `extra` more bytes would not fit the pack.
    fn make_room(&mut self, extra: usize, extra_count: usize) {
        if let ListValue::Pack(p) = self {
            let bytes = p.0.byte_len() + extra;
            if bytes > MAX_PACK_BYTES
                || !Limits::current().list_fits(p.0.count() + extra_count, bytes)
            {
                self.convert();
            }
        }
    }

    /// Adds an element at the head.
    pub fn push_front(&mut self, v: Bytes) {
        self.make_room(entry_size(v.len()), 1);
        match self {
            ListValue::Pack(p) => p.0.insert_entry(0, &v),
            ListValue::Deque(d) => d.push_front(crate::own(v)),
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
            ListValue::Deque(d) => d.push_back(crate::own(v)),
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
            ListValue::Deque(d) => d.pop_front(),
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
            ListValue::Deque(d) => d.pop_back(),
        }
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            ListValue::Pack(p) => p.0.entries_from(0).nth(i),
            ListValue::Deque(d) => d.get(i).map(|v| &v[..]),
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
            ListValue::Deque(d) => d[i] = crate::own(v),
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
            ListValue::Deque(d) => d.insert(i, crate::own(v)),
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
            ListValue::Deque(d) => ListIter(Walk::Deque(d.range(start..start + n))),
        }
    }

    /// The elements from the tail.
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            ListValue::Pack(_) => {
                let all: Vec<&[u8]> = self.iter().collect();
                Box::new(all.into_iter().rev())
            }
            ListValue::Deque(d) => Box::new(d.iter().rev().map(|v| &v[..])),
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
            ListValue::Deque(d) => {
                d.truncate(start + n);
                d.drain(..start);
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
            ListValue::Deque(d) => {
                let mut next = hits.iter().peekable();
                let mut i = 0;
                d.retain(|_| {
                    let drop = next.peek() == Some(&&i);
                    if drop {
                        next.next();
                    }
                    i += 1;
                    !drop
                });
            }
        }
        removed
    }

    /// Position of the first element equal to `elem`.
    pub fn position(&self, elem: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == elem)
    }
}

/// A forward walk over (part of) a list.
pub struct ListIter<'a>(Walk<'a>);

enum Walk<'a> {
    /// Over packed entries, with how many are left to yield.
    Pack(Entries<'a>, usize),
    /// Over the deque.
    Deque(std::collections::vec_deque::Iter<'a, Bytes>),
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
            Walk::Deque(it) => it.next().map(|v| &v[..]),
        }
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

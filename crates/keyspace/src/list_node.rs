//! One node of a chunked list: a run of entries in a buffer that may keep spare room at
//! either end. Each entry is `[varint len][payload][the same varint, bytes reversed]`, so a
//! node reads from either end (Redis's listpack keeps a back-length for the same reason):
//! RPOP and LINDEX near the tail do not walk the node from its head. Only chunked lists pay
//! for the back-length; the small form keeps the plain `pack` encoding.
//!
//! WHY spare room: a push into an exact-size buffer reallocates it (and a push at the head
//! moves it) on every request. The head node keeps its free room before its entries and the
//! tail node after them, grown by doubling up to the node bound, so LPUSH/RPUSH are a copy
//! into free space and LPOP/RPOP move nothing. A node that stops being an end is trimmed.
//!
//! Also the limits a node (and the small form) is held to, from `list-max-listpack-size`.

use crate::limits::Limits;
use crate::pack::{layout, varint_len, MAX_PACK_BYTES};
use bytes::Bytes;
use std::alloc::{alloc, dealloc, handle_alloc_error, realloc};
use std::ptr::NonNull;

/// Bytes a node may reach when `list-max-listpack-size` counts elements (Redis caps a
/// count-limited quicklist node at 8 KiB the same way, so no node edit moves much).
const COUNT_MODE_NODE_BYTES: usize = 8192;
/// The smallest buffer a growing end node gets (one jemalloc size class).
const MIN_CAP: usize = 32;
/// The hard cap on one buffer (lengths are `u32`).
const HARD_CAP: usize = 1 << 31;

/// Bytes an entry with an `n`-byte payload takes.
#[inline]
pub(crate) fn entry_size(n: usize) -> usize {
    if n < 0x80 {
        return n + 2;
    }
    2 * varint_len(n) + n
}

/// Writes an entry for `bytes` into `out` (sized by `entry_size`).
#[inline]
fn write(out: &mut [u8], bytes: &[u8]) {
    if let ([first, body @ ..], true) = (&mut *out, bytes.len() < 0x80) {
        // The common case: a one-byte length at both ends.
        *first = bytes.len() as u8;
        if let Some((last, payload)) = body.split_last_mut() {
            *last = bytes.len() as u8;
            payload.copy_from_slice(bytes);
        }
        return;
    }
    let k = varint_len(bytes.len());
    let total = out.len();
    let mut n = bytes.len();
    for i in 0..k {
        let b = if i + 1 < k {
            (n as u8 & 0x7f) | 0x80
        } else {
            n as u8
        };
        out[i] = b;
        out[total - 1 - i] = b;
        n >>= 7;
    }
    out[k..k + bytes.len()].copy_from_slice(bytes);
}

/// Appends an entry for `bytes` to `out` (building a node's buffer).
pub(crate) fn encode(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = out.len();
    out.resize(at + entry_size(bytes.len()), 0);
    write(&mut out[at..], bytes);
}

/// The entry starting at `off`: (payload, offset past it). Nodes are only written here, so a
/// malformed entry is a bug, not input.
#[inline]
fn read_fwd(data: &[u8], mut off: usize) -> (&[u8], usize) {
    let b = data[off] as usize;
    if b < 0x80 {
        return (&data[off + 1..off + 1 + b], off + b + 2);
    }
    let (mut len, mut shift, mut k) = (0usize, 0, 0);
    loop {
        let b = data[off];
        off += 1;
        k += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    (&data[off..off + len], off + len + k)
}

/// The entry ending at `end`: (payload, offset where it starts).
#[inline]
fn read_back(data: &[u8], mut end: usize) -> (&[u8], usize) {
    let b = data[end - 1] as usize;
    if b < 0x80 {
        return (&data[end - 1 - b..end - 1], end - b - 2);
    }
    let (mut len, mut shift, mut k) = (0usize, 0, 0);
    loop {
        end -= 1;
        let b = data[end];
        k += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    (&data[end - len..end], end - len - k)
}

/// Which end of a node's buffer a growth makes room at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Before the entries (a head node).
    Front,
    /// After the entries (a tail node).
    Back,
}

/// A node: `cap` bytes at `ptr`, entries in `start..end`, `count` of them.
pub(crate) struct Node {
    ptr: NonNull<u8>,
    cap: u32,
    start: u32,
    end: u32,
    count: u32,
}

// SAFETY: a Node exclusively owns its allocation, like a Box<[u8]>.
unsafe impl Send for Node {}
// SAFETY: &self methods only read.
unsafe impl Sync for Node {}

impl Node {
    /// An empty node (no allocation).
    pub(crate) const fn new() -> Node {
        Node {
            ptr: NonNull::dangling(),
            cap: 0,
            start: 0,
            end: 0,
            count: 0,
        }
    }

    /// An exact-size node holding the encoded entries `raw` (`count` of them).
    pub(crate) fn from_raw(raw: &[u8], count: usize) -> Node {
        let mut n = Node::new();
        n.append_raw(raw, count);
        n.trim();
        n
    }

    /// The encoded entries.
    #[inline]
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: start..end lies inside the allocation (dangling only when cap == 0, and
        // then start == end == 0).
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.as_ptr().add(self.start as usize),
                (self.end - self.start) as usize,
            )
        }
    }

    /// Bytes of entries held.
    #[inline]
    pub(crate) fn byte_len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Bytes allocated (entries plus spare room).
    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// Number of entries.
    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.count as usize
    }

    /// Moves the entries into a buffer of `new_cap` bytes at offset `new_start`.
    fn relocate(&mut self, new_cap: usize, new_start: usize) {
        assert!(new_cap <= HARD_CAP, "list node over its size limit");
        let len = self.byte_len();
        let (old_cap, old_start) = (self.cap as usize, self.start as usize);
        debug_assert!(new_start + len <= new_cap);
        // SAFETY: the pointer was allocated by us with layout(old_cap) when old_cap > 0; all
        // copies stay inside the buffers they name.
        unsafe {
            if new_cap == old_cap {
                let p = self.ptr.as_ptr();
                std::ptr::copy(p.add(old_start), p.add(new_start), len);
            } else if new_cap == 0 {
                dealloc(self.ptr.as_ptr(), layout(old_cap));
                self.ptr = NonNull::dangling();
            } else if old_cap == 0 {
                let p = alloc(layout(new_cap));
                self.ptr = NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout(new_cap)));
            } else if new_start == old_start && new_start + len <= old_cap.min(new_cap) {
                let p = realloc(self.ptr.as_ptr(), layout(old_cap), new_cap);
                self.ptr = NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout(new_cap)));
            } else if new_start == 0 && new_cap < old_cap {
                // Shrinking a buffer whose entries sit later in it: move down, then shrink.
                let p = self.ptr.as_ptr();
                std::ptr::copy(p.add(old_start), p, len);
                let p = realloc(p, layout(old_cap), new_cap);
                self.ptr = NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout(new_cap)));
            } else {
                let p = alloc(layout(new_cap));
                let p = NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout(new_cap)));
                std::ptr::copy_nonoverlapping(
                    self.ptr.as_ptr().add(old_start),
                    p.as_ptr().add(new_start),
                    len,
                );
                dealloc(self.ptr.as_ptr(), layout(old_cap));
                self.ptr = p;
            }
        }
        self.cap = new_cap as u32;
        self.start = new_start as u32;
        self.end = (new_start + len) as u32;
    }

    /// Makes `need` free bytes at `side`. A node that needs to grow doubles (up to `max`
    /// bytes, or exactly what it needs past that); the free room goes to `side`, or is
    /// shared between both sides when the node is the list's only one (`alone`).
    fn reserve(&mut self, need: usize, side: Side, max: usize, alone: bool) {
        let (start, end, cap) = (self.start as usize, self.end as usize, self.cap as usize);
        let have = match side {
            Side::Front => start,
            Side::Back => cap - end,
        };
        if have >= need {
            return;
        }
        let want = self.byte_len() + need;
        let new_cap = if want <= cap {
            cap
        } else {
            let doubled = (2 * cap).max(MIN_CAP).max(want).next_power_of_two();
            doubled.min(max).max(want)
        };
        let spare = new_cap - want;
        let shared = if alone { spare / 2 } else { 0 };
        let new_start = match side {
            Side::Front => need + spare - shared,
            Side::Back => shared,
        };
        self.relocate(new_cap, new_start);
    }

    /// Drops the spare room (a node that is no longer an end of its list).
    pub(crate) fn trim(&mut self) {
        let len = self.byte_len();
        if self.cap as usize != len {
            self.relocate(len, 0);
        }
    }

    /// Adds an entry after the last one, growing into spare room at the back.
    pub(crate) fn push_back(&mut self, v: &[u8], max: usize, alone: bool) {
        let size = entry_size(v.len());
        self.reserve(size, Side::Back, max, alone);
        let at = self.end as usize;
        // SAFETY: reserve left at least `size` bytes after `end` inside the buffer.
        let hole = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(at), size) };
        write(hole, v);
        self.end += size as u32;
        self.count += 1;
    }

    /// Adds an entry before the first one, growing into spare room at the front.
    pub(crate) fn push_front(&mut self, v: &[u8], max: usize, alone: bool) {
        let size = entry_size(v.len());
        self.reserve(size, Side::Front, max, alone);
        let at = self.start as usize - size;
        // SAFETY: reserve left at least `size` bytes before `start` inside the buffer.
        let hole = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(at), size) };
        write(hole, v);
        self.start = at as u32;
        self.count += 1;
    }

    /// Appends already-encoded entries (a merge, or building a node).
    pub(crate) fn append_raw(&mut self, raw: &[u8], count: usize) {
        self.reserve(raw.len(), Side::Back, 0, false);
        let at = self.end as usize;
        // SAFETY: reserve left at least raw.len() bytes after `end`.
        unsafe {
            std::ptr::copy_nonoverlapping(raw.as_ptr(), self.ptr.as_ptr().add(at), raw.len());
        }
        self.end += raw.len() as u32;
        self.count += count as u32;
    }

    /// Removes and returns the first entry.
    pub(crate) fn pop_front(&mut self) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let (e, next) = read_fwd(self.data(), 0);
        let v = Bytes::copy_from_slice(e);
        self.start += next as u32;
        self.count -= 1;
        Some(v)
    }

    /// Removes and returns the last entry.
    pub(crate) fn pop_back(&mut self) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let data = self.data();
        let (e, at) = read_back(data, data.len());
        let v = Bytes::copy_from_slice(e);
        self.end = self.start + at as u32;
        self.count -= 1;
        Some(v)
    }

    /// Byte offset (in `data`) of entry `j` (the end when j >= count), walked from the
    /// nearer end.
    pub(crate) fn offset_of(&self, j: usize) -> usize {
        let (data, n) = (self.data(), self.count());
        if j >= n {
            return data.len();
        }
        if j <= n / 2 {
            let mut off = 0;
            for _ in 0..j {
                off = read_fwd(data, off).1;
            }
            off
        } else {
            let mut end = data.len();
            for _ in j..n {
                end = read_back(data, end).1;
            }
            end
        }
    }

    /// Entry `j` (j < count): (payload, start, end).
    pub(crate) fn entry_at(&self, j: usize) -> (&[u8], usize, usize) {
        let start = self.offset_of(j);
        let (e, end) = read_fwd(self.data(), start);
        (e, start, end)
    }

    /// Replaces bytes `a..b` of `data` with `new_len` bytes filled by `fill`, adding
    /// `dcount` to the count. Uses spare room when there is some; otherwise the buffer
    /// grows to exactly what it needs (middle edits are rare; the owner trims middle nodes).
    fn splice(
        &mut self,
        a: usize,
        b: usize,
        new_len: usize,
        dcount: isize,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let len = self.byte_len();
        debug_assert!(a <= b && b <= len);
        let grow = new_len.saturating_sub(b - a);
        if grow > 0 && ((self.cap - self.end) as usize) < grow {
            let cap = self.cap as usize;
            if (self.start as usize) >= grow || len + grow <= cap {
                self.relocate(cap, 0);
            } else {
                self.relocate(len + grow, 0);
            }
        }
        let s = self.start as usize;
        // SAFETY: all ranges lie inside the buffer: the tail moves to s + a + new_len, and
        // s + len - (b - a) + new_len <= cap after the room made above.
        unsafe {
            let p = self.ptr.as_ptr().add(s);
            if new_len != b - a {
                std::ptr::copy(p.add(b), p.add(a + new_len), len - b);
            }
            if new_len > 0 {
                fill(std::slice::from_raw_parts_mut(p.add(a), new_len));
            }
        }
        self.end = (s + len - (b - a) + new_len) as u32;
        self.count = (self.count as isize + dcount) as u32;
    }

    /// Inserts an entry before entry `j` (j <= count).
    pub(crate) fn insert(&mut self, j: usize, v: &[u8]) {
        let at = self.offset_of(j);
        self.splice(at, at, entry_size(v.len()), 1, |h| write(h, v));
    }

    /// Replaces entry `j` (j < count).
    pub(crate) fn set(&mut self, j: usize, v: &[u8]) {
        let (_, a, b) = self.entry_at(j);
        self.splice(a, b, entry_size(v.len()), 0, |h| write(h, v));
    }

    /// Removes the first `n` entries (no reallocation: the room stays at the front).
    pub(crate) fn drop_front(&mut self, n: usize) {
        let n = n.min(self.count());
        let off = self.offset_of(n);
        self.start += off as u32;
        self.count -= n as u32;
    }

    /// Removes the last `n` entries (no reallocation: the room stays at the back).
    pub(crate) fn drop_back(&mut self, n: usize) {
        let n = n.min(self.count());
        let off = self.offset_of(self.count() - n);
        self.end = self.start + off as u32;
        self.count -= n as u32;
    }

    /// Removes the entries whose positions `drop` accepts (called once per position, in
    /// order), compacting in place; returns how many went.
    pub(crate) fn remove_where(&mut self, mut drop: impl FnMut(usize) -> bool) -> usize {
        let (n, s, len) = (self.count(), self.start as usize, self.byte_len());
        let (mut read, mut write_at, mut gone) = (0, 0, 0);
        for j in 0..n {
            let next = read_fwd(self.data(), read).1;
            if drop(j) {
                gone += 1;
            } else {
                if write_at != read {
                    // SAFETY: write_at < read <= next <= len: both ranges in the entries.
                    unsafe {
                        let p = self.ptr.as_ptr().add(s);
                        std::ptr::copy(p.add(read), p.add(write_at), next - read);
                    }
                }
                write_at += next - read;
            }
            read = next;
        }
        debug_assert_eq!(read, len);
        self.end = (s + write_at) as u32;
        self.count -= gone as u32;
        gone
    }

    /// Splits the node where its bytes are nearest halved: (head of `m` entries, tail),
    /// 0 < m < count (count >= 2); both exact-size.
    pub(crate) fn split_half(&self) -> (Node, Node) {
        let (data, n) = (self.data(), self.count());
        let (mut off, mut m) = (0, 0);
        while m + 1 < n && (m == 0 || off * 2 < data.len()) {
            off = read_fwd(data, off).1;
            m += 1;
        }
        (
            Node::from_raw(&data[..off], m),
            Node::from_raw(&data[off..], n - m),
        )
    }

    /// A forward walk from byte offset `off` of `data`.
    pub(crate) fn fwd(&self, off: usize) -> Fwd<'_> {
        Fwd {
            data: self.data(),
            off,
        }
    }

    /// A backward walk from the last entry.
    pub(crate) fn back(&self) -> Back<'_> {
        Back {
            data: self.data(),
            end: self.byte_len(),
        }
    }
}

impl Clone for Node {
    /// An exact-size copy (a snapshot or a copied value has no ends to grow).
    fn clone(&self) -> Node {
        Node::from_raw(self.data(), self.count())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.cap > 0 {
            // SAFETY: allocated by us with layout(cap).
            unsafe { dealloc(self.ptr.as_ptr(), layout(self.cap as usize)) };
        }
    }
}

/// A forward walk over a node's entries from a byte offset.
#[derive(Clone)]
pub(crate) struct Fwd<'a> {
    data: &'a [u8],
    off: usize,
}

impl Fwd<'_> {
    /// A walk that yields nothing.
    pub(crate) const fn empty() -> Fwd<'static> {
        Fwd { data: &[], off: 0 }
    }
}

impl<'a> Iterator for Fwd<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.data.len() {
            return None;
        }
        let (e, next) = read_fwd(self.data, self.off);
        self.off = next;
        Some(e)
    }
}

/// A backward walk over a node's entries from a byte offset (exclusive end).
pub(crate) struct Back<'a> {
    data: &'a [u8],
    end: usize,
}

impl<'a> Iterator for Back<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.end == 0 {
            return None;
        }
        let (e, start) = read_back(self.data, self.end);
        self.end = start;
        Some(e)
    }
}

/// How many elements and bytes one packed run may hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub(crate) count: usize,
    pub(crate) bytes: usize,
}

impl Bound {
    /// Whether `count` elements in `bytes` bytes are within the bound.
    #[inline]
    pub(crate) fn fits(self, count: usize, bytes: usize) -> bool {
        count <= self.count && bytes <= self.bytes
    }

    /// Half the bound: where a chunked list that shrank to one node goes back to the small
    /// form (Redis 7.2's hysteresis, so a list at the threshold does not convert on every
    /// push and pop).
    pub(crate) fn half(self) -> Bound {
        Bound {
            count: self.count / 2,
            bytes: self.bytes / 2,
        }
    }

    /// The small form's bound: exactly `Limits::list_fits` (Redis's conversion threshold),
    /// under the pack's hard cap.
    pub(crate) fn pack() -> Bound {
        #[cfg(test)]
        if let Some(b) = TEST_BOUND.with(std::cell::Cell::get) {
            return b;
        }
        Self::from_limits(Limits::list_max_size(), MAX_PACK_BYTES)
    }

    /// A node's bound: the small form's, and at most 8 KiB when the limit is a count.
    #[inline]
    pub(crate) fn node() -> Bound {
        #[cfg(test)]
        if let Some(b) = TEST_BOUND.with(std::cell::Cell::get) {
            return b;
        }
        Self::from_limits(Limits::list_max_size(), COUNT_MODE_NODE_BYTES)
    }

    #[inline]
    fn from_limits(list_max_size: i64, count_mode_bytes: usize) -> Bound {
        if list_max_size >= 0 {
            Bound {
                count: usize::try_from(list_max_size).unwrap_or(usize::MAX),
                bytes: count_mode_bytes,
            }
        } else {
            let kib = match list_max_size {
                -1 => 4,
                -2 => 8,
                -3 => 16,
                -4 => 32,
                _ => 64,
            };
            Bound {
                count: usize::MAX,
                bytes: kib * 1024,
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// A bound this test thread uses instead of the configured one (both forms), so tests
    /// can make nodes split and merge often without touching the process-wide `Limits`.
    static TEST_BOUND: std::cell::Cell<Option<Bound>> = const { std::cell::Cell::new(None) };
}

/// Makes this thread's lists use at most `count` elements and `bytes` bytes per packed run
/// (None: the configured limits).
#[cfg(test)]
pub(crate) fn set_test_bound(b: Option<(usize, usize)>) {
    TEST_BOUND.with(|c| c.set(b.map(|(count, bytes)| Bound { count, bytes })));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_both_ways() {
        let mut p = Node::new();
        let big = vec![b'x'; 300];
        for v in [&b"a"[..], b"", &big, b"bc"] {
            p.push_back(v, 8192, true);
        }
        assert_eq!(p.byte_len(), 3 + 2 + 304 + 4);
        let fwd: Vec<&[u8]> = p.fwd(0).collect();
        let back: Vec<&[u8]> = p.back().collect();
        assert_eq!(fwd, vec![&b"a"[..], b"", &big, b"bc"]);
        assert_eq!(back, vec![&b"bc"[..], &big, b"", b"a"]);
        for (j, e) in fwd.iter().enumerate() {
            assert_eq!(p.entry_at(j).0, *e);
        }
        let (a, b) = p.split_half();
        assert_eq!((a.count(), b.count()), (3, 1));
        assert_eq!(p.pop_back().as_deref(), Some(&b"bc"[..]));
        assert_eq!(p.pop_front().as_deref(), Some(&b"a"[..]));
        assert_eq!(p.count(), 2);
    }

    /// Pushes at the head grow room at the front, pushes at the tail room at the back, by
    /// doubling: a run of pushes reallocates only log2(node bound) times.
    #[test]
    fn end_pushes_use_spare_room() {
        let mut h = Node::new();
        let mut moves = 0;
        let mut last = (h.capacity(), h.ptr);
        for i in 0..1000u32 {
            h.push_front(&i.to_le_bytes()[..3], 8192, false);
            if (h.capacity(), h.ptr) != last {
                moves += 1;
                last = (h.capacity(), h.ptr);
            }
        }
        assert!(moves <= 9, "{moves} reallocations");
        assert_eq!(
            h.end as usize,
            h.capacity(),
            "head node's room is at its front"
        );
        assert_eq!(h.capacity(), 8192);
        let mut t = Node::new();
        for i in 0..1000u32 {
            t.push_back(&i.to_le_bytes()[..3], 8192, false);
        }
        assert_eq!(t.start, 0, "tail node's room is at its back");
        assert_eq!(t.fwd(0).next(), Some(&[0u8, 0, 0][..]));
        assert_eq!(h.back().next(), Some(&[0u8, 0, 0][..]));
        h.trim();
        assert_eq!((h.capacity(), h.byte_len(), h.count()), (5000, 5000, 1000));
        assert_eq!(h.back().next(), Some(&[0u8, 0, 0][..]));
        // A lone node shares its room between both ends.
        let mut a = Node::new();
        a.push_back(b"x", 8192, true);
        assert!(a.start > 0 && (a.end as usize) < a.capacity());
    }

    #[test]
    fn middle_edits_and_removal() {
        let mut p = Node::new();
        for v in [&b"a"[..], b"b", b"c", b"d"] {
            p.push_back(v, 8192, false);
        }
        p.insert(2, b"xyz");
        p.set(0, b"");
        let got: Vec<&[u8]> = p.fwd(0).collect();
        assert_eq!(got, vec![&b""[..], b"b", b"xyz", b"c", b"d"]);
        assert_eq!(p.remove_where(|j| j % 2 == 1), 2);
        let got: Vec<&[u8]> = p.fwd(0).collect();
        assert_eq!(got, vec![&b""[..], b"xyz", b"d"]);
        p.drop_front(1);
        p.drop_back(1);
        let got: Vec<&[u8]> = p.back().collect();
        assert_eq!(got, vec![&b"xyz"[..]]);
    }
}

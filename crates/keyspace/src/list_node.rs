//! One packed run of list elements: the whole of a small list, or one node of a chunked
//! one. Each entry is `[varint len][payload][the same varint, bytes reversed]`, so a node
//! reads from either end (Redis's listpack keeps a back-length for the same reason): RPOP
//! and LINDEX near the tail do not walk the node from its head.
//!
//! Also the limits a node (and the small form) is held to, from `list-max-listpack-size`.

use crate::limits::Limits;
use crate::pack::{varint_len, Pack, MAX_PACK_BYTES};
use bytes::Bytes;

/// Bytes a node may reach when `list-max-listpack-size` counts elements (Redis caps a
/// count-limited quicklist node at 8 KiB the same way, so no node edit moves much).
const COUNT_MODE_NODE_BYTES: usize = 8192;

/// Bytes an entry with an `n`-byte payload takes.
pub(crate) fn entry_size(n: usize) -> usize {
    2 * varint_len(n) + n
}

/// Writes an entry for `bytes` into `out` (sized by `entry_size`).
fn write(out: &mut [u8], bytes: &[u8]) {
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

/// The entry starting at `off`: (payload, offset past it). Nodes are only written here, so a
/// malformed entry is a bug, not input.
fn read_fwd(data: &[u8], mut off: usize) -> (&[u8], usize) {
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
fn read_back(data: &[u8], mut end: usize) -> (&[u8], usize) {
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

/// Byte offset of entry `j` (the end when j >= count), walked from the nearer end.
pub(crate) fn offset_of(p: &Pack, j: usize) -> usize {
    let (data, n) = (p.data(), p.count());
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
pub(crate) fn entry_at(p: &Pack, j: usize) -> (&[u8], usize, usize) {
    let start = offset_of(p, j);
    let (e, end) = read_fwd(p.data(), start);
    (e, start, end)
}

/// Inserts an entry at byte offset `at`.
pub(crate) fn insert(p: &mut Pack, at: usize, v: &[u8]) {
    p.splice(at, at, entry_size(v.len()), 1, |h| write(h, v));
}

/// Appends an entry.
pub(crate) fn append(p: &mut Pack, v: &[u8]) {
    insert(p, p.byte_len(), v);
}

/// Replaces entry `j` (j < count).
pub(crate) fn set(p: &mut Pack, j: usize, v: &[u8]) {
    let (_, start, end) = entry_at(p, j);
    p.splice(start, end, entry_size(v.len()), 0, |h| write(h, v));
}

/// Removes and returns the first entry.
pub(crate) fn pop_front(p: &mut Pack) -> Option<Bytes> {
    if p.count() == 0 {
        return None;
    }
    let (e, end) = read_fwd(p.data(), 0);
    let v = Bytes::copy_from_slice(e);
    p.remove_range(0, end, 1);
    Some(v)
}

/// Removes and returns the last entry.
pub(crate) fn pop_back(p: &mut Pack) -> Option<Bytes> {
    if p.count() == 0 {
        return None;
    }
    let end = p.byte_len();
    let (e, start) = read_back(p.data(), end);
    let v = Bytes::copy_from_slice(e);
    p.remove_range(start, end, 1);
    Some(v)
}

/// Removes the first `n` entries.
pub(crate) fn drop_front(p: &mut Pack, n: usize) {
    let off = offset_of(p, n);
    p.remove_range(0, off, n.min(p.count()));
}

/// Removes the last `n` entries.
pub(crate) fn drop_back(p: &mut Pack, n: usize) {
    let n = n.min(p.count());
    let off = offset_of(p, p.count() - n);
    p.remove_range(off, p.byte_len(), n);
}

/// Removes the entries whose positions `drop` accepts (called once per position, in
/// order); returns how many went.
pub(crate) fn remove_where(p: &mut Pack, mut drop: impl FnMut(usize) -> bool) -> usize {
    let data = p.data();
    let mut raw = Vec::with_capacity(data.len());
    let (mut off, mut gone) = (0, 0);
    for j in 0..p.count() {
        let end = read_fwd(data, off).1;
        if drop(j) {
            gone += 1;
        } else {
            raw.extend_from_slice(&data[off..end]);
        }
        off = end;
    }
    if gone > 0 {
        let mut kept = Pack::new();
        kept.push_raw(&raw, (p.count() - gone) as isize);
        *p = kept;
    }
    gone
}

/// Splits `p` where its bytes are nearest halved: (head of `m` entries, tail), 0 < m < count
/// (count >= 2).
pub(crate) fn split_half(p: &Pack) -> (Pack, Pack) {
    let (data, n) = (p.data(), p.count());
    let (mut off, mut m) = (0, 0);
    while m + 1 < n && (m == 0 || off * 2 < data.len()) {
        off = read_fwd(data, off).1;
        m += 1;
    }
    let (mut a, mut b) = (Pack::new(), Pack::new());
    a.push_raw(&data[..off], m as isize);
    b.push_raw(&data[off..], (n - m) as isize);
    (a, b)
}

/// A forward walk over a node's entries from a byte offset.
#[derive(Clone)]
pub(crate) struct Fwd<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) off: usize,
}

impl<'a> Iterator for Fwd<'a> {
    type Item = &'a [u8];

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
    pub(crate) data: &'a [u8],
    pub(crate) end: usize,
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
    count: usize,
    bytes: usize,
}

impl Bound {
    /// Whether `count` elements in `bytes` bytes are within the bound.
    pub(crate) fn fits(self, count: usize, bytes: usize) -> bool {
        count <= self.count && bytes <= self.bytes
    }

    /// The small form's bound: exactly `Limits::list_fits` (Redis's conversion threshold),
    /// under the pack's hard cap.
    pub(crate) fn pack() -> Bound {
        #[cfg(test)]
        if let Some(b) = TEST_BOUND.with(std::cell::Cell::get) {
            return b;
        }
        Self::from_limits(Limits::current(), MAX_PACK_BYTES)
    }

    /// A node's bound: the small form's, and at most 8 KiB when the limit is a count.
    pub(crate) fn node() -> Bound {
        #[cfg(test)]
        if let Some(b) = TEST_BOUND.with(std::cell::Cell::get) {
            return b;
        }
        Self::from_limits(Limits::current(), COUNT_MODE_NODE_BYTES)
    }

    fn from_limits(l: Limits, count_mode_bytes: usize) -> Bound {
        if l.list_max_size >= 0 {
            Bound {
                count: usize::try_from(l.list_max_size).unwrap_or(usize::MAX),
                bytes: count_mode_bytes,
            }
        } else {
            let kib = match l.list_max_size {
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
        let mut p = Pack::new();
        let big = vec![b'x'; 300];
        for v in [&b"a"[..], b"", &big, b"bc"] {
            append(&mut p, v);
        }
        assert_eq!(p.byte_len(), 3 + 2 + 304 + 4);
        let fwd: Vec<&[u8]> = Fwd {
            data: p.data(),
            off: 0,
        }
        .collect();
        let back: Vec<&[u8]> = Back {
            data: p.data(),
            end: p.byte_len(),
        }
        .collect();
        assert_eq!(fwd, vec![&b"a"[..], b"", &big, b"bc"]);
        assert_eq!(back, vec![&b"bc"[..], &big, b"", b"a"]);
        for (j, e) in fwd.iter().enumerate() {
            assert_eq!(entry_at(&p, j).0, *e);
        }
        let (a, b) = split_half(&p);
        assert_eq!((a.count(), b.count()), (3, 1));
        assert_eq!(pop_back(&mut p).as_deref(), Some(&b"bc"[..]));
        assert_eq!(pop_front(&mut p).as_deref(), Some(&b"a"[..]));
        assert_eq!(p.count(), 2);
    }
}

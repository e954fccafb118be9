//! A packed byte buffer: the one-allocation storage behind the compact encodings of small
//! hashes, sorted sets, lists and integer sets (Redis's listpack and intset play this role).
//!
//! WHY: a small collection held as a hash table or deque of `Bytes` pays a table, a 32-byte
//! handle and an allocation per element; Redis keeps the same 10 fields in one ~250-byte
//! listpack. A `Pack` is 16 bytes inline (pointer, byte length, count: the length lives
//! here, not in the allocation, so the heap block holds data only and lands in a smaller
//! jemalloc size class) plus one exact-size allocation. Every edit is a `splice` that
//! reallocates and moves the tail: O(n) per edit, which is why the owners convert to a full
//! structure past Redis's `*-max-listpack-*` thresholds.
//!
//! Entries (for the owners that store strings) are `[varint length][bytes]`.

use std::alloc::{alloc, dealloc, handle_alloc_error, realloc, Layout};
use std::ptr::NonNull;

/// The size past which owners convert to their full form (Redis caps a listpack at 1 GiB
/// the same way). Owners check an edit's growth against it before making the edit; the
/// slack below the hard cap covers the few bytes an in-place update may add on top.
pub(crate) const MAX_PACK_BYTES: usize = (1 << 30) - 1024;
/// The hard cap: `u32` lengths, and never a buffer larger than this.
const HARD_CAP: usize = 1 << 30;

/// An owned, exact-size byte buffer with an element count kept by its owner.
pub(crate) struct Pack {
    ptr: NonNull<u8>,
    len: u32,
    count: u32,
}

// SAFETY: a Pack exclusively owns its allocation, like a Box<[u8]>.
unsafe impl Send for Pack {}
// SAFETY: &self methods only read.
unsafe impl Sync for Pack {}

/// The layout of a byte buffer of `len` bytes (packs and list nodes).
pub(crate) fn layout(len: usize) -> Layout {
    // len <= HARD_CAP: always a valid layout with alignment 1.
    Layout::from_size_align(len, 1).unwrap_or_else(|_| handle_alloc_error(Layout::new::<u8>()))
}

impl Default for Pack {
    fn default() -> Self {
        Pack::new()
    }
}

impl Pack {
    /// An empty pack (no allocation).
    pub(crate) const fn new() -> Pack {
        Pack {
            ptr: NonNull::dangling(),
            len: 0,
            count: 0,
        }
    }

    /// The packed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: ptr is valid for len bytes (dangling only when len == 0).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize) }
    }

    /// Number of bytes held.
    pub(crate) fn byte_len(&self) -> usize {
        self.len as usize
    }

    /// The owner's element count.
    pub(crate) fn count(&self) -> usize {
        self.count as usize
    }

    /// Resizes the allocation to `new_len` bytes, keeping the first min(len, new_len).
    fn resize(&mut self, new_len: usize) {
        assert!(new_len <= HARD_CAP, "pack over its size limit");
        let old = self.len as usize;
        if new_len == old {
            return;
        }
        // SAFETY: the pointer was allocated by us with layout(old) when old > 0.
        unsafe {
            if new_len == 0 {
                dealloc(self.ptr.as_ptr(), layout(old));
                self.ptr = NonNull::dangling();
            } else {
                let p = if old == 0 {
                    alloc(layout(new_len))
                } else {
                    realloc(self.ptr.as_ptr(), layout(old), new_len)
                };
                self.ptr = NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout(new_len)));
            }
        }
        self.len = new_len as u32;
    }

    /// Replaces bytes `start..end` with a hole of `new_len` bytes filled by `fill`, and adds
    /// `dcount` to the count. The one primitive every edit is made of.
    pub(crate) fn splice(
        &mut self,
        start: usize,
        end: usize,
        new_len: usize,
        dcount: isize,
        fill: impl FnOnce(&mut [u8]),
    ) {
        let old = self.len as usize;
        assert!(start <= end && end <= old);
        let tail = old - end;
        let total = old - (end - start) + new_len;
        if total > old {
            self.resize(total);
        }
        // SAFETY: both ranges lie inside the allocation (of max(old, total) bytes now);
        // `copy` handles the overlap.
        unsafe {
            let p = self.ptr.as_ptr();
            if tail > 0 && new_len != end - start {
                std::ptr::copy(p.add(end), p.add(start + new_len), tail);
            }
        }
        if total < old {
            self.resize(total);
        }
        if new_len > 0 {
            // SAFETY: start + new_len <= total == self.len.
            let hole =
                unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), new_len) };
            fill(hole);
        }
        self.count = (self.count as isize + dcount) as u32;
    }

    /// Appends raw bytes.
    pub(crate) fn push_raw(&mut self, bytes: &[u8], dcount: isize) {
        let end = self.byte_len();
        self.splice(end, end, bytes.len(), dcount, |h| h.copy_from_slice(bytes));
    }

    /// Inserts one `[varint len][bytes]` entry at byte offset `at` (count + 1).
    pub(crate) fn insert_entry(&mut self, at: usize, bytes: &[u8]) {
        self.splice(at, at, entry_size(bytes.len()), 1, |h| {
            write_entry(h, bytes);
        });
    }

    /// Inserts two consecutive entries at `at` (count + 2): a field and its value, a member
    /// and its score.
    pub(crate) fn insert_pair(&mut self, at: usize, a: &[u8], b: &[u8]) {
        let sa = entry_size(a.len());
        self.splice(at, at, sa + entry_size(b.len()), 2, |h| {
            write_entry(&mut h[..sa], a);
            write_entry(&mut h[sa..], b);
        });
    }

    /// Replaces the entry occupying bytes `start..end` with `bytes` (count unchanged).
    pub(crate) fn replace_entry(&mut self, start: usize, end: usize, bytes: &[u8]) {
        self.splice(start, end, entry_size(bytes.len()), 0, |h| {
            write_entry(h, bytes);
        });
    }

    /// Removes bytes `start..end`, which hold `n` elements.
    pub(crate) fn remove_range(&mut self, start: usize, end: usize, n: usize) {
        self.splice(start, end, 0, -(n as isize), |_| {});
    }

    /// Forward walk over the entries from byte offset `off`.
    pub(crate) fn entries_from(&self, off: usize) -> Entries<'_> {
        Entries {
            data: self.data(),
            off,
        }
    }

    /// Byte offset of entry number `index` (or the end offset when index == count).
    pub(crate) fn offset_of(&self, index: usize) -> usize {
        let data = self.data();
        let mut off = 0;
        for _ in 0..index {
            off = read_entry(data, off).1;
        }
        off
    }
}

impl Clone for Pack {
    fn clone(&self) -> Pack {
        let mut p = Pack::new();
        p.push_raw(self.data(), self.count as isize);
        p
    }
}

impl Drop for Pack {
    fn drop(&mut self) {
        self.resize(0);
    }
}

/// Bytes a varint needs for `n`.
pub(crate) fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes an entry of `n` payload bytes takes.
pub(crate) fn entry_size(n: usize) -> usize {
    varint_len(n) + n
}

/// Writes `[varint len][bytes]` into `out` (sized by `entry_size`).
fn write_entry(out: &mut [u8], bytes: &[u8]) {
    let mut n = bytes.len();
    let mut i = 0;
    while n >= 0x80 {
        out[i] = (n as u8) | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    out[i + 1..].copy_from_slice(bytes);
}

/// Appends a `[varint len][bytes]` entry to `out` (building a pack's bytes).
pub(crate) fn encode_entry(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = out.len();
    out.resize(at + entry_size(bytes.len()), 0);
    write_entry(&mut out[at..], bytes);
}

/// Reads the entry at `off`: (payload, offset of the next entry). Packs are only written by
/// this module, so a malformed entry is a bug, not input.
pub(crate) fn read_entry(data: &[u8], mut off: usize) -> (&[u8], usize) {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = data[off];
        off += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    (&data[off..off + len], off + len)
}

/// A forward walk over a pack's entries, yielding (start offset, payload).
pub(crate) struct Entries<'a> {
    data: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.off >= self.data.len() {
            return None;
        }
        let (e, next) = read_entry(self.data, self.off);
        self.off = next;
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_grow_shrink_and_clone() {
        let mut p = Pack::new();
        assert_eq!(p.byte_len(), 0);
        p.insert_entry(0, b"bb");
        p.insert_entry(0, b"a");
        let end = p.byte_len();
        p.insert_entry(end, &[b'c'; 200]);
        assert_eq!(p.count(), 3);
        let items: Vec<&[u8]> = p.entries_from(0).collect();
        assert_eq!(items[0], b"a");
        assert_eq!(items[1], b"bb");
        assert_eq!(items[2].len(), 200);
        assert_eq!(p.byte_len(), 2 + 3 + 202);
        let q = p.clone();
        let (s, e) = (p.offset_of(1), p.offset_of(2));
        p.replace_entry(s, e, b"zzzz");
        assert_eq!(p.entries_from(0).nth(1), Some(&b"zzzz"[..]));
        let (s, e) = (0, p.offset_of(2));
        p.remove_range(s, e, 2);
        assert_eq!(p.count(), 1);
        assert_eq!(p.entries_from(0).next().map(<[u8]>::len), Some(200));
        assert_eq!(q.entries_from(0).nth(1), Some(&b"bb"[..]));
        p.remove_range(0, p.byte_len(), 1);
        assert_eq!((p.count(), p.byte_len()), (0, 0));
    }
}

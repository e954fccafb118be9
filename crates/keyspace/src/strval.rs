//! The bytes of a string value. Most values in a cache are short ("value:123", a counter),
//! and a heap buffer for each costs an allocation per write and at least a 16-byte size
//! class per key. A short string is therefore stored inside the value itself; a longer
//! one, or one grown past the inline room, lives in a `Vec` as before.
//!
//! Layout: the heap form is a `Vec<u8>` (24 bytes) whose capacity word has a niche (a
//! capacity never exceeds `isize::MAX`). The inline form is a length byte and
//! [`INLINE_MAX`] data bytes: 16 bytes that fit beside that word, so the choice between the
//! two forms costs one niche value and no space, and `Value`'s own tag still fits in the
//! remaining niche values (the const asserts below and in `value.rs` pin both).

use std::fmt;
use std::ops::{Deref, DerefMut};

/// The longest string stored inline: the 16 bytes beside `Vec`'s capacity word, less the
/// length byte.
pub const INLINE_MAX: usize = size_of::<Vec<u8>>() - size_of::<usize>() - 1;

/// A short string's bytes, stored in place.
#[derive(Clone, Copy)]
struct Inline {
    len: u8,
    data: [u8; INLINE_MAX],
}

enum Repr {
    Inline(Inline),
    Heap(Vec<u8>),
}

// The inline form is exactly the 16 bytes beside the capacity word; with one byte more
// the enum would need a tag word of its own (the test `one_more_byte_costs_a_word`
// shows it), and so would `Value`.
const _: () = assert!(size_of::<Inline>() == 16);
const _: () = assert!(size_of::<StrValue>() == size_of::<Vec<u8>>());
const _: () = assert!(INLINE_MAX == 15);

/// The bytes of a string value: read as a `&[u8]` (it derefs to one); edits that keep
/// the length work in place, edits that grow it past [`INLINE_MAX`] move it to the heap,
/// and [`StrValue::set`] of a short value brings it back inline.
pub struct StrValue(Repr);

impl StrValue {
    /// The empty string (inline, no allocation).
    pub const fn new() -> StrValue {
        StrValue(Repr::Inline(Inline {
            len: 0,
            data: [0; INLINE_MAX],
        }))
    }

    /// A copy of `bytes`, inline when short enough, else in a buffer of exactly its size.
    pub fn from_slice(bytes: &[u8]) -> StrValue {
        match Self::inline(bytes) {
            Some(s) => s,
            None => StrValue(Repr::Heap(bytes.to_vec())),
        }
    }

    fn inline(bytes: &[u8]) -> Option<StrValue> {
        if bytes.len() > INLINE_MAX {
            return None;
        }
        let mut data = [0; INLINE_MAX];
        data[..bytes.len()].copy_from_slice(bytes);
        Some(StrValue(Repr::Inline(Inline {
            len: bytes.len() as u8,
            data,
        })))
    }

    /// The string's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(i) => &i.data[..i.len as usize],
            Repr::Heap(v) => v,
        }
    }

    /// The string's bytes, for edits that keep its length (SETRANGE or SETBIT inside it).
    #[inline]
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline(i) => &mut i.data[..i.len as usize],
            Repr::Heap(v) => v,
        }
    }

    /// Whether the bytes are stored in place (no heap buffer).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline(_))
    }

    /// Bytes of heap the value holds beyond itself: none inline, the buffer's capacity
    /// otherwise (MEMORY USAGE reports what is really allocated).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline(_) => 0,
            Repr::Heap(v) => v.capacity(),
        }
    }

    /// Replaces the whole value (SET, INCR, INCRBYFLOAT results): a short one goes inline
    /// and frees any buffer; a long one reuses the buffer when it is not far too large.
    #[inline]
    pub fn set(&mut self, bytes: &[u8]) {
        if bytes.len() <= INLINE_MAX {
            match &mut self.0 {
                // The common case (INCR on a counter): overwrite in place.
                Repr::Inline(i) => {
                    i.data[..bytes.len()].copy_from_slice(bytes);
                    i.len = bytes.len() as u8;
                }
                Repr::Heap(_) => *self = Self::from_slice(bytes),
            }
            return;
        }
        self.set_long(bytes);
    }

    fn set_long(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Repr::Heap(v) if v.capacity() >= bytes.len() && v.capacity() / 2 <= bytes.len() => {
                v.clear();
                v.extend_from_slice(bytes);
            }
            _ => self.0 = Repr::Heap(bytes.to_vec()),
        }
    }

    /// Empties the string (inline, freeing any buffer).
    pub fn clear(&mut self) {
        *self = StrValue::new();
    }

    /// Appends `bytes` (APPEND), moving to the heap if the result no longer fits inline.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Repr::Inline(i) if i.len as usize + bytes.len() <= INLINE_MAX => {
                let at = i.len as usize;
                i.data[at..at + bytes.len()].copy_from_slice(bytes);
                i.len += bytes.len() as u8;
            }
            _ => self.vec_mut().extend_from_slice(bytes),
        }
    }

    /// Sets the length to `len`, padding with `fill` (SETRANGE and SETBIT past the end,
    /// BITFIELD), moving to the heap if the result no longer fits inline. Shrinking keeps
    /// the current form.
    pub fn resize(&mut self, len: usize, fill: u8) {
        match &mut self.0 {
            Repr::Inline(i) if len <= INLINE_MAX => {
                let old = i.len as usize;
                if len > old {
                    i.data[old..len].fill(fill);
                }
                i.len = len as u8;
            }
            _ => self.vec_mut().resize(len, fill),
        }
    }

    /// The bytes as a `Vec` for edits only a `Vec` supports (the HyperLogLog codec): an
    /// inline string moves to the heap first, with room for a few more bytes.
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        if let Repr::Inline(i) = &self.0 {
            let mut v = Vec::with_capacity(2 * INLINE_MAX + 2);
            v.extend_from_slice(&i.data[..i.len as usize]);
            self.0 = Repr::Heap(v);
        }
        match &mut self.0 {
            Repr::Heap(v) => v,
            // Made heap just above.
            Repr::Inline(_) => unreachable!("string moved to the heap above"),
        }
    }

    /// The bytes as an owned `Vec` (a copy for an inline string, the buffer otherwise).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline(i) => i.data[..i.len as usize].to_vec(),
            Repr::Heap(v) => v,
        }
    }
}

impl Clone for StrValue {
    /// A copy in the form its length calls for: a short string that was edited on the
    /// heap comes back inline, a long one gets a buffer of exactly its size.
    fn clone(&self) -> StrValue {
        StrValue::from_slice(self.as_bytes())
    }
}

impl Default for StrValue {
    fn default() -> StrValue {
        StrValue::new()
    }
}

impl From<Vec<u8>> for StrValue {
    /// Keeps the buffer of a long string; a short one is copied inline and its buffer freed.
    fn from(v: Vec<u8>) -> StrValue {
        Self::inline(&v).unwrap_or(StrValue(Repr::Heap(v)))
    }
}

impl From<&[u8]> for StrValue {
    fn from(bytes: &[u8]) -> StrValue {
        StrValue::from_slice(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for StrValue {
    fn from(bytes: &[u8; N]) -> StrValue {
        StrValue::from_slice(bytes)
    }
}

impl Deref for StrValue {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl DerefMut for StrValue {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_bytes()
    }
}

impl AsRef<[u8]> for StrValue {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for StrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_bytes(), f)
    }
}

impl PartialEq for StrValue {
    fn eq(&self, other: &StrValue) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for StrValue {}

impl PartialEq<[u8]> for StrValue {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<Vec<u8>> for StrValue {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl<const N: usize> PartialEq<[u8; N]> for StrValue {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

#[cfg(test)]
#[path = "strval_tests.rs"]
mod tests;

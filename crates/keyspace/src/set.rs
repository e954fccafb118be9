//! The set type: a sorted integer array while every member is a canonical integer and the
//! set is within `set-max-intset-entries` (Redis's intset), a hash set otherwise.
//!
//! The integer array is frame-of-reference coded: one base (the smallest member) and each
//! member's distance from it in the narrowest width (1, 2, 4 or 8 bytes) that holds the
//! largest distance; the base takes only the bytes it needs. Ten ids near 1,000,000 take
//! 1 + 3 + 10 bytes instead of Redis's 8 + 40.
//! Members stay sorted, so SMEMBERS lists them in numeric order as Redis's intset does.
//! Conversion is one-way, as in Redis.

use crate::limits::Limits;
use crate::pack::{Pack, MAX_PACK_BYTES};
use crate::value::parse_i64_strict;
use ahash::RandomState;
use bytes::Bytes;
use indexmap::IndexSet;

/// The full form: indexable for O(1) SRANDMEMBER/SPOP and positional SSCAN cursors.
pub type SetTable = IndexSet<Bytes, RandomState>;

/// A set value in its current encoding.
#[derive(Clone)]
pub enum SetValue {
    /// Sorted integers.
    Ints(IntSet),
    /// The full hash set.
    Table(Box<SetTable>),
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::Ints(IntSet::default())
    }
}

impl std::fmt::Debug for SetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m).into_owned()),
            )
            .finish()
    }
}

/// A sorted set of i64: `[head u8][base][count x width-byte LE offsets]`. The head byte holds
/// the offsets' width (low nibble) and the base's length (high nibble); the base is the
/// smallest member, zigzag-coded in as few little-endian bytes as it needs (none for 0).
#[derive(Clone, Default)]
pub struct IntSet(Pack);

fn width_for(span: u64) -> usize {
    if span <= u8::MAX as u64 {
        1
    } else if span <= u16::MAX as u64 {
        2
    } else if span <= u32::MAX as u64 {
        4
    } else {
        8
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// How an encoded intset is laid out: where the offsets start, their width, the base.
#[derive(Clone, Copy)]
struct Frame {
    start: usize,
    width: usize,
    base: i64,
}

impl Frame {
    fn read(data: &[u8]) -> Frame {
        let head = data[0];
        let base_len = (head >> 4) as usize;
        let mut b = [0u8; 8];
        b[..base_len].copy_from_slice(&data[1..1 + base_len]);
        Frame {
            start: 1 + base_len,
            width: (head & 0x0f) as usize,
            base: unzigzag(u64::from_le_bytes(b)),
        }
    }

    /// The member at sorted position `i` of `data`.
    fn get(self, data: &[u8], i: usize) -> i64 {
        let at = self.start + i * self.width;
        let mut b = [0u8; 8];
        b[..self.width].copy_from_slice(&data[at..at + self.width]);
        (self.base as u64).wrapping_add(u64::from_le_bytes(b)) as i64
    }
}

impl IntSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.count()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the encoding (what the set's buffer holds).
    #[cfg(test)]
    pub(crate) fn encoded_len(&self) -> usize {
        self.0.data().len()
    }

    fn frame(&self) -> Frame {
        Frame::read(self.0.data())
    }

    /// The member at sorted position `i` (i < len).
    pub fn get(&self, i: usize) -> i64 {
        self.frame().get(self.0.data(), i)
    }

    /// Ok(position) if present, Err(insertion position) otherwise.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let data = self.0.data();
        let frame = Frame::read(data);
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match frame.get(data, mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Whether `v` is a member.
    pub fn contains(&self, v: i64) -> bool {
        !self.is_empty() && self.search(v).is_ok()
    }

    /// The members in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        let data = self.0.data();
        let frame = (!self.is_empty()).then(|| Frame::read(data));
        (0..self.len()).filter_map(move |i| frame.map(|f| f.get(data, i)))
    }

    /// Re-encodes from sorted, distinct members.
    fn encode(values: &[i64]) -> IntSet {
        let mut p = Pack::new();
        let Some((&base, _)) = values.split_first() else {
            return IntSet(p);
        };
        let span = (values[values.len() - 1] as u64).wrapping_sub(base as u64);
        let w = width_for(span);
        let z = zigzag(base);
        let base_len = (64 - z.leading_zeros() as usize).div_ceil(8);
        let mut buf = Vec::with_capacity(1 + base_len + values.len() * w);
        buf.push(((base_len as u8) << 4) | w as u8);
        buf.extend_from_slice(&z.to_le_bytes()[..base_len]);
        for &v in values {
            let off = (v as u64).wrapping_sub(base as u64);
            buf.extend_from_slice(&off.to_le_bytes()[..w]);
        }
        p.push_raw(&buf, values.len() as isize);
        IntSet(p)
    }

    /// Adds `v`; returns whether it was new.
    pub fn insert(&mut self, v: i64) -> bool {
        if self.is_empty() {
            *self = IntSet::encode(&[v]);
            return true;
        }
        let pos = match self.search(v) {
            Ok(_) => return false,
            Err(pos) => pos,
        };
        let frame = self.frame();
        let w = frame.width;
        if v < frame.base || width_for((v as u64).wrapping_sub(frame.base as u64)) > w {
            let mut all: Vec<i64> = self.iter().collect();
            all.insert(pos, v);
            *self = IntSet::encode(&all);
            return true;
        }
        let off = (v as u64).wrapping_sub(frame.base as u64).to_le_bytes();
        let at = frame.start + pos * w;
        self.0
            .splice(at, at, w, 1, |h| h.copy_from_slice(&off[..w]));
        true
    }

    /// Removes `v`; returns whether it was present.
    pub fn remove(&mut self, v: i64) -> bool {
        if self.is_empty() {
            return false;
        }
        let Ok(pos) = self.search(v) else {
            return false;
        };
        self.remove_at(pos);
        true
    }

    /// Removes the member at position `pos` and returns it.
    pub fn remove_at(&mut self, pos: usize) -> i64 {
        let v = self.get(pos);
        if self.len() == 1 {
            *self = IntSet::default();
            return v;
        }
        let frame = self.frame();
        let at = frame.start + pos * frame.width;
        // Removing the smallest member keeps the old base: the offsets stay valid.
        self.0.remove_range(at, at + frame.width, 1);
        v
    }
}

/// A member as it is read from a set: borrowed from a table, or an intset integer spelled
/// out in a stack buffer (no allocation). Derefs to the member's bytes.
#[derive(Clone, Copy)]
pub enum Elem<'a> {
    /// An intset member's decimal text.
    Int([u8; 20], u8),
    /// A table member.
    Ref(&'a [u8]),
}

impl<'a> Elem<'a> {
    fn int(v: i64) -> Elem<'a> {
        let mut buf = [0u8; 20];
        let mut n = v.unsigned_abs();
        let mut tmp = [0u8; 20];
        let mut i = 0;
        loop {
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            i += 1;
            if n == 0 {
                break;
            }
        }
        let mut len = 0;
        if v < 0 {
            buf[0] = b'-';
            len = 1;
        }
        for d in tmp[..i].iter().rev() {
            buf[len] = *d;
            len += 1;
        }
        Elem::Int(buf, len as u8)
    }

    /// The member as an owned `Bytes` (a refcount bump would need the table's handle; a
    /// copy is what a reply needs anyway).
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl std::ops::Deref for Elem<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Elem::Int(buf, len) => &buf[..*len as usize],
            Elem::Ref(s) => s,
        }
    }
}

impl SetValue {
    /// An empty set (an intset, as Redis creates for an integer first member; the first
    /// non-integer member converts it).
    pub fn new() -> SetValue {
        SetValue::default()
    }

    /// Number of members (SCARD).
    pub fn len(&self) -> usize {
        match self {
            SetValue::Ints(s) => s.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is in its compact (intset) encoding.
    pub fn is_compact(&self) -> bool {
        matches!(self, SetValue::Ints(_))
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64_strict(member).is_some_and(|v| s.contains(v)),
            SetValue::Table(t) => t.contains(member),
        }
    }

    fn convert(&mut self) {
        if let SetValue::Ints(s) = self {
            let mut t = SetTable::with_capacity_and_hasher(s.len() + 1, RandomState::new());
            for v in s.iter() {
                t.insert(Elem::int(v).to_bytes());
            }
            *self = SetValue::Table(Box::new(t));
        }
    }

    /// Adds `member`; returns whether it was new. A non-integer member, or growing past
    /// `set-max-intset-entries`, converts to the table (Redis's setTypeAdd).
    pub fn insert(&mut self, member: Bytes) -> bool {
        self.insert_ref(&member)
    }

    /// `insert` from a borrowed argument (a request's): a reference to it (or a copy, when
    /// small) is taken only if the member is new to a table; an intset copies its value.
    pub fn insert_ref(&mut self, member: &Bytes) -> bool {
        if let SetValue::Ints(s) = self {
            match parse_i64_strict(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    if s.len() > Limits::current().set_max_intset_entries
                        || s.len() >= MAX_PACK_BYTES / 8
                    {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self {
            // A member already there costs no copy.
            SetValue::Table(t) => !t.contains(&member[..]) && t.insert(crate::own_ref(member)),
            SetValue::Ints(_) => false,
        }
    }

    /// Removes `member`; returns whether it was present (`swap_remove` on the table, which
    /// the positional SSCAN cursor expects).
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            SetValue::Ints(s) => parse_i64_strict(member).is_some_and(|v| s.remove(v)),
            SetValue::Table(t) => t.swap_remove(member),
        }
    }

    /// The members (ascending for an intset, table order otherwise).
    pub fn iter(&self) -> SetIter<'_> {
        match self {
            SetValue::Ints(s) => SetIter(Walk::Ints(s, 0)),
            SetValue::Table(t) => SetIter(Walk::Table(t.iter())),
        }
    }

    /// The member at position `i` (sorted position for an intset).
    pub fn get_index(&self, i: usize) -> Option<Elem<'_>> {
        match self {
            SetValue::Ints(s) => (i < s.len()).then(|| Elem::int(s.get(i))),
            SetValue::Table(t) => t.get_index(i).map(|m| Elem::Ref(m)),
        }
    }

    /// Removes and returns the member at position `i` (SPOP).
    pub fn swap_remove_index(&mut self, i: usize) -> Option<Bytes> {
        match self {
            SetValue::Ints(s) => (i < s.len()).then(|| Elem::int(s.remove_at(i)).to_bytes()),
            SetValue::Table(t) => t.swap_remove_index(i),
        }
    }
}

/// A walk over a set's members.
pub struct SetIter<'a>(Walk<'a>);

enum Walk<'a> {
    /// Over an intset, at a position.
    Ints(&'a IntSet, usize),
    /// Over the table.
    Table(indexmap::set::Iter<'a, Bytes>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Elem<'a>;

    fn next(&mut self) -> Option<Elem<'a>> {
        match &mut self.0 {
            Walk::Ints(s, i) => {
                if *i >= s.len() {
                    return None;
                }
                *i += 1;
                Some(Elem::int(s.get(*i - 1)))
            }
            Walk::Table(it) => it.next().map(|m| Elem::Ref(m)),
        }
    }
}

impl FromIterator<Bytes> for SetValue {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Self {
        let mut s = SetValue::new();
        for m in iter {
            s.insert(m);
        }
        s
    }
}

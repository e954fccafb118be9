//! The hash type: a packed list of field/value entries while small (Redis's listpack
//! encoding), an insertion-ordered hash table past `hash-max-listpack-entries/value`.
//!
//! The packed form keeps Redis's listpack order (new fields appended, updates in place,
//! deletions close the gap), so HGETALL on a small hash answers in the same order as Redis.
//! Conversion is one-way, as in Redis: a table never goes back to a pack.

use crate::limits::Limits;
use crate::pack::{entry_size, read_entry, Pack, MAX_PACK_BYTES};
use ahash::RandomState;
use bytes::Bytes;
use indexmap::IndexMap;

/// The full form: insertion-ordered so HRANDFIELD is O(1) and HSCAN can use positions as
/// cursors.
pub type HashTable = IndexMap<Bytes, Bytes, RandomState>;

/// A hash value in its current encoding.
#[derive(Clone)]
pub enum HashValue {
    /// Alternating field and value entries (count = 2 x fields).
    Pack(PackedHash),
    /// The full table.
    Table(Box<HashTable>),
}

/// The packed form (opaque: only `HashValue` edits it, so the entries stay paired).
#[derive(Clone, Default)]
pub struct PackedHash(Pack);

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Pack(PackedHash::default())
    }
}

impl std::fmt::Debug for HashValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PackedHash {
    /// (offset of the field, offset of the value, offset after the value) of `field`.
    fn find(&self, field: &[u8]) -> Option<(usize, usize, usize)> {
        let data = self.0.data();
        let mut off = 0;
        while off < data.len() {
            let (f, voff) = read_entry(data, off);
            let (_, next) = read_entry(data, voff);
            if f == field {
                return Some((off, voff, next));
            }
            off = next;
        }
        None
    }
}

impl HashValue {
    /// An empty hash (packed).
    pub fn new() -> HashValue {
        HashValue::default()
    }

    /// Number of fields (HLEN).
    pub fn len(&self) -> usize {
        match self {
            HashValue::Pack(p) => p.0.count() / 2,
            HashValue::Table(t) => t.len(),
        }
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is in its compact (listpack) encoding.
    pub fn is_compact(&self) -> bool {
        matches!(self, HashValue::Pack(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Pack(p) => {
                let (_, voff, _) = p.find(field)?;
                Some(read_entry(p.0.data(), voff).0)
            }
            HashValue::Table(t) => t.get(field).map(|v| &v[..]),
        }
    }

    /// Whether `field` exists.
    pub fn contains_key(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts a pack to the full table (one-way).
    fn convert(&mut self) {
        if let HashValue::Pack(p) = self {
            let mut t = HashTable::with_capacity_and_hasher(p.0.count() / 2, RandomState::new());
            for (f, v) in pairs(&p.0) {
                t.insert(Bytes::copy_from_slice(f), Bytes::copy_from_slice(v));
            }
            *self = HashValue::Table(Box::new(t));
        }
    }

    /// Sets `field` to `value`; returns whether the field is new. Converts to the table
    /// when the field or value is longer than `hash-max-listpack-value` or the hash grows
    /// past `hash-max-listpack-entries` (Redis's hashTypeSet rules).
    pub fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        self.insert_ref(&field, &value)
    }

    /// `insert` from borrowed arguments (a request's): the packed form copies their bytes,
    /// so only the table form takes a reference to them (or a copy, when small). No
    /// reference count changes hands for a packed hash, which HSET mostly writes.
    pub fn insert_ref(&mut self, field: &Bytes, value: &Bytes) -> bool {
        let limits = Limits::current();
        if let HashValue::Pack(p) = self {
            let too_long = field.len() > limits.hash_max_value
                || value.len() > limits.hash_max_value
                || p.0.byte_len() + entry_size(field.len()) + entry_size(value.len())
                    > MAX_PACK_BYTES;
            if too_long {
                self.convert();
            }
        }
        match self {
            HashValue::Pack(p) => {
                if let Some((_, voff, end)) = p.find(field) {
                    p.0.replace_entry(voff, end, value);
                    return false;
                }
                let end = p.0.byte_len();
                p.0.insert_pair(end, field, value);
                if p.0.count() / 2 > limits.hash_max_entries {
                    self.convert();
                }
                true
            }
            HashValue::Table(t) => match t.get_mut(&field[..]) {
                // An existing field keeps its name: only the value is copied.
                Some(v) => {
                    *v = crate::own_ref(value);
                    false
                }
                None => t
                    .insert(crate::own_ref(field), crate::own_ref(value))
                    .is_none(),
            },
        }
    }

    /// Removes `field`; returns whether it was present. The table uses `swap_remove`
    /// (O(1), and what the positional HSCAN cursor expects).
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Pack(p) => match p.find(field) {
                Some((start, _, end)) => {
                    p.0.remove_range(start, end, 2);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Field/value pairs in storage order.
    pub fn iter(&self) -> HashIter<'_> {
        match self {
            HashValue::Pack(p) => HashIter(Walk::Pack(p.0.data(), 0)),
            HashValue::Table(t) => HashIter(Walk::Table(t.iter())),
        }
    }

    /// The fields.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(f, _)| f)
    }

    /// The values.
    pub fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The pair at storage position `i` (O(1) for the table, O(i) for a pack).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            HashValue::Pack(_) => self.iter().nth(i),
            HashValue::Table(t) => t.get_index(i).map(|(f, v)| (&f[..], &v[..])),
        }
    }
}

/// (field, value) pairs of a packed hash.
fn pairs(p: &Pack) -> HashIter<'_> {
    HashIter(Walk::Pack(p.data(), 0))
}

/// A walk over a hash's pairs.
pub struct HashIter<'a>(Walk<'a>);

enum Walk<'a> {
    /// Over the packed bytes, at an offset.
    Pack(&'a [u8], usize),
    /// Over the table.
    Table(indexmap::map::Iter<'a, Bytes, Bytes>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Walk::Pack(data, off) => {
                if *off >= data.len() {
                    return None;
                }
                let (f, voff) = read_entry(data, *off);
                let (v, next) = read_entry(data, voff);
                *off = next;
                Some((f, v))
            }
            Walk::Table(it) => it.next().map(|(f, v)| (&f[..], &v[..])),
        }
    }
}

impl FromIterator<(Bytes, Bytes)> for HashValue {
    fn from_iter<I: IntoIterator<Item = (Bytes, Bytes)>>(iter: I) -> Self {
        let mut h = HashValue::new();
        for (f, v) in iter {
            h.insert(f, v);
        }
        h
    }
}

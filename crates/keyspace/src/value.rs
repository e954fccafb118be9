//! Values stored under keys, and the names Redis gives their types and encodings.

pub use crate::hash::{HashIter, HashTable, HashValue};
pub use crate::list::{ListIter, ListValue};
pub use crate::set::{Elem, IntSet, SetIter, SetTable, SetValue};
use crate::stream::Stream;
pub use crate::strval::{StrValue, INLINE_MAX};
pub use crate::zpack::{ZIter, ZSet};

/// A value of one of Redis's data types. Each collection is 16 bytes inline (a compact
/// encoding's pointer and length, or a box holding the full structure), so the enum stays
/// at 24 bytes: most keys in a cache are strings, and every byte of `Entry` is paid per key.
/// A string keeps up to `INLINE_MAX` bytes in place (see `StrValue`), beside which the
/// enum's tag still fits.
///
/// `Str` is declared last on purpose: the other variants then take the niche values right
/// after the one `StrValue` uses for its inline form, and every variant test compiles to
/// one compare (declared first, each test needed a few more instructions: a cmov and a
/// mask, measured in GET's code).
#[derive(Debug, Clone)]
pub enum Value {
    List(ListValue),
    Hash(HashValue),
    Set(SetValue),
    ZSet(ZSet),
    Stream(Box<Stream>),
    Str(StrValue),
}

// Pinned: a larger Value makes every key's node larger.
const _: () = assert!(std::mem::size_of::<Value>() == 24);

/// The type of a value, for TYPE, SCAN TYPE and WRONGTYPE checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl ValueType {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }

    /// Parses a TYPE name as SCAN's TYPE option accepts it.
    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => ValueType::String,
            b"list" => ValueType::List,
            b"hash" => ValueType::Hash,
            b"set" => ValueType::Set,
            b"zset" => ValueType::ZSet,
            b"stream" => ValueType::Stream,
            _ => return None,
        })
    }
}

impl Value {
    /// An empty list value.
    pub fn new_list() -> Value {
        Value::List(ListValue::default())
    }
    /// An empty hash value.
    pub fn new_hash() -> Value {
        Value::Hash(HashValue::default())
    }
    /// An empty set value.
    pub fn new_set() -> Value {
        Value::Set(SetValue::default())
    }
    /// An empty sorted set value.
    pub fn new_zset() -> Value {
        Value::ZSet(ZSet::default())
    }
    /// An empty stream value.
    pub fn new_stream() -> Value {
        Value::Stream(Box::default())
    }

    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// Whether a collection has become empty (Redis deletes empty collections).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            // Streams stay when empty (XDEL/XTRIM never delete the key), as in Redis.
            Value::Stream(_) => false,
        }
    }

    /// How many allocations freeing the value takes (Redis's lazyfreeGetFreeEffort): one
    /// for a string or a compact collection, one per element for a full one. Values above
    /// the lazy-free threshold are freed off the store lock by UNLINK and friends.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::List(l) if l.is_compact() => 1,
            Value::List(l) => l.node_count(),
            Value::Hash(h) if h.is_compact() => 1,
            Value::Hash(h) => h.len(),
            Value::Set(s) if s.is_compact() => 1,
            Value::Set(s) => s.len(),
            Value::ZSet(z) if z.is_compact() => 1,
            Value::ZSet(z) => z.len(),
            // Redis's estimate: one allocation per radix-tree node, and each group with
            // its PEL, the first group's PEL size standing for all of them.
            Value::Stream(s) => {
                let pel = s.groups.values().next().map_or(0, |g| g.pel.len());
                s.rax_node_count() + s.groups.len() * (1 + pel)
            }
        }
    }

    /// The encoding name OBJECT ENCODING reports: the one in use, named as Redis 7.0 names
    /// it (7.0 calls every list "quicklist" and has no listpack sets).
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && parse_i64_strict(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(_) => "quicklist",
            Value::Hash(h) if h.is_compact() => "listpack",
            Value::Hash(_) => "hashtable",
            Value::Set(s) if s.is_compact() => "intset",
            Value::Set(_) => "hashtable",
            Value::ZSet(z) if z.is_compact() => "listpack",
            Value::ZSet(_) => "skiplist",
            Value::Stream(_) => "stream",
        }
    }
}

/// Parses a canonical signed 64-bit decimal (no '+', no leading zeros, no spaces), the rule
/// Redis uses both for integer replies' inputs and for deciding the "int" encoding. It is
/// the persistence crate's parser: the RDB / DUMP encodings decide with the same one.
pub use rubra_persistence::parse_canonical_i64 as parse_i64_strict;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-12"), Some(-12));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
        assert_eq!(parse_i64_strict(b"01"), None);
        assert_eq!(parse_i64_strict(b"-0"), None);
        assert_eq!(parse_i64_strict(b"+1"), None);
        assert_eq!(parse_i64_strict(b" 1"), None);
    }

    #[test]
    fn string_encodings() {
        assert_eq!(Value::Str(b"123".into()).encoding_name(), "int");
        assert_eq!(Value::Str(b"abc".into()).encoding_name(), "embstr");
        assert_eq!(Value::Str(vec![b'x'; 45].into()).encoding_name(), "raw");
    }
}

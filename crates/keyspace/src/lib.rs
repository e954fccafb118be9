//! The keyspace: databases of keys, their values and expiry times. No I/O and no clock:
//! every operation that depends on time takes `now_ms` from the caller, so behaviour is
//! reproducible in tests and the dispatcher can use one timestamp per command as Redis does.

mod chunks;
#[cfg(test)]
mod compact_tests;
pub mod db;
mod hash;
pub mod limits;
mod list;
mod list_node;
#[cfg(test)]
mod list_tests;
mod node;
mod pack;
mod set;
mod slot;
#[cfg(test)]
mod slot_tests;
pub mod stream;
mod stream_lp;
mod strval;
pub mod value;
mod zpack;
mod zset;

/// Longest element a collection copies on insert instead of keeping the caller's `Bytes`.
const OWN_COPY_MAX: usize = 4096;

/// The `Bytes` a collection keeps for an element. A short one is copied into an allocation
/// of its own: a request's arguments may be slices of one shared copy of the request, and
/// a kept slice would keep all of it (and a refcount header) alive for as long as the
/// element lives. A long one (a request's own big argument) is kept without a copy.
pub(crate) fn own_ref(v: &bytes::Bytes) -> bytes::Bytes {
    if v.len() <= OWN_COPY_MAX {
        bytes::Bytes::copy_from_slice(v)
    } else {
        v.clone()
    }
}

/// `own_ref` for an argument the caller gives away.
pub(crate) fn own(v: bytes::Bytes) -> bytes::Bytes {
    if v.len() <= OWN_COPY_MAX {
        bytes::Bytes::copy_from_slice(&v)
    } else {
        v
    }
}

pub use db::{Db, DbSnapshot, Entry, SlotIndex};
pub use limits::Limits;
pub use stream::{Stream, StreamId};
pub use value::{HashValue, ListValue, SetValue, StrValue, Value, ValueType, ZSet};

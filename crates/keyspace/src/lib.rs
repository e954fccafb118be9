//! The keyspace: databases of keys, their values and expiry times. No I/O and no clock:
//! every operation that depends on time takes `now_ms` from the caller, so behaviour is
//! reproducible in tests and the dispatcher can use one timestamp per command as Redis does.

#[cfg(test)]
mod compact_tests;
pub mod db;
mod hash;
pub mod limits;
mod list;
mod node;
mod pack;
mod set;
mod slot;
pub mod stream;
pub mod value;
mod zpack;
mod zset;

pub use db::{Db, DbSnapshot, Entry, SlotIndex};
pub use limits::Limits;
pub use stream::{Stream, StreamId};
pub use value::{HashValue, ListValue, SetValue, Value, ValueType, ZSet};

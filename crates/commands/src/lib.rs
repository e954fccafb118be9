//! The pieces of command handling that need no I/O and no keyspace: the key -> slot mapping,
//! glob patterns, and (in `spec`) the command table's types and key extraction.

pub mod glob;
pub mod slot;

pub use glob::glob_match;
pub use slot::{crc16, hash_tag, key_slot, SLOT_COUNT};

//! Key maths every crate shares and that needs no I/O and no keyspace: the key -> hash slot
//! mapping (CRC16, hash tags) and glob patterns (KEYS, SCAN MATCH, pub/sub patterns).

pub mod glob;
pub mod slot;

pub use glob::glob_match;
pub use slot::{crc16, hash_tag, key_slot, SLOT_COUNT};

//! Redis-compatible persistence formats: RDB files (as redis-server 7.0 writes and loads them)
//! and DUMP/RESTORE payloads. The crate has its own neutral value model so it depends on no
//! other Rubra crate: the server converts its keyspace to and from [`RdbValue`].
//!
//! Reading is a pure function over a byte slice that never panics on malformed input;
//! writing streams to any `std::io::Write` and checksums as it goes.

mod compact;
mod consts;
mod crc64;
mod decode;
mod dump;
mod encode;
mod error;
mod incremental;
mod listpack;
mod lzf;
mod reader;
mod stream;
mod writer;

pub use consts::RDB_VERSION;
pub use crc64::{crc64, crc64_update};
pub use dump::{
    dump_functions, dump_payload, dump_payload_as, restore_functions, restore_payload,
    restore_payload_checked, FunctionPayloadError,
};
pub use error::RdbError;
pub use incremental::{Next, RdbFeedReader};
pub use listpack::{backlen_size as listpack_backlen_size, parse_canonical_i64};
pub use lzf::release_scratch;
pub use reader::{read_rdb, RdbInfo, RdbItem, RdbReader};
pub use stream::{chunk_nodes, RdbStream, RdbStreamEntry, RdbStreamGroup, RdbStreamId};
pub use writer::{write_rdb, RdbWriter};

/// A value in the neutral model: one variant per Redis data type, with elements as byte
/// strings so any keyspace representation can convert to and from it.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    /// A string (integers are just their decimal text).
    Str(Vec<u8>),
    /// A list, head first.
    List(Vec<Vec<u8>>),
    /// A set's members, in no particular order.
    Set(Vec<Vec<u8>>),
    /// A hash's field/value pairs, in no particular order.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A sorted set's member/score pairs, in no particular order.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A stream with its consumer groups (boxed: much larger than the other variants).
    Stream(Box<RdbStream>),
}

impl RdbValue {
    /// Number of elements (1 for a string); Redis never stores empty collections, so a zero
    /// here means the key should not exist.
    pub fn len(&self) -> usize {
        match self {
            RdbValue::Str(_) => 1,
            RdbValue::List(v) | RdbValue::Set(v) => v.len(),
            RdbValue::Hash(v) => v.len(),
            RdbValue::ZSet(v) => v.len(),
            RdbValue::Stream(s) => s.len(),
        }
    }

    /// True for an empty collection (never for a string or a stream: Redis keeps empty
    /// streams, e.g. one made by XGROUP CREATE MKSTREAM).
    pub fn is_empty(&self) -> bool {
        !matches!(self, RdbValue::Stream(_)) && self.len() == 0
    }
}

/// One key as stored in an RDB file, with its database and optional metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbEntry {
    /// Database index (SELECT number).
    pub db: usize,
    /// The key name.
    pub key: Vec<u8>,
    /// The value.
    pub value: RdbValue,
    /// Absolute expiry time, in Unix milliseconds.
    pub expire_ms: Option<u64>,
    /// LRU idle time in seconds (written by Redis under LRU eviction policies).
    pub idle_secs: Option<u64>,
    /// LFU logarithmic access counter (written by Redis under LFU eviction policies).
    pub freq: Option<u8>,
}

impl RdbEntry {
    /// An entry with no expiry or eviction metadata, the common case.
    pub fn new(db: usize, key: impl Into<Vec<u8>>, value: RdbValue) -> Self {
        RdbEntry {
            db,
            key: key.into(),
            value,
            expire_ms: None,
            idle_secs: None,
            freq: None,
        }
    }
}

//! The thresholds below which collections keep their compact encoding: Redis's
//! `hash-max-listpack-entries/value`, `set-max-intset-entries`,
//! `zset-max-listpack-entries/value` and `list-max-listpack-size`.
//!
//! WHY a process-wide setting: as in Redis they are server configuration read on every
//! insert, deep inside value types that have no handle on the server; passing them through
//! every call would touch every command. The server installs them at start-up and after
//! CONFIG SET; tests that need other values install their own.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

/// The compact-encoding thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most fields a listpack hash holds.
    pub hash_max_entries: usize,
    /// Longest field or value a listpack hash holds.
    pub hash_max_value: usize,
    /// Most members an intset holds.
    pub set_max_intset_entries: usize,
    /// Most members a listpack sorted set holds.
    pub zset_max_entries: usize,
    /// Longest member a listpack sorted set holds.
    pub zset_max_value: usize,
    /// `list-max-listpack-size`: >= 0 is a count of elements, -1..-5 a size of 4..64 KiB.
    pub list_max_size: i64,
    /// `stream-node-max-entries`: most entries (live or deleted) in one stream macro node;
    /// 0 = no count limit.
    pub stream_node_max_entries: i64,
    /// `stream-node-max-bytes`: a stream macro node's size limit; 0 = the listpack maximum.
    pub stream_node_max_bytes: usize,
}

impl Default for Limits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        Limits {
            hash_max_entries: 128,
            hash_max_value: 64,
            set_max_intset_entries: 512,
            zset_max_entries: 128,
            zset_max_value: 64,
            list_max_size: -2,
            stream_node_max_entries: 100,
            stream_node_max_bytes: 4096,
        }
    }
}

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
static LIST_SIZE: AtomicI64 = AtomicI64::new(-2);
static STREAM_NODE_ENTRIES: AtomicI64 = AtomicI64::new(100);
static STREAM_NODE_BYTES: AtomicUsize = AtomicUsize::new(4096);

impl Limits {
    /// The thresholds in force.
    pub fn current() -> Limits {
        Limits {
            hash_max_entries: HASH_ENTRIES.load(Ordering::Relaxed),
            hash_max_value: HASH_VALUE.load(Ordering::Relaxed),
            set_max_intset_entries: INTSET_ENTRIES.load(Ordering::Relaxed),
            zset_max_entries: ZSET_ENTRIES.load(Ordering::Relaxed),
            zset_max_value: ZSET_VALUE.load(Ordering::Relaxed),
            list_max_size: LIST_SIZE.load(Ordering::Relaxed),
            stream_node_max_entries: STREAM_NODE_ENTRIES.load(Ordering::Relaxed),
            stream_node_max_bytes: STREAM_NODE_BYTES.load(Ordering::Relaxed),
        }
    }

    /// `list-max-listpack-size` alone: read on every list push, so one load, not six.
    #[inline]
    pub fn list_max_size() -> i64 {
        LIST_SIZE.load(Ordering::Relaxed)
    }

    /// Puts these thresholds in force for values edited from now on (existing values keep
    /// their encoding until their next edit, as in Redis).
    pub fn install(self) {
        HASH_ENTRIES.store(self.hash_max_entries, Ordering::Relaxed);
        HASH_VALUE.store(self.hash_max_value, Ordering::Relaxed);
        INTSET_ENTRIES.store(self.set_max_intset_entries, Ordering::Relaxed);
        ZSET_ENTRIES.store(self.zset_max_entries, Ordering::Relaxed);
        ZSET_VALUE.store(self.zset_max_value, Ordering::Relaxed);
        LIST_SIZE.store(self.list_max_size, Ordering::Relaxed);
        STREAM_NODE_ENTRIES.store(self.stream_node_max_entries, Ordering::Relaxed);
        STREAM_NODE_BYTES.store(self.stream_node_max_bytes, Ordering::Relaxed);
    }

    /// The stream macro node limits in force: (most entries, 0 = unlimited; most bytes).
    /// Read on every XADD, so two loads, not eight.
    #[inline]
    pub fn stream_node() -> (i64, usize) {
        (
            STREAM_NODE_ENTRIES.load(Ordering::Relaxed),
            STREAM_NODE_BYTES.load(Ordering::Relaxed),
        )
    }

    /// Whether a list pack of `count` elements in `bytes` bytes is within
    /// `list-max-listpack-size` (one quicklist node's worth in Redis).
    pub fn list_fits(&self, count: usize, bytes: usize) -> bool {
        if self.list_max_size >= 0 {
            count as u64 <= self.list_max_size as u64
        } else {
            let kib = match self.list_max_size {
                -1 => 4,
                -2 => 8,
                -3 => 16,
                -4 => 32,
                _ => 64,
            };
            bytes <= kib * 1024
        }
    }
}

/// Reads a numeric threshold, saturating values that do not fit (Redis accepts up to
/// LONG_MAX for the entry counts).
pub fn clamp(v: i64) -> usize {
    usize::try_from(v.max(0)).unwrap_or(usize::MAX)
}

//! The stream type (XADD and friends): entries ordered by ID, consumer groups with their
//! pending entries lists, and the counters Redis 7.0 keeps so that XINFO, consumer-group lag
//! and RDB files agree with redis-server (`entries_added`, `max_deleted_entry_id`,
//! `first_id`).
//!
//! Redis stores entries in listpack "macro nodes" of at most `stream-node-max-entries`
//! (100) entries inside a radix tree. Approximate trimming (`MAXLEN ~`) removes whole nodes
//! only, so the node boundaries are observable; `nodes` tracks them (master id -> counts)
//! without storing the entries twice, so `~` trims exactly what Redis would.

use crate::stream_lp;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A stream entry ID: milliseconds and sequence number, ordered as a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID, 0-0 (also "no ID" in several counters).
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID; XREADGROUP uses it internally for ">".
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID in order, or None after the last possible ID.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID in order, or None before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Whether this is 0-0.
    pub fn is_zero(self) -> bool {
        self == StreamId::ZERO
    }

    /// The 16-byte big-endian form Redis uses as radix-tree key and in RDB files.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The field/value pairs of one entry, in the order they were given.
pub type Fields = Vec<(Bytes, Bytes)>;

/// `entries_read` value meaning "unknown" (SCG_INVALID_ENTRIES_READ in Redis).
pub const ENTRIES_READ_UNKNOWN: i64 = -1;
/// stream-node-max-entries (Redis default): entries, live or deleted, per macro node.
pub const NODE_MAX_ENTRIES: u32 = 100;
/// stream-node-max-bytes (Redis default): size limit of one macro node's listpack.
pub const NODE_MAX_BYTES: usize = 4096;
/// The most bytes one listpack may hold (Redis's STREAM_LISTPACK_MAX_SIZE), the node size
/// limit when `stream-node-max-bytes` is 0.
const LISTPACK_MAX_BYTES: usize = 1 << 30;

/// One pending entry of a consumer group (a "NACK" in Redis's source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// The consumer that owns the entry now.
    pub consumer: Bytes,
    /// Unix ms of the last delivery, for idle times and XCLAIM's min-idle-time.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer of a group: its last activity and the IDs it owns in the group's PEL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// The last ID delivered with ">".
    pub last_id: StreamId,
    /// Logical read counter of `last_id`, or `ENTRIES_READ_UNKNOWN`.
    pub entries_read: i64,
    /// Delivered but not acknowledged entries, for the whole group.
    pub pel: BTreeMap<StreamId, PendingEntry>,
    /// Consumers by name (sorted, as Redis's radix tree lists them).
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl ConsumerGroup {
    /// A group starting after `last_id`.
    pub fn new(last_id: StreamId, entries_read: i64) -> ConsumerGroup {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates a consumer if missing; true if it was created.
    pub fn create_consumer(&mut self, name: &Bytes, now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.clone(),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had pending.
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(c) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &c.pel {
            self.pel.remove(id);
        }
        c.pel.len()
    }

    /// Removes an entry from the group PEL and its owner's PEL; true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Makes `consumer` the owner of pending entry `id` (creating the PEL entry if
    /// missing, as XCLAIM FORCE does) and returns it for updating its counters.
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, now_ms: u64) -> &mut PendingEntry {
        let previous = self.pel.get(&id).map(|p| p.consumer.clone());
        if let Some(prev) = previous.as_ref().filter(|p| *p != consumer) {
            if let Some(c) = self.consumers.get_mut(prev) {
                c.pel.remove(&id);
            }
        }
        self.create_consumer(consumer, now_ms);
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let entry = self.pel.entry(id).or_insert(PendingEntry {
            consumer: consumer.clone(),
            delivery_time: now_ms,
            delivery_count: 0,
        });
        entry.consumer = consumer.clone();
        entry
    }
}

/// A macro node as Redis lays it out: counts of live and all (incl. deleted) entries, its
/// last ID and its listpack's size as Redis encodes it (see `stream_lp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Node {
    live: u32,
    total: u32,
    last: StreamId,
    /// The listpack's bytes but for the master entry's live and deleted counters, whose
    /// size changes with their values (`Node::lp_bytes` adds them).
    body: usize,
}

impl Node {
    /// The node's listpack size (lpBytes), what `stream-node-max-bytes` limits.
    fn lp_bytes(&self) -> usize {
        self.body
            + stream_lp::int_size(i64::from(self.live))
            + stream_lp::int_size(i64::from(self.total - self.live))
    }
}

/// One entry of a macro node: its ID, fields and whether it is deleted (a tombstone).
pub type NodeItem<'a> = (StreamId, &'a Fields, bool);

/// A stream value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    entries: BTreeMap<StreamId, Fields>,
    /// Master ID -> node, mirroring Redis's listpack nodes (see the module comment).
    nodes: BTreeMap<StreamId, Node>,
    /// The last ID ever generated (stays after deletions; XSETID can move it).
    pub last_id: StreamId,
    /// The largest ID removed by XDEL.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added (XADD count; XSETID can set it).
    pub entries_added: u64,
    /// Consumer groups by name, sorted as Redis lists them.
    pub groups: BTreeMap<Bytes, ConsumerGroup>,
    /// Deleted entries (XDEL, XTRIM) whose node still has live ones: Redis only flags an
    /// entry deleted inside its node's listpack until the whole node goes, and its RDB
    /// and DUMP bytes carry such entries, so ours keep them for that alone.
    tombs: BTreeMap<StreamId, Fields>,
}

/// Rough heap size of an entry's fields, for MEMORY USAGE.
fn entry_bytes(fields: &Fields) -> usize {
    fields
        .iter()
        .map(|(f, v)| f.len() + v.len() + 4)
        .sum::<usize>()
        + 8
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the stream has no entries (a stream key can exist empty).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry's ID, or 0-0 when empty ("recorded-first-entry-id").
    pub fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// The last live entry's ID, or 0-0 when empty.
    pub fn last_entry_id(&self) -> StreamId {
        self.entries.keys().next_back().copied().unwrap_or_default()
    }

    /// One entry by ID.
    pub fn get(&self, id: &StreamId) -> Option<&Fields> {
        self.entries.get(id)
    }

    /// Entries with IDs in `start..=end`, forward or reverse, at most `count` (0 = all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<(StreamId, &Fields)> {
        if start > end {
            return Vec::new();
        }
        let limit = if count == 0 { usize::MAX } else { count };
        let it = self.entries.range(start..=end).map(|(k, v)| (*k, v));
        if rev {
            it.rev().take(limit).collect()
        } else {
            it.take(limit).collect()
        }
    }

    /// All entries in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&StreamId, &Fields)> {
        self.entries.iter()
    }

    /// The ID XADD `*` would generate at `now_ms`, or None if the stream is exhausted.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.incr()
        }
    }

    /// Appends an entry whose ID the caller checked is greater than `last_id`.
    /// The node limits are `stream-node-max-entries` / `-bytes` in force (see
    /// [`crate::Limits::stream_node`]), as Redis reads them on every append.
    pub fn append(&mut self, id: StreamId, fields: Fields) {
        let (max_entries, max_bytes) = crate::limits::Limits::stream_node();
        self.append_within(id, fields, max_entries, max_bytes);
    }

    /// [`Stream::append`] under the given node limits (most entries, 0 or less for no
    /// limit; most bytes, 0 for the listpack maximum).
    pub(crate) fn append_within(
        &mut self,
        id: StreamId,
        fields: Fields,
        max_entries: i64,
        max_bytes: usize,
    ) {
        // Redis: 0 or more than a listpack may hold means the listpack maximum (1 GiB).
        let max_bytes = if max_bytes == 0 || max_bytes > LISTPACK_MAX_BYTES {
            LISTPACK_MAX_BYTES
        } else {
            max_bytes
        };
        // As streamAppendItem: the tail node's listpack size plus the raw length of the
        // new entry's names and values must stay below the limit, and its entries (live
        // or deleted) below the entry limit.
        let raw = stream_lp::raw_len(&fields);
        let tail = self.nodes.iter().next_back().map(|(m, n)| (*m, *n));
        let fits = tail.is_some_and(|(_, n)| {
            n.lp_bytes() + raw < max_bytes && (max_entries <= 0 || i64::from(n.total) < max_entries)
        });
        match tail {
            Some((master, _)) if fits => {
                let size = {
                    // The master entry holds the names of the node's first entry, which
                    // stays (live or as a tombstone) as long as the node does.
                    let empty = Fields::new();
                    let master_fields = self
                        .entries
                        .get(&master)
                        .or_else(|| self.tombs.get(&master))
                        .unwrap_or(&empty);
                    stream_lp::entry_size(master, master_fields, id, &fields)
                };
                if let Some(n) = self.nodes.get_mut(&master) {
                    n.live += 1;
                    n.total += 1;
                    n.last = id;
                    n.body += size;
                }
            }
            _ => {
                let body = stream_lp::master_size(&fields)
                    + stream_lp::entry_size(id, &fields, id, &fields);
                self.nodes.insert(
                    id,
                    Node {
                        live: 1,
                        total: 1,
                        last: id,
                        body,
                    },
                );
            }
        }
        self.entries.insert(id, fields);
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Marks one entry deleted inside its node, removing the node when it has no live
    /// entry left (as Redis frees an all-deleted listpack).
    /// The entry's fields are kept as a tombstone while its node stays.
    fn unlink(&mut self, id: StreamId, fields: Fields, drop_empty_node: bool) {
        let master = self.nodes.range(..=id).next_back().map(|(k, _)| *k);
        if let Some(m) = master {
            if let Some(n) = self.nodes.get_mut(&m) {
                n.live = n.live.saturating_sub(1);
                if n.live == 0 && drop_empty_node {
                    self.nodes.remove(&m);
                    self.drop_tombs(m);
                } else {
                    self.tombs.insert(id, fields);
                }
            }
        }
    }

    /// Forgets the tombstones of the node whose master ID was `master` (the node is gone).
    fn drop_tombs(&mut self, master: StreamId) {
        let end = self.nodes.range(master..).next().map(|(k, _)| *k);
        let ids: Vec<StreamId> = match end {
            Some(e) => self.tombs.range(master..e).map(|(k, _)| *k).collect(),
            None => self.tombs.range(master..).map(|(k, _)| *k).collect(),
        };
        for id in ids {
            self.tombs.remove(&id);
        }
    }

    /// XDEL of one ID; true if it existed. Updates `max_deleted_entry_id`.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some(fields) = self.entries.remove(&id) else {
            return false;
        };
        self.unlink(id, fields, true);
        if id > self.max_deleted_entry_id {
            self.max_deleted_entry_id = id;
        }
        true
    }

    /// Trims as XTRIM/XADD do: `Maxlen(n)` keeps the newest n entries, `MinId(id)` drops
    /// entries below id. With `approx`, only whole nodes go and at most `limit` entries
    /// (0 = no limit). Returns the number of entries removed.
    pub fn trim(&mut self, strategy: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        while let Some((&master, &node)) = self.nodes.iter().next() {
            if let Trim::Maxlen(max) = strategy {
                if self.entries.len() as u64 <= max {
                    break;
                }
            }
            let live = node.live as u64;
            if limit != 0 && deleted + live > limit {
                break;
            }
            let remove_node = match strategy {
                // Saturating: a restored stream may carry node counts that disagree with
                // its entries (found by fuzz_restore_into_keyspace).
                Trim::Maxlen(max) => (self.entries.len() as u64).saturating_sub(live) >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove_node {
                let end = self.nodes.range(master..).nth(1).map(|(k, _)| *k);
                let ids: Vec<StreamId> = match end {
                    Some(e) => self.entries.range(master..e).map(|(k, _)| *k).collect(),
                    None => self.entries.range(master..).map(|(k, _)| *k).collect(),
                };
                for id in &ids {
                    self.entries.remove(id);
                }
                self.nodes.remove(&master);
                self.drop_tombs(master);
                deleted += ids.len() as u64;
                continue;
            }
            if approx {
                break;
            }
            let ids: Vec<StreamId> = self
                .entries
                .range(master..=node.last)
                .map(|(k, _)| *k)
                .collect();
            for id in ids {
                let stop = match strategy {
                    Trim::Maxlen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if let Some(fields) = self.entries.remove(&id) {
                    self.unlink(id, fields, false);
                }
                deleted += 1;
            }
            break;
        }
        deleted
    }

    /// Number of macro nodes (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes of the radix tree Redis keeps the macro nodes in (XINFO radix-tree-nodes):
    /// keys are 16-byte big-endian master IDs in a maximally compressed trie, where a run
    /// shared by all keys below a point is one node, a fork is one node, and each key ends
    /// in a leaf node.
    pub fn rax_node_count(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|id| id.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if depth == 16 {
                return 1;
            }
            let first = &keys[0];
            let last = &keys[keys.len() - 1];
            let lcp = (depth..16).take_while(|&i| first[i] == last[i]).count();
            if lcp > 0 {
                return 1 + count(keys, depth + lcp);
            }
            // Keys are sorted: equal bytes at `depth` form contiguous groups.
            let mut total = 1;
            let mut start = 0;
            for i in 1..=keys.len() {
                if i == keys.len() || keys[i][depth] != keys[start][depth] {
                    total += count(&keys[start..i], depth + 1);
                    start = i;
                }
            }
            total
        }
        count(&keys, 0)
    }

    /// Each node's master ID and listpack size as tracked, for tests against an encoder.
    #[cfg(test)]
    pub(crate) fn node_sizes(&self) -> Vec<(StreamId, usize)> {
        self.nodes.iter().map(|(m, n)| (*m, n.lp_bytes())).collect()
    }

    /// Master IDs of the macro nodes with the entries each holds, for RDB encoding in the
    /// same layout Redis would have.
    pub fn node_spans(&self) -> Vec<(StreamId, Vec<(StreamId, &Fields)>)> {
        let masters: Vec<StreamId> = self.nodes.keys().copied().collect();
        let mut out = Vec::with_capacity(masters.len());
        for (i, m) in masters.iter().enumerate() {
            let items: Vec<(StreamId, &Fields)> = match masters.get(i + 1) {
                Some(next) => self
                    .entries
                    .range(*m..*next)
                    .map(|(k, v)| (*k, v))
                    .collect(),
                None => self.entries.range(*m..).map(|(k, v)| (*k, v)).collect(),
            };
            if !items.is_empty() {
                out.push((*m, items));
            }
        }
        out
    }

    /// [`Stream::node_spans`] with the deleted entries each node still holds (flag true),
    /// for RDB / DUMP bytes identical to Redis's.
    pub fn node_spans_with_deleted(&self) -> Vec<(StreamId, Vec<NodeItem<'_>>)> {
        let masters: Vec<StreamId> = self.nodes.keys().copied().collect();
        let mut out = Vec::with_capacity(masters.len());
        for (i, m) in masters.iter().enumerate() {
            let next = masters.get(i + 1).copied();
            let in_node = |id: &StreamId| *id >= *m && next.is_none_or(|n| *id < n);
            let mut items: Vec<NodeItem<'_>> = match next {
                Some(n) => self
                    .entries
                    .range(*m..n)
                    .map(|(k, v)| (*k, v, false))
                    .collect(),
                None => self
                    .entries
                    .range(*m..)
                    .map(|(k, v)| (*k, v, false))
                    .collect(),
            };
            let dead: Vec<NodeItem<'_>> = self
                .tombs
                .range(*m..)
                .take_while(|(k, _)| in_node(k))
                .map(|(k, v)| (*k, v, true))
                .collect();
            if !dead.is_empty() {
                items.extend(dead);
                items.sort_by_key(|e| e.0);
            }
            if items.iter().any(|e| !e.2) {
                out.push((*m, items));
            }
        }
        out
    }

    /// Rebuilds a stream from loaded parts (RDB/RESTORE) in the payload's node layout:
    /// each node with its entries, live and deleted (flag true), as Redis keeps the
    /// listpacks it loads, so later appends fill the same nodes and a DUMP gives the bytes
    /// it was restored from. Nodes without a live entry are left out. None if the IDs do
    /// not increase strictly from entry to entry.
    pub fn from_nodes(
        nodes: impl IntoIterator<Item = Vec<(StreamId, Fields, bool)>>,
        last_id: StreamId,
        entries_added: u64,
        max_deleted_entry_id: StreamId,
    ) -> Option<Stream> {
        let mut s = Stream::new();
        let mut previous: Option<StreamId> = None;
        for items in nodes {
            let (Some(first), Some(last)) = (items.first(), items.last()) else {
                continue;
            };
            let (master, last) = (first.0, last.0);
            if !items.iter().any(|e| !e.2) {
                continue;
            }
            let mut node = Node {
                live: 0,
                total: 0,
                last,
                body: stream_lp::master_size(&first.1),
            };
            let master_fields = first.1.clone();
            for (id, fields, dead) in items {
                if previous.is_some_and(|p| p >= id) {
                    return None;
                }
                previous = Some(id);
                node.total += 1;
                node.body += stream_lp::entry_size(master, &master_fields, id, &fields);
                if dead {
                    s.tombs.insert(id, fields);
                } else {
                    node.live += 1;
                    s.entries.insert(id, fields);
                }
            }
            s.nodes.insert(master, node);
        }
        s.last_id = last_id.max(s.last_entry_id());
        s.entries_added = entries_added;
        s.max_deleted_entry_id = max_deleted_entry_id;
        Some(s)
    }

    /// Whether an XDEL tombstone lies in `start..=end` (streamRangeHasTombstones).
    fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted_entry_id.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted_entry_id {
            return false;
        }
        start <= self.max_deleted_entry_id && self.max_deleted_entry_id <= end
    }

    /// The logical position of `id` counted from the first entry ever added, when it can
    /// be known (streamEstimateDistanceFromFirstEverEntry); None when not.
    pub fn estimate_distance(&self, id: StreamId) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        let len = self.entries.len() as i64;
        if len == 0 && id <= self.last_id {
            return Some(added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted_entry_id.is_zero() || self.max_deleted_entry_id < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return Some(added - len),
                std::cmp::Ordering::Equal => return Some(added - len + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// Updates a group's read counter when it is delivered `id` with ">" (as
    /// streamReplyWithRange does), then moves its last ID.
    pub fn advance_group(&mut self, group: &Bytes, id: StreamId) {
        let tomb = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        if let Some(g) = self.groups.get_mut(group) {
            if id > g.last_id {
                if g.entries_read != ENTRIES_READ_UNKNOWN && !tomb {
                    g.entries_read += 1;
                } else if added != 0 {
                    g.entries_read = estimate.unwrap_or(ENTRIES_READ_UNKNOWN);
                }
                g.last_id = id;
            }
        }
    }

    /// A group's lag (entries not yet delivered), when it can be known.
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        self.estimate_distance(g.last_id)
            .map(|r| self.entries_added as i64 - r)
    }

    /// Approximate heap size, for MEMORY USAGE.
    pub fn approx_bytes(&self) -> usize {
        let entries: usize = self.entries.values().map(|f| entry_bytes(f) + 48).sum();
        let groups: usize = self
            .groups
            .values()
            .map(|g| 128 + g.pel.len() * 96 + g.consumers.len() * 96)
            .sum();
        64 + entries + groups
    }
}

/// A trimming strategy: keep at most N entries, or drop IDs below a minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    Maxlen(u64),
    MinId(StreamId),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Fields {
        vec![(Bytes::from_static(b"f"), Bytes::from_static(b"v"))]
    }

    fn stream(n: u64) -> Stream {
        let mut s = Stream::new();
        for i in 1..=n {
            s.append(StreamId::new(i, 0), f());
        }
        s
    }

    #[test]
    fn ids_order_and_step() {
        assert!(StreamId::new(1, 5) < StreamId::new(2, 0));
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::ZERO.decr(), None);
        assert_eq!(StreamId::new(5, 7).to_string(), "5-7");
    }

    #[test]
    fn nodes_split_every_100_entries() {
        let s = stream(250);
        assert_eq!(s.node_count(), 3);
        let spans = s.node_spans();
        assert_eq!(spans[0].1.len(), 100);
        assert_eq!(spans[2].0, StreamId::new(201, 0));
    }

    #[test]
    fn approx_trim_removes_whole_nodes_only() {
        let mut s = stream(250);
        assert_eq!(s.trim(Trim::Maxlen(180), true, 0), 0);
        assert_eq!(s.trim(Trim::Maxlen(120), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::Maxlen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), StreamId::new(131, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(200, 0)), false, 0), 69);
        assert_eq!(s.first_id(), StreamId::new(200, 0));
    }

    #[test]
    fn delete_tracks_tombstones_and_lag() {
        let mut s = stream(5);
        s.groups.insert(
            Bytes::from_static(b"g"),
            ConsumerGroup::new(StreamId::ZERO, 0),
        );
        let g = Bytes::from_static(b"g");
        s.advance_group(&g, StreamId::new(1, 0));
        assert_eq!(s.groups[&g].entries_read, 1);
        assert_eq!(s.group_lag(&s.groups[&g]), Some(4));
        assert!(s.delete(StreamId::new(3, 0)));
        assert!(!s.delete(StreamId::new(3, 0)));
        assert_eq!(s.max_deleted_entry_id, StreamId::new(3, 0));
        assert_eq!(s.group_lag(&s.groups[&g]), None);
    }

    #[test]
    fn pel_ownership_moves() {
        let mut g = ConsumerGroup::new(StreamId::ZERO, 0);
        let a = Bytes::from_static(b"a");
        let b = Bytes::from_static(b"b");
        let id = StreamId::new(1, 0);
        g.assign(id, &a, 10).delivery_count += 1;
        g.assign(id, &b, 20).delivery_count += 1;
        assert!(g.consumers[&a].pel.is_empty());
        assert_eq!(g.pel[&id].delivery_count, 2);
        assert_eq!(g.delete_consumer(&b), 1);
        assert!(g.pel.is_empty());
    }
}

//! Streams in RDB files and DUMP payloads (types 15, 19 and 21; we write 19, the form
//! redis-server 7.0 writes).
//!
//! Layout of the value: the number of macro nodes, then per node its master ID (16 bytes,
//! big endian) and a listpack; then length, last ID, first ID, max deleted ID and entries
//! added (the last three from type 19 on); then the consumer groups, each with its name,
//! last delivered ID, entries read (type 19+), global PEL (raw 16-byte IDs, delivery time
//! as 8-byte LE ms, delivery count) and consumers (name, seen time, active time in type 21,
//! and their PEL as raw IDs only).
//!
//! Inside a node's listpack the first entry is the "master entry": live count, deleted
//! count, number of master fields, the master field names and a 0 terminator. Each entry
//! follows as flags, ms and seq deltas from the master ID, then either the values alone
//! (flag SAMEFIELDS: same field names as the master) or the field count and field/value
//! pairs, then its element count ("lp-count") so the listpack can be walked backwards.

use crate::consts::*;
use crate::decode::Cursor;
use crate::encode::{put_blob, put_len, put_string};
use crate::error::RdbError;
use crate::listpack;

/// A stream ID as (milliseconds, sequence).
pub type RdbStreamId = (u64, u64);

/// One entry: its ID and field/value pairs.
pub type RdbStreamEntry = (RdbStreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// A stream in the neutral model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStream {
    /// Entries grouped in macro nodes, in ID order. Writers keep nodes of at most 100
    /// entries; readers return the nodes as the file had them, deleted entries included
    /// (listed in `deleted`), except nodes with no live entry.
    pub nodes: Vec<Vec<RdbStreamEntry>>,
    pub last_id: RdbStreamId,
    pub first_id: RdbStreamId,
    pub max_deleted_id: RdbStreamId,
    pub entries_added: u64,
    pub groups: Vec<RdbStreamGroup>,
    /// IDs of entries in `nodes` that are deleted, in ID order: Redis keeps a deleted
    /// entry, flagged, in its node until the whole node goes, and its DUMP and RDB bytes
    /// carry it, so readers and writers keep them too.
    pub deleted: Vec<RdbStreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStreamGroup {
    pub name: Vec<u8>,
    pub last_id: RdbStreamId,
    /// -1 when unknown.
    pub entries_read: i64,
    /// (id, owning consumer, delivery time ms, delivery count), in ID order.
    pub pel: Vec<(RdbStreamId, Vec<u8>, u64, u64)>,
    /// (name, seen time ms), sorted by name.
    pub consumers: Vec<(Vec<u8>, u64)>,
}

impl RdbStream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes
            .iter()
            .map(Vec::len)
            .sum::<usize>()
            .saturating_sub(self.deleted.len())
    }

    /// Whether the stream holds no entry (an empty stream is still a valid key).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
const BAD: RdbError = RdbError::Corrupt("Stream listpack integrity check failed.");
const LP_BAD: RdbError = RdbError::Corrupt("Stream listpack integrity check failed.");

fn put_id_raw(out: &mut Vec<u8>, id: RdbStreamId) {
    out.extend_from_slice(&id.0.to_be_bytes());
    out.extend_from_slice(&id.1.to_be_bytes());
}

fn int(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Encodes one node's listpack.
fn node_listpack(node: &[RdbStreamEntry], deleted: &[RdbStreamId]) -> Vec<u8> {
    let (master, master_fields) = (&node[0].0, &node[0].1);
    let is_deleted = |id: &RdbStreamId| deleted.binary_search(id).is_ok();
    let dead = node.iter().filter(|e| is_deleted(&e.0)).count();
    let mut items: Vec<Vec<u8>> = vec![int((node.len() - dead) as i64), int(dead as i64)];
    items.push(int(master_fields.len() as i64));
    items.extend(master_fields.iter().map(|(f, _)| f.clone()));
    items.push(int(0));
    for (id, fields) in node {
        let same = fields.len() == master_fields.len()
            && fields.iter().zip(master_fields).all(|(a, b)| a.0 == b.0);
        let ms = id.0.wrapping_sub(master.0) as i64;
        let seq = id.1.wrapping_sub(master.1) as i64;
        let flags =
            if same { FLAG_SAMEFIELDS } else { 0 } | if is_deleted(id) { FLAG_DELETED } else { 0 };
        items.push(int(flags));
        items.push(int(ms));
        items.push(int(seq));
        if same {
            items.extend(fields.iter().map(|(_, v)| v.clone()));
        } else {
            items.push(int(fields.len() as i64));
            for (f, v) in fields {
                items.push(f.clone());
                items.push(v.clone());
            }
        }
        let lp_count = if same {
            fields.len() + 3
        } else {
            2 * fields.len() + 4
        };
        items.push(int(lp_count as i64));
    }
    listpack::encode(items.iter().map(|v| v.as_slice()))
}

/// Writes a stream value body; returns the type byte (19).
pub(crate) fn put_stream(out: &mut Vec<u8>, s: &RdbStream) -> u8 {
    let mut deleted = s.deleted.clone();
    deleted.sort_unstable();
    let nodes: Vec<&Vec<RdbStreamEntry>> = s.nodes.iter().filter(|n| !n.is_empty()).collect();
    put_len(out, nodes.len() as u64);
    for node in &nodes {
        let mut key = Vec::with_capacity(16);
        put_id_raw(&mut key, node[0].0);
        put_string(out, &key);
        put_blob(out, &node_listpack(node, &deleted));
    }
    put_len(out, s.len() as u64);
    for id in [s.last_id, s.first_id, s.max_deleted_id] {
        put_len(out, id.0);
        put_len(out, id.1);
    }
    put_len(out, s.entries_added);
    put_len(out, s.groups.len() as u64);
    for g in &s.groups {
        put_string(out, &g.name);
        put_len(out, g.last_id.0);
        put_len(out, g.last_id.1);
        put_len(out, g.entries_read as u64);
        put_len(out, g.pel.len() as u64);
        for (id, _, time, count) in &g.pel {
            put_id_raw(out, *id);
            out.extend_from_slice(&time.to_le_bytes());
            put_len(out, *count);
        }
        put_len(out, g.consumers.len() as u64);
        for (name, seen) in &g.consumers {
            put_string(out, name);
            out.extend_from_slice(&seen.to_le_bytes());
            let owned: Vec<&RdbStreamId> = g
                .pel
                .iter()
                .filter(|p| &p.1 == name)
                .map(|p| &p.0)
                .collect();
            put_len(out, owned.len() as u64);
            for id in owned {
                put_id_raw(out, *id);
            }
        }
    }
    TYPE_STREAM_LISTPACKS_2
}

fn get_int(items: &[Vec<u8>], i: usize) -> Result<i64, RdbError> {
    let s = items.get(i).ok_or(BAD)?;
    listpack::parse_canonical_i64(s).ok_or(BAD)
}

fn get_usize(items: &[Vec<u8>], i: usize) -> Result<usize, RdbError> {
    usize::try_from(get_int(items, i)?).map_err(|_| BAD)
}

/// Decodes one node's listpack into its entries, each with whether it is deleted.
/// Under `deep` (Redis's deep sanitization) the master entry's live + deleted counts must
/// be the number of entries and each entry's lp-count its own element count, as Redis
/// checks them then; without it Redis checks neither and we need neither.
fn read_node(
    master: RdbStreamId,
    lp: &[u8],
    deep: bool,
) -> Result<Vec<(RdbStreamEntry, bool)>, RdbError> {
    let items = listpack::decode_with(lp, deep).map_err(|_| LP_BAD)?;
    if items.is_empty() {
        return Err(RdbError::Corrupt("Empty listpack inside stream"));
    }
    let nfields = get_usize(&items, 2)?;
    let master_fields = items.get(3..3 + nfields).ok_or(BAD)?;
    let mut p = 3 + nfields;
    if get_int(&items, p)? != 0 {
        return Err(BAD);
    }
    p += 1;
    let mut out = Vec::new();
    while p < items.len() {
        let flags = get_int(&items, p)?;
        let ms = master.0.wrapping_add(get_int(&items, p + 1)? as u64);
        let seq = master.1.wrapping_add(get_int(&items, p + 2)? as u64);
        p += 3;
        let mut fields = Vec::new();
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in master_fields {
                fields.push((f.clone(), items.get(p).ok_or(BAD)?.clone()));
                p += 1;
            }
        } else {
            let n = get_usize(&items, p)?;
            p += 1;
            for _ in 0..n {
                let f = items.get(p).ok_or(BAD)?.clone();
                let v = items.get(p + 1).ok_or(BAD)?.clone();
                fields.push((f, v));
                p += 2;
            }
        }
        let lp_count = get_int(&items, p)?;
        let own = if flags & FLAG_SAMEFIELDS != 0 {
            fields.len() + 3
        } else {
            2 * fields.len() + 4
        };
        if deep && usize::try_from(lp_count) != Ok(own) {
            return Err(LP_BAD);
        }
        p += 1;
        out.push((((ms, seq), fields), flags & FLAG_DELETED != 0));
    }
    if deep {
        let counted = get_int(&items, 0)?.checked_add(get_int(&items, 1)?);
        if counted != i64::try_from(out.len()).ok() {
            return Err(LP_BAD);
        }
    }
    Ok(out)
}

fn read_raw_id(c: &mut Cursor<'_>) -> Result<RdbStreamId, RdbError> {
    let b: [u8; 16] = c.array()?;
    let mut ms = [0u8; 8];
    let mut seq = [0u8; 8];
    ms.copy_from_slice(&b[..8]);
    seq.copy_from_slice(&b[8..]);
    Ok((u64::from_be_bytes(ms), u64::from_be_bytes(seq)))
}

fn read_id(c: &mut Cursor<'_>) -> Result<RdbStreamId, RdbError> {
    Ok((c.len()?, c.len()?))
}

/// Reads a stream value body of type 15, 19 or 21.
pub(crate) fn read_stream(c: &mut Cursor<'_>, ty: u8) -> Result<RdbStream, RdbError> {
    let mut s = RdbStream::default();
    let nodes = c.count()?;
    for _ in 0..nodes {
        let key = c.string()?;
        if key.len() != 16 {
            return Err(RdbError::Corrupt(
                "Stream node key entry is not the size of a stream ID",
            ));
        }
        let master = read_raw_id(&mut Cursor::new(&key))?;
        let lp = c.string()?;
        let entries = read_node(master, &lp, c.deep)?;
        // A node of deleted entries only is dropped (Redis frees such a node on XDEL).
        if entries.iter().any(|(_, dead)| !dead) {
            let mut node = Vec::with_capacity(entries.len());
            for (entry, dead) in entries {
                if dead {
                    s.deleted.push(entry.0);
                }
                node.push(entry);
            }
            s.nodes.push(node);
        }
    }
    let length = c.len()?;
    if length != s.len() as u64 {
        return Err(RdbError::Corrupt(
            "stream length does not match its entries",
        ));
    }
    s.last_id = read_id(c)?;
    if ty >= TYPE_STREAM_LISTPACKS_2 {
        s.first_id = read_id(c)?;
        s.max_deleted_id = read_id(c)?;
        s.entries_added = c.len()?;
    } else {
        s.first_id = s
            .nodes
            .iter()
            .flatten()
            .map(|e| e.0)
            .find(|id| !s.deleted.contains(id))
            .unwrap_or((0, 0));
        s.entries_added = length;
    }
    let ngroups = c.count()?;
    for _ in 0..ngroups {
        let mut g = RdbStreamGroup {
            name: c.string()?,
            last_id: read_id(c)?,
            entries_read: -1,
            ..RdbStreamGroup::default()
        };
        g.entries_read = if ty >= TYPE_STREAM_LISTPACKS_2 {
            c.len()? as i64
        } else {
            estimate_entries_read(&s, g.last_id)
        };
        if s.groups.iter().any(|o| o.name == g.name) {
            return Err(RdbError::Corrupt("Duplicated consumer group name"));
        }
        let npel = c.count()?;
        let mut pel: Vec<(RdbStreamId, Option<Vec<u8>>, u64, u64)> = Vec::with_capacity(npel);
        for _ in 0..npel {
            let id = read_raw_id(c)?;
            let time = u64::from_le_bytes(c.array()?);
            let count = c.len()?;
            pel.push((id, None, time, count));
        }
        pel.sort_by_key(|p| p.0);
        if pel.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(RdbError::Corrupt(
                "Duplicated global PEL entry loading stream consumer group",
            ));
        }
        let nconsumers = c.count()?;
        for _ in 0..nconsumers {
            let name = c.string()?;
            if g.consumers.iter().any(|(n, _)| *n == name) {
                return Err(RdbError::Corrupt("Duplicate stream consumer detected."));
            }
            let seen = u64::from_le_bytes(c.array()?);
            if ty >= TYPE_STREAM_LISTPACKS_3 {
                let _active = u64::from_le_bytes(c.array()?);
            }
            let owned = c.count()?;
            for _ in 0..owned {
                let id = read_raw_id(c)?;
                let i = pel.binary_search_by_key(&id, |p| p.0).map_err(|_| {
                    RdbError::Corrupt("Consumer entry not found in group global PEL")
                })?;
                if pel[i].1.is_some() {
                    return Err(RdbError::Corrupt(
                        "Duplicated consumer PEL entry  loading a stream consumer group",
                    ));
                }
                pel[i].1 = Some(name.clone());
            }
            g.consumers.push((name, seen));
        }
        for (id, owner, time, count) in pel {
            let owner = owner.ok_or(RdbError::Corrupt("Stream CG PEL entry without consumer"))?;
            g.pel.push((id, owner, time, count));
        }
        s.groups.push(g);
    }
    Ok(s)
}

/// A group's entries-read counter where the payload has none (types before 19, written by
/// Redis 6.2 and older): what Redis 7.0 derives from the group's last ID when it loads
/// such a payload (`streamEstimateDistanceFromFirstEverEntry`): exact when the ID is the
/// first or last entry's, or comes before a stream with no deletion in it; -1 (unknown)
/// otherwise. Without it a legacy group's lag reads as unknown where Redis has a number.
fn estimate_entries_read(s: &RdbStream, id: RdbStreamId) -> i64 {
    const UNKNOWN: i64 = -1;
    let added = s.entries_added as i64;
    if added == 0 {
        return 0;
    }
    let len = s.len() as i64;
    if len == 0 && id <= s.last_id {
        return added;
    }
    match id.cmp(&s.last_id) {
        std::cmp::Ordering::Equal => return added,
        std::cmp::Ordering::Greater => return UNKNOWN,
        std::cmp::Ordering::Less => {}
    }
    if s.max_deleted_id == (0, 0) || s.max_deleted_id < s.first_id {
        match id.cmp(&s.first_id) {
            std::cmp::Ordering::Less => return added - len,
            std::cmp::Ordering::Equal => return added - len + 1,
            std::cmp::Ordering::Greater => {}
        }
    }
    UNKNOWN
}

/// Splits entries into nodes of at most 100, the layout Redis builds by default.
pub fn chunk_nodes(entries: Vec<RdbStreamEntry>) -> Vec<Vec<RdbStreamEntry>> {
    let mut nodes = Vec::new();
    let mut cur = Vec::new();
    for e in entries {
        cur.push(e);
        if cur.len() == 100 {
            nodes.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        nodes.push(cur);
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fv(pairs: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn roundtrip_with_groups() {
        let s = RdbStream {
            nodes: vec![
                vec![
                    ((5, 3), fv(&[("a", "1"), ("b", "x")])),
                    ((6, 0), fv(&[("a", "2"), ("b", "y")])),
                    ((6, 1), fv(&[("c", "3")])),
                ],
                vec![((9, 0), fv(&[("z", "")]))],
            ],
            last_id: (10, 0),
            first_id: (5, 3),
            max_deleted_id: (7, 0),
            entries_added: 6,
            groups: vec![RdbStreamGroup {
                name: b"g1".to_vec(),
                last_id: (6, 0),
                entries_read: -1,
                pel: vec![
                    ((5, 3), b"bob".to_vec(), 1000, 2),
                    ((6, 0), b"al".to_vec(), 5, 1),
                ],
                consumers: vec![(b"al".to_vec(), 7), (b"bob".to_vec(), 8)],
            }],
            deleted: vec![],
        };
        let mut out = Vec::new();
        assert_eq!(put_stream(&mut out, &s), TYPE_STREAM_LISTPACKS_2);
        let got = read_stream(&mut Cursor::new(&out), TYPE_STREAM_LISTPACKS_2).unwrap();
        assert_eq!(got, s);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let s = RdbStream {
            nodes: vec![vec![((1, 1), fv(&[("a", "1")]))]],
            last_id: (1, 1),
            first_id: (1, 1),
            entries_added: 1,
            ..RdbStream::default()
        };
        let mut out = Vec::new();
        put_stream(&mut out, &s);
        for cut in 0..out.len() {
            assert!(read_stream(&mut Cursor::new(&out[..cut]), TYPE_STREAM_LISTPACKS_2).is_err());
        }
    }
}

//! The byte size of a stream macro node as Redis encodes it: a listpack holding a master
//! entry and the entries appended to it. `stream-node-max-bytes` compares that size with
//! the limit on every XADD, so the node boundaries (observable through `XADD ~` trimming,
//! XINFO STREAM's radix-tree counts, DUMP and RDB bytes) fall where Redis's do only if the
//! size is computed the way the listpack encodes, not estimated.
//!
//! Listpack layout (Redis 7.0): a 6-byte header, the entries, one end byte. Each entry is
//! its encoding (a small integer in 1-9 bytes, or a string behind a 1, 2 or 5 byte length
//! header) followed by a back-length of 1-5 bytes that lets the listpack be walked
//! backwards. A string that is the canonical decimal form of an i64 is stored as that
//! integer.

use crate::stream::{Fields, StreamId};
use crate::value::parse_i64_strict;
use rubra_persistence::listpack_backlen_size as backlen;

/// Header (total bytes, element count) plus the end byte of an empty listpack.
const EMPTY: usize = 6 + 1;

/// Flags of an entry whose fields are the master entry's (their names are left out).
const SAMEFIELDS: i64 = 2;

/// Bytes an integer takes as a listpack entry (encoding, data and back-length).
pub(crate) fn int_size(v: i64) -> usize {
    let encoded = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8_388_608..=8_388_607 => 4,
        -2_147_483_648..=2_147_483_647 => 5,
        _ => 9,
    };
    encoded + backlen(encoded)
}

/// Bytes a string takes as a listpack entry (as an integer when it reads as one).
pub(crate) fn str_size(s: &[u8]) -> usize {
    if let Some(v) = parse_i64_strict(s) {
        return int_size(v);
    }
    let header = match s.len() {
        0..=63 => 1,
        64..=4095 => 2,
        _ => 5,
    };
    let encoded = header + s.len();
    encoded + backlen(encoded)
}

/// Bytes of a new node's listpack without its live and deleted counters (which change
/// size as they count): the empty listpack, the master entry's field count, its field
/// names and its terminating zero.
pub(crate) fn master_size(fields: &Fields) -> usize {
    EMPTY
        + int_size(fields.len() as i64)
        + fields.iter().map(|(f, _)| str_size(f)).sum::<usize>()
        + int_size(0)
}

/// Whether an entry's field names are the master entry's, in order (Redis then leaves
/// them out of the entry and flags it SAMEFIELDS).
fn same_fields(master: &Fields, fields: &Fields) -> bool {
    master.len() == fields.len() && master.iter().zip(fields).all(|(a, b)| a.0 == b.0)
}

/// Bytes one entry adds to the node whose master entry has `master`'s fields and ID
/// `master_id`: flags, the ID as deltas from the master ID, the field count and names
/// unless they are the master's, the values, and the entry's element count.
pub(crate) fn entry_size(
    master_id: StreamId,
    master: &Fields,
    id: StreamId,
    fields: &Fields,
) -> usize {
    // Deltas are unsigned differences stored as i64, as Redis's C arithmetic wraps them.
    let ms = id.ms.wrapping_sub(master_id.ms) as i64;
    let seq = id.seq.wrapping_sub(master_id.seq) as i64;
    let same = same_fields(master, fields);
    let n = fields.len() as i64;
    // Flags are 0..=3: one-byte integers whatever they hold (DELETED is set in place).
    let mut size = int_size(SAMEFIELDS) + int_size(ms) + int_size(seq);
    let mut count = n + 3;
    if !same {
        size += int_size(n) + fields.iter().map(|(f, _)| str_size(f)).sum::<usize>();
        count += n + 1;
    }
    size + fields.iter().map(|(_, v)| str_size(v)).sum::<usize>() + int_size(count)
}

/// The raw length of an entry's field names and values: what Redis adds to a node's
/// listpack size before comparing with `stream-node-max-bytes`.
pub(crate) fn raw_len(fields: &Fields) -> usize {
    fields.iter().map(|(f, v)| f.len() + v.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(f, v)| (Bytes::from(f.to_string()), Bytes::from(v.to_string())))
            .collect()
    }

    #[test]
    fn integer_and_string_sizes() {
        assert_eq!(int_size(0), 2);
        assert_eq!(int_size(127), 2);
        assert_eq!(int_size(128), 3);
        assert_eq!(int_size(-1), 3);
        assert_eq!(int_size(-4096), 3);
        assert_eq!(int_size(4096), 4);
        assert_eq!(int_size(-32768), 4);
        assert_eq!(int_size(32768), 5);
        assert_eq!(int_size(8_388_608), 6);
        assert_eq!(int_size(i64::from(i32::MAX) + 1), 10);
        assert_eq!(str_size(b"12"), 2);
        assert_eq!(str_size(b"012"), 5);
        assert_eq!(str_size(b"-0"), 4);
        assert_eq!(str_size(b"+1"), 4);
        assert_eq!(str_size(b""), 2);
        assert_eq!(str_size(&[b'a'; 63]), 65);
        assert_eq!(str_size(&[b'a'; 64]), 67);
        assert_eq!(str_size(&[b'a'; 126]), 130);
        assert_eq!(str_size(&[b'a'; 4095]), 4099);
        assert_eq!(str_size(&[b'a'; 4096]), 4103);
        assert_eq!(str_size(b"99999999999999999999"), 22);
    }

    #[test]
    fn entries_with_and_without_the_master_fields() {
        let m = fields(&[("item", "value-1")]);
        let id = StreamId::new(5, 0);
        // flags, ms 0, seq 0, value, count 4
        assert_eq!(entry_size(id, &m, id, &m), 2 + 2 + 2 + 9 + 2);
        let other = fields(&[("x", "1"), ("y", "2")]);
        let later = StreamId::new(300, 1);
        // flags, ms 295, seq 1, n 2, x, y, 1, 2, count 8
        assert_eq!(
            entry_size(id, &m, later, &other),
            2 + 3 + 2 + 2 + 3 + 3 + 2 + 2 + 2
        );
        // A sequence below the master's wraps to a negative delta.
        let back = StreamId::new(6, 0);
        assert_eq!(
            entry_size(StreamId::new(5, 3), &m, back, &m),
            2 + 2 + 3 + 9 + 2
        );
        assert_eq!(master_size(&m), 7 + 2 + 6 + 2);
        assert_eq!(raw_len(&other), 4);
    }

    /// An encoder written from the listpack format, byte by byte: the oracle the size
    /// arithmetic above is checked against.
    mod oracle {
        pub(super) fn backlen(out: &mut Vec<u8>, l: usize) {
            let mut parts = vec![(l & 0x7f) as u8];
            let mut rest = l >> 7;
            while rest > 0 {
                parts.push((rest & 0x7f) as u8 | 0x80);
                rest >>= 7;
            }
            out.extend(parts.iter().rev());
        }

        pub(super) fn int(out: &mut Vec<u8>, v: i64) {
            let start = out.len();
            if (0..128).contains(&v) {
                out.push(v as u8);
            } else if (-4096..4096).contains(&v) {
                out.extend([0xc0 | ((v >> 8) as u8 & 0x1f), v as u8]);
            } else if i16::try_from(v).is_ok() {
                out.push(0xf1);
                out.extend((v as i16).to_le_bytes());
            } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                out.push(0xf2);
                out.extend(&(v as i32).to_le_bytes()[..3]);
            } else if i32::try_from(v).is_ok() {
                out.push(0xf3);
                out.extend((v as i32).to_le_bytes());
            } else {
                out.push(0xf4);
                out.extend(v.to_le_bytes());
            }
            let l = out.len() - start;
            backlen(out, l);
        }

        pub(super) fn string(out: &mut Vec<u8>, s: &[u8]) {
            let canonical = std::str::from_utf8(s)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|v| v.to_string().as_bytes() == s);
            if let Some(v) = canonical {
                return int(out, v);
            }
            let start = out.len();
            let n = s.len();
            if n < 64 {
                out.push(0x80 | n as u8);
            } else if n < 4096 {
                out.extend([0xe0 | (n >> 8) as u8, n as u8]);
            } else {
                out.push(0xf0);
                out.extend((n as u32).to_le_bytes());
            }
            out.extend_from_slice(s);
            let l = out.len() - start;
            backlen(out, l);
        }
    }

    /// A node's whole listpack as Redis would hold it: master entry, then every entry
    /// (deleted ones flagged), each with its element count.
    fn encode_node(items: &[crate::stream::NodeItem<'_>]) -> Vec<u8> {
        let mut out = vec![0; 6];
        let (master_id, master, _) = items[0];
        let live = items.iter().filter(|e| !e.2).count() as i64;
        oracle::int(&mut out, live);
        oracle::int(&mut out, items.len() as i64 - live);
        oracle::int(&mut out, master.len() as i64);
        for (f, _) in master {
            oracle::string(&mut out, f);
        }
        oracle::int(&mut out, 0);
        for (id, fields, dead) in items {
            let same = same_fields(master, fields);
            let flags = i64::from(*dead) | if same { SAMEFIELDS } else { 0 };
            oracle::int(&mut out, flags);
            oracle::int(&mut out, id.ms.wrapping_sub(master_id.ms) as i64);
            oracle::int(&mut out, id.seq.wrapping_sub(master_id.seq) as i64);
            let mut count = 3 + fields.len() as i64;
            if !same {
                oracle::int(&mut out, fields.len() as i64);
                count += fields.len() as i64 + 1;
            }
            for (f, v) in fields.iter() {
                if !same {
                    oracle::string(&mut out, f);
                }
                oracle::string(&mut out, v);
            }
            oracle::int(&mut out, count);
        }
        out.push(0xff);
        out
    }

    fn pick(r: u64) -> Bytes {
        const POOL: &[&str] = &[
            "item",
            "f",
            "value-7",
            "0",
            "12",
            "-5",
            "127",
            "128",
            "-4097",
            "40000",
            "9000000",
            "3000000000",
            "012",
            "-0",
            "",
        ];
        match r % 20 {
            0 => Bytes::from(vec![b'x'; 60 + (r / 20 % 20) as usize]),
            1 => Bytes::from(vec![b'y'; 4090 + (r / 20 % 12) as usize]),
            n => Bytes::from_static(POOL[n as usize % POOL.len()].as_bytes()),
        }
    }

    proptest::proptest! {
        /// Appends (same or other field names, IDs with small and large gaps) and deletes
        /// under random node limits: every node's tracked size is its encoded length.
        #[test]
        fn tracked_node_sizes_are_the_encoded_listpacks(
            ops in proptest::collection::vec((0u64..u64::MAX, 0u8..4, 0u64..3), 1..120),
            max_bytes in 0usize..600,
            max_entries in 0i64..12,
        ) {
            let mut s = crate::stream::Stream::new();
            let mut id = StreamId::new(1, 0);
            for (r, nfields, gap) in ops {
                if r % 7 == 0 && !s.is_empty() {
                    let victim = s.iter().nth((r / 7) as usize % s.len()).map(|(k, _)| *k);
                    if let Some(v) = victim {
                        s.delete(v);
                    }
                    continue;
                }
                id = match gap {
                    0 => StreamId::new(id.ms, id.seq + 1),
                    1 => StreamId::new(id.ms + 1 + r % 300, r % 5),
                    _ => StreamId::new(id.ms + (r % 100_000_000), 0),
                };
                let fields: Fields = (0..=u64::from(nfields))
                    .map(|k| (pick(if nfields == 0 { 0 } else { r >> k }), pick(r >> (k + 7))))
                    .collect();
                s.append_within(id, fields, max_entries, max_bytes);
            }
            let spans = s.node_spans_with_deleted();
            let sizes = s.node_sizes();
            proptest::prop_assert_eq!(spans.len(), sizes.len());
            for ((m, items), (m2, size)) in spans.iter().zip(&sizes) {
                proptest::prop_assert_eq!(m, m2);
                proptest::prop_assert_eq!(encode_node(items).len(), *size);
            }
        }
    }
}

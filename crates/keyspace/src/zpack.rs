//! The sorted set type: member/score pairs packed in (score, member) order while the set
//! is within `zset-max-listpack-entries/value` (Redis's listpack encoding), the hash map +
//! treap of `zset.rs` past it (Redis's skiplist). Conversion is one-way, as in Redis.
//!
//! In the pack a score takes 1 byte for 0, 2-8 for an integer below 2^53, 5 for a value
//! exact in f32 (1.5, 0.25) and 9 otherwise; every operation is a linear walk, which is
//! what keeps small sets small (Redis's listpack works the same way).

use crate::limits::Limits;
use crate::pack::{entry_size, read_entry, Pack, MAX_PACK_BYTES};
use crate::zset::{TreeIter, ZTree};
use bytes::Bytes;
use std::cmp::Ordering;

/// A sorted set value in its current encoding.
#[derive(Clone)]
pub struct ZSet(Repr);

#[derive(Clone)]
enum Repr {
    /// Alternating member and score entries, in (score, member) order.
    Pack(Pack),
    Tree(Box<ZTree>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet(Repr::Pack(Pack::new()))
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s)))
            .finish()
    }
}

/// Encodes a score into `out`; returns the bytes used (see the module doc).
fn enc_score(s: f64, out: &mut [u8; 8]) -> usize {
    if s == 0.0 {
        return 0;
    }
    if s.fract() == 0.0 && s.abs() < (1u64 << 53) as f64 {
        let i = s as i64;
        let z = ((i << 1) ^ (i >> 63)) as u64;
        let mut n = (8 - z.leading_zeros() as usize / 8).max(1);
        if n == 4 {
            n = 5; // 4 bytes means f32
        }
        out[..n].copy_from_slice(&z.to_le_bytes()[..n]);
        return n;
    }
    let f = s as f32;
    if f as f64 == s {
        out[..4].copy_from_slice(&f.to_le_bytes());
        return 4;
    }
    out.copy_from_slice(&s.to_le_bytes());
    8
}

/// Decodes a score written by `enc_score`.
fn dec_score(b: &[u8]) -> f64 {
    match b.len() {
        0 => 0.0,
        4 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            f64::from_le_bytes(a)
        }
        n => {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(b);
            let z = u64::from_le_bytes(a);
            (((z >> 1) as i64) ^ -((z & 1) as i64)) as f64
        }
    }
}

fn key_cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// One packed pair: where it starts and ends, its member and score.
struct Slot<'a> {
    start: usize,
    end: usize,
    member: &'a [u8],
    score: f64,
}

/// The pairs of a pack, in order.
fn slots(p: &Pack) -> impl Iterator<Item = Slot<'_>> {
    let data = p.data();
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= data.len() {
            return None;
        }
        let start = off;
        let (member, soff) = read_entry(data, off);
        let (score, end) = read_entry(data, soff);
        off = end;
        Some(Slot {
            start,
            end,
            member,
            score: dec_score(score),
        })
    })
}

impl ZSet {
    /// An empty sorted set (packed).
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// Number of members (ZCARD).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Pack(p) => p.count() / 2,
            Repr::Tree(t) => t.len(),
        }
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the value is in its compact (listpack) encoding: OBJECT ENCODING reports
    /// it, and ZSCAN then answers in one call as Redis does.
    pub fn is_compact(&self) -> bool {
        matches!(self.0, Repr::Pack(_))
    }

    /// Converts to the full form (Redis's zsetConvert to skiplist; SORT does it).
    pub fn convert_to_full(&mut self) {
        if let Repr::Pack(p) = &self.0 {
            let mut t = ZTree::new();
            for s in slots(p) {
                t.insert(Bytes::copy_from_slice(s.member), s.score);
            }
            self.0 = Repr::Tree(Box::new(t));
        }
    }

    /// Members with scores in ascending (score, member) order.
    pub fn iter(&self) -> ZIter<'_> {
        self.iter_from(0)
    }

    /// Ascending walk starting at rank `rank` (past the end: empty).
    pub fn iter_from(&self, rank: usize) -> ZIter<'_> {
        match &self.0 {
            Repr::Pack(p) => {
                let off = if rank >= p.count() / 2 {
                    p.byte_len()
                } else {
                    p.offset_of(rank * 2)
                };
                ZIter(Walk::Pack(p.data(), off))
            }
            Repr::Tree(t) => ZIter(Walk::Tree(t.iter_from(rank))),
        }
    }

    /// Descending walk starting at rank `rank` (counted from the lowest), toward rank 0.
    pub fn iter_rev_from(&self, rank: usize) -> ZIter<'_> {
        match &self.0 {
            Repr::Pack(p) => {
                let mut all: Vec<(&[u8], f64)> = slots(p)
                    .take(rank.saturating_add(1))
                    .map(|s| (s.member, s.score))
                    .collect();
                if rank >= p.count() / 2 {
                    all.clear();
                }
                all.reverse();
                ZIter(Walk::Rev(all.into_iter()))
            }
            Repr::Tree(t) => ZIter(Walk::Tree(t.iter_rev_from(rank))),
        }
    }

    /// Sets `member`'s score; returns the previous score if it was present. `score` must not
    /// be NaN (callers reject NaN with Redis's error before getting here).
    /// A score of -0 is stored as 0 in the compact form, as Redis's listpack does, and as
    /// -0 in the full one, as its skiplist does. A new member longer
    /// than `zset-max-listpack-value`, or one past `zset-max-listpack-entries`, converts the
    /// set to the full form first (Redis's zsetAdd).
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let Repr::Pack(p) = &mut self.0 {
            // Only the compact form loses the sign of -0 (the full form keeps it).
            let score = score + 0.0;
            let found = slots(p)
                .find(|s| s.member == &member[..])
                .map(|s| (s.start, s.end, s.score));
            match found {
                Some((start, end, old)) => {
                    if old != score {
                        p.remove_range(start, end, 2);
                        pack_insert(p, &member, score);
                    }
                    return Some(old);
                }
                None => {
                    let limits = Limits::current();
                    if p.count() / 2 + 1 > limits.zset_max_entries
                        || member.len() > limits.zset_max_value
                        || p.byte_len() + entry_size(member.len()) + 9 > MAX_PACK_BYTES
                    {
                        self.convert_to_full();
                    } else {
                        pack_insert(p, &member, score);
                        return None;
                    }
                }
            }
        }
        match &mut self.0 {
            Repr::Tree(t) => t.insert(member, score),
            Repr::Pack(_) => None,
        }
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Pack(p) => {
                let (start, end, score) = slots(p)
                    .find(|s| s.member == member)
                    .map(|s| (s.start, s.end, s.score))?;
                p.remove_range(start, end, 2);
                Some(score)
            }
            Repr::Tree(t) => t.remove(member),
        }
    }

    /// `member`'s score (ZSCORE).
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Pack(p) => slots(p).find(|s| s.member == member).map(|s| s.score),
            Repr::Tree(t) => t.score(member),
        }
    }

    /// 0-based ascending rank of `member` (ZRANK).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Pack(p) => slots(p).position(|s| s.member == member),
            Repr::Tree(t) => t.rank(member),
        }
    }

    /// 0-based descending rank of `member` (ZREVRANK).
    pub fn rev_rank(&self, member: &[u8]) -> Option<usize> {
        self.rank(member).map(|r| self.len() - 1 - r)
    }

    /// The member at ascending rank `rank`.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Pack(p) => slots(p).nth(rank).map(|s| (s.member, s.score)),
            Repr::Tree(t) => t.get_by_rank(rank).map(|(m, s)| (&m[..], s)),
        }
    }

    /// Number of members with score < `score`, or <= `score` when `inclusive`: the first
    /// rank with score >= x (resp. > x), the bound of score ranges.
    pub fn score_rank(&self, score: f64, inclusive: bool) -> usize {
        match &self.0 {
            Repr::Pack(p) => slots(p)
                .take_while(|s| {
                    if inclusive {
                        s.score <= score
                    } else {
                        s.score < score
                    }
                })
                .count(),
            Repr::Tree(t) => t.score_rank(score, inclusive),
        }
    }

    /// Number of members ordered below `member` (or up to and including it when
    /// `inclusive`) by member bytes alone: the bound of lex ranges, meaningful (as in Redis)
    /// when all scores are equal.
    pub fn lex_rank(&self, member: &[u8], inclusive: bool) -> usize {
        match &self.0 {
            Repr::Pack(p) => slots(p)
                .take_while(|s| {
                    if inclusive {
                        s.member <= member
                    } else {
                        s.member < member
                    }
                })
                .count(),
            Repr::Tree(t) => t.lex_rank(member, inclusive),
        }
    }

    /// Removes and returns the lowest member (ZPOPMIN).
    pub fn pop_min(&mut self) -> Option<(Bytes, f64)> {
        let (m, s) = self
            .get_by_rank(0)
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))?;
        self.remove(&m);
        Some((m, s))
    }

    /// Removes and returns the highest member (ZPOPMAX).
    pub fn pop_max(&mut self) -> Option<(Bytes, f64)> {
        let last = self.len().checked_sub(1)?;
        let (m, s) = self
            .get_by_rank(last)
            .map(|(m, s)| (Bytes::copy_from_slice(m), s))?;
        self.remove(&m);
        Some((m, s))
    }

    /// The member at storage position `pos` (not its rank, except in a pack): O(1) access
    /// for ZRANDMEMBER and the positional ZSCAN cursor of the full form.
    pub fn get_by_position(&self, pos: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Pack(_) => self.get_by_rank(pos),
            Repr::Tree(t) => t.get_by_position(pos).map(|(m, s)| (&m[..], s)),
        }
    }
}

/// Inserts a new pair at its place in (score, member) order.
fn pack_insert(p: &mut Pack, member: &[u8], score: f64) {
    let at = slots(p)
        .find(|s| key_cmp(score, member, s.score, s.member) == Ordering::Less)
        .map_or(p.byte_len(), |s| s.start);
    let mut buf = [0u8; 8];
    let n = enc_score(score, &mut buf);
    p.insert_pair(at, member, &buf[..n]);
}

/// A walk over a sorted set's (member, score) pairs.
pub struct ZIter<'a>(Walk<'a>);

enum Walk<'a> {
    /// Forward over packed bytes, at an offset.
    Pack(&'a [u8], usize),
    /// Backward over a pack (collected: a pack is only walked forward).
    Rev(std::vec::IntoIter<(&'a [u8], f64)>),
    /// Over the full form.
    Tree(TreeIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Walk::Pack(data, off) => {
                if *off >= data.len() {
                    return None;
                }
                let (m, soff) = read_entry(data, *off);
                let (s, end) = read_entry(data, soff);
                *off = end;
                Some((m, dec_score(s)))
            }
            Walk::Rev(it) => it.next(),
            Walk::Tree(it) => it.next().map(|(m, s)| (&m[..], s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_codec_round_trips() {
        for s in [
            0.0,
            1.0,
            -1.0,
            1.5,
            -2.25,
            1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.1,
            (1u64 << 53) as f64 - 1.0,
            -((1u64 << 53) as f64) + 1.0,
            (1u64 << 53) as f64,
            8388608.0,
            2147483648.0,
            f64::MIN_POSITIVE,
        ] {
            let mut b = [0u8; 8];
            let n = enc_score(s, &mut b);
            assert_eq!(dec_score(&b[..n]).to_bits(), s.to_bits(), "{s}");
        }
        let mut b = [0u8; 8];
        assert_eq!(enc_score(3.0, &mut b), 1);
        assert_eq!(enc_score(1.5, &mut b), 4);
    }
}

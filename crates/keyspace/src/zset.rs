//! The full form of Redis's zset type (what Redis calls skiplist): a member -> score hash
//! map plus an order-statistic treap keyed by (score, member). Small sets live packed
//! instead (see `zpack.rs`).
//!
//! WHY this shape: ZSCORE/ZADD need O(1) lookup by member; ZRANK, ZRANGE by rank, by score
//! and by lex need O(log n) rank and select. A treap whose nodes carry subtree sizes gives
//! rank/select/insert/remove in expected O(log n) with short, easily checked code. Nodes live
//! in an arena `Vec` (u32 links, a free list) so there is one allocation per growth step
//! instead of one per member. The member map is an `IndexMap` so positions are stable under
//! `swap_remove`, which the positional ZSCAN cursor and O(1) ZRANDMEMBER rely on (the same
//! scheme hashes and sets use).
//!
//! Order is Redis's: by score, then by member bytes. Scores are never NaN (callers reject
//! NaN results before inserting), so comparing scores is total.

use ahash::RandomState;
use bytes::Bytes;
use indexmap::IndexMap;
use std::cmp::Ordering;

/// The "no node" link.
const NIL: u32 = u32::MAX;

#[derive(Clone)]
struct Node {
    member: Bytes,
    score: f64,
    prio: u32,
    size: u32,
    left: u32,
    right: u32,
}

/// Compares two (score, member) keys in sorted-set order.
fn key_cmp(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .unwrap_or(Ordering::Equal)
        .then_with(|| m1.cmp(m2))
}

/// The order-statistic treap over (score, member).
#[derive(Clone)]
struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    rng: u64,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

impl Tree {
    fn node(&self, t: u32) -> &Node {
        &self.nodes[t as usize]
    }

    fn node_mut(&mut self, t: u32) -> &mut Node {
        &mut self.nodes[t as usize]
    }

    fn size(&self, t: u32) -> usize {
        if t == NIL {
            0
        } else {
            self.node(t).size as usize
        }
    }

    fn pull(&mut self, t: u32) {
        let n = self.node(t);
        let s = 1 + self.size(n.left) + self.size(n.right);
        self.node_mut(t).size = s as u32;
    }

    fn next_prio(&mut self) -> u32 {
        // xorshift64*: priorities only need to be well spread, not secret.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn alloc(&mut self, member: Bytes, score: f64) -> u32 {
        let node = Node {
            member,
            score,
            prio: self.next_prio(),
            size: 1,
            left: NIL,
            right: NIL,
        };
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, t: u32) {
        let n = self.node_mut(t);
        n.member = Bytes::new();
        n.left = NIL;
        n.right = NIL;
        self.free.push(t);
    }

    /// Splits `t` into (keys < (score, member), keys >= (score, member)).
    fn split(&mut self, t: u32, score: f64, member: &[u8]) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let n = self.node(t);
        if key_cmp(n.score, &n.member, score, member) == Ordering::Less {
            let (a, b) = self.split(n.right, score, member);
            self.node_mut(t).right = a;
            self.pull(t);
            (t, b)
        } else {
            let (a, b) = self.split(n.left, score, member);
            self.node_mut(t).left = b;
            self.pull(t);
            (a, t)
        }
    }

    /// Joins two treaps where every key of `a` is below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).prio > self.node(b).prio {
            let r = self.merge(self.node(a).right, b);
            self.node_mut(a).right = r;
            self.pull(a);
            a
        } else {
            let l = self.merge(a, self.node(b).left);
            self.node_mut(b).left = l;
            self.pull(b);
            b
        }
    }

    fn insert_at(&mut self, t: u32, x: u32) -> u32 {
        if t == NIL {
            return x;
        }
        let (xs, xm, xp) = {
            let n = self.node(x);
            (n.score, n.member.clone(), n.prio)
        };
        if xp > self.node(t).prio {
            let (l, r) = self.split(t, xs, &xm);
            let n = self.node_mut(x);
            n.left = l;
            n.right = r;
            self.pull(x);
            return x;
        }
        let n = self.node(t);
        if key_cmp(xs, &xm, n.score, &n.member) == Ordering::Less {
            let l = self.insert_at(n.left, x);
            self.node_mut(t).left = l;
        } else {
            let r = self.insert_at(n.right, x);
            self.node_mut(t).right = r;
        }
        self.pull(t);
        t
    }

    fn insert(&mut self, member: Bytes, score: f64) {
        let x = self.alloc(member, score);
        self.root = self.insert_at(self.root, x);
    }

    fn remove_at(&mut self, t: u32, score: f64, member: &[u8]) -> u32 {
        if t == NIL {
            return NIL;
        }
        let n = self.node(t);
        match key_cmp(score, member, n.score, &n.member) {
            Ordering::Equal => {
                let m = self.merge(n.left, n.right);
                self.release(t);
                m
            }
            Ordering::Less => {
                let l = self.remove_at(n.left, score, member);
                self.node_mut(t).left = l;
                self.pull(t);
                t
            }
            Ordering::Greater => {
                let r = self.remove_at(n.right, score, member);
                self.node_mut(t).right = r;
                self.pull(t);
                t
            }
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) {
        self.root = self.remove_at(self.root, score, member);
        if self.root == NIL {
            self.nodes.clear();
            self.free.clear();
        }
    }

    /// 0-based rank of an existing key.
    fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut t = self.root;
        let mut r = 0;
        while t != NIL {
            let n = self.node(t);
            match key_cmp(score, member, n.score, &n.member) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return Some(r + self.size(n.left)),
                Ordering::Greater => {
                    r += self.size(n.left) + 1;
                    t = n.right;
                }
            }
        }
        None
    }

    /// Number of nodes for which `below` holds; `below` must be monotone in key order
    /// (true for a prefix of the order, false after).
    fn count_prefix(&self, below: impl Fn(&Node) -> bool) -> usize {
        let mut t = self.root;
        let mut r = 0;
        while t != NIL {
            let n = self.node(t);
            if below(n) {
                r += self.size(n.left) + 1;
                t = n.right;
            } else {
                t = n.left;
            }
        }
        r
    }

    fn select(&self, mut k: usize) -> Option<u32> {
        let mut t = self.root;
        while t != NIL {
            let n = self.node(t);
            let ls = self.size(n.left);
            match k.cmp(&ls) {
                Ordering::Less => t = n.left,
                Ordering::Equal => return Some(t),
                Ordering::Greater => {
                    k -= ls + 1;
                    t = n.right;
                }
            }
        }
        None
    }

    /// The stack of an in-order walk positioned at rank `k` (ascending or descending).
    fn stack_at(&self, mut k: usize, rev: bool) -> Vec<u32> {
        let mut stack = Vec::new();
        let mut t = self.root;
        while t != NIL {
            let n = self.node(t);
            let ls = self.size(n.left);
            match k.cmp(&ls) {
                Ordering::Less => {
                    if !rev {
                        stack.push(t);
                    }
                    t = n.left;
                }
                Ordering::Equal => {
                    stack.push(t);
                    break;
                }
                Ordering::Greater => {
                    if rev {
                        stack.push(t);
                    }
                    k -= ls + 1;
                    t = n.right;
                }
            }
        }
        stack
    }
}

/// The full form of a sorted set (Redis's skiplist encoding): members with f64 scores,
/// ordered by (score, member).
#[derive(Clone, Default)]
pub(crate) struct ZTree {
    dict: IndexMap<Bytes, f64, RandomState>,
    tree: Tree,
}

impl std::fmt::Debug for ZTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// An in-order walk over a range of ranks, ascending or descending.
pub(crate) struct TreeIter<'a> {
    tree: &'a Tree,
    stack: Vec<u32>,
    rev: bool,
}

impl<'a> Iterator for TreeIter<'a> {
    type Item = (&'a Bytes, f64);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.stack.pop()?;
        let tree = self.tree;
        let n = tree.node(t);
        let mut c = if self.rev { n.left } else { n.right };
        while c != NIL {
            self.stack.push(c);
            let cn = tree.node(c);
            c = if self.rev { cn.right } else { cn.left };
        }
        Some((&n.member, n.score))
    }
}

impl ZTree {
    /// An empty sorted set.
    pub(crate) fn new() -> ZTree {
        ZTree::default()
    }

    /// Number of members (ZCARD).
    pub(crate) fn len(&self) -> usize {
        self.dict.len()
    }

    /// Whether there are no members (emptied keys are deleted).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Members with scores in ascending (score, member) order, for AOF rewrite, snapshots
    /// and whole-set reads.
    pub(crate) fn iter(&self) -> TreeIter<'_> {
        self.iter_from(0)
    }

    /// Ascending walk starting at rank `rank` (past the end: empty).
    pub(crate) fn iter_from(&self, rank: usize) -> TreeIter<'_> {
        TreeIter {
            tree: &self.tree,
            stack: self.tree.stack_at(rank, false),
            rev: false,
        }
    }

    /// Descending walk starting at rank `rank` (counted from the lowest), toward rank 0.
    pub(crate) fn iter_rev_from(&self, rank: usize) -> TreeIter<'_> {
        TreeIter {
            tree: &self.tree,
            stack: self.tree.stack_at(rank, true),
            rev: true,
        }
    }

    /// Sets `member`'s score; returns the previous score if it was present. `score` must not
    /// be NaN (callers reject NaN with Redis's error before getting here).
    /// A new member's score of -0 stays -0, as in Redis's skiplist (ZSCORE then says
    /// "-0"); an existing member's 0 is not changed by -0 (equal scores).
    pub(crate) fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        match self.dict.get_mut(&member) {
            Some(cur) => {
                let old = *cur;
                if old != score {
                    *cur = score;
                    self.tree.remove(old, &member);
                    self.tree.insert(crate::own(member), score);
                }
                Some(old)
            }
            None => {
                let member = crate::own(member);
                self.dict.insert(member.clone(), score);
                self.tree.insert(member, score);
                None
            }
        }
    }

    /// Removes `member`; returns its score if it was present.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.dict.swap_remove(member)?;
        self.tree.remove(score, member);
        Some(score)
    }

    /// `member`'s score (ZSCORE).
    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.get(member).copied()
    }

    /// 0-based ascending rank of `member` (ZRANK).
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        self.tree.rank(score, member)
    }

    /// 0-based descending rank of `member` (ZREVRANK).
    #[cfg(test)]
    pub(crate) fn rev_rank(&self, member: &[u8]) -> Option<usize> {
        self.rank(member).map(|r| self.len() - 1 - r)
    }

    /// The member at ascending rank `rank`.
    pub(crate) fn get_by_rank(&self, rank: usize) -> Option<(&Bytes, f64)> {
        self.tree.select(rank).map(|t| {
            let n = self.tree.node(t);
            (&n.member, n.score)
        })
    }

    /// Number of members with score < `score`, or <= `score` when `inclusive`: the first
    /// rank with score >= x (resp. > x), the bound of score ranges.
    pub(crate) fn score_rank(&self, score: f64, inclusive: bool) -> usize {
        if inclusive {
            self.tree.count_prefix(|n| n.score <= score)
        } else {
            self.tree.count_prefix(|n| n.score < score)
        }
    }

    /// Number of members ordered below `member` (or up to and including it when
    /// `inclusive`) by member bytes alone: the bound of lex ranges, meaningful (as in Redis)
    /// when all scores are equal.
    pub(crate) fn lex_rank(&self, member: &[u8], inclusive: bool) -> usize {
        if inclusive {
            self.tree.count_prefix(|n| n.member.as_ref() <= member)
        } else {
            self.tree.count_prefix(|n| n.member.as_ref() < member)
        }
    }

    /// Removes and returns the lowest member (ZPOPMIN).
    #[cfg(test)]
    pub(crate) fn pop_min(&mut self) -> Option<(Bytes, f64)> {
        let (m, s) = self.get_by_rank(0).map(|(m, s)| (m.clone(), s))?;
        self.remove(&m);
        Some((m, s))
    }

    /// Removes and returns the highest member (ZPOPMAX).
    #[cfg(test)]
    pub(crate) fn pop_max(&mut self) -> Option<(Bytes, f64)> {
        let last = self.len().checked_sub(1)?;
        let (m, s) = self.get_by_rank(last).map(|(m, s)| (m.clone(), s))?;
        self.remove(&m);
        Some((m, s))
    }

    /// The member at hash position `pos` (not its rank): O(1) access for ZRANDMEMBER and
    /// the positional ZSCAN cursor. Positions only move by `swap_remove` of the last one.
    pub(crate) fn get_by_position(&self, pos: usize) -> Option<(&Bytes, f64)> {
        self.dict.get_index(pos).map(|(m, s)| (m, *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_order_and_ranks() {
        let mut z = ZTree::new();
        assert_eq!(z.insert(Bytes::from("b"), 2.0), None);
        assert_eq!(z.insert(Bytes::from("a"), 2.0), None);
        assert_eq!(z.insert(Bytes::from("c"), 1.0), None);
        let order: Vec<_> = z.iter().map(|(m, s)| (m.clone(), s)).collect();
        assert_eq!(
            order,
            vec![
                (Bytes::from("c"), 1.0),
                (Bytes::from("a"), 2.0),
                (Bytes::from("b"), 2.0)
            ]
        );
        assert_eq!(z.rank(b"b"), Some(2));
        assert_eq!(z.rev_rank(b"b"), Some(0));
        assert_eq!(z.insert(Bytes::from("b"), 0.0), Some(2.0));
        assert_eq!(z.rank(b"b"), Some(0));
        assert_eq!(z.score_rank(1.0, false), 1);
        assert_eq!(z.score_rank(1.0, true), 2);
        let rev: Vec<_> = z.iter_rev_from(2).map(|(m, _)| m.clone()).collect();
        assert_eq!(rev, vec!["a", "c", "b"]);
        assert_eq!(z.pop_max().map(|(m, _)| m), Some(Bytes::from("a")));
        assert_eq!(z.pop_min().map(|(m, _)| m), Some(Bytes::from("b")));
        assert_eq!(z.remove(b"c"), Some(1.0));
        assert!(z.is_empty());
        assert_eq!(z.iter().count(), 0);
    }
}

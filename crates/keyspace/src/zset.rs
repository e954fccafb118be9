//! Placeholder; replaced by the order-statistic sorted set.
use bytes::Bytes;

/// Sorted set (placeholder until the real structure lands).
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    items: Vec<(Bytes, f64)>,
}

impl ZSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Members with scores in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, f64)> {
        self.items.iter().map(|(m, s)| (m, *s))
    }
    /// Adds or updates a member; returns its previous score.
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        if let Some(i) = self.items.iter().position(|(m, _)| *m == member) {
            let (_, old) = self.items.remove(i);
            self.insert(member, score);
            return Some(old);
        }
        let at = self
            .items
            .partition_point(|(m, s)| (*s, m.as_ref()) < (score, member.as_ref()));
        self.items.insert(at, (member, score));
        None
    }
    /// Length of the longest member.
    pub fn max_member_len(&self) -> usize {
        self.items.iter().map(|(m, _)| m.len()).max().unwrap_or(0)
    }
}

//! The 16384-slot ownership table, with a per-owner summary kept up to date on every
//! change. The questions asked on every bus message — our slots for the header, whether
//! a sender's claim differs from what we know, which primaries own slots, whether every
//! slot is covered — then cost O(owners) instead of a scan of 16384 entries each (that
//! scan was most of a node's CPU during `redis-cli --cluster reshard`).

use std::ops::Deref;

use crate::wire::{NodeId, SlotBitmap};
use crate::SLOT_COUNT;

/// Who owns each slot. Reads go through `Deref` to the slice (`table[slot]`, `iter()`);
/// writes only through the methods below, which keep the summary right.
#[derive(Clone)]
pub struct SlotTable {
    owner: Vec<Option<NodeId>>,
    /// One entry per node owning at least one slot, in the order they first got one.
    by_owner: Vec<OwnerSlots>,
    unassigned: usize,
}

#[derive(Clone)]
struct OwnerSlots {
    id: NodeId,
    slots: SlotBitmap,
    count: usize,
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            owner: vec![None; SLOT_COUNT],
            by_owner: Vec::new(),
            unassigned: SLOT_COUNT,
        }
    }
}

impl SlotTable {
    /// Gives `slot` to `owner` (`None` = unassigned). Out-of-range slots are ignored.
    pub fn set(&mut self, slot: usize, owner: Option<NodeId>) {
        let Some(cur) = self.owner.get(slot).copied() else {
            return;
        };
        if cur == owner {
            return;
        }
        match cur {
            Some(old) => {
                if let Some(i) = self.by_owner.iter().position(|o| o.id == old) {
                    let o = &mut self.by_owner[i];
                    o.slots.clear(slot);
                    o.count -= 1;
                    if o.count == 0 {
                        self.by_owner.remove(i);
                    }
                }
            }
            None => self.unassigned -= 1,
        }
        match owner {
            Some(new) => {
                let i = match self.by_owner.iter().position(|o| o.id == new) {
                    Some(i) => i,
                    None => {
                        self.by_owner.push(OwnerSlots {
                            id: new,
                            slots: SlotBitmap::default(),
                            count: 0,
                        });
                        self.by_owner.len() - 1
                    }
                };
                let o = &mut self.by_owner[i];
                o.slots.set(slot);
                o.count += 1;
            }
            None => self.unassigned += 1,
        }
        self.owner[slot] = owner;
    }

    /// Unassigns every slot of `id`, returning them (ascending).
    pub fn clear_owner(&mut self, id: &NodeId) -> Vec<u16> {
        let slots: Vec<u16> = self.slots_of(id).iter().map(|s| s as u16).collect();
        for &s in &slots {
            self.set(s as usize, None);
        }
        slots
    }

    /// Gives every slot of `from` to `to` (a replica taking over its primary's slots).
    pub fn reassign(&mut self, from: &NodeId, to: NodeId) {
        for s in self.slots_of(from).iter() {
            self.set(s, Some(to));
        }
    }

    /// Unassigns everything (CLUSTER RESET).
    pub fn clear_all(&mut self) {
        *self = SlotTable::default();
    }

    /// The slots `id` owns.
    pub fn slots_of(&self, id: &NodeId) -> SlotBitmap {
        self.entry(id).map(|o| o.slots.clone()).unwrap_or_default()
    }

    /// The slots `id` owns as inclusive ranges, ascending.
    pub fn ranges_of(&self, id: &NodeId) -> Vec<(u16, u16)> {
        self.entry(id).map(|o| o.slots.ranges()).unwrap_or_default()
    }

    /// How many slots `id` owns.
    pub fn count_of(&self, id: &NodeId) -> usize {
        self.entry(id).map_or(0, |o| o.count)
    }

    fn entry(&self, id: &NodeId) -> Option<&OwnerSlots> {
        self.by_owner.iter().find(|o| o.id == *id)
    }

    /// Every node owning at least one slot (whatever its role in the node table).
    pub fn owners(&self) -> impl Iterator<Item = &NodeId> + '_ {
        self.by_owner.iter().map(|o| &o.id)
    }

    /// Number of slots nobody owns.
    pub fn unassigned(&self) -> usize {
        self.unassigned
    }
}

impl From<Vec<Option<NodeId>>> for SlotTable {
    fn from(owners: Vec<Option<NodeId>>) -> Self {
        let mut t = SlotTable::default();
        for (slot, owner) in owners.into_iter().enumerate().take(SLOT_COUNT) {
            t.set(slot, owner);
        }
        t
    }
}

impl Deref for SlotTable {
    type Target = [Option<NodeId>];
    fn deref(&self) -> &[Option<NodeId>] {
        &self.owner
    }
}

impl PartialEq for SlotTable {
    fn eq(&self, other: &Self) -> bool {
        self.owner == other.owner
    }
}

impl Eq for SlotTable {}

impl std::fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for o in &self.by_owner {
            m.entry(&o.id, &o.count);
        }
        m.entry(&"unassigned", &self.unassigned).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u8) -> NodeId {
        NodeId([c; 40])
    }

    /// The summary must always equal what a full scan of the table says.
    fn assert_consistent(t: &SlotTable) {
        let unassigned = t.iter().filter(|o| o.is_none()).count();
        assert_eq!(t.unassigned(), unassigned);
        for o in t.owners() {
            let scanned: Vec<usize> = (0..SLOT_COUNT).filter(|&s| t[s] == Some(*o)).collect();
            assert_eq!(t.slots_of(o).iter().collect::<Vec<_>>(), scanned);
            assert_eq!(t.count_of(o), scanned.len());
            let from_ranges: Vec<usize> = t
                .ranges_of(o)
                .iter()
                .flat_map(|&(a, b)| a as usize..=b as usize)
                .collect();
            assert_eq!(from_ranges, scanned);
            let r = t.ranges_of(o);
            assert!(r.windows(2).all(|w| w[0].1 + 1 < w[1].0), "unmerged: {r:?}");
            assert!(!scanned.is_empty());
        }
        let owned = SLOT_COUNT - unassigned;
        assert_eq!(t.owners().map(|o| t.count_of(o)).sum::<usize>(), owned);
    }

    #[test]
    fn summary_follows_every_kind_of_change() {
        let mut t = SlotTable::default();
        assert_consistent(&t);
        for s in 0..100 {
            t.set(s, Some(id(b'a')));
        }
        t.set(50, Some(id(b'b')));
        t.set(50, Some(id(b'b')));
        t.set(99, None);
        t.set(SLOT_COUNT, Some(id(b'c')));
        assert_consistent(&t);
        assert_eq!(t.count_of(&id(b'a')), 98);
        assert_eq!(t.count_of(&id(b'c')), 0);
        t.reassign(&id(b'a'), id(b'c'));
        assert_consistent(&t);
        assert_eq!(t.owners().count(), 2);
        assert_eq!(t.clear_owner(&id(b'b')), vec![50]);
        assert_consistent(&t);
        assert_eq!(t.owners().collect::<Vec<_>>(), vec![&id(b'c')]);
        let copy = SlotTable::from(t.to_vec());
        assert_eq!(copy, t);
        assert_consistent(&copy);
        t.clear_all();
        assert_consistent(&t);
        assert_eq!(t.unassigned(), SLOT_COUNT);
    }

    #[test]
    fn random_changes_keep_the_summary_exact() {
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(7);
        let mut t = SlotTable::default();
        for round in 0..2000 {
            let slot = rng.gen_range(0..SLOT_COUNT);
            let owner = match rng.gen_range(0..5u8) {
                0 => None,
                c => Some(id(b'a' + c)),
            };
            t.set(slot, owner);
            if round % 500 == 0 {
                t.reassign(&id(b'b'), id(b'c'));
            }
        }
        assert_consistent(&t);
    }
}

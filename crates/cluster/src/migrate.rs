//! The two ownership steps of an atomic slot migration (CLUSTER MIGRATESLOTS), as Valkey 9
//! does them: the target claims the slots under a config epoch bumped without consensus
//! (so its claim beats the source's everywhere; PONG/UPDATE spread it), and the source,
//! told the claim succeeded, records the target as the owner at once instead of waiting
//! for gossip. Moving the data is the server's job; these only change the slot table.

use crate::admin::ClusterError;
use crate::node::{Node, Output};
use crate::wire::NodeId;
use crate::SLOT_COUNT;

fn err<T>(s: impl Into<String>) -> Result<T, ClusterError> {
    Err(ClusterError(s.into()))
}

impl Node {
    /// Target side, at the end of an import: takes `slots` (all owned by another node
    /// until now) under a fresh config epoch, and tells every node at once.
    pub fn claim_imported_slots(&mut self, slots: &[u16]) -> Result<Vec<Output>, ClusterError> {
        if !self.st.me().is_primary() {
            return err("ERR Only a primary can import slots");
        }
        if let Some(&s) = slots.iter().find(|&&s| s as usize >= SLOT_COUNT) {
            return err(format!("ERR Invalid slot {s}"));
        }
        self.bump_epoch_without_consensus();
        let me = self.st.myself;
        for &s in slots {
            self.st.slots.set(s as usize, Some(me));
            self.st.importing.remove(&s);
            self.st.migrating.remove(&s);
        }
        self.save();
        let mut out = Vec::new();
        self.broadcast_pong(&mut out, false);
        self.update_state(&mut out);
        self.flush(&mut out);
        Ok(out)
    }

    /// Source side, after the target confirmed its claim: `slots` now belong to `to`.
    /// Like SETSLOT NODE, a primary left without slots follows the new owner when
    /// replica migration is allowed.
    pub fn hand_over_slots(&mut self, slots: &[u16], to: NodeId) -> Vec<Output> {
        let me = self.st.myself;
        let mut out = Vec::new();
        for &s in slots {
            if (s as usize) < SLOT_COUNT && self.st.slots[s as usize] == Some(me) {
                self.st.slots.set(s as usize, Some(to));
                self.st.migrating.remove(&s);
            }
        }
        if self.st.slot_count(&me) == 0 && self.cfg.allow_replica_migration && to != me {
            self.set_my_primary(&mut out, to);
        }
        self.save();
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }
}

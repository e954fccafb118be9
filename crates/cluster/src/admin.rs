//! Admin entry points behind the CLUSTER subcommands. Each returns the outputs to act on
//! or a [`ClusterError`] whose text is Redis 7.0's error reply (prefix included), so the
//! server can send `-{err}` unchanged. Inputs the cluster core cannot know (key counts)
//! are parameters.

use std::fmt;
use std::net::IpAddr;

use crate::node::{random_id, Node, Output, BLACKLIST_TTL_MS};
use crate::state::{flags, ClusterState};
use crate::wire::NodeId;
use crate::SLOT_COUNT;

/// A CLUSTER subcommand error; `Display` is the full RESP error text (e.g. `ERR Unknown node x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterError(pub String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

fn err<T>(s: impl Into<String>) -> Result<T, ClusterError> {
    Err(ClusterError(s.into()))
}

/// CLUSTER FAILOVER's option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverMode {
    /// Coordinated with the primary: no acknowledged write is lost.
    Default,
    /// Without the primary's agreement (it may be down), still elected.
    Force,
    /// No election at all: bump the epoch and take over (last resort).
    Takeover,
}

/// CLUSTER BUMPEPOCH's reply: `BUMPED <epoch>` or `STILL <epoch>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BumpResult {
    Bumped(u64),
    Still(u64),
}

impl fmt::Display for BumpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BumpResult::Bumped(e) => write!(f, "BUMPED {e}"),
            BumpResult::Still(e) => write!(f, "STILL {e}"),
        }
    }
}

fn lookup(st: &ClusterState, id: &[u8]) -> Option<NodeId> {
    let id = NodeId::from_bytes(id)?;
    st.nodes
        .get(&id)
        .filter(|n| !n.has(flags::HANDSHAKE))
        .map(|n| n.id)
}

fn show(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

impl Node {
    fn done(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    fn check_slot(slot: i64) -> Result<usize, ClusterError> {
        if (0..SLOT_COUNT as i64).contains(&slot) {
            Ok(slot as usize)
        } else {
            err("ERR Invalid or out of range slot")
        }
    }

    /// CLUSTER MEET ip port [cport].
    pub fn meet(
        &mut self,
        now_ms: u64,
        ip: &str,
        port: u16,
        cport: Option<u16>,
    ) -> Result<Vec<Output>, ClusterError> {
        self.now = self.now.max(now_ms);
        let cport = cport.unwrap_or(port.wrapping_add(10000));
        if ip.parse::<IpAddr>().is_err() || port == 0 || cport == 0 {
            return err(format!("ERR Invalid node address specified: {ip}:{port}"));
        }
        self.start_handshake(ip, port, cport);
        Ok(self.done())
    }

    /// CLUSTER ADDSLOTS slot...
    pub fn add_slots(&mut self, slots: &[i64]) -> Result<Vec<Output>, ClusterError> {
        let mut seen = vec![false; SLOT_COUNT];
        for &s in slots {
            let s = Self::check_slot(s)?;
            if self.st.slots[s].is_some() {
                return err(format!("ERR Slot {s} is already busy"));
            }
            if seen[s] {
                return err(format!("ERR Slot {s} specified multiple times"));
            }
            seen[s] = true;
        }
        let me = self.st.myself;
        for &s in slots {
            self.st.slots.set(s as usize, Some(me));
            self.st.importing.remove(&(s as u16));
        }
        self.save();
        Ok(self.done())
    }

    /// CLUSTER ADDSLOTSRANGE start end [start end ...].
    pub fn add_slots_range(&mut self, ranges: &[(i64, i64)]) -> Result<Vec<Output>, ClusterError> {
        let slots = expand_ranges(ranges)?;
        self.add_slots(&slots)
    }

    /// CLUSTER DELSLOTS slot...
    pub fn del_slots(&mut self, slots: &[i64]) -> Result<Vec<Output>, ClusterError> {
        let mut seen = vec![false; SLOT_COUNT];
        for &s in slots {
            let s = Self::check_slot(s)?;
            if self.st.slots[s].is_none() {
                return err(format!("ERR Slot {s} is already unassigned"));
            }
            if seen[s] {
                return err(format!("ERR Slot {s} specified multiple times"));
            }
            seen[s] = true;
        }
        for &s in slots {
            self.st.slots.set(s as usize, None);
        }
        self.save();
        Ok(self.done())
    }

    /// CLUSTER DELSLOTSRANGE start end [start end ...].
    pub fn del_slots_range(&mut self, ranges: &[(i64, i64)]) -> Result<Vec<Output>, ClusterError> {
        let slots = expand_ranges(ranges)?;
        self.del_slots(&slots)
    }

    /// CLUSTER FLUSHSLOTS; `db_keys` is the number of keys we hold.
    pub fn flush_slots(&mut self, db_keys: u64) -> Result<Vec<Output>, ClusterError> {
        if db_keys != 0 {
            return err("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
        }
        let me = self.st.myself;
        self.st.del_node_slots(&me);
        self.save();
        Ok(self.done())
    }

    fn setslot_common(&self, slot: i64) -> Result<usize, ClusterError> {
        if self.st.me().is_replica() {
            return err("ERR Please use SETSLOT only with masters.");
        }
        Self::check_slot(slot)
    }

    /// CLUSTER SETSLOT slot MIGRATING node.
    pub fn setslot_migrating(
        &mut self,
        slot: i64,
        node: &[u8],
    ) -> Result<Vec<Output>, ClusterError> {
        let s = self.setslot_common(slot)?;
        if self.st.slots[s] != Some(self.st.myself) {
            return err(format!("ERR I'm not the owner of hash slot {s}"));
        }
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR I don't know about node {}", show(node)));
        };
        if self.st.nodes.get(&n).is_some_and(|x| x.is_replica()) {
            return err("ERR Target node is not a master");
        }
        self.st.migrating.insert(s as u16, n);
        self.save();
        Ok(self.done())
    }

    /// CLUSTER SETSLOT slot IMPORTING node.
    pub fn setslot_importing(
        &mut self,
        slot: i64,
        node: &[u8],
    ) -> Result<Vec<Output>, ClusterError> {
        let s = self.setslot_common(slot)?;
        if self.st.slots[s] == Some(self.st.myself) {
            return err(format!("ERR I'm already the owner of hash slot {s}"));
        }
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR I don't know about node {}", show(node)));
        };
        if self.st.nodes.get(&n).is_some_and(|x| x.is_replica()) {
            return err("ERR Target node is not a master");
        }
        self.st.importing.insert(s as u16, n);
        self.save();
        Ok(self.done())
    }

    /// CLUSTER SETSLOT slot STABLE.
    pub fn setslot_stable(&mut self, slot: i64) -> Result<Vec<Output>, ClusterError> {
        let s = self.setslot_common(slot)? as u16;
        self.st.migrating.remove(&s);
        self.st.importing.remove(&s);
        self.save();
        Ok(self.done())
    }

    /// CLUSTER SETSLOT slot NODE node; `keys_in_slot` = our keys in that slot.
    pub fn setslot_node(
        &mut self,
        slot: i64,
        node: &[u8],
        keys_in_slot: u64,
    ) -> Result<Vec<Output>, ClusterError> {
        let s = self.setslot_common(slot)?;
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR Unknown node {}", show(node)));
        };
        if self.st.nodes.get(&n).is_some_and(|x| x.is_replica()) {
            return err("ERR Target node is not a master");
        }
        let me = self.st.myself;
        if self.st.slots[s] == Some(me) && n != me && keys_in_slot != 0 {
            return err(format!(
                "ERR Can't assign hashslot {s} to a different node while I still hold keys for this hash slot."
            ));
        }
        if keys_in_slot == 0 {
            self.st.migrating.remove(&(s as u16));
        }
        let was_mine = self.st.slots[s] == Some(me);
        self.st.slots.set(s, Some(n));
        let mut out = Vec::new();
        if was_mine && n != me && self.st.slot_count(&me) == 0 && self.cfg.allow_replica_migration {
            self.set_my_primary(&mut out, n);
        }
        if n == me && self.st.importing.remove(&(s as u16)).is_some() {
            // The importing side ends a migration by claiming the slot under a new epoch,
            // so the claim wins everywhere without waiting for an election.
            self.bump_epoch_without_consensus();
        }
        self.save();
        out.extend(self.done());
        Ok(out)
    }

    /// clusterBumpConfigEpochWithoutConsensus.
    pub(crate) fn bump_epoch_without_consensus(&mut self) -> BumpResult {
        let max = self.st.max_config_epoch();
        let mine = self.st.me().config_epoch;
        if mine == 0 || mine != max {
            self.st.current_epoch += 1;
            let e = self.st.current_epoch;
            self.st.me_mut().config_epoch = e;
            self.save();
            BumpResult::Bumped(e)
        } else {
            BumpResult::Still(mine)
        }
    }

    /// CLUSTER BUMPEPOCH.
    pub fn bump_epoch(&mut self) -> (BumpResult, Vec<Output>) {
        let r = self.bump_epoch_without_consensus();
        (r, self.done())
    }

    /// CLUSTER SET-CONFIG-EPOCH epoch.
    pub fn set_config_epoch(&mut self, epoch: i64) -> Result<Vec<Output>, ClusterError> {
        if epoch < 0 {
            return err(format!("ERR Invalid config epoch specified: {epoch}"));
        }
        if self.st.nodes.len() > 1 {
            return err("ERR The user can assign a config epoch only when the node does not know any other node.");
        }
        if self.st.me().config_epoch != 0 {
            return err("ERR Node config epoch is already non-zero");
        }
        let e = epoch as u64;
        self.st.me_mut().config_epoch = e;
        if self.st.current_epoch < e {
            self.st.current_epoch = e;
        }
        self.save();
        Ok(self.done())
    }

    /// CLUSTER REPLICATE node; `db_keys` = keys we hold (a primary must be empty).
    pub fn replicate(&mut self, node: &[u8], db_keys: u64) -> Result<Vec<Output>, ClusterError> {
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR Unknown node {}", show(node)));
        };
        if n == self.st.myself {
            return err("ERR Can't replicate myself");
        }
        if self.st.nodes.get(&n).is_some_and(|x| x.is_replica()) {
            return err("ERR I can only replicate a master, not a replica.");
        }
        let me = self.st.myself;
        if self.st.me().is_primary() && (self.st.slot_count(&me) != 0 || db_keys != 0) {
            return err("ERR To set a master the node must be empty and without assigned slots.");
        }
        let mut out = Vec::new();
        self.set_my_primary(&mut out, n);
        out.extend(self.done());
        Ok(out)
    }

    /// CLUSTER FORGET node.
    pub fn forget(&mut self, now_ms: u64, node: &[u8]) -> Result<Vec<Output>, ClusterError> {
        self.now = self.now.max(now_ms);
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR Unknown node {}", show(node)));
        };
        if n == self.st.myself {
            return err("ERR I tried hard but I can't forget myself...");
        }
        if self.st.me().is_replica() && self.st.me().primary == Some(n) {
            return err("ERR Can't forget my master!");
        }
        self.st.blacklist.insert(n, self.now + BLACKLIST_TTL_MS);
        self.st.del_node(&n);
        self.save();
        Ok(self.done())
    }

    /// CLUSTER RESET [HARD]; `db_keys` = keys we hold (a primary must be empty).
    pub fn reset(&mut self, hard: bool, db_keys: u64) -> Result<Vec<Output>, ClusterError> {
        if self.st.me().is_primary() && db_keys != 0 {
            return err("ERR CLUSTER RESET can't be called with master nodes containing keys");
        }
        let mut out = Vec::new();
        let me = self.st.myself;
        if self.st.me().is_replica() {
            self.st.set_node_as_primary(&me);
            out.push(Output::BecamePrimary);
        }
        self.reset_manual_failover(&mut out);
        let others: Vec<NodeId> = self
            .st
            .nodes
            .keys()
            .filter(|k| **k != me)
            .copied()
            .collect();
        for id in others {
            self.st.del_node(&id);
        }
        self.st.slots.clear_all();
        self.st.migrating.clear();
        self.st.importing.clear();
        if hard {
            self.st.current_epoch = 0;
            self.st.last_vote_epoch = 0;
            self.st.me_mut().config_epoch = 0;
            let new_id = random_id(&mut self.rng);
            self.st.rename_node(&me, new_id);
            self.st.myself = new_id;
        }
        self.save();
        out.extend(self.done());
        Ok(out)
    }

    /// CLUSTER FAILOVER [FORCE|TAKEOVER] (sent to a replica).
    pub fn failover(
        &mut self,
        now_ms: u64,
        mode: FailoverMode,
    ) -> Result<Vec<Output>, ClusterError> {
        self.now = self.now.max(now_ms);
        let me = self.st.me();
        if me.is_primary() {
            return err("ERR You should send CLUSTER FAILOVER to a replica");
        }
        let Some(p) = me.primary.and_then(|p| self.st.nodes.get(&p)) else {
            return err("ERR I'm a replica but my master is unknown to me");
        };
        if mode == FailoverMode::Default && p.down() {
            return err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
        }
        let mut out = Vec::new();
        match mode {
            FailoverMode::Takeover => {
                self.bump_epoch_without_consensus();
                self.replace_primary(&mut out);
            }
            FailoverMode::Force => self.begin_manual_failover(true, &mut out),
            FailoverMode::Default => self.begin_manual_failover(false, &mut out),
        }
        out.extend(self.done());
        Ok(out)
    }

    /// CLUSTER COUNT-FAILURE-REPORTS node.
    pub fn count_failure_reports(&mut self, node: &[u8]) -> Result<usize, ClusterError> {
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR Unknown node {}", show(node)));
        };
        let (now, v) = (self.now, self.cfg.node_timeout_ms * 2);
        Ok(self.st.count_failure_reports(&n, now, v))
    }

    /// CLUSTER REPLICAS / SLAVES node: the CLUSTER NODES lines of its replicas.
    pub fn replicas(&self, node: &[u8]) -> Result<Vec<String>, ClusterError> {
        let Some(n) = lookup(&self.st, node) else {
            return err(format!("ERR Unknown node {}", show(node)));
        };
        if self.st.nodes.get(&n).is_some_and(|x| x.is_replica()) {
            return err("ERR The specified node is not a master");
        }
        Ok(self
            .st
            .replicas_of(&n)
            .iter()
            .filter_map(|r| self.st.nodes.get(r))
            .map(|r| crate::node_lines::node_line(&self.st, r))
            .collect())
    }
}

fn expand_ranges(ranges: &[(i64, i64)]) -> Result<Vec<i64>, ClusterError> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        Node::check_slot(a)?;
        Node::check_slot(b)?;
        if a > b {
            return err(format!(
                "ERR start slot number {a} is greater than end slot number {b}"
            ));
        }
        out.extend(a..=b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeConfig;

    fn node() -> Node {
        Node::new(NodeConfig::new("127.0.0.1", 30001), 1, 1000)
    }

    #[test]
    fn addslots_errors_match_redis() {
        let mut n = node();
        assert!(n.add_slots(&[1, 2]).is_ok());
        assert_eq!(
            n.add_slots(&[2]).unwrap_err().0,
            "ERR Slot 2 is already busy"
        );
        assert_eq!(
            n.add_slots(&[16384]).unwrap_err().0,
            "ERR Invalid or out of range slot"
        );
        assert_eq!(
            n.add_slots(&[5, 5]).unwrap_err().0,
            "ERR Slot 5 specified multiple times"
        );
        assert_eq!(
            n.del_slots(&[7]).unwrap_err().0,
            "ERR Slot 7 is already unassigned"
        );
        assert_eq!(
            n.add_slots_range(&[(9, 8)]).unwrap_err().0,
            "ERR start slot number 9 is greater than end slot number 8"
        );
        assert!(n.add_slots_range(&[(0, 0), (3, 16383)]).is_ok());
        n.tick(1000 + crate::WRITABLE_DELAY_MS);
        assert!(n.is_state_ok(), "single primary covering all slots is ok");
    }

    #[test]
    fn other_admin_errors() {
        let mut n = node();
        let me = n.id().0;
        assert_eq!(
            n.replicate(&me, 0).unwrap_err().0,
            "ERR Can't replicate myself"
        );
        assert_eq!(
            n.forget(0, &me).unwrap_err().0,
            "ERR I tried hard but I can't forget myself..."
        );
        assert!(n
            .forget(0, b"x")
            .unwrap_err()
            .0
            .starts_with("ERR Unknown node"));
        assert_eq!(
            n.failover(0, FailoverMode::Default).unwrap_err().0,
            "ERR You should send CLUSTER FAILOVER to a replica"
        );
        assert_eq!(
            n.setslot_migrating(5, &me).unwrap_err().0,
            "ERR I'm not the owner of hash slot 5"
        );
        assert!(n.set_config_epoch(3).is_ok());
        assert_eq!(
            n.set_config_epoch(4).unwrap_err().0,
            "ERR Node config epoch is already non-zero"
        );
        assert_eq!(n.bump_epoch().0, BumpResult::Still(3));
        assert!(n.meet(0, "not-an-ip", 1, None).is_err());
        let old = n.id();
        n.reset(true, 0).unwrap();
        assert_ne!(n.id(), old);
        assert_eq!(n.state().current_epoch, 0);
    }
}

//! Failover: replica elections, primaries' votes, manual failover and replica migration.
//!
//! BACKGROUND (cluster-spec "Replica election and promotion"): when a replica sees its
//! primary FAIL it waits a fixed delay plus jitter plus a per-rank step (rank 0 = the
//! replica with the most data; Redis's `500 + random(0..500) + rank * 1000` ms, scaled to
//! the node timeout here, see [`election_delays`]), re-sends FAIL to the voters, bumps
//! currentEpoch and asks every primary for a vote. A primary votes
//! at most once per epoch, and not for a replica of a primary it already voted about in the
//! last 2 * node_timeout, and never for a claim on slots it knows a newer epoch for. With
//! votes from a majority of primaries the replica takes the epoch as its config epoch,
//! claims its primary's slots and broadcasts a PONG; the higher epoch wins everywhere.

use rand::Rng;

use crate::node::{Election, ManualFailover, Node, Output, MF_TIMEOUT_MS, MIGRATION_DELAY_MS};
use crate::state::flags;
use crate::wire::{Body, Header, Message, NodeId, MFLAG0_FORCEACK};

impl Node {
    /// Sends FAIL for every node flagged FAIL since the last call.
    pub(crate) fn broadcast_pending_fails(&mut self, out: &mut Vec<Output>) {
        let pending = std::mem::take(&mut self.pending_fail);
        for node in pending {
            let msg = Message {
                header: self.header(),
                body: Body::Fail { node },
            };
            self.broadcast(out, &msg);
        }
    }

    /// A primary decides whether to vote for a replica (clusterSendFailoverAuthIfNeeded).
    pub(crate) fn maybe_vote(&mut self, out: &mut Vec<Output>, sender: NodeId, h: &Header) {
        let now = self.now;
        let me = self.st.myself;
        if !self.st.me().is_primary() || self.st.slot_count(&me) == 0 {
            return;
        }
        if h.current_epoch < self.st.current_epoch
            || self.st.last_vote_epoch == self.st.current_epoch
        {
            return;
        }
        let Some(node) = self.st.nodes.get(&sender) else {
            return;
        };
        let force = h.mflags[0] & MFLAG0_FORCEACK != 0;
        let Some(primary) = node.primary.filter(|_| node.is_replica()) else {
            return;
        };
        let Some(pn) = self.st.nodes.get(&primary) else {
            return;
        };
        if !pn.failed() && !force {
            return;
        }
        if pn.voted_time != 0 && now.saturating_sub(pn.voted_time) < self.cfg.node_timeout_ms * 2 {
            return;
        }
        // Refuse if we know a newer owner for any slot the replica claims.
        for j in h.myslots.iter() {
            let Some(owner) = self.st.slots[j] else {
                continue;
            };
            let e = self
                .st
                .nodes
                .get(&owner)
                .map(|n| n.config_epoch)
                .unwrap_or(0);
            if e > h.config_epoch {
                return;
            }
        }
        self.st.last_vote_epoch = self.st.current_epoch;
        if let Some(pn) = self.st.nodes.get_mut(&primary) {
            pn.voted_time = now;
        }
        self.save();
        let msg = Message {
            header: self.header(),
            body: Body::FailoverAuthAck,
        };
        self.send_to(out, &sender, &msg);
    }

    /// Our rank among our primary's replicas: how many have a larger replication offset,
    /// or the same offset and a smaller name.
    ///
    /// The name breaks ties (Redis leaves equal offsets at equal rank): with the election
    /// delay's random part scaled down to `node_timeout / 30`, two replicas with the same
    /// data would otherwise often ask within one network delay of each other, split the
    /// votes, and both wait 2 * auth_timeout for the retry. Distinct ranks keep them a
    /// whole rank step apart.
    fn my_rank(&self) -> usize {
        let Some(p) = self.st.me().primary else {
            return 0;
        };
        let me = self.st.myself;
        let mine = self.repl_offset;
        self.st
            .replicas_of(&p)
            .iter()
            .filter(|r| **r != me)
            .filter_map(|r| self.st.nodes.get(r))
            .filter(|r| !r.has(flags::NOFAILOVER))
            .filter(|r| r.repl_offset > mine || (r.repl_offset == mine && r.id < me))
            .count()
    }

    /// The replica side of an election (clusterHandleSlaveFailover); called from `tick`
    /// and whenever a vote arrives.
    pub(crate) fn handle_replica_failover(&mut self, out: &mut Vec<Output>) {
        let now = self.now;
        let timeout = self.cfg.node_timeout_ms;
        let me = self.st.me();
        if !me.is_replica() {
            return;
        }
        let Some(primary) = me.primary else {
            return;
        };
        let Some(pn) = self.st.nodes.get(&primary) else {
            return;
        };
        let manual = self.mf.end != 0 && self.mf.can_start;
        if !manual {
            if !pn.failed()
                || self.cfg.replica_no_failover
                || me.has(flags::NOFAILOVER)
                || self.st.slot_count(&primary) == 0
            {
                return;
            }
            if let Some(since) = self.repl_down_since {
                let mut age = now.saturating_sub(since);
                if age > timeout {
                    age -= timeout;
                }
                let limit =
                    self.cfg.repl_ping_period_ms + timeout * self.cfg.replica_validity_factor;
                if self.cfg.replica_validity_factor > 0 && age > limit {
                    return;
                }
            }
        }
        let auth_timeout = (timeout * 2).max(2000) as i64;
        let retry = auth_timeout * 2;
        let now_i = now as i64;
        if now_i - self.election.time > retry {
            let rank = if manual { 0 } else { self.my_rank() };
            let (fixed, step) = election_delays(timeout);
            let jitter = self.rng.gen_range(0..fixed) as i64;
            self.election = Election {
                time: if manual {
                    now_i
                } else {
                    now_i + fixed as i64 + jitter + (rank as u64 * step) as i64
                },
                count: 0,
                sent: false,
                rank,
                epoch: self.election.epoch,
            };
            // Let sibling replicas see our offset so they compute their ranks.
            self.broadcast_pong(out, true);
            return;
        }
        if !self.election.sent && !manual {
            let rank = self.my_rank();
            if rank > self.election.rank {
                let (_, step) = election_delays(timeout);
                self.election.time += ((rank - self.election.rank) as u64 * step) as i64;
                self.election.rank = rank;
            }
        }
        if now_i < self.election.time || now_i - self.election.time > auth_timeout {
            return;
        }
        if !self.election.sent {
            if !manual {
                self.resend_fail_to_voters(out, primary);
            }
            self.st.current_epoch += 1;
            self.election.epoch = self.st.current_epoch;
            self.election.sent = true;
            let mut header = self.header();
            if manual {
                header.mflags[0] |= MFLAG0_FORCEACK;
            }
            let msg = Message {
                header,
                body: Body::FailoverAuthRequest,
            };
            self.broadcast(out, &msg);
            self.save();
            return;
        }
        let needed = self.st.size() / 2 + 1;
        if self.election.count >= needed {
            let epoch = self.election.epoch;
            let me = self.st.me_mut();
            if me.config_epoch < epoch {
                me.config_epoch = epoch;
            }
            self.replace_primary(out);
        }
    }

    /// Before asking for votes, tell every voting primary that our primary is FAIL.
    ///
    /// A primary votes only for a replica whose primary it holds FAIL. The FAIL broadcast
    /// of whoever flagged it may still be on its way to some voter (a slow link, or a
    /// voter that can still reach our primary and so never flags it itself); a request
    /// arriving first is ignored and the election fails, costing 2 * auth_timeout before
    /// the retry. Our FAIL and our request travel the same link to each voter, in order,
    /// so the voter has FAIL first (Valkey does the same). A FAIL is idempotent and cannot
    /// fail a node by itself being wrong: we only send it for a primary we hold FAIL.
    fn resend_fail_to_voters(&mut self, out: &mut Vec<Output>, primary: NodeId) {
        let me = self.st.myself;
        let voters: Vec<NodeId> = self
            .st
            .slot_owners()
            .into_iter()
            .filter(|o| *o != primary && *o != me)
            .collect();
        let msg = Message {
            header: self.header(),
            body: Body::Fail { node: primary },
        };
        for v in voters {
            self.send_to(out, &v, &msg);
        }
    }

    /// Is our primary flagged FAIL (and are we a replica)? Then an election may be due.
    pub(crate) fn my_primary_failed(&self) -> bool {
        let me = self.st.me();
        me.is_replica()
            && me
                .primary
                .and_then(|p| self.st.nodes.get(&p))
                .is_some_and(|p| p.failed())
    }

    /// We take over our primary's slots (clusterFailoverReplaceYourMaster).
    pub(crate) fn replace_primary(&mut self, out: &mut Vec<Output>) {
        let me = self.st.myself;
        let Some(old) = self.st.me().primary else {
            return;
        };
        self.st.set_node_as_primary(&me);
        self.st.slots.reassign(&old, me);
        out.push(Output::BecamePrimary);
        self.reset_manual_failover(out);
        self.election = Election::default();
        self.save();
        self.update_state(out);
        self.broadcast_pong(out, false);
    }

    /// Replica side of a manual failover: once our offset reaches the paused primary's,
    /// the election may start (clusterHandleManualFailover).
    pub(crate) fn handle_manual_failover(&mut self) {
        if self.mf.end == 0 || self.mf.can_start {
            return;
        }
        if let Some(off) = self.mf.primary_offset {
            if self.repl_offset >= off {
                self.mf.can_start = true;
            }
        }
    }

    /// Primary side: a replica sent MFSTART. Pause writes and tell it our final offset.
    ///
    /// The sender counts as our replica if we already know it as one or if the MFSTART's
    /// own header says so: right after a failover the old primary follows the new one
    /// before its next PING has told the new one, and a MFSTART rejected for that reason
    /// would silently cost the operator a whole cluster-mf-timeout.
    pub(crate) fn start_manual_failover_as_primary(
        &mut self,
        out: &mut Vec<Output>,
        sender: NodeId,
        h: &Header,
    ) {
        let me = self.st.myself;
        if !self.st.me().is_primary() {
            return;
        }
        let known = self
            .st
            .nodes
            .get(&sender)
            .is_some_and(|n| n.is_replica() && n.primary == Some(me));
        if !known {
            if h.replica_of != Some(me) {
                return;
            }
            self.st.del_node_slots(&sender);
            self.st.set_node_as_replica(&sender, me);
            self.save();
        }
        self.reset_manual_failover(out);
        self.mf.end = self.now + MF_TIMEOUT_MS;
        self.mf.replica = Some(sender);
        out.push(Output::PauseWrites {
            until_ms: self.now + MF_TIMEOUT_MS * 2,
        });
        self.send_ping(out, &sender, crate::wire::MsgType::Ping);
    }

    /// Ends any manual failover (timeout, completion or role change).
    pub(crate) fn reset_manual_failover(&mut self, out: &mut Vec<Output>) {
        if self.mf.end != 0 && self.mf.replica.is_some() {
            out.push(Output::ResumeWrites);
        }
        self.mf = ManualFailover::default();
    }

    /// Starts a replica-side manual failover; see `admin::failover`.
    pub(crate) fn begin_manual_failover(&mut self, force: bool, out: &mut Vec<Output>) {
        self.reset_manual_failover(out);
        self.mf.end = self.now + MF_TIMEOUT_MS;
        if force {
            self.mf.can_start = true;
            return;
        }
        if let Some(p) = self.st.me().primary {
            let msg = Message {
                header: self.header(),
                body: Body::MfStart,
            };
            self.send_to(out, &p, &msg);
        }
    }

    /// Replica migration (cluster-spec "Replica migration"), as Redis 7.0's clusterCron
    /// and clusterHandleSlaveMigration decide it. Working replicas are counted as Redis
    /// does: not FAIL (a PFAIL replica still counts) for orphans and for the largest
    /// replica set, not FAIL nor PFAIL for the migration barrier. Only when some primary
    /// is orphaned, some primary has two or more working replicas and ours has the most
    /// does one replica move: the one with the smallest name among the replicas of every
    /// primary with that most, so one replica in the whole cluster migrates, not one per
    /// such primary. The orphan must have been orphaned for MIGRATION_DELAY_MS first.
    pub(crate) fn check_replica_migration(&mut self, out: &mut Vec<Output>) {
        let now = self.now;
        if !self.cfg.allow_replica_migration {
            return;
        }
        let Some(my_primary) = self.st.me().primary else {
            return;
        };
        let myself = self.st.myself;
        let non_failing = |st: &crate::state::ClusterState, p: &NodeId| -> usize {
            st.replicas_of(p)
                .iter()
                .filter(|r| st.nodes.get(r).is_some_and(|n| !n.failed()))
                .count()
        };
        // clusterCron's census of the other primaries.
        let (mut orphaned, mut max_replicas, mut mine) = (0, 0, 0);
        for (id, n) in &self.st.nodes {
            if *id == myself || n.has(flags::NOADDR | flags::HANDSHAKE) {
                continue;
            }
            if n.is_primary() && !n.failed() {
                let ok = non_failing(&self.st, id);
                if ok == 0 && self.st.slot_count(id) > 0 && n.has(flags::MIGRATE_TO) {
                    orphaned += 1;
                }
                max_replicas = max_replicas.max(ok);
                if *id == my_primary {
                    mine = ok;
                }
            }
        }
        if orphaned == 0 || max_replicas < 2 || mine != max_replicas || !self.state_ok {
            return;
        }
        // clusterHandleSlaveMigration: our primary keeps more than the barrier...
        let reachable = self
            .st
            .replicas_of(&my_primary)
            .iter()
            .filter(|r| self.st.nodes.get(r).is_some_and(|n| !n.down()))
            .count();
        if reachable <= self.cfg.migration_barrier {
            return;
        }
        // ...the first orphan serving slots is the target, and the candidate is the
        // smallest replica name among the primaries with the most working replicas.
        let ids: Vec<NodeId> = self.st.nodes.keys().copied().collect();
        let mut target = None;
        let mut candidate = myself;
        for id in ids {
            let ok = match self.st.nodes.get(&id) {
                Some(n) if n.is_primary() => non_failing(&self.st, &id),
                _ => 0,
            };
            let slots = self.st.slot_count(&id);
            let Some(n) = self.st.nodes.get_mut(&id) else {
                continue;
            };
            let orphan = n.is_primary() && !n.failed() && n.has(flags::MIGRATE_TO) && ok == 0;
            if orphan {
                if target.is_none() && slots > 0 {
                    target = Some(id);
                }
                if n.orphaned_time == 0 {
                    n.orphaned_time = now;
                }
            } else {
                n.orphaned_time = 0;
            }
            if ok == max_replicas {
                for r in self.st.replicas_of(&id) {
                    candidate = candidate.min(r);
                }
            }
        }
        let Some(target) = target else {
            return;
        };
        let since = self.st.nodes.get(&target).map_or(now, |n| n.orphaned_time);
        if candidate == myself && now.saturating_sub(since) > MIGRATION_DELAY_MS {
            self.set_my_primary(out, target);
        }
    }
}

/// The election delays for a node timeout: (fixed part, per-rank step) in ms.
///
/// Redis 7.0 waits `500 + random(0..500) + rank * 1000` ms after FAIL, sized for the
/// default 15 s timeout. The fixed part lets FAIL reach the voters; it is bounded now by
/// the FAIL re-send before the request (see `resend_fail_to_voters`), so like Valkey
/// (`min(500, node_timeout / 30)`) we scale it with the timeout: 66 ms at 2000, 166 ms at
/// 5000, 500 ms from 15000 up. The random part (0..fixed) keeps two equally ranked
/// replicas apart. The per-rank step lets the best replica win before the next one asks;
/// it must exceed a vote round trip plus the winner's PONG, so it stays much larger:
/// `min(1000, node_timeout / 10)` (200 ms at 2000, 1000 ms from 10000 up). Safety does not
/// depend on either: a primary votes once per epoch and once per failed primary within
/// 2 * node_timeout, so a replica that asks too early only loses its election.
pub fn election_delays(node_timeout_ms: u64) -> (u64, u64) {
    let fixed = (node_timeout_ms / 30).clamp(1, 500);
    let step = (node_timeout_ms / 10).clamp(1, 1000);
    (fixed, step)
}

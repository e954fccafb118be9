//! The clock: [`Node::tick`], Redis's clusterCron — pings, failure detection timeouts,
//! handshake expiry, elections and cluster state. Part of the node state machine in
//! [`crate::node`].

use rand::Rng;

use crate::node::*;
use crate::state::flags;
use crate::wire::{MsgType, NodeId};

impl Node {
    /// Periodic work; call about every 100 ms (Redis's clusterCron runs 10 times a second).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        let now = self.now;
        self.ticks += 1;
        let mut out = Vec::new();
        let timeout = self.cfg.node_timeout_ms;
        let hs_timeout = timeout.max(1000);
        // Expire handshakes and blacklist entries.
        let stale: Vec<NodeId> = self
            .st
            .nodes
            .values()
            .filter(|n| n.has(flags::HANDSHAKE) && now.saturating_sub(n.ctime) > hs_timeout)
            .map(|n| n.id)
            .collect();
        for id in stale {
            self.st.del_node(&id);
        }
        self.st.blacklist.retain(|_, until| *until > now);
        // Once a second, ping the node with the oldest PONG among 5 random ones.
        if self.ticks.is_multiple_of(10) {
            let ids: Vec<NodeId> = self
                .st
                .nodes
                .values()
                .filter(|n| {
                    !n.has(flags::MYSELF | flags::HANDSHAKE | flags::NOADDR) && n.ping_sent == 0
                })
                .map(|n| n.id)
                .collect();
            let mut best: Option<(u64, NodeId)> = None;
            for _ in 0..5.min(ids.len()) {
                let id = ids[self.rng.gen_range(0..ids.len())];
                let pong = self.st.nodes.get(&id).map(|n| n.pong_received).unwrap_or(0);
                if best.is_none_or(|(p, _)| pong < p) {
                    best = Some((pong, id));
                }
            }
            if let Some((_, id)) = best {
                self.send_ping(&mut out, &id, MsgType::Ping);
            }
        }
        let ids: Vec<NodeId> = self.st.nodes.keys().copied().collect();
        for id in ids {
            let Some(n) = self.st.nodes.get(&id) else {
                continue;
            };
            if n.has(flags::MYSELF | flags::NOADDR) {
                continue;
            }
            if n.has(flags::MEET) {
                // Handshake (or MEET not yet answered): (re)send MEET every 250 ms until the
                // handshake times out, so one lost packet does not lose the member.
                if n.ping_sent == 0 || now.saturating_sub(n.ping_sent) >= 250 {
                    if let Some(n) = self.st.nodes.get_mut(&id) {
                        n.ping_sent = 0;
                    }
                    self.send_ping(&mut out, &id, MsgType::Meet);
                }
                continue;
            }
            if n.has(flags::HANDSHAKE) {
                continue;
            }
            let (ping_sent, pong, data) = (n.ping_sent, n.pong_received, n.data_received);
            if self.mf.end != 0 && self.st.me().is_primary() && self.mf.replica == Some(id) {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            if ping_sent == 0 && now.saturating_sub(pong) > timeout / 2 {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            if ping_sent != 0 {
                // Redis drops and reconnects a link whose PING is unanswered for half the
                // timeout, then pings again keeping ping_sent; a lost PING is retried so.
                if now.saturating_sub(ping_sent) > timeout / 2 && self.ticks.is_multiple_of(5) {
                    self.send_ping(&mut out, &id, MsgType::Ping);
                }
                let delay = now.saturating_sub(ping_sent).min(now.saturating_sub(data));
                if delay > timeout {
                    if let Some(n) = self.st.nodes.get_mut(&id) {
                        if !n.down() {
                            n.flags |= flags::PFAIL;
                            n.link_connected = false;
                        }
                    }
                }
            }
        }
        // PFAIL nodes may be promotable to FAIL with reports we already hold.
        for id in self.st.pfail_nodes() {
            self.mark_failing_if_needed(&id);
        }
        if self.mf.end != 0 && now > self.mf.end {
            self.reset_manual_failover(&mut out);
        }
        if self.st.me().is_replica() {
            self.handle_manual_failover();
            self.handle_replica_failover(&mut out);
            self.check_replica_migration(&mut out);
        }
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    /// Recomputes cluster_state (clusterUpdateState): fail if a slot is unserved (with
    /// full coverage required) or if we cannot reach a majority of primaries.
    pub(crate) fn update_state(&mut self, out: &mut Vec<Output>) {
        self.broadcast_pending_fails(out);
        let now = self.now;
        let mut ok = true;
        if self.cfg.require_full_coverage
            && (self.st.slots.unassigned() > 0
                || self
                    .st
                    .slots
                    .owners()
                    .any(|o| self.st.nodes.get(o).is_none_or(|n| n.failed())))
        {
            ok = false;
        }
        let owners = self.st.slot_owners();
        let size = owners.len();
        let reachable = owners
            .iter()
            .filter(|o| self.st.nodes.get(o).is_some_and(|n| !n.down()))
            .count();
        if reachable < size / 2 + 1 {
            ok = false;
            self.among_minority_time = Some(now);
        }
        if ok != self.state_ok {
            let rejoin = self.cfg.node_timeout_ms.clamp(500, 5000);
            let recent_minority = self
                .among_minority_time
                .is_some_and(|t| now.saturating_sub(t) < rejoin);
            if ok && self.st.me().is_primary() && recent_minority {
                return;
            }
            self.state_ok = ok;
            self.topology_version += 1;
            out.push(Output::StateChanged { ok });
        }
    }
}

//! The clock: [`Node::tick`], Redis's clusterCron — pings, failure detection timeouts,
//! handshake expiry, elections and cluster state. Part of the node state machine in
//! [`crate::node`].

use rand::Rng;

use crate::node::*;
use crate::state::flags;
use crate::wire::{MsgType, NodeId};

/// How long a primary keeps cluster_state at fail after start (Redis's
/// CLUSTER_WRITABLE_DELAY); see [`Node::update_state`].
pub const WRITABLE_DELAY_MS: u64 = 2000;

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
            let (ping_sent, pong, link_up) = (n.ping_sent, n.pong_received, n.link_connected);
            if self.mf.end != 0 && self.st.me().is_primary() && self.mf.replica == Some(id) {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            // A silent peer gets a PING after half the timeout (Redis's rule); a peer whose
            // link is known dead gets one at once, which starts its failure clock (the
            // transport reports dead links through `link_lost`, which pings itself; this
            // catches a PING it could not send).
            if ping_sent == 0 && (now.saturating_sub(pong) > timeout / 2 || !link_up) {
                self.send_ping(&mut out, &id, MsgType::Ping);
                continue;
            }
            // Redis drops and reconnects a link whose PING is unanswered for half the
            // timeout, then pings again keeping ping_sent; a lost PING is retried so.
            if ping_sent != 0
                && now.saturating_sub(ping_sent) > timeout / 2
                && self.ticks.is_multiple_of(5)
            {
                self.send_ping(&mut out, &id, MsgType::Ping);
            }
        }
        self.detect_failures(&mut out);
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

    /// Failure detection proper (cluster-spec "Failure detection"): a node whose PING has
    /// been unanswered, and which sent us nothing at all, for longer than node_timeout is
    /// flagged PFAIL; PFAIL nodes are then promoted to FAIL if the failure reports we hold
    /// make a majority. Runs from `tick` and, at the exact deadline, from `wake`.
    ///
    /// When we are a voting primary and newly flag a serving primary PFAIL, we PING the
    /// other voting primaries at once: the PING's gossip carries our report to them and
    /// their PONG carries theirs back, so the majority forms within a round trip instead
    /// of waiting for the next regular gossip (up to a second). The report's meaning and
    /// validity (2 * node_timeout) do not change; it costs one PING per voter and
    /// PFAIL transition.
    pub(crate) fn detect_failures(&mut self, out: &mut Vec<Output>) {
        let now = self.now;
        let timeout = self.cfg.node_timeout_ms;
        let mf_replica = (self.mf.end != 0 && self.st.me().is_primary())
            .then_some(self.mf.replica)
            .flatten();
        let mut newly: Vec<NodeId> = Vec::new();
        for n in self.st.nodes.values_mut() {
            if n.has(flags::MYSELF | flags::NOADDR | flags::MEET | flags::HANDSHAKE)
                || n.ping_sent == 0
                || n.down()
                || mf_replica == Some(n.id)
            {
                continue;
            }
            let delay = now
                .saturating_sub(n.ping_sent)
                .min(now.saturating_sub(n.data_received));
            if delay > timeout {
                n.flags |= flags::PFAIL;
                n.link_connected = false;
                newly.push(n.id);
            }
        }
        let me = self.st.myself;
        let i_vote = self.st.me().is_primary() && self.st.slot_count(&me) > 0;
        let serving_primary_down = newly
            .iter()
            .any(|id| self.st.nodes[id].is_primary() && self.st.slot_count(id) > 0);
        if i_vote && serving_primary_down {
            let voters: Vec<NodeId> = self
                .st
                .slot_owners()
                .into_iter()
                .filter(|o| *o != me && self.st.nodes.get(o).is_some_and(|n| !n.down()))
                .collect();
            for v in voters {
                self.send_ping(out, &v, MsgType::Ping);
            }
        }
        // PFAIL nodes may be promotable to FAIL with reports we already hold.
        for id in self.st.pfail_nodes() {
            self.mark_failing_if_needed(&id);
        }
    }

    /// Input: the transport found the link to `node` dead (the peer closed it, a write
    /// failed, or a connect was refused). Redis reconnects a freed link on the next cron
    /// and PINGs at once; we PING now. If no PING was outstanding, this one stamps
    /// `ping_sent`, so the failure clock of a crashed peer starts when its sockets close
    /// rather than up to node_timeout / 2 later at the next scheduled PING. A live peer
    /// whose link merely bounced answers it at once. At most one PING per PONG goes out
    /// this way, so a peer that stays unreachable causes no storm.
    pub fn link_lost(&mut self, now_ms: u64, node: &NodeId) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        let mut out = Vec::new();
        let Some(n) = self.st.nodes.get_mut(node) else {
            return out;
        };
        if n.has(flags::MYSELF) {
            return out;
        }
        n.link_connected = false;
        if n.ping_sent == 0 && !n.has(flags::HANDSHAKE | flags::MEET | flags::NOADDR) {
            self.send_ping(&mut out, node, MsgType::Ping);
        }
        self.flush(&mut out);
        out
    }

    /// The next moment, after the last time we were given, at which something is due
    /// that should not wait for the next 100 ms `tick`: a peer's PFAIL deadline or the
    /// start of our election. The server sleeps until then and calls [`Node::wake`].
    /// None when nothing is due. A deadline at or before our `now` is never returned, so
    /// a caller cannot spin on one.
    pub fn next_deadline(&self) -> Option<u64> {
        let now = self.now;
        let timeout = self.cfg.node_timeout_ms;
        let mut best: Option<u64> = None;
        let mut consider = |t: u64| {
            if t > now && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for n in self.st.nodes.values() {
            if n.ping_sent == 0
                || n.down()
                || n.has(flags::MYSELF | flags::NOADDR | flags::MEET | flags::HANDSHAKE)
            {
                continue;
            }
            consider(n.ping_sent.max(n.data_received) + timeout + 1);
        }
        if self.st.me().is_replica() && !self.election.sent && self.election.time > 0 {
            consider(self.election.time as u64);
        }
        best
    }

    /// The deadline work of [`Node::next_deadline`]: failure detection and the replica's
    /// election, without the rest of `tick` (pings and the `ticks` count that paces them
    /// stay on the 100 ms clock).
    pub fn wake(&mut self, now_ms: u64) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        let mut out = Vec::new();
        self.detect_failures(&mut out);
        if self.st.me().is_replica() {
            self.handle_replica_failover(&mut out);
        }
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    /// Recomputes cluster_state (clusterUpdateState): fail if a slot is unserved (with
    /// full coverage required) or if we cannot reach a majority of primaries.
    ///
    /// A primary stays at fail for [`WRITABLE_DELAY_MS`] after the first call (that is,
    /// after start): a primary restarted from its nodes.conf still claims the slots it
    /// had, which a replica may have taken over meanwhile. The delay gives its peers the
    /// time to tell it so (an UPDATE, or a PONG with the new owner's higher epoch) before
    /// it acknowledges a write there that its demotion would then discard.
    pub(crate) fn update_state(&mut self, out: &mut Vec<Output>) {
        self.broadcast_pending_fails(out);
        let now = self.now;
        let first = *self.first_state_update.get_or_insert(now);
        if self.st.me().is_primary()
            && !self.state_ok
            && now.saturating_sub(first) < WRITABLE_DELAY_MS
        {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::WRITABLE_DELAY_MS;
    use crate::failover::election_delays;
    use crate::node::{Node, NodeConfig, Output};
    use crate::wire::{decode, Body};

    const TIMEOUT: u64 = 2000;

    /// Delivers messages (and the replies they cause) at `now` until the network is quiet.
    fn deliver(nodes: &mut [Node], now: u64, outs: Vec<Output>) {
        let mut queue = outs;
        while !queue.is_empty() {
            if let Output::Send { to, bytes, .. } = queue.remove(0) {
                let dst = (to.cport - 40010) as usize;
                queue.extend(nodes[dst].step(now, "127.0.0.1", &bytes).unwrap());
            }
        }
    }

    /// Two primaries that know each other, quiet at t = 5000.
    fn pair() -> Vec<Node> {
        let mut nodes: Vec<Node> = (0..2u16)
            .map(|i| {
                let mut c = NodeConfig::new("127.0.0.1", 30010 + i);
                c.node_timeout_ms = TIMEOUT;
                Node::new(c, i as u64 + 7, 1000)
            })
            .collect();
        let outs = nodes[0].meet(1000, "127.0.0.1", 30011, None).unwrap();
        deliver(&mut nodes, 1000, outs);
        for t in [1100, 1400, 5000] {
            for i in 0..2 {
                let outs = nodes[i].tick(t);
                deliver(&mut nodes, t, outs);
            }
        }
        let b = nodes[1].id();
        assert!(nodes[0].state().nodes.contains_key(&b), "pair did not form");
        nodes
    }

    fn pings(outs: &[Output]) -> usize {
        outs.iter()
            .filter(|o| match o {
                Output::Send { bytes, .. } => {
                    matches!(decode(bytes).map(|m| m.body), Ok(Body::Ping(_)))
                }
                _ => false,
            })
            .count()
    }

    /// A closed link starts the peer's failure clock at once (one PING, `ping_sent`
    /// stamped), a second report sends nothing more, and PFAIL lands exactly at
    /// ping_sent + node_timeout through `next_deadline` / `wake`, not a tick later.
    #[test]
    fn a_lost_link_starts_the_failure_clock_once() {
        let mut nodes = pair();
        let b = nodes[1].id();
        let a = &mut nodes[0];
        let t0 = 5300;
        let outs = a.link_lost(t0, &b);
        assert_eq!(pings(&outs), 1, "a lost link is pinged at once");
        assert_eq!(a.state().nodes[&b].ping_sent, t0);
        assert!(!a.state().nodes[&b].link_connected);
        assert_eq!(pings(&a.link_lost(t0 + 5, &b)), 0, "one PING per PONG");
        let due = a.next_deadline().expect("a PFAIL deadline");
        assert_eq!(due, t0 + TIMEOUT + 1);
        a.wake(due - 1);
        assert!(!a.state().nodes[&b].down());
        a.wake(due);
        // PFAIL, and here at once FAIL: with no slot owners a report of our own suffices.
        assert!(a.state().nodes[&b].down());
        assert_ne!(
            a.next_deadline(),
            Some(due),
            "a passed deadline is not returned"
        );
    }

    /// A peer that answers after its link bounced is not flagged: the PONG clears the clock.
    #[test]
    fn a_bounced_link_to_a_live_peer_changes_nothing() {
        let mut nodes = pair();
        let b = nodes[1].id();
        let outs = nodes[0].link_lost(5300, &b);
        deliver(&mut nodes, 5301, outs);
        let seen = &nodes[0].state().nodes[&b];
        assert_eq!(seen.ping_sent, 0);
        assert!(seen.link_connected && !seen.down());
    }

    /// A primary restored from nodes.conf with every slot keeps cluster_state at fail
    /// (so refuses keyed commands) for WRITABLE_DELAY_MS after start, then turns ok: its
    /// peers get that long to tell it that its claims are stale before it takes writes.
    #[test]
    fn a_restarted_primary_is_not_writable_at_once() {
        let mut n = Node::new(NodeConfig::new("127.0.0.1", 30010), 3, 1000);
        n.add_slots_range(&[(0, 16383)]).expect("addslots");
        let conf = n.nodes_conf();
        let t0 = 50_000;
        let mut r = Node::from_nodes_conf(NodeConfig::new("127.0.0.1", 30010), 4, &conf, t0)
            .expect("nodes.conf");
        assert!(r.is_primary());
        for t in (t0..t0 + WRITABLE_DELAY_MS).step_by(100) {
            r.tick(t);
            assert!(!r.is_state_ok(), "writable {} ms after start", t - t0);
        }
        r.tick(t0 + WRITABLE_DELAY_MS);
        assert!(r.is_state_ok());
    }

    /// Redis's 500 + rand(500) + rank * 1000 ms at the default 15 s timeout, scaled below
    /// it (Valkey's min(500, node_timeout / 30) for the fixed part).
    #[test]
    fn election_delays_scale_with_the_timeout() {
        assert_eq!(election_delays(2000), (66, 200));
        assert_eq!(election_delays(5000), (166, 500));
        assert_eq!(election_delays(15000), (500, 1000));
        assert_eq!(election_delays(60000), (500, 1000));
        assert_eq!(election_delays(1), (1, 1));
    }
}

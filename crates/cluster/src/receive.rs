//! Receiving bus messages: [`Node::step`] and what each message type changes (handshakes,
//! PING/PONG headers, gossip sections, failure reports, UPDATE, failover auth). Part of the
//! node state machine in [`crate::node`].

use crate::node::*;
use crate::state::{flags, NodeInfo};
use crate::wire::{
    self, Body, Gossip, Header, Message, MsgType, NodeId, PingBody, SlotBitmap, WireError,
    MFLAG0_PAUSED,
};

impl Node {
    /// Handles one received bus message (the complete frame; see [`wire::frame_len`]).
    /// `from_ip` is the peer address of the connection it came on (used when the sender
    /// does not announce an IP). A decode error means: close that link.
    pub fn step(
        &mut self,
        now_ms: u64,
        from_ip: &str,
        bytes: &[u8],
    ) -> Result<Vec<Output>, WireError> {
        match wire::decode(bytes) {
            Ok(msg) => Ok(self.step_msg(now_ms, from_ip, msg)),
            // Redis ignores message types it does not know; so do we, link kept.
            Err(WireError::UnknownType(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Like [`Node::step`] for an already decoded message.
    pub fn step_msg(&mut self, now_ms: u64, from_ip: &str, msg: Message) -> Vec<Output> {
        self.now = self.now.max(now_ms);
        self.received += 1;
        let mut out = Vec::new();
        self.process(&mut out, from_ip, msg);
        // Our primary may have just turned FAIL (a FAIL message, or a report completing the
        // majority): schedule the election now, not at the next tick (Valkey does this in
        // beforeSleep). The call is idempotent; before the start time it does nothing.
        if self.my_primary_failed() {
            self.handle_replica_failover(&mut out);
        }
        self.update_state(&mut out);
        self.flush(&mut out);
        out
    }

    pub(crate) fn known_sender(&self, id: &NodeId) -> Option<NodeId> {
        self.st
            .nodes
            .get(id)
            .filter(|n| !n.has(flags::HANDSHAKE | flags::MYSELF))
            .map(|n| n.id)
    }

    pub(crate) fn process(&mut self, out: &mut Vec<Output>, from_ip: &str, msg: Message) {
        let now = self.now;
        let h = &msg.header;
        let ty = msg.body.msg_type();
        // Names end up in nodes.conf and as map keys: a sender that is not 40 hex chars
        // would write a file we cannot load at the next start (found by fuzz_bus_into_node).
        if !h.sender.is_valid() {
            return;
        }
        let sender_ip = announced_ip(&h.myip).unwrap_or_else(|| from_ip.to_string());
        let mut sender = self.known_sender(&h.sender);
        if let Some(s) = sender {
            self.note_sender_header(s, h);
        }
        let is_ping_like = matches!(ty, MsgType::Ping | MsgType::Pong | MsgType::Meet);
        if ty == MsgType::Meet && sender.is_none() && h.sender != self.st.myself {
            // A MEET is an explicit invitation: accept the sender as a member right away.
            let mut n = NodeInfo::new(h.sender, role_flags(h), now);
            n.ip = sender_ip.clone();
            n.port = h.port;
            n.cport = h.cport;
            n.pport = h.pport;
            n.link_connected = true;
            n.data_received = now;
            self.st.nodes.insert(h.sender, n);
            self.st.blacklist.remove(&h.sender);
            self.save();
            sender = Some(h.sender);
            self.note_sender_header(h.sender, h);
        }
        if ty == MsgType::Pong {
            // A PONG from the address of a handshake entry resolves it, even when the
            // sender is already known under its real name (Redis drops the duplicate then).
            if let Some(real) = self.finish_handshake(&sender_ip, h) {
                sender = Some(real);
            }
        }
        if matches!(ty, MsgType::Ping | MsgType::Meet) && h.sender != self.st.myself {
            // Always answer, even unknown senders: that completes their handshake.
            let body = self.ping_body();
            let reply = Message {
                header: self.header(),
                body: Body::Pong(body),
            };
            let to = Addr {
                ip: sender_ip.clone(),
                port: h.port,
                cport: h.cport,
            };
            self.send_raw(out, to, sender, &reply);
        }
        let Some(s) = sender else {
            return;
        };
        match msg.body {
            Body::Ping(p) | Body::Pong(p) | Body::Meet(p) if is_ping_like => {
                self.process_ping_like(out, s, &sender_ip, ty, h, &p);
            }
            Body::Fail { node } => {
                if let Some(n) = self.st.nodes.get_mut(&node) {
                    if !n.has(flags::MYSELF | flags::FAIL) {
                        n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
                        n.fail_time = now;
                        self.save();
                    }
                }
            }
            Body::Publish { channel, message } => out.push(Output::Publish {
                channel,
                message,
                sharded: false,
            }),
            Body::PublishShard { channel, message } => out.push(Output::Publish {
                channel,
                message,
                sharded: true,
            }),
            Body::FailoverAuthRequest => self.maybe_vote(out, s, h),
            Body::FailoverAuthAck => {
                let ok = self.st.nodes.get(&s).is_some_and(|n| n.is_primary())
                    && self.st.slot_count(&s) > 0
                    && h.current_epoch >= self.election.epoch;
                if ok {
                    self.election.count += 1;
                    self.handle_replica_failover(out);
                }
            }
            Body::MfStart => self.start_manual_failover_as_primary(out, s, h),
            Body::Update {
                config_epoch,
                node,
                slots,
            } => {
                let Some(n) = self.st.nodes.get(&node) else {
                    return;
                };
                if n.config_epoch >= config_epoch {
                    return;
                }
                if n.is_replica() {
                    self.st.set_node_as_primary(&node);
                }
                if let Some(n) = self.st.nodes.get_mut(&node) {
                    n.config_epoch = config_epoch;
                }
                self.update_slots_config_with(out, node, config_epoch, &slots);
                self.save();
            }
            _ => {}
        }
    }

    /// Header facts every message from a known sender updates: epochs, offset, liveness.
    pub(crate) fn note_sender_header(&mut self, s: NodeId, h: &Header) {
        let now = self.now;
        if h.current_epoch > self.st.current_epoch {
            self.st.current_epoch = h.current_epoch;
            self.save();
        }
        let my_primary = self.st.me().primary;
        let i_am_replica = self.st.me().is_replica();
        if let Some(n) = self.st.nodes.get_mut(&s) {
            n.data_received = now;
            n.link_connected = true;
            n.repl_offset = h.offset;
            // The sender's own word on NOFAILOVER (cluster-replica-no-failover) is final.
            let nofailover = h.flags & flags::NOFAILOVER;
            if n.flags & flags::NOFAILOVER != nofailover {
                n.flags = (n.flags & !flags::NOFAILOVER) | nofailover;
                self.save_pending = true;
            }
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                self.save_pending = true;
            }
        }
        if i_am_replica
            && my_primary == Some(s)
            && self.mf.end != 0
            && self.mf.primary_offset.is_none()
            && h.mflags[0] & MFLAG0_PAUSED != 0
        {
            self.mf.primary_offset = Some(h.offset);
        }
    }

    /// A PONG from an address we MEET-ed: learn the node's real name.
    pub(crate) fn finish_handshake(&mut self, ip: &str, h: &Header) -> Option<NodeId> {
        let hs = self
            .st
            .nodes
            .values()
            .find(|n| n.has(flags::HANDSHAKE) && n.ip == ip && n.port == h.port)
            .map(|n| n.id)?;
        if self.st.nodes.contains_key(&h.sender) || h.sender == self.st.myself {
            // Already known under its real name (or it is us): drop the duplicate entry.
            self.st.del_node(&hs);
            return self.known_sender(&h.sender);
        }
        self.st.rename_node(&hs, h.sender);
        if let Some(n) = self.st.nodes.get_mut(&h.sender) {
            n.flags = (n.flags & !(flags::HANDSHAKE | flags::MEET | flags::MASTER | flags::SLAVE))
                | role_flags(h);
            n.cport = h.cport;
        }
        self.st.blacklist.remove(&h.sender);
        self.save();
        self.note_sender_header(h.sender, h);
        Some(h.sender)
    }

    pub(crate) fn process_ping_like(
        &mut self,
        out: &mut Vec<Output>,
        s: NodeId,
        ip: &str,
        ty: MsgType,
        h: &Header,
        p: &PingBody,
    ) {
        let now = self.now;
        let timeout = self.cfg.node_timeout_ms;
        let mut save = false;
        let mut moved = false;
        if let Some(n) = self.st.nodes.get_mut(&s) {
            n.flags &= !flags::MEET;
            if n.ip != ip || n.port != h.port || n.cport != h.cport {
                // nodeUpdateAddressIfNeeded: a known node speaks from a new address (it
                // was restarted elsewhere, or its announced address changed).
                n.ip = ip.to_string();
                n.port = h.port;
                n.cport = h.cport;
                n.flags &= !flags::NOADDR;
                save = true;
                moved = true;
            }
            // No hostname extension means no announced hostname (Redis's
            // updateAnnouncedHostname with NULL): a node that set
            // cluster-announce-hostname to "" stops sending it, and peers forget it.
            let hn = match p.hostname.as_deref() {
                Some(raw) => valid_hostname(raw),
                None => Some(String::new()),
            };
            if let Some(hn) = hn.filter(|hn| *hn != n.hostname) {
                n.hostname = hn;
                save = true;
            }
            if ty == MsgType::Pong {
                n.pong_received = now;
                n.ping_sent = 0;
                if n.has(flags::PFAIL) {
                    n.flags &= !flags::PFAIL;
                    save = true;
                }
            }
        }
        if ty == MsgType::Pong {
            self.clear_failure_if_needed(&s, timeout);
        }
        if moved && self.st.me().is_replica() && self.st.me().primary == Some(s) {
            // Our primary moved: replicate from its new address (Redis re-targets the
            // replication link here too); the old one may never answer again.
            if let Some(n) = self.st.nodes.get(&s) {
                out.push(Output::ReplicateFrom {
                    primary: s,
                    addr: Addr {
                        ip: n.ip.clone(),
                        port: n.port,
                        cport: n.cport,
                    },
                });
            }
        }
        // Role changes (the header says what the sender is now).
        let was_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        match h.replica_of {
            None => {
                if !was_primary {
                    self.st.set_node_as_primary(&s);
                    save = true;
                }
            }
            Some(p_id) => {
                if was_primary {
                    // A primary turned replica: its slots are no longer its to claim.
                    self.st.del_node_slots(&s);
                    save = true;
                }
                let cur = self.st.nodes.get(&s).and_then(|n| n.primary);
                let role_ok = self.st.nodes.get(&s).is_some_and(|n| n.is_replica());
                if self.st.nodes.contains_key(&p_id) && (cur != Some(p_id) || !role_ok) && p_id != s
                {
                    self.st.set_node_as_replica(&s, p_id);
                    save = true;
                }
            }
        }
        // Slot ownership (cluster-spec "Slots configuration propagation").
        let sender_is_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        let shard = if sender_is_primary {
            Some(s)
        } else {
            self.st.nodes.get(&s).and_then(|n| n.primary)
        };
        let dirty = match shard {
            Some(sp) if self.st.nodes.contains_key(&sp) => self.st.slots_of(&sp) != h.myslots,
            _ => false,
        };
        if sender_is_primary && dirty {
            self.update_slots_config_with(out, s, h.config_epoch, &h.myslots);
        }
        if dirty {
            // The sender claims slots that a node with a newer epoch owns: tell it.
            let stale = h.myslots.iter().find_map(|j| {
                let o = self.st.slots[j]?;
                if o == s {
                    return None;
                }
                let on = self.st.nodes.get(&o)?;
                (on.config_epoch > h.config_epoch).then_some((o, on.config_epoch))
            });
            if let Some((owner, epoch)) = stale {
                let msg = Message {
                    header: self.header(),
                    body: Body::Update {
                        config_epoch: epoch,
                        node: owner,
                        slots: self.st.slots_of(&owner),
                    },
                };
                self.send_to(out, &s, &msg);
            }
        }
        if sender_is_primary
            && self.st.me().is_primary()
            && h.config_epoch == self.st.me().config_epoch
        {
            self.handle_config_epoch_collision(s);
        }
        self.process_gossip(s, &p.gossip);
        if save {
            self.save();
        }
    }

    /// Two primaries with the same config epoch: the one with the smaller name takes a
    /// new epoch (cluster-spec "Handling config epoch collisions").
    pub(crate) fn handle_config_epoch_collision(&mut self, s: NodeId) {
        if s <= self.st.myself {
            return;
        }
        self.st.current_epoch += 1;
        let e = self.st.current_epoch;
        self.st.me_mut().config_epoch = e;
        self.save();
    }

    pub(crate) fn clear_failure_if_needed(&mut self, id: &NodeId, timeout: u64) {
        let now = self.now;
        let slots = self.st.slot_count(id);
        if let Some(n) = self.st.nodes.get_mut(id) {
            if !n.failed() {
                return;
            }
            // Replicas and slot-less primaries: clear at once. Serving primaries: only if
            // nobody failed them over for a while (FAIL_UNDO_TIME_MULT = 2).
            if n.is_replica() || slots == 0 || now.saturating_sub(n.fail_time) > timeout * 2 {
                n.flags &= !flags::FAIL;
                self.save_pending = true;
            }
        }
    }

    pub(crate) fn process_gossip(&mut self, s: NodeId, gossip: &[Gossip]) {
        let now = self.now;
        let sender_is_primary = self.st.nodes.get(&s).is_some_and(|n| n.is_primary());
        for g in gossip {
            if self.st.nodes.contains_key(&g.node) {
                if sender_is_primary && g.node != self.st.myself {
                    if g.flags & (flags::FAIL | flags::PFAIL) != 0 {
                        self.st.add_failure_report(&g.node, s, now);
                        self.mark_failing_if_needed(&g.node);
                    } else {
                        self.st.del_failure_report(&g.node, &s);
                    }
                }
                if let Some(n) = self.st.nodes.get_mut(&g.node) {
                    if g.flags & (flags::FAIL | flags::PFAIL) == 0
                        && n.ping_sent == 0
                        && n.fail_reports.is_empty()
                    {
                        let pong = g.pong_received as u64 * 1000;
                        if pong <= now + 500 && pong > n.pong_received {
                            n.pong_received = pong;
                        }
                    }
                    // A node we cannot reach but others can, at another address: it was
                    // restarted elsewhere; try there (clusterProcessGossipSection).
                    let Some(ip) = announced_ip(&g.ip) else {
                        continue;
                    };
                    if n.down()
                        && g.flags & (flags::NOADDR | flags::FAIL | flags::PFAIL) == 0
                        && (n.ip != ip || n.port != g.port || n.cport != g.cport)
                    {
                        n.ip = ip;
                        n.port = g.port;
                        n.pport = g.pport;
                        n.cport = g.cport;
                        n.flags &= !flags::NOADDR;
                        self.save_pending = true;
                    }
                }
            } else if g.flags & flags::NOADDR == 0
                && g.node.is_valid()
                && announced_ip(&g.ip).is_some()
                && !self.st.blacklist.contains_key(&g.node)
            {
                // Redis 7: a node gossiped by a known member joins our table under its
                // exact name (no handshake with a random name, which could reach another
                // cluster if the address was reused); our next PING learns the rest.
                let mut n = NodeInfo::new(
                    g.node,
                    g.flags & (flags::MASTER | flags::SLAVE | flags::NOFAILOVER),
                    now,
                );
                n.ip = announced_ip(&g.ip).unwrap_or_default();
                n.port = g.port;
                n.cport = g.cport;
                n.pport = g.pport;
                self.st.nodes.insert(g.node, n);
                self.save_pending = true;
            }
        }
    }

    /// Begins a handshake with an address (CLUSTER MEET; gossip adds nodes by name instead).
    pub(crate) fn start_handshake(&mut self, ip: &str, port: u16, cport: u16) {
        let busy =
            self.st.nodes.values().any(|n| {
                n.has(flags::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport
            });
        if busy {
            return;
        }
        let id = random_id(&mut self.rng);
        let mut n = NodeInfo::new(id, flags::HANDSHAKE | flags::MEET, self.now);
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        self.st.nodes.insert(id, n);
    }

    /// A primary we consider PFAIL becomes FAIL once a majority of primaries (counting us,
    /// if we are one) reported it within 2 * node_timeout (cluster-spec "Failure detection").
    pub(crate) fn mark_failing_if_needed(&mut self, id: &NodeId) {
        let needed = self.st.size() / 2 + 1;
        let Some(n) = self.st.nodes.get(id) else {
            return;
        };
        if !n.has(flags::PFAIL) || n.failed() {
            return;
        }
        let mut failures =
            self.st
                .count_failure_reports(id, self.now, self.cfg.node_timeout_ms * 2);
        if self.st.me().is_primary() {
            failures += 1;
        }
        if failures < needed {
            return;
        }
        let now = self.now;
        if let Some(n) = self.st.nodes.get_mut(id) {
            n.flags = (n.flags | flags::FAIL) & !flags::PFAIL;
            n.fail_time = now;
        }
        self.pending_fail.push(*id);
        self.save();
    }

    /// Applies a slot claim (clusterUpdateSlotsConfigWith): every slot in `slots` whose
    /// owner has an older config epoch (or none) moves to `sender`. If our own shard lost
    /// all its slots to `sender`, we follow it as a replica.
    pub(crate) fn update_slots_config_with(
        &mut self,
        out: &mut Vec<Output>,
        sender: NodeId,
        epoch: u64,
        slots: &SlotBitmap,
    ) {
        if sender == self.st.myself {
            return;
        }
        let cur_primary = self.st.my_shard_primary();
        let mut new_primary = None;
        let mut migrated_ours = 0;
        let mut lost = Vec::new();
        let mut changed = false;
        for j in slots.iter() {
            let owner = self.st.slots[j];
            if owner == Some(sender) || self.st.importing.contains_key(&(j as u16)) {
                continue;
            }
            let owner_epoch = owner
                .and_then(|o| self.st.nodes.get(&o))
                .map(|n| n.config_epoch);
            if owner.is_none() || owner_epoch.is_some_and(|e| e < epoch) || owner_epoch.is_none() {
                if owner == Some(self.st.myself) {
                    lost.push(j as u16);
                }
                if owner.is_some() && owner == cur_primary {
                    new_primary = Some(sender);
                    migrated_ours += 1;
                }
                self.st.slots.set(j, Some(sender));
                changed = true;
            }
        }
        if changed {
            self.save();
        }
        let cur_left = cur_primary.map(|p| self.st.slot_count(&p)).unwrap_or(0);
        if let Some(np) = new_primary {
            if cur_left == 0 && (self.cfg.allow_replica_migration || slots.count() == migrated_ours)
            {
                self.set_my_primary(out, np);
                return;
            }
        }
        if !lost.is_empty() {
            out.push(Output::SlotsLost { slots: lost });
        }
    }

    /// Makes us a replica of `primary` (clusterSetMaster).
    pub(crate) fn set_my_primary(&mut self, out: &mut Vec<Output>, primary: NodeId) {
        let me = self.st.myself;
        if self.st.me().is_primary() {
            let lost = self.st.del_node_slots(&me);
            self.st.migrating.clear();
            self.st.importing.clear();
            if !lost.is_empty() {
                out.push(Output::SlotsLost { slots: lost });
            }
        }
        self.st.set_node_as_replica(&me, primary);
        self.reset_manual_failover(out);
        self.election = Election::default();
        // Tell everyone at once (Redis waits for the next PINGs): the new primary needs to
        // know us as its replica before we can, e.g., ask it for a manual failover.
        self.broadcast_pong(out, false);
        if let Some(p) = self.st.nodes.get(&primary) {
            out.push(Output::ReplicateFrom {
                primary,
                addr: Addr {
                    ip: p.ip.clone(),
                    port: p.port,
                    cport: p.cport,
                },
            });
        }
        self.save();
    }
}

/// MASTER or SLAVE, from a header's `slaveof`.
fn role_flags(h: &Header) -> u16 {
    if h.replica_of.is_some() {
        flags::SLAVE
    } else {
        flags::MASTER
    }
}

/// An address announced on the bus (header `myip` or a gossip entry), if it looks like an
/// IPv4/IPv6 address. Anything else (spaces, newlines, non-ASCII) would corrupt the
/// nodes.conf line it is written to, so it is treated as not announced.
pub(crate) fn announced_ip(raw: &[u8]) -> Option<String> {
    let ok = !raw.is_empty()
        && raw
            .iter()
            .all(|&c| c.is_ascii_hexdigit() || c == b'.' || c == b':' || c == b'%');
    ok.then(|| String::from_utf8_lossy(raw).into_owned())
}

/// A hostname extension, if it is made of what `cluster-announce-hostname` accepts
/// (letters, digits, '-' and '.'); empty clears it.
pub(crate) fn valid_hostname(raw: &[u8]) -> Option<String> {
    raw.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        .then(|| String::from_utf8_lossy(raw).into_owned())
}

//! Pub/Sub subscriptions: channels, patterns and shard channels, per client and per name.
//! Delivery goes through the client registry so output-buffer limits are enforced at
//! publish time: a slow subscriber is disconnected instead of growing without bound.

use crate::client::{ClientRegistry, OutputLimits};
use ahash::AHashMap;
use bytes::Bytes;
use rubra_keys::glob_match;
use rubra_resp::Reply;

/// Which namespace a subscription lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// All subscriptions.
#[derive(Default)]
pub(crate) struct PubSub {
    channels: AHashMap<Bytes, Vec<u64>>,
    patterns: AHashMap<Bytes, Vec<u64>>,
    shard: AHashMap<Bytes, Vec<u64>>,
    /// Each client's subscriptions with the order they were made in (see `next_order`).
    by_client: AHashMap<u64, AHashMap<(Kind, Bytes), u64>>,
    /// Stamps subscriptions in the order they are made: Redis keeps a client's patterns in
    /// a list, so PUNSUBSCRIBE without arguments confirms them oldest first.
    next_order: u64,
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut AHashMap<Bytes, Vec<u64>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscribes; returns whether it is new.
    pub(crate) fn subscribe(&mut self, client: u64, kind: Kind, name: Bytes) -> bool {
        let subs = self.by_client.entry(client).or_default();
        if subs.contains_key(&(kind, name.clone())) {
            return false;
        }
        subs.insert((kind, name.clone()), self.next_order);
        self.next_order += 1;
        self.map(kind).entry(name).or_default().push(client);
        true
    }

    /// Unsubscribes; returns whether it existed.
    pub(crate) fn unsubscribe(&mut self, client: u64, kind: Kind, name: &Bytes) -> bool {
        let removed = self
            .by_client
            .get_mut(&client)
            .is_some_and(|s| s.remove(&(kind, name.clone())).is_some());
        if removed {
            let map = self.map(kind);
            if let Some(list) = map.get_mut(name) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    map.remove(name);
                }
            }
        }
        removed
    }

    /// A client's subscriptions of one kind, oldest first (Redis's order for patterns; its
    /// channels come in hash-table order, which any order matches).
    pub(crate) fn subscriptions_of(&self, client: u64, kind: Kind) -> Vec<Bytes> {
        let mut v: Vec<(u64, Bytes)> = self
            .by_client
            .get(&client)
            .map(|s| {
                s.iter()
                    .filter(|((k, _), _)| *k == kind)
                    .map(|((_, n), &order)| (order, n.clone()))
                    .collect()
            })
            .unwrap_or_default();
        v.sort_unstable_by_key(|(order, _)| *order);
        v.into_iter().map(|(_, n)| n).collect()
    }

    /// Total subscriptions of a client (the count in subscribe replies).
    pub(crate) fn count_of(&self, client: u64, kinds: &[Kind]) -> usize {
        self.by_client
            .get(&client)
            .map_or(0, |s| s.keys().filter(|(k, _)| kinds.contains(k)).count())
    }

    /// Drops every subscription of a client (disconnect, RESET).
    pub(crate) fn remove_client(&mut self, client: u64) {
        let Some(subs) = self.by_client.remove(&client) else {
            return;
        };
        for (kind, name) in subs.into_keys() {
            let map = self.map(kind);
            if let Some(list) = map.get_mut(&name) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    map.remove(&name);
                }
            }
        }
    }

    /// Delivers a message; returns the number of clients that received it.
    pub(crate) fn publish(
        &mut self,
        clients: &mut ClientRegistry,
        kind: Kind,
        channel: &Bytes,
        message: &Bytes,
        now_ms: u64,
        limits: OutputLimits,
    ) -> usize {
        let mut deliveries: Vec<(u64, Reply)> = Vec::new();
        let (map, tag): (&AHashMap<Bytes, Vec<u64>>, &'static str) = match kind {
            Kind::Shard => (&self.shard, "smessage"),
            _ => (&self.channels, "message"),
        };
        if let Some(list) = map.get(channel) {
            for &c in list {
                deliveries.push((
                    c,
                    Reply::Push(vec![
                        Reply::bulk(tag.as_bytes()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ]),
                ));
            }
        }
        if kind == Kind::Channel {
            for (pattern, list) in &self.patterns {
                if glob_match(pattern, channel, false) {
                    for &c in list {
                        deliveries.push((
                            c,
                            Reply::Push(vec![
                                Reply::bulk(b"pmessage"),
                                Reply::Bulk(pattern.clone()),
                                Reply::Bulk(channel.clone()),
                                Reply::Bulk(message.clone()),
                            ]),
                        ));
                    }
                }
            }
        }
        let mut delivered = 0;
        for (client, reply) in deliveries {
            if clients.push(client, reply, now_ms, limits) {
                delivered += 1;
            } else {
                self.remove_client(client);
            }
        }
        delivered
    }

    /// Unsubscribes every client from the shard channels `keep` refuses, telling each with
    /// a `sunsubscribe` push (and its remaining shard subscription count), as Redis's
    /// removeChannelsInSlot does when a slot leaves the node's shard.
    pub(crate) fn drop_shard_channels(
        &mut self,
        clients: &mut ClientRegistry,
        keep: impl Fn(&Bytes) -> bool,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        if self.shard.is_empty() {
            return;
        }
        let gone: Vec<Bytes> = self.shard.keys().filter(|c| !keep(c)).cloned().collect();
        for channel in gone {
            let subscribers = self.shard.get(&channel).cloned().unwrap_or_default();
            for client in subscribers {
                self.unsubscribe(client, Kind::Shard, &channel);
                let count = self.count_of(client, &[Kind::Shard]) as i64;
                let reply = Reply::Push(vec![
                    Reply::bulk(b"sunsubscribe"),
                    Reply::Bulk(channel.clone()),
                    Reply::Int(count),
                ]);
                if !clients.push(client, reply, now_ms, limits) {
                    self.remove_client(client);
                }
            }
            self.shard.remove(&channel);
        }
    }

    /// Active channels (or shard channels) matching an optional pattern (PUBSUB CHANNELS).
    pub(crate) fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        let mut v: Vec<Bytes> = map
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Subscribers of a channel (PUBSUB NUMSUB / SHARDNUMSUB).
    pub(crate) fn numsub(&self, kind: Kind, channel: &Bytes) -> usize {
        let map = match kind {
            Kind::Shard => &self.shard,
            _ => &self.channels,
        };
        map.get(channel).map_or(0, |l| l.len())
    }

    /// Number of distinct patterns (PUBSUB NUMPAT).
    pub(crate) fn numpat(&self) -> usize {
        self.patterns.len()
    }
}

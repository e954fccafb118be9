//! Pub/Sub across the cluster bus.
//!
//! BACKGROUND (Redis 7.0 cluster.c, clusterPropagatePublish): a PUBLISH on any node is
//! delivered to that node's subscribers and sent as a PUBLISH bus message to every other
//! node, each of which delivers it to its own subscribers (and forwards nothing, so a
//! message is delivered once per node). SPUBLISH is scoped to a shard: it goes as a
//! PUBLISHSHARD message only to the other nodes of the shard serving the channel's slot —
//! the primary and its replicas — because the dispatcher already made sure that the shard
//! is ours (it answered -MOVED otherwise).

use crate::node::{Node, Output};
use crate::state::flags;
use crate::wire::{Body, Message, NodeId};

impl Node {
    /// A local client published `message` on `channel` (SPUBLISH if `sharded`): the bus
    /// messages that carry it to the other nodes that must deliver it. Delivering it to
    /// our own subscribers is the caller's job.
    pub fn publish(&mut self, channel: &[u8], message: &[u8], sharded: bool) -> Vec<Output> {
        let mut out = Vec::new();
        let (channel, message) = (channel.to_vec(), message.to_vec());
        if !sharded {
            let msg = Message {
                header: self.header(),
                body: Body::Publish { channel, message },
            };
            self.broadcast(&mut out, &msg);
            return out;
        }
        let Some(primary) = self.st.my_shard_primary() else {
            return out;
        };
        let mut targets: Vec<NodeId> = self.st.replicas_of(&primary);
        targets.push(primary);
        targets.retain(|id| {
            *id != self.st.myself
                && self
                    .st
                    .nodes
                    .get(id)
                    .is_some_and(|n| !n.has(flags::HANDSHAKE))
        });
        if targets.is_empty() {
            return out;
        }
        let msg = Message {
            header: self.header(),
            body: Body::PublishShard { channel, message },
        };
        for id in targets {
            self.send_to(&mut out, &id, &msg);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::node::{Node, NodeConfig, Output};
    use crate::wire::{decode, Body};

    fn sends(outs: &[Output]) -> Vec<(u16, Body)> {
        outs.iter()
            .filter_map(|o| match o {
                Output::Send { to, bytes, .. } => Some((to.cport, decode(bytes).ok()?.body)),
                _ => None,
            })
            .collect()
    }

    /// Three nodes that know each other: 0 and 1 primaries, 2 a replica of 0.
    fn trio() -> Vec<Node> {
        let mut nodes: Vec<Node> = (0..3)
            .map(|i| Node::new(NodeConfig::new("127.0.0.1", 30000 + i), i as u64 + 1, 1000))
            .collect();
        // Teach every node the others through the handshake-free path: MEET + PONG.
        for round in 0..3 {
            for i in 0..3 {
                let outs = if round == 0 {
                    let mut o = Vec::new();
                    for j in 0..3u16 {
                        if j as usize != i {
                            o.extend(nodes[i].meet(1000, "127.0.0.1", 30000 + j, None).unwrap());
                        }
                    }
                    o.extend(nodes[i].tick(1100));
                    o
                } else {
                    nodes[i].tick(1100 + round * 300)
                };
                deliver(&mut nodes, outs);
            }
        }
        let id0 = nodes[0].id().0;
        let outs = nodes[2].replicate(&id0, 0).unwrap();
        deliver(&mut nodes, outs);
        for round in 0..3 {
            for i in 0..3 {
                let outs = nodes[i].tick(3000 + round * 600);
                deliver(&mut nodes, outs);
            }
        }
        nodes
    }

    /// Delivers messages (and the replies they cause) until the network is quiet.
    fn deliver(nodes: &mut [Node], outs: Vec<Output>) {
        let mut queue = outs;
        let mut hops = 0;
        while !queue.is_empty() && hops < 10_000 {
            hops += 1;
            let o = queue.remove(0);
            if let Output::Send { to, bytes, .. } = o {
                let dst = (to.cport - 40000) as usize;
                if let Ok(more) = nodes[dst].step(4000, "127.0.0.1", &bytes) {
                    queue.extend(more);
                }
            }
        }
    }

    #[test]
    fn publish_goes_to_every_other_node() {
        let mut nodes = trio();
        let outs = nodes[1].publish(b"ch", b"hi", false);
        let mut to: Vec<u16> = sends(&outs).iter().map(|(p, _)| *p).collect();
        to.sort();
        assert_eq!(to, vec![40000, 40002]);
        assert!(sends(&outs).iter().all(|(_, b)| matches!(b,
            Body::Publish { channel, message } if channel == b"ch" && message == b"hi")));
        // The receiver delivers it locally and forwards nothing.
        for o in outs {
            if let Output::Send { to, bytes, .. } = o {
                let got = nodes[(to.cport - 40000) as usize]
                    .step(5000, "127.0.0.1", &bytes)
                    .unwrap();
                assert!(got.contains(&Output::Publish {
                    channel: b"ch".to_vec(),
                    message: b"hi".to_vec(),
                    sharded: false
                }));
                assert!(!got.iter().any(|g| matches!(g, Output::Send { .. })));
            }
        }
    }

    #[test]
    fn spublish_stays_in_the_shard() {
        let mut nodes = trio();
        assert_eq!(nodes[2].state().me().primary, Some(nodes[0].id()));
        // From the primary: only its replica.
        let outs = nodes[0].publish(b"sc", b"m", true);
        let to: Vec<u16> = sends(&outs).iter().map(|(p, _)| *p).collect();
        assert_eq!(to, vec![40002]);
        assert!(matches!(&sends(&outs)[0].1, Body::PublishShard { .. }));
        // From the replica: only its primary.
        let outs = nodes[2].publish(b"sc", b"m", true);
        let to: Vec<u16> = sends(&outs).iter().map(|(p, _)| *p).collect();
        assert_eq!(to, vec![40000]);
        // A primary without replicas sends nothing.
        assert!(sends(&nodes[1].publish(b"sc", b"m", true)).is_empty());
    }
}

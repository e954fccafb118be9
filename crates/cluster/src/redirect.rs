//! Whether a request runs on this node, and if not where the client must go: Redis's
//! getNodeByQuery as a pure function of the node's cluster state and the request.
//!
//! BACKGROUND (cluster-spec "Redirection and resharding", "ASK redirection", "Scaling
//! reads using replica nodes"): keys of one request must share a slot (CROSSSLOT); a slot
//! owned elsewhere answers MOVED; while a slot migrates away, keys that are no longer here
//! answer ASK (and a multi-key request that finds only some of its keys answers TRYAGAIN);
//! the importing side accepts a request only after ASKING; a replica serves reads of its
//! primary's slots to READONLY clients, and shard pub/sub to everyone. A down cluster
//! refuses all but what `cluster-allow-reads-when-down` / `-pubsubshard-when-down` allow.
//!
//! BEHAVIOR: the decision reads nothing but its arguments, so the simulator can ask every
//! node the same question at any point of a migration and check that exactly one of them
//! serves each key. Which keys exist is the caller's knowledge: it is asked for (through
//! `keys_present`) only while the slot is migrating or importing.

use crate::state::ClusterState;
use crate::wire::NodeId;

/// What the router needs to know about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The hash slot of each key the command names, in argument order.
    pub key_slots: &'a [u16],
    /// The command only reads (READONLY flag, not WRITE): replicas and a down cluster may
    /// serve it.
    pub read_only: bool,
    /// SSUBSCRIBE / SUNSUBSCRIBE / SPUBLISH: served by every node of the shard.
    pub shard_pubsub: bool,
    /// The client sent ASKING before this command (or it is RESTORE-ASKING).
    pub asking: bool,
    /// The client is in READONLY mode.
    pub readonly_client: bool,
}

/// What a down cluster still serves (cluster-allow-reads-when-down,
/// cluster-allow-pubsubshard-when-down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownPolicy {
    pub allow_reads: bool,
    pub allow_pubsubshard: bool,
}

impl Default for DownPolicy {
    /// Redis's defaults: reads refused, shard pub/sub allowed.
    fn default() -> Self {
        DownPolicy {
            allow_reads: false,
            allow_pubsubshard: true,
        }
    }
}

/// The outcome; the server turns each into Redis's reply text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirect {
    /// Run it here.
    Local,
    /// `-MOVED slot ip:port` of the owner.
    Moved { slot: u16, to: NodeId },
    /// `-ASK slot ip:port` of the migration target.
    Ask { slot: u16, to: NodeId },
    /// `-TRYAGAIN Multiple keys request during rehashing of slot`.
    TryAgain,
    /// `-CROSSSLOT Keys in request don't hash to the same slot`.
    CrossSlot,
    /// `-CLUSTERDOWN The cluster is down`.
    ClusterDown,
    /// `-CLUSTERDOWN Hash slot not served`.
    Unserved,
}

/// Decides where `req` runs, given this node's view `st` and whether its cluster state is
/// ok. `keys_present` counts how many of the request's keys exist here.
pub fn decide(
    st: &ClusterState,
    state_ok: bool,
    policy: DownPolicy,
    req: &Request,
    keys_present: impl FnOnce() -> usize,
) -> Redirect {
    let Some((&slot, rest)) = req.key_slots.split_first() else {
        return Redirect::Local;
    };
    if rest.iter().any(|&s| s != slot) {
        return Redirect::CrossSlot;
    }
    let keys = req.key_slots.len();
    let servable = state_ok
        || (policy.allow_reads && req.read_only)
        || (policy.allow_pubsubshard && req.shard_pubsub);
    if !servable {
        return Redirect::ClusterDown;
    }
    let Some(owner) = st.slots.get(slot as usize).copied().flatten() else {
        return Redirect::Unserved;
    };
    if owner == st.myself {
        // Shard channels are not keys: the source serves them until the slot's owner
        // changes (Redis counts no missing keys for SSUBSCRIBE / SPUBLISH).
        if let Some(&target) = st.migrating.get(&slot).filter(|_| !req.shard_pubsub) {
            let found = keys_present();
            if found < keys {
                if found > 0 && keys > 1 {
                    return Redirect::TryAgain;
                }
                return Redirect::Ask { slot, to: target };
            }
        }
        return Redirect::Local;
    }
    if req.asking && st.importing.contains_key(&slot) {
        if keys > 1 {
            let found = keys_present();
            if found > 0 && found < keys {
                return Redirect::TryAgain;
            }
        }
        return Redirect::Local;
    }
    let me = st.me();
    let my_primary_owns = me.is_replica() && me.primary == Some(owner);
    if ((req.readonly_client && req.read_only) || req.shard_pubsub) && my_primary_owns {
        return Redirect::Local;
    }
    Redirect::Moved { slot, to: owner }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{flags, NodeInfo};

    fn id(i: u8) -> NodeId {
        NodeId::from_bytes(&[b'a' + i; 40]).unwrap()
    }

    /// Node 0 (us) owns 0..8192, node 1 owns the rest; the cluster is ok.
    fn state() -> ClusterState {
        let mut st = ClusterState::new(id(0), 0);
        st.nodes
            .insert(id(1), NodeInfo::new(id(1), flags::MASTER, 0));
        for s in 0..crate::SLOT_COUNT {
            st.slots.set(s, Some(if s < 8192 { id(0) } else { id(1) }));
        }
        st
    }

    fn req(slots: &[u16]) -> Request<'_> {
        Request {
            key_slots: slots,
            ..Request::default()
        }
    }

    fn no_keys() -> usize {
        0
    }

    const OK: DownPolicy = DownPolicy {
        allow_reads: false,
        allow_pubsubshard: true,
    };

    #[test]
    fn owner_runs_others_move_and_slots_must_agree() {
        let st = state();
        assert_eq!(
            decide(&st, true, OK, &req(&[5061]), no_keys),
            Redirect::Local
        );
        assert_eq!(
            decide(&st, true, OK, &req(&[12182]), no_keys),
            Redirect::Moved {
                slot: 12182,
                to: id(1)
            }
        );
        assert_eq!(
            decide(&st, true, OK, &req(&[12182, 5061]), no_keys),
            Redirect::CrossSlot
        );
        assert_eq!(
            decide(&st, true, OK, &req(&[5061, 5061]), no_keys),
            Redirect::Local
        );
        assert_eq!(decide(&st, true, OK, &req(&[]), no_keys), Redirect::Local);
    }

    #[test]
    fn shard_channels_of_a_migrating_slot_stay_on_the_source() {
        let mut st = state();
        st.migrating.insert(5061, id(1));
        let spublish = Request {
            shard_pubsub: true,
            ..req(&[5061])
        };
        assert_eq!(decide(&st, true, OK, &spublish, || 0), Redirect::Local);
    }

    #[test]
    fn migrating_slot_asks_for_missing_keys_and_importing_needs_asking() {
        let mut st = state();
        st.migrating.insert(5061, id(1));
        assert_eq!(
            decide(&st, true, OK, &req(&[5061]), || 0),
            Redirect::Ask {
                slot: 5061,
                to: id(1)
            }
        );
        assert_eq!(decide(&st, true, OK, &req(&[5061]), || 1), Redirect::Local);
        assert_eq!(
            decide(&st, true, OK, &req(&[5061, 5061]), || 1),
            Redirect::TryAgain
        );
        assert_eq!(
            decide(&st, true, OK, &req(&[5061, 5061]), || 0),
            Redirect::Ask {
                slot: 5061,
                to: id(1)
            }
        );

        let mut st = state();
        st.importing.insert(12182, id(1));
        let plain = req(&[12182]);
        assert_eq!(
            decide(&st, true, OK, &plain, || 0),
            Redirect::Moved {
                slot: 12182,
                to: id(1)
            }
        );
        let asking = Request {
            asking: true,
            ..plain
        };
        assert_eq!(decide(&st, true, OK, &asking, || 0), Redirect::Local);
        let two = [12182, 12182];
        let asking_two = Request {
            key_slots: &two,
            asking: true,
            ..Request::default()
        };
        assert_eq!(decide(&st, true, OK, &asking_two, || 1), Redirect::TryAgain);
        assert_eq!(decide(&st, true, OK, &asking_two, || 2), Redirect::Local);
    }

    #[test]
    fn replica_serves_readonly_reads_and_shard_pubsub_of_its_primary() {
        let mut st = state();
        st.me_mut().flags = flags::MYSELF | flags::SLAVE;
        st.me_mut().primary = Some(id(1));
        let read = Request {
            read_only: true,
            ..req(&[12182])
        };
        assert_eq!(
            decide(&st, true, OK, &read, no_keys),
            Redirect::Moved {
                slot: 12182,
                to: id(1)
            }
        );
        let readonly_client = Request {
            readonly_client: true,
            ..read
        };
        assert_eq!(
            decide(&st, true, OK, &readonly_client, no_keys),
            Redirect::Local
        );
        let write = Request {
            read_only: false,
            ..readonly_client
        };
        assert_eq!(
            decide(&st, true, OK, &write, no_keys),
            Redirect::Moved {
                slot: 12182,
                to: id(1)
            }
        );
        let spublish = Request {
            shard_pubsub: true,
            ..req(&[12182])
        };
        assert_eq!(decide(&st, true, OK, &spublish, no_keys), Redirect::Local);
    }

    #[test]
    fn down_cluster_refuses_except_what_the_policy_allows() {
        let mut st = state();
        let read = Request {
            read_only: true,
            ..req(&[5061])
        };
        assert_eq!(
            decide(&st, false, OK, &read, no_keys),
            Redirect::ClusterDown
        );
        let reads_ok = DownPolicy {
            allow_reads: true,
            ..OK
        };
        assert_eq!(
            decide(&st, false, reads_ok, &read, no_keys),
            Redirect::Local
        );
        let spublish = Request {
            shard_pubsub: true,
            ..req(&[5061])
        };
        assert_eq!(decide(&st, false, OK, &spublish, no_keys), Redirect::Local);
        st.slots.set(5061, None);
        assert_eq!(
            decide(&st, true, OK, &req(&[5061]), no_keys),
            Redirect::Unserved
        );
    }
}

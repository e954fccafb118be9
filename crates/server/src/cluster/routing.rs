//! Cluster-mode request routing: which node serves each hash slot, from this node's point of
//! view, and the redirection a client gets when a command's keys are not served here
//! (-MOVED, -ASK, -CROSSSLOT, -TRYAGAIN, -CLUSTERDOWN), following the cluster specification
//! ("Redirection and resharding"). The cluster state machine keeps this table current; the
//! dispatcher only reads it.

use crate::client::ClientState;
use crate::cmd::{flags, Command};
use bytes::Bytes;
use rubra_keys::{key_slot, SLOT_COUNT};
use rubra_keyspace::Db;
use rubra_resp::Reply;
use std::collections::HashMap;

/// A node as clients reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteNode {
    pub id: String,
    /// "ip:port" as announced (what MOVED/ASK carry).
    pub endpoint: String,
}

/// The slot table used for redirections.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    /// Index into `nodes` per slot, or None if unassigned. u16, not usize: the table is
    /// rebuilt on every SETSLOT of a reshard, and 64 KB clear faster than 256 KB.
    pub owners: Vec<Option<u16>>,
    pub nodes: Vec<RouteNode>,
    /// Our index in `nodes`.
    pub me: usize,
    /// If we are a replica: the index of our primary.
    pub my_primary: Option<usize>,
    /// Slots we are moving away (slot -> target node index).
    pub migrating: HashMap<u16, usize>,
    /// Slots we are receiving (slot -> source node index).
    pub importing: HashMap<u16, usize>,
    /// cluster_state:ok
    pub state_ok: bool,
    pub allow_reads_when_down: bool,
    /// cluster-allow-pubsubshard-when-down: shard pub/sub keeps working while the
    /// cluster is down, as long as the slot is served.
    pub allow_pubsubshard_when_down: bool,
}

impl Routing {
    /// A table where this node is alone and owns nothing.
    pub(crate) fn new(me: RouteNode) -> Routing {
        Routing {
            owners: vec![None; SLOT_COUNT],
            nodes: vec![me],
            me: 0,
            my_primary: None,
            migrating: HashMap::new(),
            importing: HashMap::new(),
            state_ok: false,
            allow_reads_when_down: false,
            allow_pubsubshard_when_down: true,
        }
    }

    /// The index into `nodes` of the node serving `slot`, if any.
    pub(crate) fn owner_index(&self, slot: u16) -> Option<usize> {
        self.owners
            .get(slot as usize)
            .copied()
            .flatten()
            .map(usize::from)
    }

    /// Whether this node serves `slot` (as primary, or as the replica of its owner).
    fn served_by_my_primary(&self, slot: u16) -> bool {
        self.my_primary.is_some() && self.owner_index(slot) == self.my_primary
    }
}

fn moved(slot: u16, node: &RouteNode) -> Reply {
    Reply::error(format!("MOVED {} {}", slot, node.endpoint))
}

/// Decides whether `cmd` runs here. Returns the redirection or error to send instead, or
/// None to execute. `db` is the client's database, used to see which keys exist during a
/// migration.
pub(crate) fn route(
    routing: &Routing,
    client: &mut ClientState,
    cmd: &Command,
    args: &[Bytes],
    db: &mut Db,
    now_ms: u64,
) -> Option<Reply> {
    let asking = std::mem::take(&mut client.asking);
    let positions = cmd.key_positions(args);
    let mut slot: Option<u16> = None;
    for &i in &positions {
        let s = key_slot(&args[i]);
        match slot {
            None => slot = Some(s),
            Some(prev) if prev != s => {
                return Some(Reply::err(
                    "CROSSSLOT Keys in request don't hash to the same slot",
                ));
            }
            _ => {}
        }
    }
    let slot = slot?;
    let readonly_cmd = cmd.has(flags::READONLY) && !cmd.has(flags::WRITE);
    let shard_pubsub = cmd.has(flags::PUBSUB) && !cmd.has(flags::WRITE);
    let servable = routing.state_ok
        || (routing.allow_reads_when_down && readonly_cmd)
        || (routing.allow_pubsubshard_when_down && shard_pubsub);
    if !servable {
        return Some(Reply::err("CLUSTERDOWN The cluster is down"));
    }
    let Some(owner_idx) = routing.owner_index(slot) else {
        return Some(Reply::err("CLUSTERDOWN Hash slot not served"));
    };
    let present = |db: &mut Db| {
        positions
            .iter()
            .filter(|&&i| db.contains(&args[i], now_ms))
            .count()
    };
    if owner_idx == routing.me {
        if let Some(&target) = routing.migrating.get(&slot) {
            let found = present(db);
            if found < positions.len() {
                if found > 0 && positions.len() > 1 {
                    return Some(Reply::err(
                        "TRYAGAIN Multiple keys request during rehashing of slot",
                    ));
                }
                return Some(Reply::error(format!(
                    "ASK {} {}",
                    slot, routing.nodes[target].endpoint
                )));
            }
        }
        return None;
    }
    if routing.importing.contains_key(&slot) && (asking || cmd.name == "restore-asking") {
        if positions.len() > 1 {
            let found = present(db);
            if found > 0 && found < positions.len() {
                return Some(Reply::err(
                    "TRYAGAIN Multiple keys request during rehashing of slot",
                ));
            }
        }
        return None;
    }
    // A replica serves reads of its primary's slots to READONLY clients, and shard
    // pub/sub (SSUBSCRIBE, SPUBLISH, SUNSUBSCRIBE) to everyone: Redis 7.0's getNodeByQuery
    // treats the shard's replicas as part of it for pub/sub.
    if ((client.readonly && readonly_cmd) || shard_pubsub) && routing.served_by_my_primary(slot) {
        return None;
    }
    Some(moved(slot, &routing.nodes[owner_idx]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: usize) -> RouteNode {
        RouteNode {
            id: format!("{i:040}"),
            endpoint: format!("127.0.0.1:{}", 7000 + i),
        }
    }

    fn table() -> Routing {
        let mut r = Routing::new(node(0));
        r.nodes.push(node(1));
        for s in 0..8192 {
            r.owners[s] = Some(0);
        }
        for s in 8192..SLOT_COUNT {
            r.owners[s] = Some(1);
        }
        r.state_ok = true;
        r
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn cmd(name: &str) -> &'static Command {
        crate::cmd::lookup(name.as_bytes()).unwrap()
    }

    #[test]
    fn redirects_follow_the_spec() {
        let r = table();
        let mut c = ClientState::default();
        let mut db = Db::new();
        // "foo" is slot 12182 (node 1), "bar" slot 5061 (node 0).
        assert!(route(&r, &mut c, cmd("del"), &args(&["del", "bar"]), &mut db, 0).is_none());
        assert_eq!(
            route(&r, &mut c, cmd("del"), &args(&["del", "foo"]), &mut db, 0),
            Some(Reply::error("MOVED 12182 127.0.0.1:7001"))
        );
        assert_eq!(
            route(
                &r,
                &mut c,
                cmd("del"),
                &args(&["del", "foo", "bar"]),
                &mut db,
                0
            ),
            Some(Reply::err(
                "CROSSSLOT Keys in request don't hash to the same slot"
            ))
        );
        assert!(route(
            &r,
            &mut c,
            cmd("del"),
            &args(&["del", "{bar}1", "{bar}2"]),
            &mut db,
            0
        )
        .is_none());
        assert!(route(&r, &mut c, cmd("ping"), &args(&["ping"]), &mut db, 0).is_none());
    }

    #[test]
    fn migration_asks_and_importing_accepts_asking() {
        let mut r = table();
        r.migrating.insert(5061, 1);
        let mut c = ClientState::default();
        let mut db = Db::new();
        assert_eq!(
            route(
                &r,
                &mut c,
                cmd("exists"),
                &args(&["exists", "bar"]),
                &mut db,
                0
            ),
            Some(Reply::error("ASK 5061 127.0.0.1:7001"))
        );
        db.set(
            Bytes::from_static(b"bar"),
            rubra_keyspace::Value::Str(vec![]),
            0,
        );
        assert!(route(
            &r,
            &mut c,
            cmd("exists"),
            &args(&["exists", "bar"]),
            &mut db,
            0
        )
        .is_none());
        let mut r2 = table();
        r2.importing.insert(12182, 1);
        assert!(route(
            &r2,
            &mut c,
            cmd("exists"),
            &args(&["exists", "foo"]),
            &mut db,
            0
        )
        .is_some());
        c.asking = true;
        assert!(route(
            &r2,
            &mut c,
            cmd("exists"),
            &args(&["exists", "foo"]),
            &mut db,
            0
        )
        .is_none());
        assert!(!c.asking, "ASKING is good for one command only");
    }

    #[test]
    fn replicas_serve_reads_after_readonly_and_down_cluster_refuses() {
        let mut r = table();
        r.my_primary = Some(1);
        let mut c = ClientState::default();
        let mut db = Db::new();
        assert!(route(
            &r,
            &mut c,
            cmd("exists"),
            &args(&["exists", "foo"]),
            &mut db,
            0
        )
        .is_some());
        c.readonly = true;
        assert!(route(
            &r,
            &mut c,
            cmd("exists"),
            &args(&["exists", "foo"]),
            &mut db,
            0
        )
        .is_none());
        assert!(route(&r, &mut c, cmd("del"), &args(&["del", "foo"]), &mut db, 0).is_some());
        r.state_ok = false;
        assert_eq!(
            route(
                &r,
                &mut c,
                cmd("exists"),
                &args(&["exists", "bar"]),
                &mut db,
                0
            ),
            Some(Reply::err("CLUSTERDOWN The cluster is down"))
        );
    }

    /// Redis 7.0 getNodeByQuery: shard pub/sub counts the owner's replicas as part of the
    /// shard, READONLY or not; other nodes redirect.
    #[test]
    fn replicas_serve_shard_pubsub_without_readonly() {
        let mut r = table();
        let mut c = ClientState::default();
        let mut db = Db::new();
        // "foo" is slot 12182, owned by node 1: we (node 0, a primary) redirect.
        for a in [&["ssubscribe", "foo"][..], &["spublish", "foo", "m"][..]] {
            assert_eq!(
                route(&r, &mut c, cmd(a[0]), &args(a), &mut db, 0),
                Some(Reply::error("MOVED 12182 127.0.0.1:7001".to_string()))
            );
        }
        r.my_primary = Some(1);
        for a in [
            &["ssubscribe", "foo"][..],
            &["spublish", "foo", "m"][..],
            &["sunsubscribe", "foo"][..],
        ] {
            assert_eq!(route(&r, &mut c, cmd(a[0]), &args(a), &mut db, 0), None);
        }
        // Plain writes still go to the primary.
        assert!(route(
            &r,
            &mut c,
            cmd("set"),
            &args(&["set", "foo", "1"]),
            &mut db,
            0
        )
        .is_some());
    }
}

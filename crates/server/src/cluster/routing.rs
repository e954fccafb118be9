//! Cluster-mode request routing on the server side: gathers what the core's redirect
//! decision ([`rubra_cluster::redirect::decide`]) needs from a command and its client, and
//! words the outcome as Redis does (-MOVED, -ASK, -TRYAGAIN, -CROSSSLOT, -CLUSTERDOWN).
//! The decision itself, and its tests, live in the cluster core.

use crate::client::ClientState;
use crate::cluster::driver::ClusterDriver;
use crate::cmd::{flags, Command};
use bytes::Bytes;
use rubra_cluster::redirect::{decide, Redirect, Request};
use rubra_cluster::state::ClusterState;
use rubra_cluster::NodeId;
use rubra_keys::key_slot;
use rubra_keyspace::Db;
use rubra_resp::Reply;

/// Decides whether `cmd` runs here. Returns the redirection or error to send instead, or
/// None to execute. `db` is the client's database, used to see which keys exist during a
/// migration. Consumes the client's ASKING flag, which is good for one command only.
pub(crate) fn redirect(
    driver: &ClusterDriver,
    client: &mut ClientState,
    cmd: &Command,
    args: &[Bytes],
    db: &mut Db,
    now_ms: u64,
) -> Option<Reply> {
    let asking = std::mem::take(&mut client.asking);
    let positions = cmd.key_positions(args);
    if positions.is_empty() {
        return None;
    }
    let slots: Vec<u16> = positions.iter().map(|&i| key_slot(&args[i])).collect();
    let req = Request {
        key_slots: &slots,
        read_only: cmd.has(flags::READONLY) && !cmd.has(flags::WRITE),
        shard_pubsub: cmd.has(flags::PUBSUB) && !cmd.has(flags::WRITE),
        asking: asking || cmd.name == "restore-asking",
        readonly_client: client.readonly,
    };
    let present = || {
        positions
            .iter()
            .filter(|&&i| db.contains(&args[i], now_ms))
            .count()
    };
    let st = driver.node.state();
    match decide(
        st,
        driver.node.is_state_ok(),
        driver.down_policy,
        &req,
        present,
    ) {
        Redirect::Local => None,
        Redirect::Moved { slot, to } => Some(Reply::error(format!(
            "MOVED {slot} {}",
            endpoint(st, &to, driver.preferred_endpoint)
        ))),
        Redirect::Ask { slot, to } => Some(Reply::error(format!(
            "ASK {slot} {}",
            endpoint(st, &to, driver.preferred_endpoint)
        ))),
        Redirect::TryAgain => Some(Reply::err(
            "TRYAGAIN Multiple keys request during rehashing of slot",
        )),
        Redirect::CrossSlot => Some(Reply::err(
            "CROSSSLOT Keys in request don't hash to the same slot",
        )),
        Redirect::ClusterDown => Some(Reply::err("CLUSTERDOWN The cluster is down")),
        Redirect::Unserved => Some(Reply::err("CLUSTERDOWN Hash slot not served")),
    }
}

/// Redis's clusterRedirectBlockedClientIfNeeded, run once a second by the cron: a client
/// blocked on keys (BLPOP, XREAD BLOCK...) whose slot this node no longer serves, and is
/// not importing, is unblocked with -MOVED to the slot's owner (-CLUSTERDOWN if nobody
/// owns it, or if the cluster is down), instead of waiting for data that can no longer
/// come here (after a resharding moved the slot away).
pub(crate) fn redirect_blocked(store: &mut crate::store::Store) {
    let Some(driver) = store.cluster.as_deref() else {
        return;
    };
    if store.blocking.len() == 0 {
        return;
    }
    let st = driver.node.state();
    let down = !driver.node.is_state_ok();
    // A replica serves its primary's slots to the clients it lets block.
    let serving = if driver.node.is_primary() {
        st.myself
    } else {
        st.me().primary.unwrap_or(st.myself)
    };
    let mut moved = Vec::new();
    for w in store.blocking.waiters() {
        let Some(key) = w.keys.first() else {
            continue;
        };
        let text = if down {
            "CLUSTERDOWN The cluster is down".to_string()
        } else {
            let slot = key_slot(key);
            let owner = st.slots[slot as usize].as_ref();
            if owner == Some(&serving) || st.importing.contains_key(&slot) {
                continue;
            }
            match owner {
                None => "CLUSTERDOWN Hash slot not served".to_string(),
                Some(to) => format!(
                    "MOVED {slot} {}",
                    endpoint(st, to, driver.preferred_endpoint)
                ),
            }
        };
        moved.push((w.client, text));
    }
    for (client, text) in moved {
        store.blocking.unblock(client);
        store.cmdstats.record_error(text.as_bytes());
        store.clients.unblock(client, Reply::error(text));
    }
}

/// cluster-preferred-endpoint-type: what MOVED/ASK, CLUSTER SLOTS and CLUSTER SHARDS
/// give clients as a node's address. Clients behind NAT or TLS with certificates for
/// names need the hostname there, not the IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Preferred {
    /// The announced IP (the default).
    #[default]
    Ip,
    /// cluster-announce-hostname, "?" for a node that announces none.
    Hostname,
    /// No address: clients reach the node where they sent the request.
    Unknown,
}

impl Preferred {
    /// The parameter's value in the config table.
    pub(crate) fn from_config(value: &str) -> Preferred {
        match value {
            "hostname" => Preferred::Hostname,
            "unknown-endpoint" => Preferred::Unknown,
            _ => Preferred::Ip,
        }
    }

    /// Redis's getPreferredEndpoint: the address text for a node with `ip`/`hostname`.
    pub(crate) fn endpoint<'a>(self, ip: &'a str, hostname: &'a str) -> &'a str {
        match self {
            Preferred::Ip => ip,
            Preferred::Hostname if hostname.is_empty() => "?",
            Preferred::Hostname => hostname,
            Preferred::Unknown => "",
        }
    }
}

/// `endpoint:port` of a node, as MOVED and ASK carry it.
fn endpoint(st: &ClusterState, id: &NodeId, preferred: Preferred) -> String {
    match st.nodes.get(id) {
        Some(n) => format!("{}:{}", preferred.endpoint(&n.ip, &n.hostname), n.port),
        None => ":0".to_string(),
    }
}

/// Whether this node itself owns `slot` (a write pause only holds back writes we serve).
pub(crate) fn owns_slot(driver: &ClusterDriver, slot: u16) -> bool {
    let st = driver.node.state();
    st.slots.get(slot as usize).copied().flatten() == Some(st.myself)
}

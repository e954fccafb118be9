//! Forming a cluster over RESP, the same steps as `redis-cli --cluster create`, but each
//! step checks what is already done so a rerun after a crash completes the job.
//!
//! 1. distinct config epochs on fresh nodes (avoids epoch collisions on ADDSLOTS);
//! 2. CLUSTER MEET from the first node to every node it does not know yet;
//! 3. wait until every node knows every other (handshakes finished);
//! 4. ADDSLOTSRANGE: each pair's primary gets an even share, skipping assigned slots;
//! 5. CLUSTER REPLICATE on each replica not yet following its pair's primary;
//! 6. wait for cluster_state:ok with full agreement on every node.

use crate::ctx::Ctx;
use crate::resp::{parse_info, Conn, Value};
use crate::state::{Intent, NodeRec};
use crate::topology::{View, SLOTS};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Local connection to the node on `port`.
pub fn local(ctx: &Ctx, port: u16) -> Result<Conn> {
    ctx.connect(&ctx.local_addr(port))
}

/// Wait until the node on `port` answers PING (after AUTH); used after spawning.
pub fn wait_up(ctx: &Ctx, port: u16, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        match local(ctx, port).and_then(|mut c| c.ok(&["PING"])) {
            Ok(_) => return Ok(()),
            Err(e) if t0.elapsed() > timeout => {
                return Err(e.context(format!("node {port} did not come up")))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Node id of the node on `port`.
pub fn node_id(ctx: &Ctx, port: u16) -> Result<String> {
    let v = View::fetch(&mut local(ctx, port)?)?;
    v.myself()
        .map(|m| m.id.clone())
        .ok_or_else(|| anyhow!("node {port}: no myself line in CLUSTER NODES"))
}

/// CLUSTER MEET `ports` from the node on `from`, for nodes it does not know yet; then
/// wait until all of `ports` know each other.
pub fn meet(ctx: &Ctx, meet_ip: &str, from: u16, ports: &[u16], timeout: Duration) -> Result<()> {
    let mut c = local(ctx, from)?;
    let v = View::fetch(&mut c)?;
    for &p in ports {
        if p != from && !v.nodes.iter().any(|n| n.port == p) {
            // Containers each have their own IP; local processes share `meet_ip`.
            let ip = ctx.hosts.get(&p).map_or(meet_ip, String::as_str);
            c.ok(&["CLUSTER", "MEET", ip, &p.to_string()])?;
        }
    }
    let t0 = Instant::now();
    loop {
        let mut all = true;
        for &p in ports {
            let v = View::fetch(&mut local(ctx, p)?)?;
            let known = ports
                .iter()
                .filter(|q| {
                    v.nodes.iter().any(|n| {
                        n.port == **q && !n.flags.iter().any(|f| f == "handshake" || f == "noaddr")
                    })
                })
                .count();
            if known < ports.len() {
                all = false;
                break;
            }
        }
        if all {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            bail!("nodes did not all meet within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Introduce nodes that came back on new addresses (the data directory moved to another
/// host, `--announce-ip` changed): where a node's table has another node at an address
/// other than the one that node announces itself, it is asked to CLUSTER MEET the new
/// one. Nothing else could find it: every peer in its nodes.conf is at an old address.
/// The MEET reaches the node under its known id, so both sides update that entry
/// (nodeUpdateAddressIfNeeded) and rewrite nodes.conf; gossip and replication follow.
/// Returns the MEETs sent.
pub fn reintroduce(ctx: &Ctx, ports: &[u16]) -> Result<usize> {
    let mut own: BTreeMap<String, (String, u16)> = BTreeMap::new();
    let mut views = Vec::new();
    for &p in ports {
        let v = View::fetch(&mut local(ctx, p)?)?;
        if let Some(me) = v.myself() {
            if !me.ip.is_empty() {
                own.insert(me.id.clone(), (me.ip.clone(), me.port));
            }
        }
        views.push((p, v));
    }
    let mut sent = 0;
    for (p, v) in views {
        let me = v.myself().map(|m| m.id.clone()).unwrap_or_default();
        let stale: Vec<&(String, u16)> = own
            .iter()
            .filter(|(id, _)| **id != me)
            .filter(|(id, (ip, port))| {
                v.get(id).is_none_or(|n| {
                    n.ip != *ip || n.port != *port || n.flags.iter().any(|f| f == "noaddr")
                })
            })
            .map(|(_, a)| a)
            .collect();
        if stale.is_empty() {
            continue;
        }
        let mut c = local(ctx, p)?;
        for (ip, port) in stale {
            c.ok(&["CLUSTER", "MEET", ip, &port.to_string()])?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// How long adoption waits for a node that answers -LOADING.
const LOADING_WAIT: Duration = Duration::from_secs(300);

/// Runs `step` again while a node answers -LOADING (up to LOADING_WAIT). A replica loading
/// its primary's snapshot refuses CLUSTER NODES and CLUSTER MEET for as long as the load
/// takes, as Redis does; that is a busy node, not a broken one.
fn waiting_out_loading<T>(mut step: impl FnMut() -> Result<T>) -> Result<T> {
    let t0 = Instant::now();
    loop {
        match step() {
            Err(e) if crate::resp::is_loading(&e) && t0.elapsed() < LOADING_WAIT => {
                std::thread::sleep(Duration::from_millis(200));
            }
            r => return r,
        }
    }
}

/// Adopt a formed cluster whose nodes run (a supervisor started again): introduce nodes
/// that moved, wait until `ports` agree and are healthy with `replicas` replicas, and
/// return each node's id. A node may be loading a full sync at any moment of this (seen
/// in CI: a supervisor restarted after a kill -9 met one, gave up and stopped the
/// cluster), so every step waits that out.
pub fn adopt(
    ctx: &Ctx,
    ports: &[u16],
    replicas: usize,
    timeout: Duration,
) -> Result<(usize, BTreeMap<u16, String>)> {
    let meets = waiting_out_loading(|| reintroduce(ctx, ports))?;
    wait_ok(ctx, ports, replicas, timeout)?;
    let mut ids = BTreeMap::new();
    for &p in ports {
        ids.insert(p, waiting_out_loading(|| node_id(ctx, p))?);
    }
    Ok((meets, ids))
}

/// Make the node on `replica` a replica of node `primary_id`, unless it already is.
pub fn replicate(ctx: &Ctx, replica: u16, primary_id: &str, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let mut c = local(ctx, replica)?;
        let v = View::fetch(&mut c)?;
        if v.myself().and_then(|m| m.primary.as_deref()) == Some(primary_id) {
            return Ok(());
        }
        match c.cmd(&["CLUSTER", "REPLICATE", primary_id])? {
            Value::Err(e) if t0.elapsed() > timeout => {
                bail!("CLUSTER REPLICATE on {replica}: {e}")
            }
            // "Unknown node" until gossip brings the primary in.
            Value::Err(_) => std::thread::sleep(Duration::from_millis(200)),
            _ => return Ok(()),
        }
    }
}

/// Assign `slots` to the node on `port` (ADDSLOTSRANGE, falling back to ADDSLOTS).
pub fn add_slots(ctx: &Ctx, port: u16, slots: &[u16]) -> Result<()> {
    let mut c = local(ctx, port)?;
    for (a, b) in crate::topology::ranges(slots) {
        match c.cmd(&["CLUSTER", "ADDSLOTSRANGE", &a.to_string(), &b.to_string()])? {
            Value::Err(e) if e.to_ascii_lowercase().contains("unknown") => {
                let mut args = vec!["CLUSTER".to_string(), "ADDSLOTS".to_string()];
                args.extend((a..=b).map(|s| s.to_string()));
                c.ok(&args)?;
            }
            Value::Err(e) => bail!("ADDSLOTSRANGE {a} {b} on {port}: {e}"),
            _ => {}
        }
    }
    Ok(())
}

/// Form (or finish forming) the cluster of `nodes`; returns port -> node id.
pub fn form(ctx: &Ctx, meet_ip: &str, nodes: &[NodeRec]) -> Result<BTreeMap<u16, String>> {
    let timeout = Duration::from_secs(60);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let first = *ports.first().ok_or_else(|| anyhow!("no nodes"))?;
    // 1. distinct epochs on fresh nodes; an error means the node is not fresh: fine.
    for (i, &p) in ports.iter().enumerate() {
        let mut c = local(ctx, p)?;
        let v = View::fetch(&mut c)?;
        if v.nodes.len() == 1 {
            let _ = c.cmd(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]);
        }
    }
    // 2-3.
    meet(ctx, meet_ip, first, &ports, timeout)?;
    let mut ids = BTreeMap::new();
    for &p in &ports {
        ids.insert(p, node_id(ctx, p)?);
    }
    // 4. slots, an even share per primary in pair order, skipping assigned ones.
    let owners = View::fetch(&mut local(ctx, first)?)?.owners();
    let primaries: Vec<&NodeRec> = nodes
        .iter()
        .filter(|n| n.intent == Intent::Primary)
        .collect();
    if primaries.is_empty() {
        bail!("no primaries among the nodes");
    }
    let pn = primaries.len();
    for (i, pr) in primaries.iter().enumerate() {
        let lo = i * SLOTS / pn;
        let hi = (i + 1) * SLOTS / pn;
        let want: Vec<u16> = (lo..hi)
            .map(|s| s as u16)
            .filter(|s| !owners.contains_key(s))
            .collect();
        if !want.is_empty() {
            add_slots(ctx, pr.port, &want).context("assign slots")?;
        }
    }
    // 5. replicas follow their pair's primary.
    for r in nodes.iter().filter(|n| n.intent == Intent::Replica) {
        let Some(pr) = primaries.iter().find(|p| p.pair == r.pair) else {
            bail!("replica {} has no primary in pair {}", r.port, r.pair);
        };
        let pid = ids
            .get(&pr.port)
            .ok_or_else(|| anyhow!("no id for {}", pr.port))?;
        replicate(ctx, r.port, pid, timeout)?;
    }
    // 6.
    let replicas = nodes.iter().filter(|n| n.intent == Intent::Replica).count();
    wait_ok(ctx, &ports, replicas, timeout)?;
    Ok(ids)
}

/// Wait until every node in `ports` reports cluster_state:ok, knows all of them, sees all
/// 16384 slots with the same owners, and (in the first node's view) at least
/// `replicas` replicas exist.
pub fn wait_ok(ctx: &Ctx, ports: &[u16], replicas: usize, timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    let mut why = String::new();
    while t0.elapsed() < timeout {
        match healthy(ctx, ports, replicas) {
            Ok(None) => return Ok(()),
            Ok(Some(w)) => why = w,
            Err(e) => why = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("cluster not healthy after {timeout:?}: {why}")
}

fn healthy(ctx: &Ctx, ports: &[u16], replicas: usize) -> Result<Option<String>> {
    let mut reference: Option<BTreeMap<u16, String>> = None;
    for &p in ports {
        let mut c = local(ctx, p)?;
        let info = parse_info(&c.text(&["CLUSTER", "INFO"])?);
        if info.get("cluster_state").map(String::as_str) != Some("ok") {
            return Ok(Some(format!("node {p} cluster_state not ok")));
        }
        let v = View::fetch(&mut c)?;
        if v.nodes.len() < ports.len() {
            return Ok(Some(format!("node {p} knows {} nodes", v.nodes.len())));
        }
        let owners = v.owners();
        if owners.len() != SLOTS {
            return Ok(Some(format!("node {p} sees {} slots", owners.len())));
        }
        match &reference {
            None => {
                let r = v.nodes.iter().filter(|n| n.primary.is_some()).count();
                if r < replicas {
                    return Ok(Some(format!("node {p} sees {r} replicas")));
                }
                reference = Some(owners);
            }
            Some(r) if *r != owners => {
                return Ok(Some(format!("node {p} disagrees on slot owners")))
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

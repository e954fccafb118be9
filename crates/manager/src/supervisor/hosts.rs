//! Docker runtime on several hosts: notice a host whose engine stops answering, and once
//! the replicas have taken over its slots, re-create its nodes on the live hosts as
//! replicas of their surviving partners (fresh volumes, new ids; the dead ids are
//! forgotten). A host that answers again is used for later placements, after its stale
//! containers are removed so they never rejoin as duplicates.

use super::*;
use crate::docker::DockerRt;
use crate::placement::{place, Placed};
use std::collections::{BTreeMap, BTreeSet};

/// Monitor passes in a row without an answer from a host's engine before it counts as
/// lost (about 3 s at one pass per 500 ms): one slow answer is not a lost host.
pub const LOST_AFTER_PASSES: u32 = 6;

/// What the monitor knows about one Docker host.
#[derive(Debug, Default, Clone)]
pub struct HostHealth {
    /// Passes in a row its engine did not answer.
    pub fails: u32,
    /// Declared lost (its nodes are or will be re-created elsewhere).
    pub lost: bool,
    /// Its stale containers were looked for since it (last) answered.
    cleaned: bool,
}

impl Supervisor {
    /// Ping every host's engine once (a monitor pass); returns the hosts that did not
    /// answer this pass or are lost, whose nodes must not be restarted in place.
    pub(super) fn probe_hosts(&self, d: &DockerRt) -> BTreeSet<String> {
        let mut down = BTreeSet::new();
        for name in d.host_names() {
            let up = d.engine_of_host(&name).is_ok_and(|e| e.ping());
            let (lost_now, clean, back) = {
                let mut all = lock(&self.host_health);
                let h = all.entry(name.clone()).or_default();
                if up {
                    let back = h.lost;
                    let clean = !h.cleaned || back;
                    *h = HostHealth {
                        fails: 0,
                        lost: false,
                        cleaned: true,
                    };
                    (false, clean, back)
                } else {
                    h.fails += 1;
                    h.cleaned = false;
                    let now = !h.lost && h.fails >= LOST_AFTER_PASSES;
                    h.lost |= now;
                    (now, false, false)
                }
            };
            if !up {
                down.insert(name.clone());
            }
            if lost_now {
                self.event(
                    "host_lost",
                    serde_json::json!({"host": name, "passes": LOST_AFTER_PASSES}),
                );
            }
            if back {
                self.event("host_back", serde_json::json!({"host": name}));
            }
            if clean {
                match d.remove_stale(&name) {
                    Ok(gone) if !gone.is_empty() => self.event(
                        "stale_removed",
                        serde_json::json!({"host": name, "containers": gone}),
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        lock(&self.host_health)
                            .entry(name.clone())
                            .or_default()
                            .cleaned = false;
                        eprintln!("rubra: stale containers on host {name}: {e:#}");
                    }
                }
            }
        }
        down
    }

    /// Hosts new nodes may go to: those answering now.
    pub fn live_hosts(&self) -> Vec<String> {
        let Some(d) = &self.docker else {
            return Vec::new();
        };
        let h = lock(&self.host_health);
        d.host_names()
            .into_iter()
            .filter(|n| h.get(n).is_none_or(|x| x.fails == 0 && !x.lost))
            .collect()
    }

    /// Every host's health, for the API and tests.
    pub fn host_health(&self) -> BTreeMap<String, HostHealth> {
        lock(&self.host_health)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Place the nodes of pair `pair` (just added to the state) on the live hosts, next
    /// to the nodes already placed.
    pub(super) fn place_new_pair(&self, pair: u32) -> Result<()> {
        let Some(d) = self.docker.as_ref().filter(|d| d.multi()) else {
            return Ok(());
        };
        let hosts = self.live_hosts();
        let mut st = lock(&self.state);
        let current = crate::runtime_cli::placement_of(&st);
        let placed = place(&hosts, &crate::runtime_cli::wants(&st.nodes), &current)?;
        for p in placed.iter().filter(|p| p.create) {
            if let Some(n) = st
                .node_mut(p.port)
                .filter(|n| n.pair == pair && n.host.is_none())
            {
                n.host = Some(p.host.clone());
                d.set_host(p.port, &p.host);
            }
        }
        Ok(())
    }

    /// After a host is lost: once every slot is served by a live primary, re-create the
    /// lost host's nodes on live hosts. Runs in the monitor; waits for the next pass while
    /// the failovers are still under way or another operation runs.
    pub(super) fn recover_lost_hosts(&self, d: &DockerRt) {
        let lost: Vec<String> = lock(&self.host_health)
            .iter()
            .filter(|(_, h)| h.lost)
            .map(|(n, _)| n.clone())
            .collect();
        let on_lost: Vec<u16> = lock(&self.state)
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Active)
            .filter(|n| n.host.as_ref().is_some_and(|h| lost.contains(h)))
            .map(|n| n.port)
            .collect();
        if on_lost.is_empty() {
            return;
        }
        let Some(view) = self.serving_view(&on_lost) else {
            return; // replicas not promoted yet: next pass
        };
        let r = self.exclusive("replace_lost_nodes", || {
            self.replace_nodes(d, &lost, &on_lost, &view)
        });
        match r {
            Ok(d) => self.event("host_nodes_replaced", d),
            Err(e) if format!("{e}").starts_with("busy:") => {
                eprintln!("rubra: lost host's nodes wait for the running operation: {e:#}")
            }
            Err(e) => self.event(
                "host_replace_failed",
                serde_json::json!({"hosts": lost, "error": format!("{e:#}")}),
            ),
        }
    }

    /// A view, from a live node, in which every slot is owned by a primary that is
    /// neither failing nor on a lost host; None while failovers are still under way.
    fn serving_view(&self, on_lost: &[u16]) -> Option<View> {
        let ctx = self.ctx();
        let live: Vec<u16> = lock(&self.state)
            .active_ports()
            .into_iter()
            .filter(|p| !on_lost.contains(p))
            .collect();
        let view = live.iter().find_map(|&p| {
            form::local(&ctx, p)
                .and_then(|mut c| View::fetch(&mut c))
                .ok()
        })?;
        let owners = view.owners();
        let served = owners.len() == crate::topology::SLOTS
            && owners.values().all(|id| {
                view.get(id)
                    .is_some_and(|n| !n.is_failing() && !on_lost.contains(&n.port))
            });
        served.then_some(view)
    }

    /// Re-create `on_lost` (the nodes of the `lost` hosts) on live hosts; the event detail.
    fn replace_nodes(
        &self,
        d: &DockerRt,
        lost: &[String],
        on_lost: &[u16],
        view: &View,
    ) -> Result<serde_json::Value> {
        self.ops.phase("place");
        let hosts = self.live_hosts();
        let st = lock(&self.state).clone();
        let mut wants = crate::runtime_cli::wants(&st.nodes);
        for w in wants.iter_mut() {
            if let Some(n) = view
                .nodes
                .iter()
                .find(|n| n.port == w.port && !n.is_failing() && !on_lost.contains(&n.port))
            {
                w.primary = n.is_primary();
            }
        }
        let placed = place(&hosts, &wants, &crate::runtime_cli::placement_of(&st))?;
        let fresh: Vec<&Placed> = placed.iter().filter(|p| p.create).collect();
        let partner_of = |port: u16| {
            let pair = st.nodes.iter().find(|n| n.port == port).map(|n| n.pair);
            st.nodes
                .iter()
                .find(|n| Some(n.pair) == pair && n.port != port)
                .map(|n| n.port)
        };
        // The dead nodes' ids: forgotten everywhere first, so nothing waits for them and
        // a new container that gets a dead one's address is not taken for it.
        self.ops.phase("forget");
        let mut dead_ids: BTreeSet<String> = BTreeSet::new();
        for p in &fresh {
            if let Some(id) = st
                .nodes
                .iter()
                .find(|n| n.port == p.port)
                .and_then(|n| n.id.clone())
            {
                dead_ids.insert(id);
            }
            for n in view
                .nodes
                .iter()
                .filter(|n| n.port == p.port && n.is_failing())
            {
                dead_ids.insert(n.id.clone());
            }
        }
        let ctx = self.ctx();
        let live: Vec<u16> = st
            .active_ports()
            .into_iter()
            .filter(|p| !on_lost.contains(p))
            .collect();
        for &p in &live {
            let mut c = form::local(&ctx, p)?;
            for id in &dead_ids {
                match c.cmd(&["CLUSTER", "FORGET", id])? {
                    crate::resp::Value::Err(e) if !e.contains("Unknown node") => {
                        bail!("CLUSTER FORGET {id} on node {p}: {e}")
                    }
                    _ => {}
                }
            }
        }
        // Record the new placement before creating anything, so a supervisor restarted
        // halfway creates the nodes where they are meant to be.
        {
            let mut s = lock(&self.state);
            for p in &fresh {
                let partner = partner_of(p.port);
                if let Some(n) = s.node_mut(p.port) {
                    n.host = Some(p.host.clone());
                    n.id = None;
                    n.intent = Intent::Replica;
                }
                if let Some(n) = partner.and_then(|q| s.node_mut(q)) {
                    n.intent = Intent::Primary;
                }
            }
        }
        self.save()?;
        self.ops.phase("create");
        for p in &fresh {
            d.set_host(p.port, &p.host);
            lock(&self.dead_since).remove(&p.port);
            d.clear(p.port)?;
            self.ensure_running(p.port)?;
        }
        let ctx = self.ctx();
        for p in &fresh {
            form::wait_up(&ctx, p.port, Duration::from_secs(30))?;
        }
        self.ops.phase("meet");
        let ports = lock(&self.state).active_ports();
        let seed = *live
            .first()
            .ok_or_else(|| anyhow!("no live node to join the new ones to"))?;
        form::meet(&ctx, &self.meet_ip(), seed, &ports, CONVERGE)?;
        self.ops.phase("replicate");
        let mut moved = Vec::new();
        for p in &fresh {
            let partner =
                partner_of(p.port).ok_or_else(|| anyhow!("node {} has no partner", p.port))?;
            let pid = form::node_id(&ctx, partner)?;
            form::replicate(&ctx, p.port, &pid, CONVERGE)?;
            let id = form::node_id(&ctx, p.port)?;
            if let Some(n) = lock(&self.state).node_mut(p.port) {
                n.id = Some(id.clone());
            }
            moved.push(serde_json::json!({"port": p.port, "host": p.host, "id": id,
                "replica_of": partner}));
        }
        self.save()?;
        form::wait_ok(&ctx, &ports, ports.len() / 2, CONVERGE)?;
        Ok(serde_json::json!({"lost": lost, "forgotten": dead_ids, "nodes": moved}))
    }
}

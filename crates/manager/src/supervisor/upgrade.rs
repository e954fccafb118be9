//! `rubra upgrade --image NEW` on the Docker runtime: every node container is replaced by
//! one of the new image, one at a time, keeping its data volume (and so its node id and
//! data). Replicas go first; a primary is first failed over to its replica (a manual
//! CLUSTER FAILOVER, which loses no acknowledged write), so no slot is ever without a
//! serving primary and clients see at most redirects.

use super::{lock, Supervisor};
use crate::form;
use crate::resp::parse_info;
use crate::topology::View;
use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, Instant};

/// How long one replaced node may take to serve again and catch up with its primary.
const REJOIN: Duration = Duration::from_secs(90);
/// After a primary's failover, how long it keeps answering -MOVED before it stops, so
/// clients busy with its slots learn the new owner from a redirect instead of a broken
/// connection.
const DRAIN: Duration = Duration::from_secs(2);

impl Supervisor {
    /// Replaces every node container with one running `image`. Caller holds `ops`.
    pub fn upgrade_locked(&self, image: &str) -> Result<serde_json::Value> {
        let d = self.docker.as_ref().ok_or_else(|| {
            anyhow!("rubra upgrade replaces node containers: it needs the Docker runtime (rubra up --runtime docker)")
        })?;
        d.check_image(image)?;
        let started = Instant::now();
        let view = self.ctx().best_view()?;
        if let Some(n) = view.nodes.iter().find(|n| n.is_failing()) {
            bail!(
                "node {} ({}) is failing: bring the cluster to health before an upgrade",
                n.id,
                n.port
            );
        }
        let ports = lock(&self.state).active_ports();
        let (mut first, mut then) = (Vec::new(), Vec::new());
        for &port in &ports {
            let n = view
                .nodes
                .iter()
                .find(|n| n.port == port)
                .ok_or_else(|| anyhow!("node {port} is not in the cluster view"))?;
            if n.is_primary() {
                then.push((port, n.id.clone()));
            } else {
                first.push((port, n.id.clone()));
            }
        }
        // From here on, a node the monitor re-creates gets the new image too.
        let old = d.image();
        d.set_image(image);
        if let Some(rec) = lock(&self.state).docker.as_mut() {
            rec.image = image.to_string();
        }
        self.save()?;
        self.event(
            "upgrade_started",
            serde_json::json!({"from": old, "to": image, "nodes": ports.len()}),
        );
        let total = first.len() + then.len();
        let mut done = 0;
        for (port, id) in first.iter().chain(then.iter()) {
            self.ops
                .phase(&format!("upgrade {done}/{total}: node {port}"));
            let is_primary = then.iter().any(|(p, _)| p == port);
            if is_primary {
                crate::failover::failover(&self.ctx(), id, Duration::from_secs(60))
                    .with_context(|| format!("fail primary {port} over before replacing it"))?;
                std::thread::sleep(DRAIN);
            }
            self.replace_container(*port)?;
            self.wait_rejoined(*port, id)?;
            done += 1;
            self.ops.progress(done, total);
        }
        let d = serde_json::json!({"image": image, "previous": old, "nodes": total,
            "seconds": started.elapsed().as_secs()});
        self.event("upgrade", d.clone());
        Ok(d)
    }

    /// Stops and removes the node's container (the monitor leaves it alone meanwhile) and
    /// creates it again from the runtime's image with the same volume.
    fn replace_container(&self, port: u16) -> Result<()> {
        let d = self
            .docker
            .as_ref()
            .ok_or_else(|| anyhow!("no Docker runtime"))?;
        lock(&self.replacing).insert(port);
        let r = d
            .stop(port, 10)
            .and_then(|_| d.remove_container(port))
            .and_then(|_| self.ensure_running(port));
        lock(&self.replacing).remove(&port);
        r.with_context(|| format!("replace the container of node {port}"))
    }

    /// Waits until the replaced node serves again as a replica whose link is up and in
    /// sync, and the other nodes no longer flag it failing.
    fn wait_rejoined(&self, port: u16, id: &str) -> Result<()> {
        let t0 = Instant::now();
        form::wait_up(&self.ctx(), port, REJOIN)?;
        loop {
            let ctx = self.ctx();
            let synced = form::local(&ctx, port)
                .and_then(|mut c| c.text(&["INFO", "replication"]))
                .map(|t| {
                    let i = parse_info(&t);
                    i.get("role").map(String::as_str) == Some("slave")
                        && i.get("master_link_status").map(String::as_str) == Some("up")
                        && i.get("master_sync_in_progress").map(String::as_str) == Some("0")
                })
                .unwrap_or(false);
            let seen_ok = synced
                && ctx.best_view().is_ok_and(|v: View| {
                    v.nodes
                        .iter()
                        .filter(|n| !n.is_myself())
                        .all(|n| !n.is_failing())
                        && v.get(id).is_some_and(|n| !n.is_failing())
                });
            if seen_ok {
                return Ok(());
            }
            if t0.elapsed() > REJOIN {
                bail!("node {port} did not rejoin as an in-sync replica within {REJOIN:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

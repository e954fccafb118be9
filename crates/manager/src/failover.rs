//! `rubra failover NODE`: a manual failover, as CLUSTER FAILOVER on a replica.

use crate::ctx::Ctx;
use crate::topology::View;
use anyhow::{anyhow, bail, Result};
use std::time::{Duration, Instant};

/// Promote `what` (a replica; or, given a primary, its first healthy replica) and wait
/// until the replica reports itself primary. Returns the promoted node's id.
pub fn failover(ctx: &Ctx, what: &str, timeout: Duration) -> Result<String> {
    let view = ctx.best_view()?;
    let n = view.resolve(what)?;
    let replica = if n.is_primary() {
        view.replicas_of(&n.id)
            .into_iter()
            .find(|r| !r.is_failing())
            .ok_or_else(|| anyhow!("primary {} has no healthy replica to promote", n.id))?
    } else {
        n
    };
    let mut c = ctx.connect_node(replica)?;
    c.ok(&["CLUSTER", "FAILOVER"])?;
    let t0 = Instant::now();
    loop {
        let v = View::fetch(&mut c)?;
        if v.myself().map(|m| m.is_primary()).unwrap_or(false) {
            break;
        }
        if t0.elapsed() > timeout {
            bail!("{} did not become primary within {timeout:?}", replica.id);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then until every reachable node agrees (gossip), so a caller's next view is current;
    // best effort within the same timeout.
    while t0.elapsed() < timeout {
        let agreed = view.nodes.iter().filter(|n| !n.is_failing()).all(|n| {
            ctx.connect_node(n)
                .and_then(|mut c| View::fetch(&mut c))
                .map(|v| v.get(&replica.id).map(|r| r.is_primary()).unwrap_or(false))
                .unwrap_or(true)
        });
        if agreed {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(replica.id.clone())
}

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
            return Ok(replica.id.clone());
        }
        if t0.elapsed() > timeout {
            bail!("{} did not become primary within {timeout:?}", replica.id);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

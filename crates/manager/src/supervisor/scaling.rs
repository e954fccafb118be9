//! Operations that change which nodes exist or which slots they hold: scale by pairs,
//! rebalance, reshard, fix; an interrupted one resumes from state.json's `pending`.

use super::*;

/// How long a scale step waits, in all, for the cluster to be whole again (a node down
/// or restarting, a failover in progress) before it gives up with the last reason.
/// Failovers take a few node timeouts and a dead node is restarted by the monitor within
/// seconds, so two minutes is generous; RUBRA_SCALE_PATIENCE_SECS overrides it.
fn patience() -> Duration {
    let secs = std::env::var("RUBRA_SCALE_PATIENCE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// A scale request that can never succeed by waiting (too many or too few pairs, another
/// step unfinished): returned at once instead of retried.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse<T>(why: impl Into<String>) -> Result<T> {
    Err(Refused(why.into()).into())
}

/// Why the cluster is not fit for moving slots, or None: every node in `ports` answers,
/// no node is flagged failing (a node down, restarting, or a failover not finished),
/// and every slot is owned by a primary that is not failing. Slots only ever move
/// between nodes confirmed up this way.
pub(crate) fn not_ready(ctx: &Ctx, ports: &[u16]) -> Option<String> {
    for &p in ports {
        let answer = form::local(ctx, p).and_then(|mut c| c.cmd(&["PING"]));
        match answer {
            Ok(crate::resp::Value::Err(e)) => return Some(format!("node {p} answers {e}")),
            Ok(_) => {}
            Err(e) => return Some(format!("node {p} is not reachable ({e:#})")),
        }
    }
    let view = match ctx.best_view() {
        Ok(v) => v,
        Err(e) => return Some(format!("no view of the cluster ({e:#})")),
    };
    if let Some(n) = view.nodes.iter().find(|n| n.is_failing()) {
        return Some(format!(
            "node {} is flagged {} (down, restarting, or its failover is not over)",
            n.port,
            if n.flags.iter().any(|f| f == "fail") {
                "fail"
            } else {
                "fail?"
            }
        ));
    }
    let owners = view.owners();
    if owners.len() < crate::topology::SLOTS {
        return Some(format!(
            "{} slots have no owner",
            crate::topology::SLOTS - owners.len()
        ));
    }
    for id in owners.values().collect::<std::collections::BTreeSet<_>>() {
        match view.get(id) {
            Some(n) if n.is_primary() && !n.is_failing() => {}
            _ => return Some(format!("slot owner {id} is not a live primary")),
        }
    }
    None
}

impl Supervisor {
    /// Waits (at most `left`) until [`not_ready`] says the cluster is fit for moving
    /// slots, logging why not every 5 s; Err is the last reason.
    fn wait_ready(&self, op: &str, left: Duration) -> std::result::Result<(), String> {
        let t0 = Instant::now();
        let mut last_log: Option<Instant> = None;
        loop {
            let ports = lock(&self.state).active_ports();
            let Some(why) = not_ready(&self.ctx(), &ports) else {
                return Ok(());
            };
            if t0.elapsed() >= left {
                return Err(why);
            }
            if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                self.ops.phase("waiting for the cluster");
                self.event(
                    "scale",
                    serde_json::json!({"op": op, "phase": "waiting", "why": why,
                        "waited_s": t0.elapsed().as_secs()}),
                );
                last_log = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Runs a scale step, and if it fails while the cluster is not whole (a node down,
    /// a failover in progress), waits until it is and runs it again: the step resumes
    /// from state.json's `pending`, so a retry continues rather than repeats. Fails with
    /// the step's error and the cluster's state only after [`patience`] in all; a
    /// [`Refused`] request fails at once.
    fn patiently<T>(&self, op: &str, mut step: impl FnMut() -> Result<T>) -> Result<T> {
        let bound = patience();
        let t0 = Instant::now();
        let mut attempt = 1u32;
        loop {
            let e = match step() {
                Ok(v) => return Ok(v),
                Err(e) if e.downcast_ref::<Refused>().is_some() => return Err(e),
                Err(e) => e,
            };
            let left = bound.saturating_sub(t0.elapsed());
            if left.is_zero() {
                bail!("{op} gave up after {bound:?} ({attempt} attempts): {e:#}");
            }
            self.event(
                "scale",
                serde_json::json!({"op": op, "phase": "retry", "attempt": attempt,
                    "error": format!("{e:#}")}),
            );
            if let Err(why) = self.wait_ready(op, left) {
                bail!(
                    "{op} failed ({e:#}) and the cluster was not whole again within {bound:?}: {why}"
                );
            }
            // A cluster that looks whole but where the step still fails (e.g. a node
            // that answers but is not done loading) gets a moment before the retry.
            std::thread::sleep(Duration::from_millis(500));
            attempt += 1;
        }
    }

    /// Fails (for [`Supervisor::patiently`] to wait and retry) unless the cluster is fit
    /// for moving slots: called right before a scale step plans and moves slots.
    fn ensure_ready(&self, ctx: &Ctx) -> Result<()> {
        let ports = lock(&self.state).active_ports();
        match not_ready(ctx, &ports) {
            Some(why) => bail!("not moving slots now: {why}"),
            None => Ok(()),
        }
    }

    /// Carry out slot moves (one atomic migration per source/target pair where the
    /// source supports it), reporting slots, keys and bytes to the running operation.
    fn execute_moves(
        &self,
        ctx: &Ctx,
        view: &View,
        moves: &[migrate::Move],
    ) -> Result<(usize, u64)> {
        let base = self.ops.sent_so_far();
        migrate::execute_with(ctx, view, moves, true, &mut |st| {
            self.ops.progress(st.done, st.total);
            self.ops.sent(base, st.keys, st.bytes);
        })
    }

    /// Continue a scale step recorded in state.json by an interrupted run.
    pub fn resume_pending(&self) -> Result<()> {
        let p = lock(&self.state).pending.clone();
        match p {
            Some(Pending::AddPair { .. }) => {
                self.exclusive("add_pair", || self.add_pair_locked().map(|_| ()))
            }
            Some(Pending::RemovePair { .. }) => {
                self.exclusive("remove_pair", || self.remove_pair_locked().map(|_| ()))
            }
            None => Ok(()),
        }
    }

    fn set_pending(&self, p: Option<Pending>) -> Result<()> {
        lock(&self.state).pending = p;
        self.save()
    }

    /// Rebalance over all healthy primaries; returns (slots, keys) moved.
    pub fn rebalance_locked(&self, threshold: f64) -> Result<(usize, u64)> {
        let ctx = self.ctx();
        // A slot left open by an interrupted move is finished first.
        for line in crate::check::fix(&ctx)? {
            self.event("fix", serde_json::json!({"action": line}));
        }
        let view = ctx.best_view()?;
        let members = view.live_primary_ids();
        let moves = migrate::plan_rebalance(&view, &members, threshold)?;
        self.ops.phase("balance");
        self.execute_moves(&ctx, &view, &moves)
    }

    /// Move `slots` slots (with their keys) from node `from` to node `to` (id, id
    /// prefix, port or host:port). Caller holds `ops`, so no other move runs meanwhile.
    pub fn reshard_locked(&self, from: &str, to: &str, slots: usize) -> Result<serde_json::Value> {
        let ctx = self.ctx();
        for line in crate::check::fix(&ctx)? {
            self.event("fix", serde_json::json!({"action": line}));
        }
        let view = ctx.best_view()?;
        let (f, t) = (view.resolve(from)?, view.resolve(to)?);
        let moves = migrate::plan_reshard(&view, f, t, slots)?;
        self.ops.phase("reshard");
        let (n, keys) = self.execute_moves(&ctx, &view, &moves)?;
        let d = serde_json::json!({"from": f.id, "to": t.id, "slots_moved": n, "keys_moved": keys});
        self.event("reshard", d.clone());
        Ok(d)
    }

    /// Move one chosen slot (a hot one, say) to `to`, or to the primary holding the fewest
    /// slots. Caller holds `ops`.
    pub fn move_slot_locked(&self, slot: u16, to: Option<&str>) -> Result<serde_json::Value> {
        let ctx = self.ctx();
        let view = ctx.best_view()?;
        let owners = view.owners();
        let from = owners
            .get(&slot)
            .ok_or_else(|| anyhow!("slot {slot} has no owner"))?
            .clone();
        let target = match to.filter(|t| !t.is_empty()) {
            Some(t) => view.resolve(t)?.id.clone(),
            None => view
                .primaries()
                .into_iter()
                .filter(|n| n.id != from && !n.is_failing())
                .min_by_key(|n| (n.slot_count(), n.port))
                .map(|n| n.id.clone())
                .ok_or_else(|| anyhow!("no other primary to move slot {slot} to"))?,
        };
        if target == from {
            bail!("slot {slot} is already on {from}");
        }
        let moves = [migrate::Move {
            slot,
            from: from.clone(),
            to: target.clone(),
        }];
        self.ops.phase("move");
        let (n, keys) = self.execute_moves(&ctx, &view, &moves)?;
        let d = serde_json::json!({"slot": slot, "from": from, "to": target, "slots_moved": n, "keys_moved": keys});
        self.event("move_slot", d.clone());
        Ok(d)
    }

    /// Close open slots (`rubra fix`) under the operation lock, so it never "finishes" a
    /// slot another operation is in the middle of moving. Caller holds `ops`.
    pub fn fix_locked(&self) -> Result<serde_json::Value> {
        self.ops.phase("fix");
        let lines = crate::check::fix(&self.ctx())?;
        for line in &lines {
            self.event("fix", serde_json::json!({"action": line}));
        }
        Ok(serde_json::json!({"actions": lines}))
    }

    /// Add a primary+replica pair (continuing a recorded one), waiting out a node that
    /// is down or a failover in progress (see [`Supervisor::patiently`]). Caller holds
    /// `ops`.
    pub fn add_pair_locked(&self) -> Result<serde_json::Value> {
        self.patiently("add_pair", || self.add_pair_once())
    }

    /// One attempt at adding a pair; resumable from `pending`.
    fn add_pair_once(&self) -> Result<serde_json::Value> {
        let (pair, pport, rport) = {
            let mut st = lock(&self.state);
            let pair = match &st.pending {
                Some(Pending::AddPair { pair, .. }) => *pair,
                Some(other) => {
                    return refuse(format!("another scale step is unfinished: {other:?}"))
                }
                None => {
                    if st.active_ports().len() + 2 > 12 {
                        return refuse("a cluster managed by rubra has at most 12 nodes");
                    }
                    let pair = st.next_pair();
                    let port = st.next_free_port();
                    for (i, intent) in [Intent::Primary, Intent::Replica].into_iter().enumerate() {
                        st.nodes.push(NodeRec {
                            port: port + i as u16,
                            pair,
                            intent,
                            id: None,
                            pid: None,
                            status: NodeStatus::Active,
                            host: None,
                        });
                    }
                    pair
                }
            };
            drop(st);
            if let Err(e) = self.place_new_pair(pair) {
                let mut st = lock(&self.state);
                if st.pending.is_none() {
                    st.nodes.retain(|n| n.pair != pair);
                }
                return Err(e.context("place the new pair on the Docker hosts"));
            }
            let st = lock(&self.state);
            let find = |i: Intent| {
                st.nodes
                    .iter()
                    .find(|n| n.pair == pair && n.intent == i)
                    .map(|n| n.port)
            };
            let (Some(p), Some(r)) = (find(Intent::Primary), find(Intent::Replica)) else {
                bail!("state.json: pair {pair} is incomplete");
            };
            (pair, p, r)
        };
        let step = |phase: &str| {
            self.ops.phase(phase);
            self.set_pending(Some(Pending::AddPair {
                pair,
                phase: phase.to_string(),
            }))
        };
        step("spawn")?;
        self.event("scale", serde_json::json!({"op": "add_pair", "pair": pair, "ports": [pport, rport], "phase": "start"}));
        for p in [pport, rport] {
            self.ensure_running(p)?;
        }
        // After starting: containers have their addresses only now.
        let ctx = self.ctx();
        for p in [pport, rport] {
            form::wait_up(&ctx, p, Duration::from_secs(20))?;
        }
        step("meet")?;
        let ports = lock(&self.state).active_ports();
        let seed = *ports
            .iter()
            .find(|p| **p != pport && **p != rport)
            .ok_or_else(|| anyhow!("no existing node to join"))?;
        form::meet(&ctx, &self.meet_ip(), seed, &ports, CONVERGE)?;
        let pid = form::node_id(&ctx, pport)?;
        let rid = form::node_id(&ctx, rport)?;
        {
            let mut st = lock(&self.state);
            if let Some(n) = st.node_mut(pport) {
                n.id = Some(pid.clone());
            }
            if let Some(n) = st.node_mut(rport) {
                n.id = Some(rid);
            }
        }
        step("replicate")?;
        // Only if the new primary is still empty and a primary (a rerun after balance
        // started must not try to turn it into a replica).
        form::replicate(&ctx, rport, &pid, CONVERGE)?;
        // The new nodes must see the whole cluster (cluster_state:ok) before they can
        // accept migrated keys.
        let replicas = lock(&self.state).active_ports().len() / 2;
        form::wait_ok(&ctx, &ports, replicas, CONVERGE)?;
        step("balance")?;
        self.ensure_ready(&ctx)?;
        let (slots, keys) = self.rebalance_locked(0.0)?;
        form::wait_ok(&ctx, &ports, replicas, CONVERGE)?;
        self.set_pending(None)?;
        let d = serde_json::json!({"op": "add_pair", "pair": pair, "ports": [pport, rport],
            "phase": "done", "slots_moved": slots, "keys_moved": keys});
        self.event("scale", d.clone());
        Ok(d)
    }

    /// Remove the most recently added pair (continuing a recorded removal), waiting out
    /// a node that is down or a failover in progress (see [`Supervisor::patiently`]).
    /// Caller holds `ops`. Order: drain its slots, FORGET on every other node, stop both
    /// processes.
    pub fn remove_pair_locked(&self) -> Result<serde_json::Value> {
        self.patiently("remove_pair", || self.remove_pair_once())
    }

    /// One attempt at removing a pair; resumable from `pending`.
    fn remove_pair_once(&self) -> Result<serde_json::Value> {
        let pair = {
            let st = lock(&self.state);
            match &st.pending {
                Some(Pending::RemovePair { pair, .. }) => *pair,
                Some(other) => {
                    return refuse(format!("another scale step is unfinished: {other:?}"))
                }
                None => {
                    if st.active_ports().len() < 8 {
                        return refuse(
                            "cannot remove a pair: a cluster keeps at least 3 pairs (6 nodes)",
                        );
                    }
                    st.nodes
                        .iter()
                        .filter(|n| n.status == NodeStatus::Active)
                        .map(|n| n.pair)
                        .max()
                        .ok_or_else(|| anyhow!("no pairs"))?
                }
            }
        };
        let step = |phase: &str| {
            self.ops.phase(phase);
            self.set_pending(Some(Pending::RemovePair {
                pair,
                phase: phase.to_string(),
            }))
        };
        step("drain")?;
        let ctx = self.ctx();
        let pair_ports: Vec<u16> = lock(&self.state)
            .nodes
            .iter()
            .filter(|n| n.pair == pair)
            .map(|n| n.port)
            .collect();
        self.event("scale", serde_json::json!({"op": "remove_pair", "pair": pair, "ports": pair_ports, "phase": "start"}));
        self.ensure_ready(&ctx)?;
        for line in crate::check::fix(&ctx)? {
            self.event("fix", serde_json::json!({"action": line}));
        }
        let view = ctx.best_view()?;
        let ids: Vec<String> = view
            .nodes
            .iter()
            .filter(|n| pair_ports.contains(&n.port))
            .map(|n| n.id.clone())
            .collect();
        let members: Vec<String> = view
            .primaries()
            .into_iter()
            .filter(|n| !n.is_failing() && !ids.contains(&n.id))
            .map(|n| n.id.clone())
            .collect();
        let moves = migrate::plan_rebalance(&view, &members, 0.0)?;
        let (slots, keys) = self.execute_moves(&ctx, &view, &moves)?;
        let rest: Vec<u16> = lock(&self.state)
            .active_ports()
            .into_iter()
            .filter(|p| !pair_ports.contains(p))
            .collect();
        // Wait until everyone agrees the pair owns nothing before forgetting it.
        form::wait_ok(&ctx, &rest, 0, CONVERGE)?;
        step("forget")?;
        {
            let mut st = lock(&self.state);
            for p in &pair_ports {
                if let Some(n) = st.node_mut(*p) {
                    n.status = NodeStatus::Removing;
                }
            }
        }
        self.save()?;
        for p in &rest {
            let mut c = form::local(&ctx, *p)?;
            for id in &ids {
                match c.cmd(&["CLUSTER", "FORGET", id])? {
                    crate::resp::Value::Err(e) if !e.contains("Unknown node") => {
                        self.event(
                            "warning",
                            serde_json::json!({"port": p, "forget": id, "error": e}),
                        );
                    }
                    _ => {}
                }
            }
        }
        step("stop")?;
        for p in &pair_ports {
            self.stop_node(*p);
            if let Some(d) = &self.docker {
                if let Err(e) = d.remove(*p) {
                    self.event(
                        "warning",
                        serde_json::json!({"port": p, "remove": format!("{e:#}")}),
                    );
                }
            }
            let _ = std::fs::remove_dir_all(self.dir.node_dir(*p));
        }
        {
            let mut st = lock(&self.state);
            st.nodes.retain(|n| n.pair != pair);
            st.pending = None;
        }
        self.save()?;
        let ctx = self.ctx();
        form::wait_ok(&ctx, &rest, rest.len() / 2, CONVERGE)?;
        let d = serde_json::json!({"op": "remove_pair", "pair": pair, "ports": pair_ports,
            "phase": "done", "slots_moved": slots, "keys_moved": keys});
        self.event("scale", d.clone());
        Ok(d)
    }

    /// Add or remove pairs until there are `pairs`. Caller holds `ops`.
    pub fn scale_to_locked(&self, pairs: usize) -> Result<serde_json::Value> {
        if !(3..=6).contains(&pairs) {
            return refuse("pairs must be between 3 and 6 (6..=12 nodes)");
        }
        let mut steps = Vec::new();
        loop {
            let cur = lock(&self.state).active_ports().len() / 2;
            if cur < pairs {
                steps.push(self.add_pair_locked()?);
            } else if cur > pairs {
                steps.push(self.remove_pair_locked()?);
            } else {
                return Ok(serde_json::Value::Array(steps));
            }
        }
    }
}

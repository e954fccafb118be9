//! Load sampling for the panel's charts and the autoscaler: sample, plan, act.

use super::*;

impl Supervisor {
    /// One metrics sample for the panel's history (every 5 s); a role change from
    /// replica to primary is logged as a failover event.
    pub fn metrics_tick(&self) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        match crate::panel::nodes::collect(&self.ctx()) {
            Ok(snap) => {
                for id in self.metrics.record(now_secs(), &snap) {
                    self.event("role_change", serde_json::json!({"promoted": id}));
                }
                self.set_latest_snapshot(snap);
            }
            Err(e) => eprintln!("rubra: metrics sample failed: {e:#}"),
        }
    }

    /// The autoscaler's state for the panel: enabled, which rule the load is heading
    /// for, since when, and the time left in that rule's window (and in the cooldown).
    pub fn autoscale_status(&self) -> serde_json::Value {
        let cfg = &self.auto.cfg;
        let now = now_secs();
        let last_action = *lock(&self.last_action);
        let h: Vec<Sample> = lock(&self.history)
            .iter()
            .filter(|s| last_action.map(|t| s.at > t).unwrap_or(true))
            .copied()
            .collect();
        let high = |s: &Sample| s.cpu > cfg.high || s.mem > cfg.high;
        let low = |s: &Sample| s.cpu < cfg.low && s.mem < cfg.low;
        let (condition, rule, window, since) = match h.last() {
            None => ("no_data", "waiting for samples".to_string(), 0, None),
            Some(last) => {
                let since_of = |c: &dyn Fn(&Sample) -> bool| match h.iter().rposition(|s| !c(s)) {
                    Some(i) => h.get(i + 1).map(|s| s.at),
                    None => h.first().map(|s| s.at),
                };
                if high(last) {
                    (
                        "high",
                        format!(
                            "add a pair: CPU or memory above {:.0}% for {}s",
                            cfg.high * 100.0,
                            cfg.up_after_secs
                        ),
                        cfg.up_after_secs,
                        since_of(&high),
                    )
                } else if low(last) {
                    (
                        "low",
                        format!(
                            "remove a pair: CPU and memory below {:.0}% for {}s",
                            cfg.low * 100.0,
                            cfg.down_after_secs
                        ),
                        cfg.down_after_secs,
                        since_of(&low),
                    )
                } else {
                    (
                        "normal",
                        format!(
                            "hold: load between {:.0}% and {:.0}%",
                            cfg.low * 100.0,
                            cfg.high * 100.0
                        ),
                        0,
                        None,
                    )
                }
            }
        };
        let time_left = since.map(|t| (t + window).saturating_sub(now));
        let cooldown_left = last_action
            .map(|t| (t + cfg.cooldown_secs).saturating_sub(now))
            .filter(|l| *l > 0);
        serde_json::json!({
            "enabled": self.autoscale.load(Ordering::SeqCst),
            "condition": condition,
            "rule": rule,
            "window_secs": window,
            "since": since,
            "time_left_secs": time_left,
            "cooldown_left_secs": cooldown_left,
            "cpu": h.last().map(|s| s.cpu),
            "mem": h.last().map(|s| s.mem),
            "high_pct": cfg.high * 100.0,
            "low_pct": cfg.low * 100.0,
            "min_nodes": cfg.min_nodes,
            "max_nodes": cfg.max_nodes,
        })
    }

    /// One autoscaler sample: CPU fraction (from used_cpu_* deltas) and memory fraction,
    /// averaged over primaries. None until two CPU readings exist.
    pub fn sample(&self) -> Result<Option<Sample>> {
        // The same snapshot the panel and `rubra status` read: one collector of node INFO.
        let snap = crate::panel::nodes::collect(&self.ctx())?;
        let mut cpus = Vec::new();
        let mut mems = Vec::new();
        let serving = snap
            .nodes
            .iter()
            .filter(|n| n.role == "primary" && n.link != "fail");
        for n in serving {
            if let Some(d) = &self.docker {
                // Containers: CPU and memory as the engine measures them.
                let Ok(load) = d.load(n.port) else {
                    continue;
                };
                cpus.extend(load.cpu);
                mems.push(load.mem);
                continue;
            }
            let Some(cpu) = n.cpu_seconds else {
                continue;
            };
            self.cpu_fraction(n.port, cpu, &mut cpus);
            let used = n.used_memory.unwrap_or(0) as f64;
            let max = n.maxmemory.unwrap_or(0) as f64;
            mems.push(if max > 0.0 { used / max } else { 0.0 });
        }
        if cpus.is_empty() {
            return Ok(None);
        }
        let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        Ok(Some(Sample {
            at: now_secs(),
            cpu: avg(&cpus),
            mem: avg(&mems),
        }))
    }

    /// Push the CPU fraction of the node on `port` since its previous reading (`cpu` is
    /// CPU seconds used so far) onto `out`; the first reading only records.
    fn cpu_fraction(&self, port: u16, cpu: f64, out: &mut Vec<f64>) {
        let now = Instant::now();
        let prev = lock(&self.cpu_prev).insert(port, (cpu, now));
        if let Some((c0, t0)) = prev {
            let dt = now.duration_since(t0).as_secs_f64();
            if dt > 0.0 {
                out.push(((cpu - c0) / dt / self.auto.node_cpus).max(0.0));
            }
        }
    }

    /// One autoscaler pass: sample, plan, act.
    pub fn autoscale_tick(&self) {
        if !self.autoscale.load(Ordering::SeqCst) || self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let s = match self.sample() {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                eprintln!("rubra: autoscaler sample failed: {e:#}");
                return;
            }
        };
        let history = {
            let mut h = lock(&self.history);
            h.push(s);
            let keep = self
                .auto
                .cfg
                .up_after_secs
                .max(self.auto.cfg.down_after_secs)
                + 600;
            h.retain(|x| x.at + keep >= s.at);
            h.clone()
        };
        let obs = Observation {
            now: s.at,
            nodes: lock(&self.state).active_ports().len(),
            last_action_at: *lock(&self.last_action),
        };
        for a in plan(&obs, &self.auto.cfg, &history) {
            self.event(
                "autoscale",
                serde_json::json!({"decision": a, "cpu": s.cpu, "mem": s.mem, "nodes": obs.nodes}),
            );
            let r = match &a {
                Action::AddPair { .. } => self.exclusive("add_pair", || self.add_pair_locked()),
                Action::RemovePair { .. } => {
                    self.exclusive("remove_pair", || self.remove_pair_locked())
                }
            };
            *lock(&self.last_action) = Some(now_secs());
            if let Err(e) = r {
                self.event(
                    "autoscale_error",
                    serde_json::json!({"error": format!("{e:#}")}),
                );
            }
        }
    }
}

//! The `rubra up` supervisor: owns the node processes and runs every operation that
//! changes which processes exist (scale), so there is one writer of state.json.
//!
//! Threads: a monitor restarts dead nodes; an autoscaler samples INFO and applies
//! `autoscale::plan`; the HTTP API (tokio/axum) calls into the same methods through
//! `spawn_blocking`. Operations that move slots are serialized by `ops` (a busy flag: a
//! second one is refused rather than queued, so an operator sees "busy"); each is a job
//! with phase and slots-moved progress that the panel polls.

use crate::autoscale::{plan, Action, AutoscaleConfig, Observation, Sample};
use crate::ctx::Ctx;
use crate::form;
use crate::migrate;
use crate::procs::{spawn, Handle, NodeOpts};
use crate::state::{pid_alive, Dir, Intent, NodeRec, NodeStatus, Pending, State};
use crate::topology::View;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long cluster convergence may take before an operation reports failure.
const CONVERGE: Duration = Duration::from_secs(60);

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Something that happened, for GET /api/events and DIR/events.jsonl.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unix seconds.
    pub ts: u64,
    /// Short kind: node_restarted, scale, autoscale, rebalance, failover, ...
    pub kind: String,
    /// Details, including measured values for autoscale decisions.
    pub detail: serde_json::Value,
}

/// Autoscaler runtime knobs besides the rules.
#[derive(Debug, Clone)]
pub struct AutoscaleRun {
    /// The rules.
    pub cfg: AutoscaleConfig,
    /// CPUs one node may use (capacity for the CPU fraction).
    pub node_cpus: f64,
    /// Seconds between samples.
    pub sample_secs: u64,
}

/// Shared supervisor state.
pub struct Sup {
    /// Data directory.
    pub dir: Dir,
    /// Node settings.
    pub opts: NodeOpts,
    /// Persistent state (mirrors state.json). A std Mutex: never held across an await.
    pub state: Mutex<State>,
    procs: Mutex<HashMap<u16, Handle>>,
    /// Background operations; holds the one "busy" flag slot-moving work takes.
    pub ops: crate::panel::ops::Ops,
    /// Panel sessions and the login rate limiter.
    pub auth: crate::panel::auth::Auth,
    /// The last hour of load samples for the panel's charts.
    pub metrics: crate::panel::history::History,
    events: Mutex<Vec<Event>>,
    /// Autoscaler on/off (POST /api/autoscale).
    pub autoscale: AtomicBool,
    /// Set once shutdown starts: the monitor stops restarting nodes.
    pub stopping: AtomicBool,
    /// Autoscaler settings.
    pub auto: AutoscaleRun,
    history: Mutex<Vec<Sample>>,
    last_action: Mutex<Option<u64>>,
    cpu_prev: Mutex<HashMap<u16, (f64, Instant)>>,
    /// Set for `--runtime docker`: nodes are containers made through the engine, else
    /// they are child processes (`procs`).
    pub docker: Option<crate::docker::DockerRt>,
    /// Set for `--runtime external`: an orchestrator (Compose, Swarm) runs the nodes.
    pub external: Option<crate::docker::external::ExternalRt>,
    /// Docker runtime: when the monitor first found each node's container dead.
    dead_since: Mutex<HashMap<u16, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not take the supervisor down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sup {
    /// Wrap a loaded/created state.
    pub fn new(dir: Dir, opts: NodeOpts, state: State, auto: AutoscaleRun, on: bool) -> Sup {
        Sup {
            dir,
            opts,
            state: Mutex::new(state),
            procs: Mutex::new(HashMap::new()),
            ops: Default::default(),
            auth: Default::default(),
            metrics: Default::default(),
            events: Mutex::new(Vec::new()),
            autoscale: AtomicBool::new(on),
            stopping: AtomicBool::new(false),
            auto,
            history: Mutex::new(Vec::new()),
            last_action: Mutex::new(None),
            cpu_prev: Mutex::new(HashMap::new()),
            docker: None,
            external: None,
            dead_since: Mutex::new(HashMap::new()),
        }
    }

    /// Let an orchestrator run the nodes; rubra only reaches them by name.
    pub fn with_external(mut self, rt: crate::docker::external::ExternalRt) -> Sup {
        self.external = Some(rt);
        self
    }

    /// Node addresses that are not 127.0.0.1 (containers), by port.
    fn hosts(&self) -> std::collections::BTreeMap<u16, String> {
        match (&self.docker, &self.external) {
            (Some(d), _) => d.ips(),
            (None, Some(e)) => e.ips(),
            (None, None) => Default::default(),
        }
    }

    /// Run the nodes as Docker containers instead of local processes.
    pub fn with_docker(mut self, rt: crate::docker::DockerRt) -> Sup {
        self.docker = Some(rt);
        self
    }

    /// How to reach the managed nodes.
    pub fn ctx(&self) -> Ctx {
        Ctx {
            seeds: {
                let hosts = self.hosts();
                lock(&self.state)
                    .active_ports()
                    .iter()
                    .map(|p| format!("{}:{p}", hosts.get(p).map_or("127.0.0.1", String::as_str)))
                    .collect()
            },
            password: Some(self.opts.password.clone()),
            local: true,
            hosts: self.hosts(),
        }
    }

    fn meet_ip(&self) -> String {
        self.opts
            .announce_ip
            .clone()
            .unwrap_or_else(|| "127.0.0.1".into())
    }

    fn save(&self) -> Result<()> {
        let s = lock(&self.state).clone();
        self.dir.save_state(&s)
    }

    /// Record an event in memory and in events.jsonl.
    pub fn event(&self, kind: &str, detail: serde_json::Value) {
        let e = Event {
            ts: now_secs(),
            kind: kind.to_string(),
            detail,
        };
        eprintln!("rubra: event {}: {}", e.kind, e.detail);
        if let Ok(line) = serde_json::to_string(&e) {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.events_path())
            {
                let _ = writeln!(f, "{line}");
            }
        }
        let mut ev = lock(&self.events);
        ev.push(e);
        let n = ev.len();
        if n > 10_000 {
            ev.drain(..n - 10_000);
        }
    }

    /// All events so far (this run).
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }

    /// Run `f` as the only slot-moving operation (visible as job `kind` in
    /// GET /api/ops), or fail with "busy".
    pub fn exclusive<T>(&self, kind: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = self.ops.begin(kind)?;
        let r = f();
        let rec = match &r {
            Ok(_) => Ok(serde_json::Value::Null),
            Err(e) => Err(anyhow!("{e:#}")),
        };
        self.ops.finish(t, &rec);
        r
    }

    /// Carry out slot moves one by one, reporting progress to the running operation.
    fn execute_moves(
        &self,
        ctx: &Ctx,
        view: &View,
        moves: &[migrate::Move],
    ) -> Result<(usize, u64)> {
        let mut pool = migrate::Pool::new(ctx);
        let total = moves.len();
        let mut keys = 0;
        self.ops.progress(0, total);
        for (i, m) in moves.iter().enumerate() {
            let (Some(from), Some(to)) = (view.get(&m.from), view.get(&m.to)) else {
                bail!("move of slot {}: unknown node", m.slot);
            };
            keys += migrate::move_slot(ctx, &mut pool, view, m.slot, from, to)?;
            self.ops.progress(i + 1, total);
        }
        Ok((total, keys))
    }

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

    /// Make sure the node on `port` runs: keep a live handle, adopt a process left by an
    /// earlier supervisor (pid in state.json and the port answers), or spawn it.
    pub fn ensure_running(&self, port: u16) -> Result<()> {
        if let Some(d) = &self.docker {
            d.ensure_running(port, &self.opts)?;
            return Ok(());
        }
        if let Some(e) = &self.external {
            e.wait_resolvable(port)?;
            return Ok(());
        }
        {
            let mut procs = lock(&self.procs);
            if let Some(h) = procs.get_mut(&port) {
                if h.alive() {
                    return Ok(());
                }
                procs.remove(&port);
            }
        }
        let old_pid = lock(&self.state)
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.pid);
        if let Some(pid) = old_pid {
            if pid_alive(pid) && form::local(&self.ctx(), port).is_ok() {
                lock(&self.procs).insert(port, Handle::Adopted(pid));
                return Ok(());
            }
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!("port {port} is in use by another process");
        }
        let child = spawn(&self.dir, port, &self.opts)?;
        let pid = child.id();
        lock(&self.procs).insert(port, Handle::Child(child));
        if let Some(n) = lock(&self.state).node_mut(port) {
            n.pid = Some(pid);
        }
        self.save()
    }

    /// Stop the node on `port` (SIGTERM, then SIGKILL after 10 s).
    pub fn stop_node(&self, port: u16) {
        if self.external.is_some() {
            return; // the orchestrator owns the node
        }
        if let Some(d) = &self.docker {
            if let Err(e) = d.stop(port, 10) {
                self.event(
                    "warning",
                    serde_json::json!({"port": port, "stop": format!("{e:#}")}),
                );
            }
            return;
        }
        let h = lock(&self.procs).remove(&port);
        if let Some(mut h) = h {
            h.stop(Duration::from_secs(10));
        }
    }

    /// Stop every node; used on Ctrl-C/SIGTERM and by `rubra down`.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(d) = &self.docker {
            // Containers stay (stopped), with their volumes: `rubra up` starts them again.
            let ports = lock(&self.state).active_ports();
            std::thread::scope(|s| {
                for p in ports {
                    s.spawn(move || {
                        if let Err(e) = d.stop(p, 10) {
                            eprintln!("rubra: stop node {p}: {e:#}");
                        }
                    });
                }
            });
        }
        let ports: Vec<u16> = lock(&self.procs).keys().copied().collect();
        let handles: Vec<(u16, Handle)> = {
            let mut p = lock(&self.procs);
            ports
                .iter()
                .filter_map(|k| p.remove(k).map(|h| (*k, h)))
                .collect()
        };
        // Signal all first, then wait: shutdown takes one grace period, not N.
        for (_, h) in &handles {
            crate::state::signal(h.pid(), libc::SIGTERM);
        }
        for (_, mut h) in handles {
            h.stop(Duration::from_secs(10));
        }
        {
            let mut st = lock(&self.state);
            for n in st.nodes.iter_mut() {
                n.pid = None;
            }
            st.panel = None;
        }
        let _ = self.save();
        let _ = std::fs::remove_file(self.dir.pid_path());
    }

    /// One monitor pass: restart active nodes whose process died.
    pub fn monitor_tick(&self) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let ports = lock(&self.state).active_ports();
        if let Some(d) = &self.docker {
            return self.monitor_containers(d, &ports);
        }
        if let Some(e) = &self.external {
            // The orchestrator restarts nodes; only follow address changes.
            for p in ports {
                let _ = e.resolve(p);
            }
            return;
        }
        for port in ports {
            let dead = {
                let mut procs = lock(&self.procs);
                match procs.get_mut(&port) {
                    Some(h) => !h.alive(),
                    None => false, // not started yet, or being started by an operation
                }
            };
            if dead && !self.stopping.load(Ordering::SeqCst) {
                lock(&self.procs).remove(&port);
                let r = self.ensure_running(port);
                self.event(
                    "node_restarted",
                    serde_json::json!({"port": port, "ok": r.is_ok(),
                        "error": r.err().map(|e| format!("{e:#}"))}),
                );
            }
        }
    }

    /// The monitor pass of the Docker runtime: a container that is gone or stopped for
    /// good (a restart policy does not bring back a killed container) is started or
    /// re-created with its volume; addresses are re-read, since a restart can change them.
    fn monitor_containers(&self, d: &crate::docker::DockerRt, ports: &[u16]) {
        for &port in ports {
            match d.alive(port) {
                Ok(true) => {
                    lock(&self.dead_since).remove(&port);
                    let _ = d.refresh_ip(port);
                }
                Ok(false) if !self.stopping.load(Ordering::SeqCst) => {
                    // Like a lost host: let the cluster fail the node over first, so a
                    // primary comes back as a replica of the node that holds every write
                    // it acknowledged (its own AOF may lag by up to a second).
                    let since = *lock(&self.dead_since)
                        .entry(port)
                        .or_insert_with(Instant::now);
                    // Failover takes about node_timeout; then clients need a moment to
                    // follow the new primary before the old one reappears (see the
                    // report in tests/docker.rs on a restart during that window).
                    let grace = Duration::from_millis(self.opts.node_timeout * 5 + 5000);
                    if since.elapsed() < grace {
                        continue;
                    }
                    lock(&self.dead_since).remove(&port);
                    let r = self.ensure_running(port);
                    self.event(
                        "node_restarted",
                        serde_json::json!({"port": port, "container": d.container(port),
                            "ok": r.is_ok(), "error": r.err().map(|e| format!("{e:#}"))}),
                    );
                }
                Ok(false) => {}
                Err(e) => eprintln!("rubra: docker inspect of node {port}: {e:#}"),
            }
        }
    }

    /// Start all active nodes, form the cluster if never formed, wait until healthy.
    pub fn start(&self) -> Result<()> {
        let ports = lock(&self.state).active_ports();
        for &p in &ports {
            self.ensure_running(p)?;
        }
        let ctx = self.ctx();
        for &p in &ports {
            form::wait_up(&ctx, p, Duration::from_secs(20))?;
        }
        let formed = lock(&self.state).formed;
        let nodes: Vec<NodeRec> = lock(&self.state)
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Active)
            .cloned()
            .collect();
        if !formed {
            let ids = form::form(&ctx, &self.meet_ip(), &nodes)?;
            let mut st = lock(&self.state);
            for (p, id) in ids {
                if let Some(n) = st.node_mut(p) {
                    n.id = Some(id);
                }
            }
            st.formed = true;
        } else {
            // Nodes of an unfinished add-pair may not have met yet; the pending op does it.
            let pending_pair = match &lock(&self.state).pending {
                Some(Pending::AddPair { pair, .. }) => Some(*pair),
                _ => None,
            };
            let core: Vec<u16> = nodes
                .iter()
                .filter(|n| Some(n.pair) != pending_pair)
                .map(|n| n.port)
                .collect();
            let replicas = nodes
                .iter()
                .filter(|n| Some(n.pair) != pending_pair && n.intent == Intent::Replica)
                .count();
            form::wait_ok(&ctx, &core, replicas, CONVERGE)?;
            for p in core {
                let id = form::node_id(&ctx, p)?;
                if let Some(n) = lock(&self.state).node_mut(p) {
                    n.id = Some(id);
                }
            }
        }
        self.save()
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
        let members: Vec<String> = view
            .primaries()
            .into_iter()
            .filter(|n| !n.is_failing())
            .map(|n| n.id.clone())
            .collect();
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

    /// Add a primary+replica pair (continuing a recorded one). Caller holds `ops`.
    pub fn add_pair_locked(&self) -> Result<serde_json::Value> {
        let (pair, pport, rport) = {
            let mut st = lock(&self.state);
            let pair = match &st.pending {
                Some(Pending::AddPair { pair, .. }) => *pair,
                Some(other) => bail!("another scale step is unfinished: {other:?}"),
                None => {
                    if st.active_ports().len() + 2 > 12 {
                        bail!("a cluster managed by rubra has at most 12 nodes");
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
                        });
                    }
                    pair
                }
            };
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
        let (slots, keys) = self.rebalance_locked(0.0)?;
        form::wait_ok(&ctx, &ports, replicas, CONVERGE)?;
        self.set_pending(None)?;
        let d = serde_json::json!({"op": "add_pair", "pair": pair, "ports": [pport, rport],
            "phase": "done", "slots_moved": slots, "keys_moved": keys});
        self.event("scale", d.clone());
        Ok(d)
    }

    /// Remove the most recently added pair (continuing a recorded removal). Caller holds
    /// `ops`. Order: drain its slots, FORGET on every other node, stop both processes.
    pub fn remove_pair_locked(&self) -> Result<serde_json::Value> {
        let pair = {
            let st = lock(&self.state);
            match &st.pending {
                Some(Pending::RemovePair { pair, .. }) => *pair,
                Some(other) => bail!("another scale step is unfinished: {other:?}"),
                None => {
                    if st.active_ports().len() < 8 {
                        bail!("cannot remove a pair: a cluster keeps at least 3 pairs (6 nodes)");
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
            bail!("pairs must be between 3 and 6 (6..=12 nodes)");
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

    /// One autoscaler sample: CPU fraction (from used_cpu_* deltas) and memory fraction,
    /// averaged over primaries. None until two CPU readings exist.
    pub fn sample(&self) -> Result<Option<Sample>> {
        let ctx = self.ctx();
        let view = ctx.best_view()?;
        let mut cpus = Vec::new();
        let mut mems = Vec::new();
        for n in view.primaries().into_iter().filter(|n| !n.is_failing()) {
            if let Some(d) = &self.docker {
                // Containers: CPU and memory as the engine measures them.
                let Ok((cpu, used)) = d.usage(n.port) else {
                    continue;
                };
                self.cpu_fraction(n.port, cpu, &mut cpus);
                let max = crate::docker::parse_mem(&self.opts.maxmemory).unwrap_or(0) as f64;
                mems.push(if max > 0.0 { used / max } else { 0.0 });
                continue;
            }
            let Ok(text) = ctx.connect_node(n).and_then(|mut c| c.text(&["INFO"])) else {
                continue;
            };
            let info = crate::resp::parse_info(&text);
            let f = |k: &str| info.get(k).and_then(|v| v.parse::<f64>().ok());
            let cpu = f("used_cpu_sys").unwrap_or(0.0) + f("used_cpu_user").unwrap_or(0.0);
            self.cpu_fraction(n.port, cpu, &mut cpus);
            let used = f("used_memory").unwrap_or(0.0);
            let max = f("maxmemory").unwrap_or(0.0);
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

    /// Current cluster view, for handlers that need ids.
    pub fn view(&self) -> Result<View> {
        self.ctx().best_view().context("cluster view")
    }
}

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
pub struct Supervisor {
    /// Data directory.
    pub dir: Dir,
    /// Node settings (`opts.password` is the password at start; see `secret`).
    pub opts: NodeOpts,
    /// The cluster password now, and the old one during a rotation's grace period.
    pub secret: crate::password::Secret,
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
    /// Events logged since start (the kept list drops the oldest beyond 10,000).
    events_total: Mutex<u64>,
    /// The newest cluster snapshot (with a sequence number) for live streams.
    latest: Mutex<Option<(u64, crate::panel::nodes::Snapshot)>>,
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
    /// Docker runtime: nodes whose container `rubra upgrade` is replacing right now (the
    /// monitor leaves them alone).
    replacing: Mutex<std::collections::HashSet<u16>>,
    /// Docker runtime on several hosts: each host's engine liveness (see `hosts`).
    host_health: Mutex<HashMap<String, hosts::HostHealth>>,
    /// Scheduled backups (`rubra up --backup-every`), if any.
    pub backups: Option<BackupSchedule>,
    /// `rubra up --tls`: the data dir's CA, and how rubra itself connects to the nodes.
    pub tls: Option<(crate::tlsgen::Pki, std::sync::Arc<rustls::ClientConfig>)>,
}

/// `rubra up --backup-every SECS --keep N [--backup-dir DIR]`.
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    /// Seconds between backups.
    pub every_secs: u64,
    /// Complete backups kept (the oldest beyond it are removed).
    pub keep: usize,
    /// Where `backup-UNIXTIME/` directories go.
    pub dir: std::path::PathBuf,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread must not take the supervisor down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

mod acl;
mod autoscaling;
pub mod hosts;
mod nodes;
mod rotation;
mod scaling;
mod upgrade;

impl Supervisor {
    /// Wrap a loaded/created state.
    pub fn new(dir: Dir, opts: NodeOpts, state: State, auto: AutoscaleRun, on: bool) -> Supervisor {
        let secret = crate::password::Secret::new(
            opts.password.clone(),
            state.rotation.as_ref().map(|r| r.old_sha256.clone()),
        );
        Supervisor {
            dir,
            opts,
            secret,
            state: Mutex::new(state),
            procs: Mutex::new(HashMap::new()),
            ops: Default::default(),
            auth: Default::default(),
            metrics: Default::default(),
            events: Mutex::new(Vec::new()),
            events_total: Mutex::new(0),
            latest: Mutex::new(None),
            autoscale: AtomicBool::new(on),
            stopping: AtomicBool::new(false),
            auto,
            history: Mutex::new(Vec::new()),
            last_action: Mutex::new(None),
            cpu_prev: Mutex::new(HashMap::new()),
            docker: None,
            external: None,
            dead_since: Mutex::new(HashMap::new()),
            replacing: Mutex::new(Default::default()),
            host_health: Mutex::new(HashMap::new()),
            backups: None,
            tls: None,
        }
    }

    /// Nodes speak TLS only: connect to them with `client` (see `tls::client_config`).
    pub fn with_tls(
        mut self,
        pki: crate::tlsgen::Pki,
        client: std::sync::Arc<rustls::ClientConfig>,
    ) -> Supervisor {
        self.tls = Some((pki, client));
        self
    }

    /// Take a backup every `s.every_secs` (see [`Supervisor::scheduled_backup`]).
    pub fn with_backups(mut self, s: BackupSchedule) -> Supervisor {
        self.backups = Some(s);
        self
    }

    /// One scheduled backup, as an operation (so no slot move runs meanwhile), logged as
    /// a `backup` or `backup_failed` event.
    pub fn scheduled_backup(&self) {
        let Some(s) = &self.backups else { return };
        let t0 = Instant::now();
        let r = self.exclusive("backup", || {
            crate::backup::scheduled_backup(&self.ctx(), &s.dir, s.keep)
        });
        match r {
            Ok((m, removed)) => self.event(
                "backup",
                serde_json::json!({"started_unix": m.started_unix,
                    "shards": m.shards.len(),
                    "keys": m.shards.iter().map(|x| x.keys).sum::<u64>(),
                    "bytes": m.shards.iter().map(|x| x.bytes).sum::<u64>(),
                    "secs": t0.elapsed().as_secs_f64(), "removed_old": removed}),
            ),
            Err(e) => self.event(
                "backup_failed",
                serde_json::json!({"error": format!("{e:#}")}),
            ),
        }
    }

    /// Let an orchestrator run the nodes; rubra only reaches them by name.
    pub fn with_external(mut self, rt: crate::docker::external::ExternalRt) -> Supervisor {
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
    pub fn with_docker(mut self, rt: crate::docker::DockerRt) -> Supervisor {
        self.docker = Some(rt);
        self
    }

    /// How to reach the managed nodes.
    pub fn ctx(&self) -> Ctx {
        let placement = crate::runtime_cli::placement_of(&lock(&self.state));
        Ctx {
            seeds: {
                let hosts = self.hosts();
                lock(&self.state)
                    .active_ports()
                    .iter()
                    .map(|p| format!("{}:{p}", hosts.get(p).map_or("127.0.0.1", String::as_str)))
                    .collect()
            },
            password: Some(self.secret.current()),
            local: true,
            hosts: self.hosts(),
            tls: self.tls.as_ref().map(|(_, c)| c.clone()),
            placement,
        }
    }

    /// Settings for a node started now: the current password, and the old one too while
    /// a rotation's grace period lasts.
    pub fn node_opts(&self) -> NodeOpts {
        NodeOpts {
            password: self.secret.current(),
            also_accept: self.secret.old_sha256(),
            ..self.opts.clone()
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
        *lock(&self.events_total) += 1;
        ev.push(e);
        let n = ev.len();
        if n > 10_000 {
            ev.drain(..n - 10_000);
        }
    }

    /// How many events were logged so far (this run).
    pub fn events_logged(&self) -> u64 {
        *lock(&self.events_total)
    }

    /// Events logged after the first `seen` (those still kept), and the new total.
    pub fn events_after(&self, seen: u64) -> (u64, Vec<Event>) {
        let ev = lock(&self.events);
        let total = *lock(&self.events_total);
        let fresh = usize::try_from(total.saturating_sub(seen)).unwrap_or(usize::MAX);
        let skip = ev.len().saturating_sub(fresh);
        (total, ev[skip..].to_vec())
    }

    /// Keep `snap` as the newest cluster snapshot for live streams.
    pub fn set_latest_snapshot(&self, snap: crate::panel::nodes::Snapshot) {
        let mut l = lock(&self.latest);
        let seq = l.as_ref().map_or(1, |(s, _)| s + 1);
        *l = Some((seq, snap));
    }

    /// The newest cluster snapshot and its sequence number.
    pub fn latest_snapshot(&self) -> Option<(u64, crate::panel::nodes::Snapshot)> {
        lock(&self.latest).clone()
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

    /// Current cluster view, for handlers that need ids.
    pub fn view(&self) -> Result<View> {
        self.ctx().best_view().context("cluster view")
    }
}

//! The last hour of load, for the panel's charts: a ring buffer of samples taken every
//! `INTERVAL` (720 x 5 s), plus what the sampler learns by comparing samples (CPU rate
//! from the used_cpu counters, role changes = failovers).

use super::nodes::Snapshot;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Time between samples.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Samples kept (one hour at 5 s).
pub const CAPACITY: usize = 720;

/// One node in one sample.
#[derive(Debug, Clone, Serialize)]
pub struct NodePoint {
    /// Node id.
    pub id: String,
    /// Client port (chart legend).
    pub port: u16,
    /// primary or replica at that time.
    pub role: String,
    /// Keys.
    pub keys: u64,
    /// used_memory bytes.
    pub mem: u64,
    /// ops/s.
    pub ops: u64,
    /// CPU in cores (1.0 = one core busy), None for the first sample of a node.
    pub cpu: Option<f64>,
}

/// One sample of the whole cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub ts: u64,
    /// Per node.
    pub nodes: Vec<NodePoint>,
}

/// The ring buffer and the sampler's memory.
#[derive(Default)]
pub struct History {
    ring: Mutex<VecDeque<Point>>,
    cpu_prev: Mutex<HashMap<String, (f64, Instant)>>,
    cpu_now: Mutex<HashMap<String, f64>>,
    roles: Mutex<HashMap<String, String>>,
    failovers: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl History {
    /// Add a sample from `snap`; returns node ids that turned from replica into primary
    /// since the previous sample (failovers, manual or automatic).
    pub fn record(&self, ts: u64, snap: &Snapshot) -> Vec<String> {
        let now = Instant::now();
        let mut promoted = Vec::new();
        let mut nodes = Vec::new();
        {
            let mut prev = lock(&self.cpu_prev);
            let mut cur = lock(&self.cpu_now);
            let mut roles = lock(&self.roles);
            for n in snap.nodes.iter().filter(|n| n.reachable) {
                let cpu = n.cpu_seconds.and_then(|c| {
                    let old = prev.insert(n.id.clone(), (c, now));
                    old.and_then(|(c0, t0)| {
                        let dt = now.duration_since(t0).as_secs_f64();
                        (dt > 0.0).then(|| ((c - c0) / dt).max(0.0))
                    })
                });
                if let Some(c) = cpu {
                    cur.insert(n.id.clone(), c);
                }
                if let Some(old) = roles.insert(n.id.clone(), n.role.clone()) {
                    if old == "replica" && n.role == "primary" {
                        promoted.push(n.id.clone());
                    }
                }
                nodes.push(NodePoint {
                    id: n.id.clone(),
                    port: n.port,
                    role: n.role.clone(),
                    keys: n.keys.unwrap_or(0),
                    mem: n.used_memory.unwrap_or(0),
                    ops: n.ops_per_sec.unwrap_or(0),
                    cpu,
                });
            }
        }
        self.note_failovers(&promoted, ts);
        let mut ring = lock(&self.ring);
        ring.push_back(Point { ts, nodes });
        while ring.len() > CAPACITY {
            ring.pop_front();
        }
        promoted
    }

    /// Remember that these nodes were promoted at `ts`.
    pub fn note_failovers(&self, ids: &[String], ts: u64) {
        let mut f = lock(&self.failovers);
        for id in ids {
            f.insert(id.clone(), ts);
        }
    }

    /// Unix seconds of the last promotion of `id`, if seen.
    pub fn last_failover(&self, id: &str) -> Option<u64> {
        lock(&self.failovers).get(id).copied()
    }

    /// Latest CPU reading of `id` in cores.
    pub fn cpu(&self, id: &str) -> Option<f64> {
        lock(&self.cpu_now).get(id).copied()
    }

    /// Number of samples held.
    pub fn len(&self) -> usize {
        lock(&self.ring).len()
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Columnar JSON for the charts: `ts[]`, `total.{ops,mem,cpu,keys}[]` and per node
    /// id `{port, ops[], mem[], cpu[], keys[]}` with null where the node had no reading.
    /// Keys and ops totals count primaries only (replicas hold copies).
    pub fn to_json(&self) -> Value {
        let ring = lock(&self.ring);
        let ts: Vec<u64> = ring.iter().map(|p| p.ts).collect();
        let mut total = json!({"ops": [], "mem": [], "cpu": [], "keys": []});
        let mut ids: Vec<(String, u16)> = Vec::new();
        for p in ring.iter() {
            for n in &p.nodes {
                if !ids.iter().any(|(i, _)| *i == n.id) {
                    ids.push((n.id.clone(), n.port));
                }
            }
        }
        ids.sort_by_key(|(_, port)| *port);
        let mut per: Map<String, Value> = Map::new();
        for (id, port) in &ids {
            per.insert(
                id.clone(),
                json!({"port": port, "ops": [], "mem": [], "cpu": [], "keys": []}),
            );
        }
        let push = |v: &mut Value, k: &str, x: Value| {
            if let Some(a) = v.get_mut(k).and_then(Value::as_array_mut) {
                a.push(x);
            }
        };
        for p in ring.iter() {
            let prim = p.nodes.iter().filter(|n| n.role == "primary");
            push(
                &mut total,
                "ops",
                json!(prim.clone().map(|n| n.ops).sum::<u64>()),
            );
            push(&mut total, "keys", json!(prim.map(|n| n.keys).sum::<u64>()));
            push(
                &mut total,
                "mem",
                json!(p.nodes.iter().map(|n| n.mem).sum::<u64>()),
            );
            push(
                &mut total,
                "cpu",
                json!(p.nodes.iter().filter_map(|n| n.cpu).sum::<f64>()),
            );
            for (id, _) in &ids {
                let Some(slot) = per.get_mut(id) else {
                    continue;
                };
                let n = p.nodes.iter().find(|n| n.id == *id);
                push(slot, "ops", json!(n.map(|n| n.ops)));
                push(slot, "mem", json!(n.map(|n| n.mem)));
                push(slot, "cpu", json!(n.and_then(|n| n.cpu)));
                push(slot, "keys", json!(n.map(|n| n.keys)));
            }
        }
        json!({
            "interval_secs": INTERVAL.as_secs(),
            "capacity": CAPACITY,
            "ts": ts,
            "total": total,
            "nodes": per,
        })
    }
}

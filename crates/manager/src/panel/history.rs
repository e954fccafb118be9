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
    /// Network input, bytes/s since the previous sample.
    pub net_in: Option<f64>,
    /// Network output, bytes/s since the previous sample.
    pub net_out: Option<f64>,
}

/// A node's load between its last two samples: what the nodes table shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Load {
    /// Network input, bytes/s.
    pub net_in: Option<f64>,
    /// Network output, bytes/s.
    pub net_out: Option<f64>,
    /// Commands/s by command, busiest first (at most `TOP_COMMANDS`).
    pub commands: Vec<(String, f64)>,
}

/// Commands listed per node in its load.
pub const TOP_COMMANDS: usize = 5;

/// The counters a node had at its previous sample.
#[derive(Clone)]
struct Counters {
    at: Instant,
    cpu: Option<f64>,
    net_in: Option<u64>,
    net_out: Option<u64>,
    calls: std::collections::BTreeMap<String, u64>,
}

/// Per second between two readings of a counter (None on the first, or after a reset).
fn rate(old: Option<u64>, new: Option<u64>, dt: f64) -> Option<f64> {
    let (o, n) = (old?, new?);
    (n >= o && dt > 0.0).then(|| (n - o) as f64 / dt)
}

/// Commands/s per command between two commandstats readings, busiest first.
pub fn command_rates(
    old: &std::collections::BTreeMap<String, u64>,
    new: &std::collections::BTreeMap<String, u64>,
    dt: f64,
    top: usize,
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = new
        .iter()
        .filter_map(|(name, &calls)| {
            let r = rate(Some(old.get(name).copied().unwrap_or(0)), Some(calls), dt)?;
            (r > 0.0).then(|| (name.clone(), r))
        })
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(top);
    v
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
    prev: Mutex<HashMap<String, Counters>>,
    cpu_now: Mutex<HashMap<String, f64>>,
    load_now: Mutex<HashMap<String, Load>>,
    roles: Mutex<HashMap<String, String>>,
    failovers: Mutex<HashMap<String, u64>>,
}

/// Network bytes/s in + out of one node at one sample.
fn net_total(n: &NodePoint) -> Option<f64> {
    Some(n.net_in? + n.net_out?)
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
            let mut prev = lock(&self.prev);
            let mut cur = lock(&self.cpu_now);
            let mut loads = lock(&self.load_now);
            let mut roles = lock(&self.roles);
            for n in snap.nodes.iter().filter(|n| n.reachable) {
                let reading = Counters {
                    at: now,
                    cpu: n.cpu_seconds,
                    net_in: n.net_in_bytes,
                    net_out: n.net_out_bytes,
                    calls: n.cmd_calls.clone(),
                };
                let old = prev.insert(n.id.clone(), reading);
                let dt = old
                    .as_ref()
                    .map_or(0.0, |o| now.duration_since(o.at).as_secs_f64());
                let cpu = match (old.as_ref().and_then(|o| o.cpu), n.cpu_seconds) {
                    (Some(c0), Some(c)) if dt > 0.0 => Some(((c - c0) / dt).max(0.0)),
                    _ => None,
                };
                if let Some(c) = cpu {
                    cur.insert(n.id.clone(), c);
                }
                let load = Load {
                    net_in: rate(old.as_ref().and_then(|o| o.net_in), n.net_in_bytes, dt),
                    net_out: rate(old.as_ref().and_then(|o| o.net_out), n.net_out_bytes, dt),
                    commands: old
                        .as_ref()
                        .map(|o| command_rates(&o.calls, &n.cmd_calls, dt, TOP_COMMANDS))
                        .unwrap_or_default(),
                };
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
                    net_in: load.net_in,
                    net_out: load.net_out,
                });
                loads.insert(n.id.clone(), load);
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

    /// The latest load of `id` (network rates, commands/s by command).
    pub fn load(&self, id: &str) -> Load {
        lock(&self.load_now).get(id).cloned().unwrap_or_default()
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

    /// Columnar JSON for the charts: `ts[]`, `total.{ops,mem,cpu,keys,net}[]` and per node
    /// id `{port, ops[], mem[], cpu[], keys[], net[]}` with null where the node had no
    /// reading (`net`: bytes/s in + out).
    /// Keys and ops totals count primaries only (replicas hold copies).
    pub fn to_json(&self) -> Value {
        let ring = lock(&self.ring);
        let ts: Vec<u64> = ring.iter().map(|p| p.ts).collect();
        let mut total = json!({"ops": [], "mem": [], "cpu": [], "keys": [], "net": []});
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
                json!({"port": port, "ops": [], "mem": [], "cpu": [], "keys": [], "net": []}),
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
            push(
                &mut total,
                "net",
                json!(p.nodes.iter().filter_map(net_total).sum::<f64>()),
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
                push(slot, "net", json!(n.and_then(net_total)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn command_rates_are_per_second_and_busiest_first() {
        let old: BTreeMap<String, u64> = [("get".into(), 100), ("set".into(), 50)].into();
        let new: BTreeMap<String, u64> = [
            ("get".into(), 600),
            ("set".into(), 60),
            ("config|get".into(), 5),
        ]
        .into();
        let r = command_rates(&old, &new, 5.0, 2);
        assert_eq!(
            r,
            vec![("get".to_string(), 100.0), ("set".to_string(), 2.0)]
        );
        // A counter that went backwards (CONFIG RESETSTAT, restart) gives no rate.
        assert_eq!(rate(Some(10), Some(4), 1.0), None);
        assert_eq!(rate(None, Some(4), 1.0), None);
        assert_eq!(rate(Some(4), Some(14), 2.0), Some(5.0));
    }
}

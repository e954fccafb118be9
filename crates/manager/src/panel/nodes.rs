//! One snapshot of the cluster for the panel, /api/cluster and /metrics: topology from
//! CLUSTER NODES plus INFO from every node, and slots in migration from each primary's
//! own `myself` line (only the owner reports MIGRATING/IMPORTING).

use crate::ctx::Ctx;
use crate::resp::{info_keys, parse_info};
use crate::topology::View;
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;

/// Everything an operator sees about one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeDetail {
    /// Node id.
    pub id: String,
    /// Announced ip:port (what clients are redirected to).
    pub addr: String,
    /// Where rubra reaches it.
    pub reach: String,
    /// Client port.
    pub port: u16,
    /// Docker runtime on several hosts: the host running the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// "primary" or "replica".
    pub role: String,
    /// Primary's id for replicas.
    pub primary_id: Option<String>,
    /// Replica ids for primaries.
    pub replicas: Vec<String>,
    /// Owned slots as inclusive ranges.
    pub slots: Vec<(u16, u16)>,
    /// Number of owned slots.
    pub slot_count: usize,
    /// Keys (INFO keyspace), None when unreachable.
    pub keys: Option<u64>,
    /// used_memory bytes.
    pub used_memory: Option<u64>,
    /// maxmemory bytes (0 = unlimited).
    pub maxmemory: Option<u64>,
    /// instantaneous_ops_per_sec.
    pub ops_per_sec: Option<u64>,
    /// total_commands_processed (a counter, for Prometheus).
    pub commands_processed: Option<u64>,
    /// connected_clients.
    pub connected_clients: Option<u64>,
    /// used_cpu_sys + used_cpu_user, seconds (a counter).
    pub cpu_seconds: Option<f64>,
    /// master_repl_offset (primary) / slave_repl_offset (replica).
    pub repl_offset: Option<i64>,
    /// Replicas: bytes behind their primary's offset.
    pub repl_lag: Option<i64>,
    /// Replicas: master_link_status (up/down).
    pub master_link: Option<String>,
    /// Bus link as seen by the seed; "fail" when flagged failing.
    pub link: String,
    /// total_net_input_bytes (a counter).
    pub net_in_bytes: Option<u64>,
    /// total_net_output_bytes (a counter).
    pub net_out_bytes: Option<u64>,
    /// used_memory_dataset: the data itself.
    pub mem_dataset: Option<u64>,
    /// used_memory_overhead: buffers, tables, replication backlog.
    pub mem_overhead: Option<u64>,
    /// mem_fragmentation_ratio (RSS / used_memory).
    pub mem_fragmentation: Option<f64>,
    /// Calls so far per command (INFO commandstats), for commands/s by type.
    pub cmd_calls: std::collections::BTreeMap<String, u64>,
    /// Raw CLUSTER NODES flags.
    pub flags: Vec<String>,
    /// Answered INFO.
    pub reachable: bool,
}

/// A slot being moved between nodes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Migration {
    /// Hash slot.
    pub slot: u16,
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
}

/// The whole cluster at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// cluster_state from CLUSTER INFO (ok, fail, unknown).
    pub state: String,
    /// Nodes sorted by port.
    pub nodes: Vec<NodeDetail>,
    /// Open slot moves.
    pub migrations: Vec<Migration>,
}

impl Snapshot {
    /// Sum of a per-node number over primaries (keys and ops are not double-counted).
    pub fn primaries_sum(&self, f: impl Fn(&NodeDetail) -> Option<u64>) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.role == "primary")
            .filter_map(f)
            .sum()
    }
}

/// Calls per command from INFO commandstats (`cmdstat_get:calls=5,usec=...`), by the
/// command's name (`get`, `config|get`).
pub fn command_calls(info: &HashMap<String, String>) -> std::collections::BTreeMap<String, u64> {
    info.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("cmdstat_")?;
            let calls = v
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// Collect a snapshot (a few RESP round trips per node).
pub fn collect(ctx: &Ctx) -> Result<Snapshot> {
    let view = ctx.best_view()?;
    let state = ctx
        .seeds
        .iter()
        .find_map(|s| {
            ctx.connect(s)
                .and_then(|mut c| c.text(&["CLUSTER", "INFO"]))
                .ok()
        })
        .map(|t| {
            parse_info(&t)
                .get("cluster_state")
                .cloned()
                .unwrap_or_default()
        })
        .unwrap_or_else(|| "unknown".into());
    let mut sorted = view.nodes.clone();
    sorted.sort_by_key(|n| n.port);
    let mut nodes = Vec::new();
    let mut migrations = Vec::new();
    let mut offsets: HashMap<String, i64> = HashMap::new();
    for n in &sorted {
        let mut conn = ctx.connect_node(n).ok();
        let info = conn
            .as_mut()
            .and_then(|c| c.text(&["INFO", "all"]).or_else(|_| c.text(&["INFO"])).ok())
            .map(|t| parse_info(&t));
        if n.is_primary() {
            if let Some(own) = conn.as_mut().and_then(|c| View::fetch(c).ok()) {
                if let Some(me) = own.myself() {
                    for (slot, to) in &me.migrating {
                        migrations.push(Migration {
                            slot: *slot,
                            from: me.id.clone(),
                            to: to.clone(),
                        });
                    }
                    for (slot, from) in &me.importing {
                        let m = Migration {
                            slot: *slot,
                            from: from.clone(),
                            to: me.id.clone(),
                        };
                        if !migrations.contains(&m) {
                            migrations.push(m);
                        }
                    }
                }
            }
        }
        let get = |k: &str| info.as_ref().and_then(|i| i.get(k)).cloned();
        let num = |k: &str| get(k).and_then(|v| v.parse::<u64>().ok());
        let float = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
        let cpu = match (float("used_cpu_sys"), float("used_cpu_user")) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        let offset = if n.is_primary() {
            get("master_repl_offset")
        } else {
            get("slave_repl_offset").or_else(|| get("master_repl_offset"))
        }
        .and_then(|v| v.parse::<i64>().ok());
        if let (true, Some(o)) = (n.is_primary(), offset) {
            offsets.insert(n.id.clone(), o);
        }
        nodes.push(NodeDetail {
            id: n.id.clone(),
            addr: n.announced_addr(),
            reach: ctx.addr_of(n),
            port: n.port,
            host: ctx.placement.get(&n.port).cloned(),
            role: if n.is_primary() { "primary" } else { "replica" }.to_string(),
            primary_id: n.primary.clone(),
            replicas: view
                .replicas_of(&n.id)
                .iter()
                .map(|r| r.id.clone())
                .collect(),
            slots: n.slots.clone(),
            slot_count: n.slot_count(),
            keys: info.as_ref().map(info_keys),
            used_memory: num("used_memory"),
            maxmemory: num("maxmemory"),
            ops_per_sec: num("instantaneous_ops_per_sec"),
            commands_processed: num("total_commands_processed"),
            connected_clients: num("connected_clients"),
            cpu_seconds: cpu,
            repl_offset: offset,
            repl_lag: None,
            master_link: if n.is_primary() {
                None
            } else {
                get("master_link_status")
            },
            link: if n.is_failing() {
                "fail".to_string()
            } else {
                n.link.clone()
            },
            net_in_bytes: num("total_net_input_bytes"),
            net_out_bytes: num("total_net_output_bytes"),
            mem_dataset: num("used_memory_dataset"),
            mem_overhead: num("used_memory_overhead"),
            mem_fragmentation: float("mem_fragmentation_ratio"),
            cmd_calls: info.as_ref().map(command_calls).unwrap_or_default(),
            flags: n.flags.clone(),
            reachable: info.is_some(),
        });
    }
    for n in nodes.iter_mut() {
        if let (Some(p), Some(o)) = (n.primary_id.as_ref(), n.repl_offset) {
            n.repl_lag = offsets.get(p).map(|po| (po - o).max(0));
        }
    }
    migrations.sort_by_key(|m| m.slot);
    Ok(Snapshot {
        state,
        nodes,
        migrations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_lines_give_calls_per_command() {
        let info = crate::resp::parse_info(
            "# Commandstats\r\ncmdstat_get:calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_config|get:calls=3,usec=9,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\nused_memory:5\r\n",
        );
        let calls = command_calls(&info);
        assert_eq!(calls.get("get"), Some(&12));
        assert_eq!(calls.get("config|get"), Some(&3));
        assert_eq!(calls.len(), 2);
    }
}

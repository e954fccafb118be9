//! GET /metrics in the Prometheus text exposition format (version 0.0.4).
//!
//! Cluster-wide gauges plus one series per node labelled `node` (id), `addr` (announced)
//! and `role`. Counters end in `_total`. Replication lag is the primary's
//! master_repl_offset minus the replica's slave_repl_offset, in bytes.

use super::history::History;
use super::nodes::{NodeDetail, Snapshot};
use std::fmt::Write;

/// Escape a label value (backslash, quote, newline), per the format.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn val(&mut self, name: &str, labels: &str, v: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }
    /// One gauge/counter with a value per node (nodes without a value are skipped).
    fn per_node(
        &mut self,
        snap: &Snapshot,
        name: &str,
        kind: &str,
        help: &str,
        f: impl Fn(&NodeDetail) -> Option<f64>,
    ) {
        self.head(name, kind, help);
        for n in &snap.nodes {
            if let Some(v) = f(n) {
                self.val(name, &labels(n), v);
            }
        }
    }
}

fn labels(n: &NodeDetail) -> String {
    format!(
        "node=\"{}\",addr=\"{}\",role=\"{}\"",
        esc(&n.id),
        esc(&n.addr),
        esc(&n.role)
    )
}

/// Render the exposition text.
pub fn render(snap: &Snapshot, hist: &History, autoscale: bool) -> String {
    let mut o = Out(String::new());
    let prim: Vec<&NodeDetail> = snap.nodes.iter().filter(|n| n.role == "primary").collect();
    o.head(
        "rubra_cluster_state_ok",
        "gauge",
        "1 when CLUSTER INFO says cluster_state:ok.",
    );
    o.val(
        "rubra_cluster_state_ok",
        "",
        f64::from(u8::from(snap.state == "ok")),
    );
    o.head(
        "rubra_cluster_nodes",
        "gauge",
        "Nodes in the cluster by role.",
    );
    o.val("rubra_cluster_nodes", "role=\"primary\"", prim.len() as f64);
    o.val(
        "rubra_cluster_nodes",
        "role=\"replica\"",
        (snap.nodes.len() - prim.len()) as f64,
    );
    o.head(
        "rubra_cluster_slots_assigned",
        "gauge",
        "Hash slots owned by some primary.",
    );
    o.val(
        "rubra_cluster_slots_assigned",
        "",
        prim.iter().map(|n| n.slot_count).sum::<usize>() as f64,
    );
    o.head(
        "rubra_cluster_slots_migrating",
        "gauge",
        "Slots in an open move.",
    );
    o.val(
        "rubra_cluster_slots_migrating",
        "",
        snap.migrations.len() as f64,
    );
    o.head("rubra_cluster_keys", "gauge", "Keys over all primaries.");
    o.val(
        "rubra_cluster_keys",
        "",
        snap.primaries_sum(|n| n.keys) as f64,
    );
    o.head(
        "rubra_cluster_memory_used_bytes",
        "gauge",
        "used_memory summed over all nodes.",
    );
    o.val(
        "rubra_cluster_memory_used_bytes",
        "",
        snap.nodes.iter().filter_map(|n| n.used_memory).sum::<u64>() as f64,
    );
    o.head(
        "rubra_cluster_memory_max_bytes",
        "gauge",
        "maxmemory summed over all nodes.",
    );
    o.val(
        "rubra_cluster_memory_max_bytes",
        "",
        snap.nodes.iter().filter_map(|n| n.maxmemory).sum::<u64>() as f64,
    );
    o.head(
        "rubra_cluster_ops_per_second",
        "gauge",
        "instantaneous_ops_per_sec over primaries.",
    );
    o.val(
        "rubra_cluster_ops_per_second",
        "",
        snap.primaries_sum(|n| n.ops_per_sec) as f64,
    );
    o.head(
        "rubra_autoscale_enabled",
        "gauge",
        "1 when the autoscaler is on.",
    );
    o.val(
        "rubra_autoscale_enabled",
        "",
        f64::from(u8::from(autoscale)),
    );

    o.per_node(
        snap,
        "rubra_node_up",
        "gauge",
        "1 when the node answers INFO.",
        |n| Some(f64::from(u8::from(n.reachable))),
    );
    o.per_node(
        snap,
        "rubra_node_primary",
        "gauge",
        "1 for a primary, 0 for a replica.",
        |n| Some(f64::from(u8::from(n.role == "primary"))),
    );
    o.per_node(
        snap,
        "rubra_node_slots",
        "gauge",
        "Hash slots owned.",
        |n| Some(n.slot_count as f64),
    );
    o.per_node(snap, "rubra_node_keys", "gauge", "Keys held.", |n| {
        n.keys.map(|v| v as f64)
    });
    o.per_node(
        snap,
        "rubra_node_memory_used_bytes",
        "gauge",
        "used_memory.",
        |n| n.used_memory.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_memory_max_bytes",
        "gauge",
        "maxmemory (0 = no limit).",
        |n| n.maxmemory.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_ops_per_second",
        "gauge",
        "instantaneous_ops_per_sec.",
        |n| n.ops_per_sec.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_commands_processed_total",
        "counter",
        "total_commands_processed.",
        |n| n.commands_processed.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_cpu_seconds_total",
        "counter",
        "used_cpu_sys + used_cpu_user.",
        |n| n.cpu_seconds,
    );
    o.per_node(
        snap,
        "rubra_node_cpu_cores",
        "gauge",
        "CPU use over the last sample interval, in cores.",
        |n| hist.cpu(&n.id),
    );
    o.per_node(
        snap,
        "rubra_node_connected_clients",
        "gauge",
        "connected_clients.",
        |n| n.connected_clients.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_link_up",
        "gauge",
        "1 when the cluster bus link is connected and the node is not flagged failing.",
        |n| Some(f64::from(u8::from(n.link == "connected"))),
    );
    o.per_node(
        snap,
        "rubra_node_replication_offset",
        "gauge",
        "master_repl_offset (primary) or slave_repl_offset (replica), bytes.",
        |n| n.repl_offset.map(|v| v as f64),
    );
    o.per_node(
        snap,
        "rubra_node_replication_lag_bytes",
        "gauge",
        "Replicas: primary offset minus own offset.",
        |n| n.repl_lag.map(|v| v as f64),
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_labels() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! The slow log of every node, merged: where the cluster's time goes, in one list.
//!
//! Each node keeps its own SLOWLOG; an operator looking for a slow command should not
//! have to visit twelve nodes. Entries are read from every reachable node, tagged with
//! the node, merged newest first, and their arguments shortened for display (the
//! values may be large or secret; the panel shows what Redis itself would show, cut
//! further).

use crate::ctx::Ctx;
use crate::resp::Value;
use anyhow::{anyhow, Result};
use serde::Serialize;

/// Most entries read per node.
pub const MAX_PER_NODE: usize = 128;
/// Arguments shown per entry.
const MAX_ARGS_SHOWN: usize = 16;
/// Characters shown per argument.
const MAX_ARG_CHARS: usize = 64;

/// One slow command, on one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// The node that ran it.
    pub node: String,
    /// That node's announced address.
    pub addr: String,
    /// The node's own entry id.
    pub id: i64,
    /// Unix seconds when it ran.
    pub ts: i64,
    /// How long it ran, microseconds.
    pub micros: i64,
    /// The command and arguments, shortened.
    pub args: Vec<String>,
    /// The client's address.
    pub client: String,
    /// The client's name (CLIENT SETNAME), if any.
    pub client_name: String,
}

/// Parses one node's SLOWLOG GET reply into entries tagged with the node.
pub fn parse(reply: &Value, node: &str, addr: &str) -> Vec<Entry> {
    let Value::Array(items) = reply else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| {
            let Value::Array(f) = it else { return None };
            let int = |i: usize| match f.get(i) {
                Some(Value::Int(n)) => Some(*n),
                _ => None,
            };
            let text = |i: usize| f.get(i).and_then(Value::text).unwrap_or_default();
            let args = match f.get(3) {
                Some(Value::Array(a)) => shorten(a),
                _ => Vec::new(),
            };
            Some(Entry {
                node: node.to_string(),
                addr: addr.to_string(),
                id: int(0)?,
                ts: int(1)?,
                micros: int(2)?,
                args,
                client: text(4),
                client_name: text(5),
            })
        })
        .collect()
}

fn shorten(args: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = args
        .iter()
        .take(MAX_ARGS_SHOWN)
        .map(|a| {
            let t = a.text().unwrap_or_default();
            if t.chars().count() > MAX_ARG_CHARS {
                let cut: String = t.chars().take(MAX_ARG_CHARS).collect();
                format!("{cut}…")
            } else {
                t
            }
        })
        .collect();
    if args.len() > MAX_ARGS_SHOWN {
        out.push(format!(
            "… ({} more arguments)",
            args.len() - MAX_ARGS_SHOWN
        ));
    }
    out
}

/// Newest first; among entries of one second, the slowest first.
pub fn merge(mut all: Vec<Entry>) -> Vec<Entry> {
    all.sort_by(|a, b| b.ts.cmp(&a.ts).then(b.micros.cmp(&a.micros)));
    all
}

/// The merged slow log of every reachable node (`count` entries per node at most), and
/// the nodes that could not be read.
pub fn collect(ctx: &Ctx, count: usize) -> Result<(Vec<Entry>, Vec<String>)> {
    let view = ctx.best_view()?;
    let count = count.clamp(1, MAX_PER_NODE).to_string();
    let mut all = Vec::new();
    let mut unreachable = Vec::new();
    for n in &view.nodes {
        let got = ctx
            .connect_node(n)
            .and_then(|mut c| c.ok(&["SLOWLOG", "GET", &count]));
        match got {
            Ok(reply) => all.extend(parse(&reply, &n.id, &n.announced_addr())),
            Err(_) => unreachable.push(n.id.clone()),
        }
    }
    Ok((merge(all), unreachable))
}

/// SLOWLOG RESET on one node (by id) or on every node; returns how many were reset.
pub fn reset(ctx: &Ctx, node: Option<&str>) -> Result<usize> {
    let view = ctx.best_view()?;
    let targets: Vec<_> = match node.filter(|n| !n.is_empty()) {
        Some(id) => vec![view.get(id).ok_or_else(|| anyhow!("no node {id}"))?],
        None => view.nodes.iter().collect(),
    };
    for n in &targets {
        ctx.connect_node(n)?.ok(&["SLOWLOG", "RESET"])?;
    }
    Ok(targets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    fn entry(id: i64, ts: i64, micros: i64, args: Vec<Value>) -> Value {
        Value::Array(vec![
            Value::Int(id),
            Value::Int(ts),
            Value::Int(micros),
            Value::Array(args),
            bulk("127.0.0.1:5000"),
            bulk("worker"),
        ])
    }

    #[test]
    fn entries_parse_merge_and_shorten() {
        let long = "v".repeat(100);
        let a = Value::Array(vec![
            entry(2, 100, 50, vec![bulk("SET"), bulk("k"), bulk(&long)]),
            entry(1, 90, 7000, vec![bulk("KEYS"), bulk("*")]),
        ]);
        let many: Vec<Value> = (0..20).map(|i| bulk(&i.to_string())).collect();
        let b = Value::Array(vec![entry(9, 100, 900, many), Value::Int(3)]);
        let mut all = parse(&a, "n1", "127.0.0.1:7000");
        all.extend(parse(&b, "n2", "127.0.0.1:7001"));
        let m = merge(all);
        let order: Vec<(&str, i64)> = m.iter().map(|e| (e.node.as_str(), e.id)).collect();
        assert_eq!(order, vec![("n2", 9), ("n1", 2), ("n1", 1)]);
        assert_eq!(m[1].args[2].chars().count(), MAX_ARG_CHARS + 1);
        assert!(m[1].args[2].ends_with('…'));
        assert_eq!(m[0].args.len(), MAX_ARGS_SHOWN + 1);
        assert_eq!(m[0].args[MAX_ARGS_SHOWN], "… (4 more arguments)");
        assert_eq!(m[2].client_name, "worker");
        assert!(parse(&Value::Nil, "n", "a").is_empty());
    }
}

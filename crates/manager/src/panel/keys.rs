//! The key browser: SCAN by pattern across all primaries, inspect one key, delete one.
//!
//! Everything is bounded so a huge keyspace or a huge value cannot stall the supervisor
//! or the browser: a page asks for at most `MAX_PAGE` keys (one SCAN reply may add a
//! few more, as SCAN's COUNT is a hint) and costs at most `MAX_SCANS` SCAN calls; a value shows at most `MAX_ELEMS` elements or `MAX_BYTES` bytes.
//! Keys go to the node owning their slot (CLUSTER KEYSLOT, then the slot's owner).

use crate::ctx::Ctx;
use crate::resp::{Conn, Value};
use crate::topology::{NodeInfo, View};
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value as Json};

/// Most keys per page.
pub const MAX_PAGE: usize = 500;
/// Most SCAN calls per page.
const MAX_SCANS: usize = 64;
/// Elements shown of a collection.
pub const MAX_ELEMS: usize = 100;
/// Bytes shown of a string.
pub const MAX_BYTES: usize = 4096;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn primaries(view: &View) -> Vec<&NodeInfo> {
    let mut p: Vec<&NodeInfo> = view
        .primaries()
        .into_iter()
        .filter(|n| !n.is_failing() && n.slot_count() > 0)
        .collect();
    p.sort_by_key(|n| n.port);
    p
}

/// One page of keys matching `pattern`. The cursor is "NODEINDEX:SCANCURSOR" ("0" or
/// empty to start); the returned cursor is "0" when every primary has been scanned.
pub fn scan(ctx: &Ctx, pattern: &str, cursor: &str, count: usize) -> Result<Json> {
    let count = count.clamp(1, MAX_PAGE);
    let view = ctx.best_view()?;
    let nodes = primaries(&view);
    let (mut idx, mut cur) = match cursor.split_once(':') {
        Some((i, c)) => (
            i.parse::<usize>().map_err(|_| anyhow!("bad cursor"))?,
            c.to_string(),
        ),
        None if cursor.is_empty() || cursor == "0" => (0, "0".to_string()),
        None => bail!("bad cursor"),
    };
    if cur.parse::<u64>().is_err() {
        bail!("bad cursor");
    }
    let mut keys = Vec::new();
    let mut calls = 0;
    while idx < nodes.len() && keys.len() < count && calls < MAX_SCANS {
        let n = nodes[idx];
        let mut c = ctx.connect_node(n)?;
        loop {
            calls += 1;
            let want = (count - keys.len()).clamp(10, 1000).to_string();
            let r = c.ok(&["SCAN", &cur, "MATCH", pattern, "COUNT", &want])?;
            let Value::Array(parts) = r else {
                bail!("{}: unexpected SCAN reply", n.id)
            };
            let next = parts
                .first()
                .and_then(Value::text)
                .unwrap_or_else(|| "0".into());
            if let Some(Value::Array(found)) = parts.get(1) {
                for k in found {
                    if let Value::Bulk(b) = k {
                        // `hex` names the key exactly; `key` is for display (lossy when
                        // the name is not UTF-8, which `binary` flags).
                        keys.push(json!({
                            "key": text(b),
                            "hex": super::edit::to_hex(b),
                            "binary": super::edit::is_binary(b),
                            "node": n.id,
                            "port": n.port,
                        }));
                    }
                }
            }
            cur = next;
            if cur == "0" || keys.len() >= count || calls >= MAX_SCANS {
                break;
            }
        }
        if cur == "0" {
            idx += 1;
        }
    }
    let done = idx >= nodes.len();
    Ok(json!({
        "keys": keys,
        "cursor": if done { "0".to_string() } else { format!("{idx}:{cur}") },
        "done": done,
    }))
}

/// The connection to the node that owns `key`'s slot.
fn owner(ctx: &Ctx, key: &[u8]) -> Result<(Conn, String)> {
    let view = ctx.best_view()?;
    let slot = rubra_keys::key_slot(key);
    let owners = view.owners();
    let id = owners
        .get(&slot)
        .ok_or_else(|| anyhow!("slot {slot} has no owner"))?;
    let n = view.get(id).ok_or_else(|| anyhow!("unknown node {id}"))?;
    Ok((ctx.connect_node(n)?, n.id.clone()))
}

/// Sends one command whose arguments mix text and bytes (binary key names).
macro_rules! cmd {
    ($c:expr, $($a:expr),+ $(,)?) => {
        $c.ok(&[$(AsRef::<[u8]>::as_ref(&$a)),+])
    };
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        _ => 0,
    }
}

fn list(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::text).collect(),
        _ => Vec::new(),
    }
}

/// Type, TTL, size and a bounded value of `key`; `found: false` when it does not exist.
pub fn get(ctx: &Ctx, key: &[u8]) -> Result<Json> {
    let (mut c, node) = owner(ctx, key)?;
    let ty = cmd!(c, "TYPE", key)?.text().unwrap_or_default();
    if ty == "none" {
        return Ok(
            json!({"key": text(key), "hex": super::edit::to_hex(key), "found": false, "node": node}),
        );
    }
    let pttl = int(cmd!(c, "PTTL", key)?);
    let last = (MAX_ELEMS - 1).to_string();
    let cnt = MAX_ELEMS.to_string();
    let (size, value) = match ty.as_str() {
        "string" => {
            let len = int(cmd!(c, "STRLEN", key)?);
            let v = cmd!(c, "GETRANGE", key, "0", &(MAX_BYTES - 1).to_string())?;
            match v {
                // Binary: shown in hex (the panel edits it in hex too).
                Value::Bulk(b) if super::edit::is_binary(&b) => {
                    (len, json!({"hex": super::edit::to_hex(&b)}))
                }
                v => (len, json!(v.text().unwrap_or_default())),
            }
        }
        "list" => (
            int(cmd!(c, "LLEN", key)?),
            json!(list(cmd!(c, "LRANGE", key, "0", &last)?)),
        ),
        "set" => {
            let v = cmd!(c, "SSCAN", key, "0", "COUNT", &cnt)?;
            let members = match v {
                Value::Array(mut p) if p.len() == 2 => list(p.remove(1)),
                _ => Vec::new(),
            };
            let mut m = members;
            m.truncate(MAX_ELEMS);
            (int(cmd!(c, "SCARD", key)?), json!(m))
        }
        "zset" => {
            let flat = list(cmd!(c, "ZRANGE", key, "0", &last, "WITHSCORES")?);
            let pairs: Vec<Json> = flat
                .chunks(2)
                .map(|p| json!({"member": p[0], "score": p.get(1)}))
                .collect();
            (int(cmd!(c, "ZCARD", key)?), json!(pairs))
        }
        "hash" => {
            let v = cmd!(c, "HSCAN", key, "0", "COUNT", &cnt)?;
            let flat = match v {
                Value::Array(mut p) if p.len() == 2 => list(p.remove(1)),
                _ => Vec::new(),
            };
            let pairs: Vec<Json> = flat
                .chunks(2)
                .take(MAX_ELEMS)
                .map(|p| json!({"field": p[0], "value": p.get(1)}))
                .collect();
            (int(cmd!(c, "HLEN", key)?), json!(pairs))
        }
        "stream" => {
            let v = cmd!(c, "XRANGE", key, "-", "+", "COUNT", &cnt)?;
            let entries: Vec<Json> = match v {
                Value::Array(es) => es
                    .into_iter()
                    .map(|e| match e {
                        Value::Array(mut p) if p.len() == 2 => {
                            let fields = list(p.remove(1));
                            json!({"id": p[0].text(), "fields": fields})
                        }
                        _ => Json::Null,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (int(cmd!(c, "XLEN", key)?), json!(entries))
        }
        _ => (0, Json::Null),
    };
    let shown = match &value {
        Json::Array(a) => a.len() as i64,
        Json::String(s) => s.len() as i64,
        // A binary string, in hex: two digits a byte.
        Json::Object(o) => o
            .get("hex")
            .and_then(Json::as_str)
            .map_or(0, |h| h.len() as i64 / 2),
        _ => 0,
    };
    Ok(json!({
        "key": text(key),
        "hex": super::edit::to_hex(key),
        "binary": super::edit::is_binary(key),
        "found": true,
        "node": node,
        "type": ty,
        "ttl_ms": pttl,
        "size": size,
        "value": value,
        "truncated": shown < size,
    }))
}

/// Delete `key`; returns how many keys were removed (0 or 1).
pub fn delete(ctx: &Ctx, key: &[u8]) -> Result<i64> {
    let (mut c, _) = owner(ctx, key)?;
    Ok(int(cmd!(c, "DEL", key)?))
}

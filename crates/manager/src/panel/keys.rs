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

/// Primaries that serve slots and are not failing, by port: where keys live.
pub fn serving_primaries(view: &View) -> Vec<&NodeInfo> {
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
    let nodes = serving_primaries(&view);
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
    // Hash and set pages follow their SCAN cursor.
    let mut scan_next = "0".to_string();
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
            let (cur, members) = scan_page(v);
            scan_next = cur;
            (int(cmd!(c, "SCARD", key)?), json!(members))
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
            let (cur, flat) = scan_page(v);
            scan_next = cur;
            let pairs: Vec<Json> = flat
                .chunks(2)
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
        // Where GET /api/key/page continues ("0": nothing more).
        "next": match ty.as_str() {
            "set" | "hash" => scan_next,
            _ if shown >= size => "0".to_string(),
            "string" => MAX_BYTES.to_string(),
            "list" | "zset" => MAX_ELEMS.to_string(),
            "stream" => value
                .as_array()
                .and_then(|es| es.last())
                .and_then(|e| e["id"].as_str())
                .unwrap_or("0")
                .to_string(),
            _ => "0".to_string(),
        },
    }))
}

/// A SCAN-family reply: (next cursor, the elements).
fn scan_page(v: Value) -> (String, Vec<String>) {
    match v {
        Value::Array(mut p) if p.len() == 2 => {
            let flat = list(p.remove(1));
            (p[0].text().unwrap_or_else(|| "0".into()), flat)
        }
        _ => ("0".into(), Vec::new()),
    }
}

/// The page of `key`'s value after `cursor` — a byte offset (string), an index (list,
/// zset), a SCAN cursor (hash, set) or the last entry id shown (stream) — in the shapes
/// `get` uses, with the cursor of the next page ("0" when this was the last). Large values
/// are read a page at a time, never whole.
pub fn page(ctx: &Ctx, key: &[u8], cursor: &str) -> Result<Json> {
    let (mut c, _) = owner(ctx, key)?;
    let ty = cmd!(c, "TYPE", key)?.text().unwrap_or_default();
    let num = |s: &str| s.parse::<i64>().map_err(|_| anyhow!("bad cursor"));
    let n = MAX_ELEMS as i64;
    let (items, next): (Json, String) = match ty.as_str() {
        "string" => {
            let from = num(cursor)?.max(0);
            let to = from + MAX_BYTES as i64 - 1;
            let len = int(cmd!(c, "STRLEN", key)?);
            let item = match cmd!(c, "GETRANGE", key, &from.to_string(), &to.to_string())? {
                Value::Bulk(b) if super::edit::is_binary(&b) => {
                    json!({"hex": super::edit::to_hex(&b)})
                }
                v => json!(v.text().unwrap_or_default()),
            };
            let next = if to + 1 < len {
                (to + 1).to_string()
            } else {
                "0".into()
            };
            (json!([item]), next)
        }
        "list" | "zset" => {
            let from = num(cursor)?.max(0);
            let (a, b) = (from.to_string(), (from + n - 1).to_string());
            let (items, total) = if ty == "list" {
                (
                    json!(list(cmd!(c, "LRANGE", key, &a, &b)?)),
                    int(cmd!(c, "LLEN", key)?),
                )
            } else {
                let flat = list(cmd!(c, "ZRANGE", key, &a, &b, "WITHSCORES")?);
                let pairs: Vec<Json> = flat
                    .chunks(2)
                    .map(|p| json!({"member": p[0], "score": p.get(1)}))
                    .collect();
                (json!(pairs), int(cmd!(c, "ZCARD", key)?))
            };
            let next = if from + n < total {
                (from + n).to_string()
            } else {
                "0".into()
            };
            (items, next)
        }
        "set" | "hash" => {
            num(cursor)?;
            let scan = if ty == "set" { "SSCAN" } else { "HSCAN" };
            let (next, flat) =
                scan_page(cmd!(c, scan, key, cursor, "COUNT", &MAX_ELEMS.to_string())?);
            let items = if ty == "set" {
                json!(flat)
            } else {
                let pairs: Vec<Json> = flat
                    .chunks(2)
                    .map(|p| json!({"field": p[0], "value": p.get(1)}))
                    .collect();
                json!(pairs)
            };
            (items, next)
        }
        "stream" => {
            let start = format!("({cursor}");
            let v = cmd!(
                c,
                "XRANGE",
                key,
                &start,
                "+",
                "COUNT",
                &MAX_ELEMS.to_string()
            )?;
            let entries: Vec<(String, Json)> = match v {
                Value::Array(es) => es
                    .into_iter()
                    .filter_map(|e| match e {
                        Value::Array(mut p) if p.len() == 2 => {
                            let fields = list(p.remove(1));
                            let id = p[0].text()?;
                            Some((id.clone(), json!({"id": id, "fields": fields})))
                        }
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let next = match entries.last() {
                Some((id, _)) if entries.len() == MAX_ELEMS => id.clone(),
                _ => "0".into(),
            };
            (
                json!(entries.into_iter().map(|(_, e)| e).collect::<Vec<_>>()),
                next,
            )
        }
        "none" => bail!("no such key"),
        other => bail!("cannot page a {other}"),
    };
    Ok(json!({"type": ty, "items": items, "cursor": next}))
}

/// Delete `key`; returns how many keys were removed (0 or 1).
pub fn delete(ctx: &Ctx, key: &[u8]) -> Result<i64> {
    let (mut c, _) = owner(ctx, key)?;
    Ok(int(cmd!(c, "DEL", key)?))
}

//! Editing keys from the panel: values, elements, TTLs, renames, new keys.
//!
//! Binary-safe: a key or value is given as JSON text, or as `{"hex": "..."}` for bytes
//! that are not UTF-8 (the key browser lists such keys in hex). Each edit is one command
//! (or, for a rename across slots, DUMP/RESTORE/DEL) on the primary owning the key's
//! slot; a node's refusal (WRONGTYPE, an index out of range, an existing target) comes
//! back as the node worded it.

use crate::ctx::Ctx;
use crate::resp::{Conn, Value};
use crate::topology::View;
use anyhow::{anyhow, Result};
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// Bytes given as text or hex.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Bin {
    /// UTF-8 text, used as is.
    Text(String),
    /// Any bytes, hex-encoded.
    Hex {
        /// Two hex digits per byte.
        hex: String,
    },
}

impl Bin {
    /// The bytes, or why the hex is malformed.
    pub fn bytes(&self) -> std::result::Result<Vec<u8>, String> {
        match self {
            Bin::Text(t) => Ok(t.as_bytes().to_vec()),
            Bin::Hex { hex } => from_hex(hex).ok_or_else(|| "malformed hex".to_string()),
        }
    }
}

/// Decodes hex (even length, 0-9a-fA-F).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether bytes are shown in hex: not UTF-8, or holding control characters other than
/// tab and line breaks (text would hide or mangle them).
pub fn is_binary(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(t) => t
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')),
        Err(_) => true,
    }
}

/// Encodes bytes as lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One edit.
#[derive(Debug, Clone, Deserialize)]
pub struct Edit {
    /// The key.
    pub key: Bin,
    /// set, expire, rename, hset, hdel, lset, rpush, lrem, sadd, srem, zadd, zrem, create.
    pub op: String,
    /// A hash field.
    #[serde(default)]
    pub field: Option<Bin>,
    /// A value or member.
    #[serde(default)]
    pub value: Option<Bin>,
    /// A zset score.
    #[serde(default)]
    pub score: Option<f64>,
    /// A list index.
    #[serde(default)]
    pub index: Option<i64>,
    /// expire: milliseconds to live; negative removes the TTL.
    #[serde(default)]
    pub ttl_ms: Option<i64>,
    /// rename: the new name.
    #[serde(default)]
    pub to: Option<Bin>,
    /// create: string, hash, list, set, zset or stream.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// Largest key or value accepted from the panel.
pub const MAX_VALUE: usize = 8 * 1024 * 1024;
/// Largest edit request body: a `MAX_VALUE` value hex-encoded, plus the rest of the JSON.
pub const MAX_BODY: usize = 2 * MAX_VALUE + 64 * 1024;

fn need(b: &Option<Bin>, what: &str) -> std::result::Result<Vec<u8>, String> {
    let v = b
        .as_ref()
        .ok_or_else(|| format!("give \"{what}\""))?
        .bytes()?;
    if v.len() > MAX_VALUE {
        return Err(format!("{what} larger than {MAX_VALUE} bytes"));
    }
    Ok(v)
}

/// The command an edit runs on the key's owner (rename across slots and create of
/// collections are handled by [`apply`]).
pub fn command(e: &Edit, key: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let k = key.to_vec();
    let c = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
    let num = |n: i64| n.to_string().into_bytes();
    Ok(match e.op.as_str() {
        "set" => c(&[b"SET", &k, &need(&e.value, "value")?, b"KEEPTTL"]),
        "expire" => match e.ttl_ms.ok_or("give \"ttl_ms\"")? {
            ms if ms < 0 => c(&[b"PERSIST", &k]),
            ms => c(&[b"PEXPIRE", &k, &num(ms.max(1))]),
        },
        "hset" => c(&[
            b"HSET",
            &k,
            &need(&e.field, "field")?,
            &need(&e.value, "value")?,
        ]),
        "hdel" => c(&[b"HDEL", &k, &need(&e.field, "field")?]),
        "lset" => c(&[
            b"LSET",
            &k,
            &num(e.index.ok_or("give \"index\"")?),
            &need(&e.value, "value")?,
        ]),
        "rpush" => c(&[b"RPUSH", &k, &need(&e.value, "value")?]),
        "lrem" => c(&[b"LREM", &k, b"1", &need(&e.value, "value")?]),
        "sadd" => c(&[b"SADD", &k, &need(&e.value, "value")?]),
        "srem" => c(&[b"SREM", &k, &need(&e.value, "value")?]),
        "zadd" => {
            let s = e.score.ok_or("give \"score\"")?;
            if !s.is_finite() {
                return Err("score must be a finite number".into());
            }
            c(&[
                b"ZADD",
                &k,
                s.to_string().as_bytes(),
                &need(&e.value, "value")?,
            ])
        }
        "zrem" => c(&[b"ZREM", &k, &need(&e.value, "value")?]),
        other => return Err(format!("unknown op '{other}'")),
    })
}

fn owner_conn(ctx: &Ctx, view: &View, key: &[u8]) -> Result<(Conn, String)> {
    let slot = rubra_keys::key_slot(key);
    let id = view
        .owners()
        .get(&slot)
        .cloned()
        .ok_or_else(|| anyhow!("slot {slot} has no owner"))?;
    let n = view.get(&id).ok_or_else(|| anyhow!("unknown node {id}"))?;
    Ok((ctx.connect_node(n)?, id))
}

/// Runs the edit; `Ok(Err(msg))` is the user's mistake or the node's refusal (HTTP 400).
pub fn apply(ctx: &Ctx, e: &Edit) -> Result<std::result::Result<Json, String>> {
    let key = match need(&Some(e.key.clone()), "key") {
        Ok(k) if !k.is_empty() => k,
        Ok(_) => return Ok(Err("the key is empty".into())),
        Err(m) => return Ok(Err(m)),
    };
    let view = ctx.best_view()?;
    let (mut conn, node) = owner_conn(ctx, &view, &key)?;
    let refused = |v: Value| match v {
        Value::Err(m) => Err(m),
        v => Ok(v),
    };
    let reply = match e.op.as_str() {
        "rename" => {
            let to = match need(&e.to, "to") {
                Ok(t) if !t.is_empty() => t,
                Ok(_) => return Ok(Err("the new name is empty".into())),
                Err(m) => return Ok(Err(m)),
            };
            if rubra_keys::key_slot(&to) == rubra_keys::key_slot(&key) {
                match conn.cmd(&[b"RENAMENX".as_slice(), &key, &to])? {
                    Value::Int(0) => return Ok(Err("a key with the new name exists".into())),
                    v => refused(v),
                }
            } else {
                // Another slot, maybe another node: copy with its TTL, then delete.
                let dump = match conn.cmd(&[b"DUMP".as_slice(), &key])? {
                    Value::Bulk(d) => d,
                    Value::Nil => return Ok(Err("no such key".into())),
                    v => return Ok(Err(format!("DUMP failed: {v:?}"))),
                };
                let ttl = match conn.cmd(&[b"PTTL".as_slice(), &key])? {
                    Value::Int(t) if t > 0 => t,
                    _ => 0,
                };
                let (mut target, _) = owner_conn(ctx, &view, &to)?;
                let restore = [
                    b"RESTORE".to_vec(),
                    to.clone(),
                    ttl.to_string().into_bytes(),
                    dump,
                ];
                match target.cmd(&restore)? {
                    Value::Err(m) if m.starts_with("BUSYKEY") => {
                        return Ok(Err("a key with the new name exists".into()))
                    }
                    Value::Err(m) => Err(m),
                    _ => refused(conn.cmd(&[b"DEL".as_slice(), &key])?),
                }
            }
        }
        "create" => {
            if let Value::Int(1) = conn.cmd(&[b"EXISTS".as_slice(), &key])? {
                return Ok(Err("the key exists".into()));
            }
            let kind = e.kind.as_deref().unwrap_or("string");
            let args: Vec<Vec<u8>> = match kind {
                "string" => match need(&e.value, "value") {
                    Ok(v) => vec![b"SET".to_vec(), key.clone(), v, b"NX".to_vec()],
                    Err(m) => return Ok(Err(m)),
                },
                "hash" => match command(
                    &Edit {
                        op: "hset".into(),
                        ..e.clone()
                    },
                    &key,
                ) {
                    Ok(a) => a,
                    Err(m) => return Ok(Err(m)),
                },
                "list" | "set" | "zset" => {
                    let op = match kind {
                        "list" => "rpush",
                        "set" => "sadd",
                        _ => "zadd",
                    };
                    match command(
                        &Edit {
                            op: op.into(),
                            ..e.clone()
                        },
                        &key,
                    ) {
                        Ok(a) => a,
                        Err(m) => return Ok(Err(m)),
                    }
                }
                "stream" => {
                    let (f, v) = match (need(&e.field, "field"), need(&e.value, "value")) {
                        (Ok(f), Ok(v)) => (f, v),
                        (Err(m), _) | (_, Err(m)) => return Ok(Err(m)),
                    };
                    vec![b"XADD".to_vec(), key.clone(), b"*".to_vec(), f, v]
                }
                other => return Ok(Err(format!("unknown type '{other}'"))),
            };
            refused(conn.cmd(&args)?)
        }
        _ => match command(e, &key) {
            Ok(args) => refused(conn.cmd(&args)?),
            Err(m) => return Ok(Err(m)),
        },
    };
    Ok(match reply {
        Ok(v) => Ok(json!({"node": node, "reply": format!("{v:?}")})),
        Err(m) => Err(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(j: Json) -> Edit {
        serde_json::from_value(j).expect("edit")
    }

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        assert_eq!(from_hex("00ff7a"), Some(vec![0, 255, b'z']));
        assert_eq!(to_hex(&[0, 255, b'z']), "00ff7a");
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
        assert!(is_binary(&[0xff]) && is_binary(b"a\x00b") && !is_binary(b"tab\there\n"));
    }

    #[test]
    fn edits_become_commands() {
        let strs = |v: Vec<Vec<u8>>| -> Vec<String> {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        };
        let e = edit(json!({"key": "k", "op": "set", "value": {"hex": "00ff"}}));
        assert_eq!(command(&e, b"k").unwrap()[2], vec![0, 255]);
        let e = edit(json!({"key": "k", "op": "expire", "ttl_ms": 5000}));
        assert_eq!(strs(command(&e, b"k").unwrap()), ["PEXPIRE", "k", "5000"]);
        let e = edit(json!({"key": "k", "op": "expire", "ttl_ms": -1}));
        assert_eq!(strs(command(&e, b"k").unwrap()), ["PERSIST", "k"]);
        let e = edit(json!({"key": "k", "op": "zadd", "value": "m", "score": 1.5}));
        assert_eq!(strs(command(&e, b"k").unwrap()), ["ZADD", "k", "1.5", "m"]);
        let e = edit(json!({"key": "k", "op": "lset", "index": -1, "value": "x"}));
        assert_eq!(strs(command(&e, b"k").unwrap()), ["LSET", "k", "-1", "x"]);
        assert!(command(&edit(json!({"key": "k", "op": "hset", "field": "f"})), b"k").is_err());
        assert!(command(&edit(json!({"key": "k", "op": "bogus"})), b"k").is_err());
        assert!(command(
            &edit(json!({"key": "k", "op": "set", "value": {"hex": "0"}})),
            b"k"
        )
        .is_err());
    }
}

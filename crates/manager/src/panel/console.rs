//! The panel's console: run one command against the cluster as the signed-in admin.
//!
//! Cluster-aware as `redis-cli -c` is: the command goes to the primary owning its first
//! key's slot (key positions from the node's own `COMMAND GETKEYS`, so every command the
//! node knows routes right), MOVED and ASK are followed, and commands without keys go to
//! the node the user picked (default: the first primary). "All primaries" runs it on
//! each serving primary (KEYS, SCAN, INFO, DBSIZE style). Replies are read in RESP3 and
//! returned as typed JSON trees, so maps, sets, doubles and binary strings keep their
//! shape. Dangerous commands need an explicit confirmation; commands that would take the
//! connection over (MONITOR, SUBSCRIBE, MULTI...) are refused with the reason.

use crate::ctx::Ctx;
use crate::topology::{NodeInfo, View};
use anyhow::{anyhow, bail, Context, Result};
use rubra_resp::{encode_request, Frame, FrameReader};
use serde_json::{json, Value as Json};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Longest command line accepted (bytes).
pub const MAX_LINE: usize = 64 * 1024;
/// Most arguments in one command.
pub const MAX_ARGS: usize = 1024;
/// Largest reply read from a node; a bigger one fails instead of filling memory.
const MAX_REPLY_BULK: usize = 16 * 1024 * 1024;
/// Bytes of one string shown in the reply tree (the rest is counted, not sent).
pub const MAX_SHOWN: usize = 64 * 1024;
/// Elements shown per aggregate.
pub const MAX_ELEMS: usize = 1000;
/// MOVED/ASK hops before giving up (a cluster in flux, or a loop).
const MAX_HOPS: usize = 5;
/// A console command that has not answered after this long is abandoned.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the console was asked to do.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    /// The command line, split as redis-cli splits it (quotes, escapes).
    pub line: String,
    /// A node id or client port to send keyless commands to; default the first primary.
    #[serde(default)]
    pub node: Option<String>,
    /// Run on every serving primary and return one reply per node.
    #[serde(default)]
    pub all: bool,
    /// The user confirmed a dangerous command.
    #[serde(default)]
    pub confirm: bool,
}

/// Why a command is not run as asked.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The input is malformed or too large (HTTP 400).
    Bad(String),
    /// The command takes the connection over; not for a request/reply console (400).
    Unsupported(String),
    /// Dangerous: send again with `confirm` (HTTP 409).
    NeedsConfirm(String),
}

/// Splits a command line into arguments as redis-cli does: whitespace separates,
/// "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' take \'.
/// Unbalanced quotes and a closing quote not followed by a space are errors.
pub fn split_line(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let mut arg = Vec::new();
        match b[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(&c) = b.get(i) else {
                        return Err("unbalanced quotes in command line".into());
                    };
                    i += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let Some(&e) = b.get(i) else {
                                return Err("unbalanced quotes in command line".into());
                            };
                            i += 1;
                            let hex = |d: u8| (d as char).to_digit(16);
                            match e {
                                b'n' => arg.push(b'\n'),
                                b'r' => arg.push(b'\r'),
                                b't' => arg.push(b'\t'),
                                b'b' => arg.push(8),
                                b'a' => arg.push(7),
                                b'x' => match (
                                    b.get(i).and_then(|&d| hex(d)),
                                    b.get(i + 1).and_then(|&d| hex(d)),
                                ) {
                                    (Some(h), Some(l)) => {
                                        arg.push((h * 16 + l) as u8);
                                        i += 2;
                                    }
                                    _ => arg.push(b'x'),
                                },
                                other => arg.push(other),
                            }
                        }
                        other => arg.push(other),
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let Some(&c) = b.get(i) else {
                        return Err("unbalanced quotes in command line".into());
                    };
                    i += 1;
                    match c {
                        b'\'' => break,
                        b'\\' if b.get(i) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 1;
                        }
                        other => arg.push(other),
                    }
                }
            }
            _ => {
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    arg.push(b[i]);
                    i += 1;
                }
                out.push(arg);
                continue;
            }
        }
        if b.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
            return Err("closing quote must be followed by a space".into());
        }
        out.push(arg);
    }
}

/// The command's name as the events log and the checks see it: `SET`, `CONFIG SET`.
pub fn command_name(args: &[Vec<u8>]) -> String {
    let up = |a: &[u8]| String::from_utf8_lossy(a).to_ascii_uppercase();
    let Some(first) = args.first() else {
        return String::new();
    };
    let name = up(first);
    let containers = [
        "CONFIG", "CLUSTER", "CLIENT", "SCRIPT", "FUNCTION", "DEBUG", "OBJECT", "MEMORY", "ACL",
        "XINFO", "XGROUP", "COMMAND", "SLOWLOG", "LATENCY", "MODULE", "PUBSUB",
    ];
    match args.get(1) {
        Some(sub) if containers.contains(&name.as_str()) => {
            let sub: String = up(sub).chars().take(32).collect();
            format!("{name} {sub}")
        }
        _ => name.chars().take(64).collect(),
    }
}

/// Whether and why a command must not run as asked.
pub fn check(args: &[Vec<u8>], confirmed: bool) -> Result<(), Refusal> {
    if args.is_empty() {
        return Err(Refusal::Bad("empty command".into()));
    }
    if args.len() > MAX_ARGS {
        return Err(Refusal::Bad(format!("more than {MAX_ARGS} arguments")));
    }
    let name = command_name(args);
    let first = name.split(' ').next().unwrap_or("");
    let takes_over = [
        "MONITOR",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "SYNC",
        "PSYNC",
        "MULTI",
        "EXEC",
        "DISCARD",
        "WATCH",
        "UNWATCH",
        "AUTH",
        "HELLO",
        "SELECT",
        "RESET",
        "QUIT",
        "READONLY",
        "READWRITE",
        "ASKING",
        "REPLCONF",
    ];
    if takes_over.contains(&first) {
        return Err(Refusal::Unsupported(format!(
            "{first} needs a connection of its own; use redis-cli for it"
        )));
    }
    let dangerous = [
        "FLUSHALL",
        "FLUSHDB",
        "SHUTDOWN",
        "DEBUG",
        "CONFIG SET",
        "CONFIG RESETSTAT",
        "CONFIG REWRITE",
        "CLUSTER RESET",
        "CLUSTER FAILOVER",
        "CLUSTER FORGET",
        "CLUSTER FLUSHSLOTS",
        "CLUSTER DELSLOTS",
        "CLUSTER DELSLOTSRANGE",
        "CLUSTER SETSLOT",
        "CLUSTER REPLICATE",
        "REPLICAOF",
        "SLAVEOF",
        "FAILOVER",
        "SCRIPT FLUSH",
        "FUNCTION FLUSH",
        "FUNCTION DELETE",
        "ACL DELUSER",
        "ACL SETUSER",
        "CLIENT KILL",
        "CLIENT PAUSE",
        "KEYS",
    ];
    let risky = dangerous
        .iter()
        .any(|d| name == *d || (!d.contains(' ') && first == *d));
    if risky && !confirmed {
        return Err(Refusal::NeedsConfirm(format!(
            "{name} changes or stops the cluster (or blocks a node); confirm to run it"
        )));
    }
    Ok(())
}

/// One RESP3 connection for the console (fresh per request: no state leaks between
/// commands, and a node that hangs costs one connection, not the supervisor's pool).
struct Link {
    addr: String,
    stream: crate::tls::Stream,
    reader: FrameReader,
}

impl Link {
    /// Connects as the supervisor does: over TLS for a `--tls` cluster (`ctx.tls`).
    fn open(ctx: &Ctx, addr: &str) -> Result<Link> {
        let password = ctx.password.as_deref();
        let tcp = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        tcp.set_read_timeout(Some(READ_TIMEOUT))?;
        let stream = crate::tls::Stream::new(tcp, crate::tls::host_of(addr), ctx.tls.as_ref())?;
        let mut l = Link {
            addr: addr.to_string(),
            stream,
            reader: FrameReader::new(MAX_REPLY_BULK),
        };
        let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(p) = password {
            hello.extend([b"AUTH".as_slice(), b"default", p.as_bytes()]);
        }
        if let Frame::Error(e) = l.call(&hello)? {
            // A node without RESP3 (or a refused AUTH) still gets a plain AUTH.
            if let Some(p) = password {
                if let Frame::Error(e2) = l.call(&[b"AUTH".as_slice(), p.as_bytes()])? {
                    bail!("{addr}: {}", String::from_utf8_lossy(&e2));
                }
            } else {
                bail!("{addr}: {}", String::from_utf8_lossy(&e));
            }
        }
        Ok(l)
    }

    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Frame> {
        let mut buf = Vec::new();
        encode_request(&mut buf, args);
        self.stream.write_all(&buf)?;
        loop {
            let f = self
                .reader
                .read_frame(&mut self.stream)
                .with_context(|| format!("read from {}", self.addr))?;
            // Out-of-band pushes (tracking, pub/sub) are not this command's reply.
            if !matches!(f, Frame::Push(_)) {
                return Ok(f);
            }
        }
    }
}

/// Renders a reply as a typed JSON tree for the panel: every node has a `type`; strings
/// carry `text` when UTF-8 and `hex` otherwise; long strings and aggregates are cut at
/// `MAX_SHOWN` / `MAX_ELEMS` with the full size given.
pub fn render(f: &Frame) -> Json {
    fn bytes(kind: &str, b: &[u8]) -> Json {
        let shown = &b[..b.len().min(MAX_SHOWN)];
        let mut v = match std::str::from_utf8(shown) {
            Ok(t) => json!({"type": kind, "text": t}),
            Err(_) => {
                let hex: String = shown.iter().map(|x| format!("{x:02x}")).collect();
                json!({"type": kind, "hex": hex})
            }
        };
        if shown.len() < b.len() {
            v["size"] = json!(b.len());
        }
        v
    }
    fn items(kind: &str, xs: &[Frame]) -> Json {
        let shown: Vec<Json> = xs.iter().take(MAX_ELEMS).map(render).collect();
        json!({"type": kind, "items": shown, "size": xs.len()})
    }
    match f {
        Frame::Simple(s) => bytes("status", s),
        Frame::Error(e) => bytes("error", e),
        Frame::Int(n) => json!({"type": "integer", "value": n}),
        Frame::Bulk(b) => bytes("string", b),
        Frame::Verbatim(b) => bytes("verbatim", b),
        Frame::Null => json!({"type": "null"}),
        Frame::Array(xs) => items("array", xs),
        Frame::Set(xs) => items("set", xs),
        Frame::Push(xs) => items("push", xs),
        Frame::Map(pairs) => {
            let shown: Vec<Json> = pairs
                .iter()
                .take(MAX_ELEMS)
                .map(|(k, v)| json!([render(k), render(v)]))
                .collect();
            json!({"type": "map", "entries": shown, "size": pairs.len()})
        }
        Frame::Double(d) => json!({"type": "double", "text": rubra_resp::format_double(*d)}),
        Frame::Bool(b) => json!({"type": "boolean", "value": b}),
        Frame::BigNumber(n) => bytes("bignumber", n),
    }
}

/// A redirect in an error reply: (ASK?, "ip:port").
fn redirect(f: &Frame) -> Option<(bool, String)> {
    let Frame::Error(e) = f else { return None };
    let text = String::from_utf8_lossy(e);
    let mut parts = text.split_whitespace();
    let ask = match parts.next()? {
        "MOVED" => false,
        "ASK" => true,
        _ => return None,
    };
    let _slot = parts.next()?;
    Some((ask, parts.next()?.to_string()))
}

/// Runs one command on `first` (an address rubra reaches), following MOVED/ASK.
fn run_at(ctx: &Ctx, view: &View, first: String, args: &[Vec<u8>]) -> Result<Json> {
    let t0 = Instant::now();
    let mut addr = first;
    let mut hops = Vec::new();
    let mut asking = false;
    for _ in 0..=MAX_HOPS {
        let mut link = Link::open(ctx, &addr)?;
        if asking {
            link.call(&[b"ASKING".as_slice()])?;
        }
        let reply = link.call(args)?;
        match redirect(&reply) {
            Some((ask, to)) => {
                hops.push(
                    String::from_utf8_lossy(match &reply {
                        Frame::Error(e) => e,
                        _ => &[],
                    })
                    .into_owned(),
                );
                asking = ask;
                // Redirects name announced addresses; reach the node as rubra does.
                addr = view
                    .nodes
                    .iter()
                    .find(|n| n.announced_addr() == to)
                    .map_or(to, |n| ctx.addr_of(n));
            }
            None => {
                let node = view.nodes.iter().find(|n| ctx.addr_of(n) == addr);
                return Ok(json!({
                    "node": node.map(|n| n.id.clone()),
                    "addr": node.map_or(addr.clone(), |n| n.announced_addr()),
                    "role": node.map(|n| if n.is_primary() { "primary" } else { "replica" }),
                    "redirects": hops,
                    "ms": t0.elapsed().as_secs_f64() * 1000.0,
                    "reply": render(&reply),
                }));
            }
        }
    }
    bail!("more than {MAX_HOPS} redirects: {}", hops.join(", "))
}

/// The node a command goes to first: its first key's slot owner, else the chosen node.
fn first_node<'a>(
    ctx: &Ctx,
    view: &'a View,
    args: &[Vec<u8>],
    chosen: Option<&str>,
) -> Result<&'a NodeInfo> {
    let primaries = super::keys::serving_primaries(view);
    let pick = match chosen.filter(|c| !c.is_empty()) {
        Some(c) => view
            .nodes
            .iter()
            .find(|n| n.id == c || n.port.to_string() == c)
            .ok_or_else(|| anyhow!("no node {c}"))?,
        None => *primaries
            .first()
            .ok_or_else(|| anyhow!("no serving primary"))?,
    };
    // Key positions from the node itself; keyless commands answer with an error.
    let mut probe: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
    probe.extend(args.iter().map(Vec::as_slice));
    let keys = Link::open(ctx, &ctx.addr_of(pick))?.call(&probe)?;
    let first_key = match keys {
        Frame::Array(ks) | Frame::Set(ks) => ks.into_iter().find_map(|k| match k {
            Frame::Bulk(b) => Some(b),
            _ => None,
        }),
        _ => None,
    };
    let Some(key) = first_key else {
        return Ok(pick);
    };
    let slot = rubra_keys::key_slot(&key);
    let owners = view.owners();
    Ok(owners
        .get(&slot)
        .and_then(|id| view.get(id))
        .unwrap_or(pick))
}

/// The request's arguments, or why it is not run (answered as 400/409 before any node
/// is contacted).
pub fn prepare(req: &Request) -> std::result::Result<Vec<Vec<u8>>, Refusal> {
    if req.line.len() > MAX_LINE {
        return Err(Refusal::Bad(format!(
            "command line longer than {MAX_LINE} bytes"
        )));
    }
    let args = split_line(&req.line).map_err(Refusal::Bad)?;
    check(&args, req.confirm)?;
    Ok(args)
}

/// Runs prepared `args` as `req` asks: on the owner of their key, or on every primary.
pub fn run(ctx: &Ctx, req: &Request, args: &[Vec<u8>]) -> Result<Json> {
    let view = ctx.best_view()?;
    let results: Vec<Json> = if req.all {
        super::keys::serving_primaries(&view)
            .into_iter()
            .map(|n| {
                run_at(ctx, &view, ctx.addr_of(n), args)
                    .unwrap_or_else(|e| json!({"node": n.id, "error": format!("{e:#}")}))
            })
            .collect()
    } else {
        let n = first_node(ctx, &view, args, req.node.as_deref())?;
        vec![run_at(ctx, &view, ctx.addr_of(n), args)?]
    };
    Ok(json!({
        "command": command_name(args),
        "results": results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn lines_split_as_redis_cli_splits_them() {
        assert_eq!(split_line("  set k  v ").unwrap(), s(&["set", "k", "v"]));
        assert_eq!(
            split_line(r#"set "a b" 'c d'"#).unwrap(),
            s(&["set", "a b", "c d"])
        );
        assert_eq!(
            split_line(r#"set k "\x00\xff\n\"""#).unwrap(),
            vec![b"set".to_vec(), b"k".to_vec(), vec![0, 255, b'\n', b'"']]
        );
        assert_eq!(
            split_line(r"set k 'it\'s'").unwrap(),
            s(&["set", "k", "it's"])
        );
        assert_eq!(split_line(r#"set "" x"#).unwrap(), s(&["set", "", "x"]));
        assert!(split_line(r#"set "abc"#).is_err());
        assert!(split_line(r#"set "a"b"#).is_err());
        assert!(split_line("").unwrap().is_empty());
    }

    #[test]
    fn dangerous_commands_need_confirmation() {
        assert_eq!(check(&s(&["get", "k"]), false), Ok(()));
        assert_eq!(check(&s(&["config", "get", "x"]), false), Ok(()));
        assert!(matches!(
            check(&s(&["flushall"]), false),
            Err(Refusal::NeedsConfirm(_))
        ));
        assert!(matches!(
            check(&s(&["config", "set", "maxmemory", "1"]), false),
            Err(Refusal::NeedsConfirm(_))
        ));
        assert!(matches!(
            check(&s(&["cluster", "reset"]), false),
            Err(Refusal::NeedsConfirm(_))
        ));
        assert_eq!(check(&s(&["flushall"]), true), Ok(()));
        assert!(matches!(
            check(&s(&["subscribe", "c"]), true),
            Err(Refusal::Unsupported(_))
        ));
        assert!(matches!(check(&[], false), Err(Refusal::Bad(_))));
        assert_eq!(command_name(&s(&["config", "set", "a", "b"])), "CONFIG SET");
        assert_eq!(command_name(&s(&["set", "k", "secret"])), "SET");
    }

    #[test]
    fn replies_render_as_typed_trees() {
        let f = Frame::Map(vec![(
            Frame::Simple(b"k".to_vec().into()),
            Frame::Array(vec![
                Frame::Int(3),
                Frame::Bulk(vec![0xff, 0x00].into()),
                Frame::Null,
            ]),
        )]);
        let j = render(&f);
        assert_eq!(j["type"], "map");
        assert_eq!(j["entries"][0][0]["text"], "k");
        let arr = &j["entries"][0][1];
        assert_eq!(arr["items"][0]["value"], 3);
        assert_eq!(arr["items"][1]["hex"], "ff00");
        assert_eq!(arr["items"][2]["type"], "null");
        let big = Frame::Bulk(vec![b'x'; MAX_SHOWN + 5].into());
        let j = render(&big);
        assert_eq!(j["size"], MAX_SHOWN + 5);
        assert_eq!(j["text"].as_str().map(str::len), Some(MAX_SHOWN));
    }
}

//! The comparison of `fuzz_propagation_differential`: propagated streams up to the clock,
//! and a server's dataset read key by key.

use super::{show_cmd, Cmd, Conn, DBS};
use crate::fuzz_kit::frame;
use rubra_resp::Frame;

fn same_arg(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let ms = |x: &[u8]| -> Option<i64> {
        let n: i64 = std::str::from_utf8(x).ok()?.parse().ok()?;
        (n >= 1_500_000_000_000).then_some(n)
    };
    if let (Some(x), Some(y)) = (ms(a), ms(b)) {
        return (x - y).abs() <= 3000;
    }
    // Stream IDs made from the clock (XADD *): only the sequence part must match.
    let id = |x: &[u8]| -> Option<(i64, Vec<u8>)> {
        let s = std::str::from_utf8(x).ok()?;
        let (t, seq) = s.split_once('-')?;
        Some((ms(t.as_bytes())?, seq.as_bytes().to_vec()))
    };
    match (id(a), id(b)) {
        (Some((x, s)), Some((y, t))) => (x - y).abs() <= 3000 && s == t,
        _ => false,
    }
}

/// Whether two propagated commands are the same (RESTORE's payload is not compared).
fn same_cmd(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let restore = a[0].eq_ignore_ascii_case(b"RESTORE");
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .enumerate()
            .all(|(i, (x, y))| (restore && i == 3) || same_arg(x, y))
}

/// Whether two step streams are the same, in order.
pub(super) fn same_stream(a: &[Cmd], b: &[Cmd]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cmd(x, y))
}

/// A stream for a report.
pub(super) fn show_stream(s: &[Cmd]) -> String {
    if s.is_empty() {
        return "(nothing)".to_string();
    }
    s.iter()
        .map(|c| show_cmd(c))
        .collect::<Vec<_>>()
        .join("\n        ")
}

/// A reply as text for the dataset listing.
fn text(raw: &[u8]) -> String {
    format!("{:?}", frame(raw))
}

/// Reads a reply's array of bulk strings (sorted when `sort`).
fn bulks(raw: &[u8], sort: bool) -> Vec<String> {
    let mut out: Vec<String> = match frame(raw) {
        Some(Frame::Array(items)) => items
            .into_iter()
            .map(|f| match f {
                Frame::Bulk(b) => b.escape_ascii().to_string(),
                other => format!("{other:?}"),
            })
            .collect(),
        other => vec![format!("{other:?}")],
    };
    if sort {
        out.sort();
    }
    out
}

/// Fields `names` of a flat RESP2 name/value array, in that order.
fn fields(f: &Frame, names: &[&str]) -> String {
    let Frame::Array(items) = f else {
        return format!("{f:?}");
    };
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        if let [Frame::Bulk(n), v] = pair {
            if names.iter().any(|w| n.as_ref() == w.as_bytes()) {
                out.push(format!("{}={v:?}", n.escape_ascii()));
            }
        }
    }
    out.join(" ")
}

/// The readable state of one stream key: entries, metadata, groups, consumers, pending
/// entries (without idle times).
fn stream_state(c: &mut Conn, key: &str, out: &mut Vec<String>) {
    out.push(text(&c.call(&format!("XRANGE {key} - +"))));
    if let Some(f) = frame(&c.call(&format!("XINFO STREAM {key}"))) {
        out.push(fields(
            &f,
            &[
                "length",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "groups",
            ],
        ));
    }
    let Some(Frame::Array(groups)) = frame(&c.call(&format!("XINFO GROUPS {key}"))) else {
        return;
    };
    for g in groups {
        out.push(fields(
            &g,
            &[
                "name",
                "consumers",
                "pending",
                "last-delivered-id",
                "entries-read",
                "lag",
            ],
        ));
        let Frame::Array(items) = &g else { continue };
        let Some(Frame::Bulk(name)) = items.get(1) else {
            continue;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some(Frame::Array(cs)) = frame(&c.call(&format!("XINFO CONSUMERS {key} {name}"))) {
            let mut cs: Vec<String> = cs.iter().map(|x| fields(x, &["name", "pending"])).collect();
            cs.sort();
            out.push(format!("consumers: {}", cs.join(" | ")));
        }
        if let Some(Frame::Array(ps)) = frame(&c.call(&format!("XPENDING {key} {name} - + 1000"))) {
            for e in ps {
                if let Frame::Array(e) = e {
                    // id, consumer, idle (clock), delivery count.
                    out.push(format!("{:?} {:?} {:?}", e.first(), e.get(1), e.get(3)));
                }
            }
        }
    }
}

/// A dataset line as a Redis 7.0 stream reproduces it (see the header):
/// without a group's entries-read and lag, and without the consumers with no pending
/// entry and the group's consumer count (an XREADGROUP of the history, ID 0, creates its
/// consumer and Redis 7.0 propagates nothing).
pub(super) fn as_redis_stream_carries(line: &str) -> String {
    // A stream's state is one entry of several lines.
    if line.contains('\n') {
        return line
            .split('\n')
            .map(as_redis_stream_carries)
            .collect::<Vec<_>>()
            .join("\n");
    }
    let indent = line.len() - line.trim_start().len();
    if let Some(cs) = line.trim_start().strip_prefix("consumers: ") {
        let kept: Vec<&str> = cs
            .split(" | ")
            .filter(|c| !c.ends_with("pending=Int(0)"))
            .collect();
        return format!("{}consumers: {}", &line[..indent], kept.join(" | "));
    }
    line.split(' ')
        .filter(|f| {
            !f.starts_with("entries-read=")
                && !f.starts_with("lag=")
                && !f.starts_with("consumers=")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything readable in databases 0..DBS, key by key (sorted).
pub(super) fn dataset(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..DBS {
        c.call(&format!("SELECT {db}"));
        for key in bulks(&c.call("KEYS *"), true) {
            let k = format!("\"{key}\"");
            let ty = match frame(&c.call(&format!("TYPE {k}"))) {
                Some(Frame::Simple(t)) => String::from_utf8_lossy(&t).into_owned(),
                other => format!("{other:?}"),
            };
            out.push(format!(
                "db{db} {key} {ty} pexpiretime={}",
                text(&c.call(&format!("PEXPIRETIME {k}")))
            ));
            let content = match ty.as_str() {
                "string" => text(&c.call(&format!("GET {k}"))),
                "list" => text(&c.call(&format!("LRANGE {k} 0 -1"))),
                "set" => format!("{:?}", bulks(&c.call(&format!("SMEMBERS {k}")), true)),
                "zset" => text(&c.call(&format!("ZRANGE {k} 0 -1 WITHSCORES"))),
                "hash" => {
                    let flat = bulks(&c.call(&format!("HGETALL {k}")), false);
                    let mut pairs: Vec<String> = flat.chunks(2).map(|p| p.join("=")).collect();
                    pairs.sort();
                    format!("{pairs:?}")
                }
                "stream" => {
                    let mut s = Vec::new();
                    stream_state(c, &k, &mut s);
                    s.join("\n      ")
                }
                other => format!("? {other}"),
            };
            out.push(format!("    {content}"));
        }
    }
    c.call("SELECT 0");
    out
}

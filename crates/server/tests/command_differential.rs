//! COMMAND against redis-server 7.0: for every command both servers have, COMMAND INFO and
//! COMMAND DOCS are the same (RESP2 and RESP3), COMMAND LIST (also filtered) lists the same
//! names, and GETKEYS / GETKEYSANDFLAGS / errors are byte-identical.
//!
//! Masked, and why: Redis keeps subcommands (and the whole table) in hash tables seeded at
//! random per process, so the order of subcommand entries inside an INFO entry, of the
//! `subcommands` map inside DOCS, and of COMMAND LIST is compared after sorting by name.
//! Commands rubra does not have are reported (COMMAND COUNT of each) and left out.

mod common;
mod reference;
use common::*;
use reference::{assert_same_as_redis, RawConn, Reference};
use rubra_resp::{parse_frame, Frame};
use std::collections::BTreeSet;

fn frame(bytes: &[u8]) -> Frame {
    parse_frame(bytes, usize::MAX)
        .expect("valid frame")
        .expect("complete frame")
        .0
}

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Sorts what Redis orders by hash: subcommand arrays (by name) and maps (by key), at
/// every depth.
fn normalise(f: Frame) -> Frame {
    match f {
        Frame::Array(v) => {
            let mut v: Vec<Frame> = v.into_iter().map(normalise).collect();
            // RESP2 flattens the DOCS `subcommands` map into name, docs, ...: sort pairs.
            for i in 0..v.len().saturating_sub(1) {
                if text(&v[i]) == "subcommands" {
                    if let Frame::Array(flat) = &mut v[i + 1] {
                        let mut pairs: Vec<Vec<Frame>> =
                            flat.chunks(2).map(|c| c.to_vec()).collect();
                        pairs.sort_by_key(|p| text(&p[0]));
                        *flat = pairs.into_iter().flatten().collect();
                    }
                }
            }
            // An array of COMMAND INFO entries (each an array starting with a name).
            if v.iter()
                .all(|e| matches!(e, Frame::Array(x) if x.len() == 10))
            {
                v.sort_by_key(|e| match e {
                    Frame::Array(x) => text(&x[0]),
                    _ => String::new(),
                });
            }
            Frame::Array(v)
        }
        Frame::Map(v) => {
            let mut v: Vec<(Frame, Frame)> =
                v.into_iter().map(|(k, x)| (k, normalise(x))).collect();
            v.sort_by_key(|(k, _)| text(k));
            Frame::Map(v)
        }
        Frame::Set(v) => Frame::Set(v.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn names(conn: &mut RawConn, cmd: &str) -> BTreeSet<String> {
    match frame(&conn.call(cmd)) {
        Frame::Array(v) => v.iter().map(text).collect(),
        other => panic!("{cmd}: {other:?}"),
    }
}

fn count(conn: &mut RawConn) -> i64 {
    match frame(&conn.call("COMMAND COUNT")) {
        Frame::Int(n) => n,
        other => panic!("COMMAND COUNT: {other:?}"),
    }
}

#[test]
fn command_info_docs_and_list_match_redis_for_every_shared_command() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    let (ca, cb) = (count(&mut a), count(&mut b));
    eprintln!("COMMAND COUNT: rubra {ca}, redis {cb}");
    let ours: BTreeSet<String> = names(&mut a, "COMMAND LIST")
        .into_iter()
        .filter(|n| !n.contains('|'))
        .collect();
    let theirs: BTreeSet<String> = names(&mut b, "COMMAND LIST")
        .into_iter()
        .filter(|n| !n.contains('|'))
        .collect();
    assert_eq!(ca as usize, ours.len());
    let missing: Vec<_> = theirs.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&theirs).collect();
    eprintln!("only in redis: {missing:?}\nonly in rubra: {extra:?}");
    let shared: Vec<&String> = ours.intersection(&theirs).collect();
    assert!(
        shared.len() > 150,
        "too few shared commands: {}",
        shared.len()
    );
    let mut diffs = Vec::new();
    for proto in [2, 3] {
        a.call(&format!("HELLO {proto}"));
        b.call(&format!("HELLO {proto}"));
        for name in &shared {
            for sub in ["INFO", "DOCS"] {
                let line = format!("COMMAND {sub} {name}");
                let (x, y) = (
                    normalise(frame(&a.call(&line))),
                    normalise(frame(&b.call(&line))),
                );
                if x != y {
                    diffs.push(format!(
                        "RESP{proto} {line}\n  rubra: {x:?}\n  redis: {y:?}"
                    ));
                }
            }
        }
    }
    // COMMAND (no arguments) and COMMAND DOCS (no arguments): the same entries for the
    // commands rubra has.
    for line in ["COMMAND", "COMMAND INFO", "COMMAND DOCS"] {
        let entries = |f: Frame| -> Vec<(String, Frame)> {
            match normalise(f) {
                Frame::Array(v) if line != "COMMAND DOCS" => v
                    .into_iter()
                    .map(|e| match &e {
                        Frame::Array(x) => (text(&x[0]), e.clone()),
                        _ => (String::new(), e),
                    })
                    .collect(),
                Frame::Map(v) => v.into_iter().map(|(k, x)| (text(&k), x)).collect(),
                Frame::Array(v) => v.chunks(2).map(|c| (text(&c[0]), c[1].clone())).collect(),
                other => panic!("{line}: {other:?}"),
            }
        };
        let x = entries(frame(&a.call(line)));
        let y: Vec<(String, Frame)> = entries(frame(&b.call(line)))
            .into_iter()
            .filter(|(n, _)| ours.contains(n))
            .collect();
        let mut x = x;
        let mut y = y;
        x.sort_by(|p, q| p.0.cmp(&q.0));
        y.sort_by(|p, q| p.0.cmp(&q.0));
        if x != y {
            diffs.push(format!("{line}: the entries differ"));
        }
    }
    // COMMAND LIST, whole and filtered: the same names for the commands rubra has.
    for line in [
        "COMMAND LIST",
        "COMMAND LIST FILTERBY ACLCAT hyperloglog",
        "COMMAND LIST FILTERBY ACLCAT dangerous",
        "COMMAND LIST FILTERBY PATTERN config*",
        "COMMAND LIST FILTERBY PATTERN *|*",
        "COMMAND LIST FILTERBY MODULE nosuch",
        "COMMAND LIST FILTERBY ACLCAT nosuch",
    ] {
        let x = names(&mut a, line);
        let y: BTreeSet<String> = names(&mut b, line)
            .into_iter()
            .filter(|n| ours.contains(n.split('|').next().unwrap_or("")))
            .collect();
        if x != y {
            diffs.push(format!(
                "{line}\n  rubra only: {:?}\n  redis only: {:?}",
                x.difference(&y).collect::<Vec<_>>(),
                y.difference(&x).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

const SCRIPT: &[&str] = &[
    "COMMAND INFO get nosuch set",
    "COMMAND INFO config|get",
    "COMMAND INFO GET",
    "COMMAND DOCS nosuch",
    "COMMAND DOCS get nosuch",
    "COMMAND DOCS config|set",
    "COMMAND COUNT extra",
    "COMMAND LIST FILTERBY",
    "COMMAND LIST FILTERBY ACLCAT",
    "COMMAND LIST FILTERBY BOGUS x",
    "COMMAND LIST foo",
    "COMMAND HELP",
    "COMMAND NOSUCH",
    "COMMAND GETKEYS",
    "COMMAND GETKEYS nosuch a",
    "COMMAND GETKEYS get",
    "COMMAND GETKEYS ping",
    "COMMAND GETKEYS get k",
    "COMMAND GETKEYS mset a 1 b 2",
    "COMMAND GETKEYS mset a 1 b",
    "COMMAND GETKEYS lmove a b left right",
    "COMMAND GETKEYS eval script 2 k1 k2 a1",
    "COMMAND GETKEYS eval script 3 k1 k2",
    "COMMAND GETKEYS eval script -1",
    "COMMAND GETKEYS zunionstore d 2 a b WEIGHTS 1 2",
    "COMMAND GETKEYS xread COUNT 2 STREAMS s1 s2 0 0",
    "COMMAND GETKEYS sort k BY w* GET h* STORE dst",
    "COMMAND GETKEYS migrate h 1 \"\" 0 5 KEYS a b",
    "COMMAND GETKEYS object encoding k",
    "COMMAND GETKEYS georadius g 0 0 1 km STORE d",
    "COMMAND GETKEYSANDFLAGS set a b",
    "COMMAND GETKEYSANDFLAGS lmove a b left right",
    "COMMAND GETKEYSANDFLAGS getdel k",
    "COMMAND GETKEYSANDFLAGS rename a b",
    "COMMAND GETKEYSANDFLAGS copy a b",
    "COMMAND GETKEYSANDFLAGS blmpop 0 2 a b LEFT",
    "COMMAND GETKEYSANDFLAGS sintercard 2 a b",
];

#[test]
fn command_subcommands_and_errors_match_redis() {
    let mut script: Vec<&str> = SCRIPT.to_vec();
    script.push("!HELLO 3");
    script.extend_from_slice(SCRIPT);
    assert_same_as_redis(&script);
}

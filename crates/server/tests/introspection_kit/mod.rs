//! The masked differential runner of the introspection tests: a script runs on a fresh
//! rubra-server and a fresh redis-server, in RESP2 and again in RESP3, and the replies
//! are compared byte for byte after the masks a line names (see
//! introspection_differential.rs for the script syntax and the masks).
#![allow(dead_code)]

use crate::common::TestServer;
use crate::reference::{script_step, RawConn, Reference};
use bytes::Bytes;
use rubra_resp::{parse_frame, Frame};

/// Re-encodes a frame (after masking) so both sides compare as RESP bytes.
pub(crate) fn encode(f: &Frame, out: &mut Vec<u8>) {
    match f {
        Frame::Simple(s) => {
            out.push(b'+');
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Error(s) => {
            out.push(b'-');
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Frame::Bulk(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Verbatim(b) => {
            out.extend_from_slice(format!("={}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            let mark = match f {
                Frame::Array(_) => '*',
                Frame::Set(_) => '~',
                _ => '>',
            };
            out.extend_from_slice(format!("{mark}{}\r\n", v.len()).as_bytes());
            for x in v {
                encode(x, out);
            }
        }
        Frame::Map(pairs) => {
            out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
            for (k, v) in pairs {
                encode(k, out);
                encode(v, out);
            }
        }
        Frame::Double(d) => out.extend_from_slice(format!(",{d}\r\n").as_bytes()),
        Frame::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::BigNumber(b) => {
            out.push(b'(');
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The text of a bulk or verbatim reply (the `txt:` of a verbatim string stripped).
pub(crate) fn text_of(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Frame::Verbatim(b) => Some(String::from_utf8_lossy(b.get(4..).unwrap_or(b)).into_owned()),
        _ => None,
    }
}

/// Replaces the text of a bulk/verbatim reply, keeping its kind.
pub(crate) fn with_text(f: &Frame, text: String) -> Frame {
    match f {
        Frame::Verbatim(_) => Frame::Verbatim(Bytes::from(format!("txt:{text}"))),
        _ => Frame::Bulk(Bytes::from(text)),
    }
}

/// Applies one named mask to a reply (see the module comment).
pub(crate) fn mask(kind: &str, f: Frame) -> Frame {
    match kind {
        "slowlog" => match f {
            Frame::Array(entries) => Frame::Array(
                entries
                    .into_iter()
                    .map(|e| match e {
                        Frame::Array(mut v) if v.len() == 6 => {
                            v[1] = Frame::Int(0);
                            v[2] = Frame::Int(0);
                            if !matches!(&v[4], Frame::Bulk(b) if &b[..] == b"?:0") {
                                v[4] = Frame::Bulk(Bytes::from_static(b"ADDR"));
                            }
                            Frame::Array(v)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        },
        "info_names" => {
            let Some(text) = text_of(&f) else { return f };
            let mut names: Vec<String> = text
                .split("\r\n")
                .filter(|l| !l.starts_with("rubra_version:"))
                .map(|l| {
                    if l.starts_with('#') {
                        l.to_string()
                    } else {
                        l.split(':').next().unwrap_or("").to_string()
                    }
                })
                .collect();
            // Per-command lines come in Redis's hash-table order: compare them sorted.
            let per_command =
                |l: &String| l.starts_with("cmdstat_") || l.starts_with("latency_percentiles_");
            let mut i = 0;
            while i < names.len() {
                let mut j = i;
                while j < names.len() && per_command(&names[j]) {
                    j += 1;
                }
                names[i..j].sort();
                i = j.max(i + 1);
            }
            with_text(&f, names.join("\n"))
        }
        "cmdstats" => {
            let Some(text) = text_of(&f) else { return f };
            let mut lines: Vec<String> = text
                .split("\r\n")
                .map(|l| {
                    l.split(',')
                        .map(|kv| {
                            let key = kv.split('=').next().unwrap_or("");
                            if key.ends_with("usec") || key == "usec_per_call" {
                                format!("{key}=*")
                            } else {
                                kv.to_string()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            lines.sort();
            with_text(&f, lines.join("\n"))
        }
        "client" => {
            // Bytes, not text: a user name that is not UTF-8 must not read as U+FFFD.
            let (verbatim, body) = match &f {
                Frame::Bulk(b) => (false, b.clone()),
                Frame::Verbatim(b) => (true, b.slice(4.min(b.len())..)),
                _ => return f,
            };
            let keys: [&[u8]; 13] = [
                b"id",
                b"addr",
                b"laddr",
                b"fd",
                b"age",
                b"idle",
                b"qbuf-free",
                b"rbs",
                b"rbp",
                b"obl",
                b"oll",
                b"omem",
                b"tot-mem",
            ];
            let lines: Vec<Vec<u8>> = body
                .split(|&b| b == b'\n')
                .map(|l| {
                    let fields: Vec<Vec<u8>> = l
                        .split(|&b| b == b' ')
                        .map(|kv| match kv.iter().position(|&b| b == b'=') {
                            Some(i) if keys.contains(&&kv[..i]) => [&kv[..=i], b"*"].concat(),
                            _ => kv.to_vec(),
                        })
                        .collect();
                    fields.join(&b' ')
                })
                .collect();
            let masked = lines.join(&b'\n');
            if verbatim {
                Frame::Verbatim(Bytes::from([&b"txt:"[..], &masked].concat()))
            } else {
                Frame::Bulk(Bytes::from(masked))
            }
        }
        "recent" => match f {
            Frame::Int(1) => Frame::Int(0),
            other => other,
        },
        "latency_latest" => match f {
            Frame::Array(rows) => Frame::Array(
                rows.into_iter()
                    .map(|r| match r {
                        Frame::Array(mut v) if v.len() == 4 => {
                            for x in &mut v[1..] {
                                *x = Frame::Int(0);
                            }
                            Frame::Array(v)
                        }
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        },
        "histogram" => {
            let strip = |v: Frame| match v {
                Frame::Map(kv) => Frame::Map(
                    kv.into_iter()
                        .map(|(k, v)| {
                            let bucket =
                                matches!(&k, Frame::Bulk(b) if &b[..] == b"histogram_usec");
                            (k, if bucket { Frame::Null } else { v })
                        })
                        .collect(),
                ),
                Frame::Array(kv) => Frame::Array(
                    kv.chunks(2)
                        .flat_map(|p| {
                            let bucket =
                                matches!(&p[0], Frame::Bulk(b) if &b[..] == b"histogram_usec");
                            let v = if bucket { Frame::Null } else { p[1].clone() };
                            [p[0].clone(), v]
                        })
                        .collect(),
                ),
                other => other,
            };
            match f {
                Frame::Map(kv) => Frame::Map(kv.into_iter().map(|(k, v)| (k, strip(v))).collect()),
                Frame::Array(v) => Frame::Array(
                    v.chunks(2)
                        .flat_map(|p| [p[0].clone(), strip(p[1].clone())])
                        .collect(),
                ),
                other => other,
            }
        }
        pick if pick.starts_with("pick:") => {
            let Some(text) = text_of(&f) else { return f };
            let wanted: Vec<&str> = pick["pick:".len()..].split(',').collect();
            let kept: Vec<&str> = text
                .split("\r\n")
                .filter(|l| wanted.contains(&l.split(':').next().unwrap_or("")))
                .collect();
            with_text(&f, kept.join("\n"))
        }
        other => panic!("unknown mask {other}"),
    }
}

/// Parses one complete reply.
pub(crate) fn frame_of(raw: &[u8]) -> Frame {
    parse_frame(raw, usize::MAX)
        .expect("bad frame")
        .expect("incomplete frame")
        .0
}

/// Runs `script` on both servers over one connection each; returns the differences.
pub(crate) fn run_script(rubra_port: u16, redis_port: u16, script: &[&str]) -> Vec<String> {
    let mut a = RawConn::connect(rubra_port);
    let mut b = RawConn::connect(redis_port);
    let mut diffs = Vec::new();
    for line in script {
        let Some(line) = script_step(line) else {
            continue;
        };
        if let Some(cmd) = line.strip_prefix("noreply:") {
            a.send(cmd);
            b.send(cmd);
            continue;
        }
        let (compare, rest) = match line.strip_prefix('!') {
            Some(r) => (false, r),
            None => (true, line),
        };
        let (masker, cmd) = match rest.strip_prefix("mask:") {
            Some(r) => {
                let (m, c) = r.split_once(' ').expect("mask:<kind> <command>");
                (Some(m), c)
            }
            None => (None, rest),
        };
        let mut ra = a.call(cmd);
        let mut rb = b.call(cmd);
        if let Some(m) = masker {
            for r in [&mut ra, &mut rb] {
                let mut out = Vec::new();
                encode(&mask(m, frame_of(r)), &mut out);
                *r = out;
            }
        }
        if compare && ra != rb {
            // Escaped, not decoded: a byte that is not UTF-8 and U+FFFD must look different.
            diffs.push(format!(
                "{cmd}\n    rubra: \"{}\"\n    redis: \"{}\"",
                ra.escape_ascii(),
                rb.escape_ascii()
            ));
        }
    }
    diffs
}

/// Runs `script` in RESP2 and in RESP3, each time on fresh servers started with `args`.
pub(crate) fn assert_same(args: &[&str], script: &[&str]) {
    let mut diffs = Vec::new();
    for resp3 in [false, true] {
        let rubra = TestServer::start(args);
        let redis = Reference::start_with(args);
        let mut lines: Vec<&str> = Vec::new();
        if resp3 {
            lines.push("!HELLO 3");
        }
        lines.extend_from_slice(script);
        for d in run_script(rubra.port, redis.port, &lines) {
            diffs.push(format!("[{}] {d}", if resp3 { "RESP3" } else { "RESP2" }));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

//! The steps of `fuzz_scripting_differential` (EVAL / EVALSHA / FCALL, SCRIPT and
//! FUNCTION commands, damaged DUMP payloads), the pair runner and the sequence builder;
//! the Lua bodies come from `lua`.

mod lua;
use super::*;
pub(crate) use lua::*;

/// `bytes` as one argument for the command-line parser: double-quoted, `"` and `\`
/// escaped, control and non-ASCII bytes as `\xHH`.
pub(crate) fn lit(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b' '..=b'~' => s.push(b as char),
            _ => s += &format!("\\x{b:02x}"),
        }
    }
    s.push('"');
    s
}

/// numkeys and the keys and arguments after a script or function name.
pub(crate) fn key_args(r: &mut Rng) -> String {
    let nkeys = r.below(3);
    let nargs = r.below(3);
    let numkeys = if r.one_in(6) {
        ps(r, &["-1", "5", "x", "1.5", "", "9223372036854775808", " 1"])
    } else {
        nkeys.to_string()
    };
    let mut out = lit(numkeys.as_bytes());
    for _ in 0..nkeys {
        out += &format!(" {}", p(r, KEYS));
    }
    for _ in 0..nargs {
        out += &format!(
            " {}",
            lit(p(
                r,
                &["1", "x", "-1", "3.5", "OK", "", "a\0b", "inf", "10", "nosuch"]
            )
            .as_bytes())
        );
    }
    out
}

/// How a step's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Cmp {
    Exact,
    /// FUNCTION LIST: libraries and their functions as sorted multisets.
    FunctionList,
    /// FUNCTION DUMP: exact with at most one library, else the lengths.
    Dump,
    /// Not a command: each server's FUNCTION DUMP is restored on the other with the
    /// line's policy words (optionally the payload cut or changed first, per `Corrupt`).
    CrossRestore(Corrupt),
}

/// How a FUNCTION RESTORE payload is damaged before it is sent.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Corrupt {
    None,
    /// The last byte (of the checksum) changed.
    Checksum,
    /// The payload cut in half.
    Truncated,
    /// An empty payload.
    Empty,
}

pub(crate) type Step = (String, Cmp);

/// An EVAL / EVAL_RO / EVALSHA / SCRIPT step.
pub(crate) fn script_step(r: &mut Rng) -> Step {
    let line = match r.below(12) {
        0 => {
            let (s, _) = LOADABLE[r.below(LOADABLE.len())];
            format!("SCRIPT LOAD {}", lit(s.as_bytes()))
        }
        1 => {
            let (_, sha) = LOADABLE[r.below(LOADABLE.len())];
            let sha = if r.one_in(4) {
                sha.to_ascii_uppercase()
            } else {
                sha.to_string()
            };
            let cmd = p(r, &["EVALSHA", "EVALSHA_RO"]);
            format!("{cmd} {sha} {}", key_args(r))
        }
        2 => format!(
            "SCRIPT EXISTS {} {}",
            LOADABLE[r.below(LOADABLE.len())].1,
            p(r, &["x", "ffffffffffffffffffffffffffffffffffffffff", ""])
        ),
        3 => format!(
            "SCRIPT FLUSH {}",
            p(r, &["", "ASYNC", "SYNC", "async", "BAD", "SYNC ASYNC"])
        ),
        5 => {
            let src = format!("{}{}", shebang(r), body(r, EVAL_CTX));
            format!("SCRIPT LOAD {}", lit(src.as_bytes()))
        }
        6 => ps(
            r,
            &[
                "SCRIPT EXISTS",
                "SCRIPT LOAD",
                "SCRIPT NOSUCH",
                "SCRIPT LOAD a b",
                "SCRIPT FLUSH SYNC x",
                "EVAL",
                "EVAL \"return 1\"",
                "EVAL_RO \"return 1\"",
                "FCALL f1",
                "FCALL",
                "SCRIPT HELP",
            ],
        ),
        4 => format!(
            "{} {}",
            p(r, &["EVALSHA", "EVALSHA_RO"]),
            p(
                r,
                &[
                    "abc 0",
                    "ffffffffffffffffffffffffffffffffffffffff 0",
                    "",
                    "x"
                ]
            )
        ),
        _ => {
            let cmd = p(r, &["EVAL", "EVAL", "EVAL", "EVAL_RO"]);
            let src = format!("{}{}", shebang(r), body(r, EVAL_CTX));
            format!("{cmd} {} {}", lit(src.as_bytes()), key_args(r))
        }
    };
    (line, Cmp::Exact)
}

/// Library names: valid, invalid, empty.
pub(crate) const LIB_NAMES: &[&str] = &["lib1", "lib2", "lib1", "bad-name", "", "lib_3", "x y"];
/// Function names: valid, duplicates, invalid.
pub(crate) const FN_NAMES: &[&str] =
    &["f1", "f2", "f3", "f1", "bad-fn", "", "f_4", "1x", "f\u{e9}"];

/// A register_function call: positional or table form, with flags and description
/// variants, sometimes wrong.
pub(crate) fn register(r: &mut Rng) -> String {
    let name = p(r, FN_NAMES);
    let cb = format!(
        "function(keys, args) {} end",
        body(r, FN_CTX).replace('\n', " ")
    );
    match r.below(10) {
        0..=4 => format!("redis.register_function('{name}', {cb})"),
        5 => format!("redis.register_function('{name}')"),
        6 => format!("redis.register_function('{name}', 'notafunction')"),
        _ => {
            let flags = p(
                r,
                &[
                    "{'no-writes'}",
                    "{'allow-oom', 'allow-stale'}",
                    "{'no-cluster', 'allow-cross-slot-keys'}",
                    "{'bad-flag'}",
                    "{}",
                    "'no-writes'",
                    "{1}",
                ],
            );
            let mut fields = vec![format!("function_name='{name}'"), format!("callback={cb}")];
            if !r.one_in(3) {
                fields.push(format!("flags={flags}"));
            }
            match r.below(6) {
                0 => fields.push("description='a function'".into()),
                1 => fields.push("description=1".into()),
                2 => fields.push("unknown=1".into()),
                3 => {
                    fields.remove(0);
                }
                _ => {}
            }
            format!("redis.register_function{{{}}}", fields.join(", "))
        }
    }
}

/// A FUNCTION LOAD of random library code: a header (sometimes wrong), then register
/// calls and now and then other top-level code.
pub(crate) fn function_load(r: &mut Rng) -> String {
    let header = match r.below(12) {
        0 => "#!lua\n".to_string(),
        1 => format!("#!js name={}\n", p(r, LIB_NAMES)),
        2 => format!("#!lua name={} foo=bar\n", p(r, LIB_NAMES)),
        3 => String::new(),
        4 => format!("#!LUA name={}\n", p(r, LIB_NAMES)),
        _ => format!("#!lua name={}\n", p(r, LIB_NAMES)),
    };
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..r.below(3) + usize::from(!r.one_in(8)) {
        lines.push(register(r));
    }
    if r.one_in(6) {
        lines.insert(
            r.below(lines.len() + 1),
            ps(
                r,
                &[
                    "redis.call('set', 'x', 1)",
                    "redis.log(redis.LOG_NOTICE, 'loading')",
                    "local v = redis.REDIS_VERSION",
                    "error('top level')",
                    "g = 1",
                    "redis.setresp(3)",
                    "return 1",
                    "local x = cjson.encode({1})",
                    "math.random()",
                    "retur 1",
                ],
            ),
        );
    }
    let code = format!("{header}{}", lines.join("\n"));
    let replace = if r.one_in(3) { "REPLACE " } else { "" };
    format!("FUNCTION LOAD {replace}{}", lit(code.as_bytes()))
}

/// A FUNCTION / FCALL step.
pub(crate) fn function_step(r: &mut Rng) -> Step {
    match r.below(16) {
        0..=4 => (function_load(r), Cmp::Exact),
        5..=8 => {
            let cmd = p(r, &["FCALL", "FCALL", "FCALL_RO"]);
            let f = p(r, &["f1", "f2", "f3", "f_4", "nofn", "F1"]);
            (format!("{cmd} {} {}", q(f), key_args(r)), Cmp::Exact)
        }
        9 => {
            let mut line = "FUNCTION LIST".to_string();
            if r.one_in(2) {
                line += &format!(
                    " LIBRARYNAME {}",
                    p(r, &["lib*", "lib1", "*", "x", "[", ""])
                );
            }
            if r.one_in(2) {
                line += " WITHCODE";
            }
            if r.one_in(8) {
                line += " BADARG";
            }
            (line, Cmp::FunctionList)
        }
        10 => (
            format!(
                "FUNCTION DELETE {}",
                p(r, &["lib1", "lib2", "lib_3", "nolib", "", "lib1 lib2"])
            ),
            Cmp::Exact,
        ),
        11 => (
            format!("FUNCTION FLUSH {}", opt(r, &["ASYNC", "SYNC", "BAD"])),
            Cmp::Exact,
        ),
        12 => (
            ps(
                r,
                &[
                    "FUNCTION STATS",
                    "FUNCTION STATS x",
                    "FUNCTION HELP",
                    "FUNCTION NOSUCH",
                    "FUNCTION",
                    "FUNCTION LOAD",
                    "FUNCTION LOAD REPLACE",
                    "FUNCTION LOAD \"\"",
                    "FUNCTION LOAD \"#!lua\"",
                    "FUNCTION LOAD \"#!lua name=lib1\"",
                    "FUNCTION LOAD \"#!lua  name=lib1 name=lib2\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#!lua name=lib1\\r\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#!lua name=\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD \"#! lua name=lib1\\nredis.register_function('f1', function() return 1 end)\"",
                    "FUNCTION LOAD REPLACE REPLACE x",
                    "FUNCTION LOAD x y",
                    "FUNCTION DELETE",
                    "FUNCTION RESTORE",
                    "FUNCTION RESTORE x",
                    "FUNCTION KILL",
                    "FUNCTION LIST LIBRARYNAME",
                    "FUNCTION LIST WITHCODE WITHCODE",
                    "FUNCTION LIST LIBRARYNAME a LIBRARYNAME b",
                    "FUNCTION DUMP x",
                    "FCALL f1 x",
                    "FCALL f1 3 a",
                    "FCALL_RO f1 -1",
                ],
            ),
            Cmp::Exact,
        ),
        13 => ("FUNCTION DUMP".into(), Cmp::Dump),
        _ => {
            let policy = p(
                r,
                &["", "APPEND", "REPLACE", "FLUSH", "flush", "BAD", "APPEND x"],
            );
            let corrupt = match r.below(8) {
                0 => Corrupt::Checksum,
                1 => Corrupt::Truncated,
                2 => Corrupt::Empty,
                _ => Corrupt::None,
            };
            (policy.to_string(), Cmp::CrossRestore(corrupt))
        }
    }
}

/// Keys of every type the scripts' commands meet (WRONGTYPE and conversions).
pub(crate) const SETUP: &[&str] = &[
    "SET s hello",
    "HSET h f v g 1.5",
    "RPUSH l a 1 2.5",
    "ZADD z 1.5 m 2 n",
    "SET n 10",
];

impl Pair {
    /// Back to the prepared keyspace, no scripts and no libraries, in database 0,
    /// speaking RESP3 if `resp3`.
    pub(crate) fn reset(&mut self, resp3: bool) {
        let hello = if resp3 { "HELLO 3" } else { "HELLO 2" };
        for c in [&mut self.a, &mut self.b] {
            c.call("FLUSHALL");
            c.call("SCRIPT FLUSH");
            c.call("FUNCTION FLUSH");
            c.call("SELECT 0");
            for line in SETUP {
                c.call(line);
            }
            c.call(hello);
        }
    }

    /// One step on both servers; the two replies shown if they differ.
    pub(crate) fn step(&mut self, line: &str, cmp: Cmp) -> Option<String> {
        // FUZZ_TRACE=1 prints each step first: a server that closes the connection (a
        // crash) fails the run without a reply to compare, and this shows the step.
        if std::env::var("FUZZ_TRACE").is_ok() {
            eprintln!("STEP {line} {cmp:?}");
        }
        let show = |what: &str, ra: &[u8], rb: &[u8]| {
            // Long replies are cut: the first 2000 bytes show where they part.
            let cut = |r: &[u8]| r[..r.len().min(2000)].escape_ascii().to_string();
            format!(
                "{what}\n    rubra: \"{}\"\n    redis: \"{}\"",
                cut(ra),
                cut(rb)
            )
        };
        match cmp {
            Cmp::Exact => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                (ra != rb && !(collision(&ra) && collision(&rb))).then(|| show(line, &ra, &rb))
            }
            Cmp::FunctionList => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                (ra != rb && canonical_list(&ra) != canonical_list(&rb))
                    .then(|| show(line, &ra, &rb))
            }
            Cmp::Dump => {
                let (ra, rb) = (self.a.call(line), self.b.call(line));
                let libs = match frame(&self.b.call("FUNCTION LIST")) {
                    Some(Frame::Array(v)) => v.len(),
                    _ => 0,
                };
                let same = ra == rb || (libs > 1 && ra.len() == rb.len());
                (!same).then(|| show(line, &ra, &rb))
            }
            Cmp::CrossRestore(corrupt) => {
                let da = dump_payload(&self.a.call("FUNCTION DUMP"));
                let db = dump_payload(&self.b.call("FUNCTION DUMP"));
                let restore = |payload: &[u8]| {
                    format!(
                        "FUNCTION RESTORE {} {line}",
                        lit(&damaged(payload, corrupt))
                    )
                };
                // Each server restores the other's payload.
                let (la, lb) = (restore(&db), restore(&da));
                let (ra, rb) = (self.a.call(&la), self.b.call(&lb));
                (ra != rb && !(collision(&ra) && collision(&rb)))
                    .then(|| show(&format!("{la}    (and the other way)"), &ra, &rb))
            }
        }
    }

    /// Runs `seq` from the prepared keyspace; the first difference, if any.
    pub(crate) fn first_difference(&mut self, resp3: bool, seq: &[Step]) -> Option<String> {
        self.reset(resp3);
        seq.iter().find_map(|(line, cmp)| self.step(line, *cmp))
    }
}

/// Whether `raw` is FUNCTION LOAD / RESTORE's "Function <name> already exists": when
/// several of a library's functions collide, Redis names the first in its hash-table
/// order (per-process seed), rubra the first registered.
pub(crate) fn collision(raw: &[u8]) -> bool {
    raw.starts_with(b"-ERR Function ") && raw.ends_with(b" already exists\r\n")
}

/// The payload of a FUNCTION DUMP reply (empty if it is not a bulk string).
pub(crate) fn dump_payload(raw: &[u8]) -> Vec<u8> {
    match frame(raw) {
        Some(Frame::Bulk(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// `payload` as `corrupt` says.
pub(crate) fn damaged(payload: &[u8], corrupt: Corrupt) -> Vec<u8> {
    let mut p = payload.to_vec();
    match corrupt {
        Corrupt::None => {}
        Corrupt::Checksum => {
            if let Some(last) = p.last_mut() {
                *last ^= 0x5a;
            }
        }
        Corrupt::Truncated => p.truncate(p.len() / 2),
        Corrupt::Empty => p.clear(),
    }
    p
}

/// A FUNCTION LIST reply with its libraries, and each library's functions, sorted: Redis
/// keeps both in hash tables. Anything else (an error) as it is.
pub(crate) fn canonical_list(raw: &[u8]) -> String {
    let Some(Frame::Array(libs)) = frame(raw) else {
        return raw.escape_ascii().to_string();
    };
    let sorted_functions = |f: Frame| match f {
        Frame::Array(mut fns) => {
            fns.sort_by_key(|x| format!("{x:?}"));
            Frame::Array(fns)
        }
        other => other,
    };
    let mut out: Vec<String> = libs
        .into_iter()
        .map(|lib| {
            let lib = match lib {
                Frame::Array(items) => {
                    let mut items = items;
                    for i in (1..items.len()).step_by(2) {
                        if matches!(&items[i - 1], Frame::Bulk(k) if &k[..] == b"functions") {
                            let f = std::mem::replace(&mut items[i], Frame::Null);
                            items[i] = sorted_functions(f);
                        }
                    }
                    Frame::Array(items)
                }
                Frame::Map(pairs) => Frame::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| {
                            if matches!(&k, Frame::Bulk(b) if &b[..] == b"functions") {
                                (k, sorted_functions(v))
                            } else {
                                (k, v)
                            }
                        })
                        .collect(),
                ),
                other => other,
            };
            format!("{lib:?}")
        })
        .collect();
    out.sort();
    out.join("\n")
}

/// A random sequence of script and function steps, then the state they leave: FUNCTION
/// LIST WITHCODE, FUNCTION STATS, SCRIPT EXISTS of the loadable scripts, the keys.
pub(crate) fn sequence(r: &mut Rng) -> Vec<Step> {
    let mut seq: Vec<Step> = (0..SEQ_LEN)
        .map(|_| {
            if r.one_in(2) {
                script_step(r)
            } else {
                function_step(r)
            }
        })
        .collect();
    let shas: Vec<&str> = LOADABLE.iter().map(|(_, sha)| *sha).collect();
    seq.push(("FUNCTION LIST WITHCODE".into(), Cmp::FunctionList));
    seq.push(("FUNCTION STATS".into(), Cmp::Exact));
    seq.push((format!("SCRIPT EXISTS {}", shas.join(" ")), Cmp::Exact));
    for k in KEYS {
        seq.push((format!("TYPE {k}"), Cmp::Exact));
    }
    seq.push(("DBSIZE".into(), Cmp::Exact));
    seq
}

/// A step as a failure report shows it.
pub(crate) fn show((line, cmp): &Step) -> String {
    match cmp {
        Cmp::Exact => line.clone(),
        Cmp::CrossRestore(c) => format!("FUNCTION RESTORE <other's dump> {line}    ({c:?})"),
        other => format!("{line}    ({other:?})"),
    }
}

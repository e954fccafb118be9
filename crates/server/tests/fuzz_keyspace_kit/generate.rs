//! The command generator of `fuzz_keyspace_differential`: keys of every type, expiry
//! options and times, patterns, SCAN forms, wrong arities and unknown commands.

use super::*;

/// Commands per sequence (before the closing keyspace listing).
pub(crate) const SEQ_LEN: usize = 40;

/// Keys most commands use (so they collide and change types).
pub(crate) const MAIN_KEYS: &[&[u8]] = &[b"a", b"b", b"c"];
/// Keys with glob characters, a backslash, a two-byte UTF-8 character and the empty key:
/// what KEYS and SCAN MATCH patterns are tried against.
pub(crate) const ODD_KEYS: &[&[u8]] = &[b"a*", b"[b]", b"x\\y", "\u{e9}".as_bytes(), b"", b"ab?"];

pub(crate) const VALUES: &[&[u8]] = &[
    b"",
    b"0",
    b"1",
    b"-1",
    b"10",
    b"abc",
    b"ohmytext",
    b"mynewtext",
    b"hello world",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775806",
    b"-9223372036854775807",
    b"3.5",
    b" 1",
    b"007",
    b"a\x00b",
];

/// Database numbers: valid, out of range and not numbers.
pub(crate) const DBS: &[&str] = &[
    "0", "1", "2", "3", "0", "1", "15", "16", "-1", "x", "", " 1", "01", "1.0", "+1",
];
/// Databases the closing check lists.
pub(crate) const CHECK_DBS: &[&str] = &["0", "1", "2", "3", "15"];

/// Relative times: none small and positive (those race the clock).
pub(crate) const TIMES: &[&str] = &[
    "0",
    "-1",
    "1000000",
    "100000000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775",
    "9223372036854",
    "9999999999999",
    "x",
    "",
    "1.5",
    "-100",
];
/// Absolute times, the small ones in the past.
pub(crate) const AT_TIMES: &[&str] = &[
    "0",
    "1",
    "100",
    "4102444800",
    "4102444801",
    "4102444800000",
    "4102444800499",
    "4102444800500",
    "9223372036854775",
    "9223372036854775300",
    "9223372036854775807",
    "-1",
    "x",
    "1.5",
];
/// Absolute times for SET EXAT (seconds) and PXAT (milliseconds): none in the past (see
/// the header).
pub(crate) const SET_EXAT_TIMES: &[&str] = &[
    "0",
    "-1",
    "4102444800",
    "4102444800000",
    "9223372036854775807",
    "9223372036854775",
    "x",
];
pub(crate) const SET_PXAT_TIMES: &[&str] = &[
    "0",
    "-1",
    "4102444800000",
    "4102444800001",
    "4102444800500",
    "9223372036854775000",
    "9223372036854775807",
    "x",
];

pub(crate) const INDEXES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "-2",
    "5",
    "-100",
    "100",
    "9223372036854775807",
    "-9223372036854775808",
    "x",
    "",
];

/// How a step's replies are compared.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Cmp {
    Exact,
    /// Array replies as multisets.
    Unordered,
    /// Positive integers within this distance are equal.
    Ttl(i64),
    /// Non-negative integers are equal.
    Idle,
    /// Iterated from the line's cursor to completion; the union compared. The number is
    /// the index of the cursor argument.
    Scan(usize),
    /// RANDOMKEY: exact when the database holds at most one key.
    RandomKey,
    /// CONFIG GET: the parameter names as a set (values differ: ports, directories).
    ConfigNames,
}

pub(crate) type Step = (String, Cmp);

/// `bytes` as one argument for the command-line parser: double-quoted, every byte but
/// letters, digits and a few safe signs as `\xHH`.
pub(crate) fn lit(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"*?[]^-_.:+!@#$%&/,;<=>|~{}()'".contains(&b) {
            s.push(b as char);
        } else {
            s += &format!("\\x{b:02x}");
        }
    }
    s.push('"');
    s
}

pub(crate) fn pl(r: &mut Rng, xs: &[&'static [u8]]) -> String {
    lit(xs[r.below(xs.len())])
}

pub(crate) fn ps(r: &mut Rng, xs: &[&'static str]) -> String {
    lit(p(r, xs).as_bytes())
}

/// A key: one of the three main keys most of the time, else an odd one.
pub(crate) fn key(r: &mut Rng) -> String {
    if r.one_in(5) {
        pl(r, ODD_KEYS)
    } else {
        pl(r, MAIN_KEYS)
    }
}

pub(crate) fn keys(r: &mut Rng, most: usize) -> String {
    let n = 1 + r.below(most);
    (0..n).map(|_| key(r)).collect::<Vec<_>>().join(" ")
}

pub(crate) fn val(r: &mut Rng) -> String {
    pl(r, VALUES)
}

pub(crate) fn idx(r: &mut Rng) -> String {
    ps(r, INDEXES)
}

/// One of `xs`, cased by `cased`.
pub(crate) fn pc(r: &mut Rng, xs: &[&'static str]) -> String {
    let x = p(r, xs);
    cased(r, x)
}

/// A random glob pattern over the keys' characters and the glob syntax (escapes, classes,
/// negation, ranges, unbalanced brackets, `?` and runs of `*`).
pub(crate) fn pattern(r: &mut Rng) -> String {
    const PIECES: &[&[u8]] = &[
        b"a",
        b"b",
        b"c",
        b"x",
        b"y",
        b"*",
        b"**",
        b"?",
        b"\\",
        b"\\*",
        b"\\?",
        b"\\[",
        b"\\y",
        b"[",
        b"]",
        b"[a-c]",
        b"[c-a]",
        b"[^x]",
        b"[^a]",
        b"[]",
        b"[]]",
        b"[^]",
        b"[a-]",
        b"[-a]",
        b"[\\]]",
        b"[b\\",
        b"[ab",
        b"^",
        b"-",
        b"\xc3",
        b"\xa9",
        b"\xc3\xa9",
    ];
    let n = r.below(6);
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(PIECES[r.below(PIECES.len())]);
    }
    if out.is_empty() && r.one_in(2) {
        out.push(b'*');
    }
    lit(&out)
}

/// An expire option list for EXPIRE and its siblings: mostly valid, sometimes clashing.
pub(crate) fn expire_opts(r: &mut Rng) -> String {
    let n = match r.below(6) {
        0..=2 => 0,
        3 | 4 => 1,
        _ => 2,
    };
    (0..n)
        .map(|_| pc(r, &["NX", "XX", "GT", "LT", "NX", "XX", "GT", "LT", "X"]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// SET's options: a few of NX / XX / GET / KEEPTTL / EX / PX / EXAT / PXAT, clashing
/// combinations included.
pub(crate) fn set_opts(r: &mut Rng) -> String {
    let n = r.below(4);
    let mut out = Vec::new();
    for _ in 0..n {
        let o = match r.below(10) {
            0 => "NX".to_string(),
            1 => "XX".to_string(),
            2 | 3 => "GET".to_string(),
            4 => "KEEPTTL".to_string(),
            5 => format!("EX {}", ps(r, TIMES)),
            6 => format!("PX {}", ps(r, TIMES)),
            7 => format!("EXAT {}", ps(r, SET_EXAT_TIMES)),
            8 => format!("PXAT {}", ps(r, SET_PXAT_TIMES)),
            _ => p(r, &["EX", "PX", "X", "GETX", "PERSIST"]).to_string(),
        };
        out.push(cased(r, &o));
    }
    out.join(" ")
}

/// GETEX's options: one of EX / PX / EXAT / PXAT / PERSIST, sometimes two, or junk.
pub(crate) fn getex_opts(r: &mut Rng) -> String {
    let n = match r.below(6) {
        0 | 1 => 0,
        2..=4 => 1,
        _ => 2,
    };
    let mut out = Vec::new();
    for _ in 0..n {
        let o = match r.below(7) {
            0 => format!("EX {}", ps(r, TIMES)),
            1 => format!("PX {}", ps(r, TIMES)),
            2 => format!("EXAT {}", ps(r, AT_TIMES)),
            3 => format!("PXAT {}", ps(r, AT_TIMES)),
            4 => "PERSIST".to_string(),
            _ => p(r, &["EX", "KEEPTTL", "NX", "GET", "X"]).to_string(),
        };
        out.push(cased(r, &o));
    }
    out.join(" ")
}

/// Commands that make keys of each type (so TYPE, SCAN TYPE, RENAME across types, OBJECT
/// and the scans have something to look at). Collections stay small: listpacks and intsets.
pub(crate) fn make_typed(r: &mut Rng, k: &str) -> Step {
    let line = match r.below(7) {
        0 => format!("RPUSH {k} {}", val(r)),
        1 => format!("HSET {k} {} {}", ps(r, &["f", "g", "h1", "", "a*"]), val(r)),
        2 => format!(
            "SADD {k} {}",
            (0..1 + r.below(3))
                .map(|_| ps(r, &["1", "2", "3", "-5", "100"]))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        3 => format!("SADD {k} {}", ps(r, &["m", "n", "1", "a*", "x y"])),
        4 => format!(
            "ZADD {k} {} {}",
            ps(r, &["0", "1", "-1", "1.5", "inf", "2"]),
            ps(r, &["m", "n", "o", "a*", "1"])
        ),
        5 => format!("XADD {k} {} f v", ps(r, &["1-1", "2-0", "5-5"])),
        _ => format!("SET {k} {}", val(r)),
    };
    (line, Cmp::Exact)
}

/// Keys only `big_collection` writes and only iterated scans read (no other command names
/// them, so they never become the key of an exactly compared HSCAN / ZSCAN).
pub(crate) const BIG_KEYS: &[&[u8]] = &[b"bh", b"bz"];

/// A hash or sorted set past its listpack limits (a 65-byte value, or 130 members with
/// scores that print differently from a long double), for HSCAN / ZSCAN over hash tables.
pub(crate) fn big_collection(r: &mut Rng) -> Step {
    let k = pl(r, BIG_KEYS);
    let line = match r.below(3) {
        0 => format!("HSET {k} big {}", lit(&[b'v'; 65])),
        1 => {
            let m: Vec<String> = (0..130)
                .map(|i| format!("{} m{i}", ["0.1", "1e308", "-0", "3", "2.5e-5"][i % 5]))
                .collect();
            format!("ZADD {k} {}", m.join(" "))
        }
        _ => format!(
            "ZADD {k} {} {}",
            ps(
                r,
                &["0.1", "1e308", "-0", "1.5", "-inf", "123456789012345678"]
            ),
            lit(&[b'z'; 65])
        ),
    };
    (line, Cmp::Exact)
}

/// One random step.
pub(crate) fn command(r: &mut Rng) -> Step {
    use Cmp::*;
    let k = key(r);
    let (line, cmp) = match r.below(100) {
        // databases
        0..=3 => (format!("{} {}", cased(r, "SELECT"), ps(r, DBS)), Exact),
        4..=6 => (format!("{} {k} {}", cased(r, "MOVE"), ps(r, DBS)), Exact),
        7 | 8 => (
            format!("{} {} {}", cased(r, "SWAPDB"), ps(r, DBS), ps(r, DBS)),
            Exact,
        ),
        9..=11 => {
            let mut s = format!("{} {k} {}", cased(r, "COPY"), key(r));
            for _ in 0..r.below(3) {
                s += &match r.below(4) {
                    0 | 1 => format!(" {} {}", cased(r, "DB"), ps(r, DBS)),
                    2 => format!(" {}", cased(r, "REPLACE")),
                    _ => " X".to_string(),
                };
            }
            (s, Exact)
        }
        12 => {
            let o = opt(r, &["ASYNC", "SYNC", "X", "ASYNC SYNC", "async"]);
            let c = if r.one_in(5) { "FLUSHALL" } else { "FLUSHDB" };
            (format!("{} {o}", cased(r, c)), Exact)
        }
        13 => (cased(r, "DBSIZE"), Exact),
        // expires
        14..=17 => {
            let c = p(r, &["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]);
            let t = ps(r, if c.ends_with("AT") { AT_TIMES } else { TIMES });
            (format!("{} {k} {t} {}", cased(r, c), expire_opts(r)), Exact)
        }
        18 => (format!("{} {k}", cased(r, "PERSIST")), Exact),
        19..=21 => {
            let c = p(r, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"]);
            let tol = if c.starts_with('P') { 2000 } else { 2 };
            (format!("{} {k}", cased(r, c)), Ttl(tol))
        }
        22..=25 => (
            format!("{} {k} {} {}", cased(r, "SET"), val(r), set_opts(r)),
            Exact,
        ),
        26 | 27 => (
            format!("{} {k} {}", cased(r, "GETEX"), getex_opts(r)),
            Exact,
        ),
        28 => (format!("{} {k}", cased(r, "GETDEL")), Exact),
        29 => {
            let c = p(r, &["SETEX", "PSETEX"]);
            (
                format!("{} {k} {} {}", cased(r, c), ps(r, TIMES), val(r)),
                Exact,
            )
        }
        30 => (format!("{} {k} {}", cased(r, "SETNX"), val(r)), Exact),
        31 => {
            let mut s = format!("{} {k} {}", cased(r, "MSETNX"), val(r));
            for _ in 0..r.below(3) {
                s += &format!(" {} {}", key(r), val(r));
            }
            if r.one_in(6) {
                s += &format!(" {}", key(r));
            }
            (s, Exact)
        }
        // keys
        32..=34 => {
            let c = p(r, &["RENAME", "RENAMENX"]);
            let to = if r.one_in(4) { k.clone() } else { key(r) };
            (format!("{} {k} {to}", cased(r, c)), Exact)
        }
        35 => (format!("{} {k}", cased(r, "TYPE")), Exact),
        36 => {
            let c = p(r, &["EXISTS", "TOUCH", "DEL", "UNLINK", "EXISTS"]);
            (format!("{} {k} {}", cased(r, c), keys(r, 4)), Exact)
        }
        37 | 38 => {
            let (sub, cmp) = match r.below(8) {
                0 | 1 => ("REFCOUNT", Exact),
                2 | 3 => ("ENCODING", Exact),
                4 => ("IDLETIME", Idle),
                5 => ("FREQ", Exact),
                6 => ("HELP", Exact),
                _ => (p(r, &["X", "REFCOUNTX", "", "ENCODING"]), Exact),
            };
            let tail = match sub {
                "HELP" if r.one_in(2) => String::new(),
                "HELP" => k.clone(),
                _ if r.one_in(10) => String::new(),
                _ if r.one_in(10) => format!("{k} {}", key(r)),
                _ => k.clone(),
            };
            (
                format!("{} {} {tail}", cased(r, "OBJECT"), cased(r, sub)),
                cmp,
            )
        }
        39 => (cased(r, "RANDOMKEY"), RandomKey),
        40..=43 => (format!("{} {}", cased(r, "KEYS"), pattern(r)), Unordered),
        44..=47 => scan(r),
        48..=50 => coll_scan(r, &k),
        51..=58 => make_typed(r, &k),
        // strings
        59 | 60 => (format!("{} {k} {}", cased(r, "APPEND"), val(r)), Exact),
        61 => (format!("{} {k}", cased(r, "STRLEN")), Exact),
        62 | 63 => {
            let c = p(r, &["GETRANGE", "SUBSTR"]);
            (format!("{} {k} {} {}", cased(r, c), idx(r), idx(r)), Exact)
        }
        64 | 65 => {
            let off = ps(
                r,
                &[
                    "0",
                    "1",
                    "3",
                    "-1",
                    "x",
                    "536870912",
                    "536870911",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "",
                ],
            );
            // The last valid offset with a value would allocate 512 MB on both sides; the
            // bigger ones are refused (or a no-op when the value is empty).
            let v = match off.as_str() {
                "\"536870911\"" => lit(b""),
                "\"536870912\"" | "\"9223372036854775807\"" => ps(r, &["", "x"]),
                _ => val(r),
            };
            (format!("{} {k} {off} {v}", cased(r, "SETRANGE")), Exact)
        }
        66..=70 => lcs(r, &k),
        71..=74 => {
            let c = p(r, &["INCR", "DECR", "INCRBY", "DECRBY"]);
            let n = if c.ends_with("BY") {
                format!(
                    " {}",
                    ps(
                        r,
                        &[
                            "1",
                            "-1",
                            "0",
                            "9223372036854775807",
                            "-9223372036854775808",
                            "9223372036854775808",
                            "x",
                            "",
                            "1.5",
                            " 1",
                        ]
                    )
                )
            } else {
                String::new()
            };
            (format!("{} {k}{n}", cased(r, c)), Exact)
        }
        75 => (format!("{} {k} {}", cased(r, "GETSET"), val(r)), Exact),
        76 | 77 => (format!("{} {k}", cased(r, "GET")), Exact),
        78 => (format!("{} {k} {}", cased(r, "SET"), val(r)), Exact),
        // errors
        79..=82 => (unknown_command(r), Exact),
        83..=86 => (container(r), Exact),
        87..=90 => (wrong_arity(r), Exact),
        91 | 92 => {
            // The keys Redis finds in a command line (its key specs), for a line of this
            // generator: errors for unknown commands, wrong arity and keyless commands.
            let c = pc(r, &["GETKEYS", "GETKEYSANDFLAGS"]);
            let inner = if r.one_in(2) {
                movable_keys_line(r)
            } else {
                loop {
                    let (l, _) = command(r);
                    if !l.to_ascii_uppercase().starts_with("COMMAND") {
                        break l;
                    }
                }
            };
            (format!("{} {c} {inner}", cased(r, "COMMAND")), Exact)
        }
        93 => {
            let f = match r.below(4) {
                0 => format!("PATTERN {}", pattern(r)),
                1 => format!(
                    "PATTERN {}",
                    ps(
                        r,
                        &["*scan", "?et", "[a-c]*", "CONFIG|*", "config*", "*|help"]
                    )
                ),
                2 => format!(
                    "ACLCAT {}",
                    ps(r, &["keyspace", "STRING", "dangerous", "x"])
                ),
                _ => format!("MODULE {}", ps(r, &["x", ""])),
            };
            (
                format!("{} LIST FILTERBY {f}", cased(r, "COMMAND")),
                Unordered,
            )
        }
        94 | 95 => big_collection(r),
        96 => {
            // Parameter names matched by nocase globs (values differ: ports, paths).
            let mut line = cased(r, "CONFIG GET");
            for _ in 0..1 + r.below(2) {
                line += " ";
                line += &if r.one_in(3) {
                    pattern(r)
                } else {
                    ps(
                        r,
                        &[
                            "*max*",
                            "MAXMEMORY-*",
                            "[a-c]*",
                            "*-size",
                            "Save",
                            "port",
                            "*[^a-z]*",
                            "?ort",
                            "list-*-size",
                            "*\\-*",
                            "",
                        ],
                    )
                };
            }
            (line, ConfigNames)
        }
        97 => {
            // No container: its subcommands are listed in its hash table's (seeded) order.
            let names: Vec<String> = (0..1 + r.below(3))
                .map(|_| {
                    ps(
                        r,
                        &[
                            "get",
                            "SET",
                            "copy",
                            "object|encoding",
                            "config|get",
                            "nosuch",
                            "",
                            "keys",
                            "scan",
                            "lcs",
                            "getex",
                            "swapdb",
                            "Expire",
                        ],
                    )
                })
                .collect();
            (format!("COMMAND INFO {}", names.join(" ")), Exact)
        }
        _ => make_typed(r, &k),
    };
    (line.trim_end().to_string(), cmp)
}

/// A command whose keys depend on its arguments (numkeys, keywords, key finders), with a
/// random numkeys, for COMMAND GETKEYS.
pub(crate) fn movable_keys_line(r: &mut Rng) -> String {
    let n = ps(r, &["0", "1", "2", "3", "-1", "x"]);
    let ks = keys(r, 3);
    let tail = p(
        r,
        &[
            "",
            "LEFT",
            "MIN",
            "WITHSCORES",
            "KEYS a b",
            "KEYS",
            "STORE d",
            "STORE",
            "AUTH p",
            "AUTH2 u p KEYS c",
            "COPY REPLACE KEYS",
            "LIMIT 1",
            "0",
            "0 0",
        ],
    );
    match r.below(12) {
        0 => format!("ZUNIONSTORE d {n} {ks} {tail}"),
        1 => format!("ZINTER {n} {ks} {tail}"),
        2 => format!("EVAL s {n} {ks} {tail}"),
        3 => format!("FCALL_RO f {n} {ks}"),
        4 => format!("LMPOP {n} {ks} {tail}"),
        5 => format!("BZMPOP 0 {n} {ks} {tail}"),
        6 => format!("SINTERCARD {n} {ks} {tail}"),
        7 => format!("SORT {ks} {tail} {tail}"),
        8 => format!("MIGRATE h p {} 0 5 {tail}", ps(r, &["", "k"])),
        9 => format!("XREAD COUNT 1 STREAMS {ks} {tail}"),
        10 => format!("GEORADIUS {ks} 0 0 1 km {tail}"),
        _ => format!(
            "{} {ks} {tail}",
            p(r, &["SPUBLISH", "PUBLISH", "MSET", "BITOP AND"])
        ),
    }
}

/// SCAN with random options (iterated to completion), or with a cursor it must refuse.
pub(crate) fn scan(r: &mut Rng) -> Step {
    let c = cased(r, "SCAN");
    if r.one_in(6) {
        let bad = ps(
            r,
            &[
                "x",
                " 1",
                "1 ",
                "1x",
                "18446744073709551616",
                "99999999999999999999",
                "0x10",
                "1.0",
            ],
        );
        return (format!("{c} {bad} {}", scan_opts(r, true)), Cmp::Exact);
    }
    let start = q(p(r, &["0", "0", "0", "", "00", "+0", "-0"]));
    (format!("{c} {start} {}", scan_opts(r, true)), Cmp::Scan(1))
}

/// MATCH / COUNT (/ TYPE for SCAN) options, sometimes broken.
pub(crate) fn scan_opts(r: &mut Rng, with_type: bool) -> String {
    let mut out = Vec::new();
    for _ in 0..r.below(4) {
        let o = match r.below(9) {
            0..=2 => format!("{} {}", cased(r, "MATCH"), pattern(r)),
            3 | 4 => format!(
                "{} {}",
                cased(r, "COUNT"),
                ps(
                    r,
                    &[
                        "1",
                        "2",
                        "3",
                        "10",
                        "100",
                        "0",
                        "-1",
                        "x",
                        "9223372036854775807"
                    ]
                )
            ),
            5 | 6 if with_type => format!(
                "{} {}",
                cased(r, "TYPE"),
                pc(
                    r,
                    &["string", "list", "hash", "set", "zset", "stream", "none", "x"]
                )
            ),
            5 | 6 => format!("{} string", cased(r, "TYPE")),
            7 => p(r, &["MATCH", "COUNT", "X"]).to_string(),
            _ => format!("{} *", cased(r, "MATCH")),
        };
        out.push(o);
    }
    out.join(" ")
}

/// HSCAN / SSCAN / ZSCAN: exact for the one-call encodings (the generator's hashes and
/// sorted sets stay listpacks), iterated for sets (string sets are hash tables in 7.0).
pub(crate) fn coll_scan(r: &mut Rng, k: &str) -> Step {
    let c = p(r, &["HSCAN", "SSCAN", "ZSCAN"]);
    let cursor = if c == "SSCAN" {
        ps(r, &["0", "", "+0"])
    } else {
        ps(r, &["0", "0", "5", "", "x", "-1", "18446744073709551616"])
    };
    // Iterations start at cursor 0 (a hash table's other cursors are seeded positions).
    let valid = ["\"0\"", "\"\"", "\"+0\""].contains(&cursor.as_str());
    let big = valid && r.one_in(3);
    let k = if big { pl(r, BIG_KEYS) } else { k.to_string() };
    let line = format!("{} {k} {cursor} {}", cased(r, c), scan_opts(r, false));
    // Small hashes and sorted sets answer in one call and compare exactly; the big keys
    // (hash tables, seeded order) and sets are iterated, as are some small ones.
    let cmp = if valid && (c == "SSCAN" || big || r.one_in(2)) {
        Cmp::Scan(2)
    } else {
        Cmp::Exact
    };
    (line, cmp)
}

/// LCS with random options, after making the two keys strings half the time.
pub(crate) fn lcs(r: &mut Rng, k: &str) -> Step {
    let k2 = key(r);
    let mut s = format!("{} {k} {k2}", cased(r, "LCS"));
    for _ in 0..r.below(4) {
        s += &match r.below(6) {
            0 => format!(" {}", cased(r, "LEN")),
            1 | 2 => format!(" {}", cased(r, "IDX")),
            3 => format!(
                " {} {}",
                cased(r, "MINMATCHLEN"),
                ps(r, &["0", "1", "2", "4", "-1", "x", "9223372036854775807"])
            ),
            4 => format!(" {}", cased(r, "WITHMATCHLEN")),
            _ => format!(" {}", p(r, &["X", "MINMATCHLEN", "STOREDKEY"])),
        };
    }
    (s, Cmp::Exact)
}

/// An unknown command with odd arguments (empty, long, binary, CR/LF, NUL, quotes).
pub(crate) fn unknown_command(r: &mut Rng) -> String {
    const NAMES: &[&[u8]] = &[
        b"FOO",
        b"gett",
        b"x",
        b"",
        b"\xff\xfe",
        b"a\r\nb",
        // Not a known name followed by NUL ("SET\0"): Redis hashes the whole name but
        // compares it as a C string, so whether it finds SET depends on its random hash
        // seed (a known deviation, see `known_deviation`).
        b"x\x00y",
        b"'q'",
        b"%s%n",
        b"CONFIG|GET",
        b"object|help",
    ];
    const ARGS: &[&[u8]] = &[
        b"",
        b"a",
        b"a b",
        b"x\r\ny",
        b"\n",
        b"n\x00ul",
        b"'",
        b"%s",
        b"\xe9",
        b"0123456789012345678901234567890123456789012345678901234567890123456789",
        b"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123",
    ];
    let mut s = pl(r, NAMES);
    if r.one_in(6) {
        // A 140-byte name: Redis cuts it at 128.
        s = lit(&[b'n'; 140]);
    }
    for _ in 0..r.below(6) {
        s += " ";
        s += &pl(r, ARGS);
    }
    s
}

/// A container command with an unknown, HELP or missing subcommand.
pub(crate) fn container(r: &mut Rng) -> String {
    let c = p(
        r,
        &[
            "OBJECT", "CONFIG", "CLIENT", "COMMAND", "XINFO", "XGROUP", "SCRIPT", "FUNCTION",
            "MEMORY", "ACL", "PUBSUB", "SLOWLOG", "LATENCY", "MODULE", "CLUSTER",
        ],
    );
    let sub: &[u8] = match r.below(8) {
        0 => b"HELP",
        1 => b"help",
        2 => b"",
        3 => b"a\r\nb",
        4 => b"x\x00y",
        5 => &[b's'; 140],
        _ => b"NOSUCH",
    };
    let mut s = format!("{} {}", cased(r, c), lit(sub));
    for _ in 0..r.below(3) {
        s += " x";
    }
    s
}

/// A common command with too few (or, for fixed arity, too many) arguments.
pub(crate) fn wrong_arity(r: &mut Rng) -> String {
    let c = p(
        r,
        &[
            "GET x y",
            "SET x",
            "SELECT",
            "SELECT 1 2",
            "MOVE a",
            "SWAPDB 0",
            "COPY a",
            "EXPIRE a",
            "PEXPIREAT a",
            "TTL",
            "TTL a b",
            "PERSIST",
            "GETEX",
            "GETDEL a b",
            "SETEX a 10",
            "PSETEX a",
            "SETNX a",
            "MSETNX a",
            "MSETNX a 1 b",
            "RENAME a",
            "RENAMENX a b c",
            "TYPE",
            "EXISTS",
            "TOUCH",
            "UNLINK",
            "DEL",
            "OBJECT",
            "OBJECT ENCODING",
            "OBJECT HELP x",
            "RANDOMKEY x",
            "KEYS",
            "KEYS a b",
            "SCAN",
            "HSCAN a",
            "SSCAN",
            "ZSCAN a",
            "APPEND a",
            "STRLEN",
            "GETRANGE a 0",
            "SUBSTR a",
            "SETRANGE a 0",
            "LCS a",
            "INCR",
            "DECRBY a",
            "GETSET a",
            "DBSIZE x",
            "FLUSHDB ASYNC x",
            "EXPIRETIME",
            "PEXPIRETIME a b",
            "CONFIG",
            "CONFIG GET",
            "CLIENT",
            "COMMAND COUNT x",
            "XINFO",
            "XINFO STREAM",
        ],
    );
    cased(r, c)
}

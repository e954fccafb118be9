//! Differential fuzzing of CONFIG: a seeded generator writes random sequences of CONFIG SET
//! (one or several parameter / value pairs at once, duplicates and aliases included), CONFIG
//! GET with one or more patterns (exact names in any case, globs), CONFIG RESETSTAT, CONFIG
//! HELP and malformed CONFIG calls, half of them after HELLO 3, and runs each on
//! rubra-server and on Debian's redis-server 7.0. Every reply must be byte-identical, except
//! CONFIG GET's, which is compared as an unordered map (Redis walks a dict). After every
//! CONFIG SET both servers are asked CONFIG GET of the names it set, so the shown form of
//! each value (memory units in bytes, enum spelling, flag order...) is compared too. INFO
//! commandstats / errorstats (counts only) and latencystats (field names only) show that
//! RESETSTAT and the error counting agree.
//!
//! The parameters are those redis-server lists in `CONFIG GET *` (and the hidden ones),
//! less those that belong to the environment or would stop the test (see `EXCLUDED`); the
//! values are each type's edges (booleans in odd spellings, integers with memory units,
//! overflow, signs and spaces, percentages, enum names in odd cases, multi-value strings,
//! empty strings, NUL bytes) plus any other type's values. A few values are kept out
//! because they would change the test's own connection or the process (`unsafe_value`).
//! Before each sequence every generated parameter is set back to its default on both.
//!
//! A difference is shrunk (steps dropped while a difference remains) and printed with the
//! seed. Short run: `cargo test -p rubra-server --test fuzz_config_differential`; replay
//! or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
// Not every picker of the kit is used here (each test file compiles the kit on its own).
#[allow(dead_code)]
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, cased, frame, p, Pair};
use reference::RawConn;
use rubra_fuzz::Rng;
use rubra_resp::Frame;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 1500;
/// Steps per sequence (one in eight sequences is four times longer).
const SEQ_LEN: usize = 12;

/// Parameters never generated, and why:
/// - port, tls-port, bind: changing them moves the listeners;
/// - tls-*: a change rebuilds the TLS context from files the test does not have;
/// - appendonly: turning it on writes files and starts a rewrite in the background;
/// - watchdog-period: Redis's software watchdog signals the process on a timer.
///
/// dir is generated (CONFIG SET refuses it, protected) but its value is masked, as each
/// server has its own; pidfile, logfile and unixsocket are immutable.
const EXCLUDED: &[&str] = &["port", "tls-port", "bind", "appendonly", "watchdog-period"];

/// Hidden parameters (not in `CONFIG GET *`; an exact name still finds them).
const HIDDEN: &[&str] = &[
    "key-load-delay",
    "rdb-key-save-delay",
    "use-exit-on-panic",
    "loading-process-events-interval-bytes",
];

/// Parameters whose values depend on the server's place: names compared, values not.
const MASKED: &[&str] = &["port", "dir", "bind"];

/// The enum parameters and their names (Redis 7.0's tables).
const ENUMS: &[(&str, &[&str])] = &[
    (
        "maxmemory-policy",
        &[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ],
    ),
    ("loglevel", &["debug", "verbose", "notice", "warning"]),
    ("supervised", &["upstart", "systemd", "auto", "no"]),
    ("syslog-facility", &["user", "local0", "local7"]),
    ("appendfsync", &["everysec", "always", "no"]),
    (
        "shutdown-on-sigint",
        &["default", "save", "nosave", "now", "force"],
    ),
    (
        "shutdown-on-sigterm",
        &["default", "save", "nosave", "now", "force"],
    ),
    ("repl-diskless-load", &["disabled", "on-empty-db", "swapdb"]),
    // Only "no" of oom-score-adj is generated (see unsafe_value).
    ("oom-score-adj", &["no", "yes", "relative", "absolute"]),
    ("acl-pubsub-default", &["allchannels", "resetchannels"]),
    ("sanitize-dump-payload", &["no", "yes", "clients"]),
    ("enable-protected-configs", &["no", "yes", "local"]),
    ("enable-debug-command", &["no", "yes", "local"]),
    ("enable-module-command", &["no", "yes", "local"]),
    (
        "cluster-preferred-endpoint-type",
        &["ip", "hostname", "unknown-endpoint"],
    ),
    (
        "propagation-error-behavior",
        &["ignore", "panic", "panic-on-replicas"],
    ),
];

/// Free-form string parameters.
const STRINGS: &[&str] = &[
    "aclfile",
    "masterauth",
    "masteruser",
    "requirepass",
    "replica-announce-ip",
    "slave-announce-ip",
    "cluster-announce-ip",
    "cluster-announce-hostname",
    "cluster-config-file",
    "syslog-ident",
    "dbfilename",
    "appendfilename",
    "appenddirname",
    "server_cpulist",
    "bio_cpulist",
    "aof_rewrite_cpulist",
    "bgsave_cpulist",
    "ignore-warnings",
    "proc-title-template",
    "bind-source-addr",
];

const BOOLS: &[&str] = &[
    "yes", "no", "YES", "No", "yEs", "1", "0", "true", "false", "", " yes", "yes ", "y", "on",
    "yes\x00", "no\x00x",
];

const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "5",
    "10",
    "16",
    "99",
    "100",
    "101",
    "128",
    "500",
    "501",
    "512",
    "1000",
    "1001",
    "2000",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "007",
    "+5",
    " 5",
    "5 ",
    "0x10",
    "1e3",
    "1.5",
    "abc",
    "",
    "-0",
    "00",
    "5\x00",
    "1k",
    "1kb",
    "1K",
    "1KB",
    "1m",
    "1mb",
    "1MB",
    "3mB",
    "1g",
    "1gb",
    "1Gb",
    "2gb",
    "1b",
    "1B",
    "1tb",
    "k",
    "kb",
    "-1k",
    " 1mb",
    "1mb ",
    "1 mb",
    "512M",
    "100mb",
    "1048576",
    "1048575",
    "16777216",
    "9223372036854775807b",
    "18446744073709551615k",
    "17179869184gb",
    "8589934592gb",
    "0%",
    "1%",
    "10%",
    "100%",
    "101%",
    "-5%",
    "%",
    "10.5%",
    "1000%",
    "010%",
    "+10%",
    "9223372036854775807%",
    "1mb%",
    "777",
    "0777",
    "8",
    "-0777",
];

const STRING_VALUES: &[&str] = &[
    "",
    "a",
    "a b",
    "x\x00y",
    "bad_host!",
    "node-1.example",
    "{title}",
    "{title} {port}",
    "{bogus}",
    "{title",
    "title}",
    "  ",
    "{}",
    "127.0.0.1",
    "::1",
    "dump.rdb",
    "x.rdb",
    "a/b",
    "/tmp",
    "0-1",
    "AbC.def-9",
    "-lead",
    "é",
    "\u{ff}",
];

/// Keyspace event classes, valid and not.
const EVENT_CHARS: &[&str] = &[
    "K", "E", "A", "g", "$", "l", "s", "h", "z", "x", "e", "t", "m", "d", "n", "Q", "k", " ",
];

/// A value token as a redis-cli argument: double-quoted, with `\`, `"` and bytes outside
/// printable ASCII escaped (\xHH).
fn arg(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// What the generator knows of the parameters.
#[derive(Clone)]
struct Params {
    /// Every parameter generated, sorted, with its default as redis-server shows it.
    all: Vec<(String, String)>,
    /// Those CONFIG SET can change (the others only give errors): reset before each
    /// sequence.
    modifiable: Vec<String>,
}

fn enum_names(name: &str) -> Option<&'static [&'static str]> {
    ENUMS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A value for an enum parameter: a name (odd case now and then), several for the
/// multi-word ones, or something that is no name.
fn enum_value(r: &mut Rng, names: &[&'static str], multi: bool) -> String {
    match r.below(8) {
        0 => p(r, &["", "bogus", " ", "no-such", "0", "1"]).to_string(),
        1 if multi => {
            let n = 1 + r.below(3);
            (0..n)
                .map(|_| {
                    let name = p(r, names);
                    cased(r, name)
                })
                .collect::<Vec<_>>()
                .join(p(r, &[" ", " ", "  "]))
        }
        2 => format!("{} ", p(r, names)),
        _ => {
            let name = p(r, names);
            cased(r, name)
        }
    }
}

fn save_value(r: &mut Rng) -> String {
    let n = r.below(4);
    let mut words = Vec::new();
    for _ in 0..n {
        let secs = p(
            r,
            &[
                "1", "60", "300", "900", "3600", "0", "-1", "x", "86400", "5",
            ],
        );
        // Known deviation, not generated: a change count of 2^31 or more, which Redis keeps
        // in an int and shows negative (then refuses its own CONFIG REWRITE); rubra refuses
        // it at once (config/special.rs).
        let mut changes = p(
            r,
            &["1", "10", "100", "10000", "0", "-1", "2147483647", "y"],
        );
        // A rule with 0 changes saves once its time is up: keep that time long.
        if changes == "0" && !matches!(secs, "3600" | "86400" | "0" | "-1" | "x") {
            changes = "1";
        }
        words.push(secs.to_string());
        words.push(changes.to_string());
    }
    if r.one_in(8) {
        words.push("900".into());
    }
    words.join(p(r, &[" ", " ", " ", "  "]))
}

fn output_limit_value(r: &mut Rng) -> String {
    let n = 1 + r.below(3);
    let mut words = Vec::new();
    for _ in 0..n {
        let class = p(
            r,
            &[
                "normal", "replica", "slave", "pubsub", "NORMAL", "Pubsub", "master", "x",
            ],
        );
        // The test's own connections are normal clients: their limits stay roomy.
        let sizes: &[&'static str] = if class.eq_ignore_ascii_case("normal") {
            &["0", "1gb", "64mb", "67108864", "x", "-1"]
        } else {
            &[
                "0",
                "1",
                "1k",
                "1kb",
                "256mb",
                "64mb",
                "1gb",
                "-1",
                "x",
                "1tb",
                "1MB",
                "",
                "18446744073709551615",
            ]
        };
        words.push(class.to_string());
        words.push(p(r, sizes).to_string());
        words.push(p(r, sizes).to_string());
        words.push(
            p(
                r,
                &[
                    "0",
                    "60",
                    "10",
                    "-1",
                    "x",
                    "2147483648",
                    "4294967296",
                    "1.5",
                ],
            )
            .to_string(),
        );
    }
    if r.one_in(8) {
        words.pop();
    }
    words.join(" ")
}

fn events_value(r: &mut Rng) -> String {
    let n = r.below(5);
    (0..n).map(|_| p(r, EVENT_CHARS)).collect()
}

fn oom_values(r: &mut Rng) -> String {
    let n = if r.one_in(6) { r.below(5) } else { 3 };
    (0..n)
        .map(|_| {
            p(
                r,
                &[
                    "0", "100", "200", "800", "-1000", "2000", "2001", "-2001", "x", "", "+5",
                    "1.5", "-0",
                ],
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentiles_value(r: &mut Rng) -> String {
    let n = r.below(4);
    (0..n)
        .map(|_| {
            p(
                r,
                &[
                    "50",
                    "99",
                    "99.9",
                    "100",
                    "0",
                    "101",
                    "-1",
                    "abc",
                    "99.99",
                    "1e1",
                    "0.5",
                    "50.000",
                    "",
                    "inf",
                    "nan",
                    "99.9999999",
                    "0x10",
                ],
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value for `name`: mostly of its own type, sometimes any other type's.
fn value_for(r: &mut Rng, name: &str, default: &str) -> String {
    if r.one_in(6) {
        return match r.below(3) {
            0 => p(r, BOOLS),
            1 => p(r, INTS),
            _ => p(r, STRING_VALUES),
        }
        .to_string();
    }
    match name {
        "save" => return save_value(r),
        "client-output-buffer-limit" => return output_limit_value(r),
        "notify-keyspace-events" => return events_value(r),
        "oom-score-adj-values" => return oom_values(r),
        "latency-tracking-info-percentiles" => return percentiles_value(r),
        "replicaof" | "slaveof" => return p(r, &["no one", "127.0.0.1 1", "x"]).to_string(),
        // Each server stays in its own directory ("." and "./"), or the change fails.
        "dir" => {
            return p(
                r,
                &[
                    ".",
                    "./",
                    "/nonexistent",
                    "",
                    "/etc/hostname",
                    "/etc/hostname/x",
                ],
            )
            .to_string()
        }
        // Around the open-files limit of a test machine (20000 here), and the counts that
        // wrap when Redis adds its 32 reserved descriptors in 32 bits.
        "maxclients" if r.one_in(2) => {
            return p(
                r,
                &[
                    "10000",
                    "19968",
                    "19969",
                    "20000",
                    "30000",
                    "65535",
                    "1024",
                    "992",
                    "4294967264",
                    "4294967295",
                ],
            )
            .to_string()
        }
        _ => {}
    }
    if let Some(names) = enum_names(name) {
        return enum_value(r, names, name.starts_with("shutdown-on-"));
    }
    if STRINGS.contains(&name) {
        return p(r, STRING_VALUES).to_string();
    }
    if default == "yes" || default == "no" {
        return p(r, BOOLS).to_string();
    }
    p(r, INTS).to_string()
}

/// Values kept out of the generator because they would change the test's own connection
/// or the process rather than a setting compared:
/// - timeout of 1 to 120 s could close the connections while a difference is shrunk;
/// - dir anywhere but where each server is (with protected parameters allowed, it
///   would move the server), or places that do not work;
/// - maxmemory between 100 KB and 4 MB: one server is over it and the other not (each
///   counts its own memory: Redis starts at about 1 MB, rubra at about 350 KB), so OOM
///   errors (a command queued in MULTI) would depend on the process, not on CONFIG;
/// - oom-score-adj other than no writes /proc/self/oom_score_adj, which lowering needs a
///   privilege the test may not have (Redis then fails with "Failed to set current
///   oom_score_adj"; rubra does not adjust its OOM score);
/// - maxclients below 10 could refuse the connections the test opens (NEWCONN); from
///   100000 to 2^32 - 33, both servers step the open-files limit down 16 at a time from
///   what it needs to what the system allows: millions of setrlimit calls.
fn unsafe_value(name: &str, value: &str) -> bool {
    let number = value.parse::<i64>().ok();
    match name.to_ascii_lowercase().as_str() {
        "maxmemory" => memory(value).is_some_and(|n| (100_000..4_000_000).contains(&n)),
        "dir" => !matches!(
            value,
            "." | "./" | "/nonexistent" | "" | "/etc/hostname" | "/etc/hostname/x"
        ),
        "timeout" => number.is_some_and(|n| (1..=120).contains(&n)),
        "oom-score-adj" => matches!(
            value.to_ascii_lowercase().as_str(),
            "yes" | "relative" | "absolute"
        ),
        "maxclients" => {
            number.is_some_and(|n| (1..10).contains(&n) || (100_000..4_294_967_264).contains(&n))
        }
        _ => false,
    }
}

/// A memory value's bytes (digits and a unit, as Redis's memtoull), for `unsafe_value`.
fn memory(value: &str) -> Option<u64> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let n: u64 = value[..split].parse().ok()?;
    let unit = match value[split..].to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Redis 7.0's old names, to set a parameter under either.
const ALIASES: &[(&str, &str)] = &[
    ("hash-max-listpack-entries", "hash-max-ziplist-entries"),
    ("hash-max-listpack-value", "hash-max-ziplist-value"),
    ("zset-max-listpack-entries", "zset-max-ziplist-entries"),
    ("zset-max-listpack-value", "zset-max-ziplist-value"),
    ("list-max-listpack-size", "list-max-ziplist-size"),
    ("replica-read-only", "slave-read-only"),
    ("replica-priority", "slave-priority"),
    ("busy-reply-threshold", "lua-time-limit"),
    ("min-replicas-to-write", "min-slaves-to-write"),
];

/// One step: a command line (redis-cli quoting), or `NEWCONN` and a command to send on a
/// new connection.
type Step = String;

/// CONFIG GET's (name, value) pairs.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn set_step(r: &mut Rng, ps: &Params) -> Step {
    let pairs = match r.below(10) {
        0..=5 => 1,
        6 | 7 => 2,
        8 => 3,
        _ => 4,
    };
    let mut line = String::from(p(
        r,
        &["CONFIG SET", "CONFIG SET", "config set", "CONFIG set"],
    ));
    let mut used: Vec<String> = Vec::new();
    for _ in 0..pairs {
        let name = if !used.is_empty() && r.one_in(8) {
            // The same parameter again, by the same name or by its other name.
            let again = used[r.below(used.len())].clone();
            ALIASES
                .iter()
                .find_map(|(a, b)| {
                    if again == *a {
                        Some(b.to_string())
                    } else if again == *b {
                        Some(a.to_string())
                    } else {
                        None
                    }
                })
                .filter(|_| r.one_in(2))
                .unwrap_or(again)
        } else if r.one_in(12) {
            p(
                r,
                &[
                    "nosuch",
                    "",
                    "maxmemory ",
                    "save2",
                    "a\r\nb",
                    "maxmemory\x00x",
                    "x\x00y",
                    "\u{ff}",
                ],
            )
            .to_string()
        } else {
            let (n, _) = &ps.all[r.below(ps.all.len())];
            n.clone()
        };
        let default = ps
            .all
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, d)| d.as_str());
        let mut value = value_for(r, &name, default);
        while unsafe_value(&name, &value) {
            value = value_for(r, &name, default);
        }
        line.push(' ');
        line.push_str(&arg(&cased(r, &name)));
        line.push(' ');
        line.push_str(&arg(&value));
        used.push(name);
    }
    line
}

const GLOBS: &[&str] = &[
    "*",
    "max*",
    "*-max-*",
    "hash-max-z*",
    "*policy",
    "slave*",
    "repl*",
    "no-such*",
    "?z",
    "[ab]*",
    "*ziplist*",
    "*listpack*",
    "latency*",
    "client-*",
    "MAXMEMORY*",
    "*save*",
    "[^a-m]*",
    "hz?",
    "h?",
    "*[0-9]*",
    "lua*",
    "tls-*",
    "*-?????-*",
    "maxmemory\\-*",
    "*notify*",
    "*-delay",
    "key-load-*",
    "[",
    "[a-",
    "\\",
    "*\\",
    "[]]*",
    "[!a-z]*",
    "\\*",
    "h\\z",
    "*-*-*-*-*",
    "?",
    "*?",
    "[h]z",
    "[z-a]*",
    "maxmemory\x00*",
    "*\r\n",
];

fn get_step(r: &mut Rng, ps: &Params) -> Step {
    let n = 1 + r.below(3);
    let mut line = String::from(p(r, &["CONFIG GET", "config get"]));
    for _ in 0..n {
        let pattern = match r.below(3) {
            0 => p(r, GLOBS).to_string(),
            _ => {
                let (name, _) = &ps.all[r.below(ps.all.len())];
                cased(r, name)
            }
        };
        line.push(' ');
        line.push_str(&arg(&pattern));
    }
    line
}

fn other_step(r: &mut Rng) -> Step {
    p(
        r,
        &[
            "CONFIG RESETSTAT",
            "CONFIG RESETSTAT",
            "CONFIG HELP",
            "CONFIG help",
            "CONFIG",
            "CONFIG GET",
            "CONFIG SET",
            "CONFIG SET maxmemory",
            "CONFIG SET maxmemory 1 hz",
            "CONFIG RESETSTAT x",
            "CONFIG HELP x",
            "CONFIG REWRITE",
            "CONFIG REWRITE x",
            "CONFIG NOSUCH",
            "CONFIG NOSUCH a b",
            "CONFIG SET \"\" \"\"",
            "INFO commandstats",
            "INFO errorstats",
            "INFO latencystats",
            "INFO commandstats",
            "INFO errorstats",
            "INFO everything",
            "INFO everything",
            "NEWCONN PING",
            "NEWCONN PING",
            "NEWCONN AUTH a",
            "NEWCONN AUTH \"a b\"",
            "NEWCONN AUTH default a",
            "NEWCONN AUTH default \"\"",
            "MULTI",
            "EXEC",
            "DISCARD",
            "EVAL \"return redis.call('config', 'get', 'maxmemory')\" 0",
            "EVAL \"return redis.pcall('config', 'set', 'maxmemory', '1')\" 0",
            "CONFIG GET \"\"",
            "CONFIG GET maxmemory maxmemory MAXMEMORY",
        ],
    )
    .to_string()
}

fn step(r: &mut Rng, ps: &Params) -> Step {
    match r.below(10) {
        0..=5 => set_step(r, ps),
        6 | 7 => get_step(r, ps),
        _ => other_step(r),
    }
}

fn sequence(r: &mut Rng, ps: &Params) -> (bool, Vec<Step>) {
    let resp3 = r.one_in(2);
    // Now and then a longer one, for states that take many steps to reach.
    let len = if r.one_in(8) { SEQ_LEN * 4 } else { SEQ_LEN };
    (resp3, (0..len).map(|_| step(r, ps)).collect())
}

/// A CONFIG GET reply as sorted (name, value) pairs (the map's order is Redis's dict
/// order), masked values hidden; None if it is no map or flat array of pairs.
fn config_pairs(raw: &[u8]) -> Option<(bool, Pairs)> {
    let bulk = |f: &Frame| match f {
        Frame::Bulk(b) => Some(b.to_vec()),
        _ => None,
    };
    let (is_map, mut pairs) = match frame(raw)? {
        Frame::Map(v) => (
            true,
            v.iter()
                .map(|(a, b)| Some((bulk(a)?, bulk(b)?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        Frame::Array(v) if v.len() % 2 == 0 => (
            false,
            v.chunks(2)
                .map(|c| Some((bulk(&c[0])?, bulk(&c[1])?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    };
    for (name, value) in pairs.iter_mut() {
        if MASKED
            .iter()
            .any(|m| m.as_bytes().eq_ignore_ascii_case(name))
        {
            *value = b"<masked>".to_vec();
        }
    }
    pairs.sort();
    Some((is_map, pairs))
}

/// An EXEC reply as compared: each CONFIG GET reply in it (a map, or a flat array of
/// bulk strings in RESP2) as sorted, masked pairs; anything else as it is.
fn exec_normalised(raw: &[u8]) -> Option<Vec<String>> {
    let Frame::Array(replies) = frame(raw)? else {
        return Some(vec![raw.escape_ascii().to_string()]);
    };
    let mut out = Vec::new();
    for reply in replies {
        let encoded = reply_bytes(&reply);
        if let Frame::Bulk(b) | Frame::Verbatim(b) = &reply {
            if b.starts_with(b"# ") || b.starts_with(b"txt:# ") {
                // An INFO reply: compared as INFO is outside a transaction.
                let everything = b.windows(8).any(|w| w == b"# Server");
                out.push(info_normalised(&encoded, everything).unwrap_or_default());
                continue;
            }
        }
        out.push(match config_pairs(&encoded) {
            Some(pairs) => format!("{pairs:?}"),
            None => format!("{reply:?}"),
        });
    }
    Some(out)
}

/// A parsed reply written back as RESP (for `config_pairs`).
fn reply_bytes(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    match f {
        Frame::Bulk(b) | Frame::Verbatim(b) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Array(v) => {
            out.extend_from_slice(format!("*{}\r\n", v.len()).as_bytes());
            for x in v {
                out.extend(reply_bytes(x));
            }
        }
        Frame::Map(v) => {
            out.extend_from_slice(format!("%{}\r\n", v.len()).as_bytes());
            for (k, x) in v {
                out.extend(reply_bytes(k));
                out.extend(reply_bytes(x));
            }
        }
        // Not a CONFIG GET reply: something config_pairs refuses.
        _ => out.extend_from_slice(b"_\r\n"),
    }
    out
}

/// The INFO fields CONFIG SET changes (compared from `INFO everything`; the other fields
/// are counters and sizes of the process).
const INFO_FIELDS: &[&str] = &[
    "hz",
    "configured_hz",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "maxclients",
    "repl_backlog_size",
    "aof_enabled",
    "io_threads_active",
];

/// An INFO reply as compared: commandstats keep their call counts, latencystats their
/// field names, errorstats everything, lines in any order; of `INFO everything`, only
/// `INFO_FIELDS`.
fn info_normalised(raw: &[u8], everything: bool) -> Option<String> {
    let (Frame::Bulk(text) | Frame::Verbatim(text)) = frame(raw)? else {
        return None;
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    let mut out = Vec::new();
    for line in text.lines() {
        if everything {
            let key = line.split(':').next().unwrap_or("");
            if INFO_FIELDS.contains(&key) {
                out.push(line.to_string());
            }
            continue;
        }
        let Some((key, fields)) = line.split_once(':') else {
            out.push(line.to_string());
            continue;
        };
        let kept: Vec<String> = fields
            .split(',')
            .filter_map(|f| {
                let (k, v) = f.split_once('=')?;
                if key.starts_with("latency_percentiles_usec_") {
                    Some(format!("{k}=N"))
                } else if k.starts_with("usec") {
                    None
                } else {
                    Some(format!("{k}={v}"))
                }
            })
            .collect();
        out.push(format!("{key}:{}", kept.join(",")));
    }
    // Redis lists commands in its command table's dict order.
    out.sort();
    Some(out.join("\n"))
}

/// The names a CONFIG SET line sets (as given), to read back after it.
fn set_names(line: &str) -> Vec<String> {
    let Some(args) = rubra_resp::split_args(line.as_bytes()) else {
        return Vec::new();
    };
    args.iter()
        .skip(2)
        .step_by(2)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// Both replies to `line` (or None if they agree under `line`'s comparison).
fn compare(pair: &mut Pair, line: &str) -> Option<String> {
    if std::env::var_os("FUZZ_SHOW").is_some() {
        println!("{line}");
    }
    let (ra, rb) = match line.strip_prefix("NEWCONN ") {
        // A new connection (does requirepass take effect for new clients?).
        Some(cmd) => (
            RawConn::connect(pair.rubra.port).call(cmd),
            RawConn::connect(pair.redis.port).call(cmd),
        ),
        None => (pair.a.call(line), pair.b.call(line)),
    };
    let upper = line.to_ascii_uppercase();
    let same = if upper == "EXEC" {
        exec_normalised(&ra) == exec_normalised(&rb)
    } else if upper.starts_with("CONFIG GET ") {
        match (config_pairs(&ra), config_pairs(&rb)) {
            (Some(a), Some(b)) => a == b,
            _ => ra == rb,
        }
    } else if upper.starts_with("INFO ") {
        let everything = upper == "INFO EVERYTHING";
        info_normalised(&ra, everything) == info_normalised(&rb, everything)
    } else {
        ra == rb
    };
    (!same).then(|| {
        if upper.starts_with("INFO ") {
            // Only what is compared: an INFO reply is long.
            let everything = upper == "INFO EVERYTHING";
            let (na, nb) = (
                info_normalised(&ra, everything).unwrap_or_default(),
                info_normalised(&rb, everything).unwrap_or_default(),
            );
            return format!("{line} (as compared)\n    rubra: {na:?}\n    redis: {nb:?}");
        }
        format!(
            "{line}\n    rubra: \"{}\"\n    redis: \"{}\"",
            ra.escape_ascii(),
            rb.escape_ascii()
        )
    })
}

impl Params {
    /// The parameters redis-server lists (and the hidden ones), less the excluded; each
    /// tried with its own default to learn which CONFIG SET can change.
    fn discover(pair: &mut Pair) -> Params {
        let raw = pair.b.call("CONFIG GET *");
        let (_, pairs) = config_pairs(&raw).expect("CONFIG GET * on redis-server");
        let mut all: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(&n).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .filter(|(n, _)| !EXCLUDED.contains(&n.as_str()) && !n.starts_with("tls-"))
            .collect();
        for h in HIDDEN {
            let raw = pair.b.call(&format!("CONFIG GET {h}"));
            let (_, v) = config_pairs(&raw).expect("hidden parameter");
            let value = v
                .first()
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
            all.push((h.to_string(), value.unwrap_or_default()));
        }
        all.sort();
        let modifiable = all
            .iter()
            .filter(|(n, v)| {
                pair.b
                    .call(&format!("CONFIG SET {} {}", arg(n), arg(v)))
                    .starts_with(b"+OK")
            })
            .map(|(n, _)| n.clone())
            .collect();
        Params { all, modifiable }
    }

    /// One CONFIG SET of every modifiable parameter's default (aliases left out: they
    /// would set their parameter twice).
    fn reset_line(&self) -> String {
        let mut line = String::from("CONFIG SET");
        for (name, value) in &self.all {
            // Redis 7.0's old names all say slave or ziplist, but one.
            let alias =
                name.contains("slave") || name.contains("ziplist") || name == "lua-time-limit";
            // dir's default is redis-server's own directory: never given to rubra-server.
            if self.modifiable.contains(name) && !alias && name != "dir" {
                line.push_str(&format!(" {} {}", arg(name), arg(value)));
            }
        }
        line
    }
}

/// Runs `steps` from the default configuration, in RESP3 if `resp3`; the first
/// difference, if any.
fn first_difference(pair: &mut Pair, ps: &Params, resp3: bool, steps: &[Step]) -> Option<String> {
    let reset = ps.reset_line();
    for c in [&mut pair.a, &mut pair.b] {
        c.call("DISCARD");
        let r = c.call(&reset);
        assert!(r.starts_with(b"+OK"), "reset: {}", r.escape_ascii());
        c.call("CLIENT NO-EVICT on");
        c.call(if resp3 { "HELLO 3" } else { "HELLO 2" });
        c.call("CONFIG RESETSTAT");
    }
    for line in steps {
        if let Some(diff) = compare(pair, line) {
            return Some(diff);
        }
        if line.to_ascii_uppercase().starts_with("CONFIG SET ") {
            let names = set_names(line);
            if !names.is_empty() {
                let get: Vec<String> = names.iter().map(|n| arg(n)).collect();
                let get = format!("CONFIG GET {}", get.join(" "));
                if let Some(diff) = compare(pair, &get) {
                    return Some(format!("after {line}\n{diff}"));
                }
            }
        }
    }
    None
}

/// A campaign of `short` sequences (by default) on both servers started with `config`.
fn run_campaign(name: &str, short: u64, config: &[&str]) {
    let mut pair = Pair::start_with(config);
    let ps = Params::discover(&mut pair);
    let gen = ps.clone();
    campaign(
        name,
        short,
        &mut pair,
        |r| sequence(r, &gen),
        |pair, resp3, steps| first_difference(pair, &ps, resp3, steps),
        |s| s.clone(),
    );
}

#[test]
fn fuzz_config_sequences_against_redis() {
    run_campaign(
        "fuzz_config_sequences_against_redis",
        SHORT,
        &["--bind", "127.0.0.1"],
    );
}

/// The same with protected parameters allowed (`enable-protected-configs yes`): dir and
/// dbfilename are set too (dir only to places that leave each server where it is, or
/// that fail).
#[test]
fn fuzz_config_sequences_with_protected_configs_allowed() {
    run_campaign(
        "fuzz_config_sequences_with_protected_configs_allowed",
        SHORT / 5,
        &["--bind", "127.0.0.1", "--enable-protected-configs", "yes"],
    );
}

/// Regression cases found by the fuzzer (each a minimal sequence; RESP3 where marked),
/// with neighbours of each finding.
#[test]
fn regression_sequences() {
    let cases: &[(&str, bool, &[&str])] = &[
        // Redis reads most values as C strings (up to a NUL); integers, percentages,
        // percentiles and the two sds passwords are read whole.
        (
            "nul_bytes_end_c_string_values",
            false,
            &[
                "CONFIG SET slave-serve-stale-data \"yes\\x00\"",
                "CONFIG SET masteruser \"a\\x00b\" masterauth \"a\\x00b\"",
                "CONFIG SET maxmemory \"5\\x00\"",
                "CONFIG SET hz \"5\\x00\"",
                "CONFIG SET maxmemory-clients \"10%\\x00\"",
                "CONFIG SET notify-keyspace-events \"K\\x00E\"",
                "CONFIG SET save \"3600 1\\x00\"",
                "CONFIG SET save \"\\x00\"",
                "CONFIG SET loglevel \"debug\\x00x\"",
                "CONFIG SET shutdown-on-sigint \"save\\x00 now\"",
                "CONFIG SET oom-score-adj-values \"1\\x00 2 3\"",
                "CONFIG SET latency-tracking-info-percentiles \"50\\x00\"",
                "CONFIG SET cluster-announce-hostname \"a\\x00!\"",
                "CONFIG SET client-output-buffer-limit \"pubsub 1mb\\x00x 0 0\"",
            ],
        ),
        // An alias is a parameter of its own in Redis's table: set with its primary name
        // in one CONFIG SET, it is no duplicate (the last value wins).
        (
            "alias_and_name_are_no_duplicates",
            false,
            &[
                "config set hash-max-listpack-entries 10% crash-log-enabled \"\" hash-max-ziplist-entries 501",
                "CONFIG SET hash-max-ziplist-entries 100 hash-max-listpack-entries 200",
                "CONFIG SET hash-max-listpack-entries 300 hash-max-ziplist-entries 400",
                "CONFIG SET maxmemory 1 MAXMEMORY 2",
                "CONFIG SET slave-read-only no replica-read-only no slave-read-only yes",
            ],
        ),
        // An unknown subcommand is no command Redis finds: no rejected_calls anywhere.
        (
            "unknown_subcommand_counts_no_rejected_call",
            true,
            &[
                "CONFIG NOSUCH a b",
                "CONFIG",
                "CONFIG RESETSTAT x",
                "INFO commandstats",
                "INFO errorstats",
            ],
        ),
        // Values Redis's apply step changes, and what INFO shows of them.
        (
            "applied_values_and_info",
            false,
            &[
                "CONFIG SET RePl-bAcKlOg-sIzE 99",
                "INFO everything",
                "CONFIG SET repl-backlog-size 16383",
                "CONFIG SET repl-backlog-size 16385",
                "CONFIG SET hz 0",
                "INFO everything",
                "CONFIG SET MAXMEMORY 9223372036854775807",
                "INFO everything",
                "CONFIG SET maxmemory 99999999999999999999",
                "INFO everything",
                "CONFIG SET maxmemory 1125899906842624",
                "INFO everything",
                "CONFIG SET maxmemory 2199023255552",
                "INFO everything",
                "CONFIG SET maxmemory 18446744073709551615k",
                "CONFIG SET maxmemory 0",
            ],
        ),
        // Debian's redis-server has no active defragmentation, and neither has rubra.
        (
            "activedefrag_cannot_be_enabled",
            false,
            &[
                "CONFIG SET AcTiVeDeFrAg yes tracking-table-max-keys 1Gb",
                "CONFIG SET activedefrag yes",
                "CONFIG SET activedefrag no",
            ],
        ),
        // INFO latencystats follows latency-tracking and its percentiles list.
        (
            "latencystats_follow_the_configuration",
            true,
            &[
                "CONFIG SET latency-tracking-info-percentiles \"\"",
                "INFO latencystats",
                "CONFIG SET latency-tracking-info-percentiles \"0x10 1e1 50.000 99.9999999\"",
                "INFO latencystats",
                "CONFIG SET latency-tracking-info-percentiles 1e400",
                "CONFIG SET latency-tracking-info-percentiles 1e-400",
                "CONFIG SET latency-tracking-info-percentiles \"inf\"",
                "CONFIG SET latency-tracking-info-percentiles \"nan 1\"",
                "CONFIG SET latency-tracking-info-percentiles \" 1\"",
                "CONFIG SET latency-tracking-info-percentiles 4.9e-324",
                "config set latency-tracking no",
                "INFO latencystats",
            ],
        ),
        // Inside MULTI, Redis refuses every command but EXEC, DISCARD, QUIT and RESET when
        // out of memory (queuing costs memory), not only the deny-OOM ones.
        (
            "oom_refuses_any_queued_command",
            false,
            &[
                "CONFIG SET maxmemory 1",
                "MULTI",
                "CONFIG SET maxclients 19969",
                "CONFIG GET maxmemory",
                "MULTI",
                "EXEC",
                "MULTI",
                "DISCARD",
                "CONFIG SET maxmemory 0",
            ],
        ),
        // A command a script may not call counts a rejected call (known commands only).
        (
            "script_refusals_count_rejected_calls",
            false,
            &[
                "EVAL \"return redis.call('config', 'get', 'maxmemory')\" 0",
                "EVAL \"return redis.pcall('config', 'set', 'maxmemory', '1')\" 0",
                "EVAL \"return redis.pcall('config', 'nosuch')\" 0",
                "EVAL \"return redis.pcall('get')\" 0",
                "EVAL \"return redis.pcall('nosuchcommand')\" 0",
                "INFO commandstats",
                "INFO errorstats",
            ],
        ),
        // maxclients must fit the open-files limit (raised as far as the system allows);
        // near 2^32 the count Redis asks for wraps and fits.
        (
            "maxclients_fits_the_open_files_limit",
            false,
            &[
                "CONFIG SET maxclients 19969",
                "CONFIG SET maxclients 30000",
                "CONFIG SET maxclients 19968",
                "INFO everything",
                "CONFIG SET maxclients 4294967295",
                "CONFIG SET maxclients 4294967264",
                "INFO everything",
                "CONFIG SET maxclients 1000000 hz 20",
                "CONFIG SET maxclients 10000",
            ],
        ),
        // proc-title-template is expanded as Redis's sdstemplate does, with an empty title.
        (
            "proc_title_template_expansion",
            false,
            &[
                "CONFIG SET proc-title-template \"title}\"",
                "CONFIG SET proc-title-template \"{title}\"",
                "CONFIG SET proc-title-template \" {title} {server-mode} \"",
                "CONFIG SET proc-title-template \"{{title}\"",
                "CONFIG SET proc-title-template \"{{\"",
                "CONFIG SET proc-title-template \"{\"",
                "CONFIG SET proc-title-template \"}\"",
                "CONFIG SET proc-title-template \"{unixsocket}\"",
                "CONFIG SET proc-title-template \"{port}\"",
                "CONFIG SET proc-title-template \"{Port}\"",
                "CONFIG SET proc-title-template \"{}\"",
                "CONFIG SET proc-title-template \"{title} {listen-addr} {server-mode}\"",
            ],
        ),
    ];
    let mut pair = Pair::start_with(&["--bind", "127.0.0.1"]);
    let ps = Params::discover(&mut pair);
    for (name, resp3, lines) in cases {
        let steps: Vec<Step> = lines.iter().map(|l| l.to_string()).collect();
        if let Some(diff) = first_difference(&mut pair, &ps, *resp3, &steps) {
            panic!("{name}: {diff}");
        }
    }
}

//! The step generator of `fuzz_config_differential`: CONFIG SET values for every
//! parameter kind (enums, strings, booleans, integers, memory, special forms), CONFIG
//! GET patterns and the other steps.

use super::*;

/// Steps per sequence (one in eight sequences is four times longer).
pub(crate) const SEQ_LEN: usize = 12;

/// Parameters never generated, and why:
/// - port, tls-port, bind: changing them moves the listeners;
/// - tls-*: a change rebuilds the TLS context from files the test does not have;
/// - appendonly: turning it on writes files and starts a rewrite in the background;
/// - watchdog-period: Redis's software watchdog signals the process on a timer.
///
/// dir is generated (CONFIG SET refuses it, protected) but its value is masked, as each
/// server has its own; pidfile, logfile and unixsocket are immutable.
pub(crate) const EXCLUDED: &[&str] = &["port", "tls-port", "bind", "appendonly", "watchdog-period"];

/// Hidden parameters (not in `CONFIG GET *`; an exact name still finds them).
pub(crate) const HIDDEN: &[&str] = &[
    "key-load-delay",
    "rdb-key-save-delay",
    "use-exit-on-panic",
    "loading-process-events-interval-bytes",
];

/// Parameters whose values depend on the server's place: names compared, values not.
pub(crate) const MASKED: &[&str] = &["port", "dir", "bind"];

/// The enum parameters and their names (Redis 7.0's tables).
pub(crate) const ENUMS: &[(&str, &[&str])] = &[
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
pub(crate) const STRINGS: &[&str] = &[
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

pub(crate) const BOOLS: &[&str] = &[
    "yes", "no", "YES", "No", "yEs", "1", "0", "true", "false", "", " yes", "yes ", "y", "on",
    "yes\x00", "no\x00x",
];

pub(crate) const INTS: &[&str] = &[
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

pub(crate) const STRING_VALUES: &[&str] = &[
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
pub(crate) const EVENT_CHARS: &[&str] = &[
    "K", "E", "A", "g", "$", "l", "s", "h", "z", "x", "e", "t", "m", "d", "n", "Q", "k", " ",
];

/// A value token as a redis-cli argument: double-quoted, with `\`, `"` and bytes outside
/// printable ASCII escaped (\xHH).
pub(crate) fn arg(s: &str) -> String {
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
pub(crate) struct Params {
    /// Every parameter generated, sorted, with its default as redis-server shows it.
    pub(crate) all: Vec<(String, String)>,
    /// Those CONFIG SET can change (the others only give errors): reset before each
    /// sequence.
    pub(crate) modifiable: Vec<String>,
}

pub(crate) fn enum_names(name: &str) -> Option<&'static [&'static str]> {
    ENUMS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// A value for an enum parameter: a name (odd case now and then), several for the
/// multi-word ones, or something that is no name.
pub(crate) fn enum_value(r: &mut Rng, names: &[&'static str], multi: bool) -> String {
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

pub(crate) fn save_value(r: &mut Rng) -> String {
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

pub(crate) fn output_limit_value(r: &mut Rng) -> String {
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

pub(crate) fn events_value(r: &mut Rng) -> String {
    let n = r.below(5);
    (0..n).map(|_| p(r, EVENT_CHARS)).collect()
}

pub(crate) fn oom_values(r: &mut Rng) -> String {
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

pub(crate) fn percentiles_value(r: &mut Rng) -> String {
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
pub(crate) fn value_for(r: &mut Rng, name: &str, default: &str) -> String {
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
pub(crate) fn unsafe_value(name: &str, value: &str) -> bool {
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
pub(crate) fn memory(value: &str) -> Option<u64> {
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
pub(crate) const ALIASES: &[(&str, &str)] = &[
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
pub(crate) type Step = String;

/// CONFIG GET's (name, value) pairs.
pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) fn set_step(r: &mut Rng, ps: &Params) -> Step {
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

pub(crate) const GLOBS: &[&str] = &[
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

pub(crate) fn get_step(r: &mut Rng, ps: &Params) -> Step {
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

pub(crate) fn other_step(r: &mut Rng) -> Step {
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

pub(crate) fn step(r: &mut Rng, ps: &Params) -> Step {
    match r.below(10) {
        0..=5 => set_step(r, ps),
        6 | 7 => get_step(r, ps),
        _ => other_step(r),
    }
}

pub(crate) fn sequence(r: &mut Rng, ps: &Params) -> (bool, Vec<Step>) {
    let resp3 = r.one_in(2);
    // Now and then a longer one, for states that take many steps to reach.
    let len = if r.one_in(8) { SEQ_LEN * 4 } else { SEQ_LEN };
    (resp3, (0..len).map(|_| step(r, ps)).collect())
}

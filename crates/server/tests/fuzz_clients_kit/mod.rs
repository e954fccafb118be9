//! The generator of `fuzz_clients_differential` (pub/sub, writes and reads, blocking
//! commands, tracking, CLIENT, notifications, MULTI blocks over several connections), and
//! through `compare` the normalisation and comparison of what each connection received.

mod compare;
use super::*;
pub(crate) use compare::*;

pub(crate) const CHANNELS: &[&str] = &[
    "ch1",
    "ch2",
    "news.a",
    "news.b",
    "x",
    "__redis__:invalidate",
];
pub(crate) const PATTERNS: &[&str] = &[
    "ch*",
    "news.*",
    "*",
    "ch?",
    "[cn]*",
    "__key*__:*",
    "__keyspace@0__:*",
    "__keyevent@0__:*",
    "n\\*",
];
pub(crate) const MESSAGES: &[&str] = &["hello", "", "1", "a b"];
pub(crate) const LIST_KEYS: &[&str] = &["l1", "l2"];
pub(crate) const ZSET_KEYS: &[&str] = &["z1", "z2"];
pub(crate) const STREAM_KEYS: &[&str] = &["s1", "s2"];
/// Keys read for tracking and written by plain string commands.
pub(crate) const PLAIN_KEYS: &[&str] = &["a1", "a2", "b1", "ab", "l1", "z1"];
pub(crate) const PREFIXES: &[&str] = &["a", "ab", "b", "", "l", "x"];
pub(crate) const NOTIFY_FLAGS: &[&str] = &[
    "",
    "K",
    "E",
    "KEA",
    "Kg",
    "E$",
    "Kl",
    "Elz",
    "KEx",
    "Ke",
    "Kt",
    "Ks",
    "Kh",
    "Km",
    "Kd",
    "Kn",
    "A",
    "KA",
    "EA",
    "g$lshzxetd",
    "KEg$lshzxetdmn",
    "Q",
    "Kq",
    "KElg",
    "Kz",
    "Et",
];

pub(crate) fn any_key(r: &mut Rng) -> &'static str {
    match r.below(4) {
        0 => p(r, LIST_KEYS),
        1 => p(r, ZSET_KEYS),
        2 => p(r, STREAM_KEYS),
        _ => p(r, PLAIN_KEYS),
    }
}

/// Another connection's id placeholder, sometimes one that names no client.
pub(crate) fn conn_ref(r: &mut Rng) -> String {
    if r.one_in(8) {
        "{9}".to_string()
    } else {
        format!("{{{}}}", r.below(NCONN))
    }
}

pub(crate) fn names(r: &mut Rng, from: &[&'static str], most: usize) -> String {
    let n = r.below(most + 1);
    (0..n).map(|_| p(r, from)).collect::<Vec<_>>().join(" ")
}

pub(crate) fn pubsub_cmd(r: &mut Rng) -> String {
    match r.below(16) {
        0 | 1 => format!("SUBSCRIBE {}", names(r, CHANNELS, 3)),
        2 => format!("UNSUBSCRIBE {}", names(r, CHANNELS, 2)),
        3 | 4 => format!("PSUBSCRIBE {}", names(r, PATTERNS, 3)),
        5 => format!("PUNSUBSCRIBE {}", names(r, PATTERNS, 2)),
        6 => format!("SSUBSCRIBE {}", names(r, CHANNELS, 2)),
        7 => format!("SUNSUBSCRIBE {}", names(r, CHANNELS, 2)),
        8..=10 => format!("PUBLISH {} {}", p(r, CHANNELS), q(p(r, MESSAGES))),
        11 => format!("SPUBLISH {} {}", p(r, CHANNELS), q(p(r, MESSAGES))),
        12 => format!("PUBSUB CHANNELS {}", opt(r, PATTERNS)),
        13 => format!(
            "PUBSUB {} {}",
            p(r, &["NUMSUB", "SHARDNUMSUB"]),
            names(r, CHANNELS, 3)
        ),
        14 => format!(
            "PUBSUB {}",
            p(
                r,
                &[
                    "NUMPAT",
                    "SHARDCHANNELS",
                    "SHARDCHANNELS ch*",
                    "NUMPAT x",
                    "NOPE"
                ]
            )
        ),
        _ => p(
            r,
            &["PING", "PING hi", "PING a b", "ECHO e", "GET a1", "QUIT x"],
        )
        .to_string(),
    }
}

/// A write that can serve blocked clients or invalidate tracked keys.
pub(crate) fn write_cmd(r: &mut Rng) -> String {
    match r.below(14) {
        0 | 1 => format!(
            "{} {} {}",
            p(r, &["LPUSH", "RPUSH", "LPUSHX"]),
            p(r, LIST_KEYS),
            (0..r.below(2) + 1)
                .map(|_| p(r, &["x", "y", "1"]))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        2 => format!("ZADD {} {} m{}", p(r, ZSET_KEYS), r.below(3), r.below(3)),
        3 => format!("XADD {} {}-1 f v", p(r, STREAM_KEYS), r.below(5) + 1),
        // Never `*`: its id is the clock.
        4 => format!("XADD {} {}-* f v", p(r, STREAM_KEYS), r.below(5) + 1),
        5 => format!("SET {} {}", any_key(r), p(r, MESSAGES).replace(' ', "_")),
        6 => format!("DEL {} {}", any_key(r), any_key(r)),
        7 => format!("INCR {}", p(r, PLAIN_KEYS)),
        8 => format!("RENAME {} {}", any_key(r), any_key(r)),
        9 => format!("LMOVE {} {} LEFT RIGHT", p(r, LIST_KEYS), p(r, LIST_KEYS)),
        10 => p(r, &["FLUSHALL", "FLUSHDB", "FLUSHALL ASYNC", "SWAPDB 0 1"]).to_string(),
        11 => format!("EXPIRE {} 0", any_key(r)),
        12 => format!("HSET {} f v", p(r, PLAIN_KEYS)),
        _ => format!("SADD {} m", p(r, PLAIN_KEYS)),
    }
}

pub(crate) fn read_cmd(r: &mut Rng) -> String {
    match r.below(5) {
        0 | 1 => format!("GET {}", p(r, PLAIN_KEYS)),
        2 => format!("MGET {} {}", p(r, PLAIN_KEYS), p(r, PLAIN_KEYS)),
        3 => format!("LRANGE {} 0 -1", p(r, LIST_KEYS)),
        _ => format!("EXISTS {}", any_key(r)),
    }
}

/// A blocking command (timeout 0, or an invalid one).
pub(crate) fn blocking_cmd(r: &mut Rng) -> String {
    let t = if r.one_in(12) {
        p(r, &["-1", "x", "0.0"])
    } else {
        "0"
    };
    match r.below(9) {
        0 | 1 => format!(
            "{} {} {t}",
            p(r, &["BLPOP", "BRPOP"]),
            names(r, LIST_KEYS, 2)
        ),
        2 => format!(
            "BLMOVE {} {} {} {} {t}",
            p(r, LIST_KEYS),
            p(r, LIST_KEYS),
            p(r, &["LEFT", "RIGHT"]),
            p(r, &["LEFT", "RIGHT"])
        ),
        3 => format!(
            "BLMPOP {t} 2 {} {} {}",
            p(r, LIST_KEYS),
            p(r, LIST_KEYS),
            p(r, &["LEFT", "RIGHT COUNT 2"])
        ),
        4 => format!(
            "{} {} {t}",
            p(r, &["BZPOPMIN", "BZPOPMAX"]),
            names(r, ZSET_KEYS, 2)
        ),
        5 => format!(
            "BZMPOP {t} 1 {} {}",
            p(r, ZSET_KEYS),
            p(r, &["MIN", "MAX COUNT 2"])
        ),
        6 => format!(
            "XREAD BLOCK {t} STREAMS {} {}",
            p(r, STREAM_KEYS),
            p(r, &["$", "0", "2-1", "+"])
        ),
        7 => format!(
            "XREADGROUP GROUP g c{} BLOCK {t} {} STREAMS {} {}",
            r.below(2),
            opt(r, &["NOACK", "COUNT 1"]),
            p(r, STREAM_KEYS),
            p(r, &[">", ">", "0"])
        ),
        _ => format!("BRPOPLPUSH {} {} {t}", p(r, LIST_KEYS), p(r, LIST_KEYS)),
    }
}

pub(crate) fn tracking_cmd(r: &mut Rng) -> String {
    match r.below(10) {
        0..=3 => {
            let mut s = format!(
                "CLIENT TRACKING {}",
                p(r, &["ON", "ON", "OFF", "on", "MAYBE"])
            );
            if r.one_in(3) {
                s += &format!(" REDIRECT {}", conn_ref(r));
            }
            if r.one_in(3) {
                s += " BCAST";
            }
            for _ in 0..r.below(3) {
                if r.one_in(2) {
                    s += &format!(" PREFIX \"{}\"", p(r, PREFIXES));
                }
            }
            match r.below(5) {
                0 => s += " OPTIN",
                1 => s += " OPTOUT",
                2 => s += " OPTIN OPTOUT",
                _ => {}
            }
            if r.one_in(3) {
                s += " NOLOOP";
            }
            s
        }
        4 => format!("CLIENT CACHING {}", p(r, &["YES", "NO", "maybe", "yes"])),
        5 => "CLIENT GETREDIR".to_string(),
        6 => "CLIENT TRACKINGINFO".to_string(),
        7 => "SUBSCRIBE __redis__:invalidate".to_string(),
        _ => read_cmd(r),
    }
}

pub(crate) fn client_cmd(r: &mut Rng) -> String {
    match r.below(12) {
        0 => format!(
            "CLIENT SETNAME {}",
            p(r, &["n1", "n2", "\"\"", "\"a b\"", "\"a\\nb\"", "é"])
        ),
        1 => "CLIENT GETNAME".to_string(),
        2 => format!("CLIENT NO-EVICT {}", p(r, &["ON", "OFF", "on", "maybe"])),
        3 | 4 => "CLIENT INFO".to_string(),
        5 => "CLIENT ID".to_string(),
        6 => format!(
            "CLIENT UNBLOCK {} {}",
            conn_ref(r),
            opt(r, &["TIMEOUT", "ERROR", "x"])
        ),
        7 => format!("CLIENT REPLY {}", p(r, &["maybe", "ON"])),
        8 => "CLIENT LIST".to_string(),
        9 => format!("CLIENT LIST ID {}", conn_ref(r)),
        10 => format!("SELECT {}", r.below(2)),
        _ => format!(
            "CLIENT {}",
            p(
                r,
                &[
                    "NOPE",
                    "TRACKING",
                    "CACHING",
                    "UNBLOCK",
                    "UNBLOCK x",
                    "GETREDIR x"
                ]
            )
        ),
    }
}

pub(crate) fn notify_cmd(r: &mut Rng) -> String {
    if r.one_in(4) {
        "CONFIG GET notify-keyspace-events".to_string()
    } else {
        format!(
            "CONFIG SET notify-keyspace-events \"{}\"",
            p(r, NOTIFY_FLAGS)
        )
    }
}

/// Some commands in one MULTI (or a MULTI that fails).
pub(crate) fn transaction(r: &mut Rng) -> Vec<String> {
    let mut v = vec!["MULTI".to_string()];
    for _ in 0..r.below(4) + 1 {
        v.push(match r.below(5) {
            0 => blocking_cmd(r),
            // Not PUBSUB CHANNELS, nor UNSUBSCRIBE / SUNSUBSCRIBE without a channel: their
            // (random-order) listings are sorted only at top level, not inside EXEC's array.
            1 => {
                let c = pubsub_cmd(r).replace("CHANNELS", "NUMPAT");
                if c == "UNSUBSCRIBE " || c == "SUNSUBSCRIBE " {
                    format!("{c}{}", p(r, CHANNELS))
                } else {
                    c
                }
            }
            2 => read_cmd(r),
            _ => write_cmd(r),
        });
    }
    v.push(p(r, &["EXEC", "EXEC", "EXEC", "DISCARD"]).to_string());
    v
}

/// One step's commands on one connection.
pub(crate) fn step(r: &mut Rng) -> Vec<String> {
    match r.below(40) {
        0..=7 => vec![pubsub_cmd(r)],
        8..=13 => {
            let mut v = vec![write_cmd(r)];
            if r.one_in(4) {
                v.push(write_cmd(r));
            }
            v
        }
        14..=18 => vec![blocking_cmd(r)],
        19..=24 => vec![tracking_cmd(r)],
        25..=27 => vec![client_cmd(r)],
        28 | 29 => transaction(r),
        30 => vec![notify_cmd(r)],
        31 => vec![p(r, &["HELLO 3", "HELLO 2", "HELLO 3", "HELLO 4", "HELLO x"]).to_string()],
        32 => vec!["RESET".to_string()],
        33 => vec![
            "CLIENT REPLY SKIP".to_string(),
            p(r, &["PING", "GET a1", "SUBSCRIBE ch1", "LPUSH l1 s"]).to_string(),
        ],
        34 => {
            let mut v = vec!["CLIENT REPLY OFF".to_string()];
            for _ in 0..r.below(3) {
                v.push(match r.below(3) {
                    // Not QUIT: Redis 7.0 closes a client after its QUIT reply is written,
                    // which under CLIENT REPLY OFF never happens; the connection then hangs,
                    // ignoring commands (rubra closes it).
                    0 => pubsub_cmd(r).replace("QUIT x", "PING"),
                    1 => read_cmd(r),
                    _ => write_cmd(r),
                });
            }
            v.push("CLIENT REPLY ON".to_string());
            v
        }
        35 => vec![format!(
            "XGROUP CREATE {} g {} MKSTREAM",
            p(r, STREAM_KEYS),
            p(r, &["$", "0"])
        )],
        36 => vec![read_cmd(r), read_cmd(r)],
        37 => vec![format!("CLIENT KILL ID {}", conn_ref(r))],
        _ => vec![read_cmd(r)],
    }
}

pub(crate) fn sequence(r: &mut Rng) -> (bool, Vec<Step>) {
    let resp3 = r.one_in(2);
    let mut seq = Vec::with_capacity(SEQ_LEN);
    if r.one_in(3) {
        // Keyspace notifications are on from the start in a third of the sequences.
        seq.push(Step {
            conn: 0,
            lines: vec![format!(
                "CONFIG SET notify-keyspace-events \"{}\"",
                p(r, &["KEA", "KEA", "Elgz", "Kg$x"])
            )],
        });
        seq.push(Step {
            conn: r.below(NCONN),
            lines: vec!["PSUBSCRIBE __key*__:*".to_string()],
        });
    }
    while seq.len() < SEQ_LEN {
        seq.push(Step {
            conn: r.below(NCONN),
            lines: step(r),
        });
    }
    (resp3, seq)
}

//! The generator of `fuzz_acl_differential`: ACL SETUSER rules (passwords, keys,
//! channels, commands, selectors), the ACL subcommands, AUTH / HELLO, scripts and the
//! commands a user runs, alone or in MULTI blocks.

use super::*;

/// User names the generator sets, deletes and logs in as ("admin" is never one).
pub(crate) const USERS: &[&str] = &["u1", "u2", "u3", "u1", "u2", "default"];
/// Passwords; the hashes below are their SHA-256.
pub(crate) const PASSWORDS: &[&str] = &["p1", "p2", "p1", "wrong", "\"\""];
pub(crate) const HASH_P1: &str = "f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a";
pub(crate) const HASH_P2: &str = "3946ca64ff78d93ca61090a437cbb6b3d2ca0d488f5f9ccf3059608368b27693";
/// Keys the users' commands name (the patterns below match some of them).
pub(crate) const KEYS: &[&str] = &[
    "k1", "k2", "r1", "r2", "w1", "w2", "x1", "s1", "l1", "other",
];
/// Keys no command writes (MIGRATE of them answers NOKEY).
pub(crate) const UNWRITTEN: &[&str] = &["k9", "r9", "w9", "m1"];
/// Channels published and subscribed to.
pub(crate) const CHANNELS: &[&str] = &["ch1", "ch2", "news.a", "other", "ch*"];
/// Channel patterns PSUBSCRIBE sends.
pub(crate) const PATTERNS: &[&str] = &["ch*", "news.*", "*", "ch1", "c[h]*"];

/// Password and hash rules, valid and not.
pub(crate) fn password_rule(r: &mut Rng) -> String {
    let h = if r.one_in(2) { HASH_P1 } else { HASH_P2 };
    match r.below(12) {
        0 => format!(">{}", p(r, &["p1", "p2"])),
        1 => format!("<{}", p(r, &["p1", "p2", "nope"])),
        2 => format!("#{h}"),
        3 => format!("!{h}"),
        4 => format!("#{}", h.to_ascii_uppercase()),
        5 => format!("#{}", &h[..10]),
        6 => format!("#{}zz", &h[..62]),
        7 => format!("!{}", &h[..63]),
        8 => p(r, &["nopass", "resetpass"]).to_string(),
        9 => ">".to_string(),
        10 => "<".to_string(),
        _ => format!(">{}", p(r, &["p1", "p1"])),
    }
}

/// Key pattern rules (plain, %R, %W, %RW, malformed).
pub(crate) fn key_rule(r: &mut Rng) -> String {
    match r.below(14) {
        0..=2 => format!("~{}", p(r, &["k*", "s*", "l*", "*", "x?", "k1"])),
        3 | 4 => format!("%R~{}", p(r, &["r*", "k*", "*"])),
        5 | 6 => format!("%W~{}", p(r, &["w*", "k*", "*"])),
        7 => format!("%RW~{}", p(r, &["x*", "w*"])),
        8 => format!(
            "%{}~x*",
            p(r, &["r", "w", "WR", "RR", "X", "", "R W", "Rw"])
        ),
        9 => p(r, &["%R", "%R~", "~", "%"]).to_string(),
        10 => "allkeys".to_string(),
        11 => "resetkeys".to_string(),
        _ => format!("~{}", p(r, &["r*", "w*"])),
    }
}

/// Channel rules.
pub(crate) fn channel_rule(r: &mut Rng) -> String {
    match r.below(6) {
        0..=2 => format!("&{}", p(r, &["ch*", "ch1", "news.*", "*", "ch[12]"])),
        3 => "allchannels".to_string(),
        4 => "resetchannels".to_string(),
        _ => "&".to_string(),
    }
}

/// Command, subcommand, first-arg and category rules, valid and not.
pub(crate) fn command_rule(r: &mut Rng) -> String {
    let sign = p(r, &["+", "-", "+", "+"]);
    match r.below(14) {
        0..=3 => format!(
            "{sign}{}",
            p(
                r,
                &[
                    "get",
                    "set",
                    "mget",
                    "del",
                    "lpush",
                    "sort",
                    "eval",
                    "publish",
                    "subscribe",
                    "psubscribe",
                    "multi",
                    "exec",
                    "ping",
                    "auth",
                    "hello",
                    "acl",
                    "copy",
                    "rename",
                    "lmove",
                    "command",
                    "echo",
                    "select",
                    "object",
                    "unsubscribe",
                    "migrate",
                    "sort_ro",
                    "client",
                    "config",
                ]
            )
        ),
        4 | 5 => format!(
            "{sign}@{}",
            p(
                r,
                &[
                    "read",
                    "write",
                    "all",
                    "string",
                    "pubsub",
                    "keyspace",
                    "dangerous",
                    "scripting",
                    "connection",
                    "list",
                    "admin",
                    "fast",
                    "slow",
                    "transaction",
                    "nosuch",
                ]
            )
        ),
        6 | 7 => format!(
            "{sign}{}",
            p(
                r,
                &[
                    "config|get",
                    "config|set",
                    "client|setname",
                    "client|getname",
                    "object|encoding",
                    "acl|whoami",
                    "acl|getuser",
                    "acl|log",
                    "command|getkeys",
                    "config|nosuch",
                    "get|x",
                ]
            )
        ),
        8 => format!(
            "{sign}{}",
            p(
                r,
                &[
                    "select|0",
                    "select|1",
                    "acl|whoami|x",
                    "config|get|maxmemory"
                ]
            )
        ),
        9 => p(r, &["allcommands", "nocommands", "+@all", "-@all"]).to_string(),
        10 => format!("{sign}{}", p(r, &["nosuchcmd", "", "@", "|"])),
        11 => {
            let name = format!("{sign}{}", p(r, &["get", "@read", "config|get"]));
            cased(r, &name)
        }
        _ => format!("{sign}{}", p(r, &["get", "set", "ping", "acl"])),
    }
}

/// A selector: `(rules)` as one argument, sometimes spread over several or unbalanced.
pub(crate) fn selector_rule(r: &mut Rng) -> String {
    let n = 1 + r.below(3);
    let inner: Vec<String> = (0..n)
        .map(|_| match r.below(3) {
            0 => key_rule(r),
            1 => channel_rule(r),
            _ => command_rule(r),
        })
        .collect();
    match r.below(6) {
        0 => format!("( {} )", inner.join(" ")),
        1 => format!("({}", inner.join(" ")),
        2 => "()".to_string(),
        _ => format!("\"({})\"", inner.join(" ")),
    }
}

/// One SETUSER rule of any kind.
pub(crate) fn rule(r: &mut Rng) -> String {
    let s = match r.below(20) {
        0..=2 => p(r, &["on", "off", "on"]).to_string(),
        3..=5 => password_rule(r),
        6..=8 => key_rule(r),
        9 | 10 => channel_rule(r),
        11..=14 => command_rule(r),
        15 => selector_rule(r),
        16 => p(
            r,
            &[
                "clearselectors",
                "reset",
                "sanitize-payload",
                "skip-sanitize-payload",
            ],
        )
        .to_string(),
        17 => p(
            r,
            &[
                "bogus",
                "\"\"",
                "ON",
                "NoPass",
                "AllKeys",
                "RESETCHANNELS",
                "Off",
            ],
        )
        .to_string(),
        _ => command_rule(r),
    };
    if s.contains(' ') && !s.starts_with('"') && !s.starts_with('(') {
        format!("\"{s}\"")
    } else {
        s
    }
}

/// A user who can log in and has something to be checked: on, a password, some rules.
pub(crate) fn usable_setuser(r: &mut Rng, name: &str) -> String {
    let n = r.below(5);
    let rules: Vec<String> = (0..n).map(|_| rule(r)).collect();
    format!(
        "ACL SETUSER {name} on >{} {} {} {} {}",
        p(r, &["p1", "p2"]),
        key_rule(r),
        channel_rule(r),
        command_rule(r),
        rules.join(" ")
    )
}

/// ACL SETUSER with a random rule list.
pub(crate) fn setuser(r: &mut Rng) -> String {
    let name = match r.below(12) {
        0 => "\"u 1\"".to_string(),
        1 => "\"\"".to_string(),
        _ => p(r, USERS).to_string(),
    };
    if r.one_in(3) {
        return usable_setuser(r, &name);
    }
    let n = r.below(6);
    let rules: Vec<String> = (0..n).map(|_| rule(r)).collect();
    format!("{} {name} {}", cased(r, "ACL SETUSER"), rules.join(" "))
}

/// A command line for ACL DRYRUN or COMMAND GETKEYS (without the user).
pub(crate) fn dry_command(r: &mut Rng) -> String {
    let (a, b) = (p(r, KEYS), p(r, KEYS));
    match r.below(24) {
        0 => format!("get {a}"),
        1 => format!("set {a} v"),
        2 => format!("lmove {a} {b} left right"),
        3 => format!("copy {a} {b}"),
        4 => format!("sort {a} by w* get r* store {b}"),
        5 => format!("sort_ro {a}"),
        6 => format!("publish {} m", p(r, CHANNELS)),
        7 => format!("subscribe {} {}", p(r, CHANNELS), p(r, CHANNELS)),
        8 => format!("psubscribe {}", p(r, PATTERNS)),
        9 => "config get maxmemory".to_string(),
        10 => format!("migrate 127.0.0.1 1 \"\" 0 100 keys {a} {b}"),
        11 => format!("eval \"return 1\" 1 {a}"),
        12 => format!("mset {a} 1 {b} 2"),
        13 => p(r, &["ping", "nosuch x", "get", "config nosuch", "select 1"]).to_string(),
        16 => format!("set {a} v get"),
        17 => format!(
            "bitfield {a} {}",
            p(
                r,
                &[
                    "get u8 0",
                    "set u8 0 1",
                    "overflow wrap get u8 0",
                    "incrby u8 0 1",
                    "get u8"
                ]
            )
        ),
        18 => format!("smove {a} {b} m"),
        19 => format!("zrangestore {a} {b} 0 -1"),
        20 => format!("lcs {a} {b}"),
        21 => format!("getdel {a}"),
        22 => format!("sintercard 2 {a} {b}"),
        23 => format!("spublish {} m", p(r, CHANNELS)),
        14 => format!("xread streams {a} {b} 0 0"),
        _ => format!("rename {a} {b}"),
    }
}

/// An ACL subcommand other than SETUSER.
pub(crate) fn acl_other(r: &mut Rng) -> String {
    match r.below(22) {
        0 | 1 => format!(
            "ACL GETUSER {}",
            p(r, &["u1", "u2", "u3", "default", "nobody"])
        ),
        2 => "ACL LIST".to_string(),
        3 => "ACL USERS".to_string(),
        4 => "ACL WHOAMI".to_string(),
        5 => "ACL CAT".to_string(),
        6 => format!(
            "ACL CAT {}",
            p(
                r,
                &["read", "pubsub", "keyspace", "nosuch", "READ", "connection"]
            )
        ),
        7 | 8 => format!(
            "ACL DELUSER {}",
            p(
                r,
                &["u1", "u2", "u3", "u1 u2", "nobody", "u3 default", "u1 u1"]
            )
        ),
        9..=11 => format!(
            "ACL DRYRUN {} {}",
            p(r, &["u1", "u2", "u3", "default", "nobody"]),
            dry_command(r)
        ),
        12 => format!(
            "ACL GENPASS {}",
            p(
                r,
                &["", "1", "4", "5", "255", "4096", "4097", "0", "-1", "x"]
            )
        ),
        13..=15 => format!(
            "ACL LOG {}",
            p(r, &["", "", "1", "2", "0", "-1", "x", "RESET"])
        ),
        16 => "ACL HELP".to_string(),
        17 => p(
            r,
            &[
                "ACL",
                "ACL NOSUCH",
                "ACL GETUSER",
                "ACL GETUSER a b",
                "ACL SETUSER",
                "ACL DELUSER",
                "ACL DRYRUN u1",
                "ACL WHOAMI x",
                "ACL USERS x",
                "ACL LIST x",
                "ACL CAT a b",
                "ACL GENPASS 1 2",
                "ACL LOG 1 2",
                "ACL HELP x",
            ],
        )
        .to_string(),
        18 => cased(r, "acl whoami"),
        19 => format!("CONFIG SET acllog-max-len {}", p(r, &["1", "2", "128"])),
        _ => format!("ACL GETUSER {}", p(r, &["u1", "u2"])),
    }
}

/// AUTH or HELLO AUTH as a generated user (or a wrong one).
pub(crate) fn auth(r: &mut Rng) -> String {
    let (u, pw) = (p(r, USERS), p(r, PASSWORDS));
    match r.below(8) {
        0..=3 => format!("AUTH {u} {pw}"),
        4 => format!("AUTH {pw}"),
        5 => format!("HELLO {} AUTH {u} {pw}", p(r, &["2", "3"])),
        6 => format!("AUTH nobody {pw}"),
        _ => p(r, &["AUTH", "AUTH a b c", "HELLO 3 AUTH u1", "RESET"]).to_string(),
    }
}

/// EVAL of a script calling a command (redis.call or pcall) that may be denied.
pub(crate) fn eval(r: &mut Rng) -> String {
    let k = p(r, KEYS);
    let call = p(r, &["call", "pcall"]);
    match r.below(6) {
        0 => format!("EVAL \"return redis.{call}('get',KEYS[1])\" 1 {k}"),
        1 => format!("EVAL \"return redis.{call}('set',KEYS[1],'v')\" 1 {k}"),
        2 => format!(
            "EVAL \"return redis.{call}('publish','{}','m')\" 0",
            p(r, CHANNELS)
        ),
        3 => format!("EVAL \"return redis.{call}('config','get','maxmemory')\" 0"),
        4 => format!(
            "EVAL \"return redis.acl_check_cmd('{}','{k}')\" 0",
            p(r, &["get", "set", "config", "nosuch"])
        ),
        _ => "EVAL \"return redis.call('ping')\" 0".to_string(),
    }
}

/// A command a user runs: keys, channels, no keys, several keys.
pub(crate) fn user_command(r: &mut Rng) -> String {
    let (a, b) = (p(r, KEYS), p(r, KEYS));
    match r.below(37) {
        0 | 1 => format!("GET {a}"),
        2 | 3 => format!("SET {a} v"),
        4 => format!("MGET {a} {b}"),
        5 => format!("MSET {a} 1 {b} 2"),
        6 => format!("DEL {a} {b}"),
        7 => format!("LPUSH {a} x"),
        8 => format!("LMOVE {a} {b} LEFT RIGHT"),
        9 => format!("COPY {a} {b}"),
        10 => format!("RENAME {a} {b}"),
        11 => format!(
            "SORT {a} {}",
            p(
                r,
                &[
                    "",
                    "BY w*",
                    "GET r*",
                    "BY nosort",
                    "GET #",
                    "STORE x1",
                    "BY k*->f"
                ]
            )
        ),
        12 => format!("SORT_RO {a} {}", p(r, &["", "BY w*", "GET r*"])),
        13 => format!("OBJECT ENCODING {a}"),
        14 => p(
            r,
            &[
                "PING",
                "ECHO hi",
                "DBSIZE",
                "SELECT 1",
                "SELECT 0",
                "CONFIG GET maxmemory",
                "CLIENT SETNAME n",
                "CLIENT GETNAME",
                "ACL WHOAMI",
                "ACL LOG 1",
                "CONFIG SET maxmemory 0",
                "INFO keyspace",
            ],
        )
        .to_string(),
        15 | 16 => format!("PUBLISH {} m", p(r, CHANNELS)),
        17 => format!("SPUBLISH {} m", p(r, CHANNELS)),
        18 => format!("SUBSCRIBE {} {}", p(r, CHANNELS), p(r, CHANNELS)),
        19 => format!("PSUBSCRIBE {}", p(r, PATTERNS)),
        20 => format!("SSUBSCRIBE {}", p(r, CHANNELS)),
        21 => p(
            r,
            &[
                "UNSUBSCRIBE",
                "PUNSUBSCRIBE",
                "SUNSUBSCRIBE",
                "UNSUBSCRIBE ch1",
            ],
        )
        .to_string(),
        22 | 23 => eval(r),
        24 => format!("COMMAND GETKEYS {}", dry_command(r)),
        // Keys never written (NOKEY without connecting) or any keys: a key that exists is
        // sent to a port that refuses the connection (IOERR ... writing to target).
        25 => {
            let ks = if r.one_in(2) { UNWRITTEN } else { KEYS };
            format!(
                "MIGRATE 127.0.0.1 1 \"\" 0 100 KEYS {} {}",
                p(r, ks),
                p(r, ks)
            )
        }
        26 => format!("XREAD STREAMS {a} {b} 0 0"),
        27 => format!("BITOP AND {a} {b} {}", p(r, KEYS)),
        28 => format!("ZUNIONSTORE {a} 2 {b} {}", p(r, KEYS)),
        29 => format!("SET {a} v GET"),
        30 => format!(
            "BITFIELD {a} {}",
            p(r, &["GET u8 0", "SET u8 0 1", "OVERFLOW SAT GET u8 0"])
        ),
        31 => format!("BITFIELD_RO {a} GET u8 0"),
        32 => format!("SMOVE {a} {b} m"),
        33 => format!("EVAL_RO \"return redis.call('get',KEYS[1])\" 1 {a}"),
        34 => format!("GETDEL {a}"),
        35 => format!("SORT {a} BY {} STORE {b}", p(r, &["nosort", "w*", "k*"])),
        _ => format!("EXISTS {a} {b}"),
    }
}

/// MULTI, a few commands (some may be denied), then EXEC or DISCARD.
pub(crate) fn transaction(r: &mut Rng) -> Vec<String> {
    let mut lines = vec!["MULTI".to_string()];
    while lines.len() < 2 + r.below(3) {
        // No PUBLISH inside: where a connection's own messages stand in EXEC's reply is
        // the clients fuzzer's known deviation. No UNSUBSCRIBE without arguments either:
        // its channels come in hash order, which is normalised only outside EXEC.
        let line = user_command(r);
        let unordered = line.ends_with("UNSUBSCRIBE");
        if !line.to_ascii_lowercase().contains("publish") && !unordered {
            lines.push(line);
        }
    }
    lines.push(p(r, &["EXEC", "EXEC", "DISCARD"]).to_string());
    lines
}

/// One step's commands.
pub(crate) fn step(r: &mut Rng) -> Vec<String> {
    match r.below(20) {
        0..=4 => vec![setuser(r)],
        5..=8 => vec![acl_other(r)],
        9..=11 => vec![auth(r)],
        12 => transaction(r),
        _ => vec![user_command(r)],
    }
}

/// A sequence: its protocol and steps. It starts by creating a user or two, so that
/// logins and checks have something to find.
pub(crate) fn sequence(r: &mut Rng) -> (bool, Vec<Step>) {
    let resp3 = r.one_in(2);
    let mut steps = Vec::new();
    for name in ["u1", "u2"].iter().take(1 + r.below(2)) {
        steps.push(Step {
            conn: 0,
            lines: vec![usable_setuser(r, name)],
        });
    }
    steps.push(Step {
        conn: 1 + r.below(2),
        lines: vec![format!(
            "AUTH {} {}",
            p(r, &["u1", "u2"]),
            p(r, &["p1", "p2"])
        )],
    });
    let n = 4 + r.below(SEQ_LEN - 4);
    for _ in 0..n {
        let lines = step(r);
        // ACL SETUSER / DELUSER only from connection 0, which never subscribes: Redis
        // frees a subscribed client that loses its channels at once, and doing that to
        // the client running the command crashes redis-server 7.0. Other ACL subcommands
        // mostly from connection 0 too.
        let first = lines[0].to_ascii_uppercase();
        let changes_users = first.starts_with("ACL SETUSER") || first.starts_with("ACL DELUSER");
        let subscribes = lines.iter().any(|l| l.contains("SUBSCRIBE"));
        let admin = first.starts_with("ACL") || first.starts_with("CONFIG SET ACLLOG");
        let conn = if changes_users || (admin && !r.one_in(4)) {
            0
        } else if subscribes {
            1 + r.below(NCONN - 1)
        } else {
            r.below(NCONN)
        };
        steps.push(Step { conn, lines });
    }
    (resp3, steps)
}

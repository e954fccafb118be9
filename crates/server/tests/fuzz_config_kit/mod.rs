//! The normalisation and comparison of `fuzz_config_differential` (CONFIG GET pairs,
//! EXEC and INFO replies) and the runner of a sequence; the steps come from `generate`.

mod generate;
use super::*;
pub(crate) use generate::*;

/// A CONFIG GET reply as sorted (name, value) pairs (the map's order is Redis's dict
/// order), masked values hidden; None if it is no map or flat array of pairs.
pub(crate) fn config_pairs(raw: &[u8]) -> Option<(bool, Pairs)> {
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
pub(crate) fn exec_normalised(raw: &[u8]) -> Option<Vec<String>> {
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
pub(crate) fn reply_bytes(f: &Frame) -> Vec<u8> {
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
pub(crate) const INFO_FIELDS: &[&str] = &[
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
pub(crate) fn info_normalised(raw: &[u8], everything: bool) -> Option<String> {
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
pub(crate) fn set_names(line: &str) -> Vec<String> {
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
pub(crate) fn compare(pair: &mut Pair, line: &str) -> Option<String> {
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
    pub(crate) fn discover(pair: &mut Pair) -> Params {
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
    pub(crate) fn reset_line(&self) -> String {
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
pub(crate) fn first_difference(
    pair: &mut Pair,
    ps: &Params,
    resp3: bool,
    steps: &[Step],
) -> Option<String> {
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
pub(crate) fn run_campaign(name: &str, short: u64, config: &[&str]) {
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

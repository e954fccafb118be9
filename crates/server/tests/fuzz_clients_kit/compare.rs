//! Normalisation and comparison of `fuzz_clients_differential`: what each connection
//! received, with the orders Redis leaves open made canonical, then rendered for comparing.

use super::*;

/// A connection's own replies first, then the RESP3 pushes its own command caused (each
/// in order). Redis interleaves them as each command's code happens to (SET publishes its
/// keyspace event before its reply, LPOP and a served BLPOP after, a served BLMOVE between
/// its push and pop events, EXEC between the replies in its array; tracking invalidations
/// of the client's own writes come after the reply); rubra writes them right after the
/// command's reply. Known deviation, not compared.
pub(crate) fn pushes_after_replies(frames: &mut Vec<String>) {
    // The harness's own notes (`<blocked_clients ...>`, `<closed>`) are not RESP: kept
    // apart, last, so that they do not stop the frames around them being normalised.
    let (notes, resp): (Vec<String>, Vec<String>) = std::mem::take(frames)
        .into_iter()
        .partition(|f| f.starts_with('<'));
    *frames = resp;
    pushes_after_replies_of_resp(frames);
    frames.extend(notes);
}

/// `pushes_after_replies` for frames that are all RESP.
pub(crate) fn pushes_after_replies_of_resp(frames: &mut Vec<String>) {
    let bytes: Vec<u8> = frames.iter().flat_map(|f| f.bytes()).collect();
    let mut pos = 0;
    let (mut replies, mut pushes) = (Vec::new(), Vec::new());
    while pos < bytes.len() {
        let mut reply = Vec::new();
        if !lift_element(&bytes, &mut pos, &mut reply, &mut pushes) {
            // Not RESP as expected: compare as it came.
            return;
        }
        if !reply.is_empty() {
            replies.push(String::from_utf8_lossy(&reply).into_owned());
        }
    }
    *frames = replies;
    frames.extend(pushes);
}

/// Whether a RESP2 array is a pub/sub message (a subscriber's own message inside EXEC is
/// one; no generated value makes a reply look like it).
pub(crate) fn is_resp2_message(array: &[u8]) -> bool {
    let Some(Frame::Array(v)) = frame(array) else {
        return false;
    };
    match v.first() {
        Some(Frame::Bulk(k)) => match &k[..] {
            b"message" | b"smessage" => v.len() == 3,
            b"pmessage" => v.len() == 4,
            _ => false,
        },
        _ => false,
    }
}

/// Whether a push is a (un)subscribe confirmation: the reply of the command itself (in
/// EXEC's array it is an element), not a message to lift.
pub(crate) fn is_confirmation(push: &[u8]) -> bool {
    matches!(frame(push), Some(Frame::Push(v))
        if matches!(v.first(), Some(Frame::Bulk(k)) if k.ends_with(b"subscribe")))
}

/// Copies the RESP element at `pos` to `out`, lifting the pushed messages met before it
/// or inside it (Redis writes them in the middle of EXEC's array) into `pushes`; an
/// element that is itself such a push goes to `pushes` and leaves `out` empty. False if
/// malformed.
pub(crate) fn lift_element(
    b: &[u8],
    pos: &mut usize,
    out: &mut Vec<u8>,
    pushes: &mut Vec<String>,
) -> bool {
    let Some(end) = (*pos..b.len().saturating_sub(1)).find(|&i| &b[i..i + 2] == b"\r\n") else {
        return false;
    };
    let head = &b[*pos..end + 2];
    let ty = b[*pos];
    let n: i64 = std::str::from_utf8(&b[*pos + 1..end])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    *pos = end + 2;
    match ty {
        b'$' | b'=' | b'!' => {
            out.extend_from_slice(head);
            if n >= 0 {
                let len = n as usize + 2;
                if *pos + len > b.len() {
                    return false;
                }
                out.extend_from_slice(&b[*pos..*pos + len]);
                *pos += len;
            }
            true
        }
        b'*' | b'~' | b'%' | b'|' | b'>' => {
            let count = if matches!(ty, b'%' | b'|') { n * 2 } else { n };
            let mut body = head.to_vec();
            let mut got = 0;
            while got < count.max(0) {
                if *pos >= b.len() {
                    return false;
                }
                let mut el = Vec::new();
                if !lift_element(b, pos, &mut el, pushes) {
                    return false;
                }
                if !el.is_empty() {
                    body.extend(el);
                    got += 1;
                }
            }
            if (ty == b'>' && !is_confirmation(&body)) || (ty == b'*' && is_resp2_message(&body)) {
                pushes.push(String::from_utf8_lossy(&body).into_owned());
            } else {
                out.extend(body);
            }
            true
        }
        _ => {
            out.extend_from_slice(head);
            true
        }
    }
}

/// In each run of tracking invalidations and keyspace-event messages, the invalidations
/// first (each kind kept in order). Known deviation: Redis signals the key (tracking)
/// before publishing the event in most commands (SET, SADD, LPUSH, XADD...) and after it in
/// others (LPOP, LTRIM...); rubra publishes events first, then signals.
pub(crate) fn invalidations_first(frames: &mut Vec<String>) {
    let kind = |raw: &str| -> Option<bool> {
        let items = match frame(raw.as_bytes())? {
            Frame::Array(v) | Frame::Push(v) => v,
            _ => return None,
        };
        let text = |i: usize| match items.get(i) {
            Some(Frame::Bulk(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        match text(0).as_str() {
            "invalidate" => Some(true),
            "message" if text(1) == "__redis__:invalidate" => Some(true),
            "message" if text(1).starts_with("__key") => Some(false),
            "pmessage" if text(2).starts_with("__key") => Some(false),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(frames.len());
    let mut run: (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for f in std::mem::take(frames) {
        match kind(&f) {
            Some(true) => run.0.push(f),
            Some(false) => run.1.push(f),
            None => {
                out.append(&mut run.0);
                out.append(&mut run.1);
                out.push(f);
            }
        }
    }
    out.append(&mut run.0);
    out.append(&mut run.1);
    *frames = out;
}

/// The elements of top-level array replies, sorted: Redis lists PUBSUB CHANNELS /
/// SHARDCHANNELS in hash-table order, which is random per process.
pub(crate) fn sort_listings(frames: &mut [String]) {
    for f in frames.iter_mut() {
        if let Some(Frame::Array(items)) = frame(f.as_bytes()) {
            let mut names: Vec<String> = items.iter().map(|x| format!("{x:?}")).collect();
            names.sort();
            *f = format!("<listing {}>", names.join(","));
        }
    }
}

/// The parts of a pub/sub frame: its type byte, then its elements when all are bulk
/// strings, integers or nulls (shown as text).
pub(crate) fn pubsub_parts(raw: &str) -> Option<(char, Vec<String>)> {
    let items = match frame(raw.as_bytes())? {
        Frame::Array(v) | Frame::Push(v) => v,
        _ => return None,
    };
    let mut parts = Vec::with_capacity(items.len());
    for x in items {
        parts.push(match x {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            Frame::Int(n) => n.to_string(),
            Frame::Null => "<null>".into(),
            _ => return None,
        });
    }
    Some((raw.chars().next()?, parts))
}

/// Runs of frames whose order Redis leaves to a hash table, made canonical:
/// - UNSUBSCRIBE / SUNSUBSCRIBE without arguments confirm the client's channels in the
///   order of its channel dict (random): the run shows the channels sorted and the counts
///   (which only decrease) in order;
/// - a message matching several patterns of one client is delivered once per pattern in
///   the order of the server's pattern dict (random): the run is sorted.
pub(crate) fn canonical_runs(frames: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(frames.len());
    let mut i = 0;
    while i < frames.len() {
        let Some((ty, parts)) = pubsub_parts(&frames[i]) else {
            out.push(frames[i].clone());
            i += 1;
            continue;
        };
        let kind = parts.first().cloned().unwrap_or_default();
        let same_run = |raw: &str| -> bool {
            match pubsub_parts(raw) {
                Some((t, p)) if t == ty && p.first() == Some(&kind) => match kind.as_str() {
                    "unsubscribe" | "sunsubscribe" => p.len() == 3 && p[1] != "<null>",
                    "pmessage" => p.len() == 4 && p[2..] == parts[2..],
                    _ => false,
                },
                _ => false,
            }
        };
        let mut j = i;
        while j < frames.len() && same_run(&frames[j]) {
            j += 1;
        }
        if j <= i + 1 {
            out.push(frames[i].clone());
            i += 1;
            continue;
        }
        let run = &frames[i..j];
        if kind == "pmessage" {
            let mut sorted = run.to_vec();
            sorted.sort();
            out.extend(sorted);
        } else {
            let mut names = Vec::new();
            let mut counts = Vec::new();
            for raw in run {
                if let Some((_, p)) = pubsub_parts(raw) {
                    names.push(p[1].clone());
                    counts.push(p[2].clone());
                }
            }
            names.sort();
            out.push(format!("<{ty}{kind} {names:?} counts {counts:?}>"));
        }
        i = j;
    }
    out
}

/// The text of one step: every connection's frames, normalised (see the header).
pub(crate) fn render(
    rec: &Received,
    ids: &[i64],
    ctl_id: i64,
    client_cmd: bool,
    conns: &[Conn],
) -> String {
    let mut s = String::new();
    for (j, frames) in rec.per_conn.iter().enumerate() {
        let mut line = String::new();
        for f in frames {
            let f = normalise_frame(f, ids, ctl_id, client_cmd);
            line += &f.escape_debug().to_string();
        }
        let state = match (conns[j].closed, conns[j].blocked) {
            (true, _) => " [closed]",
            (_, true) => " [blocked]",
            _ => "",
        };
        s += &format!("    c{j}{state}: {line}\n");
    }
    s
}

pub(crate) fn id_name(v: i64, ids: &[i64], ctl_id: i64) -> Option<String> {
    if v == ctl_id {
        return Some("#ctl".into());
    }
    ids.iter().position(|&x| x == v).map(|i| format!("#{i}"))
}

pub(crate) fn normalise_frame(raw: &str, ids: &[i64], ctl_id: i64, client_cmd: bool) -> String {
    let Some(f) = frame(raw.as_bytes()) else {
        return raw.to_string();
    };
    if is_hello_reply(&f) {
        return "<hello>".into();
    }
    if let Frame::Bulk(b) | Frame::Verbatim(b) = &f {
        let text = String::from_utf8_lossy(b);
        let text = text.strip_prefix("txt:").unwrap_or(&text);
        if text.starts_with("id=") {
            return format!("<clients {}>", client_lines(text, ids, ctl_id));
        }
    }
    if client_cmd || is_broken_redirect(&f) {
        return normalise_ids(&f, ids, ctl_id).unwrap_or_else(|| raw.to_string());
    }
    raw.to_string()
}

/// Whether `f` is the `tracking-redir-broken` push, which names the lost client's id (it
/// comes after any write, not only after a CLIENT command; seed 911).
pub(crate) fn is_broken_redirect(f: &Frame) -> bool {
    matches!(f, Frame::Push(v)
        if matches!(v.first(), Some(Frame::Bulk(k)) if &k[..] == b"tracking-redir-broken"))
}

/// The integers in `f` that are a connection's id, named; None when there is none.
pub(crate) fn normalise_ids(f: &Frame, ids: &[i64], ctl_id: i64) -> Option<String> {
    fn walk(f: &Frame, ids: &[i64], ctl_id: i64, found: &mut bool) -> String {
        match f {
            Frame::Int(n) => match id_name(*n, ids, ctl_id) {
                Some(name) => {
                    *found = true;
                    format!(":{name}")
                }
                None => format!(":{n}"),
            },
            Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
                let inner: Vec<String> = v.iter().map(|x| walk(x, ids, ctl_id, found)).collect();
                format!("[{}]", inner.join(","))
            }
            Frame::Map(v) => {
                let inner: Vec<String> = v
                    .iter()
                    .map(|(k, x)| {
                        format!(
                            "{}=>{}",
                            walk(k, ids, ctl_id, found),
                            walk(x, ids, ctl_id, found)
                        )
                    })
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            other => format!("{other:?}"),
        }
    }
    let mut found = false;
    let s = walk(f, ids, ctl_id, &mut found);
    found.then_some(s)
}

pub(crate) fn is_hello_reply(f: &Frame) -> bool {
    let first = match f {
        Frame::Map(v) => v.first().map(|(k, _)| k),
        Frame::Array(v) => v.first(),
        _ => None,
    };
    matches!(first, Some(Frame::Bulk(b)) if &b[..] == b"server")
}

/// CLIENT INFO / LIST text with only the deterministic fields, ids named.
pub(crate) fn client_lines(text: &str, ids: &[i64], ctl_id: i64) -> String {
    const KEEP: &[&str] = &[
        "id", "name", "db", "sub", "psub", "ssub", "multi", "flags", "cmd", "user", "redir", "resp",
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        let mut kept = Vec::new();
        for field in line.split(' ') {
            let Some((k, v)) = field.split_once('=') else {
                continue;
            };
            if !KEEP.contains(&k) {
                continue;
            }
            let v = match (k, v.parse::<i64>()) {
                ("id" | "redir", Ok(n)) => id_name(n, ids, ctl_id).unwrap_or_else(|| v.to_string()),
                _ => v.to_string(),
            };
            kept.push(format!("{k}={v}"));
        }
        out.push(kept.join(" "));
    }
    out.join(" | ")
}

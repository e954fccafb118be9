//! The reply normalisation and comparison and the pair runner of
//! `fuzz_families_differential`; the commands come from `generate`.

mod generate;
use super::*;
pub(crate) use generate::*;

/// Whether `b` is a stream id whose milliseconds came from the clock (`*`).
pub(crate) fn clock_id(b: &[u8]) -> bool {
    let Some(dash) = b.iter().position(|&c| c == b'-') else {
        return false;
    };
    let (ms, seq) = (&b[..dash], &b[dash + 1..]);
    (13..=14).contains(&ms.len())
        && ms.iter().all(u8::is_ascii_digit)
        && !seq.is_empty()
        && seq.iter().all(u8::is_ascii_digit)
}

/// The reply with clock-made ids replaced, and (when `idle`) idle / seen times zeroed.
pub(crate) fn normalise(f: Frame, idle: bool) -> Frame {
    let n = |f: Frame| normalise(f, idle);
    let is_time_key = |f: &Frame| {
        matches!(f, Frame::Bulk(b) | Frame::Simple(b)
            if b.as_ref() == b"idle" || b.as_ref() == b"seen-time"
                || b.as_ref() == b"active-time")
    };
    match f {
        Frame::Bulk(b) if clock_id(&b) => Frame::Bulk("<clock-id>".into()),
        Frame::Array(v) => {
            // An XPENDING extended entry: [id, consumer, idle, deliveries].
            if idle
                && v.len() == 4
                && matches!(
                    (&v[0], &v[1], &v[2], &v[3]),
                    (Frame::Bulk(_), Frame::Bulk(_), Frame::Int(_), Frame::Int(_))
                )
            {
                let mut v: Vec<Frame> = v.into_iter().map(n).collect();
                v[2] = Frame::Int(0);
                return Frame::Array(v);
            }
            // A consumer's PEL entry in XINFO STREAM FULL: [id, delivery time, deliveries].
            if idle
                && v.len() == 3
                && matches!(
                    (&v[0], &v[1], &v[2]),
                    (Frame::Bulk(_), Frame::Int(_), Frame::Int(_))
                )
            {
                let mut v: Vec<Frame> = v.into_iter().map(n).collect();
                v[1] = Frame::Int(0);
                return Frame::Array(v);
            }
            let mut out: Vec<Frame> = Vec::with_capacity(v.len());
            let mut zero_next = false;
            for x in v {
                let time_key = idle && is_time_key(&x);
                out.push(if zero_next { Frame::Int(0) } else { n(x) });
                zero_next = time_key;
            }
            Frame::Array(out)
        }
        Frame::Map(v) => Frame::Map(
            v.into_iter()
                .map(|(a, b)| {
                    let z = idle && is_time_key(&a);
                    (n(a), if z { Frame::Int(0) } else { n(b) })
                })
                .collect(),
        ),
        Frame::Set(v) => Frame::Set(v.into_iter().map(n).collect()),
        Frame::Push(v) => Frame::Push(v.into_iter().map(n).collect()),
        other => other,
    }
}

/// Whether two replies agree under the comparison rule.
pub(crate) fn same(cmp: Cmp, a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    match (cmp, frame(a), frame(b)) {
        (Cmp::Stream, Some(x), Some(y)) => normalise(x, false) == normalise(y, false),
        (Cmp::Idle, Some(x), Some(y)) => normalise(x, true) == normalise(y, true),
        (Cmp::Unordered, Some(Frame::Array(mut x)), Some(Frame::Array(mut y))) => {
            let key = |f: &Frame| format!("{f:?}");
            x.sort_by_key(key);
            y.sort_by_key(key);
            x == y
        }
        _ => false,
    }
}

/// `bytes` as one quoted redis-cli argument, every byte escaped.
pub(crate) fn quoted_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4 + 2);
    s.push('"');
    for b in bytes {
        s += &format!("\\x{b:02x}");
    }
    s.push('"');
    s
}

/// The payload of a bulk-string reply, or None (a null or an error).
pub(crate) fn bulk_payload(raw: &[u8]) -> Option<Vec<u8>> {
    match frame(raw) {
        Some(Frame::Bulk(b)) => Some(b.to_vec()),
        _ => None,
    }
}

impl Pair {
    /// Both servers: empty keyspace, the fuzz library loaded, the sequence's protocol.
    pub(crate) fn reset(&mut self, resp3: bool) {
        let load = format!("FUNCTION LOAD REPLACE {}", q(&LIBRARY.replace('\n', "\\n")));
        for c in [&mut self.a, &mut self.b] {
            c.call("FLUSHALL");
            c.call("SCRIPT FLUSH");
            c.call("FUNCTION FLUSH");
            let r = c.call(&load);
            assert!(r.starts_with(b"$"), "FUNCTION LOAD: {}", r.escape_ascii());
            c.call(if resp3 { "HELLO 3" } else { "HELLO 2" });
        }
    }

    /// Runs one step on both; None if the replies agree, else both replies.
    pub(crate) fn step(&mut self, line: &str, cmp: Cmp) -> Option<(Vec<u8>, Vec<u8>)> {
        if cmp == Cmp::CrossRestore {
            let mut words = line.split(' ');
            let (src, dst) = (words.next().unwrap_or("k"), words.next().unwrap_or("r1"));
            let how = words.next().unwrap_or("");
            let da = self.a.call(&format!("DUMP {src}"));
            let db = self.b.call(&format!("DUMP {src}"));
            let (Some(mut pa), Some(mut pb)) = (bulk_payload(&da), bulk_payload(&db)) else {
                return (da != db).then_some((da, db));
            };
            // Damage: a body byte (checksum error) or the tail cut off.
            let damage = |p: &mut Vec<u8>| match how {
                "flip" if p.len() > 11 => p[1] ^= 0x40,
                "cut" => p.truncate(p.len() / 2),
                _ => {}
            };
            damage(&mut pa);
            damage(&mut pb);
            let opts = match how {
                "busy" => "",
                "idle" => "REPLACE IDLETIME 10",
                "freq" => "REPLACE FREQ 5",
                "ttl" => "REPLACE ABSTTL",
                _ => "REPLACE",
            };
            let ttl = if how == "ttl" { "4102444800000" } else { "0" };
            let ra = self
                .a
                .call(&format!("RESTORE {dst} {ttl} {} {opts}", quoted_bytes(&pb)));
            let rb = self
                .b
                .call(&format!("RESTORE {dst} {ttl} {} {opts}", quoted_bytes(&pa)));
            return (ra != rb).then_some((ra, rb));
        }
        if cmp == Cmp::Multi {
            for one in line.split(" ; ") {
                let (ra, rb) = (self.a.call(one), self.b.call(one));
                if ra != rb {
                    return Some((ra, rb));
                }
            }
            return None;
        }
        let show = std::env::var_os("FUZZ_SHOW").is_some();
        if show {
            println!("{line}");
        }
        let ra = self.a.call(line);
        let rb = self.b.call(line);
        if show {
            let mut shown = rb.escape_ascii().to_string();
            shown.truncate(200);
            println!("    -> {shown}");
        }
        (!same(cmp, &ra, &rb)).then_some((ra, rb))
    }

    /// Runs `steps` from an empty keyspace, in RESP3 if `resp3`; the first difference, if
    /// any.
    pub(crate) fn first_difference(&mut self, resp3: bool, steps: &[Step]) -> Option<String> {
        self.reset(resp3);
        for (line, cmp) in steps {
            if let Some((ra, rb)) = self.step(line, *cmp) {
                let show = |r: &[u8]| {
                    let mut s = r.escape_ascii().to_string();
                    if s.len() > 3000 {
                        s.truncate(3000);
                        s += "...";
                    }
                    s
                };
                return Some(format!(
                    "{}{line} ({cmp:?})\n    rubra: \"{}\"\n    redis: \"{}\"",
                    if resp3 { "[RESP3] " } else { "" },
                    show(&ra),
                    show(&rb)
                ));
            }
        }
        None
    }
}

/// Known deviations from Redis 7.0 the generator must not produce (each explained where
/// it is listed). Empty: none known.
pub(crate) fn known_deviation(_line: &str) -> bool {
    false
}

/// A random sequence and its protocol (RESP3 half the time); most steps from one family.
pub(crate) fn sequence(r: &mut Rng) -> (bool, Vec<Step>) {
    let resp3 = r.one_in(2);
    let focus = r.below(6);
    let mut steps = Vec::with_capacity(SEQ_LEN);
    while steps.len() < SEQ_LEN {
        let c = command(r, focus);
        if !known_deviation(&c.0) {
            steps.push(c);
        }
    }
    (resp3, steps)
}

/// A step as printed in a failure: long lines (big values) cut at 400 bytes.
pub(crate) fn show_step((line, cmp): &Step) -> String {
    let mut l = line.clone();
    if l.len() > 400 {
        let mut cut = 400;
        while !l.is_char_boundary(cut) {
            cut -= 1;
        }
        l.truncate(cut);
        l += " ...";
    }
    format!("{l} ({cmp:?})")
}

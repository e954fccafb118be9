//! Fuzz targets for RESP: the server's request parser (multibulk and inline, what every
//! client sends) and the RESP2/RESP3 frame reader our own clients use on replies (replica
//! links, MIGRATE, the `rubra` tool). Properties beyond "no panic": a complete request is
//! within the limits it was parsed with, re-encodes to bytes that parse back to itself, and
//! is reported Incomplete (never an error or a different request) for every prefix; frames
//! re-encode and parse back equal; memory is bounded by the input, not by a length field.
//!
//! Short run: `cargo test -p rubra-fuzz --test fuzz_resp`. Long run: see docs/fuzzing.md.

use rubra_fuzz::{peak_alloc_during, run, CountingAlloc, Rng, Settings, Verdict};
use rubra_resp::Frame;
use rubra_resp::{encode_request, parse_frame, parse_request, FrameReader, Limits, Parsed};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SHORT: u64 = 30_000;

fn request_seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        b"PING\r\n".to_vec(),
        b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n".to_vec(),
        b"  get   k  \n".to_vec(),
        b"\r\n".to_vec(),
        b"*0\r\n".to_vec(),
        b"*-1\r\n".to_vec(),
        b"*1\r\n$0\r\n\r\n".to_vec(),
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n".to_vec(),
    ];
    let mut rng = Rng::new(42);
    for _ in 0..20 {
        let n = 1 + rng.below(6);
        let args: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let l = rng.below(40);
                rng.bytes(l)
            })
            .collect();
        let mut out = Vec::new();
        encode_request(&mut out, &args);
        seeds.push(out);
    }
    seeds
}

/// Checks one request buffer against `limits`; see the module doc for the properties.
fn check_request(buf: &[u8], limits: &Limits) -> Verdict {
    let (res, peak) = peak_alloc_during(|| parse_request(buf, limits));
    // Arguments are copied out once (plus Vec headers): far below 64 bytes per input byte,
    // and the up-front capacity is capped, so a huge announced count costs a constant.
    assert!(
        peak <= 64 * buf.len() + 64 * 1024,
        "parse_request allocated {peak} bytes for a {}-byte input",
        buf.len()
    );
    match res {
        Ok(Parsed::Complete(args, used)) => {
            assert!(
                used > 0 && used <= buf.len(),
                "used {used} of {}",
                buf.len()
            );
            assert!(args.len() <= limits.max_multibulk_len.max(1024 * 1024));
            // proto-max-bulk-len applies to multibulk arguments; an inline line is bounded
            // by the inline limit (64 KB, below proto-max-bulk-len's 1 MB minimum), as in Redis.
            if buf[0] == b'*' {
                for a in &args {
                    assert!(a.len() <= limits.max_bulk_len, "arg of {} bytes", a.len());
                }
            } else {
                assert!(used <= limits.max_inline_len + 1);
            }
            // Every proper prefix is just "need more" (a parser that answers early or
            // differently on a partial frame would desynchronise a pipelined connection).
            // Only for multibulk: an inline line has no length so its prefix may differ.
            if buf[0] == b'*' {
                for cut in [0, used / 2, used.saturating_sub(1)] {
                    if cut < used {
                        match parse_request(&buf[..cut], limits) {
                            Ok(Parsed::Incomplete { .. }) => {}
                            other => panic!("prefix {cut}/{used} gave {other:?}"),
                        }
                    }
                }
            }
            // Round trip through the encoder replicas and the AOF use.
            if !args.is_empty() {
                let mut enc = Vec::new();
                encode_request(&mut enc, &args);
                let big = Limits {
                    max_bulk_len: usize::MAX / 2,
                    max_multibulk_len: usize::MAX / 2,
                    ..Limits::default()
                };
                match parse_request(&enc, &big) {
                    Ok(Parsed::Complete(back, n)) => {
                        assert_eq!(n, enc.len());
                        assert_eq!(back, args);
                    }
                    other => panic!("re-encoded request did not parse back: {other:?}"),
                }
            }
            Verdict::Accepted
        }
        Ok(Parsed::Incomplete { need }) => {
            assert!(
                need > buf.len(),
                "Incomplete asks for {need} with {} buffered",
                buf.len()
            );
            Verdict::Rejected
        }
        Err(e) => {
            assert!(e.message().starts_with("ERR Protocol error: "));
            Verdict::Rejected
        }
    }
}

#[test]
fn fuzz_request_parser_default_limits() {
    let s = Settings::from_env(SHORT);
    let limits = Limits::default();
    let st = run(
        "request",
        request_seeds(),
        &s,
        |_, _| {},
        |b| check_request(b, &limits),
    );
    assert!(st.accepted > 0);
}

#[test]
fn fuzz_request_parser_small_limits() {
    // Small limits make the boundary reachable: a request that passes must respect them
    // (proto-max-bulk-len and the multibulk count limit).
    let s = Settings::from_env(SHORT);
    let limits = Limits {
        max_bulk_len: 16,
        max_multibulk_len: 8,
        max_inline_len: 64,
        unauthenticated: false,
    };
    run(
        "request-small-limits",
        request_seeds(),
        &s,
        |_, _| {},
        |b| {
            let v = check_request(b, &limits);
            if let Ok(Parsed::Complete(args, _)) = parse_request(b, &limits) {
                if b[0] == b'*' {
                    assert!(
                        args.len() <= 8,
                        "{} args over the multibulk limit",
                        args.len()
                    );
                }
            }
            v
        },
    );
}

#[test]
fn fuzz_request_parser_unauthenticated() {
    // Before AUTH on a server with a password, Redis 7.0.15 refuses more than 10 arguments
    // or a bulk over 16 KB; nothing the parser accepts may exceed that.
    let s = Settings::from_env(SHORT);
    let limits = Limits {
        unauthenticated: true,
        ..Limits::default()
    };
    run(
        "request-unauthenticated",
        request_seeds(),
        &s,
        |_, _| {},
        |b| {
            let v = check_request(b, &limits);
            if let (Some(b'*'), Ok(Parsed::Complete(args, _))) =
                (b.first(), parse_request(b, &limits))
            {
                assert!(args.len() <= 10, "{} args before AUTH", args.len());
                assert!(args.iter().all(|a| a.len() <= 16384));
            }
            v
        },
    );
}

fn frame_seeds() -> Vec<Vec<u8>> {
    [
        &b"+OK\r\n"[..],
        b"-ERR x\r\n",
        b":-42\r\n",
        b"$5\r\nhello\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"_\r\n",
        b"#t\r\n",
        b",3.25\r\n",
        b",-inf\r\n",
        b"(12345678901234567890\r\n",
        b"=15\r\ntxt:hello world\r\n",
        b"!3\r\nbad\r\n",
        b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n",
        b"%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n,0.5\r\n",
        b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nmsg\r\n",
        b"*2\r\n*2\r\n*2\r\n:1\r\n:2\r\n_\r\n#f\r\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

/// Encodes a frame in RESP3 (the inverse of parse_frame, for the round-trip property).
fn encode_frame(f: &Frame, out: &mut Vec<u8>) {
    let agg = |out: &mut Vec<u8>, tag: u8, items: &[Frame]| {
        out.push(tag);
        out.extend_from_slice(format!("{}\r\n", items.len()).as_bytes());
        for i in items {
            encode_frame(i, out);
        }
    };
    match f {
        // A blob error (`!`) may hold CR/LF, which a simple error line cannot.
        Frame::Error(b) if b.contains(&b'\r') || b.contains(&b'\n') => {
            out.extend_from_slice(format!("!{}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Simple(b) | Frame::Error(b) | Frame::BigNumber(b) => {
            out.push(match f {
                Frame::Simple(_) => b'+',
                Frame::Error(_) => b'-',
                _ => b'(',
            });
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Frame::Bulk(b) | Frame::Verbatim(b) => {
            let tag = if matches!(f, Frame::Bulk(_)) {
                '$'
            } else {
                '='
            };
            out.extend_from_slice(format!("{tag}{}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::Double(d) => {
            let t = if d.is_infinite() {
                if *d > 0.0 {
                    "inf".to_string()
                } else {
                    "-inf".to_string()
                }
            } else {
                format!("{d:?}")
            };
            out.extend_from_slice(format!(",{t}\r\n").as_bytes());
        }
        Frame::Array(v) => agg(out, b'*', v),
        Frame::Set(v) => agg(out, b'~', v),
        Frame::Push(v) => agg(out, b'>', v),
        Frame::Map(pairs) => {
            out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
            for (k, v) in pairs {
                encode_frame(k, out);
                encode_frame(v, out);
            }
        }
    }
}

/// Equality where NaN equals NaN (a double frame may carry one).
fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Double(x), Frame::Double(y)) => x == y || (x.is_nan() && y.is_nan()),
        (Frame::Array(x), Frame::Array(y))
        | (Frame::Set(x), Frame::Set(y))
        | (Frame::Push(x), Frame::Push(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Frame::Map(x), Frame::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((a, b), (c, d))| same(a, c) && same(b, d))
        }
        _ => a == b,
    }
}

const MAX_BULK: usize = 1 << 20;

fn check_frame(buf: &[u8]) -> Verdict {
    let (res, peak) = peak_alloc_during(|| parse_frame(buf, MAX_BULK));
    assert!(
        peak <= 64 * buf.len() + 64 * 1024,
        "parse_frame allocated {peak} bytes for a {}-byte input",
        buf.len()
    );
    match res {
        Ok(Some((frame, used))) => {
            assert!(used > 0 && used <= buf.len());
            let mut enc = Vec::new();
            encode_frame(&frame, &mut enc);
            match parse_frame(&enc, MAX_BULK) {
                Ok(Some((back, n))) => {
                    assert_eq!(n, enc.len());
                    assert!(same(&back, &frame), "{frame:?} came back as {back:?}");
                }
                other => panic!("re-encoded {frame:?} did not parse: {other:?}"),
            }
            // The blocking reader over a trickling stream sees the same frame.
            let mut r = FrameReader::new(MAX_BULK);
            let mut src = Trickle(&buf[..used], 0);
            let got = r
                .read_frame(&mut src)
                .expect("reader fails where parse_frame succeeded");
            assert!(same(&got, &frame));
            Verdict::Accepted
        }
        Ok(None) => Verdict::Rejected,
        Err(_) => Verdict::Rejected,
    }
}

/// A reader handing out at most 3 bytes per read, to exercise every partial state.
struct Trickle<'a>(&'a [u8], usize);
impl std::io::Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.0.len() - self.1).min(3).min(out.len());
        out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

#[test]
fn fuzz_frame_reader() {
    let s = Settings::from_env(SHORT);
    let st = run("frame", frame_seeds(), &s, |_, _| {}, check_frame);
    assert!(st.accepted > 0);
}

/// The request parser must never accept an argument over proto-max-bulk-len, whatever
/// digits announce it (regression guard for the limit itself, independent of mutation).
#[test]
fn bulk_limit_is_exact() {
    let limits = Limits {
        max_bulk_len: 5,
        ..Limits::default()
    };
    let ok = parse_request(b"*1\r\n$5\r\nhello\r\n", &limits);
    assert!(matches!(ok, Ok(Parsed::Complete(ref a, _)) if a[0] == "hello"));
    assert!(parse_request(b"*1\r\n$6\r\nhello!\r\n", &limits).is_err());
    assert!(parse_request(b"*1\r\n$18446744073709551616\r\n", &limits).is_err());
}

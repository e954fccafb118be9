//! Request parsing on the server side: RESP multibulk arrays of bulk strings, and inline
//! commands (`PING\r\n`, what telnet users type). Incremental: the caller keeps unconsumed
//! bytes and calls again when more arrive; a partial frame is never an error.

use bytes::{Buf, Bytes};

/// One request: the command name followed by its arguments, as raw bytes.
pub type Request = Vec<Bytes>;

/// Limits that protect the server from clients announcing absurd sizes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest single argument accepted.
    pub max_bulk_len: usize,
    /// The largest number of arguments in one request.
    pub max_multibulk_len: usize,
    /// The longest inline command line.
    pub max_inline_len: usize,
    /// The client has not authenticated on a server that requires it: Redis then refuses
    /// more than [`UNAUTH_MAX_ARGS`] arguments or a bulk over [`UNAUTH_MAX_BULK`] bytes, so
    /// an anonymous peer cannot make the server buffer large requests.
    pub unauthenticated: bool,
}

/// Most arguments an unauthenticated client may send in one request (Redis 7.0.15).
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// Largest bulk an unauthenticated client may announce (Redis 7.0.15).
pub const UNAUTH_MAX_BULK: i64 = 16384;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            // Redis accepts any count up to INT_MAX; memory is bounded by the query buffer
            // limit as the arguments arrive, not by the announced count.
            max_multibulk_len: i32::MAX as usize,
            max_inline_len: 64 * 1024,
            unauthenticated: false,
        }
    }
}

/// A malformed request: the server answers `-ERR Protocol error: ...` and closes the link.
/// Word-sized (`repr(u64)`): the parse result it is part of is moved on every request, and
/// with a 2-byte error its copies split at odd offsets that the CPU could not forward from
/// the stores that wrote it (store-forwarding stalls: ~2% of a -P 16 GET's server CPU).
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(u64)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    /// The byte found instead, widened to a word (see above).
    ExpectedDollar(u64),
    TooBigInline,
    UnbalancedQuotes,
    TooBigCountString,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error text Redis sends for this condition (without the leading `-`).
    pub fn message(&self) -> String {
        match self {
            ProtocolError::InvalidMultibulkLength => {
                "ERR Protocol error: invalid multibulk length".into()
            }
            ProtocolError::InvalidBulkLength => "ERR Protocol error: invalid bulk length".into(),
            ProtocolError::ExpectedDollar(c) => {
                format!(
                    "ERR Protocol error: expected '$', got '{}'",
                    *c as u8 as char
                )
            }
            ProtocolError::TooBigInline => "ERR Protocol error: too big inline request".into(),
            ProtocolError::UnbalancedQuotes => {
                "ERR Protocol error: unbalanced quotes in request".into()
            }
            ProtocolError::TooBigCountString => {
                "ERR Protocol error: too big mbulk count string".into()
            }
            ProtocolError::UnauthenticatedMultibulkLength => {
                "ERR Protocol error: unauthenticated multibulk length".into()
            }
            ProtocolError::UnauthenticatedBulkLength => {
                "ERR Protocol error: unauthenticated bulk length".into()
            }
        }
    }
}

/// Result of one parse attempt.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A request and the number of bytes it used. An empty request (blank inline line,
    /// `*0`) is returned as an empty vector and must simply be skipped.
    Complete(Request, usize),
    /// More bytes are needed; at least `need` bytes in total before trying again is useful.
    Incomplete { need: usize },
}

/// An argument at least this long is "big" (Redis's `PROTO_MBULK_BIG_ARG`): the server
/// receives it into a buffer of its exact size and hands that buffer on without copying.
pub const BIG_ARG: usize = 32 * 1024;

/// Parses one request from the start of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    parse_request_reusing(buf, limits, &mut Vec::new())
}

/// [`parse_request`] for a server's connection loop: a small request's argument vector is
/// `spare`'s allocation when it has room (a vector the caller got back from an earlier
/// request), so a pipeline of small commands does not allocate and free a vector each.
/// `spare` is left empty when it was used, untouched otherwise.
#[inline]
pub fn parse_request_reusing(
    buf: &[u8],
    limits: &Limits,
    spare: &mut Vec<Bytes>,
) -> Result<Parsed, ProtocolError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { need: 1 }),
        Some(b'*') => parse_multibulk_copy(buf, limits, spare),
        Some(_) => parse_inline(buf, limits),
    }
}

/// Fewest arguments for which `parse_multibulk_copy` copies a request of more than
/// [`INLINE_LARGE`] bytes once: below it, slicing a shared heap copy (an extra header
/// allocation, reference counts) costs about what it saves.
const SHARE_MIN_ARGS: i64 = 4;
/// Most arguments whose positions `parse_multibulk_copy` keeps on the stack.
const SHARE_MAX_ARGS: usize = 32;
/// Largest span of arguments copied as one buffer. An argument may be kept after the
/// request (a WATCHed or tracked key, a queued command): it then keeps its whole request
/// alive, so only small requests share one copy. (Collections in the keyspace copy what
/// they keep.)
const SHARE_MAX_BYTES: usize = 1024;
/// Spans up to these sizes are copied into one fixed-size allocation that holds both the
/// bytes and their reference count: one allocation for the whole request.
const INLINE_SMALL: usize = 64;
const INLINE_LARGE: usize = 240;

/// A request's arguments copied into one fixed-size block (see [`INLINE_SMALL`]).
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `src` must be at most `N` bytes.
    fn shared(src: &[u8]) -> Bytes {
        let mut block = Inline {
            len: src.len(),
            bytes: [0; N],
        };
        block.bytes[..src.len()].copy_from_slice(src);
        Bytes::from_owner(block)
    }
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The multibulk parse behind [`parse_request`]: the arguments of a request of 2 to
/// [`SHARE_MAX_ARGS`] arguments are slices of one copy of the request when it is small
/// (see [`INLINE_SMALL`], [`SHARE_MIN_ARGS`], [`SHARE_MAX_BYTES`]): one allocation per
/// request instead of one per argument. Any other request copies each argument.
fn parse_multibulk_copy(
    buf: &[u8],
    limits: &Limits,
    spare: &mut Vec<Bytes>,
) -> Result<Parsed, ProtocolError> {
    let (count, mut pos) = match multibulk_count(buf, limits)? {
        Ok(header) => header,
        Err(incomplete) => return Ok(incomplete),
    };
    if count < 2 || count as usize > SHARE_MAX_ARGS {
        return parse_multibulk(buf, limits, |a, b| Bytes::copy_from_slice(&buf[a..b]));
    }
    let count = count as usize;
    // Offsets from the first argument's start fit in u32: the span is checked below
    // before any is used, and a longer request takes the copying path.
    let mut ranges = [(0u32, 0u32); SHARE_MAX_ARGS];
    let mut first = 0;
    for (i, range) in ranges.iter_mut().enumerate().take(count) {
        match bulk(buf, pos, limits)? {
            Ok((start, stop)) => {
                if i == 0 {
                    first = start;
                }
                *range = ((start - first) as u32, (stop - first) as u32);
                pos = stop + 2;
            }
            Err(need) => return Ok(Parsed::Incomplete { need }),
        }
    }
    let last = pos - 2;
    let span = &buf[first..last];
    let whole = if span.len() <= INLINE_SMALL {
        Inline::<INLINE_SMALL>::shared(span)
    } else if span.len() <= INLINE_LARGE {
        Inline::<INLINE_LARGE>::shared(span)
    } else if count as i64 >= SHARE_MIN_ARGS && span.len() <= SHARE_MAX_BYTES {
        Bytes::copy_from_slice(span)
    } else {
        return parse_multibulk(buf, limits, |a, b| Bytes::copy_from_slice(&buf[a..b]));
    };
    // Each slice takes a reference (an atomic increment, and a decrement when dropped): the
    // last argument takes over `whole`'s own reference instead, so the request's arguments
    // cost one reference each and `whole` none. (Only for the inline blocks: a `Vec`-backed
    // `Bytes` would copy its header to truncate.)
    let Some((&(last_a, last_b), init)) = ranges[..count].split_last() else {
        return Ok(Parsed::Complete(Vec::new(), pos));
    };
    let mut args = if spare.capacity() >= count {
        std::mem::take(spare)
    } else {
        Vec::with_capacity(count)
    };
    args.clear();
    args.extend(
        init.iter()
            .map(|&(a, b)| whole.slice(a as usize..b as usize)),
    );
    if span.len() <= INLINE_LARGE {
        let mut tail = whole;
        tail.truncate(last_b as usize);
        tail.advance(last_a as usize);
        args.push(tail);
    } else {
        args.push(whole.slice(last_a as usize..last_b as usize));
    }
    Ok(Parsed::Complete(args, pos))
}

/// Like [`parse_request`], but arguments of [`BIG_ARG`] bytes or more are slices of `buf`
/// (no copy): a large value then lives in the buffer it was received into, once. Small
/// arguments are still copied so they never keep a large buffer alive.
pub fn parse_request_shared(buf: &Bytes, limits: &Limits) -> Result<Parsed, ProtocolError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete { need: 1 }),
        Some(b'*') => parse_multibulk(buf, limits, |a, b| shared_arg(buf, a, b)),
        Some(_) => parse_inline(buf, limits),
    }
}

/// `buf[a..b]` as an argument: a slice of `buf` if big, else a copy of its own.
fn shared_arg(buf: &Bytes, a: usize, b: usize) -> Bytes {
    if b - a >= BIG_ARG {
        buf.slice(a..b)
    } else {
        Bytes::copy_from_slice(&buf[a..b])
    }
}

/// The arguments that have fully arrived of a multibulk request that has not, so that a
/// server can take them out of its buffer before the rest comes: each big argument then
/// stays in the buffer it was received into, and the next one gets a buffer of its own (as
/// Redis moves a big argument out of its query buffer). Returns the arguments (taken as by
/// [`parse_request_shared`]), the bytes they and the header take, and how many arguments
/// are still to come; None if `buf` is not a multibulk request whose header and first
/// argument are complete, or if it is complete.
pub fn parse_request_prefix(buf: &Bytes, limits: &Limits) -> Option<(Vec<Bytes>, usize, usize)> {
    if buf.first() != Some(&b'*') {
        return None;
    }
    let Ok(Ok((count, mut pos))) = multibulk_count(buf, limits) else {
        return None;
    };
    let count = usize::try_from(count).ok()?;
    let mut args = Vec::new();
    while args.len() < count {
        let Ok(Ok((a, b))) = bulk(buf, pos, limits) else {
            break;
        };
        args.push(shared_arg(buf, a, b));
        pos = b + 2;
    }
    (!args.is_empty() && args.len() < count).then(|| {
        let left = count - args.len();
        (args, pos, left)
    })
}

/// Finds `\r\n` starting at `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < buf.len() {
        match buf[i..].iter().position(|&b| b == b'\r') {
            Some(off) => {
                let at = i + off;
                if at + 1 < buf.len() && buf[at + 1] == b'\n' {
                    return Some(at);
                }
                if at + 1 >= buf.len() {
                    return None;
                }
                i = at + 1;
            }
            None => return None,
        }
    }
    None
}

/// Parses a signed decimal count as Redis does (string2ll): no sign '+', no spaces.
fn parse_count(digits: &[u8]) -> Option<i64> {
    let (neg, body) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if neg { -n } else { n })
}

/// The `*<count>\r\n` header: the count and where the first argument starts, or the
/// incomplete result to return.
#[allow(clippy::type_complexity)]
fn multibulk_count(
    buf: &[u8],
    limits: &Limits,
) -> Result<Result<(i64, usize), Parsed>, ProtocolError> {
    let Some(end) = find_crlf(buf, 1) else {
        if buf.len() > 1024 * 64 {
            return Err(ProtocolError::TooBigCountString);
        }
        return Ok(Err(Parsed::Incomplete {
            need: buf.len() + 1,
        }));
    };
    let count = parse_count(&buf[1..end]).ok_or(ProtocolError::InvalidMultibulkLength)?;
    if count > limits.max_multibulk_len as i64 {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    if limits.unauthenticated && count > UNAUTH_MAX_ARGS {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    Ok(Ok((count, end + 2)))
}

/// One `$<len>\r\n<bytes>\r\n` argument at `pos`: its (start, stop) in `buf`, or the
/// number of bytes needed before it can be complete. Always inlined: it runs once per
/// argument, and a call costs about a third of its work for a short argument.
#[inline(always)]
fn bulk(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<Result<(usize, usize), usize>, ProtocolError> {
    let Some(&first) = buf.get(pos) else {
        return Ok(Err(pos + 1));
    };
    if first != b'$' {
        return Err(ProtocolError::ExpectedDollar(first.into()));
    }
    // The common headers, one or two digits and CRLF, are read directly; anything else
    // (more digits, a sign, a bad byte, a header cut by the end of the buffer) takes the
    // general path.
    let digit = |i: usize| buf.get(i).map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9);
    let crlf = |i: usize| buf.get(i) == Some(&b'\r') && buf.get(i + 1) == Some(&b'\n');
    let fast = match (digit(pos + 1), digit(pos + 2)) {
        (Some(d), None) if crlf(pos + 2) => Some((d as i64, pos + 4)),
        (Some(d), Some(e)) if crlf(pos + 3) => Some((d as i64 * 10 + e as i64, pos + 5)),
        _ => None,
    };
    let (len, start) = match fast {
        Some(header) => header,
        None => {
            let Some(end) = find_crlf(buf, pos + 1) else {
                if buf.len() - pos > 64 {
                    return Err(ProtocolError::InvalidBulkLength);
                }
                return Ok(Err(buf.len() + 1));
            };
            let len = parse_count(&buf[pos + 1..end]).ok_or(ProtocolError::InvalidBulkLength)?;
            (len, end + 2)
        }
    };
    if len < 0 || len as u64 > limits.max_bulk_len as u64 {
        return Err(ProtocolError::InvalidBulkLength);
    }
    if limits.unauthenticated && len > UNAUTH_MAX_BULK {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let stop = start + len as usize;
    if stop + 2 > buf.len() {
        return Ok(Err(stop + 2));
    }
    Ok(Ok((start, stop)))
}

fn parse_multibulk(
    buf: &[u8],
    limits: &Limits,
    take: impl Fn(usize, usize) -> Bytes,
) -> Result<Parsed, ProtocolError> {
    let (count, mut pos) = match multibulk_count(buf, limits)? {
        Ok(header) => header,
        Err(incomplete) => return Ok(incomplete),
    };
    if count <= 0 {
        return Ok(Parsed::Complete(Vec::new(), pos));
    }
    let mut args = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        match bulk(buf, pos, limits)? {
            Ok((start, stop)) => {
                args.push(take(start, stop));
                pos = stop + 2;
            }
            Err(need) => return Ok(Parsed::Incomplete { need }),
        }
    }
    Ok(Parsed::Complete(args, pos))
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Parsed, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(Parsed::Incomplete {
            need: buf.len() + 1,
        });
    };
    if nl > limits.max_inline_len {
        return Err(ProtocolError::TooBigInline);
    }
    let mut line = &buf[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let args = split_args(line).ok_or(ProtocolError::UnbalancedQuotes)?;
    Ok(Parsed::Complete(args, nl + 1))
}

/// Splits an inline line into arguments with Redis's quoting rules (sdssplitargs):
/// "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single quotes' with \' only.
/// Returns None on unbalanced quotes or a closing quote not followed by a space.
/// Spaces are C's: any of `isspace` (space, \t, \n, \v, \f, \r) is skipped before a word,
/// but only space, \t, \n and \r end an unquoted one (\v and \f inside a word are
/// kept). A NUL is an ordinary byte here; a caller that reads a C string cuts at it.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    // C's isspace in the "C" locale.
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let c = *line.get(i)?;
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    let hex = |b: u8| (b as char).to_digit(16);
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        cur.push((h * 16 + l) as u8);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    cur.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                } else if c == b'"' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                    i += 1;
                }
            } else if in_sq {
                let c = *line.get(i)?;
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                    i += 1;
                }
            } else {
                match line.get(i) {
                    None | Some(b' ' | b'\t' | b'\n' | b'\r') => break,
                    Some(b'"') => {
                        in_dq = true;
                        i += 1;
                    }
                    Some(b'\'') => {
                        in_sq = true;
                        i += 1;
                    }
                    Some(&c) => {
                        cur.push(c);
                        i += 1;
                    }
                }
            }
        }
        args.push(Bytes::from(cur));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Parsed, ProtocolError> {
        parse_request(b, &Limits::default())
    }

    fn args(v: &[&str]) -> Request {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn multibulk() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest";
        assert_eq!(parse(buf), Ok(Parsed::Complete(args(&["GET", "k"]), 20)));
    }

    #[test]
    fn partial_frames_ask_for_more() {
        let full = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            assert!(
                matches!(parse(&full[..cut]), Ok(Parsed::Incomplete { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_spare_vector_is_reused_only_when_a_request_is_complete_and_fits() {
        let limits = Limits::default();
        let mut spare: Vec<Bytes> = Vec::with_capacity(4);
        let at = spare.as_ptr();
        // Incomplete: the spare stays with the caller.
        let r = parse_request_reusing(b"*2\r\n$3\r\nGET\r\n$1\r", &limits, &mut spare);
        assert!(matches!(r, Ok(Parsed::Incomplete { .. })));
        assert_eq!(spare.capacity(), 4);
        // Complete and small: parsed into the spare's allocation, the spare left empty.
        let Ok(Parsed::Complete(args, used)) =
            parse_request_reusing(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &limits, &mut spare)
        else {
            panic!("complete request expected");
        };
        assert_eq!(args.as_ptr(), at);
        assert_eq!(
            (args, used),
            (vec![Bytes::from("GET"), Bytes::from("k")], 20)
        );
        assert_eq!(spare.capacity(), 0);
        // More arguments than the spare holds: a vector of its own, the spare untouched.
        let mut small: Vec<Bytes> = Vec::with_capacity(1);
        let r = parse_request_reusing(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", &limits, &mut small);
        assert!(matches!(r, Ok(Parsed::Complete(ref a, 20)) if a.len() == 2));
        assert_eq!(small.capacity(), 1);
    }

    #[test]
    fn small_requests_share_one_copy_and_parse_as_before() {
        let buf = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n+";
        let Ok(Parsed::Complete(got, used)) = parse(buf) else {
            panic!("a complete request must parse");
        };
        assert_eq!(got, args(&["SET", "key", "value"]));
        assert_eq!(used, buf.len() - 1);
        let buf4 = b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$1\r\nv\r\n";
        let Ok(Parsed::Complete(got4, _)) = parse(buf4) else {
            panic!("a complete request must parse");
        };
        assert_eq!(got4, args(&["HSET", "h", "f", "v"]));
        // Slices of one copy: the arguments sit back to back in it, 2+4 bytes apart.
        assert_eq!(got4[1].as_ptr() as usize - got4[0].as_ptr() as usize, 4 + 6);
        assert_eq!(got[1].as_ptr() as usize - got[0].as_ptr() as usize, 3 + 6);
        let mid = format!(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n{}\r\n",
            "m".repeat(100)
        );
        let Ok(Parsed::Complete(got3, _)) = parse(mid.as_bytes()) else {
            panic!("a complete request must parse");
        };
        assert_eq!(got3[2], "m".repeat(100).as_bytes());
        assert_eq!(got3[2].as_ptr() as usize - got3[1].as_ptr() as usize, 1 + 8);
        // Every cut of the frame asks for more; headers of unusual forms still parse.
        for cut in 0..used {
            assert!(matches!(parse(&buf[..cut]), Ok(Parsed::Incomplete { .. })));
        }
        assert_eq!(
            parse(b"*3\r\n$03\r\nSET\r\n$1\r\nk\r\n$-1\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse(b"*3\r\n$3x\r\nSET\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        let big = format!(
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n{}\r\n",
            "v".repeat(2000)
        );
        let Ok(Parsed::Complete(got, _)) = parse(big.as_bytes()) else {
            panic!("a complete request must parse");
        };
        assert_eq!(got[2].len(), 2000);
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let mut wire = format!("*{}\r\n", many.len());
        for a in &many {
            wire.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        let refs: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            parse(wire.as_bytes()),
            Ok(Parsed::Complete(args(&refs), wire.len()))
        );
    }

    #[test]
    fn inline_with_quotes() {
        let buf = b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n";
        assert_eq!(
            parse(buf),
            Ok(Parsed::Complete(
                args(&["SET", "a b", "c'd", "A\n"]),
                buf.len()
            ))
        );
        assert_eq!(
            parse(b"SET \"abc\r\n"),
            Err(ProtocolError::UnbalancedQuotes)
        );
        assert_eq!(parse(b"\r\n"), Ok(Parsed::Complete(vec![], 2)));
    }

    #[test]
    fn split_args_spaces_are_cs() {
        let split = |l: &[u8]| {
            split_args(l).map(|v| v.iter().map(|a| a.to_vec()).collect::<Vec<Vec<u8>>>())
        };
        // \v and \f are skipped before a word, kept inside one.
        assert_eq!(
            split(b"ECHO \x0bx"),
            Some(vec![b"ECHO".to_vec(), b"x".to_vec()])
        );
        assert_eq!(split(b"ECHO\x0cx"), Some(vec![b"ECHO\x0cx".to_vec()]));
        assert_eq!(
            split(b"a\x0b b"),
            Some(vec![b"a\x0b".to_vec(), b"b".to_vec()])
        );
        // A closing quote may be followed by any of them.
        assert_eq!(
            split(b"\"a\"\x0bb 'c'\x0cd"),
            Some(vec![
                b"a".to_vec(),
                b"b".to_vec(),
                b"c".to_vec(),
                b"d".to_vec()
            ])
        );
        assert_eq!(split(b"\"a\"b"), None);
        assert_eq!(
            split(b"a\tb\rc\nd"),
            Some(vec![
                b"a".to_vec(),
                b"b".to_vec(),
                b"c".to_vec(),
                b"d".to_vec()
            ])
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(parse(b"*x\r\n"), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(
            parse(b"*1\r\n:1\r\n"),
            Err(ProtocolError::ExpectedDollar(b':'.into()))
        );
        assert_eq!(
            parse(b"*1\r\n$-5\r\n"),
            Err(ProtocolError::InvalidBulkLength)
        );
        let limits = Limits {
            max_bulk_len: 10,
            ..Limits::default()
        };
        assert_eq!(
            parse_request(b"*1\r\n$11\r\n", &limits),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(parse(&vec![b'a'; 70_000]), Err(ProtocolError::TooBigInline));
    }

    #[test]
    fn shared_parse_slices_big_arguments_and_copies_small_ones() {
        let big = vec![b'v'; BIG_ARG];
        let mut wire = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", big.len()).into_bytes();
        wire.extend_from_slice(&big);
        wire.extend_from_slice(b"\r\n");
        let buf = Bytes::from(wire);
        let Ok(Parsed::Complete(args, used)) = parse_request_shared(&buf, &Limits::default())
        else {
            panic!("a complete request must parse");
        };
        assert_eq!(used, buf.len());
        assert_eq!(args[2], big);
        let inside = buf.as_ptr_range();
        assert!(
            inside.contains(&args[2].as_ptr()),
            "big argument is a slice of the buffer"
        );
        assert!(
            !inside.contains(&args[0].as_ptr()),
            "small argument is a copy"
        );
        assert_eq!(
            parse_request(&buf, &Limits::default()),
            Ok(Parsed::Complete(args, used))
        );
    }

    #[test]
    fn a_request_prefix_is_its_complete_arguments_and_the_count_left() {
        let big = vec![b'v'; BIG_ARG];
        let mut req = format!("*4\r\n$4\r\nMSET\r\n$1\r\nk\r\n${}\r\n", big.len()).into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\n$2\r\nk");
        let buf = Bytes::from(req);
        let (args, used, left) = parse_request_prefix(&buf, &Limits::default()).expect("prefix");
        assert_eq!(args.len(), 3);
        assert_eq!(&args[2][..], &big[..]);
        // The big argument is a slice of the buffer, not a copy.
        assert_eq!(args[2].as_ptr(), buf[buf.len() - 7 - big.len()..].as_ptr());
        assert_eq!((used, left), (buf.len() - 5, 1));
        // Nothing complete, complete requests and inline requests have no prefix.
        let none = |b: &[u8]| parse_request_prefix(&Bytes::copy_from_slice(b), &Limits::default());
        assert!(none(b"*2\r\n$3\r\nGE").is_none());
        assert!(none(b"*1\r\n$4\r\nPING\r\n").is_none());
        assert!(none(b"PING\r\n").is_none());
        assert!(none(b"*2\r\n").is_none());
    }

    #[test]
    fn multibulk_count_limit_is_int_max_and_unauthenticated_limits_apply() {
        assert!(matches!(
            parse(b"*1048577\r\n"),
            Ok(Parsed::Incomplete { .. })
        ));
        assert_eq!(
            parse(b"*2147483648\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        let anon = Limits {
            unauthenticated: true,
            ..Limits::default()
        };
        assert!(matches!(
            parse_request(b"*10\r\n", &anon),
            Ok(Parsed::Incomplete { .. })
        ));
        assert_eq!(
            parse_request(b"*11\r\n", &anon),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert!(matches!(
            parse_request(b"*1\r\n$16384\r\n", &anon),
            Ok(Parsed::Incomplete { .. })
        ));
        assert_eq!(
            parse_request(b"*1\r\n$16385\r\n", &anon),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
    }
}

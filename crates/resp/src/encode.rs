//! Replies as values, encoded per connection protocol. Handlers build a `Reply` once; the
//! connection decides whether it goes out as RESP2 or RESP3 (maps, sets, doubles, nulls and
//! pushes differ), so no command needs to know which protocol its client speaks.

use crate::double::format_double;
use bytes::Bytes;
use std::borrow::Cow;

/// The format tag of a RESP3 verbatim string (`=15\r\ntxt:...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerbatimFormat {
    Txt,
    Mkd,
}

/// A reply to a client, independent of protocol version.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`: status replies such as OK, PONG, QUEUED. Bytes, not text, as errors are:
    /// a script's status reply (`redis.status_reply`, `{ok = ...}`) goes back as the
    /// script's bytes, valid UTF-8 or not.
    Status(Cow<'static, [u8]>),
    /// `-PREFIX message`: the text includes the prefix (ERR, WRONGTYPE, MOVED ...). Bytes,
    /// not text: Redis echoes a client's bytes in some errors (an unknown command's name)
    /// as they came, valid UTF-8 or not.
    Error(Cow<'static, [u8]>),
    Int(i64),
    Bulk(Bytes),
    /// Null bulk string: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// Null array: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// A map in RESP3; a flat array of key, value, ... in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A set in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// A double in RESP3; a bulk string formatted like `%.17g` in RESP2.
    Double(f64),
    /// A boolean in RESP3; the integer 1 or 0 in RESP2.
    Bool(bool),
    /// A verbatim string in RESP3; a bulk string in RESP2. Bytes: a CLIENT LIST line
    /// quotes user names, which need not be UTF-8.
    Verbatim(VerbatimFormat, Vec<u8>),
    /// An out-of-band push in RESP3 (pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
    /// Bytes already encoded, written as they are (pre-encoded shared replies).
    Raw(Bytes),
}

impl Reply {
    /// `+OK`, the most common reply.
    pub const OK: Reply = Reply::Status(Cow::Borrowed(b"OK"));

    /// A status reply from static text, borrowed (no allocation).
    pub const fn status(s: &'static str) -> Reply {
        Reply::Status(Cow::Borrowed(s.as_bytes()))
    }

    /// A status reply from owned bytes (formatted text, or a script's bytes as they came).
    pub fn status_bytes(b: Vec<u8>) -> Reply {
        Reply::Status(Cow::Owned(b))
    }

    /// An error reply from static text; the text must start with its prefix (ERR, WRONGTYPE...).
    pub const fn err(s: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(s.as_bytes()))
    }

    /// An error reply from formatted text; the text must start with its prefix.
    pub fn error(s: impl Into<String>) -> Reply {
        Reply::Error(Cow::Owned(s.into().into_bytes()))
    }

    /// An error reply holding a client's bytes as they came; it must start with its prefix.
    pub fn error_bytes(b: Vec<u8>) -> Reply {
        Reply::Error(Cow::Owned(b))
    }

    /// A bulk string copied from a slice.
    pub fn bulk(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    /// A bulk string from owned text.
    pub fn bulk_string(s: String) -> Reply {
        Reply::Bulk(Bytes::from(s))
    }

    /// An array of bulk strings.
    pub fn bulk_array<I: IntoIterator<Item = Bytes>>(items: I) -> Reply {
        Reply::Array(items.into_iter().map(Reply::Bulk).collect())
    }

    /// Whether this reply is an error (used to decide propagation and WATCH invalidation).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply to `out`, as RESP3 if `resp3` else RESP2.
    pub fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Reply::Status(s) => line(out, b'+', s),
            Reply::Error(s) => line(out, b'-', s),
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                int_line(out, b'*', items.len() as i64);
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Set(items) => {
                int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Push(items) => {
                int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                for item in items {
                    item.encode(out, resp3);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) => {
                if resp3 {
                    out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Verbatim(fmt, text) => {
                if resp3 {
                    let tag: &[u8] = match fmt {
                        VerbatimFormat::Txt => b"txt:",
                        VerbatimFormat::Mkd => b"mkd:",
                    };
                    int_line(out, b'=', (text.len() + 4) as i64);
                    out.extend_from_slice(tag);
                    out.extend_from_slice(text);
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text);
                }
            }
            Reply::Raw(b) => out.extend_from_slice(b),
        }
    }

    /// The encoding as a fresh buffer (convenient for tests and one-off messages).
    pub fn to_bytes(&self, resp3: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out, resp3);
        out
    }
}

/// An array of `len` bulk strings, encoded at once from borrowed slices. The bytes are the
/// same in RESP2 and RESP3, so the reply can be pre-encoded (`Raw`): a long LRANGE then costs
/// one buffer instead of a `Bytes` copy and a `Reply` per element (three allocations and
/// three copies each). `items` must yield `len` slices; a count that differs is corrected,
/// never sent wrong.
pub fn bulk_array<'a>(len: usize, items: impl Iterator<Item = &'a [u8]>) -> Reply {
    encoded_array(len, 16 + len * 16, |out| {
        let mut count = 0;
        for item in items {
            bulk(out, item);
            count += 1;
        }
        count
    })
}

/// The ZRANGE family's reply, encoded at once from borrowed members as `bulk_array` does:
/// the members alone, or with their scores as Redis sends them, a flat member, score, ...
/// array in RESP2 and an array of [member, score] pairs in RESP3. With scores the bytes
/// depend on the protocol, so the caller passes the one the reply is for (a script's own).
/// `items` must yield `len` pairs; a count that differs is corrected.
pub fn scored_array<'a>(
    len: usize,
    items: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
    resp3: bool,
) -> Reply {
    if !withscores {
        return bulk_array(len, items.map(|(member, _)| member));
    }
    let per_item = if resp3 { 1 } else { 2 };
    encoded_array(len * per_item, 16 + len * 40, |out| {
        let mut count = 0;
        for (member, score) in items {
            if resp3 {
                out.extend_from_slice(b"*2\r\n");
            }
            bulk(out, member);
            Reply::Double(score).encode(out, resp3);
            count += per_item;
        }
        count
    })
}

/// An array header for `len` elements followed by what `fill` writes, which returns how many
/// elements it wrote; if that is not `len`, the header is rewritten to match.
fn encoded_array(len: usize, capacity: usize, fill: impl FnOnce(&mut Vec<u8>) -> usize) -> Reply {
    let mut out = Vec::with_capacity(capacity);
    int_line(&mut out, b'*', len as i64);
    let header = out.len();
    let count = fill(&mut out);
    if count != len {
        let mut fixed = Vec::with_capacity(out.len() + 8);
        int_line(&mut fixed, b'*', count as i64);
        fixed.extend_from_slice(&out[header..]);
        out = fixed;
    }
    Reply::Raw(Bytes::from(out))
}

fn line(out: &mut Vec<u8>, tag: u8, text: &[u8]) {
    out.push(tag);
    // A status or error must be one line: CR/LF inside would corrupt the stream.
    out.extend(
        text.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

/// `tag`, `n` in decimal, CRLF: put together on the stack and appended once (one capacity
/// check instead of three; every integer reply and every bulk header comes here).
fn int_line(out: &mut Vec<u8>, tag: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    // A tag, at most 20 characters (i64::MIN), CRLF.
    let mut line = [0u8; 24];
    let end = 1 + digits.len();
    line[0] = tag;
    line[1..end].copy_from_slice(digits);
    line[end..end + 2].copy_from_slice(b"\r\n");
    out.extend_from_slice(&line[..end + 2]);
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    int_line(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_array_matches_an_array_of_bulks_in_both_protocols() {
        let items: Vec<&[u8]> = vec![b"a", b"", b"hello\r\nworld", &[0u8, 255]];
        let expected = Reply::Array(
            items
                .iter()
                .map(|i| Reply::Bulk(Bytes::copy_from_slice(i)))
                .collect(),
        );
        let raw = bulk_array(items.len(), items.iter().copied());
        for resp3 in [false, true] {
            assert_eq!(raw.to_bytes(resp3), expected.to_bytes(resp3));
        }
        assert_eq!(bulk_array(0, std::iter::empty()).to_bytes(true), b"*0\r\n");
        // A wrong count is corrected from what the iterator yielded.
        assert_eq!(
            bulk_array(5, items[..2].iter().copied()).to_bytes(false),
            b"*2\r\n$1\r\na\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn scored_array_matches_the_replies_it_replaces() {
        let items: Vec<(&[u8], f64)> = vec![(b"a", 1.5), (b"", f64::INFINITY), (b"b\r\n", -0.0)];
        let bulks = |m: &[u8]| Reply::Bulk(Bytes::copy_from_slice(m));
        let plain = Reply::Array(items.iter().map(|(m, _)| bulks(m)).collect());
        let flat = Reply::Array(
            items
                .iter()
                .flat_map(|(m, s)| [bulks(m), Reply::Double(*s)])
                .collect(),
        );
        let nested = Reply::Array(
            items
                .iter()
                .map(|(m, s)| Reply::Array(vec![bulks(m), Reply::Double(*s)]))
                .collect(),
        );
        for resp3 in [false, true] {
            let scored = |withscores| {
                scored_array(items.len(), items.iter().copied(), withscores, resp3).to_bytes(resp3)
            };
            assert_eq!(scored(false), plain.to_bytes(resp3));
            let expected = if resp3 { &nested } else { &flat };
            assert_eq!(scored(true), expected.to_bytes(resp3));
        }
        // A wrong count is corrected, counting a RESP2 pair as two elements.
        assert_eq!(
            scored_array(9, items[..1].iter().copied(), true, false).to_bytes(false),
            b"*2\r\n$1\r\na\r\n$3\r\n1.5\r\n"
        );
    }

    #[test]
    fn status_and_error_lines_carry_bytes_as_they_are() {
        assert_eq!(Reply::OK.to_bytes(false), b"+OK\r\n");
        assert_eq!(Reply::status("PONG").to_bytes(true), b"+PONG\r\n");
        // Not UTF-8: sent as it is, never replaced by U+FFFD; CR and LF become spaces.
        let status = Reply::status_bytes(vec![b'a', 0xff, b'\r', b'\n', 0xfe]);
        assert_eq!(status.to_bytes(false), b"+a\xff  \xfe\r\n");
        assert_eq!(status.to_bytes(true), b"+a\xff  \xfe\r\n");
        let error = Reply::error_bytes(b"ERR \xff".to_vec());
        assert_eq!(error.to_bytes(false), b"-ERR \xff\r\n");
    }

    #[test]
    fn integer_lines_at_the_extremes() {
        assert_eq!(Reply::Int(0).to_bytes(false), b":0\r\n");
        assert_eq!(Reply::Int(-7).to_bytes(false), b":-7\r\n");
        assert_eq!(
            Reply::Int(i64::MIN).to_bytes(false),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(
            Reply::Int(i64::MAX).to_bytes(true),
            b":9223372036854775807\r\n"
        );
        assert_eq!(Reply::bulk(b"").to_bytes(false), b"$0\r\n\r\n");
    }

    #[test]
    fn resp2_and_resp3_differ_where_redis_does() {
        let map = Reply::Map(vec![(Reply::bulk(b"a"), Reply::Int(1))]);
        assert_eq!(map.to_bytes(false), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(map.to_bytes(true), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(Reply::Nil.to_bytes(false), b"$-1\r\n");
        assert_eq!(Reply::Nil.to_bytes(true), b"_\r\n");
        assert_eq!(Reply::Double(1.5).to_bytes(false), b"$3\r\n1.5\r\n");
        assert_eq!(Reply::Double(1.5).to_bytes(true), b",1.5\r\n");
        assert_eq!(Reply::Bool(true).to_bytes(false), b":1\r\n");
        assert_eq!(Reply::Bool(true).to_bytes(true), b"#t\r\n");
    }

    #[test]
    fn error_text_cannot_break_framing() {
        assert_eq!(Reply::error("ERR a\r\nb").to_bytes(false), b"-ERR a  b\r\n");
    }
}

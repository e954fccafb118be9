//! A general RESP2/RESP3 frame parser for the client side of the protocol: replies read by
//! replication links, the operator tool and tests. Depth and size are bounded so that a
//! hostile peer cannot make us recurse or allocate without limit.

use crate::request::ProtocolError;
use bytes::Bytes;

/// Largest nesting of aggregates we accept from a peer.
const MAX_DEPTH: usize = 64;

/// One decoded RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Bytes),
    Error(Bytes),
    Int(i64),
    Bulk(Bytes),
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    Double(f64),
    Bool(bool),
    BigNumber(Bytes),
    Verbatim(Bytes),
}

/// Parses one frame from the start of `buf`. Ok(None) means more bytes are needed; on
/// success returns the frame and how many bytes it used.
pub fn parse_frame(buf: &[u8], max_bulk: usize) -> Result<Option<(Frame, usize)>, ProtocolError> {
    parse_at(buf, 0, max_bulk, 0)
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len().saturating_sub(1)).find(|&i| buf[i] == b'\r' && buf[i + 1] == b'\n')
}

fn int_of(bytes: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(ProtocolError::InvalidBulkLength)
}

fn parse_at(
    buf: &[u8],
    pos: usize,
    max_bulk: usize,
    depth: usize,
) -> Result<Option<(Frame, usize)>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(end) = line_end(buf, pos + 1) else {
        return Ok(None);
    };
    let body = &buf[pos + 1..end];
    let next = end + 2;
    let simple = |f: fn(Bytes) -> Frame| Ok(Some((f(Bytes::copy_from_slice(body)), next)));
    match tag {
        b'+' => simple(Frame::Simple),
        b'-' => simple(Frame::Error),
        b'(' => simple(Frame::BigNumber),
        b':' => Ok(Some((Frame::Int(int_of(body)?), next))),
        b'_' => Ok(Some((Frame::Null, next))),
        b'#' => Ok(Some((Frame::Bool(body == b"t"), next))),
        b',' => {
            let text = std::str::from_utf8(body).map_err(|_| ProtocolError::InvalidBulkLength)?;
            let v = match text {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                t => t.parse().map_err(|_| ProtocolError::InvalidBulkLength)?,
            };
            Ok(Some((Frame::Double(v), next)))
        }
        b'$' | b'=' | b'!' => {
            let len = int_of(body)?;
            if len < 0 {
                return Ok(Some((Frame::Null, next)));
            }
            if len as u64 > max_bulk as u64 {
                return Err(ProtocolError::InvalidBulkLength);
            }
            let stop = next + len as usize;
            if stop + 2 > buf.len() {
                return Ok(None);
            }
            let data = Bytes::copy_from_slice(&buf[next..stop]);
            let frame = match tag {
                b'$' => Frame::Bulk(data),
                b'=' => Frame::Verbatim(data),
                _ => Frame::Error(data),
            };
            Ok(Some((frame, stop + 2)))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = int_of(body)?;
            if n < 0 {
                return Ok(Some((Frame::Null, next)));
            }
            // A map announces pairs: double the count without overflowing (a peer may send
            // `%9223372036854775807`).
            let items = if tag == b'%' {
                n.checked_mul(2)
                    .ok_or(ProtocolError::InvalidMultibulkLength)?
            } else {
                n
            };
            // Each element needs at least 3 bytes, so a count beyond the buffer is incomplete,
            // and we never pre-allocate more than what the buffer could hold.
            let mut out = Vec::with_capacity((items as usize).min(buf.len() / 3 + 1));
            let mut at = next;
            for _ in 0..items {
                match parse_at(buf, at, max_bulk, depth + 1)? {
                    Some((f, n)) => {
                        out.push(f);
                        at = n;
                    }
                    None => return Ok(None),
                }
            }
            let frame = match tag {
                b'*' => Frame::Array(out),
                b'~' => Frame::Set(out),
                b'>' => Frame::Push(out),
                _ => {
                    let mut pairs = Vec::with_capacity(out.len() / 2);
                    let mut it = out.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            };
            Ok(Some((frame, at)))
        }
        other => Err(ProtocolError::ExpectedDollar(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;

    #[test]
    fn parses_what_we_encode() {
        let reply = Reply::Array(vec![
            Reply::Int(-3),
            Reply::bulk(b"x"),
            Reply::Nil,
            Reply::Map(vec![(Reply::status("k"), Reply::Double(2.5))]),
        ]);
        let bytes = reply.to_bytes(true);
        let (frame, used) = parse_frame(&bytes, 1 << 20).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            frame,
            Frame::Array(vec![
                Frame::Int(-3),
                Frame::Bulk(Bytes::from_static(b"x")),
                Frame::Null,
                Frame::Map(vec![(
                    Frame::Simple(Bytes::from_static(b"k")),
                    Frame::Double(2.5)
                )]),
            ])
        );
        for cut in 0..bytes.len() {
            assert_eq!(parse_frame(&bytes[..cut], 1 << 20), Ok(None));
        }
    }

    /// Found by the fuzzer (fuzz_resp::fuzz_frame_reader): the pair count of a map was
    /// doubled with `*`, which overflows for a huge announced count.
    #[test]
    fn regression_map_count_overflow_is_refused() {
        let input = b"%9223372036854775807\r\n+i\r\n";
        assert!(parse_frame(input, 1 << 20).is_err());
        assert_eq!(
            parse_frame(b"%4611686018427387903\r\n+i\r\n", 1 << 20),
            Ok(None)
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let bytes = "*1\r\n".repeat(100);
        assert!(parse_frame(bytes.as_bytes(), 1 << 20).is_err());
    }
}

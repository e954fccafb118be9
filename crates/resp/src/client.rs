//! The client side of the protocol in one place: encoding a request as a multibulk and
//! reading reply frames from a stream. Every caller that talks to another node (the replica
//! link, MIGRATE, the propagation feed, the `rubra` tool, tests) uses these two, so there is
//! one request encoder and one reply parser to fuzz and to keep right.

use crate::frame::{parse_frame, Frame};
use crate::request::ProtocolError;
use std::io::{self, Read};

/// Appends `args` to `out` as one RESP multibulk request (`*N\r\n$len\r\narg\r\n...`), the
/// form every Redis server accepts and the one replicas and AOF files carry.
pub fn encode_request<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    let total: usize = args.iter().map(|a| a.as_ref().len() + 16).sum();
    out.reserve(total + 16);
    push_header(out, b'*', args.len());
    for a in args {
        let a = a.as_ref();
        push_header(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `<tag><n>\r\n` without going through `format!` (this sits on the replication hot path).
fn push_header(out: &mut Vec<u8>, tag: u8, n: usize) {
    out.push(tag);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Reads whole reply frames from a blocking stream, keeping the bytes that arrived past
/// the end of one frame for the next (pipelined replies).
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max_bulk: usize,
}

impl FrameReader {
    /// A reader that refuses bulk strings longer than `max_bulk` (a peer's claim of a huge
    /// length must not make us allocate it).
    pub fn new(max_bulk: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            max_bulk,
        }
    }

    /// The next complete frame already buffered, if any.
    pub fn next_buffered(&mut self) -> Result<Option<Frame>, ProtocolError> {
        match parse_frame(&self.buf, self.max_bulk)? {
            Some((frame, used)) => {
                self.buf.drain(..used);
                Ok(Some(frame))
            }
            None => Ok(None),
        }
    }

    /// Blocks until one whole frame has been read from `r`. A closed connection or a
    /// protocol violation is an `io::Error` (the caller names the peer).
    pub fn read_frame<R: Read>(&mut self, r: &mut R) -> io::Result<Frame> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.next_buffered() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("protocol error: {e:?}"),
                    ))
                }
            }
            let n = r.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn encodes_requests_as_multibulk() {
        let mut out = Vec::new();
        encode_request(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let mut out = Vec::new();
        let big = vec![b'x'; 1234567];
        encode_request(&mut out, &[&big[..]]);
        assert!(out.starts_with(b"*1\r\n$1234567\r\nxxx"));
        assert_eq!(out.len(), 4 + 10 + 1234567 + 2);
    }

    #[test]
    fn encoded_requests_parse_back_as_requests() {
        let args: Vec<&[u8]> = vec![b"MIGRATE", b"", b"\r\n\x00\xff", b"0"];
        let mut out = Vec::new();
        encode_request(&mut out, &args);
        match crate::parse_request(&out, &crate::Limits::default()) {
            Ok(crate::Parsed::Complete(req, used)) => {
                assert_eq!(used, out.len());
                let got: Vec<&[u8]> = req.iter().map(|a| a.as_ref()).collect();
                assert_eq!(got, args);
            }
            other => panic!("unexpected parse result {other:?}"),
        }
    }

    #[test]
    fn reads_frames_across_reads_and_keeps_the_rest() {
        // A reader that hands out one byte per read exercises every partial state.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut src = Trickle(b"+OK\r\n*2\r\n$3\r\nabc\r\n:7\r\n".to_vec(), 0);
        let mut r = FrameReader::new(1 << 20);
        assert_eq!(
            r.read_frame(&mut src).unwrap(),
            Frame::Simple(Bytes::from("OK"))
        );
        assert_eq!(
            r.read_frame(&mut src).unwrap(),
            Frame::Array(vec![Frame::Bulk(Bytes::from("abc")), Frame::Int(7)])
        );
        let e = r.read_frame(&mut src).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn refuses_oversized_bulk_claims() {
        let mut r = FrameReader::new(10);
        let mut src: &[u8] = b"$999999999999\r\n";
        let e = r.read_frame(&mut src).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}

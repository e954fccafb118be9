//! A small blocking RESP2 client over `std::net::TcpStream`.
//!
//! Why our own: rubra must drive any Redis-Cluster-compatible node with the exact
//! commands `redis-cli --cluster` uses (CLUSTER SETSLOT, MIGRATE ... AUTH2 ...), and a
//! blocking client keeps the cluster operations plain sequential code that runs the same
//! from the CLI and from the supervisor's worker threads.

use anyhow::{anyhow, bail, Context, Result};
use rubra_resp::{encode_request, Frame, FrameReader};
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// One RESP reply. Errors are values (`Err`) so callers decide whether a node's refusal
/// is fatal (most are) or expected (e.g. "already assigned" on a rerun).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `$-1` / `*-1`.
    Nil,
    /// `:n`.
    Int(i64),
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`, kept as text without the leading '-'.
    Err(String),
    /// `$n` bulk string, bytes.
    Bulk(Vec<u8>),
    /// `*n` array.
    Array(Vec<Value>),
}

impl Value {
    /// Text of a simple or bulk reply (lossy UTF-8), for replies that are text by spec
    /// (INFO, CLUSTER NODES, ROLE fields).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Simple(s) => Some(s.clone()),
            Value::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// A node's error reply to a command, kept typed so that a caller can tell a node that
/// is only busy for a while (-LOADING while it loads a snapshot) from a real refusal.
#[derive(Debug)]
pub struct Refused {
    /// The node's address.
    pub addr: String,
    /// The first words of the command, for the message.
    pub command: String,
    /// The error reply without its leading '-'.
    pub reply: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.addr, self.command, self.reply)
    }
}

impl std::error::Error for Refused {}

/// True when `e` is a node's -LOADING reply: it answers again once its dataset is in.
pub fn is_loading(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>()
        .is_some_and(|r| r.reply.starts_with("LOADING "))
}

/// A connection to one node (over TLS for a `rubra up --tls` cluster), authenticated if
/// a password was given.
pub struct Conn {
    addr: String,
    stream: crate::tls::Stream,
    reader: FrameReader,
}

/// Default read timeout: MIGRATE of a batch can take a while on a loaded node.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest bulk reply we accept from a node (Redis's default proto-max-bulk-len).
const MAX_BULK: usize = 512 * 1024 * 1024;

impl Conn {
    /// Connect to `addr` (host:port) and AUTH with `password` when present.
    pub fn connect(addr: &str, password: Option<&str>) -> Result<Conn> {
        Conn::connect_tls(addr, password, None)
    }

    /// Like [`Conn::connect`], over TLS with `tls` when given (the node's certificate
    /// must name the host of `addr`).
    pub fn connect_tls(
        addr: &str,
        password: Option<&str>,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Conn> {
        let sa = addr
            .to_socket_addrs()
            .with_context(|| format!("resolve {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("no address for {addr}"))?;
        let stream = TcpStream::connect_timeout(&sa, Duration::from_secs(2))
            .with_context(|| format!("connect {addr}"))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        // The handshake runs within the first command, under the same timeouts.
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        let mut c = Conn {
            addr: addr.to_string(),
            stream: crate::tls::Stream::new(stream, crate::tls::host_of(addr), tls)?,
            reader: FrameReader::new(MAX_BULK),
        };
        if let Some(p) = password {
            if let Value::Err(e) = c.cmd(&["AUTH", p])? {
                bail!("{addr}: authentication failed: {e}");
            }
        }
        Ok(c)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Send one command and read its reply; node errors come back as `Value::Err`.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value> {
        let mut buf = Vec::with_capacity(64);
        encode_request(&mut buf, args);
        self.stream
            .write_all(&buf)
            .with_context(|| format!("write to {}", self.addr))?;
        let frame = self
            .reader
            .read_frame(&mut self.stream)
            .with_context(|| format!("read from {}", self.addr))?;
        Ok(Value::from(frame))
    }

    /// Send several commands in one write and read their replies in order: bulk loads
    /// (`rubra restore`) would otherwise wait one round trip per key.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, cmds: &[Vec<A>]) -> Result<Vec<Value>> {
        let mut buf = Vec::new();
        for c in cmds {
            encode_request(&mut buf, c);
        }
        self.stream
            .write_all(&buf)
            .with_context(|| format!("write to {}", self.addr))?;
        let mut out = Vec::with_capacity(cmds.len());
        for _ in cmds {
            let frame = self
                .reader
                .read_frame(&mut self.stream)
                .with_context(|| format!("read from {}", self.addr))?;
            out.push(Value::from(frame));
        }
        Ok(out)
    }

    /// Like `cmd` but a node error becomes an `Err` naming the node and command.
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value> {
        match self.cmd(args)? {
            Value::Err(e) => {
                let name: Vec<String> = args
                    .iter()
                    .take(3)
                    .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
                    .collect();
                Err(Refused {
                    addr: self.addr.clone(),
                    command: name.join(" "),
                    reply: e,
                }
                .into())
            }
            v => Ok(v),
        }
    }

    /// Run a command whose reply is text (INFO, CLUSTER NODES, CLUSTER INFO).
    pub fn text<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<String> {
        let v = self.ok(args)?;
        v.text()
            .ok_or_else(|| anyhow!("{}: expected text reply, got {v:?}", self.addr))
    }
}

impl From<Frame> for Value {
    /// The manager's view of a reply: RESP3 aggregates read as arrays (a map as its
    /// key/value pairs in order), scalars as the nearest RESP2 shape, as redis-cli shows them.
    fn from(f: Frame) -> Value {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match f {
            Frame::Simple(s) => Value::Simple(text(&s)),
            Frame::Error(e) => Value::Err(text(&e)),
            Frame::Int(n) => Value::Int(n),
            Frame::Bulk(b) | Frame::Verbatim(b) => Value::Bulk(b.to_vec()),
            Frame::Null => Value::Nil,
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                Value::Array(items.into_iter().map(Value::from).collect())
            }
            Frame::Map(pairs) => Value::Array(
                pairs
                    .into_iter()
                    .flat_map(|(k, v)| [Value::from(k), Value::from(v)])
                    .collect(),
            ),
            Frame::Double(d) => Value::Bulk(rubra_resp::format_double(d).into_bytes()),
            Frame::Bool(b) => Value::Int(i64::from(b)),
            Frame::BigNumber(n) => Value::Bulk(n.to_vec()),
        }
    }
}

/// Parse `INFO` text into (field, value) pairs; section headers and blanks are skipped.
pub fn parse_info(text: &str) -> std::collections::HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Number of keys from INFO keyspace fields (`db0:keys=12,expires=0,...`), summed over dbs.
pub fn info_keys(info: &std::collections::HashMap<String, String>) -> u64 {
    info.iter()
        .filter(|(k, _)| k.starts_with("db"))
        .filter_map(|(_, v)| {
            v.split(',')
                .find_map(|kv| kv.strip_prefix("keys="))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested() {
        let mut src = &b"*3\r\n:1\r\n$3\r\nabc\r\n*-1\r\n%1\r\n+k\r\n#t\r\n"[..];
        let mut r = FrameReader::new(1024);
        assert_eq!(
            Value::from(r.read_frame(&mut src).unwrap()),
            Value::Array(vec![
                Value::Int(1),
                Value::Bulk(b"abc".to_vec()),
                Value::Nil
            ])
        );
        assert_eq!(
            Value::from(r.read_frame(&mut src).unwrap()),
            Value::Array(vec![Value::Simple("k".into()), Value::Int(1)])
        );
    }

    #[test]
    fn info_keys_sums() {
        let m = parse_info("# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n");
        assert_eq!(info_keys(&m), 5);
    }
}

//! A small blocking RESP2 client over `std::net::TcpStream`.
//!
//! Why our own: rubra must drive any Redis-Cluster-compatible node with the exact
//! commands `redis-cli --cluster` uses (CLUSTER SETSLOT, MIGRATE ... AUTH2 ...), and a
//! blocking client keeps the cluster operations plain sequential code that runs the same
//! from the CLI and from the supervisor's worker threads.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
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

/// A connection to one node, authenticated if a password was given.
pub struct Conn {
    addr: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// Default read timeout: MIGRATE of a batch can take a while on a loaded node.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Conn {
    /// Connect to `addr` (host:port) and AUTH with `password` when present.
    pub fn connect(addr: &str, password: Option<&str>) -> Result<Conn> {
        let sa = addr
            .to_socket_addrs()
            .with_context(|| format!("resolve {addr}"))?
            .next()
            .ok_or_else(|| anyhow!("no address for {addr}"))?;
        let stream = TcpStream::connect_timeout(&sa, Duration::from_secs(2))
            .with_context(|| format!("connect {addr}"))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        let mut c = Conn {
            addr: addr.to_string(),
            reader: BufReader::new(stream),
            writer,
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
        buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            let a = a.as_ref();
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.writer
            .write_all(&buf)
            .with_context(|| format!("write to {}", self.addr))?;
        read_value(&mut self.reader).with_context(|| format!("read from {}", self.addr))
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
                bail!("{}: {} -> {e}", self.addr, name.join(" "))
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

fn read_line<R: BufRead>(r: &mut R) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        bail!("connection closed");
    }
    if line.len() < 2 || line[line.len() - 2] != b'\r' {
        bail!("protocol error: bad line terminator");
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_int(b: &[u8]) -> Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("protocol error: bad integer"))
}

/// Read one RESP2 value (and the common RESP3 scalars, in case a node answers with them).
pub fn read_value<R: BufRead>(r: &mut R) -> Result<Value> {
    let line = read_line(r)?;
    let (&kind, rest) = line
        .split_first()
        .ok_or_else(|| anyhow!("protocol error: empty line"))?;
    Ok(match kind {
        b'+' => Value::Simple(String::from_utf8_lossy(rest).into_owned()),
        b'-' => Value::Err(String::from_utf8_lossy(rest).into_owned()),
        b':' => Value::Int(parse_int(rest)?),
        b'_' => Value::Nil,
        b'$' | b'=' | b'!' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            let n = usize::try_from(n)?;
            let mut data = vec![0u8; n + 2];
            r.read_exact(&mut data)?;
            data.truncate(n);
            if kind == b'!' {
                Value::Err(String::from_utf8_lossy(&data).into_owned())
            } else {
                Value::Bulk(data)
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Value::Nil);
            }
            let n = usize::try_from(n)? * if kind == b'%' { 2 } else { 1 };
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                items.push(read_value(r)?);
            }
            Value::Array(items)
        }
        _ => bail!("protocol error: unexpected type byte {kind}"),
    })
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
        let mut r = BufReader::new(&b"*3\r\n:1\r\n$3\r\nabc\r\n*-1\r\n"[..]);
        assert_eq!(
            read_value(&mut r).unwrap(),
            Value::Array(vec![
                Value::Int(1),
                Value::Bulk(b"abc".to_vec()),
                Value::Nil
            ])
        );
    }

    #[test]
    fn info_keys_sums() {
        let m = parse_info("# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\n");
        assert_eq!(info_keys(&m), 5);
    }
}

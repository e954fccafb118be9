//! A minimal HTTP/1.1 client for the CLI to call the supervisor's API on loopback
//! (one request per connection, `Connection: close`), to avoid a full HTTP client stack.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Where the CLI reaches the supervisor: the Unix socket in the data directory when it
/// answers (only the directory's owner can use it, and no login lock-out applies there),
/// else the panel's TCP address.
#[derive(Debug, Clone)]
pub struct Api {
    socket: std::path::PathBuf,
    tcp: String,
    /// A `rubra up --tls` cluster's panel serves HTTPS with a certificate from its CA.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Api {
    /// The API of the supervisor of `dir`, whose panel listens on `tcp`.
    pub fn for_dir(dir: &crate::state::Dir, tcp: &str) -> Api {
        let tls = dir
            .load_state()
            .ok()
            .flatten()
            .filter(|s| s.tls)
            .and_then(|_| crate::tlsgen::Pki::existing(&dir.root))
            .and_then(|pki| crate::tls::client_config(&pki.ca_cert(), None).ok());
        Api {
            socket: dir.api_socket_path(),
            tcp: tcp.to_string(),
            tls,
        }
    }

    /// Send `method path` with a JSON body and bearer `token`; returns (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
    ) -> Result<(u16, String)> {
        // A socket file left by a supervisor that was killed refuses connections.
        match std::os::unix::net::UnixStream::connect(&self.socket) {
            Ok(s) => exchange(
                s,
                "localhost",
                method,
                path,
                &format!("Authorization: Bearer {token}\r\n"),
                body,
            ),
            Err(_) => match &self.tls {
                Some(cfg) => {
                    let tcp = TcpStream::connect(&self.tcp)
                        .with_context(|| format!("connect to supervisor API {}", self.tcp))?;
                    let host = self.tcp.rsplit_once(':').map_or("", |(h, _)| h);
                    let host = match host.trim_start_matches('[').trim_end_matches(']') {
                        // A wildcard listener: reach it on loopback, which its certificate names.
                        "0.0.0.0" | "::" | "" => "127.0.0.1",
                        h => h,
                    };
                    let s = crate::tls::Stream::new(tcp, host, Some(cfg))?;
                    exchange(
                        s,
                        &self.tcp,
                        method,
                        path,
                        &format!("Authorization: Bearer {token}\r\n"),
                        body,
                    )
                }
                None => request(&self.tcp, method, path, token, body),
            },
        }
    }
}

/// Send `method path` with a JSON body and bearer `token`; returns (status, body).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<(u16, String)> {
    let s =
        TcpStream::connect(addr).with_context(|| format!("connect to supervisor API {addr}"))?;
    exchange(
        s,
        addr,
        method,
        path,
        &format!("Authorization: Bearer {token}\r\n"),
        body,
    )
}

/// One request/response over an open stream (TCP, or the Docker Engine's unix socket):
/// `headers` are extra header lines, each ending in CRLF. Returns (status, body).
pub fn exchange<S: Read + Write>(
    mut s: S,
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Result<(u16, String)> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut resp = Vec::new();
    match s.read_to_end(&mut resp) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !resp.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (len, rest) = s.split_once("\r\n").ok_or_else(|| anyhow!("bad chunk"))?;
        let n = usize::from_str_radix(len.trim(), 16).map_err(|_| anyhow!("bad chunk size"))?;
        if n == 0 {
            return Ok(out);
        }
        if rest.len() < n {
            bail!("truncated chunk");
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
}

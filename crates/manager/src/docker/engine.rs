//! A small synchronous client for the Docker Engine API over its unix socket.
//!
//! Why not bollard: the supervisor is synchronous (threads + blocking RESP), needs about
//! a dozen endpoints (networks, volumes, containers, stats), and already has a plain
//! HTTP/1.1 exchange (`httpc`). Speaking the Engine's JSON API directly adds no crate and
//! no async runtime plumbing to the blocking code paths; bollard would bring hyper's
//! client stack and a generated model of the whole API for those dozen calls.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The API version we speak: Docker Engine 20.10 (the oldest we support) serves 1.41,
/// and newer engines keep serving it, so request and response shapes stay fixed.
const API: &str = "/v1.41";

/// Where the Docker Engine listens.
#[derive(Debug, Clone)]
pub struct Engine {
    socket: PathBuf,
}

impl Engine {
    /// The engine of `DOCKER_HOST` (unix:// only) or the default socket.
    pub fn from_env() -> Result<Engine> {
        match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => match h.strip_prefix("unix://") {
                Some(p) => Ok(Engine { socket: p.into() }),
                None => bail!("DOCKER_HOST={h}: only unix:// sockets are supported"),
            },
            _ => Ok(Engine {
                socket: "/var/run/docker.sock".into(),
            }),
        }
    }

    /// The engine at `endpoint` (`unix:///path/docker.sock`; the only transport spoken:
    /// a remote engine is reached through a forwarded socket, e.g. `ssh -L`).
    pub fn at(endpoint: &str) -> Result<Engine> {
        match endpoint.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => Ok(Engine { socket: p.into() }),
            _ => bail!("engine endpoint {endpoint:?}: only unix:///path sockets are supported"),
        }
    }

    /// Whether the engine answers `GET /_ping` within a few seconds (the supervisor's
    /// host liveness probe: a lost host's engine does not answer).
    pub fn ping(&self) -> bool {
        let Ok(s) = UnixStream::connect(&self.socket) else {
            return false;
        };
        if s.set_read_timeout(Some(Duration::from_secs(3))).is_err() {
            return false;
        }
        crate::httpc::exchange(s, "docker", "GET", &format!("{API}/_ping"), "", "")
            .is_ok_and(|(code, _)| code == 200)
    }

    /// One API call; (status, body). Transport errors only: any HTTP status is Ok.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, String)> {
        let s = UnixStream::connect(&self.socket)
            .with_context(|| format!("connect to the Docker Engine at {:?}", self.socket))?;
        // Stopping a container waits for its grace period; nothing else takes long.
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        let b = body.map(Value::to_string).unwrap_or_default();
        crate::httpc::exchange(s, "docker", method, &format!("{API}{path}"), "", &b)
    }

    /// [`Engine::call`] that requires a 2xx (or 304 "already done") status; the body as
    /// JSON (Null when empty). An error carries the engine's message.
    pub fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (code, text) = self.call(method, path, body)?;
        if !(200..300).contains(&code) && code != 304 {
            bail!("docker {method} {path}: {code} {}", message(&text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("docker {method} {path}: reply"))
    }

    /// GET that maps 404 to None (inspect of something that may not exist).
    pub fn get_opt(&self, path: &str) -> Result<Option<Value>> {
        let (code, text) = self.call("GET", path, None)?;
        match code {
            404 => Ok(None),
            200 => Ok(Some(
                serde_json::from_str(&text).with_context(|| format!("docker GET {path}"))?,
            )),
            _ => bail!("docker GET {path}: {code} {}", message(&text)),
        }
    }
}

/// The `message` of an engine error body, else the body itself.
fn message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.trim().to_string())
}

/// Percent-encode a query-string value (label filters are JSON).
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_escaped_and_errors_keep_the_message() {
        assert_eq!(
            query_escape(r#"{"label":["a=b"]}"#),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
        assert_eq!(
            message(r#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(message("plain text\n"), "plain text");
    }
}

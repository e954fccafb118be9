//! The supervisor's JSON HTTP API (the admin panel is built on it).
//!
//! Auth: every request needs `Authorization: Basic base64(admin:PASSWORD)` or
//! `Authorization: Bearer PASSWORD` (the cluster password); otherwise 401.
//!
//! - `GET  /api/cluster`   nodes, roles, slot ranges, keys, memory, ops/s, link state
//! - `GET  /api/events`    supervisor events (restarts, scale steps, autoscale decisions)
//! - `POST /api/scale`     `{"action":"add_pair"|"remove_pair"}` or `{"pairs":N}`
//! - `POST /api/rebalance` `{"threshold":2}` (optional body)
//! - `POST /api/failover`  `{"node":"<id|prefix|port>"}`
//! - `POST /api/autoscale` `{"enabled":true}`
//!
//! Operations run on blocking threads and answer when done; a second slot-moving
//! operation while one runs gets 409.

use crate::supervisor::Sup;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Build the router over a shared supervisor.
pub fn router(sup: Arc<Sup>) -> Router {
    Router::new()
        .route("/api/cluster", get(cluster))
        .route("/api/events", get(events))
        .route("/api/scale", post(scale))
        .route("/api/rebalance", post(rebalance))
        .route("/api/failover", post(failover))
        .route("/api/autoscale", post(autoscale))
        .layer(middleware::from_fn_with_state(sup.clone(), auth))
        .with_state(sup)
}

/// Decode standard base64 (for HTTP Basic); None on malformed input.
pub fn b64decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Compare without an early exit, so response timing does not leak the password.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// True when the Authorization header carries the cluster password.
pub fn authorized(header_value: Option<&str>, password: &str) -> bool {
    let Some(h) = header_value else { return false };
    if let Some(tok) = h.strip_prefix("Bearer ") {
        return ct_eq(tok.trim().as_bytes(), password.as_bytes());
    }
    if let Some(b) = h.strip_prefix("Basic ") {
        if let Some(dec) = b64decode(b) {
            let want = format!("admin:{password}");
            return ct_eq(&dec, want.as_bytes());
        }
    }
    false
}

async fn auth(State(sup): State<Arc<Sup>>, req: Request, next: Next) -> Response {
    let h = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorized(h, &sup.opts.password) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"rubra\"")],
            Json(json!({"error": "unauthorized"})),
        )
            .into_response()
    }
}

/// Run blocking cluster work off the async threads; errors become JSON with a status.
async fn blocking<F>(f: F) -> Response
where
    F: FnOnce() -> anyhow::Result<Value> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => {
            let msg = format!("{e:#}");
            let code = if msg.starts_with("busy") {
                StatusCode::CONFLICT
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (code, Json(json!({"error": msg}))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

fn bad(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

async fn cluster(State(sup): State<Arc<Sup>>) -> Response {
    blocking(move || {
        let ctx = sup.ctx();
        let (_, rows) = crate::status::gather(&ctx)?;
        let state = ctx
            .connect(ctx.seeds.first().map(String::as_str).unwrap_or(""))
            .and_then(|mut c| c.text(&["CLUSTER", "INFO"]))
            .map(|t| {
                crate::resp::parse_info(&t)
                    .get("cluster_state")
                    .cloned()
                    .unwrap_or_default()
            })
            .unwrap_or_else(|_| "unknown".into());
        let (pending, pids) = {
            let st = sup.state.lock().unwrap_or_else(|p| p.into_inner());
            let pids: serde_json::Map<String, Value> = st
                .nodes
                .iter()
                .map(|n| (n.port.to_string(), json!(n.pid)))
                .collect();
            (st.pending.clone(), pids)
        };
        Ok(json!({
            "state": state,
            "nodes": rows,
            "pids": pids,
            "pending": pending,
            "autoscale": sup.autoscale.load(Ordering::SeqCst),
        }))
    })
    .await
}

async fn events(State(sup): State<Arc<Sup>>) -> Response {
    Json(json!(sup.events())).into_response()
}

#[derive(Deserialize, Default)]
struct ScaleReq {
    action: Option<String>,
    #[serde(default)]
    add_pair: bool,
    #[serde(default)]
    remove_pair: bool,
    pairs: Option<usize>,
}

async fn scale(State(sup): State<Arc<Sup>>, Json(r): Json<ScaleReq>) -> Response {
    let what = match (r.action.as_deref(), r.add_pair, r.remove_pair, r.pairs) {
        (Some("add_pair"), ..) | (None, true, false, None) => "add",
        (Some("remove_pair"), ..) | (None, false, true, None) => "remove",
        (None, false, false, Some(_)) => "pairs",
        _ => return bad("give one of action=add_pair|remove_pair, add_pair, remove_pair, pairs"),
    };
    blocking(move || {
        sup.exclusive(|| match what {
            "add" => sup.add_pair_locked(),
            "remove" => sup.remove_pair_locked(),
            _ => sup.scale_to_locked(r.pairs.unwrap_or(0)),
        })
    })
    .await
}

async fn rebalance(State(sup): State<Arc<Sup>>, body: Bytes) -> Response {
    let threshold = if body.is_empty() {
        2.0
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v.get("threshold").and_then(Value::as_f64).unwrap_or(2.0),
            Err(_) => return bad("body must be JSON"),
        }
    };
    blocking(move || {
        sup.exclusive(|| {
            let (slots, keys) = sup.rebalance_locked(threshold)?;
            let d = json!({"slots_moved": slots, "keys_moved": keys, "threshold": threshold});
            sup.event("rebalance", d.clone());
            Ok(d)
        })
    })
    .await
}

#[derive(Deserialize)]
struct FailoverReq {
    node: String,
}

async fn failover(State(sup): State<Arc<Sup>>, Json(r): Json<FailoverReq>) -> Response {
    blocking(move || {
        sup.exclusive(|| {
            let id =
                crate::failover::failover(&sup.ctx(), &r.node, std::time::Duration::from_secs(30))?;
            let d = json!({"promoted": id});
            sup.event("failover", d.clone());
            Ok(d)
        })
    })
    .await
}

#[derive(Deserialize)]
struct AutoscaleReq {
    enabled: bool,
}

async fn autoscale(State(sup): State<Arc<Sup>>, Json(r): Json<AutoscaleReq>) -> Response {
    sup.autoscale.store(r.enabled, Ordering::SeqCst);
    sup.event("autoscale_toggle", json!({"enabled": r.enabled}));
    Json(json!({"autoscale": r.enabled})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        // "admin:pw" in base64.
        assert!(authorized(Some("Basic YWRtaW46cHc="), "pw"));
        assert!(authorized(Some("Bearer pw"), "pw"));
        assert!(!authorized(Some("Bearer px"), "pw"));
        assert!(!authorized(Some("Basic YWRtaW46cHg="), "pw"));
        assert!(!authorized(None, "pw"));
    }
}

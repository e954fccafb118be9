//! The supervisor's JSON HTTP API and the admin panel's routes.
//!
//! Auth: a panel session cookie (see `panel::auth`), or `Authorization: Basic
//! base64(admin:PASSWORD)` / `Authorization: Bearer PASSWORD` (the CLI, Prometheus);
//! otherwise 401. Failed password checks are rate limited per client IP (429).
//! State-changing requests are refused (403) when Origin names another site, and, with a
//! session cookie, unless `X-CSRF-Token` carries the session's CSRF token.
//!
//! - `GET  /api/cluster`   state, nodes (roles, slots, keys, memory, ops/s, CPU,
//!   clients, link, last failover), open migrations, autoscale status, running op
//! - `GET  /api/events`    supervisor events (restarts, scale steps, autoscale decisions)
//! - `GET  /api/metrics/history`  the last hour of samples (every 5 s), columnar
//! - `GET  /api/ops`, `GET /api/ops/{id}`  background operations and their progress
//! - `POST /api/scale`     `{"action":"add_pair"|"remove_pair"}` or `{"pairs":N}`
//! - `POST /api/rebalance` `{"threshold":2}` (optional body)
//! - `POST /api/reshard`   `{"from":"<id|prefix|port>","to":"...","slots":N}`
//! - `POST /api/fix`       close open slots (what `rubra fix` does)
//! - `POST /api/failover`  `{"node":"<id|prefix|port>"}`
//! - `POST /api/autoscale` `{"enabled":true}`
//! - `GET  /api/backups`   the backup schedule and the scheduled backups kept
//! - `POST /api/password/rotate` `{"grace":SECONDS}` (optional body): a new cluster
//!   password, the old one accepted until the grace period ends (see `password`)
//! - `POST /api/upgrade`   `{"image":"NAME:TAG"}`: Docker runtime, replace every node
//!   container with one of the new image, one at a time (replicas first, primaries after
//!   a failover to their replica)
//! - `GET  /api/keys?pattern=P&cursor=C&count=N`  SCAN over all primaries (bounded)
//! - `GET  /api/key?key=K`  type, TTL, size and a bounded value
//! - `POST /api/key/delete` `{"key":"K"}`
//! - `GET  /metrics`       Prometheus text format
//!
//! Scale, rebalance, reshard, fix and failover run in the background: the POST answers 202 with
//! `{"op": ID}` at once; poll `GET /api/ops/ID` for phase and slots moved / total. Add
//! `?wait=1` to get the old behaviour (answer when done). A second operation while one
//! runs gets 409.

use crate::panel::{self, auth as pauth};
use crate::supervisor::Supervisor;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Build the router over a shared supervisor: the API (authenticated) and the panel.
pub fn router(sup: Arc<Supervisor>) -> Router {
    let api = Router::new()
        .route("/api/cluster", get(cluster))
        .route("/api/stream", get(panel::live::stream))
        .route("/api/events", get(events))
        .route("/api/metrics/history", get(history))
        .route("/api/ops", get(ops_list))
        .route("/api/ops/{id}", get(op_get))
        .route("/api/scale", post(scale))
        .route("/api/rebalance", post(rebalance))
        .route("/api/reshard", post(reshard))
        .route("/api/move-slot", post(move_slot))
        .route("/api/fix", post(fix))
        .route("/api/failover", post(failover))
        .route("/api/autoscale", post(autoscale))
        .route("/api/password/rotate", post(password_rotate))
        // POST too: the CLI posts every call (api_call).
        .route("/api/acl", get(acl_list).post(acl_list))
        .route("/api/acl/setuser", post(acl_setuser))
        .route("/api/acl/deluser", post(acl_deluser))
        .route("/api/upgrade", post(upgrade))
        .route("/api/backups", get(backups))
        .route("/api/keys", get(keys_scan))
        .route("/api/key", get(key_get))
        .route("/api/key/delete", post(key_delete))
        .route(
            "/api/key/edit",
            post(key_edit).layer(DefaultBodyLimit::max(panel::edit::MAX_BODY)),
        )
        .route("/api/key/page", get(key_page))
        .route("/api/console", post(console))
        .route("/api/slowlog", get(slowlog))
        .route("/api/hotkeys", get(hotkeys))
        .route("/api/slowlog/reset", post(slowlog_reset))
        .route("/metrics", get(prometheus))
        .route_layer(middleware::from_fn_with_state(sup.clone(), auth));
    api.merge(panel::routes())
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))) })
        .layer(middleware::from_fn(panel::headers))
        .with_state(sup)
}

/// Marks requests that came over the data directory's Unix socket (see [`serve_local`]).
#[derive(Debug, Clone, Copy)]
pub struct LocalChannel;

/// The CLI's channel to the supervisor: DIR/api.sock, mode 0600, serving the same API.
/// Created under a temporary name and renamed once its mode is set, so nobody else can
/// connect in between.
pub async fn serve_local(path: std::path::PathBuf, sup: Arc<Supervisor>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("sock.tmp");
    let _ = std::fs::remove_file(&tmp);
    let listener = tokio::net::UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &path)?;
    let app = router(sup).layer(axum::Extension(LocalChannel));
    axum::serve(listener, app.into_make_service()).await
}

/// Serve the router on `listener`, with peer addresses (for per-IP rate limiting).
pub async fn serve(listener: tokio::net::TcpListener, sup: Arc<Supervisor>) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(sup).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Like [`serve`] over HTTPS (`rubra up --tls`).
pub async fn serve_https(
    listener: crate::tls::HttpsListener,
    sup: Arc<Supervisor>,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // tap_io: axum gives any listener wrapped so its peer address as ConnectInfo.
    axum::serve(
        listener.tap_io(|_| {}),
        router(sup).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
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

/// The user name an Authorization header claims: Basic's, else the one panel user.
pub fn claimed_user(header_value: &str) -> String {
    header_value
        .strip_prefix("Basic ")
        .and_then(b64decode)
        .and_then(|d| {
            let text = String::from_utf8_lossy(&d).into_owned();
            text.split_once(':').map(|(u, _)| u.to_string())
        })
        .unwrap_or_else(|| "admin".to_string())
}

/// True when the Authorization header carries a password `accepts` takes (the cluster
/// password; during a rotation's grace period the old one too).
pub fn authorized(header_value: Option<&str>, accepts: impl Fn(&[u8]) -> bool) -> bool {
    let Some(h) = header_value else { return false };
    if let Some(tok) = h.strip_prefix("Bearer ") {
        return accepts(tok.trim().as_bytes());
    }
    if let Some(b) = h.strip_prefix("Basic ") {
        if let Some(dec) = b64decode(b) {
            let user_ok = dec.starts_with(b"admin:");
            let pass = dec.get(6..).unwrap_or_default();
            // Both checked every time (no early exit on the user name).
            return accepts(pass) & user_ok;
        }
    }
    false
}

fn err(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({"error": msg}))).into_response()
}

/// BEHAVIOR: a valid session cookie, else a valid Authorization header (subject to the
/// per-IP rate limit), else 401. No WWW-Authenticate challenge is sent, so browsers never
/// pop up (and then cache) a Basic login that would ride along on cross-site requests.
/// Then, for state-changing methods: a foreign Origin is refused, and a cookie-borne
/// request must carry the session's CSRF token in X-CSRF-Token.
async fn auth(State(sup): State<Arc<Supervisor>>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let ip = panel::client_ip(req.extensions());
    // The data directory's Unix socket: only its owner can connect, so no guesser can
    // be behind it and no lock-out applies (the password is still required).
    let local = req.extensions().get::<LocalChannel>().is_some();
    let sess = panel::session(&sup, h);
    if sess.is_none() {
        let Some(a) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return err(StatusCode::UNAUTHORIZED, "unauthorized");
        };
        let user = claimed_user(a);
        if let Some(wait) = sup.auth.blocked(&user, ip).filter(|_| !local) {
            let mut r = err(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed password checks; try again later",
            );
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        if !authorized(Some(a), |p| sup.secret.accepts(p)) {
            if !local {
                panel::count_failure(&sup, &user, ip);
            }
            return err(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        sup.auth.succeeded(&user, ip);
    }
    if !panel::safe_method(req.method()) {
        if !panel::origin_ok(h) {
            return err(StatusCode::FORBIDDEN, "cross-origin request refused");
        }
        if let Some((_, s)) = &sess {
            let sent = h.get("x-csrf-token").and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| pauth::ct_eq(t.as_bytes(), s.csrf.as_bytes())) {
                return err(StatusCode::FORBIDDEN, "missing or wrong CSRF token");
            }
        }
    }
    next.run(req).await
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
            } else if msg.starts_with("no node") {
                // A node id/port the request named that the cluster does not have.
                StatusCode::NOT_FOUND
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            err(code, &msg)
        }
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn bad(msg: &str) -> Response {
    err(StatusCode::BAD_REQUEST, msg)
}

fn query_get(q: &Option<String>, name: &str) -> Option<String> {
    q.as_deref().and_then(|q| pauth::form_get(q, name))
}

fn wants_wait(q: &Option<String>) -> bool {
    matches!(query_get(q, "wait").as_deref(), Some("1" | "true" | "yes"))
}

/// Start a background operation of `kind`: 202 `{"op": id}` at once, or with `wait`
/// the operation's result when it ends (the pre-panel behaviour). 409 when busy.
async fn start_op<F>(sup: Arc<Supervisor>, kind: &str, wait: bool, f: F) -> Response
where
    F: FnOnce(&Supervisor) -> anyhow::Result<Value> + Send + 'static,
{
    let ticket = match sup.ops.begin(kind) {
        Ok(t) => t,
        Err(e) => return err(StatusCode::CONFLICT, &format!("{e:#}")),
    };
    let id = ticket.id.clone();
    let s2 = sup.clone();
    let run = move || s2.ops.run(ticket, || f(&s2));
    if wait {
        return blocking(run).await;
    }
    // Detached: the operation goes on after this response.
    drop(tokio::task::spawn_blocking(run));
    (
        StatusCode::ACCEPTED,
        Json(json!({"op": id, "status": "running", "url": format!("/api/ops/{id}")})),
    )
        .into_response()
}

async fn cluster(State(sup): State<Arc<Supervisor>>) -> Response {
    blocking(move || {
        let snap = panel::nodes::collect(&sup.ctx())?;
        Ok(cluster_json(&sup, &snap))
    })
    .await
}

/// GET /api/cluster's body for a snapshot: the nodes with CPU and last failover from the
/// history, process ids, a pending operation, autoscaler state and the running op.
/// The live stream (`panel::live`) sends the same shape.
pub fn cluster_json(sup: &Supervisor, snap: &panel::nodes::Snapshot) -> Value {
    let (pending, pids) = {
        let st = sup.state.lock().unwrap_or_else(|p| p.into_inner());
        let pids: serde_json::Map<String, Value> = st
            .nodes
            .iter()
            .map(|n| (n.port.to_string(), json!(n.pid)))
            .collect();
        (st.pending.clone(), pids)
    };
    let nodes: Vec<Value> = snap
        .nodes
        .iter()
        .map(|n| {
            let mut v = json!(n);
            if let Some(o) = v.as_object_mut() {
                o.insert("cpu".into(), json!(sup.metrics.cpu(&n.id)));
                o.insert(
                    "last_failover".into(),
                    json!(sup.metrics.last_failover(&n.id)),
                );
                o.insert("load".into(), json!(sup.metrics.load(&n.id)));
                // The raw counters are for the load computation, not the page.
                o.remove("cmd_calls");
            }
            v
        })
        .collect();
    json!({
        "state": snap.state,
        "nodes": nodes,
        "migrations": snap.migrations,
        "pids": pids,
        "pending": pending,
        "autoscale": sup.autoscale.load(Ordering::SeqCst),
        "autoscale_status": sup.autoscale_status(),
        "op": running_op(sup),
    })
}

/// The operation running now, if any.
pub fn running_op(sup: &Supervisor) -> Option<panel::ops::Job> {
    sup.ops
        .list()
        .into_iter()
        .rev()
        .find(|j| j.status == "running")
}

/// POST /api/console {"line", "node"?, "all"?, "confirm"?}: one command on the cluster.
/// 400 for malformed or unsupported input, 409 when a dangerous command is not confirmed;
/// every command run is logged as a `console` event (its name and nodes, no arguments,
/// which may hold values or secrets).
async fn console(State(sup): State<Arc<Supervisor>>, req: Request) -> Response {
    let ip = panel::client_ip(req.extensions());
    let Ok(body) = axum::body::to_bytes(req.into_body(), panel::console::MAX_LINE + 4096).await
    else {
        return bad("request too large");
    };
    let creq: panel::console::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("bad request body: {e}")),
    };
    let args = match panel::console::prepare(&creq) {
        Ok(a) => a,
        Err(refusal) => {
            use panel::console::Refusal;
            let (code, kind, msg) = match refusal {
                Refusal::Bad(m) => (StatusCode::BAD_REQUEST, "bad", m),
                Refusal::Unsupported(m) => (StatusCode::BAD_REQUEST, "unsupported", m),
                Refusal::NeedsConfirm(m) => (StatusCode::CONFLICT, "confirm", m),
            };
            return (code, Json(json!({"error": msg, "refused": kind}))).into_response();
        }
    };
    blocking(move || {
        let out = panel::console::run(&sup.ctx(), &creq, &args)?;
        let nodes: Vec<Value> = out["results"]
            .as_array()
            .map(|rs| rs.iter().map(|r| r["node"].clone()).collect())
            .unwrap_or_default();
        sup.event(
            "console",
            json!({"user": "admin", "ip": ip.to_string(), "command": out["command"], "nodes": nodes}),
        );
        Ok(out)
    })
    .await
}

/// GET /api/slowlog?count=N: every node's SLOWLOG merged, newest first.
async fn slowlog(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery) -> Response {
    let count = query_get(&q, "count")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(panel::slowlog::MAX_PER_NODE);
    blocking(move || {
        let (entries, unreachable) = panel::slowlog::collect(&sup.ctx(), count)?;
        Ok(json!({"entries": entries, "unreachable": unreachable}))
    })
    .await
}

/// GET /api/hotkeys: the hottest keys and slots by LFU counters (see `panel::hotkeys`).
async fn hotkeys(State(sup): State<Arc<Supervisor>>) -> Response {
    blocking(move || panel::hotkeys::collect(&sup.ctx())).await
}

#[derive(serde::Deserialize)]
struct SlowlogResetReq {
    #[serde(default)]
    node: Option<String>,
}

/// POST /api/slowlog/reset {"node"?}: SLOWLOG RESET on one node or all.
async fn slowlog_reset(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let req: SlowlogResetReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(&format!("bad request body: {e}")),
    };
    blocking(move || {
        let n = panel::slowlog::reset(&sup.ctx(), req.node.as_deref())?;
        sup.event("slowlog_reset", json!({"node": req.node, "nodes_reset": n}));
        Ok(json!({"reset": n}))
    })
    .await
}

async fn events(State(sup): State<Arc<Supervisor>>) -> Response {
    Json(json!(sup.events())).into_response()
}

async fn history(State(sup): State<Arc<Supervisor>>) -> Response {
    Json(sup.metrics.to_json()).into_response()
}

async fn ops_list(State(sup): State<Arc<Supervisor>>) -> Response {
    Json(json!(sup.ops.list())).into_response()
}

async fn op_get(State(sup): State<Arc<Supervisor>>, Path(id): Path<String>) -> Response {
    match sup.ops.get(&id) {
        Some(j) => Json(json!(j)).into_response(),
        None => err(StatusCode::NOT_FOUND, "no such operation"),
    }
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

async fn scale(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<ScaleReq>(&body) else {
        return bad("body must be JSON");
    };
    let what = match (r.action.as_deref(), r.add_pair, r.remove_pair, r.pairs) {
        (Some("add_pair"), ..) | (None, true, false, None) => "add_pair",
        (Some("remove_pair"), ..) | (None, false, true, None) => "remove_pair",
        (None, false, false, Some(_)) => "scale",
        _ => return bad("give one of action=add_pair|remove_pair, add_pair, remove_pair, pairs"),
    };
    start_op(sup, what, wants_wait(&q), move |sup| match what {
        "add_pair" => sup.add_pair_locked(),
        "remove_pair" => sup.remove_pair_locked(),
        _ => sup.scale_to_locked(r.pairs.unwrap_or(0)),
    })
    .await
}

async fn rebalance(
    State(sup): State<Arc<Supervisor>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let threshold = if body.is_empty() {
        2.0
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v.get("threshold").and_then(Value::as_f64).unwrap_or(2.0),
            Err(_) => return bad("body must be JSON"),
        }
    };
    start_op(sup, "rebalance", wants_wait(&q), move |sup| {
        let (slots, keys) = sup.rebalance_locked(threshold)?;
        let d = json!({"slots_moved": slots, "keys_moved": keys, "threshold": threshold});
        sup.event("rebalance", d.clone());
        Ok(d)
    })
    .await
}

#[derive(Deserialize)]
struct ReshardReq {
    from: String,
    to: String,
    slots: usize,
}

#[derive(Deserialize)]
struct MoveSlotReq {
    slot: u16,
    #[serde(default)]
    to: Option<String>,
}

/// POST /api/move-slot {"slot", "to"?}: move one slot (e.g. a hot one) to a primary, by
/// default the one with the fewest slots; a background operation like reshard.
async fn move_slot(
    State(sup): State<Arc<Supervisor>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Ok(r) = serde_json::from_slice::<MoveSlotReq>(&body) else {
        return bad("body must be JSON with \"slot\" (0-16383) and optionally \"to\"");
    };
    if r.slot >= 16384 {
        return bad("slot must be 0-16383");
    }
    start_op(sup, "move_slot", wants_wait(&q), move |sup| {
        sup.move_slot_locked(r.slot, r.to.as_deref())
    })
    .await
}

async fn reshard(
    State(sup): State<Arc<Supervisor>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Ok(r) = serde_json::from_slice::<ReshardReq>(&body) else {
        return bad("body must be JSON with \"from\", \"to\" and \"slots\"");
    };
    start_op(sup, "reshard", wants_wait(&q), move |sup| {
        sup.reshard_locked(&r.from, &r.to, r.slots)
    })
    .await
}

async fn fix(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery) -> Response {
    start_op(sup, "fix", wants_wait(&q), |sup| sup.fix_locked()).await
}

#[derive(Deserialize)]
struct FailoverReq {
    node: String,
}

async fn failover(
    State(sup): State<Arc<Supervisor>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Ok(r) = serde_json::from_slice::<FailoverReq>(&body) else {
        return bad("body must be JSON with \"node\"");
    };
    start_op(sup, "failover", wants_wait(&q), move |sup| {
        sup.ops.phase("failover");
        let id =
            crate::failover::failover(&sup.ctx(), &r.node, std::time::Duration::from_secs(30))?;
        sup.metrics
            .note_failovers(std::slice::from_ref(&id), crate::supervisor::now_secs());
        let d = json!({"promoted": id});
        sup.event("failover", d.clone());
        Ok(d)
    })
    .await
}

#[derive(Deserialize)]
struct AutoscaleReq {
    enabled: bool,
}

async fn autoscale(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<AutoscaleReq>(&body) else {
        return bad("body must be JSON with \"enabled\"");
    };
    sup.autoscale.store(r.enabled, Ordering::SeqCst);
    sup.event("autoscale_toggle", json!({"enabled": r.enabled}));
    Json(json!({"autoscale": r.enabled})).into_response()
}

async fn backups(State(sup): State<Arc<Supervisor>>) -> Response {
    let Some(s) = sup.backups.clone() else {
        return Json(json!({"scheduled": false, "backups": []})).into_response();
    };
    blocking(move || {
        let list: Vec<Value> = crate::backup::scheduled(&s.dir)
            .into_iter()
            .rev()
            .map(|(_, p, m)| {
                json!({"dir": p.display().to_string(), "started_unix": m.started_unix,
                    "finished_unix": m.finished_unix, "shards": m.shards.len(),
                    "keys": m.shards.iter().map(|x| x.keys).sum::<u64>(),
                    "bytes": m.shards.iter().map(|x| x.bytes).sum::<u64>()})
            })
            .collect();
        Ok(
            json!({"scheduled": true, "every_secs": s.every_secs, "keep": s.keep,
            "dir": s.dir.display().to_string(), "backups": list}),
        )
    })
    .await
}

#[derive(Deserialize)]
struct UpgradeReq {
    image: String,
}

/// POST /api/upgrade {"image"}: a rolling upgrade, a background operation like reshard.
async fn upgrade(
    State(sup): State<Arc<Supervisor>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let Ok(r) = serde_json::from_slice::<UpgradeReq>(&body) else {
        return bad("body must be JSON with \"image\"");
    };
    if r.image.trim().is_empty() {
        return bad("image must not be empty");
    }
    start_op(sup, "upgrade", wants_wait(&q), move |sup| {
        sup.upgrade_locked(&r.image)
    })
    .await
}

#[derive(Deserialize)]
struct RotateReq {
    grace: Option<u64>,
}

/// Grace period when none is given: five minutes for clients to pick up the new password.
pub const DEFAULT_GRACE_SECS: u64 = 300;

async fn password_rotate(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        DEFAULT_GRACE_SECS
    } else {
        match serde_json::from_slice::<RotateReq>(&body) {
            Ok(r) => r.grace.unwrap_or(DEFAULT_GRACE_SECS),
            Err(_) => return bad("body must be JSON like {\"grace\": 300}"),
        }
    };
    blocking(move || sup.rotate_password(grace)).await
}

#[derive(Deserialize)]
struct AclReq {
    name: String,
    #[serde(default)]
    rules: Vec<String>,
}

/// GET /api/acl: users managed with `rubra acl`, and which nodes differ from the record.
async fn acl_list(State(sup): State<Arc<Supervisor>>) -> Response {
    blocking(move || sup.acl_list()).await
}

/// POST /api/acl/setuser {"name": N, "rules": [...]}: see `crate::acl::setuser`.
async fn acl_setuser(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<AclReq>(&body) else {
        return bad("body must be JSON like {\"name\": \"app\", \"rules\": [\"on\", \">secret\", \"~app:*\", \"+@read\"]}");
    };
    blocking(move || sup.acl_setuser(&r.name, &r.rules)).await
}

/// POST /api/acl/deluser {"name": N}.
async fn acl_deluser(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<AclReq>(&body) else {
        return bad("body must be JSON like {\"name\": \"app\"}");
    };
    blocking(move || sup.acl_deluser(&r.name)).await
}

async fn keys_scan(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery) -> Response {
    let pattern = query_get(&q, "pattern").unwrap_or_else(|| "*".into());
    let cursor = query_get(&q, "cursor").unwrap_or_default();
    let count = query_get(&q, "count")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(100);
    blocking(move || panel::keys::scan(&sup.ctx(), &pattern, &cursor, count)).await
}

/// The key a request names: `key=TEXT` or `hex=HEX` (binary names).
fn key_of(q: &Option<String>) -> Option<Vec<u8>> {
    match query_get(q, "hex") {
        Some(h) => panel::edit::from_hex(&h),
        None => query_get(q, "key").map(String::into_bytes),
    }
}

async fn key_get(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery) -> Response {
    let Some(key) = key_of(&q) else {
        return bad("give ?key= or ?hex=");
    };
    blocking(move || panel::keys::get(&sup.ctx(), &key)).await
}

/// GET /api/key/page?key=|hex=&cursor=: the next page of a large value.
async fn key_page(State(sup): State<Arc<Supervisor>>, RawQuery(q): RawQuery) -> Response {
    let Some(key) = key_of(&q) else {
        return bad("give ?key= or ?hex=");
    };
    let Some(cursor) = query_get(&q, "cursor") else {
        return bad("give ?cursor= (the \"next\" of the previous page)");
    };
    let plausible = |c: &str| {
        !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    };
    if !plausible(&cursor) {
        return bad("bad cursor");
    }
    blocking(move || panel::keys::page(&sup.ctx(), &key, &cursor)).await
}

#[derive(Deserialize)]
struct KeyReq {
    key: panel::edit::Bin,
}

async fn key_delete(State(sup): State<Arc<Supervisor>>, body: Bytes) -> Response {
    let Ok(r) = serde_json::from_slice::<KeyReq>(&body) else {
        return bad("body must be JSON with \"key\" (text, or {\"hex\": ...})");
    };
    let key = match r.key.bytes() {
        Ok(k) => k,
        Err(m) => return bad(&m),
    };
    blocking(move || {
        let n = panel::keys::delete(&sup.ctx(), &key)?;
        let shown = String::from_utf8_lossy(&key)
            .chars()
            .take(200)
            .collect::<String>();
        sup.event("key_deleted", json!({"key": shown, "deleted": n}));
        Ok(json!({"deleted": n}))
    })
    .await
}

/// POST /api/key/edit: one change to one key (see `panel::edit`); 400 with the node's
/// words when it refuses, 413 when the body is over `edit::MAX_BODY` (a value of
/// `edit::MAX_VALUE` bytes fits even hex-encoded).
async fn key_edit(
    State(sup): State<Arc<Supervisor>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return err(
                rej.status(),
                &format!(
                    "request body larger than {} bytes (values up to {} bytes)",
                    panel::edit::MAX_BODY,
                    panel::edit::MAX_VALUE
                ),
            )
        }
        Err(rej) => return err(rej.status(), &rej.body_text()),
    };
    let e: panel::edit::Edit = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(err) => return bad(&format!("bad request body: {err}")),
    };
    let r = tokio::task::spawn_blocking(move || {
        let out = panel::edit::apply(&sup.ctx(), &e)?;
        if out.is_ok() {
            let key = e.key.bytes().unwrap_or_default();
            let shown = String::from_utf8_lossy(&key)
                .chars()
                .take(200)
                .collect::<String>();
            sup.event("key_edited", json!({"key": shown, "op": e.op}));
        }
        anyhow::Ok(out)
    })
    .await;
    match r {
        Ok(Ok(Ok(v))) => Json(v).into_response(),
        Ok(Ok(Err(msg))) => bad(&msg),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn prometheus(State(sup): State<Arc<Supervisor>>) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        panel::nodes::collect(&sup.ctx()).map(|snap| {
            panel::prom::render(&snap, &sup.metrics, sup.autoscale.load(Ordering::SeqCst))
        })
    })
    .await;
    match r {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => err(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_bearer() {
        // "admin:pw" in base64.
        assert!(authorized(Some("Basic YWRtaW46cHc="), |p| p == b"pw"));
        assert!(authorized(Some("Bearer pw"), |p| p == b"pw"));
        assert!(!authorized(Some("Bearer px"), |p| p == b"pw"));
        assert!(!authorized(Some("Basic YWRtaW46cHg="), |p| p == b"pw"));
        assert!(!authorized(None, |p| p == b"pw"));
    }
}

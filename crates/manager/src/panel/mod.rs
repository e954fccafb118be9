//! The admin panel: a single page (vanilla JS + CSS, embedded in the binary) served
//! next to the JSON API, with browser sessions.
//!
//! Pages: `GET /` is the login form until a session exists, then the app;
//! `POST /login` (form: username, password) starts a session; `POST /logout` ends it.
//! Static files: `/static/style.css` and `/static/login.js` are public (they hold
//! nothing about the cluster); `/static/app.js` needs a session.
//! Every response carries a strict Content-Security-Policy (no inline script, no
//! third-party origin) and no-store caching.

pub mod auth;
pub mod console;
pub mod edit;
pub mod history;
pub mod hotkeys;
pub mod keys;
pub mod live;
pub mod nodes;
pub mod ops;
pub mod prom;
pub mod slowlog;

use crate::supervisor::Supervisor;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

const LOGIN_HTML: &str = include_str!("assets/login.html");
const APP_HTML: &str = include_str!("assets/app.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const LOGIN_JS: &str = include_str!("assets/login.js");
const APP_JS: &str = include_str!("assets/app.js");

/// The Content-Security-Policy of every response: only our own scripts and styles.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Routes for the pages and static files (the API routes live in `api`).
pub fn routes() -> Router<Arc<Supervisor>> {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login).get(index))
        .route("/logout", post(logout))
        .route(
            "/static/style.css",
            get(|| async { asset("text/css", STYLE_CSS) }),
        )
        .route(
            "/static/login.js",
            get(|| async { asset("text/javascript", LOGIN_JS) }),
        )
        .route("/static/app.js", get(app_js))
}

/// Security headers on every response (middleware).
pub async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    // Not no-referrer: with it, browsers send `Origin: null` on our own form posts.
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
    r
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, ctype)], body).into_response()
}

fn html(code: StatusCode, body: String) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The peer address (set by `api::serve`); unspecified when served without it.
pub fn client_ip(req_ext: &axum::http::Extensions) -> IpAddr {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Count a failed password check (login form, Basic or Bearer) and log it; a failure that
/// starts a lock-out is logged as `login_locked` with its length.
pub fn count_failure(sup: &Supervisor, user: &str, ip: IpAddr) {
    let who: String = user.chars().take(64).collect();
    sup.event(
        "login_failed",
        serde_json::json!({"ip": ip.to_string(), "user": who}),
    );
    if let Some(secs) = sup.auth.failed(user, ip) {
        sup.event(
            "login_locked",
            serde_json::json!({"ip": ip.to_string(), "user": who, "seconds": secs}),
        );
    }
}

/// The session behind the request's cookie, if valid: (cookie token, session).
pub fn session(sup: &Supervisor, h: &HeaderMap) -> Option<(String, auth::SessionInfo)> {
    let tok = h
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, auth::COOKIE))?;
    sup.auth.check(tok).map(|s| (tok.to_string(), s))
}

/// False when the request names a foreign Origin (a browser on another site). Requests
/// without Origin (CLI, curl) pass; the CSRF token covers browsers that omit it.
pub fn origin_ok(h: &HeaderMap) -> bool {
    let Some(origin) = h.get(header::ORIGIN) else {
        return true;
    };
    let (Ok(origin), Some(host)) = (
        origin.to_str(),
        h.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// True for methods that change nothing.
pub fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn login_page(code: StatusCode, error: &str) -> Response {
    let msg = if error.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" id=\"login-error\" role=\"alert\">{error}</p>")
    };
    html(code, LOGIN_HTML.replace("{{ERROR}}", &msg))
}

async fn index(State(sup): State<Arc<Supervisor>>, h: HeaderMap) -> Response {
    match session(&sup, &h) {
        Some((_, s)) => html(StatusCode::OK, APP_HTML.replace("{{CSRF}}", &s.csrf)),
        None => login_page(StatusCode::OK, ""),
    }
}

async fn app_js(State(sup): State<Arc<Supervisor>>, h: HeaderMap) -> Response {
    match session(&sup, &h) {
        Some(_) => asset("text/javascript", APP_JS),
        None => (StatusCode::UNAUTHORIZED, "login first").into_response(),
    }
}

async fn login(State(sup): State<Arc<Supervisor>>, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    let h = req.headers().clone();
    if !origin_ok(&h) {
        return login_page(StatusCode::FORBIDDEN, "Cross-origin login refused.");
    }
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 16 * 1024).await {
        Ok(b) => b,
        Err(_) => return login_page(StatusCode::BAD_REQUEST, "Request too large."),
    };
    let form = String::from_utf8_lossy(&body);
    let user = auth::form_get(&form, "username").unwrap_or_default();
    let pass = auth::form_get(&form, "password").unwrap_or_default();
    if let Some(wait) = sup.auth.blocked(&user, ip) {
        let mut r = login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed attempts. Try again in {wait} s."),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // Both compared every time (no early exit on the user name).
    let ok_user = auth::ct_eq(user.as_bytes(), b"admin");
    let ok_pass = sup.secret.accepts(pass.as_bytes());
    if !(ok_user & ok_pass) {
        count_failure(&sup, &user, ip);
        return login_page(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
    }
    sup.auth.succeeded(&user, ip);
    let (token, _) = sup.auth.create();
    sup.event("login", serde_json::json!({"ip": ip.to_string()}));
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(&token, sup.tls.is_some())) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(sup): State<Arc<Supervisor>>, req: Request) -> Response {
    let h = req.headers().clone();
    let Some((token, s)) = session(&sup, &h) else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    if !origin_ok(&h) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let hdr = h
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(req.into_body(), 16 * 1024)
        .await
        .unwrap_or_default();
    let sent = hdr.or_else(|| auth::form_get(&String::from_utf8_lossy(&body), "csrf"));
    if !sent.is_some_and(|t| auth::ct_eq(t.as_bytes(), s.csrf.as_bytes())) {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    sup.auth.remove(&token);
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::clear_cookie(sup.tls.is_some())) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

//! Panel security: browser sessions, CSRF tokens and login rate limiting.
//!
//! BEHAVIOR
//! - A session is a 256-bit random token in an HttpOnly, SameSite=Strict cookie. It
//!   expires after `IDLE` without requests or `MAX_AGE` after login, whichever first.
//! - Each session has its own CSRF token (also 256-bit random); every state-changing
//!   request made with the cookie must echo it in `X-CSRF-Token`. SameSite=Strict already
//!   keeps other sites' requests cookie-less; the token is the second lock.
//! - Failed password checks (login form, Basic, Bearer) are counted per client IP; with
//!   `MAX_FAILURES` in the last `WINDOW` further password checks from that IP get 429
//!   until the oldest failure ages out. Existing sessions keep working.
//! - Tokens and passwords are compared in constant time; sessions are found by scanning
//!   all of them with that comparison (there are few), not by a hash lookup keyed on
//!   the secret.

use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Name of the session cookie.
pub const COOKIE: &str = "rubra_session";
/// A session ends after this long without requests.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login whatever happens.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);
/// Failed password checks allowed per IP within `WINDOW`.
pub const MAX_FAILURES: usize = 5;
/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Most concurrent sessions; the oldest is dropped beyond this.
const MAX_SESSIONS: usize = 64;

/// Compare without an early exit, so timing does not reveal how much matched.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut d = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        d |= x ^ y;
    }
    d == 0
}

/// 32 random bytes from the OS RNG as 64 hex chars.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Clone)]
struct Session {
    token: String,
    csrf: String,
    created: Instant,
    last: Instant,
}

/// What a valid session cookie grants.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The session's CSRF token.
    pub csrf: String,
    /// Seconds until it expires if idle from now.
    pub expires_in: u64,
}

/// Sessions and the rate limiter.
#[derive(Default)]
pub struct Auth {
    sessions: Mutex<Vec<Session>>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Auth {
    /// Start a session; returns (cookie token, csrf token).
    pub fn create(&self) -> (String, String) {
        let now = Instant::now();
        let s = Session {
            token: random_token(),
            csrf: random_token(),
            created: now,
            last: now,
        };
        let mut v = lock(&self.sessions);
        v.retain(|s| alive(s, now));
        if v.len() >= MAX_SESSIONS {
            v.remove(0);
        }
        v.push(s.clone());
        (s.token, s.csrf)
    }

    /// Validate a cookie token and refresh its idle timer.
    pub fn check(&self, token: &str) -> Option<SessionInfo> {
        let now = Instant::now();
        let mut v = lock(&self.sessions);
        v.retain(|s| alive(s, now));
        let mut found = None;
        // No early exit: every session is compared.
        for (i, s) in v.iter().enumerate() {
            if ct_eq(s.token.as_bytes(), token.as_bytes()) {
                found = Some(i);
            }
        }
        let s = v.get_mut(found?)?;
        s.last = now;
        let left = MAX_AGE
            .saturating_sub(now.duration_since(s.created))
            .min(IDLE);
        Some(SessionInfo {
            csrf: s.csrf.clone(),
            expires_in: left.as_secs(),
        })
    }

    /// End the session with this token (logout).
    pub fn remove(&self, token: &str) {
        lock(&self.sessions).retain(|s| !ct_eq(s.token.as_bytes(), token.as_bytes()));
    }

    /// Seconds `ip` must wait before its next password check, or None if allowed.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let mut f = lock(&self.failures);
        prune(&mut f, now);
        let q = f.get(&ip)?;
        if q.len() >= MAX_FAILURES {
            let oldest = *q.front()?;
            let wait = WINDOW.saturating_sub(now.duration_since(oldest));
            Some(wait.as_secs().max(1))
        } else {
            None
        }
    }

    /// Count a failed password check from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut f = lock(&self.failures);
        prune(&mut f, now);
        f.entry(ip).or_default().push_back(now);
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.created) < MAX_AGE
}

fn prune(f: &mut HashMap<IpAddr, VecDeque<Instant>>, now: Instant) {
    for q in f.values_mut() {
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
    }
    f.retain(|_, q| !q.is_empty());
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The Set-Cookie value that starts a session.
pub fn set_cookie(token: &str) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        MAX_AGE.as_secs()
    )
}

/// The Set-Cookie value that ends a session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Decode `application/x-www-form-urlencoded` / query strings into pairs.
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (urldecode(k), urldecode(v))
        })
        .collect()
}

/// The first value of `name` in a query/form string.
pub fn form_get(s: &str, name: &str) -> Option<String> {
    form_pairs(s)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Percent-decoding with '+' as space; invalid escapes are kept literally.
pub fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn sessions_and_limit() {
        let a = Auth::default();
        let (tok, csrf) = a.create();
        assert_eq!(a.check(&tok).unwrap().csrf, csrf);
        assert!(a.check("nope").is_none());
        a.remove(&tok);
        assert!(a.check(&tok).is_none());
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(a.blocked(ip).is_none());
            a.failed(ip);
        }
        assert!(a.blocked(ip).is_some());
        assert!(a.blocked("10.1.2.4".parse().unwrap()).is_none());
    }

    #[test]
    fn parsing() {
        assert_eq!(cookie("a=1; rubra_session=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(urldecode("a+b%21%zz%4"), "a b!%zz%4");
        assert_eq!(
            form_get("user=admin&password=p%26w", "password").as_deref(),
            Some("p&w")
        );
    }
}

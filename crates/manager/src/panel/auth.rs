//! Panel security: browser sessions, CSRF tokens and login rate limiting.
//!
//! BEHAVIOR
//! - A session is a 256-bit random token in an HttpOnly, SameSite=Strict cookie. It
//!   expires after `IDLE` without requests or `MAX_AGE` after login, whichever first.
//! - Each session has its own CSRF token (also 256-bit random); every state-changing
//!   request made with the cookie must echo it in `X-CSRF-Token`. SameSite=Strict already
//!   keeps other sites' requests cookie-less; the token is the second lock.
//! - Failed password checks (login form, Basic, Bearer) are counted per user name and
//!   client IP; `MAX_FAILURES` within `WINDOW` lock that pair out (429) for `WINDOW`, each
//!   further lock-out of the same pair twice as long (up to `MAX_LOCK`), forgotten after
//!   `FORGET` without failures. Other users and addresses are not affected, existing
//!   sessions keep working, and the CLI reaches the supervisor over a Unix socket in the
//!   data directory that no lock-out applies to (file permissions guard it), so a guesser
//!   on the TCP port cannot lock the operator out of scaling or failover.
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
/// Failed password checks allowed per user and IP within `WINDOW`.
pub const MAX_FAILURES: usize = 5;
/// The rate-limit window, and the first lock-out's length.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The longest lock-out, however often a pair was locked before.
pub const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// A pair without failures for this long starts again from the first lock-out length.
pub const FORGET: Duration = Duration::from_secs(3600);
/// Most (user, IP) pairs tracked; a guesser inventing user names cannot grow memory
/// past this (the pair idle longest is dropped).
const MAX_TRACKED: usize = 4096;
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

/// Failed checks of one (user, IP) pair.
struct Strikes {
    /// Failures within the last `WINDOW`.
    recent: VecDeque<Instant>,
    /// Locked out until then.
    until: Option<Instant>,
    /// Lock-outs so far (each doubles the next one).
    lockouts: u32,
    /// The latest failure.
    last: Instant,
}

/// Sessions and the rate limiter.
#[derive(Default)]
pub struct Auth {
    sessions: Mutex<Vec<Session>>,
    failures: Mutex<HashMap<(String, IpAddr), Strikes>>,
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

    /// Seconds `user` at `ip` must wait before its next password check, or None if allowed.
    pub fn blocked(&self, user: &str, ip: IpAddr) -> Option<u64> {
        self.blocked_at(user, ip, Instant::now())
    }

    /// [`Auth::blocked`] as seen at `now` (tests step the clock instead of waiting).
    fn blocked_at(&self, user: &str, ip: IpAddr, now: Instant) -> Option<u64> {
        let f = lock(&self.failures);
        let until = f.get(&(user.to_string(), ip))?.until?;
        // The lock-out ends at `until` (not one second after).
        let wait = until.checked_duration_since(now).filter(|w| !w.is_zero())?;
        // Rounded up: a client told to wait that long is never refused again for it.
        Some((wait.as_secs_f64().ceil() as u64).max(1))
    }

    /// Count a failed password check of `user` from `ip`. Returns the lock-out's length in
    /// seconds when this failure starts one (for the events log).
    pub fn failed(&self, user: &str, ip: IpAddr) -> Option<u64> {
        self.failed_at(user, ip, Instant::now())
    }

    /// [`Auth::failed`] at `now`.
    fn failed_at(&self, user: &str, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut f = lock(&self.failures);
        f.retain(|_, s| now.duration_since(s.last) < FORGET);
        if f.len() >= MAX_TRACKED {
            let idle = f.iter().min_by_key(|(_, s)| s.last).map(|(k, _)| k.clone());
            if let Some(k) = idle {
                f.remove(&k);
            }
        }
        let key = (user.chars().take(64).collect::<String>(), ip);
        let s = f.entry(key).or_insert_with(|| Strikes {
            recent: VecDeque::new(),
            until: None,
            lockouts: 0,
            last: now,
        });
        s.last = now;
        while s
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            s.recent.pop_front();
        }
        s.recent.push_back(now);
        if s.recent.len() < MAX_FAILURES {
            return None;
        }
        let length = lock_length(s.lockouts);
        s.lockouts = s.lockouts.saturating_add(1);
        s.recent.clear();
        s.until = Some(now + length);
        Some(length.as_secs())
    }

    /// A correct password from `user` at `ip`: its failures are forgotten.
    pub fn succeeded(&self, user: &str, ip: IpAddr) {
        lock(&self.failures).remove(&(user.to_string(), ip));
    }
}

/// How long the lock-out after `before` earlier ones lasts: `WINDOW`, doubling, capped.
pub fn lock_length(before: u32) -> Duration {
    WINDOW
        .saturating_mul(1u32.checked_shl(before.min(16)).unwrap_or(u32::MAX))
        .min(MAX_LOCK)
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last) < IDLE && now.duration_since(s.created) < MAX_AGE
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The Set-Cookie value that starts a session; `secure` (the panel serves HTTPS) keeps
/// the browser from ever sending the cookie over plain HTTP.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        MAX_AGE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The Set-Cookie value that ends a session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
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
        for i in 1..=MAX_FAILURES {
            assert!(a.blocked("admin", ip).is_none());
            let locked = a.failed("admin", ip);
            assert_eq!(locked.is_some(), i == MAX_FAILURES, "failure {i}");
        }
        assert_eq!(a.blocked("admin", ip), Some(WINDOW.as_secs()));
        // Another address, or another user name from the same address, is not locked.
        assert!(a.blocked("admin", "10.1.2.4".parse().unwrap()).is_none());
        assert!(a.blocked("root", ip).is_none());
        // Guessing other user names does not lock the real one further.
        for _ in 0..3 * MAX_FAILURES {
            a.failed("root", ip);
        }
        assert_eq!(a.blocked("admin", ip), Some(WINDOW.as_secs()));
        // A success forgets the pair.
        a.succeeded("admin", ip);
        assert!(a.blocked("admin", ip).is_none());
    }

    #[test]
    fn lockouts_back_off_and_are_capped() {
        assert_eq!(lock_length(0), WINDOW);
        assert_eq!(lock_length(1), WINDOW * 2);
        assert_eq!(lock_length(3), WINDOW * 8);
        assert_eq!(lock_length(4), MAX_LOCK);
        assert_eq!(lock_length(u32::MAX), MAX_LOCK);
        // The second lock-out of one pair lasts twice the first.
        let a = Auth::default();
        let ip: IpAddr = "10.9.9.9".parse().unwrap();
        let mut lengths = Vec::new();
        for _ in 0..2 * MAX_FAILURES {
            lengths.extend(a.failed("admin", ip));
        }
        assert_eq!(lengths, vec![WINDOW.as_secs(), 2 * WINDOW.as_secs()]);
    }

    /// The lock-out a guesser actually meets: failures are only counted while the pair is
    /// not locked (the API answers 429 without checking the password), so the second
    /// lock-out starts after the first has run out. It must last longer (twice), the third
    /// longer still, and an hour without failures starts the schedule over. The clock is
    /// stepped, not waited for.
    #[test]
    fn a_second_lockout_of_a_pair_lasts_longer_than_the_first() {
        let a = Auth::default();
        let ip: IpAddr = "10.7.7.7".parse().unwrap();
        let secs = Duration::from_secs;
        // Fails until locked at `t` (never while blocked); the lock-out's length.
        let lock_out = |t: Instant| {
            let mut got = None;
            for i in 1..=MAX_FAILURES {
                assert!(
                    a.blocked_at("admin", ip, t).is_none(),
                    "failure {i} refused"
                );
                got = a.failed_at("admin", ip, t);
                assert_eq!(got.is_some(), i == MAX_FAILURES, "failure {i}");
            }
            got.unwrap_or(0)
        };
        let t0 = Instant::now();
        assert_eq!(lock_out(t0), 60);
        assert_eq!(a.blocked_at("admin", ip, t0), Some(60));
        assert_eq!(a.blocked_at("admin", ip, t0 + secs(59)), Some(1));
        assert_eq!(a.blocked_at("admin", ip, t0 + secs(60)), None);
        // Second lock-out of the same pair, right after the first ran out: 120 s.
        let t1 = t0 + secs(61);
        assert_eq!(lock_out(t1), 120);
        assert_eq!(a.blocked_at("admin", ip, t1 + secs(60)), Some(60));
        assert_eq!(a.blocked_at("admin", ip, t1 + secs(119)), Some(1));
        assert_eq!(a.blocked_at("admin", ip, t1 + secs(120)), None);
        // Another address is not affected by this pair's history.
        assert!(a
            .blocked_at("admin", "10.7.7.8".parse().unwrap(), t1)
            .is_none());
        // Third: 240 s.
        let t2 = t1 + secs(121);
        assert_eq!(lock_out(t2), 240);
        // Quiet for FORGET after the last failure: back to the first length.
        let t3 = t2 + FORGET;
        assert_eq!(lock_out(t3), 60);
    }

    #[test]
    fn tracked_pairs_are_bounded() {
        let a = Auth::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..MAX_TRACKED + 100 {
            a.failed(&format!("user{i}"), ip);
        }
        assert!(lock(&a.failures).len() <= MAX_TRACKED);
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

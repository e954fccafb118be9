//! The chaos suite's clients: a seeded generator, a minimal cluster router that sends a
//! write exactly once (following MOVED and ASK, never re-sending after a timeout), the
//! workers that write counters, sets, lists and unique strings, and the availability
//! buckets they fill.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const COUNTERS: u64 = 16;
const COLLECTIONS: u64 = 8;
/// Width of one availability bucket.
const BUCKET_MS: u64 = 100;

/// splitmix64: a seeded generator with no dependency, so a seed replays a schedule.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Shuffles `v` in place (Fisher-Yates): a seeded order of fault kinds.
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
    pub(crate) fn between_ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// RUBRA_CHAOS_SEED, else one from the clock (printed by the caller, so a run replays).
pub(crate) fn seed_from_env() -> u64 {
    env_u64("RUBRA_CHAOS_SEED").unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            % 1_000_000_007
    })
}

/// A numeric knob from the environment.
pub(crate) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// What became of one write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fate {
    /// An error reply: the server did not apply it.
    Refused,
    /// No reply (timeout, closed link): it may or may not have been applied.
    Unknown,
    /// A success reply.
    Acked,
    /// A success reply, then WAIT 1 answered >= 1 on the same connection.
    WaitAcked,
}

/// The result of sending one command.
pub(crate) enum Outcome {
    Reply(redis::Value, Addr),
    Refused,
    Unknown,
}

/// A node's client address, "ip:port".
pub(crate) type Addr = String;

/// A minimal cluster client: slot map from CLUSTER SLOTS, MOVED followed, one
/// connection per node, never a blind re-send.
pub(crate) struct Router {
    seeds: Vec<Addr>,
    /// "redis://" plus ":password@" when the cluster has one.
    scheme: String,
    map: Vec<Option<Addr>>,
    conns: HashMap<Addr, redis::Connection>,
    stale: bool,
    next_seed: usize,
}

impl Router {
    pub(crate) fn new(seeds: Vec<Addr>, password: Option<&str>) -> Router {
        Router {
            seeds,
            scheme: match password {
                Some(p) => format!("redis://:{p}@"),
                None => "redis://".into(),
            },
            map: vec![None; 16384],
            conns: HashMap::new(),
            stale: true,
            next_seed: 0,
        }
    }

    pub(crate) fn conn(&mut self, a: &str) -> Option<&mut redis::Connection> {
        if !self.conns.contains_key(a) {
            let c = redis::Client::open(format!("{}{a}/", self.scheme))
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
                .ok()?;
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
            self.conns.insert(a.to_string(), c);
        }
        self.conns.get_mut(a)
    }

    /// Reloads the slot map from the first node (round robin) that answers.
    pub(crate) fn refresh(&mut self) {
        for _ in 0..self.seeds.len() {
            let a = self.seeds[self.next_seed % self.seeds.len()].clone();
            self.next_seed += 1;
            let Some(c) = self.conn(&a) else { continue };
            match redis::cmd("CLUSTER").arg("SLOTS").query::<redis::Value>(c) {
                Ok(v) => {
                    let map = slots_map(&v);
                    if map.iter().any(Option::is_some) {
                        self.map = map;
                        self.stale = false;
                        return;
                    }
                }
                Err(e) if e.code().is_none() => {
                    self.conns.remove(&a);
                }
                Err(_) => {}
            }
        }
    }

    /// Sends `cmd` for `slot` once (again only after a MOVED, which means not applied).
    pub(crate) fn exec(&mut self, cmd: &redis::Cmd, slot: u16) -> Outcome {
        for _ in 0..3 {
            if self.stale || self.map[slot as usize].is_none() {
                self.refresh();
            }
            let Some(a) = self.map[slot as usize].clone() else {
                return Outcome::Refused;
            };
            let Some(c) = self.conn(&a) else {
                self.stale = true;
                return Outcome::Refused;
            };
            match cmd.query::<redis::Value>(c) {
                Ok(v) => return Outcome::Reply(v, a),
                Err(e) if e.code().is_some() => {
                    if e.code() == Some("MOVED") {
                        if let Some((host, port)) = e.redirect_node() {
                            self.map[slot as usize] = Some(format!("{host}:{port}"));
                            continue;
                        }
                    }
                    // A slot being migrated (legacy MIGRATE): this key is on the
                    // importing node; ask there once, the map stays as it is.
                    if e.code() == Some("ASK") {
                        if let Some((host, port)) = e.redirect_node() {
                            return self.asking(cmd, format!("{host}:{port}"));
                        }
                    }
                    self.stale = true;
                    return Outcome::Refused;
                }
                Err(_) => {
                    self.conns.remove(&a);
                    self.stale = true;
                    return Outcome::Unknown;
                }
            }
        }
        Outcome::Refused
    }

    /// `cmd` preceded by ASKING on the connection to `a` (after an -ASK redirect).
    fn asking(&mut self, cmd: &redis::Cmd, a: Addr) -> Outcome {
        let Some(c) = self.conn(&a) else {
            return Outcome::Refused;
        };
        let mut p = redis::pipe();
        p.cmd("ASKING").ignore().add_command(cmd.clone());
        match p.query::<(redis::Value,)>(c) {
            Ok((v,)) => Outcome::Reply(v, a),
            Err(e) if e.code().is_some() => Outcome::Refused,
            Err(_) => {
                self.conns.remove(&a);
                self.stale = true;
                Outcome::Unknown
            }
        }
    }

    /// WAIT 1 500 on the connection to `a`: how many replicas acknowledged.
    pub(crate) fn wait(&mut self, a: &str) -> i64 {
        let Some(c) = self.conn(a) else { return 0 };
        match redis::cmd("WAIT").arg(1).arg(500).query::<i64>(c) {
            Ok(n) => n,
            Err(e) => {
                if e.code().is_none() {
                    self.conns.remove(a);
                }
                0
            }
        }
    }
}

/// Slot -> "ip:port" from a CLUSTER SLOTS reply.
pub(crate) fn slots_map(v: &redis::Value) -> Vec<Option<Addr>> {
    let mut map = vec![None; 16384];
    let text = |v: Option<&redis::Value>| match v {
        Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(redis::Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    if let redis::Value::Array(ranges) = v {
        for r in ranges {
            let redis::Value::Array(f) = r else { continue };
            let (Some(redis::Value::Int(a)), Some(redis::Value::Int(b))) = (f.first(), f.get(1))
            else {
                continue;
            };
            let Some(redis::Value::Array(p)) = f.get(2) else {
                continue;
            };
            let (Some(host), Some(redis::Value::Int(port))) = (text(p.first()), p.get(1)) else {
                continue;
            };
            let node = format!("{host}:{port}");
            for s in (*a).max(0)..=(*b).min(16383) {
                map[s as usize] = Some(node.clone());
            }
        }
    }
    map
}

/// Per 100 ms bucket since the start: operations that succeeded and that failed.
pub(crate) struct Buckets {
    ok: Vec<AtomicU32>,
    failed: Vec<AtomicU32>,
    pub(crate) t0: Instant,
}

impl Buckets {
    pub(crate) fn new(secs: u64) -> Buckets {
        let n = ((secs + 600) * 1000 / BUCKET_MS) as usize;
        Buckets {
            ok: (0..n).map(|_| AtomicU32::new(0)).collect(),
            failed: (0..n).map(|_| AtomicU32::new(0)).collect(),
            t0: Instant::now(),
        }
    }
    pub(crate) fn index(&self, t: Instant) -> usize {
        (t.saturating_duration_since(self.t0).as_millis() as u64 / BUCKET_MS) as usize
    }
    /// Records an operation sent at `sent` that just ended: a failure marks every bucket
    /// it spanned (a client blocked on a frozen node is unavailable all that time).
    pub(crate) fn mark(&self, ok: bool, sent: Instant) {
        let end = self.index(Instant::now());
        let (v, from) = if ok {
            (&self.ok, end)
        } else {
            (&self.failed, self.index(sent))
        };
        for b in v.iter().take(end + 1).skip(from) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// Seconds within [from, to] in which some operation failed.
    pub(crate) fn unavailable(&self, from: Instant, to: Instant) -> f64 {
        let (a, b) = (self.index(from), self.index(to));
        (a..=b.min(self.failed.len().saturating_sub(1)))
            .filter(|&i| self.failed[i].load(Ordering::Relaxed) > 0)
            .count() as f64
            * BUCKET_MS as f64
            / 1000.0
    }
}

/// A counter's history.
#[derive(Default, Clone, Copy)]
pub(crate) struct Counter {
    /// Increments that may have been applied (acked or unknown).
    pub(crate) sent: u64,
    pub(crate) acked: u64,
    pub(crate) wait_acked: u64,
    /// The highest value an INCR returned that WAIT then confirmed.
    pub(crate) max_wait_value: i64,
}

/// One client's history.
#[derive(Default)]
pub(crate) struct History {
    /// (key, value or member, fate, seconds since the start) of SET, SADD and RPUSH.
    pub(crate) writes: Vec<(String, String, Fate, f64)>,
    pub(crate) counters: BTreeMap<String, Counter>,
}

/// One client: random writes (INCR, SADD, RPUSH, SET of unique ids), a quarter of them
/// confirmed with WAIT, until `stop`; returns what it sent and what became of each.
pub(crate) fn worker(
    w: usize,
    seed: u64,
    seeds: Vec<Addr>,
    password: Option<String>,
    stop: Arc<AtomicBool>,
    buckets: Arc<Buckets>,
) -> History {
    let mut rng = Rng(seed ^ (w as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut r = Router::new(seeds, password.as_deref());
    let mut h = History::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("{w}:{n}");
        let want_wait = rng.below(4) == 0;
        let op = rng.below(4);
        let (key, cmd) = match op {
            0 => {
                let k = format!("chaos:c:{}", rng.below(COUNTERS));
                let mut c = redis::cmd("INCR");
                c.arg(&k);
                (k, c)
            }
            1 => {
                let k = format!("chaos:set:{}", rng.below(COLLECTIONS));
                let mut c = redis::cmd("SADD");
                c.arg(&k).arg(&id);
                (k, c)
            }
            2 => {
                let k = format!("chaos:list:{}", rng.below(COLLECTIONS));
                let mut c = redis::cmd("RPUSH");
                c.arg(&k).arg(&id);
                (k, c)
            }
            _ => {
                let k = format!("chaos:s:{id}");
                let mut c = redis::cmd("SET");
                c.arg(&k).arg(&id);
                (k, c)
            }
        };
        let slot = rubra_keys::key_slot(key.as_bytes());
        let sent = Instant::now();
        let (fate, value) = match r.exec(&cmd, slot) {
            Outcome::Reply(v, a) => {
                if want_wait && r.wait(&a) >= 1 {
                    (Fate::WaitAcked, v)
                } else {
                    (Fate::Acked, v)
                }
            }
            Outcome::Refused => (Fate::Refused, redis::Value::Nil),
            Outcome::Unknown => (Fate::Unknown, redis::Value::Nil),
        };
        let ok = matches!(fate, Fate::Acked | Fate::WaitAcked);
        buckets.mark(ok, sent);
        if op == 0 {
            let c = h.counters.entry(key).or_default();
            if fate != Fate::Refused {
                c.sent += 1;
            }
            if ok {
                c.acked += 1;
            }
            if fate == Fate::WaitAcked {
                c.wait_acked += 1;
                if let redis::Value::Int(v) = value {
                    c.max_wait_value = c.max_wait_value.max(v);
                }
            }
        } else {
            h.writes
                .push((key, id, fate, (sent - buckets.t0).as_secs_f64()));
        }
        if !ok {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    h
}

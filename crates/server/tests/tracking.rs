//! Client-side caching (CLIENT TRACKING) against redis-server 7.0: option checks, error
//! texts and TRACKINGINFO byte-identical (RESP2 and RESP3); and real sockets reading real
//! RESP3 push frames / RESP2 pub/sub messages, where the same scenario run on both servers
//! must produce the same frames: invalidation on write, expiry, FLUSHALL (null), BCAST
//! prefixes, NOLOOP, OPTIN with CACHING, REDIRECT to a RESP2 subscriber.
//!
//! Masked, and why: client ids (each server numbers its connections differently) are
//! read from CLIENT ID on each server and used there, never compared.

mod common;
mod reference;
use common::*;
use reference::{assert_same_as_redis, RawConn, Reference};
use std::time::Duration;

const SCRIPT: &[&str] = &[
    "CLIENT TRACKING",
    "CLIENT TRACKING maybe",
    "CLIENT TRACKING ON BOGUS",
    "CLIENT TRACKING ON PREFIX a",
    "CLIENT TRACKING ON BCAST OPTIN",
    "CLIENT TRACKING ON OPTIN OPTOUT",
    "CLIENT TRACKING ON REDIRECT 999999",
    "CLIENT TRACKING ON REDIRECT abc",
    "CLIENT TRACKING ON REDIRECT",
    "CLIENT CACHING yes",
    "CLIENT GETREDIR",
    "CLIENT TRACKINGINFO",
    "CLIENT TRACKING ON OPTIN",
    "CLIENT GETREDIR",
    "CLIENT CACHING YES",
    "CLIENT TRACKINGINFO",
    "CLIENT CACHING NO",
    "CLIENT CACHING maybe",
    "CLIENT TRACKING ON OPTOUT",
    "CLIENT TRACKING ON BCAST",
    "CLIENT TRACKING OFF",
    "CLIENT TRACKINGINFO",
    "CLIENT TRACKING ON OPTOUT NOLOOP",
    "CLIENT CACHING NO",
    "CLIENT TRACKINGINFO",
    "CLIENT TRACKING OFF",
    "CLIENT TRACKING ON BCAST PREFIX a PREFIX ab",
    "CLIENT TRACKING ON BCAST PREFIX user: PREFIX item:",
    "CLIENT TRACKINGINFO",
    "CLIENT TRACKING ON BCAST PREFIX user:1",
    "CLIENT TRACKING ON BCAST PREFIX order:",
    "CLIENT TRACKINGINFO",
    "CLIENT TRACKING ON",
    "CLIENT TRACKING OFF",
    "CLIENT TRACKINGINFO",
];

#[test]
fn tracking_options_and_errors_match_redis() {
    let mut script: Vec<&str> = SCRIPT.to_vec();
    script.push("!HELLO 3");
    script.extend_from_slice(SCRIPT);
    assert_same_as_redis(&script);
}

/// A connection that also reads frames the server pushes on its own.
struct Conn(RawConn);

impl Conn {
    fn new(port: u16, resp3: bool) -> Conn {
        let mut c = RawConn::connect(port);
        if resp3 {
            c.call("HELLO 3");
        }
        Conn(c)
    }
    fn call(&mut self, line: &str) -> String {
        String::from_utf8_lossy(&self.0.call(line)).into_owned()
    }
    /// The next frame (a push), as text.
    fn next(&mut self) -> String {
        String::from_utf8_lossy(&self.0.read_reply()).into_owned()
    }
    fn id(&mut self) -> i64 {
        let r = self.call("CLIENT ID");
        r.trim_start_matches(':').trim().parse().expect("client id")
    }
}

/// One scenario on one server: every frame the tracking clients saw, in order.
fn scenario(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut a = Conn::new(port, true);
    let mut b = Conn::new(port, false);
    b.call("SET k v0");
    // Default mode: a read registers the key; a write by another client invalidates it once.
    seen.push(a.call("CLIENT TRACKING ON"));
    seen.push(a.call("GET k"));
    seen.push(b.call("SET k v1"));
    seen.push(a.next());
    seen.push(b.call("SET k v2"));
    seen.push(a.call("PING"));
    // Several keys of one read; DEL and an expiry invalidate too.
    b.call("SET k2 x");
    seen.push(a.call("MGET k k2"));
    seen.push(b.call("DEL k2 k"));
    seen.push(a.next());
    seen.push(a.next());
    seen.push(b.call("SET t v PX 50"));
    seen.push(a.call("GET t"));
    std::thread::sleep(Duration::from_millis(150));
    seen.push(b.call("GET t"));
    seen.push(a.next());
    // The client's own write invalidates too (after its reply) unless NOLOOP.
    seen.push(a.call("GET own"));
    seen.push(a.call("SET own 1"));
    seen.push(a.next());
    seen.push(a.call("CLIENT TRACKING ON NOLOOP"));
    seen.push(a.call("GET own"));
    seen.push(a.call("SET own 2"));
    seen.push(a.call("PING"));
    // FLUSHALL: a null for "everything".
    seen.push(a.call("GET k"));
    seen.push(b.call("FLUSHALL"));
    seen.push(a.next());
    seen.push(a.call("CLIENT TRACKING OFF"));
    // OPTIN: only reads after CLIENT CACHING YES are remembered.
    seen.push(a.call("CLIENT TRACKING ON OPTIN"));
    seen.push(a.call("GET x"));
    seen.push(b.call("SET x 1"));
    seen.push(a.call("PING"));
    seen.push(a.call("CLIENT CACHING YES"));
    seen.push(a.call("GET x"));
    seen.push(b.call("SET x 2"));
    seen.push(a.next());
    seen.push(a.call("CLIENT TRACKING OFF"));
    // BCAST: every write under the prefixes, no reads needed; one message per batch.
    seen.push(a.call("CLIENT TRACKING ON BCAST PREFIX user: PREFIX item:"));
    seen.push(b.call("SET user:1 a"));
    seen.push(a.next());
    seen.push(b.call("SET other 1"));
    seen.push(b.call("MSET item:2 b"));
    seen.push(a.next());
    seen.push(a.call("CLIENT TRACKING OFF"));
    // RESP2 with REDIRECT to a client subscribed to __redis__:invalidate.
    let mut r = Conn::new(port, false);
    let rid = r.id();
    seen.push(r.call("SUBSCRIBE __redis__:invalidate"));
    let mut c = Conn::new(port, false);
    seen.push(c.call(&format!("CLIENT TRACKING ON REDIRECT {rid}")));
    seen.push(c.call("GET rk"));
    seen.push(b.call("SET rk 1"));
    seen.push(r.next());
    seen.push(c.call("GET rk"));
    seen.push(b.call("FLUSHDB"));
    seen.push(r.next());
    let redir = c.call("CLIENT GETREDIR");
    assert_eq!(redir, format!(":{rid}\r\n"));
    seen
}

/// Runs `scenario` on a fresh rubra-server and a fresh redis-server, asserts that every
/// frame is the same, and returns rubra's.
fn same_frames_as_redis(scenario: fn(u16) -> Vec<String>) -> Vec<String> {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let ours = scenario(rubra.port);
    let theirs = scenario(redis.port);
    for (i, (x, y)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(x, y, "frame {i} differs");
    }
    assert_eq!(ours.len(), theirs.len());
    ours
}

#[test]
fn invalidations_arrive_as_redis_sends_them() {
    let ours = same_frames_as_redis(scenario);
    // The frames are real invalidations (not just equal): the first write's push.
    assert_eq!(ours[3], ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n");
}

/// Scripts on one server: their commands count as the caller's. NOLOOP skips a script's
/// own writes; a script that reads makes its caller track the keys it declared (not the
/// keys it read), one that only writes or pings makes it track nothing, EVAL_RO included.
fn script_scenario(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut a = Conn::new(port, true);
    let mut b = Conn::new(port, false);
    seen.push(a.call("CLIENT TRACKING ON NOLOOP"));
    seen.push(a.call("SET key1 1"));
    seen.push(a.call("GET key1"));
    seen.push(a.call("EVAL \"return redis.call('set', KEYS[1], '2')\" 1 key1"));
    seen.push(a.call("GET key1"));
    seen.push(b.call("SET key1 3"));
    seen.push(a.next());
    seen.push(a.call("PING"));
    seen.push(a.call("CLIENT TRACKING OFF"));
    seen.push(a.call("CLIENT TRACKING ON"));
    let write_then_read = [
        (
            "EVAL \"redis.call('set', 'key3{t}', 'bar')\" 2 key1{t} key2{t}",
            false,
        ),
        (
            "EVAL \"redis.call('get', 'key3{t}')\" 2 key1{t} key2{t}",
            true,
        ),
        ("EVAL_RO \"redis.call('ping')\" 2 key1{t} key2{t}", false),
        (
            "EVAL_RO \"redis.call('get', 'key1{t}')\" 2 key1{t} key2{t}",
            true,
        ),
    ];
    for (script, reads) in write_then_read {
        seen.push(a.call(script));
        seen.push(b.call("MSET key2{t} 2 key1{t} 2"));
        if reads {
            seen.push(a.next());
            seen.push(a.next());
        }
        seen.push(a.call("PING"));
    }
    seen
}

#[test]
fn scripts_track_and_invalidate_as_their_caller() {
    let ours = same_frames_as_redis(script_scenario);
    // The reading script made its caller track key2{t} and key1{t}: real invalidations.
    assert!(
        ours.iter()
            .any(|f| f == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$7\r\nkey2{t}\r\n"),
        "{ours:?}"
    );
}

#[test]
fn tracking_table_limit_and_info() {
    let rubra = TestServer::start(&[]);
    let mut a = Conn::new(rubra.port, true);
    let mut b = Conn::new(rubra.port, false);
    assert_eq!(a.call("CLIENT TRACKING ON"), "+OK\r\n");
    a.call("GET a");
    a.call("GET b");
    let info = b.call("INFO");
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    assert!(info.contains("tracking_total_keys:2\r\n"), "{info}");
    assert!(info.contains("tracking_total_items:2\r\n"), "{info}");
    // Over the limit, keys are dropped as if modified: their readers are told.
    assert_eq!(b.call("CONFIG SET tracking-table-max-keys 1"), "+OK\r\n");
    b.call("PING");
    let push = a.next();
    assert!(
        push == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n"
            || push == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n",
        "{push:?}"
    );
    let info = b.call("INFO");
    assert!(info.contains("tracking_total_keys:1\r\n"), "{info}");
    a.call("CLIENT TRACKING OFF");
    let info = b.call("INFO");
    assert!(info.contains("tracking_clients:0\r\n"), "{info}");
}

/// A field of INFO's text, as a number (0 if absent).
fn info_field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Sets maxmemory 8 MB above what the server uses now, with volatile-random (set first,
/// so that what setting it costs is counted): only keys with a TTL are evicted. Then
/// writes 12.5 MB: the next command of any client evicts the volatile keys. The margins
/// are wide because rubra's used_memory can grow by ~1.7 MB once around these CONFIG
/// SETs (Redis's test leaves 100 KB).
fn fill_over_limit(c: &mut Conn) -> Vec<String> {
    c.call("CONFIG SET maxmemory-policy volatile-random");
    c.call("CONFIG SET maxmemory 1000000000");
    let info = c.call("INFO memory");
    let used = info_field(&info, "used_memory") - info_field(&info, "mem_not_counted_for_evict");
    let limit = format!("CONFIG SET maxmemory {}", used + 8 * 1024 * 1024);
    vec![c.call(&limit), c.call("SETBIT big-key 100000000 0")]
}

/// Ends `fill_over_limit`.
fn drop_limit(c: &mut Conn) -> Vec<String> {
    vec![c.call("DEL big-key"), c.call("CONFIG SET maxmemory 0")]
}

/// Evictions before a client's command: the invalidation of a key it tracks goes out
/// before that command's reply (the eviction runs before the command, outside it), in
/// RESP3 and to a RESP2 client redirecting to itself; NOLOOP spares the client whose
/// command evicted.
fn eviction_scenario(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut a = Conn::new(port, true);
    let mut b = Conn::new(port, false);
    seen.push(a.call("CLIENT TRACKING ON"));
    seen.push(a.call("SETEX volatile-key 10000 x"));
    seen.push(a.call("GET volatile-key"));
    seen.extend(fill_over_limit(&mut a));
    seen.push(a.call("PING"));
    seen.push(a.next());
    seen.extend(drop_limit(&mut a));
    // NOLOOP: the eviction its own command caused is not reported to it.
    seen.push(a.call("CLIENT TRACKING ON NOLOOP"));
    seen.push(a.call("SETEX volatile-key 10000 x"));
    seen.push(a.call("GET volatile-key"));
    seen.extend(fill_over_limit(&mut a));
    seen.push(a.call("PING"));
    seen.push(a.call("PING"));
    seen.extend(drop_limit(&mut a));
    seen.push(a.call("CLIENT TRACKING OFF"));
    // RESP2, redirected to itself and subscribed: the message comes before PING's reply.
    let mut c = Conn::new(port, false);
    let cid = c.id();
    seen.push(c.call(&format!("CLIENT TRACKING ON REDIRECT {cid}")));
    seen.push(c.call("SETEX volatile-key 10000 x"));
    seen.push(c.call("GET volatile-key"));
    seen.push(c.call("SUBSCRIBE __redis__:invalidate"));
    seen.extend(fill_over_limit(&mut b));
    seen.push(c.call("PING"));
    seen.push(c.next());
    seen.extend(drop_limit(&mut b));
    seen
}

#[test]
fn eviction_invalidations_precede_the_reply_as_in_redis() {
    let ours = same_frames_as_redis(eviction_scenario);
    // GETBIT's frames: the eviction's push, then its reply.
    assert_eq!(
        ours[5],
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$12\r\nvolatile-key\r\n"
    );
    assert_eq!(ours[6], "+PONG\r\n");
}

/// The key an invalidation from tracking-table-max-keys names: Redis picks it at random.
fn mask_key(frame: String) -> String {
    frame
        .replace("*1\r\n$1\r\na\r\n", "*1\r\n$1\r\n?\r\n")
        .replace("*1\r\n$1\r\nb\r\n", "*1\r\n$1\r\n?\r\n")
}

/// tracking-table-max-keys is enforced before a client's command: what the client
/// itself is owed comes before the reply, and NOLOOP spares it (the key is dropped
/// anyway: a later write of it sends nothing).
fn table_limit_scenario(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut a = Conn::new(port, true);
    let mut b = Conn::new(port, false);
    seen.push(a.call("CLIENT TRACKING ON"));
    seen.push(a.call("GET a"));
    seen.push(a.call("GET b"));
    // One write, so that both commands run before any timer could enforce the limit.
    assert!(a
        .0
        .try_send_many(&["CONFIG SET tracking-table-max-keys 1", "PING"]));
    for _ in 0..3 {
        seen.push(mask_key(a.next()));
    }
    seen.push(a.call("CONFIG SET tracking-table-max-keys 0"));
    seen.push(a.call("CLIENT TRACKING OFF"));
    seen.push(b.call("FLUSHALL"));
    seen.push(a.call("CLIENT TRACKING ON NOLOOP"));
    seen.push(a.call("GET a"));
    seen.push(a.call("GET b"));
    assert!(a
        .0
        .try_send_many(&["CONFIG SET tracking-table-max-keys 1", "PING"]));
    seen.push(a.next());
    seen.push(a.next());
    // Only the key still in the table is invalidated.
    seen.push(b.call("MSET a 1 b 2"));
    seen.push(mask_key(a.next()));
    seen.push(a.call("PING"));
    seen.push(a.call("CONFIG SET tracking-table-max-keys 0"));
    seen
}

#[test]
fn table_limit_invalidations_precede_the_reply_as_in_redis() {
    let ours = same_frames_as_redis(table_limit_scenario);
    assert_eq!(ours[3], "+OK\r\n");
    assert_eq!(ours[4], ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n?\r\n");
    assert_eq!(ours[5], "+PONG\r\n");
}

/// A lowered tracking-table-max-keys applies without a further command (Redis's cron
/// enforces it too): the reader is told about one of its two keys.
fn table_limit_cron_scenario(port: u16) -> Vec<String> {
    let mut a = Conn::new(port, true);
    let mut seen = vec![a.call("CLIENT TRACKING ON"), a.call("MGET a b")];
    seen.push(a.call("CONFIG SET tracking-table-max-keys 1"));
    seen.push(mask_key(a.next()));
    seen.push(a.call("CONFIG SET tracking-table-max-keys 0"));
    seen
}

#[test]
fn table_limit_applies_without_a_command_as_in_redis() {
    let ours = same_frames_as_redis(table_limit_cron_scenario);
    assert_eq!(ours[3], ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n?\r\n");
}

/// redis#11715: a command queued in MULTI first enforces a lowered table limit (the cron
/// paused, so only the command does): the push comes before QUEUED, and EXEC runs.
fn table_limit_in_multi_scenario(port: u16) -> Vec<String> {
    let mut r = Conn::new(port, false);
    let mut a = Conn::new(port, true);
    let mut seen = vec![r.call("CONFIG SET tracking-table-max-keys 2")];
    seen.push(r.call("DEBUG PAUSE-CRON 1"));
    seen.push(a.call("CLIENT TRACKING ON"));
    seen.push(a.call("MGET a b"));
    seen.push(a.call("MULTI"));
    seen.push(r.call("CONFIG SET tracking-table-max-keys 1"));
    seen.push(mask_key(a.call("PING")));
    seen.push(a.next());
    seen.push(a.call("EXEC"));
    seen.push(r.call("DEBUG PAUSE-CRON 0"));
    seen.push(r.call("CONFIG SET tracking-table-max-keys 0"));
    seen
}

#[test]
fn table_limit_before_a_queued_command_as_in_redis() {
    let ours = same_frames_as_redis(table_limit_in_multi_scenario);
    assert_eq!(ours[6], ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n?\r\n");
    assert_eq!(ours[7], "+QUEUED\r\n");
}

/// INFO's tracking_total_keys and tracking_total_items.
fn table_sizes(c: &mut Conn) -> String {
    let info = c.call("INFO stats");
    let keys = info_field(&info, "tracking_total_keys");
    let items = info_field(&info, "tracking_total_items");
    format!("keys={keys} items={items}")
}

/// The key table outlives the clients that filled it (entries are dropped lazily), and a
/// flush empties it even when nobody tracks any more.
fn table_after_tracking_off_scenario(port: u16) -> Vec<String> {
    let mut a = Conn::new(port, true);
    let mut b = Conn::new(port, false);
    let mut seen = vec![a.call("CLIENT TRACKING ON"), a.call("MGET k1 k2")];
    seen.push(a.call("CLIENT TRACKING OFF"));
    seen.push(table_sizes(&mut b));
    seen.push(b.call("FLUSHALL"));
    seen.push(table_sizes(&mut b));
    seen.push(a.call("PING"));
    seen
}

#[test]
fn a_flush_empties_the_table_with_no_tracking_client_as_in_redis() {
    let ours = same_frames_as_redis(table_after_tracking_off_scenario);
    assert_eq!(ours[3], "keys=2 items=2");
    assert_eq!(ours[5], "keys=0 items=0");
}

/// HELLO's reply holds the client id, which the servers number differently.
fn mask_id(frame: String) -> String {
    match frame.find("$2\r\nid\r\n:") {
        Some(at) => {
            let start = at + "$2\r\nid\r\n:".len();
            let end = start + frame[start..].find("\r\n").unwrap_or(0);
            format!("{}N{}", &frame[..start], &frame[end..])
        }
        None => frame,
    }
}

/// An invalidation a transaction owes its own client is sent after EXEC's reply in the
/// state the client ends it in: HELLO 3 inside it makes it a push, HELLO 2 drops it;
/// CLIENT TRACKING OFF (or NOLOOP) after the write does not cancel it.
fn exec_scenario(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut a = Conn::new(port, false);
    seen.push(a.call("CLIENT TRACKING ON"));
    seen.push(a.call("GET k"));
    for step in ["MULTI", "SET k 1", "HELLO 3"] {
        seen.push(a.call(step));
    }
    seen.push(mask_id(a.call("EXEC")));
    seen.push(a.next());
    seen.push(a.call("GET k"));
    for step in ["MULTI", "SET k 2", "HELLO 2"] {
        seen.push(a.call(step));
    }
    seen.push(mask_id(a.call("EXEC")));
    seen.push(mask_id(a.call("HELLO 3")));
    seen.push(a.call("GET k"));
    let off_cases: [&[&str]; 3] = [
        &["CLIENT TRACKING OFF"],
        &["CLIENT TRACKING OFF", "CLIENT TRACKING ON"],
        &["CLIENT TRACKING ON NOLOOP"],
    ];
    for case in off_cases {
        seen.push(a.call("CLIENT TRACKING ON"));
        seen.push(a.call("GET k"));
        seen.push(a.call("MULTI"));
        seen.push(a.call("SET k 3"));
        for step in case {
            seen.push(a.call(step));
        }
        seen.push(a.call("EXEC"));
        seen.push(a.next());
        seen.push(a.call("CLIENT TRACKING OFF"));
    }
    seen.push(a.call("PING"));
    // EXEC's replies before a HELLO are in the protocol they ran in, the rest in HELLO's.
    let mut d = Conn::new(port, false);
    seen.push(d.call("HSET h f v"));
    for proto in ["3", "2"] {
        for step in ["MULTI", "HGETALL h", &format!("HELLO {proto}"), "HGETALL h"] {
            seen.push(d.call(step));
        }
        seen.push(mask_id(d.call("EXEC")));
    }
    seen
}

#[test]
fn pending_invalidations_follow_the_state_exec_ends_in() {
    let ours = same_frames_as_redis(exec_scenario);
    assert!(
        ours.iter()
            .filter(|f| *f == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n")
            .count()
            >= 4,
        "{ours:?}"
    );
}

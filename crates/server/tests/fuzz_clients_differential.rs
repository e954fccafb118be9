//! Differential fuzzing of what involves several client connections: pub/sub (channels,
//! patterns, shard channels, PUBSUB introspection, RESP2 subscribed mode and RESP3),
//! blocking commands served by other connections (lists, sorted sets, streams, MULTI/EXEC,
//! CLIENT UNBLOCK), client-side tracking (default, BCAST/PREFIX, OPTIN/OPTOUT, NOLOOP,
//! REDIRECT), CLIENT REPLY / SETNAME / NO-EVICT / INFO, and keyspace notifications.
//!
//! A seeded generator writes sequences of steps; a step is a short pipeline of commands on
//! one of three connections. Each sequence runs on rubra-server and on Debian's
//! redis-server 7.0 (flushed, with fresh connections), and what every connection received
//! during each step (replies and pushed messages, in order) must be byte-identical.
//!
//! Reads are made deterministic without sleeping:
//! - after a step, the acting connection and then every other one that is not blocked gets
//!   `PING fuzz-barrier` and is read up to its answer (bulk, or `["pong", ...]` in RESP2
//!   subscribed mode): everything the step caused for that connection was queued before.
//! - a blocking command is always a step's last command. After it, the connection either
//!   answers, or the server's `INFO clients` `blocked_clients` (asked on a fourth, control
//!   connection) grows by one: then it is blocked, and no step is sent to it until its reply
//!   arrives. After each step, blocked connections are read until `blocked_clients` equals
//!   the number still waiting. Blocking commands only use timeout 0 (a timeout would race
//!   with the steps).
//! - MULTI/EXEC blocks, CLIENT REPLY OFF..ON and CLIENT REPLY SKIP with the command it
//!   skips are always whole inside one step, so the barrier PING is never queued, skipped
//!   or silenced.
//!
//! Normalised, because Redis leaves the order to a hash table seeded per process:
//! UNSUBSCRIBE / SUNSUBSCRIBE without arguments (channels compared sorted, counts in
//! order), the pmessages of one message matching several patterns of a client (sorted),
//! PUBSUB CHANNELS / SHARDCHANNELS listings and UNSUBSCRIBE / SUNSUBSCRIBE without arguments
//! (sorted; not generated inside MULTI, where they stand inside EXEC's array). Known
//! deviation, not compared: where the pushes a connection's own command caused (RESP3
//! keyspace events, its own messages, invalidations redirected to itself) stand relative
//! to that command's reply — Redis interleaves them as each command's code happens to
//! (SET before its reply, LPOP after, EXEC inside its array), rubra writes them right
//! after the reply; for the acting connection and a connection unblocked in the step,
//! replies and pushes are each compared in order, pushes after replies. Also not compared:
//! the order of a tracking invalidation and the keyspace event of the same write (Redis:
//! per command; rubra: event first), shown invalidations first.
//!
//! Normalised, because they are random or differ by construction: client ids (each server
//! numbers its clients; `{0}`..`{2}` in a command are replaced by the connection's id on
//! that server, and in replies of steps that ran a CLIENT command an integer equal to a
//! connection's id reads `#n`); HELLO's reply map (it names the server) compares as
//! `<hello>` (its errors are compared); CLIENT INFO / LIST lines keep only their
//! deterministic fields (id and redir as `#n`, name, db, sub, psub, ssub, multi, flags,
//! cmd, user, resp). Nothing else.
//!
//! A difference is shrunk (steps dropped while a difference remains) and printed with the
//! seed. Short run: `cargo test -p rubra-server --test fuzz_clients_differential`; replay
//! or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, first_differing_step, frame, opt, p, q, steps, Pair, Step};
use reference::{Incoming, RawConn};
use rubra_fuzz::Rng;
use rubra_resp::Frame;
use std::time::{Duration, Instant};
mod fuzz_clients_kit;
use fuzz_clients_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 30;
/// Steps per sequence.
const SEQ_LEN: usize = 30;
/// Client connections per server (the control connection is extra).
const NCONN: usize = 3;
/// The barrier PING's message.
const BARRIER: &str = "fuzz-barrier";
/// How long a read may wait for something a server owes before the run records it missing.
const PATIENCE: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Running a sequence on one server
// ---------------------------------------------------------------------------------------

/// One client connection of a run.
struct Conn {
    raw: RawConn,
    id: i64,
    /// Waiting for the reply of a blocking command.
    blocked: bool,
    /// Closed by the server (or given up on: recorded in the transcript).
    closed: bool,
}

/// Whether `line` may block (its command is a blocking one, or XREAD/XREADGROUP BLOCK).
fn may_block(line: &str) -> bool {
    let up = line.to_ascii_uppercase();
    let cmd = up.split_whitespace().next().unwrap_or("");
    matches!(
        cmd,
        "BLPOP" | "BRPOP" | "BLMOVE" | "BRPOPLPUSH" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX" | "BZMPOP"
    ) || (matches!(cmd, "XREAD" | "XREADGROUP") && up.contains(" BLOCK "))
}

/// `line` with `{n}` replaced by connection n's id (`{9}`: an id nobody has).
fn with_ids(line: &str, conns: &[Conn]) -> String {
    let mut s = line.replace("{9}", "987654321");
    for (i, c) in conns.iter().enumerate() {
        s = s.replace(&format!("{{{i}}}"), &c.id.to_string());
    }
    s
}

/// Whether one of `lines` contains `what` (in capitals).
fn up_has(lines: &[String], what: &str) -> bool {
    lines.iter().any(|l| l.to_ascii_uppercase().contains(what))
}

/// Whether `f` is the barrier PING's answer.
fn is_barrier(f: &[u8]) -> bool {
    let bulk = format!("${}\r\n{BARRIER}\r\n", BARRIER.len());
    f == bulk.as_bytes() || f == format!("*2\r\n$4\r\npong\r\n{bulk}").as_bytes()
}

/// The server's `blocked_clients`, asked on the control connection.
fn blocked_clients(ctl: &mut RawConn) -> usize {
    info_field(ctl, "blocked_clients")
}

fn info_field(ctl: &mut RawConn, name: &str) -> usize {
    let raw = ctl.call("INFO clients");
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(usize::MAX)
}

/// What each connection received in one step, as text.
#[derive(Default)]
struct Received {
    per_conn: Vec<Vec<String>>,
}

impl Received {
    fn new() -> Received {
        Received {
            per_conn: vec![Vec::new(); NCONN],
        }
    }
}

/// Reads connection `i` up to its barrier answer (the barrier was sent), recording frames;
/// waits at most `patience`.
fn read_to_barrier(c: &mut Conn, got: &mut Vec<String>, patience: Duration) {
    let deadline = Instant::now() + patience;
    loop {
        match c
            .raw
            .next_within(deadline.saturating_duration_since(Instant::now()))
        {
            Incoming::Frame(f) if is_barrier(&f) => return,
            Incoming::Frame(f) => got.push(String::from_utf8_lossy(&f).into_owned()),
            Incoming::Closed => {
                got.push("<closed>".into());
                c.closed = true;
                return;
            }
            Incoming::Nothing => {
                got.push("<no barrier answer>".into());
                c.closed = true;
                return;
            }
        }
    }
}

fn barrier(c: &mut Conn, got: &mut Vec<String>) {
    barrier_within(c, got, PATIENCE);
}

/// `barrier` waiting at most `patience` for the answer.
fn barrier_within(c: &mut Conn, got: &mut Vec<String>, patience: Duration) {
    if c.closed || c.blocked {
        return;
    }
    if !c.raw.try_send(&format!("PING {BARRIER}")) {
        got.push("<closed>".into());
        c.closed = true;
        return;
    }
    read_to_barrier(c, got, patience);
}

/// Whether a frame is a pushed message rather than a reply (RESP3 push type; a blocked
/// connection cannot be in RESP2 subscribed mode).
fn is_push(f: &[u8]) -> bool {
    f.first() == Some(&b'>')
}

/// After a blocking command was sent: waits for its reply or for the server to count the
/// connection as blocked.
fn settle_blocking(c: &mut Conn, ctl: &mut RawConn, blocked_before: usize, got: &mut Vec<String>) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match c.raw.next_within(Duration::from_millis(1)) {
            Incoming::Frame(f) => {
                let push = is_push(&f);
                got.push(String::from_utf8_lossy(&f).into_owned());
                if !push {
                    return;
                }
            }
            Incoming::Closed => {
                got.push("<closed>".into());
                c.closed = true;
                return;
            }
            Incoming::Nothing => {
                if blocked_clients(ctl) > blocked_before {
                    c.blocked = true;
                    return;
                }
            }
        }
    }
    got.push("<neither answered nor blocked>".into());
    c.closed = true;
}

/// Reads blocked connections until the server's blocked count matches those still waiting.
fn settle_blocked(conns: &mut [Conn], ctl: &mut RawConn, rec: &mut Received) {
    if !conns.iter().any(|c| c.blocked) {
        return;
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        for (j, c) in conns.iter_mut().enumerate() {
            while c.blocked {
                match c.raw.next_within(Duration::ZERO) {
                    Incoming::Frame(f) => {
                        if !is_push(&f) {
                            c.blocked = false;
                        }
                        rec.per_conn[j].push(String::from_utf8_lossy(&f).into_owned());
                    }
                    Incoming::Closed => {
                        rec.per_conn[j].push("<closed>".into());
                        c.blocked = false;
                        c.closed = true;
                    }
                    Incoming::Nothing => break,
                }
            }
        }
        let waiting = conns.iter().filter(|c| c.blocked).count();
        let counted = blocked_clients(ctl);
        if counted == waiting {
            return;
        }
        if Instant::now() > deadline {
            rec.per_conn[0].push(format!("<blocked_clients {counted}, {waiting} waiting>"));
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Fresh state on one server: earlier connections gone, no data, no notifications.
fn reset_server(ctl: &mut RawConn) {
    let deadline = Instant::now() + PATIENCE;
    while info_field(ctl, "connected_clients") != 1 {
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    ctl.call("FLUSHALL");
    ctl.call("CONFIG SET notify-keyspace-events \"\"");
}

/// Runs `seq` on the server at `port` (ctl: its control connection); one text per step.
fn run_side(port: u16, ctl: &mut RawConn, resp3: bool, seq: &[Step]) -> Vec<String> {
    reset_server(ctl);
    let mut conns: Vec<Conn> = (0..NCONN)
        .map(|_| {
            let mut raw = RawConn::connect(port);
            raw.no_delay();
            let id = match frame(&raw.call("CLIENT ID")) {
                Some(Frame::Int(n)) => n,
                _ => -1,
            };
            if resp3 {
                raw.call("HELLO 3");
            }
            Conn {
                raw,
                id,
                blocked: false,
                closed: false,
            }
        })
        .collect();
    let ctl_id = match frame(&ctl.call("CLIENT ID")) {
        Some(Frame::Int(n)) => n,
        _ => -1,
    };
    let mut out = Vec::with_capacity(seq.len());
    for s in seq {
        let mut rec = Received::new();
        let i = s.conn;
        if conns[i].closed {
            rec.per_conn[i].push("<not sent: closed>".into());
        } else if conns[i].blocked {
            rec.per_conn[i].push("<not sent: blocked>".into());
        } else {
            let lines: Vec<String> = s.lines.iter().map(|l| with_ids(l, &conns)).collect();
            let blocking_last = lines.last().is_some_and(|l| may_block(l));
            let (body, last) = if blocking_last {
                (&lines[..lines.len() - 1], lines.last())
            } else {
                (&lines[..], None)
            };
            // One write, so that both servers read the step's commands as one batch (Redis
            // sends BCAST invalidations once per event-loop turn). A write to a closed
            // connection shows at the barrier.
            let body: Vec<&str> = body.iter().map(|l| l.as_str()).collect();
            let _ = conns[i].raw.try_send_many(&body);
            if let Some(l) = last {
                if !body.is_empty() {
                    barrier(&mut conns[i], &mut rec.per_conn[i]);
                }
                let before = blocked_clients(ctl);
                if !conns[i].closed && conns[i].raw.try_send(l) {
                    settle_blocking(&mut conns[i], ctl, before, &mut rec.per_conn[i]);
                }
            }
            // CLIENT REPLY ON is refused in RESP2 subscribed mode: after OFF the barrier's
            // answer is then (rightly) never sent, and need not be waited for long.
            let patience = if up_has(&lines, "CLIENT REPLY OFF") {
                Duration::from_millis(150)
            } else {
                PATIENCE
            };
            barrier_within(&mut conns[i], &mut rec.per_conn[i], patience);
            // A second barrier in a batch of its own: pushes a server sends once per event
            // loop turn (BCAST invalidations, in Redis's beforeSleep) may follow the first
            // barrier's answer when it shared the step's read.
            barrier_within(&mut conns[i], &mut rec.per_conn[i], patience);
        }
        let was_blocked: Vec<bool> = conns.iter().map(|c| c.blocked).collect();
        settle_blocked(&mut conns, ctl, &mut rec);
        // The others all at once (each is read up to its own answer).
        let mut sent = [false; NCONN];
        for (j, c) in conns.iter_mut().enumerate() {
            if j != i && !c.closed && !c.blocked {
                sent[j] = c.raw.try_send(&format!("PING {BARRIER}"));
                if !sent[j] {
                    rec.per_conn[j].push("<closed>".into());
                    c.closed = true;
                }
            }
        }
        for (j, c) in conns.iter_mut().enumerate() {
            if sent[j] {
                read_to_barrier(c, &mut rec.per_conn[j], PATIENCE);
            }
        }
        let ids: Vec<i64> = conns.iter().map(|c| c.id).collect();
        let up: Vec<String> = s.lines.iter().map(|l| l.to_ascii_uppercase()).collect();
        let client_cmd = up.iter().any(|l| {
            ["CLIENT ID", "GETREDIR", "TRACKINGINFO"]
                .iter()
                .any(|c| l.contains(c))
        });
        if up
            .iter()
            .any(|l| l.starts_with("PUBSUB") && l.contains("CHANNELS"))
        {
            sort_listings(&mut rec.per_conn[i]);
        }
        for (j, frames) in rec.per_conn.iter_mut().enumerate() {
            if j == i || (was_blocked[j] && !conns[j].blocked) {
                pushes_after_replies(frames);
            }
            *frames = canonical_runs(std::mem::take(frames));
            invalidations_first(frames);
        }
        out.push(render(&rec, &ids, ctl_id, client_cmd, &conns));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Normalisation and comparison
// ---------------------------------------------------------------------------------------

/// Runs `seq` on both servers; the first step whose received bytes differ, shown.
fn first_difference(pair: &mut Pair, resp3: bool, seq: &[Step]) -> Option<String> {
    let ours = run_side(pair.rubra.port, &mut pair.a, resp3, seq);
    let theirs = run_side(pair.redis.port, &mut pair.b, resp3, seq);
    first_differing_step(seq, &ours, &theirs)
}

/// Both servers, with control connections whose ids (like those of every connection the
/// runs open) are above the small integers replies hold, so that naming ids in replies
/// cannot catch a count.
fn start_pair() -> Pair {
    let mut pair = Pair::start();
    for _ in 0..40 {
        drop(RawConn::connect(pair.rubra.port));
        drop(RawConn::connect(pair.redis.port));
    }
    pair.a = RawConn::connect(pair.rubra.port);
    pair.b = RawConn::connect(pair.redis.port);
    pair.a.no_delay();
    pair.b.no_delay();
    pair
}

#[test]
fn fuzz_client_sequences_against_redis() {
    let mut pair = start_pair();
    campaign(
        "fuzz_clients_differential",
        SHORT,
        &mut pair,
        sequence,
        first_difference,
        Step::show,
    );
}

// ---------------------------------------------------------------------------------------
// Regressions: shrunk sequences of differences found (each a list of "conn: line; line")
// ---------------------------------------------------------------------------------------

#[test]
fn regression_sequences() {
    let cases: &[(&str, bool, &[&str])] = &[
        (
            // A blocked XREAD re-tried after a flush published keymiss events (Redis serves
            // blocked clients without their command's lookups; seeds 915, 916).
            "served_blocked_read_publishes_no_keymiss",
            true,
            &[
                "1: PSUBSCRIBE __key*__:*",
                "1: XREAD BLOCK 0 STREAMS s2 2-1",
                "0: CONFIG SET notify-keyspace-events \"Km\"",
                "2: DEL ab s2 ; FLUSHDB",
            ],
        ),
        (
            // A served BLPOP does not signal the list it popped from (Redis 7.0: the push
            // that woke it did), so the BCAST key keeps the pusher as its last writer and
            // NOLOOP holds (ours sent the invalidation; seed 911).
            "served_list_pop_does_not_signal_its_source",
            true,
            &[
                "0: BLPOP l1 0",
                "2: CLIENT TRACKING ON BCAST NOLOOP",
                "2: CLIENT REPLY SKIP ; LPUSH l1 s",
            ],
        ),
        (
            // A served BLMOVE signals only its destination: the source read again inside
            // the waking EXEC stays tracked (no invalidation), the destination is
            // invalidated.
            "served_blmove_signals_only_its_destination",
            true,
            &[
                "1: CLIENT TRACKING ON",
                "1: GET l2",
                "0: BLMOVE l1 l2 LEFT LEFT 0",
                "1: MULTI ; LPUSH l1 x ; EXISTS l1 ; EXEC",
            ],
        ),
        (
            // After a flush, the invalidation's null is written in the protocol of the
            // tracking client (here RESP3: `_`), not of the RESP2 subscriber it redirects
            // to (ours sent `$-1`; seed 905).
            "flush_null_in_tracking_clients_protocol_resp3",
            true,
            &[
                "2: PSUBSCRIBE __key*__:*",
                "1: CLIENT TRACKING on REDIRECT {2} OPTOUT NOLOOP",
                "2: HELLO 2",
                "0: FLUSHALL",
            ],
        ),
        (
            // The same the other way: a RESP2 tracking client redirecting to a RESP3 one
            // sends `$-1` inside the RESP3 push.
            "flush_null_in_tracking_clients_protocol_resp2",
            false,
            &[
                "1: HELLO 3",
                "2: CLIENT TRACKING on REDIRECT {1}",
                "0: FLUSHALL",
            ],
        ),
        (
            // An invalidation for the client running the command waits for the end of the
            // command (Redis's pending invalidations): a RESP2 client redirecting to itself
            // that subscribes later in the same EXEC gets it as a message (ours, deciding
            // at the write, sent nothing).
            "own_invalidation_sent_after_exec",
            false,
            &[
                "1: CLIENT TRACKING on REDIRECT {1}",
                "1: GET a1",
                "1: MULTI ; SET a1 x ; SUBSCRIBE ch1 ; EXEC",
                "2: CLIENT TRACKING on REDIRECT {2}",
                "2: MULTI ; FLUSHALL ; SUBSCRIBE ch2 ; EXEC",
            ],
        ),
        (
            // A blocked read served later tracked its key again: the next write sent a
            // second invalidation (Redis 7.0 serves it without call(), tracking nothing).
            "served_blocked_read_is_not_tracked_again",
            true,
            &[
                "1: CLIENT TRACKING on NOLOOP",
                "1: XREAD BLOCK 0 STREAMS s1 2-1",
                "2: XADD s1 4-* f v ; EXPIRE s1 0",
            ],
        ),
        (
            // BRPOP served at once invalidated (and signalled) every key it names, not
            // only the one it popped from.
            "blocking_pop_served_at_once_touches_only_its_key",
            true,
            &[
                "2: RPUSH l1 1 x",
                "0: BLMOVE l2 l1 RIGHT RIGHT 0.0",
                "2: CLIENT TRACKING ON BCAST",
                "2: BRPOP l2 l1 0",
            ],
        ),
        (
            "blocked_client_served_by_push",
            false,
            &["0: BLPOP l1 0", "1: LPUSH l1 a", "0: PING"],
        ),
        // A RESP2 subscriber's refusal names a subcommand in full; a refused EXEC aborts.
        (
            "subscribed_refusal_full_name_and_execabort",
            false,
            &[
                "1: SUBSCRIBE __redis__:invalidate",
                "1: CLIENT REPLY OFF ; LPUSHX l1 y 1 ; CLIENT REPLY ON",
                "1: MULTI ; XREAD BLOCK 0 STREAMS s1 + ; EXEC",
                "1: CONFIG GET x ; EXEC",
            ],
        ),
        // Subscription confirmations are pushes: CLIENT REPLY SKIP/OFF do not drop them.
        (
            "confirmations_under_reply_skip",
            false,
            &[
                "1: CLIENT REPLY SKIP ; SUBSCRIBE ch1",
                "2: CLIENT REPLY OFF ; PSUBSCRIBE ch* ; CLIENT REPLY ON",
                "0: PUBLISH ch1 m",
            ],
        ),
        // SUBSCRIBE / PSUBSCRIBE run inside MULTI (their confirmations inside EXEC's
        // array), SSUBSCRIBE is refused there.
        (
            "subscribe_inside_exec",
            false,
            &[
                "1: MULTI ; LMOVE l2 l1 LEFT RIGHT ; SUBSCRIBE ch1 ch2 ; INCR b1 ; EXEC",
                "2: MULTI ; PSUBSCRIBE x* ; SSUBSCRIBE s ; EXEC",
                "0: PUBLISH ch1 m",
            ],
        ),
        // PUNSUBSCRIBE without arguments confirms patterns in subscription order.
        (
            "punsubscribe_all_oldest_first",
            true,
            &[
                "1: PSUBSCRIBE z* a* m* b*",
                "1: PSUBSCRIBE c*",
                "1: PUNSUBSCRIBE",
            ],
        ),
        // Pushes a client's own command caused (an invalidation redirected to itself, a
        // keyspace event) come before the reply of its next pipelined command, and are
        // sent under CLIENT REPLY OFF.
        (
            "own_pushes_before_next_reply",
            false,
            &[
                "1: HELLO 3",
                "2: CLIENT TRACKING ON REDIRECT {1}",
                "2: GET z1",
                "1: CLIENT REPLY OFF ; ZADD z1 1 m1 ; GET a1 ; CLIENT REPLY ON",
                "0: CONFIG SET notify-keyspace-events KEA",
                "1: PSUBSCRIBE __keyspace@0__:*",
                "1: SET a1 1 ; GET a1 ; MULTI ; XADD s1 2-* f v ; EXEC ; PING",
            ],
        ),
        // XGROUP touches the key (tracking, WATCH) only when CREATE MKSTREAM made it.
        (
            "xgroup_create_on_existing_stream_invalidates_nothing",
            true,
            &[
                "1: CLIENT TRACKING ON REDIRECT {2} BCAST",
                "0: SADD b1 m ; XADD s1 2-* f v",
                "0: XGROUP CREATE s1 g 0 MKSTREAM",
                "0: XGROUP CREATE s2 g 0 MKSTREAM",
                "0: XGROUP SETID s1 g 0",
                "2: XREADGROUP GROUP g c BLOCK 0 STREAMS s1 >",
                "0: XGROUP DESTROY s1 g",
            ],
        ),
        // The events of serving a blocked client come before those of the writer's next
        // pipelined command (Redis serves blocked clients after each command).
        (
            "served_client_events_before_next_command",
            true,
            &[
                "0: CONFIG SET notify-keyspace-events KEA",
                "1: PSUBSCRIBE __key*__:*",
                "0: BLPOP l1 l2 0",
                "1: RPUSH l2 x 1 ; INCR ab",
            ],
        ),
        // A failed CONFIG SET of notify-keyspace-events sets it back from its CONFIG GET
        // text, which drops `n` next to `A`: new-key events stop.
        (
            "failed_notify_config_set_drops_new_key_events",
            false,
            &[
                "2: PSUBSCRIBE __key*__:*",
                "0: CONFIG SET notify-keyspace-events \"KEg$lshzxetdmn\"",
                "1: SET a1 1",
                "0: CONFIG SET notify-keyspace-events Kq",
                "1: XGROUP CREATE s1 g $ MKSTREAM",
                "0: CONFIG GET notify-keyspace-events",
            ],
        ),
        // REDIRECT to the client's own id is a redirect: once it subscribes in RESP2, the
        // invalidations come as __redis__:invalidate messages.
        (
            "redirect_to_self_then_subscribed",
            false,
            &[
                "0: CLIENT TRACKING ON REDIRECT {0} BCAST",
                "0: MULTI ; BLMOVE l1 l2 RIGHT RIGHT 0 ; SUBSCRIBE x ; ZADD z2 2 m1 ; SWAPDB 0 1 ; EXEC",
                "1: SET a1 v",
            ],
        ),
        // Not a rubra bug: the `tracking-redir-broken` push names the killed client's id,
        // which differs between the servers (the normaliser now names it `#0`).
        (
            "broken_redirect_push_names_a_connection",
            false,
            &[
                "2: CLIENT TRACKING on REDIRECT {0} BCAST",
                "2: HELLO 3",
                "2: CLIENT KILL ID {0}",
                "1: XADD s2 2-* f v",
            ],
        ),
        // Not a rubra bug: MULTI refused in RESP2 subscribed mode lets the BRPOP after it
        // block in the middle of the step; the harness's note of the blocked count then
        // stopped the normalisation of c0's own message (seed 910).
        (
            "harness_note_does_not_stop_normalisation",
            true,
            &[
                "2: BLMPOP 0 2 l2 l1 RIGHT COUNT 2",
                "1: RESET",
                "1: SUBSCRIBE __redis__:invalidate",
                "0: PSUBSCRIBE n\\* ch?",
                "1: MULTI ; UNSUBSCRIBE __redis__:invalidate ; BRPOP l2 l1 0 ; LMOVE l2 l1 LEFT RIGHT ; XREADGROUP GROUP g c1 BLOCK 0  STREAMS s1 0 ; DISCARD",
                "0: PUBLISH ch1 \"hello\"",
            ],
        ),
        // RESET keeps CLIENT NO-EVICT (flag e).
        (
            "reset_keeps_no_evict",
            false,
            &["1: CLIENT NO-EVICT on", "1: RESET", "1: CLIENT INFO"],
        ),
    ];
    let mut pair = start_pair();
    for (name, resp3, lines) in cases {
        let seq = steps(lines);
        if let Some(diff) = first_difference(&mut pair, *resp3, &seq) {
            panic!("{name}: {diff}");
        }
    }
}

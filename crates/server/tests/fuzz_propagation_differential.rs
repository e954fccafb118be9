//! Differential fuzzing of what a primary propagates: the replication stream a replica (and,
//! through the same feed, the AOF) receives must reproduce the primary's dataset, with the
//! rewrites Redis 7.0 makes (relative expiries as PXAT / PEXPIREAT, INCRBYFLOAT as SET
//! KEEPTTL, blocking and multi-key pops as their plain forms, consumer-group reads as XCLAIM /
//! XGROUP SETID, script effects in MULTI/EXEC, lazily expired keys as DEL, SELECT when the
//! database changes, failed commands and no-op deletes as nothing).
//!
//! Each server (rubra-server and Debian's redis-server 7.0) gets a raw connection that
//! acts as a replica (`REPLCONF listening-port`, `REPLCONF capa eof capa psync2`,
//! `PSYNC ? -1`, the RDB payload in either form, `REPLCONF ACK 0`), then reads the command
//! stream. A seeded generator writes sequences of steps: single commands over strings, the
//! expire family, lists, sets, sorted sets, hashes, streams with consumer groups, HLL, geo,
//! bitfields, SORT ... STORE, the keyspace commands (SELECT, MOVE, SWAPDB, COPY, RENAME,
//! FLUSHDB), lazyfree-lazy-expire on and off, DUMP + RESTORE, EVAL / FCALL, MULTI/EXEC
//! blocks (with queued and run-time errors), keys given a 1 ms expiry and then touched
//! (lazy expiry), and blocking commands
//! (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, BZMPOP, XREAD / XREADGROUP BLOCK) sent on a second
//! connection and served by the main one.
//!
//! After each step, `PUBLISH __barrier <n>` (which Redis propagates to replicas) is sent and
//! the stream read up to it: everything the step caused was propagated before. Two
//! properties:
//! 1. the commands each step propagated are the same on both servers;
//! 2. each server's stream, applied command by command to its own fresh redis-server (an
//!    "applier", a plain primary with active expiry off), reproduces that server's dataset:
//!    at the end of a sequence every key of databases 0-3 (type, PEXPIRETIME, contents, and
//!    for streams the groups, consumers and pending entries) reads the same on the primary
//!    and on its applier, and no propagated command fails there.
//!
//! Active expiry is off on every server (`DEBUG SET-ACTIVE-EXPIRE 0`), so a key expires only
//! when a command touches it, at the same step on both servers. The replication PING period
//! is an hour. Normalised, because it depends on the clock: an integer from 1.5e12 up (a
//! Unix time in milliseconds: PXAT / PEXPIREAT values, XCLAIM TIME, RESTORE's absolute
//! TTL, also far in the future) compares equal within 3000 ms, a stream ID whose time part is one compares as its sequence part only (XADD *);
//! RESTORE's payload is not compared (it is DUMP's encoding; the applied dataset is). The
//! DELs the closing dataset read causes are compared as a multiset (Redis reads its keys in
//! hash-table order).
//!
//! Consumer-group reads go out as Redis 7.0 sends them: XCLAIMs only, plus XGROUP
//! CREATECONSUMER and XGROUP SETID ... ENTRIESREAD with NOACK alone (the XCLAIMs' LASTID
//! moves the cursor on the replica, but not its entries-read counter). So property 2 leaves
//! out, on both servers, a group's entries-read and lag and the consumers without pending
//! entries (with the groups' consumer counts): an XREADGROUP of the history (ID 0) by a new
//! consumer creates it, and Redis 7.0 propagates nothing then (seed 20).
//!
//! A command that overwrites a key whole and finds it logically expired (SET / MSET,
//! RENAME's destination, the *STORE destinations with a non-empty result, BITOP's) deletes
//! it first, as Redis's lookup does: `MULTI, DEL key, command, EXEC`, compared exactly.
//! With an empty result (and RESTORE ... REPLACE) Redis deletes the destination without a
//! lookup, and propagates the command alone.
//!
//! Not generated: relative expiries small enough to race the clock other than the 1 ms
//! ones of SET / PSETEX / GETEX (always followed by a pause; not EXPIRE / PEXPIRE, which
//! Redis compares with a clock read again: deleted at once or not, at random), SPOP / SRANDMEMBER choices that are random (SPOP is
//! generated with COUNT 0, with a count past the set's size, or on a set of one member),
//! RANDOMKEY (it deletes, and propagates, the expired keys its random picks land on; SCAN
//! is generated whole, COUNT 1000, and its step's commands compared in any order),
//! commands whose effect depends on the hash seed.
//!
//! A difference is shrunk (steps dropped while a difference remains) and printed with the
//! seed. Short run: `cargo test -p rubra-server --test fuzz_propagation_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
// The kit's pickers this fuzzer does not use (each test file compiles the kit on its own).
#[allow(dead_code)]
mod fuzz_kit;
mod propagation_kit;
mod reference;
use fuzz_kit::{campaign, Pair};
use propagation_kit::{sequence, show_step, Rig, Step};

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 60;
/// Configuration of every server: no replication PING during a run, diskless full syncs
/// start at once, DEBUG allowed (to turn active expiry off).
const CONFIG: &[&str] = &[
    "--repl-ping-replica-period",
    "3600",
    "--repl-diskless-sync-delay",
    "0",
    "--enable-debug-command",
    "yes",
];

#[test]
fn fuzz_propagation_sequences_against_redis() {
    let mut pair = Pair::start_with(CONFIG);
    let mut rig = Rig::new(&pair);
    campaign(
        "fuzz_propagation_sequences_against_redis",
        SHORT,
        &mut pair,
        |r| (false, sequence(r)),
        |_, _, seq| rig.first_difference(seq),
        show_step,
    );
}

/// Each difference the fuzzer found, shrunk, as a fixed sequence (both properties checked).
#[test]
fn regression_sequences() {
    let c = |l: &str| Step::Cmd(l.to_string());
    let x = |l: &str| Step::Expiring(l.to_string());
    let b = |l: &str, f: &str| Step::Block(l.to_string(), f.to_string());
    let cases: Vec<(&str, Vec<Step>)> = vec![
        // A write finding its key expired sent the command, then the DEL: replicas deleted
        // what the command had just written.
        (
            "lazy DEL before the write",
            vec![x("PSETEX hl1 1 v"), c("PFADD hl1")],
        ),
        (
            "lazy DEL inside EXEC",
            vec![
                x("SET s1 v PX 1"),
                Step::Multi(vec!["MULTI".into(), "INCR s1".into(), "EXEC".into()]),
            ],
        ),
        // A key of another database found expired (MOVE's / COPY's destination) is
        // deleted there before the command.
        (
            "MOVE onto an expired key",
            vec![
                c("SELECT 1"),
                x("PSETEX s1 1 v"),
                c("SELECT 0"),
                c("SET s1 w"),
                c("MOVE s1 1"),
            ],
        ),
        (
            "COPY onto an expired key",
            vec![
                c("SELECT 1"),
                x("PSETEX s1 1 v"),
                c("SELECT 0"),
                c("SET s1 w"),
                c("COPY s1 s1 DB 1"),
            ],
        ),
        (
            "BZPOPMIN served after blocking",
            vec![b("BZPOPMIN z2 0", "ZADD z2 1 a 2 b")],
        ),
        (
            "BLMOVE served after blocking",
            vec![b("BLMOVE l2 l1 RIGHT LEFT 0", "RPUSH l2 a b")],
        ),
        (
            "ZPOPMIN as sent",
            vec![c("ZADD z1 1 a"), c("zpopmin z1 10")],
        ),
        (
            "SET with a past PXAT",
            vec![c("SET x2 v PXAT 1 GET"), c("EXISTS x2")],
        ),
        (
            "SET GET",
            vec![c("SET s2 -3 GET"), c("SET s2 v KEEPTTL GET")],
        ),
        ("GETSET", vec![c("INCRBY s1 -5"), c("GETSET s1 2.5")]),
        ("HINCRBYFLOAT", vec![c("HINCRBYFLOAT h1 b -0.5")]),
        (
            "XADD with an ID without sequence",
            vec![c("XADD x2 5 f v"), c("XADD x2 MAXLEN ~ 1 * f v")],
        ),
        (
            "EXPIREAT NX",
            vec![
                c("APPEND s2 abc"),
                c("EXPIREAT s2 4102444900 NX"),
                c("pexpireat s2 4102444900001 gt"),
            ],
        ),
        (
            "SMOVE from a missing source",
            vec![x("PSETEX h1 1 v"), c("SMOVE t1 h1 c")],
        ),
        ("SWAPDB of a database with itself", vec![c("SWAPDB 1 1")]),
        (
            "UNLINK of expired keys",
            vec![
                x("SET t1 v PXAT 1 GET"),
                x("SET s2 v PX 1"),
                c("UNLINK t1 s2"),
            ],
        ),
        (
            "XGROUP DELCONSUMER of no consumer",
            vec![
                c("XADD x1 9-9 f v"),
                c("XGROUP CREATE x1 g1 0"),
                c("XGROUP DELCONSUMER x1 g1 c1"),
            ],
        ),
        (
            "expiries with lazyfree-lazy-expire",
            vec![
                c("CONFIG SET lazyfree-lazy-expire yes"),
                x("PSETEX s1 1 v"),
                c("GET s1"),
                c("SET s2 v"),
                c("EXPIRE s2 -1"),
                c("SET s2 v"),
                c("GETEX s2 PXAT 1"),
                c("CONFIG SET lazyfree-lazy-expire no"),
            ],
        ),
        (
            "MGET of expired keys",
            vec![x("SET t1 v PX 1"), x("SET s2 v PX 1"), c("MGET t1 s2")],
        ),
        // A whole-key overwrite of a logically expired destination looks it up first, as
        // Redis's setKey / RENAME do: MULTI, DEL, command, EXEC (the command went out
        // alone). An empty result deletes the destination without a lookup: the command
        // alone, as in Redis.
        (
            "SUNIONSTORE onto an expired key",
            vec![c("SADD t1 a"), x("PSETEX t2 1 v"), c("SUNIONSTORE t2 t1")],
        ),
        (
            "SINTERSTORE and SDIFFSTORE onto expired keys",
            vec![
                c("SADD t1 a b"),
                c("SADD one a"),
                x("PSETEX t2 1 v"),
                c("SINTERSTORE t2 t1 one"),
                x("PSETEX t2 1 v"),
                c("SDIFFSTORE t2 t1 one"),
            ],
        ),
        (
            "*STORE with an empty result onto an expired key",
            vec![
                c("SADD t1 a"),
                x("PSETEX t2 1 v"),
                c("SINTERSTORE t2 t1 missing"),
                x("PSETEX z2 1 v"),
                c("ZUNIONSTORE z2 1 missing"),
            ],
        ),
        (
            "ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE onto expired keys",
            vec![
                c("ZADD z1 1 a 2 b"),
                x("PSETEX z2 1 v"),
                c("ZUNIONSTORE z2 1 z1"),
                x("PSETEX z2 1 v"),
                c("ZINTERSTORE z2 2 z1 z1 AGGREGATE MAX"),
                x("PSETEX z2 1 v"),
                c("ZDIFFSTORE z2 1 z1"),
            ],
        ),
        (
            "ZRANGESTORE onto an expired key",
            vec![
                c("ZADD z1 1 a"),
                x("PSETEX z2 1 v"),
                c("ZRANGESTORE z2 z1 0 -1"),
            ],
        ),
        (
            "GEOSEARCHSTORE / GEORADIUS STORE onto expired keys",
            vec![
                c("GEOADD g1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania"),
                x("PSETEX z1 1 v"),
                c("GEOSEARCHSTORE z1 g1 FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST"),
                x("PSETEX z2 1 v"),
                c("GEORADIUS g1 15 37 200 km STORE z2"),
            ],
        ),
        (
            "SORT STORE onto an expired key",
            vec![
                c("RPUSH l1 b a"),
                x("PSETEX l2 1 v"),
                c("SORT l1 ALPHA STORE l2"),
            ],
        ),
        (
            "BITOP onto an expired key",
            vec![c("SET s1 ab"), x("PSETEX b1 1 v"), c("BITOP NOT b1 s1")],
        ),
        (
            "RENAME onto an expired key, also in a transaction",
            vec![
                c("SET s1 v"),
                x("PSETEX s2 1 v"),
                c("RENAME s1 s2"),
                x("PSETEX s1 1 v"),
                Step::Multi(vec![
                    "MULTI".into(),
                    "RENAME s2 s1".into(),
                    "INCR s1".into(),
                    "EXEC".into(),
                ]),
            ],
        ),
        (
            "RESTORE REPLACE onto an expired key (no lookup)",
            vec![
                c("SET s1 v"),
                x("PSETEX s2 1 v"),
                Step::DumpRestore("s1".into(), "RESTORE s2 0 REPLACE".into()),
            ],
        ),
        // A consumer an XREADGROUP creates goes out as XGROUP CREATECONSUMER only with
        // NOACK, and the group cursor as XGROUP SETID only with NOACK: otherwise the
        // XCLAIMs carry both (redis 7.0.15's unit/multi "MULTI propagation of
        // XREADGROUP"). Rubra sent both always. A history read propagates nothing.
        (
            "XREADGROUP of the history by a new consumer",
            vec![
                c("XGROUP CREATE x1 g1 2-0 MKSTREAM"),
                c("XREADGROUP GROUP g1 c2 STREAMS x1 0"),
            ],
        ),
        (
            "XREADGROUP by a new consumer in a transaction",
            vec![
                c("XADD x1 1-1 f v"),
                c("XADD x1 2-0 f v"),
                c("XADD x1 3-5 f v"),
                c("XGROUP CREATE x1 g1 0"),
                Step::Multi(vec![
                    "MULTI".into(),
                    "XREADGROUP GROUP g1 c1 COUNT 2 STREAMS x1 >".into(),
                    "XREADGROUP GROUP g1 c1 STREAMS x1 >".into(),
                    "EXEC".into(),
                ]),
            ],
        ),
        (
            "XREADGROUP NOACK by a new consumer, then by a known one",
            vec![
                c("XADD x1 1-1 f v"),
                c("XADD x1 2-0 f v"),
                c("XGROUP CREATE x1 g1 0"),
                c("XREADGROUP GROUP g1 c1 COUNT 1 NOACK STREAMS x1 >"),
                c("XREADGROUP GROUP g1 c1 NOACK STREAMS x1 >"),
                c("XADD x1 3-5 f v"),
                c("XREADGROUP GROUP g1 c2 STREAMS x1 >"),
            ],
        ),
        (
            "XREADGROUP served after blocking, with and without NOACK",
            vec![
                c("XGROUP CREATE x1 g1 $ MKSTREAM"),
                b(
                    "XREADGROUP GROUP g1 c1 BLOCK 0 STREAMS x1 >",
                    "XADD x1 1-1 f v",
                ),
                b(
                    "XREADGROUP GROUP g1 c2 BLOCK 0 NOACK STREAMS x1 >",
                    "XADD x1 2-0 f v",
                ),
            ],
        ),
        // SMOVE looks both keys up before checking their types: an expired destination
        // is deleted (DEL propagated) though the source has the wrong type (seed 21).
        (
            "SMOVE from a list onto an expired key",
            vec![
                x("SET t1 v PXAT 1 GET"),
                c("RPUSH l1 a"),
                c("SMOVE l1 t1 d"),
            ],
        ),
        // SCAN deletes the expired keys its pattern (and TYPE) let through and RANDOMKEY
        // the ones it picks, as Redis: their DELs are propagated (were not: SCAN skipped
        // them, so replicas kept keys the primary had reported gone until active expiry).
        (
            "SCAN meeting an expired key",
            vec![
                c("SET s1 v"),
                x("PSETEX s2 1 v"),
                c("SCAN 0 MATCH s2"),
                x("PSETEX t1 1 v"),
                c("SCAN 0 MATCH t* COUNT 1000"),
            ],
        ),
        (
            "SCAN with TYPE meeting an expired key",
            vec![
                c("RPUSH l1 a"),
                x("PSETEX s2 1 v"),
                c("SCAN 0 TYPE list"),
                x("PSETEX s1 1 v"),
                c("SCAN 0 TYPE none"),
                c("CONFIG SET lazyfree-lazy-expire yes"),
                x("PSETEX s1 1 v"),
                c("SCAN 0 MATCH s1 TYPE string"),
                c("CONFIG SET lazyfree-lazy-expire no"),
            ],
        ),
        (
            "RANDOMKEY meeting an expired key",
            vec![x("PSETEX s1 1 v"), c("RANDOMKEY")],
        ),
        // Several DELs of SCAN / RANDOMKEY go out one by one, not in a MULTI (Redis's
        // CMD_TOUCHES_ARBITRARY_KEYS; redis 7.0.15's unit/expire "Lazy-expire should not
        // be wrapped in MULTI/EXEC"), but inside a transaction they are wrapped in it.
        (
            "SCAN in a transaction meeting several expired keys (seed 7401)",
            vec![
                x("PSETEX l1 1 v"),
                x("SET x2 w PX 1 GET"),
                Step::Multi(vec![
                    "MULTI".into(),
                    "HDEL h2 b c".into(),
                    "SCAN 0 COUNT 1000".into(),
                    "SADD t2 d".into(),
                    "EXEC".into(),
                ]),
            ],
        ),
        (
            "SCAN and RANDOMKEY meeting several expired keys",
            vec![
                x("PSETEX s1 1 v"),
                x("PSETEX s2 1 v"),
                c("SCAN 0"),
                x("PSETEX s1 1 v"),
                x("PSETEX s2 1 v"),
                c("RANDOMKEY"),
                x("PSETEX s1 1 v"),
                c("SET t1 v"),
                Step::Multi(vec![
                    "MULTI".into(),
                    "SCAN 0 MATCH s*".into(),
                    "INCR t2".into(),
                    "EXEC".into(),
                ]),
            ],
        ),
    ];
    let mut pair = Pair::start_with(CONFIG);
    let mut rig = Rig::new(&pair);
    for (name, seq) in &cases {
        if let Some(d) = rig.first_difference(seq) {
            panic!("{name}: {d}");
        }
    }
    drop(rig);
    let _ = &mut pair;
}

//! Differential fuzzing of the keyspace, generic and "string extra" commands, which the
//! data-type fuzzer (fuzz_commands_differential.rs) touches only lightly: several databases
//! (SELECT, MOVE, SWAPDB, COPY ... DB, FLUSHDB, DBSIZE), the expire family with its NX / XX /
//! GT / LT options and SET / GETEX / SETEX / PSETEX expire options, RENAME / RENAMENX, TYPE,
//! EXISTS, TOUCH, UNLINK, OBJECT's deterministic subcommands, KEYS with random glob patterns
//! over keys holding glob characters, SCAN / HSCAN / SSCAN / ZSCAN with MATCH / COUNT /
//! TYPE, string commands (APPEND, GETRANGE / SUBSTR, SETRANGE, LCS, INCR family, GETSET) and
//! error replies (unknown commands and subcommands with odd arguments, wrong arity, mixed
//! case names). A seeded generator writes random sequences over a tiny keyspace, half of
//! them after HELLO 3; each runs on rubra-server and on Debian's redis-server 7.0 (both
//! flushed, database 0 selected) and ends with KEYS *, DBSIZE and the main keys' TYPE and
//! PEXPIRETIME in every database used.
//!
//! Also: WATCH / MULTI / EXEC blocks around database commands, COMMAND GETKEYS[ANDFLAGS]
//! of generated lines, COMMAND LIST FILTERBY, COMMAND INFO, CONFIG GET patterns, and
//! (`every_command_refuses_wrong_arity`) every command and subcommand Redis lists called
//! with a wrong number of arguments.
//!
//! Replies are compared byte for byte except what depends on the clock or on Redis's
//! per-process hash seed:
//! - TTL / PTTL / EXPIRETIME / PEXPIRETIME: positive values compare equal within 2 (seconds)
//!   or 2000 (milliseconds) of each other. Half the sequences set only absolute expiry
//!   times (no EXPIRE / PEXPIRE / SETEX / PSETEX / EX / PX): there EXPIRETIME and
//!   PEXPIRETIME compare exactly;
//! - OBJECT IDLETIME: any two non-negative integers are equal;
//! - KEYS, COMMAND LIST: the reply is compared as a multiset (Redis lists a hash table);
//! - CONFIG GET: only the set of parameter names (values such as ports and paths differ);
//! - SCAN (and SSCAN, and HSCAN / ZSCAN of big hash-table keys) is iterated from cursor 0
//!   to completion and the union of what it returned is compared (cursor values are
//!   positions in a seeded hash table); errors still compare exactly. HSCAN / ZSCAN of
//!   small (listpack) keys compare exactly whatever the cursor: Redis answers them in one
//!   call, in order;
//! - RANDOMKEY compares exactly when the database holds at most one key, else only the
//!   reply's kind.
//!
//! Not generated: SET / GETEX with a relative expire small enough to race the clock; SET
//! with an absolute expire already past (Redis keeps such a key in DBSIZE until its active
//! expiry cycle happens to sample it); COMMAND INFO of a container (its subcommands come
//! in hash-table order); the deviations listed at `known_deviation`.
//!
//! A difference is shrunk (commands dropped while a difference remains) and printed with
//! the seed. Short run: `cargo test -p rubra-server --test fuzz_keyspace_differential`;
//! replay or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
mod fuzz_kit;
mod reference;
use fuzz_kit::{alternating_case, campaign, cased, frame, opt, p, q, Pair};
use rubra_fuzz::Rng;
use rubra_resp::Frame;
mod fuzz_keyspace_kit;
use fuzz_keyspace_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 800;

#[test]
fn fuzz_keyspace_sequences_against_redis() {
    let mut pair = Pair::start();
    campaign(
        "fuzz_keyspace_sequences_against_redis",
        SHORT,
        &mut pair,
        // Half the sequences speak RESP3.
        |r| (r.one_in(2), sequence(r)),
        |pair, resp3, seq| pair.first_difference(resp3, seq),
        |(line, cmp)| match cmp {
            Cmp::Exact => line.clone(),
            other => format!("{line}    ({other:?})"),
        },
    );
}

/// Every command and subcommand Redis lists, called with one argument too few (and, for a
/// fixed arity, one too many), in mixed case: the same arity error.
#[test]
fn every_command_refuses_wrong_arity() {
    let mut pair = Pair::start();
    let Some(Frame::Array(cmds)) = frame(&pair.b.call("COMMAND")) else {
        panic!("COMMAND reply");
    };
    let mut lines = Vec::new();
    for c in cmds {
        let Frame::Array(info) = c else { continue };
        let (Some(Frame::Bulk(name)), Some(Frame::Int(arity))) = (info.first(), info.get(1)) else {
            continue;
        };
        let name = String::from_utf8_lossy(name).to_string();
        arity_lines(&name, *arity, &mut lines);
        if let Some(Frame::Array(subs)) = info.get(9) {
            for s in subs {
                let Frame::Array(si) = s else { continue };
                if let (Some(Frame::Bulk(sn)), Some(Frame::Int(sa))) = (si.first(), si.get(1)) {
                    let full = String::from_utf8_lossy(sn).replace('|', " ");
                    arity_lines(&full, *sa, &mut lines);
                }
            }
        }
    }
    assert!(lines.len() > 200, "{} lines", lines.len());
    let mut diffs = Vec::new();
    for line in &lines {
        pair.reset(false);
        if let Some(d) = pair.step(line, Cmp::Exact) {
            diffs.push(d);
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Lines with the wrong number of arguments for `name` (words: "config get"). Commands
/// whose arity lets the bare name run are skipped (calling them would run them).
fn arity_lines(name: &str, arity: i64, out: &mut Vec<String>) {
    let words = name.split(' ').count() as i64;
    let need = arity.abs();
    let mixed = alternating_case(name);
    if need > words {
        let extra = (need - 1 - words) as usize;
        out.push(format!("{mixed}{}", " x".repeat(extra)));
    }
    // Too many for a fixed arity: not for a bare command that takes no argument (SAVE x,
    // MONITOR x would run if the arity were looser), but for subcommands.
    if arity > 0 && (need > words || words > 1) {
        let extra = (need + 1 - words) as usize;
        out.push(format!("{mixed}{}", " x".repeat(extra)));
    }
}

/// Regression cases found by the fuzzer (each a minimal sequence).
#[test]
fn regression_sequences() {
    let cases: &[(&str, &[&str])] = &[
        // Redis's stringmatchlen: a class with no `]` runs to the pattern's end and still
        // takes one byte; a lone `[` matches nothing.
        (
            "glob_unterminated_class",
            &[
                "SET \"a*\" 1",
                "KEYS \"*[**\\\\[\"",
                "KEYS \"[ab\"",
                "KEYS \"a[\"",
                "KEYS \"[\"",
                "KEYS \"[^\"",
                "SCAN 0 MATCH \"?[*\"",
            ],
        ),
        // `a-]` is a range (']'..'a'), after which the class goes on; ranges compare signed
        // chars.
        (
            "glob_range_to_bracket",
            &[
                "SET _ 1",
                "KEYS \"[a-]\"",
                "KEYS \"[a-]x]\"",
                "KEYS \"[a-\\xc3]\"",
                "KEYS \"[\\xc3-a]\"",
            ],
        ),
        // An empty key matches no pattern but the empty one; KEYS * and MATCH * are no
        // filter at all.
        (
            "glob_empty_key",
            &[
                "SET \"\" 1",
                "KEYS \"**\"",
                "KEYS *",
                "KEYS \"\"",
                "SCAN 0 MATCH \"**\"",
                "SCAN 0 MATCH *",
            ],
        ),
        // Cursors are read with strtoul on a C string: "", "+0", "-0" and "0\0x" are 0.
        (
            "scan_cursor_strtoul",
            &[
                "SET a 1",
                "SCAN \"\"",
                "SCAN +0",
                "SCAN -0 MATCH a",
                "SCAN \"0\\x00x\"",
                "SCAN \" 0\"",
                "SCAN +",
                "SCAN 18446744073709551616",
                "HSET h f v",
                "HSCAN h \"\"",
                "HSCAN h +0",
                "SSCAN missing \"\"",
            ],
        ),
        // Database numbers are C ints: SWAPDB parses both before checking either.
        (
            "database_number_parsing",
            &[
                "SWAPDB -1 \"\"",
                "SWAPDB 16 x",
                "SWAPDB 0 4294967296",
                "SWAPDB 4294967296 0",
                "SELECT 4294967296",
                "SELECT -4294967296",
                "SET a 1",
                "MOVE a 4294967296",
                "MOVE a x",
                "COPY a b DB 4294967296",
            ],
        ),
        // SET / GETEX: every option parsed (repeats allowed) before the expire value.
        (
            "string_options_parse_before_values",
            &[
                "SET a 1 PXAT -1 EXAT x",
                "SET a 1 EX x PX 1",
                "SET a 1 EX 100 EX 200",
                "TTL a",
                "SET a 1 KEEPTTL KEEPTTL",
                "TTL a",
                "SET a 2 NX NX GET GET",
                "SET a 2 EX 0 XX",
                "SET a 3 PX 100000 PX 0",
                "GETEX a PERSIST PERSIST",
                "GETEX a EX 100 EX 200",
                "TTL a",
                "GETEX a EX 100 PERSIST",
                "GETEX a EX x EXAT 1",
                "GETEX a KEEPTTL",
                "GETEX a EX",
            ],
        ),
        // Without cluster mode every CLUSTER subcommand is refused, after the unknown and
        // arity checks.
        (
            "cluster_disabled",
            &[
                "CLUSTER HELP",
                "CLUSTER KEYSLOT a",
                "CLUSTER INFO",
                "CLUSTER NOSUCH",
                "CLUSTER KEYSLOT",
            ],
        ),
        // COMMAND GETKEYS of a container's unknown subcommand names no command.
        (
            "getkeys_unknown_subcommand",
            &[
                "COMMAND GETKEYS SCRIPT nosuch x",
                "COMMAND GETKEYS OBJECT nosuch k",
                "COMMAND GETKEYS OBJECT ENCODING k",
                "COMMAND GETKEYSANDFLAGS CONFIG GET x",
            ],
        ),
        // COMMAND GETKEYS follows Redis's key specs: channel-only specs are no keys,
        // numkeys 0 is invalid, an incomplete spec counts only once its keyword is found,
        // then the command's key finder (SORT's STORE key is a write; MIGRATE's KEYS skips
        // AUTH values and needs an empty key argument).
        (
            "getkeys_key_specs",
            &[
                "COMMAND GETKEYS SPUBLISH ch m",
                "COMMAND GETKEYSANDFLAGS SSUBSCRIBE a b",
                "COMMAND GETKEYSANDFLAGS ZUNIONSTORE d 0 a",
                "COMMAND GETKEYSANDFLAGS SORT a BY x STORE d",
                "COMMAND GETKEYSANDFLAGS SORT a STORE d GET x STORE e",
                "COMMAND GETKEYSANDFLAGS MIGRATE h p \"\" 0 5 KEYS",
                "COMMAND GETKEYSANDFLAGS MIGRATE h p k 0 5 KEYS a",
                "COMMAND GETKEYS MIGRATE h p \"\" 0 5 AUTH KEYS KEYS a",
                "COMMAND GETKEYS MIGRATE h p \"\" 0 5 AUTH2 u KEYS KEYS a",
            ],
        ),
        // EXPIRETIME rounds to the nearest second (as TTL does), the latest time too.
        (
            "expiretime_rounds",
            &[
                "SET a 1",
                "PEXPIREAT a 4102444800500",
                "EXPIRETIME a",
                "PEXPIREAT a 4102444800499",
                "EXPIRETIME a",
                "PEXPIREAT a 9223372036854775807",
                "EXPIRETIME a",
                "PEXPIRETIME a",
                "SET b 1 PXAT 4102444800500",
                "EXPIRETIME b",
            ],
        ),
        // LCS refuses a table of (len+1)^2 32-bit cells over proto-max-bulk-len (1mb
        // here: 512 x 512 x 4 bytes is the largest allowed).
        (
            "lcs_table_limit",
            &[
                "CONFIG SET proto-max-bulk-len 1mb",
                "SETRANGE a 510 x",
                "SETRANGE b 510 y",
                "LCS a b LEN",
                "SETRANGE c 511 y",
                "LCS a c LEN",
                "LCS c a IDX",
                "LCS a missing",
                "CONFIG SET proto-max-bulk-len 512mb",
            ],
        ),
        // COPY duplicates a small integer (refcount 1); INCR shares it again.
        (
            "copy_unshares_small_integers",
            &[
                "INCR a",
                "COPY a b",
                "OBJECT REFCOUNT a",
                "OBJECT REFCOUNT b",
                "MOVE b 1",
                "SELECT 1",
                "OBJECT REFCOUNT b",
                "RENAME b c",
                "OBJECT REFCOUNT c",
                "INCR c",
                "OBJECT REFCOUNT c",
            ],
        ),
        // Command flags as Redis 7.0 has them: REPLICAOF / SLAVEOF run inside MULTI (not
        // no-multi), QUIT is refused in scripts (noscript), and a subcommand's flags are
        // its own (XGROUP HELP is no write).
        (
            "command_flags_in_multi_and_scripts",
            &[
                "MULTI",
                "REPLICAOF NO ONE",
                "SLAVEOF NO ONE",
                "ECHO x",
                "EXEC",
                "EVAL \"return redis.pcall('quit')\" 0",
                "EVAL \"return redis.call('quit')\" 0",
                "EVAL \"#!lua flags=no-writes\\nreturn redis.call('xgroup', 'help')[1]\" 0",
                "EVAL_RO \"return redis.pcall('xgroup', 'help')[1]\" 0",
            ],
        ),
    ];
    let mut pair = Pair::start();
    for (name, lines) in cases {
        let seq: Vec<Step> = lines.iter().map(|l| (l.to_string(), Cmp::Exact)).collect();
        for resp3 in [false, true] {
            if let Some(diff) = pair.first_difference(resp3, &seq) {
                panic!("{name} (RESP{}): {diff}", if resp3 { 3 } else { 2 });
            }
        }
    }
}

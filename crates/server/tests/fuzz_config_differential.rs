//! Differential fuzzing of CONFIG: a seeded generator writes random sequences of CONFIG SET
//! (one or several parameter / value pairs at once, duplicates and aliases included), CONFIG
//! GET with one or more patterns (exact names in any case, globs), CONFIG RESETSTAT, CONFIG
//! HELP and malformed CONFIG calls, half of them after HELLO 3, and runs each on
//! rubra-server and on Debian's redis-server 7.0. Every reply must be byte-identical, except
//! CONFIG GET's, which is compared as an unordered map (Redis walks a dict). After every
//! CONFIG SET both servers are asked CONFIG GET of the names it set, so the shown form of
//! each value (memory units in bytes, enum spelling, flag order...) is compared too. INFO
//! commandstats / errorstats (counts only) and latencystats (field names only) show that
//! RESETSTAT and the error counting agree.
//!
//! The parameters are those redis-server lists in `CONFIG GET *` (and the hidden ones),
//! less those that belong to the environment or would stop the test (see `EXCLUDED`); the
//! values are each type's edges (booleans in odd spellings, integers with memory units,
//! overflow, signs and spaces, percentages, enum names in odd cases, multi-value strings,
//! empty strings, NUL bytes) plus any other type's values. A few values are kept out
//! because they would change the test's own connection or the process (`unsafe_value`).
//! Before each sequence every generated parameter is set back to its default on both.
//!
//! A difference is shrunk (steps dropped while a difference remains) and printed with the
//! seed. Short run: `cargo test -p rubra-server --test fuzz_config_differential`; replay
//! or extend with `FUZZ_SEED`, `FUZZ_ITERS` (sequences), `FUZZ_SECS`.

mod common;
// Not every picker of the kit is used here (each test file compiles the kit on its own).
#[allow(dead_code)]
mod fuzz_kit;
mod reference;
use fuzz_kit::{campaign, cased, frame, p, Pair};
use reference::RawConn;
use rubra_fuzz::Rng;
use rubra_resp::Frame;
mod fuzz_config_kit;
use fuzz_config_kit::*;

/// Sequences in the short (cargo test) run.
const SHORT: u64 = 1500;

#[test]
fn fuzz_config_sequences_against_redis() {
    run_campaign(
        "fuzz_config_sequences_against_redis",
        SHORT,
        &["--bind", "127.0.0.1"],
    );
}

/// The same with protected parameters allowed (`enable-protected-configs yes`): dir and
/// dbfilename are set too (dir only to places that leave each server where it is, or
/// that fail).
#[test]
fn fuzz_config_sequences_with_protected_configs_allowed() {
    run_campaign(
        "fuzz_config_sequences_with_protected_configs_allowed",
        SHORT / 5,
        &["--bind", "127.0.0.1", "--enable-protected-configs", "yes"],
    );
}

/// Regression cases found by the fuzzer (each a minimal sequence; RESP3 where marked),
/// with neighbours of each finding.
#[test]
fn regression_sequences() {
    let cases: &[(&str, bool, &[&str])] = &[
        // Redis reads most values as C strings (up to a NUL); integers, percentages,
        // percentiles and the two sds passwords are read whole.
        (
            "nul_bytes_end_c_string_values",
            false,
            &[
                "CONFIG SET slave-serve-stale-data \"yes\\x00\"",
                "CONFIG SET masteruser \"a\\x00b\" masterauth \"a\\x00b\"",
                "CONFIG SET maxmemory \"5\\x00\"",
                "CONFIG SET hz \"5\\x00\"",
                "CONFIG SET maxmemory-clients \"10%\\x00\"",
                "CONFIG SET notify-keyspace-events \"K\\x00E\"",
                "CONFIG SET save \"3600 1\\x00\"",
                "CONFIG SET save \"\\x00\"",
                "CONFIG SET loglevel \"debug\\x00x\"",
                "CONFIG SET shutdown-on-sigint \"save\\x00 now\"",
                "CONFIG SET oom-score-adj-values \"1\\x00 2 3\"",
                "CONFIG SET latency-tracking-info-percentiles \"50\\x00\"",
                "CONFIG SET cluster-announce-hostname \"a\\x00!\"",
                "CONFIG SET client-output-buffer-limit \"pubsub 1mb\\x00x 0 0\"",
            ],
        ),
        // An alias is a parameter of its own in Redis's table: set with its primary name
        // in one CONFIG SET, it is no duplicate (the last value wins).
        (
            "alias_and_name_are_no_duplicates",
            false,
            &[
                "config set hash-max-listpack-entries 10% crash-log-enabled \"\" hash-max-ziplist-entries 501",
                "CONFIG SET hash-max-ziplist-entries 100 hash-max-listpack-entries 200",
                "CONFIG SET hash-max-listpack-entries 300 hash-max-ziplist-entries 400",
                "CONFIG SET maxmemory 1 MAXMEMORY 2",
                "CONFIG SET slave-read-only no replica-read-only no slave-read-only yes",
            ],
        ),
        // An unknown subcommand is no command Redis finds: no rejected_calls anywhere.
        (
            "unknown_subcommand_counts_no_rejected_call",
            true,
            &[
                "CONFIG NOSUCH a b",
                "CONFIG",
                "CONFIG RESETSTAT x",
                "INFO commandstats",
                "INFO errorstats",
            ],
        ),
        // Values Redis's apply step changes, and what INFO shows of them.
        (
            "applied_values_and_info",
            false,
            &[
                "CONFIG SET RePl-bAcKlOg-sIzE 99",
                "INFO everything",
                "CONFIG SET repl-backlog-size 16383",
                "CONFIG SET repl-backlog-size 16385",
                "CONFIG SET hz 0",
                "INFO everything",
                "CONFIG SET MAXMEMORY 9223372036854775807",
                "INFO everything",
                "CONFIG SET maxmemory 99999999999999999999",
                "INFO everything",
                "CONFIG SET maxmemory 1125899906842624",
                "INFO everything",
                "CONFIG SET maxmemory 2199023255552",
                "INFO everything",
                "CONFIG SET maxmemory 18446744073709551615k",
                "CONFIG SET maxmemory 0",
            ],
        ),
        // Debian's redis-server has no active defragmentation, and neither has rubra.
        (
            "activedefrag_cannot_be_enabled",
            false,
            &[
                "CONFIG SET AcTiVeDeFrAg yes tracking-table-max-keys 1Gb",
                "CONFIG SET activedefrag yes",
                "CONFIG SET activedefrag no",
            ],
        ),
        // INFO latencystats follows latency-tracking and its percentiles list.
        (
            "latencystats_follow_the_configuration",
            true,
            &[
                "CONFIG SET latency-tracking-info-percentiles \"\"",
                "INFO latencystats",
                "CONFIG SET latency-tracking-info-percentiles \"0x10 1e1 50.000 99.9999999\"",
                "INFO latencystats",
                "CONFIG SET latency-tracking-info-percentiles 1e400",
                "CONFIG SET latency-tracking-info-percentiles 1e-400",
                "CONFIG SET latency-tracking-info-percentiles \"inf\"",
                "CONFIG SET latency-tracking-info-percentiles \"nan 1\"",
                "CONFIG SET latency-tracking-info-percentiles \" 1\"",
                "CONFIG SET latency-tracking-info-percentiles 4.9e-324",
                "config set latency-tracking no",
                "INFO latencystats",
            ],
        ),
        // Inside MULTI, Redis refuses every command but EXEC, DISCARD, QUIT and RESET when
        // out of memory (queuing costs memory), not only the deny-OOM ones.
        (
            "oom_refuses_any_queued_command",
            false,
            &[
                "CONFIG SET maxmemory 1",
                "MULTI",
                "CONFIG SET maxclients 19969",
                "CONFIG GET maxmemory",
                "MULTI",
                "EXEC",
                "MULTI",
                "DISCARD",
                "CONFIG SET maxmemory 0",
            ],
        ),
        // A command a script may not call counts a rejected call (known commands only).
        (
            "script_refusals_count_rejected_calls",
            false,
            &[
                "EVAL \"return redis.call('config', 'get', 'maxmemory')\" 0",
                "EVAL \"return redis.pcall('config', 'set', 'maxmemory', '1')\" 0",
                "EVAL \"return redis.pcall('config', 'nosuch')\" 0",
                "EVAL \"return redis.pcall('get')\" 0",
                "EVAL \"return redis.pcall('nosuchcommand')\" 0",
                "INFO commandstats",
                "INFO errorstats",
            ],
        ),
        // maxclients must fit the open-files limit (raised as far as the system allows);
        // near 2^32 the count Redis asks for wraps and fits.
        (
            "maxclients_fits_the_open_files_limit",
            false,
            &[
                "CONFIG SET maxclients 19969",
                "CONFIG SET maxclients 30000",
                "CONFIG SET maxclients 19968",
                "INFO everything",
                "CONFIG SET maxclients 4294967295",
                "CONFIG SET maxclients 4294967264",
                "INFO everything",
                "CONFIG SET maxclients 1000000 hz 20",
                "CONFIG SET maxclients 10000",
            ],
        ),
        // proc-title-template is expanded as Redis's sdstemplate does, with an empty title.
        (
            "proc_title_template_expansion",
            false,
            &[
                "CONFIG SET proc-title-template \"title}\"",
                "CONFIG SET proc-title-template \"{title}\"",
                "CONFIG SET proc-title-template \" {title} {server-mode} \"",
                "CONFIG SET proc-title-template \"{{title}\"",
                "CONFIG SET proc-title-template \"{{\"",
                "CONFIG SET proc-title-template \"{\"",
                "CONFIG SET proc-title-template \"}\"",
                "CONFIG SET proc-title-template \"{unixsocket}\"",
                "CONFIG SET proc-title-template \"{port}\"",
                "CONFIG SET proc-title-template \"{Port}\"",
                "CONFIG SET proc-title-template \"{}\"",
                "CONFIG SET proc-title-template \"{title} {listen-addr} {server-mode}\"",
            ],
        ),
    ];
    let mut pair = Pair::start_with(&["--bind", "127.0.0.1"]);
    let ps = Params::discover(&mut pair);
    for (name, resp3, lines) in cases {
        let steps: Vec<Step> = lines.iter().map(|l| l.to_string()).collect();
        if let Some(diff) = first_difference(&mut pair, &ps, *resp3, &steps) {
            panic!("{name}: {diff}");
        }
    }
}

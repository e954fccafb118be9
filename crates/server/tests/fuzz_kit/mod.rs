//! What the differential fuzzers (`fuzz_commands_differential`, `fuzz_families_differential`)
//! share: the two servers side by side, the generator's small pickers, reply parsing, and
//! the campaign loop that runs sequences and shrinks a failing one. Each fuzzer keeps its own generator and comparison
//! rules.

use crate::common::TestServer;
use crate::reference::{RawConn, Reference};
use rubra_fuzz::{Rng, Settings};
use rubra_resp::{parse_frame, Frame};
use std::time::Instant;

/// rubra-server and redis-server 7.0, one raw connection to each (`a` and `b`); more
/// connections can be opened to `rubra.port` and `redis.port`.
// Not every fuzzer opens more connections (each test file compiles the kit on its own).
#[allow(dead_code)]
pub(crate) struct Pair {
    pub(crate) rubra: TestServer,
    pub(crate) redis: Reference,
    pub(crate) a: RawConn,
    pub(crate) b: RawConn,
}

impl Pair {
    /// Starts both servers with their defaults.
    pub(crate) fn start() -> Pair {
        Pair::start_with(&[])
    }

    /// Starts both servers with the same extra configuration (`--name value` words).
    pub(crate) fn start_with(config: &[&str]) -> Pair {
        let rubra = TestServer::start(config);
        let redis = Reference::start_with(config);
        let a = RawConn::connect(rubra.port);
        let b = RawConn::connect(redis.port);
        Pair { rubra, redis, a, b }
    }
}

/// One of `xs`.
pub(crate) fn p(r: &mut Rng, xs: &[&'static str]) -> &'static str {
    xs[r.below(xs.len())]
}

/// `s` in double quotes, one argument for the servers' command-line parser.
pub(crate) fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// Nothing half the time, else one of `choices` (an optional flag).
pub(crate) fn opt(r: &mut Rng, choices: &[&'static str]) -> String {
    if r.one_in(2) {
        String::new()
    } else {
        p(r, choices).to_string()
    }
}

/// `name` now and then in upper, lower or alternating case (command names, options and
/// parameter names are case-insensitive), else as it is.
// Not every fuzzer generates names (each test file compiles the kit on its own).
#[allow(dead_code)]
pub(crate) fn cased(r: &mut Rng, name: &str) -> String {
    match r.below(8) {
        0 => name.to_ascii_uppercase(),
        1 => name.to_ascii_lowercase(),
        2 => alternating_case(name),
        _ => name.to_string(),
    }
}

/// `name` with its letters upper and lower case in turn ("CoNfIg gEt").
#[allow(dead_code)]
pub(crate) fn alternating_case(name: &str) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A whole reply parsed, or None.
pub(crate) fn frame(raw: &[u8]) -> Option<Frame> {
    match parse_frame(raw, usize::MAX / 2) {
        Ok(Some((f, _))) => Some(f),
        _ => None,
    }
}

/// `steps` with every step dropped whose removal keeps `differs` true: a minimal sequence
/// to print for a difference.
pub(crate) fn shrink<T: Clone>(mut steps: Vec<T>, mut differs: impl FnMut(&[T]) -> bool) -> Vec<T> {
    let mut i = 0;
    while i < steps.len() {
        let mut shorter = steps.clone();
        shorter.remove(i);
        if differs(&shorter) {
            steps = shorter;
        } else {
            i += 1;
        }
    }
    steps
}

/// Runs generated sequences (each with its protocol: RESP3 if true) on `pair` until
/// `FUZZ_ITERS` sequences (default `short`) or `FUZZ_SECS` have passed. The first
/// difference `run` reports is shrunk and the test panics with the seed, the difference and
/// the minimal sequence (each step shown by `show`).
pub(crate) fn campaign<T: Clone>(
    name: &str,
    short: u64,
    pair: &mut Pair,
    mut sequence: impl FnMut(&mut Rng) -> (bool, Vec<T>),
    mut run: impl FnMut(&mut Pair, bool, &[T]) -> Option<String>,
    show: impl Fn(&T) -> String,
) {
    let s = Settings::from_env(short);
    println!("{name}: seed {} ({} sequences)", s.seed, s.iters);
    let mut rng = Rng::new(s.seed);
    let start = Instant::now();
    let (mut sequences, mut steps) = (0u64, 0usize);
    for i in 0..s.iters {
        if s.max_time.is_some_and(|m| start.elapsed() > m) {
            break;
        }
        let (resp3, seq) = sequence(&mut rng);
        sequences += 1;
        steps += seq.len();
        if let Some(diff) = run(pair, resp3, &seq) {
            let small = shrink(seq, |s| run(pair, resp3, s).is_some());
            let diff = run(pair, resp3, &small).unwrap_or(diff);
            let lines: Vec<String> = small.iter().map(&show).collect();
            panic!(
                "seed {} sequence {i} ({}): reply differs from redis-server\n{diff}\nminimal sequence:\n  {}",
                s.seed,
                if resp3 { "RESP3" } else { "RESP2" },
                lines.join("\n  ")
            );
        }
    }
    println!(
        "{name}: {sequences} sequences, {steps} commands, {:?}",
        start.elapsed()
    );
}

/// One step of a fuzzer that drives several connections (`fuzz_clients_differential`,
/// `fuzz_acl_differential`): commands sent in one write on one connection.
#[allow(dead_code)]
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) conn: usize,
    pub(crate) lines: Vec<String>,
}

#[allow(dead_code)]
impl Step {
    /// The step as a failure report and the regression lists write it.
    pub(crate) fn show(&self) -> String {
        format!("c{}: {}", self.conn, self.lines.join(" ; "))
    }
}

/// Parses a regression case's steps, each written "n: line ; line".
#[allow(dead_code)]
pub(crate) fn steps(lines: &[&str]) -> Vec<Step> {
    lines
        .iter()
        .map(|l| {
            let (c, rest) = l.split_once(':').expect("n: commands");
            Step {
                conn: c.trim().parse().expect("connection number"),
                lines: rest.split(" ; ").map(|x| x.trim().to_string()).collect(),
            }
        })
        .collect()
}

/// The first step whose outputs on the two servers differ (`ours` and `theirs` hold one
/// text per step), shown with both; for the fuzzers of several connections.
#[allow(dead_code)]
pub(crate) fn first_differing_step(
    seq: &[Step],
    ours: &[String],
    theirs: &[String],
) -> Option<String> {
    let k = ours.iter().zip(theirs).position(|(a, b)| a != b)?;
    Some(format!(
        "step {k}: {}\n  rubra:\n{}\n  redis:\n{}",
        seq[k].show(),
        ours[k],
        theirs[k]
    ))
}

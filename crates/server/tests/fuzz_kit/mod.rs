//! What the differential fuzzers (`fuzz_commands_differential`, `fuzz_families_differential`)
//! share: the two servers side by side, the generator's small pickers, reply parsing and
//! the shrinking of a failing sequence. Each fuzzer keeps its own generator and comparison
//! rules.

use crate::common::TestServer;
use crate::reference::{RawConn, Reference};
use rubra_fuzz::Rng;
use rubra_resp::{parse_frame, Frame};

/// rubra-server and redis-server 7.0, one raw connection to each (`a` and `b`).
pub(crate) struct Pair {
    _rubra: TestServer,
    _redis: Reference,
    pub(crate) a: RawConn,
    pub(crate) b: RawConn,
}

impl Pair {
    /// Starts both servers with their defaults.
    pub(crate) fn start() -> Pair {
        let rubra = TestServer::start(&[]);
        let redis = Reference::start();
        let a = RawConn::connect(rubra.port);
        let b = RawConn::connect(redis.port);
        Pair {
            _rubra: rubra,
            _redis: redis,
            a,
            b,
        }
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

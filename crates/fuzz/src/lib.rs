//! A small, dependency-free mutation fuzzer for Rubra's decoders of untrusted input.
//!
//! Why not cargo-fuzz/libFuzzer or AFL: both need a nightly compiler (sanitizer coverage
//! flags) or extra system tools, and this project builds on the stable toolchain only.
//! Why not proptest alone: it generates values from strategies but does not mutate a corpus
//! of real encodings, which is what finds bugs in parsers of length-prefixed formats (a
//! valid frame with one length field changed is far more likely to reach deep code than
//! random bytes). So this crate does what a fuzzer without coverage feedback can do well:
//! start from a corpus of valid inputs, apply a few structure-aware mutations (bit flips,
//! "interesting" integers, ASCII numbers rewritten to boundary values, chunk splices),
//! keep inputs the target accepted as new seeds, and run each one under `catch_unwind`
//! with a per-input allocation budget. Everything is driven by one seed that is printed,
//! so any failure replays with `FUZZ_SEED=<seed>`.
//!
//! Environment: `FUZZ_ITERS` (inputs per target; the default keeps `cargo test` short),
//! `FUZZ_SEED` (replay a run), `FUZZ_SECS` (optional wall-clock cap for long runs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// SplitMix64: tiny, fast and good enough to drive mutations; seeded so runs replay.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator that yields the same sequence for the same seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Integers that sit on the edges parsers get wrong: zero, signs, type limits, and sizes
/// one off from a power of two.
const INTERESTING: &[i64] = &[
    0,
    1,
    -1,
    2,
    7,
    8,
    16,
    63,
    64,
    127,
    128,
    255,
    256,
    1023,
    1024,
    4096,
    16383,
    16384,
    32767,
    32768,
    65535,
    65536,
    i32::MAX as i64,
    i32::MIN as i64,
    u32::MAX as i64,
    i64::MAX,
    i64::MIN,
    512 * 1024 * 1024,
    512 * 1024 * 1024 + 1,
];

/// Byte strings worth inserting into text protocols (RESP, config and nodes.conf lines).
const TOKENS: &[&[u8]] = &[
    b"\r\n", b"\n", b"\r", b"*", b"$", b"+", b"-", b":", b"%", b"~", b">", b",", b"#", b"_", b"(",
    b"=", b"!", b"\"", b"'", b"\\", b"\\x", b" ", b"\t", b"\0", b"-1", b"[", b"]", b"->-", b"-<-",
    b"@", b",", b"myself", b"master", b"slave", b"inf", b"nan",
];

/// Applies 1..=4 random mutations to `input`; `others` supplies material for splices.
pub fn mutate(rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, input, others);
    }
}

fn mutate_once(rng: &mut Rng, v: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = v.len();
    match rng.below(12) {
        0 if len > 0 => {
            let i = rng.below(len);
            v[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            v[i] = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, 0x40, 0xc0, b'0', b'9', b'\r', b'\n']);
        }
        2 if len > 0 => {
            // Delete a range.
            let a = rng.below(len);
            let b = (a + 1 + rng.below(16.min(len - a))).min(len);
            v.drain(a..b);
        }
        3 => {
            // Insert random bytes.
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes = rng.bytes(n);
            v.splice(at..at, bytes);
        }
        4 => {
            let at = rng.below(len + 1);
            let tok = rng.pick(TOKENS).to_vec();
            v.splice(at..at, tok);
        }
        5 if len > 0 => {
            // Duplicate a chunk in place (repeated elements, nested aggregates).
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64.min(len - a))).min(len);
            let chunk = v[a..b].to_vec();
            let at = rng.below(len + 1);
            v.splice(at..at, chunk);
        }
        6 if !others.is_empty() => {
            // Splice a chunk of another corpus entry.
            let o = rng.pick(others);
            if !o.is_empty() {
                let a = rng.below(o.len());
                let b = (a + 1 + rng.below(128.min(o.len() - a))).min(o.len());
                let at = rng.below(len + 1);
                let end = (at + rng.below(b - a + 1)).min(len);
                v.splice(at..end, o[a..b].iter().copied());
            }
        }
        7 | 8 => rewrite_ascii_number(rng, v),
        9 if len >= 1 => {
            // An interesting integer in binary, either byte order, 1/2/4/8 bytes wide.
            let width = *rng.pick(&[1usize, 2, 4, 8]);
            if len >= width {
                let at = rng.below(len - width + 1);
                let n = *rng.pick(INTERESTING);
                let bytes = if rng.one_in(2) {
                    n.to_le_bytes()
                } else {
                    n.to_be_bytes()
                };
                let src = if rng.one_in(2) {
                    &bytes[..width]
                } else {
                    &bytes[8 - width..]
                };
                v[at..at + width].copy_from_slice(src);
            }
        }
        10 if len > 0 => {
            // Add or subtract a small amount at one byte (length fields off by a few).
            let i = rng.below(len);
            let d = 1 + rng.below(8) as u8;
            v[i] = if rng.one_in(2) {
                v[i].wrapping_add(d)
            } else {
                v[i].wrapping_sub(d)
            };
        }
        11 if len > 0 => v.truncate(rng.below(len)),
        _ => {
            let at = rng.below(len + 1);
            v.insert(at, rng.byte());
        }
    }
}

/// Replaces one run of ASCII digits (with its sign) by an interesting number or a nearby
/// value: the way to reach length-prefix bugs in text protocols.
fn rewrite_ascii_number(rng: &mut Rng, v: &mut Vec<u8>) {
    let runs: Vec<(usize, usize)> = {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < v.len() {
            if v[i].is_ascii_digit() {
                let start = if i > 0 && v[i - 1] == b'-' { i - 1 } else { i };
                let mut j = i;
                while j < v.len() && v[j].is_ascii_digit() {
                    j += 1;
                }
                runs.push((start, j));
                i = j;
            } else {
                i += 1;
            }
        }
        runs
    };
    if runs.is_empty() {
        return;
    }
    let (a, b) = *rng.pick(&runs);
    let old: i64 = std::str::from_utf8(&v[a..b])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let new = match rng.below(3) {
        0 => *rng.pick(INTERESTING),
        1 => old.wrapping_add(1 + rng.below(3) as i64),
        _ => old.wrapping_sub(1 + rng.below(3) as i64),
    };
    v.splice(a..b, new.to_string().into_bytes());
}

thread_local! {
    // Const-initialised without a destructor, so reading them inside the allocator never
    // allocates or registers anything.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// A global allocator that counts, per thread, the bytes live and their peak, so a fuzz
/// target can assert that a decoder's memory is bounded by its input and not by a length
/// field it read. Install it in a test binary with
/// `#[global_allocator] static A: rubra_fuzz::CountingAlloc = rubra_fuzz::CountingAlloc;`.
pub struct CountingAlloc;

fn track(delta: isize) {
    LIVE.with(|l| {
        let now = l.get() + delta;
        l.set(now);
        PEAK.with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

// SAFETY: every method forwards to the system allocator unchanged; the counters are
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        System.realloc(ptr, layout, new_size)
    }
}

/// Peak bytes this thread allocated above what was live when `f` started (meaningful only
/// when [`CountingAlloc`] is the global allocator; 0 otherwise).
pub fn peak_alloc_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = PEAK.with(|p| p.get());
    (r, (peak - base).max(0) as usize)
}

/// What a target says about one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Decoded successfully: worth keeping as a seed for further mutation.
    Accepted,
    /// Refused with an error (the expected outcome for most mutants).
    Rejected,
}

/// Settings of one fuzz run, read from the environment with per-target defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Inputs to run.
    pub iters: u64,
    /// The run's seed (printed, so it can be replayed).
    pub seed: u64,
    /// Optional wall-clock cap.
    pub max_time: Option<Duration>,
    /// Largest input the mutator may grow to.
    pub max_len: usize,
}

impl Settings {
    /// `default_iters` unless `FUZZ_ITERS` says otherwise; seed from `FUZZ_SEED` or the
    /// clock.
    pub fn from_env(default_iters: u64) -> Settings {
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        let seed = var("FUZZ_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
        Settings {
            iters: var("FUZZ_ITERS").unwrap_or(default_iters),
            seed,
            max_time: var("FUZZ_SECS").map(Duration::from_secs),
            max_len: 1 << 16,
        }
    }
}

/// Totals of one run, for the report.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Inputs executed.
    pub inputs: u64,
    /// Inputs the target accepted.
    pub accepted: u64,
    /// Size of the corpus at the end (seeds plus accepted mutants kept).
    pub corpus: usize,
}

/// Runs `target` on mutants of `seeds` until the settings say stop. A panic in the target
/// is caught, the seed, iteration and input (hex) are printed, and the run fails, so the
/// input can become a named regression test. `fixup` runs after mutation (e.g. to recompute
/// a checksum or a total-length field, usually, so mutants get past the envelope check
/// into the decoder; it gets the run's generator so it can leave some envelopes broken).
pub fn run(
    name: &str,
    seeds: Vec<Vec<u8>>,
    settings: &Settings,
    fixup: impl Fn(&mut Rng, &mut [u8]),
    mut target: impl FnMut(&[u8]) -> Verdict,
) -> Stats {
    assert!(!seeds.is_empty(), "{name}: empty corpus");
    eprintln!(
        "fuzz {name}: seed {} iters {} (replay with FUZZ_SEED={})",
        settings.seed, settings.iters, settings.seed
    );
    let mut rng = Rng::new(settings.seed);
    let mut corpus = seeds;
    let cap = 4096;
    let started = Instant::now();
    let mut stats = Stats {
        inputs: 0,
        accepted: 0,
        corpus: 0,
    };
    for i in 0..settings.iters {
        if let Some(limit) = settings.max_time {
            if i % 1024 == 0 && started.elapsed() > limit {
                break;
            }
        }
        let mut input = corpus[rng.below(corpus.len())].clone();
        // Seeds run unmutated once so the corpus itself is checked.
        if i >= corpus.len() as u64 {
            mutate(&mut rng, &mut input, &corpus);
            input.truncate(settings.max_len);
            fixup(&mut rng, &mut input);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| target(&input)));
        stats.inputs += 1;
        match outcome {
            Ok(Verdict::Accepted) => {
                stats.accepted += 1;
                if corpus.len() < cap && rng.one_in(8) {
                    corpus.push(input);
                }
            }
            Ok(Verdict::Rejected) => {}
            Err(_) => {
                panic!(
                    "fuzz {name}: target panicked at iteration {i} (FUZZ_SEED={}); input ({} bytes): {}",
                    settings.seed,
                    input.len(),
                    hex(&input)
                );
            }
        }
    }
    stats.corpus = corpus.len();
    eprintln!(
        "fuzz {name}: {} inputs, {} accepted, corpus {}, {:.1}s",
        stats.inputs,
        stats.accepted,
        stats.corpus,
        started.elapsed().as_secs_f64()
    );
    stats
}

/// Lower-case hex, for printing a failing input so it can be pasted into a test.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses [`hex`] output back (for regression tests written from a failure message).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mutants() {
        let seeds = vec![b"*1\r\n$4\r\nPING\r\n".to_vec()];
        let gen = |seed| {
            let mut rng = Rng::new(seed);
            (0..100)
                .map(|_| {
                    let mut v = seeds[0].clone();
                    mutate(&mut rng, &mut v, &seeds);
                    v
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(gen(7), gen(7));
        assert_ne!(gen(7), gen(8));
    }

    #[test]
    fn ascii_numbers_get_rewritten() {
        let mut rng = Rng::new(1);
        let mut changed = 0;
        for _ in 0..50 {
            let mut v = b"$12\r\n".to_vec();
            rewrite_ascii_number(&mut rng, &mut v);
            changed += (v != b"$12\r\n") as usize;
        }
        assert!(changed > 40);
    }

    #[test]
    fn a_panicking_target_fails_the_run() {
        let s = Settings {
            iters: 100,
            seed: 3,
            max_time: None,
            max_len: 64,
        };
        let r = catch_unwind(|| {
            run(
                "panics",
                vec![b"x".to_vec()],
                &s,
                |_, _| {},
                |b| {
                    if b.len() > 1 {
                        panic!("boom")
                    }
                    Verdict::Rejected
                },
            )
        });
        assert!(r.is_err());
    }
}

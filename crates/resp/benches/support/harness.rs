//! The micro-benchmark loop shared by the crates' `cargo bench` targets (included with
//! `#[path]`, so no extra crate or dependency): doubles the iteration count until a run
//! takes the budget, then prints the mean time per call.

use std::time::{Duration, Instant};

/// Runs `f` repeatedly for about `budget` and prints the mean time per call.
pub(crate) fn bench(name: &str, budget: Duration, mut f: impl FnMut()) {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        let took = start.elapsed();
        if took >= budget {
            println!(
                "{name:<44} {:>10.1} ns/op",
                took.as_nanos() as f64 / iters as f64
            );
            return;
        }
        iters *= 2;
    }
}

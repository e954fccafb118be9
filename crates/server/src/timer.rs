//! Timers kept off the serving threads.
//!
//! A tokio runtime with its time driver enabled runs that driver every time a worker goes
//! to sleep and wakes up: it reads the clock twice, subtracts, and walks its timer wheel,
//! ~500 instructions per wake-up whether or not a timer is due (callgrind, one client at
//! -P 1, where every request is a wake-up: 5383 instructions per GET against Redis's 4531).
//! A server answering a client that waits on each reply sleeps and wakes about once per
//! request, so that cost lands on nearly every request.
//!
//! So the serving runtime is built without a time driver, and every timer the server uses
//! (idle and blocking timeouts, cron, the cluster bus, replication, handshakes) is created
//! through this module, bound to a small runtime of its own on one thread
//! (`rubra-timers`). A timer that fires wakes its task across threads, which costs
//! microseconds on the few wake-ups that come from timers (cron at `hz`, the bus every
//! 100 ms, a client's BLPOP timeout) instead of the time driver on every wake-up.
//!
//! Without `start` (unit tests, tools), timers bind to the current runtime as plain tokio
//! timers do.

use std::future::{Future, IntoFuture};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::{Instant, Interval, Sleep, Timeout};

/// The timer runtime's handle, once `start` made it.
static TIMERS: OnceLock<tokio::runtime::Handle> = OnceLock::new();

/// Starts the timer thread; the serving runtime may then be built without `enable_time`.
/// Called once, before the serving runtime starts; a second call does nothing.
pub(crate) fn start() -> std::io::Result<()> {
    if TIMERS.get().is_some() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("rubra-timers".into())
        // The thread only drives the timer wheel: it runs no task of its own.
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    // Only this function sets it, and the check above makes a race only start a spare
    // thread that idles.
    let _ = TIMERS.set(handle);
    Ok(())
}

/// Runs `make` with the timer runtime as the current one, so that the timer it creates is
/// registered there (a tokio timer binds to the runtime current when it is made).
fn bound<T>(make: impl FnOnce() -> T) -> T {
    match TIMERS.get() {
        Some(handle) => {
            let _entered = handle.enter();
            make()
        }
        None => make(),
    }
}

/// `tokio::time::sleep` on the timer thread.
pub(crate) fn sleep(duration: Duration) -> Sleep {
    bound(|| tokio::time::sleep(duration))
}

/// `tokio::time::timeout` on the timer thread (the future itself runs where it is polled).
pub(crate) fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    bound(|| tokio::time::timeout(duration, future))
}

/// `tokio::time::timeout_at` on the timer thread.
pub(crate) fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture>
where
    F::IntoFuture: Future,
{
    bound(|| tokio::time::timeout_at(deadline, future))
}

/// `tokio::time::interval` on the timer thread.
pub(crate) fn interval(period: Duration) -> Interval {
    bound(|| tokio::time::interval(period))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A serving runtime without a time driver can use this module's timers once the timer
    /// thread runs (plain tokio timers panic there); the sleep lasts about as long as asked.
    #[test]
    fn timers_work_on_a_runtime_without_a_time_driver() {
        start().expect("timer thread");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let t0 = std::time::Instant::now();
            sleep(Duration::from_millis(30)).await;
            let slept = t0.elapsed();
            assert!(slept >= Duration::from_millis(30), "{slept:?}");
            assert!(slept < Duration::from_secs(5), "{slept:?}");
            let never = std::future::pending::<()>();
            assert!(timeout(Duration::from_millis(10), never).await.is_err());
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
            let mut every = interval(Duration::from_millis(5));
            every.tick().await;
            every.tick().await;
            let deadline = Instant::now() + Duration::from_millis(10);
            assert!(timeout_at(deadline, std::future::pending::<()>())
                .await
                .is_err());
        });
    }
}

//! What other connections can learn about a running script without the store lock.
//!
//! A script runs inside its command, under the store lock, so nothing interleaves with it
//! (Redis's atomicity). Once it has run longer than `busy-reply-threshold`, Redis answers
//! other clients `-BUSY` and accepts only SCRIPT KILL / FUNCTION KILL / SHUTDOWN NOSAVE. Here
//! the running script publishes its state in atomics that a connection reads before it
//! takes the lock: it waits for the lock in short slices and, once the script is marked
//! busy, answers from this state instead of waiting (see `conn::process`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared between the store (the script sets it) and the server (connections read it).
#[derive(Debug, Default)]
pub(crate) struct BusyState {
    /// A script is executing right now.
    pub running: AtomicBool,
    /// It ran past busy-reply-threshold: other clients get -BUSY.
    pub timed_out: AtomicBool,
    /// It is an EVAL script (SCRIPT KILL) rather than a function (FUNCTION KILL).
    pub is_eval: AtomicBool,
    /// It already executed a write: it cannot be killed.
    pub wrote: AtomicBool,
    /// It was sent by our primary (or is being replayed): it cannot be killed.
    pub from_primary: AtomicBool,
    /// The store is loading an AOF (the script runs from it): other clients get -LOADING
    /// first, as Redis checks loading before a busy script.
    pub loading: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL was accepted: the script stops at its next hook.
    pub kill: AtomicBool,
    /// Attempts this run made to hand its async worker off (see `hand_off_worker`).
    pub handoffs: std::sync::atomic::AtomicU32,
    /// busy-reply-threshold as of the current run's start (ms, 0: never busy).
    pub threshold_ms: AtomicU64,
    /// The current run's script name (SHA1 or function), for the slow-script warning.
    pub name: parking_lot::Mutex<String>,
    /// The engine-lifetime count hook is installed (FUNCTION LOAD's own hook and the
    /// per-line hook after a kill replace it; the next run installs it again).
    pub hook_armed: AtomicBool,
    /// The current run's command as its caller sent it (FUNCTION STATS's `command`).
    pub command: parking_lot::Mutex<Vec<bytes::Bytes>>,
    /// Libraries and functions loaded as of the run's start (FUNCTION STATS's engines;
    /// none can be loaded while the run lasts).
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
    /// WATCH / UNWATCH / DISCARD answered while the script was busy: their effect on the
    /// store's watches, applied when the run ends (see `finish`).
    pending: parking_lot::Mutex<Vec<WatchOp>>,
    /// `pending` may be non-empty: the run's end and its writes look at it only then.
    pending_any: AtomicBool,
    /// Start of the current run, in ms since `epoch`.
    started_ms: AtomicU64,
    /// Reference point for `started_ms`.
    epoch: std::sync::OnceLock<Instant>,
}

/// A change to the watches that a connection served during a busy script could not make
/// (the script holds the store): Redis makes it at once, we make it when the run ends.
#[derive(Debug)]
pub(crate) enum WatchOp {
    /// WATCH of `keys` in `db`; `dirty` once the script wrote one of them afterwards (the
    /// write Redis would have seen touch the watched key).
    Watch {
        client: u64,
        db: usize,
        keys: Vec<bytes::Bytes>,
        dirty: bool,
    },
    /// UNWATCH, DISCARD, or an EXEC refused: all of the client's watches go.
    Unwatch { client: u64 },
}

/// The texts Redis answers with while a script is busy.
pub(crate) const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// What Redis answers while it loads its data.
pub(crate) const LOADING: &str = "LOADING Redis is loading the dataset in memory";
/// Same, for functions.
pub(crate) const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

impl BusyState {
    /// A new, idle state.
    pub(crate) fn new() -> Arc<BusyState> {
        Arc::new(BusyState::default())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.get_or_init(Instant::now).elapsed().as_millis() as u64
    }

    /// Marks the start of a run.
    pub(crate) fn start(&self, is_eval: bool, from_primary: bool) {
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.is_eval.store(is_eval, Ordering::Relaxed);
        self.from_primary.store(from_primary, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.timed_out.store(false, Ordering::Relaxed);
        self.handoffs.store(0, Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
    }

    /// Marks the end of a run, and hands back the watch changes queued while it was busy
    /// (the caller still holds the store and applies them before anyone else runs).
    pub(crate) fn finish(&self) -> Vec<WatchOp> {
        // SeqCst against `defer`: either this sees its flag, or it sees the run over.
        self.running.store(false, Ordering::SeqCst);
        self.timed_out.store(false, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
        if !self.pending_any.load(Ordering::SeqCst) {
            return Vec::new();
        }
        let mut pending = self.pending.lock();
        self.pending_any.store(false, Ordering::SeqCst);
        std::mem::take(&mut *pending)
    }

    /// Queues a watch change made while the script is busy. Err(op) if the run has ended
    /// meanwhile: the change must then be made on the store the ordinary way.
    pub(crate) fn defer(&self, op: WatchOp) -> Result<(), WatchOp> {
        let mut pending = self.pending.lock();
        self.pending_any.store(true, Ordering::SeqCst);
        if self.running.load(Ordering::SeqCst) {
            pending.push(op);
            return Ok(());
        }
        self.pending_any
            .store(!pending.is_empty(), Ordering::SeqCst);
        Err(op)
    }

    /// Whether watch changes may be queued (`script_writes` has work to do).
    pub(crate) fn has_deferred(&self) -> bool {
        self.pending_any.load(Ordering::Relaxed)
    }

    /// The running script is about to run a write command on `keys` of `db` (`all`: one
    /// that may change any key, FLUSHALL, SWAPDB, MOVE...): WATCHes queued before it on
    /// those keys are dirty, as the write would have made them in Redis.
    pub(crate) fn script_writes(&self, db: usize, keys: &[&[u8]], all: bool) {
        for op in self.pending.lock().iter_mut() {
            if let WatchOp::Watch {
                db: d,
                keys: watched,
                dirty,
                ..
            } = op
            {
                if all || (*d == db && watched.iter().any(|w| keys.contains(&w.as_ref()))) {
                    *dirty = true;
                }
            }
        }
    }

    /// Milliseconds since the current run started.
    pub(crate) fn elapsed_ms(&self) -> u64 {
        self.now_ms()
            .saturating_sub(self.started_ms.load(Ordering::Relaxed))
    }

    /// Whether other clients must be answered -BUSY now.
    pub(crate) fn is_busy(&self) -> bool {
        self.running.load(Ordering::Acquire) && self.timed_out.load(Ordering::Acquire)
    }

    /// SCRIPT KILL (`is_eval`) or FUNCTION KILL: the reply, and the kill request on success.
    pub(crate) fn request_kill(&self, is_eval: bool) -> Result<(), &'static str> {
        if !self.running.load(Ordering::Acquire) {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if self.from_primary.load(Ordering::Relaxed) {
            return Err("UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.");
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
        }
        let running_eval = self.is_eval.load(Ordering::Relaxed);
        if is_eval && !running_eval {
            return Err(BUSY_FUNCTION);
        }
        if !is_eval && running_eval {
            return Err(BUSY_EVAL);
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// The -BUSY text for the running kind of script.
    pub(crate) fn busy_error(&self) -> &'static str {
        if self.is_eval.load(Ordering::Relaxed) {
            BUSY_EVAL
        } else {
            BUSY_FUNCTION
        }
    }
}

/// How a connection got on: the lock, or the news that a busy script holds it.
pub(crate) enum Access<G> {
    Locked(G),
    Busy,
}

/// Takes the store lock for a client batch, giving up with `Busy` once a running script
/// has passed the busy threshold. The lock is awaited in short slices so that a waiting
/// connection notices the busy state instead of sleeping behind the script.
pub(crate) fn lock_or_busy<'a, T>(
    mutex: &'a parking_lot::Mutex<T>,
    busy: &BusyState,
) -> Access<parking_lot::MutexGuard<'a, T>> {
    if let Some(g) = mutex.try_lock() {
        return Access::Locked(g);
    }
    loop {
        if busy.is_busy() {
            return Access::Busy;
        }
        if let Some(g) = mutex.try_lock_for(Duration::from_millis(5)) {
            return Access::Locked(g);
        }
    }
}

/// For periodic work that may skip a round: the lock, or None while a script runs.
pub(crate) fn lock_unless_script<'a, T>(
    mutex: &'a parking_lot::Mutex<T>,
    busy: &BusyState,
) -> Option<parking_lot::MutexGuard<'a, T>> {
    loop {
        if let Some(g) = mutex.try_lock_for(Duration::from_millis(5)) {
            return Some(g);
        }
        if busy.running.load(Ordering::Acquire) {
            return None;
        }
    }
}

pub(crate) use super::busy_serve::{serve_unadmitted, serve_while_busy, BusyOutcome};

/// Whether the current thread is a worker of a multi-threaded tokio runtime (where
/// `block_in_place` may hand the worker's other tasks to another thread).
fn on_multi_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// Called from a long script's hook: moves this worker's async work (other connections,
/// the I/O driver) to another thread, as tokio's `block_in_place` does, so that a script
/// that runs for seconds does not starve the runtime. Cheap once done (the thread then no
/// longer owns a worker core).
pub(crate) fn hand_off_worker(pause: Duration) {
    if on_multi_thread_runtime() {
        // The pause lets the replacement thread pick the core up; if it has not, the core
        // comes back and a later hook call tries again.
        tokio::task::block_in_place(|| std::thread::sleep(pause));
    }
}

/// The store lock for code that must wait its turn (background tasks, disconnects). While
/// a script runs — possibly for seconds — the wait happens with this worker's other tasks
/// handed to another thread (`block_in_place`), so the runtime keeps serving connections,
/// which can then get -BUSY or send SCRIPT KILL.
pub(crate) fn lock_waiting<'a, T>(
    mutex: &'a parking_lot::Mutex<T>,
    busy: &BusyState,
) -> parking_lot::MutexGuard<'a, T> {
    loop {
        if let Some(g) = mutex.try_lock_for(Duration::from_millis(5)) {
            return g;
        }
        if busy.running.load(Ordering::Acquire) && on_multi_thread_runtime() {
            return tokio::task::block_in_place(|| mutex.lock());
        }
    }
}

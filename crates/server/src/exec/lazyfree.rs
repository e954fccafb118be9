//! Freeing big values and flushed databases off the store lock, as Redis's lazyfree does
//! with its background thread: UNLINK of a large collection or FLUSHALL ASYNC of millions
//! of keys then costs the server a pointer move instead of a long pause for every client.
//! INFO reports the objects still waiting (`lazyfree_pending_objects`) and those freed so
//! far (`lazyfreed_objects`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};

/// Values that take more allocations than this to free go to the background thread
/// (Redis's LAZYFREE_THRESHOLD); smaller ones are cheaper to free where they are.
pub(crate) const THRESHOLD: usize = 64;

static PENDING: AtomicU64 = AtomicU64::new(0);
static FREED: AtomicU64 = AtomicU64::new(0);

/// Something to drop and how many objects it counts as.
type Job = (u64, Box<dyn Send>);

fn worker() -> Option<&'static Mutex<Sender<Job>>> {
    static WORKER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    WORKER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || {
                    for (objects, garbage) in rx {
                        drop(garbage);
                        PENDING.fetch_sub(objects, Ordering::Relaxed);
                        FREED.fetch_add(objects, Ordering::Relaxed);
                    }
                })
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// Frees `garbage` on the background thread, counting it as `objects` objects. Without a
/// background thread (it could not be started) it is freed here and not counted.
pub(crate) fn free_later(objects: u64, garbage: impl Send + 'static) {
    let Some(worker) = worker() else {
        return;
    };
    PENDING.fetch_add(objects, Ordering::Relaxed);
    let sender = worker.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(mpsc::SendError((objects, garbage))) = sender.send((objects, Box::new(garbage))) {
        drop(sender);
        drop(garbage);
        PENDING.fetch_sub(objects, Ordering::Relaxed);
    }
}

/// Objects handed to the background thread and not yet freed.
pub(crate) fn pending() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// Objects the background thread has freed since start-up or the last CONFIG RESETSTAT.
pub(crate) fn freed() -> u64 {
    FREED.load(Ordering::Relaxed)
}

/// CONFIG RESETSTAT: `lazyfreed_objects` starts again from zero, as in Redis.
pub(crate) fn reset_freed() {
    FREED.store(0, Ordering::Relaxed);
}

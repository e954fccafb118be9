//! Background operations (scale, rebalance, failover) with an id and live progress.
//!
//! Why: moving thousands of slots takes minutes; an HTTP request must not hang that
//! long, and the panel wants "slots moved / total". An operation holds the single
//! "busy" flag for its whole run (a second one is refused with "busy", as before), and
//! the supervisor reports phase and progress into the current job while it works.

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many finished jobs are kept for GET /api/ops.
const KEEP: usize = 50;

/// One operation as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Operation id (GET /api/ops/{id}).
    pub id: String,
    /// What it does: add_pair, remove_pair, scale, rebalance, failover, ...
    pub kind: String,
    /// running, done or failed.
    pub status: String,
    /// Current step (spawn, meet, replicate, balance, drain, ...).
    pub phase: String,
    /// Slots moved so far in the current move batch.
    pub done: usize,
    /// Slots to move in the current move batch (0 before planning).
    pub total: usize,
    /// Keys sent by slot moves over the whole operation (running migration included).
    pub keys: u64,
    /// Payload bytes sent by atomic slot migrations over the whole operation (the
    /// legacy per-key protocol does not count them).
    pub bytes: u64,
    /// Unix seconds at start.
    pub started: u64,
    /// Unix seconds at the end.
    pub finished: Option<u64>,
    /// The operation's result when done.
    pub result: Option<Value>,
    /// The error when failed.
    pub error: Option<String>,
}

/// Holding one means "the" operation is running; dropping it frees the slot.
/// Send, unlike a MutexGuard, so an API handler can take it and hand it to a thread.
pub struct Ticket {
    busy: Arc<AtomicBool>,
    /// The job this ticket runs.
    pub id: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.busy.store(false, Ordering::SeqCst);
    }
}

/// The registry of operations.
#[derive(Default)]
pub struct Ops {
    busy: Arc<AtomicBool>,
    seq: AtomicU64,
    jobs: Mutex<VecDeque<Job>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ops {
    /// Claim the operation slot for a new job of `kind`, or fail with "busy".
    pub fn begin(&self, kind: &str) -> anyhow::Result<Ticket> {
        if self
            .busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            let running = lock(&self.jobs)
                .iter()
                .rev()
                .find(|j| j.status == "running")
                .map(|j| format!(" ({} {}, phase {})", j.kind, j.id, j.phase))
                .unwrap_or_default();
            anyhow::bail!(
                "busy: another operation is running{running}; only one operation moves slots at a time, retry when it ends"
            );
        }
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("op{n}-{}", crate::supervisor::now_secs());
        let mut jobs = lock(&self.jobs);
        jobs.push_back(Job {
            id: id.clone(),
            kind: kind.to_string(),
            status: "running".into(),
            phase: "start".into(),
            done: 0,
            total: 0,
            keys: 0,
            bytes: 0,
            started: crate::supervisor::now_secs(),
            finished: None,
            result: None,
            error: None,
        });
        while jobs.len() > KEEP {
            jobs.pop_front();
        }
        Ok(Ticket {
            busy: self.busy.clone(),
            id,
        })
    }

    fn with_running(&self, f: impl FnOnce(&mut Job)) {
        let mut jobs = lock(&self.jobs);
        if let Some(j) = jobs.iter_mut().rev().find(|j| j.status == "running") {
            f(j);
        }
    }

    /// Report the current step of the running job (no-op when none runs).
    pub fn phase(&self, phase: &str) {
        self.with_running(|j| {
            j.phase = phase.to_string();
            j.done = 0;
            j.total = 0;
        });
    }

    /// Report slot-move progress of the running job.
    pub fn progress(&self, done: usize, total: usize) {
        self.with_running(|j| {
            j.done = done;
            j.total = total;
        });
    }

    /// Report keys and bytes sent by the running job's moves: `base` is what earlier move
    /// batches sent, `keys`/`bytes` the current batch so far.
    pub fn sent(&self, base: (u64, u64), keys: u64, bytes: u64) {
        self.with_running(|j| {
            j.keys = base.0 + keys;
            j.bytes = base.1 + bytes;
        });
    }

    /// Keys and bytes the running job's moves sent so far ((0, 0) when none runs).
    pub fn sent_so_far(&self) -> (u64, u64) {
        let mut out = (0, 0);
        self.with_running(|j| out = (j.keys, j.bytes));
        out
    }

    /// Record the outcome and free the slot.
    pub fn finish(&self, ticket: Ticket, r: &anyhow::Result<Value>) {
        let mut jobs = lock(&self.jobs);
        if let Some(j) = jobs.iter_mut().find(|j| j.id == ticket.id) {
            j.finished = Some(crate::supervisor::now_secs());
            match r {
                Ok(v) => {
                    j.status = "done".into();
                    j.phase = "done".into();
                    j.result = Some(v.clone());
                }
                Err(e) => {
                    j.status = "failed".into();
                    j.error = Some(format!("{e:#}"));
                }
            }
        }
        drop(jobs);
        drop(ticket);
    }

    /// Run `f` under `ticket` and record its outcome.
    pub fn run(
        &self,
        ticket: Ticket,
        f: impl FnOnce() -> anyhow::Result<Value>,
    ) -> anyhow::Result<Value> {
        let r = f();
        self.finish(ticket, &r);
        r
    }

    /// One job by id.
    pub fn get(&self, id: &str) -> Option<Job> {
        lock(&self.jobs).iter().find(|j| j.id == id).cloned()
    }

    /// Recent jobs, newest last.
    pub fn list(&self) -> Vec<Job> {
        lock(&self.jobs).iter().cloned().collect()
    }

    /// True while an operation runs.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time_and_progress() {
        let ops = Ops::default();
        let t = ops.begin("rebalance").unwrap();
        assert!(ops.begin("add_pair").is_err());
        ops.phase("balance");
        ops.progress(3, 10);
        ops.sent((0, 0), 5, 100);
        ops.sent(ops.sent_so_far(), 2, 50);
        assert_eq!(ops.sent_so_far(), (7, 150));
        let id = t.id.clone();
        let j = ops.get(&id).unwrap();
        assert_eq!((j.done, j.total, j.phase.as_str()), (3, 10, "balance"));
        ops.finish(t, &Ok(serde_json::json!({"ok": true})));
        assert_eq!(ops.get(&id).unwrap().status, "done");
        let t2 = ops.begin("x").unwrap();
        ops.finish(t2, &Err(anyhow::anyhow!("boom")));
        assert_eq!(ops.list().last().unwrap().error.as_deref(), Some("boom"));
        assert!(!ops.busy());
    }
}

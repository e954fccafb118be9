//! FAILOVER's coordinated handover on a standalone primary (Redis 7.0's
//! FAILOVER_WAIT_FOR_SYNC -> FAILOVER_IN_PROGRESS -> NO_FAILOVER):
//! 1. FAILOVER holds writes (commands that may replicate wait, as under CLIENT PAUSE
//!    WRITE), so the offset the replicas must reach stops moving;
//! 2. the cron waits until the target (or any online replica) acknowledged that offset;
//!    at the TIMEOUT it gives up, or with FORCE goes on with the named target anyway;
//! 3. this node becomes a replica of the target, and its link's PSYNC carries FAILOVER:
//!    the target, still our replica with our replication id, becomes a primary (keeping
//!    our history as its secondary one) and answers, so the resync is partial; the
//!    answer ends the failover (an error answer aborts it: we are a primary again). The
//!    held writes resume and, now on a replica, are refused as READONLY.
//!
//! This is Redis 7.0's handover: while it is in progress this node already reports the
//! replica role, and the target takes over only when it gets the PSYNC.

use crate::store::{now_ms, Store};

/// Where a failover stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    WaitForSync,
    InProgress,
}

/// A failover requested by FAILOVER.
#[derive(Debug, Clone)]
pub(crate) struct Failover {
    pub phase: Phase,
    /// FAILOVER TO host port.
    pub target: Option<(String, u16)>,
    /// TIMEOUT's deadline (Unix ms).
    pub deadline_ms: Option<u64>,
    pub force: bool,
}

/// INFO master_failover_state.
pub(crate) fn state_name(store: &Store) -> &'static str {
    match store.failover.as_ref().map(|f| f.phase) {
        None => "no-failover",
        Some(Phase::WaitForSync) => "waiting-for-sync",
        Some(Phase::InProgress) => "failover-in-progress",
    }
}

/// Starts a failover: writes are held from now on.
pub(crate) fn start(store: &mut Store, failover: Failover) {
    tracing::info!(target = ?failover.target, "FAILOVER requested");
    store.failover = Some(failover);
    store.pause.hold_writes_for_failover(true);
}

/// Ends a failover that did not happen (ABORT, timeout, the target refused): writes resume.
pub(crate) fn abort(store: &mut Store, reason: &str) {
    // Already following the target: a primary again (Redis's replicationUnsetMaster).
    if in_progress(store) {
        crate::repl::role::clear_primary(store);
    }
    if store.failover.take().is_some() {
        tracing::warn!(reason, "FAILOVER aborted");
    }
    store.pause.hold_writes_for_failover(false);
}

/// Advances a failover in progress; called by the cron.
pub(crate) fn tick(store: &mut Store) {
    let Some(f) = store.failover.clone() else {
        return;
    };
    if f.phase != Phase::WaitForSync {
        return;
    }
    let offset = store.feed.offset;
    let caught_up = store.replication.replicas.values().find(|r| {
        r.state == crate::repl::state::SyncState::Online
            && r.ack_offset >= offset
            && f.target
                .as_ref()
                .is_none_or(|(h, p)| *h == r.ip && *p == r.listening_port)
    });
    let chosen = match caught_up {
        Some(r) => Some((r.ip.clone(), r.listening_port)),
        None if f.deadline_ms.is_some_and(|d| now_ms() >= d) => {
            if f.force {
                tracing::warn!("FAILOVER: time out exceeded, failing over.");
                f.target.clone()
            } else {
                abort(store, "Replica never caught up before timeout");
                return;
            }
        }
        None => None,
    };
    let Some((host, port)) = chosen else {
        return;
    };
    if let Some(state) = store.failover.as_mut() {
        state.phase = Phase::InProgress;
    }
    tracing::info!(
        host,
        port,
        "FAILOVER: following the target; its PSYNC carries FAILOVER"
    );
    crate::repl::role::set_primary(store, host, port);
}

/// Whether the link being set up must send PSYNC ... FAILOVER (a failover in progress).
pub(crate) fn in_progress(store: &Store) -> bool {
    store.failover.as_ref().map(|f| f.phase) == Some(Phase::InProgress)
}

/// The target answered our PSYNC ... FAILOVER: the failover is over, or, on an error
/// answer, abandoned (Redis's abortFailover: a primary again, writes resume).
pub(crate) fn target_answered(store: &mut Store, reply: &str) {
    if !in_progress(store) {
        return;
    }
    if reply.starts_with('-') {
        abort(store, "Failover target rejected psync request");
    } else {
        tracing::info!("FAILOVER: the target took over");
        store.failover = None;
        store.pause.hold_writes_for_failover(false);
    }
}

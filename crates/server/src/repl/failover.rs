//! FAILOVER's coordinated handover on a standalone primary (Redis 7.0's
//! FAILOVER_WAIT_FOR_SYNC -> FAILOVER_IN_PROGRESS -> NO_FAILOVER):
//! 1. FAILOVER holds writes (commands that may replicate wait, as under CLIENT PAUSE
//!    WRITE), so the offset the replicas must reach stops moving;
//! 2. the cron waits until the target (or any online replica) acknowledged that offset;
//!    at the TIMEOUT it gives up, or with FORCE goes on with the named target anyway;
//! 3. the target is told to take over (REPLICAOF NO ONE, authenticated as our replica
//!    link would be), then this node follows it; the held writes resume and, now on a
//!    replica, are refused as READONLY.
//!
//! The target keeps our replication history (a promoted replica shifts its replid), so
//! this node's resync with it is partial. Redis's own handover sends PSYNC ... FAILOVER on
//! the new link instead of a REPLICAOF; the outcome is the same roles and data.

use crate::server::Server;
use crate::store::{now_ms, Store};
use std::sync::Arc;

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
    if store.failover.take().is_some() {
        tracing::warn!(reason, "FAILOVER aborted");
    }
    store.pause.hold_writes_for_failover(false);
}

/// Advances a failover in progress; called by the cron.
pub(crate) fn tick(server: &Arc<Server>, store: &mut Store) {
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
    let auth = store.config.get_bytes("masterauth").to_vec();
    let user = store.config.get_bytes("masteruser").to_vec();
    let server = server.clone();
    tokio::spawn(async move {
        let result = promote(&host, port, &auth, &user).await;
        let mut store = server.lock();
        if store.failover.as_ref().map(|f| f.phase) != Some(Phase::InProgress) {
            return;
        }
        match result {
            Ok(()) => {
                tracing::info!(host, port, "FAILOVER: the target took over; following it");
                store.failover = None;
                crate::repl::role::set_primary(&mut store, host, port);
                store.pause.hold_writes_for_failover(false);
            }
            Err(e) => abort(&mut store, &format!("the target refused to take over: {e}")),
        }
    });
}

/// Tells the target to become a primary (authenticating as our replica link does).
async fn promote(host: &str, port: u16, auth: &[u8], user: &[u8]) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .map_err(|_| "connect timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    if !auth.is_empty() {
        if user.is_empty() {
            rubra_resp::encode_request(&mut out, &[&b"AUTH"[..], auth]);
        } else {
            rubra_resp::encode_request(&mut out, &[&b"AUTH"[..], user, auth]);
        }
    }
    rubra_resp::encode_request(&mut out, &[&b"REPLICAOF"[..], b"NO", b"ONE"]);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let wanted = if auth.is_empty() { 1 } else { 2 };
    let mut buf = Vec::new();
    let mut replies = Vec::new();
    let deadline = std::time::Duration::from_secs(5);
    while replies.len() < wanted {
        while let Some((frame, used)) =
            rubra_resp::parse_frame(&buf, 1 << 20).map_err(|e| format!("{e:?}"))?
        {
            buf.drain(..used);
            replies.push(frame);
        }
        if replies.len() >= wanted {
            break;
        }
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(deadline, stream.read(&mut chunk))
            .await
            .map_err(|_| "no reply".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    for r in replies {
        if let rubra_resp::Frame::Error(e) = r {
            return Err(String::from_utf8_lossy(&e).into_owned());
        }
    }
    Ok(())
}

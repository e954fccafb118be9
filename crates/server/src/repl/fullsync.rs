//! The primary's side of a full sync: the point-in-time snapshot (copy-on-write, taken under
//! the lock by PSYNC) is encoded off the lock and sent to the replica, then the stream held
//! meanwhile follows.
//!
//! BEHAVIOR. Two wire forms, as Redis sends them:
//! - diskless (`repl-diskless-sync yes`, the default, and the replica said `REPLCONF capa
//!   eof`): `$EOF:<40 random hex>\r\n`, the RDB in chunks *while it is encoded*, then the same
//!   40 bytes. The replica loads as the bytes arrive, so encoding, transfer and loading
//!   overlap. The held stream starts at the replica's first REPLCONF ACK (Redis's
//!   repl_start_cmd_stream_on_ack): nothing follows the mark until the replica has found it.
//! - otherwise `$<len>\r\n` and the RDB (encoded first, since its length leads), directly
//!   followed by the held stream.
//!
//! In the diskless form a replica that reads slowly holds back the encoder (at most [`IN_FLIGHT`] bytes queued for
//! it plus a few chunks); one that stops reading for `repl-timeout` is disconnected.
//!
//! Either way no stream byte overtakes the snapshot: stream bytes produced meanwhile wait in
//! the replica's `held` buffer (`SyncState::WaitSnapshot`) and are pushed, under the same
//! lock that marks the replica online, after the snapshot's last byte.

use crate::client::OutputLimits;
use crate::repl::state::SyncState;
use crate::server::Server;
use crate::store::{now_ms, Store};
use bytes::Bytes;
use rubra_keyspace::DbSnapshot;
use std::sync::Arc;

/// Snapshot bytes are never subject to the replica output-buffer limits (Redis counts only
/// the stream held meanwhile against them).
const NO_LIMITS: OutputLimits = OutputLimits {
    hard: 0,
    soft: 0,
    soft_seconds: 0,
};

/// Encodes `snapshots` for replica `client` and sends them with the held stream after them
/// (see the module's BEHAVIOR).
pub(crate) async fn run(
    server: Arc<Server>,
    client: u64,
    (snapshots, functions): (Vec<DbSnapshot>, Vec<Bytes>),
    replid: String,
    offset: u64,
) {
    let started = std::time::Instant::now();
    let diskless = {
        let store = server.lock();
        let Some(replica) = store.replication.replicas.get(&client) else {
            return;
        };
        replica.capa_eof && store.config.get_value("repl-diskless-sync") == "yes"
    };
    // A few chunks of look-ahead: the encoder waits when the sender below waits.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let encoder = tokio::task::spawn_blocking(move || {
        let sink = crate::persist::rdb::ChunkSink::new(tx);
        crate::persist::rdb::write_rdb(sink, (&snapshots, &functions), &replid, offset, now_ms())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let mut sent = 0usize;
    let outcome = if diskless {
        // 40 random hex characters (Redis's EOF mark): never mistaken for RDB bytes.
        let mark = crate::store::random_hex(&mut rand::thread_rng(), 40);
        let header = Bytes::from(format!("$EOF:{mark}\r\n"));
        if !push(&server, client, [header]) {
            return;
        }
        // Each chunk goes out as soon as it is encoded; a replica gone stops the encoder
        // (its next send fails).
        while let Some(chunk) = rx.recv().await {
            if !wait_for_room(&server, client).await {
                return;
            }
            let mut batch = vec![chunk];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            sent += batch.iter().map(Bytes::len).sum::<usize>();
            if !push(&server, client, batch) {
                return;
            }
        }
        match encoder.await {
            Ok(Ok(())) => {
                let mut store = server.lock();
                let pushed = store.clients.push_raw(
                    client,
                    Bytes::from(mark.into_bytes()),
                    now_ms(),
                    NO_LIMITS,
                );
                if let Some(replica) = store.replication.replicas.get_mut(&client) {
                    replica.await_ack = pushed;
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        }
    } else {
        let mut chunks = Vec::new();
        while let Some(chunk) = rx.recv().await {
            chunks.push(chunk);
        }
        match encoder.await {
            Ok(Ok(())) => {
                sent = chunks.iter().map(Bytes::len).sum();
                let mut store = server.lock();
                let header = Bytes::from(format!("${sent}\r\n"));
                let now = now_ms();
                for part in std::iter::once(header).chain(chunks) {
                    store.clients.push_raw(client, part, now, NO_LIMITS);
                }
                start_stream(&mut store, client);
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        }
    };
    match outcome {
        Ok(()) => tracing::info!(
            replica = client,
            bytes = sent,
            diskless,
            ms = started.elapsed().as_millis() as u64,
            "full sync snapshot sent"
        ),
        Err(e) => {
            tracing::error!(replica = client, error = %e, "full sync failed");
            let mut store = server.lock();
            store.replication.replicas.remove(&client);
            store.clients.kill(client);
        }
    }
}

/// Snapshot bytes a replica may have queued and unwritten before the next chunk waits for
/// it: with a replica that reads slowly the primary holds this much, not the whole RDB
/// (Redis's diskless sync likewise stops reading the child's pipe while the socket is full).
const IN_FLIGHT: usize = 4 * 1024 * 1024;

/// Waits until replica `client` has written its queue down to [`IN_FLIGHT`]. False if it is
/// gone, or made no progress for `repl-timeout` seconds: then it is disconnected, as Redis
/// drops a replica that stops reading a diskless transfer.
async fn wait_for_room(server: &Server, client: u64) -> bool {
    let mut last = usize::MAX;
    let mut stalled_since = std::time::Instant::now();
    loop {
        let pending = server.lock().clients.pending_out(client);
        let Some(pending) = pending else {
            return false;
        };
        if pending <= IN_FLIGHT {
            return true;
        }
        if pending < last {
            last = pending;
            stalled_since = std::time::Instant::now();
        } else if stalled_since.elapsed() >= repl_timeout(server) {
            tracing::warn!(
                replica = client,
                "Disconnecting timedout replica (full sync)"
            );
            let mut store = server.lock();
            store.replication.replicas.remove(&client);
            store.clients.kill(client);
            return false;
        }
        crate::timer::sleep(std::time::Duration::from_millis(2)).await;
    }
}

/// `repl-timeout`, read only once a replica has stalled (not on every wait).
fn repl_timeout(server: &Server) -> std::time::Duration {
    super::repl_timeout(&server.lock().config)
}

/// Pushes snapshot parts to replica `client`; false if it is gone (no longer a replica
/// waiting for its snapshot, or disconnected).
fn push(server: &Server, client: u64, parts: impl IntoIterator<Item = Bytes>) -> bool {
    let mut store = server.lock();
    if !store
        .replication
        .replicas
        .get(&client)
        .is_some_and(|r| r.state == SyncState::WaitSnapshot)
    {
        return false;
    }
    let now = now_ms();
    parts
        .into_iter()
        .all(|part| store.clients.push_raw(client, part, now, NO_LIMITS))
}

/// Marks replica `client` online and sends it the stream held during its snapshot.
fn start_stream(store: &mut Store, client: u64) {
    let Some(replica) = store.replication.replicas.get_mut(&client) else {
        return;
    };
    replica.state = SyncState::Online;
    replica.await_ack = false;
    let held = std::mem::take(&mut replica.held);
    if !held.is_empty() {
        store
            .clients
            .push_raw(client, Bytes::from(held), now_ms(), NO_LIMITS);
    }
}

/// REPLCONF ACK from `client`: after a diskless snapshot, the first one starts its stream.
pub(crate) fn start_stream_on_ack(store: &mut Store, client: u64) {
    if store
        .replication
        .replicas
        .get(&client)
        .is_some_and(|r| r.await_ack && r.state == SyncState::WaitSnapshot)
    {
        start_stream(store, client);
    }
}

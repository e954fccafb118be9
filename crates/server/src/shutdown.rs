//! Redis 7.0's shutdown sequence. A SIGTERM or SIGINT only asks for a shutdown; the cron
//! carries it out (so `DEBUG PAUSE-CRON` holds it and `SHUTDOWN ABORT` can cancel it), a
//! second SIGINT exits at once. A primary with lagging replicas holds writes and waits up to
//! `shutdown-timeout` seconds for them to acknowledge its offset before the final save, so a
//! planned restart loses no acknowledged write; SHUTDOWN's client stays blocked meanwhile.

use crate::store::Store;
use std::sync::atomic::{AtomicI32, Ordering};

/// The stop signal received and not yet acted on (Redis's shutdown_asap and
/// last_sig_received), 0 for none. Outside the store lock: the signal thread must be able to
/// set it while a command or a foreground save holds the lock.
static REQUESTED: AtomicI32 = AtomicI32::new(0);

/// Temporary RDB files being written now: a second SIGINT removes them on its way out, as
/// Redis's "You insist" does with its temp file.
pub(crate) static TEMP_RDB_FILES: parking_lot::Mutex<Vec<std::path::PathBuf>> =
    parking_lot::Mutex::new(Vec::new());

/// SHUTDOWN's modifiers (and those `shutdown-on-sigterm` / `shutdown-on-sigint` give).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    pub save: bool,
    pub nosave: bool,
    pub now: bool,
    pub force: bool,
}

impl Flags {
    /// Flags from words (`save`, `nosave`, `now`, `force`; `default` adds none); None for
    /// any other word.
    pub(crate) fn parse<'a>(words: impl IntoIterator<Item = &'a [u8]>) -> Option<Flags> {
        let mut flags = Flags::default();
        for w in words {
            match w.to_ascii_lowercase().as_slice() {
                b"save" => flags.save = true,
                b"nosave" => flags.nosave = true,
                b"now" => flags.now = true,
                b"force" => flags.force = true,
                b"default" => {}
                _ => return None,
            }
        }
        Some(flags)
    }
}

/// A shutdown in progress: started and waiting for replicas (Redis's shutdown_mstime).
#[derive(Default)]
pub(crate) struct Shutdown {
    flags: Flags,
    /// When the wait for replicas ends (ms); 0 when no shutdown is in progress.
    deadline_ms: u64,
    /// Clients blocked in SHUTDOWN until it completes or fails.
    blocked: Vec<u64>,
}

/// What a shutdown attempt came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything is saved: the process may exit.
    Exit,
    /// Waiting for replicas (or already waiting): the cron finishes it.
    Waiting,
    /// A save failed; the server keeps running (the reason is logged).
    Failed,
}

/// Exits the process after Redis's last log line.
pub(crate) fn exit(code: i32) -> ! {
    tracing::warn!("Redis is now ready to exit, bye bye...");
    std::process::exit(code)
}

/// Milliseconds left in the wait for replicas (INFO `shutdown_in_milliseconds`), None when
/// no shutdown is in progress.
pub(crate) fn remaining_ms(store: &Store, now_ms: u64) -> Option<u64> {
    let deadline = store.shutdown.deadline_ms;
    (deadline != 0).then(|| deadline.saturating_sub(now_ms))
}

/// Starts a shutdown (SHUTDOWN, or the cron after a signal): finishes it at once when no
/// replica lags (or NOW, or shutdown-timeout 0), else holds writes, asks the replicas for
/// an acknowledgement and waits.
pub(crate) fn prepare(store: &mut Store, mut flags: Flags, now_ms: u64) -> Outcome {
    if store.shutdown.deadline_ms != 0 {
        return Outcome::Waiting;
    }
    // Saving half-loaded data would overwrite the good file.
    if store.loading {
        flags.save = false;
        flags.nosave = true;
    }
    store.shutdown.flags = flags;
    tracing::warn!("User requested shutdown...");
    let timeout_s = store
        .config
        .get_value("shutdown-timeout")
        .parse::<u64>()
        .unwrap_or(10);
    if !flags.now && timeout_s != 0 && !replicas_in_sync(store) {
        store.shutdown.deadline_ms = now_ms + timeout_s * 1000;
        let getack = crate::repl::state::getack_bytes();
        store.feed.emit_raw(&getack);
        store.flush_feed();
        store.pause.hold_writes_for_shutdown(true);
        tracing::info!("Waiting for replicas before shutting down.");
        return Outcome::Waiting;
    }
    finish(store)
}

/// The cron's part: a signal's shutdown starts here, and a wait for replicas ends here
/// (all caught up, or the time is up). Exits the process when the shutdown completes.
pub(crate) fn tick(store: &mut Store, now_ms: u64) {
    let signal = REQUESTED.load(Ordering::Acquire);
    let outcome = if store.shutdown.deadline_ms == 0 {
        if signal == 0 {
            return;
        }
        let setting = if signal == libc::SIGINT {
            "shutdown-on-sigint"
        } else {
            "shutdown-on-sigterm"
        };
        let value = store.config.get_value(setting).to_string();
        let flags = Flags::parse(value.split_whitespace().map(str::as_bytes)).unwrap_or_default();
        prepare(store, flags, now_ms)
    } else if now_ms >= store.shutdown.deadline_ms || replicas_in_sync(store) {
        finish(store)
    } else {
        return;
    };
    if outcome == Outcome::Exit {
        exit(0);
    }
}

/// SHUTDOWN ABORT: cancels a shutdown in progress or one a signal asked for. False when
/// there is none.
pub(crate) fn abort(store: &mut Store) -> bool {
    if store.shutdown.deadline_ms != 0 {
        cancel(store);
    } else if REQUESTED.swap(0, Ordering::AcqRel) == 0 {
        return false;
    }
    tracing::info!("Shutdown manually aborted.");
    true
}

/// Keeps a SHUTDOWN client blocked until the shutdown completes (the process exits) or
/// fails (it gets the error then).
pub(crate) fn block_client(store: &mut Store, client: u64) {
    store.shutdown.blocked.push(client);
}

/// Whether every replica acknowledged this node's whole stream.
fn replicas_in_sync(store: &Store) -> bool {
    let offset = store.feed.offset;
    store
        .replication
        .replicas
        .values()
        .all(|r| r.ack_offset == offset)
}

/// The last steps: report lagging replicas, sync the AOF, the final save. A failed save
/// (without FORCE) cancels the shutdown.
fn finish(store: &mut Store) -> Outcome {
    let flags = store.shutdown.flags;
    let offset = store.feed.offset;
    let now_s = crate::exec::observe::now_secs();
    let total = store.replication.replicas.len();
    let mut lagging = 0;
    for r in store.replication.replicas.values() {
        if r.ack_offset != offset {
            lagging += 1;
            let online = r.state == crate::repl::state::SyncState::Online;
            let state = if online { "online" } else { "wait_bgsave" };
            let lag = if online {
                now_s.saturating_sub(r.ack_ms / 1000)
            } else {
                0
            };
            tracing::warn!(
                "Lagging replica {}:{} reported offset {} behind master, lag={lag}, state={state}.",
                r.ip,
                r.listening_port,
                offset.saturating_sub(r.ack_offset)
            );
        }
    }
    if total > 0 {
        tracing::info!(
            "{} of {total} replicas are in sync when shutting down.",
            total - lagging
        );
    }
    // Turned on and not yet rewritten, the AOF does not hold the dataset.
    if store.aof.as_ref().is_some_and(|a| a.waiting_rewrite) {
        if flags.force {
            tracing::warn!("Writing initial AOF. Exit anyway.");
        } else {
            tracing::warn!("Writing initial AOF, can't exit.");
            return fail(store);
        }
    }
    let save = if flags.save {
        Some(true)
    } else if flags.nosave {
        Some(false)
    } else {
        None
    };
    if let Err(e) = crate::persist::saving::prepare_shutdown(store, save) {
        if flags.force {
            tracing::warn!("Error trying to save the DB. Exit anyway. ({e})");
        } else {
            tracing::warn!("Error trying to save the DB, can't exit. ({e})");
            return fail(store);
        }
    }
    Outcome::Exit
}

/// A shutdown that cannot complete: logged, then cancelled.
fn fail(store: &mut Store) -> Outcome {
    tracing::warn!("Errors trying to shut down the server. Check the logs for more information.");
    cancel(store);
    Outcome::Failed
}

/// Ends a shutdown that will not happen: writes flow again and blocked SHUTDOWN clients get
/// Redis's error.
fn cancel(store: &mut Store) {
    REQUESTED.store(0, Ordering::Release);
    store.shutdown.flags = Flags::default();
    store.shutdown.deadline_ms = 0;
    for id in std::mem::take(&mut store.shutdown.blocked) {
        store.blocking.unblock(id);
        store.clients.unblock(
            id,
            rubra_resp::Reply::err("ERR Errors trying to SHUTDOWN. Check logs."),
        );
    }
    store.pause.hold_writes_for_shutdown(false);
}

/// Listens for SIGTERM and SIGINT on a thread of its own, so that a signal is seen while the
/// runtime's workers are busy (a foreground save under the lock): the first asks the cron
/// for a shutdown, a second SIGINT exits at once, removing the temporary RDB file.
pub(crate) fn listen_for_signals() {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(|| {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install signal handlers");
                    return;
                }
            };
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    tracing::warn!("cannot install signal handlers");
                    return;
                };
                loop {
                    let sig = tokio::select! {
                        _ = term.recv() => libc::SIGTERM,
                        _ = int.recv() => libc::SIGINT,
                    };
                    on_signal(sig);
                }
            });
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the signal thread");
    }
}

/// What a stop signal does at once (Redis's sigShutdownHandler).
fn on_signal(sig: i32) {
    if sig == libc::SIGINT && REQUESTED.load(Ordering::Acquire) != 0 {
        tracing::warn!("You insist... exiting now.");
        for file in TEMP_RDB_FILES.lock().iter() {
            let _ = std::fs::remove_file(file);
        }
        std::process::exit(1);
    }
    let name = if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    tracing::warn!("Received {name} scheduling shutdown...");
    REQUESTED.store(sig, Ordering::Release);
}

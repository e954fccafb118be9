//! Background jobs that must not run under the store lock (AOF rewrite, later snapshots):
//! a handler prepares the job under the lock (taking copy-on-write snapshots), sends it
//! here, and the job takes the lock again only for its short final step.

use crate::server::Server;
use crate::store::now_ms;
use rubra_keyspace::DbSnapshot;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Work for the background runner.
pub(crate) enum Job {
    /// Write `snapshots` to `tmp` as a new AOF base (RDB or commands), then make it the
    /// manifest's base (persist::aof_files).
    RewriteAof {
        /// Its stop switch, also held by the store (SaveState::aof_rewrite_control).
        control: Arc<crate::persist::save_control::SaveControl>,
        snapshots: Vec<DbSnapshot>,
        /// Function libraries' sources (the RDB's functions section, or FUNCTION LOAD
        /// commands written first).
        functions: Vec<bytes::Bytes>,
        tmp: PathBuf,
        /// An RDB base (`aof-use-rdb-preamble yes`) rather than commands, and whether
        /// commands start with a `#TS:` annotation (aof-timestamp-enabled).
        format: (bool, bool),
        /// Replication id and offset, for an RDB base's aux fields.
        replid: String,
        offset: u64,
        /// `SaveState::aof_rewrite_generation` when it started.
        generation: u64,
    },
    /// Encode `snapshots` as RDB for replica `client` while sending them, then its held
    /// stream (repl::fullsync).
    FullSync {
        client: u64,
        snapshots: Vec<DbSnapshot>,
        /// Function libraries' sources (the RDB's functions section).
        functions: Vec<bytes::Bytes>,
        replid: String,
        offset: u64,
    },
    /// Write `snapshots` as an RDB file at `path` (BGSAVE), then record the result.
    SaveRdb {
        /// Its stop switch, also held by the store (SaveState::bgsave_control).
        control: Arc<crate::persist::save_control::SaveControl>,
        snapshots: Vec<DbSnapshot>,
        /// Function libraries' sources (the RDB's functions section).
        functions: Vec<bytes::Bytes>,
        path: PathBuf,
        replid: String,
        offset: u64,
    },
    /// Stream slots to another primary (CLUSTER MIGRATESLOTS).
    MigrateSlots(Box<crate::cluster::migration::ExportJob>),
    /// Start (or restart) the link to our primary.
    ReplicateFrom {
        host: String,
        port: u16,
        generation: u64,
    },
}

/// Runs jobs one at a time, off the async workers.
pub(crate) async fn run(server: Arc<Server>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        match job {
            Job::MigrateSlots(job) => {
                tokio::spawn(crate::cluster::migration_send::run(server.clone(), job));
            }
            Job::ReplicateFrom {
                host,
                port,
                generation,
            } => {
                tokio::spawn(crate::repl::link::run(
                    server.clone(),
                    host,
                    port,
                    generation,
                ));
            }
            Job::FullSync {
                client,
                snapshots,
                functions,
                replid,
                offset,
            } => {
                let snap = (snapshots, functions);
                tokio::spawn(crate::repl::fullsync::run(
                    server.clone(),
                    client,
                    snap,
                    replid,
                    offset,
                ));
            }
            Job::SaveRdb {
                control,
                snapshots,
                functions,
                path,
                replid,
                offset,
            } => {
                let server = server.clone();
                tokio::spawn(async move {
                    let stop = control.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        crate::persist::rdb::save_file_controlled(
                            &path,
                            (&snapshots, &functions),
                            (&replid, offset),
                            now_ms(),
                            &stop,
                        )
                        .map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    crate::persist::saving::finish_bgsave(&mut server.lock(), &control, result);
                });
            }
            Job::RewriteAof {
                control,
                snapshots,
                functions,
                tmp,
                format,
                replid,
                offset,
                generation,
            } => {
                let started = std::time::Instant::now();
                let path = tmp.clone();
                let written = tokio::task::spawn_blocking(move || {
                    crate::persist::aof_files::write_base(
                        &path,
                        (&snapshots, &functions),
                        format,
                        (&replid, offset),
                        &control,
                    )
                })
                .await;
                let failed = {
                    let mut store = server.lock();
                    finish_aof_rewrite(&mut store, written, &tmp, format.0, generation, started);
                    !store.saving.last_aof_rewrite_ok
                };
                if failed {
                    retry_first_rewrite(&server);
                }
            }
        }
    }
}

/// Records the end of a background AOF rewrite: the new base is installed, or the
/// temporary files removed (also when a synchronous rewrite replaced this one meanwhile).
fn finish_aof_rewrite(
    store: &mut crate::store::Store,
    written: Result<std::io::Result<()>, tokio::task::JoinError>,
    tmp: &std::path::Path,
    rdb: bool,
    generation: u64,
    started: std::time::Instant,
) {
    use crate::persist::aof_files;
    if generation != store.saving.aof_rewrite_generation {
        let _ = std::fs::remove_file(tmp);
        tracing::info!("background AOF rewrite discarded: it was abandoned");
        return;
    }
    store.aof_rewrite_in_progress = false;
    store.saving.aof_rewrite_control = None;
    store.saving.aof_last_rewrite_secs =
        crate::persist::saving::secs_since(store.saving.aof_rewrite_started_ms);
    let result = match written {
        Ok(Ok(())) => {
            tracing::info!(
                "Background AOF rewrite terminated with success ({} ms)",
                started.elapsed().as_millis()
            );
            aof_files::complete_rewrite(store, tmp, rdb)
        }
        Ok(Err(e)) => Err(format!(
            "Write error writing append only file on disk: {}",
            crate::strerror(&e)
        )),
        Err(e) => Err(e.to_string()),
    };
    store.saving.last_aof_rewrite_ok = result.is_ok();
    match result {
        Ok(()) => store.saving.aof_rewrite_failures = 0,
        Err(e) => {
            store.saving.aof_rewrite_failures += 1;
            tracing::error!("{e}");
            tracing::warn!("Background AOF rewrite terminated with error");
            aof_files::fail_rewrite(store, tmp);
        }
    }
}

/// With the AOF just turned on, a failed first rewrite is tried again (Redis schedules
/// it), after a pause so a lasting failure (a full disk) does not spin.
fn retry_first_rewrite(server: &Arc<Server>) {
    if !server
        .lock()
        .aof
        .as_ref()
        .is_some_and(|a| a.waiting_rewrite)
    {
        return;
    }
    let server = server.clone();
    tokio::spawn(async move {
        crate::timer::sleep(std::time::Duration::from_secs(1)).await;
        let mut store = server.lock();
        let waiting = store.aof.as_ref().is_some_and(|a| a.waiting_rewrite);
        if waiting && !store.aof_rewrite_in_progress {
            if let Err(e) = crate::persist::aof_files::start_background_rewrite(&mut store) {
                tracing::warn!(error = %e, "the scheduled AOF rewrite did not start");
            }
        }
    });
}

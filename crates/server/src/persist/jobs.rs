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
    /// Write `snapshots` as commands to `tmp`, then swap it in as the AOF.
    RewriteAof {
        snapshots: Vec<DbSnapshot>,
        /// Function libraries' sources, written first as FUNCTION LOAD commands.
        functions: Vec<bytes::Bytes>,
        tmp: PathBuf,
        /// With the AOF off: the file `tmp` is renamed to (no open AOF takes it over).
        standalone: Option<PathBuf>,
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
                snapshots,
                functions,
                path,
                replid,
                offset,
            } => {
                let server = server.clone();
                tokio::spawn(async move {
                    let result = tokio::task::spawn_blocking(move || {
                        crate::persist::rdb::save_file(
                            &path,
                            (&snapshots, &functions),
                            &replid,
                            offset,
                            now_ms(),
                        )
                        .map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    crate::persist::saving::finish_bgsave(&mut server.lock(), result);
                });
            }
            Job::RewriteAof {
                snapshots,
                functions,
                tmp,
                standalone,
            } => {
                let started = std::time::Instant::now();
                let path = tmp.clone();
                let written = tokio::task::spawn_blocking(move || {
                    crate::persist::aof::write_snapshot_commands(
                        &path,
                        &snapshots,
                        &functions,
                        now_ms(),
                    )
                })
                .await;
                let mut store = server.lock();
                store.aof_rewrite_in_progress = false;
                let result = match (written, standalone) {
                    (Ok(Ok(())), Some(path)) => {
                        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())
                    }
                    (Ok(Ok(())), None) => match store.aof.as_mut() {
                        Some(aof) => aof.finish_rewrite(&tmp).map_err(|e| e.to_string()),
                        None => Err("AOF was turned off during the rewrite".into()),
                    },
                    (Ok(Err(e)), _) => Err(e.to_string()),
                    (Err(e), _) => Err(e.to_string()),
                };
                store.saving.last_aof_rewrite_ok = result.is_ok();
                match result {
                    Ok(()) => tracing::info!(
                        ms = started.elapsed().as_millis() as u64,
                        "background AOF rewrite finished"
                    ),
                    Err(e) => {
                        if let Some(aof) = store.aof.as_mut() {
                            aof.abort_rewrite();
                        }
                        let _ = std::fs::remove_file(&tmp);
                        tracing::error!(error = %e, "background AOF rewrite failed");
                    }
                }
            }
        }
    }
}

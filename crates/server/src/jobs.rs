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
pub enum Job {
    /// Write `snapshots` as commands to `tmp`, then swap it in as the AOF.
    RewriteAof {
        snapshots: Vec<DbSnapshot>,
        tmp: PathBuf,
    },
}

/// Runs jobs one at a time, off the async workers.
pub async fn run(server: Arc<Server>, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        match job {
            Job::RewriteAof { snapshots, tmp } => {
                let started = std::time::Instant::now();
                let path = tmp.clone();
                let written = tokio::task::spawn_blocking(move || {
                    crate::aof::write_snapshot_commands(&path, &snapshots, now_ms())
                })
                .await;
                let mut store = server.store.lock();
                store.aof_rewrite_in_progress = false;
                let result = match written {
                    Ok(Ok(())) => match store.aof.as_mut() {
                        Some(aof) => aof.finish_rewrite(&tmp).map_err(|e| e.to_string()),
                        None => Err("AOF was turned off during the rewrite".into()),
                    },
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
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

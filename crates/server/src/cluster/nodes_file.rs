//! nodes.conf on disk. Every save is atomic (a temp file beside it, then rename), so a
//! crash leaves the old or the new file, never half of one.
//!
//! WHY TWO SPEEDS: a save whose epochs changed (currentEpoch, lastVoteEpoch, our config
//! epoch) is written, fsynced and renamed before the caller goes on, as Redis does for
//! votes and epoch bumps: a node must never vote twice in one epoch after a power loss.
//! Every other save (slot moves, flags, addresses; Redis does not fsync those either) is
//! handed to a writer thread, which writes only the newest text it has. Creating and
//! renaming a file per SETSLOT under the store lock was most of a SETSLOT's latency and
//! made `redis-cli --cluster reshard` half as fast as against Redis. A stale slot map
//! after a crash is repaired by the cluster (UPDATE messages), as in Redis.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// The writer of one nodes.conf file.
pub(crate) struct ConfFile {
    path: PathBuf,
    /// Epoch facts of the last text saved, to tell which saves must be durable.
    last_facts: Option<EpochFacts>,
    /// Generation of the last text handed out; the file only ever moves forward.
    generation: u64,
    /// Generation of the text on disk. Held while writing, so writes never interleave
    /// and an older queued text never replaces a newer durable one.
    on_disk: Arc<Mutex<u64>>,
    /// Queue to the background writer (started on first use).
    queue: Option<mpsc::Sender<(u64, String)>>,
}

/// The durable parts of a nodes.conf text: the `vars` line and our own config epoch.
type EpochFacts = (Option<String>, Option<String>);

fn epoch_facts(conf: &str) -> EpochFacts {
    let vars = conf
        .lines()
        .find(|l| l.starts_with("vars "))
        .map(str::to_string);
    let own_epoch = conf
        .lines()
        .find(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("myself")))
        .and_then(|l| l.split(' ').nth(6))
        .map(str::to_string);
    (vars, own_epoch)
}

impl ConfFile {
    /// A writer for `path`; nothing is written until [`ConfFile::save`].
    pub(crate) fn new(path: PathBuf) -> ConfFile {
        ConfFile {
            path,
            last_facts: None,
            generation: 0,
            on_disk: Arc::new(Mutex::new(0)),
            queue: None,
        }
    }

    /// Saves `text`: durably and before returning if `durable` is asked for (CLUSTER
    /// SAVECONFIG) or the epochs changed since the last save, otherwise in the background.
    pub(crate) fn save(&mut self, mut text: String, durable: bool) -> Result<(), String> {
        let facts = epoch_facts(&text);
        let durable = durable || self.last_facts.as_ref() != Some(&facts);
        self.last_facts = Some(facts);
        self.generation += 1;
        let generation = self.generation;
        if !durable {
            if let Some(q) = self.queue() {
                match q.send((generation, text)) {
                    Ok(()) => return Ok(()),
                    // The writer thread is gone: write here instead.
                    Err(mpsc::SendError((_, back))) => {
                        self.queue = None;
                        text = back;
                    }
                }
            }
        }
        write_if_newer(&self.path, &self.on_disk, generation, &text, durable)
            .map_err(|e| e.to_string())
    }

    fn queue(&mut self) -> Option<&mpsc::Sender<(u64, String)>> {
        if self.queue.is_none() {
            let (tx, rx) = mpsc::channel::<(u64, String)>();
            let path = self.path.clone();
            let on_disk = Arc::clone(&self.on_disk);
            let spawned = std::thread::Builder::new()
                .name("nodes-conf".into())
                .spawn(move || {
                    while let Ok(mut job) = rx.recv() {
                        // Only the newest queued text matters.
                        while let Ok(newer) = rx.try_recv() {
                            job = newer;
                        }
                        if let Err(e) = write_if_newer(&path, &on_disk, job.0, &job.1, false) {
                            tracing::error!(error = %e, "saving the cluster config failed");
                        }
                    }
                });
            if spawned.is_ok() {
                self.queue = Some(tx);
            }
        }
        self.queue.as_ref()
    }
}

/// Writes `text` as generation `generation` unless a newer one is already on disk.
fn write_if_newer(
    path: &Path,
    on_disk: &Mutex<u64>,
    generation: u64,
    text: &str,
    durable: bool,
) -> std::io::Result<()> {
    let mut current = on_disk.lock().unwrap_or_else(|e| e.into_inner());
    if *current >= generation {
        return Ok(());
    }
    let tmp = path.with_extension("tmp-rubra");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    if durable {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if durable {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    *current = generation;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(epoch: u64, slots: &str) -> String {
        format!(
            "a myself,master - 0 0 {epoch} connected {slots}\nvars currentEpoch {epoch} lastVoteEpoch 0\n"
        )
    }

    #[test]
    fn the_file_ends_with_the_newest_text_whatever_the_order_of_writes() {
        let dir = std::env::temp_dir().join(format!("rubra-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("nodes.conf");
        let mut f = ConfFile::new(path.clone());
        f.save(conf(1, "0-10"), false).expect("first save");
        // The first save is durable (no facts known yet): on disk at once.
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            conf(1, "0-10")
        );
        for i in 0..200 {
            f.save(conf(1, &format!("0-{i}")), false).expect("save");
        }
        // An epoch change is durable and on disk before save returns.
        f.save(conf(2, "0-5"), false).expect("durable save");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            conf(2, "0-5")
        );
        f.save(conf(2, "0-6"), false).expect("save");
        let wanted = conf(2, "0-6");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&path).expect("read") != wanted {
            assert!(
                std::time::Instant::now() < deadline,
                "background save never landed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Nothing older lands afterwards.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), wanted);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

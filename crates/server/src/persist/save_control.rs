//! The stop switch of a running BGSAVE. Redis saves in a forked child and FLUSHALL or
//! SHUTDOWN kill it (its temporary file removed, the save neither failed nor done); our
//! saves run on a thread, which this switch stops instead: the thread checks it between
//! keys, and the switch decides, under one lock, whether the save is stopped or its file
//! was already installed (then the save simply completed, as a child that exited before
//! the kill did).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Shared by the store (which may abort) and the save's thread.
#[derive(Debug, Default)]
pub(crate) struct SaveControl {
    /// Read by the encoder between keys (rdb::write_rdb_until).
    aborted: AtomicBool,
    /// Held while the thread creates or installs its file and while an abort decides.
    gate: Mutex<Gate>,
}

#[derive(Debug, Default)]
struct Gate {
    /// The temporary file, once created (an abort removes it).
    tmp: Option<PathBuf>,
    /// The file was renamed over the target: too late to abort.
    installed: bool,
}

/// The error a stopped save ends with.
pub(crate) fn aborted_error() -> std::io::Error {
    std::io::Error::other("background save aborted")
}

impl SaveControl {
    /// The flag the encoder polls.
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.aborted
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the temporary file `tmp` unless the save was aborted first.
    pub(crate) fn create(&self, tmp: &Path) -> std::io::Result<std::fs::File> {
        let mut gate = self.gate();
        if self.aborted.load(Ordering::SeqCst) {
            return Err(aborted_error());
        }
        let file = std::fs::File::create(tmp)?;
        gate.tmp = Some(tmp.to_path_buf());
        Ok(file)
    }

    /// Renames `tmp` over `target` unless the save was aborted first (then `tmp` is gone).
    pub(crate) fn install(&self, tmp: &Path, target: &Path) -> std::io::Result<()> {
        let mut gate = self.gate();
        if self.aborted.load(Ordering::SeqCst) {
            let _ = std::fs::remove_file(tmp);
            return Err(aborted_error());
        }
        std::fs::rename(tmp, target)?;
        gate.installed = true;
        Ok(())
    }

    /// Stops the save and removes its temporary file; false if its file is already
    /// installed (the save completed: its end is recorded as usual).
    pub(crate) fn abort(&self) -> bool {
        let gate = self.gate();
        if gate.installed {
            return false;
        }
        self.aborted.store(true, Ordering::SeqCst);
        if let Some(tmp) = &gate.tmp {
            let _ = std::fs::remove_file(tmp);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_removes_the_file_and_stops_the_install() {
        let dir = std::env::temp_dir().join(format!("rubra-savectl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, target) = (dir.join("temp-x.rdb"), dir.join("dump.rdb"));
        let c = SaveControl::default();
        drop(c.create(&tmp).unwrap());
        assert!(c.abort());
        assert!(!tmp.exists());
        assert!(c.install(&tmp, &target).is_err());
        assert!(!target.exists());
        assert!(c.create(&tmp).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_installed_save_is_not_aborted() {
        let dir = std::env::temp_dir().join(format!("rubra-savectl2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (tmp, target) = (dir.join("temp-y.rdb"), dir.join("dump.rdb"));
        let c = SaveControl::default();
        drop(c.create(&tmp).unwrap());
        c.install(&tmp, &target).unwrap();
        assert!(!c.abort());
        assert!(target.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! A small tmpfs mounted for one test (a disk that can be filled and freed on demand):
//! aof_disk_full.rs and the chaos suite's full-disk fault. Mounting needs root (CI runs as
//! root); `RUBRA_SKIP_TMPFS=1` makes [`Tmpfs::mount`] answer None so tests can skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted (lazily) and its mount point removed when dropped.
pub(crate) struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "3m") on a fresh directory; None when
    /// RUBRA_SKIP_TMPFS is set. Panics when mounting fails (not root).
    pub(crate) fn mount(size: &str) -> Option<Tmpfs> {
        if std::env::var("RUBRA_SKIP_TMPFS").is_ok() {
            eprintln!("RUBRA_SKIP_TMPFS set: skipping the full-disk test");
            return None;
        }
        let dir = std::env::temp_dir().join(format!(
            "rubra-full-{}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).expect("mount point");
        Some(
            Self::mount_on(&dir, size).expect(
                "mounting a tmpfs failed: this test needs root (RUBRA_SKIP_TMPFS=1 skips it)",
            ),
        )
    }

    /// Mounts a tmpfs of `size` on the existing directory `dir`.
    pub(crate) fn mount_on(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(format!("mount -t tmpfs on {} failed", dir.display()))
        }
    }

    pub(crate) fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    /// Takes every free byte of the filesystem with a file (returned, to be removed when
    /// the space is to come back): the next write anyone makes fails with ENOSPC.
    pub(crate) fn fill_up(&self) -> PathBuf {
        let filler = self.0.join("filler");
        if let Ok(mut f) = std::fs::File::create(&filler) {
            for chunk in [1 << 20, 1 << 12] {
                let buf = vec![0u8; chunk];
                while f.write_all(&buf).is_ok() {}
            }
        }
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

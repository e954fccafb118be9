//! `rubra backup` and `rubra restore`: straight on the nodes (no supervisor needed).

use super::target_args::Target;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;

/// `rubra backup`: every primary's data plus a manifest to `to`.
pub(super) fn backup(target: &Target, to: Option<PathBuf>) -> Result<ExitCode> {
    let to = to.unwrap_or_else(|| {
        PathBuf::from(format!("rubra-backup-{}", crate::supervisor::now_secs()))
    });
    let m = crate::backup::backup(&target.ctx()?, &to)?;
    println!(
        "backup of {} primaries ({} keys) written to {}",
        m.shards.len(),
        m.shards.iter().map(|s| s.keys).sum::<u64>(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `rubra restore`: a backup directory (`from`) or plain RDB files into a running cluster.
pub(super) fn restore(
    target: &Target,
    from: Option<PathBuf>,
    rdb: &[PathBuf],
    replace: bool,
) -> Result<ExitCode> {
    let ctx = target.ctx()?;
    let (n, src) = match from {
        Some(f) => (
            crate::backup::restore(&ctx, &f, replace)?,
            f.display().to_string(),
        ),
        None => (
            crate::backup::restore_rdb(&ctx, rdb, replace)?,
            format!("{} RDB files", rdb.len()),
        ),
    };
    println!("restored {n} keys from {src}");
    Ok(ExitCode::SUCCESS)
}

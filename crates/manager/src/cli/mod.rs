//! Command-line interface: argument definitions and one function per subcommand.

//!
//! `mod.rs` holds the argument definitions and the dispatch; each subcommand's work lives
//! with its kind: `up` (start and supervise), `ops` (cluster operations that go through a
//! running supervisor when there is one, else straight to the nodes), `via_supervisor`
//! (operations only the supervisor can do), `data` (backup and restore), `target_args`
//! (which cluster a command acts on).

mod acl;
mod data;
mod ops;
mod target_args;
mod up;
mod via_supervisor;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use target_args::Target;
use up::UpArgs;

/// rubra: provision and operate a Redis-Cluster-compatible cluster.
#[derive(Parser, Debug)]
#[command(name = "rubra", version, about)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start (or restart) a local cluster and supervise it in the foreground.
    Up(Box<UpArgs>),
    /// Stop the cluster running from DIR.
    Down {
        /// Data directory.
        #[arg(long, default_value = "./rubra-data")]
        dir: PathBuf,
        /// Docker runtime: also remove the containers, their data volumes and the
        /// network (the data is gone).
        #[arg(long)]
        purge: bool,
    },
    /// Exit 0 when the node on 127.0.0.1:PORT answers PING (the image's HEALTHCHECK).
    Healthcheck {
        /// Node port.
        #[arg(long, env = "RUBRA_PORT", default_value_t = 6379)]
        port: u16,
    },
    /// Node table: id, role, addr, slots, keys, memory, ops/s, link.
    Status(Target),
    /// Check slot coverage, agreement and open slots; exit 1 on problems.
    Check(Target),
    /// Close open slots and assign uncovered slots.
    Fix(Target),
    /// Move N slots (with their keys) from one primary to another.
    Reshard {
        #[command(flatten)]
        target: Target,
        /// Source node: id, id prefix, port or host:port.
        #[arg(long)]
        from: String,
        /// Target node: id, id prefix, port or host:port.
        #[arg(long)]
        to: String,
        /// Number of slots to move.
        #[arg(long)]
        slots: usize,
    },
    /// Even out slots over all primaries.
    Rebalance {
        #[command(flatten)]
        target: Target,
        /// Only act if some primary is off its share by more than this percentage.
        #[arg(long, default_value_t = 2.0)]
        threshold: f64,
    },
    /// Add or remove primary+replica pairs (through the running supervisor).
    Scale {
        /// Data directory of the running cluster.
        #[arg(long, default_value = "./rubra-data")]
        dir: PathBuf,
        /// Add one pair.
        #[arg(long, conflicts_with_all = ["remove_pair", "pairs"])]
        add_pair: bool,
        /// Remove one pair.
        #[arg(long, conflicts_with = "pairs")]
        remove_pair: bool,
        /// Scale to exactly N pairs.
        #[arg(long)]
        pairs: Option<usize>,
    },
    /// Turn the running supervisor's autoscaler on or off.
    Autoscale {
        /// Data directory of the running cluster.
        #[arg(long, default_value = "./rubra-data")]
        dir: PathBuf,
        /// "on" or "off".
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
    /// Cluster password operations (through the running supervisor).
    Password {
        #[command(subcommand)]
        action: PasswordCmd,
    },
    /// Docker runtime: replace every node container with one of a new image, one at a
    /// time, failing each primary over to its replica first (a rolling upgrade).
    Upgrade {
        /// Data directory of the running cluster.
        #[arg(long, default_value = "./rubra-data")]
        dir: PathBuf,
        /// The new node image (in the local engine; deploy/build-image.sh builds one).
        #[arg(long)]
        image: String,
    },
    /// Copy every primary's data (an RDB from an in-sync replica) plus a manifest to DIR.
    Backup {
        #[command(flatten)]
        target: Target,
        /// Where to write the backup (a new directory; default ./rubra-backup-UNIXTIME).
        #[arg(long)]
        to: Option<PathBuf>,
    },
    /// Load a backup into a running cluster of any size (keys go to their slot's owner).
    Restore {
        #[command(flatten)]
        target: Target,
        /// The backup directory (`rubra backup --to`).
        #[arg(long, required_unless_present = "rdb", conflicts_with = "rdb")]
        from: Option<PathBuf>,
        /// Instead of a backup: plain RDB files (e.g. each primary's dump.rdb of a Redis
        /// 7.0 cluster), checked by their own CRC-64. Repeat for several files.
        #[arg(long)]
        rdb: Vec<PathBuf>,
        /// Overwrite keys that already exist (default: refuse a cluster that holds keys).
        #[arg(long)]
        replace: bool,
    },
    /// ACL users on every node (primaries and replicas), kept across restarts and scaling.
    Acl {
        #[command(subcommand)]
        action: acl::AclCmd,
    },
    /// Manual failover: promote a replica (or the replica of a given primary).
    Failover {
        #[command(flatten)]
        target: Target,
        /// Node: id, id prefix, port or host:port.
        node: String,
    },
}

/// `rubra password ...`
#[derive(Subcommand, Debug)]
enum PasswordCmd {
    /// Set a new generated password cluster-wide without restarts; the old one keeps
    /// working for --grace seconds, then is refused. The new one is in DIR/credentials.
    Rotate {
        /// Data directory of the running cluster.
        #[arg(long, default_value = "./rubra-data")]
        dir: PathBuf,
        /// Seconds the old password stays valid.
        #[arg(long, default_value_t = crate::api::DEFAULT_GRACE_SECS)]
        grace: u64,
    },
}

/// Parse arguments and run; the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rubra: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Up(a) => up::up(*a),
        Cmd::Down { dir, purge } => via_supervisor::down(&dir, purge),
        Cmd::Healthcheck { port } => Ok(crate::node_entry::healthcheck(port)),
        Cmd::Status(t) => ops::status(&t.ctx()?),
        Cmd::Check(t) => ops::check(&t.ctx()?),
        Cmd::Fix(t) => ops::fix(&t),
        Cmd::Reshard {
            target,
            from,
            to,
            slots,
        } => ops::reshard(&target, &from, &to, slots),
        Cmd::Rebalance { target, threshold } => ops::rebalance(&target, threshold),
        Cmd::Failover { target, node } => ops::failover(&target, &node),
        Cmd::Scale {
            dir,
            add_pair,
            remove_pair,
            pairs,
        } => via_supervisor::scale(&dir, add_pair, remove_pair, pairs),
        Cmd::Autoscale { dir, mode } => via_supervisor::autoscale(&dir, &mode),
        Cmd::Password {
            action: PasswordCmd::Rotate { dir, grace },
        } => via_supervisor::rotate_password(&dir, grace),
        Cmd::Upgrade { dir, image } => via_supervisor::upgrade(&dir, &image),
        Cmd::Acl { action } => acl::run(action),
        Cmd::Backup { target, to } => data::backup(&target, to),
        Cmd::Restore {
            target,
            from,
            rdb,
            replace,
        } => data::restore(&target, from, &rdb, replace),
    }
}

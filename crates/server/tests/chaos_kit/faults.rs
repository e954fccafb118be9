//! The fault kinds of the chaos schedule and how each is injected on real processes:
//! signals, network namespaces (link down, iptables drops between two nodes or of a
//! share of incoming packets), and a node's tmpfs filled up and freed.

use super::client::Rng;
use super::nodes::{Member, NODE_TIMEOUT_MS};
use crate::common::cluster::{info_field_of, parse_nodes, wait_for};
use crate::common::netns::ns_exec;
use crate::common::signal;
use crate::common::tmpfs::Tmpfs;
use std::time::{Duration, Instant};

/// The kinds of fault the schedule draws from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Fault {
    KillPrimary,
    KillReplica,
    /// A primary and its replica killed together, then both restarted: the shard is
    /// down and must come back from the AOF alone.
    KillPair,
    /// A primary killed and restarted only after its replica was promoted (0.5 to 6 s
    /// later): it must rejoin as a replica without taking writes on its stale claims.
    KillRejoin,
    StopPrimary,
    /// The node's only link down (network namespaces only): a minority primary, or a
    /// replica cut from everyone.
    Partition,
    /// A primary and its replica unable to reach each other; both still reach everyone
    /// else.
    CutPair,
    /// The node's link going down and up every 0.2 to 1.5 s for a few seconds.
    Flap,
    /// 30 to 100 % of the packets arriving at a node dropped (its own go out).
    OneWayLoss,
    /// The node's data directory (a tmpfs) filled up, then freed; under `appendfsync
    /// always` the node stops rather than acknowledge, and is started again.
    DiskFull,
    /// Slots moved between two other shards while another fault hits.
    Reshard,
}

impl Fault {
    /// Every kind, in report order.
    pub(crate) const ALL: [Fault; 11] = [
        Fault::KillPrimary,
        Fault::KillReplica,
        Fault::KillPair,
        Fault::KillRejoin,
        Fault::StopPrimary,
        Fault::Partition,
        Fault::CutPair,
        Fault::Flap,
        Fault::OneWayLoss,
        Fault::DiskFull,
        Fault::Reshard,
    ];

    /// The name in logs and in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::KillPrimary => "kill -9 primary",
            Fault::KillReplica => "kill -9 replica",
            Fault::KillPair => "kill -9 pair",
            Fault::KillRejoin => "kill, back promoted",
            Fault::StopPrimary => "SIGSTOP primary",
            Fault::Partition => "partition (netns)",
            Fault::CutPair => "primary-replica cut",
            Fault::Flap => "flapping link",
            Fault::OneWayLoss => "one-way loss",
            Fault::DiskFull => "disk full",
            Fault::Reshard => "reshard + fault",
        }
    }

    /// The word RUBRA_CHAOS_FAULTS selects it by (besides "kill" for all kills).
    pub(crate) fn word(self) -> &'static str {
        match self {
            Fault::KillPrimary => "kill-primary",
            Fault::KillReplica => "kill-replica",
            Fault::KillPair => "kill-pair",
            Fault::KillRejoin => "kill-rejoin",
            Fault::StopPrimary => "stop",
            Fault::Partition => "partition",
            Fault::CutPair => "cut-pair",
            Fault::Flap => "flap",
            Fault::OneWayLoss => "loss",
            Fault::DiskFull => "disk",
            Fault::Reshard => "reshard",
        }
    }

    /// Whether it needs network namespaces.
    pub(crate) fn needs_netns(self) -> bool {
        matches!(
            self,
            Fault::Partition | Fault::CutPair | Fault::Flap | Fault::OneWayLoss
        )
    }

    /// Whether the victim must be a primary (else a replica when `false`; None: either,
    /// mostly a primary).
    pub(crate) fn victim_primary(self) -> Option<bool> {
        match self {
            Fault::KillReplica => Some(false),
            Fault::Partition | Fault::Flap | Fault::OneWayLoss | Fault::DiskFull => None,
            _ => Some(true),
        }
    }
}

/// The node's replica (for a primary) or primary (for a replica), as an index.
pub(crate) fn partner(nodes: &[Member], victim: usize) -> Option<usize> {
    let view = parse_nodes(&nodes[victim].cli(&["cluster", "nodes"]));
    let me = view.iter().find(|n| n.has("myself"))?;
    let other = if me.has("master") {
        view.iter().find(|n| n.has("slave") && n.master == me.id)?
    } else {
        view.iter().find(|n| n.id == me.master)?
    };
    nodes.iter().position(|m| m.addr() == other.addr)
}

/// Kills `victim` with SIGKILL, then starts it again after `down`.
fn kill_restart(nodes: &mut [Member], victim: usize, down: Duration) -> Result<(), String> {
    nodes[victim].kill9();
    std::thread::sleep(down);
    restart(nodes, victim)
}

fn restart(nodes: &mut [Member], victim: usize) -> Result<(), String> {
    if nodes[victim].restart() {
        Ok(())
    } else {
        Err(format!("{} did not restart", nodes[victim].addr()))
    }
}

/// Runs iptables in the victim's namespace.
fn iptables(node: &Member, args: &[&str]) -> Result<(), String> {
    let ns = node.ns().ok_or("iptables needs network namespaces")?;
    ns_exec(ns, "iptables", args)
}

/// Injects `fault` on `victim` (its partner for the two-ended kinds) and lifts it again;
/// returns a detail for the log. Err is a harness failure or a node that did not restart.
pub(crate) fn inject(
    fault: Fault,
    nodes: &mut [Member],
    disks: &[Tmpfs],
    victim: usize,
    rng: &mut Rng,
) -> Result<String, String> {
    match fault {
        Fault::KillPrimary | Fault::KillReplica => {
            // Down for 0.5 to 8 s: sometimes back before its replica is promoted,
            // sometimes right after, sometimes long after.
            kill_restart(nodes, victim, rng.between_ms(500, 8000))?;
            Ok(String::new())
        }
        Fault::KillPair => {
            let other = partner(nodes, victim).ok_or("no replica to kill with its primary")?;
            nodes[victim].kill9();
            std::thread::sleep(rng.between_ms(0, 1500));
            nodes[other].kill9();
            std::thread::sleep(rng.between_ms(500, 6000));
            // Either may come back first.
            let (a, b) = if rng.below(2) == 0 {
                (victim, other)
            } else {
                (other, victim)
            };
            restart(nodes, a)?;
            std::thread::sleep(rng.between_ms(0, 3000));
            restart(nodes, b)?;
            Ok(format!("and {}", nodes[other].addr()))
        }
        Fault::KillRejoin => {
            let other = partner(nodes, victim).ok_or("no replica to promote")?;
            let witness = (0..nodes.len())
                .find(|&i| i != victim && i != other)
                .ok_or("no third node")?;
            let start = Instant::now();
            nodes[victim].kill9();
            let promoted = wait_for(Duration::from_secs(20), || {
                let addr = nodes[other].addr();
                parse_nodes(&nodes[witness].cli(&["cluster", "nodes"]))
                    .iter()
                    .any(|n| n.addr == addr && n.has("master") && !n.slots.is_empty())
            });
            let took = start.elapsed();
            let after = rng.between_ms(500, 6000);
            std::thread::sleep(after);
            restart(nodes, victim)?;
            if !promoted {
                return Err(format!(
                    "{} was not promoted within 20 s of its primary's death",
                    nodes[other].addr()
                ));
            }
            Ok(format!(
                "(replica promoted after {:.1}s, back {:.1}s later)",
                took.as_secs_f64(),
                after.as_secs_f64()
            ))
        }
        Fault::StopPrimary => {
            signal(nodes[victim].pid(), "STOP");
            std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 500, NODE_TIMEOUT_MS + 4000));
            signal(nodes[victim].pid(), "CONT");
            Ok(String::new())
        }
        Fault::Partition => {
            let cut = nodes[victim].set_link(false);
            std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 1000, NODE_TIMEOUT_MS + 6000));
            nodes[victim].set_link(true)?;
            cut.map(|_| String::new())
        }
        Fault::CutPair => {
            let other = partner(nodes, victim).ok_or("no replica to cut from")?;
            let peer = nodes[other].ip();
            let rules = [
                ["-A", "INPUT", "-s", &peer, "-j", "DROP"],
                ["-A", "OUTPUT", "-d", &peer, "-j", "DROP"],
            ];
            let mut cut = Ok(());
            for r in &rules {
                cut = cut.and(iptables(&nodes[victim], r));
            }
            std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 1000, NODE_TIMEOUT_MS + 6000));
            iptables(&nodes[victim], &["-F"])?;
            cut.map(|_| format!("from {}", nodes[other].addr()))
        }
        Fault::Flap => {
            let until = Instant::now() + rng.between_ms(3000, 10_000);
            let mut flips = 0;
            while Instant::now() < until {
                nodes[victim].set_link(false)?;
                std::thread::sleep(rng.between_ms(200, 1500));
                nodes[victim].set_link(true)?;
                std::thread::sleep(rng.between_ms(200, 1500));
                flips += 1;
            }
            Ok(format!("({flips} times)"))
        }
        Fault::OneWayLoss => {
            let share = [0.3, 0.6, 0.9, 1.0][rng.below(4) as usize];
            let p = share.to_string();
            let rule = [
                "-A",
                "INPUT",
                "-i",
                "eth0",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ];
            let cut = iptables(&nodes[victim], &rule);
            std::thread::sleep(rng.between_ms(NODE_TIMEOUT_MS + 1000, NODE_TIMEOUT_MS + 6000));
            iptables(&nodes[victim], &["-F"])?;
            cut.map(|_| format!("({:.0} % of incoming packets)", share * 100.0))
        }
        Fault::DiskFull => {
            let disk = disks.get(victim).ok_or("no tmpfs for this node")?;
            let info = nodes[victim].cli(&["info"]);
            let filler = disk.fill_up();
            // Writes keep coming (clients to a primary, the stream to a replica): under
            // appendfsync always the node stops at its first failed AOF write.
            let stopped = wait_for(Duration::from_secs(5), || nodes[victim].exited());
            if !stopped {
                // Still up: what it holds on disk and says of its AOF, before space returns.
                let files: Vec<String> = std::fs::read_dir(&disk.0)
                    .map(|d| {
                        d.flatten()
                            .map(|e| {
                                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                                format!("{}={len}", e.file_name().to_string_lossy())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let p = nodes[victim].cli(&["info", "persistence"]);
                eprintln!(
                    "chaos: disk full on {} but still running: files {files:?}, appendfsync {:?}, \
                     aof_last_write_status {}, aof_current_size {}",
                    nodes[victim].addr(),
                    nodes[victim].cli(&["config", "get", "appendfsync"]),
                    info_field_of(&p, "aof_last_write_status"),
                    info_field_of(&p, "aof_current_size"),
                );
            }
            std::thread::sleep(rng.between_ms(500, 4000));
            std::fs::remove_file(&filler).map_err(|e| format!("freeing the tmpfs: {e}"))?;
            if stopped || nodes[victim].exited() {
                restart(nodes, victim)?;
                Ok("(node stopped, restarted)".into())
            } else {
                // Seen now and then: say what the node was doing, and what it says of its
                // disk now, for a post-mortem.
                let now = nodes[victim].cli(&["info", "persistence"]);
                Ok(format!(
                    "(node kept running: role {}, AOF rewrite in progress {}, RDB save in \
                     progress {}; now aof_last_write_status {}, rdb_last_bgsave_status {}, \
                     rdb_bgsave_in_progress {})",
                    info_field_of(&info, "role"),
                    info_field_of(&info, "aof_rewrite_in_progress"),
                    info_field_of(&info, "rdb_bgsave_in_progress"),
                    info_field_of(&now, "aof_last_write_status"),
                    info_field_of(&now, "rdb_last_bgsave_status"),
                    info_field_of(&now, "rdb_bgsave_in_progress")
                ))
            }
        }
        Fault::Reshard => Err("Reshard runs alongside another fault".into()),
    }
}

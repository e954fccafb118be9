//! Command-line interface: argument definitions and one function per subcommand.

use crate::autoscale::AutoscaleConfig;
use crate::ctx::Ctx;
use crate::procs::{default_server_bin, NodeOpts};
use crate::state::{generate_password, pid_alive, signal, Dir, Intent, NodeRec, NodeStatus, State};
use crate::supervisor::{AutoscaleRun, Sup};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Which cluster a command acts on: a data dir (default) or a seed node.
#[derive(Args, Debug)]
struct Target {
    /// Data directory (node ports and credentials are read from it).
    #[arg(long, default_value = "./rubra-data")]
    dir: PathBuf,
    /// Any node of the cluster, host:port (instead of --dir).
    #[arg(long)]
    seed: Option<String>,
    /// Cluster password (with --seed); default: DIR/credentials.
    #[arg(long, env = "RUBRA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl Target {
    fn ctx(&self) -> Result<Ctx> {
        let dir = Dir::new(&self.dir)?;
        if let Some(seed) = &self.seed {
            let password = match &self.password {
                Some(p) => Some(p.clone()),
                None => dir.read_password().unwrap_or(None),
            };
            // A TLS cluster's own data dir gives the CA and client certificate.
            let tls = match dir.load_state()? {
                Some(st) if st.tls => Some(tls_client(&dir)?),
                _ => None,
            };
            return Ok(Ctx {
                seeds: vec![seed.clone()],
                password,
                local: false,
                hosts: Default::default(),
                tls,
            });
        }
        let Some(st) = dir.load_state()? else {
            bail!(
                "no cluster in {:?}: run `rubra up --dir ...` or give --seed host:port",
                dir.root
            );
        };
        let password = match &self.password {
            Some(p) => Some(p.clone()),
            None => dir.read_password()?,
        };
        // Docker runtime: nodes are reached at their container addresses.
        let hosts = match (&st.docker, &st.external) {
            (Some(d), _) => crate::runtime_cli::container_ips(d, &st.active_ports())?,
            (None, Some(names)) => {
                let rt = crate::docker::external::ExternalRt::new(names.clone());
                for p in st.active_ports() {
                    let _ = rt.resolve(p);
                }
                rt.ips()
            }
            (None, None) => Default::default(),
        };
        Ok(Ctx {
            seeds: st
                .active_ports()
                .iter()
                .map(|p| format!("{}:{p}", hosts.get(p).map_or("127.0.0.1", String::as_str)))
                .collect(),
            password,
            local: true,
            hosts,
            tls: if st.tls {
                Some(tls_client(&dir)?)
            } else {
                None
            },
        })
    }
}

/// How commands reach the nodes of the TLS cluster in `dir`: its CA and client certificate.
fn tls_client(dir: &Dir) -> Result<Arc<rustls::ClientConfig>> {
    let pki = crate::tlsgen::Pki::existing(&dir.root)
        .with_context(|| format!("{:?} is a TLS cluster but has no CA in tls/", dir.root))?;
    crate::tls::client_config(&pki.ca_cert(), Some(&pki.client()?))
}

#[derive(Args, Debug)]
struct UpArgs {
    /// Number of nodes (even; half primaries, half replicas).
    #[arg(long, default_value_t = 6)]
    nodes: usize,
    /// Data directory.
    #[arg(long, default_value = "./rubra-data")]
    dir: PathBuf,
    /// First node port (bus ports are +10000).
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Cluster password (default: a generated one).
    #[arg(long, env = "RUBRA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// cluster-announce-ip for the nodes. Given again for an existing cluster, it
    /// replaces the one recorded (the nodes learn each other's new addresses).
    #[arg(long)]
    announce_ip: Option<String>,
    /// TLS everywhere: a private CA in DIR/tls issues node, panel and client
    /// certificates; nodes serve TLS only (clients, replication and the cluster bus) and
    /// the panel serves HTTPS. Kept for later runs of the same data directory.
    #[arg(long)]
    tls: bool,
    /// Address of the HTTP API / admin panel.
    #[arg(long, default_value = "127.0.0.1:8080")]
    panel: String,
    /// Enable the autoscaler at start.
    #[arg(long)]
    autoscale: bool,
    /// maxmemory of each node.
    #[arg(long, default_value = "256mb")]
    node_maxmemory: String,
    /// Node binary (default: rubra-server next to rubra, else from PATH).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// cluster-node-timeout in milliseconds.
    #[arg(long, default_value_t = 5000)]
    node_timeout: u64,
    /// Autoscaler: fewest nodes.
    #[arg(long, default_value_t = 6)]
    min_nodes: usize,
    /// Autoscaler: most nodes.
    #[arg(long, default_value_t = 12)]
    max_nodes: usize,
    /// Autoscaler: add a pair above this % of CPU or memory capacity.
    #[arg(long, default_value_t = 70.0)]
    scale_up_pct: f64,
    /// Autoscaler: remove a pair below this % of CPU and memory capacity.
    #[arg(long, default_value_t = 40.0)]
    scale_down_pct: f64,
    /// Autoscaler: seconds above the threshold before adding.
    #[arg(long, default_value_t = 300)]
    scale_up_secs: u64,
    /// Autoscaler: seconds below the threshold before removing.
    #[arg(long, default_value_t = 900)]
    scale_down_secs: u64,
    /// Autoscaler: seconds between actions.
    #[arg(long, default_value_t = 600)]
    cooldown_secs: u64,
    /// Autoscaler: CPUs one node may use (CPU capacity).
    #[arg(long, default_value_t = 1.0)]
    node_cpus: f64,
    /// Autoscaler: seconds between INFO samples.
    #[arg(long, default_value_t = 5)]
    sample_secs: u64,
    /// Where nodes run: local processes, or Docker containers (one per node, on a
    /// user-defined network, limits from --node-maxmemory/--node-cpus).
    /// `external`: Compose/Swarm runs the nodes given by --node-addrs; rubra forms the
    /// cluster and serves the panel and operations, but starts/scales no node.
    #[arg(long, value_parser = ["local", "docker", "external"], default_value = "local")]
    runtime: String,
    /// External runtime: the nodes, `host:port,...` (first half primaries).
    #[arg(long, default_value = "")]
    node_addrs: String,
    /// Docker runtime: the node image (deploy/build-image.sh builds it).
    #[arg(long, default_value = "rubra:latest")]
    image: String,
    /// Docker runtime: prefix of the network, container and volume names.
    #[arg(long, default_value = "rubra")]
    docker_prefix: String,
    /// Take a backup this often (seconds, or 30m, 1h, 1d), like `rubra backup`.
    #[arg(long)]
    backup_every: Option<String>,
    /// Scheduled backups: how many to keep.
    #[arg(long, default_value_t = 24)]
    keep: usize,
    /// Scheduled backups: where they go (default DIR/backups).
    #[arg(long)]
    backup_dir: Option<PathBuf>,
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
        Cmd::Up(a) => up(*a),
        Cmd::Down { dir, purge } => {
            let code = down(&dir)?;
            if purge {
                crate::runtime_cli::purge(&dir)?;
            }
            Ok(code)
        }
        Cmd::Healthcheck { port } => Ok(crate::node_entry::healthcheck(port)),
        Cmd::Status(t) => status(&t.ctx()?),
        Cmd::Check(t) => check(&t.ctx()?),
        Cmd::Fix(t) => {
            if let Some(dir) = supervised(&t)? {
                let r = api_json(&dir, "/api/fix", "{}")?;
                for line in r["actions"].as_array().into_iter().flatten() {
                    println!("{}", line.as_str().unwrap_or_default());
                }
                return check_settled(
                    &t.ctx()?,
                    !r["actions"].as_array().is_some_and(Vec::is_empty),
                );
            }
            let ctx = t.ctx()?;
            let actions = crate::check::fix(&ctx)?;
            for line in &actions {
                println!("{line}");
            }
            check_settled(&ctx, !actions.is_empty())
        }
        Cmd::Reshard {
            target,
            from,
            to,
            slots,
        } => {
            if let Some(dir) = supervised(&target)? {
                let body = serde_json::json!({"from": from, "to": to, "slots": slots});
                let r = api_json(&dir, "/api/reshard", &body.to_string())?;
                println!(
                    "moved {} slots and {} keys from {} to {}",
                    r["slots_moved"],
                    r["keys_moved"],
                    r["from"].as_str().unwrap_or("?"),
                    r["to"].as_str().unwrap_or("?")
                );
                return Ok(ExitCode::SUCCESS);
            }
            let ctx = target.ctx()?;
            finish_open(&ctx)?;
            let view = ctx.best_view()?;
            let (f, t) = (view.resolve(&from)?, view.resolve(&to)?);
            let moves = crate::migrate::plan_reshard(&view, f, t, slots)?;
            let (s, k) = crate::migrate::execute(&ctx, &view, &moves, false)?;
            println!("moved {s} slots and {k} keys from {} to {}", f.id, t.id);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Rebalance { target, threshold } => {
            if let Some(dir) = supervised(&target)? {
                let body = serde_json::json!({ "threshold": threshold });
                let r = api_json(&dir, "/api/rebalance", &body.to_string())?;
                if r["slots_moved"].as_u64() == Some(0) {
                    println!("balanced within {threshold}%: nothing to move");
                } else {
                    println!(
                        "moved {} slots and {} keys",
                        r["slots_moved"], r["keys_moved"]
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let ctx = target.ctx()?;
            finish_open(&ctx)?;
            let view = ctx.best_view()?;
            let members = view.live_primary_ids();
            let moves = crate::migrate::plan_rebalance(&view, &members, threshold)?;
            if moves.is_empty() {
                println!("balanced within {threshold}%: nothing to move");
                return Ok(ExitCode::SUCCESS);
            }
            let (s, k) = crate::migrate::execute(&ctx, &view, &moves, false)?;
            println!("moved {s} slots and {k} keys");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Scale {
            dir,
            add_pair,
            remove_pair,
            pairs,
        } => scale(&dir, add_pair, remove_pair, pairs),
        Cmd::Autoscale { dir, mode } => {
            let body = format!(r#"{{"enabled":{}}}"#, mode == "on");
            let resp = api_call(&dir, "/api/autoscale", &body)?;
            println!("{resp}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Password {
            action: PasswordCmd::Rotate { dir, grace },
        } => {
            let body = serde_json::json!({ "grace": grace });
            let r = api_json(&dir, "/api/password/rotate", &body.to_string())?;
            println!(
                "password rotated: the new one is in {}; the old one is accepted until unix time {}",
                r["credentials"].as_str().unwrap_or("DIR/credentials"),
                r["old_accepted_until"]
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Upgrade { dir, image } => {
            let body = serde_json::json!({ "image": image });
            let r = api_json(&dir, "/api/upgrade", &body.to_string())?;
            println!(
                "upgraded {} nodes from {} to {} in {} s",
                r["nodes"],
                r["previous"].as_str().unwrap_or("?"),
                r["image"].as_str().unwrap_or("?"),
                r["seconds"]
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Backup { target, to } => {
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
        Cmd::Restore {
            target,
            from,
            rdb,
            replace,
        } => {
            let ctx = target.ctx()?;
            let (n, src) = match from {
                Some(f) => (
                    crate::backup::restore(&ctx, &f, replace)?,
                    f.display().to_string(),
                ),
                None => (
                    crate::backup::restore_rdb(&ctx, &rdb, replace)?,
                    format!("{} RDB files", rdb.len()),
                ),
            };
            println!("restored {n} keys from {src}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Failover { target, node } => {
            if let Some(dir) = supervised(&target)? {
                let body = serde_json::json!({ "node": node });
                let r = api_json(&dir, "/api/failover", &body.to_string())?;
                println!("{} is now a primary", r["promoted"].as_str().unwrap_or("?"));
                return Ok(ExitCode::SUCCESS);
            }
            let id = crate::failover::failover(&target.ctx()?, &node, Duration::from_secs(30))?;
            println!("{id} is now a primary");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The data dir of `t` when a supervisor runs for it (and no --seed names another
/// cluster): slot-moving commands then go through the supervisor's API, whose operation
/// lock makes sure two operations never move slots at once. Without a supervisor they
/// act on the nodes directly.
fn supervised(t: &Target) -> Result<Option<PathBuf>> {
    if t.seed.is_some() {
        return Ok(None);
    }
    let dir = Dir::new(&t.dir)?;
    match dir.running_supervisor() {
        Some(pid) => {
            eprintln!(
                "rubra: running through the supervisor (pid {pid}) of {:?}",
                dir.root
            );
            Ok(Some(dir.root))
        }
        None => Ok(None),
    }
}

/// [`api_call`] with the result parsed as JSON.
fn api_json(dir: &std::path::Path, path: &str, body: &str) -> Result<serde_json::Value> {
    let text = api_call(dir, path, body)?;
    serde_json::from_str(&text).with_context(|| format!("supervisor reply {text:?}"))
}

/// Complete slot moves a crash left open, so reshard/rebalance start from a clean state.
fn finish_open(ctx: &Ctx) -> Result<()> {
    for line in crate::check::fix(ctx)? {
        eprintln!("rubra: {line}");
    }
    Ok(())
}

fn status(ctx: &Ctx) -> Result<ExitCode> {
    print!("{}", crate::status::table(ctx)?);
    Ok(ExitCode::SUCCESS)
}

/// After `fix` changed slot owners, replicas learn the new owners by gossip: check
/// until the cluster agrees (up to 20 s) before reporting, so a successful fix is not
/// reported as a failure just because the news is still travelling.
fn check_settled(ctx: &Ctx, changed: bool) -> Result<ExitCode> {
    if changed {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if crate::check::check(ctx).is_ok_and(|r| r.problems.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    check(ctx)
}

fn check(ctx: &Ctx) -> Result<ExitCode> {
    let r = crate::check::check(ctx)?;
    for l in &r.info {
        println!("{l}");
    }
    if r.problems.is_empty() {
        println!("[OK] all 16384 slots covered, nodes agree, no open slots");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &r.problems {
            println!("[ERR] {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn scale(dir: &std::path::Path, add: bool, remove: bool, pairs: Option<usize>) -> Result<ExitCode> {
    let dir = Dir::new(dir)?;
    let body = match (add, remove, pairs) {
        (true, _, _) => r#"{"action":"add_pair"}"#.to_string(),
        (_, true, _) => r#"{"action":"remove_pair"}"#.to_string(),
        (_, _, Some(n)) => format!(r#"{{"pairs":{n}}}"#),
        _ => bail!("give --add-pair, --remove-pair or --pairs N"),
    };
    let resp = api_call(&dir.root, "/api/scale", &body)?;
    println!("{resp}");
    Ok(ExitCode::SUCCESS)
}

/// POST to the running supervisor's API for DIR; a clear error when none runs.
fn api_call(dir: &std::path::Path, path: &str, body: &str) -> Result<String> {
    let dir = Dir::new(dir)?;
    let st = dir.load_state()?;
    let panel = st.as_ref().and_then(|s| s.panel.clone());
    let (Some(_), Some(panel)) = (dir.running_supervisor(), panel) else {
        bail!(
            "no supervisor is running for {:?}: this needs it (it owns the node processes); start it with `rubra up --dir {}`",
            dir.root,
            dir.root.display()
        );
    };
    let pw = dir
        .read_password()?
        .context("no credentials file in the data dir")?;
    let api = crate::httpc::Api::for_dir(&dir, &panel);
    let (code, resp) = api.request("POST", path, &pw, body)?;
    match code {
        200 => Ok(resp),
        202 => wait_op(&api, &pw, &resp),
        _ => {
            let msg = serde_json::from_str::<serde_json::Value>(&resp)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(resp);
            if code == 409 {
                bail!("the supervisor refused: {msg}");
            }
            bail!("supervisor answered {code}: {msg}")
        }
    }
}

/// Follow a background operation (202 {"op": ID}) until it ends, printing its phase and
/// slots moved to stderr; its result, or its error.
fn wait_op(api: &crate::httpc::Api, pw: &str, accepted: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(accepted).context("operation reply")?;
    let id = v["op"].as_str().context("operation reply without an id")?;
    let mut last = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (code, body) = api.request("GET", &format!("/api/ops/{id}"), pw, "")?;
        if code != 200 {
            bail!("supervisor answered {code}: {body}");
        }
        let j: serde_json::Value = serde_json::from_str(&body).context("operation status")?;
        let line = format!(
            "{}: {} {}/{} slots, {} keys, {} bytes sent",
            j["kind"].as_str().unwrap_or("?"),
            j["phase"].as_str().unwrap_or("?"),
            j["done"],
            j["total"],
            j["keys"],
            j["bytes"]
        );
        if line != last {
            eprintln!("rubra: {line}");
            last = line;
        }
        match j["status"].as_str() {
            Some("done") => return Ok(j["result"].to_string()),
            Some("failed") => bail!("{}", j["error"].as_str().unwrap_or("operation failed")),
            _ => {}
        }
    }
}

fn down(dir: &std::path::Path) -> Result<ExitCode> {
    let dir = Dir::new(dir)?;
    let wait_gone = |pid: u32| {
        let t0 = Instant::now();
        while pid_alive(pid) && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        !pid_alive(pid)
    };
    if let Some(pid) = dir.running_supervisor() {
        signal(pid, libc::SIGTERM);
        if !wait_gone(pid) {
            bail!("supervisor {pid} did not stop within 60s");
        }
        println!("stopped supervisor {pid} and its nodes");
        return Ok(ExitCode::SUCCESS);
    }
    // No supervisor: stop node processes recorded in the state file directly.
    let Some(st) = dir.load_state()? else {
        bail!("no cluster in {:?}", dir.root);
    };
    if let Some(d) = &st.docker {
        return crate::runtime_cli::stop(d, &st);
    }
    let pids: Vec<u32> = st
        .nodes
        .iter()
        .filter_map(|n| n.pid)
        .filter(|p| pid_alive(*p))
        .collect();
    for &p in &pids {
        signal(p, libc::SIGTERM);
    }
    for &p in &pids {
        if !wait_gone(p) {
            signal(p, libc::SIGKILL);
        }
    }
    println!(
        "no supervisor was running; stopped {} node processes",
        pids.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn new_state(a: &UpArgs) -> Result<State> {
    let external = match a.runtime.as_str() {
        "external" => Some(crate::docker::external::parse_nodes(&a.node_addrs)?),
        _ => None,
    };
    let ports: Vec<u16> = match &external {
        Some(m) => m.keys().copied().collect(),
        None => (0..a.nodes).map(|i| a.base_port + i as u16).collect(),
    };
    if external.is_some() && (ports.len() < 6 || !ports.len().is_multiple_of(2)) {
        bail!("--node-addrs: give an even number of nodes, at least 6");
    }
    let half = ports.len() / 2;
    let nodes = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| NodeRec {
            port,
            pair: (i % half) as u32,
            intent: if i < half {
                Intent::Primary
            } else {
                Intent::Replica
            },
            id: None,
            pid: None,
            status: NodeStatus::Active,
        })
        .collect();
    Ok(State {
        version: 1,
        base_port: a.base_port,
        formed: false,
        nodes,
        pending: None,
        panel: None,
        announce_ip: a.announce_ip.clone(),
        docker: (a.runtime == "docker").then(|| crate::state::DockerRec {
            prefix: a.docker_prefix.clone(),
            image: a.image.clone(),
        }),
        external,
        rotation: None,
        tls: a.tls,
    })
}

fn up(a: UpArgs) -> Result<ExitCode> {
    let dir = Dir::new(&a.dir)?;
    dir.create()?;
    if let Some(pid) = dir.running_supervisor() {
        bail!(
            "a supervisor (pid {pid}) is already running for {:?}; `rubra down --dir {}` first",
            dir.root,
            dir.root.display()
        );
    }
    let existing = dir.load_state()?;
    if a.runtime == "docker" && a.announce_ip.is_some() {
        bail!("--announce-ip is for local nodes: containers announce their own address");
    }
    if a.tls && a.runtime != "local" {
        bail!("--tls is for local nodes (the node image has no certificates yet)");
    }
    if a.tls && existing.as_ref().is_some_and(|s| !s.tls) {
        bail!("the cluster in this data dir was created without --tls; switching an existing cluster to TLS is not supported");
    }
    if existing.is_none() {
        if !a.nodes.is_multiple_of(2) || a.nodes < a.min_nodes || a.nodes > a.max_nodes {
            bail!(
                "--nodes must be an even number between {} and {} (got {})",
                a.min_nodes,
                a.max_nodes,
                a.nodes
            );
        }
        if usize::from(a.base_port) + a.nodes + 10000 > 65535 {
            bail!(
                "--base-port {} is too high (bus ports are port+10000)",
                a.base_port
            );
        }
    }
    // Password: the one already in DIR, else the given one (flag, RUBRA_PASSWORD or
    // RUBRA_PASSWORD_FILE as a compose file sets them), else a generated one.
    let given = a.password.clone().filter(|p| !p.is_empty());
    // A password from RUBRA_PASSWORD_FILE that a compose service generated is shown
    // once, like one rubra generates itself.
    let from_file = given.is_none() && std::env::var("RUBRA_PASSWORD_GENERATE").is_ok();
    let a = UpArgs {
        password: given.or_else(crate::node_entry::env_password),
        ..a
    };
    let (password, generated) = match dir.read_password()? {
        Some(pw) => {
            if a.password.as_deref().is_some_and(|p| p != pw) {
                bail!(
                    "{:?} already has a different password; omit --password",
                    dir.creds_path()
                );
            }
            (pw, from_file)
        }
        None => {
            if let Some(p) = &a.password {
                crate::state::validate_password(p).context("--password")?;
            }
            let gen = a.password.is_none() || from_file;
            let pw = a.password.clone().unwrap_or_else(generate_password);
            dir.write_password(&pw)?;
            (pw, gen)
        }
    };
    let resumed = existing.is_some();
    let mut state = match existing {
        Some(s) => {
            if s.active_ports().len() != a.nodes {
                eprintln!(
                    "rubra: existing cluster in {:?}: resuming its {} nodes",
                    dir.root,
                    s.active_ports().len()
                );
            }
            s
        }
        None => new_state(&a)?,
    };
    if state.docker.is_none() && state.external.is_none() {
        // Local nodes: every port they will bind must be free now (a resumed node whose
        // process still runs holds its own ports, so only the ones to start are checked).
        let to_start: Vec<u16> = state
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Active)
            .filter(|n| !n.pid.is_some_and(pid_alive))
            .map(|n| n.port)
            .collect();
        if let Some(w) = crate::ports::ephemeral_warning(&state.active_ports()) {
            eprintln!("rubra: {w}");
        }
        crate::ports::check_free(&to_start)?;
    }
    state.panel = Some(a.panel.clone());
    if a.announce_ip.is_some() && a.announce_ip != state.announce_ip {
        // New addresses for an existing cluster: nodes start announcing them, and the
        // supervisor re-introduces them to each other (see `form::reintroduce`).
        if resumed {
            eprintln!(
                "rubra: announce address changes from {} to {}",
                state.announce_ip.as_deref().unwrap_or("127.0.0.1"),
                a.announce_ip.as_deref().unwrap_or("127.0.0.1")
            );
        }
        state.announce_ip = a.announce_ip.clone();
    }
    dir.save_state(&state)?;
    let tls = if state.tls {
        let pki = crate::tlsgen::Pki::open_or_create(&dir.root)?;
        let client = crate::tls::client_config(&pki.ca_cert(), Some(&pki.client()?))?;
        Some((pki, client))
    } else {
        None
    };
    let opts = NodeOpts {
        server_bin: a.server_bin.clone().unwrap_or_else(default_server_bin),
        password: password.clone(),
        maxmemory: a.node_maxmemory.clone(),
        node_timeout: a.node_timeout,
        announce_ip: state.announce_ip.clone(),
        // A rotation whose grace period is still running: nodes started now accept the
        // old password too (the supervisor ends it at the deadline; see resume_rotation).
        also_accept: state
            .rotation
            .as_ref()
            .filter(|r| r.until > crate::supervisor::now_secs())
            .map(|r| r.old_sha256.clone()),
        tls: state.tls,
    };
    let auto = AutoscaleRun {
        cfg: AutoscaleConfig {
            high: a.scale_up_pct / 100.0,
            low: a.scale_down_pct / 100.0,
            up_after_secs: a.scale_up_secs,
            down_after_secs: a.scale_down_secs,
            min_nodes: a.min_nodes,
            max_nodes: a.max_nodes,
            cooldown_secs: a.cooldown_secs,
        },
        node_cpus: a.node_cpus.max(0.01),
        sample_secs: a.sample_secs.max(1),
    };
    let schedule = match &a.backup_every {
        Some(e) => Some(crate::supervisor::BackupSchedule {
            every_secs: crate::backup::parse_every(e).context("--backup-every")?,
            keep: a.keep.max(1),
            dir: match &a.backup_dir {
                Some(d) => Dir::new(d)?.root,
                None => dir.root.join("backups"),
            },
        }),
        None => None,
    };
    let sup_external = state.external.clone();
    let docker =
        crate::runtime_cli::docker_runtime(&state, &a.runtime, a.node_cpus, &a.node_maxmemory)?;
    let mut sup = Sup::new(dir.clone(), opts, state, auto, a.autoscale);
    if let Some(d) = docker {
        sup = sup.with_docker(d);
    }
    if let Some(s) = schedule {
        sup = sup.with_backups(s);
    }
    if let Some((pki, client)) = tls {
        sup = sup.with_tls(pki, client);
    }
    if let Some(names) = sup_external.clone() {
        sup = sup.with_external(crate::docker::external::ExternalRt::new(names));
    }
    let sup = Arc::new(sup);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(supervise(sup, a, password, generated, resumed))
}

async fn supervise(
    sup: Arc<Sup>,
    a: UpArgs,
    password: String,
    generated: bool,
    resumed: bool,
) -> Result<ExitCode> {
    // Bind the API first: a taken port is reported before any node starts.
    let listener = tokio::net::TcpListener::bind(&a.panel)
        .await
        .with_context(|| format!("bind the API on {}", a.panel))?;
    // With --tls the panel serves HTTPS with a certificate from the cluster's CA.
    let https = match &sup.tls {
        Some((pki, _)) => {
            let host = a.panel.rsplit_once(':').map_or("", |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let names = if matches!(host, "0.0.0.0" | "::" | "") {
                ""
            } else {
                host
            };
            Some(crate::tls::panel_server_config(&pki.panel(names)?)?)
        }
        None => None,
    };
    std::fs::write(sup.dir.pid_path(), std::process::id().to_string())?;
    // Signals: stop nodes cleanly whatever phase we are in.
    let s2 = sup.clone();
    tokio::spawn(async move {
        wait_signal().await;
        eprintln!("rubra: stopping nodes");
        let _ = tokio::task::spawn_blocking(move || s2.stop_all()).await;
        std::process::exit(0);
    });
    let s2 = sup.clone();
    let started = tokio::task::spawn_blocking(move || s2.start()).await?;
    if let Err(e) = started {
        let s2 = sup.clone();
        let _ = tokio::task::spawn_blocking(move || s2.stop_all()).await;
        return Err(e.context("starting the cluster"));
    }
    let s2 = sup.clone();
    let snap =
        tokio::task::spawn_blocking(move || crate::panel::nodes::collect(&s2.ctx())).await??;
    print!("{}", crate::status::render(&snap.nodes));
    let first = snap
        .nodes
        .iter()
        .map(|r| r.port)
        .min()
        .unwrap_or(a.base_port);
    // Clients connect where nodes announce themselves (redirects point there too).
    let host = match (&sup.docker, &sup.opts.announce_ip) {
        (Some(d), _) => format!("-h {} ", d.ips().get(&first).map_or("?", String::as_str)),
        (None, _) if sup.external.is_some() => {
            let ips = sup.external.as_ref().map(|e| e.ips()).unwrap_or_default();
            format!("-h {} ", ips.get(&first).map_or("?", String::as_str))
        }
        (None, Some(ip)) => format!("-h {ip} "),
        (None, None) => String::new(),
    };
    // TLS: the CA to trust, and the client certificate nodes require.
    let tls_args = match &sup.tls {
        Some((pki, _)) => {
            let c = pki.client()?;
            format!(
                "--tls --cacert {} --cert {} --key {} ",
                pki.ca_cert().display(),
                c.cert.display(),
                c.key.display()
            )
        }
        None => String::new(),
    };
    if generated {
        println!(
            "password: {password}   (saved in {})",
            sup.dir.creds_path().display()
        );
        println!("connect:  redis-cli {tls_args}-c {host}-p {first} -a {password}");
    } else {
        println!("password: see {}", sup.dir.creds_path().display());
        println!(
            "connect:  redis-cli {tls_args}-c {host}-p {first} -a \"$(grep ^password= {} | cut -d= -f2-)\"",
            sup.dir.creds_path().display()
        );
    }
    let scheme = if https.is_some() { "https" } else { "http" };
    println!(
        "panel:    {scheme}://{}/ (user admin, the password)",
        a.panel
    );
    if let Some((pki, _)) = &sup.tls {
        println!(
            "          (certificate from the cluster's CA: trust {})",
            pki.ca_cert().display()
        );
    }
    println!(
        "api:      {scheme}://{}/api/cluster (Basic admin:PASSWORD or Bearer PASSWORD)",
        a.panel
    );
    println!(
        "rubra: cluster {} ({} nodes); supervising, Ctrl-C to stop",
        if resumed { "resumed" } else { "ready" },
        snap.nodes.len()
    );
    sup.event(
        "up",
        serde_json::json!({"nodes": snap.nodes.len(), "resumed": resumed}),
    );
    sup.resume_rotation();
    if let Some(every) = sup.backups.as_ref().map(|b| b.every_secs) {
        let s2 = sup.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(every));
            s2.scheduled_backup();
        });
    }
    // Background threads: monitor, autoscaler, unfinished scale step.
    let s2 = sup.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        s2.monitor_tick();
    });
    let s2 = sup.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(s2.auto.sample_secs));
        s2.autoscale_tick();
    });
    let s2 = sup.clone();
    std::thread::spawn(move || loop {
        s2.metrics_tick();
        std::thread::sleep(crate::panel::history::INTERVAL);
    });
    let s2 = sup.clone();
    std::thread::spawn(move || {
        if let Err(e) = s2.resume_pending() {
            s2.event(
                "resume_error",
                serde_json::json!({"error": format!("{e:#}")}),
            );
        }
    });
    let (s2, sock) = (sup.clone(), sup.dir.api_socket_path());
    tokio::spawn(async move {
        // Without it (e.g. a data directory path too long for a socket) the CLI uses TCP.
        if let Err(e) = crate::api::serve_local(sock.clone(), s2).await {
            eprintln!("rubra: no API socket at {}: {e}", sock.display());
        }
    });
    match https {
        Some(cfg) => {
            crate::api::serve_https(crate::tls::HttpsListener::new(listener, cfg)?, sup).await?
        }
        None => crate::api::serve(listener, sup).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

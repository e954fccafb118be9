//! `rubra up`: create or resume a cluster and supervise it in the foreground.

use crate::autoscale::AutoscaleConfig;
use crate::procs::{default_server_bin, NodeOpts};
use crate::state::{generate_password, pid_alive, Dir, Intent, NodeRec, NodeStatus, State};
use crate::supervisor::{AutoscaleRun, Supervisor};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `rubra up`'s options.
#[derive(Args, Debug)]
pub(super) struct UpArgs {
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
    /// Docker runtime on several hosts: `NAME=unix:///path/docker.sock,...` (at least
    /// two). The two nodes of a pair never share a host, primaries spread evenly, and the
    /// nodes of a host that stops answering are re-created on the others. Default: the
    /// one engine of DOCKER_HOST or /var/run/docker.sock.
    #[arg(long, default_value = "")]
    docker_hosts: String,
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
    let mut nodes: Vec<NodeRec> = ports
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
            host: None,
        })
        .collect();
    let hosts = crate::docker::parse_hosts(&a.docker_hosts)?;
    if a.runtime != "docker" && !hosts.is_empty() {
        bail!("--docker-hosts is for --runtime docker");
    }
    if hosts.len() == 1 {
        bail!("--docker-hosts: give at least two hosts (one engine: DOCKER_HOST)");
    }
    if hosts.len() > 1 {
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        let placed = crate::placement::place(
            &names,
            &crate::runtime_cli::wants(&nodes),
            &Default::default(),
        )?;
        for p in placed {
            if let Some(n) = nodes.iter_mut().find(|n| n.port == p.port) {
                n.host = Some(p.host);
            }
        }
    }
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
            hosts,
        }),
        external,
        rotation: None,
        tls: a.tls,
    })
}

/// Start (or resume) the cluster in `a.dir` and supervise it until a signal.
pub(super) fn up(a: UpArgs) -> Result<ExitCode> {
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
    if resumed && !a.docker_hosts.is_empty() {
        // The same hosts may be reached at new endpoints (a re-forwarded socket); which
        // hosts there are is fixed at creation, since nodes are placed on them.
        let given = crate::docker::parse_hosts(&a.docker_hosts)?;
        match state.docker.as_mut() {
            Some(d)
                if d.hosts.len() == given.len()
                    && d.hosts.iter().zip(&given).all(|(x, y)| x.name == y.name) =>
            {
                d.hosts = given;
            }
            _ => bail!(
                "--docker-hosts: the cluster in this data dir was created with other Docker hosts"
            ),
        }
    }
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
    let mut sup = Supervisor::new(dir.clone(), opts, state, auto, a.autoscale);
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
    sup: Arc<Supervisor>,
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
        // A resumed cluster was serving clients before this supervisor came: a failed
        // adoption leaves its nodes running (the next `rubra up` adopts them again, `rubra
        // down` stops them) instead of taking the data store down with the supervisor.
        if resumed {
            eprintln!("rubra: the nodes keep running; `rubra up` again adopts them, `rubra down` stops them");
        } else {
            let s2 = sup.clone();
            let _ = tokio::task::spawn_blocking(move || s2.stop_all()).await;
        }
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
        std::thread::sleep(Duration::from_secs(2));
        s2.acl_sync_tick();
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

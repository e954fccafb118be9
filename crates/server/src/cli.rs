//! The node's command line, as a library function so the `rubra` tool can run a node from
//! its own executable (the embedded default: one binary to install, one to run).

use crate::{config::Config, server};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// redis-server's usage text, printed to stderr for `-h`/`--help`.
const USAGE: &str = "Usage: ./rubra-server [/path/to/redis.conf] [options] [-]
       ./rubra-server - (read config from stdin)
       ./rubra-server -v or --version
       ./rubra-server -h or --help
       ./rubra-server --test-memory <megabytes>
       ./rubra-server --check-system

Examples:
       ./rubra-server (run the server with default conf)
       echo 'maxmemory 128mb' | ./rubra-server -
       ./rubra-server /etc/redis/6379.conf
       ./rubra-server --port 7777
       ./rubra-server --port 7777 --replicaof 127.0.0.1 8888
       ./rubra-server /etc/myredis.conf --loglevel verbose -
       ./rubra-server /etc/myredis.conf --loglevel verbose

Sentinel mode is not supported.
";

/// What the command line asks for besides running a node, as redis-server reads its first
/// argument: `-v`/`--version`, `-h`/`--help`, `--test-memory MB`, `--check-system`. Returns
/// the exit code when the process should stop here.
fn special_option(args: &[String]) -> Option<i32> {
    match args.first()?.as_str() {
        "-v" | "--version" => {
            println!(
                "Redis server v={} sha=00000000:0 malloc=jemalloc-5.3.1 bits=64 build=rubra-{}",
                crate::script::VERSION,
                env!("CARGO_PKG_VERSION")
            );
            Some(0)
        }
        "-h" | "--help" => {
            eprint!("{USAGE}");
            Some(1)
        }
        "--test-memory" => {
            if args.len() == 2 {
                // atoi: leading digits, 0 if none.
                let digits: String = args[1].chars().take_while(|c| c.is_ascii_digit()).collect();
                let mb = digits.parse().unwrap_or(0);
                Some(crate::syscheck::test_memory(mb, 50))
            } else {
                eprint!("Please specify the amount of memory to test in megabytes.\nExample: ./rubra-server --test-memory 4096\n\n");
                Some(1)
            }
        }
        "--check-system" => Some(crate::syscheck::check_system()),
        _ => None,
    }
}

/// `-` as the first or last argument: directives read from stdin, applied after the config
/// file and before the other command-line options (Redis's precedence). They are turned
/// into `--name value` options so the one option parser applies them.
fn with_stdin_config(mut args: Vec<String>) -> Result<Vec<String>, String> {
    let last = args.len().saturating_sub(1);
    let Some(pos) = args
        .iter()
        .enumerate()
        .position(|(i, a)| a == "-" && (i == 0 || i == last))
    else {
        return Ok(args);
    };
    args.remove(pos);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| format!("Fatal error, can't read config from stdin: {e}"))?;
    let mut options = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = rubra_resp::split_args(line.as_bytes())
            .ok_or_else(|| format!("Unbalanced quotes in configuration line: {line}"))?;
        for (i, w) in words.iter().enumerate() {
            let w = String::from_utf8_lossy(w).into_owned();
            options.push(if i == 0 { format!("--{w}") } else { w });
        }
    }
    let at = usize::from(args.first().is_some_and(|a| !a.starts_with("--")));
    args.splice(at..at, options);
    Ok(args)
}

/// Runs a node with redis-server style arguments (`[config-file] [--name value ...] [-]`)
/// until it is stopped; returns the exit code for start-up failures and for the utility
/// options (`--version`, `--help`, `--test-memory`, `--check-system`).
pub fn run_node(args: Vec<String>) -> i32 {
    if let Some(code) = special_option(&args) {
        return code;
    }
    let args = match with_stdin_config(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    crate::config::follow_dir();
    let mut config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let log_writer = match log_writer(&config) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    tracing_subscriber::fmt()
        .with_ansi(log_writer.1)
        .with_writer(log_writer.0)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUBRA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // A log line that cannot be written (the log on a full disk) is dropped, as
        // Redis's serverLog drops it. Reporting it goes through eprintln!, which panics
        // when stderr fails, and that panic unwound out of whatever was logging: an AOF
        // append under `appendfsync always` never reached its exit, and the node ran on.
        .log_internal_errors(false)
        .init();
    fit_open_files(&mut config);
    let threads = config
        .worker_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    // Timers live on a thread of their own, so the serving runtime has no time driver to
    // run at every wake-up (see `timer`).
    if let Err(e) = crate::timer::start() {
        eprintln!("cannot start the timer thread: {e}");
        std::process::exit(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        // Named for `top -H` and perf (tokio's blocking-pool threads, made on demand, share it).
        .thread_name("rubra-worker")
        .enable_io()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let listeners = match server::bind(&config).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "Could not create server TCP listening socket {}:{}: {e}",
                    config.get_value("bind"),
                    config.port
                );
                // Redis's closing line, which tools wait for to tell a busy port from a
                // slow start (redis's own test harness retries another port on it).
                eprintln!("Failed listening on port {} (TCP), aborting.", config.port);
                std::process::exit(1);
            }
        };
        let (tls_config, tls_listeners) = match crate::tls::start(&config).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let unix = match server::bind_unix(&config) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("Failed opening Unix socket: {e}");
                std::process::exit(1);
            }
        };
        if listeners.is_empty() && tls_listeners.is_empty() && unix.is_none() {
            eprintln!("Configured to not listen anywhere, exiting.");
            std::process::exit(1);
        }
        // Redis's start-up logo carries " PID: <pid>", printed once the ports are bound;
        // tools (redis's own test harness) wait for it before anything else.
        tracing::info!("Listening, PID: {}", std::process::id());
        let port = config.port;
        // ACL users and the data are loaded before the node says it is ready, as Redis
        // does: a start that fails on them never claims to accept connections.
        let srv = match server::Server::new(config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        tracing::info!(port, threads, "Ready to accept connections");
        if let Some(tls) = tls_config {
            srv.store.lock().tls.install(tls);
        }
        server::run(srv, listeners, tls_listeners, unix).await;
    });
    0
}

/// Where log lines go: `logfile` (relative to `dir`, as Redis opens it after chdir to
/// `dir`), appended to, or stderr when it is empty. Redis's test harnesses read the log
/// from that file (cluster tests look for crash reports there). The flag says whether
/// colours may be used (not in a file).
fn log_writer(config: &Config) -> Result<(BoxMakeWriter, bool), String> {
    let name = config.get_value("logfile");
    if name.is_empty() {
        return Ok((BoxMakeWriter::new(std::io::stderr), true));
    }
    let path = std::path::Path::new(config.get_value("dir")).join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("Can't open the log file: {e}"))?;
    Ok((BoxMakeWriter::new(std::sync::Mutex::new(file)), false))
}

/// Raises the open-files limit for `maxclients` as Redis does at start-up; what the
/// system does not allow lowers maxclients (CONFIG GET and INFO show the lower value),
/// and a limit that leaves no room for a client stops the server.
fn fit_open_files(config: &mut Config) {
    let asked = config.maxclients.min(u32::MAX as usize) as u32;
    let fits = crate::config::open_files::fit(asked);
    if fits < 1 {
        eprintln!(
            "Your current 'ulimit -n' is not enough for the server to start. Please increase your open file limit to at least {}. Exiting.",
            u64::from(asked) + 32
        );
        std::process::exit(1);
    }
    if fits != i64::from(asked) {
        config.set("maxclients", &fits.to_string(), true).ok();
    }
}

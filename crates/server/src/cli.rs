//! The node's command line, as a library function so the `rubra` tool can run a node from
//! its own executable (the embedded default: one binary to install, one to run).

use crate::{config::Config, server};

/// Runs a node with redis-server style arguments (`[config-file] [--name value ...]`) until
/// it is stopped; returns the exit code for start-up failures.
pub fn run_node(args: Vec<String>) -> i32 {
    if args.iter().any(|a| a == "-v" || a == "--version") {
        println!(
            "Rubra server v={} (Redis 7.0 compatible)",
            env!("CARGO_PKG_VERSION")
        );
        return 0;
    }
    let config = match Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUBRA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
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
                std::process::exit(1);
            }
        };
        tracing::info!(port = config.port, threads, "Ready to accept connections");
        let srv = match server::Server::new(config) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        server::run(srv, listeners).await;
    });
    0
}

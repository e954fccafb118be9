//! The `rubra` binary; everything lives in the library so tests can reach it.
//! `rubra server [config] [--name value ...]` runs a cluster node (rubra-server embedded),
//! which is how `rubra up` starts its nodes by default.

use rubra_server::alloc::CountingAlloc;

/// Nodes run in this executable: their INFO memory figures come from this allocator.
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(rubra_manager::procs::EMBEDDED_NODE_ARG) {
        // Container runs: `--cluster-announce-ip auto` and the password from the env.
        let args = match rubra_manager::node_entry::prepare(args.collect()) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("rubra server: {e}");
                std::process::exit(1);
            }
        };
        std::process::exit(rubra_server::cli::run_node(args));
    }
    rubra_manager::cli::main()
}

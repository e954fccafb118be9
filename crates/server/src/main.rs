//! The rubra-server binary: `rubra-server [config-file] [--name value ...]`.

use rubra_server::alloc::CountingAlloc;

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rubra_server::cli::run_node(args));
}

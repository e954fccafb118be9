//! The `rubra` binary; everything lives in the library so tests can reach it.

fn main() -> std::process::ExitCode {
    rubra_manager::cli::main()
}

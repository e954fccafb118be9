//! rubra-server as a library: the binary is a thin `main` over [`cli::run_node`], and the
//! `rubra` tool embeds the same node (one executable to install). Only those two entry
//! points are public; every subsystem below is private to the crate.

pub mod alloc;
pub mod cli;
#[doc(hidden)]
pub mod fuzzing;

mod acl;
mod client;
mod cluster;
mod cmd;
mod config;
mod conn;
mod exec;
mod persist;
mod repl;
mod script;
mod server;
mod shutdown;
mod store;
mod syscheck;
mod timer;
mod tls;

/// An I/O error as C's strerror words it ("No space left on device"), for the error texts
/// Redis builds from it (MISCONF, CONFIG SET dir, ACL LOAD). Rust's Display adds
/// " (os error N)".
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

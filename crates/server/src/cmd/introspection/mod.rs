//! Server and introspection commands: INFO, CONFIG, CLIENT, COMMAND, TIME, LASTSAVE, DEBUG,
//! MEMORY USAGE, SHUTDOWN, SLOWLOG, LATENCY, MONITOR, MODULE.

use super::args::{float, int, is};
use super::{err, CmdResult, Command, Ctx};
use crate::alloc::{cpu_times, rss_bytes, used_memory};
use crate::cmd::flags::*;
use bytes::Bytes;
use rubra_resp::{Reply, VerbatimFormat};
use std::fmt::Write;

mod client;
mod command;
mod config;
mod debug;
mod failover;
mod info;
mod latency;
mod lolwut;
mod module;
mod monitor;
mod server;
mod slowlog;
mod tracking;
pub(crate) use client::live_line;
use client::*;
use command::*;
use config::*;
use failover::failover;
use info::*;
use latency::latency;
use lolwut::lolwut;
use module::module;
use monitor::monitor;
pub(crate) use monitor::reset_client;
use server::*;
use slowlog::slowlog;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("info", -1, LOADING | STALE, (0, 0, 0), "server", info),
    Command::new("config", -2, ADMIN | NOSCRIPT | LOADING | STALE | CONTAINER, (0, 0, 0), "server", config),
    Command::new("client", -2, ADMIN | NOSCRIPT | LOADING | STALE | CONTAINER, (0, 0, 0), "connection", client),
    Command::new("command", -1, LOADING | STALE | CONTAINER, (0, 0, 0), "server", command),
    Command::new("time", 1, LOADING | STALE | FAST, (0, 0, 0), "server", time),
    Command::new("lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), "server", lastsave),
    Command::new("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", debug),
    Command::new("memory", -2, READONLY | CONTAINER, (0, 0, 0), "server", memory),
    Command::new("slowlog", -2, ADMIN | LOADING | STALE | CONTAINER, (0, 0, 0), "server", slowlog),
    Command::new("latency", -2, ADMIN | NOSCRIPT | LOADING | STALE | CONTAINER, (0, 0, 0), "server", latency),
    Command::new("failover", -1, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "server", failover),
    Command::new("module", -2, ADMIN | NOSCRIPT | CONTAINER, (0, 0, 0), "server", module),
    Command::new("lolwut", -1, READONLY | FAST, (0, 0, 0), "server", lolwut),
    Command::new("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", monitor),
    Command::new("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, (0, 0, 0), "server", shutdown),
];

/// Sets the client's name (CLIENT SETNAME, HELLO SETNAME): no spaces or newlines allowed.
pub(crate) fn set_client_name(ctx: &mut Ctx, name: Bytes) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    if let Some(h) = ctx.store.clients.map.get_mut(&ctx.client.id) {
        h.info.name = if name.is_empty() { None } else { Some(name) };
    }
    Ok(Reply::OK)
}

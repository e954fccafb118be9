//! Serving a connection while a busy script holds the store (see `busy`).
//!
//! Redis keeps processing commands during a timed-out script: a command is looked up and
//! checked as always (unknown command, arity, authentication, MULTI restrictions), then
//! refused with -BUSY unless it is flagged allow-busy. MULTI, DISCARD, WATCH and UNWATCH
//! are, so that a pipelined transaction is never cut in half: a command refused inside
//! MULTI flags the transaction, and an EXEC refused aborts it. Inside MULTI the other
//! allow-busy commands (SCRIPT KILL, FUNCTION STATS, ...) are queued like any command.
//! This module does the same with the connection's own state; what needs the store
//! (WATCH's keys) is queued in `BusyState` and applied when the run ends.

use super::busy::{BusyState, WatchOp};
use crate::client::ClientState;
use crate::cmd::args::is;
use crate::cmd::{err, flags, Command};
use bytes::{Buf, Bytes};
use rubra_resp::{parse_request, Limits, Parsed, Reply};
use std::time::Duration;

/// What serving a batch during a busy script ended with.
pub(crate) enum BusyOutcome {
    /// Everything complete in the buffer was answered.
    Drained,
    /// QUIT or a protocol error: close after writing.
    Close,
    /// The script ended while the batch was served: the rest of the buffer (complete
    /// requests included) must go through the ordinary path, under the store lock.
    Again,
}

/// What one request served during a busy script came to.
enum Served {
    Reply(Reply),
    /// QUIT: reply OK and close.
    Quit,
    /// The script ended before the request could take effect: leave it in the buffer.
    Again,
}

/// Answers the complete requests in `inbuf` while a busy script holds the store, as
/// Redis's processCommand answers during a timed-out script.
pub(crate) fn serve_while_busy(
    busy: &BusyState,
    client: &mut ClientState,
    inbuf: &mut bytes::BytesMut,
    out: &mut Vec<u8>,
) -> BusyOutcome {
    let resp3 = client.resp3;
    serve_requests(busy, inbuf, out, resp3, |args| {
        serve_one(busy, client, args)
    })
}

/// The request loop of the busy paths: parses each complete request in `inbuf` and
/// answers it with `serve`, until the buffer is drained, the script ends (`Again`: the
/// rest goes to the normal path) or the connection is to close.
fn serve_requests(
    busy: &BusyState,
    inbuf: &mut bytes::BytesMut,
    out: &mut Vec<u8>,
    resp3: bool,
    mut serve: impl FnMut(&[Bytes]) -> Served,
) -> BusyOutcome {
    loop {
        if !busy.is_busy() {
            return BusyOutcome::Again;
        }
        match parse_request(inbuf, &Limits::default()) {
            Err(e) => {
                Reply::error(e.message()).encode(out, resp3);
                return BusyOutcome::Close;
            }
            Ok(Parsed::Incomplete { .. }) => return BusyOutcome::Drained,
            Ok(Parsed::Complete(args, used)) => {
                if args.is_empty() {
                    inbuf.advance(used);
                    continue;
                }
                match serve(&args) {
                    Served::Again => return BusyOutcome::Again,
                    Served::Quit => {
                        inbuf.advance(used);
                        Reply::OK.encode(out, resp3);
                        return BusyOutcome::Close;
                    }
                    Served::Reply(reply) => {
                        inbuf.advance(used);
                        reply.encode(out, resp3);
                    }
                }
            }
        }
    }
}

/// Redis's allow-busy commands (7.0's command table). AUTH, HELLO, RESET and REPLCONF are
/// among them but need the store: outside MULTI they still get -BUSY here.
fn allow_busy(cmd: &Command, args: &[Bytes]) -> bool {
    let sub = |name: &str| args.get(1).is_some_and(|a| is(a, name));
    match cmd.name {
        "multi" | "discard" | "watch" | "unwatch" | "quit" | "reset" | "auth" | "hello"
        | "replconf" | "shutdown" => true,
        "script" => sub("kill"),
        "function" => sub("kill") || sub("stats"),
        _ => false,
    }
}

/// A rejected command inside MULTI dooms the transaction (EXECABORT).
fn fail_multi(client: &mut ClientState) {
    if client.multi.is_some() {
        client.multi_failed = true;
    }
}

/// Redis's rejectCommand: the transaction is flagged; a refused EXEC discards it (watches
/// included) and answers EXECABORT with the reason.
fn reject(busy: &BusyState, client: &mut ClientState, cmd: &Command, e: &'static str) -> Served {
    if cmd.name != "exec" {
        fail_multi(client);
        return Served::Reply(Reply::err(e));
    }
    if busy.defer(WatchOp::Unwatch { client: client.id }).is_err() {
        return Served::Again;
    }
    client.multi = None;
    client.multi_failed = false;
    let reason = e.strip_prefix("ERR ").unwrap_or(e);
    Served::Reply(Reply::error(format!(
        "EXECABORT Transaction discarded because of: {reason}"
    )))
}

/// One request during a busy script.
fn serve_one(busy: &BusyState, client: &mut ClientState, args: &[Bytes]) -> Served {
    let Some(cmd) = crate::cmd::lookup(&args[0]) else {
        fail_multi(client);
        return Served::Reply(err::unknown_command(args));
    };
    if !cmd.arity_ok(args.len()) {
        fail_multi(client);
        return Served::Reply(err::wrong_args(cmd.name));
    }
    if let Some(fault) = crate::acl::subcommand_fault(cmd, args) {
        fail_multi(client);
        return Served::Reply(fault.reply(cmd, args));
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) {
        return reject(busy, client, cmd, "NOAUTH Authentication required.");
    }
    if client.multi.is_some() && !cmd.has(flags::TX_CONTROL) && cmd.has(flags::NO_MULTI) {
        fail_multi(client);
        return Served::Reply(err::NOT_ALLOWED_IN_MULTI);
    }
    if busy.loading.load(std::sync::atomic::Ordering::Relaxed) && !cmd.has(flags::LOADING) {
        return reject(busy, client, cmd, super::busy::LOADING);
    }
    if !allow_busy(cmd, args) {
        return reject(busy, client, cmd, busy.busy_error());
    }
    if cmd.name == "quit" {
        return Served::Quit;
    }
    if let Some(queue) = client.multi.as_mut() {
        if !matches!(cmd.name, "multi" | "discard" | "watch" | "reset") {
            if !client.multi_failed {
                queue.push(args.to_vec());
            }
            return Served::Reply(Reply::status("QUEUED"));
        }
    }
    match cmd.name {
        "multi" => {
            if client.multi.is_some() {
                return Served::Reply(Reply::err("ERR MULTI calls can not be nested"));
            }
            client.multi = Some(Vec::new());
            client.multi_failed = false;
            Served::Reply(Reply::OK)
        }
        "discard" => {
            if client.multi.is_none() {
                return Served::Reply(Reply::err("ERR DISCARD without MULTI"));
            }
            if busy.defer(WatchOp::Unwatch { client: client.id }).is_err() {
                return Served::Again;
            }
            client.multi = None;
            client.multi_failed = false;
            Served::Reply(Reply::OK)
        }
        "watch" => {
            if client.multi.is_some() {
                return Served::Reply(Reply::err("ERR WATCH inside MULTI is not allowed"));
            }
            let op = WatchOp::Watch {
                client: client.id,
                db: client.db,
                keys: args[1..].to_vec(),
                dirty: false,
            };
            match busy.defer(op) {
                Ok(()) => Served::Reply(Reply::OK),
                Err(_) => Served::Again,
            }
        }
        "unwatch" => match busy.defer(WatchOp::Unwatch { client: client.id }) {
            Ok(()) => Served::Reply(Reply::OK),
            Err(_) => Served::Again,
        },
        "script" | "function" if args.len() == 2 && is(&args[1], "kill") => {
            match busy.request_kill(cmd.name == "script") {
                Ok(()) => Served::Reply(Reply::OK),
                Err(e) => Served::Reply(Reply::err(e)),
            }
        }
        "function" => Served::Reply(function_stats(busy)),
        "shutdown" if args.len() == 2 && is(&args[1], "nosave") => {
            tracing::warn!("SHUTDOWN NOSAVE while a script is busy: exiting");
            std::process::exit(0);
        }
        // SHUTDOWN without NOSAVE is refused during a script (without flagging MULTI);
        // AUTH, HELLO, RESET and REPLCONF need the store.
        _ => Served::Reply(Reply::err(busy.busy_error())),
    }
}

/// FUNCTION STATS during a busy script: the running function, its command and how long it
/// has run, and the engine's counts. A running EVAL script is refused, as in Redis.
fn function_stats(busy: &BusyState) -> Reply {
    use std::sync::atomic::Ordering;
    if busy.is_eval.load(Ordering::Relaxed) {
        return Reply::err(super::busy::BUSY_EVAL);
    }
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let command = busy
        .command
        .lock()
        .iter()
        .cloned()
        .map(Reply::Bulk)
        .collect();
    let running = Reply::Map(vec![
        (bulk("name"), bulk(&busy.name.lock())),
        (bulk("command"), Reply::Array(command)),
        (bulk("duration_ms"), Reply::Int(busy.elapsed_ms() as i64)),
    ]);
    Reply::Map(vec![
        (bulk("running_script"), running),
        (
            bulk("engines"),
            super::functions::engine_stats(
                busy.libraries.load(Ordering::Relaxed) as usize,
                busy.functions.load(Ordering::Relaxed) as usize,
            ),
        ),
    ])
}

/// A new connection arriving while a busy script holds the store: it cannot be registered
/// yet, but it is answered as Redis answers (-BUSY, SCRIPT KILL, ...) until the script
/// ends. Returns false if the connection must be closed.
pub(crate) async fn serve_unadmitted(
    busy: &BusyState,
    stream: &mut impl crate::conn::ClientStream,
    inbuf: &mut bytes::BytesMut,
) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Not registered yet: no id for watches, and a transaction would outlive this state.
    // The connection is served as a default client outside MULTI, with MULTI refused.
    while busy.is_busy() {
        let mut out = Vec::new();
        let outcome = serve_unregistered(busy, inbuf, &mut out);
        if !out.is_empty()
            && (stream.write_all(&out).await.is_err() || stream.flush().await.is_err())
        {
            return false;
        }
        match outcome {
            BusyOutcome::Close => return false,
            BusyOutcome::Again => return true,
            BusyOutcome::Drained => {}
        }
        tokio::select! {
            read = stream.read_buf(inbuf) => match read {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            },
            _ = crate::timer::sleep(Duration::from_millis(10)) => {}
        }
    }
    true
}

/// `serve_while_busy` for a connection not registered yet: commands that would change
/// its transaction or watch state (it has none to keep) get -BUSY, as before admission.
fn serve_unregistered(
    busy: &BusyState,
    inbuf: &mut bytes::BytesMut,
    out: &mut Vec<u8>,
) -> BusyOutcome {
    serve_requests(busy, inbuf, out, false, |args| {
        let stateful = crate::cmd::lookup(&args[0])
            .is_some_and(|c| matches!(c.name, "multi" | "discard" | "watch" | "unwatch" | "exec"));
        if stateful {
            return Served::Reply(Reply::err(busy.busy_error()));
        }
        let mut client = ClientState {
            authenticated: true,
            ..ClientState::default()
        };
        serve_one(busy, &mut client, args)
    })
}

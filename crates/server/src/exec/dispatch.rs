//! The one path every command takes: lookup -> arity -> auth -> context checks
//! (transaction, subscribed, OOM) -> execute -> signal modified keys -> serve clients whose
//! blocking keys became ready. Only here do statuses become RESP errors for the client.

use crate::client::ClientState;
use crate::cmd::ctx::{Adoption, BigArgs};
use crate::cmd::{self, err, flags, BlockRequest, Command, Ctx};
use crate::exec::blocking::Waiter;
use crate::exec::{evict, observe};
use crate::store::{now_ms, Store};
use bytes::Bytes;
use rubra_resp::Reply;

/// What the connection must do after a command.
#[derive(Debug)]
pub(crate) enum Flow {
    Continue,
    /// The command blocked: wait for an unblock message or the timeout.
    Block(BlockRequest),
    /// Close after writing what was produced (QUIT, fatal errors).
    Close,
}

/// Executes one request from `client` and appends its reply to `out`.
pub(crate) fn execute(
    store: &mut Store,
    client: &mut ClientState,
    mut args: Vec<Bytes>,
    out: &mut Vec<u8>,
) -> Flow {
    let commands_before = store.stats.total_commands;
    let found = cmd::lookup(&args[0]);
    client.last_cmd = found.map(|c| crate::exec::stats::stat_name(c, &args));
    let argv_mem = args.iter().map(|a| a.len()).sum();
    client.argv_mem = argv_mem;
    let scope = store.clients.begin_own(client.id);
    // The primary's commands see its keys as it does (see `Db::primary_view`).
    let primary_view = client.is_primary_link;
    if primary_view {
        store.set_primary_view(true);
    }
    let (reply, block, adopted) = run(store, client, found, &args, argv_mem, out);
    if !encodes_quickly(&reply) {
        store.clock.forget();
    }
    if primary_view {
        store.set_primary_view(false);
    }
    if let Some(big) = adopted {
        adopt_values(store, &mut args, big.pending);
    }
    client.argv_mem = 0;
    if store.stats.total_commands == commands_before && block.is_none() {
        // Refused before it ran: Redis counts the error and the command's rejected_calls.
        observe::rejected(store, &args, &reply);
    }
    let retry_args = store.blocking.take_retry_args();
    if store.blocking.has_ready() {
        serve_blocked(store);
        store.clock.forget();
    }
    let own = store.clients.end_own(scope);
    match block {
        Some(req) => {
            // Registered under the same lock as the failed attempt: no write can slip in
            // between, so no wake-up is lost.
            store.blocking.block(Waiter {
                client: client.id,
                db: client.db,
                keys: req.keys.clone(),
                args: retry_args.unwrap_or(args),
                resp3: client.resp3,
            });
            encode_own(own, out, client.resp3);
            Flow::Block(req)
        }
        None => {
            // CLIENT REPLY OFF|SKIP: the command ran, its reply is dropped.
            if !client.reply_suppressed() {
                reply.encode(out, client.resp3);
            }
            encode_own(own, out, client.resp3);
            client.recycle_args(args);
            client.after_command();
            if client.closing {
                Flow::Close
            } else {
                Flow::Continue
            }
        }
    }
}

/// Whether a reply takes next to no time to encode (no big string, at most a few short
/// elements): only then may its command's end time start the next command (`BatchClock`).
fn encodes_quickly(reply: &Reply) -> bool {
    const SHORT: usize = 4096;
    fn scalar(r: &Reply) -> bool {
        match r {
            Reply::Bulk(b) | Reply::Raw(b) => b.len() <= SHORT,
            Reply::Status(t) | Reply::Error(t) => t.len() <= SHORT,
            Reply::Int(_) | Reply::Nil | Reply::NilArray | Reply::Double(_) | Reply::Bool(_) => {
                true
            }
            _ => false,
        }
    }
    match reply {
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            items.len() <= 16 && items.iter().all(scalar)
        }
        other => scalar(other),
    }
}

/// The pushes a client's own command caused for it (see `ClientRegistry::begin_own`),
/// after its reply. Pushes are sent whatever CLIENT REPLY says, as in Redis.
/// Inlined to the emptiness test: almost every command causes none (a call and the drop of
/// an empty iterator cost ~50 instructions per request).
#[inline(always)]
fn encode_own(own: Vec<Reply>, out: &mut Vec<u8>, resp3: bool) {
    if !own.is_empty() {
        encode_pushes(own, out, resp3);
    }
}

#[inline(never)]
fn encode_pushes(own: Vec<Reply>, out: &mut Vec<u8>, resp3: bool) {
    for push in own {
        push.encode(out, resp3);
    }
}

/// Redis's rejectCommand: the transaction is flagged, and a refused EXEC aborts it (in
/// MULTI or not) with the rejection as its reason.
fn reject(store: &mut Store, client: &mut ClientState, cmd: &Command, e: Reply) -> Reply {
    if cmd.name != "exec" {
        fail_multi(client);
        return e;
    }
    client.multi = None;
    client.multi_failed = false;
    store.watches.unwatch_all(client.id);
    let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
    if let Reply::Error(reason) = &e {
        // A rejection without its own code is an ERR, which the reason does not repeat.
        text.extend_from_slice(reason.strip_prefix(b"ERR ").unwrap_or(reason));
    }
    Reply::error_bytes(text)
}

/// The error for a command a RESP2 subscriber may not run. Redis names the command by its
/// full name, so a subcommand reads as `client|reply`.
fn subscribed_refusal(cmd: &Command, args: &[Bytes]) -> Reply {
    let name = crate::acl::full_name(cmd, args);
    Reply::error(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// What `run` hands back: the reply, the wait a blocking command asks for, and the
/// placeholders to fill with the request's big arguments (see `Adoption`).
type Ran = (Reply, Option<BlockRequest>, Option<Box<BigArgs>>);

/// Runs one request whose arguments take `argv_mem` bytes. `out` receives only the
/// pushes that must precede its reply (see `before_command`).
fn run(
    store: &mut Store,
    client: &mut ClientState,
    found: Option<&'static Command>,
    args: &[Bytes],
    argv_mem: usize,
    out: &mut Vec<u8>,
) -> Ran {
    let Some(cmd) = found else {
        fail_multi(client);
        return (err::unknown_command(args), None, None);
    };
    if !cmd.arity_ok(args.len()) {
        fail_multi(client);
        return (err::wrong_args(cmd.name), None, None);
    }
    if let Some(fault) = crate::acl::subcommand_fault(cmd, args) {
        fail_multi(client);
        return (fault.reply(cmd, args), None, None);
    }
    // Only DEBUG and MODULE are protected: other commands skip the client lookup.
    if !client.is_primary_link && matches!(cmd.name, "debug" | "module") {
        let addr = store
            .clients
            .map
            .get(&client.id)
            .map(|h| h.info.addr.as_str());
        if let Some(e) = crate::exec::protected::refusal(&store.config, addr, cmd.name, args) {
            fail_multi(client);
            return (e, None, None);
        }
    }
    if !client.authenticated && !cmd.has(flags::NO_AUTH) {
        let pass = store.config.requirepass.clone();
        store.acl.sync_requirepass(&pass);
        if store.acl.default_auto_auth() {
            client.authenticated = true;
        } else {
            // Redis's rejectCommand: EXEC refused so answers EXECABORT.
            return (reject(store, client, cmd, err::NOAUTH), None, None);
        }
    }
    if !client.is_primary_link {
        // Redis logs "multi" for any command of a client in MULTI, EXEC and DISCARD too.
        let context = if client.multi.is_some() {
            crate::acl::Context::Multi
        } else {
            crate::acl::Context::Toplevel
        };
        if let Some(e) = crate::acl::check(store, client, cmd, args, context) {
            return (reject(store, client, cmd, e), None, None);
        }
    }
    if client.subscriptions > 0 && !client.resp3 && !cmd.has(flags::SUB_OK) {
        let e = subscribed_refusal(cmd, args);
        return (reject(store, client, cmd, e), None, None);
    }
    if let Some(driver) = store.cluster.as_deref() {
        if !client.is_primary_link && !client.import_link && !store.loading {
            let db = &mut store.dbs[client.db];
            if let Some(redirect) =
                crate::cluster::routing::redirect(driver, client, cmd, args, db, now_ms())
            {
                fail_multi(client);
                return (redirect, None, None);
            }
        }
    }
    // A script command's own flags when its script declares them (Redis's getCommandFlags).
    let eff = crate::script::command_flags(store, cmd, args);
    // A replica loading its primary's snapshot (INFO loading:1) answers only what may run
    // while loading, as Redis's processCommand (queued or not; EXEC if any queued command
    // may not).
    if !client.is_primary_link
        && store.replication.sync_load == crate::repl::state::SyncLoad::Loading
        && (eff & flags::LOADING == 0
            || (cmd.name == "exec" && queued_any(store, client, |f| f & flags::LOADING == 0)))
    {
        let e = Reply::err(crate::script::busy::LOADING);
        return (reject(store, client, cmd, e), None, None);
    }
    if client.multi.is_some() && !cmd.has(flags::TX_CONTROL) {
        if cmd.has(flags::NO_MULTI) {
            fail_multi(client);
            return (err::NOT_ALLOWED_IN_MULTI, None, None);
        }
        if let Some(e) = before_command(store, client, queued_oom_flags(cmd, eff), out)
            .or_else(|| check_disk_error(store, client, cmd, eff))
        {
            fail_multi(client);
            return (e, None, None);
        }
        if eff & flags::WRITE != 0 && !client.is_primary_link && lacks_good_replicas(store) {
            fail_multi(client);
            return (Reply::err(NOREPLICAS), None, None);
        }
        if eff & flags::STALE == 0 && !client.is_primary_link && crate::script::running_stale(store)
        {
            fail_multi(client);
            return (Reply::err(MASTERDOWN), None, None);
        }
        // A doomed transaction (an error queued, a watched key changed) answers QUEUED
        // but keeps nothing, as Redis's queueMultiCommand: CLIENT LIST and ACL LOG's
        // client-info show multi= as Redis does.
        let doomed = client.multi_failed || store.watches.is_dirty(client.id);
        if let Some(queue) = client.multi.as_mut().filter(|_| !doomed) {
            queue.push(args.to_vec());
        }
        return (Reply::status("QUEUED"), None, None);
    }
    let mut oom_flags = if client.multi.is_some() {
        queued_oom_flags(cmd, eff)
    } else {
        eff
    };
    // EXEC is refused when out of memory if it holds a deny-OOM command (Redis's
    // `mstate.cmd_flags & CMD_DENYOOM`).
    if cmd.name == "exec"
        && store.config.maxmemory > 0
        && queued_any(store, client, |f| f & flags::DENYOOM != 0)
    {
        oom_flags |= flags::DENYOOM;
    }
    if let Some(e) = before_command(store, client, oom_flags, out)
        .or_else(|| check_disk_error(store, client, cmd, eff))
    {
        // MULTI or WATCH refused inside a transaction dooms it, as any rejection there;
        // EXEC refused aborts it (EXECABORT with the reason).
        return (reject(store, client, cmd, e), None, None);
    }
    if store.config.min_replicas.0 > 0
        && !client.is_primary_link
        && (eff & flags::WRITE != 0
            || (cmd.name == "exec" && queued_any(store, client, |f| f & flags::WRITE != 0)))
        && lacks_good_replicas(store)
    {
        return (
            reject(store, client, cmd, Reply::err(NOREPLICAS)),
            None,
            None,
        );
    }
    if eff & flags::WRITE != 0
        && !client.is_primary_link
        && store.replication.is_replica()
        && store.config.replica_read_only
    {
        return (
            Reply::err("READONLY You can't write against a read only replica."),
            None,
            None,
        );
    }
    if !client.is_primary_link
        && (eff & flags::STALE == 0
            || (cmd.name == "exec" && queued_any(store, client, |f| f & flags::STALE == 0)))
        && crate::script::running_stale(store)
    {
        return (
            reject(store, client, cmd, Reply::err(MASTERDOWN)),
            None,
            None,
        );
    }
    // One clock read gives the command its "now" and its duration's start (in a batch, the
    // read that ended the command before it).
    let started = store.clock.start();
    store.command_ms = started / 1_000_000;
    let mut ctx = Ctx::new(store, client, started / 1_000_000);
    ctx.adopt = Adoption::for_request(args, argv_mem);
    let reply = call_from(&mut ctx, cmd, args, started);
    (reply, ctx.block.take(), ctx.adopt.take())
}

/// Moves each big argument a write stored as a placeholder into its key: the buffer the
/// value was received into becomes the stored string, without a copy unless something
/// else (a replication or AOF buffer) still shares it.
fn adopt_values(store: &mut Store, args: &mut [Bytes], adopted: Vec<(usize, Bytes, usize)>) {
    for (db, key, i) in adopted {
        let Some(arg) = args.get_mut(i) else { continue };
        let mut value = Vec::from(std::mem::take(arg));
        // The receive buffer can be much larger than its one request (a read sized for all
        // that was queued, as on a busy slot import): a stored value keeps only its bytes.
        value.shrink_to_fit();
        // Time 0: the key was written by this very command; its TTL is not due yet.
        if let Some(entry) = store.dbs[db].get_mut(&key, 0) {
            if let rubra_keyspace::Value::Str(s) = &mut entry.value {
                *s = value.into();
            }
        }
    }
}

/// A rejected command inside MULTI dooms the transaction (EXECABORT).
fn fail_multi(client: &mut ClientState) {
    if client.multi.is_some() {
        client.multi_failed = true;
    }
}

/// The flags the OOM check reads for a command sent inside MULTI: queuing costs memory,
/// so Redis refuses every command there when out of memory (MULTI and WATCH too), except
/// EXEC (refused only for the deny-OOM commands it holds), DISCARD, QUIT and RESET.
fn queued_oom_flags(cmd: &Command, eff: u32) -> u32 {
    if matches!(cmd.name, "exec" | "discard" | "quit" | "reset") {
        eff
    } else {
        eff | flags::DENYOOM
    }
}

/// What Redis's processCommand does before running (or queuing) a command that passed its
/// checks: evict keys if needed (an error if a command that may grow memory can't be
/// run), then keep the tracking table within tracking-table-max-keys. Both run outside
/// the command: invalidations they cause for `client` itself are sent at once (NOLOOP
/// spares it), so they go into `out` before its reply, as in Redis ("invalidation message
/// of eviction keys should be before response"); so do its keyspace events of evictions.
#[inline]
fn before_command(
    store: &mut Store,
    client: &ClientState,
    cmd_flags: u32,
    out: &mut Vec<u8>,
) -> Option<Reply> {
    if store.config.maxmemory != 0 && !store.loading {
        let within = make_room(store, client, out);
        if !within && cmd_flags & flags::DENYOOM != 0 {
            return Some(err::OOM);
        }
    }
    if store.tracking.active() {
        limit_tracking_table(store, client, out);
    }
    None
}

/// `before_command`'s eviction: true if memory is within the limit.
#[inline(never)]
fn make_room(store: &mut Store, client: &ClientState, out: &mut Vec<u8>) -> bool {
    let within = crate::exec::tracking::before_call(store, client.id, evict::make_room);
    encode_own(store.clients.take_own(), out, client.resp3);
    within
}

/// `before_command`'s tracking-table-max-keys enforcement.
#[inline(never)]
fn limit_tracking_table(store: &mut Store, client: &ClientState, out: &mut Vec<u8>) {
    crate::exec::tracking::before_call(store, client.id, crate::exec::tracking::limit_table);
    encode_own(store.clients.take_own(), out, client.resp3);
}

/// While the AOF cannot be written, a primary refuses writes (and PING, so health checks
/// notice) with Redis's MISCONF reply: an OK must not be given for a write that may be
/// lost. A replica applies its primary's stream regardless, as Redis does.
fn check_disk_error(
    store: &Store,
    client: &ClientState,
    cmd: &Command,
    cmd_flags: u32,
) -> Option<Reply> {
    let error = store.aof.as_ref()?.write_error()?;
    if client.is_primary_link || store.replication.is_replica() {
        return None;
    }
    if cmd_flags & flags::WRITE == 0 && cmd.name != "ping" {
        return None;
    }
    Some(Reply::error(format!(
        "MISCONF Errors writing to the AOF file: {error}"
    )))
}

/// Redis's checkGoodReplicasStatus failing: a primary with min-replicas-to-write set has
/// fewer online replicas than that whose last ACK is at most min-replicas-max-lag seconds
/// old, so writes are refused with NOREPLICAS.
#[inline]
pub(crate) fn lacks_good_replicas(store: &Store) -> bool {
    let (need, max_lag) = store.config.min_replicas;
    // Not while loading: the AOF's writes are replayed whatever the replicas.
    need > 0
        && !store.loading
        && !store
            .replication
            .enough_good_replicas(need as usize, max_lag, now_ms())
}

/// The refusal of a command that may not run on a stale replica.
const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// The NOREPLICAS refusal.
pub(crate) const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// Whether one of the commands queued for EXEC has effective flags matching `test`
/// (Redis's `mstate.cmd_flags` / `cmd_inv_flags`), for the checks EXEC makes for its whole
/// body.
fn queued_any(store: &Store, client: &ClientState, test: impl Fn(u32) -> bool) -> bool {
    client.multi.as_ref().is_some_and(|queue| {
        queue.iter().any(|args| {
            crate::cmd::lookup(&args[0])
                .is_some_and(|cmd| test(crate::script::command_flags(store, cmd, args)))
        })
    })
}

/// Runs a resolved command in `ctx` and does the bookkeeping that follows a write. Used by
/// the dispatcher, EXEC and the blocked-client server alike, so they cannot disagree.
pub(crate) fn call(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes]) -> Reply {
    call_from(ctx, cmd, args, observe::clock_ns())
}

/// `call` for a command whose clock was read at `started_ns` (`observe::clock_ns`) by its
/// caller, which took its `now_ms` from the same read.
fn call_from(ctx: &mut Ctx, cmd: &'static Command, args: &[Bytes], started_ns: u64) -> Reply {
    if let Some(db) = ctx.store.dbs.get_mut(ctx.client.db) {
        db.forget_last_key();
    }
    let dirty_before = ctx.store.dirty;
    ctx.lfu_bumped.clear();
    observe::before_call(ctx, cmd, args);
    let runner = match ctx.client.script_caller {
        0 => ctx.client.id,
        caller => caller,
    };
    let outer_client = crate::exec::tracking::command_start(ctx.store, runner);
    let notes = crate::exec::notify::before(ctx.store, ctx.client.db, cmd, args, ctx.now_ms);
    // A writable replica remembers the keys its own clients give a TTL (it expires them).
    let replica_ttls = if cmd.has(flags::WRITE) && !ctx.client.is_primary_link {
        crate::repl::replica_expire::before_write(ctx.store, ctx.client.db, cmd, args)
    } else {
        Vec::new()
    };
    let reply = (cmd.handler)(ctx, args).unwrap_or_else(|e| e);
    if !replica_ttls.is_empty() {
        crate::repl::replica_expire::after_write(ctx.store, ctx.client.db, replica_ttls);
    }
    if ctx.client.served_key.is_some() {
        // A blocked client being served publishes no keymiss: Redis 7.0 serves it without
        // running its command's lookups (a flush that deleted its stream wakes nothing).
        ctx.store.key_misses.clear();
    }
    // A write's source misses come before its own events (Redis publishes at lookup); a
    // read's after the lazy expiries below, which Redis's lookup performs first.
    let wrote = ctx.store.dirty != dirty_before || std::mem::take(&mut ctx.force_propagate);
    if wrote {
        crate::exec::notify::publish_misses(ctx.store, ctx.client.db);
    }
    let signalled = std::mem::take(&mut ctx.signal_unchanged);
    if let Some(notes) = notes {
        if wrote || signalled {
            crate::exec::notify::after(ctx.store, cmd, args, notes, ctx.now_ms);
        }
    }
    let usec = ctx.store.clock.end().saturating_sub(started_ns) / 1000;
    observe::after_call(ctx, cmd, args, &reply, usec);
    let db = ctx.client.db;
    let rewritten = ctx.propagate.take();
    let touched = ctx.touched.take();
    // A non-write command propagates only what it asks to (PFCOUNT rewriting its cached
    // cardinality); EVAL/FCALL are MAY_REPLICATE too, but their effects went out already.
    let changed = wrote && (cmd.has(flags::WRITE) || rewritten.is_some());
    if changed || signalled {
        match touched {
            Some(keys) => {
                for k in &keys {
                    ctx.store.key_modified(db, k);
                }
            }
            None => {
                let store = &mut *ctx.store;
                cmd.for_each_key_position(args, |i| store.key_modified(db, &args[i]));
            }
        }
    }
    let hold = propagate_expired_first(ctx.store, cmd, db);
    if changed {
        match rewritten {
            Some(cmds) => {
                // Several commands for one write go out as one transaction, as in Redis.
                let wrap = cmds.len() > 1 && !ctx.store.feed.in_exec();
                if wrap {
                    ctx.store.feed.begin_exec();
                }
                for c in cmds {
                    ctx.store.feed.propagate(db, &c);
                }
                if wrap {
                    ctx.store.feed.end_exec();
                }
            }
            None => ctx.store.feed.propagate(db, args),
        }
    }
    if hold {
        ctx.store.feed.end_exec();
    }
    crate::exec::notify::publish_misses(ctx.store, db);
    crate::exec::tracking::command_done(ctx.store, ctx.client, cmd, args, outer_client);
    reply
}

/// Propagates the DELs of the keys the command just found expired, before the command's
/// own propagation; true if the feed now holds them (`begin_exec`) so that, with the
/// command, they go out as one MULTI ... EXEC when that makes several commands: Redis 7.0
/// propagates a lazy expiry at the lookup, inside the command's pending propagation. Sent
/// after the command, a DEL deleted on the replicas what the command had just written.
/// MOVE and COPY ... DB also look their destination up in another database (their table
/// entries carry `flags::OTHER_DB`: a flag test, not a name compare, on every command).
fn propagate_expired_first(store: &mut Store, cmd: &Command, db: usize) -> bool {
    let here = store.dbs[db].has_expired_log();
    let other_dbs = cmd.has(flags::OTHER_DB);
    let elsewhere = || other_dbs && store.dbs.iter().any(|d| d.has_expired_log());
    if !here && !elsewhere() {
        return false;
    }
    // SCAN and RANDOMKEY run directly propagate their DELs unwrapped, as Redis's
    // propagatePendingCommands does for CMD_TOUCHES_ARBITRARY_KEYS (inside EXEC or a
    // script the transaction wraps them anyway).
    let hold = !store.feed.in_exec() && !cmd.has(flags::ARBITRARY_KEYS);
    if hold {
        store.feed.begin_exec();
    }
    if other_dbs {
        for other in (0..store.dbs.len()).filter(|&d| d != db) {
            store.collect_expired(other);
        }
    }
    store.collect_expired(db);
    hold
}

/// Serves blocked clients whose keys received data, first come first served, until no key
/// is ready (a served BLMOVE may push to a key another client waits on).
pub(crate) fn serve_blocked(store: &mut Store) {
    let mut rounds = 0;
    while store.blocking.has_ready() && rounds < 1000 {
        rounds += 1;
        for (db, key) in store.blocking.take_ready() {
            for client_id in store.blocking.queue(db, &key) {
                let Some(waiter) = store.blocking.waiter(client_id).cloned() else {
                    continue;
                };
                let Some(cmd) = cmd::lookup(&waiter.args[0]) else {
                    continue;
                };
                let mut tmp = ClientState {
                    id: waiter.client,
                    db: waiter.db,
                    resp3: waiter.resp3,
                    authenticated: true,
                    served_key: Some(key.clone()),
                    ..ClientState::default()
                };
                let started = observe::clock_ns();
                let mut ctx = Ctx::new(store, &mut tmp, started / 1_000_000);
                let scope = ctx.store.clients.begin_own(client_id);
                let reply = call_from(&mut ctx, cmd, &waiter.args, started);
                let still_blocked = ctx.block.is_some();
                let own = store.clients.end_own(scope);
                store.blocking.take_retry_args();
                if still_blocked {
                    // Still nothing for this client. Those behind it may still be served
                    // (stream readers wait for different IDs or groups).
                    store.clients.forward(client_id, own);
                    continue;
                }
                store.blocking.unblock(client_id);
                store.clients.unblock(client_id, reply);
                // After its reply, as if it had run the command itself.
                store.clients.forward(client_id, own);
            }
        }
    }
}

/// Whether a command may change the dataset or the replication stream (Redis's
/// `is_may_replicate_command`): WRITE or MAY_REPLICATE, or an EXEC whose queue holds one.
/// A script's flags count as its command's (Redis's getCommandFlags): a script declaring
/// `no-writes` is neither, one declaring other flags is a write.
fn may_replicate(store: &Store, client: &ClientState, cmd: &Command, args: &[Bytes]) -> bool {
    let writes = |c: &Command, a: &[Bytes]| {
        crate::script::command_flags(store, c, a) & (flags::WRITE | flags::MAY_REPLICATE) != 0
    };
    if writes(cmd, args) {
        return true;
    }
    if cmd.name != "exec" {
        return false;
    }
    client.multi.as_ref().is_some_and(|queue| {
        queue.iter().any(|q| {
            q.first()
                .and_then(|name| cmd::lookup(name))
                .is_some_and(|c| writes(c, q))
        })
    })
}

/// Whether a write names a key in a slot whose migration is handing over (for EXEC, any
/// queued command's key): it waits, then runs against the new owner's -MOVED.
fn touches_held_slot(
    driver: &crate::cluster::driver::ClusterDriver,
    client: &ClientState,
    cmd: &Command,
    args: &[Bytes],
) -> bool {
    let held = |c: &Command, a: &[Bytes]| {
        c.key_positions(a)
            .iter()
            .any(|&i| driver.migrations.holds(rubra_keys::key_slot(&a[i])))
    };
    if cmd.name == "exec" {
        return client.multi.as_ref().is_some_and(|queue| {
            queue.iter().any(|q| {
                q.first()
                    .and_then(|n| cmd::lookup(n))
                    .is_some_and(|c| held(c, q))
            })
        });
    }
    held(cmd, args)
}

/// BEHAVIOR (manual failover, primary side): while the cluster node holds writes for a
/// manual failover, a command that may replicate must wait, so the offset we advertised to
/// the replica stays final and no acknowledged write can be lost in the switch. Returns the
/// pause's end and a watch that changes when the pause starts or ends; the connection
/// leaves `args` unconsumed, releases the store lock, waits, and tries again (Redis
/// postpones such clients the same way). Reads, the primary link and replicas never wait;
/// neither does a command whose keys are served elsewhere (it is redirected anyway).
/// CLIENT PAUSE holds commands the same way (every command under ALL, those that may
/// replicate under WRITE), so both pauses share this one waiting path.
pub(crate) fn write_pause(
    store: &Store,
    client: &ClientState,
    args: &[Bytes],
) -> Option<(u64, tokio::sync::watch::Receiver<u64>)> {
    if client.is_primary_link || client.is_replica || client.import_link {
        return None;
    }
    // The common case, nothing paused and no cluster: no clock read, no command lookup.
    if store.pause.end_ms == 0 && !store.pause.writes_held() && store.cluster.is_none() {
        return None;
    }
    let now = now_ms();
    let cmd = cmd::lookup(args.first()?)?;
    if !cmd.arity_ok(args.len()) {
        return None;
    }
    // CLIENT PAUSE: ALL holds every command, WRITE those that may replicate.
    if store.pause.active(now) && (store.pause.all || may_replicate(store, client, cmd, args)) {
        return Some((store.pause.end_ms, store.pause.watch.subscribe()));
    }
    // FAILOVER or a shutdown waiting for replicas: writes wait until it ends (the watch
    // ticks then); look again each second.
    if store.pause.writes_held() && may_replicate(store, client, cmd, args) {
        return Some((now + 1000, store.pause.watch.subscribe()));
    }
    let driver = store.cluster.as_deref()?;
    if driver.migrations.export.as_ref().is_some_and(|e| e.paused)
        && may_replicate(store, client, cmd, args)
        && touches_held_slot(driver, client, cmd, args)
    {
        return Some((now + 1000, driver.pause_watch()));
    }
    if !driver.writes_paused(now) || !may_replicate(store, client, cmd, args) {
        return None;
    }
    if let Some(&i) = cmd.key_positions(args).first() {
        if !crate::cluster::routing::owns_slot(driver, rubra_keys::key_slot(&args[i])) {
            return None;
        }
    }
    Some((driver.writes_paused_until, driver.pause_watch()))
}

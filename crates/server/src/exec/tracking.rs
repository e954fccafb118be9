//! Client-side caching (CLIENT TRACKING), as Redis 7.0 does it. In the default mode the
//! server remembers which clients read which keys (one table for all databases, as
//! Redis) and, when such a key is modified, expires, is evicted or the table is over
//! `tracking-table-max-keys`, tells those clients once and forgets them. In BCAST mode it
//! remembers nothing per read: every modified key under a client's prefixes is collected
//! and sent at the end of the batch. Messages are RESP3 pushes `>2 invalidate [keys]`, or,
//! when redirected to a RESP2 client subscribed to `__redis__:invalidate`, a pub/sub
//! message on that channel; a flush sends a null instead of keys, written in the protocol
//! of the tracking client (not of the client it redirects to), as Redis 7.0 does. An
//! invalidation owed to the client whose command is running waits for the end of that
//! command (inside EXEC, of the whole transaction), as Redis's pending invalidations do:
//! its protocol, subscriptions and redirect are read then.
//!
//! Hooks: `Store::key_modified` (the same signal WATCH uses) and expiry call `invalidate`;
//! `call()` calls `after_command` (remember the keys of a read-only command, reset the
//! per-command CLIENT CACHING choice); FLUSHDB/FLUSHALL call `flush`; the end of each
//! batch calls `deliver_broadcasts`; disconnect and RESET call `disable`.

use crate::client::{ClientRegistry, OutputLimits};
use crate::exec::pubsub::{Kind, PubSub};
use ahash::{AHashMap, AHashSet};
use bytes::Bytes;
use rubra_resp::Reply;
use std::collections::{BTreeMap, BTreeSet};

/// The channel a RESP2 redirect target subscribes to.
pub(crate) const CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's tracking mode.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientMode {
    /// Where invalidations go (0: to the client itself).
    pub redirect: u64,
    /// Broadcast mode: told about every key under its prefixes.
    pub bcast: bool,
    /// Only reads after CLIENT CACHING YES are remembered.
    pub optin: bool,
    /// Reads after CLIENT CACHING NO are not remembered.
    pub optout: bool,
    /// Not told about its own writes.
    pub noloop: bool,
    /// CLIENT CACHING YES (optin) / NO (optout) given for the next command.
    pub caching: bool,
    /// The redirect target disconnected.
    pub broken_redirect: bool,
    /// BCAST prefixes (the empty prefix when none was given).
    pub prefixes: BTreeSet<Bytes>,
}

/// Keys modified under one BCAST prefix since the last delivery.
#[derive(Default)]
struct Bcast {
    clients: BTreeSet<u64>,
    /// Key -> the client that modified it last (for NOLOOP), 0 if none.
    keys: BTreeMap<Bytes, u64>,
}

/// All tracking state.
#[derive(Default)]
pub(crate) struct Tracking {
    /// Clients with tracking on.
    pub clients: AHashMap<u64, ClientMode>,
    /// Key -> clients that may cache it (default mode).
    table: AHashMap<Bytes, AHashSet<u64>>,
    /// Sum of the table's client sets (INFO tracking_total_items).
    total_items: usize,
    prefixes: BTreeMap<Bytes, Bcast>,
    /// The client whose command is running (NOLOOP), 0 outside commands; during a script,
    /// the script's caller.
    pub current: u64,
    /// A script's command read something during the running command: its caller then
    /// tracks the keys the script declared (Redis's rule for EVAL and FCALL).
    script_read: bool,
    /// Invalidations owed to `current`, sent when its command ends (a key, or None for
    /// a flush).
    pending: Vec<Option<Bytes>>,
    /// `current` is set but its command has not started (eviction and the table limit
    /// before it): its invalidations go out at once, before its reply, as Redis sends
    /// them outside call(); NOLOOP still spares it.
    before_call: bool,
    /// The redirect of `current` when it turned tracking off with invalidations pending
    /// (CLIENT TRACKING OFF in the EXEC of a write): Redis sends them anyway, through the
    /// redirect it keeps after OFF.
    retired: Option<(u64, u64)>,
}

/// What invalidation carries: some keys, or null for "everything" (flush).
enum Payload {
    Keys(Vec<Bytes>),
    All,
}

impl Tracking {
    /// INFO: tracking_total_keys.
    pub(crate) fn total_keys(&self) -> usize {
        self.table.len()
    }

    /// INFO: tracking_total_items.
    pub(crate) fn total_items(&self) -> usize {
        self.total_items
    }

    /// INFO: tracking_total_prefixes.
    pub(crate) fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    /// Turns tracking on for `client` with `mode` (already validated).
    pub(crate) fn enable(&mut self, client: u64, mut mode: ClientMode, new_prefixes: &[Bytes]) {
        let old = self.clients.remove(&client).unwrap_or_default();
        mode.prefixes = old.prefixes;
        mode.caching = old.caching;
        if mode.bcast {
            let mut wanted: Vec<Bytes> = new_prefixes.to_vec();
            if wanted.is_empty() {
                wanted.push(Bytes::new());
            }
            for p in wanted {
                self.prefixes
                    .entry(p.clone())
                    .or_default()
                    .clients
                    .insert(client);
                mode.prefixes.insert(p);
            }
        }
        self.clients.insert(client, mode);
    }

    /// Turns tracking off for `client` (CLIENT TRACKING OFF, RESET, disconnect). Its ids
    /// left in the key table are dropped lazily, as Redis does.
    pub(crate) fn disable(&mut self, client: u64) {
        let Some(mode) = self.clients.remove(&client) else {
            return;
        };
        if client == self.current && !self.pending.is_empty() {
            self.retired = Some((client, mode.redirect));
        }
        for p in mode.prefixes {
            if let Some(b) = self.prefixes.get_mut(&p) {
                b.clients.remove(&client);
                if b.clients.is_empty() {
                    self.prefixes.remove(&p);
                }
            }
        }
    }

    /// After a command of `client`: remembers the keys of a read-only command (unless
    /// OPTIN without CACHING YES, or OPTOUT with CACHING NO), and ends the CACHING choice
    /// (kept across CLIENT commands and inside MULTI).
    pub(crate) fn after_command(
        &mut self,
        client: u64,
        readonly: bool,
        keys: impl FnOnce() -> Vec<Bytes>,
        keep_caching: bool,
    ) {
        let Some(mode) = self.clients.get_mut(&client) else {
            return;
        };
        let remember = readonly
            && !mode.bcast
            && !((mode.optin && !mode.caching) || (mode.optout && mode.caching));
        if !keep_caching {
            mode.caching = false;
        }
        if !remember {
            return;
        }
        for k in keys() {
            if self.table.entry(k).or_default().insert(client) {
                self.total_items += 1;
            }
        }
    }

    /// Whether anything is being tracked (a cheap test before the per-key work).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        !self.clients.is_empty()
    }

    /// A key changed: queue it for BCAST prefixes and tell the clients that read it.
    pub(crate) fn invalidate(
        &mut self,
        key: &Bytes,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        if !self.prefixes.is_empty() {
            for (p, b) in self.prefixes.iter_mut() {
                if key.starts_with(p) {
                    b.keys.insert(key.clone(), self.current);
                }
            }
        }
        self.invalidate_readers(key, clients, pubsub, now_ms, limits);
    }

    fn invalidate_readers(
        &mut self,
        key: &Bytes,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        let Some(ids) = self.table.remove(key) else {
            return;
        };
        self.total_items -= ids.len();
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(mode) = self.clients.get(&id) else {
                continue;
            };
            if mode.bcast || (mode.noloop && id == self.current) {
                continue;
            }
            if id == self.current && !self.before_call {
                self.pending.push(Some(key.clone()));
                continue;
            }
            self.send(
                id,
                Payload::Keys(vec![key.clone()]),
                clients,
                pubsub,
                now_ms,
                limits,
            );
        }
    }

    /// FLUSHDB/FLUSHALL: every tracking client is told "everything" (null), and the
    /// table is emptied.
    pub(crate) fn flush(
        &mut self,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        let mut ids: Vec<u64> = self.clients.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if id == self.current {
                self.pending.push(None);
                continue;
            }
            self.send(id, Payload::All, clients, pubsub, now_ms, limits);
        }
        self.forget_keys();
    }

    /// Empties the key table, its memory too (a flush does, even when no client tracks
    /// any more: entries of clients gone are dropped only lazily or by a flush).
    pub(crate) fn forget_keys(&mut self) {
        self.table = AHashMap::new();
        self.total_items = 0;
    }

    /// Keeps the table within tracking-table-max-keys by invalidating keys as if they
    /// were modified (0: no limit). Runs before a command of `current` (see `before_call`).
    pub(crate) fn enforce_limit(
        &mut self,
        max_keys: usize,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        if max_keys == 0 {
            return;
        }
        while self.table.len() > max_keys {
            let Some(key) = self.table.keys().next().cloned() else {
                break;
            };
            self.invalidate_readers(&key, clients, pubsub, now_ms, limits);
        }
    }

    /// After the outermost command of `client` ends: sends the invalidations owed to it
    /// (see `pending`), in the state it is in now (protocol, redirect, subscriptions; the
    /// redirect it had if it turned tracking off meanwhile).
    pub(crate) fn send_pending(
        &mut self,
        client: u64,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        for key in std::mem::take(&mut self.pending) {
            let payload = match key {
                Some(k) => Payload::Keys(vec![k]),
                None => Payload::All,
            };
            self.send(client, payload, clients, pubsub, now_ms, limits);
        }
        self.retired = None;
    }

    /// End of a batch: sends each BCAST prefix's collected keys to its clients (minus
    /// their own changes under NOLOOP).
    pub(crate) fn deliver_broadcasts(
        &mut self,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        if self.prefixes.values().all(|b| b.keys.is_empty()) {
            return;
        }
        let mut out: Vec<(u64, Vec<Bytes>)> = Vec::new();
        for b in self.prefixes.values_mut() {
            let keys = std::mem::take(&mut b.keys);
            if keys.is_empty() {
                continue;
            }
            for &id in &b.clients {
                let noloop = self.clients.get(&id).is_some_and(|m| m.noloop);
                let list: Vec<Bytes> = keys
                    .iter()
                    .filter(|(_, by)| !(noloop && **by == id))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !list.is_empty() {
                    out.push((id, list));
                }
            }
        }
        for (id, keys) in out {
            self.send(id, Payload::Keys(keys), clients, pubsub, now_ms, limits);
        }
    }

    /// Sends one invalidation for tracking client `id`, to it or its redirect target.
    fn send(
        &mut self,
        id: u64,
        payload: Payload,
        clients: &mut ClientRegistry,
        pubsub: &PubSub,
        now_ms: u64,
        limits: OutputLimits,
    ) {
        let redirect = match (self.clients.get(&id), self.retired) {
            (Some(mode), _) => mode.redirect,
            (None, Some((off, redirect))) if off == id => redirect,
            (None, _) => return,
        };
        let resp3 = |c: &ClientRegistry, id: u64| c.map.get(&id).is_some_and(|h| h.info.resp >= 3);
        let mut target = id;
        if redirect != 0 {
            if !clients.map.contains_key(&redirect) {
                if let Some(mode) = self.clients.get_mut(&id) {
                    mode.broken_redirect = true;
                }
                if resp3(clients, id) {
                    let msg = Reply::Push(vec![
                        Reply::bulk(b"tracking-redir-broken"),
                        Reply::Int(redirect as i64),
                    ]);
                    clients.push(id, msg, now_ms, limits);
                }
                return;
            }
            target = redirect;
        }
        let keys = match payload {
            Payload::Keys(k) => Reply::Array(k.into_iter().map(Reply::Bulk).collect()),
            // Redis writes the null in the tracking client's protocol, whatever the
            // target's: a RESP2 subscriber may get `_`, a RESP3 client `$-1`.
            Payload::All if resp3(clients, id) => Reply::Raw(Bytes::from_static(b"_\r\n")),
            Payload::All => Reply::Raw(Bytes::from_static(b"$-1\r\n")),
        };
        let msg = if resp3(clients, target) {
            Reply::Push(vec![Reply::bulk(b"invalidate"), keys])
        } else if redirect != 0
            && pubsub.count_of(target, &[Kind::Channel, Kind::Pattern, Kind::Shard]) > 0
        {
            // A redirect to itself counts as a redirect (Redis tests that one is set), so a
            // RESP2 client subscribed after REDIRECT <own id> gets the message too.
            Reply::Push(vec![Reply::bulk(b"message"), Reply::bulk(CHANNEL), keys])
        } else {
            return;
        };
        clients.push(target, msg, now_ms, limits);
    }
}

/// Pushes to tracking clients are not limited by class here (a normal client has no
/// output limit by default); the pub/sub limits apply when the message is delivered as a
/// pub/sub message to a subscribed redirect target.
fn limits(store: &crate::store::Store) -> OutputLimits {
    store.config.pubsub_output_limits
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `key` was modified, expired or evicted (called beside the WATCH signal). Inlined into
/// every write's key signal: while nobody tracks, one test.
#[inline]
pub(crate) fn key_changed(store: &mut crate::store::Store, key: &Bytes) {
    if store.tracking.active() {
        invalidate_key(store, key);
    }
}

/// `key_changed` while some client tracks.
#[inline(never)]
fn invalidate_key(store: &mut crate::store::Store, key: &Bytes) {
    let l = limits(store);
    store
        .tracking
        .invalidate(key, &mut store.clients, &store.pubsub, now_ms(), l);
}

/// FLUSHDB / FLUSHALL: tells every tracking client that all keys are invalid, and empties
/// the key table (also when nobody tracks now, as Redis: INFO tracking_total_keys).
pub(crate) fn flushed(store: &mut crate::store::Store) {
    if !store.tracking.active() {
        if store.tracking.total_keys() != 0 {
            store.tracking.forget_keys();
        }
        return;
    }
    let l = limits(store);
    store
        .tracking
        .flush(&mut store.clients, &store.pubsub, now_ms(), l);
}

/// End of a batch: BCAST deliveries.
pub(crate) fn end_of_batch(store: &mut crate::store::Store) {
    if !store.tracking.active() {
        return;
    }
    let l = limits(store);
    store
        .tracking
        .deliver_broadcasts(&mut store.clients, &store.pubsub, now_ms(), l);
}

/// Before a command of `client` runs: notes who runs it (NOLOOP, pending invalidations).
/// Returns the client of the enclosing command (a script's), restored by `command_done`.
/// Inlined into every call: a store.
#[inline]
pub(crate) fn command_start(store: &mut crate::store::Store, client: u64) -> u64 {
    std::mem::replace(&mut store.tracking.current, client)
}

/// Runs `work` (eviction, the table limit) for a top-level command of `client` before it
/// is run or queued, as Redis's processCommand does outside call(): `client` is the
/// current client for NOLOOP, but what it is owed is sent at once (before its reply),
/// not when its command ends.
pub(crate) fn before_call<T>(
    store: &mut crate::store::Store,
    client: u64,
    work: impl FnOnce(&mut crate::store::Store) -> T,
) -> T {
    let outer = std::mem::replace(&mut store.tracking.current, client);
    store.tracking.before_call = true;
    let done = work(store);
    store.tracking.before_call = false;
    store.tracking.current = outer;
    done
}

/// Keeps the key table within tracking-table-max-keys (Redis does it before each command
/// it reads from a client, not for those run inside EXEC or scripts; see `before_call`).
pub(crate) fn limit_table(store: &mut crate::store::Store) {
    let max = store.config.tracking_table_max_keys;
    let l = limits(store);
    store
        .tracking
        .enforce_limit(max, &mut store.clients, &store.pubsub, now_ms(), l);
}

/// After `cmd` ran for `client`: remember what it read. Inlined into every call: while
/// nobody tracks, a store and one test.
#[inline]
pub(crate) fn command_done(
    store: &mut crate::store::Store,
    client: &crate::client::ClientState,
    cmd: &crate::cmd::Command,
    args: &[Bytes],
    outer: u64,
) {
    store.tracking.current = outer;
    if store.tracking.active() {
        remember_reads(store, client, cmd, args);
    }
    if outer == 0 && !store.tracking.pending.is_empty() {
        send_pending(store, client.id);
    }
}

/// `command_done` of an outermost command that left invalidations owed to its client.
#[inline(never)]
fn send_pending(store: &mut crate::store::Store, client: u64) {
    let l = limits(store);
    store
        .tracking
        .send_pending(client, &mut store.clients, &store.pubsub, now_ms(), l);
}

/// `command_done` while some client tracks.
#[inline(never)]
fn remember_reads(
    store: &mut crate::store::Store,
    client: &crate::client::ClientState,
    cmd: &crate::cmd::Command,
    args: &[Bytes],
) {
    let reads = cmd.has(crate::cmd::flags::READONLY) && !cmd.has(crate::cmd::flags::PUBSUB);
    if client.script_caller != 0 {
        store.tracking.script_read |= reads;
        return;
    }
    let script_read = std::mem::take(&mut store.tracking.script_read);
    // A blocked command served later is not a new read: Redis 7.0 serves it without its
    // call(), so the keys it names stay untracked once an invalidation dropped them.
    if client.served_key.is_some() || !store.tracking.clients.contains_key(&client.id) {
        return;
    }
    // The read-only script commands count only through the reads their scripts make.
    let script_ro = matches!(cmd.name, "eval_ro" | "evalsha_ro" | "fcall_ro");
    let readonly = (reads && !script_ro) || script_read;
    let keep = cmd.name == "client" || client.multi.is_some();
    store.tracking.after_command(
        client.id,
        readonly,
        || {
            cmd.key_positions(args)
                .into_iter()
                .map(|i| args[i].clone())
                .collect()
        },
        keep,
    );
}

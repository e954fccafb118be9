//! Keyspace notifications (Redis's notify-keyspace-events): a write publishes
//! `__keyspace@<db>__:<key>` (message: the event) and `__keyevent@<db>__:<event>`
//! (message: the key) to local subscribers, for the event classes the configuration selects.
//! Delivery is local to the node, as in Redis 7.0 (never forwarded over the cluster bus).
//!
//! Rather than one call per command handler, the dispatcher takes a small snapshot of a
//! write's keys before it runs (present?, length, TTL) and, if the write changed the
//! dataset, derives the events from the command's table entry (`notify_events`) and the
//! before/after difference: a key that appeared gets `new`, one that vanished gets `del`.
//! Expiry and eviction publish from their own paths.

use crate::cmd::{flags, Command};
use crate::store::Store;
use bytes::Bytes;
use rubra_keyspace::Value;

/// Key-space channel (`K`).
const KEYSPACE: u32 = 1;
/// Key-event channel (`E`).
const KEYEVENT: u32 = 1 << 1;
/// Generic commands: DEL, EXPIRE, RENAME... (`g`).
pub(crate) const GENERIC: u32 = 1 << 2;
/// String commands (`$`).
pub(crate) const STRING: u32 = 1 << 3;
/// List commands (`l`).
pub(crate) const LIST: u32 = 1 << 4;
/// Set commands (`s`).
pub(crate) const SET: u32 = 1 << 5;
/// Hash commands (`h`).
pub(crate) const HASH: u32 = 1 << 6;
/// Sorted-set commands (`z`).
pub(crate) const ZSET: u32 = 1 << 7;
/// Keys removed because they expired (`x`).
pub(crate) const EXPIRED: u32 = 1 << 8;
/// Keys removed by maxmemory eviction (`e`).
pub(crate) const EVICTED: u32 = 1 << 9;
/// Stream commands (`t`).
pub(crate) const STREAM: u32 = 1 << 10;
/// Key misses (`m`, not part of `A`): `keymiss` for a read lookup that finds nothing
/// (Redis's lookupKeyRead; write lookups and OBJECT do not publish).
pub(crate) const KEY_MISS: u32 = 1 << 11;
/// Module events (`d`): rubra has no modules.
const MODULE: u32 = 1 << 12;
/// Key creation (`n`, not part of `A`).
pub(crate) const NEW: u32 = 1 << 13;
/// What `A` stands for: g$lshzxetd.
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// Parses notify-keyspace-events into a bit set, once per CONFIG SET (the value was
/// validated by the config layer; unknown characters are ignored here).
pub(crate) fn parse_flags(value: &str) -> u32 {
    let mut f = 0;
    for c in value.chars() {
        f |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => 0,
        };
    }
    // Without a channel type nothing is published, as in Redis.
    if f & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        f
    }
}

/// Publishes one event for `key` in `db` if its class is enabled.
pub(crate) fn publish(store: &mut Store, class: u32, event: &str, key: &[u8], db: usize) {
    let f = store.notify_flags;
    if f & class == 0 {
        return;
    }
    let limits = store.config.pubsub_output_limits;
    let now = crate::store::now_ms();
    let kind = crate::exec::pubsub::Kind::Channel;
    if f & KEYSPACE != 0 {
        let mut ch = format!("__keyspace@{db}__:").into_bytes();
        ch.extend_from_slice(key);
        let (ch, msg) = (Bytes::from(ch), Bytes::copy_from_slice(event.as_bytes()));
        store
            .pubsub
            .publish(&mut store.clients, kind, &ch, &msg, now, limits);
    }
    if f & KEYEVENT != 0 {
        let ch = Bytes::from(format!("__keyevent@{db}__:{event}"));
        let msg = Bytes::copy_from_slice(key);
        store
            .pubsub
            .publish(&mut store.clients, kind, &ch, &msg, now, limits);
    }
}

/// One key argument of a write, as it was before the command ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeyState {
    /// The key existed (and had not expired).
    pub present: bool,
    /// Element count for collections (lists, sets, hashes, zsets, streams); 0 for strings.
    pub len: usize,
    /// Expiry time in ms, 0 when none.
    pub expire_at: u64,
}

/// The state of a write's keys before it ran; `None` when nothing would be published.
pub(crate) struct Before {
    db: usize,
    keys: Vec<Bytes>,
    states: Vec<KeyState>,
}

fn state_of(store: &Store, db: usize, key: &[u8], now: u64) -> KeyState {
    let Some(e) = store.dbs[db].peek(key, now) else {
        return KeyState::default();
    };
    let len = match &e.value {
        Value::Str(_) => 0,
        Value::List(l) => l.len(),
        Value::Hash(h) => h.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => s.len(),
    };
    KeyState {
        present: true,
        len,
        expire_at: store.dbs[db].expire_at(key),
    }
}

/// Called before a command runs: for a write while notifications are on, expires its keys
/// lazily first (publishing `expired` ahead of the command's own events, as Redis's lookup
/// does) and records their state. Inlined into every call: with notifications off, one test.
#[inline]
pub(crate) fn before(
    store: &mut Store,
    db: usize,
    cmd: &Command,
    args: &[Bytes],
    now: u64,
) -> Option<Before> {
    if store.notify_flags == 0 || !cmd.has(flags::WRITE) {
        return None;
    }
    snapshot(store, db, cmd, args, now)
}

/// `before` for a write while notifications are on.
#[inline(never)]
fn snapshot(
    store: &mut Store,
    db: usize,
    cmd: &Command,
    args: &[Bytes],
    now: u64,
) -> Option<Before> {
    let mut keys: Vec<Bytes> = Vec::new();
    let mut seen = ahash::AHashSet::new();
    for i in cmd.key_positions(args) {
        if seen.insert(&args[i]) {
            keys.push(args[i].clone());
        }
    }
    for k in &keys {
        store.dbs[db].get(k, now);
    }
    store.collect_expired(db);
    let states = keys.iter().map(|k| state_of(store, db, k, now)).collect();
    Some(Before { db, keys, states })
}

/// Called after a write changed the dataset: publishes its events in Redis's order.
pub(crate) fn after(store: &mut Store, cmd: &Command, args: &[Bytes], before: Before, now: u64) {
    let db = before.db;
    let after: Vec<KeyState> = before
        .keys
        .iter()
        .map(|k| state_of(store, db, k, now))
        .collect();
    let view = crate::exec::notify_events::View {
        args,
        keys: &before.keys,
        before: &before.states,
        after: &after,
        positions: cmd.key_positions(args),
    };
    let events = crate::exec::notify_events::events(cmd.name, &view);
    let mut created_done = vec![false; before.keys.len()];
    let mut removed_done = vec![false; before.keys.len()];
    let index: ahash::AHashMap<&Bytes, usize> = before
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect();
    let index_of = |key: &Bytes| index.get(key).copied();
    for ev in events {
        let target_db = ev.db.unwrap_or(db);
        if let (Some(i), None) = (index_of(&ev.key), ev.db) {
            // A key the command created gets `new` just before its first event.
            if ev.event == "new" {
                created_done[i] = true;
            } else if !created_done[i] && !before.states[i].present && after[i].present {
                created_done[i] = true;
                publish(store, NEW, "new", &ev.key, db);
            }
            if matches!(ev.event, "del" | "rename_from" | "move_from") {
                removed_done[i] = true;
            }
        }
        publish(store, ev.class, ev.event, &ev.key, target_db);
    }
    for (i, key) in before.keys.iter().enumerate() {
        if !created_done[i] && !before.states[i].present && after[i].present {
            publish(store, NEW, "new", key, db);
        }
        if before.states[i].present && !after[i].present && !removed_done[i] {
            removed_done[i] = true;
            publish(store, GENERIC, "del", key, db);
        }
    }
}

/// Publishes the `keymiss` events the command's lookups noted, in lookup order. Inlined
/// into every call: with nothing noted, one test.
#[inline]
pub(crate) fn publish_misses(store: &mut Store, db: usize) {
    if !store.key_misses.is_empty() {
        publish_noted_misses(store, db);
    }
}

/// `publish_misses` when some were noted.
#[inline(never)]
fn publish_noted_misses(store: &mut Store, db: usize) {
    for key in std::mem::take(&mut store.key_misses) {
        publish(store, KEY_MISS, "keymiss", &key, db);
    }
}

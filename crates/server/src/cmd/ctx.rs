//! The execution context handed to every handler: the store, the calling client and the
//! command's timestamp (one per command, as Redis caches mstime, so a command sees a single
//! consistent "now" for all the keys it touches).

use super::{err, CmdResult};
use crate::client::ClientState;
use crate::store::Store;
use bytes::Bytes;
use rubra_keyspace::db::lru_clock;
use rubra_keyspace::{Db, Entry, HashValue, ListValue, SetValue, StrValue, Value, ZSet};
use rubra_resp::Reply;

/// A blocking command found nothing and asks to wait.
#[derive(Debug, Clone)]
pub(crate) struct BlockRequest {
    pub keys: Vec<Bytes>,
    /// 0 means wait forever.
    pub timeout_ms: u64,
    /// What the client gets when the timeout fires.
    pub timeout_reply: Reply,
}

/// What a handler may use.
pub(crate) struct Ctx<'a> {
    pub store: &'a mut Store,
    pub client: &'a mut ClientState,
    pub now_ms: u64,
    /// Set by a blocking command that must wait (see `block_on`).
    pub block: Option<BlockRequest>,
    /// What to propagate instead of the command itself, when replaying it verbatim would
    /// not reproduce the same state (relative TTLs, random choices, blocking forms).
    pub propagate: Option<Vec<Vec<Bytes>>>,
    /// The keys a write actually modified, when not all of its key arguments (an SMOVE
    /// whose destination already held the member leaves it untouched for WATCH, as Redis).
    pub touched: Option<Vec<Bytes>>,
    /// A write that changed nothing but that Redis still signals (an LTRIM keeping the
    /// whole list): its keyspace event fires and WATCH sees its key; nothing propagates.
    pub signal_unchanged: bool,
    /// A write that reset the dirty counter itself (FLUSHALL saving the RDB when save
    /// points are set): it still counts as a change and propagates, as Redis's
    /// forceCommandPropagation makes it.
    pub force_propagate: bool,
    /// The lookup that last bumped an LFU counter in this command: the key argument's
    /// address and the entry's ((0, 0): none). Our commands look a key up more often than
    /// Redis's do (a type check, then the write); those repeats of one lookup count once.
    /// Redis counts every lookup it makes, so a key named twice (MGET k k, LMOVE l l,
    /// ZINTER 2 z z), being another argument, counts twice.
    pub lfu_bumped: Bumped,
    /// Big string values to fill with the request's own argument buffers once the command
    /// is done (see `Adoption`).
    pub adopt: Adoption,
}

/// Arguments from this size up are adopted. Below `BIG_ARG` an argument is a copy the parser
/// made into an allocation of its own (`Bytes` over a `Vec` of exactly its length), which
/// `Vec::from` takes over as is: storing it that way instead of copying it again saves a
/// copy and an allocation per value (on a slot import of 16 KiB values, one of the two
/// copies the target made of every value). Smaller values are copied: the second lookup
/// that adoption costs is about what a copy of them costs.
const ADOPT_MIN: usize = 4 * 1024;

/// A large value is held once from the socket to the keyspace: a top-level write that
/// stores one of the request's big arguments as a string stores an empty placeholder and
/// notes it here; when the command is done the dispatcher, which owns the arguments, moves
/// the argument's buffer into the placeholder (`Vec::from(Bytes)`, no copy while nothing
/// else holds it). Nothing reads the value between the two: the rest of the command's
/// bookkeeping (events, propagation, tracking) uses key names and the arguments. A null
/// pointer, free to make and to drop, for requests without a big argument (almost all).
#[derive(Default)]
pub(crate) struct Adoption(Option<Box<BigArgs>>);

/// The request's big arguments and the placeholders written for them.
#[derive(Default)]
pub(crate) struct BigArgs {
    /// (address, length, index) of the request's arguments of `ADOPT_MIN` bytes or more.
    eligible: Vec<(usize, usize, usize)>,
    /// (db, key, argument index) of the placeholders written, at most one per key.
    pub pending: Vec<(usize, Bytes, usize)>,
}

impl Adoption {
    /// The big arguments of a request the dispatcher owns and will hand over; `total` is
    /// the sum of the arguments' lengths (below `ADOPT_MIN` none can be big: no scan).
    pub(crate) fn for_request(args: &[Bytes], total: usize) -> Adoption {
        if total < ADOPT_MIN || args.len() < 3 {
            return Adoption(None);
        }
        let eligible: Vec<_> = args
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, a)| a.len() >= ADOPT_MIN)
            .map(|(i, a)| (a.as_ptr() as usize, a.len(), i))
            .collect();
        if eligible.is_empty() {
            return Adoption(None);
        }
        Adoption(Some(Box::new(BigArgs {
            eligible,
            pending: Vec::new(),
        })))
    }

    /// The placeholders written, for the dispatcher to fill (None: nothing to do).
    pub(crate) fn take(&mut self) -> Option<Box<BigArgs>> {
        self.0.take()
    }

    /// The string to store for `value` under `key` in `db`: a copy, or, for a request's big
    /// argument, an empty placeholder noted for the dispatcher to fill. A later write of
    /// the same key in the same command replaces an earlier note.
    pub(crate) fn string_for(&mut self, db: usize, key: &Bytes, value: &Bytes) -> StrValue {
        let Some(big) = self.0.as_deref_mut() else {
            return StrValue::from_slice(value);
        };
        big.pending.retain(|(d, k, _)| *d != db || k != key);
        match big.index_of(value) {
            Some(i) => {
                big.pending.push((db, key.clone(), i));
                StrValue::new()
            }
            None => StrValue::from_slice(value),
        }
    }
}

impl BigArgs {
    /// Whether `value` is one of the request's own big arguments (and which); a copy or an
    /// argument of a queued or scripted command is not.
    fn index_of(&self, value: &Bytes) -> Option<usize> {
        let at = value.as_ptr() as usize;
        self.eligible
            .iter()
            .find(|(p, len, _)| *p == at && *len == value.len())
            .map(|(_, _, i)| *i)
    }
}

/// Typed views of a value, one per type, used by the generic accessors below.
pub(crate) trait TypedValue: Sized {
    fn view(v: &mut Value) -> Option<&mut Self>;
    fn view_ref(v: &Value) -> Option<&Self>;
    fn matches(v: &Value) -> bool;
    fn empty() -> Value;
}

macro_rules! typed {
    ($ty:ty, $variant:ident, $make:expr) => {
        impl TypedValue for $ty {
            fn view(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn view_ref(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn matches(v: &Value) -> bool {
                matches!(v, Value::$variant(_))
            }
            fn empty() -> Value {
                $make
            }
        }
    };
}

typed!(StrValue, Str, Value::Str(StrValue::new()));
typed!(ListValue, List, Value::new_list());
typed!(HashValue, Hash, Value::new_hash());
typed!(SetValue, Set, Value::new_set());
typed!(ZSet, ZSet, Value::new_zset());

impl<'a> Ctx<'a> {
    /// A context for one command of `client` at `now_ms`, with nothing recorded yet.
    pub(crate) fn new(store: &'a mut Store, client: &'a mut ClientState, now_ms: u64) -> Self {
        Ctx {
            store,
            client,
            now_ms,
            block: None,
            propagate: None,
            touched: None,
            signal_unchanged: false,
            force_propagate: false,
            lfu_bumped: Bumped::default(),
            adopt: Adoption::default(),
        }
    }

    /// The client's selected database.
    pub(crate) fn db(&mut self) -> &mut Db {
        let i = self.client.db;
        &mut self.store.dbs[i]
    }

    /// Index of the client's selected database.
    pub(crate) fn db_index(&self) -> usize {
        self.client.db
    }

    /// Counts `n` changes (for replication, save rules and WATCH/blocking signals).
    pub(crate) fn dirty(&mut self, n: u64) {
        self.store.dirty += n;
    }

    /// Looks a key up for reading: counts a keyspace hit or miss and refreshes its access
    /// time (LRU) and frequency (LFU). Never copies data, even while a snapshot shares
    /// the key's slot (the access time is then left alone, as Redis does during a fork).
    pub(crate) fn read(&mut self, key: &[u8]) -> Option<&Entry> {
        let now = self.now_ms;
        let store = &mut *self.store;
        let lfu = store.config.lfu;
        let bumped = &mut self.lfu_bumped;
        let found =
            store.dbs[self.client.db].get_touch(key, now, |e| touch_once(e, key, now, lfu, bumped));
        count_lookup(
            &mut store.stats,
            &mut store.key_misses,
            store.notify_flags,
            key,
            found,
        )
    }

    /// Looks a key up for reading as Redis's LOOKUP_NOTOUCH does (TYPE, EXISTS, the TTL
    /// family): a hit or miss is counted and a miss notified, but the key's access time and
    /// frequency stay as they were, so OBJECT IDLETIME and eviction do not see a use.
    pub(crate) fn read_untouched(&mut self, key: &[u8]) -> Option<&Entry> {
        let now = self.now_ms;
        let store = &mut *self.store;
        let found = store.dbs[self.client.db].get(key, now);
        count_lookup(
            &mut store.stats,
            &mut store.key_misses,
            store.notify_flags,
            key,
            found,
        )
    }

    /// Looks a key up for writing (no hit/miss accounting).
    pub(crate) fn write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now_ms;
        let lfu = self.store.config.lfu;
        let i = self.client.db;
        let entry = self.store.dbs[i].get_mut(key, now)?;
        touch_once(entry, key, now, lfu, &mut self.lfu_bumped);
        Some(entry)
    }

    /// Before a write that replaces `key` whole (SET and friends, the *STORE destinations,
    /// RENAME's): looks it up as Redis's setKey and RENAME do, so that a logically expired
    /// key is deleted first and its DEL propagated before the command (in one MULTI with
    /// it). Without a key with a TTL in the database none can be expired: no lookup then.
    pub(crate) fn expire_before_overwrite(&mut self, key: &[u8]) {
        let now = self.now_ms;
        let db = self.db();
        if db.expires_count() > 0 {
            db.contains(key, now);
        }
    }

    /// A lookup of `key` for writing that Redis makes on its own (setKey's, SET NX's,
    /// RENAME's and MOVE's source): an access to a live key (LFU counter, LRU time) even
    /// when this command already read it, since Redis counts every lookup.
    pub(crate) fn access(&mut self, key: &[u8]) {
        let now = self.now_ms;
        let lfu = self.store.config.lfu;
        let i = self.client.db;
        if let Some(entry) = self.store.dbs[i].get_mut(key, now) {
            touch(entry, now, lfu);
            self.lfu_bumped
                .seen((key.as_ptr() as usize, entry as *const Entry as usize));
        }
    }

    /// Makes the next lookup an access of its own even of a key this command already
    /// accessed: where Redis looks one key up several times (PFMERGE reads every argument,
    /// the destination among them, then looks the destination up for writing), each
    /// lookup counts.
    pub(crate) fn separate_lookup(&mut self) {
        self.lfu_bumped.clear();
    }

    /// Records `key` (just created) as already accessed by this command, so that the
    /// command's further lookups of it are no accesses: Redis writes an object it created
    /// without looking it up again, and a new key's LFU counter stays at its start.
    pub(crate) fn mark_accessed(&mut self, key: &[u8]) {
        let now = self.now_ms;
        let i = self.client.db;
        if let Some(entry) = self.store.dbs[i].get_mut(key, now) {
            self.lfu_bumped
                .seen((key.as_ptr() as usize, entry as *const Entry as usize));
        }
    }

    /// Replaces `key` whole with `entry` (TTL `expire_at`, 0 = none), as Redis's setKey:
    /// the old key is looked up for writing (an access, see `access`), and under an LFU
    /// policy the new value keeps the old one's counter and access time (dbOverwrite
    /// copies the object's lru field), so overwriting a hot key does not make it cold.
    pub(crate) fn overwrite(&mut self, key: &[u8], mut entry: Entry, expire_at: u64) {
        let now = self.now_ms;
        let lfu = self.store.config.lfu;
        let i = self.client.db;
        // Without an LFU policy the old entry's access is dropped with it (the new one
        // starts now, as Redis's new object): no lookup before the write (SET's common
        // path is one hash probe).
        if lfu.enabled {
            if let Some(old) = self.store.dbs[i].get_mut(key, now) {
                touch(old, now, lfu);
                entry.lru = old.lru;
                entry.lfu = old.lfu;
            }
        }
        self.store.dbs[i].insert(key, entry, expire_at);
    }

    /// Reads a key as type T: Ok(None) if missing, WRONGTYPE if another type.
    pub(crate) fn read_as<T: TypedValue>(&mut self, key: &[u8]) -> Result<Option<&T>, Reply> {
        match self.read(key) {
            None => Ok(None),
            Some(e) => match T::view_ref(&e.value) {
                Some(v) => Ok(Some(v)),
                // Built here only: `ok_or(err::WRONGTYPE)` would build and drop it per call.
                None => Err(err::WRONGTYPE),
            },
        }
    }

    /// Marks this write as modifying no key the way Redis counts it (it does not call
    /// signalModifiedKey): WATCH, tracking and blocked clients are not told. Consumer-group
    /// bookkeeping (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, XGROUP) and XSETID are such writes.
    pub(crate) fn touches_nothing(&mut self) {
        self.touched = Some(Vec::new());
    }

    /// Records whether the string at `key` was edited in place (OBJECT ENCODING then says
    /// raw, as Redis's unshared sds) or rewritten whole (encoding by content again).
    pub(crate) fn set_raw(&mut self, key: &[u8], raw: bool) {
        let now = self.now_ms;
        if let Some(e) = self.db().get_mut(key, now) {
            e.raw = raw;
            e.no_int = false;
        }
    }

    /// Marks `key` as the only key this write modified (WATCH, tracking): the sources a
    /// *STORE, COPY or MPOP command only read stay untouched, as in Redis.
    pub(crate) fn touched_only(&mut self, key: &Bytes) {
        self.touched = Some(vec![key.clone()]);
    }

    /// Records that the string at `key` was rewritten whole from a printed number that
    /// Redis does not turn into an integer object (INCRBYFLOAT): embstr/raw by length.
    pub(crate) fn set_no_int(&mut self, key: &[u8]) {
        let now = self.now_ms;
        if let Some(e) = self.db().get_mut(key, now) {
            e.raw = false;
            e.no_int = true;
        }
    }

    /// Gets a key as type T for writing: Ok(None) if missing, WRONGTYPE if another type.
    pub(crate) fn write_as<T: TypedValue>(&mut self, key: &[u8]) -> Result<Option<&mut T>, Reply> {
        match self.write(key) {
            None => Ok(None),
            Some(e) => match T::view(&mut e.value) {
                Some(v) => Ok(Some(v)),
                None => Err(err::WRONGTYPE),
            },
        }
    }

    /// Gets a key as type T for writing, creating an empty value if it is missing.
    /// One hash probe for an existing key (`Db::get_mut_or_create`); the error replies are
    /// built only on the error paths (an eager `ok_or(err::X)` builds and drops one per call).
    pub(crate) fn write_or_create<T: TypedValue>(&mut self, key: &Bytes) -> Result<&mut T, Reply> {
        let now = self.now_ms;
        let lfu = self.store.config.lfu;
        let i = self.client.db;
        let found =
            self.store.dbs[i].get_mut_or_create(key, now, |e| T::matches(&e.value), T::empty);
        let Ok((entry, created)) = found else {
            return Err(err::WRONGTYPE);
        };
        // A new key is not an access: its counter starts at LFU_INIT, as in Redis.
        if !created {
            touch_once(entry, key, now, lfu, &mut self.lfu_bumped);
        }
        match T::view(&mut entry.value) {
            Some(v) => Ok(v),
            None => Err(err::WRONGTYPE),
        }
    }

    /// While a blocked client is served: whether `key` is not the one that woke it (streams
    /// serve a reader only from that key, as Redis does).
    pub(crate) fn woken_by_other_key(&self, key: &[u8]) -> bool {
        self.client
            .served_key
            .as_ref()
            .is_some_and(|k| k.as_ref() != key)
    }

    /// The order in which a multi-key blocking command tries its keys: argument order, but
    /// the key that woke a served blocked client first, as Redis serves from the ready key.
    pub(crate) fn key_order(&self, keys: &[Bytes]) -> Vec<usize> {
        let woke = self
            .client
            .served_key
            .as_ref()
            .and_then(|k| keys.iter().position(|x| x == k));
        woke.into_iter()
            .chain((0..keys.len()).filter(|&i| Some(i) != woke))
            .collect()
    }

    /// Checks the type of a key without borrowing it: Ok(true) if it exists with type T.
    pub(crate) fn check_type<T: TypedValue>(&mut self, key: &[u8]) -> Result<bool, Reply> {
        Ok(self.write_as::<T>(key)?.is_some())
    }

    /// Deletes a collection key that became empty, as Redis never keeps empty collections.
    pub(crate) fn remove_if_empty(&mut self, key: &[u8]) {
        let now = self.now_ms;
        let empty = self
            .db()
            .get(key, now)
            .is_some_and(|e| e.value.is_empty_collection());
        if empty {
            self.db().remove(key);
        }
    }

    /// For blocking commands that found nothing: inside MULTI/EXEC (or when serving a
    /// blocked client's retry) answer at once with the timeout reply; otherwise ask the
    /// connection to wait on `keys`.
    pub(crate) fn block_on(
        &mut self,
        keys: Vec<Bytes>,
        timeout_ms: u64,
        timeout_reply: Reply,
    ) -> CmdResult {
        if !self.client.no_block {
            self.block = Some(BlockRequest {
                keys,
                timeout_ms,
                timeout_reply: timeout_reply.clone(),
            });
        }
        Ok(timeout_reply)
    }
}

/// Counts a read lookup's result as a keyspace hit or miss, and notes a miss for the
/// `keymiss` event when it is enabled: what every read lookup does, touching or not.
fn count_lookup<'a>(
    stats: &mut crate::store::Stats,
    key_misses: &mut Vec<Bytes>,
    notify_flags: u32,
    key: &[u8],
    found: Option<&'a Entry>,
) -> Option<&'a Entry> {
    if found.is_some() {
        stats.keyspace_hits += 1;
    } else {
        stats.keyspace_misses += 1;
        if notify_flags & crate::exec::notify::KEY_MISS != 0 {
            key_misses.push(Bytes::copy_from_slice(key));
        }
    }
    found
}

/// `touch` unless the command's last access was this same lookup again: the same key
/// argument (its address) finding the same entry (see `Ctx::lfu_bumped`).
fn touch_once(
    entry: &mut Entry,
    key: &[u8],
    now_ms: u64,
    lfu: crate::config::LfuParams,
    bumped: &mut Bumped,
) {
    if !lfu.enabled {
        // Without an LFU policy an access only sets the access time: repeating it changes
        // nothing, so nothing is remembered (the common path).
        entry.lru = lru_clock(now_ms);
        return;
    }
    if !bumped.seen((key.as_ptr() as usize, entry as *const Entry as usize)) {
        touch(entry, now_ms, lfu);
    }
}

/// The last few lookups (key argument address, entry address) that counted as accesses
/// in the running command: see `Ctx::lfu_bumped`. A few, not one, because our commands
/// alternate between their keys (LMOVE checks the source, the destination, the source
/// again).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Bumped {
    recent: [(usize, usize); 4],
    next: u8,
}

impl Bumped {
    /// Whether `lookup` counted already; if not, remembers it (the oldest is forgotten).
    #[inline]
    pub(crate) fn seen(&mut self, lookup: (usize, usize)) -> bool {
        if self.recent.contains(&lookup) {
            return true;
        }
        self.recent[usize::from(self.next) % 4] = lookup;
        self.next = self.next.wrapping_add(1);
        false
    }

    /// Forgets every lookup: the next ones all count.
    #[inline]
    pub(crate) fn clear(&mut self) {
        *self = Bumped::default();
    }
}

/// Records an access: the LFU counter first loses what it decayed since the last access
/// (LFUDecrAndReturn), then grows logarithmically (LFULogIncr, lfu-log-factor), and the
/// access time moves to now; hot keys so survive LFU eviction and idle ones fade.
pub(crate) fn touch(entry: &mut Entry, now_ms: u64, lfu: crate::config::LfuParams) {
    let now = lru_clock(now_ms);
    if !lfu.enabled {
        // Redis keeps the counter only under an LFU policy (OBJECT FREQ refuses to answer
        // otherwise): no random draw per access, the access time alone moves.
        entry.lru = now;
        return;
    }
    let mut counter = entry.lfu;
    if let Some(periods) =
        (now.saturating_sub(entry.lru) as u64 / 60).checked_div(lfu.decay_minutes)
    {
        counter = counter.saturating_sub(periods.min(255) as u8);
    }
    if counter < 255 {
        let base = counter.saturating_sub(rubra_keyspace::db::LFU_INIT) as f64;
        let p = 1.0 / (base * lfu.log_factor as f64 + 1.0);
        if rand::random::<f64>() < p {
            counter += 1;
        }
    }
    entry.lfu = counter;
    entry.lru = now;
}

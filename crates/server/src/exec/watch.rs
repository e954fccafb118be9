//! WATCH bookkeeping: which clients watch which keys, and which clients' transactions are
//! already doomed because a watched key changed (Redis's CLIENT_DIRTY_CAS).
//!
//! Redis 7.0 remembers, per watched key, whether the key was already logically expired
//! (still stored, past its TTL) when WATCH ran. Such a key's lazy deletion is no change:
//! the mark is cleared instead of failing the transaction. A key that was live at WATCH
//! time and has expired by EXEC fails it, even if nobody deleted it yet.

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;

/// One client's watch on one key, in the order the key's watchers called WATCH.
#[derive(Debug, Clone, Copy)]
struct Watcher {
    client: u64,
    /// The key was logically expired when WATCH ran (Redis's `watchedKey.expired`).
    expired: bool,
}

/// Watched keys per (db, key), each client's keys, and the clients whose EXEC must fail.
#[derive(Default)]
pub(crate) struct Watches {
    by_key: AHashMap<(usize, Bytes), Vec<Watcher>>,
    by_client: AHashMap<u64, Vec<(usize, Bytes)>>,
    dirty: AHashSet<u64>,
}

impl Watches {
    /// Registers `client` as watching `key` in `db`; `expired` says the key is stored but
    /// past its TTL now. A client already doomed watches nothing more (as in Redis).
    pub(crate) fn watch(&mut self, client: u64, db: usize, key: Bytes, expired: bool) {
        if self.dirty.contains(&client) {
            return;
        }
        let mine = self.by_client.entry(client).or_default();
        if mine.iter().any(|(d, k)| *d == db && *k == key) {
            return;
        }
        mine.push((db, key.clone()));
        self.by_key
            .entry((db, key))
            .or_default()
            .push(Watcher { client, expired });
    }

    /// Removes `client` from the watcher lists of all its keys; its doom stays.
    fn unwatch_keys(&mut self, client: u64) {
        for k in self.by_client.remove(&client).unwrap_or_default() {
            if let Some(list) = self.by_key.get_mut(&k) {
                list.retain(|w| w.client != client);
                if list.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
    }

    /// How many keys `client` watches (its memory, for client eviction).
    pub(crate) fn count(&self, client: u64) -> usize {
        self.by_client.get(&client).map_or(0, Vec::len)
    }

    /// Forgets all of `client`'s watches and its doom (UNWATCH, EXEC, DISCARD, disconnect).
    pub(crate) fn unwatch_all(&mut self, client: u64) {
        self.unwatch_keys(client);
        self.dirty.remove(&client);
    }

    /// Dooms `client`'s transaction as a change to a key it watches does: a WATCH answered
    /// during a busy script whose keys the script wrote afterwards (`script::busy_serve`).
    pub(crate) fn doom(&mut self, client: u64) {
        self.dirty.insert(client);
    }

    /// A command changed `key` (or its expiry deleted it): its watchers' transactions fail.
    /// `stored` says whether the key is in the database now (expired or not); it is only
    /// asked when a watcher watched the key already expired. Runs for every written key:
    /// while nothing is watched, one inlined test.
    #[inline]
    pub(crate) fn touch(&mut self, db: usize, key: &Bytes, stored: impl FnOnce() -> bool) {
        if !self.by_key.is_empty() {
            self.touch_watched(db, key, stored);
        }
    }

    /// `touch` while some key is watched. As Redis 7.0.15's touchWatchedKey: watchers are
    /// visited in WATCH order; one that watched the key already expired has its mark
    /// cleared if the key is gone (its deletion is no logical change), and otherwise ends
    /// the visit, leaving it and the watchers after it untouched. A doomed watcher stops
    /// watching all its keys.
    #[inline(never)]
    fn touch_watched(&mut self, db: usize, key: &Bytes, stored: impl FnOnce() -> bool) {
        let k = (db, key.clone());
        let Some(list) = self.by_key.get_mut(&k) else {
            return;
        };
        let mut stored = Some(stored);
        let mut is_stored = None;
        let mut doomed = Vec::new();
        for w in list.iter_mut() {
            if w.expired {
                let present = *is_stored.get_or_insert_with(|| stored.take().is_some_and(|f| f()));
                if present {
                    break;
                }
                w.expired = false;
                continue;
            }
            doomed.push(w.client);
        }
        for c in doomed {
            self.dirty.insert(c);
            self.unwatch_keys(c);
        }
    }

    /// FLUSHDB/FLUSHALL empty `db`; SWAPDB replaces its data by another database's
    /// (`replaced_with`). As Redis's touchAllWatchedKeysInDb: a watched key stored in
    /// either dooms its watchers, except that a watch on a key expired at WATCH time is
    /// no change if the key is now gone or still expired, and a watch on a missing key
    /// that is replaced by an expired one only becomes such a watch. `stored(db, key)` and
    /// `expired(db, key)` look at the data before the flush or swap.
    pub(crate) fn touch_db(
        &mut self,
        db: usize,
        replaced_with: Option<usize>,
        stored: impl Fn(usize, &Bytes) -> bool,
        expired: impl Fn(usize, &Bytes) -> bool,
    ) {
        for ((d, key), list) in self.by_key.iter_mut() {
            if *d != db {
                continue;
            }
            let in_emptied = stored(db, key);
            let in_other = replaced_with.is_some_and(|o| stored(o, key));
            if !in_emptied && !in_other {
                continue;
            }
            for w in list.iter_mut() {
                if w.expired {
                    match replaced_with {
                        Some(o) if in_other => {
                            if expired(o, key) {
                                continue;
                            }
                        }
                        _ => {
                            w.expired = false;
                            continue;
                        }
                    }
                } else if !in_emptied && replaced_with.is_some_and(|o| expired(o, key)) {
                    w.expired = true;
                    continue;
                }
                // Doomed but still watching, as in Redis (it does not unwatch here).
                self.dirty.insert(w.client);
            }
        }
    }

    /// Whether `client`'s transaction must abort.
    pub(crate) fn is_dirty(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }

    /// The keys `client` watches that were live at WATCH time (EXEC fails if one of them
    /// has logically expired since).
    pub(crate) fn live_at_watch(&self, client: u64) -> Vec<(usize, Bytes)> {
        let Some(mine) = self.by_client.get(&client) else {
            return Vec::new();
        };
        mine.iter()
            .filter(|k| {
                self.by_key
                    .get(*k)
                    .is_some_and(|list| list.iter().any(|w| w.client == client && !w.expired))
            })
            .cloned()
            .collect()
    }
}

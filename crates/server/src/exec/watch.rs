//! WATCH bookkeeping: which clients watch which keys, and which clients' transactions are
//! already doomed because a watched key changed (Redis's CLIENT_DIRTY_CAS).

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;

/// Watched keys per (db, key), and the set of clients whose EXEC must fail.
#[derive(Default)]
pub(crate) struct Watches {
    by_key: AHashMap<(usize, Bytes), Vec<u64>>,
    dirty: AHashSet<u64>,
}

impl Watches {
    /// Registers `client` as watching `key` in `db`.
    pub(crate) fn watch(&mut self, client: u64, db: usize, key: Bytes) {
        let list = self.by_key.entry((db, key)).or_default();
        if !list.contains(&client) {
            list.push(client);
        }
    }

    /// Forgets all of `client`'s watches (UNWATCH, EXEC, DISCARD, disconnect).
    pub(crate) fn unwatch_all(&mut self, client: u64, keys: &[(usize, Bytes)]) {
        for k in keys {
            if let Some(list) = self.by_key.get_mut(k) {
                list.retain(|&c| c != client);
                if list.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        self.dirty.remove(&client);
    }

    /// Marks every client watching `key` as dirty. Runs for every written key: while
    /// nothing is watched, one inlined test.
    #[inline]
    pub(crate) fn touch(&mut self, db: usize, key: &Bytes) {
        if !self.by_key.is_empty() {
            self.touch_watched(db, key);
        }
    }

    /// `touch` while some key is watched.
    #[inline(never)]
    fn touch_watched(&mut self, db: usize, key: &Bytes) {
        if let Some(list) = self.by_key.get(&(db, key.clone())) {
            self.dirty.extend(list.iter().copied());
        }
    }

    /// Marks every client watching any key of `db` as dirty (FLUSHDB, SWAPDB), when `exists`
    /// says the key existed before the flush (Redis only fails EXEC for keys that changed).
    pub(crate) fn touch_db(&mut self, db: usize, mut exists: impl FnMut(&Bytes) -> bool) {
        let hits: Vec<u64> = self
            .by_key
            .iter()
            .filter(|((d, k), _)| *d == db && exists(k))
            .flat_map(|(_, list)| list.iter().copied())
            .collect();
        self.dirty.extend(hits);
    }

    /// Whether `client`'s transaction must abort.
    pub(crate) fn is_dirty(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }
}

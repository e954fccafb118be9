//! Clients blocked in BLPOP and friends: who waits on which key, in arrival order, and which
//! keys received data and must be checked. Serving happens in the dispatcher, under the same
//! lock as the write that made the key ready, so a woken client sees exactly that state and
//! clients are served first-come first-served, as Redis does.

use ahash::{AHashMap, AHashSet};
use bytes::Bytes;
use std::collections::VecDeque;

/// A blocked client and the command it will retry.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    pub client: u64,
    pub db: usize,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub resp3: bool,
}

/// The registry of blocked clients.
#[derive(Default)]
pub(crate) struct Blocking {
    by_key: AHashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: AHashMap<u64, Waiter>,
    ready: Vec<(usize, Bytes)>,
    ready_set: AHashSet<(usize, Bytes)>,
    /// Arguments to retry a command with instead of the ones it came with, set by a command
    /// that is about to block (XREAD replaces `$` by the ID it meant at block time).
    retry_args: Option<Vec<Bytes>>,
}

impl Blocking {
    /// Registers a blocked client on all its keys.
    pub(crate) fn block(&mut self, w: Waiter) {
        for k in &w.keys {
            let q = self.by_key.entry((w.db, k.clone())).or_default();
            if !q.contains(&w.client) {
                q.push_back(w.client);
            }
        }
        self.waiters.insert(w.client, w);
    }

    /// Sets the arguments the next registered waiter retries with (see `retry_args`).
    pub(crate) fn set_retry_args(&mut self, args: Vec<Bytes>) {
        self.retry_args = Some(args);
    }

    /// Takes the arguments set by `set_retry_args`, if any.
    pub(crate) fn take_retry_args(&mut self) -> Option<Vec<Bytes>> {
        self.retry_args.take()
    }

    /// Every blocked client's registration (the cluster cron checks where their keys are).
    pub(crate) fn waiters(&self) -> impl Iterator<Item = &Waiter> {
        self.waiters.values()
    }

    /// Removes a client's registration; returns it if it was still blocked.
    pub(crate) fn unblock(&mut self, client: u64) -> Option<Waiter> {
        let w = self.waiters.remove(&client)?;
        for k in &w.keys {
            let key = (w.db, k.clone());
            if let Some(q) = self.by_key.get_mut(&key) {
                q.retain(|&c| c != client);
                if q.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        Some(w)
    }

    /// Notes that `key` may now satisfy blocked clients. Runs for every written key:
    /// while nobody is blocked, one inlined test.
    #[inline]
    pub(crate) fn signal(&mut self, db: usize, key: &Bytes) {
        if self.by_key.is_empty() {
            return;
        }
        self.signal_slow(db, key);
    }

    /// `signal` while some client is blocked.
    #[inline(never)]
    fn signal_slow(&mut self, db: usize, key: &Bytes) {
        let k = (db, key.clone());
        if self.by_key.contains_key(&k) && self.ready_set.insert(k.clone()) {
            self.ready.push(k);
        }
    }

    /// Takes the keys signalled since the last call, in signal order.
    pub(crate) fn take_ready(&mut self) -> Vec<(usize, Bytes)> {
        self.ready_set.clear();
        std::mem::take(&mut self.ready)
    }

    /// Whether any key is waiting to be served.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The clients blocked on a key, first come first.
    pub(crate) fn queue(&self, db: usize, key: &Bytes) -> Vec<u64> {
        self.by_key
            .get(&(db, key.clone()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A blocked client's registration.
    pub(crate) fn waiter(&self, client: u64) -> Option<&Waiter> {
        self.waiters.get(&client)
    }

    /// Number of blocked clients (INFO blocked_clients).
    pub(crate) fn len(&self) -> usize {
        self.waiters.len()
    }

    /// After FLUSHDB/FLUSHALL: every key anyone waits on in `db` is checked again.
    pub(crate) fn signal_db(&mut self, db: usize) {
        let keys: Vec<Bytes> = self
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        for k in keys {
            self.signal(db, &k);
        }
    }

    /// After SWAPDB: clients stay on their database index, but the data under it changed,
    /// so every key anyone waits on in either database is checked again.
    pub(crate) fn swap_dbs(&mut self, a: usize, b: usize) {
        let keys: Vec<(usize, Bytes)> = self
            .by_key
            .keys()
            .filter(|(d, _)| *d == a || *d == b)
            .cloned()
            .collect();
        for (d, k) in keys {
            self.signal(d, &k);
        }
    }
}

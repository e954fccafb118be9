//! Which keyspace events each write publishes, in Redis 7.0's order (the names and order
//! of t_string.c, t_list.c, t_hash.c, t_set.c, t_zset.c, t_stream.c, db.c and expire.c).
//! Derived from the command, its arguments and its keys' state before and after, so the
//! handlers stay untouched. `new` and the `del` of a key left empty are added by
//! `notify::after` unless an entry here places them itself.

use crate::exec::notify::{KeyState, GENERIC, HASH, LIST, NEW, SET, STREAM, STRING, ZSET};
use bytes::Bytes;

/// What a table entry may look at.
pub(crate) struct View<'a> {
    pub args: &'a [Bytes],
    pub keys: &'a [Bytes],
    pub before: &'a [KeyState],
    pub after: &'a [KeyState],
    pub positions: Vec<usize>,
}

impl View<'_> {
    fn index(&self, key: &Bytes) -> Option<usize> {
        // Linear: only two-key commands and multi-key pops (a scan until the first popped
        // key) call it.
        self.keys.iter().position(|k| k == key)
    }
    fn before(&self, key: &Bytes) -> KeyState {
        self.index(key).map(|i| self.before[i]).unwrap_or_default()
    }
    fn after(&self, key: &Bytes) -> KeyState {
        self.index(key).map(|i| self.after[i]).unwrap_or_default()
    }
    /// The n-th key argument.
    fn key(&self, n: usize) -> Option<&Bytes> {
        self.positions.get(n).map(|&i| &self.args[i])
    }
    /// The first key argument whose element count dropped (the key a multi-key pop served).
    fn popped(&self) -> Option<&Bytes> {
        self.positions.iter().map(|&i| &self.args[i]).find(|k| {
            let (b, a) = (self.before(k), self.after(k));
            b.present && (!a.present || a.len < b.len)
        })
    }
    /// The argument right after the last key (LMPOP's LEFT|RIGHT, ZMPOP's MIN|MAX).
    fn after_keys(&self) -> Option<&Bytes> {
        self.args.get(self.positions.last()? + 1)
    }
    /// Whether any argument after the first key is `word` (SET's EX, ZADD's INCR...).
    fn has_option(&self, word: &str) -> bool {
        let from = self.positions.first().map_or(1, |p| p + 1);
        self.args
            .iter()
            .skip(from)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    }
}

/// One event to publish.
pub(crate) struct Event {
    pub class: u32,
    pub event: &'static str,
    pub key: Bytes,
    /// Another database than the command's (MOVE's destination).
    pub db: Option<usize>,
}

fn ev(class: u32, event: &'static str, key: &Bytes) -> Event {
    Event {
        class,
        event,
        key: key.clone(),
        db: None,
    }
}

fn is(a: Option<&Bytes>, word: &str) -> bool {
    a.is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The events of one write that changed the dataset.
pub(crate) fn events(name: &str, v: &View) -> Vec<Event> {
    let mut out = Vec::new();
    let first = v.key(0).cloned();
    let on_first = |out: &mut Vec<Event>, class, event| {
        if let Some(k) = &first {
            out.push(ev(class, event, k));
        }
    };
    // Events a command publishes only if its key is still there (a *STORE with an empty
    // result deletes its destination instead, which publishes `del`).
    let if_present = |out: &mut Vec<Event>, class, event| {
        if let Some(k) = &first {
            if v.after(k).present {
                out.push(ev(class, event, k));
            }
        }
    };
    match name {
        // Strings.
        "set" => {
            on_first(&mut out, STRING, "set");
            if ["ex", "px", "exat", "pxat"].iter().any(|o| v.has_option(o)) {
                on_first(&mut out, GENERIC, "expire");
            }
        }
        "setex" | "psetex" => {
            on_first(&mut out, STRING, "set");
            on_first(&mut out, GENERIC, "expire");
        }
        "setnx" | "getset" => on_first(&mut out, STRING, "set"),
        "mset" | "msetnx" => {
            for i in 0..v.positions.len() {
                if let Some(k) = v.key(i) {
                    out.push(ev(STRING, "set", k));
                }
            }
        }
        "setrange" => on_first(&mut out, STRING, "setrange"),
        "append" => on_first(&mut out, STRING, "append"),
        "incr" | "decr" | "incrby" | "decrby" => on_first(&mut out, STRING, "incrby"),
        "incrbyfloat" => on_first(&mut out, STRING, "incrbyfloat"),
        "setbit" | "bitfield" => on_first(&mut out, STRING, "setbit"),
        "pfadd" | "pfmerge" => on_first(&mut out, STRING, "pfadd"),
        "bitop" => {
            if let Some(dst) = v.args.get(2) {
                if v.after(dst).present {
                    out.push(ev(STRING, "set", dst));
                }
            }
        }
        "sort" => {
            let at = v.args.iter().position(|a| a.eq_ignore_ascii_case(b"store"));
            if let Some(dst) = at.and_then(|i| v.args.get(i + 1)) {
                if v.after(dst).present {
                    out.push(ev(LIST, "sortstore", dst));
                }
            }
        }
        "getex" => {
            if let Some(k) = &first {
                let (b, a) = (v.before(k), v.after(k));
                if !a.present {
                    // A past time deleted it: `del` comes from the generic rule.
                } else if v.has_option("persist") {
                    if b.expire_at != 0 {
                        out.push(ev(GENERIC, "persist", k));
                    }
                } else if a.expire_at != 0 {
                    out.push(ev(GENERIC, "expire", k));
                }
            }
        }
        // Generic.
        "expire" | "pexpire" | "expireat" | "pexpireat" => {
            if_present(&mut out, GENERIC, "expire");
        }
        "persist" => on_first(&mut out, GENERIC, "persist"),
        "rename" | "renamenx" => {
            if let (Some(src), Some(dst)) = (v.key(0), v.key(1)) {
                // The destination is deleted and added again: always `new`.
                out.push(ev(NEW, "new", dst));
                out.push(ev(GENERIC, "rename_from", src));
                out.push(ev(GENERIC, "rename_to", dst));
            }
        }
        "copy" => {
            if let Some(dst) = v.key(1) {
                // COPY ... DB n publishes in the destination database.
                let at = v
                    .args
                    .iter()
                    .skip(3)
                    .position(|a| a.eq_ignore_ascii_case(b"db"));
                let db = at
                    .and_then(|i| v.args.get(i + 4))
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|d| d.parse::<usize>().ok());
                // The destination is (re)added: always `new`.
                out.push(Event {
                    db,
                    ..ev(NEW, "new", dst)
                });
                out.push(Event {
                    db,
                    ..ev(GENERIC, "copy_to", dst)
                });
            }
        }
        "move" => {
            let target = v
                .args
                .get(2)
                .and_then(|d| std::str::from_utf8(d).ok())
                .and_then(|d| d.parse::<usize>().ok());
            if let (Some(k), Some(t)) = (&first, target) {
                out.push(Event {
                    db: Some(t),
                    ..ev(NEW, "new", k)
                });
                out.push(ev(GENERIC, "move_from", k));
                out.push(Event {
                    db: Some(t),
                    ..ev(GENERIC, "move_to", k)
                });
            }
        }
        "restore" => {
            // RESTORE ... REPLACE deletes and adds again: always `new`.
            on_first(&mut out, NEW, "new");
            on_first(&mut out, GENERIC, "restore");
        }
        // Lists.
        "lpush" | "lpushx" => on_first(&mut out, LIST, "lpush"),
        "rpush" | "rpushx" => on_first(&mut out, LIST, "rpush"),
        "linsert" => on_first(&mut out, LIST, "linsert"),
        "lset" => on_first(&mut out, LIST, "lset"),
        "lrem" => on_first(&mut out, LIST, "lrem"),
        "ltrim" => on_first(&mut out, LIST, "ltrim"),
        "lpop" => on_first(&mut out, LIST, "lpop"),
        "rpop" => on_first(&mut out, LIST, "rpop"),
        "blpop" | "brpop" => {
            if let Some(k) = v.popped() {
                let e = if name == "blpop" { "lpop" } else { "rpop" };
                out.push(ev(LIST, e, k));
            }
        }
        "lmpop" | "blmpop" => {
            if let Some(k) = v.popped() {
                let e = if is(v.after_keys(), "left") {
                    "lpop"
                } else {
                    "rpop"
                };
                out.push(ev(LIST, e, k));
            }
        }
        "rpoplpush" | "brpoplpush" | "lmove" | "blmove" => {
            if let (Some(src), Some(dst)) = (v.key(0), v.key(1)) {
                let (from_left, to_left) = if name.ends_with("rpoplpush") {
                    (false, true)
                } else {
                    let at = v.positions.get(1).map_or(0, |p| p + 1);
                    (is(v.args.get(at), "left"), is(v.args.get(at + 1), "left"))
                };
                out.push(ev(LIST, if to_left { "lpush" } else { "rpush" }, dst));
                out.push(ev(LIST, if from_left { "lpop" } else { "rpop" }, src));
            }
        }
        // Hashes.
        "hset" | "hsetnx" | "hmset" => on_first(&mut out, HASH, "hset"),
        "hdel" => on_first(&mut out, HASH, "hdel"),
        "hincrby" => on_first(&mut out, HASH, "hincrby"),
        "hincrbyfloat" => on_first(&mut out, HASH, "hincrbyfloat"),
        // Sets.
        "sadd" => on_first(&mut out, SET, "sadd"),
        "srem" => on_first(&mut out, SET, "srem"),
        "spop" => on_first(&mut out, SET, "spop"),
        "smove" => {
            if let (Some(src), Some(dst)) = (v.key(0), v.key(1)) {
                out.push(ev(SET, "srem", src));
                if !v.after(src).present {
                    out.push(ev(GENERIC, "del", src));
                }
                let (b, a) = (v.before(dst), v.after(dst));
                if a.len > b.len || (!b.present && a.present) {
                    out.push(ev(SET, "sadd", dst));
                }
            }
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            let e = match name {
                "sinterstore" => "sinterstore",
                "sunionstore" => "sunionstore",
                _ => "sdiffstore",
            };
            if_present(&mut out, SET, e);
        }
        // Sorted sets.
        "zadd" => {
            let e = if v.has_option("incr") {
                "zincr"
            } else {
                "zadd"
            };
            on_first(&mut out, ZSET, e);
        }
        "zincrby" => on_first(&mut out, ZSET, "zincr"),
        "geoadd" => on_first(&mut out, ZSET, "zadd"),
        "geosearchstore" => if_present(&mut out, ZSET, "geosearchstore"),
        "georadius" | "georadiusbymember" => {
            let at = v.args.iter().rposition(|a| {
                a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist")
            });
            if let Some(dst) = at.and_then(|i| v.args.get(i + 1)) {
                if v.after(dst).present {
                    out.push(ev(ZSET, "georadiusstore", dst));
                }
            }
        }
        "zrem" => on_first(&mut out, ZSET, "zrem"),
        "zremrangebyscore" => on_first(&mut out, ZSET, "zremrangebyscore"),
        "zremrangebyrank" => on_first(&mut out, ZSET, "zremrangebyrank"),
        "zremrangebylex" => on_first(&mut out, ZSET, "zremrangebylex"),
        "zpopmin" => on_first(&mut out, ZSET, "zpopmin"),
        "zpopmax" => on_first(&mut out, ZSET, "zpopmax"),
        "bzpopmin" | "bzpopmax" => {
            if let Some(k) = v.popped() {
                let e = if name == "bzpopmin" {
                    "zpopmin"
                } else {
                    "zpopmax"
                };
                out.push(ev(ZSET, e, k));
            }
        }
        "zmpop" | "bzmpop" => {
            if let Some(k) = v.popped() {
                let e = if is(v.after_keys(), "min") {
                    "zpopmin"
                } else {
                    "zpopmax"
                };
                out.push(ev(ZSET, e, k));
            }
        }
        "zinterstore" | "zunionstore" | "zdiffstore" | "zrangestore" => {
            let e = match name {
                "zinterstore" => "zinterstore",
                "zunionstore" => "zunionstore",
                "zdiffstore" => "zdiffstore",
                _ => "zrangestore",
            };
            if_present(&mut out, ZSET, e);
        }
        // Streams.
        "xadd" => {
            if let Some(k) = &first {
                let (b, a) = (v.before(k), v.after(k));
                out.push(ev(STREAM, "xadd", k));
                if a.len < b.len + 1 {
                    out.push(ev(STREAM, "xtrim", k));
                }
            }
        }
        "xdel" => on_first(&mut out, STREAM, "xdel"),
        "xtrim" => on_first(&mut out, STREAM, "xtrim"),
        "xsetid" => on_first(&mut out, STREAM, "xsetid"),
        "xgroup" => {
            let sub = v.args.get(1).map(|s| s.to_ascii_lowercase());
            let e = match sub.as_deref() {
                Some(b"create") => Some("xgroup-create"),
                Some(b"setid") => Some("xgroup-setid"),
                Some(b"destroy") => Some("xgroup-destroy"),
                Some(b"createconsumer") => Some("xgroup-createconsumer"),
                Some(b"delconsumer") => Some("xgroup-delconsumer"),
                _ => None,
            };
            if let Some(e) = e {
                on_first(&mut out, STREAM, e);
            }
        }
        // DEL, UNLINK, GETDEL and anything that empties a key: the generic `del` rule.
        _ => {}
    }
    out
}

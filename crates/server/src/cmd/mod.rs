//! The command table and what handlers share. One file per command family (Dragonfly's
//! rule); each exports `COMMANDS`, a slice of `Command` values holding both the metadata
//! COMMAND reports and the handler, so the table cannot drift from the implementation.

pub(crate) mod args;
pub(crate) mod ctx;
pub(crate) mod err;

pub(crate) mod bitfield;
pub(crate) mod bits;
pub(crate) mod cluster;
pub(crate) mod cluster_admin;
pub(crate) mod connection;
pub(crate) mod dump;
pub(crate) mod geo;
pub(crate) mod hashes;
pub(crate) mod hll;
pub(crate) mod introspection;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod longdouble;
pub(crate) mod migrate;
pub(crate) mod persistence;
pub(crate) mod pqsort;
pub(crate) mod pubsub;
pub(crate) mod replication;
pub(crate) mod scripting;
pub(crate) mod sets;
pub(crate) mod sort;
pub(crate) mod streams;
pub(crate) mod strings;
pub(crate) mod tx;
pub(crate) mod zsets;

pub(crate) use ctx::{BlockRequest, Ctx};

use ahash::AHashMap;
use bytes::Bytes;
use rubra_resp::Reply;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// What a handler returns: the reply, or an error reply via `?`.
pub(crate) type CmdResult = Result<Reply, Reply>;
/// A command implementation.
pub(crate) type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;
/// Custom key extraction for commands whose keys are not at fixed positions (numkeys).
pub(crate) type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Command flags, as COMMAND INFO reports them (plus a few internal ones).
pub(crate) mod flags {
    pub(crate) const WRITE: u32 = 1;
    pub(crate) const READONLY: u32 = 1 << 1;
    pub(crate) const DENYOOM: u32 = 1 << 2;
    pub(crate) const ADMIN: u32 = 1 << 3;
    pub(crate) const PUBSUB: u32 = 1 << 4;
    pub(crate) const NOSCRIPT: u32 = 1 << 5;
    pub(crate) const BLOCKING: u32 = 1 << 6;
    pub(crate) const LOADING: u32 = 1 << 7;
    pub(crate) const STALE: u32 = 1 << 8;
    pub(crate) const FAST: u32 = 1 << 9;
    pub(crate) const NO_AUTH: u32 = 1 << 10;
    pub(crate) const NO_MULTI: u32 = 1 << 11;
    /// Runs immediately even inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    pub(crate) const TX_CONTROL: u32 = 1 << 12;
    /// Allowed for a RESP2 client in subscribed state.
    pub(crate) const SUB_OK: u32 = 1 << 13;
    pub(crate) const MAY_REPLICATE: u32 = 1 << 14;
    /// Internal: has subcommands (CONFIG GET), so the dispatcher, ACL and the statistics
    /// look at the second word; the catalog decides which commands (a test holds them equal).
    pub(crate) const CONTAINER: u32 = 1 << 15;
    /// Internal: may look a key up in another database than the client's (MOVE, COPY ...
    /// DB), so the dispatcher propagates the lazy expiries of every database before the
    /// command, not only those of the selected one. Never reported.
    pub(crate) const OTHER_DB: u32 = 1 << 16;
    /// Internal: may look up (and so expire) keys no argument names (SCAN, RANDOMKEY;
    /// Redis's CMD_TOUCHES_ARBITRARY_KEYS): run directly, the DELs of the expired keys
    /// it meets go out one by one, not in a MULTI, as Redis propagates active expiry.
    /// Never reported.
    pub(crate) const ARBITRARY_KEYS: u32 = 1 << 17;

    /// Names in COMMAND INFO order.
    pub(crate) const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (MAY_REPLICATE, "may_replicate"),
    ];
}

/// One command: metadata and handler.
pub(crate) struct Command {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: N means exactly N words, -N at least N (the name counts).
    pub arity: i32,
    pub flags: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Family for COMMAND DOCS and ACL categories ("string", "list", "generic", ...).
    pub group: &'static str,
    pub handler: Handler,
    pub keys_fn: Option<KeysFn>,
}

impl Command {
    /// A command with keys at fixed positions.
    pub(crate) const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        group: &'static str,
        handler: Handler,
    ) -> Command {
        Command {
            name,
            arity,
            flags,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            group,
            handler,
            keys_fn: None,
        }
    }

    /// Same, with a custom key extractor.
    pub(crate) const fn with_keys(mut self, f: KeysFn) -> Command {
        self.keys_fn = Some(f);
        self
    }

    /// Whether `flag` is set.
    pub(crate) fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether `argc` words satisfy the arity.
    pub(crate) fn arity_ok(&self, argc: usize) -> bool {
        if self.arity >= 0 {
            argc == self.arity as usize
        } else {
            argc >= (-self.arity) as usize
        }
    }

    /// Indexes of the key arguments in `args` (args[0] is the command name).
    pub(crate) fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(args).into_iter().filter(|&i| i < args.len()).collect();
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 {
            args.len() as i32 + self.last_key
        } else {
            self.last_key.min(args.len() as i32 - 1)
        };
        let step = self.step.max(1);
        (self.first_key..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }

    /// Calls `f` with each key argument's index, as `key_positions` lists them, without
    /// building a vector for commands with keys at fixed positions (every write passes
    /// here to signal its keys).
    pub(crate) fn for_each_key_position(&self, args: &[Bytes], mut f: impl FnMut(usize)) {
        if self.keys_fn.is_some() {
            self.key_positions(args).into_iter().for_each(f);
            return;
        }
        if self.first_key <= 0 {
            return;
        }
        let last = if self.last_key < 0 {
            args.len() as i32 + self.last_key
        } else {
            self.last_key.min(args.len() as i32 - 1)
        };
        // A plain loop: every write passes here, and a stepped inclusive range costs more
        // to drive than the one or two keys it yields.
        let step = self.step.max(1);
        let mut i = self.first_key;
        while i <= last {
            f(i as usize);
            i += step;
        }
    }

    /// ACL categories, derived from the family and flags as Redis assigns them.
    pub(crate) fn acl_categories(&self) -> Vec<&'static str> {
        let mut cats = Vec::new();
        if self.has(flags::WRITE) {
            cats.push("@write");
        }
        if self.has(flags::READONLY) {
            cats.push("@read");
        }
        cats.push(match self.group {
            "string" => "@string",
            "list" => "@list",
            "hash" => "@hash",
            "set" => "@set",
            "sorted_set" => "@sortedset",
            "stream" => "@stream",
            "bitmap" => "@bitmap",
            "hyperloglog" => "@hyperloglog",
            "geo" => "@geo",
            "generic" => "@keyspace",
            "pubsub" => "@pubsub",
            "transactions" => "@transaction",
            "connection" => "@connection",
            "scripting" => "@scripting",
            _ => "@admin",
        });
        if self.has(flags::ADMIN) {
            cats.push("@dangerous");
        }
        cats.push(if self.has(flags::FAST) {
            "@fast"
        } else {
            "@slow"
        });
        if self.has(flags::BLOCKING) {
            cats.push("@blocking");
        }
        cats
    }
}

/// Every command family's table.
fn families() -> [&'static [Command]; 23] {
    [
        connection::COMMANDS,
        keys::COMMANDS,
        sort::COMMANDS,
        dump::COMMANDS,
        strings::COMMANDS,
        bits::COMMANDS,
        bitfield::COMMANDS,
        hll::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        geo::COMMANDS,
        streams::COMMANDS,
        tx::COMMANDS,
        pubsub::COMMANDS,
        introspection::COMMANDS,
        persistence::COMMANDS,
        replication::COMMANDS,
        cluster::COMMANDS,
        migrate::COMMANDS,
        crate::acl::command::COMMANDS,
        scripting::COMMANDS,
    ]
}

/// All commands by lower-case name, built once.
pub(crate) fn table() -> &'static AHashMap<&'static [u8], &'static Command> {
    static TABLE: OnceLock<AHashMap<&'static [u8], &'static Command>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = AHashMap::new();
        for family in families() {
            for cmd in family {
                map.insert(cmd.name.as_bytes(), cmd);
            }
        }
        map
    })
}

/// Commands whose names are at most 8 lower-case letters, keyed by the name packed into a
/// u64: the common lookup is then one multiply-hash of an integer instead of hashing bytes.
fn short_table() -> &'static HashMap<u64, &'static Command, BuildHasherDefault<PackedHasher>> {
    static SHORT: OnceLock<HashMap<u64, &'static Command, BuildHasherDefault<PackedHasher>>> =
        OnceLock::new();
    SHORT.get_or_init(|| {
        table()
            .iter()
            .filter(|(name, _)| name.len() <= 8 && name.iter().all(u8::is_ascii_lowercase))
            .map(|(name, cmd)| (pack_lower(name), *cmd))
            .collect()
    })
}

/// A name of at most 8 bytes as a u64, with ASCII letters lower-cased by setting bit 5.
/// Setting that bit maps no byte other than a letter onto a lower-case letter, so a packed
/// client name equals a packed table name (all lower-case letters) only if the names are
/// equal ignoring case.
#[inline]
fn pack_lower(name: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..name.len()].copy_from_slice(name);
    let mask = u64::MAX >> (64 - 8 * name.len() as u32);
    (u64::from_le_bytes(w) | (0x2020_2020_2020_2020 & mask)) ^ ((name.len() as u64) << 59)
}

/// Hashes the packed names of `short_table` (server data, not client-chosen keys).
#[derive(Default)]
pub(crate) struct PackedHasher(u64);

impl Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, i: u64) {
        let h = (self.0 ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// Finds a command by name, case-insensitively, without allocating for normal names.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Command> {
    if (1..=8).contains(&name.len()) {
        if let Some(cmd) = short_table().get(&pack_lower(name)) {
            return Some(cmd);
        }
    }
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    table().get(&buf[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_every_command_in_any_case_and_nothing_else() {
        for (name, cmd) in table() {
            let upper = name.to_ascii_uppercase();
            let mixed: Vec<u8> = name
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        *b
                    }
                })
                .collect();
            for n in [name.to_vec(), upper, mixed] {
                assert!(lookup(&n).is_some_and(|c| std::ptr::eq(c, *cmd)), "{n:?}");
            }
        }
        // Bytes that bit 5 would turn into letters only if they were letters already.
        for near in [
            &b"ge\x14"[..],
            b"g\x05t",
            b"get\0",
            b"ge",
            b"gett",
            b"\x07et",
            b"",
        ] {
            assert!(lookup(near).is_none(), "{near:?}");
        }
    }
}

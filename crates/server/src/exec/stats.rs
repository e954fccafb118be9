//! Per-command statistics as Redis 7.0 keeps them: calls, time, rejected and failed calls
//! (INFO commandstats), error replies by prefix (INFO errorstats, total_error_replies) and a
//! latency histogram per command (INFO latencystats, LATENCY HISTOGRAM). Kept by the one
//! dispatch path so every way a command runs (top level, EXEC, scripts, blocked clients)
//! is counted the same way.

use crate::cmd::Command;
use ahash::AHashMap;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Redis stops tracking new error prefixes past this many distinct ones (a flood of
/// unique "error codes" from scripts must not grow memory without bound).
const MAX_ERROR_TYPES: usize = 128;

/// Counters for one command or subcommand (Redis's `struct redisCommand` stats).
#[derive(Debug, Default, Clone)]
pub(crate) struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Durations of the calls, in nanoseconds as Redis records them (usec * 1000).
    pub histogram: Histogram,
    /// Whether anything asked for this entry since the last reset: the table lists only
    /// those, as a map would hold only the names it was asked for.
    listed: bool,
}

/// Everything INFO commandstats/errorstats/latencystats and CONFIG RESETSTAT cover.
#[derive(Debug, Default)]
pub(crate) struct CommandStats {
    /// By the name Redis reports (`get`, `config|get`). Updated on every call, found by
    /// the command's number in `registry()` rather than by hashing its name.
    pub by_cmd: StatTable,
    /// Error replies by prefix (`ERR`, `WRONGTYPE`), sorted as Redis's radix tree lists them.
    pub errors: BTreeMap<String, u64>,
    /// Every error reply sent (INFO total_error_replies).
    pub total_error_replies: u64,
    /// Redis's "unexpected" errors (raised by its own internals while replicating or
    /// loading); none of our paths produce one, so it stays 0 as on a healthy Redis.
    pub unexpected_error_replies: u64,
    /// The last error a command run by a script replied with. When the script then fails
    /// with that error (redis.call raising it, or a pcall result returned), Redis does not
    /// count it a second time.
    pub last_script_error: Option<String>,
}

impl CommandStats {
    /// Records a call refused before it ran (arity, ACL, OOM, READONLY, ...).
    pub(crate) fn record_rejected(&mut self, cmd: &'static Command, args: &[Bytes]) {
        self.by_cmd.for_call(cmd, args).rejected_calls += 1;
    }

    /// Counts an error reply by its prefix: the text up to the first space. Redis counts
    /// every error a client receives, including those inside an EXEC reply.
    pub(crate) fn record_error(&mut self, text: &str) {
        self.total_error_replies += 1;
        let prefix = text.split(' ').next().unwrap_or(text);
        if let Some(n) = self.errors.get_mut(prefix) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_TYPES {
            self.errors.insert(prefix.to_string(), 1);
        }
    }
}

/// The per-name counters, one slot per name in `registry()`, so that the one update every
/// call makes is an index into a vector instead of hashing and comparing the name. Reads
/// (INFO, LATENCY HISTOGRAM, CLIENT UNBLOCK) keep the map-like view they had: only the
/// names something asked for are listed.
#[derive(Debug, Default)]
pub(crate) struct StatTable {
    /// By registry number; empty until the first update after a reset.
    slots: Vec<CmdStat>,
    /// (command address, registry number) of recently counted commands, direct-mapped by
    /// address: the common update skips even the registry's binary search. Allocated with
    /// `slots`.
    memo: Vec<(usize, usize)>,
    /// Names outside the registry (none today; kept so that no name is ever dropped).
    extra: Vec<(&'static str, CmdStat)>,
}

/// `StatTable::entry`'s answer, shaped like a map entry for its callers.
pub(crate) struct StatEntry<'a>(&'a mut CmdStat);

impl<'a> StatEntry<'a> {
    /// The counters (created at zero if this name had none).
    pub(crate) fn or_default(self) -> &'a mut CmdStat {
        self.0
    }
}

impl StatTable {
    /// The counters of a call of `cmd` with `args`, under the name `stat_name` gives it.
    /// Called for every command: a plain command is found by its number, with no hashing.
    #[inline]
    pub(crate) fn for_call(&mut self, cmd: &'static Command, args: &[Bytes]) -> &mut CmdStat {
        if !is_container(cmd.name) {
            let addr = cmd as *const Command as usize;
            let m = memo_index(addr);
            if let Some(&(a, i)) = self.memo.get(m) {
                if a == addr {
                    return self.slot(i);
                }
            }
        }
        self.for_call_unmemoized(cmd, args)
    }

    /// `for_call` through the registry (remembering a plain command's number in `memo`).
    #[inline(never)]
    fn for_call_unmemoized(&mut self, cmd: &'static Command, args: &[Bytes]) -> &mut CmdStat {
        let reg = registry();
        let index = if is_container(cmd.name) {
            reg.index_of_name(subcommand_stat_name(cmd, args))
        } else {
            let found = reg.index_of_command(cmd);
            if let Some(i) = found {
                self.slot(i);
                let addr = cmd as *const Command as usize;
                if let Some(m) = self.memo.get_mut(memo_index(addr)) {
                    *m = (addr, i);
                }
            }
            found
        };
        match index {
            Some(i) => self.slot(i),
            None => self.extra_slot(stat_name(cmd, args)),
        }
    }

    /// The counters reported under `name` (created at zero if missing).
    pub(crate) fn entry(&mut self, name: &'static str) -> StatEntry<'_> {
        let slot = match registry().index_of_name(name) {
            Some(i) => self.slot(i),
            None => self.extra_slot(name),
        };
        StatEntry(slot)
    }

    /// The counters reported under `name`, if something asked for them.
    pub(crate) fn get(&self, name: &str) -> Option<&CmdStat> {
        let found = match registry().index_of_name(name) {
            Some(i) => self.slots.get(i),
            None => self.extra.iter().find(|(n, _)| *n == name).map(|(_, s)| s),
        };
        found.filter(|s| s.listed)
    }

    /// Every listed name and its counters, in no particular order (as a map's).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&&'static str, &CmdStat)> {
        let names = &registry().names;
        self.slots
            .iter()
            .zip(names.iter())
            .filter(|(s, _)| s.listed)
            .map(|(s, n)| (n, s))
            .chain(self.extra.iter().map(|(n, s)| (n, s)))
    }

    /// Every listed name.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &&'static str> {
        self.iter().map(|(n, _)| n)
    }

    /// Slot `i`, the vector grown to the whole registry on first use.
    #[inline]
    fn slot(&mut self, i: usize) -> &mut CmdStat {
        if i >= self.slots.len() {
            self.grow();
        }
        let s = &mut self.slots[i];
        s.listed = true;
        s
    }

    #[cold]
    fn grow(&mut self) {
        self.slots
            .resize_with(registry().names.len(), CmdStat::default);
        self.memo.resize(MEMO, (0, 0));
    }

    #[cold]
    fn extra_slot(&mut self, name: &'static str) -> &mut CmdStat {
        let i = match self.extra.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.extra.push((name, CmdStat::default()));
                self.extra.len() - 1
            }
        };
        let s = &mut self.extra[i].1;
        s.listed = true;
        s
    }
}

/// Every name a call can be reported under, numbered once: the commands of the table,
/// then the catalog's `container|sub` names. A command's number is found from its address
/// (the tables are static slices, so a command is always the same object): the commands
/// sorted by address form a few runs of adjacent entries, one per family table, and a
/// binary search over those runs plus a division by the entry size give the number.
struct Registry {
    /// By number.
    names: Vec<&'static str>,
    by_name: AHashMap<&'static str, usize>,
    /// Runs of adjacent commands, sorted by address.
    runs: Vec<Run>,
}

/// Commands stored back to back: `len` entries from address `start`, numbered from `first`.
struct Run {
    start: usize,
    len: usize,
    first: usize,
}

const ENTRY: usize = std::mem::size_of::<Command>();

/// Entries of `StatTable::memo`, a power of two.
const MEMO: usize = 64;

/// A command's place in `StatTable::memo`: neighbours in a table get neighbouring places.
#[inline]
fn memo_index(addr: usize) -> usize {
    (addr / ENTRY) & (MEMO - 1)
}

impl Registry {
    fn build() -> Registry {
        let mut commands: Vec<&'static Command> = crate::cmd::table().values().copied().collect();
        commands.sort_by_key(|c| *c as *const Command as usize);
        let mut reg = Registry {
            names: Vec::new(),
            by_name: AHashMap::new(),
            runs: Vec::new(),
        };
        for cmd in commands {
            let addr = cmd as *const Command as usize;
            let i = reg.names.len();
            reg.names.push(cmd.name);
            reg.by_name.entry(cmd.name).or_insert(i);
            match reg.runs.last_mut() {
                Some(run) if run.start + run.len * ENTRY == addr => run.len += 1,
                _ => reg.runs.push(Run {
                    start: addr,
                    len: 1,
                    first: i,
                }),
            }
        }
        let mut subs: Vec<&'static str> = containers()
            .values()
            .flatten()
            .map(|(_, full)| *full)
            .collect();
        subs.sort_unstable();
        for full in subs {
            if !reg.by_name.contains_key(full) {
                reg.by_name.insert(full, reg.names.len());
                reg.names.push(full);
            }
        }
        reg
    }

    /// `cmd`'s number, if it is one of the table's commands.
    #[inline]
    fn index_of_command(&self, cmd: &'static Command) -> Option<usize> {
        let addr = cmd as *const Command as usize;
        let after = self.runs.partition_point(|r| r.start <= addr);
        let run = self.runs.get(after.checked_sub(1)?)?;
        let offset = addr - run.start;
        let k = offset / ENTRY;
        (k < run.len && offset.is_multiple_of(ENTRY)).then_some(run.first + k)
    }

    fn index_of_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

/// The numbering of the reported names, built once.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::build)
}

/// The name a call is reported under: `container|sub` for a known subcommand of a
/// container command (CONFIG GET -> `config|get`), else the command's own name.
#[inline]
pub(crate) fn stat_name(cmd: &'static Command, args: &[Bytes]) -> &'static str {
    if !is_container(cmd.name) {
        return cmd.name;
    }
    subcommand_stat_name(cmd, args)
}

/// `stat_name` for a container command: its known subcommand's full name.
#[inline(never)]
fn subcommand_stat_name(cmd: &'static Command, args: &[Bytes]) -> &'static str {
    let Some(subs) = containers().get(cmd.name) else {
        return cmd.name;
    };
    let Some(sub) = args.get(1) else {
        return cmd.name;
    };
    let mut buf = [0u8; 32];
    if sub.len() > buf.len() {
        return cmd.name;
    }
    for (d, s) in buf.iter_mut().zip(sub.iter()) {
        *d = s.to_ascii_lowercase();
    }
    let sub = &buf[..sub.len()];
    subs.iter()
        .find(|(s, _)| s.as_bytes() == sub)
        .map_or(cmd.name, |(_, full)| full)
}

/// Whether `sub` (any case) is a subcommand of `container` that Redis knows.
pub(crate) fn is_known_subcommand(container: &str, sub: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    containers()
        .get(container)
        .is_some_and(|subs| subs.iter().any(|(s, _)| *s == lower))
}

/// Whether a command or subcommand (by its reported name) is administrative (@admin):
/// MONITOR never shows those, as Redis considers them too dangerous to be shown.
pub(crate) fn is_admin(name: &str) -> bool {
    // Asked for every command (MONITOR feeding): a set of names, built once, instead of a
    // binary search of the catalog.
    static ADMIN: OnceLock<ahash::AHashSet<&'static str>> = OnceLock::new();
    ADMIN
        .get_or_init(|| {
            let Some(bit) = crate::acl::rules::category_bit("admin") else {
                return ahash::AHashSet::new();
            };
            crate::acl::catalog::SPECS
                .iter()
                .filter(|s| s.cats & bit != 0)
                .map(|s| s.name)
                .collect()
        })
        .contains(name)
}

/// Whether `name` (lower case) is a container command, one with subcommands in the
/// catalog. Asked several times for every command: a table of the (first letter, length)
/// shapes of the container names rules out almost every other name before any hashing.
#[inline]
pub(crate) fn is_container(name: &str) -> bool {
    let Some(&first) = name.as_bytes().first() else {
        return false;
    };
    shapes()[first as usize] & (1 << name.len().min(63)) != 0 && is_container_name(name)
}

/// The (first letter, length) shapes of the container names, built once.
fn shapes() -> &'static [u64; 256] {
    static SHAPES: OnceLock<[u64; 256]> = OnceLock::new();
    SHAPES.get_or_init(|| {
        let mut t = [0u64; 256];
        for c in containers().keys() {
            if let Some(&first) = c.as_bytes().first() {
                t[first as usize] |= 1 << c.len().min(63);
            }
        }
        t
    })
}

/// The exact test behind `is_container`, out of line so that the common answer (no) is
/// a few inlined instructions.
#[inline(never)]
fn is_container_name(name: &str) -> bool {
    containers().contains_key(name)
}

/// Container commands and their subcommands (`sub`, `container|sub`), from the catalog.
fn containers() -> &'static AHashMap<&'static str, Vec<(&'static str, &'static str)>> {
    static MAP: OnceLock<AHashMap<&'static str, Vec<(&'static str, &'static str)>>> =
        OnceLock::new();
    MAP.get_or_init(|| {
        let mut map: AHashMap<&'static str, Vec<(&'static str, &'static str)>> = AHashMap::new();
        for spec in crate::acl::catalog::SPECS {
            if let Some((container, sub)) = spec.name.split_once('|') {
                map.entry(container).or_default().push((sub, spec.name));
            }
        }
        map
    })
}

/// An HDR histogram with two significant digits, 1 ns to 1 s, as Redis's
/// `latency_histogram` (hdr_histogram, precision 2): the same bucket boundaries, so the
/// percentiles and the LATENCY HISTOGRAM buckets come out as Redis prints them. Sparse:
/// only buckets that were hit take memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct Histogram {
    counts: BTreeMap<u64, u64>,
    /// The common values counted without a tree lookup: slot 0 is 1 ns (a call under a
    /// microsecond, clamped), slot k is k µs. Merged into `counts` when read.
    fast: [u64; FAST_SLOTS],
    total: u64,
}

/// How many whole microseconds `Histogram::fast` counts directly.
const FAST_SLOTS: usize = 16;

/// Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE, in ns.
const HIST_MIN: u64 = 1;
const HIST_MAX: u64 = 1_000_000_000;

impl Histogram {
    /// Adds one value (ns), clamped to the tracked range as Redis does.
    pub(crate) fn record(&mut self, ns: u64) {
        let v = ns.clamp(HIST_MIN, HIST_MAX);
        let k = v / 1000;
        if k < FAST_SLOTS as u64 && (v == 1 || v == k * 1000) {
            self.fast[k as usize] += 1;
        } else {
            *self.counts.entry(lowest_equivalent(v)).or_default() += 1;
        }
        self.total += 1;
    }

    /// Every count by its slot's lowest value (`counts` with `fast` folded in).
    fn merged(&self) -> BTreeMap<u64, u64> {
        let mut all = self.counts.clone();
        for (k, &n) in self.fast.iter().enumerate() {
            if n > 0 {
                let v = if k == 0 { 1 } else { k as u64 * 1000 };
                *all.entry(lowest_equivalent(v)).or_default() += n;
            }
        }
        all
    }

    /// Number of recorded values.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// hdr_value_at_percentile: the highest value equivalent to the one at `p` percent.
    pub(crate) fn value_at_percentile(&self, p: f64) -> u64 {
        let p = p.min(100.0);
        let target = ((p / 100.0 * self.total as f64) + 0.5) as u64;
        let target = target.max(1);
        let mut seen = 0;
        for (&low, &n) in &self.merged() {
            seen += n;
            if seen >= target {
                return if p == 0.0 {
                    low
                } else {
                    highest_equivalent(low)
                };
            }
        }
        0
    }

    /// LATENCY HISTOGRAM's buckets: (usec bound, cumulative count) at 1024 ns * 2^k, as
    /// hdr's logarithmic iterator reports them, only where the count grew.
    pub(crate) fn log_buckets(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if self.total == 0 {
            return out;
        }
        let counts = self.merged();
        let mut level: u64 = 1024;
        let mut prev = 0;
        loop {
            let bound = lowest_equivalent(level);
            let cumulative: u64 = counts.range(..=bound).map(|(_, n)| n).sum();
            if cumulative > prev {
                out.push((highest_equivalent(level) / 1000, cumulative));
            }
            prev = cumulative;
            if cumulative >= self.total || level > HIST_MAX * 4 {
                break;
            }
            level *= 2;
        }
        out
    }
}

/// hdr's bucket index for two significant digits (256 sub-buckets, unit 1).
fn bucket_index(v: u64) -> u32 {
    let pow2ceiling = 64 - (v | 255).leading_zeros();
    pow2ceiling - 8
}

/// The lowest value counted in the same slot as `v`.
fn lowest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    (v >> b) << b
}

/// The highest value counted in the same slot as `v`.
fn highest_equivalent(v: u64) -> u64 {
    let b = bucket_index(v);
    lowest_equivalent(v) + (1u64 << b) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_recognised_by_shape() {
        for c in containers().keys() {
            assert!(is_container(c), "{c}");
        }
        for plain in [
            "get", "set", "incr", "lpush", "zadd", "hset", "xadd", "eval", "",
        ] {
            assert!(!is_container(plain), "{plain}");
        }
    }

    #[test]
    fn every_command_and_subcommand_has_its_own_number() {
        let reg = registry();
        for (name, cmd) in crate::cmd::table() {
            let i = reg.index_of_command(cmd).expect("table command numbered");
            assert_eq!(reg.names[i].as_bytes(), *name);
            assert_eq!(reg.index_of_name(cmd.name), Some(i));
        }
        for subs in containers().values() {
            for (_, full) in subs {
                let i = reg.index_of_name(full).expect("subcommand numbered");
                assert_eq!(reg.names[i], *full);
            }
        }
        let mut seen = std::collections::HashSet::new();
        assert!(
            reg.names.iter().all(|n| seen.insert(*n)),
            "a name numbered twice"
        );
        // Counted twice each, the second time through `memo` (or past an evicted entry).
        let mut t = StatTable::default();
        let plain: Vec<&'static Command> = crate::cmd::table()
            .values()
            .copied()
            .filter(|c| !is_container(c.name))
            .collect();
        for _ in 0..2 {
            for cmd in &plain {
                t.for_call(cmd, &[]).calls += 1;
            }
        }
        assert_eq!(t.iter().count(), plain.len());
        for cmd in &plain {
            assert_eq!(t.get(cmd.name).map(|s| s.calls), Some(2), "{}", cmd.name);
        }
    }

    #[test]
    fn a_command_outside_the_table_has_no_number_but_is_still_counted() {
        fn handler(_: &mut crate::cmd::Ctx, _: &[Bytes]) -> crate::cmd::CmdResult {
            Ok(rubra_resp::Reply::Nil)
        }
        static OUTSIDE: Command =
            Command::new("not-a-command", 1, 0, (0, 0, 0), "generic", handler);
        assert_eq!(registry().index_of_command(&OUTSIDE), None);
        let mut t = StatTable::default();
        t.for_call(&OUTSIDE, &[Bytes::from_static(b"not-a-command")])
            .calls += 1;
        assert_eq!(t.get("not-a-command").map(|s| s.calls), Some(1));
        assert_eq!(t.keys().copied().collect::<Vec<_>>(), vec!["not-a-command"]);
    }

    #[test]
    fn the_table_lists_what_was_asked_for_under_its_reported_name() {
        let get = crate::cmd::lookup(b"get").expect("get");
        let config = crate::cmd::lookup(b"config").expect("config");
        let mut t = StatTable::default();
        assert_eq!(t.iter().count(), 0);
        assert!(t.get("get").is_none());
        t.for_call(get, &[Bytes::from_static(b"GET"), Bytes::from_static(b"k")])
            .calls += 2;
        let args = [Bytes::from_static(b"CONFIG"), Bytes::from_static(b"GeT")];
        t.for_call(config, &args).usec += 7;
        // Unknown subcommand: counted under the container's own name.
        let args = [Bytes::from_static(b"CONFIG"), Bytes::from_static(b"nope")];
        t.for_call(config, &args).rejected_calls += 1;
        t.entry("client|list").or_default().failed_calls += 1;
        let mut listed: Vec<(&str, u64, u64, u64, u64)> = t
            .iter()
            .map(|(n, s)| (*n, s.calls, s.usec, s.rejected_calls, s.failed_calls))
            .collect();
        listed.sort_unstable();
        assert_eq!(
            listed,
            vec![
                ("client|list", 0, 0, 0, 1),
                ("config", 0, 0, 1, 0),
                ("config|get", 0, 7, 0, 0),
                ("get", 2, 0, 0, 0),
            ]
        );
        assert_eq!(t.get("config|get").map(|s| s.usec), Some(7));
        assert!(t.get("set").is_none());
    }

    #[test]
    fn hdr_boundaries_match_redis_output() {
        // Redis prints 5.023 for a 5 us call, and LATENCY HISTOGRAM keys 1,2,4,8,16,33,66.
        assert_eq!(highest_equivalent(5000), 5023);
        let keys: Vec<u64> = [1024u64, 2048, 4096, 8192, 16384, 32768, 65536]
            .iter()
            .map(|&l| highest_equivalent(l) / 1000)
            .collect();
        assert_eq!(keys, vec![1, 2, 4, 8, 16, 33, 66]);
        let mut h = Histogram::default();
        for _ in 0..3 {
            h.record(3000);
        }
        h.record(9000);
        assert_eq!(h.log_buckets(), vec![(4, 3), (16, 4)]);
        assert_eq!(h.value_at_percentile(50.0), 3007);
    }

    #[test]
    fn directly_counted_values_read_back_as_tree_counted_ones() {
        let values = [
            0u64, 1, 500, 1000, 1500, 2000, 2000, 15_000, 16_000, 40_000, 3_000_000,
        ];
        let mut h = Histogram::default();
        let mut tree_only = Histogram::default();
        for &v in &values {
            h.record(v);
            *tree_only
                .counts
                .entry(lowest_equivalent(v.clamp(HIST_MIN, HIST_MAX)))
                .or_default() += 1;
            tree_only.total += 1;
        }
        assert!(h.fast.iter().sum::<u64>() > 0 && !h.counts.is_empty());
        assert_eq!(h.log_buckets(), tree_only.log_buckets());
        for p in [0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
            assert_eq!(
                h.value_at_percentile(p),
                tree_only.value_at_percentile(p),
                "p{p}"
            );
        }
    }
}

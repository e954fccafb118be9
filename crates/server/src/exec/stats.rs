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
    pub last_script_error: Option<Vec<u8>>,
}

impl CommandStats {
    /// Records a call refused before it ran (arity, ACL, OOM, READONLY, ...).
    pub(crate) fn record_rejected(&mut self, cmd: &'static Command, args: &[Bytes]) {
        self.by_cmd.for_call(cmd, args).rejected_calls += 1;
    }

    /// Counts an error reply by its prefix: the text up to the first space. Redis counts
    /// every error a client receives, including those inside an EXEC reply.
    pub(crate) fn record_error(&mut self, text: &[u8]) {
        self.total_error_replies += 1;
        let prefix = text.split(|&b| b == b' ').next().unwrap_or(text);
        let prefix = String::from_utf8_lossy(prefix);
        if let Some(n) = self.errors.get_mut(prefix.as_ref()) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_TYPES {
            self.errors.insert(prefix.into_owned(), 1);
        }
    }
}

/// The per-name counters. Every call updates one entry, found by the command's number in
/// `registry()` (looked up by the command's address) rather than by hashing and
/// comparing its name. Holds only the names something asked for, in first-use order, and
/// keeps the map-like view its readers (INFO, LATENCY HISTOGRAM, CLIENT UNBLOCK) had.
#[derive(Debug, Default)]
pub(crate) struct StatTable {
    /// The names asked for since the last reset, and their counters.
    used: Vec<(&'static str, CmdStat)>,
    /// By registry number: 1 + the name's position in `used`, 0 while it has none. Sized
    /// to the registry on first use.
    place: Vec<u32>,
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
    #[inline(always)]
    pub(crate) fn for_call(&mut self, cmd: &'static Command, args: &[Bytes]) -> &mut CmdStat {
        match registry().plain_number(cmd) {
            Some(i) => {
                let pos = self.position(i);
                &mut self.used[pos].1
            }
            None => self.by_name(stat_name(cmd, args)),
        }
    }

    /// The counters reported under `name` (created at zero if missing).
    pub(crate) fn entry(&mut self, name: &'static str) -> StatEntry<'_> {
        StatEntry(self.by_name(name))
    }

    /// The counters reported under `name`, if something asked for them.
    pub(crate) fn get(&self, name: &str) -> Option<&CmdStat> {
        self.used.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// Every name asked for and its counters, in no particular order (as a map's).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&&'static str, &CmdStat)> {
        self.used.iter().map(|(n, s)| (n, s))
    }

    /// Every name asked for.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &&'static str> {
        self.used.iter().map(|(n, _)| n)
    }

    /// The counters of `name`, through its registry number when it has one.
    fn by_name(&mut self, name: &'static str) -> &mut CmdStat {
        let pos = match registry().index_of_name(name) {
            Some(i) => self.position(i),
            None => match self.used.iter().position(|(n, _)| *n == name) {
                Some(pos) => pos,
                None => {
                    self.used.push((name, CmdStat::default()));
                    self.used.len() - 1
                }
            },
        };
        &mut self.used[pos].1
    }

    /// The position in `used` of registry number `i`, added at zero if missing.
    #[inline]
    fn position(&mut self, i: usize) -> usize {
        match self.place.get(i) {
            Some(&p) if p > 0 => p as usize - 1,
            _ => self.add(i),
        }
    }

    /// Adds registry number `i` to `used` (sizing `place` on first use).
    #[cold]
    fn add(&mut self, i: usize) -> usize {
        let reg = registry();
        if self.place.len() < reg.names.len() {
            self.place.resize(reg.names.len(), 0);
        }
        if self.place[i] == 0 {
            self.used.push((reg.names[i], CmdStat::default()));
            self.place[i] = self.used.len() as u32;
        }
        self.place[i] as usize - 1
    }
}

/// Every name a call can be reported under, numbered once: the commands of the table,
/// then the catalog's `container|sub` names. A command's number is found from its address
/// (the tables are static slices, so a command is always the same object): the family
/// tables lie near each other, so a table indexed by address / entry size, from the lowest
/// command's, holds every command's number with no collision (two commands are at least an
/// entry apart). Should the tables ever lie far apart, the commands sorted by address form
/// one run of adjacent entries per family, searched by bisection instead.
struct Registry {
    /// By number.
    names: Vec<&'static str>,
    by_name: AHashMap<&'static str, usize>,
    /// By number, the command's address (0 past the commands).
    addrs: Vec<usize>,
    /// By address / ENTRY - `base`: 1 + the number of the command there, 0 for none;
    /// `CONTAINER` set for a container command (reported under its subcommands' names).
    /// Empty when the span would exceed `MAX_DIRECT`.
    direct: Vec<u16>,
    base: usize,
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

/// `Registry::direct`'s mark of a container command.
const CONTAINER: u16 = 1 << 15;

/// The largest `Registry::direct` worth keeping (128 KiB); the tables span ~2,000 entries.
const MAX_DIRECT: usize = 1 << 16;

impl Registry {
    fn build() -> Registry {
        let mut commands: Vec<&'static Command> = crate::cmd::table().values().copied().collect();
        commands.sort_by_key(|c| *c as *const Command as usize);
        let mut reg = Registry {
            names: Vec::new(),
            by_name: AHashMap::new(),
            addrs: Vec::new(),
            direct: Vec::new(),
            base: 0,
            runs: Vec::new(),
        };
        for cmd in commands {
            let addr = cmd as *const Command as usize;
            let i = reg.names.len();
            reg.names.push(cmd.name);
            reg.addrs.push(addr);
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
        if let (Some(lo), Some(hi)) = (reg.addrs.first(), reg.addrs.last()) {
            let (lo, hi) = (lo / ENTRY, hi / ENTRY);
            if hi - lo < MAX_DIRECT && reg.addrs.len() < CONTAINER as usize - 1 {
                reg.base = lo;
                reg.direct = vec![0; hi - lo + 1];
                for (i, addr) in reg.addrs.iter().enumerate() {
                    let mark = if is_container(reg.names[i]) {
                        CONTAINER
                    } else {
                        0
                    };
                    reg.direct[addr / ENTRY - lo] = (i as u16 + 1) | mark;
                }
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
    fn index_of_command(&self, cmd: &'static Command) -> Option<usize> {
        let addr = cmd as *const Command as usize;
        if self.direct.is_empty() {
            return self.search_runs(addr);
        }
        let n = *self.direct.get((addr / ENTRY).wrapping_sub(self.base))? & !CONTAINER;
        let i = (n as usize).checked_sub(1)?;
        (self.addrs.get(i) == Some(&addr)).then_some(i)
    }

    /// `cmd`'s number if it is one of the table's commands and reported under its own
    /// name (not a container): the lookup every call makes, a few instructions.
    #[inline(always)]
    fn plain_number(&self, cmd: &'static Command) -> Option<usize> {
        let addr = cmd as *const Command as usize;
        let Some(&n) = self.direct.get((addr / ENTRY).wrapping_sub(self.base)) else {
            return self.plain_number_searched(cmd);
        };
        if n & CONTAINER != 0 {
            return None;
        }
        let i = (n as usize).checked_sub(1)?;
        (self.addrs.get(i) == Some(&addr)).then_some(i)
    }

    /// `plain_number` without `direct` (or for an address outside it).
    #[cold]
    fn plain_number_searched(&self, cmd: &'static Command) -> Option<usize> {
        if cmd.has(crate::cmd::flags::CONTAINER) {
            return None;
        }
        self.index_of_command(cmd)
    }

    /// `index_of_command` by bisecting the runs.
    #[cold]
    fn search_runs(&self, addr: usize) -> Option<usize> {
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
    if !cmd.has(crate::cmd::flags::CONTAINER) {
        return cmd.name;
    }
    subcommand_stat_name(cmd, args)
}

/// `stat_name` for a container command: its known subcommand's catalog name.
fn subcommand_stat_name(cmd: &'static Command, args: &[Bytes]) -> &'static str {
    let spec = crate::acl::resolve(cmd, args).map(|i| &crate::acl::catalog::SPECS[i]);
    match spec {
        Some(spec) if crate::acl::rules::is_sub(spec) => spec.name,
        _ => cmd.name,
    }
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
/// catalog. The command path asks `flags::CONTAINER` instead; this is the catalog's answer
/// that the flag is held to.
pub(crate) fn is_container(name: &str) -> bool {
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
    fn the_container_flag_is_the_catalogs() {
        for (name, cmd) in crate::cmd::table() {
            let name = std::str::from_utf8(name).expect("ascii name");
            assert_eq!(
                cmd.has(crate::cmd::flags::CONTAINER),
                is_container(name),
                "{name}"
            );
        }
        for c in containers().keys() {
            assert!(crate::cmd::lookup(c.as_bytes()).is_some(), "{c}");
        }
    }

    #[test]
    fn every_command_and_subcommand_has_its_own_number() {
        let reg = registry();
        for (name, cmd) in crate::cmd::table() {
            let i = reg.index_of_command(cmd).expect("table command numbered");
            assert_eq!(reg.names[i].as_bytes(), *name);
            let addr = *cmd as *const Command as usize;
            assert_eq!(reg.search_runs(addr), Some(i), "{}", cmd.name);
            let plain = (!is_container(cmd.name)).then_some(i);
            assert_eq!(reg.plain_number(cmd), plain, "{}", cmd.name);
            assert_eq!(reg.plain_number_searched(cmd), plain, "{}", cmd.name);
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
        // Counted twice each: the second time finds the entry the first one added.
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
        let addr = &OUTSIDE as *const Command as usize;
        assert_eq!(registry().search_runs(addr), None);
        assert_eq!(registry().plain_number(&OUTSIDE), None);
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

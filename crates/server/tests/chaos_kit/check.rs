//! The checker: the clients' histories against what the cluster holds at the end, and
//! the report table (faults, operations, acknowledged, lost, unavailable seconds and
//! time to converge per fault kind).

use super::client::{Buckets, Counter, Fate, History};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One injected fault: when it started, ended, and when the cluster had converged again.
pub(crate) struct Episode {
    /// The fault's name in the report.
    pub(crate) fault: &'static str,
    /// Its row in the report (kinds in a fixed order).
    pub(crate) rank: usize,
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) converged: Instant,
}

/// What the checker found; `report` is the table.
pub(crate) struct Verdict {
    pub(crate) report: String,
    pub(crate) lost_wait: Vec<String>,
    pub(crate) phantoms: Vec<String>,
    pub(crate) counter_errors: Vec<String>,
    pub(crate) crashed: Vec<String>,
    pub(crate) stray: usize,
    /// Nodes holding memory after the flush that a fresh node does not (see
    /// [`memory_findings`]); filled by suites that run the memory check.
    pub(crate) leaks: Vec<String>,
}

/// Lets the clients run one more second after the last fault, stops them, and collects
/// their histories.
pub(crate) fn stop_workers(
    stop: &AtomicBool,
    workers: Vec<std::thread::JoinHandle<History>>,
) -> Vec<History> {
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    workers
        .into_iter()
        .map(|w| w.join().expect("client thread"))
        .collect()
}

impl Verdict {
    /// Fails the test on any finding, or on a harness failure in `failures`.
    pub(crate) fn assert_clean(&self, seed: u64, failures: &[String], episodes: usize) {
        assert!(
            failures.is_empty(),
            "seed {seed}: {} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert!(episodes > 0, "no fault was injected");
        assert!(
            self.lost_wait.is_empty(),
            "seed {seed}: WAIT-acked writes lost: {:?}",
            &self.lost_wait[..self.lost_wait.len().min(10)]
        );
        assert!(
            self.phantoms.is_empty(),
            "seed {seed}: {:?}",
            &self.phantoms[..self.phantoms.len().min(10)]
        );
        assert!(
            self.counter_errors.is_empty(),
            "seed {seed}: {:?}",
            self.counter_errors
        );
        assert!(self.crashed.is_empty(), "seed {seed}: {:?}", self.crashed);
        assert!(
            self.leaks.is_empty(),
            "seed {seed}: memory not given back: {:?}",
            self.leaks
        );
        assert_eq!(
            self.stray, 0,
            "seed {seed}: keys on a primary that does not own their slot"
        );
    }

    /// Whether anything the checker guards against happened.
    pub(crate) fn failed(&self) -> bool {
        !self.lost_wait.is_empty()
            || !self.phantoms.is_empty()
            || !self.counter_errors.is_empty()
            || !self.crashed.is_empty()
            || !self.leaks.is_empty()
            || self.stray > 0
    }
}

/// Checks the histories against the cluster; `title` heads the report, `extra` lines
/// (resharding figures) go under the table.
pub(crate) fn check(
    held: &Held,
    crashed: Vec<String>,
    histories: &[History],
    episodes: &[Episode],
    buckets: &Buckets,
    title: &str,
    extra: &str,
) -> Verdict {
    // The check.
    let stray = held.stray;
    let held = &held.values;
    let mut ops = 0u64;
    let mut fates: BTreeMap<&str, u64> = BTreeMap::new();
    let mut count = |f: Fate| {
        *fates
            .entry(match f {
                Fate::Refused => "refused",
                Fate::Unknown => "unknown",
                Fate::Acked => "acked",
                Fate::WaitAcked => "wait-acked",
            })
            .or_default() += 1;
    };
    // Every value each key was sent, with its best fate.
    let mut sent: HashMap<(String, String), (Fate, f64)> = HashMap::new();
    let mut counters: BTreeMap<String, Counter> = BTreeMap::new();
    for h in histories {
        for (k, v, f, at) in &h.writes {
            ops += 1;
            count(*f);
            sent.insert((k.clone(), v.clone()), (*f, *at));
        }
        for (k, c) in &h.counters {
            let t = counters.entry(k.clone()).or_default();
            t.sent += c.sent;
            t.acked += c.acked;
            t.wait_acked += c.wait_acked;
            t.max_wait_value = t.max_wait_value.max(c.max_wait_value);
        }
    }
    // Lost writes by the fault during which (from its start to its convergence) they
    // were sent: (WAIT-acked, acked only).
    let during = |at: f64| -> &'static str {
        episodes
            .iter()
            .find(|e| {
                (e.start - buckets.t0).as_secs_f64() <= at
                    && at <= (e.converged - buckets.t0).as_secs_f64()
            })
            .map(|e| e.fault)
            .unwrap_or("between faults")
    };
    let mut lost_by: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut lost_wait = Vec::new();
    let mut lost_acked = 0u64;
    // Sets and lists hold hundreds of thousands of members after a long run: look them
    // up by hash, not by a scan per write.
    let members: HashMap<&str, HashSet<&str>> = held
        .iter()
        .map(|(k, vals)| (k.as_str(), vals.iter().map(String::as_str).collect()))
        .collect();
    for ((k, v), (f, at)) in &sent {
        let present = members
            .get(k.as_str())
            .is_some_and(|m| m.contains(v.as_str()));
        if !present && *f == Fate::WaitAcked {
            lost_wait.push(format!("{k} {v} at {at:.1}s"));
            lost_by.entry(during(*at)).or_default().0 += 1;
        }
        if !present && *f == Fate::Acked {
            if lost_acked < 10 {
                eprintln!("chaos: acked write lost: {k} {v} sent at {at:.2}s");
            }
            lost_acked += 1;
            lost_by.entry(during(*at)).or_default().1 += 1;
        }
    }
    let mut phantoms = Vec::new();
    let mut counter_errors = Vec::new();
    for (k, vals) in held {
        if k.starts_with("chaos:c:") {
            let c = counters.get(k).copied().unwrap_or_default();
            let v: i64 = vals.first().and_then(|v| v.parse().ok()).unwrap_or(-1);
            if v < 0 || v as u64 > c.sent || (v as u64) < c.wait_acked || v < c.max_wait_value {
                counter_errors.push(format!(
                    "{k}={v}: sent {} acked {} wait-acked {} max wait-acked value {}",
                    c.sent, c.acked, c.wait_acked, c.max_wait_value
                ));
            }
            continue;
        }
        for v in vals {
            match sent.get(&(k.clone(), v.clone())).map(|(f, _)| f) {
                Some(Fate::Unknown | Fate::Acked | Fate::WaitAcked) => {}
                Some(Fate::Refused) => phantoms.push(format!("{k} {v} (refused)")),
                None => phantoms.push(format!("{k} {v} (never sent)")),
            }
        }
    }
    for (k, c) in &counters {
        if !held.contains_key(k) && c.wait_acked > 0 {
            counter_errors.push(format!(
                "{k} missing, {} wait-acked increments",
                c.wait_acked
            ));
        }
    }
    for c in counters.values() {
        ops += c.sent;
        // Counter fates folded in: sent = acked + unknown here.
        *fates.entry("acked").or_default() += c.acked - c.wait_acked;
        *fates.entry("wait-acked").or_default() += c.wait_acked;
        *fates.entry("unknown").or_default() += c.sent - c.acked;
    }

    // The report.
    let mut by_kind: BTreeMap<(usize, &str), (usize, f64, f64, f64)> = BTreeMap::new();
    for e in episodes {
        let k = by_kind.entry((e.rank, e.fault)).or_default();
        k.0 += 1;
        k.1 += buckets.unavailable(e.start, e.converged);
        let took = (e.converged - e.end).as_secs_f64();
        k.2 = k.2.max(took);
        k.3 += took;
    }
    let mut report = format!(
        "\n{title}\n{:<22} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10}\n",
        "fault", "count", "unavail s", "conv max", "conv avg", "lost wait", "lost acked"
    );
    for ((_, f), (n, un, max, sum)) in &by_kind {
        let (lw, la) = lost_by.remove(f).unwrap_or_default();
        report += &format!(
            "{:<22} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>10}\n",
            f,
            n,
            un,
            max,
            sum / *n as f64,
            lw,
            la
        );
    }
    for (during, (w, a)) in &lost_by {
        report += &format!(
            "{during:<22} {:>5} {:>9} {:>9} {:>9} {w:>10} {a:>10}\n",
            "", "", "", ""
        );
    }
    report += &format!(
        "ops {ops}  acked {}  wait-acked {}  refused {}  unknown {}\n\
         lost: wait-acked {} (must be 0)  acked-only {} (async replication allows it)\n\
         phantom values {}  counter violations {}  stray keys {stray}  crashes {}\n{extra}",
        fates.get("acked").unwrap_or(&0) + fates.get("wait-acked").unwrap_or(&0),
        fates.get("wait-acked").unwrap_or(&0),
        fates.get("refused").unwrap_or(&0),
        fates.get("unknown").unwrap_or(&0),
        lost_wait.len(),
        lost_acked,
        phantoms.len(),
        counter_errors.len(),
        crashed.len(),
    );
    lost_wait.sort_by(|a, b| a.rsplit(' ').next().cmp(&b.rsplit(' ').next()));
    Verdict {
        report,
        lost_wait,
        phantoms,
        counter_errors,
        crashed,
        stray,
        leaks: Vec::new(),
    }
}

/// What the cluster holds at the end.
#[derive(Default)]
pub(crate) struct Held {
    /// Every chaos:* key on the primaries, with its contents.
    pub(crate) values: HashMap<String, Vec<String>>,
    /// Keys found on a primary that does not own their slot.
    pub(crate) stray: usize,
}

/// Strings of a reply (bulk, array or set); empty for nil.
pub(crate) fn strings_of(v: &redis::Value) -> Vec<String> {
    match v {
        redis::Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        redis::Value::SimpleString(s) => vec![s.clone()],
        redis::Value::Int(i) => vec![i.to_string()],
        redis::Value::Array(a) | redis::Value::Set(a) => a.iter().flat_map(strings_of).collect(),
        _ => Vec::new(),
    }
}

/// Reads every chaos:* key of one primary (owning `slots`) into `held`; a key outside
/// those slots counts as stray.
pub(crate) fn read_primary(c: &mut redis::Connection, slots: &[(u16, u16)], held: &mut Held) {
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("chaos:*")
            .arg("COUNT")
            .arg(1000)
            .query(c)
            .expect("SCAN");
        keys.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for k in chunk {
            if k.starts_with("chaos:set:") {
                pipe.cmd("SMEMBERS").arg(k);
            } else if k.starts_with("chaos:list:") {
                pipe.cmd("LRANGE").arg(k).arg(0).arg(-1);
            } else {
                pipe.cmd("GET").arg(k);
            }
        }
        let vals: Vec<redis::Value> = pipe.query(c).expect("read back");
        for (k, v) in chunk.iter().zip(vals) {
            let slot = rubra_keys::key_slot(k.as_bytes());
            if !slots.iter().any(|&(a, b)| (a..=b).contains(&slot)) {
                held.stray += 1;
                continue;
            }
            held.values.insert(k.clone(), strings_of(&v));
        }
    }
}

/// One node's memory at the two quiescent points the leak check compares: right after
/// the cluster formed (empty, no clients) and after the run, once every key was flushed
/// and the test's clients were gone.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemReading {
    pub(crate) addr: String,
    /// `used_memory` of the fresh, empty node.
    pub(crate) start: u64,
    /// `used_memory` at the end, flushed and quiet.
    pub(crate) end: u64,
    /// `used_memory_rss` at the end (reported, not judged: allocators keep pages).
    pub(crate) rss: u64,
    /// The replication backlog's allocation then (`mem_replication_backlog`, not its
    /// history: the deque grows by doubling): memory a fresh node has not
    /// filled yet and a node that served a run legitimately holds.
    pub(crate) backlog: u64,
    /// Whether the process at the end is the one measured at the start (a node killed
    /// and restarted is a fresh process: its start reading is its predecessor's).
    pub(crate) same_process: bool,
}

/// Memory a quiet, empty node may hold beyond a fresh one and its backlog: buffers of
/// the cluster bus links, the slow log, the latency monitor, allocator rounding.
pub(crate) const MEMORY_SLACK: u64 = 2 << 20;

impl MemReading {
    /// What the node may hold at the end: its fresh self, the backlog, the slack.
    pub(crate) fn bound(&self) -> u64 {
        self.start + self.backlog + MEMORY_SLACK
    }
}

/// The nodes whose flushed, quiet memory exceeds [`MemReading::bound`]: memory that grew
/// with the run and was not given back when the data and the clients went (a leak, or a
/// buffer nobody frees). A missing reading (0: the node did not answer) is a finding.
pub(crate) fn memory_findings(readings: &[MemReading]) -> Vec<String> {
    readings
        .iter()
        .filter_map(|r| {
            if r.start == 0 || r.end == 0 {
                return Some(format!("{}: no used_memory reading", r.addr));
            }
            (r.end > r.bound()).then(|| {
                format!(
                    "{}: used_memory {} after the flush, above fresh {} + backlog {} + slack {} = {}",
                    r.addr,
                    r.end,
                    r.start,
                    r.backlog,
                    MEMORY_SLACK,
                    r.bound()
                )
            })
        })
        .collect()
}

/// The per-node memory table of the report.
pub(crate) fn memory_table(readings: &[MemReading]) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut t = format!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>8} {}\n",
        "node memory (MiB)", "used start", "used end", "backlog", "rss end", "growth", "verdict"
    );
    for r in readings {
        t += &format!(
            "{:<22} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>8.2} {}{}\n",
            r.addr,
            mib(r.start),
            mib(r.end),
            mib(r.backlog),
            mib(r.rss),
            mib(r.end) - mib(r.start),
            if r.end > r.bound() || r.end == 0 {
                "LEAK?"
            } else {
                "ok"
            },
            if r.same_process { "" } else { " (restarted)" }
        );
    }
    t
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    fn reading(start: u64, end: u64, backlog: u64) -> MemReading {
        MemReading {
            addr: "10.0.0.1:6379".into(),
            start,
            end,
            rss: end * 2,
            backlog,
            same_process: true,
        }
    }

    #[test]
    fn a_node_back_to_its_fresh_size_plus_backlog_passes() {
        let ok = reading(1_500_000, 1_500_000 + (1 << 20) + 300_000, 1 << 20);
        assert!(memory_findings(&[ok]).is_empty());
    }

    #[test]
    fn memory_kept_after_the_flush_is_a_finding() {
        // 5 MB more than a fresh node with a full backlog: what a leaked buffer looks like.
        let leaky = reading(1_500_000, 1_500_000 + (1 << 20) + (5 << 20), 1 << 20);
        let found = memory_findings(std::slice::from_ref(&leaky));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("above fresh"), "{}", found[0]);
        assert!(memory_table(&[leaky]).contains("LEAK?"));
        // The backlog does not excuse memory beyond it.
        let no_backlog = reading(1_500_000, 1_500_000 + (3 << 20), 0);
        assert_eq!(memory_findings(&[no_backlog]).len(), 1);
    }

    #[test]
    fn a_node_that_did_not_answer_is_a_finding() {
        assert_eq!(memory_findings(&[reading(1_500_000, 0, 0)]).len(), 1);
    }
}

//! The latency monitor (LATENCY LATEST/HISTORY/RESET/GRAPH/DOCTOR): for each event class
//! ("command", "fast-command", ...) the last 160 per-second maxima of latencies at or over
//! `latency-monitor-threshold` ms, and the all-time maximum, as Redis's latency.c keeps them.
//! The text reports (GRAPH's sparkline, DOCTOR's analysis) follow Redis's layout.

use std::collections::BTreeMap;

/// Redis's LATENCY_TS_LEN: samples kept per event.
const TS_LEN: usize = 160;
/// Redis's LATENCY_GRAPH_COLS.
const GRAPH_COLS: usize = 80;

/// One event's history: (unix seconds, latency ms), oldest first.
#[derive(Debug, Default, Clone)]
pub(crate) struct Series {
    pub samples: Vec<(u64, u64)>,
    pub max: u64,
}

/// All event classes by name.
#[derive(Debug, Default)]
pub(crate) struct LatencyMonitor {
    pub events: BTreeMap<String, Series>,
}

impl LatencyMonitor {
    /// latencyAddSampleIfNeeded: records `latency_ms` for `event` when the monitor is on
    /// (`threshold_ms` > 0) and the latency reaches it; one sample per second (the max).
    pub(crate) fn add_if_needed(
        &mut self,
        event: &str,
        latency_ms: u64,
        threshold_ms: u64,
        now_secs: u64,
    ) {
        if threshold_ms == 0 || latency_ms < threshold_ms {
            return;
        }
        let ts = self.events.entry(event.to_string()).or_default();
        ts.max = ts.max.max(latency_ms);
        if let Some(last) = ts.samples.last_mut() {
            if last.0 == now_secs {
                last.1 = last.1.max(latency_ms);
                return;
            }
        }
        ts.samples.push((now_secs, latency_ms));
        if ts.samples.len() > TS_LEN {
            ts.samples.remove(0);
        }
    }

    /// LATENCY RESET [event]: how many event classes were dropped (names compare
    /// case-insensitively, as Redis).
    pub(crate) fn reset(&mut self, event: Option<&str>) -> usize {
        let before = self.events.len();
        match event {
            None => self.events.clear(),
            Some(e) => self.events.retain(|name, _| !name.eq_ignore_ascii_case(e)),
        }
        before - self.events.len()
    }
}

/// LATENCY GRAPH's text for one event: a header, a ruler and Redis's 4-row filled
/// sparkline with "seconds/minutes/hours/days ago" labels under each sample.
pub(crate) fn graph(event: &str, ts: &Series, now_secs: u64) -> String {
    let mut min = 0;
    let mut max = 0;
    let mut seq: Vec<(f64, String)> = Vec::new();
    for (i, &(time, lat)) in ts.samples.iter().enumerate() {
        if i == 0 {
            min = lat;
            max = lat;
        } else {
            max = max.max(lat);
            min = min.min(lat);
        }
        let elapsed = now_secs.saturating_sub(time);
        let label = if elapsed < 60 {
            format!("{elapsed}s")
        } else if elapsed < 3600 {
            format!("{}m", elapsed / 60)
        } else if elapsed < 86400 {
            format!("{}h", elapsed / 3600)
        } else {
            format!("{}d", elapsed / 86400)
        };
        seq.push((lat as f64, label));
    }
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        ts.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    let (smin, smax) = seq.iter().fold((f64::MAX, f64::MIN), |(lo, hi), (v, _)| {
        (lo.min(*v), hi.max(*v))
    });
    let mut first = true;
    for chunk in seq.chunks(GRAPH_COLS) {
        if !first {
            out.push('\n');
        }
        first = false;
        render_range(&mut out, chunk, smin, smax, 4);
    }
    out
}

/// One block of Redis's filled sparkline (sparkline.c's rendering rules).
fn render_range(out: &mut String, samples: &[(f64, String)], min: f64, max: f64, rows: usize) {
    const FILL: &[u8] = b"_o#";
    let charset_len = FILL.len() as i64;
    let mut relmax = max - min;
    if relmax == 0.0 {
        relmax = 1.0;
    }
    let steps = charset_len * rows as i64;
    let has_labels = samples.iter().any(|(_, l)| !l.is_empty());
    let mut row = 0usize;
    loop {
        let mut line = vec![b' '; samples.len()];
        let mut more = false;
        for (j, (value, label)) in samples.iter().enumerate() {
            let relval = value - min;
            let mut step = (((relval * steps as f64) as i64) as f64 / relmax) as i64;
            step = step.clamp(0, steps - 1);
            if row < rows {
                let idx = step - (rows as i64 - row as i64 - 1) * charset_len;
                more = true;
                if (0..charset_len).contains(&idx) {
                    line[j] = FILL[idx as usize];
                } else if idx >= charset_len {
                    line[j] = b'|';
                }
            } else {
                if has_labels && row - rows < 1 {
                    more = true;
                    break;
                }
                let label_char = row - rows - 1;
                if let Some(&c) = label.as_bytes().get(label_char) {
                    more = true;
                    line[j] = c;
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&line));
        out.push('\n');
    }
}

/// What DOCTOR needs to know besides the events.
pub(crate) struct DoctorInputs {
    pub threshold_ms: u64,
    pub slowlog_slower_than: i64,
    pub now_secs: u64,
}

/// LATENCY DOCTOR's report: per event its spikes, average, mean deviation and period,
/// then the advice Redis gives for those event classes.
pub(crate) fn doctor(mon: &LatencyMonitor, inp: &DoctorInputs) -> String {
    if mon.events.is_empty() && inp.threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
    }
    let mut report = String::new();
    let (mut slowlog_enabled, mut slowlog_tuning, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut large_objects) = (false, false);
    let mut advices = 0;
    for (n, (event, ts)) in mon.events.iter().enumerate() {
        if n == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let samples = ts.samples.len() as u64;
        let sum: u64 = ts.samples.iter().map(|s| s.1).sum();
        let avg = sum.checked_div(samples).unwrap_or(0);
        let oldest = ts.samples.iter().map(|s| s.0).min().unwrap_or(0);
        let period = if samples > 0 {
            inp.now_secs.saturating_sub(oldest).max(1)
        } else {
            0
        };
        let mad = ts
            .samples
            .iter()
            .map(|s| (avg as i64 - s.1 as i64).unsigned_abs())
            .sum::<u64>()
            .checked_div(samples)
            .unwrap_or(0);
        report.push_str(&format!(
            "{}. {event}: {samples} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            period as f64 / samples.max(1) as f64,
            ts.max
        ));
        if event.eq_ignore_ascii_case("command") {
            if inp.slowlog_slower_than < 0 {
                slowlog_enabled = true;
                advices += 1;
            } else if (inp.slowlog_slower_than / 1000) as u64 > inp.threshold_ms {
                slowlog_tuning = true;
                advices += 1;
            }
            slowlog_inspect = true;
            large_objects = true;
            advices += 2;
        }
        if event.eq_ignore_ascii_case("fast-command") {
            scheduler = true;
            advices += 1;
        }
        report.push('\n');
    }
    let eventnum = mon.events.len();
    if eventnum == 0 && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        report.push_str("\nI have a few advices for you:\n\n");
        if slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", inp.threshold_ms * 1000));
        }
        if slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", inp.threshold_ms * 1000));
        }
        if slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeps_the_max() {
        let mut m = LatencyMonitor::default();
        m.add_if_needed("command", 5, 0, 100);
        assert!(m.events.is_empty());
        m.add_if_needed("command", 5, 10, 100);
        assert!(m.events.is_empty());
        m.add_if_needed("command", 12, 10, 100);
        m.add_if_needed("command", 30, 10, 100);
        m.add_if_needed("command", 11, 10, 101);
        let s = &m.events["command"];
        assert_eq!(s.samples, vec![(100, 30), (101, 11)]);
        assert_eq!(s.max, 30);
        assert_eq!(m.reset(Some("COMMAND")), 1);
    }

    #[test]
    fn graph_has_redis_layout() {
        let s = Series {
            samples: vec![(100, 10), (101, 20)],
            max: 20,
        };
        let g = graph("command", &s, 101);
        let lines: Vec<&str> = g.lines().collect();
        assert_eq!(
            lines[0],
            "command - high 20 ms, low 10 ms (all time high 20 ms)"
        );
        assert_eq!(lines[1].len(), 80);
        // 4 rows of bars, one blank spacing row, then the labels "1s" and "0s".
        assert_eq!(lines[2], " #");
        assert_eq!(lines[5], "_|");
        assert_eq!(lines[6], "  ");
        assert_eq!(lines[7], "10");
        assert_eq!(lines[8], "ss");
    }
}

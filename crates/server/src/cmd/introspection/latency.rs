//! LATENCY LATEST|HISTORY|RESET|GRAPH|DOCTOR|HISTOGRAM|HELP over the latency monitor and
//! the per-command histograms the dispatcher keeps (exec/latency.rs, exec/stats.rs).

use super::slowlog::{bad_subcommand, help_reply};
use super::*;
use crate::exec::latency::{doctor, graph, DoctorInputs};
use crate::exec::observe::now_secs;

/// LATENCY <subcommand> ...
pub(super) fn latency(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let mon = &ctx.store.latency;
    if is(sub, "history") && args.len() == 3 {
        let event = String::from_utf8_lossy(&args[2]);
        let samples = mon.events.get(event.as_ref()).map_or(Vec::new(), |ts| {
            ts.samples
                .iter()
                .map(|&(t, l)| Reply::Array(vec![Reply::Int(t as i64), Reply::Int(l as i64)]))
                .collect()
        });
        return Ok(Reply::Array(samples));
    }
    if is(sub, "graph") && args.len() == 3 {
        let event = String::from_utf8_lossy(&args[2]);
        return match mon.events.get(event.as_ref()) {
            Some(ts) => Ok(Reply::Verbatim(
                VerbatimFormat::Txt,
                graph(&event, ts, now_secs()).into(),
            )),
            None => Err(crate::cmd::err::echo(&[
                b"ERR No samples available for event '",
                &args[2],
                b"'",
            ])),
        };
    }
    if is(sub, "latest") && args.len() == 2 {
        let rows = mon
            .events
            .iter()
            .map(|(name, ts)| {
                let (t, l) = ts.samples.last().copied().unwrap_or((0, 0));
                Reply::Array(vec![
                    Reply::bulk_string(name.clone()),
                    Reply::Int(t as i64),
                    Reply::Int(l as i64),
                    Reply::Int(ts.max as i64),
                ])
            })
            .collect();
        return Ok(Reply::Array(rows));
    }
    if is(sub, "doctor") && args.len() == 2 {
        let inputs = DoctorInputs {
            threshold_ms: ctx
                .store
                .config
                .get_value("latency-monitor-threshold")
                .parse()
                .unwrap_or(0),
            slowlog_slower_than: ctx
                .store
                .config
                .get_value("slowlog-log-slower-than")
                .parse()
                .unwrap_or(10000),
            now_secs: now_secs(),
        };
        return Ok(Reply::Verbatim(
            VerbatimFormat::Txt,
            doctor(mon, &inputs).into(),
        ));
    }
    if is(sub, "reset") {
        let n = if args.len() == 2 {
            ctx.store.latency.reset(None)
        } else {
            args[2..]
                .iter()
                .map(|e| ctx.store.latency.reset(Some(&String::from_utf8_lossy(e))))
                .sum()
        };
        return Ok(Reply::Int(n as i64));
    }
    if is(sub, "histogram") {
        return Ok(histogram(ctx, &args[2..]));
    }
    if is(sub, "help") && args.len() == 2 {
        return Ok(help_reply(
            "LATENCY",
            &[
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "GRAPH <event>",
                "    Return an ASCII latency graph for the <event> class.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
            ],
        ));
    }
    Err(bad_subcommand("latency", args))
}

/// LATENCY HISTOGRAM [command ...]: per command (or `container|sub`) a map of `calls` and
/// `histogram_usec` (cumulative counts at power-of-two microsecond bounds). A container
/// name lists its subcommands; unknown names and commands never called are skipped.
fn histogram(ctx: &Ctx, names: &[Bytes]) -> Reply {
    let stats = &ctx.store.cmdstats.by_cmd;
    let mut selected: Vec<&'static str> = Vec::new();
    if names.is_empty() {
        let mut all: Vec<&'static str> = stats.keys().copied().collect();
        all.sort_unstable();
        selected = all;
    } else {
        for n in names {
            let lower = String::from_utf8_lossy(n).to_ascii_lowercase();
            let mut keys: Vec<&'static str> = stats
                .keys()
                .copied()
                .filter(|k| {
                    *k == lower
                        || k.strip_prefix(lower.as_str())
                            .is_some_and(|rest| rest.starts_with('|'))
                })
                .collect();
            keys.sort_unstable();
            // A container's own entry first, then its subcommands, as Redis walks them.
            selected.extend(keys);
        }
    }
    let pairs = selected
        .into_iter()
        .filter_map(|name| {
            let st = stats.get(name)?;
            if st.histogram.total() == 0 {
                return None;
            }
            let buckets = st
                .histogram
                .log_buckets()
                .into_iter()
                .map(|(us, n)| (Reply::Int(us as i64), Reply::Int(n as i64)))
                .collect();
            Some((
                Reply::bulk(name.as_bytes()),
                Reply::Map(vec![
                    (
                        Reply::bulk(&b"calls"[..]),
                        Reply::Int(st.histogram.total() as i64),
                    ),
                    (Reply::bulk(&b"histogram_usec"[..]), Reply::Map(buckets)),
                ]),
            ))
        })
        .collect();
    Reply::Map(pairs)
}

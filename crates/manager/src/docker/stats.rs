//! Node container load as the Docker Engine measures it, for the autoscaler: CPU as
//! `docker stats` computes it (container CPU time delta / host CPU time delta x online
//! CPUs = CPUs in use), as a fraction of the container's CPU limit, and memory in use
//! (page cache excluded) as a fraction of the node's maxmemory.
//!
//! Why the engine and not INFO: the container's cgroup also counts what the node's own
//! accounting misses (allocator overhead, threads, the AOF rewrite), and its CPU limit is
//! what throttles the node. The conversion is pure, so it is tested on engine replies.

use anyhow::{Context, Result};
use serde_json::Value;

/// One `/containers/ID/stats` reading, reduced to what the load needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// CPU time the container used so far (ns).
    pub cpu_ns: f64,
    /// CPU time the host used so far over all its CPUs (ns).
    pub system_ns: f64,
    /// CPUs the host has online.
    pub online_cpus: f64,
    /// Memory in use (bytes), page cache excluded.
    pub mem_used: f64,
    /// The container's memory limit (the host's memory when it has none).
    pub mem_limit: f64,
}

impl Reading {
    /// Parse a one-shot stats reply (cgroup v1 or v2); an error when it carries no CPU
    /// counters (the container is not running).
    pub fn from_stats(s: &Value) -> Result<Reading> {
        let cpu = &s["cpu_stats"];
        let cpu_ns = cpu["cpu_usage"]["total_usage"]
            .as_f64()
            .context("stats without cpu usage")?;
        let system_ns = cpu["system_cpu_usage"]
            .as_f64()
            .context("stats without system cpu usage")?;
        let online_cpus = cpu["online_cpus"]
            .as_f64()
            .or_else(|| {
                cpu["cpu_usage"]["percpu_usage"]
                    .as_array()
                    .map(|a| a.len() as f64)
            })
            .filter(|n| *n > 0.0)
            .unwrap_or(1.0);
        let m = &s["memory_stats"];
        // What `docker stats` leaves out: the cache (cgroup v1) or inactive files (v2).
        let cache = m["stats"]["total_inactive_file"]
            .as_f64()
            .or_else(|| m["stats"]["inactive_file"].as_f64())
            .or_else(|| m["stats"]["cache"].as_f64())
            .unwrap_or(0.0);
        let usage = m["usage"].as_f64().unwrap_or(0.0);
        Ok(Reading {
            cpu_ns,
            system_ns,
            online_cpus,
            mem_used: (usage - cache).max(0.0),
            mem_limit: m["limit"].as_f64().unwrap_or(0.0),
        })
    }
}

/// Load of a node container, as fractions of its capacity (1.0 = full).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// CPU in use / CPU limit, since the previous reading; None on the first one.
    pub cpu: Option<f64>,
    /// Memory in use / maxmemory (/ the container limit when maxmemory is unset).
    pub mem: f64,
}

/// The load between two readings of one container. `cpus` is the container's CPU limit
/// (0: none, so the host's CPUs are the capacity); `maxmemory` the node's (bytes, 0:
/// unset). A counter that went backwards (the container was re-created) gives no CPU.
pub fn load(prev: Option<&Reading>, cur: &Reading, cpus: f64, maxmemory: u64) -> Load {
    let cpu = prev.and_then(|p| {
        let dc = cur.cpu_ns - p.cpu_ns;
        let ds = cur.system_ns - p.system_ns;
        if dc < 0.0 || ds <= 0.0 {
            return None;
        }
        let used = dc / ds * cur.online_cpus;
        let capacity = if cpus > 0.0 { cpus } else { cur.online_cpus };
        Some(used / capacity)
    });
    let cap = if maxmemory > 0 {
        maxmemory as f64
    } else {
        cur.mem_limit
    };
    Load {
        cpu,
        mem: if cap > 0.0 { cur.mem_used / cap } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats(cpu_ns: u64, system_ns: u64, usage: u64, cache: u64) -> Value {
        json!({
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns, "percpu_usage": [1, 2]},
                          "system_cpu_usage": system_ns, "online_cpus": 2},
            "memory_stats": {"usage": usage, "stats": {"cache": cache, "inactive_file": cache},
                             "limit": 400u64 << 20},
        })
    }

    #[test]
    fn cpu_is_the_docker_stats_formula_over_the_limit() {
        let a = Reading::from_stats(&stats(1_000_000_000, 100_000_000_000, 0, 0)).expect("a");
        // 0.25 s of container CPU while the 2-CPU host counted 1 s over both CPUs
        // (0.5 s of wall time): the container used 0.5 CPU.
        let b = Reading::from_stats(&stats(1_250_000_000, 101_000_000_000, 0, 0)).expect("b");
        let l = load(Some(&a), &b, 0.5, 0);
        assert_eq!(l.cpu, Some(1.0), "0.5 CPU used of a 0.5 CPU limit");
        assert_eq!(load(Some(&a), &b, 0.0, 0).cpu, Some(0.25), "of 2 host CPUs");
        assert_eq!(load(None, &b, 0.5, 0).cpu, None, "first reading");
        assert_eq!(load(Some(&b), &a, 0.5, 0).cpu, None, "counters reset");
    }

    #[test]
    fn memory_leaves_the_page_cache_out_and_compares_with_maxmemory() {
        let r = Reading::from_stats(&stats(1, 1, 100 << 20, 36 << 20)).expect("r");
        assert_eq!(r.mem_used, (64u64 << 20) as f64);
        assert_eq!(load(None, &r, 1.0, 256 << 20).mem, 0.25);
        // No maxmemory: the container's limit is the capacity.
        assert_eq!(load(None, &r, 1.0, 0).mem, 64.0 / 400.0);
        // cgroup v2 replies name the cache inactive_file only.
        let v2 = json!({"cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 9,
                        "online_cpus": 4},
                        "memory_stats": {"usage": 10, "stats": {"inactive_file": 4}, "limit": 20}});
        let r = Reading::from_stats(&v2).expect("v2");
        assert_eq!((r.mem_used, r.online_cpus), (6.0, 4.0));
        // A stopped container's reply has no counters.
        assert!(Reading::from_stats(&json!({"cpu_stats": {}, "memory_stats": {}})).is_err());
    }
}

//! The autoscaling rules as a pure function: observations in, actions out.
//!
//! Pure so the rules are tested with synthetic histories in microseconds; the supervisor's
//! executor does the sampling (INFO) and carries actions out.
//!
//! Rules (defaults):
//! - add a pair when CPU **or** memory use has stayed above 70% of capacity for 5 min,
//!   unless that would exceed 12 nodes;
//! - remove a pair when CPU **and** memory have both stayed below 40% for 15 min, unless
//!   that would go under 6 nodes;
//! - nothing within the cooldown after an action, and only samples taken after the last
//!   action count (the load before it was measured on a different cluster shape).

use serde::{Deserialize, Serialize};

/// Tunables, all settable from `rubra up` flags.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AutoscaleConfig {
    /// Scale-up threshold, fraction of capacity (0.70).
    pub high: f64,
    /// Scale-down threshold, fraction of capacity (0.40).
    pub low: f64,
    /// How long load must stay above `high` before adding a pair (seconds).
    pub up_after_secs: u64,
    /// How long load must stay below `low` before removing a pair (seconds).
    pub down_after_secs: u64,
    /// Never fewer nodes than this.
    pub min_nodes: usize,
    /// Never more nodes than this.
    pub max_nodes: usize,
    /// Quiet period after an action (seconds).
    pub cooldown_secs: u64,
}

impl Default for AutoscaleConfig {
    fn default() -> Self {
        AutoscaleConfig {
            high: 0.70,
            low: 0.40,
            up_after_secs: 300,
            down_after_secs: 900,
            min_nodes: 6,
            max_nodes: 12,
            cooldown_secs: 600,
        }
    }
}

/// One measurement of the cluster: load as a fraction of capacity (0.0..=1.0+).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Unix seconds.
    pub at: u64,
    /// CPU used / CPU available, averaged over primaries.
    pub cpu: f64,
    /// used_memory / maxmemory, averaged over primaries (0 when maxmemory is unset).
    pub mem: f64,
}

/// The state the rules need besides the history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Unix seconds now.
    pub now: u64,
    /// Nodes currently in the cluster.
    pub nodes: usize,
    /// When the last scale action happened, if ever.
    pub last_action_at: Option<u64>,
}

/// What the executor should do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Add a primary+replica pair.
    AddPair {
        /// Human-readable cause, with the measured values.
        reason: String,
    },
    /// Remove a primary+replica pair.
    RemovePair {
        /// Human-readable cause, with the measured values.
        reason: String,
    },
}

/// True when `cond` has held on every sample for at least `window` seconds up to `now`:
/// the streak since the last violating sample must start no later than `now - window`.
fn sustained(samples: &[Sample], now: u64, window: u64, cond: impl Fn(&Sample) -> bool) -> bool {
    let Some(last) = samples.last() else {
        return false;
    };
    if !cond(last) {
        return false;
    }
    let start = match samples.iter().rposition(|s| !cond(s)) {
        Some(i) => samples[i + 1].at,
        None => samples[0].at,
    };
    now >= start.saturating_add(window)
}

/// Decide what to do; at most one action per call.
pub fn plan(obs: &Observation, cfg: &AutoscaleConfig, history: &[Sample]) -> Vec<Action> {
    if let Some(t) = obs.last_action_at {
        if obs.now.saturating_sub(t) < cfg.cooldown_secs {
            return Vec::new();
        }
    }
    let relevant: Vec<Sample> = history
        .iter()
        .filter(|s| obs.last_action_at.map(|t| s.at > t).unwrap_or(true) && s.at <= obs.now)
        .copied()
        .collect();
    let Some(last) = relevant.last() else {
        return Vec::new();
    };
    let high = |s: &Sample| s.cpu > cfg.high || s.mem > cfg.high;
    let low = |s: &Sample| s.cpu < cfg.low && s.mem < cfg.low;
    if obs.nodes + 2 <= cfg.max_nodes && sustained(&relevant, obs.now, cfg.up_after_secs, high) {
        return vec![Action::AddPair {
            reason: format!(
                "cpu {:.0}% / memory {:.0}% above {:.0}% for {}s",
                last.cpu * 100.0,
                last.mem * 100.0,
                cfg.high * 100.0,
                cfg.up_after_secs
            ),
        }];
    }
    if obs.nodes >= cfg.min_nodes + 2 && sustained(&relevant, obs.now, cfg.down_after_secs, low) {
        return vec![Action::RemovePair {
            reason: format!(
                "cpu {:.0}% and memory {:.0}% below {:.0}% for {}s",
                last.cpu * 100.0,
                last.mem * 100.0,
                cfg.low * 100.0,
                cfg.down_after_secs
            ),
        }];
    }
    Vec::new()
}

//! The autoscaler's rules, checked with synthetic load histories (no processes).

use rubra_manager::autoscale::{plan, Action, AutoscaleConfig, Observation, Sample};

/// A sample every 10 s from `from` to `to` (inclusive) with constant load.
fn flat(from: u64, to: u64, cpu: f64, mem: f64) -> Vec<Sample> {
    (from..=to)
        .step_by(10)
        .map(|at| Sample { at, cpu, mem })
        .collect()
}

fn obs(now: u64, nodes: usize) -> Observation {
    Observation {
        now,
        nodes,
        last_action_at: None,
    }
}

fn is_add(a: &[Action]) -> bool {
    matches!(a, [Action::AddPair { .. }])
}

fn is_remove(a: &[Action]) -> bool {
    matches!(a, [Action::RemovePair { .. }])
}

#[test]
fn high_cpu_for_five_minutes_adds_a_pair() {
    let cfg = AutoscaleConfig::default();
    let h = flat(1000, 1300, 0.85, 0.10);
    assert!(is_add(&plan(&obs(1300, 6), &cfg, &h)));
}

#[test]
fn high_memory_alone_adds_a_pair() {
    let cfg = AutoscaleConfig::default();
    let h = flat(1000, 1300, 0.05, 0.75);
    assert!(is_add(&plan(&obs(1300, 6), &cfg, &h)));
}

#[test]
fn high_load_for_less_than_the_window_does_nothing() {
    let cfg = AutoscaleConfig::default();
    let h = flat(1000, 1290, 0.85, 0.10);
    assert!(plan(&obs(1290, 6), &cfg, &h).is_empty());
}

#[test]
fn a_dip_restarts_the_window() {
    let cfg = AutoscaleConfig::default();
    let mut h = flat(1000, 1200, 0.9, 0.1);
    h.push(Sample {
        at: 1210,
        cpu: 0.5,
        mem: 0.1,
    });
    h.extend(flat(1220, 1400, 0.9, 0.1));
    // Streak began at 1220; 1400 - 300 = 1100 < 1220.
    assert!(plan(&obs(1400, 6), &cfg, &h).is_empty());
    h.extend(flat(1410, 1520, 0.9, 0.1));
    assert!(is_add(&plan(&obs(1520, 6), &cfg, &h)));
}

#[test]
fn never_above_max_nodes() {
    let cfg = AutoscaleConfig::default();
    let h = flat(1000, 2000, 0.99, 0.99);
    assert!(plan(&obs(2000, 12), &cfg, &h).is_empty());
    assert!(is_add(&plan(&obs(2000, 10), &cfg, &h)));
}

#[test]
fn low_load_for_fifteen_minutes_removes_a_pair() {
    let cfg = AutoscaleConfig::default();
    let h = flat(0, 900, 0.10, 0.20);
    assert!(is_remove(&plan(&obs(900, 8), &cfg, &h)));
    // Not yet at 890 s.
    let h = flat(0, 890, 0.10, 0.20);
    assert!(plan(&obs(890, 8), &cfg, &h).is_empty());
}

#[test]
fn removal_needs_both_metrics_low() {
    let cfg = AutoscaleConfig::default();
    let h = flat(0, 2000, 0.10, 0.50);
    assert!(plan(&obs(2000, 8), &cfg, &h).is_empty());
}

#[test]
fn never_below_min_nodes() {
    let cfg = AutoscaleConfig::default();
    let h = flat(0, 2000, 0.01, 0.01);
    assert!(plan(&obs(2000, 6), &cfg, &h).is_empty());
}

#[test]
fn cooldown_blocks_and_old_samples_do_not_count() {
    let cfg = AutoscaleConfig::default();
    let h = flat(0, 2000, 0.95, 0.1);
    let mut o = obs(2000, 8);
    o.last_action_at = Some(1700);
    assert!(plan(&o, &cfg, &h).is_empty(), "within the 600 s cooldown");
    o.now = 2000;
    o.last_action_at = Some(1300);
    // Cooldown over, and samples after 1300 cover 1310..2000 (> 300 s): add.
    assert!(is_add(&plan(&o, &cfg, &h)));
    // Cooldown over but only 200 s of samples since the action: nothing yet.
    let h = flat(0, 1500, 0.95, 0.1);
    let o = Observation {
        now: 1500,
        nodes: 8,
        last_action_at: Some(800),
    };
    assert!(is_add(&plan(&o, &cfg, &h)));
    let h = flat(1350, 1500, 0.95, 0.1);
    let o = Observation {
        now: 1500,
        nodes: 8,
        last_action_at: Some(800),
    };
    assert!(plan(&o, &cfg, &h).is_empty());
}

#[test]
fn thresholds_are_configurable() {
    let cfg = AutoscaleConfig {
        high: 0.5,
        up_after_secs: 60,
        ..AutoscaleConfig::default()
    };
    let h = flat(0, 60, 0.55, 0.0);
    assert!(is_add(&plan(&obs(60, 6), &cfg, &h)));
}

#[test]
fn empty_history_does_nothing() {
    assert!(plan(&obs(100, 8), &AutoscaleConfig::default(), &[]).is_empty());
}

//! Cluster operations that run through the supervisor's API when one runs for the data
//! dir (its operation lock keeps two slot moves apart) and straight on the nodes otherwise.

use super::target_args::Target;
use super::via_supervisor::api_call;
use crate::ctx::Ctx;
use crate::state::Dir;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `rubra fix`: close open slots and assign uncovered ones, then report a settled check.
pub(super) fn fix(t: &Target) -> Result<ExitCode> {
    if let Some(dir) = supervised(t)? {
        let r = api_json(&dir, "/api/fix", "{}")?;
        for line in r["actions"].as_array().into_iter().flatten() {
            println!("{}", line.as_str().unwrap_or_default());
        }
        return check_settled(
            &t.ctx()?,
            !r["actions"].as_array().is_some_and(Vec::is_empty),
        );
    }
    let ctx = t.ctx()?;
    let actions = crate::check::fix(&ctx)?;
    for line in &actions {
        println!("{line}");
    }
    check_settled(&ctx, !actions.is_empty())
}

/// `rubra reshard`: move `slots` slots from one primary to another.
pub(super) fn reshard(target: &Target, from: &str, to: &str, slots: usize) -> Result<ExitCode> {
    if let Some(dir) = supervised(target)? {
        let body = serde_json::json!({"from": from, "to": to, "slots": slots});
        let r = api_json(&dir, "/api/reshard", &body.to_string())?;
        println!(
            "moved {} slots and {} keys from {} to {}",
            r["slots_moved"],
            r["keys_moved"],
            r["from"].as_str().unwrap_or("?"),
            r["to"].as_str().unwrap_or("?")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = target.ctx()?;
    finish_open(&ctx)?;
    let view = ctx.best_view()?;
    let (f, t) = (view.resolve(from)?, view.resolve(to)?);
    let moves = crate::migrate::plan_reshard(&view, f, t, slots)?;
    let (s, k) = crate::migrate::execute(&ctx, &view, &moves, false)?;
    println!("moved {s} slots and {k} keys from {} to {}", f.id, t.id);
    Ok(ExitCode::SUCCESS)
}

/// `rubra rebalance`: even out slots when a primary is off its share by > `threshold` %.
pub(super) fn rebalance(target: &Target, threshold: f64) -> Result<ExitCode> {
    if let Some(dir) = supervised(target)? {
        let body = serde_json::json!({ "threshold": threshold });
        let r = api_json(&dir, "/api/rebalance", &body.to_string())?;
        if r["slots_moved"].as_u64() == Some(0) {
            println!("balanced within {threshold}%: nothing to move");
        } else {
            println!(
                "moved {} slots and {} keys",
                r["slots_moved"], r["keys_moved"]
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = target.ctx()?;
    finish_open(&ctx)?;
    let view = ctx.best_view()?;
    let members = view.live_primary_ids();
    let moves = crate::migrate::plan_rebalance(&view, &members, threshold)?;
    if moves.is_empty() {
        println!("balanced within {threshold}%: nothing to move");
        return Ok(ExitCode::SUCCESS);
    }
    let (s, k) = crate::migrate::execute(&ctx, &view, &moves, false)?;
    println!("moved {s} slots and {k} keys");
    Ok(ExitCode::SUCCESS)
}

/// `rubra failover NODE`: promote a replica (or the replica of the primary named).
pub(super) fn failover(target: &Target, node: &str) -> Result<ExitCode> {
    if let Some(dir) = supervised(target)? {
        let body = serde_json::json!({ "node": node });
        let r = api_json(&dir, "/api/failover", &body.to_string())?;
        println!("{} is now a primary", r["promoted"].as_str().unwrap_or("?"));
        return Ok(ExitCode::SUCCESS);
    }
    let id = crate::failover::failover(&target.ctx()?, node, Duration::from_secs(30))?;
    println!("{id} is now a primary");
    Ok(ExitCode::SUCCESS)
}

/// The data dir of `t` when a supervisor runs for it (and no --seed names another
/// cluster): slot-moving commands then go through the supervisor's API, whose operation
/// lock makes sure two operations never move slots at once. Without a supervisor they
/// act on the nodes directly.
pub(super) fn supervised(t: &Target) -> Result<Option<PathBuf>> {
    if t.seed.is_some() {
        return Ok(None);
    }
    let dir = Dir::new(&t.dir)?;
    match dir.running_supervisor() {
        Some(pid) => {
            eprintln!(
                "rubra: running through the supervisor (pid {pid}) of {:?}",
                dir.root
            );
            Ok(Some(dir.root))
        }
        None => Ok(None),
    }
}

/// [`api_call`] with the result parsed as JSON.
pub(super) fn api_json(dir: &std::path::Path, path: &str, body: &str) -> Result<serde_json::Value> {
    let text = api_call(dir, path, body)?;
    serde_json::from_str(&text).with_context(|| format!("supervisor reply {text:?}"))
}

/// Complete slot moves a crash left open, so reshard/rebalance start from a clean state.
fn finish_open(ctx: &Ctx) -> Result<()> {
    for line in crate::check::fix(ctx)? {
        eprintln!("rubra: {line}");
    }
    Ok(())
}

/// `rubra status`: the node table.
pub(super) fn status(ctx: &Ctx) -> Result<ExitCode> {
    print!("{}", crate::status::table(ctx)?);
    Ok(ExitCode::SUCCESS)
}

/// After `fix` changed slot owners, replicas learn the new owners by gossip: check
/// until the cluster agrees (up to 20 s) before reporting, so a successful fix is not
/// reported as a failure just because the news is still travelling.
fn check_settled(ctx: &Ctx, changed: bool) -> Result<ExitCode> {
    if changed {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if crate::check::check(ctx).is_ok_and(|r| r.problems.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    check(ctx)
}

/// `rubra check`: slot coverage, agreement and open slots; exit 1 on problems.
pub(super) fn check(ctx: &Ctx) -> Result<ExitCode> {
    let r = crate::check::check(ctx)?;
    for l in &r.info {
        println!("{l}");
    }
    if r.problems.is_empty() {
        println!("[OK] all 16384 slots covered, nodes agree, no open slots");
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &r.problems {
            println!("[ERR] {p}");
        }
        Ok(ExitCode::FAILURE)
    }
}

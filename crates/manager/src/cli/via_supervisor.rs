//! Operations only the running supervisor can do (it owns the node processes): scaling,
//! autoscale, password rotation, rolling upgrade, and stopping it.

use super::ops::api_json;
use crate::state::{pid_alive, signal, Dir};
use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// `rubra scale`: add or remove pairs, or scale to N pairs.
pub(super) fn scale(
    dir: &std::path::Path,
    add: bool,
    remove: bool,
    pairs: Option<usize>,
) -> Result<ExitCode> {
    let dir = Dir::new(dir)?;
    let body = match (add, remove, pairs) {
        (true, _, _) => r#"{"action":"add_pair"}"#.to_string(),
        (_, true, _) => r#"{"action":"remove_pair"}"#.to_string(),
        (_, _, Some(n)) => format!(r#"{{"pairs":{n}}}"#),
        _ => bail!("give --add-pair, --remove-pair or --pairs N"),
    };
    let resp = api_call(&dir.root, "/api/scale", &body)?;
    println!("{resp}");
    Ok(ExitCode::SUCCESS)
}

/// POST to the running supervisor's API for DIR; a clear error when none runs.
pub(super) fn api_call(dir: &std::path::Path, path: &str, body: &str) -> Result<String> {
    let dir = Dir::new(dir)?;
    let st = dir.load_state()?;
    let panel = st.as_ref().and_then(|s| s.panel.clone());
    let (Some(_), Some(panel)) = (dir.running_supervisor(), panel) else {
        bail!(
            "no supervisor is running for {:?}: this needs it (it owns the node processes); start it with `rubra up --dir {}`",
            dir.root,
            dir.root.display()
        );
    };
    let pw = dir
        .read_password()?
        .context("no credentials file in the data dir")?;
    let api = crate::httpc::Api::for_dir(&dir, &panel);
    let (code, resp) = api.request("POST", path, &pw, body)?;
    match code {
        200 => Ok(resp),
        202 => wait_op(&api, &pw, &resp),
        _ => {
            let msg = serde_json::from_str::<serde_json::Value>(&resp)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(resp);
            if code == 409 {
                bail!("the supervisor refused: {msg}");
            }
            bail!("supervisor answered {code}: {msg}")
        }
    }
}

/// Follow a background operation (202 {"op": ID}) until it ends, printing its phase and
/// slots moved to stderr; its result, or its error.
fn wait_op(api: &crate::httpc::Api, pw: &str, accepted: &str) -> Result<String> {
    let v: serde_json::Value = serde_json::from_str(accepted).context("operation reply")?;
    let id = v["op"].as_str().context("operation reply without an id")?;
    let mut last = String::new();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let (code, body) = api.request("GET", &format!("/api/ops/{id}"), pw, "")?;
        if code != 200 {
            bail!("supervisor answered {code}: {body}");
        }
        let j: serde_json::Value = serde_json::from_str(&body).context("operation status")?;
        let line = format!(
            "{}: {} {}/{} slots, {} keys, {} bytes sent",
            j["kind"].as_str().unwrap_or("?"),
            j["phase"].as_str().unwrap_or("?"),
            j["done"],
            j["total"],
            j["keys"],
            j["bytes"]
        );
        if line != last {
            eprintln!("rubra: {line}");
            last = line;
        }
        match j["status"].as_str() {
            Some("done") => return Ok(j["result"].to_string()),
            Some("failed") => bail!("{}", j["error"].as_str().unwrap_or("operation failed")),
            _ => {}
        }
    }
}

/// `rubra down [--purge]`: stop the supervisor (or, without one, the recorded nodes).
pub(super) fn down(dir: &std::path::Path, purge: bool) -> Result<ExitCode> {
    let code = stop(dir)?;
    if purge {
        crate::runtime_cli::purge(dir)?;
    }
    Ok(code)
}

fn stop(dir: &std::path::Path) -> Result<ExitCode> {
    let dir = Dir::new(dir)?;
    let wait_gone = |pid: u32| {
        let t0 = Instant::now();
        while pid_alive(pid) && t0.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(100));
        }
        !pid_alive(pid)
    };
    if let Some(pid) = dir.running_supervisor() {
        signal(pid, libc::SIGTERM);
        if !wait_gone(pid) {
            bail!("supervisor {pid} did not stop within 60s");
        }
        println!("stopped supervisor {pid} and its nodes");
        return Ok(ExitCode::SUCCESS);
    }
    // No supervisor: stop node processes recorded in the state file directly.
    let Some(st) = dir.load_state()? else {
        bail!("no cluster in {:?}", dir.root);
    };
    if let Some(d) = &st.docker {
        return crate::runtime_cli::stop(d, &st);
    }
    let pids: Vec<u32> = st
        .nodes
        .iter()
        .filter_map(|n| n.pid)
        .filter(|p| pid_alive(*p))
        .collect();
    for &p in &pids {
        signal(p, libc::SIGTERM);
    }
    for &p in &pids {
        if !wait_gone(p) {
            signal(p, libc::SIGKILL);
        }
    }
    println!(
        "no supervisor was running; stopped {} node processes",
        pids.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `rubra autoscale on|off`.
pub(super) fn autoscale(dir: &std::path::Path, mode: &str) -> Result<ExitCode> {
    let body = format!(r#"{{"enabled":{}}}"#, mode == "on");
    let resp = api_call(dir, "/api/autoscale", &body)?;
    println!("{resp}");
    Ok(ExitCode::SUCCESS)
}

/// `rubra password rotate`: a new password cluster-wide, the old one valid for `grace` s.
pub(super) fn rotate_password(dir: &std::path::Path, grace: u64) -> Result<ExitCode> {
    let body = serde_json::json!({ "grace": grace });
    let r = api_json(dir, "/api/password/rotate", &body.to_string())?;
    println!(
        "password rotated: the new one is in {}; the old one is accepted until unix time {}",
        r["credentials"].as_str().unwrap_or("DIR/credentials"),
        r["old_accepted_until"]
    );
    Ok(ExitCode::SUCCESS)
}

/// `rubra upgrade --image`: the Docker runtime's rolling upgrade.
pub(super) fn upgrade(dir: &std::path::Path, image: &str) -> Result<ExitCode> {
    let body = serde_json::json!({ "image": image });
    let r = api_json(dir, "/api/upgrade", &body.to_string())?;
    println!(
        "upgraded {} nodes from {} to {} in {} s",
        r["nodes"],
        r["previous"].as_str().unwrap_or("?"),
        r["image"].as_str().unwrap_or("?"),
        r["seconds"]
    );
    Ok(ExitCode::SUCCESS)
}

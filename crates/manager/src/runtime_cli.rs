//! The CLI's side of the node runtimes: which runtime a data dir uses, container
//! addresses for commands that run without the supervisor, stopping and purging.

use crate::docker::DockerRt;
use crate::state::{Dir, DockerRec, State};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// The Docker runtime for `st` when its nodes are containers. `runtime` is the
/// `--runtime` flag: it must agree with how an existing cluster was created.
pub fn docker_runtime(
    st: &State,
    runtime: &str,
    cpus: f64,
    maxmemory: &str,
) -> Result<Option<DockerRt>> {
    let was = match (&st.docker, &st.external) {
        (Some(_), _) => "docker",
        (None, Some(_)) => "external",
        (None, None) => "local",
    };
    if was != runtime {
        bail!("the cluster in this data dir was created with --runtime {was}");
    }
    match &st.docker {
        Some(d) => Ok(Some(with_hosts(
            st,
            d,
            DockerRt::new(&d.prefix, &d.image, cpus, maxmemory)?,
        )?)),
        None => Ok(None),
    }
}

/// `rt` on the hosts recorded in `d`, with the nodes where `st` placed them.
fn with_hosts(st: &State, d: &DockerRec, rt: DockerRt) -> Result<DockerRt> {
    let hosts: Vec<(String, String)> = d
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.endpoint.clone()))
        .collect();
    rt.with_hosts(&hosts, placement_of(st))
}

/// Where `st` placed each node (port -> host name).
pub fn placement_of(st: &State) -> BTreeMap<u16, String> {
    st.nodes
        .iter()
        .filter_map(|n| n.host.clone().map(|h| (n.port, h)))
        .collect()
}

/// The nodes as `placement::place` takes them (created roles).
pub fn wants(nodes: &[crate::state::NodeRec]) -> Vec<crate::placement::Want> {
    nodes
        .iter()
        .filter(|n| n.status == crate::state::NodeStatus::Active)
        .map(|n| crate::placement::Want {
            port: n.port,
            pair: n.pair,
            primary: n.intent == crate::state::Intent::Primary,
        })
        .collect()
}

/// A runtime handle for commands that only inspect or stop (no limits needed).
fn handle(st: &State, d: &DockerRec) -> Result<DockerRt> {
    with_hosts(st, d, DockerRt::new(&d.prefix, &d.image, 0.0, "0")?)
}

/// Container IPs of `ports`, read from the engines (for status, check, reshard...). A
/// node whose host does not answer is left out (the others still serve its slots).
pub fn container_ips(st: &State, d: &DockerRec, ports: &[u16]) -> Result<BTreeMap<u16, String>> {
    let rt = handle(st, d)?;
    let mut out = BTreeMap::new();
    for &p in ports {
        match rt.refresh_ip(p) {
            Ok(Some(ip)) => {
                out.insert(p, ip);
            }
            Ok(None) => {}
            Err(e) if rt.multi() => eprintln!("rubra: node {p}: {e:#}"),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `rubra down` without a supervisor: stop the node containers (they and their volumes
/// stay for the next `rubra up`).
pub fn stop(d: &DockerRec, st: &State) -> Result<ExitCode> {
    let rt = handle(st, d)?;
    let ports = st.active_ports();
    for &p in &ports {
        rt.stop(p, 10)?;
    }
    println!(
        "no supervisor was running; stopped {} node containers",
        ports.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `rubra down --purge`: remove containers, volumes and network of a Docker cluster,
/// and forget it in the data dir (its data is gone).
pub fn purge(dir: &std::path::Path) -> Result<()> {
    let dir = Dir::new(dir)?;
    let Some(st) = dir.load_state()? else {
        return Ok(());
    };
    let Some(d) = &st.docker else {
        bail!("--purge is for clusters on the Docker runtime");
    };
    let n = handle(&st, d)?.purge()?;
    std::fs::remove_file(dir.state_path())?;
    println!(
        "removed {n} containers, their volumes and network {}-net",
        d.prefix
    );
    Ok(())
}

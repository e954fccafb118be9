//! The Docker node runtime: one container per node, on a user-defined bridge network,
//! each with its own named data volume, a restart policy and resource limits.
//!
//! Names derive from a prefix (`--docker-prefix`, default `rubra`): network `P-net`,
//! containers `P-node-PORT`, volumes `P-data-PORT`; everything also carries the label
//! `rubra.cluster=P`, so `rubra down --purge` (and tests) find all of it. Every node keeps
//! its distinct client port inside its container, so ports stay the node identity the
//! rest of rubra uses; the address is the container's IP on the network, which the node
//! announces itself (`--cluster-announce-ip auto`, see `node_entry`).

pub mod engine;
pub mod external;
pub mod stats;

use crate::procs::NodeOpts;
use anyhow::{anyhow, bail, Context, Result};
use engine::{query_escape, Engine};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Label carrying the cluster prefix on every object we create.
pub const LABEL: &str = "rubra.cluster";

/// Where node data lives inside the image (a volume).
pub const DATA: &str = "/data";

/// How node containers are made.
#[derive(Debug)]
pub struct DockerRt {
    /// The engine.
    pub engine: Engine,
    /// Name prefix and label value.
    pub prefix: String,
    /// Node image (built by deploy/build-image.sh); `rubra upgrade` changes it.
    image: Mutex<String>,
    /// CPU limit per node container (NanoCpus / 1e9); 0 = none.
    pub cpus: f64,
    /// Memory limit per node container in bytes; 0 = none.
    pub memory: u64,
    /// The nodes' maxmemory in bytes (the autoscaler's memory capacity); 0 = unset.
    pub maxmemory: u64,
    /// The previous stats reading of each node's container (CPU is a delta).
    readings: Mutex<BTreeMap<u16, stats::Reading>>,
    /// Last known container IPs, by node port.
    ips: Mutex<BTreeMap<u16, String>>,
}

/// Container memory limit for a node with `maxmemory` bytes of data: the data plus half
/// again (client buffers, replication backlog, AOF rewrite buffers) plus 64 MiB for the
/// process itself, so the engine's OOM killer acts only if maxmemory does not.
pub fn memory_limit(maxmemory: u64) -> u64 {
    if maxmemory == 0 {
        return 0;
    }
    maxmemory + maxmemory / 2 + (64 << 20)
}

/// Bytes of a Redis memory setting ("256mb", "1gb", "100000", "2g", "512k").
pub fn parse_mem(s: &str) -> Result<u64> {
    let l = s.trim().to_ascii_lowercase();
    let split = l.find(|c: char| !c.is_ascii_digit()).unwrap_or(l.len());
    let (num, unit) = l.split_at(split);
    let n: u64 = num.parse().map_err(|_| anyhow!("bad memory size {s:?}"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => bail!("bad memory unit in {s:?}"),
    };
    n.checked_mul(mul)
        .ok_or_else(|| anyhow!("memory size {s:?} too large"))
}

/// The node's command line in its container: `rubra server` with cluster mode, data in
/// the volume, every interface bound (the network is private to the cluster and the
/// password guards it) and the container's own IP announced.
pub fn node_args(port: u16, o: &NodeOpts) -> Vec<String> {
    let mut a: Vec<String> = vec![crate::procs::EMBEDDED_NODE_ARG.into()];
    let kv = [
        ("port", port.to_string()),
        ("cluster-enabled", "yes".into()),
        ("cluster-config-file", "nodes.conf".into()),
        ("cluster-node-timeout", o.node_timeout.to_string()),
        ("dir", DATA.into()),
        ("appendonly", "yes".into()),
        ("maxmemory", o.maxmemory.clone()),
        ("bind", "0.0.0.0".into()),
        ("cluster-announce-ip", "auto".into()),
    ];
    for (k, v) in kv {
        a.push(format!("--{k}"));
        a.push(v);
    }
    a
}

impl DockerRt {
    /// A runtime for cluster `prefix` running `image`.
    pub fn new(prefix: &str, image: &str, cpus: f64, maxmemory: &str) -> Result<DockerRt> {
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("--docker-prefix must be letters, digits, '-' or '_' (got {prefix:?})");
        }
        Ok(DockerRt {
            engine: Engine::from_env()?,
            prefix: prefix.to_string(),
            image: Mutex::new(image.to_string()),
            cpus,
            memory: memory_limit(parse_mem(maxmemory)?),
            maxmemory: parse_mem(maxmemory)?,
            readings: Mutex::new(BTreeMap::new()),
            ips: Mutex::new(BTreeMap::new()),
        })
    }

    /// The image new node containers are made from.
    pub fn image(&self) -> String {
        self.image.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes later containers use `image` (`rubra upgrade`).
    pub fn set_image(&self, image: &str) {
        *self.image.lock().unwrap_or_else(|p| p.into_inner()) = image.to_string();
    }

    /// Fails unless the engine holds `image` (there is no registry to pull from).
    pub fn check_image(&self, image: &str) -> Result<()> {
        match self
            .engine
            .get_opt(&format!("/images/{}/json", query_escape(image)))?
        {
            Some(_) => Ok(()),
            None => bail!("image {image} is not in the Docker engine: build it first (deploy/build-image.sh --tag {image})"),
        }
    }

    /// Removes the node's container but keeps its data volume (so the node keeps its id
    /// and data when it is created again).
    pub fn remove_container(&self, port: u16) -> Result<()> {
        let (code, text) = self.engine.call(
            "DELETE",
            &format!("/containers/{}?force=true", self.container(port)),
            None,
        )?;
        if !matches!(code, 204 | 404) {
            bail!("remove {}: {code} {text}", self.container(port));
        }
        Ok(())
    }

    /// The cluster's network.
    pub fn network(&self) -> String {
        format!("{}-net", self.prefix)
    }
    /// Container name of the node on `port`.
    pub fn container(&self, port: u16) -> String {
        format!("{}-node-{port}", self.prefix)
    }
    /// Data volume of the node on `port`.
    pub fn volume(&self, port: u16) -> String {
        format!("{}-data-{port}", self.prefix)
    }

    /// The create body of the node container on `port` (see the Engine API's
    /// ContainerCreate). The password goes in the environment, which `docker inspect`
    /// shows to those who can already control the engine (root-equivalent anyway).
    pub fn container_spec(&self, port: u16, o: &NodeOpts) -> Value {
        let mut host = json!({
            "NetworkMode": self.network(),
            "RestartPolicy": {"Name": "unless-stopped"},
            "Mounts": [{"Type": "volume", "Source": self.volume(port), "Target": DATA}],
        });
        if self.memory > 0 {
            host["Memory"] = json!(self.memory);
        }
        if self.cpus > 0.0 {
            host["NanoCpus"] = json!((self.cpus * 1e9) as u64);
        }
        json!({
            "Image": self.image(),
            "Cmd": node_args(port, o),
            "Env": [format!("RUBRA_PASSWORD={}", o.password), format!("RUBRA_PORT={port}")],
            "Hostname": format!("node-{port}"),
            "Labels": {LABEL: self.prefix, "rubra.port": port.to_string()},
            "ExposedPorts": {format!("{port}/tcp"): {}, format!("{}/tcp", u32::from(port) + 10000): {}},
            "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": {self.network(): {"Aliases": [format!("node-{port}")]}}},
        })
    }

    /// Create the network if missing.
    pub fn ensure_network(&self) -> Result<()> {
        if self
            .engine
            .get_opt(&format!("/networks/{}", self.network()))?
            .is_some()
        {
            return Ok(());
        }
        let body = json!({"Name": self.network(), "Driver": "bridge", "CheckDuplicate": true,
            "Labels": {LABEL: self.prefix}});
        self.engine
            .ok("POST", "/networks/create", Some(&body))
            .context("create the cluster network")?;
        Ok(())
    }

    /// The container of `port` as the engine reports it, if it exists.
    pub fn inspect(&self, port: u16) -> Result<Option<Value>> {
        self.engine
            .get_opt(&format!("/containers/{}/json", self.container(port)))
    }

    /// Make sure the node container on `port` exists and runs (re-created with its
    /// volume if it was removed); returns its IP on the cluster network.
    pub fn ensure_running(&self, port: u16, o: &NodeOpts) -> Result<String> {
        self.ensure_network()?;
        let name = self.container(port);
        let c = match self.inspect(port)? {
            Some(c) => c,
            None => {
                let vol = json!({"Name": self.volume(port), "Labels": {LABEL: self.prefix}});
                self.engine.ok("POST", "/volumes/create", Some(&vol))?;
                self.engine
                    .ok(
                        "POST",
                        &format!("/containers/create?name={name}"),
                        Some(&self.container_spec(port, o)),
                    )
                    .with_context(|| format!("create container {name} (image {})", self.image()))?;
                Value::Null
            }
        };
        if c["State"]["Running"].as_bool() != Some(true) {
            self.engine
                .ok("POST", &format!("/containers/{name}/start"), None)
                .with_context(|| format!("start container {name}"))?;
        }
        let t0 = Instant::now();
        loop {
            if let Some(ip) = self.refresh_ip(port)? {
                return Ok(ip);
            }
            if t0.elapsed() > Duration::from_secs(20) {
                bail!("container {name} got no address on {}", self.network());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Re-read the container's IP from the engine (it can change when the container is
    /// restarted); None while it has none (not running).
    pub fn refresh_ip(&self, port: u16) -> Result<Option<String>> {
        let ip = self.inspect(port)?.and_then(|c| {
            c["NetworkSettings"]["Networks"][self.network()]["IPAddress"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ip) = &ip {
            ips.insert(port, ip.clone());
        }
        Ok(ip)
    }

    /// Last known IPs by port (what `Ctx::hosts` needs).
    pub fn ips(&self) -> BTreeMap<u16, String> {
        self.ips.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the node's container runs or the engine is restarting it (its restart
    /// policy at work): false means it is gone or stopped for good, and rubra acts.
    pub fn alive(&self, port: u16) -> Result<bool> {
        Ok(self.inspect(port)?.is_some_and(|c| {
            c["State"]["Running"].as_bool() == Some(true)
                || c["State"]["Restarting"].as_bool() == Some(true)
        }))
    }

    /// Stop the container (SIGTERM, SIGKILL after `grace_secs`); it and its volume stay.
    pub fn stop(&self, port: u16, grace_secs: u64) -> Result<()> {
        let (code, text) = self.engine.call(
            "POST",
            &format!("/containers/{}/stop?t={grace_secs}", self.container(port)),
            None,
        )?;
        match code {
            204 | 304 | 404 => Ok(()),
            _ => bail!("stop {}: {code} {text}", self.container(port)),
        }
    }

    /// Remove the node for good: container and data volume.
    pub fn remove(&self, port: u16) -> Result<()> {
        self.remove_container(port)?;
        let (code, text) =
            self.engine
                .call("DELETE", &format!("/volumes/{}", self.volume(port)), None)?;
        if !matches!(code, 204 | 404) {
            bail!("remove volume {}: {code} {text}", self.volume(port));
        }
        self.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&port);
        Ok(())
    }

    /// Remove every container, volume and the network labelled with our prefix.
    pub fn purge(&self) -> Result<usize> {
        let filter =
            query_escape(&json!({"label": [format!("{LABEL}={}", self.prefix)]}).to_string());
        let list = self.engine.ok(
            "GET",
            &format!("/containers/json?all=true&filters={filter}"),
            None,
        )?;
        let mut n = 0;
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                self.engine
                    .ok("DELETE", &format!("/containers/{id}?force=true"), None)?;
                n += 1;
            }
        }
        let vols = self
            .engine
            .ok("GET", &format!("/volumes?filters={filter}"), None)?;
        for v in vols["Volumes"].as_array().into_iter().flatten() {
            if let Some(name) = v["Name"].as_str() {
                self.engine
                    .ok("DELETE", &format!("/volumes/{name}"), None)?;
            }
        }
        let (code, text) =
            self.engine
                .call("DELETE", &format!("/networks/{}", self.network()), None)?;
        if !matches!(code, 204 | 404) {
            bail!("remove network {}: {code} {text}", self.network());
        }
        Ok(n)
    }

    /// The node container's load as the engine measures it (one-shot stats, no
    /// streaming): CPU since the previous call for this node, memory now.
    pub fn load(&self, port: u16) -> Result<stats::Load> {
        let s = self.engine.ok(
            "GET",
            &format!(
                "/containers/{}/stats?stream=false&one-shot=true",
                self.container(port)
            ),
            None,
        )?;
        let cur = stats::Reading::from_stats(&s)?;
        let prev = self
            .readings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port, cur);
        Ok(stats::load(prev.as_ref(), &cur, self.cpus, self.maxmemory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> NodeOpts {
        NodeOpts {
            server_bin: "rubra".into(),
            password: "pw".into(),
            maxmemory: "256mb".into(),
            node_timeout: 2000,
            announce_ip: None,
            also_accept: None,
            tls: false,
        }
    }

    #[test]
    fn memory_sizes_parse_like_redis() {
        assert_eq!(parse_mem("256mb").ok(), Some(256 << 20));
        assert_eq!(parse_mem("1GB").ok(), Some(1 << 30));
        assert_eq!(parse_mem("2g").ok(), Some(2_000_000_000));
        assert_eq!(parse_mem("100000").ok(), Some(100_000));
        assert!(parse_mem("12xb").is_err());
        assert!(parse_mem("mb").is_err());
        assert_eq!(memory_limit(0), 0);
        assert_eq!(memory_limit(256 << 20), (384 << 20) + (64 << 20));
    }

    #[test]
    fn containers_get_limits_a_volume_a_restart_policy_and_announce_themselves() {
        let rt = DockerRt::new("t1", "rubra:test", 0.5, "128mb").expect("runtime");
        let s = rt.container_spec(7001, &opts());
        assert_eq!(s["HostConfig"]["NetworkMode"], "t1-net");
        assert_eq!(s["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
        assert_eq!(s["HostConfig"]["Mounts"][0]["Source"], "t1-data-7001");
        assert_eq!(s["HostConfig"]["NanoCpus"], 500_000_000u64);
        assert_eq!(s["HostConfig"]["Memory"], memory_limit(128 << 20));
        let cmd: Vec<&str> = s["Cmd"]
            .as_array()
            .expect("cmd")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(cmd[0], "server");
        let after = |k: &str| cmd.iter().position(|a| *a == k).map(|i| cmd[i + 1]);
        assert_eq!(after("--port"), Some("7001"));
        assert_eq!(after("--cluster-announce-ip"), Some("auto"));
        assert_eq!(after("--dir"), Some(DATA));
        assert!(DockerRt::new("bad name", "i", 0.0, "1mb").is_err());
    }
}

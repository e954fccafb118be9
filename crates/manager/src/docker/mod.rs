//! The Docker node runtime: one container per node, on a user-defined bridge network,
//! each with its own named data volume, a restart policy and resource limits.
//!
//! Names derive from a prefix (`--docker-prefix`, default `rubra`): network `P-net`,
//! containers `P-node-PORT`, volumes `P-data-PORT`; everything also carries the label
//! `rubra.cluster=P`, so `rubra down --purge` (and tests) find all of it. Every node keeps
//! its distinct client port inside its container, so ports stay the node identity the
//! rest of rubra uses; the address is the container's IP on the network, which the node
//! announces itself (`--cluster-announce-ip auto`, see `node_entry`).
//!
//! Several hosts (`--docker-hosts a=unix:///a.sock,b=...`): each node runs on the engine
//! of its host (`placement::place` chooses it), its container and volume names end in
//! `-HOST` and carry the label `rubra.host=HOST`, so a node re-created on another host
//! never meets the stale container or volume it had on the lost one.

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

/// Label naming the host a node's container runs on.
pub const HOST_LABEL: &str = "rubra.host";

/// How node containers are made.
#[derive(Debug)]
pub struct DockerRt {
    /// The engines, by host name (one unnamed engine on a single host).
    hosts: Vec<(String, Engine)>,
    /// Several hosts: which host each node is on.
    placed: Mutex<BTreeMap<u16, String>>,
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

/// Parse `--docker-hosts NAME=unix:///path,...`: distinct names (letters, digits, '-',
/// '_'; they end container names) and engine endpoints rubra can reach.
pub fn parse_hosts(list: &str) -> Result<Vec<crate::state::HostRec>> {
    let mut out: Vec<crate::state::HostRec> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, endpoint) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--docker-hosts: {item:?} is not NAME=unix:///path"))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("--docker-hosts: host name {name:?} must be letters, digits, '-' or '_'");
        }
        Engine::at(endpoint).context("--docker-hosts")?;
        if out.iter().any(|h| h.name == name) {
            bail!("--docker-hosts: host {name} given twice");
        }
        out.push(crate::state::HostRec {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
        });
    }
    Ok(out)
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
            hosts: vec![(String::new(), Engine::from_env()?)],
            placed: Mutex::new(BTreeMap::new()),
            prefix: prefix.to_string(),
            image: Mutex::new(image.to_string()),
            cpus,
            memory: memory_limit(parse_mem(maxmemory)?),
            maxmemory: parse_mem(maxmemory)?,
            readings: Mutex::new(BTreeMap::new()),
            ips: Mutex::new(BTreeMap::new()),
        })
    }

    /// Place nodes on several hosts: `hosts` as (name, endpoint), and where each node is
    /// now (port -> host name). One host keeps the single-engine names.
    pub fn with_hosts(
        mut self,
        hosts: &[(String, String)],
        placed: BTreeMap<u16, String>,
    ) -> Result<DockerRt> {
        if !hosts.is_empty() {
            let mut v = Vec::new();
            for (name, ep) in hosts {
                v.push((name.clone(), Engine::at(ep)?));
            }
            self.hosts = v;
        }
        *self.placed.lock().unwrap_or_else(|p| p.into_inner()) = placed;
        Ok(self)
    }

    /// Whether nodes are spread over several hosts.
    pub fn multi(&self) -> bool {
        self.hosts.len() > 1
    }

    /// Host names, in the order given.
    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|(n, _)| n.clone()).collect()
    }

    /// The engine of host `name`.
    pub fn engine_of_host(&self, name: &str) -> Result<&Engine> {
        self.hosts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e)
            .ok_or_else(|| anyhow!("no Docker host named {name:?}"))
    }

    /// The host node `port` is placed on (None on a single host).
    pub fn host_of(&self, port: u16) -> Option<String> {
        if !self.multi() {
            return None;
        }
        self.placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&port)
            .cloned()
    }

    /// Record that node `port` runs on host `host` (placement or re-creation).
    pub fn set_host(&self, port: u16, host: &str) {
        self.placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port, host.to_string());
    }

    /// The engine running node `port`: its host's (the first host if it has none yet).
    pub fn engine(&self, port: u16) -> &Engine {
        let host = self.host_of(port);
        let found = self.hosts.iter().find(|(n, _)| Some(n) == host.as_ref());
        &found.unwrap_or(&self.hosts[0]).1
    }

    /// The engines of every host.
    fn engines(&self) -> impl Iterator<Item = &Engine> {
        self.hosts.iter().map(|(_, e)| e)
    }

    /// The image new node containers are made from.
    pub fn image(&self) -> String {
        self.image.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Makes later containers use `image` (`rubra upgrade`).
    pub fn set_image(&self, image: &str) {
        *self.image.lock().unwrap_or_else(|p| p.into_inner()) = image.to_string();
    }

    /// Fails unless every host's engine holds `image` (there is no registry to pull from).
    pub fn check_image(&self, image: &str) -> Result<()> {
        for (name, e) in &self.hosts {
            if e.get_opt(&format!("/images/{}/json", query_escape(image)))?
                .is_none()
            {
                bail!("image {image} is not in the Docker engine {name}: build it first (deploy/build-image.sh --tag {image})");
            }
        }
        Ok(())
    }

    /// Removes the node's container but keeps its data volume (so the node keeps its id
    /// and data when it is created again).
    pub fn remove_container(&self, port: u16) -> Result<()> {
        let (code, text) = self.engine(port).call(
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
        match self.host_of(port) {
            Some(h) => format!("{}-node-{port}-{h}", self.prefix),
            None => format!("{}-node-{port}", self.prefix),
        }
    }
    /// Data volume of the node on `port`.
    pub fn volume(&self, port: u16) -> String {
        match self.host_of(port) {
            Some(h) => format!("{}-data-{port}-{h}", self.prefix),
            None => format!("{}-data-{port}", self.prefix),
        }
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
        let mut labels = json!({LABEL: self.prefix, "rubra.port": port.to_string()});
        if let Some(h) = self.host_of(port) {
            labels[HOST_LABEL] = json!(h);
        }
        json!({
            "Image": self.image(),
            "Cmd": node_args(port, o),
            "Env": [format!("RUBRA_PASSWORD={}", o.password), format!("RUBRA_PORT={port}")],
            "Hostname": format!("node-{port}"),
            "Labels": labels,
            "ExposedPorts": {format!("{port}/tcp"): {}, format!("{}/tcp", u32::from(port) + 10000): {}},
            "HostConfig": host,
            "NetworkingConfig": {"EndpointsConfig": {self.network(): {"Aliases": [format!("node-{port}")]}}},
        })
    }

    /// Create the network on node `port`'s engine if missing (a bridge; on several real
    /// hosts an operator creates an attachable overlay of that name beforehand).
    pub fn ensure_network(&self, port: u16) -> Result<()> {
        let engine = self.engine(port);
        if engine
            .get_opt(&format!("/networks/{}", self.network()))?
            .is_some()
        {
            return Ok(());
        }
        let body = json!({"Name": self.network(), "Driver": "bridge", "CheckDuplicate": true,
            "Labels": {LABEL: self.prefix}});
        engine
            .ok("POST", "/networks/create", Some(&body))
            .context("create the cluster network")?;
        Ok(())
    }

    /// The container of `port` as the engine reports it, if it exists.
    pub fn inspect(&self, port: u16) -> Result<Option<Value>> {
        self.engine(port)
            .get_opt(&format!("/containers/{}/json", self.container(port)))
    }

    /// Remove node `port`'s container and volume on its host, if any, so that the next
    /// [`DockerRt::ensure_running`] makes a fresh node (new id, empty data) there.
    pub fn clear(&self, port: u16) -> Result<()> {
        self.remove_container(port)?;
        let (code, text) =
            self.engine(port)
                .call("DELETE", &format!("/volumes/{}", self.volume(port)), None)?;
        if !matches!(code, 204 | 404) {
            bail!("remove volume {}: {code} {text}", self.volume(port));
        }
        Ok(())
    }

    /// Containers of this cluster on host `host` that belong to no node placed there now
    /// (left behind when the host was lost and its nodes were re-created elsewhere): their
    /// names and ports.
    pub fn stale_on(&self, host: &str) -> Result<Vec<(String, u16)>> {
        let engine = self.engine_of_host(host)?;
        let filter = query_escape(
            &json!({"label": [format!("{LABEL}={}", self.prefix), format!("{HOST_LABEL}={host}")]})
                .to_string(),
        );
        let list = engine.ok(
            "GET",
            &format!("/containers/json?all=true&filters={filter}"),
            None,
        )?;
        let placed = self
            .placed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut out = Vec::new();
        for c in list.as_array().into_iter().flatten() {
            let port = c["Labels"]["rubra.port"]
                .as_str()
                .and_then(|p| p.parse::<u16>().ok());
            let name = c["Names"][0].as_str().unwrap_or("").trim_start_matches('/');
            if let Some(port) = port {
                if placed.get(&port).map(String::as_str) != Some(host) && !name.is_empty() {
                    out.push((name.to_string(), port));
                }
            }
        }
        Ok(out)
    }

    /// Remove the stale containers of host `host` (see [`DockerRt::stale_on`]) with their
    /// volumes, so they never rejoin the cluster as duplicates of re-created nodes.
    pub fn remove_stale(&self, host: &str) -> Result<Vec<String>> {
        let engine = self.engine_of_host(host)?;
        let mut gone = Vec::new();
        for (name, port) in self.stale_on(host)? {
            engine.call("DELETE", &format!("/containers/{name}?force=true"), None)?;
            let vol = format!("{}-data-{port}-{host}", self.prefix);
            engine.call("DELETE", &format!("/volumes/{vol}"), None)?;
            gone.push(name);
        }
        Ok(gone)
    }

    /// Make sure the node container on `port` exists and runs (re-created with its
    /// volume if it was removed); returns its IP on the cluster network.
    pub fn ensure_running(&self, port: u16, o: &NodeOpts) -> Result<String> {
        self.ensure_network(port)?;
        let engine = self.engine(port);
        let name = self.container(port);
        let c = match self.inspect(port)? {
            Some(c) => c,
            None => {
                let vol = json!({"Name": self.volume(port), "Labels": {LABEL: self.prefix}});
                engine.ok("POST", "/volumes/create", Some(&vol))?;
                engine
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
            engine
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
        let (code, text) = self.engine(port).call(
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
        self.clear(port)?;
        self.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&port);
        Ok(())
    }

    /// Remove every container, volume and the network labelled with our prefix, on every
    /// host whose engine answers (a lost host's objects stay; `down --purge` again later).
    pub fn purge(&self) -> Result<usize> {
        let mut n = 0;
        let mut answered = 0;
        for e in self.engines() {
            if !e.ping() {
                eprintln!("rubra: purge: a Docker host does not answer; its containers stay");
                continue;
            }
            answered += 1;
            n += self.purge_on(e)?;
        }
        if answered == 0 {
            bail!("no Docker engine answers");
        }
        Ok(n)
    }

    fn purge_on(&self, engine: &Engine) -> Result<usize> {
        let filter =
            query_escape(&json!({"label": [format!("{LABEL}={}", self.prefix)]}).to_string());
        let list = engine.ok(
            "GET",
            &format!("/containers/json?all=true&filters={filter}"),
            None,
        )?;
        let mut n = 0;
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                engine.ok("DELETE", &format!("/containers/{id}?force=true"), None)?;
                n += 1;
            }
        }
        let vols = engine.ok("GET", &format!("/volumes?filters={filter}"), None)?;
        for v in vols["Volumes"].as_array().into_iter().flatten() {
            if let Some(name) = v["Name"].as_str() {
                engine.ok("DELETE", &format!("/volumes/{name}"), None)?;
            }
        }
        let (code, text) = engine.call("DELETE", &format!("/networks/{}", self.network()), None)?;
        if !matches!(code, 204 | 404) {
            bail!("remove network {}: {code} {text}", self.network());
        }
        Ok(n)
    }

    /// The node container's load as the engine measures it (one-shot stats, no
    /// streaming): CPU since the previous call for this node, memory now.
    pub fn load(&self, port: u16) -> Result<stats::Load> {
        let s = self.engine(port).ok(
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

    #[test]
    fn host_lists_parse_and_bad_ones_are_refused() {
        let h = parse_hosts("a=unix:///tmp/a.sock, b=unix:///tmp/b.sock").expect("parse");
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].name, "b");
        assert_eq!(h[1].endpoint, "unix:///tmp/b.sock");
        assert!(parse_hosts("").is_ok_and(|h| h.is_empty()));
        assert!(parse_hosts("a=unix:///x,a=unix:///y").is_err());
        assert!(parse_hosts("a b=unix:///x").is_err());
        assert!(parse_hosts("a=tcp://h:2375").is_err());
        assert!(parse_hosts("nosep").is_err());
    }

    #[test]
    fn nodes_on_several_hosts_carry_their_host_in_names_and_labels() {
        let hosts = [
            ("a".to_string(), "unix:///tmp/a.sock".to_string()),
            ("b".to_string(), "unix:///tmp/b.sock".to_string()),
        ];
        let rt = DockerRt::new("t2", "rubra:test", 0.0, "64mb")
            .and_then(|r| r.with_hosts(&hosts, [(7000, "b".to_string())].into()))
            .expect("runtime");
        assert!(rt.multi());
        assert_eq!(rt.container(7000), "t2-node-7000-b");
        assert_eq!(rt.volume(7000), "t2-data-7000-b");
        let s = rt.container_spec(7000, &opts());
        assert_eq!(s["Labels"][HOST_LABEL], "b");
        assert_eq!(s["HostConfig"]["Mounts"][0]["Source"], "t2-data-7000-b");
        rt.set_host(7000, "a");
        assert_eq!(rt.container(7000), "t2-node-7000-a");
        assert!(rt.engine_of_host("c").is_err());
        // One host: the single-engine names, no host label.
        let one = DockerRt::new("t3", "i", 0.0, "1mb").expect("runtime");
        assert_eq!(one.container(7000), "t3-node-7000");
        assert!(one.container_spec(7000, &opts())["Labels"]
            .get(HOST_LABEL)
            .is_none());
        assert!(DockerRt::new("t4", "i", 0.0, "1mb")
            .and_then(|r| r.with_hosts(&[("a".into(), "tcp://x:2375".into())], Default::default()))
            .is_err());
    }
}

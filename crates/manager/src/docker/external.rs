//! Nodes run by an orchestrator (Docker Compose, Swarm): rubra forms the cluster, serves
//! the panel and runs operations, but creates, restarts and scales no container itself.
//! Nodes are named `host:port` (service names resolved by the orchestrator's DNS).

use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Node addresses by port.
#[derive(Debug)]
pub struct ExternalRt {
    /// port -> host name.
    pub names: BTreeMap<u16, String>,
    ips: Mutex<BTreeMap<u16, String>>,
}

/// Parse `host:port,host:port,...`; ports must be distinct (they identify nodes).
pub fn parse_nodes(list: &str) -> Result<BTreeMap<u16, String>> {
    let mut out = BTreeMap::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (h, p) = item
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("--node-addrs: {item:?} is not host:port"))?;
        let port: u16 = p
            .parse()
            .map_err(|_| anyhow!("--node-addrs: bad port in {item:?}"))?;
        if out.insert(port, h.to_string()).is_some() {
            bail!("--node-addrs: port {port} twice (every node needs its own port)");
        }
    }
    Ok(out)
}

impl ExternalRt {
    /// Nodes at `names`.
    pub fn new(names: BTreeMap<u16, String>) -> ExternalRt {
        ExternalRt {
            names,
            ips: Mutex::new(BTreeMap::new()),
        }
    }

    /// Resolve the node on `port` (its IPv4 address, as CLUSTER MEET needs an IP).
    pub fn resolve(&self, port: u16) -> Result<String> {
        let name = self
            .names
            .get(&port)
            .ok_or_else(|| anyhow!("node {port} is not one of --node-addrs: scale with the orchestrator (add services), then restart rubra"))?;
        let ip = (name.as_str(), port)
            .to_socket_addrs()?
            .find(|a| a.is_ipv4())
            .map(|a| a.ip().to_string())
            .ok_or_else(|| anyhow!("{name}: no IPv4 address"))?;
        self.ips
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port, ip.clone());
        Ok(ip)
    }

    /// Wait (up to 60 s) until the node's name resolves: its container has started.
    pub fn wait_resolvable(&self, port: u16) -> Result<String> {
        let t0 = Instant::now();
        loop {
            match self.resolve(port) {
                Ok(ip) => return Ok(ip),
                Err(e) if t0.elapsed() > Duration::from_secs(60) => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// Last known IPs by port.
    pub fn ips(&self) -> BTreeMap<u16, String> {
        self.ips.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lists_parse_and_duplicates_are_refused() {
        let m = parse_nodes("node-1:7000, node-2:7001,127.0.0.1:7002").expect("parse");
        assert_eq!(m.get(&7001).map(String::as_str), Some("node-2"));
        assert_eq!(m.len(), 3);
        assert!(parse_nodes("a:7000,b:7000").is_err());
        assert!(parse_nodes("nocolon").is_err());
        let rt = ExternalRt::new(m);
        assert_eq!(rt.resolve(7002).ok().as_deref(), Some("127.0.0.1"));
        assert!(rt.resolve(9999).is_err());
    }
}

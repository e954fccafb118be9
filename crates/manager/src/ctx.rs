//! How rubra reaches a cluster: seed addresses plus the password.
//!
//! Local clusters (from a data dir) are reached on 127.0.0.1 whatever IP they announce,
//! since `--announce-ip` is for clients elsewhere; a cluster given by `--seed` is reached
//! at the addresses it announces.

use crate::resp::Conn;
use crate::topology::{NodeInfo, View};
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

/// Connection parameters shared by every cluster operation.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Addresses to try for a first view of the cluster.
    pub seeds: Vec<String>,
    /// Cluster password (requirepass), if any.
    pub password: Option<String>,
    /// Reach nodes on 127.0.0.1:port instead of their announced ip.
    pub local: bool,
    /// With `local`: nodes not on 127.0.0.1, port -> IP (containers on a Docker network).
    pub hosts: BTreeMap<u16, String>,
    /// Set for a `rubra up --tls` cluster: nodes speak only TLS (see `tls::client_config`).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// Docker runtime on several hosts: the host of each node, port -> host name (shown
    /// by `rubra status` and the panel).
    pub placement: BTreeMap<u16, String>,
}

impl Ctx {
    /// Where we connect to reach `n`.
    pub fn addr_of(&self, n: &NodeInfo) -> String {
        if self.local {
            self.local_addr(n.port)
        } else {
            n.announced_addr()
        }
    }

    /// Where we reach the managed node on `port`: its container IP, else loopback.
    pub fn local_addr(&self, port: u16) -> String {
        format!("{}:{port}", self.host_of(port))
    }

    /// The IP of the managed node on `port` (127.0.0.1 for local processes).
    pub fn host_of(&self, port: u16) -> &str {
        self.hosts.get(&port).map_or("127.0.0.1", String::as_str)
    }

    /// Open an authenticated connection to `addr`.
    pub fn connect(&self, addr: &str) -> Result<Conn> {
        Conn::connect_tls(addr, self.password.as_deref(), self.tls.as_ref())
    }

    /// Open an authenticated connection to node `n`.
    pub fn connect_node(&self, n: &NodeInfo) -> Result<Conn> {
        self.connect(&self.addr_of(n))
    }

    /// The view of the first reachable seed (skipping seeds that are down).
    pub fn view(&self) -> Result<View> {
        let mut last = anyhow!("no seed nodes");
        for s in &self.seeds {
            match self.connect(s).and_then(|mut c| View::fetch(&mut c)) {
                Ok(v) => return Ok(v),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A view from a node that is not failing and sees every slot assigned if possible:
    /// the most complete view among the seeds, to plan moves on.
    pub fn best_view(&self) -> Result<View> {
        let mut best: Option<View> = None;
        let mut last = anyhow!("no seed nodes");
        for s in &self.seeds {
            match self.connect(s).and_then(|mut c| View::fetch(&mut c)) {
                Ok(v) => {
                    let better = best
                        .as_ref()
                        .map(|b| v.owners().len() > b.owners().len())
                        .unwrap_or(true);
                    if better {
                        best = Some(v);
                    }
                    if best.as_ref().map(|b| b.owners().len()) == Some(crate::topology::SLOTS) {
                        break;
                    }
                }
                Err(e) => last = e,
            }
        }
        best.ok_or(last)
    }
}

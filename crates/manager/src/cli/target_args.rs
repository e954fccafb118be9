//! Which cluster a command acts on, and how to reach its nodes.

use crate::ctx::Ctx;
use crate::state::Dir;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Which cluster a command acts on: a data dir (default) or a seed node.
#[derive(Args, Debug)]
pub(super) struct Target {
    /// Data directory (node ports and credentials are read from it).
    #[arg(long, default_value = "./rubra-data")]
    pub(super) dir: PathBuf,
    /// Any node of the cluster, host:port (instead of --dir).
    #[arg(long)]
    pub(super) seed: Option<String>,
    /// Cluster password (with --seed); default: DIR/credentials.
    #[arg(long, env = "RUBRA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

impl Target {
    /// The nodes, password and TLS settings for this cluster.
    pub(super) fn ctx(&self) -> Result<Ctx> {
        let dir = Dir::new(&self.dir)?;
        if let Some(seed) = &self.seed {
            let password = match &self.password {
                Some(p) => Some(p.clone()),
                None => dir.read_password().unwrap_or(None),
            };
            // A TLS cluster's own data dir gives the CA and client certificate.
            let tls = match dir.load_state()? {
                Some(st) if st.tls => Some(tls_client(&dir)?),
                _ => None,
            };
            return Ok(Ctx {
                seeds: vec![seed.clone()],
                password,
                local: false,
                hosts: Default::default(),
                tls,
                placement: Default::default(),
            });
        }
        let Some(st) = dir.load_state()? else {
            bail!(
                "no cluster in {:?}: run `rubra up --dir ...` or give --seed host:port",
                dir.root
            );
        };
        let password = match &self.password {
            Some(p) => Some(p.clone()),
            None => dir.read_password()?,
        };
        // Docker runtime: nodes are reached at their container addresses.
        let hosts = match (&st.docker, &st.external) {
            (Some(d), _) => crate::runtime_cli::container_ips(&st, d, &st.active_ports())?,
            (None, Some(names)) => {
                let rt = crate::docker::external::ExternalRt::new(names.clone());
                for p in st.active_ports() {
                    let _ = rt.resolve(p);
                }
                rt.ips()
            }
            (None, None) => Default::default(),
        };
        Ok(Ctx {
            seeds: st
                .active_ports()
                .iter()
                .map(|p| format!("{}:{p}", hosts.get(p).map_or("127.0.0.1", String::as_str)))
                .collect(),
            password,
            local: true,
            hosts,
            tls: if st.tls {
                Some(tls_client(&dir)?)
            } else {
                None
            },
            placement: crate::runtime_cli::placement_of(&st),
        })
    }
}

/// How commands reach the nodes of the TLS cluster in `dir`: its CA and client certificate.
fn tls_client(dir: &Dir) -> Result<Arc<rustls::ClientConfig>> {
    let pki = crate::tlsgen::Pki::existing(&dir.root)
        .with_context(|| format!("{:?} is a TLS cluster but has no CA in tls/", dir.root))?;
    crate::tls::client_config(&pki.ca_cert(), Some(&pki.client()?))
}

//! The data directory: state file, credentials, per-node config, pid files.
//!
//! Layout of DIR:
//! - `state.json`   nodes we manage and any unfinished scale step (so a rerun continues)
//! - `credentials`  the cluster password, mode 0600 (never in state.json or logs)
//! - `rubra.pid`    pid of the running supervisor
//! - `events.jsonl` supervisor events, one JSON object per line
//! - `node-PORT/`   each node's config, nodes.conf, AOF, log

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The role a node was created for; live roles can differ after failovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// Created to own slots.
    Primary,
    /// Created to replicate the primary of its pair.
    Replica,
}

/// Lifecycle of a managed node; `Removing` tells the supervisor not to restart it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Part of the cluster (or being joined to it).
    Active,
    /// Being drained and forgotten; must not be restarted.
    Removing,
}

/// One node managed by rubra.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeRec {
    /// Client port (bus port is port+10000).
    pub port: u16,
    /// Pair number: a primary and its replica share it.
    pub pair: u32,
    /// Role at creation.
    pub intent: Intent,
    /// Cluster node id once known (stable across restarts thanks to nodes.conf).
    pub id: Option<String>,
    /// Pid of the running process, if any.
    pub pid: Option<u32>,
    /// Lifecycle.
    pub status: NodeStatus,
    /// Docker runtime on several hosts: the host (`--docker-hosts` name) running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// An unfinished scale operation, recorded before each step so a rerun continues it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Pending {
    /// Adding pair `pair`; `phase` is the last step started.
    AddPair {
        /// Pair number.
        pair: u32,
        /// Last step started: spawn, meet, replicate, balance.
        phase: String,
    },
    /// Removing pair `pair`.
    RemovePair {
        /// Pair number.
        pair: u32,
        /// Last step started: drain, forget, stop.
        phase: String,
    },
}

/// Everything `rubra up` needs to bring the same cluster back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Format version.
    pub version: u32,
    /// First client port.
    pub base_port: u16,
    /// Cluster formed (slots assigned, replicas attached) at least once.
    pub formed: bool,
    /// Managed nodes.
    pub nodes: Vec<NodeRec>,
    /// Unfinished scale step.
    pub pending: Option<Pending>,
    /// Address of the supervisor's HTTP API while it runs.
    pub panel: Option<String>,
    /// cluster-announce-ip given at creation.
    pub announce_ip: Option<String>,
    /// Set when the nodes are Docker containers (`rubra up --runtime docker`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerRec>,
    /// Set when an orchestrator runs the nodes (`--runtime external`): port -> host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<std::collections::BTreeMap<u16, String>>,
    /// A password rotation in its grace period, so a restarted supervisor still ends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationRec>,
    /// Made with `rubra up --tls`: nodes speak only TLS, with the CA in DIR/tls; kept so
    /// a later `rubra up` (and every command) goes on using TLS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
}

/// The part of a password rotation that outlives the supervisor: which old password nodes
/// still accept (as its SHA-256, never the password) and until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RotationRec {
    /// Lower-case hex SHA-256 of the old password (the form ACL `#`/`!` rules take).
    pub old_sha256: String,
    /// Unix seconds when the old password is removed from every node.
    pub until: u64,
}

/// How a Docker-runtime cluster was created, so later commands find its containers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DockerRec {
    /// Name prefix / label of its network, containers and volumes.
    pub prefix: String,
    /// Node image.
    pub image: String,
    /// The Docker hosts nodes are placed on (`--docker-hosts`); empty: the one engine of
    /// `DOCKER_HOST` or the default socket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostRec>,
}

/// One Docker host of a multi-host cluster: a name (the `rubra.host` label) and how to
/// reach its engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostRec {
    /// Host name, unique in the cluster.
    pub name: String,
    /// Engine endpoint, `unix:///path`.
    pub endpoint: String,
}

impl State {
    /// Ports of nodes that are (or should be) in the cluster.
    pub fn active_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Active)
            .map(|n| n.port)
            .collect()
    }
    /// Node record by port.
    pub fn node_mut(&mut self, port: u16) -> Option<&mut NodeRec> {
        self.nodes.iter_mut().find(|n| n.port == port)
    }
    /// The next free pair number.
    pub fn next_pair(&self) -> u32 {
        self.nodes.iter().map(|n| n.pair + 1).max().unwrap_or(0)
    }
    /// The next free port pair (ports are never reused while a record exists).
    pub fn next_port(&self) -> u16 {
        self.nodes
            .iter()
            .map(|n| n.port + 1)
            .max()
            .unwrap_or(self.base_port)
    }
    /// The first port at or after [`State::next_port`] where a new pair can listen: the two
    /// client ports and their bus ports (+10000) free right now. Another program may have
    /// taken a port since the cluster was created; a node spawned there would fail.
    pub fn next_free_port(&self) -> u16 {
        let mut p = self.next_port();
        while usize::from(p) + 1 + 10000 <= 65535 {
            if crate::ports::node_ports(&[p, p + 1])
                .iter()
                .all(|&(q, _)| crate::ports::bindable(q))
            {
                return p;
            }
            p += 1;
        }
        self.next_port()
    }
}

/// Paths inside the data directory.
#[derive(Debug, Clone)]
pub struct Dir {
    /// The directory itself (absolute).
    pub root: PathBuf,
}

impl Dir {
    /// Wrap `p`, made absolute so node configs work whatever the cwd of the node.
    pub fn new(p: &Path) -> Result<Dir> {
        let root = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()?.join(p)
        };
        Ok(Dir { root })
    }
    /// DIR/state.json
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// DIR/credentials
    pub fn creds_path(&self) -> PathBuf {
        self.root.join("credentials")
    }
    /// DIR/rubra.pid
    pub fn pid_path(&self) -> PathBuf {
        self.root.join("rubra.pid")
    }
    /// DIR/api.sock: the supervisor's API for the CLI, guarded by file permissions.
    pub fn api_socket_path(&self) -> PathBuf {
        self.root.join("api.sock")
    }
    /// DIR/events.jsonl
    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }
    /// DIR/node-PORT
    pub fn node_dir(&self, port: u16) -> PathBuf {
        self.root.join(format!("node-{port}"))
    }

    /// Create the directory, private to the owner (it holds the password).
    pub fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.root).with_context(|| format!("create {:?}", self.root))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        Ok(())
    }

    /// Load state.json if present.
    pub fn load_state(&self) -> Result<Option<State>> {
        let p = self.state_path();
        if !p.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&p).with_context(|| format!("read {p:?}"))?;
        Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("parse {p:?}"))?,
        ))
    }

    /// Write state.json atomically (tmp + rename) so a crash never leaves half a file.
    pub fn save_state(&self, s: &State) -> Result<()> {
        let tmp = self.root.join("state.json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(s)?)?;
        fs::rename(&tmp, self.state_path())?;
        Ok(())
    }

    /// Read the password from DIR/credentials.
    pub fn read_password(&self) -> Result<Option<String>> {
        let p = self.creds_path();
        if !p.exists() {
            return Ok(None);
        }
        let text = fs::read_to_string(&p).with_context(|| format!("read {p:?}"))?;
        match text.lines().find_map(|l| l.strip_prefix("password=")) {
            Some(pw) => Ok(Some(pw.trim().to_string())),
            None => bail!("{p:?} has no password= line"),
        }
    }

    /// Write DIR/credentials with mode 0600 (created that way, never world-readable), as a
    /// new file renamed over the old one: a reader sees the old password or the new one,
    /// never a half-written file (a rotation replaces it while clients read it).
    pub fn write_password(&self, pw: &str) -> Result<()> {
        let tmp = self.root.join("credentials.tmp");
        let _ = fs::remove_file(&tmp);
        write_private(
            &tmp,
            format!("# rubra cluster credentials: keep secret\nuser=default\npassword={pw}\n")
                .as_bytes(),
        )?;
        fs::File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, self.creds_path()).context("replace the credentials file")?;
        Ok(())
    }

    /// Supervisor pid from DIR/rubra.pid if that process is alive.
    pub fn running_supervisor(&self) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_path())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        pid_alive(pid).then_some(pid)
    }
}

/// Create/overwrite a file with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {path:?}"))?;
    // An existing file keeps its old mode on open; force 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(data)?;
    Ok(())
}

/// True when a process with this pid exists (and is not a zombie we could reap).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence/permission.
    let r = unsafe { libc::kill(p, 0) };
    if r != 0 {
        return false;
    }
    // A zombie still "exists" for kill(0); look at /proc to tell.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => true,
    }
}

/// Send `sig` to `pid`; errors (already gone) are ignored.
pub fn signal(pid: u32, sig: i32) {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        if p > 0 {
            // SAFETY: plain kill(2) on a positive pid.
            unsafe {
                libc::kill(p, sig);
            }
        }
    }
}

/// Refuse passwords that would not survive the trip into node config files
/// (`requirepass PW`: whitespace splits it, quotes and backslashes are parsed) or into
/// the credentials file (a newline ends the line), instead of starting nodes that reject
/// every client.
pub fn validate_password(pw: &str) -> Result<()> {
    if pw.is_empty() || pw.len() > 512 {
        bail!("the password must be 1 to 512 characters long");
    }
    if let Some(c) = pw
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\'))
    {
        bail!(
            "the password may contain printable ASCII characters except spaces, quotes and backslashes (found {c:?})"
        );
    }
    Ok(())
}

/// A strong random password: 32 alphanumerics from the OS RNG (~190 bits).
pub fn generate_password() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_that_break_configs_are_refused() {
        assert!(validate_password(&generate_password()).is_ok());
        assert!(validate_password("s3cret-!#$%&()*+,./:;<=>?@[]^_`{|}~").is_ok());
        for bad in [
            "",
            "has space",
            "tab\there",
            "quo\"te",
            "it's",
            "back\\slash",
            "nl\n",
        ] {
            assert!(validate_password(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_new_pair_skips_ports_taken_by_another_program() {
        // The second client port of the pair rubra would pick next is taken by someone else.
        // The ports (and their bus ports, +10000) are chosen below Linux's ephemeral range
        // (32768 up), where other programs' outgoing connections do not take them while the
        // test runs.
        let start = 20000 + (std::process::id() % 2000) as u16;
        let (taken, base) = (start..22700)
            .find_map(|base| {
                let all_free = [base, base + 2, base + 10000, base + 10001, base + 10002]
                    .iter()
                    .all(|&q| crate::ports::bindable(q));
                let taken = std::net::TcpListener::bind(("127.0.0.1", base + 1)).ok()?;
                all_free.then_some((taken, base))
            })
            .expect("a free port range below 22700");
        let st = State {
            version: 1,
            base_port: base,
            formed: true,
            nodes: Vec::new(),
            pending: None,
            panel: None,
            announce_ip: None,
            docker: None,
            external: None,
            rotation: None,
            tls: false,
        };
        assert_eq!(st.next_port(), base);
        let chosen = st.next_free_port();
        assert!(
            chosen > base,
            "{chosen} overlaps the taken port {}",
            base + 1
        );
        drop(taken);
        assert_eq!(
            st.next_free_port(),
            base,
            "all free again: the first candidate"
        );
    }
}

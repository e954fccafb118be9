//! Helpers shared by the Docker test binaries (`docker.rs`, `docker_deploy.rs`): the
//! image under test, unique names, cleanup guards, waits and key checks through a
//! cluster client at container addresses.

#![allow(dead_code)]

use rubra_manager::docker::DockerRt;
use rubra_manager::resp::Conn;
use rubra_manager::topology::View;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The image under test: the given one, or one built now from this build's binary.
pub(crate) fn image() -> String {
    if let Ok(i) = std::env::var("RUBRA_TEST_IMAGE") {
        return i;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/build-image.sh");
    let st = Command::new(script)
        .args(["--bin", env!("CARGO_BIN_EXE_rubra"), "--tag", "rubra:test"])
        .status()
        .expect("run deploy/build-image.sh");
    assert!(st.success(), "image build failed");
    "rubra:test".into()
}

/// Removes every container, volume and the network of `prefix`, however the test ends.
/// Declared before the cluster guard, so it runs after the supervisor is stopped.
pub(crate) struct Purge(pub(crate) String);
impl Drop for Purge {
    fn drop(&mut self) {
        match DockerRt::new(&self.0, "unused", 0.0, "0").and_then(|d| d.purge()) {
            Ok(n) => eprintln!("purged {n} containers of {}", self.0),
            Err(e) => eprintln!("purge of {} failed: {e:#}", self.0),
        }
    }
}

/// CLUSTER NODES as seen from the container node `addr`, if it answers.
pub(crate) fn view_at(addr: &str, pw: &str) -> Option<View> {
    Conn::connect(addr, Some(pw))
        .ok()
        .and_then(|mut c| View::fetch(&mut c).ok())
}

/// Run `f` until it returns Some, for up to `secs`.
pub(crate) fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// SET each key to its own name through the cluster client, retrying each one (a
/// failover in progress refuses writes for a moment) for up to 30 s.
pub(crate) fn set_keys(
    conn: &mut redis::cluster::ClusterConnection,
    keys: impl Iterator<Item = String>,
) {
    for k in keys {
        let t0 = Instant::now();
        loop {
            match redis::cmd("SET").arg(&k).arg(&k).query::<()>(conn) {
                Ok(()) => break,
                Err(e) => {
                    assert!(t0.elapsed() < Duration::from_secs(30), "SET {k}: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

/// The tests of this file share one engine and two cores: one cluster at a time.
pub(crate) static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A unique name prefix for what a test creates in the engine.
pub(crate) fn unique_prefix(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}{}x{nanos}", std::process::id())
}

/// A cluster client seeded with the container addresses in `ips` (port -> IP). Each
/// attempt waits 5 s for a reply; a whole request, retries included, up to 30 s: a
/// request whose cached owner is a container just removed first spends a connect timeout
/// on the vanished address before the client refreshes its slot map, and with the
/// overall budget left at the per-attempt 5 s (redis-rs's default) that alone failed a
/// write in a CI run while the autoscaler removed a pair.
pub(crate) fn client_for(ips: &BTreeMap<u16, String>, pw: &str) -> redis::cluster::ClusterClient {
    let seeds: Vec<String> = ips
        .iter()
        .map(|(p, ip)| format!("redis://{ip}:{p}/"))
        .collect();
    redis::cluster::ClusterClient::builder(seeds)
        .password(pw)
        .retries(10)
        .connection_timeout(Duration::from_secs(5))
        .response_timeout(Duration::from_secs(5))
        .overall_response_timeout(Some(Duration::from_secs(30)))
        .build()
        .expect("client")
}

/// The keys among `keys` that do not read back as their own name.
pub(crate) fn missing_keys(
    conn: &mut redis::cluster::ClusterConnection,
    keys: impl Iterator<Item = String>,
) -> Vec<String> {
    keys.filter(|k| {
        let got: Option<String> = redis::cmd("GET").arg(k).query(conn).expect("GET");
        got.as_deref() != Some(k.as_str())
    })
    .collect()
}

/// Runs `docker ARGS`, which must succeed; its trimmed stdout.
pub(crate) fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the engine holds volume `name`.
pub(crate) fn volume_exists(name: &str) -> bool {
    Command::new("docker")
        .args(["volume", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

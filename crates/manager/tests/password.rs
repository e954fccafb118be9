//! Online password rotation on a real cluster under load: `rubra password rotate` while
//! clients write, a kill -9 during and after the grace period, and where the password
//! must never show up.

mod common;

use common::*;
use rubra_manager::resp::{parse_info, Conn, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Writes SETs through a cluster client with `pw` until `stop`; counts OKs and errors.
struct Writer {
    ok: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(tag: &str, ports: &[u16], pw: &str, stop: &Arc<AtomicBool>) -> Writer {
        let (ok, errors) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (ok2, errors2, stop2) = (ok.clone(), errors.clone(), stop.clone());
        let (ports, pw, tag) = (ports.to_vec(), pw.to_string(), tag.to_string());
        let thread = std::thread::spawn(move || {
            block_on(async {
                let mut c = cluster_client(&ports, &pw)
                    .get_async_connection()
                    .await
                    .expect("cluster connection");
                let mut i = 0u64;
                while !stop2.load(Ordering::SeqCst) {
                    let r: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(format!("{tag}:{}", i % 5000))
                        .arg(i)
                        .query_async(&mut c)
                        .await;
                    match r {
                        Ok(()) => {
                            ok2.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => errors2.lock().unwrap().push(e.to_string()),
                    }
                    i += 1;
                }
            })
        });
        Writer {
            ok,
            errors,
            thread: Some(thread),
        }
    }

    /// Wait until it has written `n` more keys than now.
    fn wait_progress(&self, n: u64) {
        let start = self.ok.load(Ordering::SeqCst);
        let t0 = Instant::now();
        while self.ok.load(Ordering::SeqCst) < start + n {
            assert!(t0.elapsed() < Duration::from_secs(20), "writer stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) -> (u64, Vec<String>) {
        if let Some(t) = self.thread.take() {
            t.join().expect("writer thread");
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.errors.lock().unwrap().clone(),
        )
    }
}

/// AUTH with `pw` on a fresh connection: Ok, or the node's refusal text.
fn auth(port: u16, pw: &str) -> Result<(), String> {
    Conn::connect(&format!("127.0.0.1:{port}"), Some(pw))
        .and_then(|mut c| c.ok(&["PING"]).map(|_| ()))
        .map_err(|e| format!("{e:#}"))
}

fn info(port: u16, pw: &str, section: &str) -> HashMap<String, String> {
    let mut c = Conn::connect(&format!("127.0.0.1:{port}"), Some(pw)).expect("connect");
    parse_info(&c.text(&["INFO", section]).expect("INFO"))
}

fn num(m: &HashMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
}

/// Wait until the node on `port` runs with a pid other than `old_pid` and takes `pw`.
fn wait_restarted(c: &Cluster, port: u16, old_pid: u32, pw: &str) {
    let t0 = Instant::now();
    loop {
        let pid = c
            .state()
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.pid);
        if pid.is_some_and(|p| p != old_pid) && auth(port, pw).is_ok() {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "node {port} did not come back with the password"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The panel API's status for GET /api/ops with `bearer` (over TCP, rate limit aside).
fn api_status(c: &Cluster, bearer: &str) -> u16 {
    rubra_manager::httpc::request(&c.panel, "GET", "/api/ops", bearer, "")
        .expect("API")
        .0
}

#[test]
fn rotation_under_load_without_restarts() {
    rotation_under_load(Kind::Embedded);
}

/// The same with Debian's redis-server 7.0 as the nodes: rotation uses only Redis's ACL
/// and CONFIG commands and config-file syntax.
#[test]
fn rotation_under_load_with_redis_server_nodes() {
    if Kind::Redis.available() {
        rotation_under_load(Kind::Redis);
    }
}

fn rotation_under_load(kind: Kind) {
    let (base, panel) = ports(6);
    let d = tempdir("pwrotate");
    let _t = TempDir(d.clone());
    let c = Cluster::start(kind, &d, base, panel, &[]);
    let old = c.password();
    let st = c.state();
    let all: Vec<u16> = st.active_ports();
    let view = c.view();
    let port_of = |id: &str| view.get(id).expect("node").port;
    let primaries: Vec<u16> = view
        .primaries()
        .iter()
        .filter(|p| p.slot_count() > 0)
        .map(|p| p.port)
        .collect();
    let replicas: Vec<(u16, u16)> = view
        .nodes
        .iter()
        .filter_map(|n| n.primary.as_ref().map(|p| (n.port, port_of(p))))
        .collect();
    assert_eq!(replicas.len(), 3, "{view:?}");
    let pid_of = |port: u16| {
        c.state()
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.pid)
            .expect("pid")
    };

    let stop = Arc::new(AtomicBool::new(false));
    // Clients connected with the old password before the rotation.
    let old_writer = Writer::start("old", &all, &old, &stop);
    old_writer.wait_progress(200);
    let sync_full: HashMap<u16, u64> = primaries
        .iter()
        .map(|&p| (p, num(&info(p, &old, "stats"), "sync_full")))
        .collect();
    let offsets: HashMap<u16, u64> = replicas
        .iter()
        .map(|&(r, _)| (r, num(&info(r, &old, "replication"), "slave_repl_offset")))
        .collect();

    let grace = 12u64;
    let t_rotate = Instant::now();
    let (ok, out) = c.run(&["password", "rotate", "--grace", &grace.to_string()]);
    assert!(ok, "{out}");
    let new = c.password();
    assert_ne!(new, old);
    assert_eq!(new.len(), 32, "a generated password");
    assert!(!out.contains(&new) && !out.contains(&old), "{out}");
    let mode = std::fs::metadata(d.join("credentials"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert_eq!(c.credentials_password(), new);

    // Clients that pick up the new password once it is issued.
    let new_writer = Writer::start("new", &all, &new, &stop);
    new_writer.wait_progress(200);
    for &p in &all {
        assert_eq!(auth(p, &new), Ok(()), "node {p}, new password");
        assert_eq!(auth(p, &old), Ok(()), "node {p}, old password during grace");
        let mut conn = Conn::connect(&format!("127.0.0.1:{p}"), Some(&new)).unwrap();
        let v = conn.ok(&["CONFIG", "GET", "masterauth"]).unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Bulk(b"masterauth".to_vec()),
                Value::Bulk(new.as_bytes().to_vec())
            ]),
            "node {p}"
        );
    }
    assert_eq!(api_status(&c, &new), 200);
    assert_eq!(
        api_status(&c, &old),
        200,
        "old password opens the API during grace"
    );

    // kill -9 of a replica during the grace period: it comes back accepting both.
    let (victim, victim_primary) = replicas[0];
    let pid = pid_of(victim);
    rubra_manager::state::signal(pid, libc::SIGKILL);
    wait_restarted(&c, victim, pid, &new);
    assert_eq!(
        auth(victim, &old),
        Ok(()),
        "restarted during grace: old still ok"
    );

    // The grace period ends: the old password is refused on every node, not before.
    let t0 = Instant::now();
    for &p in &all {
        loop {
            match auth(p, &old) {
                Ok(()) => {
                    assert!(
                        t0.elapsed() < Duration::from_secs(grace + 20),
                        "old password still accepted by {p}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    assert!(e.contains("WRONGPASS"), "node {p}: {e}");
                    break;
                }
            }
        }
    }
    assert!(
        t_rotate.elapsed() >= Duration::from_secs(grace - 1),
        "old password refused before the grace period ended ({:?})",
        t_rotate.elapsed()
    );
    for &p in &all {
        assert_eq!(auth(p, &new), Ok(()), "node {p}");
    }
    assert_eq!(api_status(&c, &old), 401);
    assert_eq!(api_status(&c, &new), 200);

    // Writes went on all along, on connections of both generations.
    old_writer.wait_progress(200);
    new_writer.wait_progress(200);
    // No full resync was caused; replicas kept applying the stream.
    for &p in &primaries {
        if p == victim_primary {
            continue; // its replica was killed on purpose
        }
        assert_eq!(
            num(&info(p, &new, "stats"), "sync_full"),
            sync_full[&p],
            "primary {p} served a full sync"
        );
    }
    for &(r, _) in &replicas {
        let i = info(r, &new, "replication");
        assert_eq!(
            i.get("master_link_status").map(String::as_str),
            Some("up"),
            "replica {r}: {i:?}"
        );
        if r != victim {
            assert!(num(&i, "slave_repl_offset") > offsets[&r], "replica {r}");
        }
    }

    // kill -9 after the rotation: the node comes back on the new password only.
    let (victim2, _) = replicas[1];
    let pid = pid_of(victim2);
    rubra_manager::state::signal(pid, libc::SIGKILL);
    wait_restarted(&c, victim2, pid, &new);
    let e = auth(victim2, &old).expect_err("old password after restart");
    assert!(e.contains("WRONGPASS"), "{e}");

    stop.store(true, Ordering::SeqCst);
    let (n_old, e_old) = old_writer.finish();
    let (n_new, e_new) = new_writer.finish();
    assert!(e_new.is_empty(), "new-password client errors: {e_new:?}");
    assert!(e_old.is_empty(), "old-password client errors: {e_old:?}");
    println!("writes: {n_old} on old connections, {n_new} with the new password");

    // The password is in no log, no event and no command line.
    let mut texts = vec![std::fs::read_to_string(d.join("events.jsonl")).unwrap()];
    // (`rubra up` shows a password it generated once, on its stdout, by design.)
    for p in &all {
        texts.push(std::fs::read_to_string(d.join(format!("node-{p}/node.log"))).unwrap());
    }
    for n in c.state().nodes.iter().filter_map(|n| n.pid) {
        texts.push(std::fs::read_to_string(format!("/proc/{n}/cmdline")).unwrap_or_default());
    }
    texts.push(
        std::fs::read_to_string(format!("/proc/{}/cmdline", c.supervisor_pid()))
            .unwrap_or_default(),
    );
    for t in &texts {
        assert!(
            !t.contains(&new) && !t.contains(&old),
            "password leaked: {t}"
        );
    }
    let events = &texts[0];
    assert!(events.contains("password_rotated") && events.contains("password_grace_ended"));
}

/// The supervisor dies (kill -9) during the grace period: state.json holds only the old
/// password's hash and the deadline, and the next `rubra up` ends the grace period.
#[test]
fn a_restarted_supervisor_ends_the_grace_period() {
    let (base, panel) = ports(6);
    let d = tempdir("pwresume");
    let _t = TempDir(d.clone());
    let mut c = Cluster::start(Kind::Embedded, &d, base, panel, &[]);
    let old = c.password();
    let post = |token: &str| {
        rubra_manager::httpc::request(&c.panel, "POST", "/api/password/rotate", token, "{}")
            .expect("API")
    };
    assert_eq!(
        post("wrong").0,
        401,
        "the panel action needs the admin password"
    );
    let (ok, out) = c.run(&["password", "rotate", "--grace", "6"]);
    assert!(ok, "{out}");
    let new = c.password();
    let (code, body) = post(&new);
    assert_eq!(
        code, 409,
        "a second rotation during the grace period: {body}"
    );
    assert!(body.contains("grace period"), "{body}");
    assert_eq!(c.password(), new);
    c.kill_supervisor();
    let state = std::fs::read_to_string(d.join("state.json")).unwrap();
    assert!(
        state.contains(&rubra_manager::password::sha256_hex(old.as_bytes())),
        "{state}"
    );
    assert!(!state.contains(&old) && !state.contains(&new));
    let all = c.state().active_ports();
    for &p in &all {
        assert_eq!(
            auth(p, &old),
            Ok(()),
            "node {p}: grace period still running"
        );
    }
    let c2 = Cluster::start(Kind::Embedded, &d, base, panel, &[]);
    let t0 = Instant::now();
    for &p in &all {
        while auth(p, &old).is_ok() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "node {p} still takes the old password"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(auth(p, &new), Ok(()), "node {p}");
    }
    let t0 = Instant::now();
    while c2.state().rotation.is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "rotation record kept"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

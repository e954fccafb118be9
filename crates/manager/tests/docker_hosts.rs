//! End-to-end on real Docker: `rubra up --runtime docker --docker-hosts a=...,b=...,c=...`
//! places six nodes on three hosts, no pair on one host and one primary per host, and
//! survives the loss of host b while a cluster client keeps writing: the replicas take
//! over, the supervisor re-creates b's nodes on a and c as replicas (fresh volumes, new
//! ids) and forgets the dead ids; when b answers again its stale containers are removed
//! and b takes nodes again (a pair added afterwards lands there).
//!
//! This machine has one engine, so the three hosts are that engine behind three unix
//! socket relays the test runs (a thread forwarding each socket to the engine). Losing
//! host b = stopping b's relay (its engine no longer answers) and `docker kill` of every
//! container labelled `rubra.host=b`. The first kill comes two monitor passes before the
//! others: a container found dead while its host still answered must not be restarted in
//! place once the host stops answering (an earlier attempt did exactly that).
//!
//! Needs a Docker Engine (DOCKER_HOST=unix://... or /var/run/docker.sock) and the image
//! `RUBRA_TEST_IMAGE` (else deploy/build-image.sh builds one). Everything the test
//! creates carries a unique prefix and is removed at the end, also when it fails.

mod common;
mod docker_common;

use common::*;
use docker_common::*;
use rubra_manager::state::State;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The real engine's socket.
fn engine_socket() -> PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => PathBuf::from(&h["unix://".len()..]),
        _ => PathBuf::from("/var/run/docker.sock"),
    }
}

/// A unix socket at `path` forwarding every connection to the real engine: one Docker
/// "host" of the test. Stopping it removes the socket, so the engine no longer answers
/// there (connections already open finish).
struct Relay {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(path: &Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path).expect("relay socket");
        l.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(up) = UnixStream::connect(engine_socket()) {
                            pipe(client, up);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Relay {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Stop answering (once: a relay started again at the same path keeps its socket).
    fn stop(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        let _ = t.join();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copy both ways between `a` and `b` until either side closes.
fn pipe(a: UnixStream, b: UnixStream) {
    let (Ok(mut a2), Ok(mut b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let (mut a, mut b) = (a, b);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut b2, &mut a2);
        let _ = a2.shutdown(std::net::Shutdown::Write);
    });
}

/// A base port and a panel port in this test's range (22000-22999).
fn my_ports() -> (u16, u16) {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let start = (std::process::id() % 45) as u16;
    for i in 0..45u16 {
        let base = 22000 + ((start + i) % 45) * 20;
        if (base..base + 20).all(free) {
            return (base, base + 19);
        }
    }
    panic!("no free ports in 22000-22999");
}

/// Names of this cluster's containers labelled `rubra.host=host`, running or not.
fn containers_on(prefix: &str, host: &str) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=rubra.cluster={prefix}"),
        "--filter",
        &format!("label=rubra.host={host}"),
        "--format",
        "{{.Names}}",
    ]);
    out.lines().map(str::to_string).collect()
}

/// Container IPs of the active nodes, read through the hosts' engines.
fn ips_of(st: &State) -> BTreeMap<u16, String> {
    let d = st.docker.as_ref().expect("docker state");
    rubra_manager::runtime_cli::container_ips(st, d, &st.active_ports()).expect("container ips")
}

/// Whether `v` has every slot owned by a primary that is not flagged failing and is not
/// one of the `lost` nodes (before they are flagged, their slots are unserved too).
fn all_served(v: &rubra_manager::topology::View, lost: &[String]) -> bool {
    let owners = v.owners();
    owners.len() == 16384
        && owners
            .values()
            .all(|id| !lost.contains(id) && v.get(id).is_some_and(|n| !n.is_failing()))
}

/// Pairs on one host, and primaries per host, of the state's placement (live roles
/// from `view`).
fn check_placement(st: &State, v: &rubra_manager::topology::View) -> BTreeMap<String, usize> {
    let active: Vec<_> = st
        .nodes
        .iter()
        .filter(|n| n.status == rubra_manager::state::NodeStatus::Active)
        .collect();
    for a in &active {
        assert!(a.host.is_some(), "node {} has a host", a.port);
        for b in &active {
            if a.port != b.port && a.pair == b.pair {
                assert_ne!(a.host, b.host, "pair {} shares a host: {st:?}", a.pair);
            }
        }
    }
    let mut prim: BTreeMap<String, usize> = BTreeMap::new();
    for n in v
        .nodes
        .iter()
        .filter(|n| n.is_primary() && n.slot_count() > 0)
    {
        let rec = active
            .iter()
            .find(|r| r.port == n.port)
            .expect("primary is a managed node");
        *prim
            .entry(rec.host.clone().unwrap_or_default())
            .or_default() += 1;
    }
    prim
}

/// A client writing `w:N` = N as fast as it can: acknowledged N, errors, and the longest
/// time without an acknowledged write.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<u64>, Vec<String>, Duration)>,
}

impl Writer {
    fn start(client: &redis::cluster::ClusterClient) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, client) = (stop.clone(), client.clone());
        let thread = std::thread::spawn(move || {
            let mut conn = client.get_connection().expect("writer connection");
            let (mut acked, mut errors) = (Vec::new(), Vec::new());
            let (mut last_ok, mut gap) = (Instant::now(), Duration::ZERO);
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let k = format!("w:{n}");
                match redis::cmd("SET").arg(&k).arg(n).query::<()>(&mut conn) {
                    Ok(()) => {
                        acked.push(n);
                        gap = gap.max(last_ok.elapsed());
                        last_ok = Instant::now();
                    }
                    Err(e) => {
                        errors.push(format!("{k}: {e}"));
                        std::thread::sleep(Duration::from_millis(100));
                        if let Ok(c) = client.get_connection() {
                            conn = c;
                        }
                    }
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (acked, errors, gap.max(last_ok.elapsed()))
        });
        Writer { stop, thread }
    }

    fn finish(self) -> (Vec<u64>, Vec<String>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("writer thread")
    }
}

#[test]
fn nodes_spread_over_three_hosts_and_survive_losing_one() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let img = image();
    let prefix = unique_prefix("rbh");
    let _purge = Purge(prefix.clone());
    let dir = tempdir("hosts");
    let _tmp = TempDir(dir.clone());
    std::fs::create_dir_all(&dir).expect("test dir");
    let mut relays: BTreeMap<&str, Relay> = ["a", "b", "c"]
        .into_iter()
        .map(|h| (h, Relay::start(&dir.join(format!("{h}.sock")))))
        .collect();
    let hosts_arg = relays
        .iter()
        .map(|(h, r)| format!("{h}={}", r.endpoint()))
        .collect::<Vec<_>>()
        .join(",");
    let (base, panel) = my_ports();
    let cluster = Cluster::start(
        Kind::Embedded,
        &dir,
        base,
        panel,
        &[
            "--runtime",
            "docker",
            "--image",
            &img,
            "--docker-prefix",
            &prefix,
            "--docker-hosts",
            &hosts_arg,
            "--node-maxmemory",
            "64mb",
        ],
    );
    let pw = cluster.password();
    let st = cluster.state();
    assert_eq!(st.docker.as_ref().map(|d| d.hosts.len()), Some(3));

    // Formation: two nodes per host, labelled with it; no pair on one host; 1/1/1 primaries.
    for h in ["a", "b", "c"] {
        assert_eq!(containers_on(&prefix, h).len(), 2, "containers on {h}");
    }
    let ips = ips_of(&st);
    assert_eq!(ips.len(), 6, "{ips:?}");
    let (first_port, first_ip) = ips.iter().next().expect("a node");
    let v = view_at(&format!("{first_ip}:{first_port}"), &pw).expect("view");
    let prim = check_placement(&st, &v);
    assert_eq!(
        prim.values().copied().collect::<Vec<_>>(),
        vec![1, 1, 1],
        "primaries per host: {prim:?}"
    );
    let (ok, status) = cluster.run(&["status"]);
    assert!(ok && status.contains("HOST"), "{status}");

    let client = client_for(&ips, &pw);
    let mut conn = client.get_connection().expect("cluster connection");
    set_keys(&mut conn, (0..500).map(|i| format!("k:{i}")));

    // Lose host b while a client writes.
    let b_ports: Vec<u16> = st
        .nodes
        .iter()
        .filter(|n| n.host.as_deref() == Some("b"))
        .map(|n| n.port)
        .collect();
    let b_ids: Vec<String> = st
        .nodes
        .iter()
        .filter(|n| b_ports.contains(&n.port))
        .filter_map(|n| n.id.clone())
        .collect();
    assert_eq!(b_ports.len(), 2);
    let writer = Writer::start(&client);
    std::thread::sleep(Duration::from_secs(2));
    let on_b = containers_on(&prefix, "b");
    let t_loss = Instant::now();
    docker(&["kill", &on_b[0]]);
    // Two monitor passes see that container dead while host b still answers.
    std::thread::sleep(Duration::from_millis(1200));
    if let Some(r) = relays.get_mut("b") {
        r.stop();
    }
    for c in &on_b[1..] {
        docker(&["kill", c]);
    }

    // Every slot is served again (the replicas took over) and stays served while the
    // lost nodes are re-created.
    let live_addrs = |st: &State| -> Vec<String> {
        ips_of(st)
            .into_iter()
            .filter(|(p, _)| !b_ports.contains(p))
            .map(|(p, ip)| format!("{ip}:{p}"))
            .collect()
    };
    let seeds = live_addrs(&st);
    let (mut served_at, mut unserved_after) = (None::<Duration>, 0usize);
    let recovered = wait_for(240, "host b's nodes re-created on a and c", || {
        let v = seeds.iter().find_map(|a| view_at(a, &pw));
        let served = v.as_ref().is_some_and(|v| all_served(v, &b_ids));
        match (served, served_at) {
            (true, None) => served_at = Some(t_loss.elapsed()),
            (false, Some(_)) => unserved_after += 1,
            _ => {}
        }
        let now = cluster.state();
        let moved = b_ports.iter().all(|p| {
            now.nodes
                .iter()
                .any(|n| n.port == *p && n.host.as_deref() != Some("b") && n.id.is_some())
        });
        let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
        (moved && events.contains("host_nodes_replaced")).then_some(now)
    });
    let served_at = served_at.expect("slots served again");
    println!(
        "host b lost: every slot served again after {served_at:?}, nodes re-created after {:?}",
        t_loss.elapsed()
    );
    assert_eq!(unserved_after, 0, "slots went unserved after the takeover");

    // The re-created nodes are replicas of their partners, on a and c, with new ids; the
    // cluster shows no failed node once the dead ids are forgotten.
    let ips = ips_of(&recovered);
    let view = wait_for(60, "six nodes, none failing, dead ids forgotten", || {
        let (p, ip) = ips.iter().find(|(p, _)| !b_ports.contains(p))?;
        let v = view_at(&format!("{ip}:{p}"), &pw)?;
        (v.nodes.len() == 6
            && v.nodes.iter().all(|n| !n.is_failing())
            && b_ids.iter().all(|id| v.get(id).is_none()))
        .then_some(v)
    });
    for p in &b_ports {
        let rec = recovered.nodes.iter().find(|n| n.port == *p).expect("rec");
        let partner = recovered
            .nodes
            .iter()
            .find(|n| n.pair == rec.pair && n.port != *p)
            .expect("partner");
        let n = view.nodes.iter().find(|n| n.port == *p).expect("in view");
        assert!(!n.is_primary(), "node {p} comes back as a replica");
        assert_eq!(
            n.primary.as_deref(),
            partner.id.as_deref(),
            "replica of {p}"
        );
        assert!(!b_ids.contains(&n.id), "node {p} has a new id");
    }
    let prim = check_placement(&recovered, &view);
    assert!(!prim.contains_key("b"), "{prim:?}");
    assert!(containers_on(&prefix, "a").len() + containers_on(&prefix, "c").len() == 6);
    cluster.wait_check();

    // The writer went on; nothing acknowledged is lost.
    std::thread::sleep(Duration::from_secs(2));
    let (acked, errors, gap) = writer.finish();
    println!(
        "writer: {} acknowledged, {} errors, longest pause {gap:?}",
        acked.len(),
        errors.len()
    );
    // Writes resume within a few node timeouts (2 s here): the lost primary's slots
    // wait for its replica's promotion.
    assert!(
        gap < Duration::from_secs(20),
        "writes paused {gap:?}: {errors:?}"
    );
    assert!(!acked.is_empty());
    // The reads go through a new connection, as the writer's do after an error: the old
    // one still holds links to b's dead nodes, and the sync cluster client answers a read
    // on such a link with its EOF instead of reconnecting. What is checked is the data.
    conn = client
        .get_connection()
        .expect("cluster connection after the loss");
    let missing = missing_keys(&mut conn, (0..500).map(|i| format!("k:{i}")));
    assert!(missing.is_empty(), "lost: {missing:?}");
    let lost_acked: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|n| {
            let got: Option<u64> = redis::cmd("GET")
                .arg(format!("w:{n}"))
                .query(&mut conn)
                .expect("GET");
            got != Some(*n)
        })
        .collect();
    assert!(
        lost_acked.is_empty(),
        "{} acknowledged writes lost: {lost_acked:?}",
        lost_acked.len()
    );

    // No node of b was restarted in place on b.
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    for line in events.lines().filter(|l| l.contains("\"node_restarted\"")) {
        let e: serde_json::Value = serde_json::from_str(line).expect("event");
        let port = e["detail"]["port"].as_u64().unwrap_or(0);
        assert!(
            !b_ports.iter().any(|p| u64::from(*p) == port),
            "node {port} of the lost host was restarted in place: {line}"
        );
    }

    // Host b answers again: its stale containers go, and it takes the next pair.
    relays.insert("b", Relay::start(&dir.join("b.sock")));
    wait_for(30, "host b's stale containers removed", || {
        containers_on(&prefix, "b").is_empty().then_some(())
    });
    let (ok, out) = cluster.run(&["scale", "--add-pair"]);
    assert!(ok, "{out}");
    let grown = cluster.state();
    assert_eq!(grown.active_ports().len(), 8);
    assert_eq!(containers_on(&prefix, "b").len(), 1, "the new pair uses b");
    let ips = ips_of(&grown);
    let (p, ip) = ips.iter().next().expect("a node");
    let v = view_at(&format!("{ip}:{p}"), &pw).expect("view");
    check_placement(&grown, &v);
    cluster.wait_check();
    conn = client
        .get_connection()
        .expect("cluster connection after the scale");
    let missing = missing_keys(&mut conn, (0..500).map(|i| format!("k:{i}")));
    assert!(missing.is_empty(), "lost after the scale: {missing:?}");
    drop(conn);
    drop(cluster);
}

//! End-to-end: `rubra` driving real node processes. Each scenario is written once and
//! run with the embedded rubra-server nodes (`rubra up`'s default) and, where the
//! runtime allows, with Debian's redis-server 7.0 (`--server-bin redis-server`, the
//! reference).

mod common;

use common::*;
use rubra_manager::resp::Value;
use rubra_manager::state::{pid_alive, signal};
use rubra_manager::topology::View;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[test]
fn lifecycle_embedded() {
    lifecycle(Kind::Embedded);
}

#[test]
fn lifecycle_redis_server() {
    if Kind::Redis.available() {
        lifecycle(Kind::Redis);
    }
}

/// Wait until every active node sees `n` nodes, none flagged failing or in handshake,
/// and every bus link up: a restarted node has rejoined.
fn wait_all_healthy(c: &Cluster, n: usize) {
    let t0 = Instant::now();
    loop {
        let mut why = None;
        for p in c.state().active_ports() {
            let v = match View::fetch(&mut c.conn(p)) {
                Ok(v) => v,
                Err(e) => {
                    why = Some(format!("{p}: {e:#}"));
                    break;
                }
            };
            if v.nodes.len() != n {
                why = Some(format!("{p} sees {} nodes", v.nodes.len()));
            } else if let Some(bad) = v.nodes.iter().find(|x| {
                x.is_failing() || x.link != "connected" || x.flags.iter().any(|f| f == "handshake")
            }) {
                why = Some(format!(
                    "{p} sees {} as {:?} {}",
                    bad.port, bad.flags, bad.link
                ));
            }
            if why.is_some() {
                break;
            }
        }
        match why {
            None => return,
            Some(w) => assert!(t0.elapsed() < Duration::from_secs(60), "not healthy: {w}"),
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// 3 primaries with all slots, 3 replicas, each replica on another node than its
/// primary and each primary with its own replica.
fn assert_three_pairs(v: &View) {
    assert_eq!(v.nodes.len(), 6);
    let primaries: Vec<_> = v
        .primaries()
        .into_iter()
        .filter(|n| n.slot_count() > 0)
        .collect();
    assert_eq!(primaries.len(), 3);
    assert_eq!(v.owners().len(), 16384);
    let replicas: Vec<_> = v.nodes.iter().filter(|n| !n.is_primary()).collect();
    assert_eq!(replicas.len(), 3);
    let mut followed = std::collections::BTreeSet::new();
    for r in &replicas {
        let p = r.primary.as_deref().expect("replica has a primary");
        assert_ne!(p, r.id);
        assert!(v.get(p).map(|n| n.is_primary()).unwrap_or(false));
        assert_ne!(v.get(p).unwrap().port, r.port);
        followed.insert(p.to_string());
    }
    assert_eq!(followed.len(), 3, "each primary has its own replica");
}

/// `rubra up` → 6 nodes as 3 pairs; password printed = password stored, redis-cli -c
/// works with it and a wrong one is refused; API auth; reshard, check/fix of an open
/// slot, manual failover (all through the supervisor); kill -9 of a primary → restarted
/// with the same id, rejoins, no data lost; down + up resumes the same cluster.
fn lifecycle(kind: Kind) {
    let dir = tempdir("up");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(6);
    let mut c = Cluster::start(kind, &dir, base, panel, &[]);

    // Credentials: 0600, strong, the printed one is the stored one.
    let mode = std::fs::metadata(dir.join("credentials"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let pw = c.credentials_password();
    assert_eq!(c.printed_password().as_deref(), Some(pw.as_str()));
    assert!(pw.len() >= 24 && pw.chars().all(|ch| ch.is_ascii_alphanumeric()));
    assert!(
        c.printed
            .iter()
            .any(|l| l == &format!("connect:  redis-cli -c -p {base} -a {pw}")),
        "{:?}",
        c.printed
    );

    // 6 nodes: 3 primaries with slots, 3 replicas, each following another node.
    assert_eq!(c.state().active_ports().len(), 6);
    let v = c.view();
    assert_three_pairs(&v);
    let primaries: Vec<_> = v
        .primaries()
        .into_iter()
        .filter(|n| n.slot_count() > 0)
        .cloned()
        .collect();

    // redis-cli -c works with the password (keys land on all three primaries); a wrong
    // password and no password are refused.
    assert_eq!(
        cli(base, &pw, "SET hello world\nGET hello\n"),
        vec!["OK", "world"]
    );
    write_keys(base, &pw, 200);
    for p in &primaries {
        let n = c.conn(p.port).cmd(&["DBSIZE"]).unwrap();
        assert!(
            matches!(n, Value::Int(k) if k > 30),
            "{} holds {n:?}",
            p.port
        );
    }
    for (args, want) in [
        (vec!["-a", "wrong-password"], "WRONGPASS"),
        (vec![], "NOAUTH"),
    ] {
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-p", &base.to_string(), "--no-auth-warning"])
            .args(&args)
            .args(["GET", "hello"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("world"), "{text}");
        assert!(text.contains(want), "{args:?}: {text}");
    }

    // API: auth required; bearer works.
    let (code, _) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/cluster", "nope", "").unwrap();
    assert_eq!(code, 401);
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/cluster", &pw, "").unwrap();
    assert_eq!(code, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(j["nodes"].as_array().map(Vec::len), Some(6));
    assert_eq!(j["state"], "ok");

    // Reshard 50 slots with keys (through the running supervisor).
    let from = primaries[0].clone();
    let to = primaries[1].clone();
    let (ok, out) = c.run(&[
        "reshard",
        "--from",
        &from.port.to_string(),
        "--to",
        &to.id[..10],
        "--slots",
        "50",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("moved 50 slots"), "{out}");
    assert!(out.contains("through the supervisor"), "{out}");
    c.wait_check();
    let v = c.view();
    assert_eq!(
        v.get(&from.id).unwrap().slot_count(),
        from.slot_count() - 50
    );
    assert_eq!(v.get(&to.id).unwrap().slot_count(), to.slot_count() + 50);
    check_keys(base, &pw, 200);
    let (ok, out) = c.run(&["status"]);
    assert!(
        ok && out.contains("primary") && out.contains("replica"),
        "{out}"
    );

    // A move interrupted half-way (slot left MIGRATING/IMPORTING with keys still on the
    // source) is reported by check and finished by fix.
    let v = c.view();
    let src = v.get(&from.id).unwrap().clone();
    let dst = v.get(&to.id).unwrap().clone();
    let slot = (0..16384u16)
        .find(|s| {
            src.slot_list().contains(s)
                && matches!(
                    c.conn(src.port).cmd(&["CLUSTER", "COUNTKEYSINSLOT", &s.to_string()]),
                    Ok(Value::Int(n)) if n > 0
                )
        })
        .expect("a slot with keys");
    let s = slot.to_string();
    c.conn(dst.port)
        .ok(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &src.id])
        .unwrap();
    c.conn(src.port)
        .ok(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst.id])
        .unwrap();
    let (ok, out) = c.run(&["check"]);
    assert!(
        !ok && out.contains(&format!("slot {slot} is open")),
        "{out}"
    );
    let (ok, out) = c.run(&["fix"]);
    assert!(ok && out.contains("finished move"), "{out}");
    c.wait_check();
    assert!(c.view().get(&dst.id).unwrap().slot_list().contains(&slot));
    check_keys(base, &pw, 200);

    // Manual failover of a replica: it becomes primary.
    let v = c.view();
    let rep = v.nodes.iter().find(|n| !n.is_primary()).unwrap().clone();
    let (ok, out) = c.run(&["failover", &rep.port.to_string()]);
    assert!(ok, "{out}");
    assert!(c.view().get(&rep.id).unwrap().is_primary());
    c.wait_check();
    check_keys(base, &pw, 200);

    // kill -9 a primary (not the one redis-cli talks to): the supervisor restarts it,
    // it keeps its node id and rejoins; no key is lost.
    let v = c.view();
    let victim = v
        .primaries()
        .into_iter()
        .find(|n| n.port != base && n.slot_count() > 0)
        .expect("a primary")
        .clone();
    let old_pid = c
        .state()
        .nodes
        .iter()
        .find(|n| n.port == victim.port)
        .unwrap()
        .pid
        .unwrap();
    signal(old_pid, libc::SIGKILL);
    let t0 = Instant::now();
    loop {
        let pid = c
            .state()
            .nodes
            .iter()
            .find(|n| n.port == victim.port)
            .and_then(|n| n.pid);
        if let Some(p) = pid {
            if p != old_pid && pid_alive(p) {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "node not restarted");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_all_healthy(&c, 6);
    c.wait_check();
    let v = c.view();
    assert!(v.get(&victim.id).is_some(), "same node id after restart");
    assert_three_pairs(&v);
    check_keys(base, &pw, 200);
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/events", &pw, "").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("node_restarted"), "{body}");

    // down, then `up` again on the same dir resumes the same nodes, data and password.
    let ids: BTreeMap<u16, String> = c
        .state()
        .nodes
        .iter()
        .map(|n| (n.port, n.id.clone().unwrap()))
        .collect();
    c.down();
    for n in c.state().nodes {
        assert!(n.pid.map(|p| !pid_alive(p)).unwrap_or(true));
    }
    drop(c);
    let c = Cluster::start(kind, &dir, base, panel, &[]);
    assert!(
        c.printed
            .iter()
            .any(|l| l.starts_with("rubra: cluster resumed")),
        "{:?}",
        c.printed
    );
    assert_eq!(c.printed_password(), None, "the password is shown once");
    let again: BTreeMap<u16, String> = c
        .state()
        .nodes
        .iter()
        .map(|n| (n.port, n.id.clone().unwrap()))
        .collect();
    assert_eq!(ids, again);
    wait_all_healthy(&c, 6);
    let live: BTreeMap<u16, String> = c
        .view()
        .nodes
        .iter()
        .map(|n| (n.port, n.id.clone()))
        .collect();
    assert_eq!(ids, live, "the nodes themselves kept their ids");
    assert_eq!(c.credentials_password(), pw);
    check_keys(base, &pw, 200);
    assert_eq!(cli(base, &pw, "GET hello\n"), vec!["world"]);
    c.wait_check();
}

#[test]
fn bad_arguments_fail_clearly() {
    let dir = tempdir("args");
    let _td = TempDir(dir.clone());
    let out = rubra()
        .args(["up", "--nodes", "5", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("even number between 6 and 12"), "{err}");

    let out = rubra()
        .args(["scale", "--add-pair", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no supervisor is running"), "{err}");
}

/// A taken client or bus port is named, with the process holding it, before any node
/// starts; ports inside the kernel's ephemeral range draw a warning.
#[test]
fn taken_ports_are_named_before_any_node_starts() {
    let dir = tempdir("ports");
    let _td = TempDir(dir.clone());
    let (base, api) = ports(6);
    // The bus port of the fourth node is taken by this test process.
    let held = std::net::TcpListener::bind(("0.0.0.0", base + 3 + 10000)).unwrap();
    let t0 = Instant::now();
    let out = rubra()
        .args(["up", "--base-port", &base.to_string(), "--panel"])
        .arg(format!("127.0.0.1:{api}"))
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let me = std::process::id();
    let want = format!(
        "port {} (cluster bus port of node {}) is taken: listening, by pid {me}",
        base + 3 + 10000,
        base + 3
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    // Nothing was started: no node answers on the first client port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", base)).is_err());
    drop(held);

    // A base port from the kernel's ephemeral range (the one it just gave a listener):
    // the warning comes first, then the taken port stops the start.
    let l = loop {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        if l.local_addr().unwrap().port() < 55000 {
            break l;
        }
    };
    let eph = l.local_addr().unwrap().port();
    let dir2 = tempdir("ports-eph");
    let _td2 = TempDir(dir2.clone());
    let out = rubra()
        .args(["up", "--base-port", &eph.to_string(), "--panel"])
        .arg(format!("127.0.0.1:{api}"))
        .arg("--dir")
        .arg(&dir2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inside the kernel's ephemeral port range"),
        "{err}"
    );
    assert!(
        err.contains(&format!("port {eph} (client port of node {eph}) is taken")),
        "{err}"
    );
}

/// `--announce-ip 127.0.0.2`: every node reports 127.0.0.2 addresses in CLUSTER NODES,
/// and redis-cli -c connected to 127.0.0.2 follows redirects there.
#[test]
fn announce_ip_embedded() {
    let dir = tempdir("announce");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(6);
    let c = Cluster::start(
        Kind::Embedded,
        &dir,
        base,
        panel,
        &["--announce-ip", "127.0.0.2"],
    );
    let pw = c.password();
    assert!(
        c.printed
            .iter()
            .any(|l| l == &format!("connect:  redis-cli -c -h 127.0.0.2 -p {base} -a {pw}")),
        "{:?}",
        c.printed
    );
    let ports = c.state().active_ports();
    for &p in &ports {
        let text = c.conn(p).text(&["CLUSTER", "NODES"]).unwrap();
        let v = View::parse(&text).unwrap();
        assert_eq!(v.nodes.len(), 6, "{text}");
        for n in &v.nodes {
            assert_eq!(n.ip, "127.0.0.2", "node {p} reports {text}");
        }
        for q in &ports {
            assert!(
                text.contains(&format!("127.0.0.2:{q}@{}", q + 10000)),
                "{text}"
            );
        }
    }
    // Keys spread over all primaries: most SETs are redirected, always to 127.0.0.2.
    let script: String = (0..60).map(|i| format!("SET ak:{i} v{i}\n")).collect();
    let out = cli_raw("127.0.0.2", base, &pw, &script);
    let redirects: Vec<&String> = out
        .iter()
        .filter(|l| l.starts_with("-> Redirected"))
        .collect();
    assert!(redirects.len() >= 10, "{out:?}");
    assert!(
        redirects
            .iter()
            .all(|l| l.contains("located at 127.0.0.2:")),
        "{redirects:?}"
    );
    assert_eq!(out.iter().filter(|l| *l == "OK").count(), 60, "{out:?}");
    // Read back from another node, also over 127.0.0.2.
    let script: String = (0..60).map(|i| format!("GET ak:{i}\n")).collect();
    let got = cli_at("127.0.0.2", base + 1, &pw, &script);
    let want: Vec<String> = (0..60).map(|i| format!("v{i}")).collect();
    assert_eq!(got, want);
    c.wait_check();
}

/// Operations that move slots never run at once: while one runs in the supervisor
/// (started through its API), CLI reshard/rebalance/scale/fix are refused with a message
/// naming the running operation; once it ends they go through the supervisor. With no
/// supervisor the CLI acts on the nodes directly, and `rubra up` adopts the running nodes.
#[test]
fn cli_operations_share_the_supervisor_lock() {
    let dir = tempdir("lock");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(8);
    // The lock is the manager's; the node kind only sets the pace. redis-server moves
    // ~200 slots/s here, embedded rubra-server ~10 (its SETSLOT costs ~10 ms): size the
    // background reshard so it outlasts the refused CLI calls (several seconds).
    let (kind, big) = if Kind::Redis.available() {
        (Kind::Redis, 5000)
    } else {
        (Kind::Embedded, 150)
    };
    let mut c = Cluster::start(kind, &dir, base, panel, &[]);
    let pw = c.password();
    write_keys(base, &pw, 200);
    let v = c.view();
    let p: Vec<_> = v
        .primaries()
        .into_iter()
        .filter(|n| n.slot_count() > 0)
        .cloned()
        .collect();
    assert_eq!(p.len(), 3);

    // A long reshard started through the API runs in the background.
    let body = serde_json::json!({"from": p[0].id, "to": p[1].port.to_string(), "slots": big});
    let (code, resp) =
        rubra_manager::httpc::request(&c.panel, "POST", "/api/reshard", &pw, &body.to_string())
            .unwrap();
    assert_eq!(code, 202, "{resp}");
    let op = serde_json::from_str::<serde_json::Value>(&resp).unwrap()["op"]
        .as_str()
        .unwrap()
        .to_string();
    let (p1, p2) = (p[1].port.to_string(), p[2].port.to_string());
    for args in [
        vec!["reshard", "--from", &p1, "--to", &p2, "--slots", "10"],
        vec!["rebalance"],
        vec!["scale", "--add-pair"],
        vec!["fix"],
    ] {
        let (ok, out) = c.run(&args);
        assert!(!ok, "{args:?} ran during another operation: {out}");
        assert!(
            out.contains("busy: another operation is running (reshard op")
                && out.contains("retry when it ends"),
            "{args:?}: {out}"
        );
    }
    // Still the only operation: the refused ones never registered.
    let (_, list) = rubra_manager::httpc::request(&c.panel, "GET", "/api/ops", &pw, "").unwrap();
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let t0 = Instant::now();
    let job = loop {
        let (_, j) =
            rubra_manager::httpc::request(&c.panel, "GET", &format!("/api/ops/{op}"), &pw, "")
                .unwrap();
        let j: serde_json::Value = serde_json::from_str(&j).unwrap();
        if j["status"] != "running" {
            break j;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(240),
            "reshard did not end"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["result"]["slots_moved"], big, "{job}");
    c.wait_check();
    check_keys(base, &pw, 200);

    // Free again: the CLI goes through the supervisor.
    let (ok, out) = c.run(&["rebalance", "--threshold", "1"]);
    assert!(ok && out.contains("through the supervisor"), "{out}");
    assert!(out.contains("moved "), "{out}");
    c.wait_check();
    check_keys(base, &pw, 200);

    // No supervisor (killed; its nodes keep running): the CLI acts directly.
    let pids: Vec<Option<u32>> = c.state().nodes.iter().map(|n| n.pid).collect();
    c.kill_supervisor();
    let v = c.view();
    let q: Vec<_> = v
        .primaries()
        .into_iter()
        .filter(|n| n.slot_count() > 0)
        .cloned()
        .collect();
    let (ok, out) = c.run(&[
        "reshard",
        "--from",
        &q[0].port.to_string(),
        "--to",
        &q[2].port.to_string(),
        "--slots",
        "20",
    ]);
    assert!(ok && out.contains("moved 20 slots"), "{out}");
    assert!(!out.contains("through the supervisor"), "{out}");
    // The direct path prints its own progress, in slots, keys and bytes.
    assert!(
        out.lines()
            .any(|l| l.starts_with("rubra: moved 20/20 slots,") && l.contains(" bytes (")),
        "{out}"
    );
    c.wait_check();
    check_keys(base, &pw, 200);

    // `rubra up` again adopts the nodes that kept running (same processes).
    let c2 = Cluster::start(kind, &dir, base, panel, &[]);
    let again: Vec<Option<u32>> = c2.state().nodes.iter().map(|n| n.pid).collect();
    assert_eq!(pids, again);
    check_keys(base, &pw, 200);
    drop(c2);
    drop(c);
}

//! End-to-end: `rubra` driving real redis-server nodes (any Redis-Cluster-compatible
//! node binary works; Debian's redis-server 7.0 is the reference here).

mod common;

use common::*;
use rubra_manager::state::{pid_alive, signal};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[test]
fn up_auth_reshard_restart_and_rerun() {
    let dir = tempdir("up");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(6);
    let mut c = Cluster::up(&dir, base, panel, &[]);
    let pw = c.password();

    // 6 nodes: 3 primaries with slots, 3 replicas, each following another node.
    let st = c.state();
    assert_eq!(st.active_ports().len(), 6);
    let v = c.view();
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

    // Credentials: 0600, strong password; redis-cli works with it, refuses without.
    let mode = std::fs::metadata(dir.join("credentials"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(pw.len() >= 24);
    assert_eq!(
        cli(base, &pw, "SET hello world\nGET hello\n"),
        vec!["OK", "world"]
    );
    let bad = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &base.to_string(),
            "-a",
            "wrong-password",
            "--no-auth-warning",
            "GET",
            "hello",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&bad.stdout).to_string() + &String::from_utf8_lossy(&bad.stderr);
    assert!(!text.contains("world"), "{text}");
    assert!(
        text.contains("WRONGPASS") || text.contains("NOAUTH"),
        "{text}"
    );

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

    // Reshard 50 slots with keys.
    write_keys(base, &pw, 200);
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
                    Ok(rubra_manager::resp::Value::Int(n)) if n > 0
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

    // kill -9 a node: the supervisor restarts it and it rejoins.
    let victim = base + 4;
    let old_pid = c
        .state()
        .nodes
        .iter()
        .find(|n| n.port == victim)
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
            .find(|n| n.port == victim)
            .and_then(|n| n.pid);
        if let Some(p) = pid {
            if p != old_pid && pid_alive(p) {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "node not restarted");
        std::thread::sleep(Duration::from_millis(200));
    }
    c.wait_check();
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/events", &pw, "").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("node_restarted"), "{body}");

    // down, then `up` again on the same dir resumes the same nodes and data.
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
    let c = Cluster::up(&dir, base, panel, &[]);
    let again: BTreeMap<u16, String> = c
        .state()
        .nodes
        .iter()
        .map(|n| (n.port, n.id.clone().unwrap()))
        .collect();
    assert_eq!(ids, again);
    assert_eq!(c.password(), pw);
    check_keys(base, &pw, 200);
    c.wait_check();
}

#[test]
fn scale_six_to_eight_to_six_keeps_keys() {
    let dir = tempdir("scale");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(9);
    let c = Cluster::up(&dir, base, panel, &[]);
    let pw = c.password();
    write_keys(base, &pw, 300);

    let (ok, out) = c.run(&["scale", "--add-pair"]);
    assert!(ok, "{out}");
    assert_eq!(c.state().active_ports().len(), 8);
    assert!(c.state().pending.is_none());
    c.wait_check();
    let v = c.view();
    let with_slots = v
        .primaries()
        .into_iter()
        .filter(|n| n.slot_count() > 0)
        .count();
    assert_eq!(with_slots, 4);
    assert_eq!(v.nodes.len(), 8);
    check_keys(base, &pw, 300);

    let (ok, out) = c.run(&["scale", "--pairs", "3"]);
    assert!(ok, "{out}");
    assert_eq!(c.state().active_ports().len(), 6);
    c.wait_check();
    let v = c.view();
    assert_eq!(v.nodes.len(), 6, "removed nodes forgotten");
    check_keys(base, &pw, 300);

    // Below 3 pairs is refused with a clear error.
    let (ok, out) = c.run(&["scale", "--remove-pair"]);
    assert!(!ok && out.contains("at least 3 pairs"), "{out}");
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

#[test]
fn autoscaler_adds_a_pair_under_load() {
    let dir = tempdir("auto");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(9);
    // Memory use is always > 0% of maxmemory: with a 0% threshold the rule fires after
    // one second of samples; max 8 nodes stops it after one pair.
    let c = Cluster::up(
        &dir,
        base,
        panel,
        &[
            "--autoscale",
            "--scale-up-pct",
            "0",
            "--scale-up-secs",
            "1",
            "--sample-secs",
            "1",
            "--max-nodes",
            "8",
        ],
    );
    let pw = c.password();
    write_keys(base, &pw, 100);
    let t0 = Instant::now();
    while c.state().active_ports().len() < 8 || c.state().pending.is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "autoscaler did not add a pair"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    c.wait_check();
    check_keys(base, &pw, 100);
    let (code, body) =
        rubra_manager::httpc::request(&c.panel, "GET", "/api/events", &pw, "").unwrap();
    assert_eq!(code, 200);
    let ev: serde_json::Value = serde_json::from_str(&body).unwrap();
    let auto = ev
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "autoscale")
        .expect("autoscale event");
    assert_eq!(auto["detail"]["decision"]["action"], "add_pair");
    assert!(auto["detail"]["mem"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .contains("autoscale"));
    // Turning it off through the API.
    let (code, _) = rubra_manager::httpc::request(
        &c.panel,
        "POST",
        "/api/autoscale",
        &pw,
        r#"{"enabled":false}"#,
    )
    .unwrap();
    assert_eq!(code, 200);
}

//! `rubra acl`: a user created through rubra reaches every node (primaries and replicas),
//! checked from Debian's redis-cli logged in as that user: allowed commands work through
//! every node with keys of all slots, denied commands and keys get NOPERM, the user reads
//! on a replica (READONLY), survives kill -9 of a node and its restart, exists on a pair
//! added by `rubra scale --add-pair`, changes incrementally, refuses bad rules without
//! changing anything, and `rubra acl deluser` removes it everywhere. The default user (the
//! cluster password: replication, the supervisor's API) keeps working throughout. Run with
//! rubra-server nodes and with redis-server 7.0 nodes.

mod common;
use common::*;
use rubra_manager::password::sha256_hex;
use rubra_manager::state::{pid_alive, signal};
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "app";
const PASS: &str = "app-pass-7f3a";
const KEYS: usize = 120;

/// redis-cli logged in as `user` (cluster mode when `cluster`), run with `script`.
fn as_user(port: u16, user: &str, pass: &str, cluster: bool, script: &str) -> Vec<String> {
    let mut cmd = Command::new("redis-cli");
    if cluster {
        cmd.arg("-c");
    }
    cmd.args(["-p", &port.to_string(), "--user", user, "--pass", pass])
        .arg("--no-auth-warning");
    piped_lines(cmd, script)
        .into_iter()
        // redis-cli prints a blank line after an error reply; no value here is empty.
        .filter(|l| !l.starts_with("-> Redirected") && !l.is_empty())
        .collect()
}

/// Through node `port` (redis-cli -c), as the app user: every app key reads back.
fn reads_all(port: u16) {
    let script: String = (0..KEYS).map(|i| format!("GET app:{i}\n")).collect();
    let out = as_user(port, USER, PASS, true, &script);
    let want: Vec<String> = (0..KEYS).map(|i| format!("v{i}")).collect();
    assert_eq!(out, want, "reads as {USER} through node {port}");
}

/// Through node `port`, as the app user: a denied command and a denied key get NOPERM.
fn denied(port: u16, del_allowed: bool) {
    let out = as_user(
        port,
        USER,
        PASS,
        true,
        "SET other:1 x\nDEL app:0\nHSET app:h f v\n",
    );
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        out[0].starts_with("NOPERM"),
        "key pattern, node {port}: {out:?}"
    );
    if del_allowed {
        assert!(
            out[1] == "1" || out[1] == "0",
            "DEL allowed, node {port}: {out:?}"
        );
    } else {
        assert!(
            out[1].starts_with("NOPERM"),
            "command, node {port}: {out:?}"
        );
    }
    assert!(
        out[2].starts_with("NOPERM"),
        "command, node {port}: {out:?}"
    );
}

/// AUTH as the app user on node `port` (no cluster redirects): the reply.
fn auth(port: u16) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-p", &port.to_string()]);
    piped_lines(cmd, &format!("AUTH {USER} {PASS}\n")).join(" ")
}

/// `rubra acl ARGS` on the cluster of `c` (`--dir` first: what follows NAME are rules).
fn acl(c: &Cluster, args: &[&str]) -> (bool, String) {
    let out = rubra()
        .arg("acl")
        .arg(args[0])
        .arg("--dir")
        .arg(&c.dir)
        .args(&args[1..])
        .output()
        .expect("run rubra acl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("$ rubra acl {args:?}\n{text}");
    (out.status.success(), text)
}

fn acl_everywhere(kind: Kind) {
    let dir = tempdir("acl");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(8);
    let c = Cluster::start(kind, &dir, base, panel, &[]);
    let pw = c.password();

    // Refused before anything changes: the default user is the cluster password's.
    let (ok, out) = acl(&c, &["setuser", "default", "nopass"]);
    assert!(!ok && out.contains("rubra password rotate"), "{out}");
    // An option after NAME is not taken for a rule.
    let out = rubra()
        .args(["acl", "setuser", USER, "+get", "--dir"])
        .arg(&c.dir)
        .output()
        .expect("rubra");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("options go before the user name"),
        "{err}"
    );
    assert!(
        !dir.join("users.acl").exists(),
        "nothing recorded by refused commands"
    );

    let (ok, out) = acl(
        &c,
        &[
            "setuser",
            USER,
            "on",
            &format!(">{PASS}"),
            "~app:*",
            "-@all",
            "+get",
            "+set",
            "+readonly",
            "+ping",
        ],
    );
    assert!(ok, "{out}");
    let hash = sha256_hex(PASS.as_bytes());
    assert!(out.contains(&format!("#{hash}")), "{out}");
    assert!(
        !out.contains(PASS),
        "the password itself is never printed: {out}"
    );
    let record = std::fs::read_to_string(dir.join("users.acl")).expect("record");
    assert!(
        record.contains(&format!("user {USER} on "))
            && record.contains(&format!(" #{hash} "))
            && !record.contains(PASS),
        "{record}"
    );
    assert!(out.contains("applied on 6 nodes"), "{out}");

    // Keys of every slot range, written as the app user through one node.
    let script: String = (0..KEYS).map(|i| format!("SET app:{i} v{i}\n")).collect();
    let w = as_user(base, USER, PASS, true, &script);
    assert_eq!(w.iter().filter(|l| *l == "OK").count(), KEYS, "{w:?}");
    let v = c.view();
    for p in v.primaries() {
        let n: i64 = match c.conn(p.port).cmd(&["DBSIZE"]).unwrap() {
            rubra_manager::resp::Value::Int(n) => n,
            other => panic!("{other:?}"),
        };
        assert!(n > 0, "primary {} holds app keys", p.port);
    }
    let ports: Vec<u16> = c.state().active_ports();
    assert_eq!(ports.len(), 6);
    for &p in &ports {
        reads_all(p);
        denied(p, false);
    }

    // On a replica, READONLY: a key of its primary is served there (once replicated).
    for p in v.primaries() {
        c.conn(p.port).ok(&["WAIT", "1", "5000"]).expect("WAIT");
    }
    for r in v.nodes.iter().filter(|n| !n.is_primary()) {
        let primary = r.primary.clone().expect("replica's primary");
        let pport = v.get(&primary).expect("primary").port;
        let key = c
            .conn(pport)
            .text(&["RANDOMKEY"])
            .expect("a key on the primary");
        let i: usize = key.trim_start_matches("app:").parse().expect("app key");
        let out = as_user(r.port, USER, PASS, false, &format!("READONLY\nGET {key}\n"));
        assert_eq!(out, ["OK", &format!("v{i}")], "replica {}", r.port);
    }

    // kill -9 of a primary: the supervisor restarts it and the user is there at once
    // (from its config file, not only from the sync pass).
    let victim = v
        .primaries()
        .into_iter()
        .find(|n| n.port != base)
        .expect("primary")
        .port;
    let old_pid = c
        .state()
        .nodes
        .iter()
        .find(|n| n.port == victim)
        .and_then(|n| n.pid)
        .expect("pid");
    signal(old_pid, libc::SIGKILL);
    let t0 = Instant::now();
    loop {
        let pid = c
            .state()
            .nodes
            .iter()
            .find(|n| n.port == victim)
            .and_then(|n| n.pid);
        if pid.is_some_and(|p| p != old_pid && pid_alive(p)) && auth(victim).contains("OK") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "node {victim} not back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let conf = std::fs::read_to_string(dir.join(format!("node-{victim}/node.conf")))
        .or_else(|_| {
            // The node directory's name is the state's business: find the conf by port.
            let nd = rubra_manager::state::Dir::new(&dir)
                .unwrap()
                .node_dir(victim);
            std::fs::read_to_string(nd.join("node.conf"))
        })
        .expect("node.conf");
    assert!(
        conf.lines()
            .any(|l| l.starts_with(&format!("user {USER} on ")) && l.contains(&hash)),
        "{conf}"
    );
    c.wait_check();
    reads_all(victim);
    denied(victim, false);

    // A pair added by scale gets the user.
    let (ok, out) = c.run(&["scale", "--add-pair"]);
    assert!(ok, "{out}");
    c.wait_check();
    let ports = c.state().active_ports();
    assert_eq!(ports.len(), 8);
    for &p in &ports[6..] {
        assert!(auth(p).contains("OK"), "new node {p}: {}", auth(p));
        reads_all(p);
        denied(p, false);
    }

    // Incremental change, on top of the recorded rules, everywhere.
    let (ok, out) = acl(&c, &["setuser", USER, "+del"]);
    assert!(ok, "{out}");
    assert!(out.contains("applied on 8 nodes"), "{out}");
    for &p in &ports {
        denied(p, true);
    }
    let (ok, out) = acl(&c, &["list"]);
    assert!(ok, "{out}");
    assert!(out.contains("8 of 8 nodes match"), "{out}");
    // Writes of the default user (the cluster password) still replicate: deleted keys are
    // gone from the replicas too, and the supervisor's API answered above.
    let (ok, out) = acl(&c, &["setuser", USER, "+nosuchcommand"]);
    assert!(!ok, "{out}");
    assert!(out.contains("nosuchcommand"), "the node's own error: {out}");
    for &p in &ports {
        denied(p, true); // unchanged by the refused change
    }

    // A node that lost the user (here: removed behind rubra's back) gets it back from the
    // supervisor's sync pass, the path containers and nodes missed by a change take.
    c.conn(ports[7])
        .ok(&["ACL", "DELUSER", USER])
        .expect("DELUSER");
    assert!(auth(ports[7]).contains("WRONGPASS"));
    let t0 = Instant::now();
    while !auth(ports[7]).contains("OK") {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "sync never restored {USER}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    denied(ports[7], true);

    let restore: String = (0..KEYS).map(|i| format!("SET app:{i} v{i}\n")).collect();
    as_user(base, USER, PASS, true, &restore);

    // deluser: gone everywhere, and so is the record's line.
    let (ok, out) = acl(&c, &["deluser", USER]);
    assert!(ok, "{out}");
    for &p in &ports {
        let a = auth(p);
        assert!(a.contains("WRONGPASS"), "node {p} still knows {USER}: {a}");
    }
    let record = std::fs::read_to_string(dir.join("users.acl")).expect("record");
    assert!(!record.contains(&format!("user {USER} ")), "{record}");
    let (ok, out) = acl(&c, &["list"]);
    assert!(ok && out.contains("8 of 8 nodes match"), "{out}");
    // The cluster password still opens every node and the data is intact.
    check_written(base, &pw);
}

/// Every app key reads back through the default user (the cluster password).
fn check_written(port: u16, pw: &str) {
    let script: String = (0..KEYS).map(|i| format!("GET app:{i}\n")).collect();
    let out = cli(port, pw, &script);
    let want: Vec<String> = (0..KEYS).map(|i| format!("v{i}")).collect();
    assert_eq!(out, want);
}

#[test]
fn acl_users_reach_every_node_embedded() {
    acl_everywhere(Kind::Embedded);
}

#[test]
fn acl_users_reach_every_node_redis_server() {
    if Kind::Redis.available() {
        acl_everywhere(Kind::Redis);
    }
}

//! `deploy/docker-compose.yml` as users run it: with Compose (`docker compose up`), and
//! as a Swarm stack (`docker stack deploy`) on a single-node swarm made on loopback,
//! where the zone placement constraints keep the two nodes of each pair apart.
//! Each test skips, saying why, when its tool or mode is unavailable; they take turns on
//! the engine and remove what they create, also when they fail.

mod common;
mod docker_common;

use common::*;
use docker_common::*;
use rubra_manager::resp::Conn;
use rubra_manager::topology::View;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

/// The compose command of this machine: `docker compose` (v2) or `docker-compose` (v1).
fn compose_tool() -> Option<Vec<&'static str>> {
    [vec!["docker", "compose"], vec!["docker-compose"]]
        .into_iter()
        .find(|cmd| {
            Command::new(cmd[0])
                .args(&cmd[1..])
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// `deploy/docker-compose.yml` as a user runs it, for one project.
struct Compose {
    tool: Vec<&'static str>,
    project: String,
    env: Vec<(&'static str, String)>,
}

impl Compose {
    /// Runs `compose ARGS` on the deploy file; (success, stdout+stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/docker-compose.yml"
        );
        let out = Command::new(self.tool[0])
            .args(&self.tool[1..])
            .args(["-p", &self.project, "-f", file])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("run compose");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// The IP of `service`'s container on the project's network (found by the labels
    /// both Compose versions set; their container names differ).
    fn ip(&self, service: &str) -> Option<String> {
        let ps = Command::new("docker")
            .args(["ps", "-q", "--filter"])
            .arg(format!("label=com.docker.compose.project={}", self.project))
            .arg("--filter")
            .arg(format!("label=com.docker.compose.service={service}"))
            .output()
            .ok()?;
        let id = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        if id.is_empty() || id.contains('\n') {
            return None;
        }
        let out = Command::new("docker")
            .args(["inspect", "-f"])
            .arg("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
            .arg(&id)
            .output()
            .ok()?;
        let ip = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !ip.is_empty()).then_some(ip)
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let (ok, text) = self.run(&["down", "-v", "--remove-orphans", "-t", "2"]);
        if !ok {
            eprintln!("compose down of {} failed: {text}", self.project);
        }
    }
}

/// `docker compose up` of deploy/docker-compose.yml with the local image: six node
/// containers and the panel form a cluster (3 primaries, 3 replicas) that a cluster
/// client uses through the announced container addresses; `down -v` removes it all.
#[test]
fn compose_file_brings_up_a_working_cluster() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tool) = compose_tool() else {
        eprintln!("neither `docker compose` nor `docker-compose` here: skipping the compose test");
        return;
    };
    let img = image();
    let project = unique_prefix("rbc");
    let pw = format!("pw-{project}");
    let (_, panel) = ports(0);
    let compose = Compose {
        tool,
        project: project.clone(),
        env: vec![
            ("RUBRA_IMAGE", img.clone()),
            ("RUBRA_PASSWORD", pw.clone()),
            ("RUBRA_PANEL_PORT", panel.to_string()),
            ("RUBRA_NODE_MAXMEMORY", "64mb".into()),
        ],
    };
    let t0 = Instant::now();
    let (ok, text) = compose.run(&["up", "-d"]);
    assert!(ok, "compose up: {text}");

    let ips: BTreeMap<u16, String> = wait_for(60, "every node container has an address", || {
        (1..=6u16)
            .map(|i| Some((6999 + i, compose.ip(&format!("node-{i}"))?)))
            .collect()
    });
    let first = format!("{}:7000", ips[&7000]);
    let v = wait_for(90, "the panel formed the cluster", || {
        let mut c = Conn::connect(&first, Some(&pw)).ok()?;
        let info = c.text(&["CLUSTER", "INFO"]).ok()?;
        if !info.contains("cluster_state:ok") {
            return None;
        }
        let v = View::fetch(&mut c).ok()?;
        let serving = v.primaries().iter().filter(|n| n.slot_count() > 0).count();
        let replicas = v.nodes.iter().filter(|n| n.primary.is_some()).count();
        (v.nodes.len() == 6 && serving == 3 && replicas == 3).then_some(v)
    });
    println!("compose cluster ready in {:?}", t0.elapsed());
    for n in &v.nodes {
        assert_eq!(
            Some(&n.ip),
            ips.get(&n.port),
            "node {} announces its container IP",
            n.port
        );
    }

    // Keys across every primary's slots through a cluster client.
    let client = client_for(&ips, &pw);
    let mut conn = client.get_connection().expect("cluster connection");
    set_keys(&mut conn, (0..300).map(|i| format!("c:{i}")));
    let lost = missing_keys(&mut conn, (0..300).map(|i| format!("c:{i}")));
    assert!(lost.is_empty(), "lost: {lost:?}");
    for p in v.primaries() {
        let mut c = Conn::connect(&format!("{}:{}", p.ip, p.port), Some(&pw)).expect("conn");
        let n = c.cmd(&["DBSIZE"]).expect("DBSIZE");
        assert!(
            matches!(n, rubra_manager::resp::Value::Int(k) if k > 0),
            "primary {} holds keys: {n:?}",
            p.port
        );
    }

    // The panel answers on the published port.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", panel)).expect("panel port");
    std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n").expect("request");
    let mut head = [0u8; 12];
    std::io::Read::read_exact(&mut s, &mut head).expect("response");
    assert!(head.starts_with(b"HTTP/1."), "{head:?}");

    drop(conn);
    let (ok, text) = compose.run(&["down", "-v", "-t", "2"]);
    assert!(ok, "compose down: {text}");
    let vols = Command::new("docker")
        .args(["volume", "ls", "-q", "--filter"])
        .arg(format!("label=com.docker.compose.project={project}"))
        .output()
        .expect("docker volume ls");
    assert!(
        String::from_utf8_lossy(&vols.stdout).trim().is_empty(),
        "volumes left after down -v"
    );
    println!("compose up/use/down: {:?}", t0.elapsed());
}

/// Swarm mode for the test: a swarm this engine already belongs to is used as it is;
/// otherwise a single-node swarm is made on loopback only (listen and advertise
/// 127.0.0.1) and left again at the end, with the network Swarm made for it.
struct Swarm {
    node: String,
    made: bool,
    gwbridge_before: bool,
}

/// Runs `docker ARGS`; (success, stdout, stderr).
fn docker_out(args: &[&str]) -> (bool, String, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            String::from_utf8_lossy(&o.stderr).trim().to_string(),
        ),
        Err(e) => (false, String::new(), e.to_string()),
    }
}

impl Swarm {
    /// Swarm mode, or why it is unavailable.
    fn join() -> Result<Swarm, String> {
        let (ok, state, err) = docker_out(&["info", "-f", "{{.Swarm.LocalNodeState}}"]);
        if !ok {
            return Err(format!("docker info: {err}"));
        }
        let gwbridge_before = docker_out(&["network", "inspect", "docker_gwbridge"]).0;
        let made = match state.as_str() {
            "active" => false,
            "inactive" => {
                let (ok, _, err) = docker_out(&[
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                    "--listen-addr",
                    "127.0.0.1:2377",
                ]);
                if !ok {
                    return Err(format!("docker swarm init on 127.0.0.1 refused: {err}"));
                }
                true
            }
            other => return Err(format!("this engine's swarm state is {other:?}")),
        };
        let (_, manager, _) = docker_out(&["info", "-f", "{{.Swarm.ControlAvailable}}"]);
        let (_, node, _) = docker_out(&["info", "-f", "{{.Swarm.NodeID}}"]);
        let swarm = Swarm {
            node,
            made,
            gwbridge_before,
        };
        if manager != "true" {
            return Err("this engine is a Swarm worker: stacks deploy from a manager".into());
        }
        Ok(swarm)
    }

    /// Sets the label rubra.zoneN=true on this (only) Swarm node, as an operator labels
    /// the host of zone N.
    fn label_zone(&self, n: u32) {
        let (ok, _, err) = docker_out(&[
            "node",
            "update",
            "--label-add",
            &format!("rubra.zone{n}=true"),
            &self.node,
        ]);
        assert!(ok, "label zone {n}: {err}");
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        for n in 1..=3 {
            let label = format!("rubra.zone{n}");
            let _ = docker_out(&["node", "update", "--label-rm", &label, &self.node]);
        }
        if self.made {
            let (ok, _, err) = docker_out(&["swarm", "leave", "--force"]);
            if !ok {
                eprintln!("docker swarm leave: {err}");
            }
            // Swarm's bridge for task egress; its last endpoints go a moment after leave
            // (seen once: a stale ingress endpoint kept it until the daemon restarts).
            let t0 = Instant::now();
            while !self.gwbridge_before
                && docker_out(&["network", "inspect", "docker_gwbridge"]).0
                && t0.elapsed() < std::time::Duration::from_secs(10)
            {
                let (ok, _, err) = docker_out(&["network", "rm", "docker_gwbridge"]);
                if !ok {
                    eprintln!("docker network rm docker_gwbridge: {err}");
                    std::thread::sleep(std::time::Duration::from_millis(1000));
                }
            }
        }
    }
}

/// A deployed stack; removed with its volumes and network when dropped.
struct Stack(String);

impl Stack {
    /// The running container of `service`, if there is exactly one.
    fn container(&self, service: &str) -> Option<String> {
        let (_, id, _) = docker_out(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={}_{service}", self.0),
        ]);
        (!id.is_empty() && !id.contains('\n')).then_some(id)
    }

    /// `docker service ps` of `service`: state and error of each task.
    fn tasks(&self, service: &str) -> String {
        docker_out(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.CurrentState}} {{.Error}}",
            &format!("{}_{service}", self.0),
        ])
        .1
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = docker_out(&["stack", "rm", &self.0]);
        let label = format!("label=com.docker.stack.namespace={}", self.0);
        let t0 = Instant::now();
        while !docker_out(&["ps", "-aq", "--filter", &label]).1.is_empty()
            && t0.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        let (_, vols, _) = docker_out(&["volume", "ls", "-q", "--filter", &label]);
        for v in vols.lines().filter(|v| !v.is_empty()) {
            let _ = docker_out(&["volume", "rm", v]);
        }
        let net = format!("{}_rubra", self.0);
        while docker_out(&["network", "inspect", &net]).0
            && t0.elapsed() < std::time::Duration::from_secs(60)
        {
            let _ = docker_out(&["network", "rm", &net]);
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
}

/// The zone label a node service of the stack is constrained to (`rubra.zoneN`).
fn zone_of(stack: &str, service: &str) -> String {
    let (ok, c, err) = docker_out(&[
        "service",
        "inspect",
        "-f",
        "{{json .Spec.TaskTemplate.Placement.Constraints}}",
        &format!("{stack}_{service}"),
    ]);
    assert!(ok, "inspect {service}: {err}");
    let c: Vec<String> = serde_json::from_str(&c).unwrap_or_default();
    let zones: Vec<&String> = c.iter().filter(|x| x.contains("rubra.zone")).collect();
    assert_eq!(zones.len(), 1, "{service} has one zone constraint: {c:?}");
    zones[0].clone()
}

/// `docker stack deploy` of deploy/docker-compose.yml on a single-node swarm: the zone
/// constraints hold tasks back until a host carries their zone (nodes of zones 2 and 3
/// wait "no suitable node" while only zone 1 is labelled), the two nodes of each pair
/// are constrained to different zones and the primaries to three zones; once the one
/// node stands for all three zones the panel forms a 3+3 cluster, which `redis-cli -c`
/// on the stack's overlay network uses through the announced addresses.
#[test]
fn swarm_stack_deploys_with_zone_placement() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if Command::new("docker").arg("version").output().is_err() {
        eprintln!("no docker CLI: skipping the Swarm test");
        return;
    }
    let swarm = match Swarm::join() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("Swarm mode unavailable, skipping the Swarm test: {why}");
            return;
        }
    };
    let img = image();
    let t0 = Instant::now();
    // The user's file, less the panel's published port: Swarm publishes through its
    // routing mesh on every interface, and this machine allows loopback only.
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/docker-compose.yml"
    );
    let text = std::fs::read_to_string(file).expect("compose file");
    let mut kept = Vec::new();
    let mut in_ports = false;
    for line in text.lines() {
        if line == "    ports:" {
            in_ports = true;
            continue;
        }
        if in_ports && (line.starts_with("      ") || line.trim().is_empty()) {
            continue;
        }
        in_ports = false;
        kept.push(line);
    }
    assert!(!kept.iter().any(|l| l.contains("ports:")), "ports left");
    let dir = tempdir("swarm");
    let _tmp = TempDir(dir.clone());
    std::fs::create_dir_all(&dir).expect("temp dir");
    let stack_file = dir.join("stack.yml");
    std::fs::write(&stack_file, kept.join("\n")).expect("write the stack file");

    let name = unique_prefix("rbw");
    let pw = format!("pw-{name}");
    swarm.label_zone(1);
    let stack = Stack(name.clone());
    let out = Command::new("docker")
        .args(["stack", "deploy", "--resolve-image", "never", "-c"])
        .arg(&stack_file)
        .arg(&name)
        .envs([
            ("RUBRA_IMAGE", img.as_str()),
            ("RUBRA_PASSWORD", pw.as_str()),
            ("RUBRA_NODE_MAXMEMORY", "64mb"),
        ])
        .output()
        .expect("docker stack deploy");
    assert!(out.status.success(), "stack deploy: {out:?}");

    // Pairs (node-1, node-4), (node-2, node-5), (node-3, node-6): zones apart, and the
    // primaries node-1..3 in three zones.
    let zone: BTreeMap<u16, String> = (1..=6)
        .map(|i| (i, zone_of(&name, &format!("node-{i}"))))
        .collect();
    for (p, r) in [(1, 4), (2, 5), (3, 6)] {
        assert_ne!(
            zone[&p], zone[&r],
            "pair node-{p}/node-{r} may share a host"
        );
    }
    let primary_zones: std::collections::BTreeSet<&String> = (1..=3).map(|i| &zone[&i]).collect();
    assert_eq!(primary_zones.len(), 3, "primaries spread: {zone:?}");

    // Only zone 1 labelled: its nodes run, the others wait for a host of their zone.
    let z1: Vec<u16> = zone
        .iter()
        .filter(|(_, z)| z.contains("rubra.zone1 "))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(z1.len(), 2, "{zone:?}");
    wait_for(90, "the zone-1 nodes run", || {
        z1.iter()
            .all(|i| stack.container(&format!("node-{i}")).is_some())
            .then_some(())
    });
    let other = (1..=6)
        .find(|i| !z1.contains(i))
        .expect("a node of another zone");
    let held = wait_for(30, "a node of zone 2/3 is held back", || {
        let t = stack.tasks(&format!("node-{other}"));
        (t.contains("Pending") && t.contains("no suitable node")).then_some(t)
    });
    println!("node-{other} while only zone 1 exists: {held}");
    assert!(stack.container(&format!("node-{other}")).is_none());

    // The one host now stands for all three zones: every node runs, the panel forms
    // the cluster.
    swarm.label_zone(2);
    swarm.label_zone(3);
    let panel = wait_for(90, "the panel runs", || stack.container("panel"));
    let status = wait_for(120, "the panel formed a 3+3 cluster", || {
        let (ok, _, _) = docker_out(&["exec", &panel, "rubra", "check", "--dir", "/data"]);
        let (_, st, _) = docker_out(&["exec", &panel, "rubra", "status", "--dir", "/data"]);
        let primaries = st.lines().filter(|l| l.contains(" primary ")).count();
        let replicas = st.lines().filter(|l| l.contains(" replica ")).count();
        (ok && primaries == 3 && replicas == 3).then_some(st)
    });
    println!("swarm cluster ready in {:?}:\n{status}", t0.elapsed());
    // The pairs the zones keep apart are the pairs rubra formed: 7003 replicates 7000...
    let row = |port: u16| {
        status
            .lines()
            .find(|l| l.contains(&format!(":{port} ")))
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    for (p, r) in [(7000, 7003), (7001, 7004), (7002, 7005)] {
        let (pr, rr) = (row(p), row(r));
        assert_eq!(pr.get(1).map(String::as_str), Some("primary"), "{status}");
        assert!(
            rr.get(1).map(String::as_str) == Some("replica") && rr.get(5) == pr.first(),
            "{r} replicates {p}: {status}"
        );
    }

    // A cluster client on the stack's network (redis-cli -c in the panel container's
    // network namespace; the overlay is not routed from the host).
    let node1 = stack.container("node-1").expect("node-1 runs");
    let (_, ip, _) = docker_out(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{name}_rubra\").IPAddress}}}}"),
        &node1,
    ]);
    assert!(
        status.contains(&format!("{ip}:7000")),
        "node-1 announces {ip}: {status}"
    );
    let (_, netns, _) = docker_out(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &panel]);
    let mut cli = Command::new("nsenter");
    cli.arg(format!("--net={netns}")).args([
        "redis-cli",
        "-c",
        "-h",
        &ip,
        "-p",
        "7000",
        "-a",
        &pw,
        "--no-auth-warning",
    ]);
    let script: String = (0..100)
        .map(|i| format!("SET w:{i} v{i}\n"))
        .chain((0..100).map(|i| format!("GET w:{i}\n")))
        .collect();
    let lines = piped_lines(cli, &script);
    let redirects = lines
        .iter()
        .filter(|l| l.starts_with("-> Redirected"))
        .count();
    let replies: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("-> Redirected"))
        .collect();
    let want: Vec<String> = std::iter::repeat_n("OK".to_string(), 100)
        .chain((0..100).map(|i| format!("v{i}")))
        .collect();
    assert_eq!(
        replies.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        want.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "writes and reads through the cluster"
    );
    assert!(redirects > 0, "keys of other primaries were redirected");
    drop(stack);
    drop(swarm);
    println!("swarm stack deploy/use/remove: {:?}", t0.elapsed());
}

/// The Swarm zones of deploy/docker-compose.yml are what the placement rule
/// (`rubra_manager::placement::place`) gives for three hosts and the pairs rubra forms
/// there (7000+k primary, 7003+k its replica; the Swarm test checks that pairing live):
/// pairs apart, primaries and all nodes spread. No engine needed.
#[test]
fn compose_zones_follow_the_placement_rule() {
    use rubra_manager::placement::{place, Want};
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/docker-compose.yml"
    );
    let text = std::fs::read_to_string(file).expect("compose file");
    // port -> zone label, from each node service's command and constraint.
    let mut in_file: BTreeMap<u16, String> = BTreeMap::new();
    let mut port: Option<u16> = None;
    for line in text.lines() {
        if let Some(i) = line.find("\"--port\", \"") {
            port = line[i + 11..]
                .split('"')
                .next()
                .and_then(|p| p.parse().ok());
        }
        if let (Some(i), Some(p)) = (line.find("node.labels."), port) {
            let label = line[i + 12..].split_whitespace().next().unwrap_or("");
            in_file.insert(p, label.to_string());
            port = None;
        }
    }
    let zones: Vec<String> = (1..=3).map(|z| format!("rubra.zone{z}")).collect();
    let nodes: Vec<Want> = (0..3u16)
        .flat_map(|k| {
            [
                Want {
                    port: 7000 + k,
                    pair: u32::from(k),
                    primary: true,
                },
                Want {
                    port: 7003 + k,
                    pair: u32::from(k),
                    primary: false,
                },
            ]
        })
        .collect();
    let rule: BTreeMap<u16, String> = place(&zones, &nodes, &BTreeMap::new())
        .expect("place")
        .into_iter()
        .map(|p| (p.port, p.host))
        .collect();
    assert_eq!(
        in_file, rule,
        "the compose file's zones vs the placement rule"
    );
}

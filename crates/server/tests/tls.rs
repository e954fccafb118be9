//! TLS on client connections, checked with Debian's redis-cli/redis-benchmark in TLS mode
//! (OpenSSL on the client side) and certificates made by the openssl CLI.

mod common;
use common::tls::Pki;
use common::*;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

/// A fresh PKI in a per-test directory.
fn pki(test: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("rubra-tls-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Pki::generate(&dir)
}

/// A server with TLS on a second free port (the plain port stays, for the harness).
fn start(pki: &Pki, extra: &[&str]) -> (TestServer, u16) {
    let tls_port = free_port();
    let mut args = pki.server_args(tls_port);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    (TestServer::start(&refs), tls_port)
}

/// Sends plain RESP to a TLS port: the server must close the connection without
/// answering (and stay up).
fn plain_text_is_refused(port: u16) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(closed, "plain-text client was not disconnected");
    assert!(
        !String::from_utf8_lossy(&got).contains("PONG"),
        "plain text served on the TLS port: {got:?}"
    );
}

/// The subject of the certificate a TLS port presents (openssl s_client).
fn served_subject(pki: &Pki, port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -CAfile {} -cert {} -key {} </dev/null 2>/dev/null | openssl x509 -noout -subject",
            pki.path("ca.crt"),
            pki.path("client.crt"),
            pki.path("client.key")
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn redis_cli_over_tls_requires_a_client_certificate_from_the_ca() {
    let pki = pki("auth");
    let (mut s, port) = start(&pki, &[]);
    assert_eq!(
        pki.cli(port, Some("client"), &["PING"]),
        (true, "PONG".into())
    );
    assert_eq!(pki.cli(port, Some("client"), &["SET", "k", "v"]).1, "OK");
    assert_eq!(pki.cli(port, Some("client"), &["GET", "k"]).1, "v");
    // The plain port serves the same data.
    assert_eq!(s.cli(&["GET", "k"]), "v");
    // tls-auth-clients yes (the default): no certificate, or one from another CA, is refused.
    let (_, out) = pki.cli(port, None, &["PING"]);
    assert!(
        !out.contains("PONG"),
        "served without a client certificate: {out}"
    );
    let (_, out) = pki.cli(port, Some("wrongclient"), &["PING"]);
    assert!(
        !out.contains("PONG"),
        "served a certificate from a wrong CA: {out}"
    );
    let (_, out) = pki.cli(port, Some("expiredclient"), &["PING"]);
    assert!(
        !out.contains("PONG"),
        "served an expired certificate: {out}"
    );
    plain_text_is_refused(port);
    assert!(s.alive());
    assert_eq!(pki.cli(port, Some("client"), &["PING"]).1, "PONG");
}

#[test]
fn auth_clients_no_and_optional() {
    let pki = pki("noauth");
    let (s, port) = start(&pki, &["--tls-auth-clients", "no"]);
    assert_eq!(pki.cli(port, None, &["PING"]).1, "PONG");
    assert_eq!(
        s.cli(&["CONFIG", "SET", "tls-auth-clients", "optional"]),
        "OK"
    );
    assert_eq!(pki.cli(port, None, &["PING"]).1, "PONG");
    assert_eq!(pki.cli(port, Some("client"), &["PING"]).1, "PONG");
    // Optional still verifies a certificate that is presented.
    let (_, out) = pki.cli(port, Some("wrongclient"), &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
    assert_eq!(s.cli(&["CONFIG", "SET", "tls-auth-clients", "yes"]), "OK");
    let (_, out) = pki.cli(port, None, &["PING"]);
    assert!(!out.contains("PONG"), "{out}");
}

#[test]
fn certificates_reload_with_config_set() {
    let pki = pki("reload");
    let (s, port) = start(&pki, &[]);
    assert!(
        served_subject(&pki, port).contains("CN = server"),
        "{}",
        served_subject(&pki, port)
    );
    // A connection opened before the reload (openssl s_client speaking RESP inline).
    let mut held = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "-CAfile",
            &pki.path("ca.crt"),
            "-cert",
            &pki.path("client.crt"),
        ])
        .args(["-key", &pki.path("client.key")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl");
    let mut held_in = held.stdin.take().expect("stdin");
    let mut held_out = held.stdout.take().expect("stdout");
    let mut echo = |tag: &str| -> String {
        held_in
            .write_all(format!("ECHO {tag}\r\n").as_bytes())
            .unwrap();
        held_in.flush().unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains(tag) {
            match held_out.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    assert!(echo("before").contains("before"));
    let reply = s.cli(&[
        "CONFIG",
        "SET",
        "tls-cert-file",
        &pki.path("server2.crt"),
        "tls-key-file",
        &pki.path("server2.key"),
    ]);
    assert_eq!(reply, "OK");
    assert!(served_subject(&pki, port).contains("CN = server2"));
    assert_eq!(pki.cli(port, Some("client"), &["PING"]).1, "PONG");
    // The connection made before the reload is still served.
    assert!(echo("after").contains("after"));
    let _ = held.kill();
    let _ = held.wait();
    // A file that is not a certificate is refused and nothing changes.
    let reply = s.cli(&["CONFIG", "SET", "tls-cert-file", &pki.path("server.csr")]);
    assert!(
        reply.contains("Unable to update TLS configuration"),
        "{reply}"
    );
    assert!(s
        .cli(&["CONFIG", "GET", "tls-cert-file"])
        .contains("server2.crt"));
    assert!(served_subject(&pki, port).contains("CN = server2"));
}

#[test]
fn protocols_and_ciphersuites_are_applied_or_refused_clearly() {
    let pki = pki("proto");
    let (s, port) = start(&pki, &["--tls-protocols", "TLSv1.3"]);
    assert_eq!(pki.cli(port, Some("client"), &["PING"]).1, "PONG");
    let reply = s.cli(&["CONFIG", "SET", "tls-protocols", "TLSv1.1 TLSv1.2"]);
    assert!(reply.contains("TLSv1.1 is not supported"), "{reply}");
    let reply = s.cli(&[
        "CONFIG",
        "SET",
        "tls-ciphersuites",
        "TLS_AES_128_CCM_SHA256",
    ]);
    assert!(
        reply.contains("TLS_AES_128_CCM_SHA256' is not supported"),
        "{reply}"
    );
    // Listeners are bound once, at start-up (as `port`).
    let reply = s.cli(&["CONFIG", "SET", "tls-port", &free_port().to_string()]);
    assert!(reply.contains("Unable to listen on this port"), "{reply}");
    let reply = s.cli(&["CONFIG", "SET", "tls-ciphers", "HIGH:!aNULL"]);
    assert!(reply.contains("tls-ciphers"), "{reply}");
    assert_eq!(
        s.cli(&[
            "CONFIG",
            "SET",
            "tls-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]),
        "OK"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -CAfile {} -cert {} -key {} </dev/null 2>&1",
            pki.path("ca.crt"),
            pki.path("client.crt"),
            pki.path("client.key")
        ))
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TLS_CHACHA20_POLY1305_SHA256"), "{text}");
    // At start-up an unsupported setting stops the node with the reason.
    let tls_port = free_port().to_string();
    let mut args = pki.server_args(free_port());
    args.extend([
        "--tls-protocols".into(),
        "TLSv1".into(),
        "--port".into(),
        tls_port,
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_rubra-server"))
        .args(&args)
        .output()
        .expect("spawn");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Failed to configure TLS") && err.contains("TLSv1"),
        "{err}"
    );
}

#[test]
fn tls_only_node_with_port_zero() {
    let pki = pki("port0");
    let tls_port = free_port();
    let dir = pki.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = pki.server_args(tls_port);
    args.extend(["--port", "0", "--save", "", "--dir"].map(String::from));
    args.push(dir.to_string_lossy().into_owned());
    let mut child = Command::new(env!("CARGO_BIN_EXE_rubra-server"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(Instant::now() < deadline, "TLS port never opened");
        assert!(matches!(child.try_wait(), Ok(None)), "node exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pong = pki.cli(tls_port, Some("client"), &["PING"]).1;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(pong, "PONG");
}

#[test]
fn redis_benchmark_runs_over_tls() {
    let pki = pki("bench");
    let (_s, port) = start(&pki, &[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "--tls",
            "--cacert",
            &pki.path("ca.crt"),
        ])
        .args([
            "--cert",
            &pki.path("client.crt"),
            "--key",
            &pki.path("client.key"),
        ])
        .args(["-q", "-t", "set,get", "-n", "20000", "-c", "10", "-P", "8"])
        .output()
        .expect("redis-benchmark must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(!stdout.to_lowercase().contains("error"), "{stdout}{stderr}");
    for name in ["SET", "GET"] {
        assert!(
            stdout
                .split(['\r', '\n'])
                .any(|l| l.trim_start().starts_with(name) && l.contains("requests per second")),
            "{stdout}"
        );
    }
}

/// Polls `f` for up to `secs` seconds.
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A replica that uses `tls-replication yes` against a primary's TLS port (a full sync, then
/// the stream), with its own client certificate checked by the primary; Debian's
/// redis-server on both sides of the link too.
#[test]
fn replication_over_tls() {
    let pki = pki("repl");
    let (primary, primary_tls) = start(&pki, &[]);
    assert_eq!(
        pki.cli(primary_tls, Some("client"), &["SET", "before", "1"])
            .1,
        "OK"
    );
    let replicaof = format!("127.0.0.1 {primary_tls}");
    let (replica, _) = start(
        &pki,
        &["--tls-replication", "yes", "--replicaof", &replicaof],
    );
    wait_for("rubra replica link up", 20, || {
        replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    assert_eq!(replica.cli(&["GET", "before"]), "1");
    assert_eq!(
        pki.cli(primary_tls, Some("client"), &["SET", "after", "2"])
            .1,
        "OK"
    );
    wait_for("streamed write", 10, || {
        replica.cli(&["GET", "after"]) == "2"
    });
    assert!(primary
        .cli(&["INFO", "replication"])
        .contains("connected_slaves:1"));

    // Debian's redis-server replicating from rubra over TLS, then rubra from it.
    let redis_port = free_port();
    let redis_tls = free_port();
    let dir = pki.dir.join("redis");
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = pki.server_args(redis_tls);
    args.extend(
        [
            "--port",
            &redis_port.to_string(),
            "--tls-replication",
            "yes",
            "--replicaof",
            "127.0.0.1",
            &primary_tls.to_string(),
            "--save",
            "",
            "--dir",
            &dir.to_string_lossy(),
        ]
        .map(String::from),
    );
    let mut redis = Command::new("redis-server")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let redis_info = || cli_at(redis_port, &["INFO", "replication"]);
    let check = std::panic::catch_unwind(|| {
        wait_for("redis-server replica link up", 20, || {
            redis_info().contains("master_link_status:up")
        });
        assert_eq!(cli_at(redis_port, &["GET", "after"]), "2");
        // rubra replica of the Debian node (its TLS port): chained, all over TLS.
        let target = format!("127.0.0.1 {redis_tls}");
        let (chained, _) = start(&pki, &["--tls-replication", "yes", "--replicaof", &target]);
        wait_for("rubra replica of redis-server link up", 20, || {
            chained
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        assert_eq!(chained.cli(&["GET", "after"]), "2");
        assert_eq!(
            pki.cli(primary_tls, Some("client"), &["SET", "chain", "3"])
                .1,
            "OK"
        );
        wait_for("write through the chain", 10, || {
            chained.cli(&["GET", "chain"]) == "3"
        });
    });
    let _ = redis.kill();
    let _ = redis.wait();
    if let Err(e) = check {
        std::panic::resume_unwind(e);
    }
}

/// A TLS-only cluster (`tls-cluster yes`, `tls-replication yes`): formed by Debian's
/// `redis-cli --cluster create --tls`, served to `redis-cli -c --tls`, bus and replica links
/// over TLS, and a replica takes over when its primary dies.
#[test]
fn cluster_over_tls_forms_serves_and_fails_over() {
    let pki = pki("cluster");
    let mut nodes = Vec::new();
    for _ in 0..6 {
        let tls_port = free_cluster_port();
        let mut args = pki.server_args(tls_port);
        args.extend(
            [
                "--tls-cluster",
                "yes",
                "--tls-replication",
                "yes",
                "--cluster-node-timeout",
                "2000",
            ]
            .map(String::from),
        );
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        nodes.push((TestServer::start_cluster(&refs), tls_port));
    }
    let tls_args = [
        "--tls",
        "--cacert",
        &pki.path("ca.crt"),
        "--cert",
        &pki.path("client.crt"),
        "--key",
        &pki.path("client.key"),
    ]
    .map(String::from);
    let mut create = Command::new("redis-cli");
    create.args(&tls_args).args(["--cluster", "create"]);
    for (_, port) in &nodes {
        create.arg(format!("127.0.0.1:{port}"));
    }
    let out = create
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[OK] All 16384 slots covered"), "{text}");
    for (_, port) in &nodes {
        wait_for("cluster_state:ok", 30, || {
            pki.cli(*port, Some("client"), &["CLUSTER", "INFO"])
                .1
                .contains("cluster_state:ok")
        });
    }
    // Clients are sent to TLS ports (MOVED/CLUSTER SLOTS carry them).
    let entry = nodes[0].1;
    for i in 0..20 {
        let (k, v) = (format!("key{i}"), format!("v{i}"));
        assert_eq!(
            pki.cli(entry, Some("client"), &["-c", "SET", &k, &v]).1,
            "OK"
        );
    }
    for i in 0..20 {
        let k = format!("key{i}");
        assert_eq!(
            pki.cli(entry, Some("client"), &["-c", "GET", &k]).1,
            format!("v{i}")
        );
    }
    // Every replica's link to its primary (a TLS port) is up.
    let replicas: Vec<usize> = (0..6)
        .filter(|i| nodes[*i].0.cli(&["ROLE"]).starts_with("slave"))
        .collect();
    assert_eq!(replicas.len(), 3);
    for i in &replicas {
        wait_for("replica link up", 20, || {
            nodes[*i]
                .0
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
    }
    // The bus port (tls-port + 10000) speaks TLS.
    assert!(served_subject(&pki, entry + 10000).contains("CN = server"));
    // Failover: kill the primary that owns key0; its replica is promoted over the TLS bus.
    let slots = pki
        .cli(entry, Some("client"), &["CLUSTER", "KEYSLOT", "key0"])
        .1;
    let owner_port: u16 = {
        let moved = pki.cli(entry, Some("client"), &["GET", "key0"]).1;
        // "v0" here means the entry node owns it; otherwise MOVED slot ip:port.
        if moved == "v0" {
            entry
        } else {
            moved
                .rsplit(':')
                .next()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or_else(|| panic!("unexpected reply {moved} (slot {slots})"))
        }
    };
    let victim = nodes
        .iter()
        .position(|(_, p)| *p == owner_port)
        .expect("owner");
    nodes[victim].0.kill9();
    let survivor = nodes[(victim + 1) % 6].1;
    wait_for("failover", 30, || {
        pki.cli(survivor, Some("client"), &["-c", "GET", "key0"]).1 == "v0"
            && pki
                .cli(survivor, Some("client"), &["CLUSTER", "INFO"])
                .1
                .contains("cluster_state:ok")
    });
}

//! `rubra up --tls` end to end: the generated CA and certificates, Debian's redis-cli in
//! TLS cluster mode, plain text refused, rubra's own commands over TLS, a primary killed
//! with -9 and its replica taking over on the TLS bus, and the panel over HTTPS.

mod common;

use common::*;
use rubra_manager::ports::bindable;
use rubra_manager::resp::Conn;
use rubra_manager::state::{pid_alive, signal};
use rubra_manager::topology::View;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The files `rubra up --tls` made in DIR/tls.
struct Files {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn of(dir: &Path) -> Files {
        let t = dir.join("tls");
        Files {
            ca: t.join("ca.crt"),
            cert: t.join("client.crt"),
            key: t.join("client.key"),
        }
    }

    /// `redis-cli --tls -c` with the CA and the client certificate, commands piped in.
    fn cli(&self, port: u16, pw: &str, script: &str) -> Vec<String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "--cacert"])
            .arg(&self.ca)
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
            .args(["-c", "-p", &port.to_string(), "-a", pw, "--no-auth-warning"]);
        piped_lines(cmd, script)
            .into_iter()
            .filter(|l| !l.starts_with("-> Redirected"))
            .collect()
    }

    /// rubra's own TLS client configuration for this cluster.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let files = rubra_manager::tlsgen::CertFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        };
        rubra_manager::tls::client_config(&self.ca, Some(&files)).expect("client config")
    }
}

/// Plain RESP on a TLS-only port: the node must close without serving it.
fn assert_plain_text_refused(port: u16) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"*1\r\n$4\r\nPING\r\n").expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(closed, "a plain-text client was not disconnected");
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("PONG") && !text.contains("NOAUTH"),
        "plain text served on a TLS port: {text:?}"
    );
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn up_tls_serves_clients_replicas_bus_and_panel_over_tls() {
    let dir = tempdir("up-tls");
    let _cleanup = TempDir(dir.clone());
    let (base, panel) = ports(6);
    let mut c = Cluster::start(Kind::Embedded, &dir, base, panel, &["--tls"]);
    let f = Files::of(&dir);
    let pw = c.password();

    // The PKI: every key private to the owner; the connect line names the CA.
    let mut keys = 0;
    for e in std::fs::read_dir(dir.join("tls")).expect("tls dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "key") {
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{p:?}");
            keys += 1;
        }
    }
    assert_eq!(keys, 1 + 1 + 6 + 1, "CA, client, 6 nodes, panel");
    let connect = c
        .printed
        .iter()
        .find(|l| l.starts_with("connect:"))
        .expect("a connect line");
    assert!(
        connect.contains(&format!("--tls --cacert {}", f.ca.display())) && connect.contains(" -c "),
        "{connect}"
    );
    assert!(
        c.printed
            .iter()
            .any(|l| l.starts_with(&format!("panel:    https://127.0.0.1:{panel}/"))),
        "{:?}",
        c.printed
    );

    // Debian's redis-cli (OpenSSL) in cluster mode: keys over all three primaries.
    let n = 300;
    let script: String = (0..n).map(|i| format!("SET key:{i} v:{i}\n")).collect();
    let out = f.cli(base, &pw, &script);
    assert_eq!(out.iter().filter(|l| *l == "OK").count(), n, "{out:?}");
    let script: String = (0..n).map(|i| format!("GET key:{i}\n")).collect();
    let want: Vec<String> = (0..n).map(|i| format!("v:{i}")).collect();
    assert_eq!(f.cli(base + 1, &pw, &script), want);

    // Every port is TLS only: plain text is refused, the client and bus ports alike;
    // so is a TLS client without a certificate from the CA.
    for p in base..base + 6 {
        assert_plain_text_refused(p);
    }
    assert_plain_text_refused(base + 10000);
    let out = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(&f.ca)
        .args([
            "-p",
            &base.to_string(),
            "-a",
            &pw,
            "--no-auth-warning",
            "PING",
        ])
        .output()
        .expect("redis-cli");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PONG"),
        "served a client without a certificate"
    );

    // CLUSTER SLOTS/NODES announce the TLS ports; the replica links are up over TLS.
    let cfg = f.client();
    let mut conn = Conn::connect_tls(&format!("127.0.0.1:{base}"), Some(&pw), Some(&cfg))
        .expect("rubra's TLS connection");
    let view = View::fetch(&mut conn).expect("view");
    assert_eq!(view.nodes.len(), 6);
    assert!(view
        .nodes
        .iter()
        .all(|n| (base..base + 6).contains(&n.port)));
    for r in view.nodes.iter().filter(|n| !n.is_primary()) {
        let mut rc = Conn::connect_tls(&format!("127.0.0.1:{}", r.port), Some(&pw), Some(&cfg))
            .expect("replica");
        let t0 = Instant::now();
        while !rc
            .text(&["INFO", "replication"])
            .expect("info")
            .contains("master_link_status:up")
        {
            assert!(t0.elapsed() < Duration::from_secs(20), "replica link down");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // rubra's own commands reach the TLS nodes.
    let (ok, out) = c.run(&["status"]);
    assert!(ok, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains("127.0.0.1:")).count(),
        6,
        "{out}"
    );
    let (ok, out) = c.run(&["check"]);
    assert!(ok, "{out}");

    // The panel: HTTPS with a certificate from the cluster's CA (curl trusts nothing
    // else), and no plain HTTP.
    let url = format!("https://127.0.0.1:{panel}/");
    let (ok, body) = curl(&["--cacert", &f.ca.to_string_lossy(), &url]);
    assert!(ok && body.contains("<html"), "{body}");
    let (ok, body) = curl(&[
        "--cacert",
        &f.ca.to_string_lossy(),
        "-u",
        &format!("admin:{pw}"),
        &format!("{url}api/cluster"),
    ]);
    assert!(ok && body.contains("\"nodes\""), "{body}");
    // Signing in over HTTPS sets a session cookie the browser keeps off plain HTTP.
    let (ok, headers) = curl(&[
        "--cacert",
        &f.ca.to_string_lossy(),
        "-i",
        "--data-urlencode",
        "username=admin",
        "--data-urlencode",
        &format!("password={pw}"),
        &format!("{url}login"),
    ]);
    let cookie = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(ok && cookie.contains("; Secure"), "{headers}");
    // The panel's console reaches the TLS-only nodes (routed by key slot).
    for (line, want) in [
        (r#"{"line":"SET console:tls v1"}"#, "OK"),
        (r#"{"line":"GET console:tls"}"#, "v1"),
    ] {
        let (ok, body) = curl(&[
            "--cacert",
            &f.ca.to_string_lossy(),
            "-H",
            &format!("Authorization: Bearer {pw}"),
            "-H",
            "Content-Type: application/json",
            "--data",
            line,
            &format!("{url}api/console"),
        ]);
        assert!(
            ok && body.contains(want) && !body.contains("\"error\""),
            "{line}: {body}"
        );
    }
    let (ok, _) = curl(&[&url]);
    assert!(
        !ok,
        "the panel's certificate must not be trusted without the CA"
    );
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{panel}/")]);
    assert!(!ok, "the panel answered plain HTTP");

    // The CLI reaches the supervisor over HTTPS too when its Unix socket is gone.
    std::fs::remove_file(dir.join("api.sock")).expect("remove the API socket");
    let (ok, out) = c.run(&["autoscale", "off"]);
    assert!(ok && out.contains("\"autoscale\":false"), "{out}");

    // kill -9 of a primary (supervisor gone first, so nothing restarts it): its replica
    // takes over through failure reports and an election on the TLS bus.
    let victim = view
        .primaries()
        .into_iter()
        .find(|n| n.port != base)
        .expect("a primary")
        .clone();
    let heir = view.replicas_of(&victim.id)[0].clone();
    let pid = c
        .state()
        .nodes
        .iter()
        .find(|n| n.port == victim.port)
        .and_then(|n| n.pid)
        .expect("victim pid");
    c.kill_supervisor();
    signal(pid, libc::SIGKILL);
    let t0 = Instant::now();
    loop {
        let promoted =
            Conn::connect_tls(&format!("127.0.0.1:{}", heir.port), Some(&pw), Some(&cfg))
                .and_then(|mut hc| View::fetch(&mut hc))
                .is_ok_and(|v| {
                    v.myself()
                        .is_some_and(|m| m.is_primary() && m.slot_count() > 0)
                });
        if promoted {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "replica {} not promoted",
            heir.port
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!pid_alive(pid));
    // Clients follow the new primary (redis-cli is sent to its TLS port).
    let t0 = Instant::now();
    loop {
        if f.cli(base, &pw, &script) == want {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "keys not served after failover"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // `rubra up` again on the same dir: still TLS (without the flag), the killed node
    // comes back as a replica.
    drop(conn);
    drop(c);
    // The killed nodes' sockets can hold their ports for a while after the processes are
    // gone (longer than `rubra up`'s own 5 s grace); a user restarting after a crash waits
    // the same way.
    let t0 = Instant::now();
    while !(base..base + 6).all(|p| bindable(p) && bindable(p + 10000))
        && t0.elapsed() < Duration::from_secs(90)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = Cluster::start(Kind::Embedded, &dir, base, panel, &[]);
    assert!(
        c.printed.iter().any(|l| l.contains("--tls --cacert")),
        "{:?}",
        c.printed
    );
    c.wait_check();
    let mut conn = Conn::connect_tls(&format!("127.0.0.1:{}", victim.port), Some(&pw), Some(&cfg))
        .expect("old primary back");
    let me = View::fetch(&mut conn).expect("view");
    assert!(
        !me.myself().expect("myself").is_primary(),
        "came back as a replica"
    );
    assert_eq!(f.cli(base + 2, &pw, &script), want);
}

//! Admin panel and API over real HTTP against a real `rubra up` (redis-server nodes):
//! login page only before login, 401s, wrong password, cookie flags, CSRF and Origin
//! checks, cluster JSON, history, key browser, background ops, /metrics format, logout
//! and the login lock-out (last, since it locks this client IP out for a minute), which
//! the CLI's Unix socket is not subject to.

mod common;

use common::{cli, ports, tempdir, write_keys, Cluster, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
mod panel_api_kit;
use panel_api_kit::*;

#[test]
fn panel_http_security_and_api() {
    let dir = tempdir("panel-api");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(7);
    let c = Cluster::up(&dir, base, panel, &[]);
    let pw = c.password();
    let a = c.panel.clone();
    let bearer = format!("Bearer {pw}");

    // Before login: only the login form; nothing about the cluster.
    let r = http(&a, "GET", "/", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("id=\"login-form\""), "{}", r.body);
    assert!(!r.body.contains("slotmap") && !r.body.contains(&base.to_string()));
    assert!(!r.body.contains(&pw));
    let csp = r.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    for p in [
        "/api/cluster",
        "/api/events",
        "/api/metrics/history",
        "/api/ops",
        "/api/keys",
        "/api/key?key=x",
        "/api/key/page?key=x&cursor=0",
        "/api/slowlog",
        "/api/hotkeys",
        "/api/stream",
        "/metrics",
        "/static/app.js",
    ] {
        let r = http(&a, "GET", p, &[], "");
        assert_eq!(r.status, 401, "{p}: {}", r.body);
        assert!(
            r.header("www-authenticate").is_none(),
            "no browser Basic prompt"
        );
    }
    for (p, body) in NEW_POSTS {
        let r = http(&a, "POST", p, &[], body);
        assert_eq!(r.status, 401, "{p}: {}", r.body);
        assert_eq!(r.json()["error"], "unauthorized", "{p}");
    }
    let r = http(&a, "POST", "/api/scale", &[], r#"{"action":"add_pair"}"#);
    assert_eq!(r.status, 401);

    // Wrong password: refused, no cookie.
    let r = login(&a, "admin", "wrong");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Wrong user name or password"));
    assert!(r.header("set-cookie").is_none());
    let r = login(&a, "root", &pw);
    assert_eq!(r.status, 401, "only user admin");

    // Right password: a session cookie with the right flags.
    let r = login(&a, "admin", &pw);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some("/"));
    let sc = r.header("set-cookie").expect("set-cookie").to_string();
    assert!(sc.starts_with("rubra_session="), "{sc}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(sc.contains(flag), "{flag} missing in {sc}");
    }
    let token = sc
        .trim_start_matches("rubra_session=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 64);
    let cookie = format!("rubra_session={token}");
    let ck = [("Cookie", cookie.as_str())];

    // The app page carries the CSRF token; never the password.
    let r = http(&a, "GET", "/", &ck, "");
    assert!(r.body.contains("id=\"slotmap\""));
    assert!(!r.body.contains(&pw));
    let csrf = r
        .body
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(csrf.len(), 64);
    assert_eq!(http(&a, "GET", "/static/app.js", &ck, "").status, 200);

    // Cluster JSON through the session.
    let r = http(&a, "GET", "/api/cluster", &ck, "");
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["state"], "ok");
    let nodes = j["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6);
    assert_eq!(nodes.iter().filter(|n| n["role"] == "primary").count(), 3);
    let slots: u64 = nodes
        .iter()
        .map(|n| n["slot_count"].as_u64().unwrap())
        .sum();
    assert_eq!(slots, 16384);
    for n in nodes {
        for f in [
            "addr",
            "reach",
            "connected_clients",
            "used_memory",
            "link",
            "keys",
        ] {
            assert!(!n[f].is_null(), "{f} missing: {n}");
        }
        if n["role"] == "replica" {
            assert!(n["primary_id"].is_string());
        } else {
            assert_eq!(n["replicas"].as_array().map(Vec::len), Some(1));
        }
    }
    assert!(j["autoscale_status"]["rule"].is_string());
    assert_eq!(j["autoscale"], false);

    // CSRF: cookie without token, wrong token, foreign Origin -> 403; right token -> 200.
    let body = r#"{"enabled":true}"#;
    let json_ct = ("Content-Type", "application/json");
    let r = http(&a, "POST", "/api/autoscale", &[ck[0], json_ct], body);
    assert_eq!(r.status, 403, "{}", r.body);
    let bad = "0".repeat(64);
    let r = http(
        &a,
        "POST",
        "/api/autoscale",
        &[ck[0], json_ct, ("X-CSRF-Token", &bad)],
        body,
    );
    assert_eq!(r.status, 403);
    let r = http(
        &a,
        "POST",
        "/api/autoscale",
        &[
            ck[0],
            json_ct,
            ("X-CSRF-Token", &csrf),
            ("Origin", "http://evil.example"),
        ],
        body,
    );
    assert_eq!(r.status, 403);
    let origin = format!("http://{a}");
    let sess_post = [
        ck[0],
        json_ct,
        ("X-CSRF-Token", csrf.as_str()),
        ("Origin", origin.as_str()),
    ];
    let r = http(&a, "POST", "/api/autoscale", &sess_post, body);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http(
        &a,
        "POST",
        "/api/autoscale",
        &sess_post,
        r#"{"enabled":false}"#,
    );
    assert_eq!(r.status, 200);
    // Bearer (the CLI) needs no CSRF token.
    let r = http(
        &a,
        "POST",
        "/api/autoscale",
        &[("Authorization", &bearer), json_ct],
        r#"{"enabled":false}"#,
    );
    assert_eq!(r.status, 200);

    // Key browser: scan (bounded pages), get, delete.
    write_keys(base, &pw, 50);
    let script: String = (0..150).map(|i| format!("RPUSH mylist e{i}\n")).collect();
    cli(base, &pw, &script);
    cli(base, &pw, "HSET myhash f1 v1 f2 v2\nSET tmp x EX 300\n");
    let mut found = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut pages = 0;
    for _ in 0..100 {
        let r = http(
            &a,
            "GET",
            &format!("/api/keys?pattern=key%3A*&count=20&cursor={cursor}"),
            &ck,
            "",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        let keys = j["keys"].as_array().unwrap();
        // About `count`: a SCAN call may return a little more than asked.
        assert!(keys.len() <= 50, "{}", keys.len());
        pages += 1;
        for k in keys {
            found.insert(k["key"].as_str().unwrap().to_string());
        }
        cursor = j["cursor"].as_str().unwrap().to_string();
        if j["done"] == true {
            break;
        }
    }
    assert_eq!(found.len(), 50, "{found:?}");
    assert!(pages >= 2, "paged over the primaries");
    assert!(found.iter().all(|k| k.starts_with("key:")));
    let j = http(&a, "GET", "/api/key?key=key%3A7", &ck, "").json();
    assert_eq!(j["type"], "string");
    assert_eq!(j["value"], "v:7");
    assert_eq!(j["ttl_ms"], -1);
    let j = http(&a, "GET", "/api/key?key=mylist", &ck, "").json();
    assert_eq!(j["type"], "list");
    assert_eq!(j["size"], 150);
    assert_eq!(j["value"].as_array().map(Vec::len), Some(100));
    assert_eq!(j["truncated"], true);
    // Large values are paged: the rest of the list, every field of a big hash, a long
    // string, each read a page at a time until the cursor is "0".
    assert_eq!(j["next"], "100");
    let p = http(&a, "GET", "/api/key/page?key=mylist&cursor=100", &ck, "").json();
    assert_eq!(p["items"].as_array().map(Vec::len), Some(50), "{p}");
    assert_eq!(p["cursor"], "0");
    let fields: String = (0..300).map(|i| format!(" f{i} v{i}")).collect();
    cli(
        base,
        &pw,
        &format!("HSET bighash{fields}\nSET bigstr {}\n", "s".repeat(10_000)),
    );
    let mut seen = std::collections::BTreeSet::new();
    let first = http(&a, "GET", "/api/key?key=bighash", &ck, "").json();
    for f in first["value"].as_array().unwrap() {
        seen.insert(f["field"].as_str().unwrap().to_string());
    }
    let mut cursor = first["next"].as_str().unwrap().to_string();
    let mut pages = 1;
    while cursor != "0" {
        let p = http(
            &a,
            "GET",
            &format!("/api/key/page?key=bighash&cursor={cursor}"),
            &ck,
            "",
        );
        assert_eq!(p.status, 200, "{}", p.body);
        let p = p.json();
        for f in p["items"].as_array().unwrap() {
            seen.insert(f["field"].as_str().unwrap().to_string());
        }
        cursor = p["cursor"].as_str().unwrap().to_string();
        pages += 1;
        assert!(pages < 50, "paging ends");
    }
    // (How many pages SCAN takes is the node's choice; every field must come.)
    assert_eq!(seen.len(), 300, "every field, over {pages} pages");
    let s1 = http(&a, "GET", "/api/key?key=bigstr", &ck, "").json();
    let mut text = s1["value"].as_str().unwrap().to_string();
    let mut cursor = s1["next"].as_str().unwrap().to_string();
    while cursor != "0" {
        let p = http(
            &a,
            "GET",
            &format!("/api/key/page?key=bigstr&cursor={cursor}"),
            &ck,
            "",
        )
        .json();
        text.push_str(p["items"][0].as_str().unwrap());
        cursor = p["cursor"].as_str().unwrap().to_string();
    }
    assert_eq!(text.len(), 10_000);
    assert_eq!(
        s1["value"].as_str().map(str::len),
        Some(4096),
        "the first page only"
    );
    let r = http(&a, "GET", "/api/key/page?key=bigstr&cursor=abc", &ck, "");
    assert_eq!(r.status, 400);
    assert_eq!(cli(base, &pw, "DEL bighash\nDEL bigstr\n"), ["1", "1"]);
    let j = http(&a, "GET", "/api/key?key=myhash", &ck, "").json();
    assert_eq!(j["type"], "hash");
    assert_eq!(j["size"], 2);
    let j = http(&a, "GET", "/api/key?key=tmp", &ck, "").json();
    assert!(j["ttl_ms"].as_i64().unwrap() > 0);
    let r = http(
        &a,
        "POST",
        "/api/key/delete",
        &[ck[0], json_ct],
        r#"{"key":"key:7"}"#,
    );
    assert_eq!(r.status, 403, "delete needs the CSRF token");
    let r = http(
        &a,
        "POST",
        "/api/key/delete",
        &sess_post,
        r#"{"key":"key:7"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["deleted"], 1);
    let j = http(&a, "GET", "/api/key?key=key%3A7", &ck, "").json();
    assert_eq!(j["found"], false);

    live_stream(&a, &ck, &sess_post);
    console_api(&a, &ck, &sess_post, &bearer);
    slowlog_api(&a, &ck, &sess_post);
    edit_api(&a, &ck, &sess_post, base, &pw);
    hotkeys_api(&a, &ck, &sess_post, base, &pw);
    csrf_and_validation(&a, &ck, &csrf, &bearer);
    let events = http(&a, "GET", "/api/events", &ck, "").json().to_string();
    assert!(events.contains("\"kind\":\"console\""), "{events}");
    assert!(events.contains("\"command\":\"HSET\""), "{events}");
    assert!(
        !events.contains("console-secret"),
        "console arguments kept out of events"
    );

    // History: a sample every 5 s, columnar.
    let t0 = Instant::now();
    let h = loop {
        let h = http(&a, "GET", "/api/metrics/history", &ck, "").json();
        if h["ts"].as_array().map(Vec::len).unwrap_or(0) >= 2 {
            break h;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "no samples: {h}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let n = h["ts"].as_array().unwrap().len();
    assert_eq!(h["interval_secs"], 5);
    assert_eq!(h["capacity"], 720);
    assert_eq!(h["nodes"].as_object().map(|m| m.len()), Some(6));
    for m in ["ops", "mem", "cpu", "keys", "net"] {
        assert_eq!(h["total"][m].as_array().map(Vec::len), Some(n), "{m}");
    }
    assert!(h["total"]["mem"][n - 1].as_u64().unwrap() > 0);
    // Per-node load from two samples: network rates, commands/s by command (the
    // supervisor's own INFO and CLUSTER NODES at least), the memory breakdown.
    let cj = http(&a, "GET", "/api/cluster", &ck, "").json();
    let nodes = cj["nodes"].as_array().cloned().unwrap_or_default();
    assert!(
        nodes.iter().all(|n| n["mem_dataset"].as_u64().is_some()
            && n["mem_overhead"].as_u64().is_some()
            && n["mem_fragmentation"].as_f64().is_some()),
        "{cj}"
    );
    assert!(
        nodes.iter().all(|n| n.get("cmd_calls").is_none()),
        "raw counters stay inside"
    );
    let loaded = nodes
        .iter()
        .filter(|n| n["load"]["net_in"].as_f64().is_some_and(|x| x > 0.0))
        .filter(|n| {
            // Every node answers at least the supervisor's own INFO between two samples.
            n["load"]["commands"].as_array().is_some_and(|cs| {
                !cs.is_empty()
                    && cs.iter().all(|c| {
                        c[0].as_str().is_some_and(|name| !name.is_empty())
                            && c[1].as_f64().is_some_and(|r| r > 0.0)
                    })
            })
        })
        .count();
    assert_eq!(loaded, 6, "every node shows its load: {cj}");

    // /metrics: Prometheus text, Basic auth.
    let basic = format!("Basic {}", b64(&format!("admin:{pw}")));
    let r = http(&a, "GET", "/metrics", &[("Authorization", &basic)], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/plain; version=0.0.4"));
    let m = &r.body;
    assert!(m.contains("rubra_cluster_nodes{role=\"primary\"} 3"), "{m}");
    assert!(m.contains("rubra_cluster_slots_assigned 16384"));
    assert!(m.contains("rubra_cluster_state_ok 1"));
    for name in [
        "rubra_node_keys",
        "rubra_node_memory_used_bytes",
        "rubra_node_ops_per_second",
        "rubra_node_cpu_seconds_total",
        "rubra_node_slots",
        "rubra_node_link_up",
        "rubra_node_replication_lag_bytes",
        "rubra_node_primary",
    ] {
        assert!(m.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(m.contains(&format!("{name}{{node=\"")), "{name}");
    }
    for line in m.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad value in {line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert!(m.contains(&format!("# TYPE {name} ")), "no TYPE for {line}");
    }
    let keys_total: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("rubra_cluster_keys "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(keys_total, 49.0 + 3.0);

    // A background operation: 202 + op id at once, then progress to done.
    let r = http(
        &a,
        "POST",
        "/api/rebalance",
        &[("Authorization", &bearer), json_ct],
        r#"{"threshold":0}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["op"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    loop {
        let j = http(&a, "GET", &format!("/api/ops/{id}"), &ck, "").json();
        if j["status"] != "running" {
            assert_eq!(j["status"], "done", "{j}");
            assert_eq!(j["kind"], "rebalance");
            // Keys and bytes sent by the moves are part of the progress.
            assert!(j["keys"].is_u64() && j["bytes"].is_u64(), "{j}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = http(&a, "GET", "/api/ops/nope", &ck, "");
    assert_eq!(r.status, 404);
    let j = http(&a, "GET", "/api/events", &ck, "").json();
    assert!(j
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "key_deleted"));
    assert!(!j.to_string().contains(&pw), "password in events");

    // Logout ends the session.
    let form = format!("csrf={csrf}");
    let r = http(
        &a,
        "POST",
        "/logout",
        &[ck[0], ("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(r.status, 303);
    assert!(r.header("set-cookie").unwrap_or("").contains("Max-Age=0"));
    assert_eq!(http(&a, "GET", "/api/cluster", &ck, "").status, 401);
    assert!(http(&a, "GET", "/", &ck, "").body.contains("login-form"));

    // Rate limit: at most 5 failures a minute (the ones above may have aged out); then
    // even the right password (form or Bearer) is answered 429 for a while.
    let mut refused = 0;
    for _ in 0..5 {
        match login(&a, "admin", "guess").status {
            401 => refused += 1,
            429 => break,
            s => panic!("unexpected {s}"),
        }
    }
    assert!((3..=5).contains(&refused), "{refused}");
    let r = login(&a, "admin", &pw);
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(r.header("set-cookie").is_none());
    let r = http(&a, "GET", "/api/cluster", &[("Authorization", &bearer)], "");
    assert_eq!(r.status, 429);
    // So is every console, key-edit, slow-log and hot-key call from this address with the
    // password (a session that was already open is not locked out).
    for p in [
        "/api/slowlog",
        "/api/hotkeys",
        "/api/key/page?key=x&cursor=0",
        "/api/stream",
    ] {
        let r = http(&a, "GET", p, &[("Authorization", &bearer)], "");
        assert_eq!(r.status, 429, "{p}: {}", r.body);
        assert!(r.header("retry-after").is_some(), "{p}");
    }
    for (p, body) in NEW_POSTS {
        let r = http(&a, "POST", p, &[("Authorization", &bearer), json_ct], body);
        assert_eq!(r.status, 429, "{p}: {}", r.body);
        assert!(r.header("retry-after").is_some(), "{p}");
    }
    // The lock-out is per user and address: another user name is still checked (401).
    assert_eq!(login(&a, "operator", "guess").status, 401);
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    let locked: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("\"login_locked\""))
        .collect();
    assert_eq!(locked.len(), 1, "{events}");
    assert!(locked[0].contains("\"user\":\"admin\"") && locked[0].contains("\"seconds\":60"));
    // The CLI's channel, the data directory's socket, is not locked out: the operator can
    // still act while a guesser holds the TCP port's lock-out.
    let sock = dir.join("api.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let req = format!(
        "GET /api/cluster HTTP/1.1\r\nHost: localhost\r\nAuthorization: {bearer}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // The console over the socket works too.
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    let body = r#"{"line":"PING"}"#;
    let req = format!(
        "POST /api/console HTTP/1.1\r\nHost: localhost\r\nAuthorization: {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(
        raw.starts_with("HTTP/1.1 200") && raw.contains("PONG"),
        "{raw}"
    );
    let (ok, out) = c.run(&["rebalance"]);
    assert!(
        ok,
        "rubra rebalance through the socket while locked out: {out}"
    );
    // Nothing in the supervisor's own files shows the password except credentials.
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap_or_default();
    assert!(!events.contains(&pw));
}

//! The API checks `panel_api` runs in turn against one `rubra up`: the live event
//! stream, the console, redirects, the slow log, key edits, hot keys, CSRF and validation.

use super::*;

/// GET /api/stream: server-sent events; the cluster snapshot arrives as a `cluster` event
/// (the /api/cluster shape) and a new supervisor event as an `event`, without polling.
pub(crate) fn live_stream(a: &str, ck: &[(&str, &str)], sess_post: &[(&str, &str)]) {
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let req = format!(
        "GET /api/stream HTTP/1.1\r\nHost: {a}\r\nCookie: {}\r\nAccept: text/event-stream\r\n\r\n",
        ck[0].1
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut triggered = false;
    let t0 = Instant::now();
    let text = loop {
        let mut buf = [0u8; 65536];
        match s.read(&mut buf) {
            Ok(0) => panic!("stream closed: {}", String::from_utf8_lossy(&raw)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        if !triggered && text.contains("event: cluster") {
            // A supervisor event while the stream is open must be pushed too.
            let body = r#"{"line":"PING"}"#;
            assert_eq!(http(a, "POST", "/api/console", sess_post, body).status, 200);
            triggered = true;
        }
        if triggered && text.contains("event: event") && text.contains("\"console\"") {
            break text;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no events in: {text}"
        );
    };
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    // The cluster event's data is the /api/cluster JSON (one data line).
    let data = text
        .split("event: cluster\n")
        .nth(1)
        .and_then(|rest| rest.strip_prefix("data: "))
        .and_then(|rest| rest.split('\n').next())
        .expect("cluster data line");
    let c: serde_json::Value = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
    assert_eq!(c["nodes"].as_array().map(Vec::len), Some(6), "{c}");
    assert_eq!(c["state"], "ok");
    // Reconnects: the stream tells browsers how soon to come back (EventSource's
    // `retry`, in ms), and after this connection drops, a new one gets the latest
    // snapshot at once (it does not wait for the next sample).
    assert!(text.contains("retry: 2000\n"), "{text}");
    drop(s);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let t0 = Instant::now();
    let again = loop {
        let mut buf = [0u8; 65536];
        match s.read(&mut buf) {
            Ok(0) => panic!("second stream closed: {}", String::from_utf8_lossy(&raw)),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        if text.contains("event: cluster\ndata: {") {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no snapshot on reconnect: {text}"
        );
    };
    assert!(again < Duration::from_secs(3), "snapshot after {again:?}");
    // Without a session or password the stream is refused like every API call.
    assert_eq!(http(a, "GET", "/api/stream", &[], "").status, 401);
}

/// POST /api/console: routing by key slot (the answering node is each key's owner as the
/// key browser reports it), typed RESP3 replies, binary values in hex, fan-out to every
/// primary, a chosen node for keyless commands, and refusals with clear errors.
pub(crate) fn console_api(a: &str, ck: &[(&str, &str)], sess_post: &[(&str, &str)], bearer: &str) {
    let run =
        |body: serde_json::Value| http(a, "POST", "/api/console", sess_post, &body.to_string());
    let one = |line: &str| {
        let r = run(serde_json::json!({ "line": line }));
        assert_eq!(r.status, 200, "{line}: {}", r.body);
        let j = r.json();
        j["results"][0].clone()
    };
    // Keys of different slots land on their owners.
    let mut nodes = std::collections::BTreeSet::new();
    for k in ["con:a", "con:b", "con:c", "con:d", "con:e", "con:f"] {
        let set = one(&format!("SET {k} \"value of {k}\""));
        assert_eq!(set["reply"]["type"], "status");
        assert_eq!(set["reply"]["text"], "OK");
        let owner = http(
            a,
            "GET",
            &format!("/api/key?key={}", k.replace(':', "%3A")),
            ck,
            "",
        )
        .json();
        assert_eq!(set["node"], owner["node"], "{k} answered by its owner");
        let get = one(&format!("GET {k}"));
        assert_eq!(get["reply"]["text"], format!("value of {k}"));
        assert_eq!(get["node"], owner["node"]);
        nodes.insert(set["node"].to_string());
    }
    assert!(
        nodes.len() >= 2,
        "six keys spread over several primaries: {nodes:?}"
    );
    // Binary values come back as hex; RESP3 maps as maps; integers typed.
    one(r#"SET con:bin "\xff\x00a""#);
    assert_eq!(one("GET con:bin")["reply"]["hex"], "ff0061");
    assert_eq!(
        one("HSET con:h f1 console-secret f2 x")["reply"]["value"],
        2
    );
    let h = one("HGETALL con:h");
    assert_eq!(h["reply"]["type"], "map", "{h}");
    assert_eq!(h["reply"]["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(one("GET con:none")["reply"]["type"], "null");
    assert_eq!(one("INCR con:a")["reply"]["type"], "error");
    // Every primary, on request.
    let r = run(serde_json::json!({"line": "DBSIZE", "all": true}));
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json()["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|x| x["reply"]["type"] == "integer"));
    // A chosen node for keyless commands: a replica answers ROLE as a replica.
    let cluster = http(a, "GET", "/api/cluster", ck, "").json();
    let replica = cluster["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["role"] == "replica"))
        .map(|n| n["id"].clone())
        .expect("a replica");
    let r = run(serde_json::json!({"line": "ROLE", "node": replica}));
    let res = &r.json()["results"][0];
    assert_eq!(res["node"], replica);
    assert_eq!(res["reply"]["items"][0]["text"], "slave", "{res}");
    redirects(a, ck, &run, &one, &cluster, bearer);
    // Refusals: unconfirmed danger (409), connection-taking and malformed input (400).
    let r = run(serde_json::json!({"line": "FLUSHALL"}));
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(r.json()["refused"], "confirm");
    assert_eq!(
        one("EXISTS con:a")["reply"]["value"],
        1,
        "FLUSHALL did not run"
    );
    let r = run(serde_json::json!({"line": "SUBSCRIBE ch"}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .unwrap_or("")
        .contains("redis-cli"));
    assert_eq!(run(serde_json::json!({"line": "GET \"open"})).status, 400);
    assert_eq!(run(serde_json::json!({"line": "   "})).status, 400);
    let long = "x".repeat(70 * 1024);
    assert_eq!(
        run(serde_json::json!({ "line": format!("SET k {long}") })).status,
        400
    );
    assert_eq!(run(serde_json::json!({"nope": 1})).status, 400);
    // The session needs its CSRF token; Bearer (scripts) does not.
    let r = http(a, "POST", "/api/console", &[ck[0]], r#"{"line":"PING"}"#);
    assert_eq!(r.status, 403);
    let r = http(
        a,
        "POST",
        "/api/console",
        &[("Authorization", bearer)],
        r#"{"line":"PING"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["results"][0]["reply"]["text"], "PONG");
    // Leave the keyspace as found (later checks count keys).
    for k in ["a", "b", "c", "d", "e", "f", "bin", "h"] {
        assert_eq!(one(&format!("DEL con:{k}"))["reply"]["value"], 1, "con:{k}");
    }
}

/// The console follows MOVED and ASK to the node that has the key, and says so.
/// MOVED: the same GET sent to every primary ("all") is answered by the key's owner each
/// time, the non-owners' MOVED replies listed as redirects. ASK: slot S is set migrating
/// from its owner to another primary with plain CLUSTER SETSLOT steps (the supervisor's
/// view still names the owner, as during a real migration); a key already moved to the
/// target is answered by the target after the owner's ASK, a key not yet moved by the
/// owner without a redirect.
pub(crate) fn redirects(
    a: &str,
    ck: &[(&str, &str)],
    run: &dyn Fn(serde_json::Value) -> Resp,
    one: &dyn Fn(&str) -> serde_json::Value,
    cluster: &serde_json::Value,
    bearer: &str,
) {
    let pw = bearer.trim_start_matches("Bearer ");
    let primaries: Vec<(String, u16)> = cluster["nodes"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .filter(|n| n["role"] == "primary" && n["slot_count"].as_u64() > Some(0))
                .filter_map(|n| {
                    let port = n["addr"].as_str()?.rsplit(':').next()?.parse().ok()?;
                    Some((n["id"].as_str()?.to_string(), port))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(primaries.len(), 3, "{cluster}");
    assert_eq!(one("SET {ask}old here")["reply"]["text"], "OK");
    let owner = http(a, "GET", "/api/key?key=%7Bask%7Dold", ck, "").json()["node"]
        .as_str()
        .expect("owner of {ask}old")
        .to_string();
    let slot = one("CLUSTER KEYSLOT {ask}old")["reply"]["value"]
        .as_u64()
        .expect("slot");
    let (target, target_port) = primaries
        .iter()
        .find(|(id, _)| *id != owner)
        .cloned()
        .expect("another primary");

    // MOVED, from each non-owner.
    let r = run(serde_json::json!({"line": "GET {ask}old", "all": true}));
    assert_eq!(r.status, 200, "{}", r.body);
    let all = r.json()["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 3, "{all:?}");
    let mut moved = 0;
    for res in &all {
        assert_eq!(res["node"], owner.as_str(), "{res}");
        assert_eq!(res["reply"]["text"], "here", "{res}");
        let hops = res["redirects"].as_array().cloned().unwrap_or_default();
        if let Some(h) = hops.first() {
            assert_eq!(hops.len(), 1, "{res}");
            let h = h.as_str().unwrap_or("");
            assert!(h.starts_with(&format!("MOVED {slot} ")), "{res}");
            moved += 1;
        }
    }
    assert_eq!(moved, 2, "the two other primaries redirected: {all:?}");

    // ASK: the slot half-way from owner to target.
    let setslot = |node: &str, what: String| {
        let line = format!("CLUSTER SETSLOT {slot} {what}");
        let r = run(serde_json::json!({"line": line, "node": node, "confirm": true}));
        assert_eq!(r.status, 200, "{line}: {}", r.body);
        let res = &r.json()["results"][0];
        assert_eq!(res["reply"]["text"], "OK", "{line} on {node}: {res}");
    };
    setslot(&target, format!("IMPORTING {owner}"));
    setslot(&owner, format!("MIGRATING {target}"));
    assert_eq!(
        cli(target_port, pw, "ASKING\nSET {ask}new there\n"),
        ["OK", "OK"]
    );
    let get = one("GET {ask}new");
    assert_eq!(get["reply"]["text"], "there", "{get}");
    assert_eq!(
        get["node"],
        target.as_str(),
        "answered by the target: {get}"
    );
    let hops = get["redirects"].as_array().cloned().unwrap_or_default();
    assert_eq!(hops.len(), 1, "{get}");
    assert!(
        hops[0]
            .as_str()
            .is_some_and(|h| h.starts_with(&format!("ASK {slot} "))),
        "{get}"
    );
    let old = one("GET {ask}old");
    assert_eq!(old["reply"]["text"], "here", "{old}");
    assert_eq!(old["node"], owner.as_str(), "{old}");
    assert_eq!(old["redirects"].as_array().map(Vec::len), Some(0), "{old}");
    // A write of a key in neither place goes to the target too (ASK), as in a migration.
    let set = one("SET {ask}third 3");
    assert_eq!(set["node"], target.as_str(), "{set}");
    // Put the slot back as it was.
    assert_eq!(
        cli(target_port, pw, "ASKING\nDEL {ask}new {ask}third\n"),
        ["OK", "2"]
    );
    setslot(&owner, "STABLE".into());
    setslot(&target, "STABLE".into());
    assert_eq!(one("DEL {ask}old")["reply"]["value"], 1);
    assert_eq!(one("EXISTS {ask}new {ask}third")["reply"]["value"], 0);
}

/// GET /api/slowlog merges every node's SLOWLOG newest first, tagged with the node;
/// POST /api/slowlog/reset clears them.
pub(crate) fn slowlog_api(a: &str, ck: &[(&str, &str)], sess_post: &[(&str, &str)]) {
    let console = |line: &str, all: bool| {
        let body = serde_json::json!({"line": line, "all": all, "confirm": true});
        let r = http(a, "POST", "/api/console", sess_post, &body.to_string());
        assert_eq!(r.status, 200, "{line}: {}", r.body);
        r.json()["results"].clone()
    };
    console("CONFIG SET slowlog-log-slower-than 0", true);
    let marker_node = console("SET slow:marker x", false)[0]["node"].clone();
    let other_node = console("SET slow:zzz y", false)[0]["node"].clone();
    let entries = http(a, "GET", "/api/slowlog", ck, "").json()["entries"].clone();
    let entries = entries.as_array().cloned().unwrap_or_default();
    let find = |key: &str| {
        entries
            .iter()
            .find(|e| e["args"][1] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} not in {entries:?}"))
    };
    let m = find("slow:marker");
    assert_eq!(m["args"], serde_json::json!(["SET", "slow:marker", "x"]));
    assert_eq!(m["node"], marker_node);
    assert_eq!(find("slow:zzz")["node"], other_node);
    let ts: Vec<i64> = entries.iter().filter_map(|e| e["ts"].as_i64()).collect();
    assert!(ts.windows(2).all(|w| w[0] >= w[1]), "newest first: {ts:?}");
    let nodes: std::collections::BTreeSet<String> =
        entries.iter().map(|e| e["node"].to_string()).collect();
    assert!(nodes.len() >= 3, "entries from every primary: {nodes:?}");
    // One node's reset clears that node's log only.
    let body = serde_json::json!({ "node": marker_node }).to_string();
    let r = http(a, "POST", "/api/slowlog/reset", sess_post, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["reset"], 1);
    // (Replicas replaying the SETs may log them too; only the reset node's log is empty.)
    let after = http(a, "GET", "/api/slowlog", ck, "").json()["entries"].clone();
    let after = after.as_array().cloned().unwrap_or_default();
    let on = |node: &serde_json::Value, key: &str| {
        after
            .iter()
            .any(|e| e["node"] == *node && e["args"][1] == key)
    };
    assert!(!on(&marker_node, "slow:marker"), "{after:?}");
    if marker_node != other_node {
        assert!(
            on(&other_node, "slow:zzz"),
            "other nodes keep theirs: {after:?}"
        );
    }
    // Reset needs the CSRF token, then clears every node.
    let r = http(a, "POST", "/api/slowlog/reset", &[ck[0]], "{}");
    assert_eq!(r.status, 403);
    let r = http(a, "POST", "/api/slowlog/reset", sess_post, "{}");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["reset"], 6);
    let after = http(a, "GET", "/api/slowlog", ck, "").json().to_string();
    assert!(!after.contains("slow:marker"), "{after}");
    console("CONFIG SET slowlog-log-slower-than 10000", true);
    console("DEL slow:marker", false);
    console("DEL slow:zzz", false);
}

/// POST /api/key/edit: every edit checked with redis-cli; binary key names and values in
/// hex; refusals worded by the node; the keyspace left as found.
pub(crate) fn edit_api(
    a: &str,
    ck: &[(&str, &str)],
    sess_post: &[(&str, &str)],
    port: u16,
    pw: &str,
) {
    let edit =
        |body: serde_json::Value| http(a, "POST", "/api/key/edit", sess_post, &body.to_string());
    let ok = |body: serde_json::Value| {
        let r = edit(body.clone());
        assert_eq!(r.status, 200, "{body}: {}", r.body);
    };
    let redis = |script: &str| cli(port, pw, script);
    // Strings: create (once), change, TTL on and off.
    ok(serde_json::json!({"op": "create", "type": "string", "key": "ed:s", "value": "one"}));
    let r =
        edit(serde_json::json!({"op": "create", "type": "string", "key": "ed:s", "value": "x"}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exists"), "{}", r.body);
    ok(serde_json::json!({"op": "set", "key": "ed:s", "value": "two"}));
    assert_eq!(redis("GET ed:s"), ["two"]);
    ok(serde_json::json!({"op": "expire", "key": "ed:s", "ttl_ms": 100_000}));
    let ttl: i64 = redis("TTL ed:s")[0].parse().unwrap();
    assert!((90..=100).contains(&ttl), "{ttl}");
    ok(serde_json::json!({"op": "set", "key": "ed:s", "value": "three"}));
    assert!(
        redis("TTL ed:s")[0].parse::<i64>().unwrap() > 0,
        "SET keeps the TTL"
    );
    ok(serde_json::json!({"op": "expire", "key": "ed:s", "ttl_ms": -1}));
    assert_eq!(redis("TTL ed:s"), ["-1"]);
    // Collections.
    ok(
        serde_json::json!({"op": "create", "type": "hash", "key": "ed:h", "field": "f", "value": "1"}),
    );
    ok(serde_json::json!({"op": "hset", "key": "ed:h", "field": "g", "value": "2"}));
    ok(serde_json::json!({"op": "hdel", "key": "ed:h", "field": "f"}));
    assert_eq!(redis("HGETALL ed:h"), ["g", "2"]);
    ok(serde_json::json!({"op": "create", "type": "list", "key": "ed:l", "value": "a"}));
    ok(serde_json::json!({"op": "rpush", "key": "ed:l", "value": "b"}));
    ok(serde_json::json!({"op": "lset", "key": "ed:l", "index": 0, "value": "A"}));
    ok(serde_json::json!({"op": "lrem", "key": "ed:l", "value": "b"}));
    assert_eq!(redis("LRANGE ed:l 0 -1"), ["A"]);
    let r = edit(serde_json::json!({"op": "lset", "key": "ed:l", "index": 9, "value": "z"}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("index out of range"), "{}", r.body);
    ok(
        serde_json::json!({"op": "create", "type": "zset", "key": "ed:z", "value": "m", "score": 1}),
    );
    ok(serde_json::json!({"op": "zadd", "key": "ed:z", "value": "m", "score": 2.5}));
    assert_eq!(redis("ZSCORE ed:z m"), ["2.5"]);
    ok(serde_json::json!({"op": "create", "type": "set", "key": "ed:t", "value": "x"}));
    ok(
        serde_json::json!({"op": "create", "type": "stream", "key": "ed:x", "field": "f", "value": "v"}),
    );
    assert_eq!(redis("XLEN ed:x"), ["1"]);
    assert_eq!(redis("TYPE ed:x"), ["stream"]);
    ok(serde_json::json!({"op": "sadd", "key": "ed:t", "value": "y"}));
    ok(serde_json::json!({"op": "srem", "key": "ed:t", "value": "x"}));
    assert_eq!(redis("SMEMBERS ed:t"), ["y"]);
    let r = edit(serde_json::json!({"op": "hset", "key": "ed:t", "field": "f", "value": "v"}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("WRONGTYPE"), "{}", r.body);
    // Rename to another slot keeps value and TTL; onto an existing key it is refused.
    ok(serde_json::json!({"op": "expire", "key": "ed:s", "ttl_ms": 200_000}));
    ok(serde_json::json!({"op": "rename", "key": "ed:s", "to": "moved:elsewhere"}));
    assert_eq!(redis("EXISTS ed:s"), ["0"]);
    assert_eq!(redis("GET moved:elsewhere"), ["three"]);
    assert!(redis("TTL moved:elsewhere")[0].parse::<i64>().unwrap() > 100);
    let r = edit(serde_json::json!({"op": "rename", "key": "moved:elsewhere", "to": "ed:h"}));
    assert_eq!(r.status, 400);
    assert!(r.body.contains("exists"), "{}", r.body);
    // A binary key and value: listed and read in hex, deleted by its hex name.
    ok(
        serde_json::json!({"op": "create", "type": "string", "key": {"hex": "ff00aa"}, "value": {"hex": "0001"}}),
    );
    let keys = http(a, "GET", "/api/keys?pattern=*&count=500", ck, "").json();
    let listed = keys["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["hex"] == "ff00aa").cloned())
        .expect("binary key listed");
    assert_eq!(listed["binary"], true);
    let v = http(a, "GET", "/api/key?hex=ff00aa", ck, "").json();
    assert_eq!(v["value"]["hex"], "0001", "{v}");
    assert_eq!(v["truncated"], false, "{v}");
    let r = http(
        a,
        "POST",
        "/api/key/delete",
        sess_post,
        r#"{"key":{"hex":"ff00aa"}}"#,
    );
    assert_eq!(r.json()["deleted"], 1);
    // Bad input.
    assert_eq!(
        edit(serde_json::json!({"op": "set", "key": {"hex": "f"}, "value": "v"})).status,
        400
    );
    assert_eq!(
        edit(serde_json::json!({"op": "frobnicate", "key": "k"})).status,
        400
    );
    assert_eq!(
        edit(serde_json::json!({"op": "set", "key": "", "value": "v"})).status,
        400
    );
    assert_eq!(edit(serde_json::json!({"nonsense": true})).status, 400);
    let r = http(
        a,
        "POST",
        "/api/key/edit",
        &[ck[0]],
        r#"{"op":"set","key":"k","value":"v"}"#,
    );
    assert_eq!(r.status, 403, "edits need the CSRF token");
    for k in ["moved:elsewhere", "ed:h", "ed:l", "ed:z", "ed:t", "ed:x"] {
        assert_eq!(redis(&format!("DEL {k}")), ["1"], "{k}");
    }
}

/// GET /api/hotkeys: without an LFU policy every node says so; with allkeys-lfu a key
/// read thousands of times ranks first, and its slot is the hottest.
pub(crate) fn hotkeys_api(
    a: &str,
    ck: &[(&str, &str)],
    sess_post: &[(&str, &str)],
    port: u16,
    pw: &str,
) {
    let console = |line: &str| {
        let body = serde_json::json!({"line": line, "all": true, "confirm": true});
        let r = http(a, "POST", "/api/console", sess_post, &body.to_string());
        assert_eq!(r.status, 200, "{line}: {}", r.body);
    };
    let h = http(a, "GET", "/api/hotkeys", ck, "").json();
    assert_eq!(h["lfu"], false, "{h}");
    let nodes = h["nodes"].as_array().cloned().unwrap_or_default();
    assert_eq!(nodes.len(), 3);
    assert!(nodes
        .iter()
        .all(|n| n["error"].as_str().unwrap_or("").contains("LFU policy")));
    console("CONFIG SET maxmemory-policy allkeys-lfu");
    let mut script = String::from("SET hot:key v\nSET warm:key v\n");
    for _ in 0..3000 {
        script.push_str("GET hot:key\n");
    }
    for _ in 0..30 {
        script.push_str("GET warm:key\n");
    }
    cli(port, pw, &script);
    let h = http(a, "GET", "/api/hotkeys", ck, "").json();
    assert_eq!(h["lfu"], true, "{h}");
    assert_eq!(h["top_keys"][0]["key"], "hot:key", "{h}");
    let hot = h["top_keys"][0]["freq"].as_i64().unwrap_or(0);
    let warm = h["top_keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["key"] == "warm:key"))
        .and_then(|k| k["freq"].as_i64())
        .expect("warm:key sampled");
    assert!(hot > warm, "hot {hot} > warm {warm}");
    let slot = rubra_keys::key_slot(b"hot:key");
    assert_eq!(h["top_slots"][0]["slot"], slot, "{h}");
    let sampled: u64 = h["nodes"]
        .as_array()
        .map(|ns| ns.iter().filter_map(|n| n["sampled"].as_u64()).sum())
        .unwrap_or(0);
    assert!(sampled >= 50, "every key sampled: {sampled}");
    console("CONFIG SET maxmemory-policy noeviction");
    // Act on the hot slot: move it (with its keys) to the primary with the fewest slots.
    let before = http(a, "GET", "/api/key?key=hot%3Akey", ck, "").json()["node"].clone();
    let body = format!("{{\"slot\":{slot}}}");
    let r = http(a, "POST", "/api/move-slot?wait=1", sess_post, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let moved = r.json();
    assert_eq!(moved["from"], before, "{moved}");
    assert_eq!(moved["keys_moved"], 1, "{moved}");
    let after = http(a, "GET", "/api/key?key=hot%3Akey", ck, "").json()["node"].clone();
    assert_eq!(after, moved["to"]);
    assert_ne!(after, before);
    assert_eq!(cli(port, pw, "GET hot:key"), ["v"]);
    let r = http(
        a,
        "POST",
        "/api/move-slot?wait=1",
        sess_post,
        r#"{"slot":16384}"#,
    );
    assert_eq!(r.status, 400);
    assert_eq!(cli(port, pw, "DEL hot:key\nDEL warm:key\n"), ["1", "1"]);
}

/// The state-changing endpoints the console, editor, slow log and hot keys added, with a
/// harmless body each (every request below is refused before the body is looked at).
pub(crate) const NEW_POSTS: [(&str, &str); 5] = [
    ("/api/console", r#"{"line":"PING"}"#),
    (
        "/api/key/edit",
        r#"{"op":"set","key":"guard:k","value":"v"}"#,
    ),
    ("/api/key/delete", r#"{"key":"guard:k"}"#),
    ("/api/slowlog/reset", "{}"),
    ("/api/move-slot", r#"{"slot":0}"#),
];

/// Each new state-changing endpoint: a session needs the CSRF token, a foreign Origin is
/// refused even with the token or the password; then each endpoint's input validation,
/// with an error saying what is wrong.
pub(crate) fn csrf_and_validation(a: &str, ck: &[(&str, &str)], csrf: &str, bearer: &str) {
    let json_ct = ("Content-Type", "application/json");
    let origin = format!("http://{a}");
    let wrong = "f".repeat(64);
    for (p, body) in NEW_POSTS {
        let r = http(a, "POST", p, &[ck[0], json_ct], body);
        assert_eq!(r.status, 403, "{p} without token: {}", r.body);
        assert_eq!(r.json()["error"], "missing or wrong CSRF token", "{p}");
        let r = http(
            a,
            "POST",
            p,
            &[ck[0], json_ct, ("X-CSRF-Token", &wrong)],
            body,
        );
        assert_eq!(r.status, 403, "{p} wrong token: {}", r.body);
        let r = http(
            a,
            "POST",
            p,
            &[
                ck[0],
                json_ct,
                ("X-CSRF-Token", csrf),
                ("Origin", "http://evil.example"),
            ],
            body,
        );
        assert_eq!(r.status, 403, "{p} foreign origin: {}", r.body);
        assert_eq!(r.json()["error"], "cross-origin request refused", "{p}");
        let r = http(
            a,
            "POST",
            p,
            &[
                ("Authorization", bearer),
                json_ct,
                ("Origin", "http://evil.example"),
            ],
            body,
        );
        assert_eq!(r.status, 403, "{p} foreign origin with Bearer: {}", r.body);
    }
    assert!(!cli_exists(a, ck, "guard:k"), "no refused edit ran");
    let sess = [
        ck[0],
        json_ct,
        ("X-CSRF-Token", csrf),
        ("Origin", origin.as_str()),
    ];
    let post = |p: &str, body: &str| http(a, "POST", p, &sess, body);
    let error = |r: &Resp| r.json()["error"].as_str().unwrap_or("").to_string();
    // Console: a command the node does not know is the node's own error, in the reply.
    let r = post("/api/console", r#"{"line":"FROBNICATE x"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let reply = &r.json()["results"][0]["reply"];
    assert_eq!(reply["type"], "error", "{reply}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap_or("")
            .contains("unknown command"),
        "{reply}"
    );
    // Malformed or oversized input: 400 before any node is asked.
    for (body, says) in [
        ("not json", "bad request body"),
        (r#"{"line": 5}"#, "bad request body"),
        (r#"{"line":"GET \"open"}"#, "unbalanced quotes"),
        (r#"{"line":"   "}"#, "empty command"),
        (r#"{"line":"MONITOR"}"#, "redis-cli"),
    ] {
        let r = post("/api/console", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(error(&r).contains(says), "{body}: {}", r.body);
    }
    let many = format!(r#"{{"line":"DEL{}"}}"#, " k".repeat(1100));
    let r = post("/api/console", &many);
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("more than 1024 arguments"), "{}", r.body);
    let long = format!(r#"{{"line":"SET k {}"}}"#, "x".repeat(66 * 1024));
    let r = post("/api/console", &long);
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("longer than 65536 bytes"), "{}", r.body);
    let huge = format!(r#"{{"line":"SET k {}"}}"#, "x".repeat(200 * 1024));
    let r = post("/api/console", &huge);
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("too large"), "{}", r.body);
    let r = post("/api/console", r#"{"line":"PING","node":"nosuchnode"}"#);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(error(&r).contains("no node nosuchnode"), "{}", r.body);
    // Slow log: reset of a node that does not exist; a body that is not JSON.
    let r = post("/api/slowlog/reset", r#"{"node":"nosuchnode"}"#);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = post("/api/slowlog/reset", "[");
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("bad request body"), "{}", r.body);
    // Key edit: values up to 8 MiB (MAX_VALUE) are taken, above axum's 2 MB default body
    // limit; a larger value is refused with the limit named (400), and a body too large
    // even for a hex-encoded 8 MiB value with 413, not read into memory.
    const MAX_VALUE: usize = 8 * 1024 * 1024;
    let edit = |len: usize| {
        let body = format!(
            r#"{{"op":"set","key":"guard:big","value":"{}"}}"#,
            "x".repeat(len)
        );
        post("/api/key/edit", &body)
    };
    let r = edit(3 * 1024 * 1024);
    assert_eq!(r.status, 200, "3 MB value: {}", r.body);
    let strlen = post("/api/console", r#"{"line":"STRLEN guard:big"}"#);
    assert_eq!(
        strlen.json()["results"][0]["reply"]["value"],
        3 * 1024 * 1024,
        "{}",
        strlen.body
    );
    let r = edit(MAX_VALUE + 1);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        error(&r).contains("larger than 8388608 bytes"),
        "{}",
        r.body
    );
    let r = edit(2 * MAX_VALUE + 65 * 1024);
    assert_eq!(r.status, 413, "{}", &r.body[..r.body.len().min(200)]);
    assert!(error(&r).contains("request body larger than"), "{}", r.body);
    let r = post("/api/console", r#"{"line":"DEL guard:big"}"#);
    assert_eq!(r.json()["results"][0]["reply"]["value"], 1, "{}", r.body);
    let r = post("/api/key/delete", r#"{"key":{"hex":"zz"}}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post("/api/move-slot", r#"{"slot":"x"}"#);
    assert_eq!(r.status, 400);
    assert!(error(&r).contains("slot"), "{}", r.body);
    assert!(!cli_exists(a, ck, "guard:k"));
}

/// Whether `key` exists, as the key browser sees it.
pub(crate) fn cli_exists(a: &str, ck: &[(&str, &str)], key: &str) -> bool {
    let j = http(
        a,
        "GET",
        &format!("/api/key?key={}", key.replace(':', "%3A")),
        ck,
        "",
    )
    .json();
    j["found"] == true
}

pub(crate) fn b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for ch in b.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

//! End-to-end: a real headless Chromium, driven over WebDriver (chromedriver) with
//! fantoccini, uses the admin panel of a real `rubra up` (redis-server nodes).
//!
//! One cluster, one flow: wrong password refused; right password; 6 nodes and a full slot
//! map; "Add pair", confirm, progress; then 8 nodes and 4 primaries with an even share of
//! slots. Then, by keyboard only, the console: SET/GET/HSET on keys of different slots
//! answered by their owners, RESP3 replies rendered by type, history on ↑/↓, FLUSHALL held
//! for a confirmation; a real slow command (SORT ALPHA of 50,000 strings, over the 10 ms
//! threshold) found in the merged slow log; skewed load on one key found first in hot
//! keys and its slot moved away; a value and a TTL edited and checked with redis-cli; a
//! binary key shown in hex and deleted; the dashboard updated live, and again after its
//! stream was cut (the page reconnects by itself); console commands in
//! the events; every control named (accessibility); a phone-sized window.
//! Screenshots of every view go to target/panel-screenshots/*.png (CI artifacts).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

mod common;

use common::{cli, ports, tempdir, write_keys, Cluster, TempDir};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
mod panel_browser_kit;
use panel_browser_kit::*;

#[test]
fn browser_login_add_pair_and_rebalance() {
    let chromium = find_bin(&["chromium", "chromium-browser", "google-chrome"])
        .expect("chromium not found: apt-get install -y chromium chromium-driver");
    let chromedriver = find_bin(&["chromedriver"])
        .expect("chromedriver not found: apt-get install -y chromium-driver");
    let dir = tempdir("panel-browser");
    let _td = TempDir(dir.clone());
    let (base, panel) = ports(9);
    let c = Cluster::up(&dir, base, panel, &[]);
    let pw = c.password();
    write_keys(base, &pw, 200);
    let (dport, _) = ports(1);
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={dport}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let url = format!("http://{}/", c.panel);
    let cluster = &c;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1400,1100"]
                }
            }))
            .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let wd = format!("http://127.0.0.1:{dport}");
        let client = until(30, "chromedriver session", || {
            let caps = caps.clone();
            let wd = wd.clone();
            let connector = connector.clone();
            async move {
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&wd)
                    .await
                    .ok()
            }
        })
        .await;

        // 1. The login form is all there is; a wrong password is refused.
        client.goto(&url).await.unwrap();
        client.find(Locator::Id("login-form")).await.unwrap();
        assert!(client.find(Locator::Id("slotmap")).await.is_err());
        login(&client, "not-the-password").await;
        let err = until(10, "login error", || async {
            let e = client.find(Locator::Id("login-error")).await.ok()?;
            e.text().await.ok()
        })
        .await;
        assert!(err.contains("Wrong"), "{err}");
        shot(&client, "01-login-refused.png").await;
        audit(&client, "login").await;

        // 2. The right password: the dashboard with 6 nodes and a full slot map.
        login(&client, &pw).await;
        let rows = until(30, "6 node rows", || async {
            let n = client
                .find_all(Locator::Css("#nodes-table tbody tr"))
                .await
                .ok()?
                .len();
            (n == 6).then_some(n)
        })
        .await;
        assert_eq!(rows, 6);
        let map = client.find(Locator::Id("slotmap")).await.unwrap();
        until(10, "slot map drawn", || async {
            let a = map.attr("data-assigned").await.ok()??;
            (a == "16384").then_some(())
        })
        .await;
        assert_eq!(map.attr("data-owners").await.unwrap().as_deref(), Some("3"));
        let cookie_js = js(&client, "return document.cookie").await;
        assert_eq!(cookie_js, "", "session cookie must be HttpOnly");
        shot(&client, "02-dashboard-6-nodes.png").await;

        // 3. Add pair: confirm dialog, then live progress.
        client
            .find(Locator::Id("btn-add-pair"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(5, "confirm dialog", || async {
            let open = js(&client, "return document.getElementById('confirm').open").await;
            (open == true).then_some(())
        })
        .await;
        shot(&client, "03-confirm-add-pair.png").await;
        client
            .find(Locator::Id("confirm-ok"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(10, "progress panel", || async {
            let v = js(
                &client,
                "return !document.getElementById('op-panel').classList.contains('hidden')",
            )
            .await;
            (v == true).then_some(())
        })
        .await;
        // Catch it moving slots if we can (it may be quick); screenshot either way.
        let t0 = Instant::now();
        let mut saw_progress = false;
        while t0.elapsed() < Duration::from_secs(120) {
            let text = js(
                &client,
                "return document.getElementById('op-text').textContent",
            )
            .await;
            let status = js(
                &client,
                "return document.getElementById('op-status').textContent",
            )
            .await;
            if text.as_str().unwrap_or("").contains("slots moved") {
                saw_progress = true;
                break;
            }
            if status != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shot(&client, "04-add-pair-progress.png").await;
        println!("saw slot progress: {saw_progress}");
        let status = until(300, "operation finished", || async {
            let s = js(
                &client,
                "return document.getElementById('op-status').textContent",
            )
            .await;
            let s = s.as_str().unwrap_or("").to_string();
            (s == "done" || s == "failed").then_some(s)
        })
        .await;
        let text = js(
            &client,
            "return document.getElementById('op-text').textContent",
        )
        .await;
        assert_eq!(status, "done", "{text}");

        // 4. Eight nodes, four primaries with an even share of the slots.
        until(60, "8 nodes, 4 slot owners", || async {
            let rows = client
                .find_all(Locator::Css("#nodes-table tbody tr"))
                .await
                .ok()?;
            let owners = map.attr("data-owners").await.ok()??;
            let assigned = map.attr("data-assigned").await.ok()??;
            (rows.len() == 8 && owners == "4" && assigned == "16384").then_some(())
        })
        .await;
        // Read in one script: the live stream may redraw the table between two calls.
        let prim = strings(
            js(
                &client,
                "return Array.prototype.map.call(\
                 document.querySelectorAll('#nodes-table tbody tr[data-role=primary]'), \
                 function(r){return r.dataset.slots;});",
            )
            .await,
        );
        assert_eq!(prim.len(), 4, "{prim:?}");
        for s in &prim {
            let s: usize = s.parse().unwrap_or(0);
            assert!((4000..=4200).contains(&s), "uneven: {prim:?}");
        }
        shot(&client, "05-dashboard-8-nodes.png").await;

        // Extras for the artifacts: sorting, charts, events and the key browser.
        client
            .find(Locator::Css("#nodes-table th[data-key=slot_count]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client
            .find(Locator::Css("button[data-tab=charts]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        shot(&client, "06-charts.png").await;
        open_key(&client, "*").await;
        shot(&client, "07-keys.png").await;

        // Keyboard only: after a reload (still signed in), Tab walks the view tabs in
        // order with a visible focus ring, Enter opens the console with its command line
        // focused, and every command below is typed into whatever has the focus.
        client.refresh().await.unwrap();
        until(30, "dashboard after a reload", || async {
            let n = client
                .find_all(Locator::Css("#nodes-table tbody tr"))
                .await
                .ok()?
                .len();
            (n == 8).then_some(())
        })
        .await;
        let mut order = Vec::new();
        for _ in 0..7 {
            press(&client, &[TAB]).await;
            order.push(focused(&client).await);
        }
        assert_eq!(
            order,
            [
                "tab:dashboard",
                "tab:charts",
                "tab:events",
                "tab:keys",
                "tab:slowlog",
                "tab:hotkeys",
                "tab:console"
            ]
        );
        let ring = js(
            &client,
            "var s = getComputedStyle(document.activeElement); \
             return s.outlineStyle + ' ' + s.outlineWidth;",
        )
        .await;
        let ring = ring.as_str().unwrap_or("none").to_string();
        assert!(
            !ring.starts_with("none") && !ring.ends_with(" 0px"),
            "keyboard focus visible: {ring}"
        );
        press(&client, &[TAB]).await;
        assert_eq!(focused(&client).await, "logout");
        press(&client, &[SHIFT, TAB]).await;
        assert_eq!(focused(&client).await, "tab:console");
        press(&client, &[ENTER]).await;
        until(10, "console open, command line focused", || async {
            (focused(&client).await == "console-line").then_some(())
        })
        .await;
        let current = js(
            &client,
            "return document.querySelector('#tabs [aria-current=page]').dataset.tab;",
        )
        .await;
        assert_eq!(current.as_str(), Some("console"));

        // Console: SET, GET and HSET on keys of different slots, each answered by its
        // slot's owner; RESP3 replies rendered by type (a map as a table, a binary value
        // in hex); ↑/↓ recall earlier commands.
        let lines = [
            "SET user:1 alice",
            "SET order:9 paid",
            "GET user:1",
            "HSET cart:7 apples 3 pears 5",
            "HGETALL cart:7",
            r#"SET "\xffbin" "\x00\xff""#,
            r#"GET "\xffbin""#,
        ];
        for cmd in lines {
            type_keys(&client, &format!("{cmd}{ENTER}")).await;
            let want = format!("> {cmd}");
            until(20, "console reply", || async {
                let v = js(&client, "var e=document.querySelector('.console-entry .console-cmd');return e&&e.textContent;").await;
                (v.as_str() == Some(want.as_str())).then_some(())
            })
            .await;
        }
        let entries = strings(
            js(
                &client,
                "return Array.prototype.map.call(document.querySelectorAll('.console-entry'), \
                 function(e){return e.textContent;});",
            )
            .await,
        );
        // Newest first: entries[6] is the first command typed.
        assert_eq!(entries.len(), 7, "{entries:?}");
        assert!(entries[0].contains("(hex) 00ff"), "{entries:?}");
        assert!(entries[3].contains("(integer) 2"), "{entries:?}");
        assert!(entries[4].contains("\"alice\""), "{entries:?}");
        let map = strings(
            js(
                &client,
                "return Array.prototype.map.call(document.querySelectorAll('.console-entry')[2]\
                 .querySelectorAll('table.reply-map tr'), function(r){return r.textContent;});",
            )
            .await,
        );
        assert_eq!(map, ["\"apples\"\"3\"", "\"pears\"\"5\""], "HGETALL as a table");
        let nodes = strings(
            js(
                &client,
                "return Array.prototype.map.call(document.querySelectorAll('.console-node'), \
                 function(e){return e.dataset.node;});",
            )
            .await,
        );
        let owners = cluster.view().owners();
        let owner = |k: &str| owners.get(&rubra_keys::key_slot(k.as_bytes())).cloned();
        assert_eq!(Some(nodes[6].clone()), owner("user:1"), "{nodes:?}");
        assert_eq!(Some(nodes[5].clone()), owner("order:9"), "{nodes:?}");
        assert_eq!(nodes[4], nodes[6], "GET went where SET put user:1");
        assert_eq!(Some(nodes[3].clone()), owner("cart:7"), "{nodes:?}");
        assert_eq!(nodes[2], nodes[3], "HGETALL went where HSET put cart:7");
        println!(
            "console: user:1 on {}, order:9 on {}, cart:7 on {}",
            &nodes[6][..8],
            &nodes[5][..8],
            &nodes[3][..8]
        );
        let line = client.find(Locator::Id("console-line")).await.unwrap();
        let value = || async {
            js(&client, "return document.getElementById('console-line').value;")
                .await
                .as_str()
                .unwrap_or("?")
                .to_string()
        };
        line.send_keys(UP).await.unwrap();
        assert_eq!(value().await, lines[6]);
        line.send_keys(UP).await.unwrap();
        assert_eq!(value().await, lines[5]);
        line.send_keys(DOWN).await.unwrap();
        assert_eq!(value().await, lines[6]);
        line.send_keys(DOWN).await.unwrap();
        assert_eq!(value().await, "", "past the newest: an empty line");
        shot(&client, "08-console.png").await;
        // A dangerous command waits for a confirmation (cancelled here: nothing runs).
        type_keys(&client, &format!("FLUSHALL{ENTER}")).await;
        until(10, "confirmation dialog", || async {
            let open = js(&client, "return document.getElementById('confirm').open;").await;
            (open.as_bool() == Some(true)).then_some(())
        })
        .await;
        shot(&client, "09-console-confirm.png").await;
        answer_dialog(&client, false).await;
        let n = js(&client, "return document.querySelectorAll('.console-entry').length;").await;
        assert_eq!(n.as_u64(), Some(7), "a cancelled FLUSHALL adds no entry");
        assert_eq!(cli(cluster.base, &pw, "EXISTS user:1"), ["1"]);

        // Slow log: a really slow command. The threshold is set on every primary from the
        // console (CONFIG SET, confirmed) to Redis's default, 10 ms; a SORT ALPHA of 50,000
        // strings takes well over that and shows in the merged slow log with its node.
        client
            .find(Locator::Id("console-all"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        line.send_keys(&format!("CONFIG SET slowlog-log-slower-than 10000{ENTER}"))
            .await
            .unwrap();
        answer_dialog(&client, true).await;
        until(20, "CONFIG SET on every primary", || async {
            let n = js(&client, "return document.querySelectorAll('.console-entry').length;").await;
            (n.as_u64() == Some(8)).then_some(())
        })
        .await;
        let answered = js(
            &client,
            "return document.querySelector('.console-entry').querySelectorAll('.console-node').length;",
        )
        .await;
        assert_eq!(answered.as_u64(), Some(4), "one reply per primary");
        client
            .find(Locator::Id("console-all"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let script: String = (0..50)
            .map(|c| {
                let vals: String = (0..1000)
                    .map(|i| format!(" v{:06}", ((c * 1000 + i) * 7919) % 50_000))
                    .collect();
                format!("RPUSH {{big}}list{vals}\n")
            })
            .collect();
        cli(cluster.base, &pw, &script);
        let sort = "SORT {big}list ALPHA STORE {big}sorted";
        line.send_keys(&format!("{sort}{ENTER}")).await.unwrap();
        until(60, "the SORT answered", || async {
            let v = js(&client, "return document.querySelector('.console-entry').textContent;").await;
            v.as_str()
                .is_some_and(|t| t.contains(sort) && t.contains("(integer) 50000"))
                .then_some(())
        })
        .await;
        client
            .find(Locator::Css("button[data-tab=slowlog]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The primary that ran it logs it; its replica, replaying the SORT ... STORE from
        // the replication stream, may log it too (every node's slow log is merged).
        let want = owner("{big}list").expect("an owner");
        let micros = until(20, "the SORT in the slow log, from its primary", || async {
            let v = js(
                &client,
                "return Array.prototype.filter.call(document.querySelectorAll('#slowlog-table tbody tr'), \
                 function(t){return t.textContent.indexOf('SORT {big}list ALPHA STORE {big}sorted') >= 0;}) \
                 .map(function(r){return r.dataset.node + ' ' + r.dataset.micros;});",
            )
            .await;
            strings(v).iter().find_map(|r| {
                let (node, micros) = r.split_once(' ')?;
                (node == want).then(|| micros.parse::<u64>().unwrap_or(0))
            })
        })
        .await;
        println!("slow log: SORT took {micros} µs");
        assert!(micros >= 10_000, "logged as slower than 10 ms: {micros}");
        shot(&client, "10-slowlog.png").await;

        // Hot keys: the view's own button switches the primaries to an LFU policy
        // (confirmed); then skewed load on one key puts it first, and its slot first among
        // the slots; the slot is moved to another primary from the view.
        client
            .find(Locator::Css("button[data-tab=hotkeys]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(20, "the offer to switch to LFU", || async {
            let v = js(&client, "return !document.getElementById('hot-lfu').classList.contains('hidden');").await;
            (v == true).then_some(())
        })
        .await;
        client.find(Locator::Id("hot-lfu")).await.unwrap().click().await.unwrap();
        answer_dialog(&client, true).await;
        until(20, "LFU on every primary", || async {
            let v = js(&client, "return document.getElementById('hot-lfu').classList.contains('hidden');").await;
            (v == true).then_some(())
        })
        .await;
        let mut load = String::from("SET hot:browser v\n");
        for _ in 0..5000 {
            load.push_str("GET hot:browser\n");
        }
        for i in 0..20 {
            for _ in 0..20 {
                load.push_str(&format!("GET key:{i}\n"));
            }
        }
        cli(cluster.base, &pw, &load);
        client.find(Locator::Id("hot-refresh")).await.unwrap().click().await.unwrap();
        let hot_slot = rubra_keys::key_slot(b"hot:browser");
        let hot_hex: String = b"hot:browser".iter().map(|b| format!("{b:02x}")).collect();
        until(20, "hot:browser first in hot keys", || async {
            let v = js(
                &client,
                "var k = document.querySelector('#hot-keys tbody tr'), \
                 s = document.querySelector('#hot-slots tbody tr'); \
                 return k && s ? [k.dataset.hex, s.dataset.slot] : null;",
            )
            .await;
            (strings(v) == [hot_hex.clone(), hot_slot.to_string()]).then_some(())
        })
        .await;
        let freqs = strings(
            js(
                &client,
                "return Array.prototype.map.call(document.querySelectorAll('#hot-keys tbody tr'), \
                 function(r){return r.children[1].textContent;});",
            )
            .await,
        );
        let freq = |i: usize| freqs.get(i).and_then(|f| f.parse::<i64>().ok()).unwrap_or(-1);
        assert!(freq(0) > freq(1), "clearly the hottest: {freqs:?}");
        // Per node: the owner's own ranking has it first; another primary's does not.
        let before = cluster.view().owners().get(&hot_slot).cloned();
        let holder = before.clone().expect("hot slot owned");
        let other = cluster
            .view()
            .owners()
            .values()
            .find(|n| **n != holder)
            .cloned()
            .expect("another primary");
        let pick_node = |id: String| {
            let client = &client;
            async move {
                client
                    .find(Locator::Css(&format!("#hot-node option[value='{id}']")))
                    .await
                    .unwrap()
                    .click()
                    .await
                    .unwrap();
                strings(
                    js(
                        client,
                        "return Array.prototype.map.call(document.querySelectorAll('#hot-keys tbody tr'), \
                         function(r){return r.dataset.hex + ' ' + r.dataset.node;});",
                    )
                    .await,
                )
            }
        };
        let rows = pick_node(holder.clone()).await;
        assert_eq!(rows.first(), Some(&format!("{hot_hex} {holder}")), "{rows:?}");
        assert!(rows.iter().all(|r| r.ends_with(&holder)), "{rows:?}");
        let rows = pick_node(other.clone()).await;
        assert!(!rows.is_empty() && rows.iter().all(|r| r.ends_with(&other) && !r.starts_with(&hot_hex)), "{rows:?}");
        let rows = pick_node(String::new()).await;
        assert_eq!(rows.first(), Some(&format!("{hot_hex} {holder}")), "cluster-wide again");
        shot(&client, "11-hotkeys.png").await;
        client
            .find(Locator::Css("#hot-slots tbody tr .move-slot"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        answer_dialog(&client, true).await;
        let title = format!("Move slot {hot_slot}");
        until(60, "slot move done", || async {
            let v = strings(
                js(
                    &client,
                    "return [document.getElementById('op-title').textContent, \
                     document.getElementById('op-status').textContent];",
                )
                .await,
            );
            (v == [title.clone(), "done".to_string()]).then_some(())
        })
        .await;
        let after = cluster.view().owners().get(&hot_slot).cloned();
        assert!(after.is_some() && after != before, "{before:?} -> {after:?}");
        assert_eq!(cli(cluster.base, &pw, "GET hot:browser"), ["v"]);
        shot(&client, "12-hotkeys-slot-moved.png").await;
        // Edit: user:1's value and TTL from the key browser, checked with redis-cli; the
        // binary key `\xffbin` shown in hex and deleted.
        open_key(&client, "user:1").await;
        let ta = client.find(Locator::Id("key-value")).await.unwrap();
        ta.clear().await.unwrap();
        ta.send_keys("bob").await.unwrap();
        // The detail is redrawn once the save is answered, which can be after redis-cli
        // already sees the value: mark the old TTL field so the wait finds the new one
        // (typing into the old one raced the redraw: a stale element).
        js(&client, "document.getElementById('key-ttl').dataset.old = '1';").await;
        client.find(Locator::Id("key-save")).await.unwrap().click().await.unwrap();
        until(10, "value saved", || async {
            (cli(cluster.base, &pw, "GET user:1") == ["bob"]).then_some(())
        })
        .await;
        until(10, "detail reloaded", || async {
            client.find(Locator::Css("#key-ttl:not([data-old])")).await.ok()
        })
        .await
        .send_keys("500")
        .await
        .unwrap();
        client.find(Locator::Id("key-ttl-set")).await.unwrap().click().await.unwrap();
        until(10, "TTL set", || async {
            let t = cli(cluster.base, &pw, "TTL user:1");
            t.first()
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|t| (400..=500).contains(t))
        })
        .await;
        audit(&client, "key detail").await;
        shot(&client, "13-key-edit.png").await;
        // A long list shows its first page; "Show more" reads the next one.
        let items: String = (0..150).map(|i| format!(" item{i}")).collect();
        cli(cluster.base, &pw, &format!("RPUSH longlist{items}\n"));
        open_key(&client, "longlist").await;
        let text = js(&client, "return document.querySelector('#key-detail pre').textContent;").await;
        assert!(!text.as_str().unwrap_or("").contains("item149"), "first page only");
        client.find(Locator::Id("key-more")).await.unwrap().click().await.unwrap();
        until(10, "the next page appended", || async {
            let t = js(&client, "return document.querySelector('#key-detail pre').textContent;").await;
            t.as_str().is_some_and(|t| t.contains("item149")).then_some(())
        })
        .await;
        open_key(&client, "*bin").await;
        let title = js(&client, "return document.querySelector('#key-detail h3').textContent;").await;
        assert_eq!(title.as_str(), Some("(hex) ff62696e"), "binary key name in hex");
        let shown = js(&client, "return document.getElementById('key-value').value;").await;
        assert_eq!(shown.as_str(), Some("00ff"), "binary value in hex");
        shot(&client, "14-binary-key-hex.png").await;
        client.find(Locator::Id("key-delete")).await.unwrap().click().await.unwrap();
        client.find(Locator::Id("confirm-ok")).await.unwrap().click().await.unwrap();
        until(10, "binary key deleted", || async {
            (cli(cluster.base, &pw, "EXISTS \"\\xffbin\"") == ["0"]).then_some(())
        })
        .await;
        // Live updates: new keys show on the dashboard without a reload (pushed by the
        // server-sent events stream, not polled).
        client
            .find(Locator::Css("button[data-tab=dashboard]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        js(&client, "window.__sameDocument = true; return 1;").await;
        until(20, "live stream connected", || async {
            let t = js(&client, "return document.getElementById('live-state').textContent;").await;
            (t.as_str() == Some("live")).then_some(())
        })
        .await;
        let before = js(&client, "return document.getElementById('kpi-keys').textContent;").await;
        let script: String = (0..25).map(|i| format!("SET live:{i} x\n")).collect();
        cli(cluster.base, &pw, &script);
        until(20, "key count pushed to the dashboard", || async {
            let now = js(&client, "return document.getElementById('kpi-keys').textContent;").await;
            (now != before).then_some(())
        })
        .await;
        let same = js(&client, "return window.__sameDocument === true;").await;
        assert_eq!(same.as_bool(), Some(true), "the page was not reloaded");
        // Graceful reconnect: the same page through a relay whose connections are then
        // cut (a network drop, a proxy's idle timeout). The page says it is reconnecting,
        // opens a new stream by itself and is updated by it again.
        let t_relay = Instant::now();
        let relay = Relay::start(cluster.panel.clone());
        client.goto(&format!("http://127.0.0.1:{}/", relay.port)).await.unwrap();
        until(20, "live through the relay", || async {
            let t = js(&client, "return document.getElementById('live-state').textContent;").await;
            (t.as_str() == Some("live")).then_some(())
        })
        .await;
        js(
            &client,
            "var el = document.getElementById('live-state'); window.__liveStates = []; \
             new MutationObserver(function () { window.__liveStates.push(el.textContent); })\
             .observe(el, {childList: true, characterData: true, subtree: true}); return 1;",
        )
        .await;
        assert_eq!(relay.streams(), 1);
        relay.cut();
        let states = until(20, "reconnected after the cut", || async {
            let v = js(&client, "return window.__liveStates;").await;
            let v = strings(v);
            let back = v.iter().position(|s| s == "reconnecting")
                .is_some_and(|i| v[i..].iter().any(|s| s == "live"));
            (back && relay.streams() >= 2).then_some(v)
        })
        .await;
        println!("live states after the cut: {states:?}, streams: {}", relay.streams());
        // Updated by the new stream (polling is off while live): a marker in the key
        // count is replaced by the next pushed snapshot.
        js(&client, "document.getElementById('kpi-keys').textContent = 'stale'; return 1;").await;
        until(15, "a snapshot pushed over the new stream", || async {
            let t = js(&client, "return document.getElementById('kpi-keys').textContent;").await;
            t.as_str().is_some_and(|t| t != "stale" && !t.is_empty()).then_some(())
        })
        .await;
        let live = js(&client, "return document.getElementById('live-state').textContent;").await;
        assert_eq!(live.as_str(), Some("live"));
        println!("reconnect check took {:?}", t_relay.elapsed());
        client.goto(&url).await.unwrap();
        client
            .find(Locator::Css("button[data-tab=events]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // Every console command is in the events log: who, what, which node.
        until(10, "console commands in the events", || async {
            let t = js(&client, "return document.getElementById('events-table').textContent;").await;
            t.as_str()
                .is_some_and(|t| t.contains("\"command\":\"SORT\"") && t.contains("\"user\":\"admin\""))
                .then_some(())
        })
        .await;
        shot(&client, "15-events.png").await;

        // Every control in every view has an accessible name.
        for tab in ["dashboard", "charts", "events", "keys", "slowlog", "hotkeys", "console"] {
            client
                .find(Locator::Css(&format!("button[data-tab={tab}]")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            audit(&client, tab).await;
        }

        // A phone-sized window: no view is wider than the screen (tables scroll inside
        // their own box), and the tabs stay reachable.
        client.set_window_size(390, 844).await.unwrap();
        for tab in ["dashboard", "keys", "console", "slowlog", "hotkeys", "charts"] {
            client
                .find(Locator::Css(&format!("button[data-tab={tab}]")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let overflow = js(
                &client,
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            )
            .await;
            assert!(overflow.as_i64().is_some_and(|o| o <= 1), "{tab} wider than a phone: {overflow}");
            if tab == "console" {
                shot(&client, "17-phone-console.png").await;
            }
        }
        client
            .find(Locator::Css("button[data-tab=dashboard]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shot(&client, "16-phone-dashboard.png").await;
        let _ = client.close().await;
    });
    c.wait_check();
}

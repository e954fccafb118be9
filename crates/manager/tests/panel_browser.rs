//! End-to-end: a real headless Chromium, driven over WebDriver (chromedriver) with
//! fantoccini, uses the admin panel of a real `rubra up` (redis-server nodes).
//!
//! Flow: wrong password refused; right password; 6 nodes and a full slot map; "Add
//! pair", confirm, progress; then 8 nodes and 4 primaries with an even share of slots.
//! Screenshots go to target/panel-screenshots/*.png (CI artifacts).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

mod common;

use common::{cli, ports, tempdir, write_keys, Cluster, TempDir};
use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// chromedriver on a free port, in its own process group with the Chromium it starts;
/// the whole group is killed on drop (also when the test panics before closing).
struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on the process group we created for chromedriver.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_bin(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        Command::new("sh")
            .args(["-c", &format!("command -v {n}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    })
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let d = target.join("panel-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let p = shots_dir().join(name);
    std::fs::write(&p, png).unwrap();
    println!("screenshot: {}", p.display());
}

/// Poll `f` until it returns Some, or panic with `what` after `secs`.
async fn until<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t0 = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or(serde_json::Value::Null)
}

/// Wait for the confirmation dialog, then confirm or cancel it.
async fn answer_dialog(client: &Client, ok: bool) {
    until(10, "confirmation dialog", || async {
        let open = js(client, "return document.getElementById('confirm').open;").await;
        (open.as_bool() == Some(true)).then_some(())
    })
    .await;
    let button = if ok { "confirm-ok" } else { "confirm-cancel" };
    client
        .find(Locator::Id(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Keys view: scan for `pattern`, open the first key listed, wait for its detail.
async fn open_key(client: &Client, pattern: &str) {
    client
        .find(Locator::Css("button[data-tab=keys]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let p = client.find(Locator::Id("scan-pattern")).await.unwrap();
    p.clear().await.unwrap();
    p.send_keys(pattern).await.unwrap();
    client
        .find(Locator::Css("#scan-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let item = until(20, "key listed", || async {
        client.find(Locator::Css("#key-list li")).await.ok()
    })
    .await;
    item.click().await.unwrap();
    until(10, "key detail", || async {
        client.find(Locator::Id("key-delete")).await.ok()
    })
    .await;
}

async fn login(c: &Client, pw: &str) {
    let u = c.find(Locator::Id("username")).await.unwrap();
    u.clear().await.unwrap();
    u.send_keys("admin").await.unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(pw)
        .await
        .unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

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
        let prim = client
            .find_all(Locator::Css("#nodes-table tbody tr[data-role=primary]"))
            .await
            .unwrap();
        assert_eq!(prim.len(), 4);
        for p in prim {
            let s: usize = p
                .attr("data-slots")
                .await
                .unwrap()
                .unwrap()
                .parse()
                .unwrap();
            assert!((4000..=4200).contains(&s), "uneven: {s}");
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

        // Console: SET and GET on keys of different slots answered by their owners, a
        // binary value in hex, and FLUSHALL held behind a confirmation (cancelled here).
        client
            .find(Locator::Css("button[data-tab=console]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let line = client.find(Locator::Id("console-line")).await.unwrap();
        for cmd in [
            "SET user:1 alice",
            "SET order:9 paid",
            "GET user:1",
            r#"SET "\xffbin" "\x00\xff""#,
            r#"GET "\xffbin""#,
        ] {
            line.send_keys(cmd).await.unwrap();
            line.send_keys("\u{E007}").await.unwrap(); // Enter
            let want = format!("> {cmd}");
            until(20, "console reply", || async {
                let v = js(&client, "var e=document.querySelector('.console-entry .console-cmd');return e&&e.textContent;").await;
                (v.as_str() == Some(want.as_str())).then_some(())
            })
            .await;
        }
        let got = js(
            &client,
            "return Array.prototype.map.call(document.querySelectorAll('.console-entry'), \
             function(e){return e.textContent;});",
        )
        .await;
        let entries: Vec<String> = got
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        assert_eq!(entries.len(), 5, "{entries:?}");
        assert!(entries[0].contains("(hex) 00ff"), "{entries:?}");
        assert!(entries[2].contains("\"alice\""), "{entries:?}");
        let answered = js(
            &client,
            "return Array.prototype.map.call(document.querySelectorAll('.console-node'), \
             function(e){return e.dataset.node;});",
        )
        .await;
        let nodes: Vec<String> = answered
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        // Entries are newest first: GET user:1 is third, SET order:9 fourth, SET user:1
        // fifth; each was answered by the owner of its key's slot.
        let owners = cluster.view().owners();
        let owner = |k: &str| owners.get(&rubra_keys::key_slot(k.as_bytes())).cloned();
        assert_eq!(Some(nodes[4].clone()), owner("user:1"), "{nodes:?}");
        assert_eq!(Some(nodes[3].clone()), owner("order:9"), "{nodes:?}");
        assert_eq!(nodes[2], nodes[4], "GET went where SET put user:1");
        shot(&client, "08-console.png").await;
        line.send_keys("FLUSHALL").await.unwrap();
        line.send_keys("\u{E007}").await.unwrap();
        answer_dialog(&client, false).await;
        let n = js(&client, "return document.querySelectorAll('.console-entry').length;").await;
        assert_eq!(n.as_u64(), Some(5), "a cancelled FLUSHALL adds no entry");

        // Slow log: log every command on every primary (a confirmed CONFIG SET through
        // the console), then find the console's own SET in the merged slow log.
        client
            .find(Locator::Id("console-all"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        line.send_keys("CONFIG SET slowlog-log-slower-than 0")
            .await
            .unwrap();
        line.send_keys("\u{E007}").await.unwrap();
        answer_dialog(&client, true).await;
        until(20, "CONFIG SET on every primary", || async {
            let n = js(&client, "return document.querySelectorAll('.console-entry').length;").await;
            (n.as_u64() == Some(6)).then_some(())
        })
        .await;
        client
            .find(Locator::Id("console-all"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        line.send_keys("SET slow:browser 1").await.unwrap();
        line.send_keys("\u{E007}").await.unwrap();
        client
            .find(Locator::Css("button[data-tab=slowlog]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(20, "the SET in the slow log", || async {
            let t = js(&client, "return document.getElementById('slowlog-table').textContent;").await;
            t.as_str().is_some_and(|t| t.contains("SET slow:browser 1")).then_some(())
        })
        .await;
        shot(&client, "09-slowlog.png").await;

        // Edit: user:1's value and TTL from the key browser, checked with redis-cli; the
        // binary key `\xffbin` shown in hex and deleted.
        open_key(&client, "user:1").await;
        let ta = client.find(Locator::Id("key-value")).await.unwrap();
        ta.clear().await.unwrap();
        ta.send_keys("bob").await.unwrap();
        client.find(Locator::Id("key-save")).await.unwrap().click().await.unwrap();
        until(10, "value saved", || async {
            (cli(cluster.base, &pw, "GET user:1") == ["bob"]).then_some(())
        })
        .await;
        until(10, "detail reloaded", || async {
            client.find(Locator::Id("key-ttl")).await.ok()
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
        shot(&client, "10-key-edit.png").await;
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
        client
            .find(Locator::Css("button[data-tab=events]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        shot(&client, "11-events.png").await;

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
        }
        client
            .find(Locator::Css("button[data-tab=dashboard]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shot(&client, "12-phone.png").await;
        let _ = client.close().await;
    });
    c.wait_check();
}

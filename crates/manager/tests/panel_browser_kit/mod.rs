//! The tooling of `panel_browser`: chromedriver and its Chromium as a process group,
//! screenshots, waiting and scripting helpers, a TCP relay, key presses, the audit of
//! console errors and the login the test starts with.

use super::*;

/// chromedriver on a free port, in its own process group with the Chromium it starts;
/// the whole group is killed on drop (also when the test panics before closing).
pub(crate) struct Driver(pub(crate) Child);
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

pub(crate) fn find_bin(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        Command::new("sh")
            .args(["-c", &format!("command -v {n}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    })
}

pub(crate) fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let d = target.join("panel-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(crate) async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let p = shots_dir().join(name);
    std::fs::write(&p, png).unwrap();
    println!("screenshot: {}", p.display());
}

/// Poll `f` until it returns Some, or panic with `what` after `secs`.
pub(crate) async fn until<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
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

pub(crate) async fn js(c: &Client, script: &str) -> serde_json::Value {
    c.execute(script, vec![])
        .await
        .unwrap_or(serde_json::Value::Null)
}

/// A TCP relay in front of the panel whose connections the test can cut at once, as a
/// network drop would; it counts the live-stream requests that pass through it.
pub(crate) struct Relay {
    pub(crate) port: u16,
    pub(crate) conns: Arc<Mutex<Vec<TcpStream>>>,
    pub(crate) streams: Arc<AtomicUsize>,
}

impl Relay {
    pub(crate) fn start(to: String) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let streams = Arc::new(AtomicUsize::new(0));
        let (c2, s2) = (conns.clone(), streams.clone());
        std::thread::spawn(move || {
            for down in l.incoming().map_while(Result::ok) {
                let Ok(up) = TcpStream::connect(&to) else {
                    continue;
                };
                let (Ok(d2), Ok(u2)) = (down.try_clone(), up.try_clone()) else {
                    continue;
                };
                if let (Ok(d3), Ok(u3)) = (down.try_clone(), up.try_clone()) {
                    c2.lock().unwrap().extend([d3, u3]);
                }
                let s3 = s2.clone();
                std::thread::spawn(move || pipe(down, up, Some(s3)));
                std::thread::spawn(move || pipe(u2, d2, None));
            }
        });
        Relay {
            port,
            conns,
            streams,
        }
    }

    /// Live-stream requests seen so far.
    pub(crate) fn streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }

    /// Close every connection made so far, both ways.
    pub(crate) fn cut(&self) {
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copy `from` to `to` until either closes; count requests for /api/stream if asked.
pub(crate) fn pipe(mut from: TcpStream, mut to: TcpStream, streams: Option<Arc<AtomicUsize>>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(c) = &streams {
            if buf[..n].windows(16).any(|w| w == b"GET /api/stream ") {
                c.fetch_add(1, Ordering::SeqCst);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Wait for the confirmation dialog, then confirm or cancel it.
pub(crate) async fn answer_dialog(client: &Client, ok: bool) {
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
pub(crate) async fn open_key(client: &Client, pattern: &str) {
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

pub(crate) const TAB: char = '\u{E004}';
pub(crate) const SHIFT: char = '\u{E008}';
pub(crate) const ENTER: char = '\u{E007}';
pub(crate) const UP: &str = "\u{E013}";
pub(crate) const DOWN: &str = "\u{E015}";

/// Press `keys` together on the keyboard (held in order, released in reverse), sent to
/// whatever has the focus, as a user's keyboard would.
pub(crate) async fn press(c: &Client, keys: &[char]) {
    let mut seq = KeyActions::new("keyboard".into());
    for &k in keys {
        seq = seq.then(KeyAction::Down { value: k });
    }
    for &k in keys.iter().rev() {
        seq = seq.then(KeyAction::Up { value: k });
    }
    c.perform_actions(seq).await.expect("key actions");
}

/// Type `text` into the focused element.
pub(crate) async fn type_keys(c: &Client, text: &str) {
    c.active_element()
        .await
        .expect("a focused element")
        .send_keys(text)
        .await
        .expect("typing");
}

/// What has the focus: `tab:NAME` for a view tab, else the element's id or tag.
pub(crate) async fn focused(c: &Client) -> String {
    let v = js(
        c,
        "var e = document.activeElement; if (!e) return ''; \
         return e.dataset && e.dataset.tab ? 'tab:' + e.dataset.tab : (e.id || e.tagName);",
    )
    .await;
    v.as_str().unwrap_or("").to_string()
}

pub(crate) fn strings(v: serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Every visible control (button, field, focusable element, drawn image) in the page has
/// an accessible name: aria-label, a <label>, or its own text. Panics listing those
/// without one.
pub(crate) async fn audit(c: &Client, view: &str) {
    let missing = js(
        c,
        "var bad = []; \
         document.querySelectorAll('button, input, select, textarea, [tabindex], canvas').forEach(function (e) { \
           if (e.type === 'hidden' || !e.getClientRects().length) return; \
           var name = (e.getAttribute('aria-label') || '').trim(); \
           if (!name && e.labels) name = Array.prototype.map.call(e.labels, function (l) { return l.textContent; }).join('').trim(); \
           if (!name && !/^(INPUT|SELECT|TEXTAREA|CANVAS)$/.test(e.tagName)) name = e.textContent.trim(); \
           if (e.tagName === 'CANVAS' && e.getAttribute('role') !== 'img') name = ''; \
           if (!name) bad.push(e.outerHTML.slice(0, 100)); \
         }); \
         return bad;",
    )
    .await;
    let missing = strings(missing);
    assert!(
        missing.is_empty(),
        "{view}: controls without a name: {missing:?}"
    );
}

pub(crate) async fn login(c: &Client, pw: &str) {
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

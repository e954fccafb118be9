// Rubra admin panel. Vanilla JS, no build step. Every value from the cluster is put in
// the page with textContent (never innerHTML), so key names cannot inject markup.
(function () {
  "use strict";
  var CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var PALETTE = ["#b3123a", "#2563eb", "#059669", "#d97706", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#a16207"];
  var state = { cluster: null, sortKey: "port", sortDir: 1, colors: {}, tab: "dashboard",
    op: null, opTimer: null, scanCursor: "0", history: null };

  // ---------- helpers ----------
  function $(id) { return document.getElementById(id); }
  // Enter and Space act as a click on `e` (for clickable elements that are not buttons).
  function keyClick(e) {
    e.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); e.click(); }
    });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function short(id) { return id ? id.slice(0, 8) : "–"; }
  function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function bytes(b) {
    if (b === null || b === undefined) return "–";
    var u = ["B", "KB", "MB", "GB", "TB"], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + " " + u[i];
  }
  function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%"; }
  function ago(ts) {
    if (!ts) return "–";
    var s = Math.max(0, Math.round(Date.now() / 1000 - ts));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.round(s / 60) + "m ago";
    return Math.round(s / 3600) + "h ago";
  }
  function dur(s) {
    if (s === null || s === undefined) return "";
    return s >= 60 ? Math.floor(s / 60) + "m " + (s % 60) + "s" : s + "s";
  }
  function toast(msg) {
    var t = $("toast"); t.textContent = msg; t.classList.remove("hidden");
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { t.classList.add("hidden"); }, 5000);
  }
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET") {
      opts.headers["X-CSRF-Token"] = CSRF;
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body || {});
    }
    return fetch(path, opts).then(function (r) {
      if (r.status === 401) { location.reload(); throw new Error("session expired"); }
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || ("HTTP " + r.status));
        return j;
      });
    });
  }
  function confirmDialog(title, text) {
    return new Promise(function (resolve) {
      var d = $("confirm");
      $("confirm-title").textContent = title;
      $("confirm-text").textContent = text;
      d.returnValue = "cancel";
      d.addEventListener("close", function once() {
        d.removeEventListener("close", once);
        resolve(d.returnValue === "ok");
      });
      d.showModal();
    });
  }

  // ---------- tabs ----------
  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
    b.addEventListener("click", function () { showTab(b.dataset.tab); });
  });
  function showTab(name) {
    state.tab = name;
    Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
      b.classList.toggle("active", b.dataset.tab === name);
      if (b.dataset.tab === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
    });
    Array.prototype.forEach.call(document.querySelectorAll(".view"), function (v) {
      v.classList.toggle("hidden", v.id !== "view-" + name);
    });
    if (name === "charts") loadHistory();
    if (name === "events") loadEvents();
    if (name === "console") { fillConsoleNodes(); $("console-line").focus(); }
    if (name === "slowlog") loadSlowlog();
    if (name === "hotkeys") loadHotkeys();
  }

  // ---------- cluster ----------
  function refresh() {
    return api("GET", "/api/cluster").then(renderCluster)
      .catch(function (e) { $("cluster-state").textContent = "unreachable"; console.warn(e); });
  }
  function renderCluster(c) {
    state.cluster = c;
    assignColors(c.nodes);
    renderOverview(c);
    renderSlots(c);
    renderNodes();
    if (c.op && (!state.op || state.op !== c.op.id)) track(c.op.id);
  }
  function assignColors(nodes) {
    var prims = nodes.filter(function (n) { return n.role === "primary"; })
      .sort(function (a, b) { return a.port - b.port; });
    prims.forEach(function (n) {
      if (!state.colors[n.id]) state.colors[n.id] = PALETTE[Object.keys(state.colors).length % PALETTE.length];
    });
  }
  function colorOf(n) {
    return state.colors[n.role === "primary" ? n.id : n.primary_id] || "#9ca3af";
  }
  function renderOverview(c) {
    var s = $("cluster-state");
    s.textContent = "cluster " + c.state;
    s.className = "badge " + (c.state === "ok" ? "ok" : "bad");
    var prim = c.nodes.filter(function (n) { return n.role === "primary"; });
    $("kpi-nodes").textContent = c.nodes.length;
    $("kpi-roles").textContent = prim.length + " primaries · " + (c.nodes.length - prim.length) + " replicas";
    $("kpi-keys").textContent = num(prim.reduce(function (a, n) { return a + (n.keys || 0); }, 0));
    var used = c.nodes.reduce(function (a, n) { return a + (n.used_memory || 0); }, 0);
    var cap = c.nodes.reduce(function (a, n) { return a + (n.maxmemory || 0); }, 0);
    $("kpi-mem").textContent = bytes(used);
    $("kpi-mem-cap").textContent = cap ? "of " + bytes(cap) + " (" + pct(used / cap) + ")" : "no maxmemory";
    $("kpi-mem-bar").style.width = cap ? Math.min(100, 100 * used / cap) + "%" : "0";
    $("kpi-ops").textContent = num(prim.reduce(function (a, n) { return a + (n.ops_per_sec || 0); }, 0));
    var cpu = c.nodes.reduce(function (a, n) { return a + (n.cpu || 0); }, 0);
    $("kpi-cpu").textContent = "CPU " + cpu.toFixed(2) + " cores";
    var as = c.autoscale_status || {};
    var t = $("autoscale-toggle");
    t.checked = !!c.autoscale;
    t.nextElementSibling.textContent = c.autoscale ? "on" : "off";
    var rule = as.enabled ? (as.rule || "") : "autoscaler off";
    if (as.enabled && as.time_left_secs !== null && as.time_left_secs !== undefined && as.window_secs)
      rule += " · " + dur(as.time_left_secs) + " left";
    if (as.enabled && as.cooldown_left_secs) rule += " · cooldown " + dur(as.cooldown_left_secs);
    $("kpi-rule").textContent = rule;
  }

  // ---------- slot map ----------
  var COLS = 256, ROWS = 64;
  function renderSlots(c) {
    var cv = $("slotmap"), ctx = cv.getContext("2d");
    var w = cv.width / COLS, h = cv.height / ROWS;
    var owner = new Array(16384);
    var byId = {};
    c.nodes.forEach(function (n) {
      byId[n.id] = n;
      if (n.role !== "primary") return;
      n.slots.forEach(function (r) { for (var s = r[0]; s <= r[1]; s++) owner[s] = n; });
    });
    ctx.fillStyle = "#e5e7eb"; ctx.fillRect(0, 0, cv.width, cv.height);
    var assigned = 0, owners = {};
    for (var s = 0; s < 16384; s++) {
      var n = owner[s];
      if (!n) continue;
      assigned++; owners[n.id] = true;
      ctx.fillStyle = colorOf(n);
      ctx.fillRect((s % COLS) * w, Math.floor(s / COLS) * h, w, h);
    }
    (c.migrations || []).forEach(function (m) {
      var x = (m.slot % COLS) * w, y = Math.floor(m.slot / COLS) * h;
      var to = byId[m.to];
      ctx.fillStyle = to ? colorOf(to) : "#000";
      ctx.fillRect(x, y + h / 2, w, h / 2);
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1; ctx.strokeRect(x + .5, y + .5, w - 1, h - 1);
    });
    cv.dataset.assigned = assigned;
    cv.dataset.owners = Object.keys(owners).length;
    cv.dataset.migrating = (c.migrations || []).length;
    $("slot-summary").textContent = num(assigned) + " / 16,384 assigned · " +
      Object.keys(owners).length + " owners" +
      ((c.migrations || []).length ? " · " + c.migrations.length + " migrating" : "");
    var lg = $("slot-legend"); lg.textContent = "";
    c.nodes.filter(function (n) { return n.role === "primary"; }).forEach(function (n) {
      var span = el("span"); var i = el("i"); i.style.background = colorOf(n);
      span.appendChild(i); span.appendChild(document.createTextNode(short(n.id) + " :" + n.port + " (" + num(n.slot_count) + ")"));
      lg.appendChild(span);
    });
    var mg = el("span"); var mi = el("i"); mi.style.background = "#fff"; mi.style.outline = "1px solid #111";
    mg.appendChild(mi); mg.appendChild(document.createTextNode("migrating (lower half: target)"));
    lg.appendChild(mg);
    state.slotOwner = owner;
    state.slotMigr = {};
    (c.migrations || []).forEach(function (m) { state.slotMigr[m.slot] = m; });
  }
  $("slotmap").addEventListener("mousemove", function (ev) {
    var cv = ev.target, r = cv.getBoundingClientRect();
    var col = Math.floor((ev.clientX - r.left) / r.width * COLS);
    var row = Math.floor((ev.clientY - r.top) / r.height * ROWS);
    var s = row * COLS + col;
    if (s < 0 || s > 16383 || !state.slotOwner) return;
    var n = state.slotOwner[s], m = state.slotMigr[s];
    $("slot-hover").textContent = "slot " + s + ": " + (n ? short(n.id) + " (" + n.addr + ")" : "unassigned") +
      (m ? " — migrating " + short(m.from) + " → " + short(m.to) : "");
  });

  // ---------- nodes table ----------
  function sortVal(n, k) {
    if (k === "peer") return n.role === "primary" ? n.id : (n.primary_id || "") + "~";
    if (k === "port") return n.port;
    if (k === "net") return n.load && n.load.net_in != null ? n.load.net_in + (n.load.net_out || 0) : -1;
    var v = n[k];
    return v === null || v === undefined ? -1 : v;
  }
  Array.prototype.forEach.call(document.querySelectorAll("#nodes-table th[data-key]"), function (th) {
    th.tabIndex = 0; keyClick(th);
    th.addEventListener("click", function () {
      var k = th.dataset.key;
      state.sortDir = state.sortKey === k ? -state.sortDir : 1;
      state.sortKey = k;
      renderNodes();
    });
  });
  function ranges(r) {
    return r.map(function (x) { return x[0] === x[1] ? String(x[0]) : x[0] + "-" + x[1]; }).join(", ");
  }
  function renderNodes() {
    var c = state.cluster; if (!c) return;
    var nodes = c.nodes.slice();
    var k = state.sortKey, d = state.sortDir;
    nodes.sort(function (a, b) {
      var x = sortVal(a, k), y = sortVal(b, k);
      return (x < y ? -1 : x > y ? 1 : a.port - b.port) * d;
    });
    Array.prototype.forEach.call(document.querySelectorAll("#nodes-table th[data-key]"), function (th) {
      th.classList.toggle("sorted-asc", th.dataset.key === k && d > 0);
      th.classList.toggle("sorted-desc", th.dataset.key === k && d < 0);
      th.setAttribute("aria-sort", th.dataset.key !== k ? "none" : d > 0 ? "ascending" : "descending");
    });
    var tb = document.querySelector("#nodes-table tbody");
    tb.textContent = "";
    nodes.forEach(function (n) {
      var tr = el("tr", null, n.role);
      tr.dataset.id = n.id; tr.dataset.role = n.role; tr.dataset.slots = n.slot_count;
      var idc = el("td"); var dot = el("i"); dot.style.cssText = "";
      dot.style.display = "inline-block"; dot.style.width = "10px"; dot.style.height = "10px";
      dot.style.borderRadius = "50%"; dot.style.marginRight = "6px"; dot.style.background = colorOf(n);
      idc.appendChild(dot); idc.appendChild(el("code", short(n.id))); idc.title = n.id;
      tr.appendChild(idc);
      var ad = el("td", n.addr); if (n.reach && n.reach !== n.addr) ad.title = "reached at " + n.reach;
      if (n.host) { var hb = el("span", " on " + n.host); hb.className = "muted"; ad.appendChild(hb); }
      tr.appendChild(ad);
      tr.appendChild(el("td", n.role));
      tr.appendChild(el("td", n.role === "primary"
        ? (n.replicas.length ? "replicas: " + n.replicas.map(short).join(", ") : "no replica")
        : "of " + short(n.primary_id)));
      var sc = el("td", null, "num"); sc.textContent = num(n.slot_count);
      if (n.slots.length) sc.title = ranges(n.slots);
      tr.appendChild(sc);
      tr.appendChild(el("td", num(n.keys), "num"));
      var mem = el("td", bytes(n.used_memory), "num");
      mem.title = "dataset " + bytes(n.mem_dataset) + " · overhead " + bytes(n.mem_overhead) +
        " · fragmentation " + (n.mem_fragmentation == null ? "–" : n.mem_fragmentation.toFixed(2));
      tr.appendChild(mem);
      tr.appendChild(el("td", num(n.ops_per_sec), "num"));
      tr.appendChild(el("td", n.cpu === null || n.cpu === undefined ? "–" : (n.cpu * 100).toFixed(1) + "%", "num"));
      tr.appendChild(el("td", num(n.connected_clients), "num"));
      var ld = n.load || {};
      tr.appendChild(el("td", ld.net_in == null ? "–" : bytes(Math.round(ld.net_in)) + "/s · " + bytes(Math.round(ld.net_out || 0)) + "/s", "num"));
      tr.appendChild(el("td", (ld.commands || []).map(function (c) { return c[0] + " " + c[1].toFixed(1); }).join(", ") || "–", "small cmds"));
      var lk = el("td"); var b = el("span", n.reachable ? n.link : "down", "badge " + (n.link === "connected" && n.reachable ? "ok" : "bad"));
      lk.appendChild(b);
      if (n.role === "replica" && n.repl_lag) lk.appendChild(el("span", " lag " + bytes(n.repl_lag), "muted small"));
      tr.appendChild(lk);
      tr.appendChild(el("td", ago(n.last_failover)));
      var act = el("td");
      if (n.role === "replica") {
        var fb = el("button", "Failover", "small failover");
        fb.addEventListener("click", function () {
          confirmDialog("Manual failover", "Promote replica " + short(n.id) + " (" + n.addr + ") to primary in place of " + short(n.primary_id) + "?")
            .then(function (ok) { if (ok) startOp("/api/failover", { node: n.id }, "Failover of " + short(n.id)); });
        });
        act.appendChild(fb);
      }
      tr.appendChild(act);
      tb.appendChild(tr);
    });
  }

  // ---------- operations ----------
  function startOp(path, body, title) {
    return api("POST", path, body).then(function (r) {
      toast(title + " started");
      track(r.op, title);
    }).catch(function (e) { toast(title + " refused: " + e.message); });
  }
  function track(id, title) {
    // The live stream may announce an operation before its POST answers: then only the
    // title changes (the progress shown is already this operation's).
    var same = state.op === id;
    state.op = id;
    if (same) { if (title) $("op-title").textContent = title; return; }
    var p = $("op-panel"); p.classList.remove("hidden");
    $("op-title").textContent = title || "Operation";
    $("op-status").textContent = "running"; $("op-status").className = "badge warn";
    $("op-close").classList.add("hidden");
    clearInterval(state.opTimer);
    // With the live stream, progress arrives as `op` events, and a slow poll only
    // catches an operation that starts and ends between two of the stream's ticks
    // (the stream never mentions it); without the stream, poll.
    state.opTimer = setInterval(function () { pollOp(id); }, state.live ? 2000 : 700);
    pollOp(id);
  }
  function pollOp(id) {
    api("GET", "/api/ops/" + encodeURIComponent(id)).then(function (j) { renderOp(id, j); }).catch(function () {});
  }
  function renderOp(id, j) {
      if (state.op !== id) return;
      if ($("op-title").textContent === "Operation") $("op-title").textContent = j.kind.replace("_", " ");
      $("op-phase").textContent = "phase: " + j.phase;
      var frac = j.total ? j.done / j.total : (j.status === "done" ? 1 : 0);
      $("op-bar").style.width = (100 * frac).toFixed(1) + "%";
      var moved = j.total ? num(j.done) + " / " + num(j.total) + " slots moved" : "";
      if (j.keys || j.bytes) moved += (moved ? ", " : "") + num(j.keys) + " keys, " + bytes(j.bytes) + " sent";
      $("op-text").textContent = moved;
      var st = $("op-status");
      st.textContent = j.status;
      st.className = "badge " + (j.status === "done" ? "ok" : j.status === "failed" ? "bad" : "warn");
      if (j.status !== "running") {
        clearInterval(state.opTimer);
        $("op-close").classList.remove("hidden");
        if (j.status === "failed") $("op-text").textContent = j.error || "failed";
        else if (j.result && j.result.slots_moved !== undefined) $("op-text").textContent = num(j.result.slots_moved) + " slots and " + num(j.result.keys_moved) + " keys moved" + (j.bytes ? ", " + bytes(j.bytes) + " sent" : "");
        refresh();
      } else if (!state.live && state.tab === "dashboard" && Date.now() - (pollOp.last || 0) > 2500) {
        pollOp.last = Date.now(); refresh();
      }
  }
  $("op-close").addEventListener("click", function () { $("op-panel").classList.add("hidden"); });
  $("btn-add-pair").addEventListener("click", function () {
    confirmDialog("Add a pair", "Start a new primary and replica, join them to the cluster and rebalance slots onto them?")
      .then(function (ok) { if (ok) startOp("/api/scale", { action: "add_pair" }, "Add pair"); });
  });
  $("btn-remove-pair").addEventListener("click", function () {
    confirmDialog("Remove a pair", "Move the slots of the newest pair to the others, then stop and forget both nodes?")
      .then(function (ok) { if (ok) startOp("/api/scale", { action: "remove_pair" }, "Remove pair"); });
  });
  $("btn-rebalance").addEventListener("click", function () {
    confirmDialog("Rebalance", "Even out slots over all primaries (moves keys with them)?")
      .then(function (ok) { if (ok) startOp("/api/rebalance", { threshold: 2 }, "Rebalance"); });
  });
  $("autoscale-toggle").addEventListener("change", function (ev) {
    var want = ev.target.checked;
    ev.target.checked = !want;
    confirmDialog((want ? "Enable" : "Disable") + " autoscaling", want
      ? "Let the supervisor add or remove pairs by its CPU/memory rules?"
      : "Stop automatic scaling?").then(function (ok) {
      if (!ok) return;
      api("POST", "/api/autoscale", { enabled: want }).then(function () {
        toast("autoscaling " + (want ? "on" : "off")); refresh();
      }).catch(function (e) { toast(e.message); });
    });
  });

  // ---------- password rotation and backups ----------
  $("btn-rotate").addEventListener("click", function () {
    confirmDialog("Rotate the password", "Set a new generated cluster password on every node now, without restarts? " +
      "The old one keeps working for 5 minutes, then is refused. The new one is in the data directory's credentials file; this page stays signed in.")
      .then(function (ok) {
        if (!ok) return;
        api("POST", "/api/password/rotate", { grace: 300 }).then(function (r) {
          toast("password rotated; the old one is accepted until " + new Date(r.old_accepted_until * 1000).toLocaleTimeString());
        }).catch(function (e) { toast(e.message); });
      });
  });
  function loadBackups() {
    return api("GET", "/api/backups").then(function (b) {
      $("backups-info").textContent = b.scheduled
        ? "A backup every " + num(b.every_secs) + " s, the newest " + b.keep + " kept in " + b.dir
        : "No scheduled backups (rubra up --backup-every 1h --keep 24); rubra backup --to DIR takes one.";
      var tb = document.querySelector("#backups-table tbody");
      tb.textContent = "";
      b.backups.forEach(function (x) {
        var tr = el("tr");
        [new Date(x.started_unix * 1000).toLocaleString(), num(x.shards), num(x.keys), bytes(x.bytes), x.dir]
          .forEach(function (t) { tr.appendChild(el("td", String(t))); });
        tb.appendChild(tr);
      });
    }).catch(function () {});
  }
  loadBackups();
  setInterval(function () { if (!document.hidden && state.tab === "dashboard") loadBackups(); }, 30000);

  // ---------- charts ----------
  function loadHistory() {
    return api("GET", "/api/metrics/history").then(function (h) {
      state.history = h;
      var sel = $("chart-node"), cur = sel.value;
      sel.textContent = "";
      sel.appendChild(el("option", "Total and nodes")).value = "";
      Object.keys(h.nodes).forEach(function (id) {
        var o = el("option", short(id) + " :" + h.nodes[id].port); o.value = id; sel.appendChild(o);
      });
      sel.value = cur;
      drawCharts();
    }).catch(function (e) { toast(e.message); });
  }
  $("chart-node").addEventListener("change", drawCharts);
  function drawCharts() {
    var h = state.history; if (!h) return;
    var pick = $("chart-node").value;
    [["ops", num], ["mem", bytes], ["cpu", function (v) { return v.toFixed(2); }], ["keys", num],
      ["net", function (v) { return bytes(Math.round(v)) + "/s"; }]].forEach(function (m) {
      var series = [];
      if (!pick) series.push({ color: "#111827", width: 2, data: h.total[m[0]] });
      Object.keys(h.nodes).forEach(function (id) {
        if (pick && pick !== id) return;
        var n = (state.cluster && state.cluster.nodes.find(function (x) { return x.id === id; })) || { id: id, role: "primary" };
        series.push({ color: colorOf(n), width: pick ? 2 : 1, data: h.nodes[id][m[0]], dash: n.role === "replica" });
      });
      drawChart($("chart-" + m[0]), h.ts, series, m[1]);
    });
    $("chart-info").textContent = h.ts.length + " samples every " + h.interval_secs + " s (up to " + h.capacity + "); black = total, coloured = nodes (dashed = replicas).";
  }
  function drawChart(cv, ts, series, fmt) {
    var ctx = cv.getContext("2d"), W = cv.width, H = cv.height, L = 56, B = 20, T = 8;
    ctx.clearRect(0, 0, W, H);
    ctx.font = "11px system-ui, sans-serif"; ctx.fillStyle = "#6b7280";
    if (ts.length < 2) { ctx.fillText("collecting samples…", L, H / 2); return; }
    var max = 0;
    series.forEach(function (s) { s.data.forEach(function (v) { if (v !== null && v > max) max = v; }); });
    if (max <= 0) max = 1;
    var t0 = ts[0], t1 = ts[ts.length - 1];
    function X(t) { return L + (W - L - 8) * (t - t0) / Math.max(1, t1 - t0); }
    function Y(v) { return T + (H - T - B) * (1 - v / max); }
    ctx.strokeStyle = "#e5e7eb"; ctx.lineWidth = 1;
    for (var g = 0; g <= 4; g++) {
      var y = T + (H - T - B) * g / 4;
      ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(W - 8, y); ctx.stroke();
      ctx.fillText(fmt(max * (1 - g / 4)), 2, y + 4);
    }
    ctx.fillText(new Date(t0 * 1000).toLocaleTimeString(), L, H - 4);
    var right = new Date(t1 * 1000).toLocaleTimeString();
    ctx.fillText(right, W - 8 - ctx.measureText(right).width, H - 4);
    series.forEach(function (s) {
      ctx.strokeStyle = s.color; ctx.lineWidth = s.width; ctx.setLineDash(s.dash ? [4, 3] : []);
      ctx.beginPath(); var pen = false;
      s.data.forEach(function (v, i) {
        if (v === null) { pen = false; return; }
        if (pen) ctx.lineTo(X(ts[i]), Y(v)); else ctx.moveTo(X(ts[i]), Y(v));
        pen = true;
      });
      ctx.stroke();
    });
    ctx.setLineDash([]);
  }

  // ---------- events ----------
  function loadEvents() {
    api("GET", "/api/events").then(function (ev) {
      var tb = document.querySelector("#events-table tbody"); tb.textContent = "";
      ev.slice(-300).reverse().forEach(function (e) {
        var tr = el("tr");
        tr.appendChild(el("td", new Date(e.ts * 1000).toLocaleString()));
        tr.appendChild(el("td", e.kind));
        tr.appendChild(el("td", JSON.stringify(e.detail)));
        tb.appendChild(tr);
      });
    }).catch(function (e) { toast(e.message); });
  }

  // ---------- keys ----------
  $("scan-form").addEventListener("submit", function (ev) {
    ev.preventDefault(); state.scanCursor = "0"; $("key-list").textContent = ""; scanMore();
  });
  $("scan-more").addEventListener("click", scanMore);
  function scanMore() {
    var p = $("scan-pattern").value || "*";
    api("GET", "/api/keys?pattern=" + encodeURIComponent(p) + "&count=200&cursor=" + encodeURIComponent(state.scanCursor))
      .then(function (r) {
        var ul = $("key-list");
        r.keys.forEach(function (k) {
          var li = el("li", k.binary ? "(hex) " + k.hex : k.key); li.title = "on " + short(k.node) + " :" + k.port;
          if (k.binary) li.classList.add("reply-hex");
          li.tabIndex = 0; li.setAttribute("role", "button"); keyClick(li);
          li.addEventListener("click", function () {
            Array.prototype.forEach.call(ul.children, function (x) { x.classList.remove("sel"); });
            li.classList.add("sel"); showKey(k.hex);
          });
          ul.appendChild(li);
        });
        state.scanCursor = r.cursor;
        $("scan-more").disabled = r.done;
        $("scan-info").textContent = ul.children.length + " keys" + (r.done ? " (scan complete)" : " (more available)");
      }).catch(function (e) { toast(e.message); });
  }
  // One edit of the shown key; reloads it afterwards.
  function editKey(hex, body) {
    body.key = { hex: hex };
    return api("POST", "/api/key/edit", body).then(function () { toast("saved"); showKey(body.op === "rename" ? null : hex, body); })
      .catch(function (e) { toast(e.message); });
  }
  function field(id, label, value) {
    var i = el("input"); i.id = id; i.setAttribute("aria-label", label); i.placeholder = label;
    if (value !== undefined) i.value = value;
    return i;
  }
  function button(id, text, onClick, cls) {
    var b = el("button", text, cls); b.id = id; b.type = "button"; b.addEventListener("click", onClick); return b;
  }
  function showKey(hex, after) {
    var d = $("key-detail");
    if (hex === null) { d.textContent = "Renamed to " + (after && after.to) + "."; return; }
    d.textContent = "loading…";
    // Only the latest request draws: a reload after an edit can be answered after the
    // user has already opened another key.
    var seq = state.keySeq = (state.keySeq || 0) + 1;
    api("GET", "/api/key?hex=" + encodeURIComponent(hex)).then(function (k) {
      if (seq !== state.keySeq) return;
      d.textContent = ""; d.classList.remove("muted");
      d.appendChild(el("h3", k.binary ? "(hex) " + k.hex : k.key));
      if (!k.found) { d.appendChild(el("p", "This key no longer exists.")); return; }
      var ttl = k.ttl_ms < 0 ? "no expiry" : dur(Math.round(k.ttl_ms / 1000));
      d.appendChild(el("p", "type " + k.type + " · TTL " + ttl + " · size " + num(k.size) +
        (k.truncated ? " (showing the first part)" : "") + " · node " + short(k.node)));
      var binVal = k.value && typeof k.value === "object" && k.value.hex !== undefined;
      if (k.type === "string" && !k.truncated) {
        var ta = el("textarea"); ta.id = "key-value"; ta.rows = 4; ta.setAttribute("aria-label", "value");
        ta.value = binVal ? k.value.hex : k.value;
        d.appendChild(ta);
        var hexBox = el("label", null, "small"); var cb = el("input"); cb.type = "checkbox"; cb.id = "key-value-hex"; cb.checked = binVal;
        hexBox.appendChild(cb); hexBox.appendChild(document.createTextNode(" hex"));
        var row0 = el("div", null, "row"); row0.appendChild(hexBox);
        row0.appendChild(button("key-save", "Save value", function () {
          editKey(hex, { op: "set", value: cb.checked ? { hex: ta.value.replace(/\s+/g, "") } : ta.value });
        }, "primary"));
        d.appendChild(row0);
      } else {
        // Large values: the first page, then more on request (never the whole value).
        var shown = k.value, pre = el("pre");
        var render = function () {
          pre.textContent = Array.isArray(shown) ? JSON.stringify(shown, null, 2)
            : typeof shown === "string" ? shown : JSON.stringify(shown, null, 2);
        };
        render();
        d.appendChild(pre);
        var next = k.next;
        if (next && next !== "0") {
          var more = button("key-more", "Show more", function () {
            api("GET", "/api/key/page?hex=" + encodeURIComponent(hex) + "&cursor=" + encodeURIComponent(next)).then(function (pg) {
              if (Array.isArray(shown) && pg.type !== "string") shown = shown.concat(pg.items);
              else if (typeof shown === "string" && typeof pg.items[0] === "string") shown = shown + pg.items[0];
              else shown = [shown].concat(pg.items);
              next = pg.cursor; render();
              if (!next || next === "0") more.remove();
            }).catch(function (e) { toast(e.message); });
          });
          d.appendChild(more);
        }
      }
      // Elements of collections.
      var row = el("div", null, "row");
      if (k.type === "hash") {
        var hf = field("el-field", "field"), hv = field("el-value", "value");
        row.appendChild(hf); row.appendChild(hv);
        row.appendChild(button("el-set", "Set field", function () { editKey(hex, { op: "hset", field: hf.value, value: hv.value }); }));
        row.appendChild(button("el-del", "Delete field", function () { editKey(hex, { op: "hdel", field: hf.value }); }));
      } else if (k.type === "list") {
        var li = field("el-index", "index"), lv = field("el-value", "value");
        row.appendChild(li); row.appendChild(lv);
        row.appendChild(button("el-set", "Set element", function () { editKey(hex, { op: "lset", index: parseInt(li.value, 10), value: lv.value }); }));
        row.appendChild(button("el-add", "Append", function () { editKey(hex, { op: "rpush", value: lv.value }); }));
        row.appendChild(button("el-del", "Remove value", function () { editKey(hex, { op: "lrem", value: lv.value }); }));
      } else if (k.type === "set") {
        var sm = field("el-value", "member");
        row.appendChild(sm);
        row.appendChild(button("el-add", "Add", function () { editKey(hex, { op: "sadd", value: sm.value }); }));
        row.appendChild(button("el-del", "Remove", function () { editKey(hex, { op: "srem", value: sm.value }); }));
      } else if (k.type === "zset") {
        var zm = field("el-value", "member"), zs = field("el-score", "score");
        row.appendChild(zm); row.appendChild(zs);
        row.appendChild(button("el-set", "Set score", function () { editKey(hex, { op: "zadd", value: zm.value, score: parseFloat(zs.value) }); }));
        row.appendChild(button("el-del", "Remove", function () { editKey(hex, { op: "zrem", value: zm.value }); }));
      }
      if (row.children.length) d.appendChild(row);
      // TTL and rename.
      var row2 = el("div", null, "row");
      var ttlIn = field("key-ttl", "TTL in seconds", k.ttl_ms > 0 ? Math.round(k.ttl_ms / 1000) : "");
      row2.appendChild(ttlIn);
      row2.appendChild(button("key-ttl-set", "Set TTL", function () {
        var sec = parseFloat(ttlIn.value);
        if (!(sec > 0)) { toast("give a TTL in seconds"); return; }
        editKey(hex, { op: "expire", ttl_ms: Math.round(sec * 1000) });
      }));
      row2.appendChild(button("key-ttl-clear", "Remove TTL", function () { editKey(hex, { op: "expire", ttl_ms: -1 }); }));
      var rn = field("key-rename", "new name");
      row2.appendChild(rn);
      row2.appendChild(button("key-rename-go", "Rename", function () {
        if (!rn.value) return;
        editKey(hex, { op: "rename", to: rn.value }).then(function () {
          var sel = document.querySelector("#key-list li.sel"); if (sel) sel.textContent = rn.value;
        });
      }));
      d.appendChild(row2);
      var del = el("button", "Delete key", "danger");
      del.id = "key-delete";
      del.addEventListener("click", function () {
        confirmDialog("Delete key", "Delete \"" + (k.binary ? "(hex) " + k.hex : k.key) + "\"? This cannot be undone.").then(function (ok) {
          if (!ok) return;
          api("POST", "/api/key/delete", { key: { hex: k.hex } }).then(function (r) {
            toast(r.deleted ? "deleted" : "key was already gone");
            var sel = document.querySelector("#key-list li.sel"); if (sel) sel.remove();
            d.textContent = "Deleted."; d.classList.add("muted");
          }).catch(function (e) { toast(e.message); });
        });
      });
      d.appendChild(del);
    }).catch(function (e) { d.textContent = e.message; });
  }
  $("new-key-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("new-key-type").value, body = { op: "create", type: t, key: $("new-key-name").value,
      field: $("new-key-field").value, value: $("new-key-value").value };
    if (t === "zset") body.score = parseFloat($("new-key-field").value) || 0;
    api("POST", "/api/key/edit", body).then(function () { toast("created"); $("key-detail").textContent = "Created " + body.key + ". Scan to see it."; })
      .catch(function (e) { toast(e.message); });
  });

  // ---------- slow log ----------
  function loadSlowlog() {
    return api("GET", "/api/slowlog?count=128").then(function (r) {
      var tb = document.querySelector("#slowlog-table tbody");
      while (tb.firstChild) tb.removeChild(tb.firstChild);
      r.entries.forEach(function (e) {
        var tr = el("tr");
        tr.dataset.micros = e.micros; tr.dataset.node = e.node;
        tr.appendChild(el("td", new Date(e.ts * 1000).toLocaleTimeString()));
        var n = el("td", short(e.node) + " " + e.addr); n.className = "slow-node"; n.dataset.node = e.node;
        tr.appendChild(n);
        tr.appendChild(el("td", (e.micros / 1000).toFixed(2) + " ms"));
        tr.appendChild(el("td", e.args.join(" "), "mono"));
        tr.appendChild(el("td", e.client + (e.client_name ? " (" + e.client_name + ")" : "")));
        tb.appendChild(tr);
      });
      var sel = $("slowlog-node"), keep = sel.value;
      while (sel.options.length > 1) sel.remove(1);
      ((state.cluster && state.cluster.nodes) || []).forEach(function (n) {
        var o = el("option", short(n.id) + " " + n.addr); o.value = n.id; sel.appendChild(o);
      });
      sel.value = keep;
      if (sel.value !== keep) sel.value = "";
      $("slowlog-info").textContent = r.entries.length + " entries" +
        (r.unreachable.length ? " · unreachable: " + r.unreachable.map(short).join(", ") : "");
    }).catch(function (e) { toast(e.message); });
  }
  $("slowlog-refresh").addEventListener("click", loadSlowlog);
  $("slowlog-reset").addEventListener("click", function () {
    var node = $("slowlog-node").value;
    confirmDialog("Reset slow logs", node ? "Clear the slow log of node " + short(node) + "?" : "Clear the slow log of every node?").then(function (ok) {
      if (!ok) return;
      api("POST", "/api/slowlog/reset", node ? { node: node } : {}).then(loadSlowlog).catch(function (e) { toast(e.message); });
    });
  });

  // ---------- hot keys ----------
  function loadHotkeys() {
    $("hot-info").textContent = "sampling…";
    return api("GET", "/api/hotkeys").then(function (r) {
      state.hot = r;
      var sel = $("hot-node"), keep = sel.value;
      while (sel.options.length > 1) sel.remove(1);
      r.nodes.forEach(function (n) {
        var o = el("option", short(n.node) + " " + n.addr); o.value = n.node; sel.appendChild(o);
      });
      sel.value = keep;
      if (sel.value !== keep) sel.value = "";
      renderHotKeys();
      var sb = document.querySelector("#hot-slots tbody");
      while (sb.firstChild) sb.removeChild(sb.firstChild);
      r.top_slots.forEach(function (x) {
        var tr = el("tr");
        tr.dataset.slot = x.slot; tr.dataset.node = x.node;
        tr.appendChild(el("td", x.slot)); tr.appendChild(el("td", x.heat));
        tr.appendChild(el("td", x.keys)); tr.appendChild(el("td", short(x.node)));
        var act = el("td"), mv = el("button", "Move", "small move-slot");
        mv.setAttribute("aria-label", "Move slot " + x.slot + " to another primary");
        mv.addEventListener("click", function () {
          confirmDialog("Move slot " + x.slot, "Move slot " + x.slot + " (and its keys) from " + short(x.node) + " to the primary with the fewest slots?")
            .then(function (ok) { if (ok) startOp("/api/move-slot", { slot: x.slot }, "Move slot " + x.slot); });
        });
        act.appendChild(mv); tr.appendChild(act);
        sb.appendChild(tr);
      });
      var sampled = r.nodes.reduce(function (a, n) { return a + n.sampled; }, 0);
      var errs = r.nodes.filter(function (n) { return n.error; }).map(function (n) { return short(n.node) + ": " + n.error; });
      $("hot-info").textContent = num(sampled) + " keys sampled" + (errs.length ? " · " + errs.join("; ") : "");
      $("hot-lfu").classList.toggle("hidden", r.lfu);
    }).catch(function (e) { $("hot-info").textContent = e.message; });
  }
  // The keys table: cluster-wide, or the hottest keys of the chosen primary.
  function renderHotKeys() {
    var r = state.hot; if (!r) return;
    var pick = $("hot-node").value, keys = r.top_keys;
    if (pick) keys = (r.nodes.find(function (n) { return n.node === pick; }) || { top: [] }).top;
    var kb = document.querySelector("#hot-keys tbody");
    while (kb.firstChild) kb.removeChild(kb.firstChild);
    keys.forEach(function (k) {
      var tr = el("tr");
      tr.dataset.hex = k.hex; tr.dataset.node = k.node;
      tr.appendChild(el("td", k.key, "mono")); tr.appendChild(el("td", k.freq));
      tr.appendChild(el("td", k.slot)); tr.appendChild(el("td", short(k.node)));
      kb.appendChild(tr);
    });
  }
  $("hot-node").addEventListener("change", renderHotKeys);
  $("hot-refresh").addEventListener("click", loadHotkeys);
  $("hot-lfu").addEventListener("click", function () {
    confirmDialog("Switch to LFU", "Set maxmemory-policy allkeys-lfu on every primary? Eviction (when maxmemory is reached) will then pick the least frequently used keys.")
      .then(function (ok) {
        if (!ok) return;
        api("POST", "/api/console", { line: "CONFIG SET maxmemory-policy allkeys-lfu", all: true, confirm: true })
          .then(loadHotkeys).catch(function (e) { toast(e.message); });
      });
  });

  // ---------- console ----------
  var consoleHistory = [], consoleAt = 0;
  function replyNode(r) {
    var t = r.type;
    if (t === "error") return el("span", "(error) " + (r.text !== undefined ? r.text : r.hex), "reply-err");
    if (t === "integer") return el("span", "(integer) " + r.value);
    if (t === "null") return el("span", "(nil)", "muted");
    if (t === "boolean") return el("span", "(" + r.value + ")");
    if (t === "double") return el("span", "(double) " + r.text);
    if (t === "status") return el("span", r.text !== undefined ? r.text : r.hex);
    if (t === "string" || t === "verbatim" || t === "bignumber") {
      var s = r.text !== undefined ? "\"" + r.text + "\"" : "(hex) " + r.hex;
      if (r.size) s += " … (" + num(r.size) + " bytes in all)";
      return el("span", s, r.text === undefined ? "reply-hex" : "");
    }
    if (t === "map") {
      var tb = el("table", null, "reply-map");
      r.entries.forEach(function (kv) {
        var tr = el("tr"), k = el("th"), v = el("td");
        k.appendChild(replyNode(kv[0])); v.appendChild(replyNode(kv[1]));
        tr.appendChild(k); tr.appendChild(v); tb.appendChild(tr);
      });
      if (!r.entries.length) return el("span", "(empty map)", "muted");
      return tb;
    }
    // array, set, push
    if (!r.items.length) return el("span", "(empty " + t + ")", "muted");
    var ol = el("ol", null, "reply-list" + (t === "set" ? " reply-set" : ""));
    r.items.forEach(function (it) { var li = el("li"); li.appendChild(replyNode(it)); ol.appendChild(li); });
    if (r.size > r.items.length) ol.appendChild(el("li", "… " + num(r.size - r.items.length) + " more", "muted"));
    return ol;
  }
  function consoleEntry(line, out) {
    var box = el("div", null, "console-entry");
    box.appendChild(el("div", "> " + line, "console-cmd"));
    (out.results || []).forEach(function (res) {
      var head = "node " + short(res.node) + (res.addr ? " (" + res.addr + (res.role ? ", " + res.role : "") + ")" : "");
      if (res.ms !== undefined) head += " · " + res.ms.toFixed(1) + " ms";
      if (res.redirects && res.redirects.length) head += " · followed " + res.redirects.join(", ");
      var h = el("div", head, "muted small console-node"); h.dataset.node = res.node || "";
      box.appendChild(h);
      box.appendChild(res.error ? el("span", "(error) " + res.error, "reply-err") : replyNode(res.reply));
    });
    var o = $("console-out");
    o.insertBefore(box, o.firstChild);
  }
  function runConsole(line, confirmed) {
    var body = { line: line, node: $("console-node").value || null, all: $("console-all").checked, confirm: !!confirmed };
    return fetch("/api/console", { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": CSRF, "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) {
        if (r.status === 401) { location.reload(); throw new Error("session expired"); }
        return r.json().then(function (j) {
          if (r.status === 409 && j.refused === "confirm") {
            return confirmDialog("Run " + line.split(/\s+/)[0].toUpperCase() + "?", j.error).then(function (ok) {
              if (ok) return runConsole(line, true);
            });
          }
          if (!r.ok) { consoleEntry(line, { results: [{ error: j.error || ("HTTP " + r.status) }] }); return; }
          consoleEntry(line, j);
        });
      }).catch(function (e) { toast(e.message); });
  }
  $("console-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var line = $("console-line").value.trim();
    if (!line) return;
    consoleHistory.push(line); consoleAt = consoleHistory.length;
    $("console-line").value = "";
    runConsole(line, false);
  });
  $("console-line").addEventListener("keydown", function (ev) {
    if (ev.key !== "ArrowUp" && ev.key !== "ArrowDown") return;
    ev.preventDefault();
    consoleAt = Math.max(0, Math.min(consoleHistory.length, consoleAt + (ev.key === "ArrowUp" ? -1 : 1)));
    $("console-line").value = consoleHistory[consoleAt] || "";
  });
  function fillConsoleNodes() {
    var sel = $("console-node"), keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    ((state.cluster && state.cluster.nodes) || []).forEach(function (n) {
      var o = el("option", short(n.id) + " " + n.addr + " (" + n.role + ")"); o.value = n.id; sel.appendChild(o);
    });
    sel.value = keep;
  }

  // ---------- start ----------
  // Live updates: the supervisor pushes each new cluster snapshot, events and operation
  // progress (server-sent events); EventSource reconnects by itself. While the stream is
  // down the page falls back to polling.
  function startLive() {
    if (!window.EventSource) return;
    var es = new EventSource("/api/stream");
    es.onopen = function () { state.live = true; $("live-state").textContent = "live"; $("live-state").className = "badge ok"; };
    es.onerror = function () { state.live = false; $("live-state").textContent = "reconnecting"; $("live-state").className = "badge warn"; };
    es.addEventListener("cluster", function (m) {
      renderCluster(JSON.parse(m.data));
      if (state.tab === "charts") loadHistory(); // a new sample was just taken
    });
    es.addEventListener("event", function () { if (state.tab === "events") loadEvents(); });
    es.addEventListener("op", function (m) {
      var j = JSON.parse(m.data);
      if (j) { if (state.op !== j.id) track(j.id); else renderOp(j.id, j); }
      else if (state.op) pollOp(state.op); // finished: one read of its final state
    });
  }
  refresh();
  startLive();
  setInterval(function () {
    if (document.hidden) return;
    if (state.tab === "dashboard" && !state.live) refresh();
    if (state.tab === "charts" && !state.live) loadHistory();
    if (state.tab === "events" && !state.live) loadEvents();
    if (state.tab === "slowlog") loadSlowlog();
  }, 5000);
})();

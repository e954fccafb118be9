//! The supervisor's node processes (or containers): start them, keep them running,
//! stop them.

use super::*;

impl Supervisor {
    /// Make sure the node on `port` runs: keep a live handle, adopt a process left by an
    /// earlier supervisor (pid in state.json and the port answers), or spawn it.
    pub fn ensure_running(&self, port: u16) -> Result<()> {
        if let Some(d) = &self.docker {
            d.ensure_running(port, &self.opts)?;
            return Ok(());
        }
        if let Some(e) = &self.external {
            e.wait_resolvable(port)?;
            return Ok(());
        }
        // A dead node's handle stays until a new process replaces it: if this start
        // fails (its port still taken), the monitor sees it dead again and retries.
        if lock(&self.procs).get_mut(&port).is_some_and(|h| h.alive()) {
            return Ok(());
        }
        let old_pid = lock(&self.state)
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.pid);
        if let Some(pid) = old_pid {
            if pid_alive(pid) && form::local(&self.ctx(), port).is_ok() {
                lock(&self.procs).insert(port, Handle::Adopted(pid));
                return Ok(());
            }
        }
        // Connections of the process that just died may hold the port for a moment.
        if !crate::ports::bindable_soon(port) {
            bail!("port {port} is in use by another process");
        }
        let child = spawn(&self.dir, port, &self.node_opts())?;
        let pid = child.id();
        lock(&self.procs).insert(port, Handle::Child(child));
        if let Some(n) = lock(&self.state).node_mut(port) {
            n.pid = Some(pid);
        }
        self.save()
    }

    /// Stop the node on `port` (SIGTERM, then SIGKILL after 10 s).
    pub fn stop_node(&self, port: u16) {
        if self.external.is_some() {
            return; // the orchestrator owns the node
        }
        if let Some(d) = &self.docker {
            if let Err(e) = d.stop(port, 10) {
                self.event(
                    "warning",
                    serde_json::json!({"port": port, "stop": format!("{e:#}")}),
                );
            }
            return;
        }
        let h = lock(&self.procs).remove(&port);
        if let Some(mut h) = h {
            h.stop(Duration::from_secs(10));
        }
    }

    /// Stop every node; used on Ctrl-C/SIGTERM and by `rubra down`.
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(d) = &self.docker {
            // Containers stay (stopped), with their volumes: `rubra up` starts them again.
            let ports = lock(&self.state).active_ports();
            std::thread::scope(|s| {
                for p in ports {
                    s.spawn(move || {
                        if let Err(e) = d.stop(p, 10) {
                            eprintln!("rubra: stop node {p}: {e:#}");
                        }
                    });
                }
            });
        }
        let ports: Vec<u16> = lock(&self.procs).keys().copied().collect();
        let handles: Vec<(u16, Handle)> = {
            let mut p = lock(&self.procs);
            ports
                .iter()
                .filter_map(|k| p.remove(k).map(|h| (*k, h)))
                .collect()
        };
        // Signal all first, then wait: shutdown takes one grace period, not N.
        for (_, h) in &handles {
            crate::state::signal(h.pid(), libc::SIGTERM);
        }
        for (_, mut h) in handles {
            h.stop(Duration::from_secs(10));
        }
        {
            let mut st = lock(&self.state);
            for n in st.nodes.iter_mut() {
                n.pid = None;
            }
            st.panel = None;
        }
        let _ = self.save();
        let _ = std::fs::remove_file(self.dir.pid_path());
    }

    /// One monitor pass: restart active nodes whose process died.
    pub fn monitor_tick(&self) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let ports = lock(&self.state).active_ports();
        if let Some(d) = &self.docker {
            return self.monitor_containers(d, &ports);
        }
        if let Some(e) = &self.external {
            // The orchestrator restarts nodes; only follow address changes.
            for p in ports {
                let _ = e.resolve(p);
            }
            return;
        }
        for port in ports {
            let dead = {
                let mut procs = lock(&self.procs);
                match procs.get_mut(&port) {
                    Some(h) => !h.alive(),
                    None => false, // not started yet, or being started by an operation
                }
            };
            if dead && !self.stopping.load(Ordering::SeqCst) {
                let r = self.ensure_running(port);
                self.event(
                    "node_restarted",
                    serde_json::json!({"port": port, "ok": r.is_ok(),
                        "error": r.err().map(|e| format!("{e:#}"))}),
                );
            }
        }
    }

    /// The monitor pass of the Docker runtime: a container that is gone or stopped for
    /// good (a restart policy does not bring back a killed container) is started or
    /// re-created with its volume; addresses are re-read, since a restart can change them.
    ///
    /// On several hosts each engine is pinged first: the nodes of a host that does not
    /// answer are not restarted in place (even a container found dead on an earlier pass,
    /// while its host still answered, waits), and once the host counts as lost they are
    /// re-created on the others (`recover_lost_hosts`).
    fn monitor_containers(&self, d: &crate::docker::DockerRt, ports: &[u16]) {
        let down = if d.multi() {
            self.probe_hosts(d)
        } else {
            Default::default()
        };
        for &port in ports {
            if lock(&self.replacing).contains(&port) {
                continue;
            }
            if d.host_of(port).is_some_and(|h| down.contains(&h)) {
                lock(&self.dead_since).remove(&port);
                continue;
            }
            match d.alive(port) {
                Ok(true) => {
                    lock(&self.dead_since).remove(&port);
                    let _ = d.refresh_ip(port);
                }
                Ok(false) if !self.stopping.load(Ordering::SeqCst) => {
                    // Like a lost host: let the cluster fail the node over first, so a
                    // primary comes back as a replica of the node that holds every write
                    // it acknowledged (its own AOF may lag by up to a second).
                    let since = *lock(&self.dead_since)
                        .entry(port)
                        .or_insert_with(Instant::now);
                    // Failover takes about node_timeout; then clients need a moment to
                    // follow the new primary before the old one reappears (see the
                    // report in tests/docker.rs on a restart during that window).
                    let grace = Duration::from_millis(self.opts.node_timeout * 5 + 5000);
                    if since.elapsed() < grace {
                        continue;
                    }
                    lock(&self.dead_since).remove(&port);
                    let r = self.ensure_running(port);
                    self.event(
                        "node_restarted",
                        serde_json::json!({"port": port, "container": d.container(port),
                            "ok": r.is_ok(), "error": r.err().map(|e| format!("{e:#}"))}),
                    );
                }
                Ok(false) => {}
                Err(e) => eprintln!("rubra: docker inspect of node {port}: {e:#}"),
            }
        }
        if d.multi() && !self.stopping.load(Ordering::SeqCst) {
            self.recover_lost_hosts(d);
        }
    }

    /// Start all active nodes, form the cluster if never formed, wait until healthy.
    pub fn start(&self) -> Result<()> {
        let ports = lock(&self.state).active_ports();
        for &p in &ports {
            self.ensure_running(p)?;
        }
        let ctx = self.ctx();
        for &p in &ports {
            form::wait_up(&ctx, p, Duration::from_secs(20))?;
        }
        let formed = lock(&self.state).formed;
        let nodes: Vec<NodeRec> = lock(&self.state)
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Active)
            .cloned()
            .collect();
        if !formed {
            let ids = form::form(&ctx, &self.meet_ip(), &nodes)?;
            let mut st = lock(&self.state);
            for (p, id) in ids {
                if let Some(n) = st.node_mut(p) {
                    n.id = Some(id);
                }
            }
            st.formed = true;
        } else {
            // Nodes of an unfinished add-pair may not have met yet; the pending op does it.
            let pending_pair = match &lock(&self.state).pending {
                Some(Pending::AddPair { pair, .. }) => Some(*pair),
                _ => None,
            };
            let core: Vec<u16> = nodes
                .iter()
                .filter(|n| Some(n.pair) != pending_pair)
                .map(|n| n.port)
                .collect();
            let replicas = nodes
                .iter()
                .filter(|n| Some(n.pair) != pending_pair && n.intent == Intent::Replica)
                .count();
            let (meets, ids) = form::adopt(&ctx, &core, replicas, CONVERGE)?;
            if meets > 0 {
                self.event(
                    "readdressed",
                    serde_json::json!({"meets": meets, "announce_ip": self.meet_ip()}),
                );
            }
            let mut st = lock(&self.state);
            for (p, id) in ids {
                if let Some(n) = st.node_mut(p) {
                    n.id = Some(id);
                }
            }
        }
        self.save()
    }
}

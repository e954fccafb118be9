//! The supervisor's side of a password rotation (see `crate::password` for the steps):
//! it owns the node processes, so it is the one place that knows every node, restarts
//! them with the right config, and can hold the grace-period timer.

use super::*;
use crate::password::{self, sha256_hex};
use crate::state::RotationRec;
use std::sync::Arc;

/// The longest grace period accepted (a week): the old password must go eventually.
const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

impl Supervisor {
    /// Rotate the cluster password: a new strong one is accepted everywhere at once, the
    /// old one until `grace_secs` from now. Returns when every node accepts the new
    /// password, the credentials file holds it and the supervisor uses it.
    pub fn rotate_password(self: &Arc<Self>, grace_secs: u64) -> Result<serde_json::Value> {
        if self.docker.is_some() || self.external.is_some() {
            bail!("password rotation needs the local runtime: Docker/external nodes take their password from their environment");
        }
        if grace_secs > MAX_GRACE_SECS {
            bail!("the grace period is at most {MAX_GRACE_SECS} seconds");
        }
        let r = self.exclusive("password_rotate", || {
            if let Some(r) = lock(&self.state).rotation.clone() {
                bail!(
                    "busy: the previous rotation's grace period lasts until {} (unix time); rotate again after it",
                    r.until
                );
            }
            self.rotate_now(grace_secs)
        });
        if r.is_err() {
            self.event(
                "password_rotate_failed",
                serde_json::json!({"error": r.as_ref().err().map(|e| format!("{e:#}"))}),
            );
        }
        let rec = r?;
        let me = self.clone();
        std::thread::spawn(move || me.finish_rotation_at(rec.until));
        Ok(
            serde_json::json!({"rotated": true, "grace_secs": grace_secs,
            "old_accepted_until": rec.until,
            "credentials": self.dir.creds_path().display().to_string()}),
        )
    }

    fn rotate_now(&self, grace_secs: u64) -> Result<RotationRec> {
        let old = self.secret.current();
        let new = crate::state::generate_password();
        let ctx = self.ctx();
        let addrs = ctx.seeds.clone();
        password::add_everywhere(&ctx, &addrs, &new)?;
        // From here on every node accepts both. Our connections, restarted nodes and the
        // credentials file move to the new one; the record lets a restarted supervisor
        // finish the rotation (it holds a hash, never the password).
        let rec = RotationRec {
            old_sha256: sha256_hex(old.as_bytes()),
            until: now_secs() + grace_secs,
        };
        self.secret.switch(new.clone(), rec.old_sha256.clone());
        self.dir
            .write_password(&new)
            .context("write the credentials file")?;
        lock(&self.state).rotation = Some(rec.clone());
        self.save()?;
        let ctx = self.ctx();
        let mut failed = Vec::new();
        for a in &addrs {
            if let Err(e) = password::set_masterauth(&ctx, a, &new) {
                // A node restarted between step 1 and our switch has only the old password:
                // give it the new one too. One that is down now gets both from its config.
                let repaired = password::add_everywhere(
                    &Ctx {
                        password: Some(old.clone()),
                        ..ctx.clone()
                    },
                    std::slice::from_ref(a),
                    &new,
                )
                .and_then(|()| password::set_masterauth(&ctx, a, &new));
                if let Err(e2) = repaired {
                    failed.push(format!("{a}: {e:#}; {e2:#}"));
                }
            }
        }
        self.event(
            "password_rotated",
            serde_json::json!({"nodes": addrs.len(), "grace_secs": grace_secs,
                "old_accepted_until": rec.until, "masterauth_failed": failed}),
        );
        Ok(rec)
    }

    /// Sleep until `until` (unix seconds), then end the grace period.
    pub fn finish_rotation_at(&self, until: u64) {
        loop {
            let now = now_secs();
            if now >= until || self.stopping.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(((until - now) * 1000).min(500)));
        }
        if self.stopping.load(Ordering::SeqCst) {
            return; // the next `rubra up` finishes it (the record is in state.json)
        }
        if let Err(e) = self.finish_rotation() {
            self.event(
                "password_grace_end_failed",
                serde_json::json!({"error": format!("{e:#}")}),
            );
        }
    }

    /// End the grace period now: only the current password is accepted anywhere.
    pub fn finish_rotation(&self) -> Result<()> {
        let Some(rec) = lock(&self.state).rotation.clone() else {
            return Ok(());
        };
        // Nodes (re)started from now on get only the new password.
        self.secret.end_grace();
        let new = self.secret.current();
        let ctx = self.ctx();
        let mut failed = Vec::new();
        for a in &ctx.seeds {
            // A node restarting right now is retried briefly; one still down comes back
            // from a config without the old password anyway.
            let t0 = Instant::now();
            loop {
                match password::drop_old(&ctx, a, &new, &rec.old_sha256) {
                    Ok(()) => break,
                    Err(e) if t0.elapsed() > Duration::from_secs(10) => {
                        failed.push(format!("{a}: {e:#}"));
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(500)),
                }
            }
        }
        lock(&self.state).rotation = None;
        self.save()?;
        self.event(
            "password_grace_ended",
            serde_json::json!({"nodes": ctx.seeds.len(), "failed": failed}),
        );
        Ok(())
    }

    /// At start: a rotation whose grace period was still running when the last
    /// supervisor stopped is finished at its deadline (or at once if it passed).
    pub fn resume_rotation(self: &Arc<Self>) {
        if let Some(rec) = lock(&self.state).rotation.clone() {
            let me = self.clone();
            std::thread::spawn(move || me.finish_rotation_at(rec.until));
        }
    }
}

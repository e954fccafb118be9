//! The supervisor's side of `rubra acl` (see `crate::acl`): changes go through it when it
//! runs, and its sync pass keeps every node's users equal to the record (nodes restarted,
//! re-created or added by scaling; a node that was down during a change).

use super::*;

impl Supervisor {
    /// Create or change a managed user on every node; logged as an `acl_setuser` event
    /// (name and node counts, never rules: they may hold a password).
    pub fn acl_setuser(&self, name: &str, rules: &[String]) -> Result<serde_json::Value> {
        let a = crate::acl::setuser(&self.ctx(), &self.dir, name, rules)?;
        self.event(
            "acl_setuser",
            serde_json::json!({"user": name, "nodes": a.nodes.len(), "failed": a.failed}),
        );
        Ok(
            serde_json::json!({"user": name, "rules": a.rules, "nodes": a.nodes, "failed": a.failed}),
        )
    }

    /// Remove a managed user from the record and every node.
    pub fn acl_deluser(&self, name: &str) -> Result<serde_json::Value> {
        let a = crate::acl::deluser(&self.ctx(), &self.dir, name)?;
        self.event(
            "acl_deluser",
            serde_json::json!({"user": name, "nodes": a.nodes.len(), "failed": a.failed}),
        );
        Ok(serde_json::json!({"user": name, "nodes": a.nodes, "failed": a.failed}))
    }

    /// The record and how each node compares with it.
    pub fn acl_list(&self) -> Result<serde_json::Value> {
        let rec = crate::acl::load(&self.dir)?;
        let nodes = crate::acl::compare(&self.ctx(), &rec)?;
        Ok(crate::acl::list_json(&rec, &nodes))
    }

    /// One sync pass (the supervisor runs it every few seconds); fixes are logged.
    pub fn acl_sync_tick(&self) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(fixed) = crate::acl::sync(&self.ctx(), &self.dir) {
            if !fixed.is_empty() {
                self.event("acl_synced", serde_json::json!({"fixed": fixed}));
            }
        }
    }
}

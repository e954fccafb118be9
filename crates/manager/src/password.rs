//! Online password rotation: the node-side steps and the supervisor's changeable secret.
//!
//! A rotation never restarts a node and never breaks a replication link:
//! 1. every node's `default` user gets the new password as a second one
//!    (`ACL SETUSER default #<sha256>`: the hash, so the new password is never part of an
//!    ACL command a node could show), and a fresh connection proves each node takes it;
//! 2. the supervisor switches its own connections, writes the credentials file (atomic,
//!    0600) and `CONFIG SET masterauth` on every node (a replica uses it on its next
//!    connect; the running link is untouched, so no resync);
//! 3. after the grace period, every node drops the old password: `CONFIG SET requirepass`
//!    to the new one (what a restarted node reads), `ACL SETUSER default !<old sha256>`,
//!    `CONFIG REWRITE`.
//!
//! A node (re)started during the grace period gets both passwords from its config file
//! (`requirepass NEW` plus a `user default ... #new #old` line), so a kill -9 in the middle
//! changes nothing for clients. Connections that authenticated before the grace ended stay
//! authenticated, as in Redis; new AUTHs with the old password are refused after it.

use crate::ctx::Ctx;
use crate::resp::Value;
use anyhow::{bail, Result};
use sha2::{Digest, Sha256};
use std::sync::RwLock;

/// Lower-case hex SHA-256 of `data`: the form ACL `#`/`!` rules and backup manifests use.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The config-file line that makes a node accept `password` and the password whose
/// SHA-256 is `old_sha256` (Redis and rubra-server apply `user` lines after
/// `requirepass`, so this line decides the default user's passwords).
pub fn default_user_line(password: &str, old_sha256: &str) -> String {
    format!(
        "user default on #{} #{} ~* &* +@all\n",
        sha256_hex(password.as_bytes()),
        old_sha256
    )
}

/// Byte-wise equality whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cluster password as the supervisor holds it: changed at run time by a rotation,
/// plus the old one's hash while its grace period lasts.
#[derive(Debug)]
pub struct Secret {
    inner: RwLock<(String, Option<String>)>,
}

impl Secret {
    /// The current password, and the SHA-256 of a previous one still accepted.
    pub fn new(current: String, old_sha256: Option<String>) -> Secret {
        Secret {
            inner: RwLock::new((current, old_sha256)),
        }
    }

    /// The password new connections use.
    pub fn current(&self) -> String {
        self.read().0.clone()
    }

    /// SHA-256 of the old password while it is still accepted.
    pub fn old_sha256(&self) -> Option<String> {
        self.read().1.clone()
    }

    /// Whether `candidate` opens the panel/API: the current password, or the old one
    /// during a grace period (as the nodes accept it).
    pub fn accepts(&self, candidate: &[u8]) -> bool {
        let g = self.read();
        let cur = ct_eq(candidate, g.0.as_bytes());
        let old =
            g.1.as_ref()
                .is_some_and(|h| ct_eq(sha256_hex(candidate).as_bytes(), h.as_bytes()));
        cur | old
    }

    /// Switch to `new`, keeping `old_sha256` accepted until [`Secret::end_grace`].
    pub fn switch(&self, new: String, old_sha256: String) {
        *self.write() = (new, Some(old_sha256));
    }

    /// Stop accepting the old password.
    pub fn end_grace(&self) {
        self.write().1 = None;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (String, Option<String>)> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, (String, Option<String>)> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Step 1 on every node in `addrs` (reached with `ctx`'s current password): add `new` as a
/// second password of `default`, then prove a fresh connection authenticates with it.
/// On any failure the nodes already changed get the new password removed again, and the
/// error names the node.
pub fn add_everywhere(ctx: &Ctx, addrs: &[String], new: &str) -> Result<()> {
    let hash = sha256_hex(new.as_bytes());
    let mut done: Vec<&String> = Vec::new();
    let mut failure = None;
    for a in addrs {
        let r = ctx.connect(a).and_then(|mut c| {
            c.ok(&["ACL", "SETUSER", "default", &format!("#{hash}")])?;
            Ok(())
        });
        match r {
            Ok(()) => done.push(a),
            Err(e) => {
                failure = Some(e.context(format!("node {a}: could not add the new password")));
                break;
            }
        }
    }
    if failure.is_none() {
        for a in addrs {
            if let Err(e) = crate::resp::Conn::connect_tls(a, Some(new), ctx.tls.as_ref())
                .and_then(|mut c| c.ok(&["PING"]).map(|_| ()))
            {
                failure = Some(e.context(format!("node {a} does not accept the new password")));
                break;
            }
        }
    }
    let Some(e) = failure else { return Ok(()) };
    for a in done {
        // Best effort: a node we cannot reach now gets the old set on its next start.
        if let Ok(mut c) = ctx.connect(a) {
            let _ = c.cmd(&["ACL", "SETUSER", "default", &format!("!{hash}")]);
        }
    }
    Err(e)
}

/// Step 2 on one node: replicas authenticate to their primary with `new` from now on
/// (every node gets it: any of them can become a replica after a failover).
pub fn set_masterauth(ctx: &Ctx, addr: &str, new: &str) -> Result<()> {
    ctx.connect(addr)?
        .ok(&["CONFIG", "SET", "masterauth", new])
        .map(|_| ())
}

/// Step 3 on one node (reached with the new password in `ctx`): only `new` is accepted
/// from now on, and the node's config file says so.
pub fn drop_old(ctx: &Ctx, addr: &str, new: &str, old_sha256: &str) -> Result<()> {
    if ct_eq(sha256_hex(new.as_bytes()).as_bytes(), old_sha256.as_bytes()) {
        bail!("the old password is the current one; nothing to remove");
    }
    let mut c = ctx.connect(addr)?;
    c.ok(&["CONFIG", "SET", "requirepass", new])?;
    match c.cmd(&["ACL", "SETUSER", "default", &format!("!{old_sha256}")])? {
        // Already gone: requirepass's change reset the passwords first.
        Value::Err(e) if e.contains("does not exist") => {}
        Value::Err(e) => bail!("{addr}: ACL SETUSER default: {e}"),
        _ => {}
    }
    match c.cmd(&["CONFIG", "REWRITE"])? {
        Value::Err(e) if e.contains("without a config file") => Ok(()),
        Value::Err(e) => bail!("{addr}: CONFIG REWRITE: {e}"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_old_password_opens_the_panel_only_during_the_grace_period() {
        let s = Secret::new("old".into(), None);
        assert!(s.accepts(b"old") && !s.accepts(b"new"));
        s.switch("new".into(), sha256_hex(b"old"));
        assert!(s.accepts(b"old") && s.accepts(b"new") && !s.accepts(b"other"));
        s.end_grace();
        assert!(!s.accepts(b"old") && s.accepts(b"new"));
        assert_eq!(s.current(), "new");
    }

    #[test]
    fn the_config_line_holds_hashes_not_passwords() {
        let l = default_user_line("s3cret", &sha256_hex(b"older"));
        assert!(!l.contains("s3cret") && !l.contains("older"));
        assert!(l.starts_with("user default on #") && l.ends_with("+@all\n"));
    }
}

//! ACL users managed cluster-wide (`rubra acl`): every node, primaries and replicas, has
//! the same users, and keeps them across restarts, re-created containers and scaling.
//!
//! The record is `DIR/users.acl` (0600): one `user NAME RULES` line per managed user, the
//! rules as a node's `ACL LIST` prints them (passwords only as `#<sha256>`), plus one
//! `deleted NAME` line per user removed while some node may have been unreachable.
//! - A change is made on one node first, in one `ACL SETUSER NAME reset <recorded rules>
//!   <new rules>` (all or nothing: a bad rule changes nothing anywhere, and the node's own
//!   error text is the answer); the node's `ACL LIST` line becomes the record, which is
//!   saved before the other nodes get `ACL SETUSER NAME reset <record>`. Every node so ends
//!   with byte-identical users, whatever it held before (rubra owns the users it manages).
//! - Nodes the supervisor starts get the record as `user` lines in their config file
//!   (procs::write_conf), so a restarted node never serves a moment without them; the
//!   supervisor's [`sync`] pass re-applies the record to any node that differs (containers,
//!   nodes added by scale, a node that was down during a change).
//! - `default` is never managed here: its password is the cluster password (requirepass,
//!   masterauth for replicas, the panel, password rotation).

use crate::ctx::Ctx;
use crate::resp::Value;
use crate::state::{write_private, Dir};
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// One managed user: its name and rules in `ACL LIST` form (without `user NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRec {
    /// User name (never `default`).
    pub name: String,
    /// Rules as a node's ACL LIST prints them: flags, `#<sha256>` passwords, key and
    /// channel patterns, commands, then selectors in parentheses.
    pub rules: String,
}

/// The record: managed users, and names deleted (to remove from nodes that missed it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// Managed users, in creation order.
    pub users: Vec<UserRec>,
    /// Deleted users' names.
    pub deleted: Vec<String>,
}

/// Where the record lives in a data dir.
pub fn record_path(dir: &Dir) -> PathBuf {
    dir.root.join("users.acl")
}

/// The record of `dir` (empty when there is none yet).
pub fn load(dir: &Dir) -> Result<Record> {
    let path = record_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Record::default()),
        Err(e) => return Err(anyhow!(e).context(format!("read {path:?}"))),
    };
    let mut rec = Record::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("deleted ") {
            rec.deleted.push(name.trim().to_string());
        } else if let Some(rest) = line.strip_prefix("user ") {
            let (name, rules) = rest.split_once(' ').unwrap_or((rest, ""));
            rec.users.push(UserRec {
                name: name.to_string(),
                rules: rules.trim().to_string(),
            });
        } else {
            bail!("{path:?}: unexpected line {line:?}");
        }
    }
    Ok(rec)
}

/// Write the record of `dir` (0600, replaced in one rename).
pub fn save(dir: &Dir, rec: &Record) -> Result<()> {
    let mut text = String::from("# rubra: users managed with `rubra acl` (do not edit)\n");
    for u in &rec.users {
        text.push_str(&format!("user {} {}\n", u.name, u.rules));
    }
    for d in &rec.deleted {
        text.push_str(&format!("deleted {d}\n"));
    }
    let path = record_path(dir);
    std::fs::create_dir_all(&dir.root).with_context(|| format!("create {:?}", dir.root))?;
    let tmp = path.with_extension("acl.tmp");
    write_private(&tmp, text.as_bytes())?;
    std::fs::rename(&tmp, &path).with_context(|| format!("rename to {path:?}"))?;
    Ok(())
}

/// The `user` lines for a node's config file (Redis and rubra-server apply them at
/// start, after `requirepass`).
pub fn conf_lines(dir: &Dir) -> Result<String> {
    Ok(load(dir)?
        .users
        .iter()
        .map(|u| format!("user {} {}\n", u.name, u.rules))
        .collect())
}

/// A recorded rule string as ACL SETUSER arguments: a selector `( ... )` is one argument
/// (ACL LIST prints it with spaces inside).
pub fn rule_args(rules: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open: Option<String> = None;
    for w in rules.split_whitespace() {
        match open.as_mut() {
            Some(sel) => {
                sel.push(' ');
                sel.push_str(w);
                if w.ends_with(')') {
                    out.extend(open.take());
                }
            }
            None if w.starts_with('(') && !w.ends_with(')') => open = Some(w.to_string()),
            None => out.push(w.to_string()),
        }
    }
    out.extend(open);
    out
}

/// Whether two ACL LIST rule strings describe the same user. redis-server lists single
/// commands in its command table's hash order, which differs from process to process
/// (rubra-server sorts them), so the words are compared as sets, each selector's too.
pub fn same_rules(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let mut words: Vec<String> = rule_args(s)
            .into_iter()
            .map(
                |w| match w.strip_prefix('(').and_then(|x| x.strip_suffix(')')) {
                    Some(inner) => {
                        let mut v: Vec<&str> = inner.split_whitespace().collect();
                        v.sort_unstable();
                        format!("({})", v.join(" "))
                    }
                    None => w,
                },
            )
            .collect();
        words.sort_unstable();
        words
    };
    norm(a) == norm(b)
}

/// Why a user name cannot be managed, if it cannot.
fn check_name(name: &str) -> Result<()> {
    if name == "default" {
        bail!("the 'default' user is the cluster password's (requirepass, masterauth, the panel): use `rubra password rotate`");
    }
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
        bail!("invalid user name {name:?}: no spaces or null characters");
    }
    Ok(())
}

/// Addresses of every node of the cluster (primaries, replicas, and seeds the view does
/// not list yet, e.g. a node of a pair being added).
pub fn all_nodes(ctx: &Ctx) -> Result<Vec<String>> {
    let view = ctx.best_view()?;
    let mut addrs: Vec<String> = view
        .nodes
        .iter()
        .filter(|n| !n.flags.iter().any(|f| f == "noaddr" || f == "handshake"))
        .map(|n| ctx.addr_of(n))
        .collect();
    if ctx.local {
        for s in &ctx.seeds {
            if !addrs.contains(s) {
                addrs.push(s.clone());
            }
        }
    }
    Ok(addrs)
}

/// `ACL LIST` of a node, as (name, rules) pairs.
fn node_users(ctx: &Ctx, addr: &str) -> Result<Vec<(String, String)>> {
    let mut c = ctx.connect(addr)?;
    let Value::Array(lines) = c.ok(&["ACL", "LIST"])? else {
        bail!("{addr}: ACL LIST did not answer a list");
    };
    Ok(lines
        .iter()
        .filter_map(Value::text)
        .filter_map(|l| {
            let rest = l.strip_prefix("user ")?;
            let (n, r) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((n.to_string(), r.to_string()))
        })
        .collect())
}

/// `ACL SETUSER name reset <rules>` on one node.
fn put(ctx: &Ctx, addr: &str, name: &str, rules: &[String]) -> Result<()> {
    let mut args: Vec<&str> = vec!["ACL", "SETUSER", name, "reset"];
    args.extend(rules.iter().map(String::as_str));
    ctx.connect(addr)?.ok(&args)?;
    Ok(())
}

/// What a change did: nodes that have it now, and nodes that could not be reached (they
/// get it from their config on restart, or from the supervisor's next sync).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Applied {
    /// The user's rules as recorded (empty for a deletion).
    pub rules: String,
    /// Nodes changed (or already right).
    pub nodes: Vec<String>,
    /// `addr: error` for nodes not reached.
    pub failed: Vec<String>,
}

/// `rubra acl setuser NAME RULES...`: create or change a user on every node (rules as
/// ACL SETUSER takes them, applied on top of the user's recorded rules), and record it.
pub fn setuser(ctx: &Ctx, dir: &Dir, name: &str, rules: &[String]) -> Result<Applied> {
    check_name(name)?;
    let mut rec = load(dir)?;
    let addrs = all_nodes(ctx)?;
    let base = rec
        .users
        .iter()
        .find(|u| u.name == name)
        .map(|u| rule_args(&u.rules))
        .unwrap_or_default();
    // First reachable node: the whole change in one all-or-nothing ACL SETUSER.
    let mut last = anyhow!("no node reachable");
    let mut first = None;
    for a in &addrs {
        let mut c = match ctx.connect(a) {
            Ok(c) => c,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut args: Vec<&str> = vec!["ACL", "SETUSER", name, "reset"];
        args.extend(base.iter().map(String::as_str));
        args.extend(rules.iter().map(String::as_str));
        match c.cmd(&args)? {
            Value::Err(e) => bail!("{e}"),
            _ => {
                first = Some(a.clone());
                break;
            }
        }
    }
    let first = first.ok_or(last)?;
    let canonical = node_users(ctx, &first)?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r)
        .with_context(|| format!("{first}: the new user is not in ACL LIST"))?;
    match rec.users.iter_mut().find(|u| u.name == name) {
        Some(u) => u.rules = canonical.clone(),
        None => rec.users.push(UserRec {
            name: name.to_string(),
            rules: canonical.clone(),
        }),
    }
    rec.deleted.retain(|d| d != name);
    save(dir, &rec)?;
    let args = rule_args(&canonical);
    let mut out = Applied {
        rules: canonical,
        nodes: vec![first.clone()],
        failed: Vec::new(),
    };
    for a in addrs.iter().filter(|a| **a != first) {
        match put(ctx, a, name, &args) {
            Ok(()) => out.nodes.push(a.clone()),
            Err(e) => out.failed.push(format!("{a}: {e:#}")),
        }
    }
    Ok(out)
}

/// `rubra acl deluser NAME`: remove a managed user from the record and every node (its
/// connections are closed, as ACL DELUSER does).
pub fn deluser(ctx: &Ctx, dir: &Dir, name: &str) -> Result<Applied> {
    check_name(name)?;
    let mut rec = load(dir)?;
    if !rec.users.iter().any(|u| u.name == name) {
        bail!("no user {name:?} is managed by rubra (see `rubra acl list`)");
    }
    rec.users.retain(|u| u.name != name);
    if !rec.deleted.iter().any(|d| d == name) {
        rec.deleted.push(name.to_string());
    }
    save(dir, &rec)?;
    let mut out = Applied::default();
    for a in all_nodes(ctx)? {
        match ctx
            .connect(&a)
            .and_then(|mut c| c.ok(&["ACL", "DELUSER", name]))
        {
            Ok(_) => out.nodes.push(a),
            Err(e) => out.failed.push(format!("{a}: {e:#}")),
        }
    }
    Ok(out)
}

/// One node's agreement with the record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeSync {
    /// Node address.
    pub addr: String,
    /// Managed users missing or different there (or a deleted one still present).
    pub differ: Vec<String>,
    /// Set when the node could not be asked.
    pub error: Option<String>,
}

/// How every node compares with the record (`rubra acl list`, and [`sync`]).
pub fn compare(ctx: &Ctx, rec: &Record) -> Result<Vec<NodeSync>> {
    Ok(all_nodes(ctx)?
        .into_iter()
        .map(|addr| match node_users(ctx, &addr) {
            Ok(have) => {
                let mut differ: Vec<String> = rec
                    .users
                    .iter()
                    .filter(|u| {
                        !have
                            .iter()
                            .any(|(n, r)| *n == u.name && same_rules(r, &u.rules))
                    })
                    .map(|u| u.name.clone())
                    .collect();
                differ.extend(
                    rec.deleted
                        .iter()
                        .filter(|d| have.iter().any(|(n, _)| n == *d))
                        .cloned(),
                );
                NodeSync {
                    addr,
                    differ,
                    error: None,
                }
            }
            Err(e) => NodeSync {
                addr,
                differ: Vec::new(),
                error: Some(format!("{e:#}")),
            },
        })
        .collect())
}

/// The record and per-node comparison as JSON (`GET /api/acl`, `rubra acl list`).
pub fn list_json(rec: &Record, nodes: &[NodeSync]) -> serde_json::Value {
    serde_json::json!({
        "users": rec.users.iter().map(|u| serde_json::json!({"name": u.name, "rules": u.rules})).collect::<Vec<_>>(),
        "deleted": rec.deleted,
        "nodes": nodes,
    })
}

/// Bring every reachable node in line with the record; the `addr: user` pairs fixed.
pub fn sync(ctx: &Ctx, dir: &Dir) -> Result<Vec<String>> {
    let rec = load(dir)?;
    if rec.users.is_empty() && rec.deleted.is_empty() {
        return Ok(Vec::new());
    }
    let mut fixed = Vec::new();
    for n in compare(ctx, &rec)? {
        for name in &n.differ {
            let r = match rec.users.iter().find(|u| &u.name == name) {
                Some(u) => put(ctx, &n.addr, name, &rule_args(&u.rules)),
                None => ctx
                    .connect(&n.addr)
                    .and_then(|mut c| c.ok(&["ACL", "DELUSER", name]).map(|_| ())),
            };
            if r.is_ok() {
                fixed.push(format!("{}: {name}", n.addr));
            }
        }
    }
    Ok(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_stay_one_argument() {
        assert_eq!(
            rule_args("on #ab ~k:* resetchannels -@all +get (~w:* resetchannels -@all +set) (%R~r:* +@read)"),
            [
                "on",
                "#ab",
                "~k:*",
                "resetchannels",
                "-@all",
                "+get",
                "(~w:* resetchannels -@all +set)",
                "(%R~r:* +@read)"
            ]
        );
        assert_eq!(rule_args("off (~x"), ["off", "(~x"]);
        assert!(rule_args("").is_empty());
    }

    #[test]
    fn rule_order_from_different_servers_compares_equal() {
        assert!(same_rules(
            "on sanitize-payload #ab ~app:* resetchannels -@all +set +ping +get (~x +b +a)",
            "on sanitize-payload #ab ~app:* resetchannels -@all +get +ping +set (~x +a +b)"
        ));
        assert!(!same_rules("on #ab -@all +get", "on #ab -@all +get +set"));
        assert!(!same_rules("on #ab (~x +get)", "on #ab ~x +get"));
    }

    #[test]
    fn record_round_trips_and_default_is_refused() {
        let root = std::env::temp_dir().join(format!("rubra-acl-unit-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let dir = Dir::new(&root).unwrap();
        let rec = Record {
            users: vec![UserRec {
                name: "app".into(),
                rules: "on #ab ~k:* resetchannels -@all +get".into(),
            }],
            deleted: vec!["old".into()],
        };
        save(&dir, &rec).unwrap();
        assert_eq!(load(&dir).unwrap(), rec);
        assert_eq!(
            conf_lines(&dir).unwrap(),
            "user app on #ab ~k:* resetchannels -@all +get\n"
        );
        assert!(check_name("default").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("app").is_ok());
        let _ = std::fs::remove_dir_all(&root);
    }
}

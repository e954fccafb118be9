//! `rubra acl setuser|deluser|list`: users on every node of the cluster (see `crate::acl`),
//! through the running supervisor when there is one, else straight to the nodes (the
//! record then goes to DIR/users.acl, where the next `rubra up` finds it).

use super::ops::{api_json, supervised};
use super::target_args::Target;
use crate::state::Dir;
use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

/// `rubra acl ...`
#[derive(Subcommand, Debug)]
pub(super) enum AclCmd {
    /// Create or change a user on every node: RULES as ACL SETUSER takes them (e.g. on
    /// '>password' '~app:*' '+@read' -@dangerous), applied on top of the user's current
    /// rules. The user is kept for restarted and added nodes. Options go before NAME.
    Setuser {
        #[command(flatten)]
        target: Target,
        /// User name (not `default`: that is the cluster password's user).
        name: String,
        /// ACL rules.
        #[arg(allow_hyphen_values = true)]
        rules: Vec<String>,
    },
    /// Remove a user from every node (its connections are closed).
    Deluser {
        #[command(flatten)]
        target: Target,
        /// User name.
        name: String,
    },
    /// The users rubra manages, and any node that differs from them.
    List(Target),
}

/// Run one `rubra acl` subcommand.
pub(super) fn run(cmd: AclCmd) -> Result<ExitCode> {
    let out = match cmd {
        AclCmd::Setuser {
            target,
            name,
            rules,
        } => {
            // No ACL rule starts with "--": that is an option given after NAME, which
            // would otherwise be taken for a rule.
            if let Some(opt) = rules.iter().find(|r| r.starts_with("--")) {
                anyhow::bail!("{opt:?} is not an ACL rule: options go before the user name (rubra acl setuser [--dir DIR] NAME RULES...)");
            }
            let r = match supervised(&target)? {
                Some(dir) => {
                    let body = serde_json::json!({"name": name, "rules": rules});
                    api_json(&dir, "/api/acl/setuser", &body.to_string())?
                }
                None => {
                    let a = crate::acl::setuser(
                        &target.ctx()?,
                        &Dir::new(&target.dir)?,
                        &name,
                        &rules,
                    )?;
                    serde_json::json!({"user": name, "rules": a.rules, "nodes": a.nodes, "failed": a.failed})
                }
            };
            println!("user {} {}", name, r["rules"].as_str().unwrap_or("?"));
            r
        }
        AclCmd::Deluser { target, name } => {
            let r = match supervised(&target)? {
                Some(dir) => {
                    let body = serde_json::json!({ "name": name });
                    api_json(&dir, "/api/acl/deluser", &body.to_string())?
                }
                None => {
                    let a = crate::acl::deluser(&target.ctx()?, &Dir::new(&target.dir)?, &name)?;
                    serde_json::json!({"user": name, "nodes": a.nodes, "failed": a.failed})
                }
            };
            println!("deleted user {name}");
            r
        }
        AclCmd::List(target) => {
            let r = match supervised(&target)? {
                Some(dir) => api_json(&dir, "/api/acl", "")?,
                None => {
                    let rec = crate::acl::load(&Dir::new(&target.dir)?)?;
                    let nodes = crate::acl::compare(&target.ctx()?, &rec)?;
                    crate::acl::list_json(&rec, &nodes)
                }
            };
            for u in r["users"].as_array().into_iter().flatten() {
                println!(
                    "user {} {}",
                    u["name"].as_str().unwrap_or("?"),
                    u["rules"].as_str().unwrap_or("?")
                );
            }
            let mut differ = 0;
            for n in r["nodes"].as_array().into_iter().flatten() {
                let addr = n["addr"].as_str().unwrap_or("?");
                if let Some(e) = n["error"].as_str() {
                    println!("node {addr}: unreachable: {e}");
                    differ += 1;
                } else if let Some(d) = n["differ"].as_array().filter(|d| !d.is_empty()) {
                    println!("node {addr}: differs for {d:?}");
                    differ += 1;
                }
            }
            let total = r["nodes"].as_array().map_or(0, Vec::len);
            println!("{} of {total} nodes match", total - differ);
            return Ok(if differ == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    };
    let nodes = out["nodes"].as_array().map_or(0, Vec::len);
    let failed: Vec<&str> = out["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str())
        .collect();
    println!("applied on {nodes} nodes");
    for f in &failed {
        eprintln!("rubra: not reached now (it gets the user when it comes back): {f}");
    }
    Ok(ExitCode::SUCCESS)
}

//! The ACL command: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS, DRYRUN,
//! LOG, SAVE, LOAD, HELP — replies and error texts as Redis 7.0 gives them.

use super::catalog::{CATEGORIES, SPECS};
use super::describe;
use super::rules::{category_bit, has_spaces, merge_selector_args, Selector, User};
use super::Denial;
use crate::cmd::args::{c_str, is};
use crate::cmd::flags::*;
use crate::cmd::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_resp::Reply;

pub(crate) static COMMANDS: &[Command] = &[Command::new(
    "acl",
    -2,
    NOSCRIPT | LOADING | STALE | CONTAINER,
    (0, 0, 0),
    "server",
    acl,
)];

/// ACL <subcommand> [args...]
fn acl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    let n = args.len();
    match sub.as_str() {
        "setuser" if n >= 3 => setuser(ctx, args),
        "deluser" if n >= 3 => deluser(ctx, args),
        "getuser" if n == 3 => getuser(ctx, &args[2]),
        "list" | "users" if n == 2 => {
            let names = sub == "users";
            Ok(Reply::Array(
                ctx.store
                    .acl
                    .users
                    .values()
                    .map(|u| {
                        if names {
                            Reply::bulk(&u.name)
                        } else {
                            Reply::Bulk(Bytes::from(describe::user_line(u)))
                        }
                    })
                    .collect(),
            ))
        }
        "whoami" if n == 2 => Ok(Reply::Bulk(Bytes::copy_from_slice(
            ctx.client.user.as_deref().unwrap_or(b"default"),
        ))),
        "load" | "save" if ctx.store.config.get_value("aclfile").is_empty() => Err(Reply::err(
            "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
        )),
        "load" if n == 2 => load_file(ctx).map(|_| Reply::OK),
        "save" if n == 2 => save_file(ctx).map(|_| Reply::OK),
        "cat" if n == 2 => Ok(Reply::Array(
            CATEGORIES.iter().map(|c| Reply::bulk(c.as_bytes())).collect(),
        )),
        "cat" if n == 3 => {
            let name = String::from_utf8_lossy(&args[2]);
            let bit = category_bit(&name).ok_or_else(|| {
                // Redis prints it with %.128s.
                let shown = &args[2][..args[2].len().min(128)];
                crate::cmd::err::echo(&[b"ERR Unknown category '", shown, b"'"])
            })?;
            Ok(Reply::Array(
                SPECS
                    .iter()
                    .filter(|s| s.cats & bit != 0)
                    .map(|s| Reply::bulk(s.name.as_bytes()))
                    .collect(),
            ))
        }
        "genpass" if n == 2 || n == 3 => genpass(ctx, args),
        "log" if n == 2 || n == 3 => log(ctx, args),
        "dryrun" if n >= 4 => dryrun(ctx, args),
        "help" if n == 2 => Ok(Reply::Array(
            HELP.iter().map(|l| Reply::status(l)).collect(),
        )),
        // The lookup refused unknown subcommands and wrong arities: what is left is a
        // known one with an argument count aclCommand does not take.
        _ => Err(crate::cmd::err::echo(&[
            b"ERR unknown subcommand or wrong number of arguments for '",
            &args[1][..args[1].len().min(128)],
            b"'. Try ACL HELP.",
        ])),
    }
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

/// Applies SETUSER rules to a copy of the user (or a new one): all or nothing.
pub(crate) fn apply_rules(
    base: Option<&User>,
    name: &[u8],
    rules: &[Bytes],
) -> Result<User, Vec<u8>> {
    let merged = merge_selector_args(rules).map_err(|j| {
        [
            &b"Unmatched parenthesis in acl selector starting at '"[..],
            &rules[j],
            b"'.",
        ]
        .concat()
    })?;
    let mut user = base.cloned().unwrap_or_else(|| User::new(name));
    for op in &merged {
        user.apply(op).map_err(|e| {
            [
                &b"Error in ACL SETUSER modifier '"[..],
                c_str(op),
                b"': ",
                e.text().as_bytes(),
            ]
            .concat()
        })?;
    }
    Ok(user)
}

/// ACL SETUSER username [rule ...]
fn setuser(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let name = &args[2];
    if has_spaces(name) {
        return Err(Reply::err(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let acl = &mut ctx.store.acl;
    let user = apply_rules(acl.users.get(name.as_ref()), name, &args[3..])
        .map_err(|e| crate::cmd::err::echo(&[b"ERR ", &e]))?;
    if let Some(original) = acl.users.get(name.as_ref()) {
        if lost_channels(original, &user) {
            close_lost_subscribers(ctx, name, &user);
        }
    }
    let acl = &mut ctx.store.acl;
    acl.users.insert(name.to_vec(), user);
    acl.refresh();
    Ok(Reply::OK)
}

/// Whether an existing user's subscribed connections must be checked (Redis's
/// ACLKillPubsubClientsIfNeeded): not when a selector of the new user allows every
/// channel, nor when the original had no channel permission at all. Redis's test for "the
/// new channels are a superset" compares the patterns' pointers, which always differ
/// between the user and its edited copy, so any other original is checked.
fn lost_channels(original: &User, new: &User) -> bool {
    if new.all_selectors().any(|s| s.all_channels) {
        return false;
    }
    original
        .all_selectors()
        .any(|s| s.all_channels || !s.channels.is_empty())
}

/// Closes the subscribed connections of user `name` that hold a subscription `new` no
/// longer allows (patterns compared literally, channels matched), as Redis does when a
/// user's channel permissions shrink. The connection running the command is not closed
/// (Redis 7.0 would free it in the middle of its own command).
fn close_lost_subscribers(ctx: &mut Ctx, name: &[u8], new: &User) {
    use crate::exec::pubsub::Kind;
    let upcoming: Vec<&Vec<u8>> = new.all_selectors().flat_map(|s| &s.channels).collect();
    let allowed = |ch: &[u8], pattern: bool| {
        upcoming.iter().any(|p| {
            if pattern {
                p.as_slice() == ch
            } else {
                rubra_keys::glob_match(p, ch, false)
            }
        })
    };
    let of_user: Vec<u64> = ctx
        .store
        .clients
        .map
        .values()
        .filter(|h| h.info.user.as_deref().unwrap_or(b"default") == name)
        .map(|h| h.info.id)
        .collect();
    let pubsub = &ctx.store.pubsub;
    let victims: Vec<u64> = of_user
        .into_iter()
        .filter(|&id| {
            let denied = |kind: Kind, pattern: bool| {
                pubsub
                    .subscriptions_of(id, kind)
                    .iter()
                    .any(|ch| !allowed(ch, pattern))
            };
            denied(Kind::Pattern, true)
                || denied(Kind::Channel, false)
                || denied(Kind::Shard, false)
        })
        .collect();
    for id in victims {
        if id != ctx.client.id {
            ctx.store.clients.kill(id);
        }
    }
}

/// ACL DELUSER username [username ...] — connections of deleted users are closed.
fn deluser(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args[2..].iter().any(|a| a.as_ref() == b"default") {
        return Err(Reply::err("ERR The 'default' user cannot be removed"));
    }
    let mut deleted = 0;
    for name in &args[2..] {
        if ctx.store.acl.users.remove(name.as_ref()).is_some() {
            deleted += 1;
            close_clients_of(ctx, |user| user == name.as_ref());
        }
    }
    ctx.store.acl.refresh();
    Ok(Reply::Int(deleted))
}

fn selector_fields(s: &Selector) -> Vec<(Reply, Reply)> {
    vec![
        (
            Reply::bulk(b"commands"),
            Reply::bulk(describe::command_rules(s).as_bytes()),
        ),
        (Reply::bulk(b"keys"), Reply::Bulk(describe::keys(s).into())),
        (
            Reply::bulk(b"channels"),
            Reply::Bulk(describe::channels(s).into()),
        ),
    ]
}

/// ACL GETUSER username
fn getuser(ctx: &mut Ctx, name: &Bytes) -> CmdResult {
    let Some(u) = ctx.store.acl.users.get(name.as_ref()) else {
        return Ok(Reply::Nil);
    };
    let mut fields = vec![
        (
            Reply::bulk(b"flags"),
            Reply::Set(
                describe::flags(u)
                    .iter()
                    .map(|f| Reply::bulk(f.as_bytes()))
                    .collect(),
            ),
        ),
        (
            Reply::bulk(b"passwords"),
            Reply::Array(
                u.passwords
                    .iter()
                    .map(|p| Reply::bulk(p.as_bytes()))
                    .collect(),
            ),
        ),
    ];
    fields.extend(selector_fields(&u.root));
    fields.push((
        Reply::bulk(b"selectors"),
        Reply::Array(
            u.selectors
                .iter()
                .map(|s| Reply::Map(selector_fields(s)))
                .collect(),
        ),
    ));
    Ok(Reply::Map(fields))
}

/// ACL GENPASS [bits]
fn genpass(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let bits = match args.get(2) {
        Some(a) => crate::cmd::args::int(a)?,
        None => 256,
    };
    if bits <= 0 || bits > 4096 {
        return Err(Reply::err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = ((bits + 3) / 4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = ctx;
    Ok(Reply::bulk(&hex.as_bytes()[..chars]))
}

/// ACL LOG [count | RESET]
fn log(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut count = 10i64;
    if let Some(a) = args.get(2) {
        if is(a, "reset") {
            ctx.store.acl.log.clear();
            return Ok(Reply::OK);
        }
        count = crate::cmd::args::int(a)?.max(0);
    }
    let now = crate::store::now_ms();
    Ok(Reply::Array(
        ctx.store
            .acl
            .log
            .iter()
            .take(count as usize)
            .map(|e| {
                Reply::Map(vec![
                    (Reply::bulk(b"count"), Reply::Int(e.count as i64)),
                    (Reply::bulk(b"reason"), Reply::bulk(e.reason.as_bytes())),
                    (
                        Reply::bulk(b"context"),
                        Reply::bulk(e.context.name().as_bytes()),
                    ),
                    (Reply::bulk(b"object"), Reply::Bulk(e.object.clone())),
                    (Reply::bulk(b"username"), Reply::Bulk(e.username.clone())),
                    (
                        Reply::bulk(b"age-seconds"),
                        Reply::Double(now.saturating_sub(e.ctime_ms) as f64 / 1000.0),
                    ),
                    (Reply::bulk(b"client-info"), Reply::bulk(&e.client_info)),
                ])
            })
            .collect(),
    ))
}

/// ACL DRYRUN username command [arg ...]
fn dryrun(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(user) = ctx.store.acl.users.get(args[2].as_ref()) else {
        return Err(crate::cmd::err::echo(&[
            b"ERR User '",
            &args[2],
            b"' not found",
        ]));
    };
    let call = &args[3..];
    let not_found = || crate::cmd::err::echo(&[b"ERR Command '", &call[0], b"' not found"]);
    let cmd = crate::cmd::lookup(&call[0]).ok_or_else(not_found)?;
    if !cmd.arity_ok(call.len()) {
        return Err(err::wrong_args(cmd.name));
    }
    match super::subcommand_fault(cmd, call) {
        // Redis's lookup finds no command for an unknown subcommand.
        Some(super::SubcommandFault::Unknown) => return Err(not_found()),
        Some(fault) => return Err(fault.reply(cmd, call)),
        None => {}
    }
    let full = super::resolve(cmd, call).map_or(cmd.name, |i| SPECS[i].name);
    Ok(match super::user_may_run(user, cmd, call) {
        Ok(()) => Reply::OK,
        Err(Denial::Command) => Reply::bulk(
            format!("This user has no permissions to run the '{full}' command").as_bytes(),
        ),
        // A bulk string quoting the argument as `%s` prints it: as it came, up to a NUL.
        Err(Denial::Key(i)) => Reply::bulk(
            &[
                &b"This user has no permissions to access the '"[..],
                c_str(&call[i]),
                b"' key",
            ]
            .concat(),
        ),
        Err(Denial::Channel(i)) => Reply::bulk(
            &[
                &b"This user has no permissions to access the '"[..],
                c_str(&call[i]),
                b"' channel",
            ]
            .concat(),
        ),
    })
}

/// Parses ACL file text (`user name rules...` lines) into users; Redis's error texts. The
/// text is bytes: names and patterns need not be UTF-8, and ACL SAVE wrote them as they are.
pub(crate) fn parse_users(text: &[u8]) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    let mut errors = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let Some(words) = rubra_resp::split_args(line) else {
            errors.push(format!("{}: unbalanced quotes in acl line. ", n + 1));
            continue;
        };
        if words.len() < 2 || words[0].as_ref() != b"user" {
            errors.push(format!("{}: line should start with user keyword. ", n + 1));
            continue;
        }
        if users.iter().any(|u| u.name == words[1].as_ref()) {
            errors.push(format!(
                "{}: Duplicate user '{}' found. ",
                n + 1,
                String::from_utf8_lossy(&words[1])
            ));
            continue;
        }
        match apply_rules(None, &words[1], &words[2..]) {
            Ok(u) => users.push(u),
            Err(e) => errors.push(format!("{}: {}. ", n + 1, String::from_utf8_lossy(&e))),
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(errors.concat().trim_end().to_string())
    }
}

/// Replaces all users with `users`. Without a default user among them, the default user
/// is the current one (`user` lines of a config file, which leave `requirepass` in force)
/// or, for an ACL file, a fresh one with every permission and no password: Redis's
/// ACL LOAD does that, which is why its docs call `requirepass` incompatible with
/// `aclfile`.
pub(crate) fn install_users(acl: &mut super::Acl, users: Vec<User>, keep_default: bool) {
    let default = acl.users.get(&b"default"[..]).cloned();
    acl.users.clear();
    for u in users {
        acl.users.insert(u.name.clone(), u);
    }
    if !acl.users.contains_key(&b"default"[..]) {
        let d = default
            .filter(|_| keep_default)
            .unwrap_or_else(User::default_user);
        acl.users.insert(b"default".to_vec(), d);
    }
    acl.refresh();
}

fn load_file(ctx: &mut Ctx) -> Result<(), Reply> {
    let path = ctx.store.config.get_value("aclfile").to_string();
    let text = std::fs::read(&path).map_err(|e| {
        Reply::error(format!(
            "ERR Error loading ACLs, opening file '{path}': {}",
            crate::strerror(&e)
        ))
    })?;
    let users = super::file::parse(&text, &path).map_err(|e| Reply::error(format!("ERR {e}")))?;
    install_users(&mut ctx.store.acl, users, false);
    // Redis frees every user it had but the default one (a user of the same name in the
    // file is a new user), closing their clients: this one once it has its reply.
    close_clients_of(ctx, |user| user != b"default");
    Ok(())
}

fn save_file(ctx: &mut Ctx) -> Result<(), Reply> {
    let path = ctx.store.config.get_value("aclfile").to_string();
    let mut text = Vec::new();
    for u in ctx.store.acl.users.values() {
        text.extend_from_slice(&describe::user_line(u));
        text.push(b'\n');
    }
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|_| {
            Reply::err("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        })
}

/// Closes the clients authenticated as a user `gone` names (ACL DELUSER, ACL LOAD): the
/// calling client once it has its reply, the others at once, as Redis frees them.
fn close_clients_of(ctx: &mut Ctx, gone: impl Fn(&[u8]) -> bool) {
    let victims: Vec<u64> = ctx
        .store
        .clients
        .map
        .values()
        .filter(|h| h.info.user.as_deref().is_some_and(&gone))
        .map(|h| h.info.id)
        .collect();
    for id in victims {
        if id == ctx.client.id {
            ctx.client.closing = true;
        } else {
            ctx.store.clients.kill(id);
        }
    }
}

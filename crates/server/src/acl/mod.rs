//! Access control lists as Redis 7.0 has them: users with passwords and selectors, the
//! permission check every command passes (`check`, called by the dispatcher in Redis's
//! order and by anything else that runs commands for a client, such as scripts), the ACL
//! LOG, and the ACL command. `requirepass` is the default user's password, as in Redis.

pub(crate) mod catalog;
pub(crate) mod command;
pub(crate) mod command_docs;
mod describe;
mod file;
mod keys;
pub(crate) mod rules;
mod sha256;

use crate::client::ClientState;
use crate::cmd::Command;
use bytes::Bytes;
use catalog::SPECS;
use rubra_keys::glob_match;
use rubra_resp::Reply;
use rules::{User, READ};
use std::collections::{BTreeMap, VecDeque};

/// Where a denied command was run from (ACL LOG "context").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Toplevel,
    Multi,
    /// For scripts' redis.call (`check_script`).
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// Why a command was denied; the index is the offending argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Denial {
    Command,
    Key(usize),
    Channel(usize),
}

/// One ACL LOG entry (similar denials within a minute are counted in one entry).
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: Context,
    pub object: Bytes,
    pub username: Bytes,
    pub ctime_ms: u64,
    /// Bytes: it quotes the user name, which need not be UTF-8.
    pub client_info: Vec<u8>,
}

/// The users and the log.
pub(crate) struct Acl {
    pub users: BTreeMap<Vec<u8>, User>,
    pub log: VecDeque<LogEntry>,
    /// The `requirepass` value last applied to the default user (see `sync_requirepass`).
    applied_requirepass: Option<Option<Vec<u8>>>,
    /// The default user may run anything: the dispatcher skips the check.
    default_unrestricted: bool,
}

impl Default for Acl {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), User::default_user());
        Acl {
            users,
            log: VecDeque::new(),
            applied_requirepass: None,
            default_unrestricted: true,
        }
    }
}

/// Redis groups log entries this close in time (ms).
const LOG_GROUPING_MS: u64 = 60_000;

impl Acl {
    /// `user <name> <rules>` lines, as ACL LIST shows them and CONFIG REWRITE writes them.
    /// CONFIG REWRITE's file is text here, so a name or pattern that is not UTF-8 is
    /// written lossily (ACL SAVE keeps the bytes).
    pub(crate) fn user_lines(&self) -> Vec<String> {
        self.users
            .values()
            .map(|u| String::from_utf8_lossy(&describe::user_line(u)).into_owned())
            .collect()
    }

    /// Makes `requirepass` the default user's only password (or nopass when empty), once
    /// per change of the setting, as CONFIG SET requirepass does in Redis.
    pub(crate) fn sync_requirepass(&mut self, requirepass: &Option<Vec<u8>>) {
        if self.applied_requirepass.as_ref() == Some(requirepass) {
            return;
        }
        // The first sync at start-up with no requirepass leaves `user default` lines alone.
        let first = self.applied_requirepass.is_none();
        self.applied_requirepass = Some(requirepass.clone());
        if first && requirepass.is_none() {
            return;
        }
        if let Some(u) = self.users.get_mut(&b"default"[..]) {
            let _ = u.apply(b"resetpass");
            match requirepass {
                Some(p) => {
                    let mut op = b">".to_vec();
                    op.extend_from_slice(p);
                    let _ = u.apply(&op);
                }
                None => {
                    let _ = u.apply(b"nopass");
                }
            }
        }
        self.refresh();
    }

    /// Recomputes cached facts after users changed.
    pub(crate) fn refresh(&mut self) {
        self.default_unrestricted = self
            .users
            .get(&b"default"[..])
            .is_some_and(|u| u.root.unrestricted());
    }

    /// Whether a new connection starts authenticated (the default user is on and nopass).
    pub(crate) fn default_auto_auth(&self) -> bool {
        self.users
            .get(&b"default"[..])
            .is_some_and(|u| u.enabled && u.nopass)
    }

    /// Whether the default user has the nopass flag, on or off: AUTH with a password
    /// alone is refused then, as Redis's authCommand does.
    pub(crate) fn default_nopass(&self) -> bool {
        self.users.get(&b"default"[..]).is_some_and(|u| u.nopass)
    }

    /// Checks credentials; returns whether they are valid.
    pub(crate) fn authenticate(&self, user: &[u8], pass: &[u8]) -> bool {
        self.users.get(user).is_some_and(|u| u.password_ok(pass))
    }

    /// Adds a log entry, merging it with a recent similar one as Redis does.
    pub(crate) fn add_log(&mut self, mut entry: LogEntry, max_len: usize) {
        let similar = self.log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && entry.ctime_ms.abs_diff(e.ctime_ms) <= LOG_GROUPING_MS
        });
        if let Some(i) = similar {
            if let Some(mut old) = self.log.remove(i) {
                old.count += 1;
                old.ctime_ms = entry.ctime_ms;
                old.client_info = std::mem::take(&mut entry.client_info);
                self.log.push_front(old);
            }
            return;
        }
        self.log.push_front(entry);
        while self.log.len() > max_len {
            self.log.pop_back();
        }
    }
}

/// The catalog entry a call resolves to: the subcommand for containers, else the command.
pub(crate) fn resolve(cmd: &Command, args: &[Bytes]) -> Option<usize> {
    // Every command passes here (subcommand arity, ACL): a command without subcommands
    // resolves from a hash map, with no name to format and no binary search.
    let &(idx, container) = top_level_specs().get(cmd.name)?;
    if container && args.len() >= 2 {
        // "container|sub" lowercased on the stack (no catalog name is near 64 bytes): the
        // formatted String this was cost CONFIG GET or OBJECT ENCODING ~3,000 instructions.
        let (name, sub) = (cmd.name.as_bytes(), &args[1][..]);
        let len = name.len() + 1 + sub.len();
        let mut key = [0u8; 64];
        if len <= key.len() {
            key[..name.len()].copy_from_slice(name);
            key[name.len()] = b'|';
            key[name.len() + 1..len].copy_from_slice(sub);
            key[name.len() + 1..len].make_ascii_lowercase();
            if let Some(&i) = subcommand_specs().get(&key[..len]) {
                return Some(i);
            }
        }
    }
    Some(idx)
}

/// A call's name as Redis's `fullname`: `container|sub` for a known subcommand, else the
/// command's name.
pub(crate) fn full_name(cmd: &Command, args: &[Bytes]) -> &'static str {
    resolve(cmd, args).map_or(cmd.name, |i| SPECS[i].name)
}

/// Catalog index of each top-level command and whether it is a container (has
/// `container|sub` entries), built once from the catalog.
fn top_level_specs() -> &'static ahash::AHashMap<&'static str, (usize, bool)> {
    static MAP: std::sync::OnceLock<ahash::AHashMap<&'static str, (usize, bool)>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = ahash::AHashMap::new();
        for (i, spec) in SPECS.iter().enumerate() {
            match spec.name.split_once('|') {
                None => {
                    map.entry(spec.name).or_insert((i, false)).0 = i;
                }
                Some((container, _)) => {
                    if let Some(c) = SPECS.iter().position(|s| s.name == container) {
                        map.insert(SPECS[c].name, (c, true));
                    }
                }
            }
        }
        map
    })
}

/// Catalog index of each subcommand by its full name (`config|get`), built once: a hash
/// probe instead of a binary search of the catalog's names.
fn subcommand_specs() -> &'static ahash::AHashMap<&'static [u8], usize> {
    static MAP: std::sync::OnceLock<ahash::AHashMap<&'static [u8], usize>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(|| {
        SPECS
            .iter()
            .enumerate()
            .filter(|(_, spec)| rules::is_sub(spec))
            .map(|(i, spec)| (spec.name.as_bytes(), i))
            .collect()
    })
}

/// Channel arguments of a command and whether they are patterns (PSUBSCRIBE).
fn channel_args(name: &str, argc: usize) -> (std::ops::Range<usize>, bool) {
    match name {
        "publish" | "spublish" => (1..2.min(argc), false),
        "subscribe" | "ssubscribe" => (1..argc, false),
        "psubscribe" => (1..argc, true),
        _ => (0..0, false),
    }
}

/// The keys the ACL checks in a call of catalogue entry `spec` (see keys.rs).
fn acl_keys(spec: Option<usize>, cmd: &Command, args: &[Bytes]) -> Vec<keys::KeyNeed> {
    keys::keys_to_check(cmd, spec.map_or(cmd.name, |i| SPECS[i].name), args)
}

/// Checks one selector; Ok or the denial (Redis's ACLSelectorCheckCmd).
fn check_selector(
    sel: &rules::Selector,
    spec: Option<usize>,
    cmd: &Command,
    args: &[Bytes],
    keys: &[keys::KeyNeed],
) -> Result<(), Denial> {
    let no_auth = cmd.has(crate::cmd::flags::NO_AUTH);
    if !sel.all_commands && !no_auth {
        let allowed = spec.is_some_and(|i| {
            sel.allowed[i]
                || sel.first_args.iter().any(|(c, list)| {
                    *c == i
                        && args.len() >= 2
                        && list
                            .iter()
                            .any(|a| a.as_bytes().eq_ignore_ascii_case(&args[1]))
                })
        });
        if !allowed {
            return Err(Denial::Command);
        }
    }
    if !sel.all_keys && !keys.is_empty() {
        for &(pos, need) in keys {
            let ok = sel
                .keys
                .iter()
                .any(|(p, f)| f & need == need && glob_match(p, &args[pos], false));
            if !ok {
                return Err(Denial::Key(pos));
            }
        }
    }
    if !sel.all_channels {
        let (range, pattern) = channel_args(cmd.name, args.len());
        for pos in range {
            let ch = &args[pos];
            let ok = sel.channels.iter().any(|p| {
                if pattern {
                    p.as_slice() == ch.as_ref()
                } else {
                    glob_match(p, ch, false)
                }
            });
            if !ok {
                return Err(Denial::Channel(pos));
            }
        }
    }
    Ok(())
}

/// Whether `user` may run `args` (ACL DRYRUN and the dispatcher): Ok, or the denial Redis
/// would report — the command if no selector allows it, else the last key or channel.
pub(crate) fn user_may_run(user: &User, cmd: &Command, args: &[Bytes]) -> Result<(), Denial> {
    let spec = resolve(cmd, args);
    // Shard channels are keys for cluster routing only (Redis's CMD_KEY_NOT_KEY specs):
    // ACL checks them as channels (their specs name no key). Keys are looked for only
    // when a selector restricts them.
    let keys = if user.all_selectors().any(|sel| !sel.all_keys) {
        acl_keys(spec, cmd, args)
    } else {
        Vec::new()
    };
    let mut relevant = Denial::Command;
    for sel in user.all_selectors() {
        match check_selector(sel, spec, cmd, args, &keys) {
            Ok(()) => return Ok(()),
            Err(d) => {
                let rank = |d: Denial| match d {
                    Denial::Command => (0, 0),
                    Denial::Key(i) => (1, i),
                    Denial::Channel(i) => (2, i),
                };
                if rank(d) > rank(relevant) {
                    relevant = d;
                }
            }
        }
    }
    Err(relevant)
}

/// The permission check of the command path. Returns the NOPERM error to send (and logs
/// the denial) or None when the client's user may run the command. Call it after the
/// command is found, its arity checked and the client authenticated, as Redis does; Lua's
/// redis.call passes `Context::Lua`.
pub(crate) fn check(
    store: &mut crate::store::Store,
    client: &ClientState,
    cmd: &Command,
    args: &[Bytes],
    context: Context,
) -> Option<Reply> {
    let denial = denial_of(store, client, cmd, args)?;
    let (reason, object) = log_fields(denial, cmd, args);
    let text = match denial {
        Denial::Command => {
            let full = full_name(cmd, args);
            format!("NOPERM this user has no permissions to run the '{full}' command")
        }
        Denial::Key(_) => {
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_string()
        }
        Denial::Channel(_) => {
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_string()
        }
    };
    log_denial(store, client, reason, context, object, None);
    Some(Reply::error(text))
}

/// Whether `client` may run anything without a check: the default user has every
/// permission, or the client has no user in Redis (the primary link, AOF loading).
fn unrestricted(store: &crate::store::Store, client: &ClientState) -> bool {
    (client.user.is_none() && store.acl.default_unrestricted)
        || client.is_primary_link
        || store.loading
}

/// Why `client`'s user may not run `args`, or None when it may.
fn denial_of(
    store: &crate::store::Store,
    client: &ClientState,
    cmd: &Command,
    args: &[Bytes],
) -> Option<Denial> {
    // Redis's primary link and AOF-loading clients have no user: they may run anything.
    if unrestricted(store, client) {
        return None;
    }
    let name = client.user.as_deref().unwrap_or(b"default");
    match store.acl.users.get(name) {
        Some(user) => user_may_run(user, cmd, args).err(),
        // The user was deleted under a live connection (it is being closed): deny.
        None => Some(Denial::Command),
    }
}

/// An ACL LOG entry's reason and object for a denial.
fn log_fields(denial: Denial, cmd: &Command, args: &[Bytes]) -> (&'static str, Bytes) {
    match denial {
        Denial::Command => (
            "command",
            Bytes::copy_from_slice(full_name(cmd, args).as_bytes()),
        ),
        Denial::Key(i) => ("key", args[i].clone()),
        Denial::Channel(i) => ("channel", args[i].clone()),
    }
}

/// Whether `client`'s user may run `args` with access to every key for reading through
/// one selector (Redis's ACLUserCheckCmdWithUnrestrictedKeyAccess with CMD_KEY_ACCESS):
/// SORT refuses BY and GET patterns otherwise.
pub(crate) fn full_key_read_access(
    store: &crate::store::Store,
    client: &ClientState,
    args: &[Bytes],
) -> bool {
    if unrestricted(store, client) {
        return true;
    }
    let name = client.user.as_deref().unwrap_or(b"default");
    let (Some(user), Some(cmd)) = (store.acl.users.get(name), crate::cmd::lookup(&args[0])) else {
        return false;
    };
    let spec = resolve(cmd, args);
    let keys = acl_keys(spec, cmd, args);
    user.all_selectors().any(|sel| {
        let every_key = sel.all_keys
            || sel
                .keys
                .iter()
                .any(|(p, f)| f & READ == READ && p.as_slice() == b"*");
        every_key && check_selector(sel, spec, cmd, args, &keys).is_ok()
    })
}

/// Redis's scriptVerifyACL: a command a script calls is checked against the user of the
/// client running the script (`caller`) and a denial is logged with context "lua". The
/// error is the text that follows "The user executing the script ".
pub(crate) fn check_script(
    store: &mut crate::store::Store,
    caller: &ClientState,
    cmd: &Command,
    args: &[Bytes],
) -> Result<(), &'static str> {
    let Some(denial) = denial_of(store, caller, cmd, args) else {
        return Ok(());
    };
    let (reason, object) = log_fields(denial, cmd, args);
    log_denial(store, caller, reason, Context::Lua, object, None);
    Err(match denial {
        Denial::Command => "The user executing the script can't run this command or subcommand",
        Denial::Key(_) => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
        Denial::Channel(_) => "The user executing the script can't publish to the channel mentioned in the command",
    })
}

/// redis.acl_check_cmd: whether the script caller's user may run `args` (nothing logged).
pub(crate) fn script_may_run(
    store: &crate::store::Store,
    caller: &ClientState,
    cmd: &Command,
    args: &[Bytes],
) -> bool {
    denial_of(store, caller, cmd, args).is_none()
}

/// Records a denial (or a failed AUTH, reason "auth") in the ACL LOG.
pub(crate) fn log_denial(
    store: &mut crate::store::Store,
    client: &ClientState,
    reason: &'static str,
    context: Context,
    object: Bytes,
    username: Option<Bytes>,
) {
    let username = username
        .unwrap_or_else(|| Bytes::copy_from_slice(client.user.as_deref().unwrap_or(b"default")));
    // Redis's catClientInfoString of the client: its CLIENT LIST line, current user and all.
    let client_info = crate::cmd::introspection::live_line(store, client, crate::store::now_ms())
        .unwrap_or_default();
    let max = store
        .config
        .get_value("acllog-max-len")
        .parse()
        .unwrap_or(128);
    store.acl.add_log(
        LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            ctime_ms: crate::store::now_ms(),
            client_info,
        },
        max,
    );
}

/// What is wrong with a container command's subcommand, found as Redis's lookupCommand and
/// arity check find it: before authentication, ACL or the command itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubcommandFault {
    /// The container has no such subcommand.
    Unknown,
    /// The subcommand (its catalog name, e.g. "config|get") takes another argument count.
    Arity(&'static str),
}

impl SubcommandFault {
    /// The reply a client gets for it, as Redis words it.
    pub(crate) fn reply(self, cmd: &Command, args: &[Bytes]) -> Reply {
        match self {
            SubcommandFault::Unknown => crate::cmd::err::unknown_subcommand(cmd.name, &args[1]),
            SubcommandFault::Arity(name) => crate::cmd::err::wrong_args(name),
        }
    }
}

/// Checks a container's subcommand: None when `args` is no container call, or names a
/// known subcommand with a valid argument count.
///
/// Asked for every command: the common answer (not a container) is inlined into the
/// dispatcher; the subcommand's check is out of line.
#[inline]
pub(crate) fn subcommand_fault(cmd: &Command, args: &[Bytes]) -> Option<SubcommandFault> {
    // A container alone (CONFIG) is checked as a command of its own arity.
    if args.len() < 2 || !cmd.has(crate::cmd::flags::CONTAINER) {
        return None;
    }
    subcommand_check(cmd, args)
}

/// `subcommand_fault` for a container command.
#[inline(never)]
fn subcommand_check(cmd: &Command, args: &[Bytes]) -> Option<SubcommandFault> {
    let spec = &SPECS[resolve(cmd, args)?];
    if !rules::is_sub(spec) {
        // resolve fell back to the container itself: no such subcommand in Redis 7.0's
        // table, and none of rubra's own.
        let own = crate::cmd::cluster::beyond_catalog(cmd.name, &args[1]);
        return (!own).then_some(SubcommandFault::Unknown);
    }
    let argc = args.len() as i32;
    let ok = if spec.arity >= 0 {
        argc == spec.arity
    } else {
        argc >= -spec.arity
    };
    (!ok).then_some(SubcommandFault::Arity(spec.name))
}

/// Loads users at start-up from `aclfile` or from the config file's `user` lines (not
/// both, as Redis refuses), after making `requirepass` the default user's password.
pub(crate) fn load_at_startup(store: &mut crate::store::Store) -> Result<(), String> {
    let pass = store.config.requirepass.clone();
    store.acl.sync_requirepass(&pass);
    let file = store.config.get_value("aclfile").to_string();
    let lines = store.config.user_lines.clone();
    if !file.is_empty() && !lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    if file.is_empty() {
        if !lines.is_empty() {
            let users = command::parse_users(lines.join("\n").as_bytes())?;
            command::install_users(&mut store.acl, users, true);
        }
        return Ok(());
    }
    // As ACL LOAD: the file's users replace all, its default user included (see
    // `install_users`), and any error stops the start.
    let abort = |e: String| format!("Aborting Redis startup because of ACL errors: {e}");
    let text = std::fs::read(&file).map_err(|e| {
        abort(format!(
            "Error loading ACLs, opening file '{file}': {}",
            crate::strerror(&e)
        ))
    })?;
    let users = file::parse(&text, &file).map_err(abort)?;
    command::install_users(&mut store.acl, users, false);
    Ok(())
}

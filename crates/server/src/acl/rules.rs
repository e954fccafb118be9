//! ACL users and selectors (Redis 7.0), and the SETUSER rule language that changes them.
//! A selector is one set of permissions (commands, key patterns, channel patterns); a user
//! has a root selector plus any number of `(...)` selectors, and a command is allowed when
//! any one of them allows it whole.

use super::catalog::{Spec, CATEGORIES, SPECS};
use super::sha256;

/// Key pattern permission bits: read (`%R~`), write (`%W~`); `~` is both.
pub(crate) const READ: u8 = 1;
/// See `READ`.
pub(crate) const WRITE: u8 = 2;

/// Why a rule was refused; the text is Redis's, after "Error in ACL SETUSER modifier".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleError {
    UnknownCommand,
    Syntax,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSub,
}

impl RuleError {
    /// Redis's wording for the error.
    pub(crate) fn text(self) -> &'static str {
        match self {
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// One set of permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    /// Per `SPECS` index: whether that command or subcommand may run.
    pub allowed: Vec<bool>,
    /// Every command may run (set by +@all, cleared by removing any command).
    pub all_commands: bool,
    /// Redis's reserved "future commands" bit: set by +@all, cleared only by -@all. It
    /// decides whether a description starts from +@all or -@all.
    pub future: bool,
    /// `+cmd|arg` rules for commands without subcommands (SELECT|0): allowed first args.
    pub first_args: Vec<(usize, Vec<String>)>,
    pub all_keys: bool,
    /// Key patterns with their READ/WRITE bits, in the order given.
    pub keys: Vec<(Vec<u8>, u8)>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
}

/// `acl-pubsub-default allchannels`: every selector created from now on (a new user's, a
/// `(...)` selector) and every `reset` allows all channels, as Redis reads its
/// server-wide acl_pubsub_default when it creates a selector. Set by the configuration.
static PUBSUB_DEFAULT_ALL: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Follows `acl-pubsub-default` (true: allchannels); called whenever it is set.
pub(crate) fn set_pubsub_default_all(all: bool) {
    PUBSUB_DEFAULT_ALL.store(all, std::sync::atomic::Ordering::Relaxed);
}

fn pubsub_default_all() -> bool {
    PUBSUB_DEFAULT_ALL.load(std::sync::atomic::Ordering::Relaxed)
}

impl Selector {
    /// A selector as Redis creates one: no permissions, except every channel under
    /// `acl-pubsub-default allchannels`.
    pub(crate) fn created() -> Selector {
        Selector {
            all_channels: pubsub_default_all(),
            ..Selector::default()
        }
    }
}

impl Default for Selector {
    fn default() -> Self {
        Selector {
            allowed: vec![false; SPECS.len()],
            all_commands: false,
            future: false,
            first_args: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }
}

/// Index of a command or `container|sub` in `SPECS`.
pub(crate) fn spec_index(name: &str) -> Option<usize> {
    SPECS.binary_search_by(|s| s.name.cmp(name)).ok()
}

/// Indexes of a container's subcommands.
pub(crate) fn subcommands(container: &str) -> impl Iterator<Item = usize> + '_ {
    SPECS
        .iter()
        .enumerate()
        .filter(move |(_, s)| {
            s.name.len() > container.len() + 1
                && s.name.starts_with(container)
                && s.name.as_bytes()[container.len()] == b'|'
        })
        .map(|(i, _)| i)
}

/// Whether a spec is a subcommand (`container|sub`).
pub(crate) fn is_sub(spec: &Spec) -> bool {
    spec.name.contains('|')
}

/// The bit of a category name, if it is one.
pub(crate) fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

impl Selector {
    /// Allows or denies one command; for a container, all its subcommands too.
    pub(crate) fn change(&mut self, idx: usize, allow: bool) {
        self.set_bit(idx, allow);
        self.first_args.retain(|(i, _)| *i != idx);
        let name = SPECS[idx].name;
        if !is_sub(&SPECS[idx]) {
            for sub in subcommands(name) {
                self.set_bit(sub, allow);
            }
        }
    }

    fn set_bit(&mut self, idx: usize, allow: bool) {
        self.allowed[idx] = allow;
        if !allow {
            self.all_commands = false;
        }
    }

    /// Applies `+@cat` / `-@cat` in Redis's order: each command in the category (with its
    /// subcommands), then each subcommand in the category.
    pub(crate) fn change_category(&mut self, bit: u32, allow: bool) {
        for (i, s) in SPECS.iter().enumerate() {
            if s.cats & bit != 0 {
                self.change(i, allow);
            }
        }
    }

    /// Applies one selector rule (everything SETUSER accepts inside `(...)`).
    pub(crate) fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let text = String::from_utf8_lossy(op);
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
                return Ok(());
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
                return Ok(());
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
                return Ok(());
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
                return Ok(());
            }
            "allcommands" | "+@all" => {
                self.allowed.iter_mut().for_each(|b| *b = true);
                self.all_commands = true;
                self.future = true;
                self.first_args.clear();
                return Ok(());
            }
            "nocommands" | "-@all" => {
                self.allowed.iter_mut().for_each(|b| *b = false);
                self.all_commands = false;
                self.future = false;
                self.first_args.clear();
                return Ok(());
            }
            _ => {}
        }
        match op.first() {
            Some(b'~') | Some(b'%') => self.add_key_pattern(op),
            Some(b'&') => {
                if self.all_channels {
                    return Err(RuleError::ChannelsAfterAll);
                }
                let pat = &op[1..];
                if has_spaces(pat) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c == pat) {
                    self.channels.push(pat.to_vec());
                }
                self.all_channels = false;
                Ok(())
            }
            Some(b'+') if op.get(1) != Some(&b'@') => self.allow_command(&lower[1..]),
            Some(b'-') if op.get(1) != Some(&b'@') => {
                let idx = spec_index(&lower[1..]).ok_or(RuleError::UnknownCommand)?;
                self.change(idx, false);
                Ok(())
            }
            Some(b'+') | Some(b'-') => {
                let bit = category_bit(&lower[2..]).ok_or(RuleError::UnknownCommand)?;
                self.change_category(bit, op[0] == b'+');
                Ok(())
            }
            _ => Err(RuleError::Syntax),
        }
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeysAfterAll);
        }
        let mut flags = 0u8;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if flags & READ == 0 => flags |= READ,
                    b'W' if flags & WRITE == 0 => flags |= WRITE,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            // "%" or "%~pattern": a pattern for no access at all is refused.
            if flags == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            flags = READ | WRITE;
        }
        let pat = &op[offset.min(op.len())..];
        if has_spaces(pat) {
            return Err(RuleError::Syntax);
        }
        match self.keys.iter_mut().find(|(p, _)| p == pat) {
            Some(existing) => existing.1 |= flags,
            None => self.keys.push((pat.to_vec(), flags)),
        }
        self.all_keys = false;
        Ok(())
    }

    fn allow_command(&mut self, name: &str) -> Result<(), RuleError> {
        let Some((container, sub)) = name.rsplit_once('|') else {
            let idx = spec_index(name).ok_or(RuleError::UnknownCommand)?;
            self.change(idx, true);
            return Ok(());
        };
        let parent = spec_index(container).ok_or(RuleError::UnknownCommand)?;
        if is_sub(&SPECS[parent]) {
            return Err(RuleError::FirstArgOfSub);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if subcommands(container).next().is_some() {
            let idx = spec_index(name).ok_or(RuleError::UnknownCommand)?;
            self.change(idx, true);
        } else {
            match self.first_args.iter_mut().find(|(i, _)| *i == parent) {
                Some((_, list)) => {
                    if !list.iter().any(|a| a == sub) {
                        list.push(sub.to_string());
                    }
                }
                None => self.first_args.push((parent, vec![sub.to_string()])),
            }
        }
        Ok(())
    }

    /// Whether this selector lets anything run on any key and channel (the fast path).
    pub(crate) fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }
}

/// Whether a pattern or name holds whitespace or NUL (Redis refuses those).
pub(crate) fn has_spaces(s: &[u8]) -> bool {
    s.iter()
        .any(|c| c.is_ascii_whitespace() || *c == 0 || *c == 0x0b)
}

/// A user: flags, password hashes and selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// None until sanitize-payload / skip-sanitize-payload is given (neither flag shown).
    pub sanitize: Option<bool>,
    /// SHA-256 hex digests, in the order added.
    pub passwords: Vec<String>,
    pub root: Selector,
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no passwords, no permissions.
    pub(crate) fn new(name: &[u8]) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::created(),
            selectors: Vec::new(),
        }
    }

    /// The default user: everything allowed, no password.
    pub(crate) fn default_user() -> User {
        let mut u = User::new(b"default");
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes());
        }
        u
    }

    /// Applies one SETUSER rule.
    pub(crate) fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = String::from_utf8_lossy(op).to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                let channels = if pubsub_default_all() {
                    "allchannels"
                } else {
                    "resetchannels"
                };
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    channels,
                    "off",
                    "sanitize-payload",
                    "clearselectors",
                    "-@all",
                ] {
                    self.apply(r.as_bytes())?;
                }
            }
            _ => match op[0] {
                b'>' | b'#' => {
                    let hash = if op[0] == b'>' {
                        sha256::hex(&op[1..])
                    } else {
                        valid_hash(&op[1..])?
                    };
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                    self.nopass = false;
                }
                b'<' | b'!' => {
                    let hash = if op[0] == b'<' {
                        sha256::hex(&op[1..])
                    } else {
                        valid_hash(&op[1..])?
                    };
                    let pos = self
                        .passwords
                        .iter()
                        .position(|p| *p == hash)
                        .ok_or(RuleError::NoSuchPassword)?;
                    self.passwords.remove(pos);
                }
                b'(' if op.len() > 1 && op[op.len() - 1] == b')' => {
                    let inner = &op[1..op.len() - 1];
                    let words = rubra_resp::split_args(inner).ok_or(RuleError::Syntax)?;
                    let mut s = Selector::created();
                    for w in words {
                        s.apply(&w)?;
                    }
                    self.selectors.push(s);
                }
                _ => self.root.apply(op)?,
            },
        }
        Ok(())
    }

    /// Whether `pass` authenticates this user (disabled users never authenticate).
    pub(crate) fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = sha256::hex(pass);
        // Compare every stored hash fully: the time taken does not depend on which matched.
        self.passwords.iter().fold(false, |ok, p| {
            ok | constant_eq(p.as_bytes(), hash.as_bytes())
        })
    }

    /// All selectors, root first (the order permission checks use).
    pub(crate) fn all_selectors(&self) -> impl Iterator<Item = &Selector> {
        std::iter::once(&self.root).chain(self.selectors.iter())
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn valid_hash(h: &[u8]) -> Result<String, RuleError> {
    if h.len() != 64
        || !h
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8_lossy(h).into_owned())
}

/// Joins SETUSER arguments so that a selector split over several words (`(~x` `+get)`)
/// becomes one rule, as Redis does. Err(index) of an unclosed selector's first word.
pub(crate) fn merge_selector_args(args: &[bytes::Bytes]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, a) in args.iter().enumerate() {
        // An opening argument starts a selector even inside an open one, which is then
        // dropped, as Redis's ACLMergeSelectorArguments does.
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((j, a.to_vec()));
            continue;
        }
        if let Some((_, buf)) = open.as_mut() {
            buf.push(b' ');
            buf.extend_from_slice(a);
            if a.last() == Some(&b')') {
                if let Some((_, done)) = open.take() {
                    out.push(done);
                }
            }
            continue;
        }
        out.push(a.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

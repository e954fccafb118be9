//! Configuration: redis.conf-style files, `--name value` command-line overrides, and
//! CONFIG GET/SET at run time, all through one table of parameters so that the three stay
//! consistent. Values are kept as Redis prints them; hot ones are also cached typed.

use rubra_keys::glob_match;
use rubra_resp::split_args;
use std::collections::BTreeMap;

pub(crate) mod open_files;
mod params;
pub(crate) mod rewrite;
mod special;
mod value;

pub(crate) use rewrite::{rewrite_file, rewrite_file_with};
pub(crate) use value::parse_memory;

/// Parameter flags (Redis's *_CONFIG flags that change what clients see).
pub(crate) const IMMUTABLE: u32 = 1;
/// Value redacted from logs (passwords).
pub(crate) const SENSITIVE: u32 = 1 << 1;
/// Value split into words on single spaces before parsing.
pub(crate) const MULTI_ARG: u32 = 1 << 3;
/// Left out of CONFIG GET patterns (an exact name still finds it).
pub(crate) const HIDDEN: u32 = 1 << 4;
/// CONFIG SET refused unless enable-protected-configs allows it.
pub(crate) const PROTECTED: u32 = 1 << 5;
/// CONFIG SET refused while loading data.
pub(crate) const DENY_LOADING: u32 = 1 << 6;
/// Redis re-applies it even when set to the value it has.
pub(crate) const VOLATILE: u32 = 1 << 9;

/// How a number is parsed and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumFormat {
    Plain,
    Memory,
    MemoryOrPercent,
    Octal,
}

/// How a parameter's value is validated and normalised.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool(bool),
    Str {
        default: &'static str,
        /// An empty value means "not set" (removed by CONFIG REWRITE).
        empty_is_null: bool,
    },
    Enum {
        options: &'static [(&'static str, i32)],
        default: i32,
    },
    Num {
        min: i128,
        max: i128,
        default: i128,
        /// Bounds compared as unsigned (a negative input wraps, as in C).
        unsigned: bool,
        format: NumFormat,
    },
    /// Parsed by its own rules (config/special.rs).
    Special,
}

/// One configuration parameter, as Redis 7.0 defines it (table in config/params.rs).
pub(crate) struct Param {
    /// The primary name (what CONFIG REWRITE writes).
    pub name: &'static str,
    /// The old name Redis still accepts and lists (hash-max-ziplist-entries, slaveof...).
    pub alias: Option<&'static str>,
    /// IMMUTABLE, PROTECTED, HIDDEN... (the constants above).
    pub flags: u32,
    /// How the value is parsed, printed and defaulted.
    pub kind: Kind,
}

impl Param {
    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

use params::PARAMS;

/// Finds a parameter by its name or alias, case-insensitively.
pub(crate) fn lookup(name: &str) -> Option<&'static Param> {
    // Commands read parameters by name on their paths (DEL, PFADD, ...): a scan of every
    // parameter with case-insensitive compares cost them ~1,200 instructions a call.
    static BY_NAME: std::sync::OnceLock<ahash::AHashMap<&'static str, &'static Param>> =
        std::sync::OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut map = ahash::AHashMap::new();
        for p in PARAMS.iter() {
            map.entry(p.name).or_insert(p);
        }
        for p in PARAMS.iter() {
            if let Some(alias) = p.alias {
                map.entry(alias).or_insert(p);
            }
        }
        map
    });
    match map.get(name) {
        Some(p) => Some(p),
        None if name.bytes().any(|b| b.is_ascii_uppercase()) => {
            map.get(name.to_ascii_lowercase().as_str()).copied()
        }
        None => None,
    }
}

/// Why CONFIG SET refuses a parameter before looking at its value.
pub(crate) fn refusal(param: &Param, protected_allowed: bool) -> Option<&'static str> {
    if param.has(IMMUTABLE) {
        Some("can't set immutable config")
    } else if param.has(PROTECTED) && !protected_allowed {
        Some("can't set protected config")
    } else {
        None
    }
}

/// Whether setting `dir` also makes it the process's working directory, as Redis's chdir
/// does (relative paths given later, such as `aclfile user.acl`, are then found there).
/// Only a node process turns it on (`follow_dir`): unit tests in this crate share one
/// process and must not move each other's working directory.
static DIR_CHANGES_CWD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every later `dir` setting (config file, options, CONFIG SET) change the working
/// directory; called once by the node's start-up before the configuration is read.
pub(crate) fn follow_dir() {
    DIR_CHANGES_CWD.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Eviction policy, cached from `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvictionPolicy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

/// The node's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Every parameter's value by primary name, as CONFIG GET prints it.
    values: BTreeMap<&'static str, String>,
    /// The exact bytes of a free-form string parameter (masterauth, requirepass, ...) set
    /// to a value that is not UTF-8: `values` holds its lossy text for the code that reads
    /// text, CONFIG GET and the passwords use these bytes, as Redis keeps them.
    raw: BTreeMap<&'static str, Vec<u8>>,
    /// The config file given at start-up (absolute), for CONFIG REWRITE.
    pub file: Option<std::path::PathBuf>,
    /// Cached typed values read on hot paths.
    pub port: u16,
    pub maxmemory: u64,
    /// maxmemory-clients: bytes, or minus a percentage of maxmemory (as Redis keeps it);
    /// 0 = no client eviction. Read after every batch.
    pub maxmemory_clients: i64,
    pub policy: EvictionPolicy,
    pub maxmemory_samples: usize,
    pub requirepass: Option<Vec<u8>>,
    pub proto_max_bulk_len: usize,
    pub query_buffer_limit: usize,
    pub maxclients: usize,
    pub databases: usize,
    pub hz: u64,
    pub protected_mode: bool,
    /// `client-output-buffer-limit pubsub ...`, applied where messages are queued for a
    /// subscriber (PUBLISH, keyspace notifications, tracking redirects).
    pub pubsub_output_limits: crate::client::OutputLimits,
    /// `client-output-buffer-limit normal ...`, enforced where a normal client's replies
    /// are written (conn.rs).
    pub normal_output_limits: crate::client::OutputLimits,
    /// `client-output-buffer-limit slave ...`, read each time a batch's writes go to the
    /// replicas.
    pub replica_output_limits: crate::client::OutputLimits,
    pub cluster_enabled: bool,
    pub idle_timeout_secs: u64,
    /// tracking-table-max-keys (0: unlimited), read by client-side caching.
    pub tracking_table_max_keys: usize,
    /// `user name rules...` lines of the config file, loaded into the ACL at start-up.
    pub user_lines: Vec<String>,
    /// notify-keyspace-events as parsed from the value given (CONFIG GET's canonical form
    /// drops `n` next to `A`, as Redis's does, so it cannot be re-parsed).
    pub notify_flags: u32,
    /// How an access bumps a key's LFU counter (lfu-log-factor, lfu-decay-time minutes).
    pub lfu: LfuParams,
    /// busy-reply-threshold (ms, 0: never busy), read by every script run.
    pub busy_reply_threshold_ms: u64,
    /// `io-threads` when given at start-up: the runtime's worker count. Unset, the node runs
    /// one worker per CPU; a Redis user who writes `io-threads 1` (or 4) gets that many.
    pub worker_threads: Option<usize>,
    /// lazyfree-lazy-user-del: DEL frees large values as UNLINK does; read by every DEL.
    pub lazy_user_del: bool,
    /// hll-sparse-max-bytes: the size at which a sparse HLL turns dense; read by every PFADD.
    pub hll_sparse_max_bytes: usize,
    /// replica-read-only: a replica refuses writes; read by every write command.
    pub replica_read_only: bool,
    /// min-replicas-to-write and min-replicas-max-lag (seconds): a primary refuses writes
    /// with fewer good replicas than that (0 in either: no check); read by every write.
    pub min_replicas: (u64, u64),
}

/// The LFU counter's parameters, read on every key access.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LfuParams {
    /// lfu-log-factor: the higher, the more accesses each increment takes.
    pub log_factor: u32,
    /// lfu-decay-time: minutes per decrement of an idle key's counter (0: never).
    pub decay_minutes: u64,
    /// An LFU maxmemory-policy is set: only then does an access update the counter.
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: PARAMS
                .iter()
                .map(|p| (p.name, value::default_text(p)))
                .collect(),
            raw: BTreeMap::new(),
            file: None,
            port: 6379,
            maxmemory: 0,
            maxmemory_clients: 0,
            policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            requirepass: None,
            proto_max_bulk_len: 512 << 20,
            query_buffer_limit: 1 << 30,
            maxclients: 10000,
            databases: 16,
            hz: 10,
            protected_mode: true,
            pubsub_output_limits: crate::client::OutputLimits {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
            normal_output_limits: crate::client::OutputLimits::default(),
            replica_output_limits: crate::client::OutputLimits::default(),
            cluster_enabled: false,
            idle_timeout_secs: 0,
            tracking_table_max_keys: 1_000_000,
            user_lines: Vec::new(),
            notify_flags: 0,
            lfu: LfuParams {
                log_factor: 10,
                decay_minutes: 1,
                enabled: false,
            },
            busy_reply_threshold_ms: 5000,
            worker_threads: None,
            lazy_user_del: false,
            hll_sparse_max_bytes: 3000,
            replica_read_only: true,
            min_replicas: (0, 10),
        };
        c.refresh_cache();
        c
    }
}

impl Config {
    /// Builds the configuration from the process arguments: an optional config file first,
    /// then `--name value...` overrides, as redis-server accepts them.
    ///
    /// As redis-server, the options are appended to the file's text and the whole is read
    /// as one configuration: the first `save` line anywhere replaces the default save
    /// points and later ones add to them (a file's `save 900 1` and `--save 100 100` make
    /// "900 1 100 100"), and `dir` changes the working directory where it appears, so
    /// relative paths after it (aclfile, ...) are found under it.
    pub(crate) fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        let mut text = String::new();
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                text = std::fs::read_to_string(first)
                    .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
                config.file = std::fs::canonicalize(first).ok();
                rest = &rest[1..];
            }
        }
        text.push('\n');
        text.push_str(&options_text(rest));
        config.load_text(&text)?;
        Ok(config)
    }

    /// Applies redis.conf-style text: one `name value...` directive per line, `#` comments.
    /// The first `save` line replaces the current save points, later ones add theirs, and
    /// `save ""` clears what the lines before it gave (Redis's reading of a config file).
    pub(crate) fn load_text(&mut self, text: &str) -> Result<(), String> {
        let mut saves: Option<Vec<String>> = None;
        for (lineno, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_args(line.as_bytes())
                .ok_or_else(|| format!("line {}: unbalanced quotes", lineno + 1))?;
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let values: Vec<String> = values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            if name == "save" {
                // Several `save` lines accumulate into one rule list; `save ""` clears.
                let list = saves.get_or_insert_with(Vec::new);
                if values.len() == 1 && values[0].is_empty() {
                    list.clear();
                } else {
                    list.extend(values);
                }
                continue;
            }
            if name == "user" {
                self.user_lines.push(line.to_string());
                continue;
            }
            if name == "include" || name == "rename-command" {
                return Err(format!("line {}: '{name}' is not supported", lineno + 1));
            }
            let fatal = |e: String| {
                format!(
                    "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {}\n>>> '{}'\n{}",
                    crate::script::VERSION,
                    lineno + 1,
                    line,
                    e
                )
            };
            // A parameter of one value takes exactly one (`port` alone, or `port 1 2`, is
            // refused as Redis refuses it); the multi-argument ones check their own.
            if lookup(&name).is_some_and(|p| !p.has(MULTI_ARG)) && values.len() != 1 {
                return Err(fatal("wrong number of arguments".into()));
            }
            // A free-form string written quoted with \x escapes keeps its bytes.
            let string_param = lookup(&name).filter(|p| matches!(p.kind, Kind::Str { .. }));
            let result = match (string_param, &words[1..]) {
                (Some(p), [v]) if std::str::from_utf8(v).is_err() => self.set_param_bytes(p, v),
                _ => self.set(&name, &values.join(" "), true),
            };
            result.map_err(fatal)?;
        }
        if let Some(list) = saves {
            self.set("save", &list.join(" "), true)?;
        }
        Ok(())
    }

    /// Sets one parameter. `at_startup` allows immutable and protected ones. The error
    /// text is what CONFIG SET appends after "ERR CONFIG SET failed (possibly related to
    /// argument '...') - ".
    pub(crate) fn set(&mut self, name: &str, value: &str, at_startup: bool) -> Result<(), String> {
        let param =
            lookup(name).ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if !at_startup {
            if let Some(why) = refusal(param, self.get_value("enable-protected-configs") == "yes") {
                return Err(why.into());
            }
        }
        self.set_param(param, value)
    }

    /// Validates `value` for `param` and stores it (no mutability check: CONFIG SET makes
    /// those first, for all its parameters).
    pub(crate) fn set_param(&mut self, param: &'static Param, value: &str) -> Result<(), String> {
        if param.name == "proc-title-template" && !self.valid_title_template(value::c_text(value)) {
            return Err(value::BAD_TITLE_TEMPLATE.into());
        }
        let current = self.get_value(param.name).to_string();
        let normalised = value::normalise(param, value, &current)?;
        if param.name == "dir" && DIR_CHANGES_CWD.load(std::sync::atomic::Ordering::Relaxed) {
            std::env::set_current_dir(&normalised).map_err(|e| crate::strerror(&e))?;
        }
        self.raw.remove(param.name);
        self.values.insert(param.name, normalised);
        if param.name == "notify-keyspace-events" {
            self.notify_flags = crate::exec::notify::parse_flags(value::c_text(value));
        }
        if param.name == "acl-pubsub-default" {
            crate::acl::rules::set_pubsub_default_all(self.get_value(param.name) == "allchannels");
        }
        if param.name == "io-threads" {
            // Immutable: only start-up reaches here, before the runtime is built.
            self.worker_threads = Some(self.int("io-threads").max(1) as usize);
        }
        self.refresh_cache();
        Ok(())
    }

    /// Whether Redis would take `template` as proc-title-template on this node (what its
    /// variables expand to decides it; see `value::valid_title_template`).
    fn valid_title_template(&self, template: &str) -> bool {
        value::valid_title_template(template, |var| match var {
            "title" => true,
            "server-mode" => !self.cluster_enabled,
            "unixsocket" => self.get_value("unixsocket").is_empty(),
            _ => false,
        })
    }

    /// `set_param` for a client's bytes: a free-form string parameter keeps them as they
    /// are (Redis stores any bytes there), others are validated as text.
    pub(crate) fn set_param_bytes(
        &mut self,
        param: &'static Param,
        value: &[u8],
    ) -> Result<(), String> {
        let value = match param.kind {
            Kind::Str { .. } => value::string_bytes(param.name, value),
            _ => value,
        };
        match std::str::from_utf8(value) {
            Ok(text) => self.set_param(param, text),
            Err(_) => {
                self.set_param(param, &String::from_utf8_lossy(value))?;
                if matches!(param.kind, Kind::Str { .. }) {
                    self.raw.insert(param.name, value.to_vec());
                    self.refresh_cache();
                }
                Ok(())
            }
        }
    }

    /// The exact bytes of a parameter's value when they are not UTF-8 (see `raw`).
    pub(crate) fn raw_value(&self, name: &str) -> Option<&[u8]> {
        let key = lookup(name).map_or(name, |p| p.name);
        self.raw.get(key).map(Vec::as_slice)
    }

    /// A parameter's value as bytes: the exact bytes set, for a value that is not UTF-8.
    pub(crate) fn get_bytes(&self, name: &str) -> &[u8] {
        self.raw_value(name)
            .unwrap_or_else(|| self.get_value(name).as_bytes())
    }

    /// The current value of a parameter (by name or alias).
    pub(crate) fn get_value(&self, name: &str) -> &str {
        let key = lookup(name).map_or(name, |p| p.name);
        self.values.get(key).map_or("", |s| s.as_str())
    }

    /// CONFIG GET for one pattern: a name without glob characters finds that parameter
    /// (even a hidden one) and is echoed as given; a glob matches every visible name and
    /// alias, case-insensitively.
    pub(crate) fn matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8_lossy(pattern);
        if !pattern.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
            return lookup(&text)
                .map(|p| vec![(text.into_owned(), self.get_value(p.name).to_string())])
                .unwrap_or_default();
        }
        let mut out = Vec::new();
        for p in PARAMS.iter().filter(|p| !p.has(HIDDEN)) {
            for name in std::iter::once(p.name).chain(p.alias) {
                if glob_match(pattern, name.as_bytes(), true) {
                    out.push((name.to_string(), self.get_value(p.name).to_string()));
                }
            }
        }
        out
    }

    fn int(&self, name: &str) -> i64 {
        self.get_value(name).parse().unwrap_or(0)
    }

    fn refresh_cache(&mut self) {
        self.port = self.int("port") as u16;
        self.maxmemory = self.get_value("maxmemory").parse().unwrap_or(0);
        let clients = self.get_value("maxmemory-clients");
        self.maxmemory_clients = match clients.strip_suffix('%') {
            Some(pct) => -pct.parse::<i64>().unwrap_or(0),
            None => clients.parse().unwrap_or(0),
        };
        self.maxmemory_samples = self.int("maxmemory-samples").max(1) as usize;
        self.policy = match self.get_value("maxmemory-policy") {
            "allkeys-lru" => EvictionPolicy::AllKeysLru,
            "allkeys-lfu" => EvictionPolicy::AllKeysLfu,
            "allkeys-random" => EvictionPolicy::AllKeysRandom,
            "volatile-lru" => EvictionPolicy::VolatileLru,
            "volatile-lfu" => EvictionPolicy::VolatileLfu,
            "volatile-random" => EvictionPolicy::VolatileRandom,
            "volatile-ttl" => EvictionPolicy::VolatileTtl,
            _ => EvictionPolicy::NoEviction,
        };
        let pass = self.get_bytes("requirepass");
        self.requirepass = (!pass.is_empty()).then(|| pass.to_vec());
        self.proto_max_bulk_len = self.int("proto-max-bulk-len") as usize;
        self.query_buffer_limit = self.int("client-query-buffer-limit") as usize;
        self.maxclients = self.int("maxclients") as usize;
        self.databases = self.int("databases") as usize;
        self.hz = self.int("hz").clamp(1, 500) as u64;
        self.protected_mode = self.get_value("protected-mode") == "yes";
        self.lazy_user_del = self.get_value("lazyfree-lazy-user-del") == "yes";
        self.hll_sparse_max_bytes = self
            .get_value("hll-sparse-max-bytes")
            .parse()
            .unwrap_or(3000);
        self.replica_read_only = self.get_value("replica-read-only") == "yes";
        self.min_replicas = (
            self.int("min-replicas-to-write").max(0) as u64,
            self.int("min-replicas-max-lag").max(0) as u64,
        );
        self.cluster_enabled = self.get_value("cluster-enabled") == "yes";
        self.idle_timeout_secs = self.int("timeout") as u64;
        self.tracking_table_max_keys = self.int("tracking-table-max-keys") as usize;
        self.busy_reply_threshold_ms = self
            .get_value("busy-reply-threshold")
            .parse()
            .unwrap_or(5000);
        let value = self.get_value("client-output-buffer-limit").to_string();
        let limits = |class| {
            let (hard, soft, secs) = special::class_limits(&value, class);
            crate::client::OutputLimits {
                hard: hard as usize,
                soft: soft as usize,
                soft_seconds: secs,
            }
        };
        self.normal_output_limits = limits("normal");
        self.replica_output_limits = limits("slave");
        self.pubsub_output_limits = limits("pubsub");
        self.lfu = LfuParams {
            log_factor: self.int("lfu-log-factor").max(0) as u32,
            decay_minutes: self.int("lfu-decay-time").max(0) as u64,
            enabled: matches!(
                self.policy,
                EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
            ),
        };
    }
}

/// The command-line options as config lines, built as redis-server 7.0 builds them: an
/// argument starting with `--` names an option (its own line; "--port 6380" in one
/// argument carries its value too), the arguments after it are its values, each quoted;
/// an option name right after another with no value (`--port --loglevel verbose`) is
/// that option's value. `--save` with nothing after it (or before another option) is
/// `save ""`.
fn options_text(args: &[String]) -> String {
    let mut out = String::new();
    let mut value_given = true;
    for (j, arg) in args.iter().enumerate() {
        if value_given && arg.starts_with("--") {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&arg[2..]);
            out.push(' ');
            let words = split_args(arg.as_bytes()).map_or(0, |w| w.len());
            value_given = words != 1;
            let next_is_option = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
            let last = j + 1 == args.len();
            if words == 1 && arg.eq_ignore_ascii_case("--save") && (next_is_option || last) {
                out.push_str("\"\"");
                value_given = !last;
            }
        } else {
            out.push_str(&rewrite::repr(arg.as_bytes()));
            out.push(' ');
            value_given = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The map finds what a scan of the table finds: every name and alias, in any case,
    /// each naming one parameter only; nothing else.
    #[test]
    fn lookup_matches_a_scan_of_the_table() {
        let scan = |name: &str| {
            PARAMS.iter().find(|p| {
                p.name.eq_ignore_ascii_case(name)
                    || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
            })
        };
        for p in PARAMS.iter() {
            for name in std::iter::once(p.name).chain(p.alias) {
                assert_eq!(name, name.to_ascii_lowercase());
                for variant in [name.to_string(), name.to_ascii_uppercase()] {
                    let found = lookup(&variant).map(|p| p.name);
                    assert_eq!(found, scan(&variant).map(|p| p.name), "{variant}");
                    assert_eq!(found, Some(p.name), "{variant} names two parameters");
                }
            }
        }
        for missing in ["", "nosuch", "maxmemory ", "MAXMEMORY-X"] {
            assert!(lookup(missing).is_none(), "{missing}");
        }
    }

    #[test]
    fn command_line_overrides() {
        let c = Config::from_args(&args(&[
            "--port",
            "7001",
            "--maxmemory",
            "100mb",
            "--save",
            "",
        ]))
        .unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.maxmemory, 100 * 1024 * 1024);
        assert_eq!(c.get_value("save"), "");
    }

    #[test]
    fn config_file_with_several_save_lines() {
        let mut c = Config::default();
        c.load_text("# comment\nport 7002\nsave 900 1\nsave 300 10\nrequirepass \"a b\"\n")
            .unwrap();
        assert_eq!(c.port, 7002);
        assert_eq!(c.get_value("save"), "900 1 300 10");
        assert_eq!(c.requirepass.as_deref(), Some(&b"a b"[..]));
        assert!(c.load_text("nonsense 1").is_err());
    }

    #[test]
    fn validation_and_glob() {
        let mut c = Config::default();
        assert!(c.set("maxmemory-policy", "bogus", false).is_err());
        assert!(c.set("port", "70000", false).is_err());
        c.set("maxmemory-policy", "ALLKEYS-LRU", false).unwrap();
        assert_eq!(c.policy, EvictionPolicy::AllKeysLru);
        let names: Vec<_> = c
            .matching(b"maxmemory*")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            vec![
                "maxmemory",
                "maxmemory-clients",
                "maxmemory-eviction-tenacity",
                "maxmemory-policy",
                "maxmemory-samples"
            ]
        );
        c.set("client-output-buffer-limit", "pubsub 1mb 0 0", false)
            .unwrap();
        assert_eq!(c.pubsub_output_limits.hard, 1 << 20);
        assert!(c
            .get_value("client-output-buffer-limit")
            .starts_with("normal 0 0 0 slave"));
        assert!(c.set("daemonize", "yes", false).is_err());
        c.set("hash-max-ziplist-entries", "7", false).unwrap();
        assert_eq!(c.get_value("hash-max-listpack-entries"), "7");
        c.set("maxmemory-clients", "10%", false).unwrap();
        assert_eq!(c.get_value("maxmemory-clients"), "10%");
        c.set("notify-keyspace-events", "KEA", false).unwrap();
        assert_eq!(c.get_value("notify-keyspace-events"), "AKE");
    }
}

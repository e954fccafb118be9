//! Configuration: redis.conf-style files, `--name value` command-line overrides, and
//! CONFIG GET/SET at run time, all through one table of parameters so that the three stay
//! consistent. Values are kept as Redis prints them; hot ones are also cached typed.

use rubra_keys::glob_match;
use rubra_resp::split_args;
use std::collections::BTreeMap;

/// How a parameter's value is validated and normalised.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int(i64, i64),
    Memory,
    Bool,
    Enum(&'static [&'static str]),
    Text,
}

/// One configuration parameter.
struct Param {
    name: &'static str,
    kind: Kind,
    default: &'static str,
    /// Whether CONFIG SET may change it while running.
    mutable: bool,
}

const fn p(name: &'static str, kind: Kind, default: &'static str, mutable: bool) -> Param {
    Param {
        name,
        kind,
        default,
        mutable,
    }
}

const POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

static PARAMS: &[Param] = &[
    p("port", Kind::Int(0, 65535), "6379", false),
    p("bind", Kind::Text, "127.0.0.1", false),
    p("requirepass", Kind::Text, "", true),
    p("masterauth", Kind::Text, "", true),
    p("masteruser", Kind::Text, "", true),
    p("protected-mode", Kind::Bool, "yes", true),
    p("maxclients", Kind::Int(1, 1_000_000), "10000", true),
    p("timeout", Kind::Int(0, i32::MAX as i64), "0", true),
    p("tcp-keepalive", Kind::Int(0, i32::MAX as i64), "300", true),
    p("databases", Kind::Int(1, 1024), "16", false),
    p("maxmemory", Kind::Memory, "0", true),
    p("maxmemory-policy", Kind::Enum(POLICIES), "noeviction", true),
    p("maxmemory-samples", Kind::Int(1, 64), "5", true),
    p("lfu-log-factor", Kind::Int(0, i32::MAX as i64), "10", true),
    p("lfu-decay-time", Kind::Int(0, i32::MAX as i64), "1", true),
    p("proto-max-bulk-len", Kind::Memory, "536870912", true),
    p(
        "client-query-buffer-limit",
        Kind::Memory,
        "1073741824",
        true,
    ),
    p(
        "client-output-buffer-limit",
        Kind::Text,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        true,
    ),
    p("hz", Kind::Int(1, 500), "10", true),
    p(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        true,
    ),
    p("logfile", Kind::Text, "", false),
    p("daemonize", Kind::Bool, "no", false),
    p("pidfile", Kind::Text, "", false),
    p("dir", Kind::Text, ".", true),
    p("dbfilename", Kind::Text, "dump.rdb", true),
    p("save", Kind::Text, "3600 1 300 100 60 10000", true),
    p("appendonly", Kind::Bool, "no", true),
    p("appendfilename", Kind::Text, "appendonly.aof", false),
    p(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
        true,
    ),
    p("aof-load-truncated", Kind::Bool, "yes", true),
    p("replicaof", Kind::Text, "", false),
    p("replica-read-only", Kind::Bool, "yes", true),
    p("replica-serve-stale-data", Kind::Bool, "yes", true),
    p("repl-backlog-size", Kind::Memory, "1048576", true),
    p("repl-diskless-sync", Kind::Bool, "yes", true),
    p("cluster-enabled", Kind::Bool, "no", false),
    p("cluster-config-file", Kind::Text, "nodes.conf", false),
    p(
        "cluster-node-timeout",
        Kind::Int(0, i64::MAX),
        "15000",
        true,
    ),
    p("cluster-port", Kind::Int(0, 65535), "0", false),
    p("cluster-announce-ip", Kind::Text, "", true),
    p("cluster-announce-port", Kind::Int(0, 65535), "0", true),
    p("cluster-announce-bus-port", Kind::Int(0, 65535), "0", true),
    p("cluster-announce-hostname", Kind::Text, "", true),
    p(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        true,
    ),
    p("cluster-require-full-coverage", Kind::Bool, "yes", true),
    p(
        "cluster-migration-barrier",
        Kind::Int(0, i32::MAX as i64),
        "1",
        true,
    ),
    p("cluster-allow-reads-when-down", Kind::Bool, "no", true),
    p(
        "cluster-allow-pubsubshard-when-down",
        Kind::Bool,
        "yes",
        true,
    ),
    p("cluster-replica-no-failover", Kind::Bool, "no", true),
    p("cluster-allow-replica-migration", Kind::Bool, "yes", true),
    p(
        "repl-ping-replica-period",
        Kind::Int(1, i32::MAX as i64),
        "10",
        true,
    ),
    p(
        "cluster-replica-validity-factor",
        Kind::Int(0, i32::MAX as i64),
        "10",
        true,
    ),
    p("notify-keyspace-events", Kind::Text, "", true),
    p(
        "slowlog-log-slower-than",
        Kind::Int(-1, i64::MAX),
        "10000",
        true,
    ),
    p("slowlog-max-len", Kind::Int(0, i64::MAX), "128", true),
    p(
        "latency-monitor-threshold",
        Kind::Int(0, i64::MAX),
        "0",
        true,
    ),
    p("latency-tracking", Kind::Bool, "yes", true),
    p("lazyfree-lazy-user-del", Kind::Bool, "no", true),
    p(
        "list-max-listpack-size",
        Kind::Int(-5, i64::MAX),
        "-2",
        true,
    ),
    p(
        "hash-max-listpack-entries",
        Kind::Int(0, i64::MAX),
        "128",
        true,
    ),
    p(
        "hash-max-listpack-value",
        Kind::Int(0, i64::MAX),
        "64",
        true,
    ),
    p(
        "set-max-intset-entries",
        Kind::Int(0, i64::MAX),
        "512",
        true,
    ),
    p(
        "zset-max-listpack-entries",
        Kind::Int(0, i64::MAX),
        "128",
        true,
    ),
    p(
        "zset-max-listpack-value",
        Kind::Int(0, i64::MAX),
        "64",
        true,
    ),
    p("io-threads", Kind::Int(1, 128), "1", false),
    p("aclfile", Kind::Text, "", false),
    p("acllog-max-len", Kind::Int(0, i64::MAX), "128", true),
    p(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        true,
    ),
    p("hll-sparse-max-bytes", Kind::Memory, "3000", true),
    // Scripts running longer than this (ms) make other clients get -BUSY (0: never).
    p("busy-reply-threshold", Kind::Int(0, i64::MAX), "5000", true),
];

/// Old names Redis still accepts.
fn canonical(name: &str) -> &str {
    match name {
        "slaveof" => "replicaof",
        "lua-time-limit" => "busy-reply-threshold",
        "cluster-slave-no-failover" => "cluster-replica-no-failover",
        "cluster-slave-validity-factor" => "cluster-replica-validity-factor",
        "repl-ping-slave-period" => "repl-ping-replica-period",
        "slave-read-only" => "replica-read-only",
        "slave-serve-stale-data" => "replica-serve-stale-data",
        "hash-max-ziplist-entries" => "hash-max-listpack-entries",
        "hash-max-ziplist-value" => "hash-max-listpack-value",
        "zset-max-ziplist-entries" => "zset-max-listpack-entries",
        "zset-max-ziplist-value" => "zset-max-listpack-value",
        "list-max-ziplist-size" => "list-max-listpack-size",
        other => other,
    }
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
    values: BTreeMap<&'static str, String>,
    /// Cached typed values read on hot paths.
    pub port: u16,
    pub maxmemory: u64,
    pub policy: EvictionPolicy,
    pub maxmemory_samples: usize,
    pub requirepass: Option<Vec<u8>>,
    pub proto_max_bulk_len: usize,
    pub query_buffer_limit: usize,
    pub maxclients: usize,
    pub databases: usize,
    pub hz: u64,
    pub protected_mode: bool,
    pub pubsub_hard_limit: usize,
    pub pubsub_soft_limit: usize,
    pub pubsub_soft_seconds: u64,
    pub cluster_enabled: bool,
    pub idle_timeout_secs: u64,
    /// `user name rules...` lines of the config file, loaded into the ACL at start-up.
    pub user_lines: Vec<String>,
}

impl Config {
    /// Output buffer limits for replicas (client-output-buffer-limit slave ...).
    pub(crate) fn replica_output_limits(&self) -> crate::client::OutputLimits {
        let words: Vec<&str> = self
            .get_value("client-output-buffer-limit")
            .split_whitespace()
            .collect();
        for c in words.chunks(4) {
            if c.len() == 4 && c[0] == "slave" {
                return crate::client::OutputLimits {
                    hard: parse_memory(c[1]).unwrap_or(0) as usize,
                    soft: parse_memory(c[2]).unwrap_or(0) as usize,
                    soft_seconds: c[3].parse().unwrap_or(0),
                };
            }
        }
        crate::client::OutputLimits {
            hard: 256 << 20,
            soft: 64 << 20,
            soft_seconds: 60,
        }
    }
}

/// Parses Redis memory units: 1k = 1000, 1kb = 1024, and so on up to g/gb.
pub(crate) fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: i64 = num.parse().ok()?;
    if n < 0 {
        return None;
    }
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1_000_000,
        "mb" => 1024 * 1024,
        "g" => 1_000_000_000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    (n as u64).checked_mul(mul)
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            values: PARAMS
                .iter()
                .map(|p| (p.name, p.default.to_string()))
                .collect(),
            port: 6379,
            maxmemory: 0,
            policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            requirepass: None,
            proto_max_bulk_len: 512 << 20,
            query_buffer_limit: 1 << 30,
            maxclients: 10000,
            databases: 16,
            hz: 10,
            protected_mode: true,
            pubsub_hard_limit: 32 << 20,
            pubsub_soft_limit: 8 << 20,
            pubsub_soft_seconds: 60,
            cluster_enabled: false,
            idle_timeout_secs: 0,
            user_lines: Vec::new(),
        };
        c.refresh_cache();
        c
    }
}

impl Config {
    /// Builds the configuration from the process arguments: an optional config file first,
    /// then `--name value...` overrides, as redis-server accepts them.
    pub(crate) fn from_args(args: &[String]) -> Result<Config, String> {
        let mut config = Config::default();
        let mut rest = args;
        if let Some(first) = rest.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first)
                    .map_err(|e| format!("Fatal error, can't open config file '{first}': {e}"))?;
                config.load_text(&text)?;
                rest = &rest[1..];
            }
        }
        let mut text = String::new();
        for arg in rest {
            if let Some(name) = arg.strip_prefix("--") {
                text.push('\n');
                text.push_str(name);
            } else {
                text.push(' ');
                text.push_str(&quote(arg));
            }
        }
        config.load_text(&text)?;
        Ok(config)
    }

    /// Applies redis.conf-style text: one `name value...` directive per line, `#` comments.
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
                // Several `save` lines accumulate into one rule list.
                let list = saves.get_or_insert_with(Vec::new);
                list.extend(values.into_iter().filter(|v| !v.is_empty()));
                continue;
            }
            if name == "user" {
                self.user_lines.push(line.to_string());
                continue;
            }
            if name == "include" || name == "rename-command" {
                return Err(format!("line {}: '{name}' is not supported", lineno + 1));
            }
            self.set(&name, &values.join(" "), true).map_err(|e| {
                format!(
                    "*** FATAL CONFIG FILE ERROR ***\nline {}: '{}': {}",
                    lineno + 1,
                    line,
                    e
                )
            })?;
        }
        if let Some(list) = saves {
            self.set("save", &list.join(" "), true)?;
        }
        Ok(())
    }

    /// Sets one parameter. `at_startup` allows immutable ones. The error text is what
    /// CONFIG SET appends after "ERR CONFIG SET failed (possibly related to argument '...') - ".
    pub(crate) fn set(&mut self, name: &str, value: &str, at_startup: bool) -> Result<(), String> {
        let lname = name.to_ascii_lowercase();
        let cname = canonical(&lname);
        let param = PARAMS
            .iter()
            .find(|p| p.name == cname)
            .ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        if !at_startup && !param.mutable {
            return Err("can't set immutable config".into());
        }
        let normalised = match param.kind {
            Kind::Int(min, max) => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                n.to_string()
            }
            Kind::Memory => parse_memory(value)
                .ok_or_else(|| "argument must be a memory value".to_string())?
                .to_string(),
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" => "yes".into(),
                "no" => "no".into(),
                _ => return Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Enum(options) => {
                let v = value.to_ascii_lowercase();
                if !options.contains(&v.as_str()) {
                    return Err("argument(s) must be one of the following: ".to_string()
                        + &options.join(", "));
                }
                v
            }
            Kind::Text => {
                if cname == "save" {
                    validate_save(value)?;
                }
                if cname == "client-output-buffer-limit" {
                    let merged =
                        merge_output_limits(self.get_value("client-output-buffer-limit"), value)?;
                    self.values.insert(param.name, merged);
                    self.refresh_cache();
                    return Ok(());
                }
                value.to_string()
            }
        };
        self.values.insert(param.name, normalised);
        self.refresh_cache();
        Ok(())
    }

    /// The current value of a parameter.
    pub(crate) fn get_value(&self, name: &str) -> &str {
        self.values.get(canonical(name)).map_or("", |s| s.as_str())
    }

    /// Parameters matching a glob pattern, for CONFIG GET.
    pub(crate) fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let lower = pattern.to_ascii_lowercase();
        let exact = canonical(std::str::from_utf8(&lower).unwrap_or(""));
        self.values
            .iter()
            .filter(|(name, _)| glob_match(&lower, name.as_bytes(), true) || **name == exact)
            .map(|(n, v)| (*n, v.clone()))
            .collect()
    }

    fn int(&self, name: &str) -> i64 {
        self.get_value(name).parse().unwrap_or(0)
    }

    fn refresh_cache(&mut self) {
        self.port = self.int("port") as u16;
        self.maxmemory = self.int("maxmemory") as u64;
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
        let pass = self.get_value("requirepass");
        self.requirepass = (!pass.is_empty()).then(|| pass.as_bytes().to_vec());
        self.proto_max_bulk_len = self.int("proto-max-bulk-len") as usize;
        self.query_buffer_limit = self.int("client-query-buffer-limit") as usize;
        self.maxclients = self.int("maxclients") as usize;
        self.databases = self.int("databases") as usize;
        self.hz = self.int("hz").max(1) as u64;
        self.protected_mode = self.get_value("protected-mode") == "yes";
        self.cluster_enabled = self.get_value("cluster-enabled") == "yes";
        self.idle_timeout_secs = self.int("timeout") as u64;
        let limits = self.get_value("client-output-buffer-limit").to_string();
        let words: Vec<&str> = limits.split_whitespace().collect();
        for chunk in words.chunks(4) {
            if chunk.len() == 4 && chunk[0] == "pubsub" {
                self.pubsub_hard_limit = parse_memory(chunk[1]).unwrap_or(0) as usize;
                self.pubsub_soft_limit = parse_memory(chunk[2]).unwrap_or(0) as usize;
                self.pubsub_soft_seconds = chunk[3].parse().unwrap_or(0);
            }
        }
    }
}

fn validate_save(value: &str) -> Result<(), String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
        return Err("Invalid save parameters".into());
    }
    Ok(())
}

/// CONFIG SET client-output-buffer-limit replaces only the classes it names.
fn merge_output_limits(current: &str, update: &str) -> Result<String, String> {
    let mut classes: Vec<(String, [String; 3])> = Vec::new();
    for text in [current, update] {
        let words: Vec<&str> = text.split_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for c in words.chunks(4) {
            let class = match c[0].to_ascii_lowercase().as_str() {
                "normal" => "normal",
                "slave" | "replica" => "slave",
                "pubsub" => "pubsub",
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let hard = parse_memory(c[1]).ok_or(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            )?;
            let soft = parse_memory(c[2]).ok_or(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
            )?;
            let secs: u64 = c[3].parse().map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
            })?;
            let entry = [hard.to_string(), soft.to_string(), secs.to_string()];
            match classes.iter_mut().find(|(n, _)| n == class) {
                Some(slot) => slot.1 = entry,
                None => classes.push((class.to_string(), entry)),
            }
        }
    }
    Ok(classes
        .iter()
        .map(|(n, v)| format!("{} {} {} {}", n, v[0], v[1], v[2]))
        .collect::<Vec<_>>()
        .join(" "))
}

/// Quotes an argument for re-parsing by `split_args` (command-line overrides).
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && !arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        return arg.to_string();
    }
    let mut s = String::from("\"");
    for c in arg.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
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
        assert!(c.set("port", "1", false).is_err());
        c.set("maxmemory-policy", "ALLKEYS-LRU", false).unwrap();
        assert_eq!(c.policy, EvictionPolicy::AllKeysLru);
        let names: Vec<_> = c
            .matching(b"maxmemory*")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            vec!["maxmemory", "maxmemory-policy", "maxmemory-samples"]
        );
        c.set("client-output-buffer-limit", "pubsub 1mb 0 0", false)
            .unwrap();
        assert_eq!(c.pubsub_hard_limit, 1 << 20);
        assert!(c
            .get_value("client-output-buffer-limit")
            .starts_with("normal 0 0 0 slave"));
    }
}

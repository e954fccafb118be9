//! Entry points for the fuzz targets in `tests/fuzz_loaders.rs` (not an API: hidden from
//! the docs). They reach three loaders of outsider-controlled input that are private to the
//! crate: the config-file parser, the AOF loader, and RESTORE into a real keyspace, each
//! run in-process so a fuzzer can try millions of inputs without starting servers.

use crate::client::ClientState;
use crate::config::Config;
use crate::store::Store;
use bytes::Bytes;

/// Commands the AOF/RESTORE harness runs: data commands only. Left out are those that
/// touch files, the network, the process or run user code (SAVE, CONFIG, DEBUG, MIGRATE,
/// REPLICAOF, SHUTDOWN, EVAL, FUNCTION...), which an AOF written by us never holds.
const ALLOWED: &[&str] = &[
    "set",
    "get",
    "getset",
    "getdel",
    "getex",
    "getrange",
    "setrange",
    "append",
    "strlen",
    "incr",
    "incrby",
    "incrbyfloat",
    "decr",
    "decrby",
    "mset",
    "msetnx",
    "mget",
    "setnx",
    "setex",
    "psetex",
    "lcs",
    "setbit",
    "getbit",
    "bitcount",
    "bitpos",
    "bitop",
    "bitfield",
    "pfadd",
    "pfcount",
    "pfmerge",
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "lrange",
    "lindex",
    "lset",
    "linsert",
    "lrem",
    "ltrim",
    "llen",
    "lpos",
    "lmove",
    "rpoplpush",
    "lmpop",
    "sadd",
    "srem",
    "smembers",
    "sismember",
    "smismember",
    "scard",
    "spop",
    "srandmember",
    "smove",
    "sinter",
    "sintercard",
    "sinterstore",
    "sunion",
    "sunionstore",
    "sdiff",
    "sdiffstore",
    "hset",
    "hsetnx",
    "hget",
    "hmget",
    "hdel",
    "hlen",
    "hstrlen",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hvals",
    "hgetall",
    "hexists",
    "hrandfield",
    "hscan",
    "zadd",
    "zincrby",
    "zrem",
    "zcard",
    "zscore",
    "zmscore",
    "zrank",
    "zrevrank",
    "zrange",
    "zrangestore",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "zrevrange",
    "zcount",
    "zlexcount",
    "zpopmin",
    "zpopmax",
    "zmpop",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zunion",
    "zinter",
    "zdiff",
    "zintercard",
    "zrandmember",
    "zscan",
    "xadd",
    "xdel",
    "xtrim",
    "xlen",
    "xrange",
    "xrevrange",
    "xread",
    "xgroup",
    "xreadgroup",
    "xack",
    "xpending",
    "xclaim",
    "xautoclaim",
    "xinfo",
    "xsetid",
    "del",
    "unlink",
    "exists",
    "expire",
    "pexpire",
    "expireat",
    "pexpireat",
    "persist",
    "ttl",
    "pttl",
    "type",
    "rename",
    "renamenx",
    "copy",
    "move",
    "select",
    "swapdb",
    "dbsize",
    "flushdb",
    "flushall",
    "scan",
    "sscan",
    "keys",
    "randomkey",
    "sort",
    "sort_ro",
    "object",
    "dump",
    "restore",
    "multi",
    "exec",
    "discard",
    "touch",
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "geosearch",
    "geosearchstore",
    "georadius",
    "georadiusbymember",
    "ping",
    "echo",
];

/// Arguments above this are treated as a legitimate but expensive request (SETRANGE at
/// 500 MB, SRANDMEMBER of a billion) and skipped, so the fuzzer spends its time on parsing
/// and state, not on allocating what Redis would allocate too.
const MAX_NUMERIC_ARG: i64 = 1 << 20;

/// An in-process node: a store and one client, executing commands as a connection would.
pub struct Harness {
    store: Store,
    client: ClientState,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A store with the default configuration, one authenticated client.
    pub fn new() -> Harness {
        Harness {
            store: Store::new(Config::default(), 1_700_000_000_000),
            client: ClientState {
                authenticated: true,
                no_block: true,
                ..Default::default()
            },
        }
    }

    /// Whether the harness runs `args` (see [`ALLOWED`] and [`MAX_NUMERIC_ARG`]).
    pub fn runs(args: &[Bytes]) -> bool {
        let Some(name) = args.first() else {
            return false;
        };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        ALLOWED.contains(&name.as_str())
            && !args[1..].iter().any(|a| {
                std::str::from_utf8(a)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .is_some_and(|n| n.abs() > MAX_NUMERIC_ARG as f64)
            })
    }

    /// Executes one command (if [`Harness::runs`] allows it) and returns the encoded reply.
    pub fn exec(&mut self, args: Vec<Bytes>) -> Vec<u8> {
        if !Self::runs(&args) {
            return b"-SKIPPED\r\n".to_vec();
        }
        let mut out = Vec::new();
        let _ = crate::exec::dispatch::execute(&mut self.store, &mut self.client, args, &mut out);
        out
    }

    /// Loads AOF bytes as the server does at start (parse, then replay through the command
    /// path with the loading flag set), keeping only commands the harness runs. Returns the
    /// number replayed, or the loader's error text.
    pub fn load_aof(&mut self, data: &[u8]) -> Result<usize, String> {
        let contents = crate::persist::aof::parse_aof(data, "fuzz.aof")?;
        let commands: Vec<Vec<Bytes>> = contents
            .commands
            .into_iter()
            .filter(|c| Self::runs(c))
            .collect();
        Ok(crate::persist::aof::replay(&mut self.store, commands))
    }

    /// Keys of the current database.
    pub fn keys(&mut self) -> Vec<Bytes> {
        let now = crate::store::now_ms();
        let db = self.client.db;
        let mut keys = Vec::new();
        self.store.dbs[db].for_each(now, |k, _, _| keys.push(Bytes::copy_from_slice(k)));
        keys
    }
}

/// Applies config-file text to a default configuration, as `rubra-server file.conf` does,
/// then checks what CONFIG REWRITE would write over it: that text must load, and give the
/// same value for every parameter. Err(text) for a file the server refuses; panics if the
/// rewrite round trip fails (the fuzz target's property).
pub fn load_config_text(text: &str) -> Result<(), String> {
    let mut c = Config::default();
    c.load_text(text)?;
    let users = c.user_lines.clone();
    let rewritten = crate::config::rewrite::rewritten_text(&c, text, &users);
    let mut again = Config::default();
    if let Err(e) = again.load_text(&rewritten) {
        panic!("CONFIG REWRITE output does not load ({e}):\n{rewritten}");
    }
    let (a, b) = (c.matching(b"*"), again.matching(b"*"));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "value changed by CONFIG REWRITE:\n{rewritten}");
    }
    Ok(())
}

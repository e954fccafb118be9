//! LFU counters and lookups against redis-server 7.0: OBJECT FREQ under lfu-log-factor 0
//! (every access counts), overwrites, which lookups count as accesses, and SCAN /
//! RANDOMKEY meeting expired keys. Same runner and masks as introspection_differential.rs.

mod common;
mod introspection_kit;
mod reference;

use introspection_kit::assert_same;

/// LFU counters under lfu-log-factor 0 (every access counts, so the numbers are exact):
/// reads and writes to existing keys move OBJECT FREQ by one per command (however many
/// lookups the command makes), a new key starts at 5, and the factor set at run time
/// takes effect.
#[test]
fn lfu_counter_follows_lfu_log_factor() {
    let mut script = vec![
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "SET k v",
        "OBJECT FREQ k",
    ];
    script.extend(std::iter::repeat_n("GET k", 10));
    script.extend([
        "OBJECT FREQ k",
        "APPEND k x",
        "OBJECT FREQ k",
        "RPUSH l a b",
        "LRANGE l 0 -1",
        "LPUSH l c",
        "OBJECT FREQ l",
        "MULTI",
        "GET k",
        "GET k",
        "EXEC",
        "OBJECT FREQ k",
        "CONFIG SET lfu-log-factor 255",
        "CONFIG GET lfu-log-factor",
        "OBJECT FREQ nokey",
    ]);
    assert_same(&[], &script);
}

/// Overwriting a key under an LFU policy keeps its counter, bumped by the overwrite's own
/// lookup (Redis's setKey looks the key up for writing, and dbOverwrite copies the old
/// object's LFU data): SET and its options, GETSET, MSET / MSETNX, SETEX / PSETEX, the
/// *STORE destinations (a destination that is also a source is looked up twice), BITOP;
/// RENAME / MOVE move a value with its counter after their source's lookup, COPY reads
/// its source, and SET NX / SETNX / MSETNX / RENAMENX / MOVE / COPY that find the key in
/// the way look it up too. lfu-log-factor 0 makes every access count and lfu-decay-time 0
/// stops the decay; maxmemory is set so that small integers are not Redis's shared
/// objects (whose one counter every key holding them shares). Before: every overwrite
/// restarted the counter at 5, and the lookups of RENAME, MOVE, COPY and the refused
/// writes were no accesses; PFADD / PFMERGE creating their key counted one access.
#[test]
fn overwrites_keep_the_lfu_counter() {
    let freq = |k: &str| format!("OBJECT FREQ {k}");
    let mut script: Vec<String> = [
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "CONFIG SET lfu-decay-time 0",
        "CONFIG SET maxmemory 1gb",
        "SET k v",
    ]
    .map(String::from)
    .to_vec();
    for cmd in [
        "SET k w",
        "SET k x GET",
        "SET k y NX",
        "SET k y NX GET",
        "SET k y XX",
        "SETNX k z",
        "GETSET k z",
        "MSET k 1 j 2",
        "MSET k 1 k 2",
        "MSETNX j 1 k 2",
        "SETEX k 100 v",
        "PSETEX k 100000 v",
        "SET k v KEEPTTL",
        "SET k v PX 100000 GET",
        "SETRANGE k 0 abc",
        "APPEND k zz",
        "GET k",
    ] {
        script.push(cmd.into());
        script.push(freq("k"));
    }
    for cmd in [
        "SET n 50000",
        "INCR n",
        "INCRBY n 100000",
        "INCRBYFLOAT n 1.5",
    ] {
        script.push(cmd.into());
        script.push(freq("n"));
    }
    for (cmd, key) in [
        ("SADD s1 a b", "s1"),
        ("SADD s2 b c", "s2"),
        ("SINTERSTORE s1 s1 s2", "s1"),
        ("SUNIONSTORE s1 s2", "s1"),
        ("SUNIONSTORE s1 s1 s2", "s2"),
        ("ZADD z1 1 a 2 b", "z1"),
        ("ZUNIONSTORE z1 1 z1", "z1"),
        ("ZRANGESTORE z1 z1 0 -1", "z1"),
        ("ZINTERSTORE z1 2 z1 s2", "z1"),
        ("RPUSH l1 3 1 2", "l1"),
        ("SORT l1 STORE l1", "l1"),
        ("SET b1 abc", "b1"),
        ("BITOP NOT b1 b1", "b1"),
        ("GEOADD g1 13.361389 38.115556 Palermo", "g1"),
        (
            "GEOSEARCHSTORE g1 g1 FROMLONLAT 13 38 BYRADIUS 200 km",
            "g1",
        ),
        ("PFADD h1 a", "h1"),
        ("PFADD h1 b", "h1"),
        ("PFMERGE h1 h1", "h1"),
        ("PFMERGE h3 h1", "h3"),
        ("SET r1 a", "r2"),
        ("SET r2 b", "r2"),
        ("RENAMENX r1 r2", "r2"),
        ("RENAME r1 r2", "r2"),
        ("RENAME r2 r2", "r2"),
        ("SET m x", "m"),
        ("MOVE m 1", "m"),
        ("SET m y", "m"),
        ("MOVE m 1", "m"),
        ("COPY m m2", "m"),
        ("COPY m m2", "m2"),
        ("COPY m m2 REPLACE", "m2"),
        ("COPY m m2 DB 1", "m"),
    ] {
        script.push(cmd.into());
        script.push(freq(key));
    }
    script.extend(["SELECT 1", "OBJECT FREQ m", "OBJECT FREQ m2"].map(String::from));
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_same(&[], &lines);
}

/// Redis counts every lookup as an access (LFU counter), a key named twice twice
/// (MGET k k, LMOVE l l, ZINTER 2 z z, LCS k k, BITOP's sources, TOUCH, PFCOUNT, XREAD),
/// and some commands look their key up twice (XREAD / XREADGROUP parse then serve,
/// BZPOPMAX, BLMOVE before LMOVE's own lookups), PERSIST once; our commands' internal
/// repeats (a type check, then the write) count once, also when they alternate between
/// keys (LMOVE l m, SMOVE s t). Before: one access per entry and command at most, but
/// two for alternating keys; none for PERSIST.
#[test]
fn lookups_count_as_accesses_as_in_redis() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("RPUSH l a b c", "LMOVE l l LEFT RIGHT", &["l"]),
        ("RPUSH l a b c", "RPOPLPUSH l l", &["l"]),
        (
            "RPUSH l a b c;RPUSH m x",
            "LMOVE l m LEFT RIGHT",
            &["l", "m"],
        ),
        ("RPUSH l a b c", "BLMOVE l l LEFT LEFT 1", &["l"]),
        ("RPUSH l a b c;RPUSH m x", "BRPOPLPUSH l m 1", &["l", "m"]),
        ("SADD s a b;SADD t c", "SMOVE s t a", &["s", "t"]),
        ("SADD s a b", "SMOVE s s a", &["s"]),
        ("ZADD z 1 a 2 b", "ZINTER 2 z z", &["z"]),
        (
            "ZADD z 1 a 2 b;ZADD y 1 a",
            "ZUNIONSTORE z2 2 z y",
            &["z", "y"],
        ),
        ("ZADD z 1 a 2 b", "ZINTERCARD 2 z z", &["z"]),
        ("ZADD z 1 a 2 b", "ZDIFF 2 z z", &["z"]),
        ("ZADD z 1 a 2 b", "BZPOPMAX z 1", &["z"]),
        ("SET k 12345", "LCS k k", &["k"]),
        ("SET k 12345", "MGET k k", &["k"]),
        ("SET k 12345;SET j 23456", "BITOP AND k k j", &["k", "j"]),
        ("SET k 12345", "TOUCH k k", &["k"]),
        ("SET k 12345", "PERSIST k", &["k"]),
        ("PFADD hl a;PFADD hm b", "PFCOUNT hl hl hm", &["hl", "hm"]),
        ("XADD x 1-0 f v", "XREAD STREAMS x x 0 0", &["x"]),
        (
            "XADD x 1-0 f v;XADD w 1-0 f v",
            "XREAD STREAMS x w 0 0",
            &["x", "w"],
        ),
        (
            "XADD x 1-0 f v;XGROUP CREATE x g 0",
            "XREADGROUP GROUP g c STREAMS x 0",
            &["x"],
        ),
    ];
    let mut script: Vec<String> = [
        "CONFIG SET maxmemory-policy allkeys-lfu",
        "CONFIG SET lfu-log-factor 0",
        "CONFIG SET lfu-decay-time 0",
        "CONFIG SET maxmemory 1gb",
    ]
    .map(String::from)
    .to_vec();
    for (setup, cmd, keys) in cases {
        script.push("FLUSHALL".into());
        script.extend(setup.split(';').map(String::from));
        script.push((*cmd).into());
        script.extend(keys.iter().map(|k| format!("OBJECT FREQ {k}")));
    }
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    assert_same(&[], &lines);
}

/// SCAN looks up each key its pattern matched, as Redis's scanGenericCommand: with TYPE a
/// read lookup (a keyspace hit or miss each; an expired key is deleted and then has type
/// "none", so `TYPE none` lists it), then the expiry check, which deletes a key found
/// expired and counts it in expired_keys (its DEL is propagated: see
/// fuzz_propagation_differential's regression sequences). RANDOMKEY deletes the expired
/// keys it picks until a live one turns up or none is left. Before: SCAN skipped expired
/// keys without deleting them, TYPE counted no lookup; RANDOMKEY gave up after 100 picks.
#[test]
fn scan_and_randomkey_expire_what_they_meet() {
    let stats = "mask:pick:expired_keys,keyspace_hits,keyspace_misses INFO stats";
    let script = [
        "DEBUG SET-ACTIVE-EXPIRE 0",
        "SET a 1 PX 1",
        "SET b 1 PX 1",
        "SET c 1 PX 1",
        "SET d 1",
        "HSET h f v",
        "PEXPIRE h 1",
        "RPUSH l x",
        "sleep 20",
        "CONFIG RESETSTAT",
        "DBSIZE",
        "SCAN 0 MATCH a",
        "DBSIZE",
        stats,
        "SCAN 0 MATCH [bcdl] TYPE string",
        "DBSIZE",
        stats,
        "SCAN 0 TYPE none",
        "SCAN 0 COUNT 100 MATCH d",
        "DBSIZE",
        stats,
        "SET e 1 PX 1",
        "SET f 1 PX 1",
        "PEXPIRE d 1",
        "DEL l",
        "sleep 20",
        "RANDOMKEY",
        "DBSIZE",
        stats,
        "DEBUG SET-ACTIVE-EXPIRE 1",
    ];
    assert_same(&["--enable-debug-command", "yes"], &script);
}

//! Compatibility with a real redis-server 7.0: we read the dump.rdb it saves, it loads the
//! files we write, and DUMP/RESTORE payloads go both ways. Skipped (with a message) only
//! when redis-server is not installed.

mod common;
mod redis_compat_kit;
use common::normalize;
use redis_compat_kit::{have_redis, now_ms, Client, Reply, Server};
use std::collections::BTreeMap;

use rubra_persistence::{
    dump_payload, read_rdb, restore_payload, write_rdb, RdbEntry, RdbError, RdbValue, RdbWriter,
};

/// Makes redis-server validate compact encodings deeply when loading RDB files and RESTORE.
const SANITIZE: [&str; 2] = ["--sanitize-dump-payload", "yes"];

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn score_arg(v: f64) -> Vec<u8> {
    if v.is_infinite() {
        s(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        format!("{v:e}").into_bytes()
    }
}

/// The data set used both ways: every encoding the codec picks, several dbs, TTLs.
fn sample(now: u64) -> Vec<RdbEntry> {
    let mut e = Vec::new();
    let mut add = |db: usize, key: &str, v: RdbValue, ttl: Option<u64>| {
        let mut en = RdbEntry::new(db, key, v);
        en.expire_ms = ttl.map(|t| now + t);
        e.push(en);
    };
    for (k, v) in [
        ("s:plain", s("hello world")),
        ("s:int", s("12345")),
        ("s:neg", s("-7")),
        ("s:i32max", s("2147483647")),
        ("s:i32min", s("-2147483648")),
        ("s:big", s("12345678901")),
        ("s:lead0", s("0042")),
        ("s:empty", s("")),
        ("s:long", "abcdefgh".repeat(300).into_bytes()),
        ("s:bin", (0..=255u8).collect()),
    ] {
        add(0, k, RdbValue::Str(v), None);
    }
    add(0, "s:ttl", RdbValue::Str(s("soon")), Some(100_000));
    add(
        0,
        "l:small",
        RdbValue::List(vec![
            s("a"),
            s("1"),
            s("-2"),
            s("300"),
            s("70000"),
            s("-9000000000"),
            s(&"x".repeat(70)),
            s(&"w".repeat(5000)),
        ]),
        None,
    );
    add(
        0,
        "l:big",
        RdbValue::List(
            (0..3000)
                .map(|i| format!("item-{i}").into_bytes())
                .collect(),
        ),
        None,
    );
    add(
        0,
        "l:huge",
        RdbValue::List(vec![s(&"y".repeat(20_000)), s("z"), s(&"q".repeat(9000))]),
        Some(500_000),
    );
    add(
        0,
        "h:small",
        RdbValue::Hash(
            (0..10)
                .map(|i| {
                    (
                        format!("f{i}").into_bytes(),
                        format!("{}", i * 1000 - 3).into_bytes(),
                    )
                })
                .collect(),
        ),
        None,
    );
    add(
        0,
        "h:big",
        RdbValue::Hash(
            (0..600)
                .map(|i| {
                    (
                        format!("field:{i}").into_bytes(),
                        format!("value {i}").into_bytes(),
                    )
                })
                .collect(),
        ),
        None,
    );
    add(
        0,
        "h:longval",
        RdbValue::Hash(vec![(s("a"), s("1")), (s("b"), s(&"v".repeat(100)))]),
        None,
    );
    add(
        0,
        "set:ints",
        RdbValue::Set(
            [
                0i64,
                1,
                -1,
                127,
                -40000,
                70000,
                5_000_000_000,
                i64::MIN,
                i64::MAX,
            ]
            .iter()
            .map(|i| i.to_string().into_bytes())
            .collect(),
        ),
        None,
    );
    add(
        0,
        "set:bigints",
        RdbValue::Set((0..600).map(|i| (i * 7).to_string().into_bytes()).collect()),
        None,
    );
    add(
        0,
        "set:str",
        RdbValue::Set((0..20).map(|i| format!("m{i}").into_bytes()).collect()),
        None,
    );
    add(
        0,
        "set:mixed",
        RdbValue::Set(vec![s("1"), s("a"), s("01")]),
        None,
    );
    add(
        0,
        "z:small",
        RdbValue::ZSet(vec![
            (s("a"), 1.0),
            (s("b"), 2.5),
            (s("c"), -3.25),
            (s("d"), f64::INFINITY),
            (s("e"), f64::NEG_INFINITY),
            (s("f"), 0.1),
            (s("g"), 1e300),
            (s("h"), 1.0 / 3.0),
            (s("i"), -0.000012345),
        ]),
        None,
    );
    add(
        0,
        "z:big",
        RdbValue::ZSet(
            (0..200)
                .map(|i| (format!("member-{i}").into_bytes(), i as f64 * 1.5 - 7.0))
                .collect(),
        ),
        None,
    );
    add(
        0,
        "z:longmember",
        RdbValue::ZSet(vec![(s(&"m".repeat(100)), 2.0), (s("x"), 1.0)]),
        None,
    );
    add(1, "s:x", RdbValue::Str(s("db1")), None);
    add(
        1,
        "h:ttl",
        RdbValue::Hash(vec![(s("k"), s("v"))]),
        Some(3_600_000),
    );
    add(
        1,
        "l:ttl",
        RdbValue::List(vec![s("1"), s("2")]),
        Some(7_200_000),
    );
    for i in 0..50 {
        add(
            5,
            &format!("k{i}"),
            RdbValue::Str(format!("{i}").into_bytes()),
            None,
        );
    }
    e
}

/// Commands that create `e` on a server (assumes the db is selected).
fn commands_for(e: &RdbEntry) -> Vec<Vec<Vec<u8>>> {
    let k = e.key.clone();
    let mut cmds = vec![vec![s("DEL"), k.clone()]];
    let mut c = |head: &str, rest: Vec<Vec<u8>>| {
        let mut v = vec![s(head), k.clone()];
        v.extend(rest);
        cmds.push(v);
    };
    match &e.value {
        RdbValue::Str(v) => c("SET", vec![v.clone()]),
        RdbValue::List(v) => c("RPUSH", v.clone()),
        RdbValue::Set(v) => c("SADD", v.clone()),
        RdbValue::Hash(v) => c(
            "HSET",
            v.iter().flat_map(|(f, x)| [f.clone(), x.clone()]).collect(),
        ),
        RdbValue::ZSet(v) => c(
            "ZADD",
            v.iter()
                .flat_map(|(m, sc)| [score_arg(*sc), m.clone()])
                .collect(),
        ),
        RdbValue::Stream(st) => {
            for (id, fields) in st.nodes.iter().flatten() {
                let mut args = vec![format!("{}-{}", id.0, id.1).into_bytes()];
                args.extend(fields.iter().flat_map(|(f, v)| [f.clone(), v.clone()]));
                c("XADD", args);
            }
        }
    }
    if let Some(ms) = e.expire_ms {
        c("PEXPIREAT", vec![ms.to_string().into_bytes()]);
    }
    cmds
}

fn fill(server: &Server, entries: &[RdbEntry]) {
    let mut c = server.client();
    let mut dbs: Vec<usize> = entries.iter().map(|e| e.db).collect();
    dbs.dedup();
    for db in dbs {
        c.cmd(&["SELECT", &db.to_string()]);
        let cmds: Vec<_> = entries
            .iter()
            .filter(|e| e.db == db)
            .flat_map(commands_for)
            .collect();
        c.pipeline(&cmds);
    }
}

type Snapshot = BTreeMap<(usize, Vec<u8>), (RdbValue, bool)>;

fn fetch_value(c: &mut Client, key: &[u8]) -> RdbValue {
    let ty = c.cmdb(&[b"TYPE", key]).bytes();
    match ty.as_slice() {
        b"string" => RdbValue::Str(c.cmdb(&[b"GET", key]).bytes()),
        b"list" => RdbValue::List(c.cmdb(&[b"LRANGE", key, b"0", b"-1"]).array()),
        b"set" => RdbValue::Set(c.cmdb(&[b"SMEMBERS", key]).array()),
        b"hash" => {
            let flat = c.cmdb(&[b"HGETALL", key]).array();
            RdbValue::Hash(
                flat.chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
            )
        }
        b"zset" => {
            let flat = c
                .cmdb(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
                .array();
            RdbValue::ZSet(
                flat.chunks(2)
                    .map(|p| {
                        let sc: f64 = std::str::from_utf8(&p[1]).unwrap().parse().unwrap();
                        (p[0].clone(), sc)
                    })
                    .collect(),
            )
        }
        other => panic!("unexpected type {:?}", String::from_utf8_lossy(other)),
    }
}

/// Everything the server holds in dbs 0-15, with a flag for "has a positive TTL".
fn snapshot(server: &Server) -> Snapshot {
    let mut c = server.client();
    let mut out = Snapshot::new();
    for db in 0..16usize {
        c.cmd(&["SELECT", &db.to_string()]);
        let keys = c.cmd(&["KEYS", "*"]).array();
        for k in keys {
            let v = normalize(&fetch_value(&mut c, &k));
            let pttl = c.cmdb(&[b"PTTL", &k]).int();
            assert!(pttl == -1 || pttl > 0, "bad PTTL {pttl}");
            out.insert((db, k), (v, pttl > 0));
        }
    }
    out
}

fn expected_snapshot(entries: &[RdbEntry]) -> Snapshot {
    entries
        .iter()
        .map(|e| {
            (
                (e.db, e.key.clone()),
                (normalize(&e.value), e.expire_ms.is_some()),
            )
        })
        .collect()
}

fn assert_same(got: &Snapshot, want: &Snapshot) {
    for (k, v) in want {
        match got.get(k) {
            Some(g) => assert_eq!(g, v, "key {:?}", (k.0, String::from_utf8_lossy(&k.1))),
            None => panic!("missing key {:?}", (k.0, String::from_utf8_lossy(&k.1))),
        }
    }
    assert_eq!(got.len(), want.len(), "extra keys");
}

#[test]
fn read_what_redis_saves() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "dump.rdb", &[]);
    let entries = sample(now_ms());
    fill(&server, &entries);
    let mut c = server.client();
    let lib = "#!lua name=rdbtestlib\nredis.register_function('rdbtest', function() return 1 end)";
    assert!(!matches!(
        c.cmd(&["FUNCTION", "LOAD", lib]),
        Reply::Error(_)
    ));
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let live = snapshot(&server);
    assert_same(&live, &expected_snapshot(&entries));

    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    let mut read = Vec::new();
    let info = read_rdb(&bytes, |e| read.push(e)).expect("read redis dump");
    assert_eq!(info.version, 10);
    assert!(info.checksum.is_some());
    assert!(info
        .aux
        .iter()
        .any(|(k, v)| k == b"redis-ver" && v.starts_with(b"7.")));
    assert_eq!(info.functions.len(), 1);
    assert!(info.functions[0].starts_with(b"#!lua name=rdbtestlib"));
    let got: Snapshot = read
        .iter()
        .map(|e| {
            (
                (e.db, e.key.clone()),
                (normalize(&e.value), e.expire_ms.is_some()),
            )
        })
        .collect();
    assert_same(&got, &live);
    // Exact expiry times survive.
    for e in &entries {
        let r = read
            .iter()
            .find(|x| x.db == e.db && x.key == e.key)
            .unwrap();
        assert_eq!(r.expire_ms, e.expire_ms);
    }
    // DBSIZE per db (via redis-cli) matches what we read.
    for db in [0usize, 1, 5] {
        let n = read.iter().filter(|e| e.db == db).count();
        assert_eq!(server.cli(db, &["DBSIZE"]), n.to_string());
    }

    // Under LFU / LRU policies Redis writes FREQ / IDLE opcodes.
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    c.cmd(&["SAVE"]);
    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    let mut n = 0;
    read_rdb(&bytes, |e| {
        assert!(e.freq.is_some() && e.idle_secs.is_none());
        n += 1;
    })
    .unwrap();
    assert_eq!(n, entries.len());
    c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    c.cmd(&["SAVE"]);
    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    read_rdb(&bytes, |e| {
        assert!(e.idle_secs.is_some() && e.freq.is_none())
    })
    .unwrap();
}

#[test]
fn redis_loads_what_we_write() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut entries = sample(now_ms());
    for e in entries.iter_mut().filter(|e| e.key == b"s:plain") {
        e.idle_secs = Some(1000);
    }
    let file = std::fs::File::create(dir.path().join("ours.rdb")).unwrap();
    write_rdb(std::io::BufWriter::new(file), &entries).unwrap();
    // Deep sanitisation makes redis-server check every listpack/intset byte for byte.
    let server = Server::start(dir.path(), "ours.rdb", &SANITIZE);
    // Before anything reads the key (reads reset the LRU clock).
    let idle: u64 = server
        .cli(0, &["OBJECT", "IDLETIME", "s:plain"])
        .parse()
        .unwrap();
    assert!(idle >= 1000, "idle {idle}");
    assert_same(&snapshot(&server), &expected_snapshot(&entries));
    // Spot checks through redis-cli, as a user would.
    assert_eq!(server.cli(0, &["TYPE", "z:big"]), "zset");
    assert_eq!(server.cli(0, &["OBJECT", "ENCODING", "set:ints"]), "intset");
    assert_eq!(
        server.cli(0, &["OBJECT", "ENCODING", "h:small"]),
        "listpack"
    );
    assert_eq!(server.cli(0, &["OBJECT", "ENCODING", "h:big"]), "hashtable");
    assert_eq!(
        server.cli(0, &["OBJECT", "ENCODING", "z:small"]),
        "listpack"
    );
    assert_eq!(server.cli(0, &["OBJECT", "ENCODING", "z:big"]), "skiplist");
    assert_eq!(server.cli(0, &["OBJECT", "ENCODING", "l:big"]), "quicklist");
    assert_eq!(server.cli(0, &["LLEN", "l:big"]), "3000");
    assert_eq!(
        server.cli(0, &["ZSCORE", "z:small", "g"]),
        "1.0000000000000001e+300"
    );
    for db in [0usize, 1, 5] {
        let n = entries.iter().filter(|e| e.db == db).count();
        assert_eq!(server.cli(db, &["DBSIZE"]), n.to_string(), "db {db}");
    }
    let pttl: i64 = server.cli(1, &["PTTL", "h:ttl"]).parse().unwrap();
    assert!(pttl > 3_000_000 && pttl <= 3_600_000, "pttl {pttl}");
}

#[test]
fn redis_loads_our_functions_and_aux() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("fn.rdb")).unwrap();
    let mut w = RdbWriter::new(file).unwrap();
    w.standard_aux(1_700_000_000, 123_456).unwrap();
    w.aux(b"custom-field", b"kept").unwrap();
    let lib = "#!lua name=ourlib\nredis.register_function('ours', function() return 42 end)";
    w.function(lib.as_bytes()).unwrap();
    w.select_db(3, 1, 0).unwrap();
    w.entry(&RdbEntry::new(3, "k", RdbValue::Str(s("v"))))
        .unwrap();
    // An empty collection is skipped rather than written.
    w.entry(&RdbEntry::new(3, "empty", RdbValue::List(vec![])))
        .unwrap();
    w.finish().unwrap();
    let server = Server::start(dir.path(), "fn.rdb", &SANITIZE);
    assert_eq!(server.cli(0, &["FCALL", "ours", "0"]), "42");
    assert_eq!(server.cli(3, &["GET", "k"]), "v");
    assert_eq!(server.cli(3, &["DBSIZE"]), "1");
}

#[test]
fn dump_and_restore_both_ways() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "dump.rdb", &SANITIZE);
    let entries: Vec<RdbEntry> = sample(now_ms()).into_iter().filter(|e| e.db == 0).collect();
    fill(&server, &entries);
    let mut c = server.client();
    for e in &entries {
        // Redis DUMP -> our restore_payload.
        let payload = c.cmdb(&[b"DUMP", &e.key]).bytes();
        let v = restore_payload(&payload)
            .unwrap_or_else(|err| panic!("{:?}: {err}", String::from_utf8_lossy(&e.key)));
        assert_eq!(normalize(&v), normalize(&e.value));
        // Our dump_payload -> Redis RESTORE.
        let ours = dump_payload(&e.value);
        let mut copy = b"copy:".to_vec();
        copy.extend_from_slice(&e.key);
        let r = c.cmdb(&[b"RESTORE", &copy, b"0", &ours]);
        assert_eq!(
            r,
            Reply::Simple("OK".into()),
            "{:?}",
            String::from_utf8_lossy(&e.key)
        );
        assert_eq!(normalize(&fetch_value(&mut c, &copy)), normalize(&e.value));
        // And our own payloads read back.
        assert_eq!(
            normalize(&restore_payload(&ours).unwrap()),
            normalize(&e.value)
        );
    }
    // A listpack whose element count lies is refused by both (proves deep sanitisation is on).
    let mut lie = dump_payload(&RdbValue::Hash(vec![(s("f"), s("v"))]));
    assert_eq!(lie[0], 16);
    assert_eq!(lie[1] as usize, lie.len() - 12, "blob length prefix");
    lie[2 + 4] = 4;
    let n = lie.len();
    let crc = rubra_persistence::crc64(&lie[..n - 8]);
    lie[n - 8..].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(restore_payload(&lie), Err(RdbError::Corrupt(_))));
    assert_eq!(
        c.cmdb(&[b"RESTORE", b"lie", b"0", &lie]),
        Reply::Error("ERR Bad data format".into())
    );
    // A corrupted checksum is refused by both, with the same message.
    let mut bad = dump_payload(&RdbValue::Str(s("x")));
    let n = bad.len();
    bad[n - 1] ^= 1;
    match c.cmdb(&[b"RESTORE", b"bad", b"0", &bad]) {
        Reply::Error(msg) => {
            let err = restore_payload(&bad).unwrap_err();
            assert_eq!(err, RdbError::BadDumpPayload);
            assert_eq!(msg, format!("ERR {err}"));
        }
        other => panic!("expected error, got {other:?}"),
    }
}

/// Deterministic pseudo-random elements covering every listpack/intset width and length class.
fn random_values(n: usize) -> Vec<RdbValue> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let elem = |next: &mut dyn FnMut() -> u64| -> Vec<u8> {
        let r = next();
        match r % 6 {
            0 => ((next() as i64) >> (next() % 64)).to_string().into_bytes(),
            1 => ((r >> 8) % 300).to_string().into_bytes(),
            2 => (-(((r >> 8) % 10_000_000) as i64)).to_string().into_bytes(),
            3 => {
                let len = [0, 5, 63, 64, 100, 4095, 4096, 9000][(r >> 8) as usize % 8];
                (0..len)
                    .map(|i| b'a' + ((i * 7 + r as usize) % 26) as u8)
                    .collect()
            }
            4 => format!("{:.3}", (r >> 11) as f64 / 1e3).into_bytes(),
            _ => (0..(r >> 8) % 40).map(|_| next() as u8).collect(),
        }
    };
    (0..n)
        .map(|i| {
            let count = 1 + (next() % [5, 130, 700][i % 3]) as usize;
            let mut items: Vec<Vec<u8>> = (0..count).map(|_| elem(&mut next)).collect();
            match i % 5 {
                0 => RdbValue::List(items),
                1 => {
                    items.sort();
                    items.dedup();
                    RdbValue::Set(items)
                }
                2 => {
                    let ints: std::collections::BTreeSet<i64> = (0..count)
                        .map(|_| (next() as i64) >> (next() % 64))
                        .collect();
                    RdbValue::Set(
                        ints.into_iter()
                            .map(|v| v.to_string().into_bytes())
                            .collect(),
                    )
                }
                3 => {
                    let m: BTreeMap<Vec<u8>, Vec<u8>> =
                        items.into_iter().map(|f| (f, elem(&mut next))).collect();
                    RdbValue::Hash(m.into_iter().collect())
                }
                _ => {
                    let m: BTreeMap<Vec<u8>, f64> = items
                        .into_iter()
                        .map(|f| {
                            let r = next();
                            let sc = if r % 2 == 0 {
                                ((r >> 8) % 1000) as f64 - 500.0
                            } else {
                                (r >> 11) as f64 / 7.0 - 1e14
                            };
                            (f, sc)
                        })
                        .collect();
                    RdbValue::ZSet(m.into_iter().collect())
                }
            }
        })
        .collect()
}

#[test]
fn random_values_survive_redis_with_deep_sanitization() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let values = random_values(60);
    let entries: Vec<RdbEntry> = values
        .iter()
        .enumerate()
        .map(|(i, v)| RdbEntry::new(i % 3, format!("r{i}"), v.clone()))
        .collect();
    let file = std::fs::File::create(dir.path().join("rand.rdb")).unwrap();
    write_rdb(std::io::BufWriter::new(file), &entries).unwrap();
    let server = Server::start(dir.path(), "rand.rdb", &SANITIZE);
    assert_same(&snapshot(&server), &expected_snapshot(&entries));
    // Same values through RESTORE, and back through DUMP.
    let mut c = server.client();
    c.cmd(&["SELECT", "7"]);
    for (i, v) in values.iter().enumerate() {
        let key = format!("p{i}").into_bytes();
        let r = c.cmdb(&[b"RESTORE", &key, b"0", &dump_payload(v)]);
        assert_eq!(r, Reply::Simple("OK".into()), "value {i}");
        let theirs = c.cmdb(&[b"DUMP", &key]).bytes();
        assert_eq!(normalize(&restore_payload(&theirs).unwrap()), normalize(v));
    }
    // Redis re-saves them and we read the result back.
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let bytes = std::fs::read(dir.path().join("rand.rdb")).unwrap();
    let mut n = 0;
    read_rdb(&bytes, |_| n += 1).unwrap();
    assert_eq!(n, 2 * values.len());
}

/// Builds streams on a redis-server covering every part of the type-19 format: several
/// macro nodes, entries with the master's fields and with others, negative sequence deltas,
/// integer and long values, XDEL tombstones, groups with PELs owned by several consumers,
/// a consumer without pending entries, and an empty stream that only has a group.
fn build_streams(c: &mut Client) {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut cmd = |a: &[&str]| cmds.push(a.iter().map(|x| s(x)).collect());
    for i in 1..=230u64 {
        let id = format!("{}-{}", 1000 + i / 3, i % 3 * 7);
        let v = format!("{}", i as i64 * 1_000_003 - 50_000_000);
        match i % 5 {
            0 => cmd(&["XADD", "st", &id, "other", &"L".repeat(70)]),
            1 => cmd(&["XADD", "st", &id, "a", &v, "b", "x", "c", "-1"]),
            _ => cmd(&["XADD", "st", &id, "a", &v, "b", "y"]),
        }
    }
    cmd(&["XDEL", "st", "1010-7", "1011-0", "1076-14"]);
    cmd(&["XGROUP", "CREATE", "st", "g1", "0"]);
    cmd(&["XGROUP", "CREATE", "st", "g2", "$", "ENTRIESREAD", "230"]);
    cmd(&["XGROUP", "CREATE", "st", "7", "1050-0"]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        "st",
        ">",
    ]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "3",
        "STREAMS",
        "st",
        ">",
    ]);
    cmd(&[
        "XREADGROUP",
        "GROUP",
        "7",
        "bob",
        "COUNT",
        "2",
        "STREAMS",
        "st",
        ">",
    ]);
    cmd(&["XGROUP", "CREATECONSUMER", "st", "g1", "carol"]);
    cmd(&["XACK", "st", "g1", "1001-7"]);
    cmd(&[
        "XCLAIM",
        "st",
        "g1",
        "bob",
        "0",
        "1000-7",
        "TIME",
        "1700000000000",
        "RETRYCOUNT",
        "9",
    ]);
    cmd(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
    cmd(&["XADD", "st2", "5-5", "k", "v"]);
    cmd(&[
        "XSETID",
        "st2",
        "9-9",
        "ENTRIESADDED",
        "12",
        "MAXDELETEDID",
        "8-0",
    ]);
    c.pipeline(&cmds);
}

fn xinfo_full(c: &mut Client, key: &str) -> Reply {
    c.cmd(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"])
}

const STREAM_KEYS: [&str; 3] = ["st", "empty", "st2"];

#[test]
fn streams_both_ways_through_rdb() {
    if !have_redis() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "dump.rdb", &[]);
    let mut c = server.client();
    build_streams(&mut c);
    let want: Vec<Reply> = STREAM_KEYS.iter().map(|k| xinfo_full(&mut c, k)).collect();
    assert!(want
        .iter()
        .all(|w| matches!(w, Reply::Array(a) if a.len() == 18)));
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let bytes = std::fs::read(dir.path().join("dump.rdb")).unwrap();
    let mut read = Vec::new();
    read_rdb(&bytes, |e| read.push(e)).expect("read redis dump with streams");
    assert_eq!(read.len(), 3, "the empty stream is a key too");
    let st = read.iter().find(|e| e.key == b"st").unwrap();
    let RdbValue::Stream(st) = &st.value else {
        panic!("not a stream: {:?}", st.value)
    };
    assert_eq!(st.len(), 227);
    assert_eq!(st.nodes.len(), 3, "redis made nodes of 100 entries");
    assert_eq!(st.last_id, (1076, 14));
    assert_eq!(st.max_deleted_id, (1076, 14));
    assert_eq!(st.entries_added, 230);
    assert_eq!(st.groups.len(), 3);
    let g1 = &st.groups[0];
    assert_eq!(g1.name, b"7".to_vec(), "groups come sorted by name");
    // XRANGE on redis equals what we read, entry by entry.
    let range = c.cmd(&["XRANGE", "st", "-", "+"]);
    let Reply::Array(items) = range else { panic!() };
    // The nodes hold the deleted entries too (listed in `deleted`).
    let ours: Vec<_> = st
        .nodes
        .iter()
        .flatten()
        .filter(|e| !st.deleted.contains(&e.0))
        .collect();
    assert_eq!(items.len(), ours.len());
    for (item, (id, fields)) in items.into_iter().zip(ours) {
        let Reply::Array(parts) = item else { panic!() };
        let mut parts = parts.into_iter();
        let rid = parts.next().unwrap().bytes();
        assert_eq!(rid, format!("{}-{}", id.0, id.1).into_bytes());
        let flat = parts.next().unwrap().array();
        let mine: Vec<Vec<u8>> = fields
            .iter()
            .flat_map(|(f, v)| [f.clone(), v.clone()])
            .collect();
        assert_eq!(flat, mine);
    }
    drop(c);
    drop(server);

    // What we read, written by us, loaded by redis (deep sanitisation on): same XINFO FULL.
    let file = std::fs::File::create(dir.path().join("ours.rdb")).unwrap();
    write_rdb(std::io::BufWriter::new(file), &read).unwrap();
    let server = Server::start(dir.path(), "ours.rdb", &SANITIZE);
    let mut c = server.client();
    for (k, w) in STREAM_KEYS.iter().zip(&want) {
        assert_eq!(&xinfo_full(&mut c, k), w, "XINFO STREAM {k} FULL");
    }
    // DUMP/RESTORE both ways: redis's payload reads as the RDB value; ours restores on
    // redis to the same XINFO FULL.
    for (k, w) in STREAM_KEYS.iter().zip(&want) {
        let payload = c.cmd(&["DUMP", k]).bytes();
        let v = restore_payload(&payload).expect("redis stream payload");
        let from_rdb = &read.iter().find(|e| e.key == k.as_bytes()).unwrap().value;
        assert_eq!(&v, from_rdb, "{k}");
        let ours = dump_payload(&v);
        let copy = format!("copy:{k}");
        let r = c.cmdb(&[b"RESTORE", copy.as_bytes(), b"0", &ours]);
        assert_eq!(r, Reply::Simple("OK".into()), "{k}");
        assert_eq!(&xinfo_full(&mut c, &copy), w, "restored {k}");
    }
}

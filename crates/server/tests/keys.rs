//! Generic keyspace commands, expiry (lazy and active) and eviction, with real clients.

mod common;
use common::*;
use redis::Value;
use std::time::Duration;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn ints(v: Value) -> i64 {
    match v {
        Value::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn del_exists_type_touch_unlink() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["SET", "a", "1"]);
    q(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(q(&mut c, &["EXISTS", "a", "a", "nope"]), Value::Int(2));
    assert_eq!(
        q(&mut c, &["TYPE", "a"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        q(&mut c, &["TYPE", "l"]),
        Value::SimpleString("list".into())
    );
    assert_eq!(
        q(&mut c, &["TYPE", "nope"]),
        Value::SimpleString("none".into())
    );
    assert_eq!(q(&mut c, &["TOUCH", "a", "l", "nope"]), Value::Int(2));
    assert_eq!(q(&mut c, &["DEL", "a", "nope"]), Value::Int(1));
    assert_eq!(q(&mut c, &["UNLINK", "l"]), Value::Int(1));
    assert_eq!(s.cli(&["dbsize"]), "0");
    assert_eq!(
        q_err(&mut c, &["DEL"]),
        "ERR wrong number of arguments for 'del' command"
    );
}

#[test]
fn rename_renamenx_copy_move_swapdb() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["SET", "a", "1", "EX", "100"]);
    assert_eq!(q(&mut c, &["RENAME", "a", "b"]), Value::Okay);
    assert!(ints(q(&mut c, &["TTL", "b"])) > 90, "RENAME keeps the TTL");
    assert_eq!(q_err(&mut c, &["RENAME", "a", "b"]), "ERR no such key");
    q(&mut c, &["SET", "c", "3"]);
    assert_eq!(q(&mut c, &["RENAMENX", "b", "c"]), Value::Int(0));
    assert_eq!(q(&mut c, &["RENAMENX", "b", "d"]), Value::Int(1));
    assert_eq!(q(&mut c, &["COPY", "d", "c"]), Value::Int(0));
    assert_eq!(q(&mut c, &["COPY", "d", "c", "REPLACE"]), Value::Int(1));
    assert_eq!(q(&mut c, &["GET", "c"]), bulk("1"));
    assert_eq!(q(&mut c, &["COPY", "d", "x", "DB", "3"]), Value::Int(1));
    assert_eq!(
        q_err(&mut c, &["COPY", "d", "d"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(q(&mut c, &["MOVE", "c", "1"]), Value::Int(1));
    assert_eq!(q(&mut c, &["MOVE", "c", "1"]), Value::Int(0));
    assert_eq!(
        q_err(&mut c, &["MOVE", "d", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        q_err(&mut c, &["MOVE", "d", "99"]),
        "ERR DB index is out of range"
    );
    assert_eq!(q(&mut c, &["SWAPDB", "0", "1"]), Value::Okay);
    assert_eq!(q(&mut c, &["GET", "c"]), bulk("1"));
    assert_eq!(q(&mut c, &["EXISTS", "d"]), Value::Int(0));
    assert_eq!(q(&mut c, &["SELECT", "3"]), Value::Okay);
    assert_eq!(q(&mut c, &["GET", "x"]), bulk("1"));
    assert_eq!(
        q_err(&mut c, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        q_err(&mut c, &["SWAPDB", "0", "x"]),
        "ERR invalid second DB index"
    );
}

#[test]
fn keys_scan_randomkey() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    for i in 0..300 {
        q(&mut c, &["SET", &format!("user:{i}"), "v"]);
    }
    q(&mut c, &["RPUSH", "user:list", "x"]);
    q(&mut c, &["SET", "other", "v"]);
    let keys: Vec<String> = redis::cmd("KEYS").arg("user:1?").query(&mut c).unwrap();
    assert_eq!(keys.len(), 10);
    // SCAN with MATCH and TYPE returns each matching key exactly once across the cursor walk.
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let (next, batch): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("user:*")
            .arg("COUNT")
            .arg(7)
            .arg("TYPE")
            .arg("string")
            .query(&mut c)
            .unwrap();
        for k in batch {
            assert!(seen.insert(k));
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 300);
    let cli_keys = s.cli(&["--scan", "--pattern", "user:2*"]);
    assert_eq!(cli_keys.lines().count(), 111);
    assert_eq!(q_err(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(
        q_err(&mut c, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    match q(&mut c, &["RANDOMKEY"]) {
        Value::BulkString(k) => assert!(k.starts_with(b"user:") || k == b"other"),
        v => panic!("{v:?}"),
    }
    assert_eq!(q(&mut c, &["FLUSHDB"]), Value::Okay);
    assert_eq!(q(&mut c, &["RANDOMKEY"]), Value::Nil);
}

#[test]
fn expire_family_with_conditions() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["SET", "k", "v"]);
    assert_eq!(q(&mut c, &["TTL", "k"]), Value::Int(-1));
    assert_eq!(q(&mut c, &["TTL", "missing"]), Value::Int(-2));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "XX"]), Value::Int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "100", "NX"]), Value::Int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "200", "NX"]), Value::Int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "50", "GT"]), Value::Int(0));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "200", "GT"]), Value::Int(1));
    assert_eq!(q(&mut c, &["EXPIRE", "k", "150", "LT"]), Value::Int(1));
    assert_eq!(q(&mut c, &["TTL", "k"]), Value::Int(150));
    let pttl = ints(q(&mut c, &["PTTL", "k"]));
    assert!((149_000..=150_000).contains(&pttl), "{pttl}");
    let at = ints(q(&mut c, &["EXPIRETIME", "k"]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((at - now - 150).abs() <= 2);
    assert_eq!(
        q(
            &mut c,
            &["PEXPIREAT", "k", &((now + 1000) * 1000).to_string()]
        ),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut c, &["PEXPIRETIME", "k"]),
        Value::Int((now + 1000) * 1000)
    );
    assert_eq!(q(&mut c, &["PERSIST", "k"]), Value::Int(1));
    assert_eq!(q(&mut c, &["PERSIST", "k"]), Value::Int(0));
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "k", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    // A time in the past deletes the key.
    assert_eq!(q(&mut c, &["EXPIRE", "k", "-1"]), Value::Int(1));
    assert_eq!(q(&mut c, &["EXISTS", "k"]), Value::Int(0));
    assert_eq!(s.cli(&["expire", "nokey", "10"]), "0");
}

#[test]
fn expired_keys_disappear_without_being_touched() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    for i in 0..500 {
        q(&mut c, &["SET", &format!("temp:{i}"), "v", "PX", "100"]);
    }
    q(&mut c, &["SET", "keep", "v"]);
    // Active expiry runs on the server's clock and a loaded box's scheduler: poll, then
    // assert (a fixed 600 ms could end before the cycles had removed all 500).
    common::cluster::wait_for(Duration::from_secs(20), || {
        q(&mut c, &["DBSIZE"]) == Value::Int(1)
    });
    // DBSIZE does not touch keys: only active expiry can have removed them.
    assert_eq!(q(&mut c, &["DBSIZE"]), Value::Int(1));
    let info = s.cli(&["info", "stats"]);
    assert!(info.contains("expired_keys:500"), "{info}");
}

#[test]
fn watch_is_invalidated_by_writes_expiry_and_flush() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    let mut other = s.conn();
    // Write by another client.
    q(&mut c, &["WATCH", "w"]);
    q(&mut other, &["SET", "w", "1"]);
    q(&mut c, &["MULTI"]);
    q(&mut c, &["SET", "w", "2"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Nil);
    // Untouched watch: EXEC runs.
    q(&mut c, &["WATCH", "w"]);
    q(&mut c, &["MULTI"]);
    q(&mut c, &["INCR", "w"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Array(vec![Value::Int(2)]));
    // Expiry of a watched key.
    q(&mut c, &["SET", "e", "1", "PX", "50"]);
    q(&mut c, &["WATCH", "e"]);
    std::thread::sleep(Duration::from_millis(200));
    q(&mut c, &["MULTI"]);
    q(&mut c, &["PING"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Nil);
    // FLUSHALL from another client.
    q(&mut c, &["WATCH", "w"]);
    q(&mut other, &["FLUSHALL"]);
    q(&mut c, &["MULTI"]);
    q(&mut c, &["PING"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Nil);
}

#[test]
fn object_encoding_idletime_and_freq() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["SET", "n", "12345"]);
    q(&mut c, &["SET", "s", "hello"]);
    q(&mut c, &["SET", "r", &"x".repeat(100)]);
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "n"]), bulk("int"));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "s"]), bulk("embstr"));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "r"]), bulk("raw"));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "missing"]), Value::Nil);
    // Idle seconds of a key just written: 0, or 1 when a second boundary falls between.
    let idle = q(&mut c, &["OBJECT", "IDLETIME", "n"]);
    assert!(matches!(idle, Value::Int(0 | 1)), "idle {idle:?}");
    assert!(q_err(&mut c, &["OBJECT", "FREQ", "n"])
        .starts_with("ERR An LFU maxmemory policy is not selected"));
    q(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    assert!(ints(q(&mut c, &["OBJECT", "FREQ", "n"])) >= 1);
}

#[test]
fn maxmemory_noeviction_refuses_writes_and_lru_evicts() {
    let s = TestServer::start(&["--maxmemory", "20mb"]);
    let mut c = s.conn();
    let value = "x".repeat(1000);
    let mut oom = None;
    for i in 0..100_000 {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("k{i}")).arg(&value);
        if let Err(e) = cmd.query::<()>(&mut c) {
            oom = Some((
                i,
                format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
            ));
            break;
        }
    }
    let (written, e) = oom.expect("noeviction must refuse writes past maxmemory");
    assert!(
        e.contains("OOM command not allowed when used memory > 'maxmemory'"),
        "{e}"
    );
    // Reads and deletes still work at the limit.
    assert_eq!(q(&mut c, &["GET", "k0"]), bulk(&value));
    assert_eq!(q(&mut c, &["DEL", "k0"]), Value::Int(1));
    // With allkeys-lru, writes succeed and old keys are evicted.
    q(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    for i in 0..(written * 2) {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("n{i}")).arg(&value);
        cmd.query::<()>(&mut c).expect("allkeys-lru must make room");
    }
    let info = s.cli(&["info", "stats"]);
    let evicted: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(evicted > written / 2, "evicted {evicted}");
    let used: u64 = s
        .cli(&["info", "memory"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("used_memory:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    assert!(
        used <= 21 * 1024 * 1024,
        "used_memory {used} must stay near maxmemory"
    );
}

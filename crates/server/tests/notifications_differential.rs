//! Keyspace notifications (differential): a subscriber on `__key*@*__:*` receives, from
//! rubra-server and from redis-server 7.0, the very same messages, byte for byte and in the
//! same order, while one script of writes runs under a given notify-keyspace-events. The
//! replies to the script are compared too.

mod common;
mod reference;
use common::*;
use reference::{RawConn, Reference};
use std::time::Duration;

/// Every command family that publishes, including keys left empty, lazy expiry, renames,
/// moves, blocking-pop forms served at once and the *STORE commands.
const SCRIPT: &[&str] = &[
    // Strings and generic.
    "SET s v",
    "SET s v2 EX 100",
    "SET s v3 KEEPTTL",
    "SET s v NX",
    "SETNX s2 x",
    "SETEX s3 100 x",
    "PSETEX s4 100000 x",
    "GETSET s2 y",
    "MSET m1 a m2 b m1 c",
    "MSETNX m3 a m4 b",
    "MSETNX m3 a m5 b",
    "SETRANGE s 5 xyz",
    "APPEND s tail",
    "APPEND newapp tail",
    "INCR n",
    "DECR n",
    "INCRBY n 10",
    "DECRBY n 3",
    "INCRBYFLOAT f 1.5",
    "GETEX s EX 100",
    "GETEX s PERSIST",
    "GETEX s PERSIST",
    "GETDEL s2",
    "EXPIRE s 100",
    "PEXPIRE s 100000",
    "EXPIREAT s 99999999999",
    "PERSIST s",
    "PERSIST s",
    "EXPIRE s3 0",
    "RENAME s renamed",
    "RENAME renamed m1",
    "RENAMENX m1 m2",
    "RENAMENX m1 fresh",
    "COPY fresh copied",
    "COPY fresh copied REPLACE",
    "MOVE copied 1",
    "DEL m2 nope m3",
    // A DUMP of the string "hello" made by redis-server 7.0.
    "RESTORE rk 0 \"\\x00\\x05\\x68\\x65\\x6c\\x6c\\x6f\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\"",
    "RESTORE rk 0 \"\\x00\\x05\\x68\\x65\\x6c\\x6c\\x6f\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\" REPLACE",
    "RESTORE rk2 0 \"\\x00\\x05\\x68\\x65\\x6c\\x6c\\x6f\\x0a\\x00\\x63\\x72\\xdf\\x76\\x65\\x34\\x20\\x0a\" ABSTTL",
    "SETBIT bits 7 1",
    "SETBIT bits 7 1",
    "BITFIELD bits SET u8 0 255",
    "BITOP OR bitsor bits nope",
    "BITOP AND bitsor nope nope2",
    "PFADD hll a b",
    "PFADD hll a",
    "PFMERGE hll2 hll",
    "RPUSH tosort 3 1 2",
    "SORT tosort STORE sorted",
    "SORT nope STORE sorted",
    "GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOSEARCHSTORE geo2 geo FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEORADIUS geo 15 37 200 km STORE geo3",
    "GEORADIUSBYMEMBER geo Palermo 500 km STOREDIST geo4",
    "GEORADIUS geo 0 0 1 km STORE geo3",
    "UNLINK m4",
    // Lists.
    "LPUSH l a b c",
    "RPUSH l d e",
    "LPUSHX nol a",
    "RPUSHX l f",
    "LINSERT l BEFORE a x",
    "LSET l 0 y",
    "LREM l 1 y",
    "LTRIM l 0 3",
    // Trims nothing: Redis still publishes "ltrim".
    "LTRIM l -100 100",
    "LPOP l",
    "RPOP l 2",
    "RPOPLPUSH l l2",
    "LMOVE l2 l RIGHT LEFT",
    "LMOVE l l LEFT RIGHT",
    "BLPOP nol l 1",
    "BRPOP l 1",
    "LMPOP 2 nol l2 LEFT",
    "RPUSH l3 a",
    "BLMOVE l3 l4 LEFT LEFT 1",
    "LTRIM l4 1 0",
    "RPUSH l5 a b",
    "LREM l5 0 a",
    "LREM l5 0 b",
    // Hashes.
    "HSET h a 1 b 2",
    "HSETNX h c 3",
    "HMSET h d 4",
    "HINCRBY h a 5",
    "HINCRBYFLOAT h b 1.5",
    "HDEL h a b c",
    "HDEL h d",
    // Sets.
    "SADD st a b c",
    "SADD st a",
    "SREM st a",
    "~SPOP st",
    "SADD st2 x y",
    "SMOVE st2 st3 x",
    "SMOVE st2 st3 y",
    "SADD u1 a b c",
    "SADD u2 b c d",
    "SINTERSTORE si u1 u2",
    "SUNIONSTORE su u1 u2",
    "SDIFFSTORE sd u1 u2",
    "SDIFFSTORE sd u1 u1",
    "~SPOP u1 10",
    // Sorted sets.
    "ZADD z 1 a 2 b 3 c 4 d 5 e",
    "ZADD z INCR 1 a",
    "ZINCRBY z 2 b",
    "ZREM z a",
    "ZREMRANGEBYSCORE z 0 3",
    "ZREMRANGEBYRANK z 0 0",
    "ZADD z 0 a 0 b 0 c",
    "ZREMRANGEBYLEX z [a [a",
    "ZPOPMIN z",
    "ZPOPMAX z",
    "BZPOPMIN nope z 1",
    "ZADD za 1 a 2 b",
    "ZADD zb 2 b 3 c",
    "ZUNIONSTORE zu 2 za zb",
    "ZINTERSTORE zi 2 za zb",
    "ZDIFFSTORE zd 2 za zb",
    "ZRANGESTORE zr za 0 -1",
    "ZRANGESTORE zr za 5 10",
    "ZMPOP 1 za MIN COUNT 10",
    // Streams.
    "XADD x 1-0 f v",
    "XADD x MAXLEN 1 2-0 f v",
    "XADD x 3-0 f v",
    "XDEL x 3-0",
    "XTRIM x MAXLEN 0",
    "XSETID x 10-0",
    "XGROUP CREATE x g $",
    "XGROUP CREATE x2 g $ MKSTREAM",
    "XGROUP SETID x g 0",
    "XGROUP CREATECONSUMER x g c1",
    "XGROUP DELCONSUMER x g c1",
    "XGROUP DESTROY x g",
    "XADD x2 5-0 f v",
    "XREADGROUP GROUP g c2 STREAMS x2 >",
    "XREADGROUP GROUP g c2 STREAMS x2 >",
    "XCLAIM x2 g c3 0 5-0 JUSTID",
    "XCLAIM x2 g c3 0 5-0 JUSTID",
    "XAUTOCLAIM x2 g c4 0 0-0 JUSTID",
    "XAUTOCLAIM x2 g c5 0 9-0 JUSTID",
    // Writes that change nothing, or only sometimes.
    "SADD same a",
    "SMOVE same same a",
    "RENAME same same",
    "EXPIRE same 100",
    "EXPIRE same 50 GT",
    "EXPIRE same 200 NX",
    "SET same2 v GET",
    "SET same2 w GET",
    "HSET hsame f v",
    "HSET hsame f v",
    "HSETNX hsame f v",
    "ZADD zsame 1 a",
    "ZADD zsame 1 a",
    "ZADD zsame NX 2 a",
    "ZADD zsame XX CH 3 a",
    "ZADD zsame INCR 0 a",
    "LREM nope 0 a",
    "LTRIM nope 0 1",
    "SREM same nope",
    "HDEL hsame nope",
    "ZREM zsame nope",
    "ZREMRANGEBYSCORE zsame 10 20",
    "LPUSH lsame a",
    "LSET lsame 0 a",
    "LINSERT lsame BEFORE nope x",
    "SETRANGE same2 0 \"\"",
    "APPEND same2 \"\"",
    "INCRBY n 0",
    "PERSIST nope",
    "MOVE same 0",
    "PFADD hll a",
    "XTRIM x2 MAXLEN 100",
    "SINTERSTORE nope2 nope nope",
    "ZUNIONSTORE nope2 1 nope",
    // Inside a transaction and a script: the same events, command by command.
    "MULTI",
    "SET mx 1",
    "LPUSH ml a",
    "LPOP ml",
    "EXEC",
    "EVAL \"redis.call('set', KEYS[1], '1'); redis.call('expire', KEYS[1], 100); return redis.call('del', KEYS[1])\" 1 ev",
    // Lazy expiry of a key read after its TTL, and a write to an expired key.
    "SET t1 v PX 30",
    "sleep 120",
    "GET t1",
    "SET t2 v PX 30",
    "sleep 120",
    "SET t2 again",
    // Active expiry: nobody touches t3. (A fixed 400 ms sleep could end before a loaded
    // box's cron expired it, and FLUSHALL then removed it without the `expired` event.)
    "mark-expired",
    "SET t3 v PX 10",
    "await-expired",
    "FLUSHALL",
];

/// One server: a subscriber (in `proto`) and a writer connection. Script lines `sleep N`,
/// `mark-expired` and `await-expired` (see below) have no reply.
fn run_on(port: u16, flags: &str, proto: u8, script: &[&str]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut sub = RawConn::connect(port);
    if proto == 3 {
        sub.call("HELLO 3");
    }
    sub.call("PSUBSCRIBE __key*@*__:*");
    sub.call("SUBSCRIBE end-of-script");
    let mut w = RawConn::connect(port);
    w.call(&format!("CONFIG SET notify-keyspace-events \"{flags}\""));
    let mut replies = Vec::new();
    let mut mark = 0;
    for line in script {
        if let Some(ms) = line.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().expect("ms")));
            continue;
        }
        // `mark-expired` notes INFO's expired_keys; `await-expired` polls it (INFO never
        // touches keys, so only the active expiry can raise it) until it passes the mark or
        // 20 s, then asserts that.
        let expired = |w: &mut RawConn| -> u64 {
            String::from_utf8_lossy(&w.call("INFO stats"))
                .lines()
                .find_map(|l| l.strip_prefix("expired_keys:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("expired_keys")
        };
        if *line == "mark-expired" {
            mark = expired(&mut w);
            continue;
        }
        if *line == "await-expired" {
            common::cluster::wait_for(Duration::from_secs(20), || expired(&mut w) > mark);
            let now = expired(&mut w);
            assert!(
                now > mark,
                "port {port}: expired_keys {now}, not past {mark}"
            );
            continue;
        }
        // `~`: a random reply (SPOP), run but not compared.
        match line.strip_prefix('~') {
            Some(l) => {
                w.call(l);
                replies.push(Vec::new());
            }
            None => replies.push(w.call(line)),
        }
    }
    w.call("PUBLISH end-of-script done");
    let mut messages = Vec::new();
    loop {
        let m = sub.read_reply();
        if m.windows(13).any(|x| x == b"end-of-script") {
            break;
        }
        messages.push(m);
    }
    (replies, messages)
}

fn printable(m: &[u8]) -> String {
    String::from_utf8_lossy(m).replace("\r\n", " ")
}

/// Runs `script` under `flags` on both servers and asserts identical replies and messages.
fn assert_same(flags: &str, proto: u8, script: &[&str]) -> usize {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let (ra, ma) = run_on(rubra.port, flags, proto, script);
    let (rb, mb) = run_on(redis.port, flags, proto, script);
    let lines: Vec<&&str> = script
        .iter()
        .filter(|l| !l.starts_with("sleep") && !l.ends_with("-expired"))
        .collect();
    for (i, (a, b)) in ra.iter().zip(&rb).enumerate() {
        assert_eq!(
            printable(a),
            printable(b),
            "reply to {:?} differs (rubra left, redis right)",
            lines[i]
        );
    }
    let a: Vec<String> = ma.iter().map(|m| printable(m)).collect();
    let b: Vec<String> = mb.iter().map(|m| printable(m)).collect();
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        let from = i.saturating_sub(3);
        panic!(
            "message {i} differs under {flags:?}:\nrubra: {:#?}\nredis: {:#?}",
            &a[from..(i + 6).min(a.len())],
            &b[from..(i + 6).min(b.len())]
        );
    }
    assert_eq!(a.len(), b.len(), "message counts differ under {flags:?}");
    a.len()
}

#[test]
fn all_events_match_redis() {
    let n = assert_same("KEA", 2, SCRIPT);
    assert!(n > 100, "only {n} messages");
}

#[test]
fn all_events_with_new_match_redis_resp3() {
    let n = assert_same("KEAn", 3, SCRIPT);
    assert!(n > 100, "only {n} messages");
}

#[test]
fn narrower_classes_match_redis() {
    for flags in ["Kg", "Elx", "Kn", "E$hz", "Kst"] {
        assert_same(flags, 2, SCRIPT);
    }
}

#[test]
fn nothing_is_published_by_default() {
    assert_eq!(assert_same("", 2, SCRIPT), 0);
    // A class without K or E publishes nothing either.
    assert_eq!(assert_same("A", 2, SCRIPT), 0);
}

/// Blocking pops served later, by another client's push: the pop's events follow the
/// push's, on both servers.
#[test]
fn served_blocking_pops_match_redis() {
    let mut streams = Vec::new();
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    for port in [rubra.port, redis.port] {
        let mut sub = RawConn::connect(port);
        sub.call("PSUBSCRIBE __key*@*__:*");
        sub.call("SUBSCRIBE end-of-script");
        let mut w = RawConn::connect(port);
        w.call("CONFIG SET notify-keyspace-events KEA");
        let mut b1 = RawConn::connect(port);
        b1.send("BLPOP bl 5");
        let mut b2 = RawConn::connect(port);
        b2.send("BLMOVE bm dst RIGHT LEFT 5");
        let mut b3 = RawConn::connect(port);
        b3.send("BZPOPMAX bz 5");
        // All three must be blocked before the pushes (else a pop is served at once and
        // its events come in another order): poll INFO, as a fixed sleep can end first.
        common::cluster::wait_for(Duration::from_secs(20), || {
            String::from_utf8_lossy(&w.call("INFO clients")).contains("blocked_clients:3")
        });
        let info = String::from_utf8_lossy(&w.call("INFO clients")).into_owned();
        assert!(info.contains("blocked_clients:3"), "port {port}: {info}");
        w.call("RPUSH bl a");
        b1.read_reply();
        w.call("LPUSH bm a b");
        b2.read_reply();
        w.call("ZADD bz 1 a");
        b3.read_reply();
        w.call("PUBLISH end-of-script done");
        let mut got = Vec::new();
        loop {
            let m = sub.read_reply();
            if m.windows(13).any(|x| x == b"end-of-script") {
                break;
            }
            got.push(printable(&m));
        }
        streams.push(got);
    }
    assert!(!streams[1].is_empty());
    assert_eq!(streams[0], streams[1]);
}

/// Eviction publishes `evicted` (rubra only: which keys go differs between servers).
#[test]
fn eviction_publishes_evicted() {
    let rubra = TestServer::start(&[]);
    let mut sub = RawConn::connect(rubra.port);
    sub.call("SUBSCRIBE __keyevent@0__:evicted end-of-script");
    sub.read_reply(); // the second confirmation
    let mut w = RawConn::connect(rubra.port);
    w.call("CONFIG SET notify-keyspace-events Ee");
    let big = "x".repeat(100_000);
    for i in 0..20 {
        w.call(&format!("SET big{i} {big}"));
    }
    w.call("CONFIG SET maxmemory-policy allkeys-random");
    w.call("CONFIG SET maxmemory 1");
    w.call("SET trigger v");
    w.call("CONFIG SET maxmemory 0");
    w.call("PUBLISH end-of-script done");
    let mut evicted = Vec::new();
    loop {
        let m = sub.read_reply();
        if m.windows(13).any(|x| x == b"end-of-script") {
            break;
        }
        evicted.push(printable(&m));
    }
    assert!(
        evicted.iter().filter(|m| m.contains("big")).count() >= 20,
        "{evicted:?}"
    );
}

/// Lowering maxmemory below the usage evicts at once, with no further command (Redis's
/// eviction time event started by CONFIG SET maxmemory): the subscriber receives the
/// `evicted` message on both servers. Rubra used to wait for the next command.
#[test]
fn config_set_maxmemory_evicts_without_another_command() {
    let reference = Reference::start();
    let rubra = TestServer::start(&[]);
    let mut got = Vec::new();
    for port in [rubra.port, reference.port] {
        let mut w = RawConn::connect(port);
        w.call("CONFIG SET notify-keyspace-events Ee");
        w.call("CONFIG SET maxmemory-policy allkeys-lru");
        w.call("SET foo bar");
        let mut sub = RawConn::connect(port);
        sub.call("PSUBSCRIBE *");
        w.call("CONFIG SET maxmemory 1");
        let message = match sub.next_within(Duration::from_secs(3)) {
            reference::Incoming::Frame(m) => printable(&m),
            other => format!("{other:?}"),
        };
        w.call("CONFIG SET maxmemory 0");
        got.push(message);
    }
    assert!(got[1].contains("evicted"), "redis-server: {}", got[1]);
    assert_eq!(got[0], got[1]);
}

/// Reads of missing keys in every family, plus reads that must not publish `keymiss`
/// (write lookups, OBJECT, blocking pops served at once) and lazily expired keys.
const MISS_SCRIPT: &[&str] = &[
    "GET nokey",
    "MGET a nokey b",
    "SET present v",
    "GET present",
    "STRLEN nokey",
    "GETRANGE nokey 0 1",
    "EXISTS nokey present nokey2",
    "TYPE nokey",
    "TTL nokey",
    "PTTL nokey",
    "EXPIRETIME nokey",
    "DUMP nokey",
    "OBJECT ENCODING nokey",
    "HGET nohash f",
    "HGETALL nohash",
    "HMGET nohash a b",
    "HLEN nohash",
    "LRANGE nolist 0 -1",
    "LLEN nolist",
    "LINDEX nolist 0",
    "SMEMBERS noset",
    "SISMEMBER noset a",
    "SCARD noset",
    "SINTER noset present",
    "SUNIONSTORE dest noset noset2",
    "ZRANGE nozset 0 -1",
    "ZSCORE nozset a",
    "ZCARD nozset",
    "XRANGE nostream - +",
    "XLEN nostream",
    "PFCOUNT nohll",
    "GETDEL nokey",
    "GETEX nokey",
    "INCR counter",
    "LPUSH l a",
    "LPOP nolist",
    "BLPOP l 1",
    "SET t1 v PX 30",
    "sleep 120",
    "GET t1",
    "BITCOUNT nokey",
    "GEOPOS nogeo a",
    "SORT nolist",
];

/// `keymiss` (class `m`, not part of `A`): the same events, in the same order, as Redis.
#[test]
fn key_misses_match_redis() {
    for flags in ["Km", "Em", "KEAm"] {
        let n = assert_same(flags, 2, MISS_SCRIPT);
        assert!(n >= 20, "only {n} messages under {flags}");
    }
    assert_same("Em", 3, SCRIPT);
}

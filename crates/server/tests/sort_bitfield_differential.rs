//! BITFIELD/BITFIELD_RO and SORT/SORT_RO (differential): scripts against redis-server 7.0
//! with byte-identical replies in RESP2 and RESP3, random BITFIELD programs compared reply
//! by reply with the resulting strings, and SORT's cluster-mode restrictions on a
//! single-node cluster of each.

mod common;
mod reference;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reference::{assert_same_as_redis, RawConn, Reference};
use std::time::{Duration, Instant};

const BITFIELD: &[&str] = &[
    "BITFIELD b SET u8 0 255 GET u8 0 GET i8 0 GET u4 4 GET i4 4",
    "GET b",
    "BITFIELD b INCRBY u8 0 10 INCRBY i8 0 -300 GET u8 0",
    "BITFIELD b SET i64 1 -1 GET i64 1 GET u63 1 GET i64 0",
    "BITFIELD b SET u63 100 9223372036854775807 GET u63 100",
    "BITFIELD b OVERFLOW SAT INCRBY u8 200 300 INCRBY u8 200 -1000 INCRBY i8 200 200 INCRBY i8 200 -1000",
    "BITFIELD b OVERFLOW FAIL INCRBY u8 200 300 INCRBY i8 200 1 OVERFLOW WRAP INCRBY u8 200 300",
    "BITFIELD b OVERFLOW FAIL SET u2 0 5 SET i2 0 -3 SET i2 0 1",
    "BITFIELD b OVERFLOW SAT SET u2 0 5 SET i2 0 -3 SET i64 0 9223372036854775807 INCRBY i64 0 1",
    "BITFIELD b OVERFLOW WRAP INCRBY i64 0 1 INCRBY i64 0 -1 INCRBY u63 0 -1",
    "BITFIELD b GET u8 #0 GET u8 #1 SET u8 #3 7 GET u8 24",
    "BITFIELD b SET i5 #100 -1 GET i5 500",
    "GET b",
    "BITFIELD b",
    "BITFIELD missing GET u8 0 GET i16 100",
    "EXISTS missing",
    "BITFIELD_RO b GET u8 0 GET i3 5",
    "BITFIELD_RO missing GET u8 0",
    "BITFIELD_RO b SET u8 0 1",
    "BITFIELD_RO b INCRBY u8 0 1",
    "BITFIELD_RO b",
    "BITFIELD new OVERFLOW FAIL INCRBY u8 0 1000",
    "EXISTS new",
    "STRLEN new",
    "BITFIELD b GET u64 0",
    "BITFIELD b GET i65 0",
    "BITFIELD b GET u0 0",
    "BITFIELD b GET x8 0",
    "BITFIELD b GET 8 0",
    "BITFIELD b GET u 0",
    "BITFIELD b GET u8 -1",
    "BITFIELD b GET u8 #-1",
    "BITFIELD b GET u8 #",
    "BITFIELD b GET u8 abc",
    "BITFIELD b GET u8 4294967296",
    "BITFIELD b GET u8 99999999999999",
    "BITFIELD b SET u8 0 abc",
    "BITFIELD b SET u8 0",
    "BITFIELD b GET u8",
    "BITFIELD b OVERFLOW",
    "BITFIELD b OVERFLOW MAYBE GET u8 0",
    "BITFIELD b FOO u8 0",
    "BITFIELD b GET u8 0 SET",
    "BITFIELD b SET u8 0 1 GET u64 0",
    "RPUSH l a",
    "BITFIELD l GET u8 0",
    "BITFIELD l SET u8 0 1",
    "BITFIELD_RO l GET u8 0",
    "BITFIELD l SET u8 0 x",
    "SET n 12345",
    "BITFIELD n GET u8 0 SET u8 0 65",
    "GET n",
    "BITFIELD",
    "BITFIELD_RO",
];

#[test]
fn bitfield_script_matches_redis() {
    assert_same_as_redis(BITFIELD);
    let mut resp3 = vec!["!HELLO 3"];
    resp3.extend_from_slice(BITFIELD);
    assert_same_as_redis(&resp3);
}

/// Random BITFIELD programs (every type width, offsets near and past the end, all three
/// overflow modes): every reply and the resulting strings match Redis.
#[test]
fn bitfield_random_programs_match_redis() {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let (mut a, mut b) = (RawConn::connect(rubra.port), RawConn::connect(redis.port));
    let mut rng = StdRng::seed_from_u64(0xb17f);
    for round in 0..1500 {
        let key = format!("k{}", rng.gen_range(0..8));
        let mut line = format!("BITFIELD {key}");
        for _ in 0..rng.gen_range(1..6) {
            let signed = rng.gen_bool(0.5);
            let bits = if signed {
                rng.gen_range(1..=64)
            } else {
                rng.gen_range(1..=63)
            };
            let ty = format!("{}{bits}", if signed { 'i' } else { 'u' });
            let offset = if rng.gen_bool(0.2) {
                format!("#{}", rng.gen_range(0..20))
            } else {
                rng.gen_range(0..200).to_string()
            };
            let value: i64 = match rng.gen_range(0..4) {
                0 => rng.gen(),
                1 => rng.gen_range(-300..300),
                2 => i64::MAX - rng.gen_range(0..3),
                _ => i64::MIN + rng.gen_range(0..3),
            };
            match rng.gen_range(0..5) {
                0 => line.push_str(&format!(" GET {ty} {offset}")),
                1 => line.push_str(&format!(" SET {ty} {offset} {value}")),
                2 => line.push_str(&format!(" INCRBY {ty} {offset} {value}")),
                3 => line.push_str(&format!(
                    " OVERFLOW {}",
                    ["WRAP", "SAT", "FAIL"][rng.gen_range(0..3)]
                )),
                _ => line.push_str(&format!(" GET {ty} {offset}")),
            }
        }
        let (ra, rb) = (a.call(&line), b.call(&line));
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "round {round}: {line}"
        );
    }
    for k in 0..8 {
        let line = format!("GET k{k}");
        assert_eq!(a.call(&line), b.call(&line), "{line}");
    }
}

const SORT: &[&str] = &[
    "RPUSH l 3 1 2 10 -5 2.5 1e2",
    "SORT l",
    "SORT l DESC",
    "SORT l ALPHA",
    "SORT l ALPHA DESC",
    "SORT l LIMIT 1 3",
    "SORT l LIMIT 1 3 DESC",
    "SORT l LIMIT -5 2",
    "SORT l LIMIT 5 100",
    "SORT l LIMIT 100 1",
    "SORT l LIMIT 0 0",
    "SORT l LIMIT 0 -1",
    "SORT l LIMIT 0",
    "SORT l LIMIT a 1",
    "SORT l FOO",
    "SORT l BY nosort",
    "SORT l BY nosort DESC",
    "SORT l BY nosort LIMIT 2 3",
    "SORT l BY nosort DESC LIMIT 2 3",
    "MSET w_3 30 w_1 10 w_2 20 w_10 5 w_-5 50 w_2.5 25",
    "HSET h_3 f c",
    "HSET h_1 f a",
    "HSET h_2 f b",
    "SORT l BY w_*",
    "SORT l BY w_* DESC",
    "SORT l BY w_* LIMIT 1 2",
    "SORT l BY w_* DESC LIMIT 2 2",
    "SORT l BY w_* ALPHA",
    "SORT l BY h_*->f ALPHA",
    "SORT l BY h_*->f ALPHA DESC",
    "SORT l BY h_*->f",
    "SORT l BY h_*-> ALPHA",
    "SORT l GET #",
    "SORT l GET w_* GET # GET h_*->f",
    "SORT l BY nosort GET w_*",
    "SORT l GET nostar",
    "SORT l GET w_* LIMIT 0 2",
    "SORT l STORE dst",
    "LRANGE dst 0 -1",
    "SORT l GET w_* GET h_*->f STORE dst",
    "LRANGE dst 0 -1",
    "SORT l LIMIT 100 1 STORE dst",
    "EXISTS dst",
    "SORT nope",
    "SORT nope STORE dst2",
    "EXISTS dst2",
    "SET dst3 x",
    "SORT nope STORE dst3",
    "EXISTS dst3",
    "SORT_RO l DESC LIMIT 0 3",
    "SORT_RO l STORE dst",
    "SORT_RO l BY w_* GET #",
    "RPUSH bad 1 x 2",
    "SORT bad",
    "SORT bad ALPHA",
    "SORT bad STORE dst",
    "SORT bad BY nosort",
    "MSET wb_1 1 wb_x junk wb_2 2",
    "SORT bad BY wb_*",
    "MSET wn_1 nan",
    "RPUSH ln 1",
    "SORT ln BY wn_*",
    "MSET wf_1 0x10 wf_2 ' 7' wf_3 ''",
    "RPUSH lf 1 2 3",
    "SORT lf BY wf_*",
    "SADD s 5 3 9 1",
    "SORT s",
    "SORT s DESC LIMIT 1 2",
    "SORT s ALPHA",
    "SORT s BY nosort STORE sdst",
    "LRANGE sdst 0 -1",
    "SADD words banana apple cherry",
    "SORT words ALPHA",
    "SORT words",
    "SORT words BY nosort STORE wdst",
    "LRANGE wdst 0 -1",
    "ZADD z 3 c 1 a 2 b 10 j",
    "SORT z ALPHA",
    "SORT z BY nosort",
    "SORT z BY nosort DESC",
    "SORT z BY nosort LIMIT 1 2",
    "SORT z BY nosort DESC LIMIT 1 2",
    "ZADD zn 3 30 1 10 2 20",
    "SORT zn",
    "SORT zn DESC",
    "SET str x",
    "SORT str",
    "HSET hh a b",
    "SORT hh",
    "SORT str LIMIT x y",
    "SORT",
    "SORT_RO",
    // Last: an out-of-range weight leaves errno at ERANGE inside redis-server, which fails
    // every later numeric SORT there (Redis never clears errno before strtod).
    "SET wf_4 1e999",
    "RPUSH lf 4",
    "SORT lf BY wf_*",
];

#[test]
fn sort_script_matches_redis() {
    assert_same_as_redis(SORT);
    let mut resp3 = vec!["!HELLO 3"];
    resp3.extend_from_slice(SORT);
    assert_same_as_redis(&resp3);
}

/// Waits until a single-node cluster reports cluster_state:ok.
fn wait_cluster_ok(conn: &mut RawConn) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info = conn.call("CLUSTER INFO");
        if String::from_utf8_lossy(&info).contains("cluster_state:ok") {
            return;
        }
        assert!(Instant::now() < deadline, "cluster never became ok");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// In cluster mode SORT refuses BY patterns (a constant BY is still "don't sort") and GET,
/// with Redis's errors, and sorts normally otherwise; COPY ... DB checks its argument before
/// refusing another database.
#[test]
fn sort_and_copy_cluster_mode_rules_match_redis() {
    let rubra = TestServer::start_cluster(&[]);
    let redis = Reference::start_with(&["--cluster-enabled", "yes"]);
    let (mut a, mut b) = (RawConn::connect(rubra.port), RawConn::connect(redis.port));
    for c in [&mut a, &mut b] {
        c.call("CLUSTER ADDSLOTSRANGE 0 16383");
        wait_cluster_ok(c);
    }
    for line in [
        "RPUSH {t}l 3 1 2",
        "SORT {t}l",
        "SORT {t}l BY {t}w_*",
        "SORT {t}l BY nosort",
        "SORT {t}l BY nosort DESC",
        "SORT {t}l GET #",
        "SORT {t}l GET {t}w_*",
        "SORT {t}l DESC STORE {t}dst",
        "LRANGE {t}dst 0 -1",
        "SORT_RO {t}l BY {t}w_*",
        "SORT {t}l STORE other",
        // COPY's DB option: integer and range errors first, the cluster error after.
        "COPY {t}l {t}c DB x",
        "COPY {t}l {t}c DB 99999999999",
        "COPY {t}l {t}c DB -1",
        "COPY {t}l {t}c DB 16",
        "COPY {t}l {t}c DB 5",
        "COPY {t}l {t}c DB 0",
        "COPY {t}l {t}c DB 0 FOO",
    ] {
        let (ra, rb) = (a.call(line), b.call(line));
        assert_eq!(
            String::from_utf8_lossy(&ra),
            String::from_utf8_lossy(&rb),
            "{line}"
        );
    }
}

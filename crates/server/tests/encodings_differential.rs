//! Compact encodings, replayed on rubra-server and Debian's redis-server 7.0 (byte-identical
//! replies, RESP2 and RESP3): OBJECT ENCODING at and past every threshold, thresholds
//! changed with CONFIG SET, one-way conversion, and the replies whose order or shape the
//! encoding decides (listpack order after updates and deletions, intset order, whole-value
//! HSCAN/SSCAN/ZSCAN on compact values, DUMP payloads short enough to skip LZF: our LZF
//! finds other matches than liblzf, a known difference).

mod common;
mod reference;
use reference::assert_same_as_redis;

const ENCODINGS: &[&str] = &[
    // Hashes: listpack order survives updates and deletions.
    "HSET h a 1 b 2 c 3",
    "HSET h b 22",
    "HDEL h a",
    "HSET h a 111",
    "HGETALL h",
    "HKEYS h",
    "HVALS h",
    "HSCAN h 0 COUNT 1",
    "HSCAN h 0 MATCH a*",
    "OBJECT ENCODING h",
    "DUMP h",
    "HSET h long 01234567890123456789012345678901234567890123456789012345678901234",
    "OBJECT ENCODING h",
    "HDEL h long",
    "OBJECT ENCODING h",
    "HLEN h",
    // Integer sets: numeric order, whole-set SSCAN, conversions.
    "SADD s 10 -3 7 1000000 -9223372036854775808 9223372036854775807",
    "SMEMBERS s",
    "SSCAN s 0 COUNT 1",
    "SRANDMEMBER s 100",
    "OBJECT ENCODING s",
    "SADD s5 1 2 3",
    "DUMP s5",
    "SREM s 7",
    "SISMEMBER s 7",
    "SISMEMBER s 010",
    "SMEMBERS s",
    "SADD s 07",
    "OBJECT ENCODING s",
    "SREM s 07",
    "OBJECT ENCODING s",
    "SINTERSTORE d s s",
    "OBJECT ENCODING d",
    "SMEMBERS d",
    // Sorted sets.
    "ZADD z 1.5 a 0 b -2 c 3 d 1e300 e inf f 0.1 g",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZREVRANGE z 0 -1 WITHSCORES",
    "ZRANGEBYSCORE z (0 3 WITHSCORES",
    "ZRANK z d",
    "ZSCAN z 0",
    "OBJECT ENCODING z",
    "ZADD z5 0.1 a",
    "DUMP z5",
    "ZADD z6 1e300 a 4611686018427387904 b 4611686018427387905 c",
    "ZSCAN z6 0",
    "ZADD z 2 a",
    "ZINCRBY z 10 b",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZPOPMIN z 2",
    "ZPOPMAX z",
    "ZADD z 1 0123456789012345678901234567890123456789012345678901234567890123456789",
    "OBJECT ENCODING z",
    "ZREM z 0123456789012345678901234567890123456789012345678901234567890123456789",
    "OBJECT ENCODING z",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZUNIONSTORE zu 1 z",
    "OBJECT ENCODING zu",
    "ZRANGESTORE zr z 0 1",
    "OBJECT ENCODING zr",
    // Lists: Redis 7.0 calls them all quicklist.
    "RPUSH l a b c d e",
    "LPUSH l z",
    "LINSERT l BEFORE c x",
    "LSET l -1 last",
    "LREM l 1 b",
    "LRANGE l 0 -1",
    "LRANGE l -3 -2",
    "LINDEX l 3",
    "LPOS l last",
    "LTRIM l 1 -2",
    "LRANGE l 0 -1",
    "RPOP l 2",
    "OBJECT ENCODING l",
    "DUMP l",
    // Strings: edits in place make them raw whatever their content.
    "SET n 123",
    "OBJECT ENCODING n",
    "SETRANGE n 0 4",
    "OBJECT ENCODING n",
    "INCR n",
    "OBJECT ENCODING n",
    "APPEND n 5",
    "OBJECT ENCODING n",
    "APPEND fresh 77",
    "OBJECT ENCODING fresh",
    "SETRANGE fresh2 0 1",
    "OBJECT ENCODING fresh2",
    "SET b 1",
    "SETBIT b 1 1",
    "OBJECT ENCODING b",
    "SET f 1.5",
    "INCRBYFLOAT f 1",
    "OBJECT ENCODING f",
    "SET bf 7",
    "BITFIELD bf SET u8 0 65",
    "OBJECT ENCODING bf",
    "GET bf",
    "SET n abc",
    "OBJECT ENCODING n",
    // Thresholds from CONFIG SET.
    "CONFIG SET hash-max-listpack-entries 2",
    "HSET h2 a 1 b 2",
    "OBJECT ENCODING h2",
    "HSET h2 c 3",
    "OBJECT ENCODING h2",
    "CONFIG SET hash-max-listpack-value 3",
    "HSET h3 a 123",
    "OBJECT ENCODING h3",
    "HINCRBY h3 a 1000",
    "OBJECT ENCODING h3",
    "HSET h4 a 1",
    "HINCRBYFLOAT h4 a 0.5",
    "OBJECT ENCODING h4",
    "CONFIG SET set-max-intset-entries 2",
    "SADD s2 1 2",
    "OBJECT ENCODING s2",
    "SADD s2 3",
    "OBJECT ENCODING s2",
    "CONFIG SET zset-max-listpack-entries 0",
    "ZADD z2 1 a",
    "OBJECT ENCODING z2",
    "CONFIG SET zset-max-listpack-entries 128",
    "CONFIG SET zset-max-listpack-value 2",
    "ZADD z3 1 ab",
    "OBJECT ENCODING z3",
    "ZADD z3 2 abc",
    "OBJECT ENCODING z3",
    "CONFIG SET list-max-listpack-size 2",
    "RPUSH l2 a b c d",
    "OBJECT ENCODING l2",
    "LRANGE l2 0 -1",
];

#[test]
fn compact_encodings_match_redis() {
    assert_same_as_redis(ENCODINGS);
}

#[test]
fn compact_encodings_match_redis_resp3() {
    let mut v = vec!["!HELLO 3"];
    v.extend_from_slice(ENCODINGS);
    assert_same_as_redis(&v);
}

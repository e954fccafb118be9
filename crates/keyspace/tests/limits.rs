//! Non-default compact-encoding thresholds (one test: `Limits` is process-wide, so this
//! file runs alone in its own process). Each case follows a Redis 7.0 rule checked side by
//! side with redis-server: the encoding holds up to the threshold and converts one step
//! past it, and never converts back.

use bytes::Bytes;
use rubra_keyspace::{HashValue, Limits, ListValue, SetValue, Value, ZSet};

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

#[test]
fn thresholds_from_limits() {
    Limits {
        hash_max_entries: 3,
        hash_max_value: 5,
        set_max_intset_entries: 2,
        zset_max_entries: 0,
        zset_max_value: 4,
        list_max_size: 2,
        ..Limits::default()
    }
    .install();

    // hash-max-listpack-entries 3: the 4th field converts.
    let mut h = HashValue::new();
    for f in ["a", "b", "c"] {
        h.insert(b(f), b("v"));
    }
    assert_eq!(Value::Hash(h.clone()).encoding_name(), "listpack");
    h.insert(b("d"), b("v"));
    assert_eq!(Value::Hash(h.clone()).encoding_name(), "hashtable");
    // One-way: deleting back under the limit keeps the table.
    h.remove(b"d");
    h.remove(b"c");
    assert!(!h.is_compact());
    // hash-max-listpack-value 5: a 6-byte value converts, even as an update.
    let mut h = HashValue::new();
    h.insert(b("f"), b("12345"));
    assert!(h.is_compact());
    h.insert(b("f"), b("123456"));
    assert!(!h.is_compact());
    assert_eq!(h.get(b"f"), Some(&b"123456"[..]));

    // set-max-intset-entries 2.
    let mut s = SetValue::new();
    s.insert(b("1"));
    s.insert(b("2"));
    assert_eq!(Value::Set(s.clone()).encoding_name(), "intset");
    s.insert(b("3"));
    assert_eq!(Value::Set(s.clone()).encoding_name(), "hashtable");
    assert!(s.contains(b"3") && s.contains(b"1"));

    // zset-max-listpack-entries 0: the first member already makes a skiplist.
    let mut z = ZSet::new();
    z.insert(b("m"), 1.0);
    assert_eq!(Value::ZSet(z.clone()).encoding_name(), "skiplist");
    assert_eq!(z.score(b"m"), Some(1.0));

    // list-max-listpack-size 2 (a count): the third element leaves the pack. Redis 7.0
    // names every list quicklist.
    let mut l = ListValue::new();
    l.push_back(b("x"));
    l.push_back(b("y"));
    assert!(l.is_compact());
    l.push_front(b("w"));
    assert!(!l.is_compact());
    assert_eq!(Value::List(l.clone()).encoding_name(), "quicklist");
    let all: Vec<&[u8]> = l.iter().collect();
    assert_eq!(all, vec![&b"w"[..], b"x", b"y"]);

    // list-max-listpack-size -1: 4 KiB of entries.
    Limits {
        list_max_size: -1,
        ..Limits::default()
    }
    .install();
    let mut l = ListValue::new();
    let chunk = "z".repeat(1000);
    for _ in 0..4 {
        l.push_back(b(&chunk));
    }
    assert!(l.is_compact());
    l.push_back(b(&chunk));
    assert!(!l.is_compact());
    assert_eq!(l.len(), 5);
    Limits::default().install();
}

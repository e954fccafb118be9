//! Streams with real processes: XREAD/XREADGROUP blocking woken by XADD from another client,
//! timeouts, `$` meaning "after the last ID at block time", SAVE and restart, AOF rewrite,
//! and replicas ending with the same entries and consumer-group state as the primary.

mod common;
use common::blocking::{blocked, wait_blocked};
use common::*;
use redis::Value;
use std::time::{Duration, Instant};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// `[id, [f, v]]`
fn entry(id: &str, f: &str, v: &str) -> Value {
    Value::Array(vec![bulk(id), Value::Array(vec![bulk(f), bulk(v)])])
}

/// XREAD's RESP2 reply for one key.
fn one_key(key: &str, entries: Vec<Value>) -> Value {
    Value::Array(vec![Value::Array(vec![bulk(key), Value::Array(entries)])])
}

#[test]
fn xread_block_is_woken_by_xadd_with_dollar_meaning_block_time() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["XADD", "s", "1-0", "old", "x"]);
    let waiter = blocked(&s, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&s, 1);
    // Unrelated writes don't wake it with old data.
    q(&mut c, &["XADD", "other", "1-0", "a", "b"]);
    q(&mut c, &["XADD", "s", "2-0", "new", "y"]);
    let (v, _) = waiter.join().unwrap();
    assert_eq!(v, one_key("s", vec![entry("2-0", "new", "y")]));

    // A key that does not exist yet: `$` means 0-0, the first XADD wakes it.
    let waiter = blocked(
        &s,
        &[
            "XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "fresh", "s", "$", "$",
        ],
    );
    wait_blocked(&s, 1);
    q(&mut c, &["XADD", "fresh", "7-0", "k", "v"]);
    assert_eq!(
        waiter.join().unwrap().0,
        one_key("fresh", vec![entry("7-0", "k", "v")])
    );

    // Several readers of one stream are all served by one XADD.
    let a = blocked(&s, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    let b = blocked(&s, &["XREAD", "BLOCK", "0", "STREAMS", "s", "2-0"]);
    wait_blocked(&s, 2);
    q(&mut c, &["XADD", "s", "3-0", "f", "z"]);
    let want = one_key("s", vec![entry("3-0", "f", "z")]);
    assert_eq!(a.join().unwrap().0, want);
    assert_eq!(b.join().unwrap().0, want);
}

#[test]
fn xread_and_xreadgroup_time_out_with_a_null_reply() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let (v, took) = blocked(&s, &["XREAD", "BLOCK", "300", "STREAMS", "s", "$"])
        .join()
        .unwrap();
    assert_eq!(v, Value::Nil);
    assert!(took >= Duration::from_millis(280), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let (v, took) = blocked(
        &s,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "300",
            "STREAMS",
            "s",
            ">",
        ],
    )
    .join()
    .unwrap();
    assert_eq!(v, Value::Nil);
    assert!(took >= Duration::from_millis(280), "{took:?}");
    // Inside MULTI nothing blocks: the reply is the timeout reply at once.
    q(&mut c, &["MULTI"]);
    q(&mut c, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(q(&mut c, &["EXEC"]), Value::Array(vec![Value::Nil]));
}

#[test]
fn xreadgroup_block_delivers_each_entry_to_one_consumer() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(
        &mut c,
        &["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"],
    );
    let w1 = blocked(
        &s,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w1",
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    wait_blocked(&s, 1);
    let w2 = blocked(
        &s,
        &[
            "XREADGROUP",
            "GROUP",
            "workers",
            "w2",
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ],
    );
    wait_blocked(&s, 2);
    q(&mut c, &["XADD", "jobs", "1-0", "job", "a"]);
    // First come, first served; the second consumer keeps waiting for the next entry.
    assert_eq!(
        w1.join().unwrap().0,
        one_key("jobs", vec![entry("1-0", "job", "a")])
    );
    wait_blocked(&s, 1);
    q(&mut c, &["XADD", "jobs", "2-0", "job", "b"]);
    assert_eq!(
        w2.join().unwrap().0,
        one_key("jobs", vec![entry("2-0", "job", "b")])
    );
    let pending = q(&mut c, &["XPENDING", "jobs", "workers"]);
    assert_eq!(
        pending,
        Value::Array(vec![
            Value::Int(2),
            bulk("1-0"),
            bulk("2-0"),
            Value::Array(vec![
                Value::Array(vec![bulk("w1"), bulk("1")]),
                Value::Array(vec![bulk("w2"), bulk("1")]),
            ]),
        ])
    );
    // Destroying the group unblocks a waiting consumer with NOGROUP.
    let mut w3c = s.conn();
    let w3 = std::thread::spawn(move || {
        redis::cmd("XREADGROUP")
            .arg(&[
                "GROUP", "workers", "w3", "BLOCK", "0", "STREAMS", "jobs", ">",
            ])
            .query::<Value>(&mut w3c)
            .map_err(|e| e.to_string())
    });
    wait_blocked(&s, 1);
    q(&mut c, &["XGROUP", "DESTROY", "jobs", "workers"]);
    let err = w3.join().unwrap().unwrap_err();
    assert!(err.contains("NOGROUP"), "{err}");
}

#[test]
fn streams_survive_save_and_restart() {
    let mut s = TestServer::start(&[]);
    let mut c = s.conn();
    for i in 1..=150 {
        q(
            &mut c,
            &["XADD", "s", &format!("{i}-1"), "n", &i.to_string()],
        );
    }
    q(&mut c, &["XDEL", "s", "10-1"]);
    q(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            ">",
        ],
    );
    q(&mut c, &["XGROUP", "CREATE", "e", "g", "$", "MKSTREAM"]);
    let info = q(&mut c, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    let groups = q(&mut c, &["XINFO", "GROUPS", "s"]);
    assert_eq!(q(&mut c, &["SAVE"]), Value::Okay);
    assert!(s.restart(None));
    let mut c = s.conn();
    assert_eq!(
        q(&mut c, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]),
        info
    );
    assert_eq!(q(&mut c, &["XINFO", "GROUPS", "s"]), groups);
    assert_eq!(q(&mut c, &["XLEN", "e"]), Value::Int(0));
    assert_eq!(
        q(&mut c, &["TYPE", "e"]),
        Value::SimpleString("stream".into())
    );
    // DUMP/RESTORE round trip too (what MIGRATE uses).
    let Value::BulkString(payload) = q(&mut c, &["DUMP", "s"]) else {
        panic!("DUMP failed")
    };
    let restored: Value = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(payload)
        .query(&mut c)
        .unwrap();
    assert_eq!(restored, Value::Okay);
    assert_eq!(
        q(&mut c, &["XINFO", "STREAM", "copy", "FULL", "COUNT", "0"]),
        info
    );
}

#[test]
fn replica_and_aof_end_with_the_same_stream_and_groups() {
    let primary = TestServer::start(&["--appendonly", "yes"]);
    let replica = TestServer::start(&[]);
    replica.cli(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    q(&mut p, &["SET", "warm", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while q(&mut r, &["EXISTS", "warm"]) != Value::Int(1) {
        assert!(Instant::now() < deadline, "replica not syncing");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..20 {
        q(
            &mut p,
            &["XADD", "s", "MAXLEN", "~", "5", "*", "i", &i.to_string()],
        );
    }
    q(&mut p, &["XGROUP", "CREATE", "s", "g", "0"]);
    q(
        &mut p,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "4",
            "STREAMS",
            "s",
            ">",
        ],
    );
    q(
        &mut p,
        &["XREADGROUP", "GROUP", "g", "b", "STREAMS", "s", ">"],
    );
    q(
        &mut p,
        &["XREADGROUP", "GROUP", "g", "idle", "STREAMS", "s", "0"],
    );
    q(
        &mut p,
        &["XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "1"],
    );
    let waiter = blocked(
        &primary,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "d",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&primary, 1);
    q(&mut p, &["XADD", "s", "*", "late", "1"]);
    waiter.join().unwrap();
    q(&mut p, &["XTRIM", "s", "MAXLEN", "10"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    let want = q(&mut p, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    let Value::Array(items) = &want else { panic!() };
    assert!(items.len() == 18);
    assert_eq!(
        as_replicated(&q(&mut r, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"])),
        strip_seen(&as_replicated(&want), &r_seen(&mut r))
    );
    // As in Redis 7.0, an AOF rewrite recreates the PEL with XCLAIM, which drops pending
    // entries whose stream entry is gone; XAUTOCLAIM drops them now (and replicates that).
    let Value::Array(claimed) = q(
        &mut p,
        &[
            "XAUTOCLAIM",
            "s",
            "g",
            "x",
            "0",
            "0",
            "COUNT",
            "100",
            "JUSTID",
        ],
    ) else {
        panic!("XAUTOCLAIM failed")
    };
    let Value::Array(deleted) = &claimed[2] else {
        panic!()
    };
    assert_eq!(deleted.len(), 11, "pending entries trimmed away");
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    let want = q(&mut p, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    assert_eq!(
        as_replicated(&q(&mut r, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"])),
        strip_seen(&as_replicated(&want), &r_seen(&mut r))
    );
    // An AOF rewrite and a restart from it keep the same state (consumers' seen-times are
    // the replay's).
    assert_eq!(
        q(&mut p, &["BGREWRITEAOF"]),
        Value::SimpleString("Background append only file rewriting started".into())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !primary
        .cli(&["INFO", "persistence"])
        .contains("aof_rewrite_in_progress:0")
    {
        assert!(Instant::now() < deadline, "AOF rewrite never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(p);
    let mut primary = primary;
    assert!(primary.restart(None));
    let mut p = primary.conn();
    assert_eq!(
        q(&mut p, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]),
        strip_seen(&want, &r_seen(&mut p))
    );
}

/// An XINFO STREAM FULL reply without what Redis 7.0's replication stream does not carry
/// (and rubra's, the same, does not either): a group's entries-read and lag (an XREADGROUP
/// without NOACK goes out as XCLAIMs, whose LASTID moves the cursor but not the counter),
/// and the consumer `idle`, which only a history read (ID 0) created: nothing is
/// propagated for that.
fn as_replicated(v: &Value) -> Value {
    let Value::Array(items) = v else {
        return v.clone();
    };
    let mut out = Vec::with_capacity(items.len());
    let mut blank_next = false;
    for item in items {
        if blank_next {
            out.push(Value::Nil);
            blank_next = false;
            continue;
        }
        blank_next = *item == bulk("entries-read") || *item == bulk("lag");
        if let Value::Array(c) = item {
            if c.len() >= 2 && c[0] == bulk("name") && c[1] == bulk("idle") {
                continue;
            }
        }
        out.push(as_replicated(item));
    }
    Value::Array(out)
}

/// A server's consumers' seen-times (local activity times, not replicated).
fn r_seen(r: &mut redis::Connection) -> Vec<Value> {
    let info = q(r, &["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    let mut out = Vec::new();
    collect_seen(&info, &mut out);
    out
}

fn collect_seen(v: &Value, out: &mut Vec<Value>) {
    if let Value::Array(items) = v {
        for (i, item) in items.iter().enumerate() {
            if *item == bulk("seen-time") {
                if let Some(next) = items.get(i + 1) {
                    out.push(next.clone());
                }
            }
            collect_seen(item, out);
        }
    }
}

/// `want` with its seen-time values replaced, in order, by `seen`.
fn strip_seen(want: &Value, seen: &[Value]) -> Value {
    fn walk(v: &Value, seen: &mut std::slice::Iter<'_, Value>) -> Value {
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut replace_next = false;
                for item in items {
                    if replace_next {
                        out.push(seen.next().cloned().unwrap_or(item.clone()));
                        replace_next = false;
                        continue;
                    }
                    replace_next = *item == bulk("seen-time");
                    out.push(walk(item, seen));
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }
    walk(want, &mut seen.iter())
}

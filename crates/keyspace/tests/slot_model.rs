//! The per-slot key tables across their inline <-> hash table conversions, against a plain
//! model (a BTreeMap of key -> (value, expiry)): the keys share two hash slots (hash tags),
//! so inserts, TTL changes, removals, lazy and active expiry and snapshots move each slot's
//! keys back and forth between a few inline ones and a table, and all must agree with the
//! model. (db_model.rs spreads its keys over many slots, so it rarely converts.)

use bytes::Bytes;
use proptest::prelude::*;
use rubra_keyspace::{Db, Entry, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    SetTtl(u8, u8, u64),
    Expire(u8, u64),
    Persist(u8),
    Remove(u8),
    Get(u8),
    Append(u8),
    Tick(u64),
    ActiveExpire(usize),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    // Twelve keys per slot: a slot holds 0..=12 keys, crossing the inline limit often.
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Set(k % 24, v)),
        (any::<u8>(), any::<u8>(), 1..50u64).prop_map(|(k, v, t)| Op::SetTtl(k % 24, v, t)),
        (any::<u8>(), 0..50u64).prop_map(|(k, t)| Op::Expire(k % 24, t)),
        any::<u8>().prop_map(|k| Op::Persist(k % 24)),
        any::<u8>().prop_map(|k| Op::Remove(k % 24)),
        any::<u8>().prop_map(|k| Op::Get(k % 24)),
        any::<u8>().prop_map(|k| Op::Append(k % 24)),
        (0..10u64).prop_map(Op::Tick),
        (1..8usize).prop_map(Op::ActiveExpire),
        Just(Op::Snapshot),
    ]
}

fn key(k: u8) -> Vec<u8> {
    let tag = if k.is_multiple_of(2) { "a" } else { "b" };
    if k.is_multiple_of(7) {
        // Keys longer than 127 bytes take a two-byte length in the node.
        let mut v = format!("{{{tag}}}").into_bytes();
        v.extend(std::iter::repeat_n(b'L', 200));
        v.push(k);
        v
    } else {
        format!("{{{tag}}}key:{k}").into_bytes()
    }
}

/// The slot of every key of tag "a" / "b".
fn slot_of(tag: &str) -> usize {
    rubra_keys::key_slot(tag.as_bytes()) as usize
}

type Model = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

fn live(model: &Model, now: u64) -> BTreeMap<Vec<u8>, (Vec<u8>, u64)> {
    model
        .iter()
        .filter(|(_, (_, at))| *at == 0 || *at > now)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn contents(f: impl FnOnce(&mut dyn FnMut(&[u8], &Entry, u64))) -> Model {
    let mut out = BTreeMap::new();
    f(&mut |k, e, at| {
        let Value::Str(v) = &e.value else {
            panic!("only strings are stored here")
        };
        out.insert(k.to_vec(), (v.to_vec(), at));
    });
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn slot_tables_agree_with_a_model_across_conversions(ops in proptest::collection::vec(op(), 1..200)) {
        let mut db = Db::new();
        let mut model: Model = BTreeMap::new();
        let mut now = 100u64;
        let mut snaps = Vec::new();
        for op in ops {
            // Expired keys are logically gone; drop them from the model lazily too.
            model.retain(|_, (_, at)| *at == 0 || *at > now);
            match op {
                Op::Set(k, v) => {
                    db.set(Bytes::from(key(k)), Value::Str(vec![v].into()), now);
                    model.insert(key(k), (vec![v], 0));
                }
                Op::SetTtl(k, v, t) => {
                    db.insert(key(k), Entry::new(Value::Str(vec![v].into()), now), now + t);
                    model.insert(key(k), (vec![v], now + t));
                }
                Op::Expire(k, t) => {
                    let at = if t == 0 { 0 } else { now + t };
                    let had = model.contains_key(&key(k));
                    prop_assert_eq!(db.set_expire(&key(k), at, now), had);
                    if let Some(e) = model.get_mut(&key(k)) {
                        e.1 = at;
                    }
                }
                Op::Persist(k) => {
                    let had_ttl = model.get(&key(k)).is_some_and(|e| e.1 != 0);
                    prop_assert_eq!(db.persist(&key(k), now), had_ttl);
                    if let Some(e) = model.get_mut(&key(k)) {
                        e.1 = 0;
                    }
                }
                Op::Remove(k) => {
                    let got = db.remove(&key(k)).is_some();
                    // remove() also takes logically expired keys; the model already
                    // dropped those, so only compare for live ones.
                    if model.remove(&key(k)).is_some() {
                        prop_assert!(got);
                    }
                }
                Op::Get(k) => {
                    let got = db.get(&key(k), now).map(|e| match &e.value {
                        Value::Str(v) => v.to_vec(),
                        _ => vec![],
                    });
                    prop_assert_eq!(got, model.get(&key(k)).map(|e| e.0.clone()));
                    prop_assert_eq!(db.expire_at(&key(k)), model.get(&key(k)).map_or(0, |e| e.1));
                }
                Op::Append(k) => {
                    if let Some(e) = db.get_mut(&key(k), now) {
                        if let Value::Str(v) = &mut e.value {
                            v.extend_from_slice(b"+");
                        }
                    }
                    if let Some(e) = model.get_mut(&key(k)) {
                        e.0.push(b'+');
                    }
                }
                Op::Tick(d) => now += d,
                Op::ActiveExpire(budget) => {
                    db.drain_expired();
                    let n = db.active_expire(now, budget);
                    prop_assert!(n <= budget);
                    prop_assert_eq!(db.drain_expired().len(), n);
                }
                Op::Snapshot => snaps.push((db.snapshot(), live(&model, now), now)),
            }
            let expected = live(&model, now);
            let got = contents(|f| db.for_each(now, |k, e, at| f(k, e, at)));
            prop_assert_eq!(&got, &expected);
            // len counts expired-but-present keys too, as DBSIZE does.
            prop_assert!(db.len() >= expected.len());
            let volatile = contents(|f| db.for_each(0, |k, e, at| f(k, e, at)))
                .values()
                .filter(|(_, at)| *at != 0)
                .count();
            prop_assert_eq!(db.expires_count(), volatile);
            // Per-slot counts (stored keys, expired or not) and SCAN's whole-slot walk.
            let stored = contents(|f| db.for_each_stored(|k, e, at| f(k, e, at)));
            for tag in ["a", "b"] {
                let prefix = format!("{{{tag}}}");
                let n = stored.keys().filter(|k| k.starts_with(prefix.as_bytes())).count();
                prop_assert_eq!(db.count_in_slot(slot_of(tag)), n);
                prop_assert_eq!(db.keys_in_slot(slot_of(tag), usize::MAX).len(), n);
            }
            prop_assert_eq!(db.len(), stored.len());
            let (_, scanned) = db.scan(0, usize::MAX, |_, _| true);
            let scanned: std::collections::BTreeSet<Vec<u8>> =
                scanned.iter().map(|k| k.to_vec()).collect();
            prop_assert_eq!(scanned, stored.keys().cloned().collect());
            if let Some(k) = db.random_key(&mut rand::thread_rng()) {
                prop_assert!(stored.contains_key(&k[..]));
            } else {
                prop_assert!(stored.is_empty());
            }
        }
        // Every snapshot still shows the keys as they were when it was taken.
        for (snap, expected, at) in snaps {
            let got = contents(|f| snap.for_each(at, |k, e, t| f(k, e, t)));
            prop_assert_eq!(got, expected);
        }
    }
}

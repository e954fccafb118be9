//! The per-slot node tables against a plain model (a BTreeMap of key -> (value, expiry)):
//! random inserts, TTL changes, removals, reads at moving times, active expiry and
//! snapshots taken in between must all agree with the model. Two key families: keys spread
//! over many slots, and keys sharing two slots (hash tags), so that each slot's keys move
//! back and forth between a few inline ones and a hash table.

use bytes::Bytes;
use proptest::prelude::*;
use rubra_keyspace::{Db, Entry, Value};
use std::collections::{BTreeMap, BTreeSet};

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

/// Operations on `n` keys of a family (see `key`).
fn op(n: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(move |(k, v)| Op::Set(k % n, v)),
        (any::<u8>(), any::<u8>(), 1..50u64).prop_map(move |(k, v, t)| Op::SetTtl(k % n, v, t)),
        (any::<u8>(), 0..50u64).prop_map(move |(k, t)| Op::Expire(k % n, t)),
        any::<u8>().prop_map(move |k| Op::Persist(k % n)),
        any::<u8>().prop_map(move |k| Op::Remove(k % n)),
        any::<u8>().prop_map(move |k| Op::Get(k % n)),
        any::<u8>().prop_map(move |k| Op::Append(k % n)),
        (0..10u64).prop_map(Op::Tick),
        (1..8usize).prop_map(Op::ActiveExpire),
        Just(Op::Snapshot),
    ]
}

/// How a test names its keys.
#[derive(Clone, Copy)]
enum Family {
    /// Over many slots: a slot rarely holds more than one key.
    Spread,
    /// In two slots (tags {a} and {b}): a slot holds up to half the keys.
    TwoSlots,
}

/// Key number `k` of a family; long keys mixed in, which take a two-byte length in the node.
fn key(family: Family, k: u8) -> Vec<u8> {
    let prefix = match family {
        Family::Spread => String::new(),
        Family::TwoSlots if k.is_multiple_of(2) => "{a}".to_string(),
        Family::TwoSlots => "{b}".to_string(),
    };
    let mut v = prefix.into_bytes();
    if k.is_multiple_of(7) {
        v.extend(std::iter::repeat_n(b'L', 200));
        v.push(k);
    } else {
        v.extend_from_slice(format!("key:{k}").as_bytes());
    }
    v
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

/// Runs `ops` on a Db and on the model, comparing them after every step.
fn agrees_with_model(family: Family, ops: Vec<Op>) -> Result<(), TestCaseError> {
    // The slots of every key the ops may use.
    let slots: BTreeSet<usize> = (0..=u8::MAX)
        .map(|k| rubra_keys::key_slot(&key(family, k)) as usize)
        .collect();
    let mut db = Db::new();
    let mut model: Model = BTreeMap::new();
    let mut now = 100u64;
    let mut snaps = Vec::new();
    for op in ops {
        // Expired keys are logically gone; drop them from the model lazily too.
        model.retain(|_, (_, at)| *at == 0 || *at > now);
        match op {
            Op::Set(k, v) => {
                db.set(Bytes::from(key(family, k)), Value::Str(vec![v].into()), now);
                model.insert(key(family, k), (vec![v], 0));
            }
            Op::SetTtl(k, v, t) => {
                db.insert(
                    key(family, k),
                    Entry::new(Value::Str(vec![v].into()), now),
                    now + t,
                );
                model.insert(key(family, k), (vec![v], now + t));
            }
            Op::Expire(k, t) => {
                let at = if t == 0 { 0 } else { now + t };
                let had = model.contains_key(&key(family, k));
                prop_assert_eq!(db.set_expire(&key(family, k), at, now), had);
                if let Some(e) = model.get_mut(&key(family, k)) {
                    e.1 = at;
                }
            }
            Op::Persist(k) => {
                let had_ttl = model.get(&key(family, k)).is_some_and(|e| e.1 != 0);
                prop_assert_eq!(db.persist(&key(family, k), now), had_ttl);
                if let Some(e) = model.get_mut(&key(family, k)) {
                    e.1 = 0;
                }
            }
            Op::Remove(k) => {
                let got = db.remove(&key(family, k)).is_some();
                // remove() also takes logically expired keys; the model already
                // dropped those, so only compare for live ones.
                if model.remove(&key(family, k)).is_some() {
                    prop_assert!(got);
                }
            }
            Op::Get(k) => {
                let got = db.get(&key(family, k), now).map(|e| match &e.value {
                    Value::Str(v) => v.to_vec(),
                    _ => vec![],
                });
                prop_assert_eq!(got, model.get(&key(family, k)).map(|e| e.0.clone()));
                prop_assert_eq!(
                    db.expire_at(&key(family, k)),
                    model.get(&key(family, k)).map_or(0, |e| e.1)
                );
            }
            Op::Append(k) => {
                if let Some(e) = db.get_mut(&key(family, k), now) {
                    if let Value::Str(v) = &mut e.value {
                        v.extend_from_slice(b"+");
                    }
                }
                if let Some(e) = model.get_mut(&key(family, k)) {
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
        for slot in slots.iter().copied() {
            let n = stored
                .keys()
                .filter(|k| rubra_keys::key_slot(k) as usize == slot)
                .count();
            prop_assert_eq!(db.count_in_slot(slot), n);
            prop_assert_eq!(db.keys_in_slot(slot, usize::MAX).len(), n);
        }
        prop_assert_eq!(db.len(), stored.len());
        let (_, scanned) = db.scan(0, usize::MAX, |_, _| true);
        let scanned: BTreeSet<Vec<u8>> = scanned.iter().map(|k| k.to_vec()).collect();
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
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn db_agrees_with_a_model(ops in proptest::collection::vec(op(40), 1..200)) {
        agrees_with_model(Family::Spread, ops)?;
    }
}

proptest! {
    // Twelve keys per slot: a slot holds 0..=12 keys, crossing the inline limit often.
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn slot_tables_agree_with_a_model_across_conversions(
        ops in proptest::collection::vec(op(24), 1..200)
    ) {
        agrees_with_model(Family::TwoSlots, ops)?;
    }
}

#[test]
fn reads_do_not_copy_a_slot_shared_with_a_snapshot() {
    let mut db = Db::new();
    for i in 0..1000 {
        db.set(format!("k{i}"), Value::Str(b"v".into()), 0);
    }
    let snap = db.snapshot();
    let before: Vec<*const Entry> = (0..1000)
        .map(|i| db.peek(format!("k{i}").as_bytes(), 0).unwrap() as *const Entry)
        .collect();
    for i in 0..1000 {
        let mut touched = false;
        assert!(db
            .get_touch(format!("k{i}").as_bytes(), 0, |_| touched = true)
            .is_some());
        assert!(!touched, "no LRU update while shared");
    }
    let after: Vec<*const Entry> = (0..1000)
        .map(|i| db.peek(format!("k{i}").as_bytes(), 0).unwrap() as *const Entry)
        .collect();
    assert_eq!(before, after, "reads left every entry where it was");
    // A write copies only its own slot.
    db.get_mut(b"k1", 0).unwrap().value = Value::Str(b"changed".into());
    let moved = (0..1000)
        .filter(|i| !std::ptr::eq(db.peek(format!("k{i}").as_bytes(), 0).unwrap(), before[*i]))
        .count();
    assert!((1..10).contains(&moved), "{moved} entries copied");
    drop(snap);
    let mut touched = false;
    db.get_touch(b"k2", 0, |_| touched = true);
    assert!(touched, "LRU updates resume once the snapshot is gone");
}

//! `SlotTable` against a model (a HashMap of key -> (value byte, expiry)): random inserts,
//! removals (by key and by index), TTL changes, clones and walks, with slot sizes crossing
//! the inline limit both ways; the representation must follow the size rules.

use crate::node::Node;
use crate::slot::{hash_key, Found, SlotTable, Verdict, SMALL};
use crate::value::Value;
use crate::Entry;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, u8, u64),
    Remove(u8),
    /// `find_checked` at a time: keys with a TTL due by then are removed.
    Checked(u8, u64),
    Expire(u8, u64),
    Clone(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12u8, any::<u8>(), 0..3u64).prop_map(|(k, v, t)| Op::Insert(k, v, t)),
        2 => (0..12u8).prop_map(Op::Remove),
        2 => (0..12u8, 0..4u64).prop_map(|(k, now)| Op::Checked(k, now)),
        1 => (0..12u8, 0..3u64).prop_map(|(k, t)| Op::Expire(k, t)),
        1 => any::<bool>().prop_map(Op::Clone),
    ]
}

fn key(k: u8) -> Vec<u8> {
    if k.is_multiple_of(5) {
        let mut v = vec![b'L'; 150];
        v.push(k);
        v
    } else {
        format!("k{k}").into_bytes()
    }
}

type Model = HashMap<Vec<u8>, (u8, u64)>;

fn value_of(e: &Entry) -> u8 {
    match &e.value {
        Value::Str(v) => v.first().copied().unwrap_or(0),
        _ => panic!("only strings here"),
    }
}

fn check(t: &SlotTable, model: &Model, was_inline: bool) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.len(), model.len());
    prop_assert_eq!(
        t.volatile.len(),
        model.values().filter(|(_, at)| *at != 0).count()
    );
    let mut seen = Model::new();
    t.for_each(|k, e, at| {
        seen.insert(k.to_vec(), (value_of(e), at));
    });
    prop_assert_eq!(&seen, model);
    prop_assert_eq!(t.keys.iter().count(), model.len());
    for (k, (v, at)) in model {
        let h = hash_key(k);
        let n = t.find(h, k).ok_or_else(|| TestCaseError::fail("missing"))?;
        prop_assert_eq!(value_of(n.entry()), *v);
        prop_assert_eq!(t.expire_of(h, n), *at);
        let i = t
            .keys
            .find_index(h, k)
            .ok_or_else(|| TestCaseError::fail("no index"))?;
        prop_assert_eq!(t.keys.get_at(i).map(|n| n.key()), Some(&k[..]));
    }
    // Size rules: more than SMALL keys need a table; few keys are inline; in between the
    // representation stays what it was (hysteresis; a clone keeps its original's).
    let inline = t.keys.is_inline();
    if model.len() > SMALL {
        prop_assert!(!inline);
    } else if model.len() <= SMALL / 2 {
        prop_assert!(inline);
    } else {
        prop_assert_eq!(inline, was_inline);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn slot_table_agrees_with_a_model(ops in proptest::collection::vec(op(), 1..300)) {
        let mut t = SlotTable::default();
        let mut model = Model::new();
        for op in ops {
            let was_inline = t.keys.is_inline();
            match op {
                Op::Insert(k, v, ttl) => {
                    let key = key(k);
                    let h = hash_key(&key);
                    let entry = Entry::new(Value::Str(vec![v].into()), 0);
                    let SlotTable { keys, volatile } = &mut t;
                    match keys.find_mut(h, &key) {
                        Some(n) => {
                            *n.entry_mut() = entry;
                            SlotTable::set_expire(volatile, h, n, ttl);
                        }
                        None => {
                            let mut n = Node::new(&key, entry, 0);
                            SlotTable::set_expire(volatile, h, &mut n, ttl);
                            keys.insert_new(h, n);
                        }
                    }
                    model.insert(key, (v, ttl));
                }
                Op::Remove(k) => {
                    let key = key(k);
                    let h = hash_key(&key);
                    let SlotTable { keys, volatile } = &mut t;
                    let got = keys.remove(h, &key);
                    if let Some(n) = &got {
                        SlotTable::forget_expire(volatile, h, n);
                    }
                    prop_assert_eq!(got.is_some(), model.remove(&key).is_some());
                }
                Op::Checked(k, now) => {
                    let key = key(k);
                    let h = hash_key(&key);
                    let due = |at: u64| if at <= now { Verdict::Remove } else { Verdict::Keep };
                    match t.find_checked(h, &key, due) {
                        Found::Missing => prop_assert!(!model.contains_key(&key)),
                        Found::Live(n) => {
                            prop_assert_eq!(n.key(), &key[..]);
                            let (_, at) = model[&key];
                            prop_assert!(at == 0 || at > now);
                        }
                        Found::Removed(n) => {
                            prop_assert_eq!(n.key(), &key[..]);
                            let at = model.remove(&key).map_or(0, |e| e.1);
                            prop_assert!(at != 0 && at <= now);
                            // As `Db::drain_expired` does after the command.
                            t.keys.shrink();
                        }
                    }
                }
                Op::Expire(k, at) => {
                    let key = key(k);
                    let h = hash_key(&key);
                    let SlotTable { keys, volatile } = &mut t;
                    if let Some(n) = keys.find_mut(h, &key) {
                        SlotTable::set_expire(volatile, h, n, at);
                    }
                    if let Some(e) = model.get_mut(&key) {
                        e.1 = at;
                    }
                }
                Op::Clone(keep_copy) => {
                    let copy = t.clone();
                    check(&copy, &model, was_inline)?;
                    if keep_copy {
                        // The original goes away: the copy must not point into it.
                        t = copy;
                    } else {
                        drop(copy);
                    }
                }
            }
            check(&t, &model, was_inline)?;
        }
    }
}

#[test]
fn conversions_happen_both_ways() {
    let mut t = SlotTable::default();
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("k{i}").into_bytes()).collect();
    for (i, k) in keys.iter().enumerate() {
        let h = hash_key(k);
        let n = Node::new(k, Entry::new(Value::Str(b"v".into()), 0), 0);
        t.keys.insert_new(h, n);
        assert_eq!(t.keys.is_inline(), i < SMALL, "after {} keys", i + 1);
    }
    for (i, k) in keys.iter().enumerate() {
        assert!(t.keys.remove(hash_key(k), k).is_some());
        let left = keys.len() - i - 1;
        assert_eq!(t.keys.is_inline(), left <= SMALL / 2, "{left} keys left");
    }
    assert_eq!(t.len(), 0);
}

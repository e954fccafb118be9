//! Property tests of the compact encodings against plain models (sled's rule: a BTreeMap
//! or VecDeque is the oracle). Random operations drive each value across its conversion
//! threshold; after every step the value must equal the model, and must be compact exactly
//! when Redis would still hold it compactly (conversion is one-way). Default limits only:
//! tests share the process-wide `Limits` (tests/limits.rs covers other settings).

use crate::limits::Limits;
use crate::value::{parse_i64_strict, HashValue, ListValue, SetValue, ZSet};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Short strings from a small alphabet (so operations collide), sometimes long ones (past
/// the 64-byte value limit), sometimes integers.
fn item() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => "[a-d]{1,3}".prop_map(String::into_bytes),
        3 => (-40i64..40).prop_map(|n| n.to_string().into_bytes()),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => "[a-b]{60,70}".prop_map(String::into_bytes),
        1 => "0[0-9]|-0|\\+1".prop_map(String::into_bytes),
    ]
}

fn b(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

#[derive(Debug, Clone)]
enum HOp {
    Set(Vec<u8>, Vec<u8>),
    Del(Vec<u8>),
    /// Adds `n` distinct fields (to cross the entry limit).
    Many(u8),
}

fn hop() -> impl Strategy<Value = HOp> {
    prop_oneof![
        8 => (item(), item()).prop_map(|(f, v)| HOp::Set(f, v)),
        4 => item().prop_map(HOp::Del),
        1 => (1u8..80).prop_map(HOp::Many),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn hash_matches_model(ops in prop::collection::vec(hop(), 1..60)) {
        let limits = Limits::default();
        let mut h = HashValue::new();
        // Insertion-ordered model (a pack keeps Redis's listpack order).
        let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut big = false;
        let mut serial = 0u32;
        for op in ops {
            let sets: Vec<(Vec<u8>, Vec<u8>)> = match &op {
                HOp::Set(f, v) => vec![(f.clone(), v.clone())],
                HOp::Many(n) => (0..*n).map(|_| {
                    serial += 1;
                    (format!("f{serial}").into_bytes(), b"v".to_vec())
                }).collect(),
                HOp::Del(f) => {
                    let had = model.iter().position(|(k, _)| k == f);
                    prop_assert_eq!(h.remove(f), had.is_some());
                    if let Some(i) = had {
                        model.remove(i);
                    }
                    Vec::new()
                }
            };
            for (f, v) in sets {
                big |= f.len() > limits.hash_max_value || v.len() > limits.hash_max_value;
                let new = match model.iter_mut().find(|(k, _)| *k == f) {
                    Some(slot) => { slot.1 = v.clone(); false }
                    None => { model.push((f.clone(), v.clone())); true }
                };
                big |= model.len() > limits.hash_max_entries;
                prop_assert_eq!(h.insert(b(&f), b(&v)), new);
            }
            prop_assert_eq!(h.is_compact(), !big);
            prop_assert_eq!(h.len(), model.len());
            if h.is_compact() {
                let got: Vec<(Vec<u8>, Vec<u8>)> =
                    h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
                prop_assert_eq!(&got, &model);
            }
            let got: BTreeMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            let want: BTreeMap<Vec<u8>, Vec<u8>> = model.iter().cloned().collect();
            prop_assert_eq!(&got, &want);
            for (f, v) in &model {
                prop_assert_eq!(h.get(f), Some(&v[..]));
            }
            for i in 0..h.len() {
                prop_assert!(h.get_index(i).is_some());
            }
            prop_assert!(h.get_index(h.len()).is_none());
        }
    }

    #[test]
    fn set_matches_model(ops in prop::collection::vec(
        prop_oneof![
            6 => item().prop_map(|m| (0u8, m, 0u16)),
            3 => item().prop_map(|m| (1u8, m, 0u16)),
            1 => (0u16..700).prop_map(|n| (2u8, Vec::new(), n)),
            1 => any::<u16>().prop_map(|n| (3u8, Vec::new(), n)),
        ], 1..60)) {
        let limits = Limits::default();
        let mut s = SetValue::new();
        let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut big = false;
        for (kind, m, n) in ops {
            match kind {
                0 => {
                    big |= parse_i64_strict(&m).is_none();
                    prop_assert_eq!(s.insert(b(&m)), model.insert(m.clone()));
                }
                1 => prop_assert_eq!(s.remove(&m), model.remove(&m)),
                2 => {
                    // Many integers, spread so the offsets need wider widths.
                    for i in 0..n as i64 {
                        let m = (i * 1_000_003 - 5_000_000).to_string().into_bytes();
                        prop_assert_eq!(s.insert(b(&m)), model.insert(m));
                    }
                }
                _ => {
                    if !s.is_empty() {
                        let i = n as usize % s.len();
                        let popped = s.swap_remove_index(i);
                        prop_assert!(popped.is_some());
                        if let Some(p) = popped {
                            prop_assert!(model.remove(&p[..]));
                        }
                    }
                }
            }
            big |= model.len() > limits.set_max_intset_entries;
            prop_assert_eq!(s.is_compact(), !big);
            prop_assert_eq!(s.len(), model.len());
            let got: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
            if s.is_compact() {
                // An intset lists its members in numeric order.
                let mut want: Vec<Vec<u8>> = model.iter().cloned().collect();
                want.sort_by_key(|m| parse_i64_strict(m));
                prop_assert_eq!(&got, &want);
            }
            let got: BTreeSet<Vec<u8>> = got.into_iter().collect();
            prop_assert_eq!(&got, &model);
            for m in &model {
                prop_assert!(s.contains(m));
            }
            for i in 0..s.len() {
                prop_assert!(s.get_index(i).is_some_and(|m| model.contains(&m[..])));
            }
        }
    }

    #[test]
    fn zset_matches_model(ops in prop::collection::vec(
        prop_oneof![
            6 => (item(), prop_oneof![
                (-5i32..5).prop_map(|n| n as f64),
                (-5i32..5).prop_map(|n| n as f64 * 0.5),
                any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
                Just(f64::INFINITY),
                Just(-0.0),
            ]).prop_map(|(m, s)| (0u8, m, s)),
            3 => item().prop_map(|m| (1u8, m, 0.0)),
            1 => (1u8..70).prop_map(|n| (2u8, Vec::new(), n as f64)),
            1 => Just((3u8, Vec::new(), 0.0)),
            1 => Just((4u8, Vec::new(), 0.0)),
        ], 1..50)) {
        let limits = Limits::default();
        let mut z = ZSet::new();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let mut big = false;
        let mut serial = 0u32;
        let add = |z: &mut ZSet, model: &mut BTreeMap<Vec<u8>, f64>, big: &mut bool,
                       m: Vec<u8>, s: f64| -> Result<(), TestCaseError> {
            let s = s + 0.0;
            let old = model.insert(m.clone(), s);
            if old.is_none() {
                *big |= m.len() > limits.zset_max_value || model.len() > limits.zset_max_entries;
            }
            prop_assert_eq!(z.insert(b(&m), s), old);
            Ok(())
        };
        for (kind, m, s) in ops {
            match kind {
                0 => add(&mut z, &mut model, &mut big, m, s)?,
                1 => prop_assert_eq!(z.remove(&m), model.remove(&m)),
                2 => {
                    for _ in 0..s as u32 {
                        serial += 1;
                        let m = format!("m{serial}").into_bytes();
                        add(&mut z, &mut model, &mut big, m, (serial % 7) as f64)?;
                    }
                }
                3 => {
                    let want = sorted(&model).first().cloned();
                    let got = z.pop_min().map(|(m, s)| (m.to_vec(), s));
                    prop_assert_eq!(&got, &want);
                    if let Some((m, _)) = want { model.remove(&m); }
                }
                _ => {
                    let want = sorted(&model).last().cloned();
                    let got = z.pop_max().map(|(m, s)| (m.to_vec(), s));
                    prop_assert_eq!(&got, &want);
                    if let Some((m, _)) = want { model.remove(&m); }
                }
            }
            prop_assert_eq!(z.is_compact(), !big);
            let want = sorted(&model);
            let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(z.len(), want.len());
            for (rank, (m, s)) in want.iter().enumerate() {
                prop_assert_eq!(z.score(m), Some(*s));
                prop_assert_eq!(z.rank(m), Some(rank));
                prop_assert_eq!(z.get_by_rank(rank).map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), *s)));
                prop_assert_eq!(z.score_rank(*s, false), want.iter().filter(|p| p.1 < *s).count());
                prop_assert_eq!(z.score_rank(*s, true), want.iter().filter(|p| p.1 <= *s).count());
                // Lex bounds are meaningful (as in Redis) when all scores are equal.
                if want.iter().all(|p| p.1 == want[0].1) {
                    prop_assert_eq!(z.lex_rank(m, false), rank);
                    prop_assert_eq!(z.lex_rank(m, true), rank + 1);
                }
                let rev: Vec<Vec<u8>> = z.iter_rev_from(rank).map(|(m, _)| m.to_vec()).collect();
                let want_rev: Vec<Vec<u8>> = want[..=rank].iter().rev().map(|p| p.0.clone()).collect();
                prop_assert_eq!(rev, want_rev);
                let fwd = z.iter_from(rank).count();
                prop_assert_eq!(fwd, want.len() - rank);
            }
            prop_assert_eq!(z.iter_from(want.len()).count(), 0);
        }
    }

    #[test]
    fn list_matches_model(ops in prop::collection::vec(
        prop_oneof![
            4 => (any::<bool>(), item()).prop_map(|(l, v)| (if l { 0u8 } else { 1 }, v, 0u16)),
            2 => any::<bool>().prop_map(|l| (if l { 2u8 } else { 3 }, Vec::new(), 0)),
            1 => (item(), any::<u16>()).prop_map(|(v, i)| (4u8, v, i)),
            1 => (item(), any::<u16>()).prop_map(|(v, i)| (5u8, v, i)),
            1 => (any::<u16>(), any::<u16>()).prop_map(|(a, n)| (6u8, a.to_le_bytes().to_vec(), n)),
            1 => (item(), any::<u16>()).prop_map(|(v, n)| (7u8, v, n)),
            1 => (1u16..400).prop_map(|n| (8u8, Vec::new(), n)),
        ], 1..60)) {
        let limits = Limits::default();
        let mut l = ListValue::new();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut big = false;
        let size = |m: &VecDeque<Vec<u8>>| -> usize {
            m.iter().map(|v| crate::pack::entry_size(v.len())).sum()
        };
        for (kind, v, n) in ops {
            match kind {
                0 => { l.push_front(b(&v)); model.push_front(v); }
                1 => { l.push_back(b(&v)); model.push_back(v); }
                2 => prop_assert_eq!(l.pop_front().map(|x| x.to_vec()), model.pop_front()),
                3 => prop_assert_eq!(l.pop_back().map(|x| x.to_vec()), model.pop_back()),
                4 => if !model.is_empty() {
                    let i = n as usize % model.len();
                    l.set(i, b(&v));
                    model[i] = v;
                },
                5 => {
                    let i = n as usize % (model.len() + 1);
                    l.insert(i, b(&v));
                    model.insert(i, v);
                }
                6 => {
                    let start = u16::from_le_bytes([v[0], v[1]]) as usize % (model.len() + 2);
                    let keep = n as usize % (model.len() + 2);
                    l.keep_range(start, keep);
                    let s = start.min(model.len());
                    let k = keep.min(model.len() - s);
                    model = model.iter().skip(s).take(k).cloned().collect();
                }
                7 => {
                    let limit = (n % 4) as u64;
                    let from_tail = n & 4 != 0;
                    let mut removed = 0u64;
                    let mut keep: Vec<bool> = vec![true; model.len()];
                    let order: Vec<usize> = if from_tail {
                        (0..model.len()).rev().collect()
                    } else {
                        (0..model.len()).collect()
                    };
                    for i in order {
                        if model[i] == v && (limit == 0 || removed < limit) {
                            keep[i] = false;
                            removed += 1;
                        }
                    }
                    model = model.iter().zip(&keep).filter(|(_, k)| **k).map(|(e, _)| e.clone()).collect();
                    prop_assert_eq!(l.remove_matching(&v, limit, from_tail), removed);
                }
                _ => {
                    for i in 0..n {
                        let v = format!("element:{i}").into_bytes();
                        l.push_back(b(&v));
                        model.push_back(v);
                        big |= !limits.list_fits(model.len(), size(&model));
                    }
                }
            }
            // Past the threshold the list is chunked; it may come back to the pack once it
            // shrinks (list_tests checks where), never while over it.
            big |= !limits.list_fits(model.len(), size(&model));
            prop_assert!(!l.is_compact() || limits.list_fits(model.len(), size(&model)));
            prop_assert!(l.is_compact() || big);
            big &= !l.is_compact();
            prop_assert_eq!(l.len(), model.len());
            let got: Vec<&[u8]> = l.iter().collect();
            let want: Vec<&[u8]> = model.iter().map(|v| &v[..]).collect();
            prop_assert_eq!(&got, &want);
            let rev: Vec<&[u8]> = l.iter_rev().collect();
            let want_rev: Vec<&[u8]> = model.iter().rev().map(|v| &v[..]).collect();
            prop_assert_eq!(rev, want_rev);
            if !model.is_empty() {
                let i = n as usize % model.len();
                prop_assert_eq!(l.get(i), Some(&model[i][..]));
                let r: Vec<&[u8]> = l.range(i, 3).collect();
                let want_r: Vec<&[u8]> = model.iter().skip(i).take(3).map(|v| &v[..]).collect();
                prop_assert_eq!(r, want_r);
                prop_assert_eq!(l.position(&model[i]), model.iter().position(|e| *e == model[i]));
            }
        }
    }
}

fn sorted(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

#[test]
fn intset_widths_and_memory() {
    let mut s = SetValue::new();
    for i in 0..10 {
        s.insert(Bytes::from((1_000_000 + i).to_string()));
    }
    // Ten ids near a million: a head byte, a 3-byte base and one byte per member.
    match &s {
        SetValue::Ints(i) => {
            assert_eq!(i.len(), 10);
            assert_eq!(i.encoded_len(), 1 + 3 + 10);
        }
        SetValue::Table(_) => panic!("should be an intset"),
    }
    s.insert(Bytes::from(i64::MIN.to_string()));
    s.insert(Bytes::from(i64::MAX.to_string()));
    let got: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
    assert_eq!(
        got.first().map(|m| m.as_slice()),
        Some(i64::MIN.to_string().as_bytes())
    );
    assert_eq!(
        got.last().map(|m| m.as_slice()),
        Some(i64::MAX.to_string().as_bytes())
    );
    assert!(s.contains(b"1000005"));
    assert!(!s.contains(b"01000005"));
    match &s {
        // i64::MIN's zigzag code takes all 8 bytes, the span all 8 as well.
        SetValue::Ints(i) => assert_eq!(i.encoded_len(), 1 + 8 + 12 * 8),
        SetValue::Table(_) => panic!("should be an intset"),
    }
    assert!(s.remove(i64::MIN.to_string().as_bytes()));
    assert_eq!(s.len(), 11);
}

#[test]
fn intset_bases_of_every_length() {
    // Bases of 0 to 8 bytes, negative and positive, each with members above it.
    let mut bases = vec![
        0i64,
        1,
        -1,
        63,
        -64,
        64,
        1 << 20,
        -(1 << 40),
        i64::MAX - 3,
        i64::MIN,
    ];
    bases.extend((0..63).map(|b| 1i64 << b));
    for base in bases {
        let mut s = SetValue::new();
        let members: Vec<i64> = (0..4).map(|i| base.saturating_add(i * 3)).collect();
        for m in members.iter().rev() {
            s.insert(Bytes::from(m.to_string()));
        }
        let mut want: Vec<i64> = members.clone();
        want.sort();
        want.dedup();
        let got: Vec<i64> = s
            .iter()
            .map(|m| std::str::from_utf8(&m).unwrap().parse().unwrap())
            .collect();
        assert_eq!(got, want, "base {base}");
        for m in &want {
            assert!(
                s.contains(m.to_string().as_bytes()),
                "base {base} member {m}"
            );
        }
        // Members are base + 3k (or i64::MAX): base + 1 never is one.
        assert!(
            !s.contains((base + 1).to_string().as_bytes()),
            "base {base}"
        );
    }
}

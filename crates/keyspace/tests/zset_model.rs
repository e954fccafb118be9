//! Property tests: the treap-backed ZSet must agree with a naive sorted-Vec model for any
//! sequence of inserts, removals and pops, in order, ranks, selects and range bounds.

use bytes::Bytes;
use proptest::prelude::*;
use rubra_keyspace::ZSet;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, i8),
    Remove(u8),
    PopMin,
    PopMax,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, -6i8..6).prop_map(|(m, s)| Op::Insert(m, s)),
        2 => (0u8..40).prop_map(Op::Remove),
        1 => Just(Op::PopMin),
        1 => Just(Op::PopMax),
    ]
}

fn member(m: u8) -> Bytes {
    Bytes::from(format!("m{:02}", m))
}

/// Scores from small integers (many ties) plus a half step, so order by member matters.
fn score(s: i8) -> f64 {
    s as f64 / 2.0
}

fn sorted(model: &HashMap<Bytes, f64>) -> Vec<(Bytes, f64)> {
    let mut v: Vec<(Bytes, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matches_sorted_vec_model(ops in proptest::collection::vec(op(), 0..200)) {
        let mut z = ZSet::new();
        let mut model: HashMap<Bytes, f64> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(m, s) => {
                    let old = model.insert(member(m), score(s));
                    prop_assert_eq!(z.insert(member(m), score(s)), old);
                }
                Op::Remove(m) => {
                    prop_assert_eq!(z.remove(&member(m)), model.remove(&member(m)));
                }
                Op::PopMin => {
                    let want = sorted(&model).first().cloned();
                    if let Some((m, _)) = &want {
                        model.remove(m);
                    }
                    prop_assert_eq!(z.pop_min(), want);
                }
                Op::PopMax => {
                    let want = sorted(&model).last().cloned();
                    if let Some((m, _)) = &want {
                        model.remove(m);
                    }
                    prop_assert_eq!(z.pop_max(), want);
                }
            }
            let want = sorted(&model);
            prop_assert_eq!(z.len(), want.len());
            let got: Vec<(Bytes, f64)> = z.iter().map(|(m, s)| (Bytes::copy_from_slice(m), s)).collect();
            prop_assert_eq!(&got, &want);
            for (i, (m, s)) in want.iter().enumerate() {
                prop_assert_eq!(z.rank(m), Some(i));
                prop_assert_eq!(z.rev_rank(m), Some(want.len() - 1 - i));
                prop_assert_eq!(z.score(m), Some(*s));
                prop_assert_eq!(z.get_by_rank(i).map(|(m, s)| (Bytes::copy_from_slice(m), s)), Some((m.clone(), *s)));
            }
            prop_assert_eq!(z.get_by_rank(want.len()), None);
        }
        // Range walks and bounds on the final state.
        let want = sorted(&model);
        for start in 0..=want.len() + 1 {
            let got: Vec<Bytes> = z.iter_from(start).map(|(m, _)| Bytes::copy_from_slice(m)).collect();
            let exp: Vec<Bytes> = want.iter().skip(start).map(|(m, _)| m.clone()).collect();
            prop_assert_eq!(got, exp);
            if start < want.len() {
                let got: Vec<Bytes> = z.iter_rev_from(start).map(|(m, _)| Bytes::copy_from_slice(m)).collect();
                let exp: Vec<Bytes> = want[..=start].iter().rev().map(|(m, _)| m.clone()).collect();
                prop_assert_eq!(got, exp);
            }
        }
        for s in -8i8..8 {
            let x = score(s);
            prop_assert_eq!(z.score_rank(x, false), want.iter().filter(|(_, v)| *v < x).count());
            prop_assert_eq!(z.score_rank(x, true), want.iter().filter(|(_, v)| *v <= x).count());
        }
        // Positions cover every member exactly once.
        let mut seen: Vec<Bytes> = (0..z.len()).filter_map(|i| z.get_by_position(i).map(|(m, _)| Bytes::copy_from_slice(m))).collect();
        seen.sort();
        let mut all: Vec<Bytes> = model.keys().cloned().collect();
        all.sort();
        prop_assert_eq!(seen, all);
    }

    #[test]
    fn lex_bounds_with_equal_scores(members in proptest::collection::btree_set("[a-e]{0,3}", 0..30), probe in "[a-e]{0,3}") {
        let mut z = ZSet::new();
        for m in &members {
            z.insert(Bytes::from(m.clone()), 0.0);
        }
        let p = probe.as_bytes();
        prop_assert_eq!(z.lex_rank(p, false), members.iter().filter(|m| m.as_bytes() < p).count());
        prop_assert_eq!(z.lex_rank(p, true), members.iter().filter(|m| m.as_bytes() <= p).count());
    }
}

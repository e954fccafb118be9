//! Property test of the list (both forms) against a `VecDeque<Vec<u8>>` model, with small
//! per-thread bounds so the pack converts early and nodes split and merge often: every
//! operation, small and oversized elements, contents and node invariants checked after
//! every step.

use crate::list_node::{entry_size, set_test_bound};
use crate::value::ListValue;
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Op {
    PushFront(Vec<u8>),
    PushBack(Vec<u8>),
    PopFront,
    PopBack,
    Set(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Keep(usize, usize),
    Rem(Vec<u8>, u64, bool),
    Fill(usize),
    Drain(usize, bool),
    Rebuild,
}

/// Short strings from a small alphabet (so LREM finds matches), sometimes ones larger than
/// any test node, sometimes empty.
fn item() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "[a-c]{1,3}".prop_map(String::into_bytes),
        2 => "[a-b]{10,30}".prop_map(String::into_bytes),
        1 => "[x]{150,300}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => item().prop_map(Op::PushFront),
        4 => item().prop_map(Op::PushBack),
        2 => Just(Op::PopFront),
        2 => Just(Op::PopBack),
        2 => (any::<usize>(), item()).prop_map(|(i, v)| Op::Set(i, v)),
        3 => (any::<usize>(), item()).prop_map(|(i, v)| Op::Insert(i, v)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Op::Keep(a, n)),
        2 => (item(), 0u64..3, any::<bool>()).prop_map(|(v, l, t)| Op::Rem(v, l, t)),
        1 => (1usize..80).prop_map(Op::Fill),
        1 => (1usize..60, any::<bool>()).prop_map(|(n, t)| Op::Drain(n, t)),
        1 => Just(Op::Rebuild),
    ]
}

fn b(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn list_matches_model_with_small_nodes(
        bound in prop_oneof![Just((3usize, 1usize << 20)), Just((usize::MAX, 40)),
                             Just((5, 64)), Just((usize::MAX, 200))],
        ops in prop::collection::vec(op(), 1..120),
    ) {
        set_test_bound(Some(bound));
        let (max_count, max_bytes) = bound;
        let mut l = ListValue::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut big = false;
        for op in ops {
            match op {
                Op::PushFront(v) => { l.push_front(b(&v)); m.push_front(v); }
                Op::PushBack(v) => { l.push_back(b(&v)); m.push_back(v); }
                Op::PopFront => prop_assert_eq!(l.pop_front().map(|x| x.to_vec()), m.pop_front()),
                Op::PopBack => prop_assert_eq!(l.pop_back().map(|x| x.to_vec()), m.pop_back()),
                Op::Set(i, v) => if !m.is_empty() {
                    let i = i % m.len();
                    l.set(i, b(&v));
                    m[i] = v;
                },
                Op::Insert(i, v) => {
                    let i = i % (m.len() + 1);
                    l.insert(i, b(&v));
                    m.insert(i, v);
                }
                Op::Keep(a, n) => {
                    let a = a % (m.len() + 2);
                    let n = n % (m.len() + 2);
                    l.keep_range(a, n);
                    let s = a.min(m.len());
                    let k = n.min(m.len() - s);
                    m = m.iter().skip(s).take(k).cloned().collect();
                }
                Op::Rem(v, limit, from_tail) => {
                    let mut keep = vec![true; m.len()];
                    let mut removed = 0u64;
                    let order: Vec<usize> = if from_tail {
                        (0..m.len()).rev().collect()
                    } else {
                        (0..m.len()).collect()
                    };
                    for i in order {
                        if m[i] == v && (limit == 0 || removed < limit) {
                            keep[i] = false;
                            removed += 1;
                        }
                    }
                    m = m.iter().zip(&keep).filter(|(_, k)| **k).map(|(e, _)| e.clone()).collect();
                    prop_assert_eq!(l.remove_matching(&v, limit, from_tail), removed);
                }
                Op::Fill(n) => for i in 0..n {
                    let v = format!("e{i}").into_bytes();
                    if i.is_multiple_of(2) { l.push_back(b(&v)); m.push_back(v); }
                    else { l.push_front(b(&v)); m.push_front(v); }
                    big |= m.len() > max_count
                        || m.iter().map(|v| entry_size(v.len())).sum::<usize>() > max_bytes;
                },
                Op::Drain(n, tail) => for _ in 0..n {
                    let (got, want) = if tail {
                        (l.pop_back(), m.pop_back())
                    } else {
                        (l.pop_front(), m.pop_front())
                    };
                    prop_assert_eq!(got.map(|x| x.to_vec()), want);
                },
                Op::Rebuild => {
                    let copy: ListValue = l.iter().map(b).collect();
                    let c2 = l.clone();
                    prop_assert_eq!(format!("{copy:?}"), format!("{c2:?}"));
                    l = if m.len().is_multiple_of(2) { copy } else { c2 };
                    big = !l.is_compact();
                }
            }
            big |= m.len() > max_count
                || m.iter().map(|v| entry_size(v.len())).sum::<usize>() > max_bytes;
            prop_assert_eq!(l.is_compact(), !big, "conversion at the pack bound, one-way");
            if let Err(e) = l.check() {
                prop_assert!(false, "invariant: {}", e);
            }
            prop_assert_eq!(l.len(), m.len());
            let got: Vec<&[u8]> = l.iter().collect();
            let want: Vec<&[u8]> = m.iter().map(|v| &v[..]).collect();
            prop_assert_eq!(&got, &want);
            let rev: Vec<&[u8]> = l.iter_rev().collect();
            let want_rev: Vec<&[u8]> = m.iter().rev().map(|v| &v[..]).collect();
            prop_assert_eq!(rev, want_rev);
            for i in [0, m.len() / 3, m.len() / 2, m.len().saturating_sub(1), m.len()] {
                prop_assert_eq!(l.get(i), m.get(i).map(|v| &v[..]));
                let r: Vec<&[u8]> = l.range(i, 7).collect();
                let want_r: Vec<&[u8]> = m.iter().skip(i).take(7).map(|v| &v[..]).collect();
                prop_assert_eq!(r, want_r);
                if let Some(v) = m.get(i) {
                    prop_assert_eq!(l.position(v), m.iter().position(|e| e == v));
                }
            }
        }
        set_test_bound(None);
    }
}

/// A list that shrinks by middle removals does not keep near-empty nodes: after LREM
/// removes most elements, neighbours that fit together are merged.
#[test]
fn shrinking_list_merges_nodes() {
    set_test_bound(Some((4, usize::MAX)));
    let mut l = ListValue::new();
    for i in 0..400 {
        l.push_back(Bytes::from(if i % 4 == 0 { "keep" } else { "drop" }));
    }
    assert_eq!(l.node_count(), 100);
    assert_eq!(l.remove_matching(b"drop", 0, false), 300);
    assert_eq!(l.len(), 100);
    assert_eq!(l.node_count(), 25);
    l.keep_range(1, 98);
    assert!(l.check().is_ok());
    set_test_bound(None);
}

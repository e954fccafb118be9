//! Property test of the list (both forms) against a `VecDeque<Vec<u8>>` model, with small
//! per-thread bounds so the pack converts early (and back), and nodes split and merge
//! often: every operation, small and oversized elements, contents, conversions and node
//! invariants (no spare room between the ends) checked after every step.

use crate::list_node::set_test_bound;
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
        let size = |m: &VecDeque<Vec<u8>>, f: fn(usize) -> usize| -> usize {
            m.iter().map(|v| f(v.len())).sum()
        };
        for op in ops {
            let was_compact = l.is_compact();
            let shrinking = matches!(
                op,
                Op::PopFront | Op::PopBack | Op::Keep(..) | Op::Rem(..) | Op::Drain(..)
            );
            let rebuild = matches!(op, Op::Rebuild);
            let before = m.len();
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
                }
            }
            // The small form holds exactly what fits the pack bound (pack encoding); it
            // converts on growth past it, and back only when a removal leaves one node
            // within half the bound (node encoding).
            let fits = m.len() <= max_count
                && size(&m, crate::pack::entry_size) <= max_bytes;
            let fits_half = m.len() <= max_count / 2
                && size(&m, crate::list_node::entry_size) <= max_bytes / 2;
            if l.is_compact() {
                prop_assert!(fits, "a pack over its bound");
            }
            if was_compact && fits {
                prop_assert!(l.is_compact(), "converted within the bound");
            }
            if !was_compact && l.is_compact() && !rebuild {
                prop_assert!(shrinking && fits_half, "converted back too early");
            }
            if shrinking && m.len() < before && !l.is_compact() {
                prop_assert!(!(l.node_count() == 1 && fits_half), "did not convert back");
            }
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

/// The threshold's hysteresis: past the pack bound the list is chunked; it comes back to
/// the pack only once a removal leaves it within half the bound, and a list at the
/// threshold does not convert on every push and pop.
#[test]
fn converts_back_below_half() {
    set_test_bound(Some((8, usize::MAX)));
    let mut l = ListValue::new();
    for i in 0..9 {
        l.push_back(Bytes::from(format!("v{i}")));
    }
    assert!(!l.is_compact());
    for _ in 0..4 {
        l.pop_front();
        assert!(!l.is_compact(), "{} elements", l.len());
    }
    l.pop_back();
    assert!(l.is_compact());
    let got: Vec<&[u8]> = l.iter().collect();
    assert_eq!(got, vec![&b"v4"[..], b"v5", b"v6", b"v7"]);
    set_test_bound(None);
}

/// A big list of short elements costs about its entries: 1M 3-byte elements in ~5 MB of
/// nodes (Redis's quicklist: ~5.1 MB), not 1M allocations.
#[test]
fn big_list_memory_is_its_entries() {
    let mut l = ListValue::new();
    for i in 0..1_000_000u32 {
        let v = Bytes::copy_from_slice(&i.to_le_bytes()[..3]);
        if i % 2 == 0 {
            l.push_back(v);
        } else {
            l.push_front(v);
        }
    }
    let per = l.heap_bytes() as f64 / 1e6;
    assert!(per < 5.2, "{per} bytes per element");
    assert!(l.check().is_ok());
    assert_eq!(
        l.pop_front().as_deref(),
        Some(&999_999u32.to_le_bytes()[..3])
    );
}

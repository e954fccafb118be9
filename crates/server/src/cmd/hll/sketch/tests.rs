//! Model tests for the sketch: a plain array of 16384 registers is the oracle for both
//! encodings, and arbitrary bytes after a valid header must never panic any operation.
//! (Agreement with Redis's numbers is checked against redis-server in
//! tests/hll_geo_differential.rs.)

use super::*;
use proptest::prelude::*;

/// Registers of an HLL in either encoding, via the merge path.
fn registers(s: &[u8]) -> [u8; REGISTERS] {
    let mut max = [0u8; REGISTERS];
    merge_into(&mut max, s).expect("valid HLL");
    max
}

/// An empty dense HLL.
fn new_dense() -> Vec<u8> {
    let mut s = new_sparse();
    to_dense(&mut s).expect("valid");
    s
}

#[test]
fn empty_hll_is_one_xzero_and_counts_zero() {
    let s = new_sparse();
    assert_eq!(s.len(), HDR + 2);
    assert!(looks_valid(&s));
    assert_eq!(decode(&s), "Z:16384");
    assert_eq!(count(&s), Ok(0));
    assert_eq!(count(&new_dense()), Ok(0));
    assert_eq!(new_dense().len(), 12304);
}

#[test]
fn pattern_is_between_one_and_fifty_one() {
    for i in 0..10_000u32 {
        let (idx, c) = pattern(&i.to_le_bytes());
        assert!(idx < REGISTERS);
        assert!((1..=51).contains(&c), "{c}");
    }
}

#[test]
fn dense_registers_do_not_bleed_into_neighbours() {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut model = [0u8; REGISTERS];
    let mut x = 0x1234_5678_u32;
    for _ in 0..3 {
        for (i, m) in model.iter_mut().enumerate() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = ((x >> 16) & 63) as u8;
            *m = v;
            dense_put(&mut regs, i, v);
        }
        for (i, m) in model.iter().enumerate() {
            assert_eq!(dense_get(&regs, i), *m, "register {i}");
        }
    }
}

#[test]
fn sparse_promotes_at_the_size_limit_and_agrees_with_dense() {
    let mut sparse = new_sparse();
    let mut dense = new_dense();
    let mut promoted_at = None;
    for i in 0..5000u32 {
        let e = format!("ele:{i}");
        add(&mut sparse, e.as_bytes(), 3000).expect("add");
        add(&mut dense, e.as_bytes(), 3000).expect("add");
        if encoding(&sparse) == SPARSE {
            assert!(sparse.len() <= 3000);
        } else if promoted_at.is_none() {
            promoted_at = Some(i);
        }
    }
    assert!(
        promoted_at.is_some(),
        "5000 elements must outgrow 3000 bytes"
    );
    assert_eq!(registers(&sparse), registers(&dense));
    assert_eq!(count(&sparse), count(&dense));
}

#[test]
fn estimate_is_within_a_few_standard_errors() {
    let mut s = new_sparse();
    for n in 1..=100_000u64 {
        add(&mut s, &n.to_le_bytes(), 3000).expect("add");
        if n % 10_000 == 0 {
            let est = count(&s).expect("count") as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 6.0 * 1.04 / 128.0, "n={n} est={est}");
        }
    }
}

#[test]
fn corrupt_sparse_bodies_are_reported() {
    // Too few registers.
    let mut s = new_sparse();
    s[HDR] = 0x40;
    assert_eq!(count(&s), Err(Corrupt));
    assert_eq!(to_dense(&mut s.clone()), Err(Corrupt));
    assert_eq!(merge_into(&mut [0; REGISTERS], &s), Err(Corrupt));
    assert_eq!(add(&mut s, b"x", 3000), Err(Corrupt));
    // Too many.
    let mut s = new_sparse();
    s.push(0x00);
    assert_eq!(count(&s), Err(Corrupt));
    // An XZERO cut off by the end of the string reads its second byte as zero.
    let mut s = new_sparse();
    s.truncate(HDR + 1);
    assert_eq!(decode(&s), "Z:16129");
}

/// A sparse body of random opcodes that covers exactly 16384 registers.
fn sparse_from_ops(ops: &[(u8, u16)]) -> Vec<u8> {
    let mut s = new_sparse();
    s.truncate(HDR);
    let mut left = REGISTERS;
    for &(kind, n) in ops {
        if left == 0 {
            break;
        }
        match kind % 3 {
            0 => {
                let len = (n as usize % 64 + 1).min(left);
                s.push((len - 1) as u8);
                left -= len;
            }
            1 => {
                let len = (n as usize % REGISTERS + 1).min(left);
                push_zeros_wide(&mut s, len);
                left -= len;
            }
            _ => {
                let len = (n as usize % 4 + 1).min(left);
                let val = (n >> 4) as u8 % 32 + 1;
                s.push(val_byte(val, len));
                left -= len;
            }
        }
    }
    if left > 0 {
        push_zeros_wide(&mut s, left);
    }
    s
}

/// Appends an XZERO opcode of any length 1..=16384.
fn push_zeros_wide(s: &mut Vec<u8>, len: usize) {
    s.push(0x40 | ((len - 1) >> 8) as u8);
    s.push(((len - 1) & 0xff) as u8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sequence of register updates on a sparse HLL (with any size limit) keeps it a
    /// valid encoding of exactly the registers a plain array holds.
    #[test]
    fn sparse_updates_match_the_model(
        updates in proptest::collection::vec((0usize..REGISTERS, 1u8..=40), 0..400),
        limit in 0usize..4000,
        clustered in any::<bool>(),
    ) {
        let mut s = new_sparse();
        let mut model = [0u8; REGISTERS];
        for (i, c) in updates {
            let i = if clustered { i % 64 } else { i };
            let changed = set_register(&mut s, i, c, limit).expect("valid");
            prop_assert_eq!(changed, c > model[i]);
            model[i] = model[i].max(c);
            if encoding(&s) == SPARSE {
                prop_assert!(s.len() <= limit.max(HDR + 2));
            }
        }
        prop_assert_eq!(registers(&s), model);
        let mut d = s.clone();
        to_dense(&mut d).expect("valid");
        prop_assert_eq!(count(&s), count(&d));
        prop_assert_eq!(count(&d), Ok(count_raw(&model)));
    }

    /// Valid sparse strings built from arbitrary opcode runs convert, merge and count
    /// consistently.
    #[test]
    fn arbitrary_valid_sparse_bodies_agree(ops in proptest::collection::vec((any::<u8>(), any::<u16>()), 0..200)) {
        let s = sparse_from_ops(&ops);
        let regs = registers(&s);
        let mut d = s.clone();
        to_dense(&mut d).expect("valid");
        prop_assert_eq!(registers(&d), regs);
        prop_assert_eq!(count(&s), Ok(count_raw(&regs)));
    }

    /// Random bytes after a header never panic: every operation answers Ok or Corrupt.
    #[test]
    fn random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..64),
        dense in any::<bool>(),
        ele in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut s = new_sparse();
        s.truncate(HDR);
        s.extend_from_slice(&body);
        if dense {
            s[4] = DENSE;
            s.resize(DENSE_SIZE, 0x5a);
        }
        let _ = count(&s);
        let _ = merge_into(&mut [0; REGISTERS], &s);
        let _ = decode(&s);
        let mut t = s.clone();
        let _ = to_dense(&mut t);
        let mut t = s.clone();
        for i in 0..8u8 {
            if add(&mut t, &[&ele[..], &[i]].concat(), 3000).is_err() {
                break;
            }
        }
        for idx in [0, 1, 63, 64, 65, 16383] {
            let mut t = s.clone();
            let _ = set_register(&mut t, idx, 33, 3000);
            let mut t = s.clone();
            let _ = set_register(&mut t, idx, 3, 20);
        }
    }
}

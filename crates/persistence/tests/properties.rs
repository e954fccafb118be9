//! Property tests: arbitrary data survives write -> read and DUMP -> RESTORE; truncated,
//! mutated and random inputs produce errors, never panics.

mod common;
use common::normalize;
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use rubra_persistence::{
    crc64, dump_payload, read_rdb, restore_payload, write_rdb, RdbEntry, RdbError, RdbValue,
};

fn arb_elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..40),
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (0i64..200).prop_map(|i| i.to_string().into_bytes()),
        vec(prop_oneof![Just(b'a'), Just(b'b')], 60..300),
    ]
}

fn arb_score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
        (-1000i32..1000).prop_map(|i| i as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn arb_value() -> impl Strategy<Value = RdbValue> {
    prop_oneof![
        arb_elem().prop_map(RdbValue::Str),
        vec(arb_elem(), 1..300).prop_map(RdbValue::List),
        btree_set(arb_elem(), 1..200).prop_map(|s| RdbValue::Set(s.into_iter().collect())),
        btree_set(any::<i64>(), 1..600).prop_map(|s| RdbValue::Set(
            s.into_iter().map(|i| i.to_string().into_bytes()).collect()
        )),
        btree_map(arb_elem(), arb_elem(), 1..200)
            .prop_map(|m| RdbValue::Hash(m.into_iter().collect())),
        btree_map(arb_elem(), arb_score(), 1..200)
            .prop_map(|m| RdbValue::ZSet(m.into_iter().collect())),
    ]
}

fn arb_entry() -> impl Strategy<Value = RdbEntry> {
    (
        0usize..20,
        vec(any::<u8>(), 0..20),
        arb_value(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(db, key, value, expire_ms, idle_secs, freq)| RdbEntry {
            db,
            key,
            value,
            expire_ms: expire_ms.map(|e| e >> 1),
            idle_secs,
            freq,
        })
}

fn same_value(a: &RdbValue, b: &RdbValue) -> bool {
    match (normalize(a), normalize(b)) {
        // Compare scores bitwise so -0.0 and 0.0 are told apart.
        (RdbValue::ZSet(x), RdbValue::ZSet(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(&y)
                    .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
        }
        (x, y) => x == y,
    }
}

/// A fixed file with one key of every kind the writer emits.
fn sample_file() -> Vec<u8> {
    let e = |db, k: &str, v| RdbEntry::new(db, k, v);
    let mut ttl = e(1, "ttl", RdbValue::Str(b"x".to_vec()));
    ttl.expire_ms = Some(1_900_000_000_000);
    ttl.freq = Some(5);
    ttl.idle_secs = Some(77);
    let entries = vec![
        e(0, "s", RdbValue::Str(b"hello".to_vec())),
        e(0, "i", RdbValue::Str(b"123456".to_vec())),
        e(0, "lzf", RdbValue::Str(b"abcabcabc".repeat(10))),
        e(
            0,
            "l",
            RdbValue::List(vec![b"a".to_vec(), b"1".to_vec(), vec![b'z'; 70]]),
        ),
        e(
            0,
            "si",
            RdbValue::Set(vec![b"1".to_vec(), b"-70000".to_vec()]),
        ),
        e(0, "ss", RdbValue::Set(vec![b"a".to_vec(), b"b".to_vec()])),
        e(
            0,
            "h",
            RdbValue::Hash(vec![(b"f".to_vec(), b"12".to_vec())]),
        ),
        e(
            0,
            "hb",
            RdbValue::Hash(vec![(b"f".to_vec(), vec![b'v'; 80])]),
        ),
        e(0, "z", RdbValue::ZSet(vec![(b"m".to_vec(), 1.5)])),
        e(0, "zb", RdbValue::ZSet(vec![(vec![b'm'; 80], -2.0)])),
        ttl,
    ];
    write_rdb(Vec::new(), &entries).unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let f = sample_file();
    assert!(read_rdb(&f, |_| {}).is_ok());
    for n in 0..f.len() {
        assert!(read_rdb(&f[..n], |_| {}).is_err(), "prefix of {n} bytes");
    }
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let f = sample_file();
    for i in 0..f.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut g = f.clone();
            g[i] ^= x;
            // Flips anywhere but the header/checksum must fail the CRC at least.
            let r = read_rdb(&g, |_| {});
            assert!(r.is_err(), "flip {x:#x} at {i} accepted");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read(entries in vec(arb_entry(), 0..8)) {
        let f = write_rdb(Vec::new(), &entries).unwrap();
        let mut got = Vec::new();
        read_rdb(&f, |e| got.push(e)).unwrap();
        let mut want = entries.clone();
        want.sort_by_key(|e| e.db);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g.db, w.db);
            prop_assert_eq!(&g.key, &w.key);
            prop_assert_eq!(g.expire_ms, w.expire_ms);
            prop_assert_eq!(g.idle_secs, w.idle_secs);
            prop_assert_eq!(g.freq, w.freq);
            prop_assert!(same_value(&g.value, &w.value), "{:?} vs {:?}", g.value, w.value);
        }
    }

    #[test]
    fn dump_then_restore(v in arb_value()) {
        let p = dump_payload(&v);
        let back = restore_payload(&p).unwrap();
        prop_assert!(same_value(&back, &v));
        let mut bad = p.clone();
        let n = bad.len();
        bad[n - 9] ^= 1;
        prop_assert_eq!(restore_payload(&bad).unwrap_err(), RdbError::BadDumpPayload);
    }

    #[test]
    fn mutated_files_never_panic(
        muts in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut f = sample_file();
        for (idx, b, kind) in muts {
            let i = idx.index(f.len());
            match kind {
                0 => f[i] = b,
                1 => f.insert(i, b),
                _ => { f.remove(i); }
            }
            if f.is_empty() { break; }
        }
        let _ = read_rdb(&f, |_| {});
    }

    #[test]
    fn random_bodies_never_panic(body in vec(any::<u8>(), 0..300)) {
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&body);
        let _ = read_rdb(&f, |_| {});
    }

    #[test]
    fn mutated_payloads_never_panic(
        v in arb_value(),
        muts in vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
    ) {
        let mut p = dump_payload(&v);
        let body = p.len() - 10;
        for (idx, b) in muts {
            p[idx.index(body)] = b;
        }
        // Re-seal so the body parser, not the checksum, sees the damage.
        let crc = crc64(&p[..p.len() - 8]);
        let n = p.len();
        p[n - 8..].copy_from_slice(&crc.to_le_bytes());
        let _ = restore_payload(&p);
    }

    #[test]
    fn random_blobs_of_each_type_never_panic(ty in 0u8..25, blob in vec(any::<u8>(), 0..200)) {
        // type byte, a string holding the blob (for blob types) or raw bytes, then footer.
        for wrap in [true, false] {
            let mut p = vec![ty];
            if wrap {
                p.push(0x80);
                p.extend_from_slice(&(blob.len() as u32).to_be_bytes());
            }
            p.extend_from_slice(&blob);
            p.extend_from_slice(&10u16.to_le_bytes());
            let crc = crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            let _ = restore_payload(&p);
        }
    }
}

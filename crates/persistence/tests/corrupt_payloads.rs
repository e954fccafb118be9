//! Corrupt RESTORE bodies that redis-server 7.0.15 refuses (or takes) and we once did the
//! opposite with; each found by Redis's integration/corrupt-dump unit or by
//! `rubra-server`'s `corrupt_payload_differential` fuzz test against redis-server. The
//! CRC is not checked here (`verify_crc` false), as under DEBUG SET-SKIP-CHECKSUM-VALIDATION.

use rubra_persistence::{crc64, restore_payload, restore_payload_checked, RdbError, RdbValue};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// `body` + an RDB 10 footer with a zero CRC.
fn payload(body: &str) -> Vec<u8> {
    let mut p = unhex(body);
    p.extend_from_slice(&[10, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    p
}

fn restore(body: &str, deep: bool) -> Result<RdbValue, RdbError> {
    restore_payload_checked(&payload(body), false, deep)
}

fn refused(body: &str, reason: &str) {
    for deep in [true, false] {
        assert_eq!(
            restore(body, deep),
            Err(RdbError::Corrupt(match reason {
                "" => unreachable!(),
                r => Box::leak(r.to_string().into_boxed_str()),
            })),
            "deep {deep}: {body}"
        );
    }
}

#[test]
fn ziplist_prevlen_and_tail_are_checked_as_redis_checks_them() {
    // A quicklist (type 14) of one ziplist "a\\0", "b\\0" (strings of 2): its second entry's prevlen is 14
    // (the first entry is 4 bytes), then 2.
    refused(
        "0e01 13 13000000 0e000000 0200 00026100 0e026200 ff",
        "Ziplist integrity check failed.",
    );
    refused(
        "0e01 13 13000000 0e000000 0200 00026100 02026200 ff",
        "Ziplist integrity check failed.",
    );
    // The same with the right prevlen (4) is a list of two.
    assert_eq!(
        restore("0e01 13 13000000 0e000000 0200 00026100 04026200 ff", true),
        Ok(RdbValue::List(vec![b"a\0".to_vec(), b"b\0".to_vec()]))
    );
    // A zset ziplist whose tail offset (2) is not its last entry's start.
    refused(
        "0c 19 19000000 02000000 0600 00f102 f102 025f3104 f202 f302 f3ff",
        "Zset ziplist integrity check failed.",
    );
}

#[test]
fn an_empty_quicklist_node_is_refused() {
    // Type 18, one plain node of zero bytes (Redis: "encoded_len is 0").
    refused("1201 01 00", "Quicklist integrity check failed.");
}

#[test]
fn a_body_that_ends_early_reads_on_into_the_footer_as_in_redis() {
    // Type 0, a string of 2 bytes where the body holds one: Redis reads the footer's
    // first byte (the RDB version, 10) as the second.
    assert_eq!(restore("00 02 01", true), Ok(RdbValue::Str(vec![1, 10])));
}

#[test]
fn an_encoded_string_marker_read_as_a_length_is_its_low_bits() {
    // A set of 0xC2 members: Redis's rdbLoadLen gives 2.
    assert_eq!(restore("02 c2 0161 0162", true).map(|v| v.len()), Ok(2));
}

#[test]
fn dump_footers_newer_than_rdb_10_are_refused() {
    let mut p = unhex("0003616263");
    p.extend_from_slice(&11u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(restore_payload(&p), Err(RdbError::BadDumpPayload));
}

#[test]
fn stream_groups_consumers_and_pels_may_not_repeat() {
    // An empty stream (type 15) with group "mygroup" holding two consumers "name".
    refused(
        "0f 00 00 00 00 01 076d7967726f7570 00 00 00 02 \
         046e616d65 2a4caa9a7d010000 00 046e616d65 2b4caa9a7d010000 00",
        "Duplicate stream consumer detected.",
    );
    // Two groups of one name.
    refused(
        "0f 00 00 00 00 02 0167 00 00 00 00 0167 00 00 00 00",
        "Duplicated consumer group name",
    );
}

/// One stream node of one entry ("f" = "v", id 1-1 = the master id), with `lp_count` as
/// the entry's last element (3 + 1 field is right).
fn stream_with_lp_count(lp_count: u8) -> String {
    // listpack: 1 live, 0 deleted, 1 master field "f", 0 | flags 2, 0, 0, "v", lp-count.
    let entries: [&[u8]; 10] = [
        &[0x01],
        &[0x00],
        &[0x01],
        &[0x81, b'f'],
        &[0x00],
        &[0x02],
        &[0x00],
        &[0x00],
        &[0x81, b'v'],
        &[lp_count],
    ];
    let mut lp = vec![0u8; 6];
    for e in entries {
        lp.extend_from_slice(e);
        lp.push(e.len() as u8);
    }
    lp.push(0xff);
    let n = lp.len() as u32;
    lp[..4].copy_from_slice(&n.to_le_bytes());
    lp[4..6].copy_from_slice(&10u16.to_le_bytes());
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "0f 01 10 {} {:02x} {} 01 01 01 00",
        hex(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
        lp.len(),
        hex(&lp)
    )
}

#[test]
fn a_stream_entrys_lp_count_is_checked_only_under_deep_sanitization() {
    assert!(restore(&stream_with_lp_count(4), true).is_ok());
    assert_eq!(
        restore(&stream_with_lp_count(9), true),
        Err(RdbError::Corrupt("Stream listpack integrity check failed."))
    );
    // Without it Redis restores the stream (and asserts when it walks it backwards); we
    // need no lp-count to read it, so the value is whole.
    assert!(restore(&stream_with_lp_count(9), false).is_ok());
}

#[test]
fn zipmaps_must_hold_what_their_count_says() {
    // Type 9: an empty zipmap (count 0, end), and one pair "a" = "b" under a count of 2.
    refused("09 02 00ff", "Zipmap integrity check failed.");
    refused("09 07 02 0161 0100 62 ff", "Zipmap integrity check failed.");
    assert_eq!(
        restore("09 07 01 0161 0100 62 ff", true),
        Ok(RdbValue::Hash(vec![(b"a".to_vec(), b"b".to_vec())]))
    );
}

#[test]
fn listpack_back_lengths_are_compared_only_under_deep_sanitization() {
    // Type 16: a hash listpack "f" = "v" whose second back-length says 9 instead of 2.
    let body = "10 0d 0d000000 0200 8166 02 8176 09 ff";
    assert_eq!(
        restore(body, true),
        Err(RdbError::Corrupt("Hash listpack integrity check failed."))
    );
    assert_eq!(
        restore(body, false),
        Ok(RdbValue::Hash(vec![(b"f".to_vec(), b"v".to_vec())]))
    );
}

#[test]
fn a_back_length_is_compared_by_value_as_redis_reads_it() {
    // Type 16: "f" = 0 where the last back-length byte is 0x81: read backwards it takes
    // the entry byte 0x00 as its high part and is 1, the entry's size (Redis restores it).
    let body = "10 0c 0c000000 0200 8166 02 00 81 ff";
    assert_eq!(
        restore(body, true),
        Ok(RdbValue::Hash(vec![(b"f".to_vec(), b"0".to_vec())]))
    );
}

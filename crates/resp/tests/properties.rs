//! Property tests for the RESP codec: whatever we encode parses back to the same value, a
//! request split at any byte boundaries parses identically, and arbitrary bytes never panic.

use bytes::Bytes;
use proptest::prelude::*;
use rubra_resp::{parse_frame, parse_request, Frame, Limits, Parsed, Reply};

fn arb_reply() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Reply::Int),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Reply::Bulk(Bytes::from(v))),
        "[a-zA-Z0-9 ]{0,20}".prop_map(Reply::error),
        Just(Reply::Nil),
        any::<bool>().prop_map(Reply::Bool),
        (-1e12f64..1e12f64).prop_map(Reply::Double),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Reply::Array),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Reply::Map),
            proptest::collection::vec(inner, 0..8).prop_map(Reply::Set),
        ]
    })
}

/// What a RESP3 reply must look like after parsing.
fn expected(r: &Reply) -> Frame {
    match r {
        Reply::Int(n) => Frame::Int(*n),
        Reply::Bulk(b) => Frame::Bulk(b.clone()),
        Reply::Error(e) => Frame::Error(Bytes::from(e.to_vec())),
        Reply::Nil | Reply::NilArray => Frame::Null,
        Reply::Bool(b) => Frame::Bool(*b),
        Reply::Double(d) => Frame::Double(rubra_resp::format_double(*d).parse().unwrap()),
        Reply::Array(v) => Frame::Array(v.iter().map(expected).collect()),
        Reply::Set(v) => Frame::Set(v.iter().map(expected).collect()),
        Reply::Map(v) => Frame::Map(v.iter().map(|(k, v)| (expected(k), expected(v))).collect()),
        other => panic!("not generated: {other:?}"),
    }
}

proptest! {
    #[test]
    fn encoded_replies_parse_back(reply in arb_reply()) {
        let bytes = reply.to_bytes(true);
        let (frame, used) = parse_frame(&bytes, usize::MAX).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(frame, expected(&reply));
    }

    #[test]
    fn requests_parse_the_same_however_split(
        args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..10),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = format!("*{}\r\n", args.len()).into_bytes();
        for a in &args {
            wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            wire.extend_from_slice(a);
            wire.extend_from_slice(b"\r\n");
        }
        // Feed the bytes in pieces, as a socket would deliver them.
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len())).collect();
        points.push(wire.len());
        points.sort();
        let mut buf = Vec::new();
        let mut fed = 0;
        let mut parsed = None;
        for p in points {
            buf.extend_from_slice(&wire[fed..p]);
            fed = p;
            match parse_request(&buf, &Limits::default()).unwrap() {
                Parsed::Complete(req, used) => {
                    prop_assert_eq!(used, wire.len());
                    parsed = Some(req);
                    break;
                }
                Parsed::Incomplete { .. } => {}
            }
        }
        let expected: Vec<Bytes> = args.into_iter().map(Bytes::from).collect();
        prop_assert_eq!(parsed, Some(expected));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_request(&data, &Limits::default());
        let _ = parse_frame(&data, 1 << 20);
    }
}

//! Micro-benchmarks of the codec's hot paths: request parsing (what every command costs
//! before it reaches the store), reply encoding, and request encoding (replication and AOF).
//! Run with `cargo bench -p rubra-resp`; numbers are ns per operation on this machine, for
//! spotting regressions between commits, not for comparing with Redis (bench/ does that).

use bytes::Bytes;
use rubra_resp::{encode_request, parse_request, Limits, Parsed, Reply};
use std::hint::black_box;
use std::time::Duration;

#[path = "support/harness.rs"]
mod harness;
use harness::bench;

fn main() {
    let budget = Duration::from_millis(500);
    let limits = Limits::default();
    let set = b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000042\r\n$32\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
    bench(
        "parse_request SET (multibulk)",
        budget,
        || match parse_request(black_box(set), &limits) {
            Ok(Parsed::Complete(args, _)) => {
                black_box(args);
            }
            other => panic!("unexpected {other:?}"),
        },
    );
    let inline = b"GET key:000000000042\r\n";
    bench("parse_request GET (inline)", budget, || {
        black_box(parse_request(black_box(inline), &limits).is_ok());
    });
    let mut pipeline = Vec::new();
    for _ in 0..16 {
        pipeline.extend_from_slice(set);
    }
    bench("parse 16 pipelined SETs", budget, || {
        let mut at = 0;
        while at < pipeline.len() {
            match parse_request(&pipeline[at..], &limits) {
                Ok(Parsed::Complete(args, used)) => {
                    black_box(args);
                    at += used;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });

    let mut out = Vec::with_capacity(1 << 16);
    let bulk = Reply::Bulk(Bytes::from_static(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
    bench("encode bulk reply (RESP2)", budget, || {
        out.clear();
        black_box(&bulk).encode(&mut out, false);
    });
    let array = Reply::Array((0..100).map(|i| Reply::Int(i * 1000)).collect());
    bench("encode 100-integer array (RESP3)", budget, || {
        out.clear();
        black_box(&array).encode(&mut out, true);
    });
    let args = [
        "SET",
        "key:000000000042",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ];
    bench("encode_request SET (replication feed)", budget, || {
        out.clear();
        encode_request(&mut out, black_box(&args));
    });
}

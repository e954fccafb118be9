//! Small deviations from Redis 7.0 found by side-by-side use (issue 12), each pinned by a
//! differential script against redis-server: replies must be byte-identical.

mod common;
mod reference;
use reference::assert_same_as_redis;

/// An SMOVE whose destination already holds the member changes only the source, so a
/// WATCH on the destination does not abort the transaction (and one on the source does).
#[test]
fn smove_into_a_set_that_has_the_member_leaves_the_destination_untouched() {
    assert_same_as_redis(&[
        "SADD src m n",
        "SADD dst m",
        "WATCH dst",
        "SMOVE src dst m",
        "MULTI",
        "SMEMBERS dst",
        "EXEC",
        "WATCH src",
        "SMOVE src dst n",
        "MULTI",
        "PING",
        "EXEC",
        "SADD src2 x",
        "WATCH dst",
        "SMOVE src2 dst x",
        "MULTI",
        "PING",
        "EXEC",
    ]);
}

//! Scripting differences found by redis 7.0.15's unit/scripting and unit/functions tests
//! (tools/redis-suite.sh), each compared byte for byte with Debian's redis-server.

mod common;
mod reference;
use reference::assert_same_as_redis;

#[test]
fn sort_by_constant_of_a_set_is_sorted_inside_scripts() {
    // A set has no order: Redis sorts SORT BY <constant>'s output for a script (ALPHA), as
    // it does for STORE; lists keep their order.
    assert_same_as_redis(&[
        "SADD myset a b c d e f g h i l m n o p q r s t u v z aa aaa azz",
        "EVAL \"return redis.call('sort', KEYS[1], 'by', '_')\" 1 myset",
        "EVAL \"return redis.call('sort', KEYS[1], 'by', '_', 'desc')\" 1 myset",
        "EVAL \"return redis.call('sort', KEYS[1], 'by', '_', 'limit', 2, 3)\" 1 myset",
        "EVAL \"return redis.call('sort', KEYS[1], 'by', '_', 'get', '#', 'get', '_:*')\" 1 myset",
        "EVAL \"return redis.call('sort_ro', KEYS[1], 'by', '_')\" 1 myset",
        "RPUSH mylist c a b",
        "EVAL \"return redis.call('sort', KEYS[1], 'by', '_')\" 1 mylist",
    ]);
}

#[test]
fn function_flush_with_extra_arguments_is_a_subcommand_syntax_error() {
    assert_same_as_redis(&[
        "FUNCTION FLUSH bad_arg",
        "FUNCTION FLUSH sync extra_arg",
        "function Flush async extra_arg more",
        "FUNCTION FLUSH SYNC",
    ]);
}

#[test]
fn a_command_refused_inside_a_script_is_counted_once_in_errorstats() {
    // unit/scripting "Consistent eval error reporting": the refusal (OOM here) is counted
    // when it happens, whether the script raises it, catches it, or returns it.
    let mut script = vec!["CONFIG SET maxmemory 1"];
    for eval in [
        "EVAL \"return redis.call('set','x','y')\" 1 x",
        "EVAL \"local t = redis.pcall('set','x','y') return t['err']\" 1 x",
        "EVAL \"return redis.pcall('set','x','y')\" 1 x",
        "EVAL \"return redis.call('nosuchcommand')\" 0",
        "EVAL \"local t = redis.pcall('nosuchcommand') return 1\" 0",
    ] {
        script.extend_from_slice(&["CONFIG RESETSTAT", eval, "INFO errorstats"]);
    }
    script.push("CONFIG SET maxmemory 0");
    assert_same_as_redis(&script);
}

#[test]
fn writes_are_refused_without_enough_good_replicas() {
    // unit/scripting "not enough good replicas" and unit/multi "exec with write commands
    // and state change": min-replicas-to-write on a primary with no replica.
    assert_same_as_redis(&[
        "SET x \"some value\"",
        "MULTI",
        "INCR counter",
        "!CONFIG SET min-replicas-to-write 1",
        "EXEC",
        "CONFIG SET min-replicas-to-write 1",
        "EVAL \"#!lua flags=no-writes\nreturn redis.call('get','x')\" 1 x",
        "EVAL \"return redis.call('get','x')\" 1 x",
        "EVAL \"#!lua\nreturn redis.call('get','x')\" 1 x",
        "EVAL \"return redis.call('set','x', 1)\" 1 x",
        "EVAL \"return redis.pcall('set','x', 1)\" 1 x",
        "SET x 2",
        "GET x",
        "MULTI",
        "GET x",
        "SET x 3",
        "EXEC",
        "MULTI",
        "GET x",
        "EXEC",
        "CONFIG SET min-replicas-max-lag 0",
        "SET x 4",
        "CONFIG SET min-replicas-max-lag 10",
        "CONFIG SET min-replicas-to-write 0",
        "SET x 5",
        "GET counter",
    ]);
}

#[test]
fn exec_on_a_replica_gone_stale_since_queueing_is_aborted() {
    // unit/multi "exec with read commands and stale replica state change" (the primary is
    // an address nothing answers on, so the link stays down).
    reference::assert_multi_client_same_as_redis(
        &[],
        &[
            "0 CONFIG SET replica-serve-stale-data no",
            "0 SET xx 1",
            "0 MULTI",
            "0 GET xx",
            "1 REPLICAOF 127.0.0.1 1",
            "0 EXEC",
            "1 REPLICAOF NO ONE",
            "0 MULTI",
            "0 PING",
            "1 REPLICAOF 127.0.0.1 1",
            "0 EXEC",
            "0 MULTI",
            "0 GET xx",
            "0 EXEC",
            "0 MULTI",
            "1 REPLICAOF NO ONE",
            "0 GET xx",
            "0 EXEC",
        ],
    );
}

#[test]
fn exec_holding_a_deny_oom_command_is_aborted_when_out_of_memory() {
    // unit/multi "EXEC with at least one use-memory command should fail" and "EXEC with
    // only read commands should not be rejected when OOM".
    reference::assert_multi_client_same_as_redis(
        &[],
        &[
            "0 SET x 1",
            "0 MULTI",
            "0 SET x 1",
            "0 GET x",
            "1 CONFIG SET maxmemory 1",
            "0 EXEC",
            "1 CONFIG SET maxmemory 0",
            "0 MULTI",
            "0 GET x",
            "1 CONFIG SET maxmemory 1",
            "0 EXEC",
            "1 CONFIG SET maxmemory 0",
            "0 GET x",
        ],
    );
}

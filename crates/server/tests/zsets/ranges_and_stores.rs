//! Rank, score and lex ranges (also of a large set against a model) and the
//! union / intersection / difference commands with their STORE forms.

use super::*;

#[test]
fn rank_score_and_lex_ranges() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(
        &mut c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "z", "-2", "-1"]), vec!["d", "e"]);
    assert_eq!(
        qs(&mut c, &["ZRANGE", "z", "10", "-1"]),
        Vec::<String>::new()
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "z", "-100", "0"]), vec!["a"]);
    assert_eq!(
        qs(&mut c, &["ZRANGE", "nokey", "0", "-1"]),
        Vec::<String>::new()
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "z", "0", "1", "REV", "WITHSCORES"]),
        vec!["e", "5", "d", "4"]
    );
    assert_eq!(
        qs(&mut c, &["ZREVRANGE", "z", "1", "2", "WITHSCORES"]),
        vec!["d", "4", "c", "3"]
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "z", "(1", "5", "BYSCORE"]),
        vec!["b", "c", "d", "e"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZRANGE", "z", "5", "(1", "BYSCORE", "REV", "LIMIT", "1", "2"]
        ),
        vec!["d", "c"]
    );
    assert_eq!(
        qs(
            &mut c,
            &[
                "ZRANGE",
                "z",
                "-inf",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "1",
                "2",
                "WITHSCORES"
            ]
        ),
        vec!["b", "2", "c", "3"]
    );
    // Negative count: no limit; negative offset: nothing.
    assert_eq!(
        qs(
            &mut c,
            &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "1", "-1"]
        ),
        vec!["b", "c", "d", "e"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZRANGEBYSCORE", "z", "0", "10", "LIMIT", "-1", "2"]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        qs(&mut c, &["ZRANGEBYSCORE", "z", "(1", "3", "WITHSCORES"]),
        vec!["b", "2", "c", "3"]
    );
    assert_eq!(
        qs(&mut c, &["ZRANGEBYSCORE", "z", "3", "1"]),
        Vec::<String>::new()
    );
    assert_eq!(
        qs(&mut c, &["ZRANGEBYSCORE", "z", "(3", "3"]),
        Vec::<String>::new()
    );
    assert_eq!(qs(&mut c, &["ZRANGEBYSCORE", "z", "3", "3"]), vec!["c"]);
    assert_eq!(
        qs(&mut c, &["ZREVRANGEBYSCORE", "z", "3", "1", "WITHSCORES"]),
        vec!["c", "3", "b", "2", "a", "1"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "0", "2"]
        ),
        vec!["e", "d"]
    );
    assert_eq!(q(&mut c, &["ZCOUNT", "z", "-inf", "+inf"]), Value::Int(5));
    assert_eq!(q(&mut c, &["ZCOUNT", "z", "(1", "3"]), Value::Int(2));
    assert_eq!(q(&mut c, &["ZCOUNT", "z", "(1", "(2"]), Value::Int(0));
    assert_eq!(q(&mut c, &["ZCOUNT", "nokey", "0", "1"]), Value::Int(0));

    q(
        &mut c,
        &[
            "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f",
        ],
    );
    assert_eq!(
        qs(&mut c, &["ZRANGEBYLEX", "l", "[b", "(e"]),
        vec!["b", "c", "d"]
    );
    assert_eq!(
        qs(&mut c, &["ZRANGEBYLEX", "l", "(b", "[e", "LIMIT", "1", "2"]),
        vec!["d", "e"]
    );
    assert_eq!(qs(&mut c, &["ZRANGEBYLEX", "l", "-", "+"]).len(), 6);
    assert_eq!(
        qs(&mut c, &["ZREVRANGEBYLEX", "l", "[e", "(b"]),
        vec!["e", "d", "c"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZREVRANGEBYLEX", "l", "(e", "-", "LIMIT", "1", "1"]
        ),
        vec!["c"]
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "l", "[c", "-", "BYLEX", "REV"]),
        vec!["c", "b", "a"]
    );
    assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "-", "+"]), Value::Int(6));
    assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "[b", "[d"]), Value::Int(3));
    assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "(b", "(d"]), Value::Int(1));
    assert_eq!(q(&mut c, &["ZLEXCOUNT", "l", "+", "-"]), Value::Int(0));

    // ZRANGESTORE: the result replaces the destination; an empty result deletes it.
    q(&mut c, &["HSET", "dst", "f", "v"]);
    assert_eq!(
        q(
            &mut c,
            &[
                "ZRANGESTORE",
                "dst",
                "z",
                "2",
                "1",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "1"
            ]
        ),
        Value::Int(1)
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        vec!["b", "2"]
    );
    assert_eq!(
        q(&mut c, &["ZRANGESTORE", "dst", "l", "[b", "[c", "BYLEX"]),
        Value::Int(2)
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "dst", "0", "-1"]), vec!["b", "c"]);
    assert_eq!(
        q(&mut c, &["ZRANGESTORE", "dst", "nokey", "0", "-1"]),
        Value::Int(0)
    );
    assert_eq!(q(&mut c, &["EXISTS", "dst"]), Value::Int(0));

    // ZREMRANGEBY*.
    assert_eq!(
        q(&mut c, &["ZREMRANGEBYRANK", "l", "0", "1"]),
        Value::Int(2)
    );
    assert_eq!(
        q(&mut c, &["ZREMRANGEBYLEX", "l", "[e", "+"]),
        Value::Int(2)
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "l", "0", "-1"]), vec!["c", "d"]);
    assert_eq!(q(&mut c, &["ZREMRANGEBYLEX", "l", "-", "+"]), Value::Int(2));
    assert_eq!(q(&mut c, &["EXISTS", "l"]), Value::Int(0));
    assert_eq!(
        q(&mut c, &["ZREMRANGEBYSCORE", "z", "(1", "3"]),
        Value::Int(2)
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "z", "0", "-1"]), vec!["a", "d", "e"]);
    assert_eq!(
        q(&mut c, &["ZREMRANGEBYRANK", "z", "-1", "-1"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut c, &["ZREMRANGEBYRANK", "nokey", "0", "1"]),
        Value::Int(0)
    );
    assert_eq!(
        s.cli(&["zrange", "z", "0", "-1", "withscores"]),
        "a\n1\nd\n4"
    );
}

#[test]
fn large_set_ranges_match_a_model() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    // 500 members with many equal scores (skiplist-sized in Redis).
    let mut model: Vec<(i64, String)> = Vec::new();
    let mut args = vec!["ZADD".to_string(), "big".to_string()];
    for i in 0..500 {
        let score = (i * 7919) % 50;
        let m = format!("m{:03}", i);
        args.push(score.to_string());
        args.push(m.clone());
        model.push((score, m));
    }
    model.sort();
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    assert_eq!(q(&mut c, &refs), Value::Int(500));
    assert_eq!(q(&mut c, &["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    let all = qs(&mut c, &["ZRANGE", "big", "0", "-1"]);
    let want: Vec<String> = model.iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(all, want);
    for (i, (_, m)) in model.iter().enumerate().step_by(37) {
        assert_eq!(q(&mut c, &["ZRANK", "big", m]), Value::Int(i as i64));
    }
    let got = qs(
        &mut c,
        &["ZRANGEBYSCORE", "big", "(10", "20", "LIMIT", "5", "30"],
    );
    let want: Vec<String> = model
        .iter()
        .filter(|(s, _)| *s > 10 && *s <= 20)
        .skip(5)
        .take(30)
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(got, want);
    let got = qs(&mut c, &["ZREVRANGE", "big", "100", "109"]);
    let want: Vec<String> = model
        .iter()
        .rev()
        .skip(100)
        .take(10)
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn union_inter_diff_and_store() {
    let s = TestServer::start(&[]);
    let mut c = s.conn();
    q(&mut c, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    q(&mut c, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    q(&mut c, &["SADD", "s", "x", "w", "q"]);
    q(&mut c, &["ZADD", "inf", "+inf", "x"]);
    assert_eq!(
        qs(&mut c, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
        vec!["x", "1", "y", "12", "z", "23", "w", "30"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZUNION", "2", "a", "b", "WEIGHTS", "2", "0.5", "WITHSCORES"]
        ),
        vec!["x", "2", "y", "9", "w", "15", "z", "16"]
    );
    assert_eq!(
        qs(
            &mut c,
            &["ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]
        ),
        vec!["x", "1", "y", "2", "z", "3", "w", "30"]
    );
    assert_eq!(
        qs(&mut c, &["ZUNION", "3", "a", "b", "s", "WITHSCORES"]),
        vec!["q", "1", "x", "2", "y", "12", "z", "23", "w", "31"]
    );
    assert_eq!(
        qs(&mut c, &["ZUNION", "2", "a", "nokey"]),
        vec!["x", "y", "z"]
    );
    assert_eq!(
        qs(&mut c, &["ZINTER", "2", "a", "b", "WITHSCORES"]),
        vec!["y", "12", "z", "23"]
    );
    assert_eq!(
        qs(
            &mut c,
            &[
                "ZINTER",
                "2",
                "a",
                "b",
                "WEIGHTS",
                "1",
                "2",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        vec!["y", "20", "z", "40"]
    );
    assert_eq!(
        qs(&mut c, &["ZINTER", "2", "a", "s", "WITHSCORES"]),
        vec!["x", "2"]
    );
    assert_eq!(
        qs(&mut c, &["ZINTER", "2", "a", "nokey"]),
        Vec::<String>::new()
    );
    assert_eq!(
        qs(&mut c, &["ZDIFF", "2", "a", "b", "WITHSCORES"]),
        vec!["x", "1"]
    );
    assert_eq!(
        qs(&mut c, &["ZDIFF", "2", "s", "a", "WITHSCORES"]),
        vec!["q", "1", "w", "1"]
    );
    // inf * 0 counts as 0; inf + -inf sums to 0.
    assert_eq!(
        qs(
            &mut c,
            &["ZUNION", "2", "a", "inf", "WEIGHTS", "0", "0", "WITHSCORES"]
        ),
        vec!["x", "0", "y", "0", "z", "0"]
    );
    assert_eq!(
        qs(
            &mut c,
            &[
                "ZUNION",
                "2",
                "inf",
                "inf",
                "WEIGHTS",
                "1",
                "-1",
                "WITHSCORES"
            ]
        ),
        vec!["x", "0"]
    );
    // Errors.
    assert_eq!(
        q_err(&mut c, &["ZUNION", "0", "a"]),
        "ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        q_err(&mut c, &["ZINTERSTORE", "d", "0", "a"]),
        "ERR at least 1 input key is needed for 'zinterstore' command"
    );
    assert_eq!(
        q_err(&mut c, &["ZUNION", "a", "a"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut c, &["ZUNION", "3", "a", "b"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZUNION", "1", "a", "WEIGHTS", "x"]),
        "ERR weight value is not a float"
    );
    assert_eq!(
        q_err(&mut c, &["ZUNION", "1", "a", "AGGREGATE", "foo"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZDIFF", "1", "a", "WEIGHTS", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"]),
        "ERR syntax error"
    );
    // STORE forms.
    assert_eq!(
        q(&mut c, &["ZUNIONSTORE", "d", "2", "a", "b"]),
        Value::Int(4)
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        vec!["x", "1", "y", "12", "z", "23", "w", "30"]
    );
    assert_eq!(
        q(
            &mut c,
            &["ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "-1"]
        ),
        Value::Int(2)
    );
    assert_eq!(
        qs(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        vec!["z", "-17", "y", "-8"]
    );
    assert_eq!(
        q(&mut c, &["ZDIFFSTORE", "d", "2", "a", "b"]),
        Value::Int(1)
    );
    assert_eq!(qs(&mut c, &["ZRANGE", "d", "0", "-1"]), vec!["x"]);
    assert_eq!(
        q(&mut c, &["ZINTERSTORE", "d", "2", "a", "nokey"]),
        Value::Int(0)
    );
    assert_eq!(q(&mut c, &["EXISTS", "d"]), Value::Int(0));
    // The destination may be one of the inputs.
    assert_eq!(
        q(&mut c, &["ZUNIONSTORE", "a", "2", "a", "a"]),
        Value::Int(3)
    );
    assert_eq!(q(&mut c, &["ZSCORE", "a", "z"]), bulk("6"));

    // ZINTERCARD.
    assert_eq!(q(&mut c, &["ZINTERCARD", "2", "a", "b"]), Value::Int(2));
    assert_eq!(
        q(&mut c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Value::Int(1)
    );
    assert_eq!(
        q(&mut c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        Value::Int(2)
    );
    assert_eq!(q(&mut c, &["ZINTERCARD", "2", "a", "s"]), Value::Int(1));
    assert_eq!(
        q_err(&mut c, &["ZINTERCARD", "0", "a"]),
        "ERR at least 1 input key is needed for 'zintercard' command"
    );
    assert_eq!(q_err(&mut c, &["ZINTERCARD", "2", "a"]), "ERR syntax error");
    assert_eq!(
        q_err(&mut c, &["ZINTERCARD", "1", "a", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        q_err(&mut c, &["ZINTERCARD", "1", "a", "WITHSCORES"]),
        "ERR syntax error"
    );
}

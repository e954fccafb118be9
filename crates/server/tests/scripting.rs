//! Scripting with real clients and real processes: the `redis` crate's `Script` (EVALSHA
//! with the NOSCRIPT fallback), busy scripts (-BUSY for others, SCRIPT KILL, FUNCTION KILL,
//! UNKILLABLE after a write, SHUTDOWN NOSAVE), effects replication to a replica and the AOF
//! for non-deterministic scripts, and function libraries surviving RDB/AOF restarts and
//! travelling between rubra-server and redis-server 7.0 (RDB files, FUNCTION DUMP/RESTORE).

mod common;
mod reference;
use common::cluster::{make_cluster, slot_ports};
use common::*;
use redis::Value;
use reference::Reference;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every key of db 0 with its value rendered type by type (sets and hashes sorted), so two
/// servers with the same data compare equal whatever their internal orders.
fn dataset(port: u16) -> BTreeMap<String, String> {
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("KEYS");
    let mut out = BTreeMap::new();
    for k in keys {
        let ty: String = redis::cmd("TYPE").arg(&k).query(&mut c).expect("TYPE");
        let v = match ty.as_str() {
            "string" => redis::cmd("GET")
                .arg(&k)
                .query::<String>(&mut c)
                .expect("GET"),
            "list" => redis::cmd("LRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query::<Vec<String>>(&mut c)
                .expect("LRANGE")
                .join(","),
            "set" => {
                let mut m: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(&k)
                    .query(&mut c)
                    .expect("SMEMBERS");
                m.sort();
                m.join(",")
            }
            "hash" => {
                let m: BTreeMap<String, String> = redis::cmd("HGETALL")
                    .arg(&k)
                    .query(&mut c)
                    .expect("HGETALL");
                format!("{m:?}")
            }
            "zset" => redis::cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query::<Vec<String>>(&mut c)
                .expect("ZRANGE")
                .join(","),
            other => format!("<{other}>"),
        };
        out.insert(k, v);
    }
    out
}

#[test]
fn redis_crate_script_uses_evalsha_and_falls_back_to_eval() {
    let server = TestServer::start(&[]);
    let mut c = server.conn();
    let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1]) * 2");
    let first: i64 = script.key("counter").arg(5).invoke(&mut c).expect("invoke");
    assert_eq!(first, 10);
    // Now cached: the crate's EVALSHA succeeds directly.
    assert_eq!(
        q(&mut c, &["SCRIPT", "EXISTS", script.get_hash()]),
        Value::Array(vec![Value::Int(1)])
    );
    let second: i64 = script.key("counter").arg(1).invoke(&mut c).expect("invoke");
    assert_eq!(second, 12);
    // After a flush the crate gets NOSCRIPT and loads it again, transparently.
    assert_eq!(q(&mut c, &["SCRIPT", "FLUSH"]), Value::Okay);
    let third: i64 = script.key("counter").arg(1).invoke(&mut c).expect("invoke");
    assert_eq!(third, 14);
}

#[test]
fn busy_script_gets_busy_replies_and_script_kill_ends_it() {
    let server = TestServer::start(&[]);
    let mut admin = server.conn();
    // The old name still works, as in Redis.
    assert_eq!(
        q(&mut admin, &["CONFIG", "SET", "lua-time-limit", "100"]),
        Value::Okay
    );
    assert_eq!(
        q(&mut admin, &["CONFIG", "GET", "busy-reply-threshold"]),
        Value::Array(vec![
            Value::BulkString(b"busy-reply-threshold".to_vec()),
            Value::BulkString(b"100".to_vec())
        ])
    );
    let url = server.url();
    let runner = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        q_err(
            &mut c,
            &["EVAL", "local i = 0 while true do i = i + 1 end", "0"],
        )
    });
    // Clients connected before and after the script started both get -BUSY.
    wait_for("-BUSY", 10, || {
        let reply = server.cli(&["PING"]);
        reply.starts_with("BUSY")
    });
    assert_eq!(
        q_err(&mut admin, &["GET", "x"]),
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    // FUNCTION KILL does not stop an EVAL script.
    assert!(q_err(&mut admin, &["FUNCTION", "KILL"]).starts_with("BUSY"));
    assert_eq!(server.cli(&["SCRIPT", "KILL"]), "OK");
    let err = runner.join().expect("runner");
    assert!(
        err.starts_with("ERR Script killed by user with SCRIPT KILL..."),
        "{err}"
    );
    assert_eq!(q(&mut admin, &["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(
        server.cli(&["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
}

#[test]
fn a_script_caught_in_pcall_loops_is_still_killed() {
    let server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let url = server.url();
    let runner = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        q_err(
            &mut c,
            &[
                "EVAL",
                "while true do pcall(function() while true do end end) end",
                "0",
            ],
        )
    });
    wait_for("-BUSY", 10, || server.cli(&["PING"]).starts_with("BUSY"));
    assert_eq!(server.cli(&["SCRIPT", "KILL"]), "OK");
    let err = runner.join().expect("runner");
    assert!(err.contains("Script killed by user"), "{err}");
}

#[test]
fn function_kill_stops_a_busy_function() {
    let server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let mut admin = server.conn();
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(
        q(&mut admin, &["FUNCTION", "LOAD", lib]),
        Value::BulkString(b"spin".to_vec())
    );
    let url = server.url();
    let runner = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        q_err(&mut c, &["FCALL", "spin", "0"])
    });
    wait_for("-BUSY", 10, || server.cli(&["PING"]).starts_with("BUSY"));
    assert_eq!(
        server.cli(&["PING"]),
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    );
    assert!(server.cli(&["SCRIPT", "KILL"]).starts_with("BUSY"));
    assert_eq!(server.cli(&["FUNCTION", "KILL"]), "OK");
    let err = runner.join().expect("runner");
    assert!(err.contains("Script killed by user"), "{err}");
    assert_eq!(server.cli(&["PING"]), "PONG");
}

#[test]
fn after_a_kill_scripts_run_to_the_end_and_can_be_killed_again() {
    // The busy hook stays installed between runs; a kill, and FUNCTION LOAD's own hook,
    // replace it for a while. Neither may leak into the next run or disarm it.
    let server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let mut admin = server.conn();
    // About a million Lua instructions: the hook fires several times during it.
    let long = "local n = 0 for i = 1, 300000 do n = n + 1 end return n";
    for round in 0..2 {
        if round == 1 {
            let lib = "#!lua name=l\nredis.register_function('f', function() return 1 end)";
            assert_eq!(
                q(&mut admin, &["FUNCTION", "LOAD", lib]),
                Value::BulkString(b"l".to_vec())
            );
        }
        let url = server.url();
        let runner = std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            q_err(&mut c, &["EVAL", "while true do end", "0"])
        });
        wait_for("-BUSY", 10, || server.cli(&["PING"]).starts_with("BUSY"));
        assert_eq!(server.cli(&["SCRIPT", "KILL"]), "OK", "round {round}");
        let err = runner.join().expect("runner");
        assert!(
            err.contains("Script killed by user"),
            "round {round}: {err}"
        );
        assert_eq!(q(&mut admin, &["EVAL", long, "0"]), Value::Int(300000));
    }
}

#[test]
fn a_script_that_wrote_is_unkillable_until_shutdown_nosave() {
    let mut server = TestServer::start(&["--busy-reply-threshold", "100"]);
    let url = server.url();
    let runner = std::thread::spawn(move || {
        let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _ = redis::cmd("EVAL")
            .arg("redis.call('set','x','1') while true do end")
            .arg(0)
            .query::<Value>(&mut c);
    });
    wait_for("-BUSY", 10, || server.cli(&["PING"]).starts_with("BUSY"));
    assert!(server
        .cli(&["SCRIPT", "KILL"])
        .starts_with("UNKILLABLE Sorry the script already executed write commands"));
    let _ = server.cli(&["SHUTDOWN", "NOSAVE"]);
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    runner.join().expect("runner");
}

/// Non-deterministic scripts (TIME, SPOP, math.random) and functions, run on a primary with
/// an AOF and a replica: the replica, the AOF reload and an RDB reload all hold the same
/// data, because the effects (not the scripts) were propagated, wrapped in MULTI/EXEC.
#[test]
fn script_effects_reach_the_replica_the_aof_and_the_rdb() {
    let mut primary = TestServer::start(&["--appendonly", "yes"]);
    let replica = TestServer::start(&[]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the link", 15, || {
        replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    let mut p = primary.conn();
    let lib = "#!lua name=jobs\nredis.register_function('push', function(keys, args) local t = redis.call('time') return redis.call('rpush', keys[1], args[1] .. '@' .. t[1] .. t[2]) end)";
    q(&mut p, &["FUNCTION", "LOAD", lib]);
    q(
        &mut p,
        &["SADD", "pool", "a", "b", "c", "d", "e", "f", "g", "h"],
    );
    for i in 0..40 {
        let k = format!("t{i}");
        q(&mut p, &["EVAL", "local t = redis.call('time') redis.call('set', KEYS[1], t[1] .. '.' .. t[2] .. '/' .. math.random()) return 1", "1", &k]);
        q(&mut p, &["EVAL", "local m = redis.call('spop', KEYS[1]) if m then redis.call('rpush', KEYS[2], m) end return m", "2", "pool", "popped"]);
        q(&mut p, &["FCALL", "push", "1", "queue", &i.to_string()]);
        q(&mut p, &["EVAL", "redis.call('hset', KEYS[1], ARGV[1], redis.call('srandmember', KEYS[2]) or 'none')", "2", "h", "pool", &k]);
    }
    // set_repl(REPL_NONE): that write stays local to the primary.
    q(&mut p, &["EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set','local-only','1') redis.set_repl(redis.REPL_ALL) redis.call('set','replicated','1')", "0"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    let mut expected = dataset(primary.port);
    assert_eq!(expected.remove("local-only").as_deref(), Some("1"));
    wait_for("the replica to catch up", 10, || {
        dataset(replica.port) == expected
    });
    assert!(replica.cli(&["FUNCTION", "LIST"]).contains("jobs"));
    // The AOF holds effects in MULTI/EXEC, never the scripts themselves.
    let aof = aof_incr_bytes(&primary.dir);
    let aof = String::from_utf8_lossy(&aof);
    assert!(aof.contains("MULTI") && aof.contains("EXEC"));
    assert!(!aof.contains("EVAL") && !aof.contains("FCALL"));
    // AOF reload.
    assert!(primary.restart(Some(&["--appendonly", "yes"])));
    assert_eq!(dataset(primary.port), expected);
    assert_eq!(primary.cli(&["FCALL", "push", "1", "queue", "after"]), "41");
    // RDB reload: the functions section brings the library back.
    assert_eq!(primary.cli(&["SAVE"]), "OK");
    let saved = dataset(primary.port);
    assert!(primary.restart(Some(&[])));
    assert_eq!(dataset(primary.port), saved);
    assert!(primary.cli(&["FUNCTION", "LIST"]).contains("jobs"));
}

#[test]
fn function_libraries_move_between_rubra_and_redis_server() {
    let rubra = TestServer::start(&[]);
    let lib = "#!lua name=shared\nredis.register_function{function_name='hello', callback=function(keys, args) return 'hello ' .. args[1] end, flags={'no-writes'}, description='greets'}";
    assert_eq!(rubra.cli(&["FUNCTION", "LOAD", lib]), "shared");
    assert_eq!(rubra.cli(&["SET", "k", "v"]), "OK");
    assert_eq!(rubra.cli(&["SAVE"]), "OK");
    // redis-server loads rubra's RDB, functions included.
    let reference = Reference::start_from_rdb(&rubra.dir.join("dump.rdb"));
    assert_eq!(
        cli_at(reference.port, &["FCALL_RO", "hello", "0", "redis"]),
        "hello redis"
    );
    assert_eq!(cli_at(reference.port, &["GET", "k"]), "v");
    // And the other way: a library made by redis-server, through FUNCTION DUMP/RESTORE.
    let lib2 = "#!lua name=theirs\nredis.register_function('twice', function(keys, args) return tonumber(args[1]) * 2 end)";
    assert_eq!(
        cli_at(reference.port, &["FUNCTION", "LOAD", lib2]),
        "theirs"
    );
    let mut rc = redis::Client::open(format!("redis://127.0.0.1:{}/", reference.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let payload: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut rc)
        .expect("dump");
    let mut c = rubra.conn();
    let restored: Value = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&payload)
        .arg("REPLACE")
        .query(&mut c)
        .expect("restore");
    assert_eq!(restored, Value::Okay);
    assert_eq!(text(&q(&mut c, &["FCALL", "twice", "0", "21"])), "42");
    // Our dump restores on redis-server too.
    let ours: Vec<u8> = redis::cmd("FUNCTION")
        .arg("DUMP")
        .query(&mut c)
        .expect("dump");
    let back: Value = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&ours)
        .arg("FLUSH")
        .query(&mut rc)
        .expect("restore on redis-server");
    assert_eq!(back, Value::Okay);
    assert_eq!(text(&q(&mut rc, &["FCALL", "twice", "0", "4"])), "8");
}

/// Cluster mode: declared keys are routed like any command's (MOVED, CROSSSLOT), and a
/// script that reaches an undeclared key elsewhere, or in a second slot, fails as in Redis.
#[test]
fn cluster_mode_routes_declared_keys_and_checks_undeclared_ones() {
    let nodes = make_cluster(3, 0, &[]);
    let ports = slot_ports(&nodes[0]);
    let slot = |k: &str| {
        let mut c = nodes[0].conn();
        match q(&mut c, &["CLUSTER", "KEYSLOT", k]) {
            Value::Int(s) => s as usize,
            other => panic!("{other:?}"),
        }
    };
    let me = &nodes[0];
    // Keys served here, in two different slots, and one served elsewhere.
    let mine: Vec<String> = (0..1000)
        .map(|i| format!("k{i}"))
        .filter(|k| ports[slot(k)] == me.port)
        .fold(Vec::new(), |mut acc: Vec<String>, k| {
            if acc.len() < 2 && acc.iter().all(|x| slot(x) != slot(&k)) {
                acc.push(k);
            }
            acc
        });
    let (a, b) = (&mine[0], &mine[1]);
    assert_ne!(slot(a), slot(b));
    let other = (0..1000)
        .map(|i| format!("o{i}"))
        .find(|k| ports[slot(k)] != me.port)
        .expect("a remote key");
    let script = "return redis.call('set', KEYS[1], 'v')";
    assert_eq!(me.cli(&["EVAL", script, "1", a]), "OK");
    assert!(me.cli(&["EVAL", script, "1", &other]).starts_with("MOVED"));
    assert!(me
        .cli(&["EVAL", "return 1", "2", a, b])
        .starts_with("CROSSSLOT"));
    let undeclared_remote = me.cli(&["EVAL", &format!("return redis.call('get', '{other}')"), "0"]);
    assert!(
        undeclared_remote.starts_with(
            "ERR Script attempted to access a non local key in a cluster node script:"
        ),
        "{undeclared_remote}"
    );
    // Undeclared keys in a second slot: refused for scripts with a shebang, allowed with
    // allow-cross-slot-keys and for pre-7.0 scripts (no shebang), as in Redis.
    let two_slots = format!("redis.call('get', KEYS[1]) return redis.call('get', '{b}')");
    let out = me.cli(&["EVAL", &format!("#!lua\n{two_slots}"), "1", a]);
    assert!(
        out.starts_with(
            "ERR Script attempted to access keys that do not hash to the same slot script:"
        ),
        "{out}"
    );
    let allowed = format!("#!lua flags=allow-cross-slot-keys\n{two_slots}");
    assert_eq!(me.cli(&["EVAL", &allowed, "1", a]), "");
    assert_eq!(me.cli(&["EVAL", &two_slots, "1", a]), "");
    assert_eq!(
        me.cli(&["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]),
        "ERR Can not run script on cluster, 'no-cluster' flag is set."
    );
}

/// A reply that is not an error (q turns errors into "ERR-CLIENT ..." values).
fn must(v: Value) -> Value {
    if let Value::SimpleString(s) = &v {
        assert!(!s.starts_with("ERR-CLIENT"), "{s}");
    }
    v
}

/// A primary with an AOF and a replica, the replica's link up.
fn primary_with_aof_and_replica() -> (TestServer, TestServer) {
    let primary = TestServer::start(&["--appendonly", "yes"]);
    let replica = TestServer::start(&[]);
    let pport = primary.port.to_string();
    assert_eq!(replica.cli(&["REPLICAOF", "127.0.0.1", &pport]), "OK");
    wait_for("the link", 15, || {
        replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    (primary, replica)
}

/// redis.set_repl (Redis 7.0): a script's writes go only to the targets named when they
/// were made — REPL_AOF to the AOF alone, REPL_REPLICA (REPL_SLAVE) to replicas alone,
/// REPL_NONE nowhere, REPL_ALL to both — each still inside the script's MULTI/EXEC.
#[test]
fn set_repl_sends_effects_only_to_the_named_targets() {
    let (mut primary, replica) = primary_with_aof_and_replica();
    let mut p = primary.conn();
    q(&mut p, &["SET", "before", "1"]);
    let script = "redis.set_repl(redis.REPL_AOF) redis.call('set','aof-only','1') \
        redis.set_repl(redis.REPL_REPLICA) redis.call('set','replica-only','1') \
        redis.set_repl(redis.REPL_NONE) redis.call('set','nowhere','1') \
        redis.set_repl(redis.REPL_SLAVE) redis.call('incr','replica-counter') \
        redis.set_repl(redis.REPL_ALL) redis.call('set','everywhere','1') \
        redis.set_repl(redis.REPL_AOF) redis.call('select', 3) redis.call('set','aof-db3','1') \
        redis.set_repl(redis.REPL_REPLICA) redis.call('set','replica-db3','1') \
        redis.set_repl(redis.REPL_ALL) redis.call('select', 0) redis.call('set','after','1')";
    q(&mut p, &["EVAL", script, "0"]);
    q(&mut p, &["SET", "plain", "1"]);
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    let keys = |port: u16, db: &str| -> Vec<String> {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/{db}"))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
            .expect("connect");
        let mut k: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut c).expect("KEYS");
        k.sort();
        k
    };
    let all = [
        "after",
        "aof-only",
        "before",
        "everywhere",
        "nowhere",
        "plain",
        "replica-counter",
        "replica-only",
    ];
    assert_eq!(keys(primary.port, "0"), all);
    assert_eq!(keys(primary.port, "3"), ["aof-db3", "replica-db3"]);
    let on_replica = [
        "after",
        "before",
        "everywhere",
        "plain",
        "replica-counter",
        "replica-only",
    ];
    wait_for("the replica", 10, || keys(replica.port, "0") == on_replica);
    assert_eq!(keys(replica.port, "3"), ["replica-db3"]);
    // The AOF holds what was sent to it: reloading it gives exactly that.
    assert!(primary.restart(Some(&["--appendonly", "yes"])));
    assert_eq!(
        keys(primary.port, "0"),
        ["after", "aof-only", "before", "everywhere", "plain"]
    );
    assert_eq!(keys(primary.port, "3"), ["aof-db3"]);
}

/// Non-deterministic scripts (TIME, SPOP, SRANDMEMBER, math.random, a function reading
/// TIME) from several clients at once, interleaved with plain writes, on a primary with an
/// AOF and a replica: the replica, an AOF reload and an RDB reload all hold the same data,
/// key by key and value by value.
#[test]
fn non_deterministic_scripts_under_load_leave_replica_aof_and_rdb_equal() {
    let (mut primary, replica) = primary_with_aof_and_replica();
    let mut p = primary.conn();
    let lib = "#!lua name=clock\nredis.register_function('stamp', function(keys, args) local t = redis.call('time') redis.call('zadd', keys[1], t[1] * 1000000 + t[2], args[1]) return redis.call('zcard', keys[1]) end)";
    q(&mut p, &["FUNCTION", "LOAD", lib]);
    let members: Vec<String> = (0..600).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "pool"];
    sadd.extend(members.iter().map(String::as_str));
    q(&mut p, &sadd);
    let port = primary.port;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|c| c.get_connection())
                    .expect("connect");
                for i in 0..120 {
                    let k = format!("w{w}:{i}");
                    must(q(&mut c, &["EVAL", "local t = redis.call('time') redis.call('set', KEYS[1], t[1] .. '.' .. t[2] .. '/' .. math.random()) return 1", "1", &k]));
                    must(q(&mut c, &["EVAL", "local m = redis.call('spop', KEYS[1]) if m then redis.call('rpush', KEYS[2], m) end return m", "2", "pool", "popped"]));
                    must(q(&mut c, &["EVAL", "redis.call('hset', KEYS[1], ARGV[1], redis.call('srandmember', KEYS[2]) or 'none') return 1", "2", "picks", "pool", &k]));
                    must(q(&mut c, &["EVAL", "return redis.call('incrbyfloat', KEYS[1], math.random())", "1", "float"]));
                    must(q(&mut c, &["FCALL", "stamp", "1", "stamps", &k]));
                    must(q(&mut c, &["INCR", "plain-counter"]));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(q(&mut p, &["WAIT", "1", "5000"]), Value::Int(1));
    let expected = dataset(primary.port);
    let shared: Vec<&String> = expected.keys().filter(|k| !k.starts_with('w')).collect();
    assert_eq!(
        shared,
        [
            "float",
            "picks",
            "plain-counter",
            "pool",
            "popped",
            "stamps"
        ],
        "the shared keys"
    );
    assert_eq!(
        expected.len(),
        4 * 120 + 6,
        "every worker key plus the shared ones"
    );
    // (WAIT's acknowledgement can come before the replica applied the last bytes.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = dataset(replica.port);
        if got == expected {
            break;
        }
        if Instant::now() >= deadline {
            let differing: Vec<String> = expected
                .keys()
                .chain(got.keys())
                .filter(|k| expected.get(*k) != got.get(*k))
                .map(|k| {
                    format!(
                        "{k}: primary {:?} replica {:?}",
                        expected.get(k),
                        got.get(k)
                    )
                })
                .collect();
            panic!("the replica does not match the primary: {differing:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(primary.restart(Some(&["--appendonly", "yes"])));
    assert_eq!(dataset(primary.port), expected, "after an AOF reload");
    assert_eq!(primary.cli(&["SAVE"]), "OK");
    assert!(primary.restart(Some(&[])));
    assert_eq!(dataset(primary.port), expected, "after an RDB reload");
}

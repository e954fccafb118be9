//! ACL (Redis 7.0 with selectors), differential against redis-server 7.0: the same scripts
//! on both, byte-identical replies in RESP2 and RESP3 (user rules, descriptions, errors,
//! DRYRUN, NOPERM on real commands, AUTH as another user); and the start-up paths
//! (requirepass as the default user's password, `user` directives, HELLO AUTH).

mod common;
mod reference;
use common::*;
use reference::{assert_same_as_redis, RawConn, Reference};

/// Redis lists single-command rules and ACL CAT members in its hash table's order, which
/// is seeded at random per process: for those replies the words (and RESP framing) must be
/// the same, in any order. Setup lines start with `!` and are not compared.
fn same_words_as_redis(script: &[&str]) {
    let rubra = TestServer::start(&[]);
    let redis = Reference::start();
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    for line in script {
        let (compare, cmd) = match line.strip_prefix('!') {
            Some(rest) => (false, rest),
            None => (true, *line),
        };
        let (x, y) = (a.call(cmd), b.call(cmd));
        if compare {
            let words = |r: &[u8]| {
                let mut w: Vec<String> = String::from_utf8_lossy(r)
                    .split(['\r', '\n', ' '])
                    .map(str::to_string)
                    .collect();
                w.sort();
                w
            };
            assert_eq!(
                words(&x),
                words(&y),
                "{cmd}: {:?} vs {:?}",
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y)
            );
        }
    }
}

#[test]
fn acl_unordered_parts() {
    same_words_as_redis(&[
        "!ACL SETUSER alice on >pw ~k* %R~r* %W~w* &ch +get +@hash -hdel (+set ~s*)",
        "ACL GETUSER alice",
        "ACL LIST",
        "!ACL SETUSER bob -@all +@read -get +config|get",
        "ACL GETUSER bob",
        "!ACL SETUSER dave +@all -@write -@dangerous allchannels",
        "ACL GETUSER dave",
        "ACL CAT geo",
        "ACL CAT hyperloglog",
        "ACL CAT scripting",
        "ACL CAT dangerous",
        "!ACL SETUSER frank +client -client|kill +select|0",
        "ACL GETUSER frank",
    ]);
}

const RULES: &[&str] = &[
    "ACL LIST",
    "ACL USERS",
    "ACL WHOAMI",
    "ACL GETUSER default",
    "ACL GETUSER nobody",
    "ACL SETUSER alice on >pw ~k* %R~r* %W~w* &ch +get +@hash -hdel (+set ~s*)",
    "!ACL GETUSER alice",
    "!ACL LIST",
    "ACL SETUSER alice >second <pw",
    "!ACL GETUSER alice",
    "ACL SETUSER alice <nope",
    "ACL SETUSER alice #0123",
    "ACL SETUSER alice #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "!ACL GETUSER alice",
    "ACL SETUSER alice !5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
    "ACL SETUSER bob -@all +@read -get +config|get",
    "!ACL GETUSER bob",
    "ACL SETUSER carol +@all -@dangerous",
    "ACL GETUSER carol",
    "ACL SETUSER dave +@all -@write -@dangerous allchannels",
    "!ACL GETUSER dave",
    "ACL SETUSER erin +@all -@all +@string",
    "ACL GETUSER erin",
    "ACL SETUSER frank +client|id +client|info",
    "ACL SETUSER frank +client -client|kill",
    "ACL GETUSER frank",
    "ACL SETUSER frank +select|0",
    "!ACL GETUSER frank",
    "ACL SETUSER x %X~a",
    "ACL SETUSER x allkeys ~b",
    "ACL SETUSER x allchannels &b",
    "ACL SETUSER x +nosuchcommand",
    "ACL SETUSER x +@nosuchcategory",
    "ACL SETUSER x +config|",
    "ACL SETUSER x +config|get|a",
    "ACL SETUSER x (~a",
    "ACL SETUSER x \"(~a +get\"",
    "ACL SETUSER \"bad name\"",
    "ACL SETUSER x foo",
    "ACL USERS",
    "ACL DRYRUN alice get k1",
    "ACL DRYRUN alice get x",
    "ACL DRYRUN alice set s1 v",
    "ACL DRYRUN alice set k1 v",
    "ACL DRYRUN alice set r1 v",
    "ACL DRYRUN alice get r1",
    "ACL DRYRUN alice get w1",
    "ACL DRYRUN alice hset k1 f v",
    "ACL DRYRUN alice hdel k1 f",
    "ACL DRYRUN alice publish ch m",
    "ACL DRYRUN alice publish other m",
    "ACL DRYRUN alice config get x",
    "ACL DRYRUN bob config get x",
    "ACL DRYRUN bob config set x y",
    "ACL DRYRUN nobody get x",
    "ACL DRYRUN alice nosuch x",
    "ACL DRYRUN alice get",
    "ACL DRYRUN alice config get",
    "ACL CAT",
    "!ACL CAT geo",
    "ACL CAT nope",
    "ACL GENPASS 0",
    "ACL GENPASS 5000",
    "ACL GENPASS x",
    "ACL DELUSER default",
    "ACL DELUSER carol nobody",
    "ACL USERS",
    "ACL SAVE",
    "ACL LOAD",
    "ACL FOO",
    "ACL",
    "ACL LOG RESET",
    "ACL LOG",
];

#[test]
fn acl_rules_resp2() {
    assert_same_as_redis(RULES);
}

#[test]
fn acl_rules_resp3() {
    let mut script = vec!["!HELLO 3"];
    script.extend_from_slice(RULES);
    assert_same_as_redis(&script);
}

/// Commands run as a restricted user: NOPERM texts, and what is still allowed.
const AS_USER: &[&str] = &[
    "ACL SETUSER alice on >pw ~k* %R~r* &ch +get +set +publish +subscribe +psubscribe +@connection (+lpush ~l*)",
    "SET r1 readable",
    "AUTH alice wrong",
    "AUTH nobody pw",
    "AUTH alice pw",
    "ACL WHOAMI",
    "GET k1",
    "SET k1 v",
    "GET k1",
    "GET r1",
    "SET r1 v",
    "GET x",
    "LPUSH l1 a",
    "LPUSH k1 a",
    "DEL k1",
    "CONFIG GET maxmemory",
    "AUTH default anything",
    "ACL SETUSER bob on >pw ~* +config|get +object|encoding +client|setname",
    "AUTH bob pw",
    "CONFIG Get maxmemory",
    "config GET maxmemory",
    "CONFIG SET maxmemory 1",
    "OBJECT eNcOdInG r1",
    "OBJECT FREQ r1",
    "CLIENT SETNAME bob",
    "CLIENT SETNAMEXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX bob",
    "CLIENT Ünknown",
    "AUTH alice pw",
    "PUBLISH ch hello",
    "PUBLISH other hello",
    "MULTI",
    "GET k1",
    "DEL k1",
    "EXEC",
    "AUTH default anything",
    "ACL WHOAMI",
];

#[test]
fn acl_permissions_resp2() {
    assert_same_as_redis(AS_USER);
}

#[test]
fn acl_permissions_resp3() {
    let mut script = vec!["!HELLO 3"];
    script.extend_from_slice(AS_USER);
    assert_same_as_redis(&script);
}

/// An unknown command, a container's unknown subcommand or a wrong subcommand arity is
/// refused before authentication, as Redis's command lookup does, with its texts cut as
/// Redis cuts them; from a script and in ACL DRYRUN an unknown subcommand is no command.
#[test]
fn lookup_faults_come_before_auth() {
    let (a, b, c) = ("a".repeat(100), "b".repeat(100), "c".repeat(200));
    let long = [
        format!("NOSUCH {a} {b}"),
        format!("NOSUCH {c}"),
        format!("{c}{c}"),
        format!("CONFIG {c}"),
    ];
    let mut script: Vec<&str> = long.iter().map(String::as_str).collect();
    script.extend_from_slice(&[
        "NOSUCH a b",
        "NOSUCH a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9",
        "NOSUCH \"a\\x00b\" \"c\\r\\nd\"",
        "CONFIG \"x\\x00y\"",
        // Bytes that are not UTF-8 go back as they came.
        "\"\\xff\\xfe\" \"a\\xe9b\"",
        "CONFIG \"\\xc3(\"",
        "OBJECT \"\\xff\"",
        "SCRIPT \"\\xff\"",
        "FUNCTION \"\\xff\"",
        "!CONFIG SET requirepass pw",
        // RESET leaves the connection as a new one: not authenticated.
        "RESET",
        "CONFIG FOO",
        "CONFIG GET",
        "CONFIG",
        "CLIENT BLAH x",
        "OBJECT nope k",
        "XINFO zz",
        "COMMAND nothing",
        "ACL foo",
        "NOSUCH x",
        "GET",
        "GET a",
        "MULTI",
        "AUTH pw",
        "CONFIG FOO",
        "CLIENT Ünknown",
        "SCRIPT nope",
        "FUNCTION nope",
        "MULTI",
        "CONFIG FOO",
        "PING",
        "EXEC",
        "EVAL \"return redis.pcall('config','foo')\" 0",
        "EVAL \"return redis.pcall('config','get')\" 0",
        "EVAL \"return redis.pcall('object','foo','x')\" 0",
        "EVAL \"return redis.pcall('config','get','maxmemory')\" 0",
        "ACL DRYRUN default config foo",
        "ACL DRYRUN default config get",
        "ACL DRYRUN default config get x",
        "!CONFIG SET requirepass \"\"",
    ]);
    assert_same_as_redis(&script);
}

/// `requirepass` is the default user's password; AUTH forms and HELLO AUTH.
#[test]
fn requirepass_is_the_default_users_password() {
    let s = TestServer::start(&[
        "--requirepass",
        "secret",
        "--user",
        "ann",
        "on",
        ">annpw",
        "~a*",
        "+@all",
    ]);
    let mut c = s.conn();
    assert_eq!(
        q_err(&mut c, &["GET", "a"]),
        "NOAUTH Authentication required."
    );
    assert_eq!(
        q_err(&mut c, &["AUTH", "nope"]).split(' ').next(),
        Some("WRONGPASS")
    );
    assert_eq!(q(&mut c, &["AUTH", "secret"]), redis::Value::Okay);
    assert_eq!(
        q(&mut c, &["ACL", "WHOAMI"]),
        redis::Value::BulkString(b"default".to_vec())
    );
    let list = q(&mut c, &["ACL", "LIST"]);
    let text = format!("{list:?}");
    // sha256("secret")
    assert!(
        text.contains("2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"),
        "{text}"
    );
    assert!(text.contains("user ann on #"), "{text}");
    let mut d = s.conn();
    let hello = q(&mut d, &["HELLO", "3", "AUTH", "ann", "annpw"]);
    assert!(format!("{hello:?}").contains("proto"), "{hello:?}");
    assert_eq!(
        q(&mut d, &["ACL", "WHOAMI"]),
        redis::Value::BulkString(b"ann".to_vec())
    );
    assert_eq!(q(&mut d, &["SET", "a1", "v"]), redis::Value::Okay);
    assert_eq!(
        q_err(&mut d, &["SET", "b1", "v"]),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    // CONFIG SET requirepass changes the default user's password.
    assert_eq!(
        q(&mut c, &["CONFIG", "SET", "requirepass", "other"]),
        redis::Value::Okay
    );
    let mut e = s.conn();
    assert_eq!(
        q_err(&mut e, &["AUTH", "secret"]).split(' ').next(),
        Some("WRONGPASS")
    );
    assert_eq!(q(&mut e, &["AUTH", "other"]), redis::Value::Okay);
    // ACL DELUSER closes the deleted user's connections.
    assert_eq!(q(&mut c, &["ACL", "DELUSER", "ann"]), redis::Value::Int(1));
    // The close may follow DELUSER's reply: poll until the connection fails, then assert.
    let closed = |v: redis::Value| matches!(v, redis::Value::SimpleString(ref s) if s.starts_with("ERR-CLIENT"));
    common::cluster::wait_for(std::time::Duration::from_secs(10), || {
        closed(q(&mut d, &["PING"]))
    });
    assert!(closed(q(&mut d, &["PING"])));
}

/// ACL LOG records denied commands, keys and failed AUTHs as Redis does.
#[test]
fn acl_log_entries() {
    let s = TestServer::start(&[]);
    let mut admin = s.conn();
    q(
        &mut admin,
        &["ACL", "SETUSER", "u", "on", ">p", "~k*", "+get"],
    );
    let mut c = s.conn();
    let _ = q_err(&mut c, &["AUTH", "u", "bad"]);
    q(&mut c, &["AUTH", "u", "p"]);
    let _ = q_err(&mut c, &["GET", "x"]);
    let _ = q_err(&mut c, &["SET", "k", "v"]);
    let _ = q_err(&mut c, &["SET", "k", "v"]);
    let cli = s.cli(&["ACL", "LOG"]);
    let lines: Vec<&str> = cli.lines().collect();
    // Newest first: the grouped SET (count 2), the key, the auth failure.
    assert_eq!(
        &lines[0..6],
        &["count", "2", "reason", "command", "context", "toplevel"]
    );
    assert_eq!(&lines[6..10], &["object", "set", "username", "u"]);
    assert!(
        cli.contains("reason\nkey\ncontext\ntoplevel\nobject\nx\nusername\nu"),
        "{cli}"
    );
    assert!(
        cli.contains("reason\nauth\ncontext\ntoplevel\nobject\nAUTH\nusername\nu"),
        "{cli}"
    );
    assert_eq!(s.cli(&["ACL", "LOG", "RESET"]), "OK");
    assert_eq!(s.cli(&["ACL", "LOG"]), "");
}

/// ACL SAVE / ACL LOAD with an aclfile, and users loaded from it at start-up.
#[test]
fn aclfile_save_and_load() {
    let dir = std::env::temp_dir().join(format!("rubra-aclfile-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser zed on >zpw ~z* +get\n",
    )
    .unwrap();
    let path = file.to_string_lossy().to_string();
    let s = TestServer::start(&["--aclfile", &path]);
    assert_eq!(s.cli(&["ACL", "USERS"]), "default\nzed");
    assert_eq!(
        s.cli(&["ACL", "SETUSER", "yan", "on", "nopass", "+ping"]),
        "OK"
    );
    assert_eq!(s.cli(&["ACL", "SAVE"]), "OK");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains("user yan on nopass resetchannels -@all +ping"),
        "{saved}"
    );
    std::fs::write(&file, "user default on nopass ~* &* +@all\n").unwrap();
    assert_eq!(s.cli(&["ACL", "LOAD"]), "OK");
    assert_eq!(s.cli(&["ACL", "USERS"]), "default");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser bad +nosuch\n",
    )
    .unwrap();
    assert!(
        s.cli(&["ACL", "LOAD"]).starts_with("ERR"),
        "a bad file is refused"
    );
    assert_eq!(s.cli(&["ACL", "USERS"]), "default");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Key, channel and selector patterns and user names are the client's bytes: ACL LIST,
/// GETUSER and USERS show them as they came, not as UTF-8 replacement characters.
const NON_UTF8: &[&str] = &[
    "ACL SETUSER w on nopass \"~k\\xff*\" \"%R~r\\xfe\" \"%W~w\\xc3\" \"&c\\xff\" \"(~s\\xff &t\\xfe +get)\"",
    "ACL LIST",
    "ACL GETUSER w",
    "ACL SETUSER \"n\\xff\" on nopass \"~\\xe9\"",
    "ACL USERS",
    "ACL GETUSER \"n\\xff\"",
    "ACL LIST",
    "AUTH \"n\\xff\" x",
    "ACL WHOAMI",
    "ACL DRYRUN w get \"k\\xff1\"",
    "ACL DRYRUN w get \"k\\xfe1\"",
];

#[test]
fn acl_rules_keep_non_utf8_bytes_resp2() {
    assert_same_as_redis(NON_UTF8);
}

#[test]
fn acl_rules_keep_non_utf8_bytes_resp3() {
    let mut script = vec!["!HELLO 3"];
    script.extend_from_slice(NON_UTF8);
    assert_same_as_redis(&script);
}

/// ACL SAVE writes names and patterns byte for byte, the same file redis-server writes,
/// and ACL LOAD reads them back unchanged (before, the file held U+FFFD in their place).
#[test]
fn acl_save_and_load_keep_non_utf8_bytes() {
    let dir = std::env::temp_dir().join(format!("rubra-aclbytes-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (ours, theirs) = (dir.join("rubra.acl"), dir.join("redis.acl"));
    std::fs::write(&ours, "").unwrap();
    std::fs::write(&theirs, "").unwrap();
    let rubra = TestServer::start(&["--aclfile", &ours.to_string_lossy()]);
    let redis = Reference::start_with(&["--aclfile", &theirs.to_string_lossy()]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    let script = [
        "ACL SETUSER w on nopass \"~k\\xff*\" \"%R~r\\xfe\" \"&c\\xff\" \"(~s\\xff +get)\"",
        "ACL SETUSER \"n\\xff\" on nopass \"~\\xe9\"",
        "ACL SAVE",
        "ACL DELUSER w \"n\\xff\"",
        "ACL LOAD",
        "ACL LIST",
    ];
    for cmd in script {
        let (x, y) = (a.call(cmd), b.call(cmd));
        assert_eq!(
            x.escape_ascii().to_string(),
            y.escape_ascii().to_string(),
            "{cmd}"
        );
    }
    let saved = std::fs::read(&ours).unwrap();
    assert_eq!(
        saved.escape_ascii().to_string(),
        std::fs::read(&theirs).unwrap().escape_ascii().to_string()
    );
    assert!(
        saved
            .windows(b"~k\xff* %R~r\xfe".len())
            .any(|w| w == b"~k\xff* %R~r\xfe"),
        "{}",
        saved.escape_ascii()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ACL LOG entry's client-info (the client's CLIENT LIST line) quotes the user name
/// byte for byte.
#[test]
fn acl_log_client_info_keeps_the_user_name_bytes() {
    let s = TestServer::start(&[]);
    let mut c = RawConn::connect(s.port);
    c.call("ACL SETUSER \"n\\xff\" on nopass +acl");
    c.call("AUTH \"n\\xff\" x");
    c.call("GET k");
    let log = c.call("ACL LOG 1");
    let want = b" cmd=get user=n\xff redir=-1 resp=2\r\n";
    assert!(
        log.windows(want.len()).any(|w| w == want),
        "{}",
        log.escape_ascii()
    );
}

/// ACL LOAD reads a file as Redis 7.0 does: lines split at single spaces (no quotes, no
/// comments), every line's errors reported with the file and line, then the warning that
/// nothing changed; a file without a default user gives a fresh one (no password, every
/// permission). The replies differ only in the file's path, which is replaced.
#[test]
fn acl_load_reads_files_as_redis_does() {
    let dir = std::env::temp_dir().join(format!("rubra-aclload-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (ours, theirs) = (dir.join("rubra.acl"), dir.join("redis.acl"));
    let first = "user default on nopass ~* &* +@all\n";
    std::fs::write(&ours, first).unwrap();
    std::fs::write(&theirs, first).unwrap();
    let (our_path, their_path) = (ours.to_string_lossy(), theirs.to_string_lossy());
    let rubra = TestServer::start(&["--aclfile", &our_path]);
    let redis = Reference::start_with(&["--aclfile", &their_path]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    let files = [
        "user default on nopass ~* &* +@all\nuser a on >p ~k* +get\n",
        "# a comment\nuser a on\n",
        "user a on  nopass +get\n",
        "user a +nosuch -nosuch2 +get\nuser a on\nfoo\nuser\n\nuser b on <nopw >x\n",
        "user a on >x <y ~* ~k\n",
        "user a (~x +get\n",
        "user a on \"quoted pass\"\n",
        "user a on\tnopass\n",
        "user a on nopass ~* +@all\r\nuser b off\r\n",
        "user a on nopass ~* +@all\n",
        "user default on nopass ~* &* +@all resetpass >pw2\n",
        "",
    ];
    for text in files {
        std::fs::write(&ours, text).unwrap();
        std::fs::write(&theirs, text).unwrap();
        for cmd in ["ACL LOAD", "ACL LIST"] {
            let x = String::from_utf8_lossy(&a.call(cmd)).replace(&*our_path, "FILE");
            let y = String::from_utf8_lossy(&b.call(cmd)).replace(&*their_path, "FILE");
            assert_eq!(x, y, "{cmd} after loading {text:?}");
        }
        if text.contains(">pw2") {
            // The default user now has a password: this connection stays in, new ones AUTH.
            for c in [&mut a, &mut b] {
                c.call("AUTH pw2");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An ACL file at start-up replaces the default user as ACL LOAD does, so `requirepass`
/// is ignored next to `aclfile` (redis.conf says so); a bad file stops the start.
#[test]
fn an_aclfile_at_startup_overrides_requirepass() {
    let dir = std::env::temp_dir().join(format!("rubra-aclstart-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = dir.join("users.acl");
    std::fs::write(&file, "user a on nopass +get\n").unwrap();
    let path = file.to_string_lossy().to_string();
    let rubra = TestServer::start(&["--aclfile", &path, "--requirepass", "pw"]);
    let redis = Reference::start_with(&["--aclfile", &path, "--requirepass", "pw"]);
    let mut a = RawConn::connect(rubra.port);
    let mut b = RawConn::connect(redis.port);
    assert_eq!(a.call("PING"), b"+PONG\r\n", "no AUTH needed");
    for cmd in ["PING", "ACL LIST", "ACL WHOAMI"] {
        assert_eq!(a.call(cmd), b.call(cmd), "{cmd}");
    }
    drop((a, b, rubra, redis));

    std::fs::write(&file, "user a on\nuser a off\n").unwrap();
    let out = std::process::Command::new(rubra_bin())
        .args(["--port", &free_port().to_string(), "--aclfile", &path])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(
            "Aborting Redis startup because of ACL errors: WARNING: Duplicate user 'a' found on line 2. "
        ),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

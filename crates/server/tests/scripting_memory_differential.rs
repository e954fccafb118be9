//! INFO's script memory split (differential, by property: the byte counts of two Lua
//! builds differ). Redis 7.0 runs EVAL and functions in separate Lua states, so loading a
//! library grows used_memory_vm_functions and leaves used_memory_lua (EVAL's) alone, and
//! used_memory_functions counts the libraries' records. The same properties are checked
//! on Debian's redis-server, so the test states Redis's behaviour, and on rubra-server.

mod common;
mod reference;
use reference::{RawConn, Reference};

/// The script memory fields of INFO memory.
fn fields(conn: &mut RawConn) -> std::collections::HashMap<String, i64> {
    let info = String::from_utf8_lossy(&conn.call("INFO memory")).into_owned();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((k.to_string(), v.trim().parse::<i64>().ok()?)))
        .collect()
}

/// A library of `n` functions, each with a body of its own.
fn library(n: usize) -> String {
    let mut code = String::from("#!lua name=big\n");
    for i in 0..n {
        code.push_str(&format!(
            "redis.register_function('f{i}', function(keys, args) local t = {{}} for j = 1, {i} do t[j] = j * 2 end return #t + {i} end)\n"
        ));
    }
    code
}

fn check(port: u16, server: &str) {
    let mut c = RawConn::connect(port);
    c.call("EVAL \"return 1\" 0");
    let before = fields(&mut c);
    let code = library(300);
    let quoted = code.replace('\\', "\\\\").replace('"', "\\\"");
    let loaded = c.call(&format!("FUNCTION LOAD \"{quoted}\""));
    assert_eq!(loaded, b"$3\r\nbig\r\n", "{server}: FUNCTION LOAD");
    let after = fields(&mut c);
    let grew = |k: &str| after[k] - before[k];
    for f in [&before, &after] {
        assert_eq!(f["used_memory_lua"], f["used_memory_vm_eval"], "{server}");
        assert_eq!(
            f["used_memory_vm_total"],
            f["used_memory_vm_eval"] + f["used_memory_vm_functions"],
            "{server}"
        );
        assert_eq!(
            f["used_memory_scripts"],
            f["used_memory_scripts_eval"] + f["used_memory_functions"],
            "{server}"
        );
    }
    assert!(
        grew("used_memory_vm_functions") > 50_000,
        "{server}: the functions' VM grew {}",
        grew("used_memory_vm_functions")
    );
    assert!(
        grew("used_memory_lua") < 8_192,
        "{server}: EVAL's VM grew {}",
        grew("used_memory_lua")
    );
    assert!(
        grew("used_memory_functions") > code.len() as i64,
        "{server}: used_memory_functions grew {} for {} bytes of code",
        grew("used_memory_functions"),
        code.len()
    );
    assert!(before["used_memory_functions"] > 0, "{server}");
}

#[test]
fn function_load_grows_the_functions_vm_not_evals() {
    let reference = Reference::start();
    check(reference.port, "redis");
    let rubra = common::TestServer::start(&[]);
    check(rubra.port, "rubra");
}

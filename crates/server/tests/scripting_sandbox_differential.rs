//! The Lua sandbox's introspection (differential): what a script sees of the globals and
//! the library tables through pairs / next / ipairs / rawget and getmetatable, compared
//! byte for byte with Debian's redis-server 7.0. Redis marks its tables read-only with a
//! flag; rubra's are proxies, which these functions must see through.

mod common;
mod reference;
use reference::assert_same_as_redis;

/// `EVAL "<lua>" 0` with the Lua quoted for the harness's redis-cli style splitter.
fn evals(snippets: &[&str]) -> Vec<String> {
    snippets
        .iter()
        .map(|s| {
            format!(
                "EVAL \"{}\" 0",
                s.replace('\\', "\\\\").replace('"', "\\\"")
            )
        })
        .collect()
}

fn check(snippets: &[&str]) {
    let lines = evals(snippets);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_same_as_redis(&refs);
}

/// The sorted keys of `table` as a script lists them with `iter`.
fn keys_of(table: &str, iter: &str) -> String {
    format!(
        "local t = {{}} for k in {iter}({table}) do table.insert(t, tostring(k)) end table.sort(t) return t"
    )
}

#[test]
fn pairs_and_next_list_the_globals_and_the_libraries() {
    let mut snippets = Vec::new();
    for table in [
        "_G",
        "string",
        "math",
        "table",
        "redis",
        "cjson",
        "bit",
        "struct",
        "cmsgpack",
        "coroutine",
    ] {
        snippets.push(keys_of(table, "pairs"));
    }
    snippets.push(
        "local n = 0 local k = next(string) while k do n = n + 1 k = next(string, k) end return n"
            .into(),
    );
    snippets.push("return {rawget(string, 'len') ~= nil, rawget(_G, 'redis') ~= nil, rawget(redis, 'nosuch') == nil}".into());
    snippets.push("local n = 0 for i, v in ipairs(KEYS) do n = n + 1 end return n".into());
    let refs: Vec<&str> = snippets.iter().map(String::as_str).collect();
    check(&refs);
}

#[test]
fn getmetatable_answers_as_redis_sandbox() {
    check(&[
        "return type(getmetatable(_G))",
        "local m = getmetatable(_G) return {type(m), type(m.__index), type(m.__newindex), m.__metatable == nil}",
        &keys_of("getmetatable(_G)", "pairs"),
        "local m = getmetatable(_G) m.__index = nil return 1",
        "getmetatable(_G).x = 1 return 1",
        "return rawequal(getmetatable(_G), getmetatable(_G))",
        "return {type(getmetatable(redis)), type(getmetatable(math)), type(getmetatable(cjson)), type(getmetatable(string)), type(getmetatable(KEYS))}",
        "return getmetatable('abc').__index == string",
        &keys_of("getmetatable('')", "pairs"),
        "local m = getmetatable('') m.__index = nil return 1",
        "return getmetatable()",
        "local ok, e = pcall(function() local x = getmetatable() return x end) return e",
        "local ok, e = pcall(function() local x = next(nil) return x end) return e",
        "local ok, e = pcall(function() local x = pairs(1) return x end) return e",
        "return ('abc'):upper()",
        // A tail call keeps the script's line in the error (the functions are C functions).
        "return next(nil)",
        "return pairs()",
        "return rawget(1)",
        "return ipairs('x')",
    ]);
}

#[test]
fn getfenv_setfenv_and_newproxy_are_not_globals() {
    check(&[
        "return type(getfenv)",
        "return type(setfenv)",
        "return type(newproxy)",
        "return type(__redis__err__handler)",
    ]);
}

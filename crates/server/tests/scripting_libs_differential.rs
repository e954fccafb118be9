//! The `cmsgpack` and `struct` Lua libraries (differential): scripts that pack and unpack
//! with them get byte-identical replies from rubra-server and Debian's redis-server 7.0 —
//! the bytes produced, the values decoded, and the error texts (with the function name as
//! the caller wrote it, `?` through pcall).

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

fn check(snippets: &[&str], resp3: bool) {
    let mut lines = evals(snippets);
    if resp3 {
        lines.insert(0, "!HELLO 3".to_string());
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_same_as_redis(&refs);
}

/// cmsgpack: every encoding width of integers, floats, strings, arrays and maps, nesting
/// limits, several values at once, unpack/unpack_one/unpack_limit and their errors.
const MSGPACK: &[&str] = &[
    r#"return cmsgpack.pack(1, -1, 0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)"#,
    r#"return cmsgpack.pack(1.5, 0.1, -0.5, 1e300, 1/0, -1/0, 2^63, -2^63, 2^64, 3.25)"#,
    r#"return cmsgpack.pack(0/0)"#,
    r#"return cmsgpack.pack('', 'a', string.rep('x', 31), string.rep('x', 32), string.rep('y', 255), string.rep('z', 256))"#,
    r#"return #cmsgpack.pack(string.rep('z', 65536))"#,
    r#"return cmsgpack.pack(true, false, nil, {})"#,
    r#"return cmsgpack.pack({1,2,3}, {a=1}, {1,2,nil,4}, {[1]=1,[3]=3}, {[0]=1}, {[1.5]=1}, {['1']=2})"#,
    r#"return cmsgpack.pack({1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16})"#,
    r#"return cmsgpack.pack({a=1,b=2,c=3,d={1,{x='y'}}})"#,
    r#"return cmsgpack.pack(redis.call, cjson.null)"#,
    r#"local t = {} t.t = t return cmsgpack.pack(t)"#,
    r#"local t = {} local c = t for i=1,20 do c[1] = {} c = c[1] end return cmsgpack.pack(t)"#,
    r#"return cmsgpack.pack()"#,
    r#"return {cmsgpack.unpack(cmsgpack.pack(1, 'a', {1,2}, {a='b'}, true, 1.5, -5, 2^40))}"#,
    r#"return cmsgpack.unpack(cmsgpack.pack({1,2,{3,4}}))[3][2]"#,
    r#"return cmsgpack.unpack(cmsgpack.pack({a={b='c'}})).a.b"#,
    r#"return cmsgpack.unpack('')"#,
    r#"return {cmsgpack.unpack('\196')}"#,
    r#"return {cmsgpack.unpack('\205\1')}"#,
    r#"return {cmsgpack.unpack('\146\1')}"#,
    r#"return {cmsgpack.unpack('\193')}"#,
    r#"return {cmsgpack.unpack('\129\192\1')}"#,
    r#"return {cmsgpack.unpack(nil)}"#,
    r#"return {cmsgpack.unpack(12)}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3))}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 1)}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 2)}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 3)}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), 4)}"#,
    r#"return {cmsgpack.unpack_one(cmsgpack.pack(1,2,3), -1)}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2)}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 0)}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), -1)}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 2, 1)}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3), 'x')}"#,
    r#"return {cmsgpack.unpack_limit(cmsgpack.pack(1,2,3))}"#,
    r#"return {cmsgpack.unpack('\203\63\248\0\0\0\0\0\0', '\202\63\192\0\0')}"#,
    r#"return {cmsgpack.unpack('\207\255\255\255\255\255\255\255\255\211\255\255\255\255\255\255\255\254')}"#,
    r#"return #{cmsgpack.unpack(string.rep('\1', 7990))}"#,
    r#"return #{cmsgpack.unpack(string.rep('\1', 8100))}"#,
    r#"return type(cmsgpack.unpack(string.rep('\145', 3990) .. '\1'))"#,
    r#"return type(cmsgpack.unpack(string.rep('\145', 4100) .. '\1'))"#,
    r#"return type(cmsgpack.unpack(string.rep('\129\1', 4100) .. '\1'))"#,
    r#"return cmsgpack._VERSION .. cmsgpack._NAME"#,
    r#"local x = cmsgpack.pack(1) return cmsgpack.unpack_one"#,
];

/// struct: each format letter packed and unpacked (both endians, alignment, sizes), and the
/// library's errors for bad formats, short data and missing arguments.
const STRUCT: &[&str] = &[
    r#"return struct.pack('b', 1) .. struct.pack('B', 255) .. struct.pack('b', -1) .. struct.pack('b', 300)"#,
    r#"return struct.pack('>h', 1) .. struct.pack('<h', 1) .. struct.pack('H', 65535) .. struct.pack('=h', -2)"#,
    r#"return struct.pack('>l', 1) .. struct.pack('<L', 2^63) .. struct.pack('>L', 2^64) .. struct.pack('>l', -2^63) .. struct.pack('>L', -1) .. struct.pack('>l', -2^64)"#,
    r#"return struct.pack('>T', 12345) .. struct.pack('<T', 0/0)"#,
    r#"return struct.pack('>i', 7) .. struct.pack('<I', 7) .. struct.pack('>i2', -2) .. struct.pack('>i3', 65536) .. struct.pack('<i16', -1) .. struct.pack('>I12', 2^70)"#,
    r#"return struct.pack('i33', 1)"#,
    r#"return struct.pack('i99999999999', 1)"#,
    r#"return struct.pack('>f', 1.5) .. struct.pack('<f', 0.1) .. struct.pack('>d', 0.1) .. struct.pack('<d', -2.5) .. struct.pack('>f', 1e300)"#,
    r#"return struct.pack('x') .. struct.pack('bxb', 1, 2)"#,
    r#"return struct.pack('c', 'abc') .. struct.pack('c2', 'abc') .. struct.pack('c0', 'whole') .. struct.pack('s', 'zt')"#,
    r#"return struct.pack('c5', 'ab')"#,
    r#"return struct.pack('!4 b i', 1, 2) .. struct.pack('!bi', 1, 2) .. struct.pack('!2bd', 1, 2) .. struct.pack('!8 b h b l', 1, 2, 3, 4)"#,
    r#"return struct.pack('!3 b i', 1, 2)"#,
    r#"return struct.pack('!0 b i', 1, 2)"#,
    r#"return struct.pack('z', 1)"#,
    r#"return struct.pack('b')"#,
    r#"return struct.pack('b', 'x')"#,
    r#"return struct.pack('b', '12')"#,
    r#"return struct.pack(nil)"#,
    r#"return struct.pack()"#,
    r#"return struct.pack('>i', 1.9) .. struct.pack('>i', -1.9)"#,
    r#"return struct.pack('b\0b', 1, 2)"#,
    r#"return {struct.unpack('b', '\255')}"#,
    r#"return {struct.unpack('B', '\255')}"#,
    r#"return {struct.unpack('>h', '\255\254')}"#,
    r#"return {struct.unpack('<H', '\255\254')}"#,
    r#"return {struct.unpack('>i3', '\255\255\254')}"#,
    r#"return {struct.unpack('<i16', string.rep('\255', 16))}"#,
    r#"return {struct.unpack('>I9', string.rep('\1', 9))}"#,
    r#"return {struct.unpack('>l', struct.pack('>l', -5))}"#,
    r#"return {struct.unpack('<L', string.rep('\255', 8))}"#,
    r#"return {struct.unpack('>f', struct.pack('>f', 1.5))}"#,
    r#"return {struct.unpack('<d', struct.pack('<d', 0.1))}"#,
    r#"return {struct.unpack('bxb', '\1\0\2')}"#,
    r#"return {struct.unpack('c3', 'abcdef')}"#,
    r#"return {struct.unpack('b c0', '\3abcdef')}"#,
    r#"return {struct.unpack('c0', 'abc')}"#,
    r#"return {struct.unpack('s s', 'ab\0cd\0ef')}"#,
    r#"return {struct.unpack('s', 'ab')}"#,
    r#"return {struct.unpack('i', 'ab')}"#,
    r#"return {struct.unpack('b', 'ab', 2)}"#,
    r#"return {struct.unpack('b', 'ab', 3)}"#,
    r#"return {struct.unpack('b', 'ab', 0)}"#,
    r#"return {struct.unpack('b', 'ab', -1)}"#,
    r#"return {struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}"#,
    r#"return {struct.unpack('z', 'ab')}"#,
    r#"return {struct.unpack('b')}"#,
    r#"return {struct.unpack('b', 'a', 'x')}"#,
    r#"return #{struct.unpack(string.rep('b', 7995), string.rep('a', 8000))}"#,
    r#"return #{struct.unpack(string.rep('b', 8000), string.rep('a', 8000))}"#,
    r#"return struct.size('b h i l d f c3 x')"#,
    r#"return struct.size('!8 b d b i')"#,
    r#"return struct.size('s')"#,
    r#"return struct.size('c0')"#,
    r#"return struct.size('bzq')"#,
    r#"return struct.size('b?')"#,
    r#"return struct.size('!5')"#,
    r#"return struct.size('i40')"#,
    r#"return struct.size('c')"#,
    r#"return struct.size(5)"#,
    r#"return struct.size()"#,
    r#"return {pcall(struct.pack, 'z')}"#,
    r#"return {pcall(cmsgpack.pack)}"#,
    r#"return {pcall(cmsgpack.unpack, '\129\192\1')}"#,
    r#"local p = struct.pack return p('z')"#,
    r#"return struct:pack('b')"#,
    r#"return cmsgpack:unpack()"#,
    r#"return struct.unpack()"#,
    r#"return cmsgpack.unpack_one('\1', 'x')"#,
    r#"return {pcall(cmsgpack.unpack, '\129\192\1')}"#,
    r#"return cjson.encode(cmsgpack.unpack(cmsgpack.pack({a={1,2,{b=false}},c='d'})))"#,
    r#"return {struct.unpack('>bhilfd', struct.pack('>bhilfd', -1, -300, 70000, -5000000000, 0.5, 1/3))}"#,
];

#[test]
fn cmsgpack_resp2() {
    check(MSGPACK, false);
}

#[test]
fn cmsgpack_resp3() {
    check(MSGPACK, true);
}

#[test]
fn struct_resp2() {
    check(STRUCT, false);
}

#[test]
fn struct_resp3() {
    check(STRUCT, true);
}

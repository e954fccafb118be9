//! `struct` as Redis ships it (Roberto Ierusalimschy's struct library, 0.2 with Redis's
//! overflow checks), written from its format description so scripts that build or parse
//! binary records get the same bytes and the same errors:
//!
//! `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])` (values, then the next
//! position), `struct.size(fmt)`. Format letters, on x86-64 sizes: `b/B` char, `h/H` short
//! (2), `l/L` long (8), `T` size_t (8), `i/I[n]` int of n bytes (default 4, at most 32),
//! `f` float, `d` double, `x` one zero byte, `c[n]` n chars (`c0`: the whole string when
//! packing, the length from the previous value when unpacking), `s` zero-terminated
//! string; `<` little and `>` big endian (little by default), `![n]` maximum alignment
//! (default 8), space ignored. Lower-case integer letters are signed when unpacked.
//! The library's C arithmetic (unsigned wrap-around of positions, 64-bit integers, the
//! format ending at a zero byte) is reproduced where it shows in results.

use super::libs::bad_arg;
use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// Widest integer format (`i32`).
const MAX_INT_SIZE: u64 = 32;
/// Default maximum alignment (of double / pointer / lua_Number on x86-64).
const MAX_ALIGN: u64 = 8;
/// Lua 5.1's limit on a C function's stack slots (LUAI_MAXCSTACK).
const MAX_C_STACK: usize = 8000;

/// Builds the `struct` table.
pub(crate) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| pack(lua, &args))?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: Variadic<Value>| unpack(lua, &args))?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: Variadic<Value>| size(lua, &args))?,
    )?;
    Ok(t)
}

fn err(msg: String) -> mlua::Error {
    mlua::Error::runtime(msg)
}

/// The type luaL_typerror names for argument `n`. `pack` keeps a nil just above its
/// arguments (a separator for its buffer), so there the first missing one reads "nil".
fn got(args: &[Value], n: usize, nil_marker: bool) -> &'static str {
    match args.get(n - 1) {
        Some(v) => v.type_name(),
        None if nil_marker && n == args.len() + 1 => "nil",
        None => "no value",
    }
}

/// luaL_checklstring: a string or a number (converted as Lua converts it).
fn check_string(lua: &Lua, args: &[Value], n: usize, marker: bool) -> mlua::Result<Vec<u8>> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    match lua.coerce_string(v)? {
        Some(s) => Ok(s.as_bytes().to_vec()),
        None => Err(bad_arg(
            lua,
            n,
            &format!("string expected, got {}", got(args, n, marker)),
        )),
    }
}

/// luaL_checknumber: a number or a numeric string.
fn check_number(lua: &Lua, args: &[Value], n: usize, marker: bool) -> mlua::Result<f64> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    match lua.coerce_number(v)? {
        Some(x) => Ok(x),
        None => Err(bad_arg(
            lua,
            n,
            &format!("number expected, got {}", got(args, n, marker)),
        )),
    }
}

/// The format as C sees it: it ends at the first zero byte.
fn c_format(mut f: Vec<u8>) -> Vec<u8> {
    if let Some(z) = f.iter().position(|&b| b == 0) {
        f.truncate(z);
    }
    f
}

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: u64,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A format being read.
struct Format {
    f: Vec<u8>,
    pos: usize,
}

impl Format {
    fn next(&mut self) -> Option<u8> {
        let c = *self.f.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    /// An optional decimal count after a letter (getnum), refusing int overflow.
    fn num(&mut self, default: u64) -> mlua::Result<u64> {
        if !self.f.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(&d) = self.f.get(self.pos).filter(|d| d.is_ascii_digit()) {
            let d = i64::from(d - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - d {
                return Err(err("integral size overflow".into()));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a as u64)
    }

    /// The size of option `opt` (optsize); 0 for options without one.
    fn size(&mut self, opt: u8) -> mlua::Result<u64> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let sz = self.num(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(err(format!(
                        "integral size {sz} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Endianness / alignment / space options (controloptions); anything else is invalid.
    fn control(&mut self, lua: &Lua, opt: u8, h: &mut Header) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if a == 0 || a & a.wrapping_sub(1) != 0 {
                    return Err(err(format!("alignment {} is not a power of 2", a as i32)));
                }
                h.align = a;
            }
            _ => {
                let msg = format!("invalid format option '{}'", char::from(opt));
                return Err(bad_arg(lua, 1, &msg));
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` at offset `len` (gettoalign), in size_t arithmetic.
fn to_align(len: u64, h: &Header, opt: u8, size: u64) -> u64 {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// A double converted to the 64-bit pattern C's casts give on x86-64.
fn to_bits(n: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if n < 0.0 {
        // (unsigned long long)(long long)n
        super::convert::c_i64(n) as u64
    } else if n.is_nan() {
        1 << 63
    } else if n >= 2.0 * TWO63 {
        0
    } else if n >= TWO63 {
        ((n - TWO63) as i64 as u64) ^ (1 << 63)
    } else {
        n as u64
    }
}

fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: u64) {
    let mut value = to_bits(n);
    let mut buf = vec![0u8; size as usize];
    for i in 0..size as usize {
        let at = if little { i } else { size as usize - 1 - i };
        buf[at] = (value & 0xff) as u8;
        value >>= 8;
    }
    out.extend_from_slice(&buf);
}

fn get_integer(data: &[u8], little: bool, signed: bool, size: u64) -> f64 {
    let mut l: u64 = 0;
    for i in 0..size as usize {
        let b = if little {
            data[size as usize - 1 - i]
        } else {
            data[i]
        };
        l = (l << 8) | u64::from(b);
    }
    if !signed {
        return l as f64;
    }
    // C shifts by size*8-1, which x86 takes modulo 64.
    let mask = u64::MAX.wrapping_shl((size * 8).wrapping_sub(1) as u32);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.pack(fmt, ...)`.
fn pack(lua: &Lua, args: &[Value]) -> mlua::Result<mlua::LuaString> {
    let mut f = Format {
        f: c_format(check_string(lua, args, 1, false)?),
        pos: 0,
    };
    let mut h = Header::default();
    let mut arg = 2;
    let mut total: u64 = 0;
    let mut out = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        // The padding count is an int in C: a huge (wrapped) value means none at all.
        let toalign = to_align(total, &h, opt, size) as i32;
        total = total.wrapping_add(toalign as i64 as u64);
        if toalign > 0 {
            out.resize(out.len() + toalign as usize, 0);
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, args, arg, true)?;
                arg += 1;
                put_integer(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = check_number(lua, args, arg, true)? as f32;
                arg += 1;
                let b = n.to_bits();
                out.extend_from_slice(&if h.little {
                    b.to_le_bytes()
                } else {
                    b.to_be_bytes()
                });
            }
            b'd' => {
                let n = check_number(lua, args, arg, true)?;
                arg += 1;
                let b = n.to_bits();
                out.extend_from_slice(&if h.little {
                    b.to_le_bytes()
                } else {
                    b.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_string(lua, args, arg, true)?;
                arg += 1;
                if size == 0 {
                    size = s.len() as u64;
                }
                if (s.len() as u64) < size {
                    return Err(bad_arg(lua, arg, "string too short"));
                }
                out.extend_from_slice(&s[..size as usize]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(lua, opt, &mut h)?,
        }
        total = total.wrapping_add(size);
    }
    lua.create_string(out)
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position after them.
fn unpack(lua: &Lua, args: &[Value]) -> mlua::Result<MultiValue> {
    let mut f = Format {
        f: c_format(check_string(lua, args, 1, false)?),
        pos: 0,
    };
    let data = check_string(lua, args, 2, false)?;
    let ld = data.len() as u64;
    let mut pos: u64 = match args.get(2) {
        None | Some(Value::Nil) => 1,
        Some(_) => {
            let n = check_number(lua, args, 3, false)?;
            super::convert::c_i64(n) as u64
        }
    };
    if pos == 0 {
        return Err(bad_arg(lua, 3, "offset must be 1 or greater"));
    }
    pos -= 1;
    let short = || bad_arg(lua, 2, "data string too short");
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        // Room for this item and the final position (the C code's luaL_checkstack).
        if args.len() + results.len() + 2 > MAX_C_STACK {
            return Err(err("stack overflow (too many results)".into()));
        }
        let at = pos as usize;
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = get_integer(&data[at..], h.little, opt.is_ascii_lowercase(), size);
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[at..at + 4]);
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[at..at + 8]);
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let prev = match results.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(v @ Value::String(_)) => lua.coerce_number(v.clone())?,
                        _ => None,
                    };
                    let Some(n) = prev else {
                        return Err(err("format 'c0' needs a previous size".into()));
                    };
                    results.pop();
                    size = to_bits(n);
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short());
                    }
                }
                let s = lua.create_string(&data[at..at + size as usize])?;
                results.push(Value::String(s));
            }
            b's' => {
                let Some(z) = data[at..].iter().position(|&b| b == 0) else {
                    return Err(err("unfinished string in data".into()));
                };
                size = z as u64 + 1;
                let s = lua.create_string(&data[at..at + z])?;
                results.push(Value::String(s));
            }
            _ => f.control(lua, opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    results.push(Value::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(MultiValue::from_iter(results))
}

/// `struct.size(fmt)`: the bytes a format packs to (fixed-size formats only).
fn size(lua: &Lua, args: &[Value]) -> mlua::Result<f64> {
    let mut f = Format {
        f: c_format(check_string(lua, args, 1, false)?),
        pos: 0,
    };
    let mut h = Header::default();
    let mut pos: u64 = 0;
    while let Some(opt) = f.next() {
        let size = f.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(bad_arg(lua, 1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(bad_arg(lua, 1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(lua, opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as i64 as f64)
}

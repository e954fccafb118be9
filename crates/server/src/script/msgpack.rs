//! `cmsgpack` as Redis ships it (lua-cmsgpack 0.4.0), written from the MessagePack spec and
//! the encoding choices Redis's copy makes, so scripts that pack values for other programs
//! (or compare packed bytes) get the same bytes:
//! - numbers that are whole and fit an int64 use the smallest integer form (positive and
//!   negative fixnums, u8..u64 / i8..i64); other numbers are float32 when that is exact,
//!   else float64;
//! - strings use fixstr / str8 / str16 / str32 (no bin types); booleans and nil as usual;
//! - a table whose keys are exactly 1..n is an array (the empty table too), any other
//!   table a map in `next` order; tables nested 16 deep are packed as nil (cycles end);
//! - anything else (functions, userdata) packs as nil.
//!
//! `unpack` decodes every value in the string (several packed values come back as several
//! results); `unpack_one(s [, offset])` and `unpack_limit(s, n [, offset])` decode a few and
//! return the next offset first (-1 when the input is used up). Errors use the library's
//! words. Decoding is iterative and counts Lua stack slots as the C library does, so deep or
//! wide input ends in the library's "stack overflow" error instead of exhausting our stack.

use super::libs::bad_arg;
use mlua::{Lua, MultiValue, Table, Value, Variadic};

/// Tables nested deeper than this are packed as nil (lua-cmsgpack's LUACMSGPACK_MAX_NESTING).
const MAX_NESTING: usize = 16;
/// Lua 5.1's limit on a C function's stack slots (LUAI_MAXCSTACK).
const MAX_C_STACK: usize = 8000;

/// Builds the `cmsgpack` table.
pub(crate) fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return Err(bad_arg(lua, 0, "MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, &mut out, 0);
            }
            lua.create_string(out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: Variadic<Value>| unpack_full(lua, &args, 0, 0))?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: Variadic<Value>| {
            let offset = opt_int(lua, &args, 2)?;
            unpack_full(lua, &args, 1, offset)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: Variadic<Value>| {
            let limit = check_int(lua, &args, 2)?;
            let offset = opt_int(lua, &args, 3)?;
            unpack_full(lua, &args, limit, offset)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// The numeric value of a Lua number (mlua may hand integral numbers over as integers).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// luaL_checkinteger: a number or numeric string, truncated as C truncates to an int.
fn check_int(lua: &Lua, args: &[Value], n: usize) -> mlua::Result<i64> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    let got = if args.len() < n {
        "no value"
    } else {
        v.type_name()
    };
    match lua.coerce_number(v)? {
        Some(x) => Ok(c_int(x)),
        None => Err(bad_arg(lua, n, &format!("number expected, got {got}"))),
    }
}

/// luaL_optinteger with 0 as the default.
fn opt_int(lua: &Lua, args: &[Value], n: usize) -> mlua::Result<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(0),
        Some(_) => check_int(lua, args, n),
    }
}

/// A double stored into C's `int` through lua_Integer (x86-64: truncation, then the low
/// 32 bits; out-of-range doubles become INT64_MIN first).
fn c_int(x: f64) -> i64 {
    super::convert::c_i64(x) as i32 as i64
}

/// Whether `n` packs as an integer: whole, finite and in int64 range (as the C cast sees it).
fn int64_equivalent(n: f64) -> Option<i64> {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO63..TWO63).contains(&n) {
        let i = n as i64;
        if i as f64 == n {
            return Some(i);
        }
    }
    None
}

fn encode(v: &Value, out: &mut Vec<u8>, level: usize) {
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            let n = number(v).unwrap_or(0.0);
            match int64_equivalent(n) {
                Some(i) => encode_int(i, out),
                None => encode_double(n, out),
            }
        }
        Value::Table(t) if level < MAX_NESTING => encode_table(t, out, level),
        _ => out.push(0xc0),
    }
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_double(d: f64, out: &mut Vec<u8>) {
    let f = d as f32;
    if f as f64 == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// lua-cmsgpack's array test: every key a positive whole number (as a C int) and the
/// largest equal to the count, so the keys are exactly 1..n.
fn array_len(t: &Table) -> Option<usize> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        let n = number(&k)?;
        if n <= 0.0 || !n.is_finite() || c_int(n) as f64 != n {
            return None;
        }
        max = max.max(n as i64);
        count += 1;
    }
    (max == count).then_some(count as usize)
}

fn encode_table(t: &Table, out: &mut Vec<u8>, level: usize) {
    if let Some(len) = array_len(t) {
        if len <= 15 {
            out.push(0x90 | len as u8);
        } else if len <= 0xffff {
            out.push(0xdc);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0xdd);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        for i in 1..=len {
            let item = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
            encode(&item, out, level + 1);
        }
        return;
    }
    // Counted, then encoded, in two walks (as lua-cmsgpack does): collecting the pairs
    // would hold a reference for every string and table of the map at once, and mlua's
    // reference stack keeps the size it grew to (a map of 100,000 string keys left
    // used_memory_lua at 273 KB after SCRIPT FLUSH; Redis's new state has 32 KB).
    let len = t.pairs::<Value, Value>().filter(Result::is_ok).count();
    if len <= 15 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0xde);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    for (k, v) in t.pairs::<Value, Value>().filter_map(Result::ok) {
        encode(&k, out, level + 1);
        encode(&v, out, level + 1);
    }
}

/// Why decoding stopped.
enum DecodeError {
    /// The input ended inside a value.
    Eof,
    /// A byte that starts no value lua-cmsgpack knows (bin, ext, reserved).
    BadFormat,
    /// A Lua error (the library's stack limit, a nil or NaN map key).
    Lua(mlua::Error),
}

impl From<mlua::Error> for DecodeError {
    fn from(e: mlua::Error) -> Self {
        DecodeError::Lua(e)
    }
}

/// A container being filled.
struct Open {
    table: Table,
    /// Values still to read (map: keys and values both count).
    left: u64,
    is_map: bool,
    /// Next array index.
    index: i64,
    /// A map key read, waiting for its value.
    key: Option<Value>,
}

/// The shared part of unpack / unpack_one / unpack_limit (mp_unpack_full).
fn unpack_full(lua: &Lua, args: &[Value], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let s = match args.first().cloned().map(|v| lua.coerce_string(v)) {
        Some(Ok(Some(s))) => s,
        other => {
            let got = match (args.first(), other) {
                (None, _) => "no value",
                (Some(v), _) => v.type_name(),
            };
            return Err(bad_arg(lua, 1, &format!("string expected, got {got}")));
        }
    };
    let data = s.as_bytes().to_vec();
    let len = data.len();
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::runtime(format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(mlua::Error::runtime(format!(
            "Start offset {offset} greater than input length {}.",
            len as i32
        )));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut cur = Cursor {
        lua,
        data: &data,
        pos: offset as usize,
        slots: 1,
    };
    let mut results = Vec::new();
    let mut cnt = 0i64;
    while cur.pos < len && cnt < limit {
        match cur.value() {
            Ok(v) => results.push(v),
            Err(DecodeError::Eof) => return Err(mlua::Error::runtime("Missing bytes in input.")),
            Err(DecodeError::BadFormat) => {
                return Err(mlua::Error::runtime("Bad data format in input."))
            }
            Err(DecodeError::Lua(e)) => return Err(e),
        }
        cur.slots += 1;
        cnt += 1;
    }
    if !decode_all {
        let next = if cur.pos >= len { -1 } else { cur.pos as i64 };
        results.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_iter(results))
}

/// A reading position plus the C library's count of used Lua stack slots.
struct Cursor<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    pos: usize,
    /// Stack slots the C code would hold at this point (its luaL_checkstack limit).
    slots: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.data.len() - self.pos < n {
            Err(DecodeError::Eof)
        } else {
            Ok(())
        }
    }

    fn check_stack(&self, what: &str) -> Result<(), DecodeError> {
        if self.slots + 1 > MAX_C_STACK {
            return Err(DecodeError::Lua(mlua::Error::runtime(format!(
                "stack overflow ({what})"
            ))));
        }
        Ok(())
    }

    fn be(&self, at: usize, n: usize) -> u64 {
        self.data[at..at + n]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// Decodes one complete value; containers are filled without recursion.
    fn value(&mut self) -> Result<Value, DecodeError> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            // Read one item (a scalar or the header of a container).
            self.need(1)?;
            self.check_stack(
                "too many return values at once; use unpack_one or unpack_limit instead.",
            )?;
            let mut item = match self.item()? {
                Item::Scalar(v) => v,
                Item::Container { is_map, len } => {
                    let table = self.lua.create_table()?;
                    self.slots += 1;
                    if !is_map {
                        self.check_stack("in function mp_decode_to_lua_array")?;
                    }
                    let left = if is_map { len * 2 } else { len };
                    if left > 0 {
                        open.push(Open {
                            table,
                            left,
                            is_map,
                            index: 1,
                            key: None,
                        });
                        if !is_map {
                            self.slots += 1; // the pushed index
                        }
                        continue;
                    }
                    self.slots -= 1;
                    Value::Table(table)
                }
            };
            // Store the finished item into its container; close containers that are full.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(item);
                };
                top.left -= 1;
                if top.is_map {
                    match top.key.take() {
                        None => {
                            top.key = Some(item);
                            self.slots += 1;
                            if top.left > 0 {
                                break;
                            }
                            // Unreachable for well-formed counts (keys come in pairs).
                            return Err(DecodeError::BadFormat);
                        }
                        Some(k) => {
                            match &k {
                                Value::Nil => {
                                    return Err(mlua::Error::external(super::errors::Unplaced(
                                        "table index is nil".into(),
                                    ))
                                    .into())
                                }
                                v if number(v).is_some_and(f64::is_nan) => {
                                    return Err(mlua::Error::external(super::errors::Unplaced(
                                        "table index is NaN".into(),
                                    ))
                                    .into())
                                }
                                _ => {}
                            }
                            top.table.raw_set(k, item)?;
                            self.slots -= 1;
                        }
                    }
                } else {
                    top.table.raw_set(top.index, item)?;
                    top.index += 1;
                }
                if top.left > 0 {
                    break;
                }
                let done = open.pop().map(|o| (o.table, o.is_map));
                let Some((table, is_map)) = done else {
                    return Err(DecodeError::BadFormat);
                };
                if !is_map {
                    self.slots -= 1; // the index slot
                }
                self.slots -= 1;
                item = Value::Table(table);
            }
        }
    }

    /// One scalar, or a container header (consumed).
    fn item(&mut self) -> Result<Item, DecodeError> {
        let p = self.pos;
        let b = self.data[p];
        let scalar = |v: Value| Ok(Item::Scalar(v));
        let num = |n: f64| Item::Scalar(Value::Number(n));
        match b {
            0xcc => {
                self.need(2)?;
                self.pos += 2;
                Ok(num(f64::from(self.data[p + 1])))
            }
            0xd0 => {
                self.need(2)?;
                self.pos += 2;
                Ok(num(f64::from(self.data[p + 1] as i8)))
            }
            0xcd | 0xd1 => {
                self.need(3)?;
                self.pos += 3;
                let u = self.be(p + 1, 2) as u16;
                Ok(num(if b == 0xcd {
                    f64::from(u)
                } else {
                    f64::from(u as i16)
                }))
            }
            0xce | 0xd2 => {
                self.need(5)?;
                self.pos += 5;
                let u = self.be(p + 1, 4) as u32;
                Ok(num(if b == 0xce {
                    f64::from(u)
                } else {
                    f64::from(u as i32)
                }))
            }
            0xcf | 0xd3 => {
                self.need(9)?;
                self.pos += 9;
                let u = self.be(p + 1, 8);
                // lua-cmsgpack pushes uint64 through lua_pushinteger too: the top bit is a sign.
                Ok(num(u as i64 as f64))
            }
            0xc0 => {
                self.pos += 1;
                scalar(Value::Nil)
            }
            0xc3 | 0xc2 => {
                self.pos += 1;
                scalar(Value::Boolean(b == 0xc3))
            }
            0xca => {
                self.need(5)?;
                self.pos += 5;
                Ok(num(f64::from(f32::from_bits(self.be(p + 1, 4) as u32))))
            }
            0xcb => {
                self.need(9)?;
                self.pos += 9;
                Ok(num(f64::from_bits(self.be(p + 1, 8))))
            }
            0xd9..=0xdb => {
                let w = match b {
                    0xd9 => 1,
                    0xda => 2,
                    _ => 4,
                };
                self.need(1 + w)?;
                let l = self.be(p + 1, w) as usize;
                self.need(1 + w + l)?;
                self.pos += 1 + w + l;
                let s = self
                    .lua
                    .create_string(&self.data[p + 1 + w..p + 1 + w + l])?;
                scalar(Value::String(s))
            }
            0xdc..=0xdf => {
                let w = if b == 0xdc || b == 0xde { 2 } else { 4 };
                self.need(1 + w)?;
                let len = self.be(p + 1, w);
                self.pos += 1 + w;
                Ok(Item::Container {
                    is_map: b >= 0xde,
                    len,
                })
            }
            _ if b & 0x80 == 0 => {
                self.pos += 1;
                Ok(num(f64::from(b)))
            }
            _ if b & 0xe0 == 0xe0 => {
                self.pos += 1;
                Ok(num(f64::from(b as i8)))
            }
            _ if b & 0xe0 == 0xa0 => {
                let l = usize::from(b & 0x1f);
                self.need(1 + l)?;
                self.pos += 1 + l;
                let s = self.lua.create_string(&self.data[p + 1..p + 1 + l])?;
                scalar(Value::String(s))
            }
            _ if b & 0xf0 == 0x90 || b & 0xf0 == 0x80 => {
                self.pos += 1;
                Ok(Item::Container {
                    is_map: b & 0xf0 == 0x80,
                    len: u64::from(b & 0x0f),
                })
            }
            _ => Err(DecodeError::BadFormat),
        }
    }
}

/// What one leading byte introduces.
enum Item {
    Scalar(Value),
    Container { is_map: bool, len: u64 },
}

//! `cjson` as Redis ships it (lua-cjson 2.1 with Redis's defaults): encode with 14
//! significant digits, `/` escaped, empty tables as `{}`, excessively sparse arrays refused,
//! nesting limited to 1000; decode to tables with `cjson.null` for JSON null. Error texts
//! follow lua-cjson's.

use super::libs::bad_arg;
use mlua::{LightUserData, Lua, Table, Value, Variadic};
use parking_lot::Mutex;
use std::sync::Arc;

/// One cjson module's settings (lua-cjson keeps them per module table, for the life of
/// the Lua state: Redis's SCRIPT FLUSH, which makes a new state, is what resets EVAL's).
#[derive(Clone, Copy)]
pub(crate) struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 off, 1 on, 2 null.
    encode_invalid_numbers: i32,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: i32,
}

impl Default for Config {
    /// lua-cjson's defaults as Redis builds it.
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

/// A module table's settings, shared by its functions.
pub(crate) type Shared = Arc<Mutex<Config>>;

/// Builds a `cjson` table with default settings.
pub(crate) fn table(lua: &Lua) -> mlua::Result<Table> {
    Ok(table_with_config(lua)?.0)
}

/// Builds a `cjson` table; its settings are returned too (to be reset).
pub(crate) fn table_with_config(lua: &Lua) -> mlua::Result<(Table, Shared)> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    install_settings(lua, &t, &cfg)?;
    t.raw_set("new", lua.create_function(|lua, ()| table(lua))?)?;
    let c = cfg.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |lua, v: mlua::Variadic<Value>| {
            if v.len() != 1 {
                return Err(bad_arg(lua, 1, "expected 1 argument"));
            }
            let mut out = Vec::new();
            let cfg = *c.lock();
            encode(&cfg, &v[0], &mut out, 0).map_err(mlua::Error::runtime)?;
            lua.create_string(out)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, v: mlua::Variadic<Value>| {
            if v.len() != 1 {
                return Err(bad_arg(lua, 1, "expected 1 argument"));
            }
            let Some(s) = lua.coerce_string(v[0].clone())? else {
                let got = match &v[0] {
                    Value::LightUserData(_) => "userdata",
                    other => other.type_name(),
                };
                return Err(bad_arg(lua, 1, &format!("string expected, got {got}")));
            };
            let bytes = s.as_bytes().to_vec();
            if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
                return Err(mlua::Error::runtime(
                    "JSON parser does not support UTF-16 or UTF-32",
                ));
            }
            Decoder {
                lua,
                s: &bytes,
                pos: 0,
                depth: 0,
                cfg: *c.lock(),
            }
            .document()
        })?,
    )?;
    t.raw_set(
        "null",
        Value::LightUserData(LightUserData(std::ptr::null_mut())),
    )?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok((t, cfg))
}

/// lua-cjson's json_arg_init: at most `most` arguments, the missing ones nil.
fn settings_args(lua: &Lua, args: Variadic<Value>, most: usize) -> mlua::Result<Vec<Value>> {
    if args.len() > most {
        return Err(bad_arg(lua, most + 1, "found too many arguments"));
    }
    let mut v: Vec<Value> = args.into_iter().collect();
    v.resize(most, Value::Nil);
    Ok(v)
}

/// json_integer_option: argument `n` (unless nil) must be an integer in min..=max (an
/// error names argument #1 whatever `n` is, as lua-cjson does); the setting is returned.
fn integer_option(
    lua: &Lua,
    v: &Value,
    n: usize,
    setting: &mut i32,
    (min, max): (i32, i32),
) -> mlua::Result<Value> {
    if !v.is_nil() {
        let Some(x) = lua.coerce_number(v.clone())? else {
            let got = match v {
                Value::LightUserData(_) => "userdata",
                other => other.type_name(),
            };
            return Err(bad_arg(lua, n, &format!("number expected, got {got}")));
        };
        // luaL_checkinteger, then C's conversion to int.
        let value = x as i64 as i32;
        if !(min..=max).contains(&value) {
            return Err(bad_arg(
                lua,
                1,
                &format!("expected integer between {min} and {max}"),
            ));
        }
        *setting = value;
    }
    Ok(Value::Number(f64::from(*setting)))
}

/// json_enum_option: argument `n` (unless nil) a boolean or one of `options` (off / on
/// when None); the setting is returned as a boolean for off / on, else by its name.
fn enum_option(
    lua: &Lua,
    v: &Value,
    n: usize,
    setting: &mut i32,
    options: Option<&[&'static str]>,
) -> mlua::Result<Value> {
    let options = options.unwrap_or(&["off", "on"]);
    match v {
        Value::Nil => {}
        Value::Boolean(b) => *setting = i32::from(*b),
        other => {
            let Some(name) = lua.coerce_string(other.clone())? else {
                let got = match other {
                    Value::LightUserData(_) => "userdata",
                    other => other.type_name(),
                };
                return Err(bad_arg(lua, n, &format!("string expected, got {got}")));
            };
            let name = name.as_bytes().to_vec();
            let Some(i) = options.iter().position(|o| o.as_bytes() == name) else {
                let shown = String::from_utf8_lossy(crate::cmd::args::c_str(&name)).into_owned();
                return Err(bad_arg(lua, n, &format!("invalid option '{shown}'")));
            };
            *setting = i as i32;
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        i => Value::String(lua.create_string(options[i as usize])?),
    })
}

/// The configuration functions (encode_max_depth, ...): each sets when given a value and
/// returns the setting.
fn install_settings(lua: &Lua, t: &Table, cfg: &Shared) -> mlua::Result<()> {
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, a: Variadic<Value>| {
            let a = settings_args(lua, a, 3)?;
            let mut g = c.lock();
            let mut convert = i32::from(g.sparse_convert);
            let r1 = enum_option(lua, &a[0], 1, &mut convert, None)?;
            g.sparse_convert = convert == 1;
            let r2 = integer_option(lua, &a[1], 2, &mut g.sparse_ratio, (0, i32::MAX))?;
            let r3 = integer_option(lua, &a[2], 3, &mut g.sparse_safe, (0, i32::MAX))?;
            Ok((r1, r2, r3))
        })?,
    )?;
    type Field = fn(&mut Config) -> &mut i32;
    let ints: [(&str, Field, (i32, i32)); 3] = [
        (
            "encode_max_depth",
            |c| &mut c.encode_max_depth,
            (1, i32::MAX),
        ),
        (
            "decode_max_depth",
            |c| &mut c.decode_max_depth,
            (1, i32::MAX),
        ),
        ("encode_number_precision", |c| &mut c.precision, (1, 14)),
    ];
    for (name, field, range) in ints {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, a: Variadic<Value>| {
                let a = settings_args(lua, a, 1)?;
                let mut g = c.lock();
                integer_option(lua, &a[0], 1, field(&mut g), range)
            })?,
        )?;
    }
    let c = cfg.clone();
    t.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, a: Variadic<Value>| {
            let a = settings_args(lua, a, 1)?;
            let mut g = c.lock();
            let mut v = g.encode_invalid_numbers;
            let r = enum_option(lua, &a[0], 1, &mut v, Some(&["off", "on", "null"]))?;
            g.encode_invalid_numbers = v;
            Ok(r)
        })?,
    )?;
    // The on/off settings.
    type Flag = fn(&mut Config) -> &mut bool;
    let flags: [(&str, Flag); 2] = [
        ("encode_keep_buffer", |c| &mut c.keep_buffer),
        ("decode_invalid_numbers", |c| &mut c.decode_invalid_numbers),
    ];
    for (name, field) in flags {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, a: Variadic<Value>| {
                let a = settings_args(lua, a, 1)?;
                let mut g = c.lock();
                let flag = field(&mut g);
                let mut v = i32::from(*flag);
                let r = enum_option(lua, &a[0], 1, &mut v, None)?;
                *flag = v == 1;
                Ok(r)
            })?,
        )?;
    }
    Ok(())
}

/// C's `printf("%.*g", prec, v)` for finite `v`.
pub(crate) fn format_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(&mantissa), sign, exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, v))
    }
}

fn encode_number(cfg: &Config, n: f64, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        match cfg.encode_invalid_numbers {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
            1 if n.is_nan() => out.extend_from_slice(b"nan"),
            1 if n > 0.0 => out.extend_from_slice(b"inf"),
            1 => out.extend_from_slice(b"-inf"),
            _ => out.extend_from_slice(b"null"),
        }
        return Ok(());
    }
    out.extend_from_slice(format_g(n, cfg.precision as usize).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

/// lua-cjson's array detection: Some(max index) for a table whose keys are all positive
/// integers, Some(0) for an empty table, None for an object; an error when too sparse.
fn array_length(cfg: &Config, t: &Table) -> Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.pairs::<Value, Value>() {
        let Ok((k, _)) = pair else { return Ok(None) };
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.floor() != n {
            return Ok(None);
        }
        max = max.max(n as usize);
        items += 1;
    }
    // Excessively sparse (by the encode_sparse_array settings): an error, or an object.
    let ratio = cfg.sparse_ratio as usize;
    if ratio > 0 && max > items.saturating_mul(ratio) && max > cfg.sparse_safe as usize {
        if !cfg.sparse_convert {
            return Err("Cannot serialise table: excessively sparse array".into());
        }
        return Ok(None);
    }
    Ok(Some(max))
}

fn encode(cfg: &Config, v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => encode_number(cfg, *i as f64, out)?,
        Value::Number(n) => encode_number(cfg, *n, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth.max(0) as usize {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(cfg, t)? {
                Some(len) if len > 0 => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                        encode(cfg, &item, out, depth)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, val) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(i) => {
                                out.push(b'"');
                                encode_number(cfg, *i as f64, out)?;
                                out.push(b'"');
                            }
                            Value::Number(n) => {
                                out.push(b'"');
                                encode_number(cfg, *n, out)?;
                                out.push(b'"');
                            }
                            // lua-cjson names the key's type.
                            other => {
                                let kind = match other {
                                    Value::LightUserData(_) => "userdata",
                                    other => other.type_name(),
                                };
                                return Err(format!(
                                    "Cannot serialise {kind}: table key must be a number or string"
                                ));
                            }
                        }
                        out.push(b':');
                        encode(cfg, &val, out, depth)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// A JSON token, as lua-cjson names them in errors.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Num,
    Bool,
    Null,
    Colon,
    Comma,
    End,
}

impl Tok {
    fn name(self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str => "T_STRING",
            Tok::Num => "T_NUMBER",
            Tok::Bool => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
        }
    }
}

/// A scanned token: its kind (or lua-cjson's error word), where it starts, its value.
struct Token {
    kind: Result<Tok, &'static str>,
    index: usize,
    value: Option<Value>,
}

struct Decoder<'a> {
    lua: &'a Lua,
    s: &'a [u8],
    pos: usize,
    depth: usize,
    cfg: Config,
}

impl Decoder<'_> {
    fn document(mut self) -> mlua::Result<Value> {
        let t = self.token()?;
        let v = self.value(t)?;
        let t = self.token()?;
        if t.kind != Ok(Tok::End) {
            return Err(self.parse_error("the end", &t));
        }
        Ok(v)
    }

    fn parse_error(&self, expected: &str, t: &Token) -> mlua::Error {
        let found = match t.kind {
            Ok(k) => k.name(),
            Err(e) => e,
        };
        mlua::Error::runtime(format!(
            "Expected {expected} but found {found} at character {}",
            t.index + 1
        ))
    }

    fn token(&mut self) -> mlua::Result<Token> {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let tok = |kind, value| Token { kind, index, value };
        let Some(&c) = self.s.get(self.pos) else {
            return Ok(tok(Ok(Tok::End), None));
        };
        let single = match c {
            b'{' => Some(Tok::ObjBegin),
            b'}' => Some(Tok::ObjEnd),
            b'[' => Some(Tok::ArrBegin),
            b']' => Some(Tok::ArrEnd),
            b':' => Some(Tok::Colon),
            b',' => Some(Tok::Comma),
            0 => return Ok(tok(Ok(Tok::End), None)),
            _ => None,
        };
        if let Some(k) = single {
            self.pos += 1;
            return Ok(tok(Ok(k), None));
        }
        let rest = &self.s[self.pos..];
        if c == b'"' {
            return self.string(index);
        }
        if c == b'-' || c.is_ascii_digit() {
            if !self.cfg.decode_invalid_numbers && invalid_number(rest) {
                return Ok(tok(Err("invalid number"), None));
            }
            return Ok(self.number(index, rest));
        }
        for (word, kind, value) in [
            (&b"true"[..], Tok::Bool, Value::Boolean(true)),
            (&b"false"[..], Tok::Bool, Value::Boolean(false)),
            (
                &b"null"[..],
                Tok::Null,
                Value::LightUserData(LightUserData(std::ptr::null_mut())),
            ),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(tok(Ok(kind), Some(value)));
            }
        }
        // decode_invalid_numbers (on in Redis): '+', Inf and NaN go to strtod too.
        let lower = |n: usize| rest.get(..n).map(|b| b.to_ascii_lowercase());
        if self.cfg.decode_invalid_numbers
            && (c == b'+' || lower(3).is_some_and(|w| w == b"inf" || w == b"nan"))
        {
            return Ok(self.number(index, rest));
        }
        Ok(tok(Err("invalid token"), None))
    }

    /// A number token: what C's strtod reads at `rest` (hexadecimal, inf, nan and all, as
    /// lua-cjson reads numbers), "invalid number" if it reads nothing.
    fn number(&mut self, index: usize, rest: &[u8]) -> Token {
        let (n, len) = strtod_prefix(rest);
        if len == 0 {
            return Token {
                kind: Err("invalid number"),
                index,
                value: None,
            };
        }
        self.pos += len;
        Token {
            kind: Ok(Tok::Num),
            index,
            value: Some(Value::Number(n)),
        }
    }

    fn string(&mut self, index: usize) -> mlua::Result<Token> {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        let err = |this: &mut Self, at: usize, e: &'static str| {
            this.pos = at;
            Ok(Token {
                kind: Err(e),
                index: at,
                value: None,
            })
        };
        loop {
            let Some(&c) = self.s.get(i) else {
                return err(self, i, "unexpected end of string");
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(i + 1) else {
                        return err(self, i, "invalid escape code");
                    };
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => match unicode_escape(&self.s[i..]) {
                            Some((ch, used)) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                i += used;
                                continue;
                            }
                            None => return err(self, i, "invalid unicode escape code"),
                        },
                        _ => return err(self, i, "invalid escape code"),
                    }
                    i += 2;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        Ok(Token {
            kind: Ok(Tok::Str),
            index,
            value: Some(Value::String(self.lua.create_string(out)?)),
        })
    }

    fn descend(&mut self, t: &Token) -> mlua::Result<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth.max(0) as usize {
            return Err(mlua::Error::runtime(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                t.index + 1
            )));
        }
        Ok(())
    }

    fn value(&mut self, t: Token) -> mlua::Result<Value> {
        match t.kind {
            Ok(Tok::Str | Tok::Num | Tok::Bool | Tok::Null) => Ok(t.value.unwrap_or(Value::Nil)),
            Ok(Tok::ObjBegin) => {
                self.descend(&t)?;
                let table = self.lua.create_table()?;
                let mut tok = self.token()?;
                if tok.kind == Ok(Tok::ObjEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(table));
                }
                loop {
                    if tok.kind != Ok(Tok::Str) {
                        return Err(self.parse_error("object key string", &tok));
                    }
                    let key = tok.value.take().unwrap_or(Value::Nil);
                    let colon = self.token()?;
                    if colon.kind != Ok(Tok::Colon) {
                        return Err(self.parse_error("colon", &colon));
                    }
                    let vt = self.token()?;
                    let v = self.value(vt)?;
                    table.raw_set(key, v)?;
                    let sep = self.token()?;
                    if sep.kind == Ok(Tok::ObjEnd) {
                        self.depth -= 1;
                        return Ok(Value::Table(table));
                    }
                    if sep.kind != Ok(Tok::Comma) {
                        return Err(self.parse_error("comma or object end", &sep));
                    }
                    tok = self.token()?;
                }
            }
            Ok(Tok::ArrBegin) => {
                self.descend(&t)?;
                let table = self.lua.create_table()?;
                let mut tok = self.token()?;
                if tok.kind == Ok(Tok::ArrEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(table));
                }
                let mut i = 1;
                loop {
                    let v = self.value(tok)?;
                    table.raw_set(i, v)?;
                    i += 1;
                    let sep = self.token()?;
                    if sep.kind == Ok(Tok::ArrEnd) {
                        self.depth -= 1;
                        return Ok(Value::Table(table));
                    }
                    if sep.kind != Ok(Tok::Comma) {
                        return Err(self.parse_error("comma or array end", &sep));
                    }
                    tok = self.token()?;
                }
            }
            _ => Err(self.parse_error("value", &t)),
        }
    }
}

/// The number C's strtod reads at the start of `s` and how many bytes it used (0: none).
/// Only the bytes strtod could use are copied (letters, digits and `+-.()_`: hex floats,
/// "infinity", "nan(...)"), so a long document is not copied once per number.
/// lua-cjson's json_is_invalid_number: what JSON does not allow but strtod reads (a
/// leading '+', hexadecimal, leading zeros, inf, nan).
fn invalid_number(p: &[u8]) -> bool {
    let p = match p.first() {
        Some(b'+') => return true,
        Some(b'-') => &p[1..],
        _ => p,
    };
    match p.first() {
        Some(b'0') => matches!(p.get(1), Some(c) if (c | 0x20) == b'x' || c.is_ascii_digit()),
        Some(c) if *c <= b'9' => false,
        _ => {
            let w = p.get(..3).map(|w| w.to_ascii_lowercase());
            w.is_some_and(|w| w == b"inf" || w == b"nan")
        }
    }
}

fn strtod_prefix(s: &[u8]) -> (f64, usize) {
    let end = s
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b"+-.()_".contains(&b)))
        .unwrap_or(s.len());
    let Ok(text) = std::ffi::CString::new(&s[..end]) else {
        return (0.0, 0);
    };
    let mut stop: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated and outlives the call; strtod sets `stop` to a
    // position within it (the start when it reads nothing). The process never calls
    // setlocale, so the decimal point is '.', as in Redis's cjson.
    let n = unsafe { libc::strtod(text.as_ptr(), &mut stop) };
    let used = (stop as usize).saturating_sub(text.as_ptr() as usize);
    (n, used.min(end))
}

/// `\uXXXX` (with a surrogate pair if needed) at the start of `s`: the char and bytes used.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hex = |b: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(b.get(..4)?).ok()?, 16).ok()
    };
    let first = hex(s.get(2..6)?)?;
    if (0xD800..0xDC00).contains(&first) {
        if s.get(6..8)? != b"\\u" {
            return None;
        }
        let second = hex(s.get(8..12)?)?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        return Some((char::from_u32(c)?, 12));
    }
    if (0xDC00..0xE000).contains(&first) {
        return None;
    }
    Some((char::from_u32(first)?, 6))
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(1.0, 14), "1");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e15, 14), "1e+15");
        assert_eq!(format_g(123456.789, 14), "123456.789");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_g(0.00001, 14), "1e-05");
    }
}

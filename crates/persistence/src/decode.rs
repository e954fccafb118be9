//! Parsing lengths, strings and values from RDB bytes: a bounds-checked cursor plus one
//! decoder per RDB value type. Shared by the file reader and RESTORE payloads.

use crate::compact::{intset_decode, ziplist_decode, zipmap_decode};
use crate::consts::*;
use crate::error::RdbError;
use crate::{listpack, lzf, RdbValue};
use std::borrow::Cow;

/// A bounds-checked read position over a byte slice; every read fails with `Truncated`
/// instead of panicking when the data runs out.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Set when a read ran past the end of `buf`: how many bytes of `buf` that read needed.
    /// An incremental loader tells "wait for more bytes" (this) from corruption inside a
    /// nested blob (which has its own cursor) with it.
    want: usize,
    /// Deep sanitization (Redis's `sanitize-dump-payload yes`): redundant fields Redis
    /// checks only then (a stream entry's lp-count) are checked. On for files.
    pub(crate) deep: bool,
}

/// A decoded length prefix: a plain length, or a special string encoding marker.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Cursor<'a> {
    /// Starts reading `buf` at offset 0.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            want: 0,
            deep: true,
        }
    }

    /// If a read ran out of input: the length `buf` needed for it to succeed.
    pub(crate) fn wanted(&self) -> Option<usize> {
        (self.want > 0).then_some(self.want)
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read; used to cap preallocation from untrusted lengths.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RdbError> {
        if n > self.remaining() {
            self.want = self.pos.saturating_add(n);
            return Err(RdbError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Takes one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, RdbError> {
        Ok(self.take(1)?[0])
    }

    /// Takes a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len_or_enc(&mut self) -> Result<Len, RdbError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => Len::Plain((b & 0x3f) as u64),
            1 => Len::Plain(((b as u64 & 0x3f) << 8) | self.u8()? as u64),
            2 => match b {
                LEN_32BIT => Len::Plain(u32::from_be_bytes(self.array()?) as u64),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return Err(RdbError::Corrupt("unknown length encoding")),
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    /// Reads a length prefix (not a string encoding marker).
    /// An encoded-string marker read as a length is its low six bits, as Redis's
    /// rdbLoadLen reads it (a payload with one is restored by Redis).
    pub(crate) fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(n) => Ok(n as u64),
        }
    }

    /// Reads a length that counts items, rejecting values that cannot fit the remaining data
    /// (each item needs at least one byte).
    pub(crate) fn count(&mut self) -> Result<usize, RdbError> {
        let n = self.len()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            Ok(n) => {
                self.want = self.pos.saturating_add(n);
                Err(RdbError::Truncated)
            }
            Err(_) => Err(RdbError::Truncated),
        }
    }

    /// Reads a string in any RDB encoding (raw, int8/16/32, LZF).
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        self.string_cow().map(Cow::into_owned)
    }

    /// [`Cursor::string`], borrowing a raw string from the input instead of copying it (keys
    /// are copied into the keyspace's own storage anyway).
    pub(crate) fn string_cow(&mut self) -> Result<Cow<'a, [u8]>, RdbError> {
        Ok(Cow::Owned(match self.len_or_enc()? {
            Len::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Truncated)?;
                return Ok(Cow::Borrowed(self.take(n)?));
            }
            Len::Encoded(ENC_INT8) => (self.u8()? as i8).to_string().into_bytes(),
            Len::Encoded(ENC_INT16) => i16::from_le_bytes(self.array()?).to_string().into_bytes(),
            Len::Encoded(ENC_INT32) => i32::from_le_bytes(self.array()?).to_string().into_bytes(),
            Len::Encoded(ENC_LZF) => {
                let clen = usize::try_from(self.len()?).map_err(|_| RdbError::Truncated)?;
                let ulen = usize::try_from(self.len()?)
                    .map_err(|_| RdbError::Corrupt("LZF length too large"))?;
                let data = self.take(clen)?;
                lzf::decompress(data, ulen)?
            }
            Len::Encoded(_) => return Err(RdbError::Corrupt("unknown string encoding")),
        }))
    }

    /// Reads a zset score in the old string form (type 3): a length byte, where 253, 254 and
    /// 255 mean NaN, +inf and -inf, followed by ASCII.
    pub(crate) fn string_double(&mut self) -> Result<f64, RdbError> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(n as usize)?),
        }
    }
}

/// Parses a decimal score as strtod would for the forms Redis writes.
fn parse_score(s: &[u8]) -> Result<f64, RdbError> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(RdbError::Corrupt("invalid zset score"))
}

fn checked_score(v: f64) -> Result<f64, RdbError> {
    if v.is_nan() {
        Err(RdbError::Corrupt("Zset with NAN score detected"))
    } else {
        Ok(v)
    }
}

fn pairs<T>(
    items: Vec<Vec<u8>>,
    mut f: impl FnMut(Vec<u8>) -> Result<T, RdbError>,
) -> Result<Vec<(Vec<u8>, T)>, RdbError> {
    if !items.len().is_multiple_of(2) {
        return Err(RdbError::Corrupt("odd number of elements in pair encoding"));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, f(b)?));
    }
    Ok(out)
}

fn score_from(s: Vec<u8>) -> Result<f64, RdbError> {
    checked_score(parse_score(&s)?)
}

/// Decodes one value of RDB type `ty` at the cursor. Sets, hashes and sorted sets with a
/// repeated member are refused, as Redis refuses them (always for hash-table encodings,
/// under `sanitize-dump-payload` for compact ones): a keyspace built from one would either
/// silently lose elements or disagree with its own length (found by fuzz_restore_payload).
pub(crate) fn value(c: &mut Cursor<'_>, ty: u8) -> Result<RdbValue, RdbError> {
    let v = value_unchecked(c, ty)?;
    let unique = match &v {
        RdbValue::Set(m) => all_distinct(m.iter().map(Vec::as_slice), m.len()),
        RdbValue::Hash(p) => all_distinct(p.iter().map(|(f, _)| f.as_slice()), p.len()),
        RdbValue::ZSet(p) => all_distinct(p.iter().map(|(m, _)| m.as_slice()), p.len()),
        _ => true,
    };
    if !unique {
        return Err(RdbError::Corrupt(match (ty, &v) {
            (TYPE_HASH_ZIPMAP, _) => "Zipmap integrity check failed.",
            (TYPE_HASH_ZIPLIST, _) => "Hash ziplist integrity check failed.",
            (TYPE_HASH_LISTPACK, _) => "Hash listpack integrity check failed.",
            (TYPE_ZSET_ZIPLIST, _) => "Zset ziplist integrity check failed.",
            (TYPE_ZSET_LISTPACK, _) => "Zset listpack integrity check failed.",
            (TYPE_SET_LISTPACK, _) => "Set listpack integrity check failed.",
            (_, RdbValue::Set(_)) => "Duplicate set members detected",
            (_, RdbValue::ZSet(_)) => "Duplicate zset fields detected",
            _ => "Duplicate hash fields detected",
        }));
    }
    Ok(v)
}

/// True if no two of the `n` items are equal.
fn all_distinct<'a>(items: impl Iterator<Item = &'a [u8]>, n: usize) -> bool {
    if n < 2 {
        return true;
    }
    let mut seen = std::collections::HashSet::with_capacity(n);
    items.into_iter().all(|i| seen.insert(i))
}

/// A compact blob's decoding, any failure reported with Redis's reason for that type (its
/// log line says "<type> integrity check failed.").
fn blob<T>(r: Result<T, RdbError>, reason: &'static str) -> Result<T, RdbError> {
    r.map_err(|_| RdbError::Corrupt(reason))
}

fn value_unchecked(c: &mut Cursor<'_>, ty: u8) -> Result<RdbValue, RdbError> {
    Ok(match ty {
        TYPE_STRING => RdbValue::Str(c.string()?),
        TYPE_LIST | TYPE_SET => {
            let n = c.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(c.string()?);
            }
            if ty == TYPE_LIST {
                RdbValue::List(v)
            } else {
                RdbValue::Set(v)
            }
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = c.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let m = c.string()?;
                let s = if ty == TYPE_ZSET {
                    c.string_double()?
                } else {
                    f64::from_le_bytes(c.array()?)
                };
                v.push((m, checked_score(s)?));
            }
            RdbValue::ZSet(v)
        }
        TYPE_HASH => {
            let n = c.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let f = c.string()?;
                v.push((f, c.string()?));
            }
            RdbValue::Hash(v)
        }
        TYPE_HASH_ZIPMAP => RdbValue::Hash(blob(
            zipmap_decode(&c.string()?),
            "Zipmap integrity check failed.",
        )?),
        TYPE_LIST_ZIPLIST => RdbValue::List(blob(
            ziplist_decode(&c.string()?),
            "List ziplist integrity check failed.",
        )?),
        TYPE_SET_INTSET => RdbValue::Set(
            blob(
                intset_decode(&c.string()?),
                "Intset integrity check failed.",
            )?
            .into_iter()
            .map(|i| i.to_string().into_bytes())
            .collect(),
        ),
        TYPE_SET_LISTPACK => RdbValue::Set(blob(
            listpack::decode_with(&c.string()?, c.deep),
            "Set listpack integrity check failed.",
        )?),
        TYPE_ZSET_ZIPLIST => RdbValue::ZSet(blob(
            ziplist_decode(&c.string()?).and_then(|i| pairs(i, score_from)),
            "Zset ziplist integrity check failed.",
        )?),
        TYPE_ZSET_LISTPACK => RdbValue::ZSet(blob(
            listpack::decode_with(&c.string()?, c.deep).and_then(|i| pairs(i, score_from)),
            "Zset listpack integrity check failed.",
        )?),
        TYPE_HASH_ZIPLIST => RdbValue::Hash(blob(
            ziplist_decode(&c.string()?).and_then(|i| pairs(i, Ok)),
            "Hash ziplist integrity check failed.",
        )?),
        TYPE_HASH_LISTPACK => RdbValue::Hash(blob(
            listpack::decode_with(&c.string()?, c.deep).and_then(|i| pairs(i, Ok)),
            "Hash listpack integrity check failed.",
        )?),
        TYPE_LIST_QUICKLIST => {
            let n = c.count()?;
            let mut v = Vec::new();
            for _ in 0..n {
                let node = c.string()?;
                if node.is_empty() {
                    return Err(RdbError::Corrupt("Ziplist integrity check failed."));
                }
                v.extend(blob(
                    ziplist_decode(&node),
                    "Ziplist integrity check failed.",
                )?);
            }
            RdbValue::List(v)
        }
        TYPE_LIST_QUICKLIST_2 => {
            let n = c.count()?;
            let mut v = Vec::new();
            for _ in 0..n {
                let container = c.len()?;
                if container != QUICKLIST_NODE_PLAIN && container != QUICKLIST_NODE_PACKED {
                    return Err(RdbError::Corrupt("Quicklist integrity check failed."));
                }
                // Redis refuses a node of zero bytes, plain or packed.
                let node = c.string()?;
                if node.is_empty() {
                    return Err(RdbError::Corrupt("Quicklist integrity check failed."));
                }
                if container == QUICKLIST_NODE_PLAIN {
                    v.push(node);
                } else {
                    v.extend(blob(
                        listpack::decode_with(&node, c.deep),
                        "Listpack integrity check failed.",
                    )?);
                }
            }
            RdbValue::List(v)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 | TYPE_STREAM_LISTPACKS_3 => {
            RdbValue::Stream(Box::new(crate::stream::read_stream(c, ty)?))
        }
        TYPE_MODULE_PRE_GA | TYPE_MODULE_2 => return Err(RdbError::UnsupportedType(ty)),
        _ => return Err(RdbError::UnsupportedType(ty)),
    })
}

/// True for type bytes that name a value (as opposed to an opcode).
pub(crate) fn is_value_type(b: u8) -> bool {
    // 8 was never assigned; everything from 22 up is newer than we know (or an opcode).
    b <= TYPE_STREAM_LISTPACKS_3 && b != 8
}

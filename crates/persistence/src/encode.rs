//! Serialising lengths, strings and values in the RDB encoding shared by RDB files and DUMP
//! payloads. Values are encoded in forms redis-server 7.0 loads, picking the compact types
//! (intset, listpack) under the same default thresholds Redis uses.

use crate::compact::intset_encode;
use crate::consts::*;
use crate::listpack::{self, parse_canonical_i64};
use crate::{lzf, RdbValue};

/// Appends an RDB length (6-bit, 14-bit, 32-bit or 64-bit big-endian form).
pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a string, int-encoded when it is a canonical integer fitting 32 bits (as Redis
/// does), otherwise as a blob.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = parse_canonical_i64(s) {
            if let Ok(b) = i8::try_from(v) {
                out.push(0xc0 | ENC_INT8);
                out.push(b as u8);
                return;
            }
            if let Ok(h) = i16::try_from(v) {
                out.push(0xc0 | ENC_INT16);
                out.extend_from_slice(&h.to_le_bytes());
                return;
            }
            if let Ok(w) = i32::try_from(v) {
                out.push(0xc0 | ENC_INT32);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            }
        }
    }
    put_blob(out, s);
}

/// Appends a byte string never int-encoded (listpack and intset blobs); strings longer than
/// 20 bytes are LZF-compressed when that saves at least 4 bytes, like Redis.
pub(crate) fn put_blob(out: &mut Vec<u8>, s: &[u8]) {
    thread_local! {
        /// The compressor's output, reused: one allocation per thread, not per string.
        static LZF_OUT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if s.len() > 20 {
        let done = LZF_OUT.with(|c| {
            let mut c = c.borrow_mut();
            if !lzf::compress_into(s, s.len() - 4, &mut c) {
                return false;
            }
            out.push(0xc0 | ENC_LZF);
            put_len(out, c.len() as u64);
            put_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            // A huge value's buffer is not kept for the thread's lifetime.
            if c.capacity() > 1 << 20 {
                *c = Vec::new();
            }
            true
        });
        if done {
            return;
        }
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Formats a zset score the way Redis 7.0 stores it in listpacks (its d2string: integers
/// within +-2^62 without a fraction, otherwise printf's `%.17g`).
pub(crate) fn format_score(v: f64) -> Vec<u8> {
    if v.is_nan() {
        return b"nan".to_vec();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            b"-0".to_vec()
        } else {
            b"0".to_vec()
        };
    }
    if v.fract() == 0.0 && v.abs() <= (1u64 << 62) as f64 {
        return (v as i64).to_string().into_bytes();
    }
    g17(v).into_bytes()
}

/// printf's `%.17g` for a finite, non-zero double: 17 significant digits, trailing zeros
/// of the fraction dropped, exponent form below 1e-4 or from 1e17.
fn g17(v: f64) -> String {
    let strip = |m: &str| -> String {
        if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            m.to_string()
        }
    };
    let sci = format!("{:.16e}", v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (sci.clone(), 0),
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip(&mantissa), sign, exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, v))
    }
}

fn fits_listpack<'a>(mut items: impl Iterator<Item = &'a [u8]>, count: usize) -> bool {
    count <= MAX_LISTPACK_ENTRIES && items.all(|s| s.len() <= MAX_LISTPACK_VALUE)
}

fn put_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    // Split into listpack nodes of at most 8 KiB (list-max-listpack-size -2) as Redis 7.0
    // fills its tail node on RPUSH: an element joins the node while the node's bytes plus
    // the element's length plus 8 (Redis's overestimate of an entry's overhead) stay
    // within the limit. A list built by appending gets Redis's node boundaries.
    let mut nodes: Vec<&[Vec<u8>]> = Vec::new();
    let mut start = 0;
    let mut size = 7;
    for (i, it) in items.iter().enumerate() {
        let sz = listpack::entry_size(it);
        if i > start && size + it.len() + 8 > QUICKLIST_NODE_BYTES {
            nodes.push(&items[start..i]);
            start = i;
            size = 7;
        }
        size += sz;
    }
    if start < items.len() {
        nodes.push(&items[start..]);
    }
    put_len(out, nodes.len() as u64);
    for node in nodes {
        put_len(out, QUICKLIST_NODE_PACKED);
        put_blob(out, &listpack::encode(node.iter().map(|v| v.as_slice())));
    }
}

/// Appends the encoding of `value` and returns its RDB type byte (which callers place before
/// the key in an RDB file, or first in a DUMP payload).
///
/// `full`: the object is in its full encoding (a hash table set or hash, a skiplist zset)
/// though small enough for the compact one. Redis saves what the
/// object is, and its objects do not convert back when they shrink, so such a value is
/// saved in the full form.
pub(crate) fn put_value_as(out: &mut Vec<u8>, value: &RdbValue, full: bool) -> u8 {
    match value {
        RdbValue::Str(s) => {
            put_string(out, s);
            TYPE_STRING
        }
        RdbValue::List(items) => {
            put_list(out, items);
            TYPE_LIST_QUICKLIST_2
        }
        RdbValue::Set(members) => {
            let ints: Option<Vec<i64>> = members.iter().map(|m| parse_canonical_i64(m)).collect();
            match ints {
                Some(ints) if !full && ints.len() <= MAX_INTSET_ENTRIES => {
                    put_blob(out, &intset_encode(&ints));
                    TYPE_SET_INTSET
                }
                _ => {
                    put_len(out, members.len() as u64);
                    for m in members {
                        put_string(out, m);
                    }
                    TYPE_SET
                }
            }
        }
        RdbValue::Hash(pairs) => {
            let flat = pairs.iter().flat_map(|(f, v)| [f.as_slice(), v.as_slice()]);
            if !full && fits_listpack(flat.clone(), pairs.len()) {
                put_blob(out, &listpack::encode(flat));
                TYPE_HASH_LISTPACK
            } else {
                put_len(out, pairs.len() as u64);
                for (f, v) in pairs {
                    put_string(out, f);
                    put_string(out, v);
                }
                TYPE_HASH
            }
        }
        RdbValue::Stream(st) => crate::stream::put_stream(out, st),
        RdbValue::ZSet(pairs) => {
            // Redis's order: by score (-0 equal to 0), then member bytes.
            let mut sorted: Vec<&(Vec<u8>, f64)> = pairs.iter().collect();
            sorted.sort_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.0.cmp(&b.0))
            });
            if !full && fits_listpack(pairs.iter().map(|(m, _)| m.as_slice()), pairs.len()) {
                // Listpack zsets are kept sorted by (score, member).
                let scores: Vec<Vec<u8>> = sorted.iter().map(|p| format_score(p.1)).collect();
                let flat = sorted
                    .iter()
                    .zip(&scores)
                    .flat_map(|(p, s)| [p.0.as_slice(), s.as_slice()]);
                put_blob(out, &listpack::encode(flat));
                TYPE_ZSET_LISTPACK
            } else {
                // A skiplist is saved greatest first, as Redis does (its loader then
                // inserts each element at the head).
                put_len(out, pairs.len() as u64);
                for (m, s) in sorted.iter().rev() {
                    put_string(out, m);
                    out.extend_from_slice(&s.to_le_bytes());
                }
                TYPE_ZSET_2
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let mut v = Vec::new();
        put_len(&mut v, 63);
        put_len(&mut v, 64);
        put_len(&mut v, 16384);
        assert_eq!(v, vec![63, 0x40, 64, 0x80, 0, 0, 0x40, 0]);
    }

    #[test]
    fn int_strings() {
        let mut v = Vec::new();
        put_string(&mut v, b"-3");
        put_string(&mut v, b"300");
        put_string(&mut v, b"70000");
        put_string(&mut v, b"3000000000");
        assert_eq!(&v[..8], &[0xc0, 0xfd, 0xc1, 0x2c, 0x01, 0xc2, 0x70, 0x11]);
        assert_eq!(&v[10..], b"\x0a3000000000");
    }

    #[test]
    fn scores() {
        assert_eq!(format_score(1.0), b"1");
        assert_eq!(format_score(-2.5), b"-2.5");
        assert_eq!(format_score(1e300), b"1.0000000000000001e+300");
        assert_eq!(format_score(0.1), b"0.10000000000000001");
        assert_eq!(format_score(1.5), b"1.5");
        assert_eq!(format_score(f64::NEG_INFINITY), b"-inf");
        for v in [
            0.1,
            1.0 / 3.0,
            1e-300,
            123456789.123,
            -0.0,
            9.007199254740993e15,
        ] {
            let s = String::from_utf8(format_score(v)).unwrap();
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
    }
}

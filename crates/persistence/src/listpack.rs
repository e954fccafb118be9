//! Listpack blobs (Redis >= 7.0 compact encoding of small lists, hashes, sets and zsets).
//!
//! Layout: u32 LE total bytes, u16 LE element count (65535 = unknown), entries, 0xFF.
//! Each entry is an encoding byte (plus data) followed by a "backlen": the size of
//! encoding+data in 1-5 bytes, 7 bits per byte, most significant first, continuation flag on
//! all but the first byte so it can be parsed backwards.

use crate::error::RdbError;

const HEADER: usize = 6;
const EOF: u8 = 0xff;

/// Parses `s` as a canonical decimal i64 ("-0", "+1", "01" or spaces are not canonical);
/// Redis stores exactly those strings as integers in listpacks, intsets and RDB strings.
/// The one such parser in the workspace: rubra-keyspace uses it for its encodings and
/// listpack sizes too.
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || neg) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = (d - b'0') as i64;
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Bytes of the back-length that follows an entry of `l` bytes (encoding plus data): 7 bits
/// a byte. Public so that rubra-keyspace sizes stream nodes with the same arithmetic.
pub fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let n = backlen_size(l);
    for k in (0..n).rev() {
        let b = ((l >> (7 * k)) & 0x7f) as u8;
        out.push(if k == n - 1 { b } else { b | 0x80 });
    }
}

/// Appends one listpack entry (encoding, data, backlen) for `v` to `out`.
pub(crate) fn push_entry(out: &mut Vec<u8>, v: &[u8]) {
    let start = out.len();
    if let Some(i) = parse_canonical_i64(v) {
        match i {
            0..=127 => out.push(i as u8),
            -4096..=4095 => {
                let u = (i as u64) & 0x1fff;
                out.push(0xc0 | (u >> 8) as u8);
                out.push(u as u8);
            }
            -32768..=32767 => {
                out.push(0xf1);
                out.extend_from_slice(&(i as i16).to_le_bytes());
            }
            -8_388_608..=8_388_607 => {
                out.push(0xf2);
                out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
            }
            _ if i32::try_from(i).is_ok() => {
                out.push(0xf3);
                out.extend_from_slice(&(i as i32).to_le_bytes());
            }
            _ => {
                out.push(0xf4);
                out.extend_from_slice(&i.to_le_bytes());
            }
        }
    } else {
        let n = v.len();
        if n < 64 {
            out.push(0x80 | n as u8);
        } else if n < 4096 {
            out.push(0xe0 | (n >> 8) as u8);
            out.push(n as u8);
        } else {
            out.push(0xf0);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        out.extend_from_slice(v);
    }
    let l = out.len() - start;
    push_backlen(out, l);
}

/// Size in bytes that `v` takes as a listpack entry, to decide node splits without encoding.
pub(crate) fn entry_size(v: &[u8]) -> usize {
    let mut tmp = Vec::new();
    push_entry(&mut tmp, v);
    tmp.len()
}

/// Builds a complete listpack holding `items` in order.
pub(crate) fn encode<'a, I: IntoIterator<Item = &'a [u8]>>(items: I) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let mut count = 0usize;
    for it in items {
        push_entry(&mut out, it);
        count += 1;
    }
    out.push(EOF);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out[4..6].copy_from_slice(&(count.min(65535) as u16).to_le_bytes());
    out
}

fn int_entry(data: &[u8], bits: u32) -> i64 {
    let mut u: u64 = 0;
    for (k, &b) in data.iter().enumerate() {
        u |= (b as u64) << (8 * k);
    }
    // Sign-extend from `bits`.
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Decodes a listpack into its elements (integers become their decimal strings).
#[cfg(test)]
pub(crate) fn decode(lp: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    decode_with(lp, true)
}

/// Decodes a listpack into its elements (integers become their decimal strings). With
/// `backlens` off, each entry's back-length must still take its bytes
/// but their value is not compared: Redis checks it only under deep sanitization, and a
/// forward walk (all we do) never reads it.
pub(crate) fn decode_with(lp: &[u8], backlens: bool) -> Result<Vec<Vec<u8>>, RdbError> {
    const BAD: RdbError = RdbError::Corrupt("invalid listpack");
    if lp.len() < HEADER + 1 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    let count = u16::from_le_bytes([lp[4], lp[5]]) as usize;
    if total != lp.len() || lp[lp.len() - 1] != EOF {
        return Err(BAD);
    }
    let mut items = Vec::with_capacity(count.min(lp.len()));
    let mut p = HEADER;
    let end = lp.len() - 1;
    while p < end {
        let b = lp[p];
        let take = |from: usize, n: usize| lp.get(from..from + n).filter(|_| from + n <= end);
        let (hdr, item): (usize, Vec<u8>) = if b & 0x80 == 0 {
            (1, (b as i64).to_string().into_bytes())
        } else if b & 0xc0 == 0x80 {
            let n = (b & 0x3f) as usize;
            (1 + n, take(p + 1, n).ok_or(BAD)?.to_vec())
        } else if b & 0xe0 == 0xc0 {
            let d = take(p + 1, 1).ok_or(BAD)?;
            let u = ((b as i64 & 0x1f) << 8) | d[0] as i64;
            let v = if u >= 4096 { u - 8192 } else { u };
            (2, v.to_string().into_bytes())
        } else if b & 0xf0 == 0xe0 {
            let d = take(p + 1, 1).ok_or(BAD)?;
            let n = ((b as usize & 0x0f) << 8) | d[0] as usize;
            (2 + n, take(p + 2, n).ok_or(BAD)?.to_vec())
        } else {
            let (nbytes, bits) = match b {
                0xf0 => {
                    let d = take(p + 1, 4).ok_or(BAD)?;
                    let n = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
                    let s = take(p + 5, n).ok_or(BAD)?;
                    let l = 5 + n;
                    items.push(s.to_vec());
                    p += l + check_backlen(lp, p + l, l, end, backlens)?;
                    continue;
                }
                0xf1 => (2, 16),
                0xf2 => (3, 24),
                0xf3 => (4, 32),
                0xf4 => (8, 64),
                _ => return Err(BAD),
            };
            let d = take(p + 1, nbytes).ok_or(BAD)?;
            (1 + nbytes, int_entry(d, bits).to_string().into_bytes())
        };
        items.push(item);
        p += hdr + check_backlen(lp, p + hdr, hdr, end, backlens)?;
    }
    if count != 65535 && count != items.len() {
        return Err(BAD);
    }
    Ok(items)
}

/// Checks the backlen at `at` encodes `l`; returns its size.
fn check_backlen(
    lp: &[u8],
    at: usize,
    l: usize,
    end: usize,
    compare: bool,
) -> Result<usize, RdbError> {
    let n = backlen_size(l);
    if at + n > end {
        return Err(RdbError::Corrupt("invalid listpack"));
    }
    if !compare {
        return Ok(n);
    }
    // Redis reads the back-length backwards from its last byte while the high bit is set
    // (up to five bytes, possibly into the entry itself) and compares the number, not the
    // bytes: a back-length that decodes to the entry's size is right.
    let (mut val, mut shift, mut i) = (0u64, 0u32, at + n - 1);
    loop {
        val |= u64::from(lp[i] & 127) << shift;
        if lp[i] & 128 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 || i == 0 {
            return Err(RdbError::Corrupt("invalid listpack backlen"));
        }
        i -= 1;
    }
    if val != l as u64 {
        return Err(RdbError::Corrupt("invalid listpack backlen"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ints() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-12"), Some(-12));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"-0"[..],
            b"01",
            b"+1",
            b" 1",
            b"",
            b"-",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(parse_canonical_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn exact_encodings() {
        let lp = encode([&b"a"[..], b"5", b"-1", b"1000"]);
        // header(6) + "a": 0x81 'a' backlen 2 + 5: 0x05 bl 1 + -1: 13-bit 0xdf 0xff bl 2
        // + 1000: 0xc3 0xe8 bl 2 + 0xff.
        assert_eq!(
            lp,
            vec![18, 0, 0, 0, 4, 0, 0x81, b'a', 2, 0x05, 1, 0xdf, 0xff, 2, 0xc3, 0xe8, 2, 0xff]
        );
    }

    #[test]
    fn roundtrip_all_widths() {
        let vals: Vec<Vec<u8>> = [
            "0",
            "127",
            "128",
            "-4096",
            "4095",
            "4096",
            "-32768",
            "32767",
            "-8388608",
            "8388607",
            "8388608",
            "-2147483648",
            "2147483647",
            "2147483648",
            "-9223372036854775808",
            "9223372036854775807",
            "01",
            "-0",
            "x",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .chain([
            vec![b'y'; 63],
            vec![b'z'; 64],
            vec![b'w'; 4095],
            vec![b'v'; 4096],
        ])
        .chain([vec![b'u'; 20000]])
        .collect();
        let lp = encode(vals.iter().map(|v| v.as_slice()));
        assert_eq!(decode(&lp).unwrap(), vals);
    }

    #[test]
    fn backlen_bytes() {
        let mut v = Vec::new();
        push_backlen(&mut v, 500);
        assert_eq!(v, vec![(500u32 >> 7) as u8, ((500u32 & 127) | 128) as u8]);
    }
}

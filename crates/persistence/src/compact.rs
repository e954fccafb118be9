//! Older compact blobs that RDB files may still contain: ziplists (Redis < 7.0 lists, hashes
//! and zsets), zipmaps (Redis < 2.6 hashes) and intsets (sets of integers, still current).

use crate::error::RdbError;

/// Decodes a ziplist blob into its elements (integers become decimal strings).
///
/// Layout: u32 LE total bytes, u32 LE tail offset, u16 LE count (65535 = unknown), entries,
/// 0xFF. Entry: prevlen (1 byte, or 0xFE + u32 LE), encoding, data.
pub(crate) fn ziplist_decode(zl: &[u8]) -> Result<Vec<Vec<u8>>, RdbError> {
    const BAD: RdbError = RdbError::Corrupt("invalid ziplist");
    if zl.len() < 11 {
        return Err(BAD);
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    let count = u16::from_le_bytes([zl[8], zl[9]]) as usize;
    if total != zl.len() || zl[zl.len() - 1] != 0xff {
        return Err(BAD);
    }
    let end = zl.len() - 1;
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    if tail > end {
        return Err(BAD);
    }
    let get = |from: usize, n: usize| zl.get(from..from + n).filter(|_| from + n <= end);
    let mut items = Vec::with_capacity(count.min(zl.len()));
    let mut p = 10;
    // Redis validates every ziplist deeply as it converts it (any sanitize mode): each
    // entry's prevlen is the previous entry's size, the tail offset is the last entry's
    // start, and a 0xFF where an entry starts ends the walk (which must be the real end).
    let (mut prev_start, mut prev_size) = (None, 0usize);
    while p < end && zl[p] != 0xff {
        let start = p;
        let prevlen = if zl[p] < 254 {
            p += 1;
            zl[p - 1] as usize
        } else {
            let d = get(p + 1, 4).ok_or(BAD)?;
            p += 5;
            u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize
        };
        if prevlen != prev_size {
            return Err(BAD);
        }
        let b = *get(p, 1).ok_or(BAD)?.first().ok_or(BAD)?;
        let (hdr, item): (usize, Vec<u8>) = match b >> 6 {
            0 => {
                let n = (b & 0x3f) as usize;
                (1 + n, get(p + 1, n).ok_or(BAD)?.to_vec())
            }
            1 => {
                let d = get(p + 1, 1).ok_or(BAD)?;
                let n = ((b as usize & 0x3f) << 8) | d[0] as usize;
                (2 + n, get(p + 2, n).ok_or(BAD)?.to_vec())
            }
            2 => {
                if b != 0x80 {
                    return Err(BAD);
                }
                let d = get(p + 1, 4).ok_or(BAD)?;
                let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                (5 + n, get(p + 5, n).ok_or(BAD)?.to_vec())
            }
            _ => {
                let int = |n: usize| -> Result<i64, RdbError> {
                    let d = get(p + 1, n).ok_or(BAD)?;
                    let mut u: u64 = 0;
                    for (k, &x) in d.iter().enumerate() {
                        u |= (x as u64) << (8 * k);
                    }
                    let shift = 64 - 8 * n as u32;
                    Ok(((u << shift) as i64) >> shift)
                };
                let (n, v) = match b {
                    0xc0 => (2, int(2)?),
                    0xd0 => (4, int(4)?),
                    0xe0 => (8, int(8)?),
                    0xf0 => (3, int(3)?),
                    0xfe => (1, int(1)?),
                    0xf1..=0xfd => (0, (b & 0x0f) as i64 - 1),
                    _ => return Err(BAD),
                };
                (1 + n, v.to_string().into_bytes())
            }
        };
        items.push(item);
        p += hdr;
        if p > end {
            return Err(BAD);
        }
        prev_size = p - start;
        prev_start = Some(start);
    }
    if p != end || prev_start.is_some_and(|s| s != tail) || (count != 65535 && count != items.len())
    {
        return Err(BAD);
    }
    Ok(items)
}

/// Hash field/value pairs as decoded from a blob.
pub(crate) type FieldValues = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes a zipmap (pre-2.6 small hash) into field/value pairs.
///
/// Layout: 1-byte count, then per pair: len, field, len, 1-byte free, value, free padding;
/// lengths are 1 byte below 254, else 254 + u32 LE; 0xFF ends the map.
pub(crate) fn zipmap_decode(zm: &[u8]) -> Result<FieldValues, RdbError> {
    const BAD: RdbError = RdbError::Corrupt("invalid zipmap");
    let mut p = 1;
    let mut pairs = Vec::new();
    let read_len = |p: &mut usize| -> Result<Option<usize>, RdbError> {
        let b = *zm.get(*p).ok_or(BAD)?;
        *p += 1;
        match b {
            0..=253 => Ok(Some(b as usize)),
            254 => {
                let d = zm.get(*p..*p + 4).ok_or(BAD)?;
                *p += 4;
                Ok(Some(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize))
            }
            255 => Ok(None),
        }
    };
    if zm.is_empty() {
        return Err(BAD);
    }
    while let Some(klen) = read_len(&mut p)? {
        let key = zm.get(p..p + klen).ok_or(BAD)?.to_vec();
        p += klen;
        let vlen = read_len(&mut p)?.ok_or(BAD)?;
        let free = *zm.get(p).ok_or(BAD)? as usize;
        p += 1;
        let val = zm.get(p..p + vlen).ok_or(BAD)?.to_vec();
        p += vlen + free;
        pairs.push((key, val));
    }
    // Redis refuses an empty zipmap and one whose count byte (below 254) is wrong.
    if p != zm.len() || pairs.is_empty() || (zm[0] < 254 && zm[0] as usize != pairs.len()) {
        return Err(BAD);
    }
    Ok(pairs)
}

/// Decodes an intset: u32 LE element width (2, 4 or 8), u32 LE count, sorted LE integers.
pub(crate) fn intset_decode(is: &[u8]) -> Result<Vec<i64>, RdbError> {
    const BAD: RdbError = RdbError::Corrupt("invalid intset");
    if is.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes([is[0], is[1], is[2], is[3]]) as usize;
    let count = u32::from_le_bytes([is[4], is[5], is[6], is[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) || count.checked_mul(width) != Some(is.len() - 8) {
        return Err(BAD);
    }
    let mut out = Vec::with_capacity(count);
    for chunk in is[8..].chunks_exact(width) {
        let v = match width {
            2 => i16::from_le_bytes([chunk[0], chunk[1]]) as i64,
            4 => i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as i64,
            _ => {
                let mut b = [0u8; 8];
                b.copy_from_slice(chunk);
                i64::from_le_bytes(b)
            }
        };
        if out.last().is_some_and(|&last| last >= v) {
            return Err(RdbError::Corrupt("intset not sorted"));
        }
        out.push(v);
    }
    Ok(out)
}

/// Encodes integers as an intset with the narrowest width that fits them all.
pub(crate) fn intset_encode(vals: &[i64]) -> Vec<u8> {
    let mut sorted = vals.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let width: usize = if sorted.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if sorted.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * sorted.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for v in sorted {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Test-only ziplist and zipmap builders, to check we load files from older Redis versions.
#[cfg(test)]
pub(crate) mod build {
    /// Builds a ziplist the way Redis < 7.0 did (integers for canonical integer strings).
    pub(crate) fn ziplist(items: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![0u8; 10];
        let mut prev = 0usize;
        let mut tail = 10;
        for it in items {
            tail = out.len();
            let start = out.len();
            if prev < 254 {
                out.push(prev as u8);
            } else {
                out.push(254);
                out.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            match crate::listpack::parse_canonical_i64(it) {
                Some(v @ 0..=12) => out.push(0xf1 + v as u8),
                Some(v) if i8::try_from(v).is_ok() => {
                    out.push(0xfe);
                    out.push(v as u8);
                }
                Some(v) if i16::try_from(v).is_ok() => {
                    out.push(0xc0);
                    out.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Some(v) if (-8_388_608..8_388_608).contains(&v) => {
                    out.push(0xf0);
                    out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Some(v) if i32::try_from(v).is_ok() => {
                    out.push(0xd0);
                    out.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Some(v) => {
                    out.push(0xe0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                None if it.len() < 64 => {
                    out.push(it.len() as u8);
                    out.extend_from_slice(it);
                }
                None if it.len() < 16384 => {
                    out.push(0x40 | (it.len() >> 8) as u8);
                    out.push(it.len() as u8);
                    out.extend_from_slice(it);
                }
                None => {
                    out.push(0x80);
                    out.extend_from_slice(&(it.len() as u32).to_be_bytes());
                    out.extend_from_slice(it);
                }
            }
            prev = out.len() - start;
        }
        out.push(0xff);
        let total = out.len() as u32;
        out[0..4].copy_from_slice(&total.to_le_bytes());
        out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        out[8..10].copy_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        out
    }

    /// Builds a zipmap (with one free byte after each value, as updates left them).
    pub(crate) fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = vec![pairs.len().min(254) as u8];
        let len = |out: &mut Vec<u8>, n: usize| {
            if n < 254 {
                out.push(n as u8);
            } else {
                out.push(254);
                out.extend_from_slice(&(n as u32).to_le_bytes());
            }
        };
        for (k, v) in pairs {
            len(&mut out, k.len());
            out.extend_from_slice(k);
            len(&mut out, v.len());
            out.push(1);
            out.extend_from_slice(v);
            out.push(0);
        }
        out.push(0xff);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_roundtrip() {
        let long = vec![b'q'; 300];
        let items: Vec<&[u8]> = vec![
            b"a",
            b"0",
            b"12",
            b"13",
            b"-5",
            b"300",
            b"70000",
            b"-9000000",
            b"3000000000",
            b"x1",
            &long,
            b"-0",
        ];
        let zl = build::ziplist(&items);
        let got = ziplist_decode(&zl).unwrap();
        assert_eq!(got, items.iter().map(|s| s.to_vec()).collect::<Vec<_>>());
    }

    #[test]
    fn zipmap_roundtrip() {
        let big = vec![b'v'; 400];
        let zm = build::zipmap(&[(b"f1", b"v1"), (b"f2", &big)]);
        let got = zipmap_decode(&zm).unwrap();
        assert_eq!(
            got,
            vec![(b"f1".to_vec(), b"v1".to_vec()), (b"f2".to_vec(), big)]
        );
    }

    #[test]
    fn intset_roundtrip() {
        for vals in [
            vec![3i64, 1, 2],
            vec![-70000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let mut sorted = vals.clone();
            sorted.sort();
            assert_eq!(intset_decode(&intset_encode(&vals)).unwrap(), sorted);
        }
        assert_eq!(intset_encode(&[1, 2])[0], 2);
        assert_eq!(intset_encode(&[1, 70000])[0], 4);
    }
}

//! LZF compression (the liblzf stream format Redis uses for long strings in RDB files).
//!
//! Format: a control byte below 32 means "copy the next ctrl+1 literal bytes"; otherwise its
//! top three bits are a length (7 means "add the next byte") and, with the low five bits and
//! the next byte, a 13-bit back distance: copy len+2 bytes starting distance+1 bytes back.

use crate::error::RdbError;
use std::cell::RefCell;

const MAX_LITERAL: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const HASH_BITS: u32 = 14;

fn hash3(b: &[u8]) -> usize {
    let v = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for chunk in lit.chunks(MAX_LITERAL) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
    }
}

/// The match-finder table, reused across calls on one thread: filling a fresh 16k-entry
/// table per string made SAVE of short values several times slower than Redis. Each slot
/// holds `(generation << 32) | position`; a slot from an earlier call reads as empty, so the
/// output is the same as with a fresh table.
struct Table {
    generation: u64,
    slots: Box<[u64]>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        generation: 0,
        slots: vec![0; 1 << HASH_BITS].into_boxed_slice(),
    });
}

/// Compresses `input`; returns None unless the result is strictly shorter than `max_len`
/// bytes, because Redis only stores compressed strings that save space.
#[cfg(test)]
pub(crate) fn compress(input: &[u8], max_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(input, max_len, &mut out).then_some(out)
}

/// [`compress`] into `out` (cleared first), so a caller compressing many strings reuses one
/// buffer; returns whether the result is usable (strictly shorter than `max_len`).
pub(crate) fn compress_into(input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    out.clear();
    // Positions are stored in 32 bits; longer inputs (never seen in practice: a Redis
    // string is at most 512 MB) fall back to a private table.
    if input.len() >= u32::MAX as usize {
        let mut table = Table {
            generation: 0,
            slots: vec![0; 1 << HASH_BITS].into_boxed_slice(),
        };
        return compress_with(&mut table, input, max_len, out);
    }
    TABLE.with(|t| compress_with(&mut t.borrow_mut(), input, max_len, out))
}

fn compress_with(table: &mut Table, input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    table.generation += 1;
    if table.generation >= 1 << 32 {
        table.slots.fill(0);
        table.generation = 1;
    }
    let stamp = table.generation << 32;
    let slots = &mut table.slots;
    out.reserve(input.len());
    let mut lit_start = 0;
    let mut i = 0;
    while i + 2 < input.len() {
        let h = hash3(&input[i..]);
        let old = slots[h];
        slots[h] = stamp | i as u64;
        let cand = (old & 0xffff_ffff) as usize;
        if old & !0xffff_ffff == stamp
            && i - cand <= MAX_OFF
            && input[cand..cand + 3] == input[i..i + 3]
        {
            let max = (input.len() - i).min(MAX_REF);
            let len = match_len(input, cand, i, max);
            flush_literals(out, &input[lit_start..i]);
            let off = i - cand - 1;
            let l = len - 2;
            if l < 7 {
                out.push(((l as u8) << 5) | (off >> 8) as u8);
            } else {
                out.push((7 << 5) | (off >> 8) as u8);
                out.push((l - 7) as u8);
            }
            out.push((off & 0xff) as u8);
            // Index the last two positions of the match only, as liblzf's VERY_FAST mode
            // (Redis's build) does: indexing every position inside long matches cost more
            // than half the time of encoding compressible values, for little gain.
            for j in (i + len).saturating_sub(2)..(i + len).min(input.len().saturating_sub(2)) {
                slots[hash3(&input[j..])] = stamp | j as u64;
            }
            i += len;
            lit_start = i;
            if out.len() >= max_len {
                return false;
            }
        } else {
            i += 1;
        }
    }
    flush_literals(out, &input[lit_start..]);
    out.len() < max_len
}

/// Length of the common run of `input[cand..]` and `input[i..]` (`cand < i`), at least 3
/// (already checked) and at most `max`, compared eight bytes at a time.
fn match_len(input: &[u8], cand: usize, i: usize, max: usize) -> usize {
    let mut len = 3;
    while len + 8 <= max {
        let a = u64::from_le_bytes(
            input[cand + len..cand + len + 8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        let b = u64::from_le_bytes(input[i + len..i + len + 8].try_into().unwrap_or([0; 8]));
        let diff = a ^ b;
        if diff != 0 {
            return len + (diff.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < max && input[cand + len] == input[i + len] {
        len += 1;
    }
    len
}

/// Decompresses `input`, which must expand to exactly `expected_len` bytes.
pub(crate) fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, RdbError> {
    const BAD: RdbError = RdbError::Corrupt("invalid LZF data");
    // A 2-byte back reference yields at most 264 bytes: cap the allocation accordingly.
    let mut out = Vec::with_capacity(expected_len.min(input.len().saturating_mul(MAX_REF)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(i..i + n).ok_or(BAD)?;
            if out.len() + n > expected_len {
                return Err(BAD);
            }
            out.extend_from_slice(lit);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i).ok_or(BAD)? as usize;
                i += 1;
            }
            let low = *input.get(i).ok_or(BAD)? as usize;
            i += 1;
            let dist = ((ctrl & 0x1f) << 8 | low) + 1;
            let n = len + 2;
            if dist > out.len() || out.len() + n > expected_len {
                return Err(BAD);
            }
            let start = out.len() - dist;
            if dist >= n {
                out.extend_from_within(start..start + n);
            } else {
                // Overlapping copy (a run): byte by byte, each read sees the last write.
                for k in 0..n {
                    let b = out[start + k];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != expected_len {
        return Err(BAD);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_repetitive() {
        let data: Vec<u8> = b"abcabcabcabc-hello-hello-hello-".repeat(40);
        let c = compress(&data, data.len()).expect("compressible");
        assert!(c.len() < data.len() / 2, "{} of {}", c.len(), data.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
    }

    #[test]
    fn incompressible_is_none() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(97) ^ (i >> 3)) as u8)
            .collect();
        if let Some(c) = compress(&data, data.len()) {
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn reused_table_gives_the_same_output_as_a_fresh_one() {
        let a: Vec<u8> = b"value:12345-value:12345-value:12345".to_vec();
        let b: Vec<u8> = b"other:99-other:99-other:99-other:99-xyz".repeat(3);
        let first = compress(&a, a.len());
        let _ = compress(&b, b.len());
        assert_eq!(compress(&a, a.len()), first);
        let mut fresh = Table {
            generation: 0,
            slots: vec![0; 1 << HASH_BITS].into_boxed_slice(),
        };
        let mut out = Vec::new();
        let ok = compress_with(&mut fresh, &a, a.len(), &mut out);
        assert_eq!(ok.then_some(out), first);
        assert_eq!(decompress(&first.unwrap(), a.len()).unwrap(), a);
    }

    #[test]
    fn long_runs() {
        let data = vec![b'x'; 5000];
        let c = compress(&data, data.len()).unwrap();
        assert_eq!(decompress(&c, 5000).unwrap(), data);
        assert!(decompress(&c, 4999).is_err());
        assert!(decompress(&c, 5001).is_err());
    }
}

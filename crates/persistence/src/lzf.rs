//! LZF compression (the liblzf stream format Redis uses for long strings in RDB files).
//! The compressor makes the bytes Redis's liblzf build makes (HLOG 16, VERY_FAST, the
//! same hash, match rules and output-room tests), so DUMP payloads and RDB files are
//! byte-identical to Redis's, not just decodable by it.
//!
//! Format: a control byte below 32 means "copy the next ctrl+1 literal bytes"; otherwise its
//! top three bits are a length (7 means "add the next byte") and, with the low five bits and
//! the next byte, a 13-bit back distance: copy len+2 bytes starting distance+1 bytes back.

use crate::error::RdbError;
use std::cell::RefCell;

const MAX_LITERAL: usize = 32;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// Redis builds liblzf with HLOG 16: the table's size is part of the output format.
const HASH_BITS: u32 = 16;
const HSIZE: usize = 1 << HASH_BITS;

/// The match-finder table, reused across calls on one thread: filling a fresh 64k-entry
/// table per string would make SAVE of short values several times slower than Redis. A
/// call numbers its input positions from `next` on and stores those numbers; every call
/// starts past the numbers of the calls before it, so a slot from an earlier call reads as
/// below the current base, that is empty, and the output is the same as with a fresh
/// table. 32-bit slots: 256 KiB, allocated on first use, wiped only when the numbers run
/// out (every 4 GiB of input), and given back by [`release_scratch`].
struct Table {
    /// The number the next call's first position gets (0 is never a position: empty).
    next: u32,
    slots: Vec<u32>,
}

impl Table {
    const fn empty() -> Table {
        Table {
            next: 1,
            slots: Vec::new(),
        }
    }

    /// The base of a call over `len` bytes: positions are `base + i`, all below the
    /// next call's base. Allocates or wipes the table when needed.
    fn begin(&mut self, len: u32) -> u32 {
        if self.slots.is_empty() {
            self.slots = vec![0; HSIZE];
        }
        if self.next.checked_add(len).is_none_or(|end| end == u32::MAX) {
            self.slots.fill(0);
            self.next = 1;
        }
        let base = self.next;
        self.next = base + len + 1;
        base
    }
}

thread_local! {
    static TABLE: RefCell<Table> = const { RefCell::new(Table::empty()) };
}

/// Frees this thread's compression table. A thread that wrote a whole snapshot calls it
/// when done: a pooled thread would otherwise hold 512 KiB that `used_memory` counts
/// (liblzf keeps its table on the stack, so Redis's does not show there).
pub fn release_scratch() {
    TABLE.with(|t| *t.borrow_mut() = Table::empty());
}

/// Compresses `input` into at most `max_len` bytes; None when liblzf would give up (it
/// gives up a little early: its room tests are conservative, and Redis relies on them).
#[cfg(test)]
pub(crate) fn compress(input: &[u8], max_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(input, max_len, &mut out).then_some(out)
}

/// [`compress`] into `out` (cleared first), so a caller compressing many strings reuses one
/// buffer; returns whether liblzf would have produced it within `max_len` bytes.
pub(crate) fn compress_into(input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    out.clear();
    // Positions are numbered in 32 bits. A longer input (a string of 4 GiB; liblzf takes
    // an `unsigned int` length, so Redis cannot compress it either) is stored as it is.
    if u32::try_from(input.len()).map_or(true, |len| len >= u32::MAX - 2) {
        return false;
    }
    TABLE.with(|t| compress_with(&mut t.borrow_mut(), input, max_len, out))
}

/// The compressor over `table`; `input` is shorter than `u32::MAX` bytes.
fn compress_with(table: &mut Table, input: &[u8], out_len: usize, out: &mut Vec<u8>) -> bool {
    let in_len = input.len();
    let base = table.begin(in_len as u32);
    let slots = &mut table.slots;
    out.clear();
    if in_len == 0 || out_len == 0 {
        return false;
    }
    // The output is written as liblzf writes it: `op` runs ahead of a literal run's
    // header byte (at op - lit - 1), which is filled in when the run stops.
    out.resize(out_len, 0);
    let mut op = 1usize;
    let mut lit = 0usize;
    let mut ip = 0usize;
    // The rolling hash of the three bytes at ip (older bytes above bit 24 are masked out
    // by the index function).
    let mut hval: u32 = (input[0] as u32) << 8 | input.get(1).copied().unwrap_or(0) as u32;
    let idx =
        |h: u32| ((h >> (24 - HASH_BITS)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1);
    while ip + 2 < in_len {
        hval = hval << 8 | input[ip + 2] as u32;
        let h = idx(hval);
        let old = slots[h];
        slots[h] = base + ip as u32;
        let cand = old.wrapping_sub(base) as usize;
        // A match needs an entry of this call, within reach, not at the very first byte
        // (liblzf's `ref > in_data`), and the same three bytes.
        if old >= base
            && ip - cand - 1 < MAX_OFF
            && cand > 0
            && input[cand..cand + 3] == input[ip..ip + 3]
        {
            let maxlen = (in_len - ip - 2).min(MAX_REF);
            // liblzf's conservative room test, then the exact one.
            if op + 4 >= out_len && op - usize::from(lit == 0) + 4 >= out_len {
                return false;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1);
            op -= usize::from(lit == 0);
            let len = match_len(input, cand, ip, maxlen);
            let off = ip - cand - 1;
            let l = len - 2;
            if l < 7 {
                out[op] = ((off >> 8) + (l << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (l - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the byte written, and room for the next run's header
            lit = 0;
            ip += len;
            if ip + 2 >= in_len {
                break;
            }
            // VERY_FAST: only the last two positions of the match go into the table.
            for j in [ip - 2, ip - 1] {
                hval = (input[j] as u32) << 16 | (input[j + 1] as u32) << 8 | input[j + 2] as u32;
                slots[idx(hval)] = base + j as u32;
            }
        } else {
            if op >= out_len {
                return false;
            }
            push_literal(out, &mut op, &mut lit, input[ip]);
            ip += 1;
        }
    }
    // At most two bytes and a run header are left.
    if op + 3 > out_len {
        return false;
    }
    while ip < in_len {
        push_literal(out, &mut op, &mut lit, input[ip]);
        ip += 1;
    }
    out[op - lit - 1] = (lit as u8).wrapping_sub(1);
    op -= usize::from(lit == 0);
    out.truncate(op);
    true
}

/// How many bytes of `input[cand..]` and `input[i..]` agree (`cand < i`), counted as
/// liblzf counts: the first three are known to, the count stops at the first difference
/// or at `maxlen` -- except that with `maxlen` over 16 the first sixteen further bytes are
/// compared without the cap (liblzf's unrolled loop), so the count may pass it by two.
fn match_len(input: &[u8], cand: usize, i: usize, maxlen: usize) -> usize {
    let mut len = 2;
    if maxlen > 16 {
        for _ in 0..16 {
            len += 1;
            if input[cand + len] != input[i + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if !(len < maxlen && input[cand + len] == input[i + len]) {
            return len;
        }
    }
}

/// Appends one literal byte at `op` to the run of `lit` bytes whose header byte sits
/// before it; a full run (32 bytes) gets its header and the next run's header slot.
#[inline]
fn push_literal(out: &mut [u8], op: &mut usize, lit: &mut usize, byte: u8) {
    *lit += 1;
    out[*op] = byte;
    *op += 1;
    if *lit == MAX_LITERAL {
        out[*op - *lit - 1] = (*lit - 1) as u8;
        *lit = 0;
        *op += 1;
    }
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
        let mut fresh = Table::empty();
        let mut out = Vec::new();
        let ok = compress_with(&mut fresh, &a, a.len(), &mut out);
        assert_eq!(ok.then_some(out), first);
        assert_eq!(decompress(&first.unwrap(), a.len()).unwrap(), a);
    }

    #[test]
    fn a_table_whose_numbers_run_out_is_wiped_and_gives_the_same_output() {
        let a: Vec<u8> = b"value:12345-value:12345-value:12345".to_vec();
        let first = compress(&a, a.len());
        let mut worn = Table::empty();
        let mut out = Vec::new();
        // Leave entries behind, then move the numbering to the end of its range.
        assert!(compress_with(&mut worn, &a, a.len(), &mut out));
        worn.next = u32::MAX - 10;
        out.clear();
        let ok = compress_with(&mut worn, &a, a.len(), &mut out);
        assert_eq!(ok.then_some(out), first);
        assert_eq!(worn.next, 1 + a.len() as u32 + 1);
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

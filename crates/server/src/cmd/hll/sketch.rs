//! The HyperLogLog sketch in Redis's exact string representation, with no server around it,
//! so it can be tested on its own and so that a value written here reads back in Redis (and
//! the other way round) through GET/SET, DUMP/RESTORE, RDB and replication.
//!
//! Layout (Redis 7.0, `hyperloglog.c`): a 16-byte header — `HYLL`, an encoding byte (0 dense,
//! 1 sparse), three unused bytes, and the cached cardinality as 8 little-endian bytes whose
//! top bit flags the cache as stale — followed by 16384 six-bit registers. Dense packs them
//! LSB-first into 12288 bytes; sparse is a run-length list of ZERO (`00xxxxxx`, 1..64 zeros),
//! XZERO (`01xxxxxx yyyyyyyy`, 1..16384 zeros) and VAL (`1vvvvvxx`, value 1..32 repeated 1..4
//! times) opcodes. Elements are hashed with MurmurHash64A (seed `0xadc83b19`): the low 14
//! bits pick the register, the run of zeros above them (plus one) is the candidate value.
//!
//! Every reader treats the byte just past the string as 0, as Redis's C code reads the SDS
//! terminator there, so even corrupt strings give Redis's answers (never a panic).

/// Bytes in the header.
pub(crate) const HDR: usize = 16;
/// Number of registers (2^14).
pub(crate) const REGISTERS: usize = 1 << 14;
/// Length of a dense HLL string.
pub(crate) const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
/// Encoding byte of the dense representation.
pub(crate) const DENSE: u8 = 0;
/// Encoding byte of the sparse representation.
pub(crate) const SPARSE: u8 = 1;
/// Highest register index bits used for the zero run (64 - 14).
const Q: usize = 64 - 14;
/// Largest value a sparse VAL opcode can hold.
const SPARSE_VAL_MAX: u8 = 32;
/// Longest run a ZERO opcode can hold (longer runs use XZERO).
const ZERO_MAX_LEN: usize = 64;
/// 0.5 / ln(2), the estimator's bias constant for m -> infinity.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A sparse representation that does not describe exactly 16384 registers (Redis answers
/// "INVALIDOBJ Corrupted HLL object detected").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Corrupt;

/// MurmurHash2, 64-bit version, as Redis uses it (little-endian words on every platform).
pub(crate) fn murmur64a(data: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = (seed as u64) ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element maps to and the value it proposes (length of the `0...01`
/// pattern after the index bits, 1..=51).
pub(crate) fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> 14) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The byte at `i`, or 0 past the end (the SDS terminator Redis reads there).
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// A fresh, empty HLL: sparse, one XZERO opcode covering all registers.
pub(crate) fn new_sparse() -> Vec<u8> {
    let mut s = vec![0u8; HDR + 2];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = SPARSE;
    let len = REGISTERS - 1;
    s[HDR] = 0x40 | (len >> 8) as u8;
    s[HDR + 1] = (len & 0xff) as u8;
    s
}

/// Whether a string value passes Redis's HLL checks: long enough for a header, the magic,
/// a known encoding, and exactly the dense size when dense.
pub(crate) fn looks_valid(s: &[u8]) -> bool {
    s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_SIZE)
}

/// The encoding byte (call only on strings that pass `looks_valid`).
pub(crate) fn encoding(s: &[u8]) -> u8 {
    s[4]
}

/// The cached cardinality, if the header says it is still valid.
pub(crate) fn cached(s: &[u8]) -> Option<u64> {
    if s[15] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..16]);
    Some(u64::from_le_bytes(b))
}

/// Stores a freshly computed cardinality in the header.
pub(crate) fn set_cached(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale (the top bit of its last byte).
pub(crate) fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// Reads dense register `i` from the register bytes.
pub(crate) fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = at(regs, byte) as u32;
    let b1 = at(regs, byte + 1) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

/// Writes dense register `i` (the byte past the last register is never touched: its bits
/// are always zero for a 6-bit value).
pub(crate) fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = val as u32;
    regs[byte] &= !((63u32 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b) = regs.get_mut(byte + 1) {
        *b &= !((63u32 >> (8 - fb)) as u8);
        *b |= (v >> (8 - fb)) as u8;
    }
}

/// Raises dense register `i` to `count` if lower; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `len` zero registers (ZERO when `wide` is false, XZERO when true).
    Zero { len: usize, wide: bool },
    /// `len` registers holding `val`.
    Val { val: u8, len: usize },
}

impl Op {
    /// Decodes the opcode at `p` (reading the terminator as 0 past the end).
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0xc0 == 0 {
            Op::Zero {
                len: (b & 0x3f) as usize + 1,
                wide: false,
            }
        } else if b & 0x80 == 0 {
            Op::Zero {
                len: ((((b & 0x3f) as usize) << 8) | at(s, p + 1) as usize) + 1,
                wide: true,
            }
        } else {
            Op::Val {
                val: ((b >> 2) & 0x1f) + 1,
                len: (b & 3) as usize + 1,
            }
        }
    }

    /// Bytes the opcode takes.
    fn size(self) -> usize {
        match self {
            Op::Zero { wide: true, .. } => 2,
            _ => 1,
        }
    }

    /// Registers the opcode covers.
    fn span(self) -> usize {
        match self {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        }
    }
}

/// Encodes a VAL opcode byte.
fn val_byte(val: u8, len: usize) -> u8 {
    0x80 | ((val - 1) << 2) | (len as u8 - 1)
}

/// Appends the zero run of `len` registers (ZERO if it fits, else XZERO).
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        seq.push(0x40 | ((len - 1) >> 8) as u8);
        seq.push(((len - 1) & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Visits the registers a sparse body describes, run by run, as `(first, len, val)`, with
/// Redis's rule that a VAL run reaching past the last register stops the walk. Returns the
/// number of registers covered (16384 when valid).
fn walk_sparse(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> usize {
    let mut p = HDR;
    let mut idx = 0usize;
    while p < s.len() {
        let op = Op::at(s, p);
        match op {
            Op::Zero { len, .. } => idx += len,
            Op::Val { val, len } => {
                if idx + len > REGISTERS {
                    break;
                }
                f(idx, len, val);
                idx += len;
            }
        }
        p += op.size();
    }
    idx
}

/// Converts a sparse HLL to dense in place (header, cache included, carried over). A no-op
/// when already dense.
pub(crate) fn to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let covered = walk_sparse(s, |first, len, val| {
        for i in first..first + len {
            dense_put(&mut dense[HDR..], i, val);
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// Raises register `index` to `count` in a sparse HLL, splitting opcodes as Redis does and
/// promoting to dense when the value does not fit a VAL opcode or the string would grow past
/// `max_bytes`. Ok(true) if the register changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut span = 0usize;
    while p < end {
        let op = Op::at(s, p);
        span = op.span();
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += op.size();
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = Op::at(s, p);
    let next = p + op.size();
    let last = first + span - 1;
    // Step 2: the cheap in-place cases, else build the replacement sequence.
    match op {
        Op::Val { val, .. } if val >= count => return Ok(false),
        Op::Val { len: 1, .. }
        | Op::Zero {
            len: 1,
            wide: false,
        } => {
            s[p] = val_byte(count, 1);
        }
        _ => {
            let mut seq = Vec::with_capacity(5);
            match op {
                Op::Zero { .. } => {
                    if index != first {
                        push_zeros(&mut seq, index - first);
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        push_zeros(&mut seq, last - index);
                    }
                }
                Op::Val { val, .. } => {
                    if index != first {
                        seq.push(val_byte(val, index - first));
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        seq.push(val_byte(val, last - index));
                    }
                }
            }
            // Step 3: splice it in place of the old opcode.
            let delta = seq.len() as isize - op.size() as isize;
            if delta > 0 && end as isize + delta > max_bytes as isize {
                return promote(s, index, count);
            }
            let new_len = (end as isize + delta) as usize;
            let tail: Vec<u8> = if next < end {
                s[next..].to_vec()
            } else {
                Vec::new()
            };
            s.truncate(p);
            s.extend_from_slice(&seq);
            s.extend_from_slice(&tail);
            // An XZERO cut short by the end of a corrupt string: Redis's length bookkeeping
            // keeps only `new_len` bytes.
            s.truncate(new_len);
        }
    }
    merge_adjacent(s, prev.unwrap_or(HDR));
    invalidate(s);
    Ok(true)
}

/// Step 4 of a sparse update: merges adjacent VAL opcodes of equal value (up to the VAL
/// length limit), looking at most five opcodes from `from`, as Redis does.
fn merge_adjacent(s: &mut Vec<u8>, from: usize) {
    let mut p = from;
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        match Op::at(s, p) {
            Op::Zero { wide, .. } => {
                p += if wide { 2 } else { 1 };
                continue;
            }
            Op::Val { val: v1, len: l1 } => {
                if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
                    if let Op::Val { val: v2, len: l2 } = Op::at(s, p + 1) {
                        if v1 == v2 && l1 + l2 <= 4 {
                            s[p + 1] = val_byte(v1, l1 + l2);
                            s.remove(p);
                            continue;
                        }
                    }
                }
            }
        }
        p += 1;
    }
}

/// Sparse -> dense promotion followed by the register update that needed it.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(s)?;
    dense_set(&mut s[HDR..], index, count);
    Ok(true)
}

/// Raises register `index` to `count` in either encoding; Ok(true) if it changed.
pub(crate) fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    match s[4] {
        DENSE => Ok(dense_set(&mut s[HDR..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(Corrupt),
    }
}

/// Adds one element; Ok(true) if a register changed (PFADD's "1").
pub(crate) fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    set_register(s, index, count, max_bytes)
}

/// Folds an HLL into `max` (one byte per register) by register-wise maximum.
pub(crate) fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    let covered = walk_sparse(s, |first, len, val| {
        for m in &mut max[first..first + len] {
            *m = (*m).max(val);
        }
    });
    if covered == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// The estimated cardinality of a dense or sparse HLL (ignoring the cache).
pub(crate) fn count(s: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u64; 64];
    if s[4] == DENSE {
        for i in 0..REGISTERS {
            histo[dense_get(&s[HDR..], i) as usize] += 1;
        }
        return Ok(estimate(&histo));
    }
    // Unlike the merge walk, the histogram walk counts every opcode to the end.
    let mut p = HDR;
    let mut idx = 0usize;
    while p < s.len() {
        let op = Op::at(s, p);
        match op {
            Op::Zero { len, .. } => histo[0] += len as u64,
            Op::Val { val, len } => histo[val as usize] += len as u64,
        }
        idx += op.span();
        p += op.size();
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of raw registers (one byte each), as PFCOUNT with several keys
/// computes it.
pub(crate) fn count_raw(regs: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u64; 64];
    for r in regs {
        histo[(*r & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", arXiv:1702.01284) in the same floating-point order as Redis, so results agree
/// to the unit.
fn estimate(histo: &[u64; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Ertl's sigma function.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// Ertl's tau function.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// PFDEBUG DECODE's text for a sparse HLL: `z:N` (ZERO), `Z:N` (XZERO), `v:VAL,LEN`.
pub(crate) fn decode(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        out.push(match op {
            Op::Zero { len, wide: false } => format!("z:{len}"),
            Op::Zero { len, wide: true } => format!("Z:{len}"),
            Op::Val { val, len } => format!("v:{val},{len}"),
        });
        p += op.size();
    }
    out.join(" ")
}

#[cfg(test)]
mod tests;

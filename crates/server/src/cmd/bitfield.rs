//! BITFIELD and BITFIELD_RO: signed (i1..i64) and unsigned (u1..u63) integers at any bit
//! offset of a string, big-endian bit order as SETBIT, with Redis 7.0's overflow rules
//! (WRAP, SAT, FAIL), argument checks in Redis's order, and its rule that a write counts as
//! a change only when it alters the string.

use super::args::is;
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::value::parse_i64_strict;
use rubra_keyspace::Value;
use rubra_resp::Reply;

type S = rubra_keyspace::StrValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), "bitmap", bitfield),
    Command::new("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), "bitmap", bitfield_ro),
];

const BAD_TYPE: Reply = Reply::err(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);
const BAD_OFFSET: Reply = Reply::err("ERR bit offset is not an integer or out of range");

/// What to do when a SET or INCRBY does not fit the type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// The operation kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Set,
    Incr,
}

/// One parsed operation.
struct Op {
    kind: Kind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    run(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset ...]
fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    run(ctx, args, true)
}

/// Parses `i<bits>` / `u<bits>` (the digits end at a NUL byte, as C's strlen sees them).
fn parse_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD_TYPE),
    };
    let digits = &arg[1..];
    let digits = &digits[..digits.iter().position(|&b| b == 0).unwrap_or(digits.len())];
    match parse_i64_strict(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(BAD_TYPE),
    }
}

/// Parses a bit offset, `#n` meaning n * bits, limited to `proto-max-bulk-len` bytes.
fn parse_offset(ctx: &Ctx, arg: &[u8], bits: u32) -> Result<u64, Reply> {
    let (digits, scale) = match arg.first() {
        Some(b'#') => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let n = parse_i64_strict(digits)
        .ok_or(BAD_OFFSET)?
        .wrapping_mul(scale);
    if n < 0 || (n >> 3) as u64 >= ctx.store.config.proto_max_bulk_len as u64 {
        return Err(BAD_OFFSET);
    }
    Ok(n as u64)
}

/// Parses every operation first (all argument errors come before any lookup, as in Redis).
fn parse_ops(ctx: &Ctx, args: &[Bytes]) -> Result<Vec<Op>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let remaining = args.len() - j - 1;
        let sub = &args[j];
        let kind = if is(sub, "get") && remaining >= 2 {
            Kind::Get
        } else if is(sub, "set") && remaining >= 3 {
            Kind::Set
        } else if is(sub, "incrby") && remaining >= 3 {
            Kind::Incr
        } else if is(sub, "overflow") && remaining >= 1 {
            let t = &args[j + 1];
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::err("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(err::SYNTAX);
        };
        let (signed, bits) = parse_type(&args[j + 1])?;
        let offset = parse_offset(ctx, &args[j + 2], bits)?;
        let value = if kind == Kind::Get {
            0
        } else {
            parse_i64_strict(&args[j + 3]).ok_or(err::NOT_INTEGER)?
        };
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == Kind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

/// Reads `bits` bits at bit `offset` (bits past the end read as zero).
fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..bits as u64 {
        let pos = offset + i;
        let byte = s.get((pos >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | ((byte >> (7 - (pos & 7))) & 1) as u64;
    }
    v
}

/// The same bits read as a two's-complement integer.
fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(s, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v | (-1i64 << bits)
    } else {
        v
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (the string is long enough).
fn set_bits(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits as u64 {
        let bit = (value >> (bits as u64 - 1 - i)) & 1;
        let pos = offset + i;
        let b = &mut s[(pos >> 3) as usize];
        let shift = 7 - (pos & 7);
        *b = (*b & !(1 << shift)) | ((bit as u8) << shift);
    }
}

/// Overflow check for unsigned fields: Some(result) to store (wrapped or saturated) on
/// overflow, None when `value + incr` fits. (FAIL reports overflow without a result.)
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let limit = if value > max || (incr > 0 && incr > maxincr) {
        max
    } else if incr < 0 && incr < minincr {
        0
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

/// Overflow check for signed fields, as `unsigned_overflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let limit = if value > max
        || (bits != 64 && incr > maxincr)
        || (value >= 0 && incr > 0 && incr > maxincr)
    {
        max
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        min
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => {
            let mut c = (value as u64).wrapping_add(incr as u64);
            if bits < 64 {
                let mask = u64::MAX << bits;
                if c & (1u64 << (bits - 1)) != 0 {
                    c |= mask;
                } else {
                    c &= !mask;
                }
            }
            Some(c as i64)
        }
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    })
}

/// Runs one SET/INCRBY on the string: the reply and whether the bits changed.
fn write_op(s: &mut [u8], op: &Op) -> (Reply, bool) {
    if op.signed {
        let old = get_signed(s, op.offset, op.bits);
        let (candidate, incr, ret_old) = match op.kind {
            Kind::Incr => (old, op.value, false),
            _ => (op.value, 0, true),
        };
        let new = match signed_overflow(candidate, incr, op.bits, op.overflow) {
            None => candidate.wrapping_add(incr),
            Some(Some(v)) => v,
            Some(None) => return (Reply::Nil, false),
        };
        set_bits(s, op.offset, op.bits, new as u64);
        (Reply::Int(if ret_old { old } else { new }), old != new)
    } else {
        let old = get_unsigned(s, op.offset, op.bits);
        let (candidate, incr, ret_old) = match op.kind {
            Kind::Incr => (old, op.value, false),
            _ => (op.value as u64, 0, true),
        };
        let new = match unsigned_overflow(candidate, incr, op.bits, op.overflow) {
            None => candidate.wrapping_add(incr as u64),
            Some(Some(v)) => v,
            Some(None) => return (Reply::Nil, false),
        };
        set_bits(s, op.offset, op.bits, new);
        (
            Reply::Int(if ret_old { old } else { new } as i64),
            old != new,
        )
    }
}

/// Runs a GET on the (possibly missing) string.
fn get_op(s: &[u8], op: &Op) -> Reply {
    if op.signed {
        Reply::Int(get_signed(s, op.offset, op.bits))
    } else {
        Reply::Int(get_unsigned(s, op.offset, op.bits) as i64)
    }
}

/// The shared body of BITFIELD and BITFIELD_RO.
fn run(ctx: &mut Ctx, args: &[Bytes], readonly_cmd: bool) -> CmdResult {
    let ops = parse_ops(ctx, args)?;
    let highest = ops
        .iter()
        .filter(|o| o.kind != Kind::Get)
        .map(|o| o.offset + o.bits as u64 - 1)
        .max();
    let Some(highest) = highest else {
        // Only GETs: a read lookup; a missing key reads as zeros.
        let s = ctx.read_as::<S>(&args[1])?;
        let empty = S::new();
        let s = s.map_or(&empty, |s| s);
        return Ok(Reply::Array(ops.iter().map(|o| get_op(s, o)).collect()));
    };
    if readonly_cmd {
        return Err(Reply::err(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let need = (highest >> 3) as usize + 1;
    let now = ctx.now_ms;
    let grew = match ctx.write_as::<S>(&args[1])? {
        Some(s) => {
            let old = s.len();
            if s.len() < need {
                s.resize(need, 0);
            }
            s.len() != old
        }
        None => {
            ctx.db()
                .set(args[1].clone(), Value::Str(vec![0; need].into()), now);
            true
        }
    };
    ctx.set_raw(&args[1], true);
    let s = ctx.write_as::<S>(&args[1])?.ok_or(err::NO_SUCH_KEY)?;
    let mut changes = 0u64;
    let mut out = Vec::with_capacity(ops.len());
    for op in &ops {
        if op.kind == Kind::Get {
            out.push(get_op(s, op));
            continue;
        }
        let (reply, changed) = write_op(s, op);
        if !matches!(reply, Reply::Nil) && (grew || changed) {
            changes += 1;
        }
        out.push(reply);
    }
    if changes > 0 {
        ctx.dirty(changes);
    }
    Ok(Reply::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What is written reads back (wrapped to the width), and neighbours keep their bits.
        #[test]
        fn set_then_get_round_trips(
            base in proptest::collection::vec(any::<u8>(), 16..24),
            offset in 0u64..64,
            bits in 1u32..=64,
            value in any::<i64>(),
        ) {
            let mut s = base.clone();
            set_bits(&mut s, offset, bits, value as u64);
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&s, offset, bits), value as u64 & mask);
            for pos in (0..s.len() as u64 * 8).filter(|p| *p < offset || *p >= offset + bits as u64) {
                prop_assert_eq!(get_unsigned(&s, pos, 1), get_unsigned(&base, pos, 1));
            }
        }

        /// WRAP is arithmetic modulo 2^bits; SAT clamps; no overflow means the exact sum.
        #[test]
        fn signed_overflow_rules(bits in 1u32..=64, a in any::<i64>(), b in any::<i64>()) {
            let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
            let min = -max - 1;
            let v = a.clamp(min, max);
            let exact = v as i128 + b as i128;
            let fits = exact >= min as i128 && exact <= max as i128;
            match signed_overflow(v, b, bits, Overflow::Sat) {
                None => prop_assert!(fits),
                Some(Some(x)) => prop_assert_eq!(x, if exact > 0 { max } else { min }),
                Some(None) => prop_assert!(false),
            }
            if let Some(Some(w)) = signed_overflow(v, b, bits, Overflow::Wrap) {
                let m = 1i128 << bits;
                let expect = ((exact - min as i128).rem_euclid(m)) + min as i128;
                prop_assert_eq!(w as i128, expect);
            }
        }
    }
}

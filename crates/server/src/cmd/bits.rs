//! Bit commands on strings (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP). Bit 0 is the most
//! significant bit of the first byte, as in Redis, so results match bit-by-bit.

use super::args::{self, is};
use super::flags::*;
use super::strings::TOO_BIG;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::Value;
use rubra_resp::Reply;

type S = rubra_keyspace::StrValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("setbit", 4, WRITE | DENYOOM, (1, 1, 1), "bitmap", setbit),
    Command::new("getbit", 3, READONLY | FAST, (1, 1, 1), "bitmap", getbit),
    Command::new("bitcount", -2, READONLY, (1, 1, 1), "bitmap", bitcount),
    Command::new("bitpos", -3, READONLY, (1, 1, 1), "bitmap", bitpos),
    Command::new("bitop", -4, WRITE | DENYOOM, (2, -1, 1), "bitmap", bitop),
];

const BAD_OFFSET: Reply = Reply::err("ERR bit offset is not an integer or out of range");

/// Parses a bit offset: non-negative and addressing at most `proto-max-bulk-len` bytes.
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<usize, Reply> {
    let n = args::uint(arg, BAD_OFFSET)?;
    let max_bits = (ctx.store.config.proto_max_bulk_len as u64).saturating_mul(8);
    if n >= max_bits {
        return Err(BAD_OFFSET);
    }
    Ok(n as usize)
}

fn bit_at(s: &[u8], i: usize) -> u8 {
    s.get(i / 8).map_or(0, |b| (b >> (7 - i % 8)) & 1)
}

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2])?;
    let on = match args[3].as_ref() {
        b"1" => true,
        b"0" => false,
        _ => return Err(Reply::err("ERR bit is not an integer or out of range")),
    };
    let s = ctx.write_or_create::<S>(&args[1])?;
    let byte = offset / 8;
    let grown = s.len() <= byte;
    if grown {
        s.resize(byte + 1, 0);
    }
    let mask = 0x80u8 >> (offset % 8);
    let old = (s[byte] & mask != 0) as i64;
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    ctx.set_raw(&args[1], true);
    // As Redis: a bit set to the value it had (on a key neither created nor grown) is no
    // write: not propagated, no `setbit` event.
    if grown || (old == 1) != on {
        ctx.dirty(1);
    }
    Ok(Reply::Int(old))
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2])?;
    let s = ctx.read_as::<S>(&args[1])?;
    Ok(Reply::Int(s.map_or(0, |s| bit_at(s, offset)) as i64))
}

/// A [start, end] range option in bytes or bits, resolved to inclusive bit indexes.
/// Returns Ok(None) when the range is empty.
fn bit_range(
    s: &[u8],
    start: &[u8],
    end: Option<&[u8]>,
    unit: Option<&Bytes>,
) -> Result<Option<(usize, usize)>, Reply> {
    let start = args::int(start)?;
    let end = match end {
        Some(e) => args::int(e)?,
        None => -1,
    };
    let bits = match unit {
        None => false,
        Some(u) if is(u, "byte") => false,
        Some(u) if is(u, "bit") => true,
        Some(_) => return Err(err::SYNTAX),
    };
    let total = if bits { s.len() * 8 } else { s.len() };
    // GETRANGE's rules without its "both negative and inverted" shortcut, which BITPOS
    // does not take (BITCOUNT checks it itself, before the unit).
    let range = if total == 0 {
        None
    } else {
        let len = total as i64;
        let fix = |i: i64| if i < 0 { (len + i).max(0) } else { i };
        let (start, end) = (fix(start), fix(end).min(len - 1));
        (start <= end).then_some((start as usize, end as usize))
    };
    Ok(range.map(|(a, b)| if bits { (a, b) } else { (a * 8, b * 8 + 7) }))
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Redis 7.0 looks the key up first: a missing key counts 0 whatever follows.
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    if args.len() == 3 || args.len() > 5 {
        return Err(err::SYNTAX);
    }
    let (a, b) = if args.len() >= 4 {
        // Redis answers an inverted negative range before it reads the unit.
        let (start, end) = (args::int(&args[2])?, args::int(&args[3])?);
        if start < 0 && end < 0 && start > end {
            return Ok(Reply::Int(0));
        }
        match bit_range(s, &args[2], Some(&args[3]), args.get(4))? {
            Some(r) => r,
            None => return Ok(Reply::Int(0)),
        }
    } else if s.is_empty() {
        return Ok(Reply::Int(0));
    } else {
        (0, s.len() * 8 - 1)
    };
    Ok(Reply::Int(count_ones(s, a, b) as i64))
}

/// Set bits in the inclusive bit range [a, b]: whole bytes by popcount, edges bit by bit.
fn count_ones(s: &[u8], a: usize, b: usize) -> u64 {
    let (first, last) = (a / 8, b / 8);
    if first == last {
        return (a..=b).map(|i| bit_at(s, i) as u64).sum();
    }
    let head: u64 = (a..(first + 1) * 8).map(|i| bit_at(s, i) as u64).sum();
    let tail: u64 = (last * 8..=b).map(|i| bit_at(s, i) as u64).sum();
    let middle: u64 = s[first + 1..last]
        .iter()
        .map(|x| x.count_ones() as u64)
        .sum();
    head + middle + tail
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // An integer first, then 0 or 1, each with its own error, as Redis checks.
    let bit = match args::int(&args[2])? {
        1 => 1u8,
        0 => 0u8,
        _ => return Err(Reply::err("ERR The bit argument must be 1 or 0.")),
    };
    // Then the key: a missing one is all clear bits, whatever follows.
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Ok(Reply::Int(if bit == 1 { -1 } else { 0 }));
    };
    let s = s.as_bytes();
    if args.len() > 6 {
        return Err(err::SYNTAX);
    }
    // Redis reads the start, then the unit (BIT|BYTE), then the end.
    if args.len() == 6 {
        args::int(&args[3])?;
        if !is(&args[5], "bit") && !is(&args[5], "byte") {
            return Err(err::SYNTAX);
        }
    }
    let end_given = args.len() >= 5;
    let range = if args.len() >= 4 {
        bit_range(s, &args[3], args.get(4).map(|b| b.as_ref()), args.get(5))?
    } else if s.is_empty() {
        None
    } else {
        Some((0, s.len() * 8 - 1))
    };
    // An empty string (unlike a missing key) is an empty range: -1 for either bit.
    let Some((a, b)) = range else {
        return Ok(Reply::Int(-1));
    };
    let skip = if bit == 1 { 0x00 } else { 0xFF };
    let mut i = a;
    while i <= b {
        if i % 8 == 0 && i + 7 <= b && s[i / 8] == skip {
            i += 8;
            continue;
        }
        if bit_at(s, i) == bit {
            return Ok(Reply::Int(i as i64));
        }
        i += 1;
    }
    // No clear bit found without an explicit end: the string counts as padded with zeros.
    Ok(Reply::Int(if bit == 0 && !end_given {
        b as i64 + 1
    } else {
        -1
    }))
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
fn bitop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let op = &args[1];
    let kind = if is(op, "and") {
        b'&'
    } else if is(op, "or") {
        b'|'
    } else if is(op, "xor") {
        b'^'
    } else if is(op, "not") {
        b'~'
    } else {
        return Err(err::SYNTAX);
    };
    let sources = &args[3..];
    if kind == b'~' && sources.len() != 1 {
        return Err(Reply::err(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let mut inputs = Vec::with_capacity(sources.len());
    for key in sources {
        inputs.push(ctx.read_as::<S>(key)?.cloned().unwrap_or_default());
    }
    let len = inputs.iter().map(|v| v.len()).max().unwrap_or(0);
    if inputs.iter().map(|v| v.len()).sum::<usize>() > ctx.store.config.proto_max_bulk_len * 4 {
        return Err(TOO_BIG);
    }
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().enumerate() {
        let at = |v: &S| v.get(i).copied().unwrap_or(0);
        *byte = match kind {
            b'&' => inputs.iter().fold(0xFF, |acc, v| acc & at(v)),
            b'|' => inputs.iter().fold(0, |acc, v| acc | at(v)),
            b'^' => inputs.iter().fold(0, |acc, v| acc ^ at(v)),
            _ => !at(&inputs[0]),
        };
    }
    let dest = args[2].clone();
    let now = ctx.now_ms;
    ctx.touched_only(&dest);
    if out.is_empty() {
        if ctx.db().remove(&dest).is_some() {
            ctx.dirty(1);
        }
    } else {
        ctx.expire_before_overwrite(&dest);
        ctx.overwrite(
            &dest,
            rubra_keyspace::Entry::new(Value::Str(out.into()), now),
            0,
        );
        // Redis stores the result as a fresh sds: "raw" whatever its length or content.
        ctx.set_raw(&dest, true);
        ctx.dirty(1);
    }
    Ok(Reply::Int(len as i64))
}

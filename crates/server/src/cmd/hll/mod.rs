//! HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST). The values are plain
//! strings in Redis's exact HLL layout (see `sketch`), so they travel through GET/SET,
//! DUMP/RESTORE, RDB and replication unchanged and count the same as in Redis.

mod sketch;

use super::args::is;
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::{StrValue, Value};
use rubra_resp::Reply;
use sketch::{Corrupt, DENSE, HDR, REGISTERS, SPARSE};

type S = StrValue;

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), "hyperloglog", pfadd),
    Command::new("pfcount", -2, READONLY | MAY_REPLICATE, (1, -1, 1), "hyperloglog", pfcount),
    Command::new("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), "hyperloglog", pfmerge),
    Command::new("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), "hyperloglog", pfdebug),
    Command::new("pfselftest", 1, ADMIN, (0, 0, 0), "hyperloglog", pfselftest),
];

/// A string that is not an HLL (Redis sends this with the WRONGTYPE code).
const NOT_HLL: Reply = Reply::err("WRONGTYPE Key is not a valid HyperLogLog string value.");
/// A sparse HLL whose opcodes do not describe 16384 registers.
const INVALID: Reply = Reply::err("INVALIDOBJ Corrupted HLL object detected");

impl From<Corrupt> for Reply {
    fn from(_: Corrupt) -> Reply {
        INVALID
    }
}

/// `hll-sparse-max-bytes`: the size at which a sparse HLL turns dense (Redis's default 3000).
fn sparse_max_bytes(ctx: &Ctx) -> usize {
    ctx.store.config.hll_sparse_max_bytes
}

/// Checks that an existing value is a string in HLL layout, with Redis's two errors.
fn check_hll(v: &Value) -> Result<&S, Reply> {
    match v {
        Value::Str(s) if sketch::looks_valid(s) => Ok(s),
        Value::Str(_) => Err(NOT_HLL),
        _ => Err(err::WRONGTYPE),
    }
}

/// The HLL under `key` for writing: Ok(None) if missing, an error if not an HLL. An HLL
/// (16 header bytes and more) never fits inline, so its heap buffer is edited directly.
/// The string is then marked raw: Redis unshares it (dbUnshareStringValue) before any
/// edit, so OBJECT ENCODING says raw even for a short sparse HLL.
fn write_hll<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Vec<u8>>, Reply> {
    match ctx.write(key) {
        None => Ok(None),
        Some(e) => {
            check_hll(&e.value)?;
            e.raw = true;
            match &mut e.value {
                Value::Str(s) => Ok(Some(s.vec_mut())),
                _ => Err(err::WRONGTYPE),
            }
        }
    }
}

/// The HLL under `key` for writing, created empty (sparse) when missing, and whether it
/// was created (PFADD counts that as an update). Redis writes the object it created
/// without looking it up: no access.
fn write_or_create_hll<'c>(
    ctx: &'c mut Ctx,
    key: &Bytes,
    now: u64,
) -> Result<(&'c mut Vec<u8>, bool), Reply> {
    let created = write_hll(ctx, key)?.is_none();
    if created {
        ctx.db()
            .set(key.clone(), Value::Str(sketch::new_sparse().into()), now);
        ctx.mark_accessed(key);
    }
    let s = write_hll(ctx, key)?.ok_or(err::NO_SUCH_KEY)?;
    Ok((s, created))
}

/// PFADD key [element ...]
fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    let now = ctx.now_ms;
    let (s, created) = write_or_create_hll(ctx, &args[1], now)?;
    let mut updated = u64::from(created);
    for ele in &args[2..] {
        if sketch::add(s, ele, max_bytes)? {
            updated += 1;
        }
    }
    if updated > 0 {
        sketch::invalidate(s);
        ctx.dirty(updated);
    }
    Ok(Reply::Int((updated > 0) as i64))
}

/// PFCOUNT key [key ...]: one key answers from (and refreshes) the cached cardinality;
/// several keys count their union.
fn pfcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        let mut max = [0u8; REGISTERS];
        for key in &args[1..] {
            if let Some(e) = ctx.read(key) {
                sketch::merge_into(&mut max, check_hll(&e.value)?)?;
            }
        }
        return Ok(Reply::Int(sketch::count_raw(&max) as i64));
    }
    // A lookup for reading (hit/miss statistics), though a stale cache is rewritten.
    let Some(e) = ctx.read(&args[1]) else {
        return Ok(Reply::Int(0));
    };
    let s = check_hll(&e.value)?;
    let (cached, raw) = (sketch::cached(s), e.raw);
    // Redis unshares the string even when the cache answers: it is raw from now on.
    if !raw {
        ctx.set_raw(&args[1], true);
    }
    if let Some(card) = cached {
        return Ok(Reply::Int(card as i64));
    }
    // Looked up again without a second hit counted.
    let card = match ctx.write(&args[1]) {
        Some(e) => sketch::count(check_hll(&e.value)?)?,
        None => return Ok(Reply::Int(0)),
    };
    // Reads are read-only (a snapshot may share the slot); the cache update is a write.
    if let Some(Value::Str(s)) = ctx.write(&args[1]).map(|e| &mut e.value) {
        sketch::set_cached(s, card);
    }
    ctx.propagate = Some(vec![args.to_vec()]);
    // The value changed: WATCH sees it and replicas get the PFCOUNT, as in Redis.
    ctx.dirty(1);
    Ok(Reply::Int(card as i64))
}

/// PFMERGE destkey [sourcekey ...]: the union of all the keys, the destination included.
fn pfmerge(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    let mut max = [0u8; REGISTERS];
    let mut use_dense = false;
    for key in &args[1..] {
        ctx.separate_lookup();
        if let Some(e) = ctx.read(key) {
            let s = check_hll(&e.value)?;
            use_dense |= sketch::encoding(s) == DENSE;
            sketch::merge_into(&mut max, s)?;
        }
    }
    let now = ctx.now_ms;
    // Only the destination is written; the sources are read.
    ctx.touched_only(&args[1]);
    ctx.separate_lookup();
    let (s, _) = write_or_create_hll(ctx, &args[1], now)?;
    if use_dense {
        sketch::to_dense(s)?;
    }
    for (i, &v) in max.iter().enumerate() {
        if v != 0 {
            // Redis ignores a failure here: the sources were validated already.
            let _ = sketch::set_register(s, i, v, max_bytes);
        }
    }
    sketch::invalidate(s);
    ctx.dirty(1);
    Ok(Reply::OK)
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let Some(s) = write_hll(ctx, &args[2])? else {
        return Err(Reply::err("ERR The specified key does not exist"));
    };
    if is(sub, "getreg") {
        let converted = sketch::encoding(s) == SPARSE;
        sketch::to_dense(s)?;
        let regs: Vec<Reply> = (0..REGISTERS)
            .map(|i| Reply::Int(sketch::dense_get(&s[HDR..], i) as i64))
            .collect();
        if converted {
            ctx.dirty(1);
        }
        Ok(Reply::Array(regs))
    } else if is(sub, "decode") {
        if sketch::encoding(s) != SPARSE {
            return Err(Reply::err("ERR HLL encoding is not sparse"));
        }
        Ok(Reply::Bulk(Bytes::from(sketch::decode(s))))
    } else if is(sub, "encoding") {
        Ok(Reply::status(if sketch::encoding(s) == DENSE {
            "dense"
        } else {
            "sparse"
        }))
    } else if is(sub, "todense") {
        if sketch::encoding(s) != SPARSE {
            return Ok(Reply::Int(0));
        }
        sketch::to_dense(s)?;
        ctx.dirty(1);
        Ok(Reply::Int(1))
    } else {
        Err(crate::cmd::err::echo(&[
            b"ERR Unknown PFDEBUG subcommand '",
            sub,
            b"'",
        ]))
    }
}

/// PFSELFTEST: Redis's own self-check of the register packing and the estimator, run on
/// this implementation (dense and sparse side by side on 10 million elements).
fn pfselftest(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let max_bytes = sparse_max_bytes(ctx);
    match selftest(max_bytes) {
        Ok(()) => Ok(Reply::OK),
        Err(msg) => Err(Reply::error(format!("ERR TESTFAILED {msg}"))),
    }
}

/// The checks behind PFSELFTEST; the error text names the failed check.
fn selftest(max_bytes: usize) -> Result<(), String> {
    let mut dense = sketch::new_sparse();
    sketch::to_dense(&mut dense).map_err(|_| "dense conversion".to_string())?;
    // Test 1: registers keep what was written and do not disturb their neighbours.
    let mut model = vec![0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, m) in model.iter_mut().enumerate() {
            let v = rand::random::<u8>() & 63;
            *m = v;
            sketch::dense_put(&mut dense[HDR..], i, v);
        }
        for (i, m) in model.iter().enumerate() {
            let got = sketch::dense_get(&dense[HDR..], i);
            if got != *m {
                return Err(format!("Register {i} should be {m} but is {got}"));
            }
        }
    }
    // Test 2: the estimate stays within six standard errors, dense and sparse agree.
    let mut dense = sketch::new_sparse();
    sketch::to_dense(&mut dense).map_err(|_| "dense conversion".to_string())?;
    let mut sparse = sketch::new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rand::random();
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let ele = (j ^ seed).to_le_bytes();
        let _ = sketch::add(&mut dense, &ele, max_bytes);
        let _ = sketch::add(&mut sparse, &ele, max_bytes);
        if j != checkpoint {
            continue;
        }
        if j < (max_bytes / 2) as u64 && sketch::encoding(&sparse) != SPARSE {
            return Err("sparse encoding not used".into());
        }
        let d = sketch::count(&dense).map_err(|_| "dense count".to_string())?;
        if sketch::count(&sparse).ok() != Some(d) {
            return Err("dense/sparse disagree".into());
        }
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        let abserr = checkpoint.abs_diff(d);
        if abserr > maxerr {
            return Err(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

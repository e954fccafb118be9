//! Stream commands (XADD, XRANGE, XREAD, XDEL, XTRIM, XSETID ...) with Redis 7.0 replies and
//! error texts; consumer groups live in `streams/groups.rs`.
//!
//! Propagation follows Redis: XADD goes out with the ID it generated and with `~` trimming
//! rewritten as exact trimming to the resulting length (or first ID), so a replica or the
//! AOF ends with the same entries whatever its own node layout. XREADGROUP and XCLAIM go out
//! as XCLAIM ... FORCE JUSTID plus XGROUP SETID (see groups.rs).
//!
//! Blocking XREAD/XREADGROUP use the shared machinery (`Ctx::block_on`); an XREAD waiting on
//! `$` is registered with `$` replaced by the stream's last ID at block time, so entries
//! added later are the ones it receives (`Blocking::set_retry_args`).

mod groups;
mod pending;
mod xinfo;

use super::args::{self, is};
use super::ctx::TypedValue;
use super::flags::*;
use super::{err, CmdResult, Command, Ctx};
use bytes::Bytes;
use rubra_keyspace::stream::{Fields, Trim};
use rubra_keyspace::{Stream, StreamId, Value};
use rubra_resp::Reply;

type S = Box<Stream>;

impl TypedValue for Box<Stream> {
    fn view(v: &mut Value) -> Option<&mut Self> {
        match v {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }
    fn view_ref(v: &Value) -> Option<&Self> {
        match v {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }
    fn matches(v: &Value) -> bool {
        matches!(v, Value::Stream(_))
    }
    fn empty() -> Value {
        Value::new_stream()
    }
}

#[rustfmt::skip]
pub(crate) static COMMANDS: &[Command] = &[
    Command::new("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), "stream", xadd),
    Command::new("xlen", 2, READONLY | FAST, (1, 1, 1), "stream", xlen),
    Command::new("xrange", -4, READONLY, (1, 1, 1), "stream", xrange),
    Command::new("xrevrange", -4, READONLY, (1, 1, 1), "stream", xrevrange),
    Command::new("xdel", -3, WRITE | FAST, (1, 1, 1), "stream", xdel),
    Command::new("xtrim", -4, WRITE, (1, 1, 1), "stream", xtrim),
    Command::new("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "stream", xsetid),
    Command::new("xread", -4, READONLY | BLOCKING, (0, 0, 0), "stream", xread).with_keys(xread_keys),
    Command::new("xreadgroup", -7, WRITE | BLOCKING, (0, 0, 0), "stream", groups::xreadgroup).with_keys(xread_keys),
    Command::new("xgroup", -2, WRITE | DENYOOM | CONTAINER, (2, 2, 1), "stream", groups::xgroup),
    Command::new("xack", -4, WRITE | FAST, (1, 1, 1), "stream", pending::xack),
    Command::new("xpending", -3, READONLY, (1, 1, 1), "stream", pending::xpending),
    Command::new("xclaim", -6, WRITE | FAST, (1, 1, 1), "stream", pending::xclaim),
    Command::new("xautoclaim", -6, WRITE | FAST, (1, 1, 1), "stream", pending::xautoclaim),
    Command::new("xinfo", -2, READONLY | CONTAINER, (2, 2, 1), "stream", xinfo::xinfo),
];

// ---------------------------------------------------------------------------------------
// IDs and replies shared by the stream commands.

const INVALID_ID: Reply = Reply::err("ERR Invalid stream ID specified as stream command argument");
const XADD_SMALLER: Reply =
    Reply::err("ERR The ID specified in XADD is equal or smaller than the target stream top item");

/// Parses an unsigned decimal as Redis's string2ull (leading zeros allowed).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// How an ID argument is read: whether `-`/`+` are allowed, what a missing sequence
/// means, and whether `ms-*` is allowed (XADD only).
#[derive(Clone, Copy)]
struct IdRules {
    strict: bool,
    missing_seq: u64,
    seq_star: bool,
}

const STRICT: IdRules = IdRules {
    strict: true,
    missing_seq: 0,
    seq_star: false,
};

/// Parses a stream ID; the bool is false for the `ms-*` form (sequence to be chosen).
fn parse_id_with(arg: &[u8], rules: IdRules) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 127 {
        return Err(INVALID_ID);
    }
    match arg {
        b"-" | b"+" if rules.strict => return Err(INVALID_ID),
        b"-" => return Ok((StreamId::ZERO, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms).ok_or(INVALID_ID)?;
    match seq {
        None => Ok((StreamId::new(ms, rules.missing_seq), true)),
        Some(b"*") if rules.seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((StreamId::new(ms, parse_u64(s).ok_or(INVALID_ID)?), true)),
    }
}

/// A strict ID (no `-`/`+`), missing sequence = 0.
fn parse_id(arg: &[u8]) -> Result<StreamId, Reply> {
    Ok(parse_id_with(arg, STRICT)?.0)
}

/// A range bound: `-`, `+`, an ID (missing sequence = `missing_seq`) or `(ID` exclusive.
/// Returns the inclusive bound, with Redis's errors for stepping past the ends.
fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, Reply> {
    let missing_seq = if start { 0 } else { u64::MAX };
    if arg.len() > 1 && arg[0] == b'(' {
        let rules = IdRules {
            strict: true,
            missing_seq,
            seq_star: false,
        };
        let (id, _) = parse_id_with(&arg[1..], rules)?;
        return if start {
            id.incr()
                .ok_or(Reply::err("ERR invalid start ID for the interval"))
        } else {
            id.decr()
                .ok_or(Reply::err("ERR invalid end ID for the interval"))
        };
    }
    let rules = IdRules {
        strict: false,
        missing_seq,
        seq_star: false,
    };
    Ok(parse_id_with(arg, rules)?.0)
}

/// An ID as a bulk string.
fn id_reply(id: StreamId) -> Reply {
    Reply::bulk_string(id.to_string())
}

/// An ID as an argument for propagation.
fn id_arg(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

/// One entry as Redis replies it: `[id, [field, value, ...]]` (an array in RESP3 too).
fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    let flat = fields
        .iter()
        .flat_map(|(f, v)| [Reply::Bulk(f.clone()), Reply::Bulk(v.clone())])
        .collect();
    Reply::Array(vec![id_reply(id), Reply::Array(flat)])
}

/// Entries as an array of entry replies.
fn entries_reply(items: &[(StreamId, &Fields)]) -> Reply {
    Reply::Array(items.iter().map(|(id, f)| entry_reply(*id, f)).collect())
}

/// The XREAD/XREADGROUP top level: an array of [key, entries] pairs in RESP2, a map in
/// RESP3.
fn read_reply(ctx: &Ctx, per_key: Vec<(Bytes, Reply)>) -> Reply {
    if ctx.client.resp3 {
        Reply::Map(
            per_key
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            per_key
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

/// Whether this run is the dispatcher retrying a blocked client.
fn serving_retry(ctx: &Ctx) -> bool {
    ctx.store.blocking.waiter(ctx.client.id).is_some()
}

fn bulk(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

// ---------------------------------------------------------------------------------------
// XADD and trimming.

/// Trimming options of XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    strategy: Option<Trim>,
    approx: bool,
    /// Entries at most removed by `~` trimming (0 = unlimited).
    limit: u64,
    /// Where the `~` is in the arguments (rewritten to `=` for propagation).
    approx_pos: Option<usize>,
}

/// What XADD's options said.
struct AddArgs {
    trim: TrimArgs,
    no_mkstream: bool,
    /// The explicit ID (and whether its sequence was given); None for `*`.
    id: Option<(StreamId, bool)>,
    /// Index of the ID argument.
    id_pos: usize,
}

/// Parses the options of XADD (`xadd`) or XTRIM, as streamParseAddOrTrimArgsOrReply.
fn parse_add_or_trim(ctx: &Ctx, args: &[Bytes], xadd: bool) -> Result<AddArgs, Reply> {
    let mut t = TrimArgs::default();
    let mut limit_given = false;
    let mut no_mkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let a = &args[i];
        if xadd && a.as_ref() == b"*" {
            break;
        } else if (is(a, "maxlen") || is(a, "minid")) && more > 0 {
            if t.strategy.is_some() {
                return Err(Reply::err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            t.approx = false;
            t.approx_pos = None;
            let next = &args[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                t.approx = true;
                t.approx_pos = Some(i + 1);
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let v = &args[i + 1];
            if is(a, "maxlen") {
                let n = args::int(v)?;
                if n < 0 {
                    return Err(Reply::err("ERR The MAXLEN argument must be >= 0."));
                }
                t.strategy = Some(Trim::Maxlen(n as u64));
            } else {
                t.strategy = Some(Trim::MinId(parse_id(v)?));
            }
            i += 1;
        } else if is(a, "limit") && more > 0 {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::err("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(a, "nomkstream") {
            no_mkstream = true;
        } else if xadd {
            let rules = IdRules {
                strict: true,
                missing_seq: 0,
                seq_star: true,
            };
            id = Some(parse_id_with(a, rules)?);
            break;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if t.limit != 0 && t.strategy.is_none() {
        return Err(Reply::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.strategy.is_none() {
        return Err(Reply::err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if ctx.client.is_primary_link || ctx.store.loading {
        // Commands from the primary and the AOF (Redis's mustObeyClient) were rewritten to
        // exact trimming, LIMIT kept: `MAXLEN = n LIMIT m` is valid from them only.
        t.limit = 0;
    } else if limit_given {
        if !t.approx {
            return Err(Reply::err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else {
        // Redis: at most 100 nodes' worth of entries, kept within 10000..=1000000 when
        // stream-node-max-entries is 0 or huge.
        t.limit = if t.approx {
            let (per_node, _) = rubra_keyspace::Limits::stream_node();
            match per_node.saturating_mul(100) {
                n if n <= 0 => 10_000,
                n => n.min(1_000_000) as u64,
            }
        } else {
            0
        };
    }
    Ok(AddArgs {
        trim: t,
        no_mkstream,
        id,
        id_pos: i,
    })
}

/// The command as it must be propagated, as Redis 7.0 does it: the client's arguments,
/// with approximate trimming (`~`) made exact (`=` and the threshold trimming reached),
/// so replicas end with the same entries.
fn trim_propagation(args: &[Bytes], t: &TrimArgs, s: &Stream) -> Vec<Bytes> {
    let mut prop = args.to_vec();
    if let (Some(pos), Some(strategy)) = (t.approx_pos, t.strategy) {
        prop[pos] = bulk("=");
        prop[pos + 1] = match strategy {
            Trim::Maxlen(_) => Bytes::from(s.len().to_string()),
            Trim::MinId(_) => id_arg(s.first_id()),
        };
    }
    prop
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ...
fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let parsed = parse_add_or_trim(ctx, args, true)?;
    let field_pos = parsed.id_pos + 1;
    let nfields = args.len().saturating_sub(field_pos);
    if nfields < 2 || nfields % 2 == 1 {
        return Err(err::wrong_args("xadd"));
    }
    if let Some((id, true)) = parsed.id {
        if id.is_zero() {
            return Err(Reply::err(
                "ERR The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let key = &args[1];
    let now = ctx.now_ms;
    let s = if parsed.no_mkstream {
        match ctx.write_as::<S>(key)? {
            Some(s) => s,
            None => return Ok(Reply::Nil),
        }
    } else {
        ctx.write_or_create::<S>(key)?
    };
    if s.last_id == StreamId::MAX {
        return Err(Reply::err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match parsed.id {
        None => s.next_auto_id(now).ok_or(XADD_SMALLER)?,
        Some((id, true)) => id,
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    return Err(XADD_SMALLER);
                }
                StreamId::new(id.ms, s.last_id.seq + 1)
            } else {
                id
            }
        }
    };
    if id <= s.last_id {
        return Err(XADD_SMALLER);
    }
    let fields: Fields = args[field_pos..]
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    s.append(id, fields);
    let mut dirty = 1;
    if let Some(strategy) = parsed.trim.strategy {
        dirty += s.trim(strategy, parsed.trim.approx, parsed.trim.limit);
    }
    let mut prop = trim_propagation(args, &parsed.trim, s);
    // An ID the server chose (`*`, `ms-*`) goes out as the one it made.
    if !matches!(parsed.id, Some((_, true))) {
        prop[parsed.id_pos] = id_arg(id);
    }
    ctx.propagate = Some(vec![prop]);
    ctx.dirty(dirty);
    Ok(id_reply(id))
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // The options first, then the key, as Redis checks them.
    let parsed = parse_add_or_trim(ctx, args, false)?;
    let Some(s) = ctx.write_as::<S>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let Some(strategy) = parsed.trim.strategy else {
        return Err(err::SYNTAX);
    };
    let deleted = s.trim(strategy, parsed.trim.approx, parsed.trim.limit);
    if deleted > 0 {
        ctx.propagate = Some(vec![trim_propagation(args, &parsed.trim, s)]);
        ctx.dirty(deleted);
    }
    Ok(Reply::Int(deleted as i64))
}

/// XLEN key
fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        ctx.read_as::<S>(&args[1])?.map_or(0, |s| s.len() as i64),
    ))
}

/// XRANGE key start end [COUNT count]
fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
fn xrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_generic(ctx, args, true)
}

fn range_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = parse_bound(start_arg, true)?;
    let end = parse_bound(end_arg, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = args::int(&args[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(err::SYNTAX);
        }
    }
    let Some(s) = ctx.read_as::<S>(&args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let n = if count < 0 { 0 } else { count as usize };
    Ok(entries_reply(&s.range(start, end, n, rev)))
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.write_as::<S>(&args[1])?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = args[2..]
        .iter()
        .map(|a| parse_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = ctx.write_as::<S>(&args[1])? else {
        return Ok(Reply::Int(0));
    };
    let deleted = ids.into_iter().filter(|id| s.delete(*id)).count();
    if deleted > 0 {
        ctx.dirty(deleted as u64);
    }
    Ok(Reply::Int(deleted as i64))
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.touches_nothing();
    let id = parse_id(&args[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::ZERO;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "entriesadded") && more {
            let n = args::int(&args[i + 1])?;
            if n < 0 {
                return Err(Reply::err("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&args[i], "maxdeletedid") && more {
            max_deleted = parse_id(&args[i + 1])?;
            if id < max_deleted {
                return Err(Reply::err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(err::SYNTAX);
        }
        i += 2;
    }
    let Some(s) = ctx.write_as::<S>(&args[1])? else {
        return Err(err::NO_SUCH_KEY);
    };
    if !s.is_empty() {
        if id < s.last_entry_id() {
            return Err(Reply::err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| (s.len() as u64) > n) {
            return Err(Reply::err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_entry_id = max_deleted;
    }
    ctx.dirty(1);
    Ok(Reply::OK)
}

// ---------------------------------------------------------------------------------------
// XREAD (and the parsing XREADGROUP shares).

/// Key positions of XREAD/XREADGROUP: the first half of the arguments after STREAMS.
fn xread_keys(args: &[Bytes]) -> Vec<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if is(a, "streams") {
            let rest = args.len() - i - 1;
            if rest == 0 || !rest.is_multiple_of(2) {
                return Vec::new();
            }
            return (i + 1..i + 1 + rest / 2).collect();
        } else if is(a, "block") || is(a, "count") {
            i += 2;
        } else if is(a, "group") {
            i += 3;
        } else {
            i += 1;
        }
    }
    Vec::new()
}

/// The options of XREAD/XREADGROUP.
struct ReadArgs {
    /// Milliseconds; None without BLOCK, Some(0) forever.
    block: Option<u64>,
    count: usize,
    noack: bool,
    group: Option<(Bytes, Bytes)>,
    /// Index of the first key.
    streams: usize,
    nkeys: usize,
}

/// `from_script`: BLOCK is refused when it is seen, before its timeout is parsed, as Redis
/// does for scripts (a script cannot wait).
fn parse_read(args: &[Bytes], group_cmd: bool, from_script: bool) -> Result<ReadArgs, Reply> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        noack: false,
        group: None,
        streams: 0,
        nkeys: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let a = &args[i];
        if is(a, "block") && more > 0 {
            if from_script {
                let mut text = args[0].to_vec();
                text.splice(0..0, b"ERR ".iter().copied());
                text.extend_from_slice(b" command is not allowed with BLOCK option from scripts");
                return Err(Reply::error_bytes(text));
            }
            i += 1;
            let ms = parse_i64_arg(&args[i])
                .ok_or(Reply::err("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Reply::err("ERR timeout is negative"));
            }
            r.block = Some(ms as u64);
        } else if is(a, "count") && more > 0 {
            i += 1;
            r.count = args::int(&args[i])?.max(0) as usize;
        } else if is(a, "streams") && more > 0 {
            r.streams = i + 1;
            let n = args.len() - r.streams;
            if !n.is_multiple_of(2) {
                // Redis 7.0 words it this way for XREADGROUP too.
                return Err(Reply::err(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            r.nkeys = n / 2;
            break;
        } else if is(a, "group") && more >= 2 {
            if !group_cmd {
                return Err(Reply::err(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(a, "noack") {
            if !group_cmd {
                return Err(Reply::err(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(err::SYNTAX);
        }
        i += 1;
    }
    if r.streams == 0 {
        return Err(err::SYNTAX);
    }
    if group_cmd && r.group.is_none() {
        return Err(Reply::err("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn parse_i64_arg(a: &[u8]) -> Option<i64> {
    rubra_keyspace::value::parse_i64_strict(a)
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
fn xread(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = parse_read(args, false, crate::script::from_script(ctx.store))?;
    let keys: Vec<Bytes> = args[r.streams..r.streams + r.nkeys].to_vec();
    let retry = serving_retry(ctx);
    let mut ids = Vec::with_capacity(r.nkeys);
    let mut rewritten = false;
    for (k, key) in keys.iter().enumerate() {
        let arg = &args[r.streams + r.nkeys + k];
        let s = match ctx.read_as::<S>(key) {
            Ok(s) => s,
            Err(_) if retry => None,
            Err(e) => return Err(e),
        };
        if arg.as_ref() == b"$" {
            ids.push(s.map_or(StreamId::ZERO, |s| s.last_id));
            rewritten = true;
        } else if arg.as_ref() == b">" {
            return Err(Reply::err(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else {
            ids.push(parse_id(arg)?);
        }
    }
    let count = if retry && r.count == 0 { 1000 } else { r.count };
    let mut out = Vec::new();
    // Redis looks each key up again to serve it: another access.
    ctx.separate_lookup();
    for k in ctx.key_order(&keys) {
        if retry && ctx.woken_by_other_key(&keys[k]) {
            continue;
        }
        let Ok(Some(s)) = ctx.read_as::<S>(&keys[k]) else {
            continue;
        };
        if s.is_empty() || s.last_entry_id() <= ids[k] {
            continue;
        }
        let Some(start) = ids[k].incr() else {
            continue;
        };
        let items = s.range(start, StreamId::MAX, count, false);
        out.push((keys[k].clone(), entries_reply(&items)));
    }
    if !out.is_empty() {
        return Ok(read_reply(ctx, out));
    }
    let Some(timeout) = r.block else {
        return Ok(Reply::NilArray);
    };
    if rewritten && !ctx.client.no_block {
        // Remember what `$` meant now: later entries are the ones this client waits for.
        let mut retry_args = args.to_vec();
        for (k, id) in ids.iter().enumerate() {
            retry_args[r.streams + r.nkeys + k] = id_arg(*id);
        }
        ctx.store.blocking.set_retry_args(retry_args);
    }
    ctx.block_on(keys, timeout, Reply::NilArray)
}

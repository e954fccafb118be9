//! DEBUG subcommands test suites rely on: DIGEST / DIGEST-VALUE (a dataset fingerprint
//! equal to redis-server 7.0's for the same data, so a test can compare a dataset before
//! and after a reload, a restart or a replication), PROTOCOL (one reply of each RESP type),
//! HTSTATS-KEY, LOADAOF and REPLYBUFFER.

use super::*;
use rubra_keyspace::{Db, Entry, Value};

/// A 20-byte digest, as Redis keeps it.
type Digest = [u8; 20];

/// SHA1 of `data`.
fn sha1(data: &[u8]) -> Digest {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// `digest ^= SHA1(data)`: order-independent accumulation (set members, keys).
/// An element's own digest is xored in the same way (hashed first), as Redis does.
fn xor_digest(digest: &mut Digest, data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `digest = SHA1(digest ^ SHA1(data))`: order-dependent accumulation (list elements,
/// stream entries), so that "ab","c" and "a","bc" differ.
fn mix_digest(digest: &mut Digest, data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// Redis's type number (OBJ_STRING ... OBJ_STREAM), which the digest starts with.
fn type_code(value: &Value) -> u32 {
    match value {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
    }
}

/// Mixes one value (and whether it has a TTL) into `digest`, by Redis 7.0's definition:
/// the type number big-endian, then per type the elements (lists and streams in order,
/// sets, hashes and zsets xor-combined so their internal order does not matter; a hash
/// field or a zset member is digested with its value or score, the score as `%.17g`),
/// then the marker `!!expire!!` if the key has a TTL.
fn xor_value_digest(digest: &mut Digest, value: &Value, has_ttl: bool) {
    mix_digest(digest, &type_code(value).to_be_bytes());
    match value {
        Value::Str(s) => mix_digest(digest, s.as_bytes()),
        Value::List(l) => {
            for item in l.iter() {
                mix_digest(digest, item);
            }
        }
        Value::Set(s) => {
            for member in s.iter() {
                xor_digest(digest, &member);
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, member);
                mix_digest(&mut element, rubra_resp::format_double(score).as_bytes());
                xor_digest(digest, &element);
            }
        }
        Value::Hash(h) => {
            for (field, val) in h.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, field);
                mix_digest(&mut element, val);
                xor_digest(digest, &element);
            }
        }
        Value::Stream(st) => {
            // Only the entries: consumer groups and the last id are not part of it.
            for (id, fields) in st.iter() {
                mix_digest(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (field, val) in fields {
                    mix_digest(digest, field);
                    mix_digest(digest, val);
                }
            }
        }
    }
    if has_ttl {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Lower-case hex, as DEBUG DIGEST prints it.
fn hex(digest: &Digest) -> Vec<u8> {
    digest
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

/// The digest of a whole dataset: per non-empty database its index (big-endian) mixed in,
/// then every key's digest (key, then value) xored in. Logically expired keys that are
/// still stored count, as Redis walks its dict as it is.
fn dataset_digest(dbs: &[Db]) -> Digest {
    let mut out = [0u8; 20];
    for (index, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix_digest(&mut out, &(index as u32).to_be_bytes());
        db.for_each_stored(|key, entry: &Entry, expire_at| {
            let mut digest = [0u8; 20];
            mix_digest(&mut digest, key);
            xor_value_digest(&mut digest, &entry.value, expire_at != 0);
            xor_digest(&mut out, &digest);
        });
    }
    out
}

/// DEBUG DIGEST: the dataset's fingerprint (40 zeros for an empty dataset).
pub(super) fn digest(ctx: &mut Ctx) -> CmdResult {
    Ok(Reply::status_bytes(hex(&dataset_digest(&ctx.store.dbs))))
}

/// DEBUG DIGEST-VALUE key...: one fingerprint per key, of the value only (so a copy under
/// another name has the same one); 40 zeros for a missing key.
pub(super) fn digest_value(ctx: &mut Ctx, keys: &[Bytes]) -> CmdResult {
    let db = ctx.db();
    let out = keys
        .iter()
        .map(|key| {
            let mut digest = [0u8; 20];
            if let Some((entry, expire_at)) = db.peek_stored(key) {
                xor_value_digest(&mut digest, &entry.value, expire_at != 0);
            }
            Reply::status_bytes(hex(&digest))
        })
        .collect();
    Ok(Reply::Array(out))
}

/// The double DEBUG PROTOCOL DOUBLE sends: Redis's fixed sample value, not an
/// approximation of pi.
#[allow(clippy::approx_constant)]
const SAMPLE_DOUBLE: f64 = 3.141;

/// DEBUG PROTOCOL type: one sample reply of the RESP type named, for client test suites.
/// Types RESP2 lacks degrade as Redis's do (a big number becomes a bulk string, an
/// attribute is left out); a push reply needs RESP3.
pub(super) fn protocol(ctx: &mut Ctx, name: &Bytes) -> CmdResult {
    let resp3 = ctx.client.resp3;
    let reply = if is(name, "string") {
        Reply::bulk("Hello World".as_bytes())
    } else if is(name, "integer") {
        Reply::Int(12345)
    } else if is(name, "double") {
        Reply::Double(SAMPLE_DOUBLE)
    } else if is(name, "bignum") {
        let digits = "1234567999999999999999999999999999999";
        if resp3 {
            Reply::Raw(format!("({digits}\r\n").into())
        } else {
            Reply::bulk(digits.as_bytes())
        }
    } else if is(name, "null") {
        Reply::Nil
    } else if is(name, "array") {
        Reply::Array((0..3).map(Reply::Int).collect())
    } else if is(name, "set") {
        Reply::Set((0..3).map(Reply::Int).collect())
    } else if is(name, "map") {
        Reply::Map(
            (0..3)
                .map(|j| (Reply::Int(j), Reply::Bool(j == 1)))
                .collect(),
        )
    } else if is(name, "attrib") {
        // An attribute is not a reply by itself: the real reply follows it.
        let real = Reply::bulk("Some real reply following the attribute".as_bytes());
        // A script's reply parser skips attributes, so a script sees the real reply only.
        if resp3 && !crate::script::from_script(ctx.store) {
            let mut raw = b"|1\r\n".to_vec();
            Reply::bulk("key-popularity".as_bytes()).encode(&mut raw, true);
            Reply::Array(vec![Reply::bulk("key:123".as_bytes()), Reply::Int(90)])
                .encode(&mut raw, true);
            real.encode(&mut raw, true);
            Reply::Raw(raw.into())
        } else {
            real
        }
    } else if is(name, "push") {
        if !resp3 {
            return Err(Reply::err("ERR RESP2 is not supported by this command"));
        }
        // Out of band, so a normal reply follows for clients that skip pushes.
        let mut raw = Vec::new();
        Reply::Push(vec![
            Reply::bulk("server-cpu-usage".as_bytes()),
            Reply::Int(42),
        ])
        .encode(&mut raw, true);
        Reply::bulk("Some real reply following the push reply".as_bytes()).encode(&mut raw, true);
        Reply::Raw(raw.into())
    } else if is(name, "true") {
        Reply::Bool(true)
    } else if is(name, "false") {
        Reply::Bool(false)
    } else if is(name, "verbatim") {
        Reply::Verbatim(VerbatimFormat::Txt, b"This is a verbatim\nstring".to_vec())
    } else {
        return Err(Reply::err(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ));
    };
    Ok(reply)
}

/// DEBUG HTSTATS-KEY key: statistics of the hash table behind a set, hash or sorted set
/// in its table encoding, in Redis's layout. Our tables use open addressing, so every
/// element has a slot of its own: no chains longer than one and never a rehash in
/// progress. The table size is the power of two Redis's dict would have for this many
/// elements.
pub(super) fn htstats_key(ctx: &mut Ctx, key: &Bytes) -> CmdResult {
    let now = ctx.now_ms;
    let Some(entry) = ctx.db().peek(key, now) else {
        return Err(Reply::err("ERR no such key"));
    };
    let len =
        match &entry.value {
            Value::Set(s) if !s.is_compact() => s.len(),
            Value::Hash(h) if !h.is_compact() => h.len(),
            Value::ZSet(z) if !z.is_compact() => z.len(),
            _ => return Err(Reply::err(
                "ERR The value stored at the specified key is not represented using an hash table",
            )),
        };
    Ok(Reply::Verbatim(
        VerbatimFormat::Txt,
        table_stats(len).into(),
    ))
}

/// Redis's `dictGetStats` text for a table of `len` elements, one per slot.
fn table_stats(len: usize) -> String {
    if len == 0 {
        return "Hash table 0 stats (main hash table):\nNo stats available for empty dictionaries\n"
            .into();
    }
    let size = len.next_power_of_two().max(4);
    let mut out = String::new();
    let _ = write!(
        out,
        "Hash table 0 stats (main hash table):\n table size: {size}\n number of elements: {len}\n different slots: {len}\n max chain length: 1\n avg chain length (counted): 1.00\n avg chain length (computed): 1.00\n Chain length distribution:\n"
    );
    let empty = size - len;
    for (chain, count) in [(0, empty), (1, len)] {
        if count > 0 {
            let pct = count as f64 / size as f64 * 100.0;
            let _ = writeln!(out, "   {chain}: {count} ({pct:.2}%)");
        }
    }
    out
}

/// DEBUG REPLYBUFFER PEAK-RESET-TIME <ms|NEVER|RESET> | RESIZING <0|1>: Redis's knobs for
/// its per-client reply buffer resizing. Our connections size their output buffers
/// themselves, so the arguments are checked and accepted.
pub(super) fn replybuffer(sub: &Bytes, what: &Bytes, value: &Bytes) -> CmdResult {
    if is(what, "peak-reset-time") {
        if !is(value, "never") && !is(value, "reset") {
            int(value)?;
        }
        return Ok(Reply::OK);
    }
    if is(what, "resizing") {
        return Ok(Reply::OK);
    }
    Err(super::server::debug_syntax_error(sub))
}

/// DEBUG LOADAOF: writes out what the AOF has pending, empties the dataset and the
/// function libraries, and replays the AOF — a test's way to check what the AOF would
/// rebuild after a restart. Nothing it replays is propagated again.
pub(super) fn loadaof(ctx: &mut Ctx) -> CmdResult {
    ctx.store.flush_feed();
    if let Some(aof) = ctx.store.aof.as_mut() {
        aof.fsync_now()
            .map_err(|e| Reply::error(format!("ERR {e}")))?;
    }
    for db in ctx.store.dbs.iter_mut() {
        let replica_mode = db.replica_mode;
        *db = Db::new();
        db.replica_mode = replica_mode;
    }
    ctx.store.scripts.replace_libraries(&[]);
    let selected = ctx.client.db;
    // Redis exits when the files do not load; an error is kinder to a client.
    let loaded = crate::persist::aof_files::reload(ctx.store);
    ctx.client.db = selected;
    loaded.map_err(|e| Reply::error(format!("ERR {}", e.replace(['\r', '\n'], " "))))?;
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(Reply::OK)
}

/// DEBUG HTSTATS dbid: the statistics of a database's key table and its table of keys
/// with a TTL, in Redis's layout ("[Dictionary HT]" then "[Expires HT]"). Our key tables
/// are open-addressed, one slot per key, so the figures are those of `table_stats`: the
/// key counts are ours, the table size the power of two Redis's dict has for them.
pub(super) fn htstats(ctx: &mut Ctx, dbid: &Bytes) -> CmdResult {
    let id = int(dbid)?;
    let Some(db) = usize::try_from(id).ok().and_then(|i| ctx.store.dbs.get(i)) else {
        return Err(Reply::err("ERR Out of range database"));
    };
    let text = format!(
        "[Dictionary HT]\n{}[Expires HT]\n{}",
        table_stats(db.len()),
        table_stats(db.expires_count())
    );
    Ok(Reply::Verbatim(VerbatimFormat::Txt, text.into()))
}

/// DEBUG CONFIG-REWRITE-FORCE-ALL: CONFIG REWRITE with a line for every parameter, its
/// default included.
pub(super) fn config_rewrite_force_all(ctx: &mut Ctx) -> CmdResult {
    let users = ctx.store.acl.user_lines();
    crate::config::rewrite_file_with(&ctx.store.config, &users, true)
        .map(|()| Reply::OK)
        .map_err(|e| Reply::error(format!("ERR CONFIG-REWRITE-FORCE-ALL failed: {e}")))
}

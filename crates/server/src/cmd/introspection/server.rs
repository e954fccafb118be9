//! Whole-server commands: TIME, LASTSAVE, DEBUG, MEMORY, SHUTDOWN.

use super::*;

/// TIME
pub(super) fn time(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(ctx.now_ms as u128 * 1000);
    Ok(Reply::Array(vec![
        Reply::bulk_string((micros / 1_000_000).to_string()),
        Reply::bulk_string((micros % 1_000_000).to_string()),
    ]))
}

/// LASTSAVE
pub(super) fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.store.lastsave as i64))
}

/// DEBUG SLEEP seconds | DEBUG POPULATE count [prefix] [size] | DEBUG HELP
pub(super) fn debug(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "populate") && (3..=5).contains(&args.len()) {
        let count = int(&args[2])?;
        if count < 0 {
            return Err(Reply::err("ERR count must be positive"));
        }
        let prefix = args.get(3).map_or(&b"key"[..], |p| &p[..]).to_vec();
        let size = match args.get(4) {
            Some(s) => Some(int(s)?.max(0) as usize),
            None => None,
        };
        let now = ctx.now_ms;
        for i in 0..count {
            let mut key = prefix.clone();
            key.extend_from_slice(format!(":{i}").as_bytes());
            if ctx.db().contains(&key, now) {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            ctx.db().set(
                Bytes::from(key),
                rubra_keyspace::Value::Str(value.into()),
                now,
            );
        }
        return Ok(Reply::OK);
    }
    if is(sub, "sleep") && args.len() == 3 {
        let secs = float(&args[2])?;
        if secs > 0.0 {
            // Holds the store lock on purpose: DEBUG SLEEP simulates a busy server.
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
        }
        return Ok(Reply::OK);
    }
    if is(sub, "reload") {
        return debug_reload(ctx, &args[2..]);
    }
    if is(sub, "object") && args.len() == 3 {
        return debug_object(ctx, &args[2]);
    }
    if is(sub, "aof-flush-sleep") && args.len() == 3 {
        // DEBUG AOF-FLUSH-SLEEP <microseconds>: each AOF write waits first (tests use it
        // to see that replies under appendfsync always follow the write). atoi, as Redis.
        let us = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        ctx.store.saving.aof_flush_sleep_us = us.max(0) as u64;
        return Ok(Reply::OK);
    }
    if is(sub, "set-active-expire") && args.len() == 3 {
        // Redis reads the flag with atoi: anything that is not a number is 0.
        let on = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        ctx.store.active_expire = on != 0;
        return Ok(Reply::OK);
    }
    if is(sub, "pause-cron") && args.len() == 3 {
        // atoi, as for SET-ACTIVE-EXPIRE.
        let on = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        ctx.store.pause_cron = on != 0;
        return Ok(Reply::OK);
    }
    if is(sub, "set-disable-deny-scripts") && args.len() == 3 {
        // atoi, as for SET-ACTIVE-EXPIRE.
        let on = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        ctx.store.script_deny_disabled = on != 0;
        return Ok(Reply::OK);
    }
    if is(sub, "set-skip-checksum-validation") && args.len() == 3 {
        // atoi, as for SET-ACTIVE-EXPIRE.
        let on = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .unwrap_or(0);
        ctx.store.skip_checksum_validation = on != 0;
        return Ok(Reply::OK);
    }
    if is(sub, "quicklist-packed-threshold") && args.len() == 3 {
        // Redis stores elements above this size in their own list node; our lists keep
        // every element in its own allocation already, so only the argument is checked.
        let size = std::str::from_utf8(&args[2])
            .ok()
            .and_then(crate::config::parse_memory);
        return match size {
            Some(n) if n <= (1u64 << 32) - (1 << 20) => Ok(Reply::OK),
            _ => Err(Reply::err(
                "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
            )),
        };
    }
    if is(sub, "digest") && args.len() == 2 {
        return super::debug::digest(ctx);
    }
    if is(sub, "digest-value") {
        return super::debug::digest_value(ctx, &args[2..]);
    }
    if is(sub, "protocol") && args.len() == 3 {
        return super::debug::protocol(ctx, &args[2]);
    }
    if is(sub, "htstats-key") && args.len() == 3 {
        return super::debug::htstats_key(ctx, &args[2]);
    }
    if is(sub, "config-rewrite-force-all") && args.len() == 2 {
        return super::debug::config_rewrite_force_all(ctx);
    }
    if is(sub, "htstats") && args.len() == 3 {
        return super::debug::htstats(ctx, &args[2]);
    }
    if is(sub, "replybuffer") && args.len() == 4 {
        return super::debug::replybuffer(&args[1], &args[2], &args[3]);
    }
    if is(sub, "loadaof") {
        return super::debug::loadaof(ctx);
    }
    if is(sub, "drop-cluster-packet-filter") && args.len() == 3 {
        let packet_type = int(&args[2])?;
        if let Some(driver) = ctx.store.cluster.as_deref_mut() {
            driver.drop_packet_filter = packet_type;
        }
        return Ok(Reply::OK);
    }
    if is(sub, "change-repl-id") && args.len() == 2 {
        tracing::warn!("Changing replication IDs after receiving DEBUG change-repl-id");
        let id = crate::store::random_hex(&mut ctx.store.rng, 40);
        ctx.store.feed.change_replid(id);
        return Ok(Reply::OK);
    }
    if is(sub, "help") {
        return Ok(help(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CHANGE-REPL-ID",
            "CONFIG-REWRITE-FORCE-ALL",
            "DIGEST",
            "DIGEST-VALUE <key> [<key> ...]",
            "DROP-CLUSTER-PACKET-FILTER <packet-type>",
            "HTSTATS <dbid>",
            "HTSTATS-KEY <key>",
            "LOADAOF",
            "OBJECT <key>",
            "PAUSE-CRON <0|1>",
            "POPULATE <count> [<prefix>] [<size>]",
            "PROTOCOL <type>",
            "QUICKLIST-PACKED-THRESHOLD <size>",
            "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
            "REPLYBUFFER PEAK-RESET-TIME <never||reset|time> | RESIZING <0|1>",
            "SET-ACTIVE-EXPIRE <0|1>",
            "SET-DISABLE-DENY-SCRIPTS <0|1>",
            "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
            "SLEEP <seconds>",
            "HELP",
        ]));
    }
    Err(debug_syntax_error(sub))
}

/// Redis's reply to a DEBUG subcommand it does not know or got the wrong number of
/// arguments for (one text for both), naming the subcommand as the client wrote it.
pub(super) fn debug_syntax_error(sub: &Bytes) -> Reply {
    let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    text.extend(sub.iter().take(128));
    text.extend_from_slice(b"'. Try DEBUG HELP.");
    Reply::error_bytes(text)
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save the RDB (unless NOSAVE), empty the
/// dataset (unless NOFLUSH) and load the file back — what test suites use to check that
/// a value survives the RDB round trip.
fn debug_reload(ctx: &mut Ctx, opts: &[Bytes]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for o in opts {
        if is(o, "merge") {
            merge = true;
        } else if is(o, "noflush") {
            flush = false;
        } else if is(o, "nosave") {
            save = false;
        } else {
            return Err(Reply::err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            ));
        }
    }
    if save {
        crate::persist::saving::save_now(ctx.store)
            .map_err(|e| Reply::error(format!("ERR {e}")))?;
    }
    let path = crate::persist::saving::rdb_path(ctx.store);
    let keep_expired = !crate::repl::i_am_primary(ctx.store);
    let loaded = std::fs::read(&path).ok().and_then(|bytes| {
        let count = ctx.store.dbs.len();
        crate::persist::rdb::decode_rdb_with_meta(&bytes, count, ctx.now_ms, keep_expired).ok()
    });
    let Some((dbs, meta)) = loaded else {
        return Err(Reply::err("ERR Error trying to load the RDB dump"));
    };
    let now = ctx.now_ms;
    // Function libraries load as Redis's rdbLoad does: after a flush they replace all;
    // with NOFLUSH a library already loaded is an error unless MERGE lets the file's copy
    // replace it.
    if flush {
        ctx.store.scripts.replace_libraries(&meta.functions);
    } else {
        for code in &meta.functions {
            let code = Bytes::copy_from_slice(code);
            if ctx.store.scripts.load_library(&code, merge).is_err() {
                return Err(Reply::err("ERR Error trying to load the RDB dump"));
            }
        }
    }
    for (i, loaded_db) in dbs.into_iter().enumerate() {
        if flush {
            ctx.store.dbs[i] = loaded_db;
            continue;
        }
        // NOFLUSH: the file's keys join the dataset; a key in both is an error unless
        // MERGE lets the file's copy win (RDBFLAGS_ALLOW_DUP).
        let mut dup = None;
        loaded_db.for_each(now, |key, entry, expire_at| {
            if dup.is_some() {
                return;
            }
            let db = &mut ctx.store.dbs[i];
            if db.contains(key, now) && !merge {
                dup = Some(());
                return;
            }
            db.set(Bytes::copy_from_slice(key), entry.value.clone(), now);
            if expire_at != 0 {
                db.set_expire(key, expire_at, now);
            }
        });
        if dup.is_some() {
            return Err(Reply::err("ERR Error trying to load the RDB dump"));
        }
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    Ok(Reply::OK)
}

/// DEBUG OBJECT key: Redis's one-line description. `Value at` is the value's address,
/// `serializedlength` its RDB encoding's length, `lru` the access clock in seconds (Redis
/// keeps 24 bits of it) and `lru_seconds_idle` the idle time. Redis's `ql_*` details of a
/// quicklist have no counterpart in our list layout and are left out.
fn debug_object(ctx: &mut Ctx, key: &Bytes) -> CmdResult {
    let now = ctx.now_ms;
    // The key as stored: a logically expired key that is still there is described, as
    // Redis's dict lookup does (tests use it to check that a key was not deleted yet).
    let Some((entry, _)) = ctx.db().peek_stored(key) else {
        return Err(Reply::err("ERR no such key"));
    };
    // DUMP = type byte + payload + 2-byte RDB version + 8-byte CRC.
    let serialized = crate::persist::rdb::dump_value(&entry.value)
        .len()
        .saturating_sub(11);
    let lru = entry.lru as u64 & ((1 << 24) - 1);
    let idle = (now / 1000).saturating_sub(entry.lru as u64);
    let text = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{serialized} lru:{lru} lru_seconds_idle:{idle}",
        &entry.value as *const _,
        entry.encoding_name()
    );
    Ok(Reply::status_bytes(text.into_bytes()))
}

/// MEMORY USAGE key [SAMPLES n] — an estimate of the bytes a key uses.
pub(super) fn memory(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if is(&args[1], "usage") && args.len() >= 3 {
        // Options are checked before the key is looked up, as Redis does. The estimate
        // does not sample, so SAMPLES is only validated.
        let mut opts = args[3..].iter();
        while let Some(opt) = opts.next() {
            let count = opts.next().filter(|_| is(opt, "samples"));
            let Some(count) = count else {
                return Err(crate::cmd::err::SYNTAX);
            };
            if crate::cmd::args::int(count)? < 0 {
                return Err(crate::cmd::err::SYNTAX);
            }
        }
        let now = ctx.now_ms;
        let Some(entry) = ctx.db().peek(&args[2], now) else {
            return Ok(Reply::Nil);
        };
        use rubra_keyspace::Value;
        let overhead = 64 + args[2].len();
        let size = match &entry.value {
            // What is allocated: nothing for an inline string, the buffer otherwise.
            Value::Str(s) => s.heap_bytes(),
            Value::List(l) => l.heap_bytes(),
            Value::Hash(h) => h.iter().map(|(k, v)| k.len() + v.len() + 72).sum(),
            Value::Set(s) => s.iter().map(|m| m.len() + 40).sum(),
            Value::ZSet(z) => z.iter().map(|(m, _)| m.len() + 80).sum(),
            Value::Stream(s) => s.approx_bytes(),
        };
        return Ok(Reply::Int((overhead + size) as i64));
    }
    if args.len() == 2 {
        if is(&args[1], "stats") {
            return Ok(memory_stats(ctx));
        }
        if is(&args[1], "doctor") {
            return Ok(Reply::Verbatim(
                rubra_resp::VerbatimFormat::Txt,
                memory_doctor(ctx).into(),
            ));
        }
        if is(&args[1], "malloc-stats") {
            return Ok(Reply::Verbatim(
                rubra_resp::VerbatimFormat::Txt,
                crate::alloc::malloc_stats().into(),
            ));
        }
        if is(&args[1], "purge") {
            crate::alloc::purge();
            return Ok(Reply::OK);
        }
    }
    if is(&args[1], "help") {
        return Ok(help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Report memory problems found in this instance.",
            "MALLOC-STATS",
            "    The allocator's (jemalloc's) own statistics report.",
            "PURGE",
            "    Ask the allocator to return unused dirty pages to the system.",
            "STATS",
            "    Where the server's memory goes, field by field.",
            "USAGE <key> [SAMPLES <count>]",
            "    Bytes used by <key> and its value.",
            "HELP",
            "    Print this help.",
        ]));
    }
    Err(err::unknown_subcommand("memory", &args[1]))
}

/// MEMORY STATS: Redis 7.0's field names in its order (tools parse them), our own figures.
fn memory_stats(ctx: &mut Ctx) -> Reply {
    let s = &*ctx.store;
    let used = crate::alloc::used_memory();
    let rss = crate::alloc::rss_bytes();
    let peak = s.stats.used_memory_peak.max(used);
    let backlog = s.feed.backlog_len();
    let lua = s.scripts.lua.used_memory();
    let overhead = backlog + lua;
    let dataset = used.saturating_sub(overhead);
    let keys: usize = s.dbs.iter().map(|db| db.len()).sum();
    let (allocated, active, resident) = crate::alloc::allocator_bytes();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let int = |n: usize| Reply::Int(n as i64);
    let signed = |a: usize, b: usize| Reply::Int(a as i64 - b as i64);
    let field = |name: &'static str, value: Reply| (Reply::bulk_string(name.to_string()), value);
    let mut fields = vec![
        field("peak.allocated", int(peak)),
        field("total.allocated", int(used)),
        field("startup.allocated", int(0)),
        field("replication.backlog", int(backlog)),
        field("clients.slaves", int(0)),
        field("clients.normal", int(0)),
        field("cluster.links", int(0)),
        field("aof.buffer", int(0)),
        field("lua.caches", int(lua)),
        field("functions.caches", int(0)),
    ];
    for (i, db) in s.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let table = |n: usize| int(n * std::mem::size_of::<usize>());
        fields.push((
            Reply::bulk_string(format!("db.{i}")),
            Reply::Map(vec![
                field("overhead.hashtable.main", table(db.len())),
                field("overhead.hashtable.expires", table(db.expires_count())),
                field("overhead.hashtable.slot-to-keys", int(0)),
            ]),
        ));
    }
    fields.extend([
        field("overhead.total", int(overhead)),
        field("keys.count", int(keys)),
        field(
            "keys.bytes-per-key",
            int(dataset.checked_div(keys).unwrap_or(0)),
        ),
        field("dataset.bytes", int(dataset)),
        field(
            "dataset.percentage",
            Reply::Double(ratio(dataset, used) * 100.0),
        ),
        field("peak.percentage", Reply::Double(ratio(used, peak) * 100.0)),
        field("allocator.allocated", int(allocated)),
        field("allocator.active", int(active)),
        field("allocator.resident", int(resident)),
        field(
            "allocator-fragmentation.ratio",
            Reply::Double(ratio(active, allocated)),
        ),
        field("allocator-fragmentation.bytes", signed(active, allocated)),
        field(
            "allocator-rss.ratio",
            Reply::Double(ratio(resident, active)),
        ),
        field("allocator-rss.bytes", signed(resident, active)),
        field("rss-overhead.ratio", Reply::Double(ratio(rss, resident))),
        field("rss-overhead.bytes", signed(rss, resident)),
        field("fragmentation", Reply::Double(ratio(rss, used))),
        field("fragmentation.bytes", signed(rss, used)),
    ]);
    Reply::Map(fields)
}

/// Below this much data the ratios DOCTOR looks at mean nothing (Redis uses the same 5 MB).
const DOCTOR_MIN_BYTES: usize = 5 << 20;

/// MEMORY DOCTOR: a short report in our own words about the situations Redis checks.
fn memory_doctor(ctx: &mut Ctx) -> String {
    let s = &*ctx.store;
    let used = crate::alloc::used_memory();
    if used < DOCTOR_MIN_BYTES {
        return "This instance holds too little data (under 5 MB) for a meaningful memory \
                report. Load some data and ask again."
            .to_string();
    }
    let rss = crate::alloc::rss_bytes();
    let peak = s.stats.used_memory_peak.max(used);
    let mut findings = Vec::new();
    if peak > used.saturating_mul(3) / 2 {
        findings.push(format!(
            "* Peak memory: the peak ({peak} bytes) is more than 150% of the memory used now \
             ({used} bytes); the RSS may stay high until the allocator returns pages \
             (MEMORY PURGE)."
        ));
    }
    if rss > used.saturating_mul(14) / 10 {
        findings.push(format!(
            "* High fragmentation: the RSS ({rss} bytes) is {:.2} times the memory used.",
            rss as f64 / used as f64
        ));
    }
    if findings.is_empty() {
        return "No memory problems found: usage, peak and fragmentation look healthy.".to_string();
    }
    format!("Memory report:\n\n{}\n", findings.join("\n\n"))
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT] — Redis 7.0's sequence (see
/// `crate::shutdown`): waits for lagging replicas unless NOW, saves when asked or when save
/// rules exist (unless NOSAVE), and exits. A failed save refuses to stop unless FORCE, so
/// data is not silently lost; ABORT cancels a shutdown in progress.
pub(super) fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let abort = args[1..].iter().any(|a| is(a, "abort"));
    let words = args[1..].iter().filter(|a| !is(a, "abort"));
    let flags = crate::shutdown::Flags::parse(words.map(|a| a.as_ref()))
        .filter(|f| {
            let contradicts = f.save && f.nosave;
            let with_abort = abort && *f != Default::default();
            let default_word = args[1..].iter().any(|a| is(a, "default"));
            !(contradicts || with_abort || default_word)
        })
        .ok_or(err::SYNTAX)?;
    if abort {
        return if crate::shutdown::abort(ctx.store) {
            Ok(Reply::OK)
        } else {
            Err(Reply::err("ERR No shutdown in progress."))
        };
    }
    if !flags.now && ctx.client.no_block {
        return Err(Reply::err(
            "ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client",
        ));
    }
    match crate::shutdown::prepare(ctx.store, flags, ctx.now_ms) {
        crate::shutdown::Outcome::Exit => crate::shutdown::exit(0),
        crate::shutdown::Outcome::Failed => {
            Err(Reply::err("ERR Errors trying to SHUTDOWN. Check logs."))
        }
        crate::shutdown::Outcome::Waiting => {
            crate::shutdown::block_client(ctx.store, ctx.client.id);
            ctx.block_on(Vec::new(), 0, Reply::Nil)
        }
    }
}

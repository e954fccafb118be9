//! Writing RDB files that redis-server 7.0 loads: header, AUX fields, per-database SELECTDB
//! and RESIZEDB, entries with their expiry and eviction metadata, then EOF and the CRC-64,
//! computed while the bytes stream out.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::consts::*;
use crate::crc64::crc64_update;
use crate::encode::{put_len, put_string, put_value_as};
use crate::RdbEntry;

/// Streams an RDB file to `out`. Call [`RdbWriter::finish`] to write the footer; a writer
/// dropped without it leaves a truncated file that loaders reject.
pub struct RdbWriter<W: Write> {
    out: W,
    crc: u64,
    db: Option<usize>,
    /// Bytes not yet checksummed and written: entries collect here and go out (and through
    /// the CRC) in blocks of about `BLOCK` bytes, not one small write per key.
    buf: Vec<u8>,
    /// Reused space for a value's encoding, which follows the key but decides the type
    /// byte written before it.
    scratch: Vec<u8>,
}

/// How many buffered bytes trigger a write.
const BLOCK: usize = 64 * 1024;

impl<W: Write> RdbWriter<W> {
    /// Starts a file, writing the "REDIS0010" header.
    pub fn new(out: W) -> io::Result<Self> {
        let mut w = RdbWriter {
            out,
            crc: 0,
            db: None,
            buf: Vec::with_capacity(BLOCK + 4096),
            scratch: Vec::new(),
        };
        w.buf
            .extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.crc = crc64_update(self.crc, &self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= BLOCK {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Writes one AUX field (integers are stored int-encoded, as Redis does).
    pub fn aux(&mut self, key: &[u8], val: &[u8]) -> io::Result<()> {
        self.buf.push(OP_AUX);
        put_string(&mut self.buf, key);
        put_string(&mut self.buf, val);
        self.flush_buf()
    }

    /// Writes the AUX fields redis-server 7.0 puts in every file: redis-ver, redis-bits,
    /// ctime, used-mem, repl-id, repl-offset and aof-base.
    pub fn standard_aux(&mut self, ctime_secs: u64, used_mem: u64) -> io::Result<()> {
        let repl_id: String = (0..40u64)
            .map(|i| {
                let x = ctime_secs
                    .wrapping_add(i)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(17);
                char::from(b"0123456789abcdef"[(x >> 60) as usize])
            })
            .collect();
        self.aux(b"redis-ver", b"7.0.15")?;
        self.aux(b"redis-bits", b"64")?;
        self.aux(b"ctime", ctime_secs.to_string().as_bytes())?;
        self.aux(b"used-mem", used_mem.to_string().as_bytes())?;
        self.aux(b"repl-id", repl_id.as_bytes())?;
        self.aux(b"repl-offset", b"0")?;
        self.aux(b"aof-base", b"0")
    }

    /// Stores a function library source (FUNCTION2 opcode), loaded by FUNCTION LOAD rules.
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(OP_FUNCTION2);
        put_string(&mut self.buf, code);
        self.flush_buf()
    }

    /// Switches to database `db`, with RESIZEDB hints (key count, keys with expiry) that let
    /// the loader presize its tables.
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64) -> io::Result<()> {
        self.buf.push(OP_SELECTDB);
        put_len(&mut self.buf, db as u64);
        self.buf.push(OP_RESIZEDB);
        put_len(&mut self.buf, keys);
        put_len(&mut self.buf, expires);
        self.db = Some(db);
        self.maybe_flush()
    }

    /// Writes one key. Selects `e.db` first (with zero hints) if it is not current. Empty
    /// collections are skipped, since Redis has no such keys and refuses to load them.
    pub fn entry(&mut self, e: &RdbEntry) -> io::Result<()> {
        self.entry_parts(
            e.db,
            &e.key,
            &e.value,
            e.expire_ms,
            e.idle_secs,
            e.freq,
            false,
        )
    }

    /// [`RdbWriter::entry`] from borrowed parts, so a caller walking its own keyspace need
    /// not copy each key into an [`RdbEntry`]. A value whose object may be in its full
    /// encoding (`full`: hash table, skiplist) is saved in that form even when small, as
    /// Redis does.
    #[allow(clippy::too_many_arguments)]
    pub fn entry_parts(
        &mut self,
        db: usize,
        key: &[u8],
        value: &crate::RdbValue,
        expire_ms: Option<u64>,
        idle_secs: Option<u64>,
        freq: Option<u8>,
        full: bool,
    ) -> io::Result<()> {
        if value.is_empty() && !matches!(value, crate::RdbValue::Str(_)) {
            return Ok(());
        }
        self.meta(db, expire_ms, idle_secs, freq)?;
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let ty = put_value_as(&mut body, value, full);
        self.buf.push(ty);
        put_string(&mut self.buf, key);
        self.buf.extend_from_slice(&body);
        self.scratch = body;
        self.maybe_flush()
    }

    /// Writes one string key from borrowed bytes (the bulk of most datasets), with no
    /// intermediate value model at all.
    pub fn string_entry(
        &mut self,
        db: usize,
        key: &[u8],
        value: &[u8],
        expire_ms: Option<u64>,
    ) -> io::Result<()> {
        self.meta(db, expire_ms, None, None)?;
        self.buf.push(TYPE_STRING);
        put_string(&mut self.buf, key);
        put_string(&mut self.buf, value);
        self.maybe_flush()
    }

    /// The SELECTDB (if `db` is not current) and metadata opcodes that precede a key.
    fn meta(
        &mut self,
        db: usize,
        expire_ms: Option<u64>,
        idle_secs: Option<u64>,
        freq: Option<u8>,
    ) -> io::Result<()> {
        if self.db != Some(db) {
            self.select_db(db, 0, 0)?;
        }
        if let Some(ms) = expire_ms {
            self.buf.push(OP_EXPIRETIME_MS);
            self.buf.extend_from_slice(&ms.to_le_bytes());
        }
        if let Some(idle) = idle_secs {
            self.buf.push(OP_IDLE);
            put_len(&mut self.buf, idle);
        }
        if let Some(freq) = freq {
            self.buf.push(OP_FREQ);
            self.buf.push(freq);
        }
        Ok(())
    }

    /// Writes EOF and the checksum, flushes, and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(OP_EOF);
        self.flush_buf()?;
        let crc = self.crc;
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a complete RDB file holding `entries` (grouped by database, with accurate RESIZEDB
/// hints and the standard AUX fields), as SAVE would.
pub fn write_rdb<W: Write>(out: W, entries: &[RdbEntry]) -> io::Result<W> {
    let ctime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut w = RdbWriter::new(out)?;
    w.standard_aux(ctime, 0)?;
    let mut order: Vec<&RdbEntry> = entries.iter().collect();
    order.sort_by_key(|e| e.db);
    let mut i = 0;
    while i < order.len() {
        let db = order[i].db;
        let group: Vec<&RdbEntry> = order[i..]
            .iter()
            .take_while(|e| e.db == db)
            .copied()
            .collect();
        let expires = group.iter().filter(|e| e.expire_ms.is_some()).count();
        w.select_db(db, group.len() as u64, expires as u64)?;
        for e in &group {
            w.entry(e)?;
        }
        i += group.len();
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RdbReader, RdbValue};

    /// The borrowed fast paths write exactly what `entry` writes, across block flushes, and
    /// the reader's borrowed keys come back intact.
    #[test]
    fn string_entry_and_entry_parts_match_entry() {
        let entries: Vec<RdbEntry> = (0..30000u64)
            .map(|i| {
                let value = match i % 3 {
                    0 => RdbValue::Str(format!("value:{i}").into_bytes()),
                    1 => RdbValue::Str(format!("{i}").repeat(40).into_bytes()),
                    _ => RdbValue::List(vec![b"a".to_vec(), format!("{i}").into_bytes()]),
                };
                let mut e = RdbEntry::new((i / 12000) as usize, format!("key:{i}"), value);
                e.expire_ms = (i % 7 == 0).then_some(1_900_000_000_000 + i);
                e
            })
            .collect();
        let mut slow = RdbWriter::new(Vec::new()).unwrap();
        let mut fast = RdbWriter::new(Vec::new()).unwrap();
        for e in &entries {
            slow.entry(e).unwrap();
            match &e.value {
                RdbValue::Str(s) => fast.string_entry(e.db, &e.key, s, e.expire_ms).unwrap(),
                v => fast
                    .entry_parts(e.db, &e.key, v, e.expire_ms, None, None, false)
                    .unwrap(),
            }
        }
        let (slow, fast) = (slow.finish().unwrap(), fast.finish().unwrap());
        assert!(slow.len() > 2 * BLOCK, "the test must cross block flushes");
        assert_eq!(slow, fast);
        let mut r = RdbReader::new(&fast).unwrap();
        let mut n = 0;
        while let Some(item) = r.next_item().unwrap() {
            assert!(matches!(item.key, std::borrow::Cow::Borrowed(_)));
            assert_eq!(&*item.key, &entries[n].key[..]);
            assert_eq!(item.value, entries[n].value);
            assert_eq!(item.expire_ms, entries[n].expire_ms);
            n += 1;
        }
        assert_eq!(n, entries.len());
    }
}

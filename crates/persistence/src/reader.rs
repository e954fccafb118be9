//! Loading RDB files: header, opcodes (AUX, SELECTDB, RESIZEDB, expiries, LRU/LFU, functions),
//! typed values and the CRC-64 footer. Entries are produced one at a time so a large file is
//! never materialised twice.

use crate::consts::*;
use crate::crc64::crc64;
use crate::decode::{self, is_value_type, Cursor};
use crate::error::RdbError;
use crate::{RdbEntry, RdbValue};
use std::borrow::Cow;

/// What an RDB file said besides its keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RdbInfo {
    /// RDB format version from the header.
    pub version: u32,
    /// AUX fields (redis-ver, ctime, repl-id, ...), in file order.
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function library sources (FUNCTION2 opcode), for FUNCTION RESTORE-like loading.
    pub functions: Vec<Vec<u8>>,
    /// RESIZEDB hints as (db, keys, keys with expiry).
    pub resize_hints: Vec<(usize, u64, u64)>,
    /// Number of entries produced.
    pub keys: usize,
    /// Empty collections skipped, as redis-server does.
    pub skipped_empty: usize,
    /// The verified checksum, or None when the file had checksums disabled (0).
    pub checksum: Option<u64>,
}

/// One key as [`RdbReader::next_item`] produces it: an [`RdbEntry`] whose key may borrow
/// from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct RdbItem<'a> {
    /// Database index (SELECT number).
    pub db: usize,
    /// The key name, borrowed unless it was stored int-encoded or compressed.
    pub key: Cow<'a, [u8]>,
    /// The value.
    pub value: RdbValue,
    /// Absolute expiry time, in Unix milliseconds.
    pub expire_ms: Option<u64>,
    /// LRU idle time in seconds.
    pub idle_secs: Option<u64>,
    /// LFU logarithmic access counter.
    pub freq: Option<u8>,
}

/// Streaming RDB parser over an in-memory file. Entries come out before the footer is
/// checked, like redis-server loading: only trust them once `next_entry` has returned
/// `Ok(None)` (which means the checksum matched).
pub struct RdbReader<'a> {
    bytes: &'a [u8],
    c: Cursor<'a>,
    db: usize,
    info: RdbInfo,
    done: bool,
}

impl<'a> RdbReader<'a> {
    /// Checks the "REDISnnnn" header and prepares to read entries.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RdbError> {
        let mut c = Cursor::new(bytes);
        let version = parse_magic(c.take(9).map_err(|_| RdbError::BadMagic)?)?;
        Ok(RdbReader {
            bytes,
            c,
            db: 0,
            info: RdbInfo {
                version,
                ..RdbInfo::default()
            },
            done: false,
        })
    }

    /// Everything seen so far apart from keys.
    pub fn info(&self) -> &RdbInfo {
        &self.info
    }

    /// Bytes of the file read so far: after the end (`next_item` returned None), the RDB's
    /// length, so what follows it (an old-style AOF's command tail) can be read on.
    pub fn consumed(&self) -> usize {
        self.c.pos()
    }

    /// Consumes the reader, returning its info.
    pub fn into_info(self) -> RdbInfo {
        self.info
    }

    /// Returns the next key, or None at the end of the file after verifying the checksum.
    pub fn next_entry(&mut self) -> Result<Option<RdbEntry>, RdbError> {
        Ok(self.next_item()?.map(|it| RdbEntry {
            db: it.db,
            key: it.key.into_owned(),
            value: it.value,
            expire_ms: it.expire_ms,
            idle_secs: it.idle_secs,
            freq: it.freq,
        }))
    }

    /// [`RdbReader::next_entry`] with the key borrowed from the file when it is stored raw
    /// (always, for files Redis writes): a loader copying keys into its own storage saves
    /// one allocation per key.
    pub fn next_item(&mut self) -> Result<Option<RdbItem<'a>>, RdbError> {
        let mut expire_ms = None;
        let mut idle_secs = None;
        let mut freq = None;
        while !self.done {
            let op = self.c.u8()?;
            match op {
                OP_EOF => {
                    self.finish()?;
                }
                OP_SELECTDB => {
                    self.db = usize::try_from(self.c.len()?)
                        .map_err(|_| RdbError::Corrupt("database number too large"))?;
                }
                OP_RESIZEDB => {
                    let keys = self.c.len()?;
                    let expires = self.c.len()?;
                    self.info.resize_hints.push((self.db, keys, expires));
                }
                OP_AUX => {
                    let k = self.c.string()?;
                    let v = self.c.string()?;
                    self.info.aux.push((k, v));
                }
                OP_EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.c.array()?);
                    expire_ms = Some(secs.max(0) as u64 * 1000);
                }
                OP_EXPIRETIME_MS => {
                    let ms = i64::from_le_bytes(self.c.array()?);
                    expire_ms = Some(ms.max(0) as u64);
                }
                OP_IDLE => idle_secs = Some(self.c.len()?),
                OP_FREQ => freq = Some(self.c.u8()?),
                OP_FUNCTION_PRE_GA => return Err(RdbError::UnsupportedOpcode(op)),
                OP_MODULE_AUX => return Err(RdbError::ModuleAux),
                OP_FUNCTION2 => {
                    let code = self.c.string()?;
                    self.info.functions.push(code);
                }
                ty if is_value_type(ty) => {
                    let key = self.c.string_cow()?;
                    let value = decode::value(&mut self.c, ty)?;
                    if !matches!(value, RdbValue::Str(_)) && value.is_empty() {
                        self.info.skipped_empty += 1;
                        expire_ms = None;
                        idle_secs = None;
                        freq = None;
                        continue;
                    }
                    self.info.keys += 1;
                    return Ok(Some(RdbItem {
                        db: self.db,
                        key,
                        value,
                        expire_ms,
                        idle_secs,
                        freq,
                    }));
                }
                other => return Err(RdbError::UnsupportedOpcode(other)),
            }
        }
        Ok(None)
    }

    fn finish(&mut self) -> Result<(), RdbError> {
        self.done = true;
        if self.info.version < 5 {
            return Ok(());
        }
        let end = self.c.pos();
        let stored = u64::from_le_bytes(self.c.array()?);
        if stored == 0 {
            return Ok(());
        }
        let computed = crc64(&self.bytes[..end]);
        if stored != computed {
            return Err(RdbError::ChecksumMismatch { stored, computed });
        }
        self.info.checksum = Some(stored);
        Ok(())
    }
}

/// The version in a 9-byte "REDISnnnn" header, if we can load it.
pub(crate) fn parse_magic(magic: &[u8]) -> Result<u32, RdbError> {
    if magic.len() != 9 || &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
        return Err(RdbError::BadMagic);
    }
    let version = magic[5..]
        .iter()
        .fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
    if version == 0 || version > RDB_MAX_READ_VERSION {
        return Err(RdbError::UnsupportedVersion(version));
    }
    Ok(version)
}

/// Reads a whole RDB file, handing each key to `f`; returns the file's info once the
/// checksum has been verified.
pub fn read_rdb(bytes: &[u8], mut f: impl FnMut(RdbEntry)) -> Result<RdbInfo, RdbError> {
    let mut r = RdbReader::new(bytes)?;
    while let Some(e) = r.next_entry()? {
        f(e);
    }
    Ok(r.into_info())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compact::build;
    use crate::crc64::crc64;
    use crate::encode::{put_blob, put_len, put_string};
    use crate::listpack;

    /// Wraps a body in a version-`v` header and an EOF + checksum footer.
    fn file(v: u32, body: &[u8]) -> Vec<u8> {
        let mut f = format!("REDIS{v:04}").into_bytes();
        f.extend_from_slice(body);
        f.push(OP_EOF);
        let crc = crc64(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    fn key(body: &mut Vec<u8>, ty: u8, k: &str) {
        body.push(ty);
        put_string(body, k.as_bytes());
    }

    fn read_all(f: &[u8]) -> Result<(Vec<RdbEntry>, RdbInfo), RdbError> {
        let mut v = Vec::new();
        let info = read_rdb(f, |e| v.push(e))?;
        Ok((v, info))
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn legacy_types() {
        let mut b = Vec::new();
        // LIST (1)
        key(&mut b, TYPE_LIST, "list1");
        put_len(&mut b, 2);
        put_string(&mut b, b"a");
        put_string(&mut b, b"12");
        // ZSET (3) with string scores, including the special inf/nan length bytes.
        key(&mut b, TYPE_ZSET, "zset3");
        put_len(&mut b, 3);
        put_string(&mut b, b"m1");
        b.extend_from_slice(b"\x031.5");
        put_string(&mut b, b"m2");
        b.push(254);
        put_string(&mut b, b"m3");
        b.extend_from_slice(b"\x171.0000000000000001e+300");
        // ZIPMAP (9)
        key(&mut b, TYPE_HASH_ZIPMAP, "zipmap");
        put_blob(&mut b, &build::zipmap(&[(b"f", b"v"), (b"g", b"w")]));
        // LIST_ZIPLIST (10)
        key(&mut b, TYPE_LIST_ZIPLIST, "zl");
        put_blob(&mut b, &build::ziplist(&[b"x", b"-5", b"100000"]));
        // ZSET_ZIPLIST (12)
        key(&mut b, TYPE_ZSET_ZIPLIST, "zzl");
        put_blob(&mut b, &build::ziplist(&[b"a", b"1", b"b", b"2.5"]));
        // HASH_ZIPLIST (13)
        key(&mut b, TYPE_HASH_ZIPLIST, "hzl");
        put_blob(&mut b, &build::ziplist(&[b"f", b"1", b"g", b"two"]));
        // LIST_QUICKLIST (14): two ziplist nodes.
        key(&mut b, TYPE_LIST_QUICKLIST, "ql");
        put_len(&mut b, 2);
        put_blob(&mut b, &build::ziplist(&[b"1", b"2"]));
        put_blob(&mut b, &build::ziplist(&[b"three"]));
        // LIST_QUICKLIST_2 (18) with a plain node between packed ones.
        key(&mut b, TYPE_LIST_QUICKLIST_2, "ql2");
        put_len(&mut b, 3);
        put_len(&mut b, QUICKLIST_NODE_PACKED);
        put_blob(&mut b, &listpack::encode([&b"p1"[..]]));
        put_len(&mut b, QUICKLIST_NODE_PLAIN);
        put_blob(&mut b, &[b'L'; 100]);
        put_len(&mut b, QUICKLIST_NODE_PACKED);
        put_blob(&mut b, &listpack::encode([&b"p2"[..], b"7"]));
        // SET_LISTPACK (20, Redis 7.2)
        key(&mut b, TYPE_SET_LISTPACK, "slp");
        put_blob(&mut b, &listpack::encode([&b"a"[..], b"3"]));
        // Old second-resolution expiry on a string.
        b.push(OP_EXPIRETIME);
        b.extend_from_slice(&2_000_000_000i32.to_le_bytes());
        key(&mut b, TYPE_STRING, "old-ttl");
        put_string(&mut b, b"v");
        let (got, info) = read_all(&file(11, &b)).unwrap();
        assert_eq!(info.version, 11);
        let want: Vec<(&str, RdbValue)> = vec![
            ("list1", RdbValue::List(strs(&["a", "12"]))),
            (
                "zset3",
                RdbValue::ZSet(vec![
                    (b"m1".to_vec(), 1.5),
                    (b"m2".to_vec(), f64::INFINITY),
                    (b"m3".to_vec(), 1e300),
                ]),
            ),
            (
                "zipmap",
                RdbValue::Hash(vec![
                    (b"f".to_vec(), b"v".to_vec()),
                    (b"g".to_vec(), b"w".to_vec()),
                ]),
            ),
            ("zl", RdbValue::List(strs(&["x", "-5", "100000"]))),
            (
                "zzl",
                RdbValue::ZSet(vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 2.5)]),
            ),
            (
                "hzl",
                RdbValue::Hash(vec![
                    (b"f".to_vec(), b"1".to_vec()),
                    (b"g".to_vec(), b"two".to_vec()),
                ]),
            ),
            ("ql", RdbValue::List(strs(&["1", "2", "three"]))),
            (
                "ql2",
                RdbValue::List(vec![
                    b"p1".to_vec(),
                    vec![b'L'; 100],
                    b"p2".to_vec(),
                    b"7".to_vec(),
                ]),
            ),
            ("slp", RdbValue::Set(strs(&["a", "3"]))),
            ("old-ttl", RdbValue::Str(b"v".to_vec())),
        ];
        assert_eq!(got.len(), want.len());
        for (e, (k, v)) in got.iter().zip(want) {
            assert_eq!(e.key, k.as_bytes());
            assert_eq!(e.value, v, "{k}");
        }
        assert_eq!(got[9].expire_ms, Some(2_000_000_000_000));
        assert!(got[..9].iter().all(|e| e.expire_ms.is_none()));
    }

    #[test]
    fn unsupported_things_fail_cleanly() {
        let ty = TYPE_MODULE_2;
        let mut b = Vec::new();
        key(&mut b, ty, "s");
        b.extend_from_slice(&[0; 16]);
        assert_eq!(
            read_all(&file(10, &b)).unwrap_err(),
            RdbError::UnsupportedType(ty)
        );
        let mut b = vec![OP_MODULE_AUX];
        b.extend_from_slice(&[0; 16]);
        assert_eq!(read_all(&file(10, &b)).unwrap_err(), RdbError::ModuleAux);
        assert_eq!(
            read_all(&file(10, &[OP_FUNCTION_PRE_GA, 0])).unwrap_err(),
            RdbError::UnsupportedOpcode(OP_FUNCTION_PRE_GA)
        );
        assert_eq!(
            read_all(&file(10, &[100])).unwrap_err(),
            RdbError::UnsupportedOpcode(100)
        );
        assert_eq!(read_all(b"REDIX0010").unwrap_err(), RdbError::BadMagic);
        assert_eq!(read_all(b"RED").unwrap_err(), RdbError::BadMagic);
        assert_eq!(
            read_all(&file(13, &[])).unwrap_err(),
            RdbError::UnsupportedVersion(13)
        );
    }

    #[test]
    fn checksum_rules() {
        let mut b = Vec::new();
        key(&mut b, TYPE_STRING, "k");
        put_string(&mut b, b"v");
        let good = file(10, &b);
        assert!(read_all(&good).unwrap().1.checksum.is_some());
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 3] ^= 0x40;
        assert!(matches!(
            read_all(&bad).unwrap_err(),
            RdbError::ChecksumMismatch { .. }
        ));
        // A zero checksum means "disabled".
        let mut zero = good.clone();
        zero[n - 8..].fill(0);
        let (e, info) = read_all(&zero).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(info.checksum, None);
        // Versions before 5 have no checksum at all.
        let mut old = file(4, &b);
        old.truncate(old.len() - 8);
        assert_eq!(read_all(&old).unwrap().0.len(), 1);
    }

    #[test]
    fn empty_collections_are_skipped() {
        let mut b = Vec::new();
        key(&mut b, TYPE_SET, "empty");
        put_len(&mut b, 0);
        key(&mut b, TYPE_STRING, "k");
        put_string(&mut b, b"");
        let (e, info) = read_all(&file(10, &b)).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(info.skipped_empty, 1);
    }

    #[test]
    fn writer_output_uses_compact_forms() {
        let entries = vec![
            RdbEntry::new(0, "long", RdbValue::Str(b"ab".repeat(100))),
            RdbEntry::new(0, "int", RdbValue::Str(b"-100".to_vec())),
        ];
        let out = crate::write_rdb(Vec::new(), &entries).unwrap();
        // The value after the key "long" is LZF-compressed (0xc3 marker).
        let at = out.windows(5).position(|w| w == b"\x04long").unwrap();
        assert_eq!(out[at + 5], 0xc3);
        // "-100" is an INT8.
        assert!(out.windows(2).any(|w| w == [0xc0, 0x9c]));
        let (got, _) = read_all(&out).unwrap();
        assert_eq!(got, entries);
    }
}

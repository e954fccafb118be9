//! Loading RDB files: header, opcodes (AUX, SELECTDB, RESIZEDB, expiries, LRU/LFU, functions),
//! typed values and the CRC-64 footer. Entries are produced one at a time so a large file is
//! never materialised twice.

use crate::consts::*;
use crate::crc64::crc64;
use crate::decode::{self, is_value_type, Cursor};
use crate::error::RdbError;
use crate::{RdbEntry, RdbValue};

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
        let magic = c.take(9).map_err(|_| RdbError::BadMagic)?;
        if &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
            return Err(RdbError::BadMagic);
        }
        let version = magic[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + (d - b'0') as u32);
        if version == 0 || version > RDB_MAX_READ_VERSION {
            return Err(RdbError::UnsupportedVersion(version));
        }
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

    /// Consumes the reader, returning its info.
    pub fn into_info(self) -> RdbInfo {
        self.info
    }

    /// Returns the next key, or None at the end of the file after verifying the checksum.
    pub fn next_entry(&mut self) -> Result<Option<RdbEntry>, RdbError> {
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
                    let key = self.c.string()?;
                    let value = decode::value(&mut self.c, ty)?;
                    if !matches!(value, RdbValue::Str(_)) && value.is_empty() {
                        self.info.skipped_empty += 1;
                        expire_ms = None;
                        idle_secs = None;
                        freq = None;
                        continue;
                    }
                    self.info.keys += 1;
                    return Ok(Some(RdbEntry {
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

/// Reads a whole RDB file, handing each key to `f`; returns the file's info once the
/// checksum has been verified.
pub fn read_rdb(bytes: &[u8], mut f: impl FnMut(RdbEntry)) -> Result<RdbInfo, RdbError> {
    let mut r = RdbReader::new(bytes)?;
    while let Some(e) = r.next_entry()? {
        f(e);
    }
    Ok(r.into_info())
}

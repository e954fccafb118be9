//! DUMP/RESTORE payloads: the type byte and value encoding of an RDB entry, followed by the
//! RDB version (u16 LE) and a CRC-64 (u64 LE) of everything before it.

use crate::consts::{DUMP_MAX_VERSION, RDB_VERSION};
use crate::crc64::crc64;
use crate::decode::{self, Cursor};
use crate::encode::put_value;
use crate::error::RdbError;
use crate::RdbValue;

/// Serialises `value` as DUMP would, so RESTORE on redis-server (or on us) accepts it.
pub fn dump_payload(value: &RdbValue) -> Vec<u8> {
    let mut body = Vec::new();
    let ty = put_value(&mut body, value);
    let mut out = Vec::with_capacity(body.len() + 11);
    out.push(ty);
    out.extend_from_slice(&body);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Parses a RESTORE payload. A bad footer (version above 11 or wrong checksum) gives
/// [`RdbError::BadDumpPayload`] ("DUMP payload version or checksum are wrong"); any other
/// error means the body is malformed (Redis answers "Bad data format"), including an empty
/// collection, which Redis refuses to restore.
pub fn restore_payload(bytes: &[u8]) -> Result<RdbValue, RdbError> {
    if bytes.len() < 10 {
        return Err(RdbError::BadDumpPayload);
    }
    let (body, footer) = bytes.split_at(bytes.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > DUMP_MAX_VERSION || u64::from_le_bytes(crc) != crc64(&bytes[..bytes.len() - 8]) {
        return Err(RdbError::BadDumpPayload);
    }
    let mut c = Cursor::new(body);
    let ty = c.u8()?;
    let v = decode::value(&mut c, ty)?;
    if v.is_empty() {
        return Err(RdbError::Corrupt("empty key"));
    }
    Ok(v)
}

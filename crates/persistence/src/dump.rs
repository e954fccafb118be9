//! DUMP/RESTORE payloads: the type byte and value encoding of an RDB entry, followed by the
//! RDB version (u16 LE) and a CRC-64 (u64 LE) of everything before it.

use crate::consts::{DUMP_MAX_VERSION, RDB_VERSION};
use crate::crc64::crc64;
use crate::decode::{self, Cursor};
use crate::encode::put_value_as;
use crate::error::RdbError;
use crate::RdbValue;

/// Serialises `value` as DUMP would, so RESTORE on redis-server (or on us) accepts it.
pub fn dump_payload(value: &RdbValue) -> Vec<u8> {
    dump_payload_as(value, false)
}

/// [`dump_payload`] of a value whose object is in its full encoding (`full`: hash table,
/// skiplist), saved in that form even when small, as Redis saves what the object is.
pub fn dump_payload_as(value: &RdbValue, full: bool) -> Vec<u8> {
    let mut body = Vec::new();
    let ty = put_value_as(&mut body, value, full);
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
    restore_payload_checked(bytes, true, true)
}

/// [`restore_payload`], with the CRC-64 check only when `verify_crc` is set: Redis's
/// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1` skips it (the version is still checked) so test
/// suites can hand corrupt bodies to the decoder without recomputing the footer. `deep` is
/// Redis's deep sanitization (`sanitize-dump-payload yes`): off, the redundant fields
/// Redis then leaves unchecked (and we do not need) are not checked either; everything
/// we need to read the value is checked in both modes.
pub fn restore_payload_checked(
    bytes: &[u8],
    verify_crc: bool,
    deep: bool,
) -> Result<RdbValue, RdbError> {
    if bytes.len() < 10 {
        return Err(RdbError::BadDumpPayload);
    }
    let footer = &bytes[bytes.len() - 10..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > DUMP_MAX_VERSION
        || (verify_crc && u64::from_le_bytes(crc) != crc64(&bytes[..bytes.len() - 8]))
    {
        return Err(RdbError::BadDumpPayload);
    }
    // Redis reads the value from the whole argument, footer included: a body that ends
    // early takes its last bytes from the footer, as there.
    let mut c = Cursor::new(bytes);
    c.deep = deep;
    let ty = c.u8()?;
    let v = decode::value(&mut c, ty)?;
    if v.is_empty() {
        return Err(RdbError::Corrupt("empty key"));
    }
    Ok(v)
}

/// FUNCTION DUMP's payload: each library's source under the FUNCTION2 opcode, then the
/// same version + CRC-64 footer as a key's DUMP (redis-server 7.0 reads it and vice versa).
pub fn dump_functions<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(crate::consts::OP_FUNCTION2);
        crate::encode::put_string(&mut out, code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a FUNCTION RESTORE payload was refused, in Redis's words.
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionPayloadError {
    /// "DUMP payload version or checksum are wrong"
    BadFooter,
    /// "given type is not a function"
    NotAFunction,
    /// "failed loading the given functions payload"
    Malformed,
}

/// The library sources in a FUNCTION RESTORE payload.
pub fn restore_functions(bytes: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    if bytes.len() < 10 {
        return Err(FunctionPayloadError::BadFooter);
    }
    let (body, footer) = bytes.split_at(bytes.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > DUMP_MAX_VERSION || u64::from_le_bytes(crc) != crc64(&bytes[..bytes.len() - 8]) {
        return Err(FunctionPayloadError::BadFooter);
    }
    let mut c = Cursor::new(body);
    let mut codes = Vec::new();
    while c.remaining() > 0 {
        let ty = c.u8().map_err(|_| FunctionPayloadError::Malformed)?;
        if ty != crate::consts::OP_FUNCTION2 {
            return Err(FunctionPayloadError::NotAFunction);
        }
        codes.push(c.string().map_err(|_| FunctionPayloadError::Malformed)?);
    }
    Ok(codes)
}

#[cfg(test)]
mod function_tests {
    use super::*;

    #[test]
    fn function_payload_round_trips_and_checks_its_footer() {
        let codes: [&[u8]; 2] = [b"#!lua name=a\nx", b"#!lua name=b\ny"];
        let payload = dump_functions(codes);
        assert_eq!(
            restore_functions(&payload).unwrap(),
            vec![codes[0].to_vec(), codes[1].to_vec()]
        );
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert_eq!(
            restore_functions(&bad),
            Err(FunctionPayloadError::BadFooter)
        );
    }
}

//! FUNCTION DUMP / RESTORE payloads, via the persistence crate's Redis-compatible codec.

use super::functions::Libraries;
use bytes::Bytes;
use rubra_persistence::{dump_functions, restore_functions, FunctionPayloadError};

/// The payload of FUNCTION DUMP for `libs`.
pub(crate) fn dump_payload(libs: &Libraries) -> Vec<u8> {
    dump_functions(libs.libs.values().map(|l| l.code.as_ref()))
}

/// The library sources in a FUNCTION RESTORE payload, or Redis's error text.
pub(crate) fn parse_payload(payload: &[u8]) -> Result<Vec<Bytes>, &'static str> {
    match restore_functions(payload) {
        Ok(codes) => Ok(codes.into_iter().map(Bytes::from).collect()),
        Err(FunctionPayloadError::BadFooter) => Err("DUMP payload version or checksum are wrong"),
        Err(FunctionPayloadError::NotAFunction) => Err("given type is not a function"),
        Err(FunctionPayloadError::Malformed) => Err("failed loading the given functions payload"),
    }
}

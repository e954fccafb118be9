//! Errors from reading RDB files and DUMP payloads. Every malformed input maps to one of these,
//! never to a panic, because the bytes come from disk or from clients (RESTORE).

use std::fmt;

/// Why an RDB file or DUMP payload could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbError {
    /// The input ended in the middle of a structure.
    Truncated,
    /// The file does not start with "REDIS" and four version digits.
    BadMagic,
    /// RDB version newer than we understand (or zero).
    UnsupportedVersion(u32),
    /// A value type we do not load (modules) or do not know.
    UnsupportedType(u8),
    /// An opcode we recognise but cannot load (e.g. pre-GA 7.0 FUNCTION) or do not know.
    UnsupportedOpcode(u8),
    /// Module auxiliary data: needs the module to parse it.
    ModuleAux,
    /// A structurally invalid encoding; the text says which check failed.
    Corrupt(&'static str),
    /// The CRC-64 footer of an RDB file does not match its content.
    ChecksumMismatch {
        /// The checksum stored in the file.
        stored: u64,
        /// The checksum computed over the file.
        computed: u64,
    },
    /// A DUMP payload with a wrong footer (version too new, or bad checksum).
    BadDumpPayload,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Truncated => write!(f, "unexpected end of RDB data"),
            RdbError::BadMagic => write!(f, "wrong signature trying to load DB from file"),
            RdbError::UnsupportedVersion(v) => write!(f, "can't handle RDB format version {v}"),
            RdbError::UnsupportedType(t) => write!(f, "unsupported type {t} in RDB data"),
            RdbError::UnsupportedOpcode(op) => write!(f, "unsupported opcode {op} in RDB data"),
            RdbError::ModuleAux => write!(f, "module auxiliary data is not supported"),
            RdbError::Corrupt(what) => write!(f, "bad RDB data format: {what}"),
            RdbError::ChecksumMismatch { stored, computed } => write!(
                f,
                "Wrong RDB checksum expected: ({stored:x}) but got ({computed:x}): RDB CRC error"
            ),
            RdbError::BadDumpPayload => write!(f, "DUMP payload version or checksum are wrong"),
        }
    }
}

impl std::error::Error for RdbError {}

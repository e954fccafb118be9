//! CRC-64/Jones as used by Redis for RDB files and DUMP payloads (reflected, polynomial
//! 0xad93d23594c935a9, init 0, no final xor). Table driven, computed incrementally so the
//! writer can checksum while streaming.

/// Bit-reversed form of the Jones polynomial, for the reflected algorithm.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u64; 256] = make_table();

/// Continues a CRC-64/Jones over `data`, starting from `crc` (0 for a fresh checksum); lets
/// callers checksum a stream piece by piece.
pub fn crc64_update(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-64/Jones of a whole buffer, the checksum Redis puts after RDB files and DUMP payloads.
pub fn crc64(data: &[u8]) -> u64 {
    crc64_update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn incremental_matches_whole() {
        let data = b"the quick brown fox jumps over the lazy dog";
        let (a, b) = data.split_at(17);
        assert_eq!(crc64_update(crc64(a), b), crc64(data));
    }
}

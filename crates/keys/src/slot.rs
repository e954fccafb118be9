//! Key -> hash slot mapping, as the Redis Cluster specification defines it:
//! CRC16 (XMODEM: poly 0x1021, init 0) of the key, or of its `{hash tag}`, mod 16384.

/// Number of hash slots in a cluster; fixed by the cluster specification.
pub const SLOT_COUNT: usize = 16384;

/// CRC16-XMODEM lookup table, computed at compile time so there is no start-up cost.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// `SLICE[k][v]`: the CRC of byte `v` followed by `k` zero bytes. CRC16-XMODEM (no
/// reflection, init 0, no final xor) is linear over XOR, so four bytes fold into the CRC
/// with four independent lookups instead of a chain of four dependent ones (slicing-by-4);
/// every command with a key computes its slot, so this is on the hot path.
const SLICE: [[u16; 256]; 4] = {
    let mut t = [[0u16; 256]; 4];
    t[0] = CRC16_TABLE;
    let mut k = 1;
    while k < 4 {
        let mut v = 0;
        while v < 256 {
            let prev = t[k - 1][v];
            t[k][v] = (prev << 8) ^ CRC16_TABLE[(prev >> 8) as usize];
            v += 1;
        }
        k += 1;
    }
    t
};

/// CRC16-XMODEM of `data`; public because the cluster bus and tools need the same checksum.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let [h, l] = crc.to_be_bytes();
        crc = SLICE[3][(h ^ c[0]) as usize]
            ^ SLICE[2][(l ^ c[1]) as usize]
            ^ SLICE[1][c[2] as usize]
            ^ SLICE[0][c[3] as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ CRC16_TABLE[((crc >> 8) as u8 ^ b) as usize];
    }
    crc
}

/// The part of a key that is hashed: the content of the first `{...}` if it is non-empty,
/// else the whole key. This is what lets users co-locate keys (`{user1}.a`, `{user1}.b`).
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = find_open_brace(key) {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The index of the first `{` in `key`. Every key passes here and most have no brace:
/// eight bytes are tested at a time (a word whose byte equals `{` becomes a zero byte,
/// found with the carry trick), which costs less than a byte loop, or than a SIMD search's
/// set-up on keys this short.
fn find_open_brace(key: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let mut chunks = key.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let v = u64::from_le_bytes(word) ^ (ONES * b'{' as u64);
        // The lowest flagged byte is the first zero byte (a borrow only flags bytes above it).
        let zero = v.wrapping_sub(ONES) & !v & (ONES << 7);
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'{')
        .map(|i| base + i)
}

/// The hash slot of a key (0..16384).
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOT_COUNT as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_reference_vector() {
        // The cluster spec's reference: CRC16("123456789") == 0x31C3.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    /// The byte-at-a-time definition the sliced version must agree with.
    fn crc16_bytewise(data: &[u8]) -> u16 {
        data.iter().fold(0u16, |crc, &b| {
            (crc << 8) ^ CRC16_TABLE[((crc >> 8) as u8 ^ b) as usize]
        })
    }

    proptest::proptest! {
        #[test]
        fn open_brace_search_matches_a_byte_loop(data in proptest::collection::vec(
            proptest::sample::select(vec![b'{', b'}', b'a', 0u8, 0x7a, 0x7c, 0xfb, 0xff]), 0..40)) {
            proptest::prop_assert_eq!(find_open_brace(&data), data.iter().position(|&b| b == b'{'));
        }

        #[test]
        fn sliced_crc16_matches_bytewise(data in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(crc16(&data), crc16_bytewise(&data));
        }
    }

    #[test]
    fn known_slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.0.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b""), 0);
    }

    #[test]
    fn hash_tags_follow_the_spec() {
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hash_tag(b"{}"), b"{}");
        assert_eq!(hash_tag(b"{a"), b"{a");
    }
}

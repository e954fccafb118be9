//! Redis's own `lrand48` (rand.c), behind `math.random` in scripts: a 48-bit linear
//! congruential generator with the classic constants, so a script sees the same sequence on
//! every platform and the same one redis-server 7.0 produces (one process-wide stream that
//! is never reseeded between scripts, as in 7.0).

/// The generator's state: 48 bits in a u64.
#[derive(Debug, Clone)]
pub(crate) struct Rand48 {
    x: u64,
}

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// Redis's REDIS_LRAND48_MAX (INT32_MAX).
pub(crate) const LRAND48_MAX: i64 = i32::MAX as i64;

impl Default for Rand48 {
    /// The state Redis starts with (X2 X1 X0 = 0x1234 0xABCD 0x330E).
    fn default() -> Self {
        Rand48 {
            x: 0x1234_ABCD_330E,
        }
    }
}

impl Rand48 {
    /// `redisSrand48`: the low 32 bits of the seed above 0x330E.
    pub(crate) fn seed(&mut self, seed: i32) {
        self.x = ((seed as u32 as u64) << 16) | 0x330E;
    }

    /// `redisLrand48`: the next 31-bit value.
    pub(crate) fn next(&mut self) -> i64 {
        self.x = (A.wrapping_mul(self.x).wrapping_add(C)) & MASK;
        (self.x >> 17) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_c_library_lrand48() {
        // glibc's srand48/lrand48 implement the same generator: an independent oracle.
        for seed in [0i32, 1, 7, -5, 123_456_789] {
            let mut r = Rand48::default();
            r.seed(seed);
            // SAFETY: plain C calls on this thread's libc generator, no pointers involved.
            unsafe { libc::srand48(seed as libc::c_long) };
            for _ in 0..5 {
                let theirs = unsafe { libc::lrand48() } as i64;
                assert_eq!(r.next(), theirs);
            }
        }
    }
}

//! Partial quicksort with Redis's exact pivot choices (its pqsort.c, a NetBSD qsort that
//! only recurses into partitions overlapping the wanted range). GEO searches with COUNT
//! and SORT ... BY ... LIMIT sort this way; elements that compare equal end up in the same
//! order as in Redis only if the same swaps happen, so the algorithm is reproduced step for
//! step rather than replaced by a library sort.

use std::cmp::Ordering;

/// Sorts `v` so that positions `lo..=hi` hold what a full sort would put there.
pub(crate) fn pqsort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &impl Fn(&T, &T) -> Ordering) {
    sort_range(v, 0, v.len(), lo, hi, cmp);
}

/// Median of three positions, as the C `med3`.
fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

/// Swaps `n` consecutive elements starting at `a` with those starting at `b`.
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Sorts the sub-slice `[base, base + n)`; `lo..=hi` is the wanted range (absolute).
fn sort_range<T>(
    v: &mut [T],
    mut base: usize,
    mut n: usize,
    lo: usize,
    hi: usize,
    cmp: &impl Fn(&T, &T) -> Ordering,
) {
    loop {
        if n < 7 {
            for pm in base + 1..base + n {
                let mut pl = pm;
                while pl > base && cmp(&v[pl - 1], &v[pl]) == Ordering::Greater {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = base + n / 2;
        if n > 7 {
            let mut pl = base;
            let mut pn = base + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(base, pm);
        let (mut pa, mut pb) = (base + 1, base + 1);
        let (mut pc, mut pd) = (base + n - 1, base + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[base]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[base]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = base + n;
        let r = (pa - base).min(pb - pa);
        vecswap(v, base, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let left = pb - pa;
        if left > 1 && overlaps(base, left, lo, hi) {
            sort_range(v, base, left, lo, hi, cmp);
        }
        let right = pd - pc;
        if right > 1 {
            base = pn - right;
            n = right;
            if overlaps(base, n, lo, hi) {
                continue;
            }
        }
        return;
    }
}

/// Whether `[start, start + len)` intersects the wanted range `lo..=hi`.
fn overlaps(start: usize, len: usize, lo: usize, hi: usize) -> bool {
    !(hi < start || lo >= start + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The wanted range holds exactly what a full sort puts there.
        #[test]
        fn wanted_range_is_sorted(mut v in proptest::collection::vec(0u8..20, 0..200), a in 0usize..200, b in 0usize..200) {
            if v.is_empty() {
                return Ok(());
            }
            let (lo, hi) = (a.min(b) % v.len(), a.max(b) % v.len());
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let mut sorted = v.clone();
            sorted.sort();
            pqsort(&mut v, lo, hi, &|x: &u8, y: &u8| x.cmp(y));
            prop_assert_eq!(&v[lo..=hi], &sorted[lo..=hi]);
        }
    }
}

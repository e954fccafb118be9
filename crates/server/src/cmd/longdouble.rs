//! Just enough x87 80-bit `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT, which
//! Redis computes as `strtold(a) + strtold(b)` printed with `%.17Lf` (trailing zeros cut):
//! with a 64-bit mantissa, sums such as 0.1 + 0.2 - 0.3 come out exactly as in Redis, where
//! an f64 would show its own rounding noise. Values are `mant * 2^exp` with a normalised
//! 64-bit mantissa; parsing, addition and printing round half to even exactly (via a small
//! big integer), as glibc does. Subnormal long doubles are not modelled (no realistic
//! counter reaches 1e-4931).

use std::cmp::Ordering;

/// A finite extended-precision value: `(-1)^neg * mant * 2^exp`; `mant == 0` is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ld {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// The largest binary exponent of a finite long double's leading bit.
const MAX_EXP: i64 = 16383;

/// A little-endian arbitrary-precision unsigned integer (only what this module needs).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }

    fn from_u128(v: u128) -> Big {
        let mut b = Big((0..4).map(|i| (v >> (32 * i)) as u32).collect());
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn bits(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u64 - 1) * 32 + (32 - top.leading_zeros() as u64),
        }
    }

    fn bit(&self, i: u64) -> bool {
        let w = (i / 32) as usize;
        w < self.0.len() && (self.0[w] >> (i % 32)) & 1 == 1
    }

    /// Whether any bit below position `n` is set.
    fn any_below(&self, n: u64) -> bool {
        (0..n.min(self.0.len() as u64 * 32)).any(|i| self.bit(i))
    }

    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = a as u64;
        for w in &mut self.0 {
            let v = *w as u64 * m as u64 + carry;
            *w = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    /// Divides in place by a small divisor; returns the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for w in self.0.iter_mut().rev() {
            let cur = (rem << 32) | *w as u64;
            *w = (cur / d as u64) as u32;
            rem = cur % d as u64;
        }
        self.trim();
        rem as u32
    }

    fn shl(&self, n: u64) -> Big {
        let (words, bits) = ((n / 32) as usize, (n % 32) as u32);
        let mut out = vec![0u32; words];
        let mut carry = 0u32;
        for &w in &self.0 {
            if bits == 0 {
                out.push(w);
            } else {
                out.push((w << bits) | carry);
                carry = w >> (32 - bits);
            }
        }
        if carry > 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, n: u64) -> Big {
        let (words, bits) = ((n / 32) as usize, (n % 32) as u32);
        if words >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[words..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let lo = src[i] >> bits;
            let hi = if bits == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |&x| x << (32 - bits))
            };
            out.push(lo | hi);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, o: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&o.0.len())
            .then_with(|| self.0.iter().rev().cmp(o.0.iter().rev()))
    }

    fn add(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(o.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(o.0.len()) {
            let v = *self.0.get(i).unwrap_or(&0) as u64 + *o.0.get(i).unwrap_or(&0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        out.push(carry as u32);
        let mut b = Big(out);
        b.trim();
        b
    }

    /// `self - o`, for `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = self.0[i] as i64 - *o.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = 0;
            if v < 0 {
                v += 1 << 32;
                borrow = 1;
            }
            out.push(v as u32);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// Long division: (quotient, remainder).
    fn divrem(&self, d: &Big) -> (Big, Big) {
        let mut q = Big(vec![0; self.0.len()]);
        let mut r = Big(Vec::new());
        for i in (0..self.bits()).rev() {
            r = r.shl(1);
            if self.bit(i) {
                if r.0.is_empty() {
                    r.0.push(1);
                } else {
                    r.0[0] |= 1;
                }
            }
            if r.cmp(d) != Ordering::Less {
                r = r.sub(d);
                q.0[(i / 32) as usize] |= 1 << (i % 32);
            }
        }
        q.trim();
        (q, r)
    }

    fn pow10(e: u32) -> Big {
        let mut b = Big::from_u64(1);
        for _ in 0..e {
            b.mul_add_small(10, 0);
        }
        b
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut x = self.clone();
        let mut chunks = Vec::new();
        while !x.is_zero() {
            chunks.push(x.div_small(1_000_000_000));
        }
        let mut s = chunks.last().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev().skip(1) {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// Rounds a non-zero integer (plus a sticky bit standing for anything below it) to a 64-bit
/// mantissa, half to even: (mantissa, power of two to multiply by).
fn round64(x: &Big, sticky: bool) -> (u64, i64) {
    let n = x.bits();
    if n <= 64 {
        let v =
            x.0.iter()
                .rev()
                .fold(0u64, |acc, &w| (acc << 32) | w as u64);
        return (v << (64 - n), -(64 - n as i64));
    }
    let drop = n - 64;
    let top = x.shr(drop);
    let mut mant = top
        .0
        .iter()
        .rev()
        .fold(0u64, |acc, &w| (acc << 32) | w as u64);
    let half = x.bit(drop - 1);
    let rest = sticky || x.any_below(drop - 1);
    let mut exp = drop as i64;
    if half && (rest || mant & 1 == 1) {
        if mant == u64::MAX {
            mant = 1 << 63;
            exp += 1;
        } else {
            mant += 1;
        }
    }
    (mant, exp)
}

impl Ld {
    const ZERO: Ld = Ld {
        neg: false,
        mant: 0,
        exp: 0,
    };

    /// Parses as Redis's `string2ld`: the whole string (no NUL inside) must be a `strtold`
    /// number, no leading space, not NaN, not out of range; "inf" is accepted (the sum is
    /// then rejected by the caller). Returns None where Redis says "not a valid float".
    pub(crate) fn parse(s: &[u8]) -> Option<Result<Ld, f64>> {
        if s.is_empty() || s.len() >= 5 * 1024 {
            return None;
        }
        // string2ld also requires strtold to have consumed all `slen` bytes, so an embedded
        // NUL is refused rather than ending the number (fuzz_commands_differential).
        if s.contains(&0) {
            return None;
        }
        let text = std::str::from_utf8(s).ok()?;
        if text.starts_with(|c: char| c.is_ascii_whitespace() || c == '\x0b') {
            return None;
        }
        let (neg, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Some(Err(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }));
        }
        let (mantissa, exp10) = if let Some(hex) = lower.strip_prefix("0x") {
            return parse_hex(hex, neg).map(Ok);
        } else {
            let (m, e) = match lower.find('e') {
                Some(i) => (&lower[..i], Some(&lower[i + 1..])),
                None => (lower.as_str(), None),
            };
            let e: i64 = match e {
                None => 0,
                Some(e) => parse_exp(e)?,
            };
            (m.to_string(), e)
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa.as_str(), ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let e = exp10 - frac.len() as i64;
        if let Some(v) = parse_small(int, frac, e, neg) {
            return Some(Ok(v));
        }
        let mut n = Big(Vec::new());
        for b in int.bytes().chain(frac.bytes()) {
            n.mul_add_small(10, (b - b'0') as u32);
        }
        if n.is_zero() {
            return Some(Ok(Ld { neg, ..Ld::ZERO }));
        }
        let digits = n.to_decimal().len() as i64;
        if e + digits > 4933 {
            return None; // overflow: HUGE_VAL with ERANGE
        }
        if e + digits < -4950 {
            return None; // underflow to zero with ERANGE
        }
        let v = if e >= 0 {
            let x = Big(n.0.clone());
            let x = {
                let p = Big::pow10(e as u32);
                mul(&x, &p)
            };
            let (mant, exp) = round64(&x, false);
            Ld { neg, mant, exp }
        } else {
            let d = Big::pow10((-e) as u32);
            let shift = (66 + d.bits()).saturating_sub(n.bits()) + 1;
            let (q, r) = n.shl(shift).divrem(&d);
            let (mant, exp) = round64(&q, !r.is_zero());
            Ld {
                neg,
                mant,
                exp: exp - shift as i64,
            }
        };
        if v.exp + 63 > MAX_EXP {
            return None;
        }
        Some(Ok(v))
    }

    /// The correctly rounded sum; None if it overflows to infinity.
    pub(crate) fn add(self, o: Ld) -> Option<Ld> {
        if self.mant == 0 && o.mant == 0 {
            return Some(Ld {
                neg: self.neg && o.neg,
                ..Ld::ZERO
            });
        }
        if self.mant == 0 {
            return Some(o);
        }
        if o.mant == 0 {
            return Some(self);
        }
        let (hi, lo) = if self.exp >= o.exp {
            (self, o)
        } else {
            (o, self)
        };
        if hi.exp - lo.exp > 130 {
            return Some(hi);
        }
        let base = lo.exp;
        let a = Big::from_u64(hi.mant).shl((hi.exp - base) as u64);
        let b = Big::from_u64(lo.mant);
        let (sum, neg) = if hi.neg == lo.neg {
            (a.add(&b), hi.neg)
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return Some(Ld::ZERO),
                Ordering::Greater => (a.sub(&b), hi.neg),
                Ordering::Less => (b.sub(&a), lo.neg),
            }
        };
        let (mant, exp) = round64(&sum, false);
        let v = Ld {
            neg,
            mant,
            exp: exp + base,
        };
        (v.exp + 63 <= MAX_EXP).then_some(v)
    }

    /// `%.17Lf` with trailing zeros (and a bare dot) removed, "-0" printed as "0": Redis's
    /// LD_STR_HUMAN form.
    pub(crate) fn format_human(self) -> String {
        let digits = if self.mant == 0 {
            "0".to_string()
        } else {
            self.fixed17_small().unwrap_or_else(|| self.fixed17_big())
        };
        if self.neg && digits != "0" {
            format!("-{digits}")
        } else {
            digits
        }
    }

    /// `format_human`'s digits (no sign) of a non-zero value, in big integers: any value.
    fn fixed17_big(self) -> String {
        if self.exp >= 0 {
            return Big::from_u64(self.mant).shl(self.exp as u64).to_decimal();
        }
        let mut num = Big::from_u64(self.mant);
        for _ in 0..17 {
            num.mul_add_small(10, 0);
        }
        let sh = (-self.exp) as u64;
        let mut q = num.shr(sh);
        let half = num.bit(sh - 1);
        let rest = num.any_below(sh - 1);
        if half && (rest || q.bit(0)) {
            q.mul_add_small(1, 1);
        }
        with_17_decimals(&q.to_decimal())
    }

    /// `format_human`'s digits in u128 arithmetic, for values below 2^64 whose 17 decimals
    /// fit in it (every counter an application keeps); None for the rest.
    fn fixed17_small(self) -> Option<String> {
        if self.exp >= 0 {
            let int = (self.mant as u128).checked_shl(u32::try_from(self.exp).ok()?)?;
            return (int >> self.exp == self.mant as u128).then(|| int.to_string());
        }
        // mant * 10^17 < 2^64 * 2^57: fits.
        let num = self.mant as u128 * 10u128.pow(17);
        let sh = u32::try_from(-self.exp).ok().filter(|&sh| sh < 128)?;
        let mut q = num >> sh;
        let half = (num >> (sh - 1)) & 1 == 1;
        let rest = num & ((1u128 << (sh - 1)) - 1) != 0;
        if half && (rest || q & 1 == 1) {
            q += 1;
        }
        Some(with_17_decimals(&q.to_string()))
    }
}

/// `d`, a count of 1e-17 units, as `%.17Lf` prints it with trailing zeros (and a bare dot)
/// removed.
fn with_17_decimals(d: &str) -> String {
    let d = format!("{d:0>18}");
    let (i, f) = d.split_at(d.len() - 17);
    let f = f.trim_end_matches('0');
    if f.is_empty() {
        i.to_string()
    } else {
        format!("{i}.{f}")
    }
}

/// `Ld::parse` of a decimal with at most 38 significant digits and at most 18 decimals (what
/// INCRBYFLOAT stores has at most 17), or of an integer that u128 holds, without big
/// integers: the same quotient and sticky bit, rounded by the same `round64`. None for
/// everything else (and for zero), which the general path takes.
fn parse_small(int: &str, frac: &str, e: i64, neg: bool) -> Option<Ld> {
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() || digits.len() > 38 {
        return None;
    }
    // Below 10^38 < 2^127.
    let n: u128 = digits.parse().ok()?;
    let (q, sticky, shift) = if e >= 0 {
        let scale = 10u128.checked_pow(u32::try_from(e).ok()?)?;
        (n.checked_mul(scale)?, false, 0)
    } else if e >= -18 {
        let d = 10u128.pow((-e) as u32);
        let bits = |v: u128| 128 - v.leading_zeros() as u64;
        // As the general path: a quotient of at least 66 bits. The numerator has at most
        // max(67 + 60, 127 + 1) bits.
        let shift = (66 + bits(d)).saturating_sub(bits(n)) + 1;
        let num = n << shift;
        (num / d, !num.is_multiple_of(d), shift)
    } else {
        return None;
    };
    let (mant, exp) = round64(&Big::from_u128(q), sticky);
    Some(Ld {
        neg,
        mant,
        exp: exp - shift as i64,
    })
}

/// Product of two big integers (schoolbook).
fn mul(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u32; a.0.len() + b.0.len() + 1];
    for (i, &x) in a.0.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.0.iter().enumerate() {
            let v = out[i + j] as u64 + x as u64 * y as u64 + carry;
            out[i + j] = v as u32;
            carry = v >> 32;
        }
        let mut k = i + b.0.len();
        while carry > 0 {
            let v = out[k] as u64 + carry;
            out[k] = v as u32;
            carry = v >> 32;
            k += 1;
        }
    }
    let mut r = Big(out);
    r.trim();
    r
}

/// A decimal exponent (sign and digits); absurdly long ones saturate.
fn parse_exp(e: &str) -> Option<i64> {
    let (neg, d) = match e.as_bytes().first() {
        Some(b'-') => (true, &e[1..]),
        Some(b'+') => (false, &e[1..]),
        _ => (false, e),
    };
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = d
        .bytes()
        .fold(0i64, |acc, b| (acc * 10 + (b - b'0') as i64).min(1 << 40));
    Some(if neg { -v } else { v })
}

/// A hexadecimal float body (after "0x"): hex digits, optional fraction, optional `p`
/// binary exponent.
fn parse_hex(hex: &str, neg: bool) -> Option<Ld> {
    let (m, p) = match hex.find('p') {
        Some(i) => (&hex[..i], Some(&hex[i + 1..])),
        None => (hex, None),
    };
    let (int, frac) = match m.find('.') {
        Some(i) => (&m[..i], &m[i + 1..]),
        None => (m, ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    let mut n = Big(Vec::new());
    for b in int.bytes().chain(frac.bytes()) {
        n.mul_add_small(16, (b as char).to_digit(16).unwrap_or(0));
    }
    let e2 = match p {
        None => 0,
        Some(p) => parse_exp(p)?,
    } - 4 * frac.len() as i64;
    if n.is_zero() {
        return Some(Ld { neg, ..Ld::ZERO });
    }
    let (mant, exp) = round64(&n, false);
    let v = Ld {
        neg,
        mant,
        exp: exp + e2,
    };
    (v.exp + 63 <= MAX_EXP && v.exp + 63 >= -16382).then_some(v)
}

/// INCRBYFLOAT's arithmetic on texts: Ok(new text), or the error Redis gives.
pub(crate) fn incr_text(current: Option<&[u8]>, incr: &[u8]) -> Result<String, &'static str> {
    const NOT_FLOAT: &str = "ERR value is not a valid float";
    const NAN_INF: &str = "ERR increment would produce NaN or Infinity";
    let cur = match current {
        None => Ok(Ld::ZERO),
        Some(c) => Ld::parse(c).ok_or(NOT_FLOAT)?,
    };
    let inc = Ld::parse(incr).ok_or(NOT_FLOAT)?;
    match (cur, inc) {
        (Ok(a), Ok(b)) => a.add(b).map(Ld::format_human).ok_or(NAN_INF),
        _ => Err(NAN_INF),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum(a: &str, b: &str) -> String {
        incr_text(Some(a.as_bytes()), b.as_bytes()).expect("valid")
    }

    #[test]
    fn long_double_sums_cancel_exactly() {
        // In f64, 0.1 + 0.2 - 0.3 is 5.55e-17; in long double the sum prints as 0.
        assert_eq!(sum(&sum("0.1", "0.2"), "-0.3"), "0");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("3", "0"), "3");
        assert_eq!(sum("-1.25", "0"), "-1.25");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("1", "-1"), "0");
    }

    /// Decimal texts the fast paths take: up to 38 digits, up to 18 decimals, signs.
    fn short_decimal() -> impl Strategy<Value = String> {
        let below = 10u128.pow(38);
        (any::<bool>(), 0..below, 0u32..38, 0usize..19).prop_map(|(neg, n, cut, dec)| {
            let digits = format!("{:0>38}", n / 10u128.pow(cut));
            let (i, f) = digits.split_at(38 - dec);
            format!("{}{}.{}", if neg { "-" } else { "" }, i, f)
        })
    }

    proptest! {
        /// The u128 fast paths give what the big-integer paths give: padding the text with
        /// 20 zero decimals sends it down the general parse, and `fixed17_big` prints any value.
        #[test]
        fn fast_paths_match_big_integers(a in short_decimal(), b in short_decimal()) {
            for text in [&a, &b] {
                let fast = Ld::parse(text.as_bytes());
                let general = Ld::parse(format!("{text}{}", "0".repeat(20)).as_bytes());
                prop_assert_eq!(fast, general, "{}", text);
            }
            let (Some(Ok(x)), Some(Ok(y))) = (Ld::parse(a.as_bytes()), Ld::parse(b.as_bytes()))
            else {
                return Err(TestCaseError::fail("parse"));
            };
            for v in [x, y, x.add(y).unwrap_or(x)] {
                if v.mant != 0 {
                    if let Some(fast) = v.fixed17_small() {
                        prop_assert_eq!(fast, v.fixed17_big());
                    }
                }
            }
        }
    }

    #[test]
    fn counters_take_the_fast_paths() {
        for (int, frac, e) in [
            ("10", "5", -1),
            ("3", "", 0),
            ("0", "000000000000000001", -18),
        ] {
            let v = parse_small(int, frac, e, false).expect("fast parse");
            assert!(v.fixed17_small().is_some(), "{int}.{frac}");
        }
        assert_eq!(parse_small("1", "", -19, false), None);
        assert!(parse_small("1001", "50000000000001155", -17, false).is_some());
        assert_eq!(parse_small(&"9".repeat(39), "", 0, false), None);
    }

    #[test]
    fn integers_and_parsing_rules() {
        assert_eq!(sum("18446744073709551616", "0"), "18446744073709551616");
        assert_eq!(sum("0x10", "1"), "17");
        assert!(Ld::parse(b" 1").is_none());
        assert!(Ld::parse(b"1 ").is_none());
        assert!(Ld::parse(b"").is_none());
        assert!(Ld::parse(b"nan").is_none());
        assert!(Ld::parse(b"1e5000").is_none());
        assert!(Ld::parse(b"1e-5000").is_none());
        assert!(Ld::parse(b"abc").is_none());
        assert_eq!(
            incr_text(Some(b"inf"), b"1"),
            Err("ERR increment would produce NaN or Infinity")
        );
    }
}

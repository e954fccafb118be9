//! Formatting of doubles the way Redis 7.0 does it for replies (`%.17g`), so that ZSCORE and
//! friends return byte-identical strings to redis-server.

/// Formats `v` like C's `printf("%.17g", v)`, with `inf`/`-inf`/`nan` spelled as Redis does
/// (glibc's: a NaN with its sign bit set, such as Lua's 0/0, prints as "-nan").
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    short_exact(v).unwrap_or_else(|| general(v))
}

/// `%.17g` of any finite non-zero value, through Rust's exact-precision formatting.
fn general(v: f64) -> String {
    // 17 significant digits in scientific form: d.dddddddddddddddde[+-]X
    let sci = format!("{:.16e}", v);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    if !(-4..17).contains(&exp) {
        let m = strip_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", m, sign, exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        let fixed = format!("{:.*}", decimals, v);
        strip_fraction_zeros(&fixed).to_string()
    }
}

/// `%.17g` of a value whose exact decimal expansion has at most 17 significant digits and
/// whose binary fraction is at most 20 bits long: integers, halves, quarters, 2.375... Scores
/// and counters are mostly such values. `%.17g` prints them exactly, which integer arithmetic
/// does in ~100 instructions; the general path's two exact-precision `format!`s cost ~3,000
/// per double (ZRANGE ... WITHSCORES of 10 members took twice Redis's instructions). `None`
/// for every other value, which the general path prints.
fn short_exact(v: f64) -> Option<String> {
    const MAX_FRACTION_BITS: u32 = 20;
    let magnitude = v.abs();
    // At 1e17 and above `%.17g` switches to an exponent; very small values need one too.
    if !(1e-4..1e17).contains(&magnitude) {
        return None;
    }
    // magnitude * 2^bits is an integer: doubling is exact at these magnitudes.
    let mut scaled = magnitude;
    let mut bits = 0;
    while scaled.fract() != 0.0 {
        if bits == MAX_FRACTION_BITS {
            return None;
        }
        scaled *= 2.0;
        bits += 1;
    }
    // magnitude = scaled / 2^bits = scaled * 5^bits / 10^bits, exactly: scaled < 2^77 and
    // 5^20 < 2^47, so the product fits in 124 bits.
    let digits = (scaled as u128 * 5u128.pow(bits)).to_string();
    let fraction_len = bits as usize;
    let (int_part, fraction) = if digits.len() > fraction_len {
        digits.split_at(digits.len() - fraction_len)
    } else {
        ("", digits.as_str())
    };
    let fraction = fraction.trim_end_matches('0');
    let leading_zeros = fraction_len.saturating_sub(digits.len());
    let significant = if int_part.is_empty() {
        fraction.trim_start_matches('0').len()
    } else {
        int_part.len() + fraction.len()
    };
    if significant > 17 {
        return None;
    }
    let mut out = String::with_capacity(significant + leading_zeros + 4);
    if v < 0.0 {
        out.push('-');
    }
    if int_part.is_empty() {
        out.push('0');
    } else {
        out.push_str(int_part);
    }
    if !fraction.is_empty() {
        out.push('.');
        out.extend(std::iter::repeat_n('0', leading_zeros));
        out.push_str(fraction);
    }
    Some(out)
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::{format_double, general, short_exact};
    use proptest::prelude::*;

    #[test]
    // Some literals below have more digits than a double holds, on purpose.
    #[allow(clippy::excessive_precision)]
    fn short_exact_takes_the_values_it_should() {
        for (v, text) in [
            (1.0, "1"),
            (-7.0, "-7"),
            (2.375, "2.375"),
            (0.5, "0.5"),
            (0.0001220703125, "0.0001220703125"),
            (99999999999999999.0, "1e+17"),
            (12345678901234567.0, "12345678901234568"),
            (9007199254740993.0, "9007199254740992"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(format_double(v), text, "{v}");
            assert_eq!(format_double(v), general(v), "{v}");
        }
        // Not short: rounded to 17 digits, or a binary fraction longer than 20 bits.
        assert_eq!(short_exact(0.1), None);
        assert_eq!(short_exact(1.0 / 3.0), None);
        assert_eq!(short_exact(12345678901234.0625), None);
        assert_eq!(short_exact(1e17), None);
        assert_eq!(short_exact(0.00006103515625), None);
    }

    proptest! {
        #[test]
        fn same_as_the_general_path(bits in any::<u64>(), int in -1i64 << 54..1i64 << 54,
                                    shift in 0u32..24) {
            for v in [f64::from_bits(bits), int as f64, int as f64 / (1u64 << shift) as f64] {
                if v.is_finite() && v != 0.0 {
                    prop_assert_eq!(format_double(v), general(v), "{:e}", v);
                }
            }
        }
    }

    #[test]
    fn matches_printf_17g() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.25), "-2.25");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }
}

//! INCRBYFLOAT's arithmetic, bit-exact with redis-server on x86-64: Redis parses with `strtold`,
//! adds in `long double` (the x87 80-bit format: 64-bit significand, 15-bit exponent) and prints
//! with `"%.17Lf"` minus trailing zeros. `f64` gives other answers (`0.1 + 0.2`), so this module
//! emulates that format in software, with correct rounding (to nearest, ties to even) in all
//! three steps, using a small unsigned big integer for the exact intermediate values.

use std::cmp::Ordering;

use super::strings_float_big::Big;

/// Smallest exponent of the last significand bit (subnormals included): 2^-16445.
const EMIN: i64 = -16445;
/// Largest exponent of the last significand bit of a finite value: (2^64-1) * 2^16320 is max.
const EMAX: i64 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are not valid floats.
const MAX_CHARS: usize = 5 * 1024;

/// A finite 80-bit extended value: `(-1)^neg * mant * 2^exp`. Invariant: `mant` is 0 (zero) or
/// as the format stores it (top bit set, or a subnormal with `exp == EMIN`), `exp` within range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// A parsed `long double`: finite, or an infinity (which INCRBYFLOAT refuses after adding).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Parsed {
    Finite(LongDouble),
    Infinite,
}

/// Rounds `n * 2^e` (plus a nonzero remainder below its last bit if `sticky`) to the format.
fn round(neg: bool, n: &Big, e: i64, sticky: bool) -> Parsed {
    let bits = n.bit_len() as i64;
    if bits == 0 {
        return Parsed::Finite(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        });
    }
    let shift = (bits - 64).max(EMIN - e);
    let mut exp = e + shift;
    let mut mant;
    if shift <= 0 {
        mant = (n.shr_u128(0) as u64) << (-shift).min(63);
    } else {
        let s = shift as u64;
        mant = n.shr_u128(s) as u64;
        let guard = n.bit(s - 1);
        let rest = sticky || n.any_below(s - 1);
        if guard && (rest || mant & 1 == 1) {
            mant = mant.wrapping_add(1);
            if mant == 0 {
                mant = 1 << 63;
                exp += 1;
            }
        }
    }
    if exp > EMAX {
        return Parsed::Infinite;
    }
    if mant == 0 {
        exp = 0;
    }
    Parsed::Finite(LongDouble { neg, mant, exp })
}

impl LongDouble {
    /// Whether this is +0 or -0.
    pub fn is_zero(&self) -> bool {
        self.mant == 0
    }

    /// `self + other`, rounded as the x87 unit does.
    pub fn add(self, other: LongDouble) -> Parsed {
        if other.is_zero() {
            let neg = self.neg && (other.neg || !self.is_zero());
            return Parsed::Finite(LongDouble { neg, ..self });
        }
        if self.is_zero() {
            return Parsed::Finite(other);
        }
        let (big, small) = if self.exp >= other.exp {
            (self, other)
        } else {
            (other, self)
        };
        if big.exp - small.exp >= 66 {
            // `small` is below a quarter of `big`'s last unit: it cannot change the rounding.
            return Parsed::Finite(big);
        }
        let a = Big::from_u128(big.mant as u128).shl((big.exp - small.exp) as u64);
        let b = Big::from_u128(small.mant as u128);
        if big.neg == small.neg {
            return round(big.neg, &a.add(&b), small.exp, false);
        }
        match a.cmp(&b) {
            Ordering::Equal => Parsed::Finite(LongDouble {
                neg: false,
                mant: 0,
                exp: 0,
            }),
            Ordering::Greater => round(big.neg, &a.sub(&b), small.exp, false),
            Ordering::Less => round(small.neg, &b.sub(&a), small.exp, false),
        }
    }

    /// `printf("%.17Lf")` with trailing zeros (and a bare point) removed, and `-0` as `0`: what
    /// INCRBYFLOAT stores and replies.
    pub fn to_human(self) -> String {
        let digits = if self.exp >= 0 {
            let int = Big::from_u128(self.mant as u128).shl(self.exp as u64);
            format!("{}00000000000000000", int.to_decimal())
        } else {
            let shift = (-self.exp) as u64;
            let x = Big::from_u128(self.mant as u128).mul_pow10(17);
            let (guard, rest) = (x.bit(shift - 1), x.any_below(shift - 1));
            let mut q = x.shr_big(shift);
            if guard && (rest || q.bit(0)) {
                q = q.add(&Big::from_u128(1));
            }
            format!("{:0>18}", q.to_decimal())
        };
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut out = String::with_capacity(digits.len() + 2);
        if self.neg && (int != "0" || !frac.is_empty()) {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

/// Parses as Redis's `string2ld`: all of `text` must be a `strtold` number (decimal or hex,
/// `inf`/`infinity`), no leading space, shorter than 5 KiB; NaN and out-of-range values (an
/// overflow, or an underflow to zero) are refused.
pub fn parse(text: &[u8]) -> Option<Parsed> {
    if text.is_empty() || text.len() >= MAX_CHARS {
        return None;
    }
    let (neg, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite);
    }
    if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        return parse_hex(neg, &body[2..]);
    }
    parse_decimal(neg, body)
}

/// Splits `mantissa [exp-char [+-] digits]`, requiring at least one mantissa digit of `radix`.
/// Returns the mantissa's digits (point removed), the digits after the point, and the exponent
/// (saturated).
fn split_number(body: &[u8], radix: u32, exp_char: u8) -> Option<(Vec<u32>, i64, i64)> {
    let mut digits = Vec::new();
    let mut after_point = 0i64;
    let mut seen_point = false;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        if c == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (c as char).to_digit(radix) {
            digits.push(d);
            after_point += seen_point as i64;
        } else {
            break;
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let mut exponent = 0i64;
    if i < body.len() {
        if body[i] | 0x20 != exp_char {
            return None;
        }
        let rest = &body[i + 1..];
        let (sign, digits) = match rest.first() {
            Some(b'-') => (-1, &rest[1..]),
            Some(b'+') => (1, &rest[1..]),
            _ => (1, rest),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for d in digits {
            exponent = (exponent * 10 + (d - b'0') as i64).min(1 << 40);
        }
        exponent *= sign;
    }
    Some((digits, after_point, exponent))
}

fn parse_decimal(neg: bool, body: &[u8]) -> Option<Parsed> {
    let (digits, after_point, exponent) = split_number(body, 10, b'e')?;
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Some(Parsed::Finite(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        }));
    };
    let digits = &digits[first..];
    let k = exponent - after_point; // value = D * 10^k
    let magnitude = digits.len() as i64 + k; // value < 10^magnitude
    if magnitude > 4933 {
        return None; // above 1.19e4932, the largest finite value
    }
    if magnitude < -4951 {
        return None; // below half the smallest subnormal: underflows to zero
    }
    let d = digits
        .iter()
        .fold(Big(Vec::new()), |acc, &x| acc.mul_add_small(10, x));
    let result = if k >= 0 {
        round(neg, &d.mul_pow10(k as u64), 0, false)
    } else {
        let p = Big::from_u128(1).mul_pow10((-k) as u64);
        let s = (68 + p.bit_len() as i64 - d.bit_len() as i64).max(0) as u64;
        let (q, inexact) = d.shl(s).div_small_quotient(&p);
        round(neg, &Big::from_u128(q), -(s as i64), inexact)
    };
    finite_or_none(result)
}

fn parse_hex(neg: bool, body: &[u8]) -> Option<Parsed> {
    let (digits, after_point, exponent) = split_number(body, 16, b'p')?;
    let first = digits.iter().position(|&d| d != 0);
    let Some(first) = first else {
        return Some(Parsed::Finite(LongDouble {
            neg,
            mant: 0,
            exp: 0,
        }));
    };
    let digits = &digits[first..];
    let e = exponent - 4 * after_point;
    let top = e + 4 * digits.len() as i64;
    if top > EMAX + 65 {
        return None;
    }
    if top < EMIN - 2 {
        return None;
    }
    let n = digits
        .iter()
        .fold(Big(Vec::new()), |acc, &x| acc.mul_add_small(16, x));
    finite_or_none(round(neg, &n, e, false))
}

/// strtold's range errors, as Redis treats them: infinity from overflow and zero from
/// underflow are both refused.
fn finite_or_none(result: Parsed) -> Option<Parsed> {
    match result {
        Parsed::Finite(v) if v.is_zero() => None,
        Parsed::Finite(v) => Some(Parsed::Finite(v)),
        Parsed::Infinite => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: &str, b: &str) -> String {
        match (parse(a.as_bytes()), parse(b.as_bytes())) {
            (Some(Parsed::Finite(a)), Some(Parsed::Finite(b))) => match a.add(b) {
                Parsed::Finite(v) => v.to_human(),
                Parsed::Infinite => "inf".into(),
            },
            other => panic!("not finite: {other:?}"),
        }
    }

    #[test]
    fn adds_like_long_double() {
        assert_eq!(add("10.5", "0.1"), "10.6");
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("3.0e3", "0"), "3000");
        assert_eq!(add("1e20", "1"), "100000000000000000000");
        assert_eq!(add("0x10", "1e-20"), "16");
        assert_eq!(add("1", "-1.1"), "-0.1");
        assert_eq!(add("17179869184", "1.5"), "17179869185.5");
        assert_eq!(add("-0.0", "0"), "0");
        assert_eq!(add("5", "-5"), "0");
        assert_eq!(add("1e4932", "1e4932"), "inf");
        assert_eq!(parse(b"1.5e4932"), None);
    }

    #[test]
    fn refuses_what_strtold_refuses() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", "nan", "1e5000", "1e-5000", ".", "0x",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(b"inf"), Some(Parsed::Infinite));
        assert!(matches!(parse(b"0e99999"), Some(Parsed::Finite(v)) if v.is_zero()));
        assert!(matches!(parse(b".5"), Some(Parsed::Finite(_))));
        assert!(matches!(parse(b"5."), Some(Parsed::Finite(_))));
    }

    #[test]
    fn prints_large_values_in_full() {
        let Some(Parsed::Finite(v)) = parse(b"1e4000") else {
            panic!()
        };
        let text = v.to_human();
        assert!(text.starts_with("99999999999999999999654638730996237849324925835069576"));
        assert_eq!(text.len(), 4000);
    }
}

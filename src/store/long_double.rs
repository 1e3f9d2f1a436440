//! A software model of the x87 80-bit `long double` that Redis's INCRBYFLOAT and HINCRBYFLOAT
//! compute with on x86-64: parsing as glibc's `strtold` (correctly rounded), one correctly
//! rounded addition, and printing as Redis's `ld2string(.., LD_STR_HUMAN)` (`%.17Lf` with
//! trailing zeros removed). An `f64` cannot reproduce these replies (`5000 + 0.0015` prints as
//! `5000.00150000000000006` in Redis), so the arithmetic is done exactly on big integers.

use std::cmp::Ordering;

use super::bigint::Big;

/// Exponent of the least significant bit of the smallest subnormal (2^-16445).
const MIN_EXP: i64 = -16445;
/// Largest exponent a 64-bit significand can have while staying below 2^16384.
const MAX_EXP: i64 = 16320;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are refused.
const MAX_CHARS: usize = 5 * 1024;

/// A finite long double: `(-1)^neg * mant * 2^exp`. Invariant: `mant` has its top bit set
/// (normal) or `exp == MIN_EXP` (subnormal or zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// What `strtold` made of a text Redis accepts: a finite value or an infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Parsed {
    Finite(LongDouble),
    Infinite,
}

/// Rounds `num / den * 2^exp2` to the nearest long double (ties to even); None on overflow.
fn round(neg: bool, mut num: Big, mut den: Big, mut exp2: i64) -> Option<LongDouble> {
    if num.is_zero() {
        return Some(LongDouble {
            neg,
            mant: 0,
            exp: MIN_EXP,
        });
    }
    // Scale so the quotient has 66 or 67 bits.
    let shift = 66 - (num.bits() - den.bits());
    if shift >= 0 {
        num = num.shl(shift);
    } else {
        den = den.shl(-shift);
    }
    exp2 -= shift;
    let mut q: u128 = 0;
    for i in (0..68).rev() {
        let d = den.shl(i);
        if num.cmp(&d) != Ordering::Less {
            num.sub(&d);
            q |= 1 << i;
        }
    }
    let sticky = !num.is_zero();
    let qbits = 128 - q.leading_zeros() as i64;
    let mut drop = qbits - 64;
    let mut exp = exp2 + drop;
    if exp < MIN_EXP {
        drop += MIN_EXP - exp;
        exp = MIN_EXP;
    }
    let mut mant = if drop >= 128 { 0 } else { q >> drop };
    if drop > 0 && drop <= 128 {
        let rest = if drop == 128 {
            q
        } else {
            q & ((1u128 << drop) - 1)
        };
        let half = 1u128 << (drop - 1);
        if rest > half || (rest == half && (sticky || mant & 1 == 1)) {
            mant += 1;
        }
    }
    if mant == 1 << 64 {
        mant >>= 1;
        exp += 1;
    }
    if exp > MAX_EXP {
        return None;
    }
    Some(LongDouble {
        neg,
        mant: mant as u64,
        exp,
    })
}

/// Parses as Redis's `string2ld`: the whole text must be a `strtold` number, no leading space,
/// not NaN, and neither overflowing nor underflowing to zero. None when Redis refuses it.
pub fn parse(text: &[u8]) -> Option<Parsed> {
    if text.is_empty() || text.len() >= MAX_CHARS {
        return None;
    }
    let (neg, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    if lower == b"inf" || lower == b"infinity" {
        return Some(Parsed::Infinite);
    }
    let (hex, body) = match lower.strip_prefix(b"0x") {
        Some(rest)
            if rest
                .first()
                .is_some_and(|c| c.is_ascii_hexdigit() || *c == b'.') =>
        {
            (true, rest)
        }
        _ => (false, &lower[..]),
    };
    let radix = if hex { 16 } else { 10 };
    let mut digits = Big::from_u128(0);
    let (mut count, mut frac, mut seen_dot, mut i) = (0i64, 0i64, false, 0);
    while i < body.len() {
        let c = body[i];
        if c == b'.' && !seen_dot {
            seen_dot = true;
        } else if let Some(d) = (c as char).to_digit(radix) {
            if !(digits.is_zero() && d == 0) {
                digits.mul_add_small(radix, d);
            }
            count += 1;
            frac += seen_dot as i64;
        } else {
            break;
        }
        i += 1;
    }
    if count == 0 {
        return None;
    }
    let mut exp = 0i64;
    if i < body.len() {
        if body[i] != if hex { b'p' } else { b'e' } {
            return None;
        }
        let rest = &body[i + 1..];
        let (eneg, rest) = match rest.first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for d in rest {
            exp = (exp * 10 + (d - b'0') as i64).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    }
    if digits.is_zero() {
        return Some(Parsed::Finite(LongDouble {
            neg,
            mant: 0,
            exp: MIN_EXP,
        }));
    }
    let value = if hex {
        let exp2 = exp - 4 * frac;
        // Far outside the range: overflow or underflow to zero, both refused.
        if exp2 + digits.bits() > 20000 || exp2 + digits.bits() < -20000 {
            return None;
        }
        round(neg, digits, Big::from_u128(1), exp2)?
    } else {
        let exp10 = exp - frac;
        let magnitude = digits.to_decimal().len() as i64 + exp10;
        if !(-5000..=5000).contains(&magnitude) {
            return None;
        }
        if exp10 >= 0 {
            let mut num = digits;
            for _ in 0..exp10 {
                num.mul_add_small(10, 0);
            }
            round(neg, num, Big::from_u128(1), 0)?
        } else {
            round(neg, digits, Big::pow10((-exp10) as u32), 0)?
        }
    };
    (value.mant != 0).then_some(Parsed::Finite(value))
}

impl LongDouble {
    /// The exact value of `n`.
    pub fn from_i64(n: i64) -> LongDouble {
        round(
            n < 0,
            Big::from_u128(n.unsigned_abs() as u128),
            Big::from_u128(1),
            0,
        )
        .unwrap_or(LongDouble {
            neg: false,
            mant: 0,
            exp: MIN_EXP,
        })
    }

    /// `self + other`, correctly rounded; None when the sum overflows to infinity.
    pub fn add(self, other: LongDouble) -> Option<LongDouble> {
        let low = self.exp.min(other.exp);
        let a = Big::from_u128(self.mant as u128).shl(self.exp - low);
        let b = Big::from_u128(other.mant as u128).shl(other.exp - low);
        let (neg, mag) = if self.neg == other.neg {
            let mut sum = a;
            sum.add(&b);
            (self.neg, sum)
        } else {
            match a.cmp(&b) {
                Ordering::Less => {
                    let mut diff = b;
                    diff.sub(&a);
                    (other.neg, diff)
                }
                _ => {
                    let mut diff = a;
                    diff.sub(&b);
                    (self.neg && !diff.is_zero(), diff)
                }
            }
        };
        round(neg, mag, Big::from_u128(1), low)
    }

    /// Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros (and a bare `.`) removed,
    /// `-0` written `0`.
    pub fn to_human(self) -> String {
        let (int_part, frac) = if self.exp >= 0 {
            (
                Big::from_u128(self.mant as u128).shl(self.exp).to_decimal(),
                0,
            )
        } else {
            const SCALE: u128 = 100_000_000_000_000_000;
            let shift = -self.exp;
            let scaled = self.mant as u128 * SCALE;
            let mut q = if shift >= 122 { 0 } else { scaled >> shift };
            if shift < 122 {
                let rest = scaled & ((1u128 << shift) - 1);
                let half = 1u128 << (shift - 1);
                if rest > half || (rest == half && q & 1 == 1) {
                    q += 1;
                }
            }
            ((q / SCALE).to_string(), q % SCALE)
        };
        let mut out = String::new();
        if self.neg {
            out.push('-');
        }
        out.push_str(&int_part);
        if frac != 0 {
            let digits = format!("{frac:017}");
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(text: &str) -> LongDouble {
        match parse(text.as_bytes()) {
            Some(Parsed::Finite(v)) => v,
            other => panic!("{text}: {other:?}"),
        }
    }

    fn sum(a: &str, b: &str) -> String {
        ld(a).add(ld(b)).unwrap().to_human()
    }

    #[test]
    fn adds_and_prints_like_redis() {
        assert_eq!(sum("0", "0.1"), "0.1");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("0.0015", "5.0e3"), "5000.00150000000000006");
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("1e19", "1.5"), "10000000000000000002");
        assert_eq!(sum("0", "-1e-20"), "0");
        assert_eq!(sum("3", "-3.0000000000000000001"), "0");
        assert_eq!(sum("0", "0x10"), "16");
        assert_eq!(sum("-5", "2"), "-3");
        assert!(ld("1e4932").add(ld("1e4932")).is_none());
    }

    #[test]
    fn parses_like_string2ld() {
        assert_eq!(parse(b"inf"), Some(Parsed::Infinite));
        assert_eq!(parse(b"-Infinity"), Some(Parsed::Infinite));
        for bad in [
            "nan", "", " 1", "1 ", "1e", "abc", "1e5000", "1e-5000", "0x", "--1", "1.2.3",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(ld("-0").to_human(), "0");
        assert_eq!(ld(".5").to_human(), "0.5");
        assert_eq!(ld("5.").to_human(), "5");
        assert_eq!(ld("1e-4940").to_human(), "0");
        let big = ld("1e4000").to_human();
        assert!(
            big.starts_with("99999999999999999999654638730996237849"),
            "{big}"
        );
        assert_eq!(big.len(), 4000);
    }
}

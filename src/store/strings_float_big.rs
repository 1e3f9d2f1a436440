//! The unsigned big integer behind `strings_float`'s exact conversions and sums: only the few
//! operations those need, on little-endian 32-bit limbs.

use std::cmp::Ordering;

/// Unsigned big integer, little-endian 32-bit limbs; no leading zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Big(pub(super) Vec<u32>);

impl Big {
    /// The value `n`.
    pub(super) fn from_u128(mut n: u128) -> Big {
        let mut limbs = Vec::new();
        while n > 0 {
            limbs.push(n as u32);
            n >>= 32;
        }
        Big(limbs)
    }

    /// Whether the value is 0 (no limbs, by the no-leading-zero invariant).
    pub(super) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// Restores the invariant: drops leading zero limbs.
    pub(super) fn trim(mut self) -> Big {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    /// Number of significant bits (0 for zero).
    pub(super) fn bit_len(&self) -> u64 {
        self.0.last().map_or(0, |top| {
            self.0.len() as u64 * 32 - top.leading_zeros() as u64
        })
    }

    /// Bit `i` (0 is the least significant).
    pub(super) fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|limb| limb >> (i % 32) & 1 == 1)
    }

    /// Whether any bit below `i` is set.
    pub(super) fn any_below(&self, i: u64) -> bool {
        let (whole, part) = ((i / 32) as usize, i % 32);
        self.0.iter().take(whole).any(|&l| l != 0)
            || (part > 0
                && self
                    .0
                    .get(whole)
                    .is_some_and(|&l| l & ((1 << part) - 1) != 0))
    }

    /// `self * m + a`.
    pub(super) fn mul_add_small(mut self, m: u32, a: u32) -> Big {
        let mut carry = a as u64;
        for limb in &mut self.0 {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim()
    }

    /// `self * 10^n`.
    pub(super) fn mul_pow10(mut self, mut n: u64) -> Big {
        while n >= 9 {
            self = self.mul_add_small(1_000_000_000, 0);
            n -= 9;
        }
        self.mul_add_small(10u32.pow(n as u32), 0)
    }

    /// `self << bits`.
    pub(super) fn shl(&self, bits: u64) -> Big {
        if self.is_zero() {
            return Big(Vec::new());
        }
        let (whole, part) = ((bits / 32) as usize, bits % 32);
        let mut limbs = vec![0u32; whole];
        let mut carry = 0u32;
        for &limb in &self.0 {
            limbs.push(if part == 0 {
                limb
            } else {
                limb << part | carry
            });
            carry = if part == 0 { 0 } else { limb >> (32 - part) };
        }
        limbs.push(carry);
        Big(limbs).trim()
    }

    /// The bits from `bits` up, as an integer (callers ensure it fits in 128 bits).
    pub(super) fn shr_u128(&self, bits: u64) -> u128 {
        (0..128u64)
            .filter(|i| self.bit(bits + i))
            .fold(0u128, |acc, i| acc | 1 << i)
    }

    /// Numeric order.
    pub(super) fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self + other`.
    pub(super) fn add(&self, other: &Big) -> Big {
        let mut limbs = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v = *self.0.get(i).unwrap_or(&0) as u64 + *other.0.get(i).unwrap_or(&0) as u64;
            let v = v + carry;
            limbs.push(v as u32);
            carry = v >> 32;
        }
        limbs.push(carry as u32);
        Big(limbs).trim()
    }

    /// `self - other`; requires `self >= other`.
    pub(super) fn sub(&self, other: &Big) -> Big {
        let mut limbs = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for (i, &limb) in self.0.iter().enumerate() {
            let mut v = limb as i64 - *other.0.get(i).unwrap_or(&0) as i64 - borrow;
            borrow = (v < 0) as i64;
            if v < 0 {
                v += 1 << 32;
            }
            limbs.push(v as u32);
        }
        Big(limbs).trim()
    }

    /// `(self / den, self % den != 0)` for a quotient known to be below 2^127.
    pub(super) fn div_small_quotient(&self, den: &Big) -> (u128, bool) {
        let mut rem = self.clone();
        let mut q = 0u128;
        let top = self.bit_len().saturating_sub(den.bit_len()).min(126);
        for i in (0..=top).rev() {
            let shifted = den.shl(i);
            if rem.cmp(&shifted) != Ordering::Less {
                rem = rem.sub(&shifted);
                q |= 1 << i;
            }
        }
        (q, !rem.is_zero())
    }

    /// Decimal digits (no leading zeros; "0" for zero).
    pub(super) fn to_decimal(&self) -> String {
        let mut limbs = self.0.clone();
        let mut chunks = Vec::new();
        while !limbs.is_empty() {
            let mut rem = 0u64;
            for limb in limbs.iter_mut().rev() {
                let v = rem << 32 | *limb as u64;
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            while limbs.last() == Some(&0) {
                limbs.pop();
            }
            chunks.push(rem as u32);
        }
        let mut out = chunks.pop().map_or("0".to_string(), |c| c.to_string());
        for chunk in chunks.iter().rev() {
            out.push_str(&format!("{chunk:09}"));
        }
        out
    }
}

impl Big {
    /// `self >> bits`.
    pub(super) fn shr_big(self, bits: u64) -> Big {
        let (whole, part) = ((bits / 32) as usize, bits % 32);
        if whole >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[whole..];
        let limbs = (0..src.len())
            .map(|i| {
                let hi = src.get(i + 1).copied().unwrap_or(0) as u64;
                ((hi << 32 | src[i] as u64) >> part) as u32
            })
            .collect();
        Big(limbs).trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_round_trips_through_decimal() {
        let a = Big::from_u128(1).mul_pow10(40);
        assert_eq!(a.to_decimal(), format!("1{}", "0".repeat(40)));
        let b = a.add(&Big::from_u128(7)).sub(&Big::from_u128(2));
        assert_eq!(b.to_decimal(), format!("1{}5", "0".repeat(39)));
        assert_eq!(b.shl(3).shr_big(3), b);
        let (q, inexact) = Big::from_u128(1000).div_small_quotient(&Big::from_u128(7));
        assert_eq!((q, inexact), (142, true));
        assert_eq!(Big::from_u128(0b1011).bit_len(), 4);
        assert!(Big::from_u128(0b1000).any_below(4) && !Big::from_u128(0b1000).any_below(3));
        assert_eq!(Big(Vec::new()).to_decimal(), "0");
    }
}

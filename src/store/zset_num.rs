//! Number arguments of the sorted-set commands, read as Redis reads them with C's `strtod`:
//! scores and weights (`string2d`: no leading space, no trailing bytes, no NaN, no overflow or
//! underflow to zero), range bounds (see `zset_range`) and blocking timeouts (`string2ld`).

use std::time::Duration;

use super::args;
use crate::protocol::Reply;

/// Reads all of `text` as C's strtod (after leading C whitespace when `skip_space`): an optional
/// sign, then a decimal or `0x` hexadecimal float, `inf`, `infinity` or `nan`. Returns the value
/// and whether strtod would set ERANGE (overflow to infinity, or underflow to zero). None when
/// nothing or not everything is a number.
pub fn strtod_erange(text: &[u8], skip_space: bool) -> Option<(f64, bool)> {
    let text = if skip_space {
        let spaces = text
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
            .count();
        &text[spaces..]
    } else {
        text
    };
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let (value, mantissa) = match body {
        [b'0', b'x' | b'X', hex @ ..] => (hex_float(hex)?, hex),
        [b'+' | b'-', ..] | [] => return None,
        _ => {
            let value: f64 = std::str::from_utf8(body).ok()?.parse().ok()?;
            let end = body
                .iter()
                .position(|b| matches!(b, b'e' | b'E'))
                .unwrap_or(body.len());
            (value, &body[..end])
        }
    };
    let literal_inf = matches!(body.first(), Some(b'i' | b'I'));
    let overflow = value.is_infinite() && !literal_inf;
    let underflow = value == 0.0
        && mantissa
            .iter()
            .take_while(|b| !matches!(b, b'p' | b'P'))
            .any(|b| b.is_ascii_hexdigit() && *b != b'0');
    Some((if negative { -value } else { value }, overflow || underflow))
}

/// [`strtod_erange`] without the ERANGE flag (range bounds accept overflow to infinity).
pub fn strtod(text: &[u8], skip_space: bool) -> Option<f64> {
    strtod_erange(text, skip_space).map(|(v, _)| v)
}

/// The digits after `0x`: `h*[.h*][p[+-]d+]`, at least one hex digit.
fn hex_float(text: &[u8]) -> Option<f64> {
    let (mut mantissa, mut exp, mut digits, mut i, mut seen_point) = (0f64, 0i64, 0, 0, false);
    while let Some(&b) = text.get(i) {
        if b == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (b as char).to_digit(16) {
            mantissa = mantissa * 16.0 + d as f64;
            digits += 1;
            if seen_point {
                exp -= 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(b'p' | b'P') = text.get(i) {
        let power = &text[i + 1..];
        let (sign, digits) = match power.split_first() {
            Some((b'-', rest)) => (-1, rest),
            Some((b'+', rest)) => (1, rest),
            _ => (1, power),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let p = digits
            .iter()
            .fold(0i64, |n, d| (n * 10 + (d - b'0') as i64).min(1 << 20));
        exp += sign * p;
    } else if i != text.len() {
        return None;
    }
    let exp = exp.clamp(-4000, 4000) as i32;
    // Two steps so a huge mantissa with a tiny exponent does not overflow on the way.
    Some(mantissa * 2f64.powi(exp / 2) * 2f64.powi(exp - exp / 2))
}

/// A double argument as Redis's `getDoubleFromObject` accepts it.
pub fn double_arg(arg: &[u8]) -> Option<f64> {
    match strtod_erange(arg, false)? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// A ZADD / ZINCRBY score: `ERR value is not a valid float` otherwise.
pub fn score_arg(arg: &[u8]) -> Result<f64, Reply> {
    double_arg(arg).ok_or_else(|| args::err(args::NOT_FLOAT))
}

/// A WEIGHTS value: `ERR weight value is not a float` otherwise.
pub fn weight_arg(arg: &[u8]) -> Result<f64, Reply> {
    double_arg(arg).ok_or_else(|| args::err("ERR weight value is not a float"))
}

/// A blocking timeout in seconds (`getTimeoutFromObjectOrReply`): None waits forever (0, or a
/// value under a millisecond, as in Redis).
pub fn timeout_arg(arg: &[u8], now_ms: u64) -> Result<Option<Duration>, Reply> {
    let value = match strtod_erange(arg, false) {
        Some((v, _)) if !v.is_nan() && arg.len() < 5 * 1024 => v,
        _ => return Err(args::err("ERR timeout is not a float or out of range")),
    };
    let ms = value * 1000.0;
    // Redis casts to long long; out of range that is LLONG_MIN on x86, so "negative".
    if !((i64::MIN as f64)..(i64::MAX as f64)).contains(&ms) || ms <= -1.0 {
        return Err(args::err("ERR timeout is negative"));
    }
    let ms = ms as i64;
    if ms > 0 && ms > i64::MAX - now_ms as i64 {
        return Err(args::err("ERR timeout is out of range"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_doubles_like_strtod() {
        assert_eq!(double_arg(b"1.5"), Some(1.5));
        assert_eq!(double_arg(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(double_arg(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(double_arg(b"0x10"), Some(16.0));
        assert_eq!(double_arg(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(double_arg(b"0x"), None);
        assert_eq!(double_arg(b"1e500"), None, "overflow is ERANGE");
        assert_eq!(double_arg(b"1e-400"), None, "underflow to zero is ERANGE");
        assert_eq!(double_arg(b"0e-400"), Some(0.0));
        assert!(double_arg(b"1e-310").is_some(), "denormals are fine");
        assert_eq!(double_arg(b"nan"), None);
        assert_eq!(double_arg(b" 1"), None);
        assert_eq!(double_arg(b"1 "), None);
        assert_eq!(double_arg(b""), None);
        assert_eq!(double_arg(b"--1"), None);
        assert_eq!(strtod(b" \t2", true), Some(2.0));
        assert_eq!(strtod(b"1e500", true), Some(f64::INFINITY));
    }

    #[test]
    fn reads_timeouts_like_redis() {
        assert_eq!(timeout_arg(b"0", 0), Ok(None));
        assert_eq!(timeout_arg(b"0.0001", 0), Ok(None));
        assert_eq!(
            timeout_arg(b"1.5", 0),
            Ok(Some(Duration::from_millis(1500)))
        );
        assert!(timeout_arg(b"-1", 0).is_err());
        assert!(timeout_arg(b"inf", 0).is_err());
        assert!(timeout_arg(b"abc", 0).is_err());
        assert_eq!(
            timeout_arg(b"9000000000000000", 300_000_000_000_000_000),
            Err(args::err("ERR timeout is out of range"))
        );
        assert_eq!(
            timeout_arg(b"9223372036854776", 0),
            Err(args::err("ERR timeout is negative"))
        );
    }
}

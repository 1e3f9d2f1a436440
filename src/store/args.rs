//! Argument parsing and the error replies Redis uses for bad arguments, shared by every type.

use bytes::Bytes;

use crate::protocol::Reply;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";

pub fn err(msg: &str) -> Reply {
    Reply::Error(Bytes::copy_from_slice(msg.as_bytes()))
}

pub fn wrongtype() -> Reply {
    err(WRONGTYPE)
}

pub fn syntax() -> Reply {
    err(SYNTAX)
}

/// `ERR wrong number of arguments for 'name' command`.
pub fn wrong_arity(name: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        String::from_utf8_lossy(name).to_ascii_lowercase()
    ))
}

/// Parses a strict decimal i64 (Redis's string2ll): `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, Reply> {
    crate::protocol::request::parse_int(arg).ok_or_else(|| err(NOT_INTEGER))
}

/// Parses an integer that must be >= 0, with Redis's out-of-range text.
pub fn non_negative(arg: &[u8], what: &str) -> Result<i64, Reply> {
    match int(arg)? {
        n if n >= 0 => Ok(n),
        _ => Err(Reply::error(format!(
            "ERR {what} is out of range, must be positive"
        ))),
    }
}

/// Parses a float as Redis's strtold-based parsing: accepts `inf`, `-inf`, `+inf`; refuses NaN
/// and trailing garbage: `ERR value is not a valid float`.
pub fn float(arg: &[u8]) -> Result<f64, Reply> {
    parse_float(arg).ok_or_else(|| err(NOT_FLOAT))
}

/// The float in `arg`, or None; see [`float`].
pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty()
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace)
    {
        return None;
    }
    let value = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        other => other.parse::<f64>().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

/// Copies an argument so the store does not pin the whole read buffer it was sliced from.
pub fn owned(arg: &Bytes) -> Bytes {
    Bytes::copy_from_slice(arg)
}

/// Whether `arg` equals `word`, ignoring ASCII case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_floats_like_redis() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"1x"), None);
    }
}

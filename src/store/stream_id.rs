//! Stream ids (`<ms>-<seq>`): ordering, parsing exactly as Redis's `streamGenericParseIDOrReply`,
//! and the interval forms (`-`, `+`, `(id` exclusive, `ms` without a sequence).

use bytes::Bytes;

use crate::protocol::Reply;

/// A stream entry id. Invariant: ordered by `ms`, then `seq` (the derived order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

/// The error for any id that does not parse.
pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

impl StreamId {
    /// 0-0: below every entry id.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id; a stream whose last id is this can take no more entries.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The next id, or None past the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq + 1,
            })
        } else if self.ms < u64::MAX {
            Some(StreamId {
                ms: self.ms + 1,
                seq: 0,
            })
        } else {
            None
        }
    }

    /// The previous id, or None below 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq - 1,
            })
        } else if self.ms > 0 {
            Some(StreamId {
                ms: self.ms - 1,
                seq: u64::MAX,
            })
        } else {
            None
        }
    }

    /// `ms-seq` as text.
    pub fn to_bytes(self) -> Bytes {
        Bytes::from(format!("{}-{}", self.ms, self.seq))
    }

    /// The id as a bulk string reply.
    pub fn reply(self) -> Reply {
        Reply::Bulk(self.to_bytes())
    }

    /// The 128-bit big-endian form Redis uses as radix tree key.
    pub fn encode(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

/// Redis's `string2ull`: a strict i64 first, then `strtoull` (leading blanks, a sign, base 10,
/// wrapping negation) for what that refuses.
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::protocol::request::parse_int(s) {
        return u64::try_from(v).ok();
    }
    let mut rest = s;
    while let Some((c, tail)) = rest.split_first() {
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let neg = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for d in rest {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Parses an id. `missing_seq` fills in a missing `-seq`; `strict` refuses `-` and `+`; with
/// `seq_star`, `ms-*` is accepted and the second value says whether the sequence was given.
pub fn parse(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), Reply> {
    let invalid = || Reply::error(INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    // Redis copies the argument into a C string: a NUL ends it.
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match arg {
        b"-" | b"+" if strict => return Err(invalid()),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid)?;
    let (seq, given) = match seq_part {
        Some(b"*") if seq_star => (0, false),
        Some(part) => (string2ull(part).ok_or_else(invalid)?, true),
        None => (missing_seq, true),
    };
    Ok((StreamId { ms, seq }, given))
}

/// A strict id (no `-`/`+`), missing sequence 0.
pub fn parse_strict(arg: &[u8]) -> Result<StreamId, Reply> {
    parse(arg, 0, true, false).map(|(id, _)| id)
}

/// One end of an interval: `(id` is exclusive (then strict), else `-`, `+` and ids; the bound is
/// returned inclusive. `start` selects the error text and the missing sequence (0 or max).
pub fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, Reply> {
    let missing = if start { 0 } else { u64::MAX };
    if arg.len() > 1 && arg[0] == b'(' {
        let (id, _) = parse(&arg[1..], missing, true, false)?;
        let moved = if start { id.incr() } else { id.decr() };
        return moved.ok_or_else(|| {
            Reply::error(if start {
                "ERR invalid start ID for the interval"
            } else {
                "ERR invalid end ID for the interval"
            })
        });
    }
    parse(arg, missing, false, false).map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn parses_like_redis() {
        assert_eq!(parse(b"5", 7, false, false).unwrap(), (id(5, 7), true));
        assert_eq!(parse(b"5-*", 0, true, true).unwrap(), (id(5, 0), false));
        assert!(parse(b"5-*", 0, true, false).is_err());
        assert!(parse(b"-", 0, true, false).is_err());
        assert_eq!(parse(b"+", 0, false, false).unwrap().0, StreamId::MAX);
        assert_eq!(parse(b"+5-1", 0, true, false).unwrap().0, id(5, 1));
        assert_eq!(parse(b"00-01", 0, true, false).unwrap().0, id(0, 1));
        assert!(parse(b"-1", 0, true, false).is_err());
        assert!(parse(b"1-", 0, true, false).is_err());
        assert!(parse(b"18446744073709551616", 0, true, false).is_err());
        assert_eq!(
            parse(b"18446744073709551615-0", 0, true, false).unwrap().0,
            id(u64::MAX, 0)
        );
        assert!(parse(b"abc", 0, true, false).is_err());
    }

    #[test]
    fn exclusive_bounds_move_by_one() {
        assert_eq!(parse_bound(b"(5-1", true).unwrap(), id(5, 2));
        assert_eq!(parse_bound(b"(5", false).unwrap(), id(5, u64::MAX - 1));
        assert!(parse_bound(b"(0-0", false).is_err());
        assert!(parse_bound(b"(-", true).is_err());
        assert_eq!(id(1, u64::MAX).incr(), Some(id(2, 0)));
    }
}

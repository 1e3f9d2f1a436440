//! Framing of replies read from an upstream: where one complete RESP2/RESP3 frame ends.
//!
//! Replies pass through the sidecar byte for byte, so usually only their length is needed. The
//! scan is iterative (a hostile upstream cannot overflow the stack with nesting) and checks
//! every length header against limits before the frame is accepted. Frames that a layer must
//! inspect are decoded with the redis-protocol crate, after this scan has bounded them.

use crate::protocol::request::parse_int;

/// Why bytes from an upstream are not a valid reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("invalid reply type byte {0:#04x}")]
    BadType(u8),
    #[error("invalid length header")]
    BadLength,
    #[error("reply nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("header line longer than {0} bytes")]
    LineTooLong(usize),
}

const MAX_LINE: usize = 64 * 1024;
const MAX_BULK: i64 = 512 * 1024 * 1024;
const MAX_AGGREGATE: i64 = 1 << 32;

/// The length of the complete frame at the start of `buf`, or `None` if it has not all arrived.
pub fn frame_len(buf: &[u8], max_depth: usize) -> Result<Option<usize>, FrameError> {
    let mut pending: Vec<i64> = Vec::new();
    let mut pos = 0;
    loop {
        let Some(&kind) = buf.get(pos) else {
            return Ok(None);
        };
        let Some(line_end) = find_crlf(buf, pos + 1)? else {
            return Ok(None);
        };
        let header = &buf[pos + 1..line_end];
        pos = line_end + 2;
        let mut items = 0i64;
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
            b'$' | b'!' | b'=' => {
                let len = parse_int(header).ok_or(FrameError::BadLength)?;
                if len >= 0 {
                    if len > MAX_BULK {
                        return Err(FrameError::BadLength);
                    }
                    pos += len as usize + 2;
                    if pos > buf.len() {
                        return Ok(None);
                    }
                } else if len != -1 || kind != b'$' {
                    return Err(FrameError::BadLength);
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_int(header).ok_or(FrameError::BadLength)?;
                if !(-1..=MAX_AGGREGATE).contains(&n) {
                    return Err(FrameError::BadLength);
                }
                items = if kind == b'%' || kind == b'|' {
                    n.max(0) * 2
                } else {
                    n.max(0)
                };
                if kind == b'|' {
                    // An attribute precedes the frame it describes. Closing the attribute counts
                    // as one element, so make room for it beside the frame still owed.
                    match pending.last_mut() {
                        Some(top) => *top += 1,
                        None => pending.push(2),
                    }
                }
            }
            other => return Err(FrameError::BadType(other)),
        }
        if items > 0 {
            if pending.len() >= max_depth {
                return Err(FrameError::TooDeep(max_depth));
            }
            pending.push(items);
            continue;
        }
        // One element finished: close every aggregate it completes.
        loop {
            match pending.last_mut() {
                None => return Ok(Some(pos)),
                Some(top) => {
                    *top -= 1;
                    if *top > 0 {
                        break;
                    }
                    pending.pop();
                }
            }
        }
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Result<Option<usize>, FrameError> {
    let rest = buf.get(from..).unwrap_or_default();
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some(from + i)),
        None if rest.len() > MAX_LINE => Err(FrameError::LineTooLong(MAX_LINE)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_resp2_and_resp3() {
        assert_eq!(frame_len(b"+OK\r\n", 8), Ok(Some(5)));
        assert_eq!(frame_len(b"$3\r\nabc\r\n+x", 8), Ok(Some(9)));
        assert_eq!(frame_len(b"$-1\r\n", 8), Ok(Some(5)));
        assert_eq!(frame_len(b"*2\r\n:1\r\n*1\r\n_\r\n", 8), Ok(Some(15)));
        assert_eq!(frame_len(b"%1\r\n+a\r\n,1.5\r\n", 8), Ok(Some(14)));
        assert_eq!(
            frame_len(b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", 8),
            Ok(Some(31))
        );
        assert_eq!(frame_len(b"|1\r\n+k\r\n+v\r\n:5\r\n", 8), Ok(Some(16)));
        assert_eq!(frame_len(b"*0\r\n", 8), Ok(Some(4)));
        assert_eq!(
            frame_len(b"*1\r\n|1\r\n+k\r\n+v\r\n:5\r\n+next", 8),
            Ok(Some(20))
        );
        assert_eq!(frame_len(b"|0\r\n:5\r\n", 8), Ok(Some(8)));
    }

    #[test]
    fn waits_for_incomplete_frames() {
        assert_eq!(frame_len(b"$3\r\nab", 8), Ok(None));
        assert_eq!(frame_len(b"*2\r\n:1\r\n", 8), Ok(None));
        assert_eq!(frame_len(b"+OK\r", 8), Ok(None));
    }

    #[test]
    fn refuses_garbage_and_depth() {
        assert_eq!(frame_len(b"?\r\n", 8), Err(FrameError::BadType(b'?')));
        assert_eq!(frame_len(b"$x\r\n", 8), Err(FrameError::BadLength));
        let deep = b"*1\r\n".repeat(100_000);
        assert_eq!(frame_len(&deep, 64), Err(FrameError::TooDeep(64)));
    }
}

//! Framing of replies read from an upstream: where one complete RESP2/RESP3 frame ends.
//!
//! Replies pass through the sidecar byte for byte, so usually only their length is needed. The
//! scan is iterative (a hostile upstream cannot overflow the stack with nesting) and checks
//! every length header against limits before the frame is accepted. It is resumable: a reply that
//! arrives over many reads is scanned once, not again from its start on every read
//! ([`FrameScanner`]; [`frame_len`] is the same scan over a buffer seen once). Frames that a layer
//! must inspect are decoded with the redis-protocol crate, after this scan has bounded them.

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
    FrameScanner::default().scan(buf, max_depth)
}

/// The scan of the frame at the start of a buffer that grows between calls (a connection's read
/// buffer): every byte is looked at once, however many reads the frame takes.
///
/// Invariant: [`FrameScanner::scan`] answers what [`frame_len`] would for the whole buffer, as
/// long as the buffer keeps its start and only grows between calls. Once it has answered with a
/// length or an error it starts over, for the buffer that begins where that frame ended.
#[derive(Debug, Default)]
pub struct FrameScanner {
    /// Where the next element's header starts or, with `in_body`, where the bulk body ends.
    pos: usize,
    /// How far the search for the end of the header line at `pos` has got.
    searched: usize,
    /// The bulk string body ending at `pos` has not all arrived.
    in_body: bool,
    /// Elements still owed by each open aggregate, innermost last.
    pending: Vec<i64>,
}

impl FrameScanner {
    /// The length of the complete frame at the start of `buf`, or `None` if it has not all
    /// arrived; `buf` holds at least the bytes the previous call saw, unchanged.
    pub fn scan(&mut self, buf: &[u8], max_depth: usize) -> Result<Option<usize>, FrameError> {
        let found = self.resume(buf, max_depth);
        if !matches!(found, Ok(None)) {
            self.pos = 0;
            self.searched = 0;
            self.in_body = false;
            self.pending.clear();
        }
        found
    }

    fn resume(&mut self, buf: &[u8], max_depth: usize) -> Result<Option<usize>, FrameError> {
        loop {
            if self.in_body {
                if self.pos > buf.len() {
                    return Ok(None);
                }
                self.in_body = false;
            } else {
                let Some(&kind) = buf.get(self.pos) else {
                    return Ok(None);
                };
                let Some(line_end) = self.line_end(buf)? else {
                    return Ok(None);
                };
                let header = &buf[self.pos + 1..line_end];
                self.pos = line_end + 2;
                let mut items = 0i64;
                match kind {
                    b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
                    b'$' | b'!' | b'=' => {
                        let len = parse_int(header).ok_or(FrameError::BadLength)?;
                        if len >= 0 {
                            if len > MAX_BULK {
                                return Err(FrameError::BadLength);
                            }
                            self.pos += len as usize + 2;
                            self.in_body = true;
                            continue;
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
                            // An attribute precedes the frame it describes. Closing the attribute
                            // counts as one element, so make room for it beside the frame owed.
                            match self.pending.last_mut() {
                                Some(top) => *top += 1,
                                None => self.pending.push(2),
                            }
                        }
                    }
                    other => return Err(FrameError::BadType(other)),
                }
                if items > 0 {
                    if self.pending.len() >= max_depth {
                        return Err(FrameError::TooDeep(max_depth));
                    }
                    self.pending.push(items);
                    continue;
                }
            }
            // One element finished: close every aggregate it completes.
            loop {
                match self.pending.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(top) => {
                        *top -= 1;
                        if *top > 0 {
                            break;
                        }
                        self.pending.pop();
                    }
                }
            }
        }
    }

    /// Where the header line at `pos` ends (its CR), once it has all arrived. The limit holds
    /// however the line arrives: longer than [`MAX_LINE`] is an error in one read or in many.
    fn line_end(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let start = self.pos + 1;
        // A CR that ended the bytes already searched may have its LF among the new ones.
        let from = self.searched.saturating_sub(1).max(start);
        let rest = buf.get(from..).unwrap_or_default();
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(i) if from + i - start > MAX_LINE => Err(FrameError::LineTooLong(MAX_LINE)),
            Some(i) => Ok(Some(from + i)),
            // Not even a CRLF starting at MAX_LINE fits any more.
            None if buf.len() - start > MAX_LINE + 1 => Err(FrameError::LineTooLong(MAX_LINE)),
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
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

    /// Replies of every type, nested and flat, and garbage, each followed by the next reply.
    fn samples() -> Vec<Vec<u8>> {
        let mut big = format!("${}\r\n", 200_000).into_bytes();
        big.extend(std::iter::repeat_n(b'x', 200_000));
        big.extend_from_slice(b"\r\n");
        // The type byte and a line one byte over the limit; then one just within it.
        let mut long_line = vec![b'+'; MAX_LINE + 2];
        long_line.extend_from_slice(b"\r\n");
        let mut longest_line = vec![b'-'; MAX_LINE + 1];
        longest_line.extend_from_slice(b"\r\n");
        let mut samples: Vec<Vec<u8>> = [
            &b"+OK\r\n"[..],
            b"$-1\r\n",
            b"$0\r\n\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n*1\r\n_\r\n$2\r\nbc\r\n",
            b"%2\r\n+a\r\n,1.5\r\n$1\r\nb\r\n~2\r\n#t\r\n(12345678901234567890\r\n",
            b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
            b"!5\r\nERR x\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"|1\r\n+k\r\n+v\r\n:5\r\n",
            b"*2\r\n|1\r\n+k\r\n*1\r\n+v\r\n%1\r\n|0\r\n+a\r\n:1\r\n",
            b"?\r\n",
            b"*2\r\n:1\r\n?x\r\n",
            b"$x\r\n",
            b"!-1\r\n",
            b"$536870913\r\n",
            b"*4294967297\r\n",
            &b"*1\r\n".repeat(70),
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        samples.extend([big, long_line, longest_line]);
        for s in &mut samples {
            s.extend_from_slice(b"*1\r\n+next\r\n");
        }
        samples
    }

    /// Feeds `data` to one scanner in the pieces that end at `cuts`: every answer (at each cut
    /// and at the end) is what `frame_len` says of the bytes seen so far. (Waiting is checked
    /// on short prefixes only, to keep the byte-at-a-time feeds of long frames linear.)
    fn feed(data: &[u8], cuts: impl IntoIterator<Item = usize>) {
        let mut scanner = FrameScanner::default();
        for seen in cuts.into_iter().chain([data.len()]) {
            let got = scanner.scan(&data[..seen], 64);
            if got != Ok(None) || seen < 4096 {
                assert_eq!(got, frame_len(&data[..seen], 64), "after {seen} bytes");
            }
            if got != Ok(None) {
                return;
            }
        }
        panic!(
            "no answer for {:?}",
            String::from_utf8_lossy(&data[..data.len().min(40)])
        );
    }

    #[test]
    fn a_frame_split_anywhere_scans_as_a_whole() {
        for data in samples() {
            let whole = frame_len(&data, 64);
            assert!(
                whole != Ok(None),
                "{:?}",
                String::from_utf8_lossy(&data[..10])
            );
            let end = match whole {
                Ok(Some(n)) => n,
                _ => data.len(),
            };
            // Fed a byte at a time, then split once at every position (of a long frame, near
            // its start and end: its middle is one bulk body or header line).
            feed(&data, 0..end);
            for cut in (0..=end).filter(|&cut| end < 2_000 || cut < 100 || end - cut < 100) {
                feed(&data, [cut]);
            }
        }
    }

    #[test]
    fn a_frame_in_random_pieces_scans_as_a_whole() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        for data in samples() {
            for _ in 0..50 {
                let mut cuts = Vec::new();
                let mut at = 0;
                while at < data.len() {
                    at += 1 + next(if data.len() > 1000 { 20_000 } else { 8 });
                    cuts.push(at.min(data.len()));
                }
                feed(&data, cuts);
            }
        }
    }

    #[test]
    fn limits_hold_when_the_header_arrives_in_pieces() {
        let mut scanner = FrameScanner::default();
        // The type byte, MAX_LINE bytes, then one that is not the LF that would end the line.
        let line = vec![b'+'; MAX_LINE + 3];
        for seen in 1..line.len() {
            assert_eq!(
                scanner.scan(&line[..seen], 64),
                Ok(None),
                "after {seen} bytes"
            );
        }
        assert_eq!(
            scanner.scan(&line, 64),
            Err(FrameError::LineTooLong(MAX_LINE))
        );
        let mut ended = vec![b'+'; MAX_LINE + 2];
        ended.extend_from_slice(b"\r\n");
        assert_eq!(
            frame_len(&ended, 64),
            Err(FrameError::LineTooLong(MAX_LINE))
        );
        let huge = b"$536870913\r\n";
        for cut in 1..huge.len() {
            let mut scanner = FrameScanner::default();
            assert_eq!(scanner.scan(&huge[..cut], 64), Ok(None));
            assert_eq!(scanner.scan(huge, 64), Err(FrameError::BadLength));
        }
    }

    #[test]
    fn the_scanner_starts_over_after_each_answer() {
        let mut scanner = FrameScanner::default();
        let mut buf = b"*2\r\n$3\r\nab".to_vec();
        assert_eq!(scanner.scan(&buf, 8), Ok(None));
        buf.extend_from_slice(b"c\r\n:1\r\n*1\r\n");
        assert_eq!(scanner.scan(&buf, 8), Ok(Some(17)));
        buf.drain(..17);
        assert_eq!(scanner.scan(&buf, 8), Ok(None));
        buf.extend_from_slice(b"+x\r\n");
        assert_eq!(scanner.scan(&buf, 8), Ok(Some(8)));
        assert_eq!(scanner.scan(b"?\r\n", 8), Err(FrameError::BadType(b'?')));
        assert_eq!(
            scanner.scan(b"+ok\r\n", 8),
            Ok(Some(5)),
            "after an error too"
        );
    }
}

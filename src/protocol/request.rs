//! Client requests: RESP multibulk arrays (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline lines
//! (`GET k\r\n`, as telnet sends), parsed the way Redis's networking.c does, with its error texts.
//!
//! Invariants: nothing is allocated for a length header until the header has been checked
//! against [`Limits`]; a complete multibulk request becomes one frozen `Bytes` whose slices are
//! the arguments (no copy per argument); an incomplete request consumes nothing, except an
//! oversized one, which is discarded as it arrives (so it never occupies memory) and then
//! refused with [`ParseError::TooLarge`], after which parsing goes on.

use bytes::{Buf, Bytes, BytesMut};

use crate::command::Command;

/// Bounds on what one request may claim before anything is allocated for it.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request (the whole frame) accepted; larger ones are refused with a size error.
    pub max_request_bytes: usize,
    /// Most arguments in one request (Redis: 1024 * 1024 for multibulk).
    pub max_args: usize,
    /// Longest inline line, and longest length header (Redis: 64 KiB).
    pub max_inline_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 10 * 1024 * 1024,
            max_args: 1024 * 1024,
            max_inline_bytes: 64 * 1024,
        }
    }
}

/// Why a request could not be parsed. Every variant but `TooLarge` closes the connection after
/// its reply (see [`ParseError::is_fatal`]); the messages are the texts Redis itself sends, so
/// clients see familiar errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedBulk(u8),
    #[error("Protocol error: too big mbulk count string")]
    TooBigCount,
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("max request size exceeded: {size} bytes, limit {limit}")]
    TooLarge { size: usize, limit: usize },
}

impl ParseError {
    /// The error line sent to the client (without the leading `-`).
    pub fn reply_text(&self) -> String {
        format!("ERR {self}")
    }

    /// Whether the connection must close after this error. An oversized request has been
    /// skipped whole, so the stream is still in step and the next request can be parsed.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ParseError::TooLarge { .. })
    }
}

/// An oversized multibulk request being discarded as it arrives.
#[derive(Debug)]
struct Skip {
    /// The request's size so far (the full size once `args_left` is 0 and `discard` is 0).
    size: usize,
    /// Bulk strings whose header has not been read yet.
    args_left: i64,
    /// Bytes still to drop before the next header.
    discard: usize,
}

/// A reusable parser; it keeps a scratch list of argument ranges so parsing allocates only the
/// argument vector of each command, and not even that when the caller gives finished commands'
/// vectors back ([`RequestParser::recycle`]).
#[derive(Default)]
pub struct RequestParser {
    ranges: Vec<(usize, usize)>,
    skip: Option<Skip>,
    /// Emptied argument vectors to reuse ([`RequestParser::recycle`]).
    spare: Vec<Vec<Bytes>>,
}

impl RequestParser {
    /// Takes the next complete request off the front of `buf`. `Ok(None)` means more bytes are
    /// needed. Empty requests (`*0`, blank inline lines) are skipped, as Redis skips them.
    pub fn next(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Command>, ParseError> {
        loop {
            if self.skip.is_some() {
                match self.skip_oversized(buf, limits)? {
                    Some(size) => {
                        return Err(ParseError::TooLarge {
                            size,
                            limit: limits.max_request_bytes,
                        })
                    }
                    None => return Ok(None),
                }
            }
            if buf.is_empty() {
                return Ok(None);
            }
            let parsed = if buf[0] == b'*' {
                self.multibulk(buf, limits)?
            } else {
                inline(buf, limits)?
            };
            match parsed {
                Parsed::Incomplete if self.skip.is_some() => continue,
                Parsed::Incomplete => return Ok(None),
                Parsed::Empty => continue,
                Parsed::Command(cmd) => return Ok(Some(cmd)),
            }
        }
    }

    fn multibulk(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Parsed, ParseError> {
        if let Some(cmd) = self.multibulk_fast(buf, limits) {
            return Ok(Parsed::Command(cmd));
        }
        self.multibulk_general(buf, limits)
    }

    /// [`RequestParser::multibulk`] without its fast path: the definition the fast path must
    /// agree with.
    fn multibulk_general(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Parsed, ParseError> {
        let Some((count, mut pos)) =
            header(buf, 1, limits.max_inline_bytes, ParseError::TooBigCount)?
        else {
            return Ok(Parsed::Incomplete);
        };
        let count = count.ok_or(ParseError::InvalidMultibulkLength)?;
        if count > limits.max_args as i64 {
            return Err(ParseError::InvalidMultibulkLength);
        }
        if count <= 0 {
            buf.advance(pos);
            return Ok(Parsed::Empty);
        }
        self.ranges.clear();
        for _ in 0..count {
            let Some(&kind) = buf.get(pos) else {
                return Ok(Parsed::Incomplete);
            };
            if kind != b'$' {
                return Err(ParseError::ExpectedBulk(kind));
            }
            let Some((len, start)) = header(
                buf,
                pos + 1,
                limits.max_inline_bytes,
                ParseError::TooBigBulkCount,
            )?
            else {
                return Ok(Parsed::Incomplete);
            };
            let len = match len {
                Some(len) if (0..=512 * 1024 * 1024).contains(&len) => len as usize,
                _ => return Err(ParseError::InvalidBulkLength),
            };
            let end = start + len;
            if end + 2 > limits.max_request_bytes {
                // Drop it as it arrives; `next` answers once its last byte is gone.
                self.skip = Some(Skip {
                    size: end + 2,
                    args_left: count - self.ranges.len() as i64 - 1,
                    discard: end + 2,
                });
                return Ok(Parsed::Incomplete);
            }
            if buf.len() < end + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.ranges.push((start, end));
            pos = end + 2;
        }
        Ok(Parsed::Command(self.take(buf, pos)))
    }

    /// [`RequestParser::multibulk`] for the shape nearly every client sends: a whole request, every
    /// header a short decimal number that [`header`]'s fast path takes, every bulk within the
    /// limits. One pass, no error path; `None` (nothing consumed) sends the request to the general
    /// path, which decides it exactly as before.
    #[inline]
    fn multibulk_fast(&mut self, buf: &mut BytesMut, limits: &Limits) -> Option<Command> {
        let (count, mut pos) = short_header(buf, 1, limits.max_inline_bytes)?;
        if count == 0 || count > limits.max_args as u64 {
            return None;
        }
        self.ranges.clear();
        for _ in 0..count {
            if *buf.get(pos)? != b'$' {
                return None;
            }
            let (len, start) = short_header(buf, pos + 1, limits.max_inline_bytes)?;
            // `short_header` takes at most 9 digits, so `len` is below 512 MiB.
            let end = start + len as usize;
            if end + 2 > limits.max_request_bytes || buf.len() < end + 2 {
                return None;
            }
            self.ranges.push((start, end));
            pos = end + 2;
        }
        Some(self.take(buf, pos))
    }

    /// The command whose frame is `buf[..pos]`, its arguments at `self.ranges`.
    #[inline]
    fn take(&mut self, buf: &mut BytesMut, pos: usize) -> Command {
        let frame = buf.split_to(pos).freeze();
        let mut args = self.spare.pop().unwrap_or_default();
        args.reserve(self.ranges.len());
        args.extend(self.ranges.iter().map(|&(s, e)| frame.slice(s..e)));
        Command::with_raw(args, frame)
    }

    /// Gives back a finished command's argument vector for the next command to reuse (a
    /// connection's batch is parsed, run and dropped over and over: reusing the vectors saves
    /// an allocation and a free per command). Only small, emptied vectors are kept, at most
    /// [`SPARE_VECS`].
    #[inline]
    pub fn recycle(&mut self, mut args: Vec<Bytes>) {
        if self.spare.len() < SPARE_VECS && args.capacity() <= SPARE_ARGS {
            args.clear();
            self.spare.push(args);
        }
    }

    /// Frees the kept argument vectors (an idle connection holds none).
    pub fn release(&mut self) {
        self.spare = Vec::new();
    }
}

/// The command in `frame`, a whole request the parser took before ([`Command::snapshot`]);
/// parsed without limits, as it already passed them.
pub fn reparse(frame: &Bytes) -> Option<Command> {
    let limits = Limits {
        max_request_bytes: usize::MAX,
        max_args: usize::MAX,
        max_inline_bytes: usize::MAX,
    };
    let mut buf = BytesMut::from(&frame[..]);
    RequestParser::default().next(&mut buf, &limits).ok()?
}

/// At most this many argument vectors are kept for reuse by one parser ([`RequestParser::recycle`]).
const SPARE_VECS: usize = 64;
/// Only argument vectors with room for at most this many arguments are kept for reuse.
const SPARE_ARGS: usize = 8;

/// [`header`]'s fast path alone, tighter: 1 to 9 digits (at most `max`), no leading zero, then
/// CR and one more byte. Returns the value and the position after the line.
#[inline(always)]
fn short_header(buf: &[u8], from: usize, max: usize) -> Option<(u64, usize)> {
    let rest = buf.get(from..)?;
    let mut value = 0u64;
    let mut digits = 0;
    loop {
        let b = *rest.get(digits)?;
        if b.is_ascii_digit() {
            if digits == 9 {
                return None;
            }
            value = value * 10 + u64::from(b - b'0');
            digits += 1;
            continue;
        }
        if b != b'\r' || digits == 0 || digits > max || digits + 1 >= rest.len() {
            return None;
        }
        if digits > 1 && rest[0] == b'0' {
            return None;
        }
        return Some((value, from + digits + 2));
    }
}

impl RequestParser {
    /// Discards what has arrived of an oversized request. Returns its full size once all of it
    /// is gone; `None` while more is to come. A malformed header inside it is fatal as usual.
    fn skip_oversized(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<usize>, ParseError> {
        let Some(skip) = self.skip.as_mut() else {
            return Ok(None);
        };
        loop {
            let dropped = skip.discard.min(buf.len());
            buf.advance(dropped);
            skip.discard -= dropped;
            if skip.discard > 0 {
                return Ok(None);
            }
            if skip.args_left == 0 {
                let size = skip.size;
                self.skip = None;
                return Ok(Some(size));
            }
            let Some(&kind) = buf.first() else {
                return Ok(None);
            };
            if kind != b'$' {
                self.skip = None;
                return Err(ParseError::ExpectedBulk(kind));
            }
            let Some((len, start)) =
                header(buf, 1, limits.max_inline_bytes, ParseError::TooBigBulkCount)?
            else {
                return Ok(None);
            };
            let len = match len {
                Some(len) if (0..=512 * 1024 * 1024).contains(&len) => len as usize,
                _ => {
                    self.skip = None;
                    return Err(ParseError::InvalidBulkLength);
                }
            };
            skip.args_left -= 1;
            skip.discard = start + len + 2;
            skip.size += start + len + 2;
        }
    }
}

enum Parsed {
    Incomplete,
    Empty,
    Command(Command),
}

/// Reads a `<int>\r\n` header starting at `from`. Returns the value (None if not an integer)
/// and the position after the CRLF; `Ok(None)` if the CRLF has not arrived yet.
#[allow(clippy::type_complexity)]
fn header(
    buf: &[u8],
    from: usize,
    max: usize,
    too_big: ParseError,
) -> Result<Option<(Option<i64>, usize)>, ParseError> {
    let rest = &buf[from.min(buf.len())..];
    // Fast path, one pass: a short positive length without a leading zero, then CR and one more
    // byte (what nearly every header is). Anything else takes the general path below, which
    // decides exactly as it always did.
    let digits = rest
        .iter()
        .take(18)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits > 0
        && digits <= max
        && rest.get(digits) == Some(&b'\r')
        && digits + 1 < rest.len()
        && (digits == 1 || rest[0] != b'0')
    {
        let value = rest[..digits]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        return Ok(Some((Some(value), from + digits + 2)));
    }
    header_general(buf, from, max, too_big)
}

/// [`header`] without its fast path: the definition the fast path must agree with.
#[allow(clippy::type_complexity)]
fn header_general(
    buf: &[u8],
    from: usize,
    max: usize,
    too_big: ParseError,
) -> Result<Option<(Option<i64>, usize)>, ParseError> {
    let rest = &buf[from.min(buf.len())..];
    match rest.iter().position(|&b| b == b'\r') {
        // The same limit whether the line arrived whole or a byte at a time.
        Some(cr) if cr > max => Err(too_big),
        Some(cr) if cr + 1 < rest.len() => Ok(Some((parse_int(&rest[..cr]), from + cr + 2))),
        Some(_) => Ok(None),
        None if rest.len() > max => Err(too_big),
        None => Ok(None),
    }
}

/// Parses a decimal integer strictly, as Redis's string2ll: optional '-', digits, no spaces,
/// no leading zeros, not `-0`.
pub fn parse_int(digits: &[u8]) -> Option<i64> {
    let (neg, body) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if body.is_empty() || body.len() > 19 || (body[0] == b'0' && (body.len() > 1 || neg)) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in body {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub((d - b'0') as i64)?;
    }
    if neg {
        Some(n)
    } else {
        n.checked_neg()
    }
}

fn inline(buf: &mut BytesMut, limits: &Limits) -> Result<Parsed, ParseError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_bytes {
            return Err(ParseError::TooBigInline);
        }
        return Ok(Parsed::Incomplete);
    };
    // A line that arrived whole is held to the limit it would have broken arriving in pieces.
    if nl > limits.max_inline_bytes {
        return Err(ParseError::TooBigInline);
    }
    let line = buf.split_to(nl + 1);
    let text = line[..nl].strip_suffix(b"\r").unwrap_or(&line[..nl]);
    let args = split_args(text).ok_or(ParseError::UnbalancedQuotes)?;
    if args.is_empty() {
        return Ok(Parsed::Empty);
    }
    Ok(Parsed::Command(Command::new(args)))
}

/// Splits an inline line into arguments as Redis's `sdssplitargs`: whitespace separates,
/// "double quotes" take C escapes (`\n`, `\xHH`, ...), 'single quotes' take `\'`.
/// `None` when quotes are unbalanced or a closing quote is not followed by a space.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if in_dq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if line.get(i + 1) == Some(&b'x') && hex_pair(line, i + 2).is_some() =>
                    {
                        cur.push(hex_pair(line, i + 2).unwrap_or(0));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        cur.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        in_dq = false;
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else if in_sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|b| !b.is_ascii_whitespace()) {
                            return None;
                        }
                        in_sq = false;
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if b.is_ascii_whitespace() => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(other) => cur.push(other),
                }
            }
            i += 1;
        }
        debug_assert!(!in_dq && !in_sq);
        args.push(Bytes::from(cur));
    }
}

fn hex_pair(line: &[u8], at: usize) -> Option<u8> {
    let hi = (*line.get(at)? as char).to_digit(16)?;
    let lo = (*line.get(at + 1)? as char).to_digit(16)?;
    Some((hi * 16 + lo) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Result<(), ParseError>, usize) {
        let mut buf = BytesMut::from(input);
        let mut parser = RequestParser::default();
        let mut out = Vec::new();
        loop {
            match parser.next(&mut buf, &Limits::default()) {
                Ok(Some(cmd)) => out.push(cmd.args),
                Ok(None) => return (out, Ok(()), buf.len()),
                Err(e) => return (out, Err(e), buf.len()),
            }
        }
    }

    #[test]
    fn the_header_fast_path_agrees_with_the_general_path() {
        // Every string of up to 5 bytes over the bytes that matter, at several limits.
        let alphabet = b"0129-\r\nx";
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .filter(|s| s.len() == inputs.last().map_or(0, Vec::len))
                .flat_map(|s| alphabet.iter().map(move |&b| [s.clone(), vec![b]].concat()))
                .collect();
            inputs.extend(longer);
        }
        inputs.push(b"999999999999999999\r\n".to_vec());
        inputs.push(b"9999999999999999999\r\n".to_vec());
        inputs.push(b"99999999999999999999\r\n".to_vec());
        for input in &inputs {
            for max in [0, 1, 2, 3, 64] {
                for from in [0, 1] {
                    let fast = header(input, from, max, ParseError::TooBigCount);
                    let general = header_general(input, from, max, ParseError::TooBigCount);
                    assert_eq!(fast, general, "{:?} from {from} max {max}", show(input));
                }
            }
        }
    }

    #[test]
    fn the_multibulk_fast_path_agrees_with_the_general_path() {
        // Requests cut and altered at every byte, at several limits.
        let base: &[&[u8]] = &[
            b"*2\r\n$3\r\nGET\r\n$16\r\nkey:__rand_int__\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
            b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n",
            b"*01\r\n$4\r\nPING\r\n",
            b"*1\r\n$04\r\nPING\r\n",
            b"*1\r\n$1234567890\r\nPING\r\n",
            b"*0\r\n",
        ];
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        for b in base {
            for cut in 0..=b.len() {
                inputs.push(b[..cut].to_vec());
                for with in [b'0', b'9', b'\r', b'\n', b'$', b'*', b'-', b'x'] {
                    let mut changed = b.to_vec();
                    if cut < changed.len() {
                        changed[cut] = with;
                        inputs.push(changed);
                    }
                }
            }
        }
        let limits = [
            Limits::default(),
            Limits {
                max_request_bytes: 20,
                max_args: 1,
                max_inline_bytes: 1,
            },
        ];
        for input in &inputs {
            for limits in &limits {
                let mut fast_buf = BytesMut::from(&input[..]);
                let mut parser = RequestParser::default();
                let Some(fast) = parser.multibulk_fast(&mut fast_buf, limits) else {
                    assert_eq!(&fast_buf[..], &input[..], "nothing consumed");
                    continue;
                };
                let mut general_buf = BytesMut::from(&input[..]);
                let general = RequestParser::default().multibulk_general(&mut general_buf, limits);
                match general {
                    Ok(Parsed::Command(cmd)) => {
                        assert_eq!(fast.args, cmd.args, "{:?}", show(input));
                        assert_eq!(fast_buf, general_buf, "{:?}", show(input));
                        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
                        fast.encode(&mut a);
                        cmd.encode(&mut b);
                        assert_eq!(a, b);
                    }
                    _ => panic!("the fast path took {:?}", show(input)),
                }
            }
        }
    }

    #[test]
    fn recycled_argument_vectors_are_reused_and_bounded() {
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]);
        let cmd = parser.next(&mut buf, &Limits::default()).unwrap().unwrap();
        let at = cmd.args.as_ptr();
        parser.recycle(cmd.args);
        buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nj\r\n");
        let cmd = parser.next(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(cmd.args, vec![Bytes::from("GET"), Bytes::from("j")]);
        assert_eq!(cmd.args.as_ptr(), at, "the vector was reused");
        parser.recycle(Vec::with_capacity(SPARE_ARGS + 1));
        assert!(parser.spare.is_empty(), "large vectors are not kept");
        for _ in 0..SPARE_VECS + 5 {
            parser.recycle(Vec::new());
        }
        assert_eq!(parser.spare.len(), SPARE_VECS);
        parser.release();
        assert!(parser.spare.is_empty());
    }

    fn show(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn parses_pipelined_multibulk_without_copying() {
        let (cmds, res, left) = parse_all(
            b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\nGE",
        );
        assert_eq!(res, Ok(()));
        assert_eq!(
            cmds,
            vec![
                vec![Bytes::from("PING")],
                vec!["SET".into(), "a".into(), "b".into()]
            ]
        );
        assert_eq!(left, 10, "the incomplete request stays in the buffer");
    }

    #[test]
    fn parses_inline_with_quotes() {
        let (cmds, res, _) =
            parse_all(b"PING\r\nSET a \"b c\\x41\\n\"\n\r\n   \r\nGET 'it\\'s'\r\n");
        assert_eq!(res, Ok(()));
        assert_eq!(cmds[0], vec![Bytes::from("PING")]);
        assert_eq!(
            cmds[1],
            vec![Bytes::from("SET"), "a".into(), "b cA\n".into()]
        );
        assert_eq!(cmds[2], vec![Bytes::from("GET"), "it's".into()]);
    }

    #[test]
    fn refuses_absurd_headers_before_allocating() {
        assert_eq!(
            parse_all(b"*2147483647\r\n").1,
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$2147483647\r\n").1,
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").1,
            Err(ParseError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*x\r\n").1,
            Err(ParseError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n*1\r\n*1\r\n").1,
            Err(ParseError::ExpectedBulk(b'*'))
        );
        assert_eq!(
            parse_all(b"*1\r\n$11000000\r\n"),
            (vec![], Ok(()), 0),
            "an oversized request is dropped as it arrives, and refused once it has all gone"
        );
        assert_eq!(
            parse_all(b"SET a \"b\r\n").1,
            Err(ParseError::UnbalancedQuotes)
        );
        assert_eq!(
            parse_all(&vec![b'a'; 70 * 1024]).1,
            Err(ParseError::TooBigInline)
        );
    }

    #[test]
    fn skips_an_oversized_request_and_parses_on() {
        let limits = Limits {
            max_request_bytes: 1024,
            ..Limits::default()
        };
        let big = vec![b'x'; 2000];
        let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n".to_vec();
        input.extend_from_slice(&big);
        input.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
        let expected_size = input.len() - 14;
        // Fed in every chunking: the refusal comes once, after the last byte, then PING.
        for chunk in [1, 7, 100, 4096] {
            let mut parser = RequestParser::default();
            let mut buf = BytesMut::new();
            let mut seen = Vec::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                assert!(buf.len() <= chunk + 64, "the skipped bytes are not kept");
                loop {
                    match parser.next(&mut buf, &limits) {
                        Ok(Some(cmd)) => seen.push(Ok(cmd.args)),
                        Ok(None) => break,
                        Err(e) => {
                            assert!(!e.is_fatal());
                            seen.push(Err(e));
                        }
                    }
                }
            }
            assert_eq!(
                seen,
                vec![
                    Err(ParseError::TooLarge {
                        size: expected_size,
                        limit: 1024
                    }),
                    Ok(vec![Bytes::from("PING")])
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_malformed_header_inside_a_skipped_request_is_fatal() {
        let limits = Limits {
            max_request_bytes: 1024,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"*2\r\n$2000\r\n"[..]);
        buf.extend_from_slice(&[b'x'; 2002]);
        buf.extend_from_slice(b"$abc\r\n");
        let mut parser = RequestParser::default();
        assert_eq!(
            parser.next(&mut buf, &limits).err(),
            Some(ParseError::InvalidBulkLength)
        );
    }

    #[test]
    fn line_limits_do_not_depend_on_how_the_bytes_arrive() {
        // Found by the `request` fuzz target: a too-long line was refused when it came in
        // pieces but accepted when its newline came in the same read.
        let mut long = vec![b'a'; 70 * 1024];
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&long).1, Err(ParseError::TooBigInline));
        let mut count = b"*".to_vec();
        count.extend(std::iter::repeat_n(b'1', 70 * 1024));
        count.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&count).1, Err(ParseError::TooBigCount));
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', 70 * 1024));
        bulk.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&bulk).1, Err(ParseError::TooBigBulkCount));
    }

    #[test]
    fn skips_empty_requests() {
        let (cmds, res, left) = parse_all(b"*0\r\n*-1\r\n\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!((cmds.len(), res, left), (1, Ok(()), 0));
    }

    #[test]
    fn parses_integers_strictly() {
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"+1"), None);
        assert_eq!(parse_int(b"01"), None);
        assert_eq!(parse_int(b"-0"), None, "Redis's string2ll refuses -0");
        assert_eq!(parse_int(b""), None);
    }
}

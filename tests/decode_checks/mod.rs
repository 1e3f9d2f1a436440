//! The properties every decoder input must satisfy, shared by the stable property tests
//! (`tests/decode_props.rs`) and the cargo-fuzz targets (`fuzz/fuzz_targets/`), which include
//! this file by path. Each check panics, naming the property, when the decoders break it.
//!
//! Requests (`check_requests`): parsing never panics; every parsed command re-encodes (its own
//! `encode`, and the canonical multibulk of its arguments) to bytes that parse back to the same
//! arguments and are consumed exactly; a multibulk command's encoding is as long as what it
//! consumed; the limits hold; and feeding the input in small chunks gives the same commands and
//! the same error as feeding it at once (what a socket does).
//!
//! Replies (`check_reply`): framing and parsing never panic; where both `frame_len` and
//! `parse_reply_prefix` accept the frame they agree on its length; a complete frame less its
//! last byte is incomplete; a `FrameScanner` fed the input in small pieces answers what
//! `frame_len` does for the whole of it; encoding a parsed reply is a fixed point (parse and encode it again
//! and the bytes stay the same, in RESP2 and RESP3); and a frame that is canonical for a
//! protocol (see [`canonical`]) re-encodes to exactly its own bytes in that protocol.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use redis_sidecar::command::encode_args;
use redis_sidecar::protocol::{
    format_double, frame_len, parse_reply_prefix, FrameError, FrameScanner, Limits, ParseError,
    Protocol, RequestParser,
};

/// Small limits, so that short fuzz inputs reach every limit check.
pub const SMALL: Limits = Limits {
    max_request_bytes: 256,
    max_args: 8,
    max_inline_bytes: 32,
};

/// Every parsed command's arguments, and how parsing ended (Ok: more bytes needed).
type Outcome = (Vec<Vec<Bytes>>, Result<(), ParseError>);

fn parse_chunked(data: &[u8], chunk: usize, limits: &Limits) -> Outcome {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match parser.next(&mut buf, limits) {
                Ok(Some(cmd)) => {
                    check_command(&cmd, before - buf.len(), limits);
                    out.push(cmd.args);
                }
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
    }
    (out, Ok(()))
}

fn check_command(cmd: &redis_sidecar::command::Command, consumed: usize, limits: &Limits) {
    assert!(!cmd.args.is_empty(), "a parsed command has a name");
    assert!(consumed > 0, "a parsed command consumed bytes");
    let mut own = BytesMut::new();
    cmd.encode(&mut own);
    // wire_len is the raw frame's length, or an upper bound of the re-encoding's.
    assert!(
        own.len() <= cmd.wire_len(),
        "wire_len bounds the encoded length"
    );
    let mut canonical = BytesMut::new();
    encode_args(&cmd.args, &mut canonical);
    // A multibulk command keeps its raw frame (a suffix of what was consumed, after any
    // skipped empty requests); an inline one is re-encoded as multibulk.
    assert!(
        own == canonical || (own.len() <= consumed && own.len() <= limits.max_request_bytes),
        "the raw frame is no longer than what was consumed"
    );
    for bytes in [own, canonical] {
        let len = bytes.len();
        let mut again = bytes;
        let reparsed = RequestParser::default()
            .next(&mut again, &Limits::default())
            .expect("a re-encoded command parses")
            .expect("a re-encoded command is complete");
        assert_eq!(reparsed.args, cmd.args, "re-encoding keeps the arguments");
        assert!(again.is_empty(), "re-parsing consumed all {len} bytes");
    }
}

/// Checks the request parser on `data`, with the default and the small limits; `chunk` (1..)
/// is the piece size for the incremental parse.
pub fn check_requests(data: &[u8], chunk: usize) {
    for limits in [Limits::default(), SMALL] {
        let whole = parse_chunked(data, data.len().max(1), &limits);
        let pieces = parse_chunked(data, chunk, &limits);
        assert_eq!(whole, pieces, "chunk size {chunk} changes what is parsed");
    }
}

/// The frame_len depth used where a reply is compared with parse_reply (which allows 129 levels).
const DEEP: usize = 1000;

/// Checks reply framing, parsing and encoding on `data`.
pub fn check_reply(data: &[u8]) {
    let framed = frame_len(data, 64);
    let deep = frame_len(data, DEEP);
    if let Ok(Some(n)) = framed {
        assert_eq!(deep, Ok(Some(n)), "a deeper limit frames the same length");
    }
    if let Ok(Some(n)) = deep {
        assert!(n > 0 && n <= data.len(), "frame length within the input");
        assert_eq!(frame_len(&data[..n], DEEP), Ok(Some(n)), "frame alone");
        assert_eq!(
            frame_len(&data[..n - 1], DEEP),
            Ok(None),
            "less its last byte"
        );
        assert_eq!(frame_len(&data[..n / 2], DEEP), Ok(None), "half of it");
    }
    assert_eq!(scan_in_pieces(data, DEEP), deep, "scanned in pieces");
    let bytes = Bytes::copy_from_slice(data);
    let Some((reply, m)) = parse_reply_prefix(&bytes) else {
        return;
    };
    assert!(m > 0 && m <= data.len(), "parsed length within the input");
    match deep {
        Ok(Some(n)) => assert_eq!(n, m, "frame_len and parse_reply agree on the length"),
        Ok(None) => panic!("parse_reply took {m} bytes that frame_len calls incomplete"),
        Err(_) => {}
    }
    for proto in [Protocol::Resp2, Protocol::Resp3] {
        let once = reply.to_bytes(proto);
        assert_eq!(
            frame_len(&once, DEEP),
            Ok(Some(once.len())),
            "{proto:?} encoding frames"
        );
        let (again, len) = parse_reply_prefix(&once).expect("an encoded reply parses");
        assert_eq!(len, once.len(), "{proto:?} encoding parses whole");
        assert_eq!(
            again.to_bytes(proto),
            once,
            "{proto:?} encoding is a fixed point"
        );
        if canonical(&data[..m], proto) {
            assert_eq!(
                &once[..],
                &data[..m],
                "a canonical {proto:?} frame re-encodes as is"
            );
        }
    }
}

/// What a `FrameScanner` answers when `data` arrives a few bytes at a time (piece sizes from
/// 1 to 7, taken from the data itself): the first answer that is not "incomplete".
fn scan_in_pieces(data: &[u8], max_depth: usize) -> Result<Option<usize>, FrameError> {
    let mut scanner = FrameScanner::default();
    let mut seen = 0;
    loop {
        seen = (seen + 1 + data.get(seen).map_or(0, |&b| b as usize % 7)).min(data.len());
        let answer = scanner.scan(&data[..seen], max_depth);
        if answer != Ok(None) || seen == data.len() {
            return answer;
        }
    }
}

/// Whether `frame` (one complete frame) is in the form the encoder writes for `proto`:
/// - both: `+`/`-` lines, `:` strict decimal integers, `$n` bulk strings, `*n` arrays (n >= 0),
///   `(` big numbers (passed through as they are);
/// - RESP2 only: the nulls `$-1` and `*-1`; no RESP3 type byte anywhere;
/// - RESP3 only: `~ > %` aggregates (n >= 0), `_` with nothing after it, `#t`/`#f`, `,` doubles
///   written as Redis writes them (`format_double`), `=n` verbatim strings of format `txt`;
///   no `$-1`/`*-1` (RESP3 writes `_`).
///
/// Never canonical: `!` blob errors (written as `-` lines), `|` attributes (not parsed), and
/// negative lengths other than the RESP2 nulls.
pub fn canonical(frame: &[u8], proto: Protocol) -> bool {
    let mut pos = 0;
    element(frame, &mut pos, proto) && pos == frame.len()
}

fn element(buf: &[u8], pos: &mut usize, proto: Protocol) -> bool {
    let Some(&kind) = buf.get(*pos) else {
        return false;
    };
    let Some(end) = buf[*pos..].windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    let header = &buf[*pos + 1..*pos + end];
    *pos += end + 2;
    let resp3 = proto == Protocol::Resp3;
    let int = redis_sidecar::protocol::request::parse_int(header);
    match kind {
        b'+' | b'-' | b'(' => true,
        b':' => int.is_some(),
        b'_' => resp3 && header.is_empty(),
        b'#' => resp3 && (header == b"t" || header == b"f"),
        b',' => {
            resp3
                && std::str::from_utf8(header)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|d| format_double(d).as_bytes() == header)
        }
        b'$' | b'=' => match int {
            Some(-1) => kind == b'$' && !resp3,
            Some(n) if n >= 0 => {
                let (start, n) = (*pos, n as usize);
                let ok = buf.get(start + n..start + n + 2) == Some(b"\r\n".as_slice());
                *pos = start + n + 2;
                ok && (kind == b'$' || (resp3 && buf[start..].starts_with(b"txt:")))
            }
            _ => false,
        },
        b'*' | b'~' | b'>' | b'%' => {
            if kind != b'*' && !resp3 {
                return false;
            }
            match int {
                Some(-1) => kind == b'*' && !resp3,
                Some(n) if n >= 0 => {
                    let items = if kind == b'%' { 2 * n } else { n };
                    (0..items).all(|_| element(buf, pos, proto))
                }
                _ => false,
            }
        }
        _ => false,
    }
}

//! One complete reply frame (already bounded by [`super::frame_len`]) as a [`Reply`], for the
//! layers that rewrite replies. Order is kept exactly (RESP3 maps stay in wire order), so
//! re-encoding an untouched reply gives back the same bytes.

use bytes::Bytes;

use super::reply::Reply;
use crate::protocol::request::parse_int;

/// Parses the frame at the start of `frame`; None if it is not a valid reply.
pub fn parse_reply(frame: &Bytes) -> Option<Reply> {
    parse_reply_prefix(frame).map(|(reply, _)| reply)
}

/// Parses the frame at the start of `buf` and says how many bytes it took; None if the bytes
/// there are not a complete valid reply. Where [`super::frame_len`] also accepts the frame, both
/// give the same length (checked by `tests/decode_props.rs` and the `fuzz/` targets).
pub fn parse_reply_prefix(buf: &Bytes) -> Option<(Reply, usize)> {
    let mut pos = 0;
    let reply = parse_at(buf, &mut pos, 0)?;
    Some((reply, pos))
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let rest = buf.get(*pos..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    *pos += end + 2;
    Some(&rest[..end])
}

/// A blob error's text as an error line: it is re-encoded as `-text\r\n`, so CR and LF become
/// spaces (as Redis sanitizes its own error replies); a CRLF kept in it would split the frame.
fn one_line(text: Bytes) -> Bytes {
    if !text.iter().any(|&b| b == b'\r' || b == b'\n') {
        return text;
    }
    let mapped: Vec<u8> = text
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    Bytes::from(mapped)
}

fn parse_at(buf: &Bytes, pos: &mut usize, depth: usize) -> Option<Reply> {
    if depth > 128 {
        return None;
    }
    let kind = *buf.get(*pos)?;
    *pos += 1;
    let header = line(buf, pos)?;
    let text = |h: &[u8]| Bytes::copy_from_slice(h);
    let items = |n: i64, pos: &mut usize| -> Option<Vec<Reply>> {
        (0..n).map(|_| parse_at(buf, pos, depth + 1)).collect()
    };
    Some(match kind {
        b'+' => Reply::Status(text(header)),
        b'-' => Reply::Error(text(header)),
        b':' => Reply::Int(parse_int(header)?),
        b'_' => Reply::Nil,
        b'#' => Reply::Bool(header == b"t"),
        b',' => Reply::Double(
            crate::store::args::parse_float(header)
                .or_else(|| std::str::from_utf8(header).ok()?.parse().ok())?,
        ),
        b'(' => Reply::Raw(Bytes::from([b"(", header, b"\r\n"].concat())),
        b'$' | b'=' | b'!' => {
            let len = parse_int(header)?;
            if len < 0 {
                return Some(Reply::Nil);
            }
            let start = *pos;
            let end = start.checked_add(len as usize)?;
            if buf.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            *pos = end + 2;
            let data = buf.slice(start..end);
            match kind {
                b'$' => Reply::Bulk(data),
                b'=' => Reply::Verbatim(data.slice(4.min(data.len())..)),
                _ => Reply::Error(one_line(data)),
            }
        }
        b'*' | b'~' | b'>' => {
            let n = parse_int(header)?;
            if n < 0 {
                return Some(Reply::NilArray);
            }
            let list = items(n, pos)?;
            match kind {
                b'*' => Reply::Array(list),
                b'~' => Reply::Set(list),
                _ => Reply::Push(list),
            }
        }
        b'%' => {
            let n = parse_int(header)?;
            // Room for no more pairs than the bytes left could hold (each takes 6 or more).
            let room = (buf.len() - *pos) / 6;
            let mut pairs = Vec::with_capacity((n.max(0) as u64).min(room as u64) as usize);
            for _ in 0..n {
                let k = parse_at(buf, pos, depth + 1)?;
                let v = parse_at(buf, pos, depth + 1)?;
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    #[test]
    fn round_trips_byte_exact() {
        let cases: &[(&[u8], Protocol)] = &[
            (b"+OK\r\n", Protocol::Resp2),
            (b"-ERR x\r\n", Protocol::Resp2),
            (b":-5\r\n", Protocol::Resp2),
            (b"$-1\r\n", Protocol::Resp2),
            (b"*-1\r\n", Protocol::Resp2),
            (b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", Protocol::Resp2),
            (b"%2\r\n$1\r\nz\r\n:1\r\n$1\r\na\r\n:2\r\n", Protocol::Resp3),
            (b"~1\r\n$1\r\nm\r\n", Protocol::Resp3),
            (
                b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n",
                Protocol::Resp3,
            ),
            (b"_\r\n", Protocol::Resp3),
            (b"#t\r\n", Protocol::Resp3),
            (b",1.5\r\n", Protocol::Resp3),
            (b"=8\r\ntxt:info\r\n", Protocol::Resp3),
        ];
        for (frame, proto) in cases {
            let reply = parse_reply(&Bytes::from_static(frame)).unwrap();
            assert_eq!(
                &reply.to_bytes(*proto)[..],
                *frame,
                "{}",
                String::from_utf8_lossy(frame)
            );
        }
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_reply(&Bytes::from_static(b"?x\r\n")).is_none());
        assert!(parse_reply(&Bytes::from_static(b"$5\r\nab\r\n")).is_none());
    }

    #[test]
    fn blob_errors_with_line_breaks_re_encode_as_one_line() {
        // Found by the `reply` fuzz target: the CRLF inside split the re-encoded frame in two.
        let reply = parse_reply(&Bytes::from_static(b"!8\r\nERR a\r\nb\r\n")).unwrap();
        assert_eq!(reply, Reply::Error(Bytes::from_static(b"ERR a  b")));
        assert_eq!(&reply.to_bytes(Protocol::Resp3)[..], b"-ERR a  b\r\n");
    }
}

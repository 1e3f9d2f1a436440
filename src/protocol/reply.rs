//! The reply value every backend produces, and its encoding in RESP2 or RESP3.
//!
//! A `Reply` is protocol-neutral: the same value encodes as a RESP3 map for a client that said
//! `HELLO 3` and as a flat array for a RESP2 client, exactly as Redis downgrades its replies.
//! `Raw` carries bytes that are already a complete frame in the client's protocol (an upstream
//! reply passed through untouched); they are written byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol a client negotiated with `HELLO` (2 until it says otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// One reply, as Redis's reply types; see the module doc for how each downgrades to RESP2.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a status line; must not contain CR or LF.
    Status(Bytes),
    /// `-ERR ...`: the whole error line including its code (`ERR`, `WRONGTYPE`, ...).
    Error(Bytes),
    Int(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// Key-value pairs in order: a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// An unordered collection: an array in RESP2.
    Set(Vec<Reply>),
    /// A float: a bulk string in RESP2, formatted as Redis does.
    Double(f64),
    /// `#t`/`#f` in RESP3; `:1`/`:0` in RESP2.
    Bool(bool),
    /// Out-of-band data (pub/sub messages): an array in RESP2.
    Push(Vec<Reply>),
    /// `=txt:...` in RESP3; a plain bulk string in RESP2.
    Verbatim(Bytes),
    /// One complete frame already encoded in the client's protocol.
    Raw(Bytes),
}

impl Reply {
    pub const fn ok() -> Reply {
        Reply::Status(Bytes::from_static(b"OK"))
    }

    pub fn status(s: &'static str) -> Reply {
        Reply::Status(Bytes::from_static(s.as_bytes()))
    }

    /// An error reply; `msg` includes its code, e.g. `"ERR syntax error"`.
    pub fn error(msg: impl Into<String>) -> Reply {
        Reply::Error(Bytes::from(msg.into()))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn bulk_copy(b: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_)) || matches!(self, Reply::Raw(b) if b.first() == Some(&b'-'))
    }

    /// Appends this reply to `out` in `proto`.
    pub fn encode(&self, proto: Protocol, out: &mut BytesMut) {
        match self {
            Reply::Status(s) => line(out, b'+', s),
            Reply::Error(e) => line(out, b'-', e),
            Reply::Int(n) => int_line(out, b':', *n),
            Reply::Bulk(b) => bulk(out, b'$', b),
            Reply::Nil => out.put_slice(if proto == Protocol::Resp3 {
                b"_\r\n"
            } else {
                b"$-1\r\n"
            }),
            Reply::NilArray => out.put_slice(if proto == Protocol::Resp3 {
                b"_\r\n"
            } else {
                b"*-1\r\n"
            }),
            Reply::Array(items) => aggregate(out, b'*', items, proto),
            Reply::Set(items) => aggregate(
                out,
                if proto == Protocol::Resp3 { b'~' } else { b'*' },
                items,
                proto,
            ),
            Reply::Push(items) => aggregate(
                out,
                if proto == Protocol::Resp3 { b'>' } else { b'*' },
                items,
                proto,
            ),
            Reply::Map(pairs) => {
                if proto == Protocol::Resp3 {
                    int_line(out, b'%', pairs.len() as i64);
                } else {
                    int_line(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if proto == Protocol::Resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, b'$', text.as_bytes());
                }
            }
            Reply::Bool(b) => match proto {
                Protocol::Resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
                Protocol::Resp2 => int_line(out, b':', *b as i64),
            },
            Reply::Verbatim(text) => {
                if proto == Protocol::Resp3 {
                    int_line(out, b'=', text.len() as i64 + 4);
                    out.put_slice(b"txt:");
                    out.put_slice(text);
                    out.put_slice(b"\r\n");
                } else {
                    bulk(out, b'$', text);
                }
            }
            Reply::Raw(bytes) => out.put_slice(bytes),
        }
    }

    /// This reply encoded alone, for tests and one-off writes.
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(proto, &mut out);
        out.freeze()
    }
}

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, kind: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, kind, buf.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, kind: u8, data: &[u8]) {
    int_line(out, kind, data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, kind: u8, items: &[Reply], proto: Protocol) {
    int_line(out, kind, items.len() as i64);
    for item in items {
        item.encode(proto, out);
    }
}

/// Formats a double as Redis 7.0 does in replies (`addReplyDouble`): C's `%.17g` (17 significant
/// digits, trailing zeros dropped, exponent form below 1e-4 and from 1e17 on, as in `1e+20` and
/// `1.4999999999999999e-07`), with `inf`/`-inf` for infinities and `-0` for negative zero.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // %g picks its form from the exponent of the %e form rounded to 17 significant digits.
    let sci = format!("{d:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_fraction_zeros(mantissa), exp.abs())
    } else {
        let decimals = (16 - exp) as usize;
        trim_fraction_zeros(&format!("{d:.decimals$}")).to_string()
    }
}

/// `1.500` -> `1.5`, `2.000` -> `2`; text without a point is returned as is.
fn trim_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, p: Protocol) -> Vec<u8> {
        r.to_bytes(p).to_vec()
    }

    #[test]
    fn downgrades_resp3_types_for_resp2() {
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(
            enc(map.clone(), Protocol::Resp2),
            b"*2\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(enc(map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Nil, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(enc(Reply::NilArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(enc(Reply::Nil, Protocol::Resp3), b"_\r\n");
        assert_eq!(enc(Reply::Double(1.5), Protocol::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::Double(1.5), Protocol::Resp3), b",1.5\r\n");
        assert_eq!(enc(Reply::Bool(true), Protocol::Resp2), b":1\r\n");
    }

    #[test]
    fn formats_doubles_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(-0.0), "-0");
        assert_eq!(format_double(1.0 / 3.0), "0.33333333333333331");
        assert_eq!(
            format_double("123456789.123456789".parse().unwrap()),
            "123456789.12345679"
        );
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(1e17), "1e+17");
        assert_eq!(format_double(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(1e300), "1.0000000000000001e+300");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
    }
}

//! Conversions between Redis replies and Lua values, as Redis 7.0's `script_lua.c` does them,
//! plus the number formatting (`%.17g`) and the `lrand48` generator scripts rely on.
//!
//! Invariants: conversions never recurse deeper than [`MAX_DEPTH`] (a self-referencing Lua table
//! becomes an error reply, not a stack overflow); every reply built here encodes byte-exactly as
//! redis-server 7.0 would for the client's protocol.

use bytes::{BufMut, Bytes, BytesMut};
use mlua::{Lua, Table, Value};

use crate::protocol::{Protocol, Reply};

/// How deep nested tables / replies are followed before giving up with an error.
pub(super) const MAX_DEPTH: usize = 100;

/// 2^63, the first double past `i64::MAX`.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// C's `(long long)d` on x86-64: out of range and NaN give `i64::MIN`.
pub fn double_to_ll(d: f64) -> i64 {
    if d.is_nan() || !(-TWO_63..TWO_63).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// Redis's `luaPushErrorBuff` normalisation: `-CODE msg` keeps its code, anything else gets `ERR`;
/// trailing CR/LF trimmed from the message.
pub(super) fn error_text(raw: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match raw.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&c| c == b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", raw),
    };
    let mut out = code.to_vec();
    out.push(b' ');
    out.extend_from_slice(trim_crlf(msg));
    out
}

fn trim_crlf(mut s: &[u8]) -> &[u8] {
    while let [b'\r' | b'\n', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b'\r' | b'\n'] = s {
        s = rest;
    }
    s
}

/// Replaces CR and LF with spaces (Redis does this so an error or status stays one line).
pub(super) fn one_line(s: &[u8]) -> Bytes {
    Bytes::from(
        s.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect::<Vec<u8>>(),
    )
}

/// A Lua `{err = text}` table, the form errors take inside scripts.
pub(super) fn err_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(t)
}

/// Converts a command's reply into the Lua value `redis.call` returns. `resp3` is the script's
/// `redis.setresp` choice: RESP2 turns nulls into `false` and flattens maps, sets and doubles.
pub(super) fn reply_to_lua(
    lua: &Lua,
    reply: &Reply,
    resp3: bool,
    depth: usize,
) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Ok(Value::Table(err_table(
            lua,
            b"ERR reached lua stack limit",
        )?));
    }
    let array = |items: &[Reply]| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(items.len().min(1024), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, reply_to_lua(lua, item, resp3, depth + 1)?)?;
        }
        Ok(Value::Table(t))
    };
    let single = |field: &str, value: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, value)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Status(s) => single("ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => {
            let mut raw = Vec::with_capacity(e.len() + 1);
            raw.push(b'-');
            raw.extend_from_slice(e);
            Value::Table(err_table(lua, &error_text(&raw))?)
        }
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) | Reply::Raw(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) => array(items)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.set(reply_to_lua(lua, item, resp3, depth + 1)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Reply::Set(items) => array(items)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.set(
                    reply_to_lua(lua, k, resp3, depth + 1)?,
                    reply_to_lua(lua, v, resp3, depth + 1)?,
                )?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Map(pairs) => {
            let t = lua.create_table()?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp3, depth + 1)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp3, depth + 1)?)?;
            }
            Value::Table(t)
        }
        Reply::Double(d) if resp3 => single("double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(crate::protocol::format_double(*d))?),
        Reply::Bool(b) if resp3 => Value::Boolean(*b),
        Reply::Bool(b) => Value::Number(*b as i64 as f64),
        Reply::Verbatim(text) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("string", lua.create_string(text)?)?;
            v.raw_set("format", "txt")?;
            single("verbatim_string", Value::Table(v))?
        }
        Reply::Verbatim(text) => Value::String(lua.create_string(text)?),
    })
}

/// Converts a script's return value into the reply sent to a client speaking `proto`; `resp3`
/// is the script's `redis.setresp` choice (it decides how booleans are answered).
pub(super) fn lua_to_reply(value: &Value, proto: Protocol, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Number(n) => Reply::Int(double_to_ll(*n)),
        Value::Integer(n) => Reply::Int(*n),
        Value::Table(t) => table_to_reply(t, proto, resp3, depth)
            .unwrap_or_else(|e| Reply::error(format!("ERR {e}"))),
        _ => Reply::Nil,
    }
}

fn table_to_reply(t: &Table, proto: Protocol, resp3: bool, depth: usize) -> mlua::Result<Reply> {
    if let Value::String(err) = t.get::<Value>("err")? {
        // The reply line is exactly `-<msg>` (Reply::Error adds the '-'), trailing CR/LF trimmed.
        let err = err.as_bytes();
        let end = err.len()
            - err
                .iter()
                .rev()
                .take_while(|&&c| c == b'\r' || c == b'\n')
                .count();
        return Ok(Reply::Error(one_line(&err[..end])));
    }
    if let Value::String(ok) = t.get::<Value>("ok")? {
        return Ok(Reply::Status(one_line(&ok.as_bytes())));
    }
    match t.get::<Value>("double")? {
        Value::Number(d) => return Ok(double_reply(d, proto)),
        Value::Integer(n) => return Ok(double_reply(n as f64, proto)),
        _ => {}
    }
    if let Value::String(n) = t.get::<Value>("big_number")? {
        let n = one_line(&n.as_bytes());
        return Ok(match proto {
            Protocol::Resp3 => Reply::Raw(frame(b'(', &n)),
            Protocol::Resp2 => Reply::Bulk(n),
        });
    }
    if let Value::Table(v) = t.get::<Value>("verbatim_string")? {
        if let (Value::String(format), Value::String(text)) =
            (v.get::<Value>("format")?, v.get::<Value>("string")?)
        {
            return Ok(verbatim(&format.as_bytes(), &text.as_bytes(), proto));
        }
    }
    if let Value::Table(map) = t.get::<Value>("map")? {
        let mut pairs = Vec::new();
        for pair in map.pairs::<Value, Value>() {
            let (k, v) = pair?;
            pairs.push((
                lua_to_reply(&k, proto, resp3, depth + 1),
                lua_to_reply(&v, proto, resp3, depth + 1),
            ));
        }
        return Ok(Reply::Map(pairs));
    }
    if let Value::Table(set) = t.get::<Value>("set")? {
        let mut items = Vec::new();
        for pair in set.pairs::<Value, Value>() {
            let (k, _) = pair?;
            items.push(lua_to_reply(&k, proto, resp3, depth + 1));
        }
        return Ok(Reply::Set(items));
    }
    let mut items = Vec::new();
    for i in 1.. {
        let v: Value = t.get(i)?;
        if v.is_nil() {
            break;
        }
        items.push(lua_to_reply(&v, proto, resp3, depth + 1));
    }
    Ok(Reply::Array(items))
}

/// A double reply exactly as Redis 7.0's `addReplyDouble` (`%.17g`, `inf`, `-nan`).
fn double_reply(d: f64, proto: Protocol) -> Reply {
    let text = crate::protocol::format_double(d);
    match proto {
        Protocol::Resp3 => Reply::Raw(frame(b',', text.as_bytes())),
        Protocol::Resp2 => Reply::Bulk(Bytes::from(text)),
    }
}

/// `addReplyVerbatim`: the format is padded or cut to three characters.
fn verbatim(format: &[u8], text: &[u8], proto: Protocol) -> Reply {
    if proto == Protocol::Resp2 {
        return Reply::Bulk(Bytes::copy_from_slice(text));
    }
    let mut ext = [b' '; 3];
    for (dst, src) in ext.iter_mut().zip(format.iter().take_while(|&&c| c != 0)) {
        *dst = *src;
    }
    if &ext == b"txt" {
        return Reply::Verbatim(Bytes::copy_from_slice(text));
    }
    let mut out = BytesMut::new();
    out.put_u8(b'=');
    out.put_slice(itoa::Buffer::new().format(text.len() + 4).as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(&ext);
    out.put_u8(b':');
    out.put_slice(text);
    out.put_slice(b"\r\n");
    Reply::Raw(out.freeze())
}

fn frame(kind: u8, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 3);
    out.put_u8(kind);
    out.put_slice(body);
    out.put_slice(b"\r\n");
    out.freeze()
}

/// The 48-bit linear congruential generator of `lrand48` (Redis's `redisLrand48`), so
/// `math.random` yields the same sequence for the same seed on every platform.
pub(super) struct Rand48(u64);

impl Rand48 {
    const MASK: u64 = (1 << 48) - 1;

    /// The generator in its unseeded state (`x = 0x1234ABCD330E`).
    pub(super) fn new() -> Rand48 {
        Rand48(0x1234_ABCD_330E)
    }

    /// `srand48(seed)`.
    pub(super) fn seed(&mut self, seed: i32) {
        self.0 = ((seed as u32 as u64) << 16) | 0x330E;
    }

    /// The next value in `0..2^31`.
    pub(super) fn next(&mut self) -> i32 {
        self.0 = (self.0.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> 17) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_printf_g17() {
        assert_eq!(crate::protocol::format_double(1.5), "1.5");
        assert_eq!(crate::protocol::format_double(0.1), "0.10000000000000001");
        assert_eq!(crate::protocol::format_double(1e20), "1e+20");
        assert_eq!(crate::protocol::format_double(1e16), "10000000000000000");
        assert_eq!(crate::protocol::format_double(1e17), "1e+17");
        assert_eq!(crate::protocol::format_double(-0.5), "-0.5");
        assert_eq!(
            crate::protocol::format_double(1e300),
            "1.0000000000000001e+300"
        );
        assert_eq!(crate::protocol::format_double(0.0001), "0.0001");
        assert_eq!(
            crate::protocol::format_double(0.00001),
            "1.0000000000000001e-05"
        );
        assert_eq!(crate::protocol::format_double(3.0), "3");
        assert_eq!(crate::protocol::format_double(f64::INFINITY), "inf");
        assert_eq!(crate::protocol::format_double(-f64::NAN), "-nan");
    }

    #[test]
    fn casts_like_c() {
        assert_eq!(double_to_ll(3.99), 3);
        assert_eq!(double_to_ll(-3.99), -3);
        assert_eq!(double_to_ll(1e300), i64::MIN);
        assert_eq!(double_to_ll(f64::NAN), i64::MIN);
        assert_eq!(double_to_ll(-TWO_63), i64::MIN);
        assert_eq!(double_to_ll(TWO_63), i64::MIN);
    }

    #[test]
    fn normalises_error_text() {
        assert_eq!(error_text(b"-WRONGTYPE Operation"), b"WRONGTYPE Operation");
        assert_eq!(error_text(b"plain words"), b"ERR plain words");
        assert_eq!(error_text(b"-NOSPACE"), b"ERR NOSPACE");
        assert_eq!(error_text(b"-ERR x\r\n"), b"ERR x");
    }

    #[test]
    fn rand48_matches_libc() {
        let mut r = Rand48::new();
        assert_eq!(r.next(), 851_401_618);
        assert_eq!(r.next(), 1_804_928_587);
    }
}

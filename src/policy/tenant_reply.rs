//! A tenant's replies and pushes with the prefix taken off the key and channel names they carry
//! (KEYS, SCAN, RANDOMKEY, the blocking and multi pops, XREAD/XREADGROUP, pub/sub confirmations
//! and messages, PUBSUB CHANNELS/NUMSUB).
//!
//! Invariant: only names that start with the prefix (or, for patterns, the escaped prefix) are
//! changed; anything else in a reply is left exactly as it was.

use bytes::{Bytes, BytesMut};

use super::tenant_keys::{escaped, is_random_script};
use crate::command::Command;
use crate::protocol::{frame_len, parse_reply, Protocol, Reply};

/// Takes `prefix` off a bulk string that starts with it.
fn strip(prefix: &[u8], r: &mut Reply) {
    if let Reply::Bulk(b) = r {
        if b.starts_with(prefix) {
            *b = b.slice(prefix.len()..);
        }
    }
}

fn items(r: &mut Reply) -> Option<&mut Vec<Reply>> {
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
        _ => None,
    }
}

fn strip_all(prefix: &[u8], r: &mut Reply) {
    if let Some(v) = items(r) {
        v.iter_mut().for_each(|x| strip(prefix, x));
    }
}

/// Un-prefixes the reply to `cmd` (the command as it was rewritten and sent).
pub fn reply(prefix: &[u8], cmd: &Command, r: &mut Reply) {
    let name = &cmd.args[0];
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("keys") {
        strip_all(prefix, r);
    } else if is("scan") {
        if let Some(page) = items(r).and_then(|v| v.get_mut(1)) {
            strip_all(prefix, page);
        }
    } else if is_random_script(cmd) {
        strip(prefix, r);
    } else if [
        "blpop", "brpop", "bzpopmin", "bzpopmax", "lmpop", "zmpop", "blmpop", "bzmpop",
    ]
    .iter()
    .any(|n| is(n))
    {
        if let Some(first) = items(r).and_then(|v| v.first_mut()) {
            strip(prefix, first);
        }
    } else if is("xread") || is("xreadgroup") {
        match r {
            Reply::Map(pairs) => pairs.iter_mut().for_each(|(k, _)| strip(prefix, k)),
            _ => {
                if let Some(streams) = items(r) {
                    for s in streams {
                        if let Some(n) = items(s).and_then(|v| v.first_mut()) {
                            strip(prefix, n);
                        }
                    }
                }
            }
        }
    } else if is("pubsub") {
        if cmd.arg_is(1, "channels") || cmd.arg_is(1, "shardchannels") {
            strip_all(prefix, r);
        } else if let Reply::Map(pairs) = r {
            pairs.iter_mut().for_each(|(k, _)| strip(prefix, k));
        } else if let Some(v) = items(r) {
            v.iter_mut().step_by(2).for_each(|x| strip(prefix, x));
        }
    } else if let Reply::Raw(frames) = r {
        // The embedded store answers (un)subscribe with the confirmation frames, encoded.
        if let Some(rewritten) = rewrite_frames(prefix, frames) {
            *frames = rewritten;
        }
    } else {
        push(prefix, r);
    }
}

/// Un-prefixes each frame of `frames`, keeping each frame's protocol; None if unparsable.
fn rewrite_frames(prefix: &[u8], frames: &Bytes) -> Option<Bytes> {
    let mut rest = frames.clone();
    let mut out = BytesMut::with_capacity(frames.len());
    while !rest.is_empty() {
        let len = frame_len(&rest, 8).ok()??;
        let frame = rest.split_to(len);
        let protocol = if frame.first() == Some(&b'>') {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let mut r = parse_reply(&frame)?;
        push(prefix, &mut r);
        r.encode(protocol, &mut out);
    }
    Some(out.freeze())
}

/// Un-prefixes a pub/sub push: a message, or a (un)subscribe confirmation.
pub fn push(prefix: &[u8], r: &mut Reply) {
    let Some(v) = items(r) else {
        return;
    };
    let Some(Reply::Bulk(kind)) = v.first() else {
        return;
    };
    let kind = kind.to_ascii_lowercase();
    let strip_pattern = |x: &mut Reply| strip(&escaped(prefix), x);
    match (kind.as_slice(), v.len()) {
        (b"message" | b"smessage", 3) => strip(prefix, &mut v[1]),
        (b"pmessage", 4) => {
            strip_pattern(&mut v[1]);
            strip(prefix, &mut v[2]);
        }
        (b"subscribe" | b"unsubscribe" | b"ssubscribe" | b"sunsubscribe", 3) => {
            strip(prefix, &mut v[1])
        }
        (b"psubscribe" | b"punsubscribe", 3) => strip_pattern(&mut v[1]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulks(items: &[&str]) -> Vec<Reply> {
        items.iter().map(|s| Reply::bulk(s.to_string())).collect()
    }

    #[test]
    fn strips_keys_from_replies() {
        let cmd = Command::from_strs(&["KEYS", "t:*"]);
        let mut r = Reply::Array(bulks(&["t:a", "t:b"]));
        reply(b"t:", &cmd, &mut r);
        assert_eq!(r, Reply::Array(bulks(&["a", "b"])));
        let cmd = Command::from_strs(&["XREAD", "STREAMS", "t:s", "0"]);
        let mut r = Reply::Map(vec![(Reply::bulk("t:s"), Reply::Array(vec![]))]);
        reply(b"t:", &cmd, &mut r);
        assert_eq!(
            r,
            Reply::Map(vec![(Reply::bulk("s"), Reply::Array(vec![]))])
        );
    }

    #[test]
    fn strips_channels_from_pushes_and_confirmation_frames() {
        let mut m = Reply::Push(bulks(&["pmessage", "t\\*:c*", "t*:ch", "hi"]));
        push(b"t*:", &mut m);
        assert_eq!(m, Reply::Push(bulks(&["pmessage", "c*", "ch", "hi"])));
        let mut frames = BytesMut::new();
        for ch in ["t:a", "t:b"] {
            Reply::Push(vec![
                Reply::bulk("subscribe"),
                Reply::bulk(ch),
                Reply::Int(1),
            ])
            .encode(Protocol::Resp3, &mut frames);
        }
        let mut r = Reply::Raw(frames.freeze());
        reply(
            b"t:",
            &Command::from_strs(&["SUBSCRIBE", "t:a", "t:b"]),
            &mut r,
        );
        let Reply::Raw(out) = r else { panic!() };
        assert_eq!(
            &out[..],
            b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:1\r\n"
        );
    }
}

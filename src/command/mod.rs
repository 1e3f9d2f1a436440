//! A client's command: its arguments as `Bytes` slices of the read buffer, plus the raw frame
//! they came from so an untouched command is forwarded byte for byte.

pub mod keys;
pub mod secrets;

use bytes::{BufMut, Bytes, BytesMut};

/// One request. Invariant: `args` is never empty (`args[0]` is the command name), and `raw`,
/// when present, is exactly the RESP encoding of `args`.
#[derive(Clone, Debug)]
pub struct Command {
    pub args: Vec<Bytes>,
    raw: Option<Bytes>,
}

impl Command {
    /// A command built from arguments (inline requests, commands the sidecar makes itself).
    pub fn new(args: Vec<Bytes>) -> Command {
        debug_assert!(!args.is_empty());
        Command { args, raw: None }
    }

    /// A command parsed from `raw`, which must be the RESP encoding of `args`.
    pub fn with_raw(args: Vec<Bytes>, raw: Bytes) -> Command {
        Command {
            args,
            raw: Some(raw),
        }
    }

    /// A command from string literals, for tests and commands the sidecar sends itself.
    pub fn from_strs(args: &[&str]) -> Command {
        Command::new(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    pub fn name(&self) -> &[u8] {
        &self.args[0]
    }

    /// Whether this is the command `name` (ASCII case-insensitive; no allocation).
    pub fn is(&self, name: &str) -> bool {
        self.args[0].eq_ignore_ascii_case(name.as_bytes())
    }

    /// Whether the server may hold this command's reply back for as long as the client asked:
    /// Redis's blocking commands, and XREAD/XREADGROUP with BLOCK. (`upstream/routing.rs`
    /// matches the same set on its own, lowercased, hot path.)
    pub fn may_block(&self) -> bool {
        let mut lower = [0u8; 16];
        match lowercase_into(self.name(), &mut lower) {
            Some(
                b"blpop" | b"brpop" | b"blmove" | b"brpoplpush" | b"blmpop" | b"bzpopmin"
                | b"bzpopmax" | b"bzmpop" | b"wait" | b"waitaof",
            ) => true,
            Some(b"xread" | b"xreadgroup") => self
                .args
                .iter()
                .skip(1)
                .any(|a| a.eq_ignore_ascii_case(b"block")),
            _ => false,
        }
    }

    /// Whether argument `i` exists and equals `word`, ignoring ASCII case.
    pub fn arg_is(&self, i: usize, word: &str) -> bool {
        self.args
            .get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    }

    /// A way back to this command as it is now, should a policy rewrite it: for a command that
    /// arrived as one frame, that frame (nothing is copied); otherwise a copy.
    pub fn snapshot(&self) -> Snapshot {
        match &self.raw {
            Some(raw) => Snapshot::Frame(raw.clone()),
            None => Snapshot::Copy(Box::new(self.clone())),
        }
    }

    /// Mutable access to the arguments; the raw frame is dropped since it no longer matches.
    pub fn args_mut(&mut self) -> &mut Vec<Bytes> {
        self.raw = None;
        &mut self.args
    }

    /// Size of the request on the wire (the raw frame, or its re-encoding).
    pub fn wire_len(&self) -> usize {
        match &self.raw {
            Some(raw) => raw.len(),
            None => self.args.iter().map(|a| a.len() + 16).sum::<usize>() + 16,
        }
    }

    /// Appends the RESP encoding of this command to `out` (the raw bytes when unchanged).
    pub fn encode(&self, out: &mut BytesMut) {
        match &self.raw {
            Some(raw) => out.extend_from_slice(raw),
            None => encode_args(&self.args, out),
        }
    }

    /// The lowercase command name, for metrics and logs (allocates; not for the hot path).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.args[0]).to_ascii_lowercase()
    }
}

/// A command as it was before policies ran ([`Command::snapshot`]).
pub enum Snapshot {
    /// The frame it arrived in. Invariant: a command keeps its frame (`raw`) until it is
    /// changed ([`Command::args_mut`] drops it), so a command that still has one is unchanged.
    Frame(Bytes),
    Copy(Box<Command>),
}

impl Snapshot {
    /// The command as it was, if `now` is no longer it.
    pub fn original(self, now: &Command) -> Option<Command> {
        match self {
            Snapshot::Frame(_) if now.raw.is_some() => None,
            Snapshot::Frame(frame) => crate::protocol::request::reparse(&frame),
            Snapshot::Copy(copy) => (copy.args != now.args).then_some(*copy),
        }
    }
}

/// `name` in ASCII lowercase, written into `buf` (no allocation); None if it does not fit, which
/// for command names means an unknown command.
pub fn lowercase_into<'a, const N: usize>(name: &[u8], buf: &'a mut [u8; N]) -> Option<&'a [u8]> {
    let out = buf.get_mut(..name.len())?;
    for (dst, src) in out.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    Some(out)
}

/// A name of 1 to 15 bytes as one number, for one-entry caches of the last command name: its
/// bytes in the low 15 bytes, its length in the top byte (so names that differ only by trailing
/// zero bytes differ). 0 for any other name (not to be cached). Exact bytes: `GET` and `get`
/// differ. Built from at most two overlapping word loads, not a loop over the bytes.
#[inline]
pub fn packed_name(name: &[u8]) -> u128 {
    let len = name.len();
    let word = |at: usize| u64::from_le_bytes(name[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| {
        u64::from(u32::from_le_bytes(
            name[at..at + 4].try_into().expect("4 bytes"),
        ))
    };
    let (lo, hi) = match len {
        // The second load overlaps the first: shifting out the overlap leaves bytes 8.. (4..).
        8..=15 => (
            word(0),
            word(len - 8)
                .checked_shr(8 * (16 - len) as u32)
                .unwrap_or(0),
        ),
        4..=7 => (half(0) | (half(len - 4) >> (8 * (8 - len))) << 32, 0),
        1..=3 => {
            let b = |i: usize| u64::from(name[i]);
            (b(0) | b(1.min(len - 1)) << 8 | b(len - 1) << 16, 0)
        }
        _ => return 0,
    };
    let hi = hi | (len as u64) << 56;
    u128::from(hi) << 64 | u128::from(lo)
}

/// Encodes `args` as a RESP array of bulk strings.
pub fn encode_args<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    let mut num = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(num.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.reserve(arg.len() + 16);
        out.put_u8(b'$');
        out.put_slice(num.format(arg.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_gives_back_the_command_only_once_it_changed() {
        use crate::protocol::request::{Limits, RequestParser};
        let mut buf = BytesMut::from(&b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"[..]);
        let parse = |buf: &mut BytesMut| {
            RequestParser::default()
                .next(buf, &Limits::default())
                .unwrap()
                .unwrap()
        };
        let mut cmd = parse(&mut buf);
        assert!(cmd.snapshot().original(&cmd).is_none(), "unchanged");
        let before = cmd.snapshot();
        cmd.args_mut()[2] = Bytes::from_static(b"rewritten");
        let original = before.original(&cmd).expect("changed");
        assert_eq!(original.args, Command::from_strs(&["SET", "k", "v"]).args);
        let mut inline = parse(&mut BytesMut::from(&b"GET k\r\n"[..]));
        assert!(inline.snapshot().original(&inline).is_none());
        let before = inline.snapshot();
        inline.args_mut()[1] = Bytes::from_static(b"ws:1:k");
        assert_eq!(before.original(&inline).unwrap().args[1], "k");
    }

    #[test]
    fn encodes_args_as_resp() {
        let mut out = BytesMut::new();
        Command::from_strs(&["SET", "k", "v"]).encode(&mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn packed_names_differ_as_the_names_do() {
        let names: &[&[u8]] = &[
            b"a",
            b"a\0",
            b"\0a",
            b"A",
            b"get",
            b"GET",
            b"gets",
            b"abcdefghijklmno",
        ];
        for (i, a) in names.iter().enumerate() {
            assert_ne!(packed_name(a), 0);
            for b in &names[i + 1..] {
                assert_ne!(packed_name(a), packed_name(b));
            }
        }
        // From 3 bytes on, the packing is the bytes themselves (shorter names repeat bytes).
        for len in 3..=15 {
            let name: Vec<u8> = (1..=len as u8).collect();
            let packed = packed_name(&name);
            let mut bytes = [0u8; 16];
            bytes[..len].copy_from_slice(&name);
            bytes[15] = len as u8;
            assert_eq!(packed, u128::from_le_bytes(bytes), "{len} bytes");
        }
        assert_eq!(packed_name(b""), 0);
        assert_eq!(packed_name(b"abcdefghijklmnop"), 0);
    }

    #[test]
    fn matches_names_case_insensitively() {
        let cmd = Command::from_strs(&["get", "k"]);
        assert!(cmd.is("GET") && !cmd.is("GETEX"));
        assert!(cmd.arg_is(1, "K"));
    }
}

//! The stored form of a compressed value: `\xffRSC`, one algorithm byte, the original length as
//! a LEB128 varint, then the compressed bytes.
//!
//! Invariants: [`restore`] returns the original bytes only for a value that decodes completely
//! to exactly the length its header states (at most [`MAX_ORIGINAL`]); anything else, including
//! data that merely starts with the magic, is not a compressed value and passes untouched. The
//! policy wraps every value that starts with the magic, whatever its size, so no stored value
//! can be mistaken for a compressed one.

use bytes::Bytes;

/// The first bytes of every compressed value. `\xff` never starts UTF-8 text or JSON.
pub const MAGIC: &[u8; 4] = b"\xffRSC";
/// The largest original a header may claim (Redis's own limit on a string).
pub const MAX_ORIGINAL: u64 = 512 * 1024 * 1024;

/// A compression algorithm, with its byte in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Zstd = 1,
    Lz4 = 2,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name.to_ascii_lowercase().as_str() {
            "zstd" => Some(Algorithm::Zstd),
            "lz4" => Some(Algorithm::Lz4),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Zstd => "zstd",
            Algorithm::Lz4 => "lz4",
        }
    }
}

thread_local! {
    /// The thread's zstd contexts and the level its compressor is set to: creating a context
    /// per value cost about 5% of a 100 KB SET (perf), and a context is reusable.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>, zstd::bulk::Decompressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with the thread's zstd contexts, the compressor set to `level`.
fn with_zstd<T>(
    level: i32,
    f: impl FnOnce(&mut zstd::bulk::Compressor<'static>, &mut zstd::bulk::Decompressor<'static>) -> T,
) -> std::io::Result<T> {
    ZSTD.with_borrow_mut(|slot| {
        if slot.is_none() {
            let compressor = zstd::bulk::Compressor::new(level)?;
            *slot = Some((level, compressor, zstd::bulk::Decompressor::new()?));
        }
        let (set, compressor, decompressor) = slot.as_mut().expect("set above");
        if *set != level {
            compressor.set_compression_level(level)?;
            *set = level;
        }
        Ok(f(compressor, decompressor))
    })
}

/// `value` in its stored form: header, then the compressed bytes (zstd at `level`).
pub fn compress(algorithm: Algorithm, level: i32, value: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(value.len() / 3 + 16);
    out.extend_from_slice(MAGIC);
    out.push(algorithm as u8);
    let mut n = value.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    match algorithm {
        Algorithm::Zstd => {
            let bound = zstd::zstd_safe::compress_bound(value.len());
            let start = out.len();
            out.resize(start + bound, 0);
            let written = with_zstd(level, |c, _| c.compress_to_buffer(value, &mut out[start..]))
                .and_then(|written| written)
                .expect("the buffer holds zstd's bound");
            out.truncate(start + written);
        }
        Algorithm::Lz4 => {
            let start = out.len();
            out.resize(
                start + lz4_flex::block::get_maximum_output_size(value.len()),
                0,
            );
            let written = lz4_flex::block::compress_into(value, &mut out[start..])
                .expect("the buffer holds lz4's bound");
            out.truncate(start + written);
        }
    }
    Bytes::from(out)
}

/// The header of a stored value: its algorithm, original length and where the payload starts.
pub fn header(value: &[u8]) -> Option<(Algorithm, u64, usize)> {
    let rest = value.strip_prefix(MAGIC)?;
    let algorithm = match rest.first()? {
        1 => Algorithm::Zstd,
        2 => Algorithm::Lz4,
        _ => return None,
    };
    let mut len: u64 = 0;
    for (i, byte) in rest[1..].iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (len <= MAX_ORIGINAL).then_some((algorithm, len, MAGIC.len() + 2 + i));
        }
    }
    None
}

/// Whether `value` might be a compressed value (cheap: the magic only).
pub fn looks_compressed(value: &[u8]) -> bool {
    value.starts_with(MAGIC)
}

/// The original of a stored compressed value; None if `value` is not one (see the module doc).
pub fn restore(value: &[u8]) -> Option<Vec<u8>> {
    let (algorithm, len, start) = header(value)?;
    let payload = &value[start..];
    let original = match algorithm {
        Algorithm::Zstd => {
            // The level does not matter for restoring; keep whatever the thread has.
            let level = ZSTD.with_borrow(|slot| slot.as_ref().map_or(1, |(level, ..)| *level));
            with_zstd(level, |_, d| d.decompress(payload, len as usize))
                .and_then(|restored| restored)
                .ok()?
        }
        Algorithm::Lz4 => lz4_flex::block::decompress(payload, len as usize).ok()?,
    };
    (original.len() as u64 == len).then_some(original)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_both_algorithms() {
        let value = br#"{"state":"running","step":3,"nodes":["a","b","c"]}"#.repeat(100);
        for algorithm in [Algorithm::Zstd, Algorithm::Lz4] {
            let stored = compress(algorithm, 3, &value);
            assert!(stored.len() < value.len() / 3, "{algorithm:?}");
            assert_eq!(header(&stored).unwrap().1, value.len() as u64);
            assert_eq!(restore(&stored).unwrap(), value);
        }
    }

    #[test]
    fn what_does_not_decode_is_not_compressed() {
        assert_eq!(restore(b"plain"), None);
        assert_eq!(restore(b"\xffRSC"), None);
        assert_eq!(restore(b"\xffRSC\x01\x05garbage"), None);
        let mut stored = compress(Algorithm::Zstd, 3, &[7u8; 4000]).to_vec();
        stored[5] ^= 1; // the stated length no longer matches
        assert_eq!(restore(&stored), None);
        // A header claiming more than Redis allows is refused before any allocation.
        assert_eq!(header(b"\xffRSC\x01\xff\xff\xff\xff\x7f"), None);
    }
}

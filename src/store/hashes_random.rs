//! HRANDFIELD and HSCAN, plus the HSCAN/SSCAN argument parsing both share.

use bytes::Bytes;
use rand::Rng;

use super::args::{self, syntax};
use super::hashes::hash;
use super::table::Spec;
use super::value::Hash;
use super::{glob, scan, Ctx};
use crate::protocol::{Protocol, Reply};

pub(super) const COMMANDS: &[Spec] = &[
    Spec::new("hrandfield", -2, 0, hrandfield),
    Spec::new("hscan", -3, 0, hscan),
];

/// The most elements a random-with-repeats reply (negative count) may hold. Redis would stream
/// any number into its output buffer; a reply here is built in memory first, so a count past
/// this is refused instead of exhausting memory.
pub(super) const MAX_RANDOM_REPLY: u64 = 1 << 22;

/// The error for a negative count past [`MAX_RANDOM_REPLY`].
pub(super) fn too_many() -> Reply {
    args::err("ERR count is too large for the embedded store")
}

/// Parses a count as Redis's `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`.
pub(super) fn random_count(arg: &[u8]) -> Result<i64, Reply> {
    match args::int(arg)? {
        i64::MIN => Err(args::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n => Ok(n),
    }
}

/// The MATCH and COUNT options of HSCAN/SSCAN (from `argv[3..]`).
pub(super) struct ScanOpts {
    /// The MATCH pattern; None for no filter (or `*`).
    pub pattern: Option<Bytes>,
    /// The COUNT hint, at least 1 (default 10).
    pub count: usize,
}

impl ScanOpts {
    /// Parses the options as Redis's `scanGenericCommand` (COUNT < 1 is a syntax error).
    pub(super) fn parse(argv: &[Bytes]) -> Result<ScanOpts, Reply> {
        let mut opts = ScanOpts {
            pattern: None,
            count: 10,
        };
        let mut i = 3;
        while i < argv.len() {
            let has_value = i + 1 < argv.len();
            if args::is(&argv[i], "count") && has_value {
                let n = args::int(&argv[i + 1])?;
                if n < 1 {
                    return Err(syntax());
                }
                opts.count = usize::try_from(n).unwrap_or(usize::MAX);
            } else if args::is(&argv[i], "match") && has_value {
                let pattern = argv[i + 1].clone();
                opts.pattern = (pattern.as_ref() != b"*").then_some(pattern);
            } else {
                return Err(syntax());
            }
            i += 2;
        }
        Ok(opts)
    }

    /// Whether `item` passes MATCH.
    pub(super) fn keeps(&self, item: &[u8]) -> bool {
        self.pattern.as_ref().is_none_or(|p| glob::matches(p, item))
    }
}

/// The `[cursor, [elements]]` reply of the *SCAN commands.
pub(super) fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

/// Whether Redis 7.0 would hold this hash as a listpack (at most 128 fields, every field and
/// value at most 64 bytes): those are scanned whole in one call.
fn is_listpack(h: &Hash) -> bool {
    h.len() <= 128 && h.iter().all(|(f, v)| f.len() <= 64 && v.len() <= 64)
}

fn hscan(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let cursor = scan::parse_cursor(&argv[2])?;
    let Some(h) = hash(ctx, &argv[1])? else {
        return Ok(scan_reply(0, vec![]));
    };
    let opts = ScanOpts::parse(argv)?;
    let (next, fields): (u64, Vec<(&Bytes, &Bytes)>) = if is_listpack(h) {
        (0, h.iter().collect())
    } else {
        scan::page(
            h.iter().map(|(f, v)| (f.as_ref(), (f, v))),
            cursor,
            opts.count,
        )
    };
    let mut items = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields.into_iter().filter(|(f, _)| opts.keeps(f)) {
        items.push(Reply::Bulk(f.clone()));
        items.push(Reply::Bulk(v.clone()));
    }
    Ok(scan_reply(next, items))
}

fn hrandfield(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    if argv.len() == 2 {
        let Some(h) = hash(ctx, &argv[1])? else {
            return Ok(Reply::Nil);
        };
        let i = rand::thread_rng().gen_range(0..h.len());
        return Ok(h
            .get_index(i)
            .map_or(Reply::Nil, |(f, _)| Reply::Bulk(f.clone())));
    }
    let count = random_count(&argv[2])?;
    if argv.len() > 4 || (argv.len() == 4 && !args::is(&argv[3], "withvalues")) {
        return Err(syntax());
    }
    let withvalues = argv.len() == 4;
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(args::err("ERR value is out of range"));
    }
    let resp3 = ctx.client.protocol == Protocol::Resp3;
    let Some(h) = hash(ctx, &argv[1])? else {
        return Ok(Reply::Array(vec![]));
    };
    let pair = |(f, v): (&Bytes, &Bytes), out: &mut Vec<Reply>| {
        if !withvalues {
            out.push(Reply::Bulk(f.clone()));
        } else if resp3 {
            out.push(Reply::Array(vec![
                Reply::Bulk(f.clone()),
                Reply::Bulk(v.clone()),
            ]));
        } else {
            out.push(Reply::Bulk(f.clone()));
            out.push(Reply::Bulk(v.clone()));
        }
    };
    let mut out = Vec::new();
    let mut rng = rand::thread_rng();
    let wanted = count.unsigned_abs();
    if count < 0 || count == 1 {
        if wanted > MAX_RANDOM_REPLY {
            return Err(too_many());
        }
        for _ in 0..wanted {
            if let Some(entry) = h.get_index(rng.gen_range(0..h.len())) {
                pair(entry, &mut out);
            }
        }
    } else if wanted >= h.len() as u64 {
        h.iter().for_each(|entry| pair(entry, &mut out));
    } else {
        for i in rand::seq::index::sample(&mut rng, h.len(), wanted as usize) {
            if let Some(entry) = h.get_index(i) {
                pair(entry, &mut out);
            }
        }
    }
    Ok(Reply::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cursors_like_strtoul() {
        assert_eq!(scan::parse_cursor(b"0").ok(), Some(0));
        assert_eq!(scan::parse_cursor(b"").ok(), Some(0));
        assert_eq!(scan::parse_cursor(b"+7").ok(), Some(7));
        assert_eq!(scan::parse_cursor(b"-1").ok(), Some(u64::MAX));
        for bad in ["x", "-", " 1", "1 ", "18446744073709551616"] {
            assert!(scan::parse_cursor(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

//! XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM: the stream data commands.

use bytes::Bytes;

use super::args::{self, err, is, owned, wrongtype};
use super::stream::{entry_reply, Strategy, Stream, StreamId, Trim};
use super::stream_id::{self, parse_bound, parse_strict};
use super::{Ctx, Value};
use crate::protocol::Reply;

/// The stream at `key`: None when missing, WRONGTYPE when it holds another type.
pub fn stream_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Reply> {
    let now = ctx.now;
    match ctx.db().get(key, now) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(wrongtype()),
    }
}

/// XADD's and XTRIM's options, parsed as Redis's `streamParseAddOrTrimArgsOrReply`.
struct AddTrimArgs {
    trim: Option<Trim>,
    nomkstream: bool,
    /// XADD's explicit id and whether its sequence was given (`ms-*` leaves it out).
    id: Option<(StreamId, bool)>,
    /// Where XADD's id (or `*`) is.
    idpos: usize,
}

fn parse_add_trim(argv: &[Bytes], xadd: bool) -> Result<AddTrimArgs, Reply> {
    let mut out = AddTrimArgs {
        trim: None,
        nomkstream: false,
        id: None,
        idpos: argv.len(),
    };
    let (mut strategy, mut approx, mut limit) = (None, false, None::<i64>);
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible"));
            }
            approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && (next == b"~" || next == b"=") {
                approx = next == b"~";
                i += 1;
            }
            let value = &argv[i + 1];
            strategy = Some(if is(opt, "maxlen") {
                let max = args::int(value)?;
                if max < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Strategy::MaxLen(max as u64)
            } else {
                Strategy::MinId(parse_strict(value)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = args::int(&argv[i + 1])?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            out.nomkstream = true;
        } else if xadd {
            out.id = Some(stream_id::parse(opt, 0, true, true)?);
            break;
        } else {
            return Err(args::syntax());
        }
        i += 1;
    }
    out.idpos = i;
    if limit.is_some_and(|n| n != 0) && strategy.is_none() {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit.is_some() && !approx {
        return Err(err(
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    let Some(strategy) = strategy else {
        return Ok(out);
    };
    let limit = match limit {
        Some(n) => n as u64,
        None if approx => 10_000,
        None => 0,
    };
    out.trim = Some(Trim {
        strategy,
        approx,
        limit,
    });
    Ok(out)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] n [LIMIT c]] id|* field value ....
pub fn xadd(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let parsed = parse_add_trim(argv, true)?;
    let fields_at = parsed.idpos + 1;
    let n = argv.len().saturating_sub(fields_at);
    if fields_at > argv.len() || n < 2 || n % 2 == 1 {
        return Err(args::wrong_arity(&argv[0]));
    }
    if let Some((StreamId::MIN, true)) = parsed.id {
        return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let key = &argv[1];
    let created = match stream_mut(ctx, key)? {
        Some(_) => false,
        None if parsed.nomkstream => return Ok(Reply::Nil),
        None => {
            ctx.db()
                .set(owned(key), Value::Stream(Box::default()), None);
            true
        }
    };
    let now = ctx.now;
    let result = match stream_mut(ctx, key)? {
        Some(s) => add_to(s, &parsed, &argv[fields_at..], now),
        None => Err(wrongtype()),
    };
    let id = match result {
        Ok(id) => id,
        Err(e) => {
            if created {
                ctx.db().remove(key);
            }
            return Err(e);
        }
    };
    ctx.touch(key);
    ctx.key_ready(key);
    Ok(id.reply())
}

/// Appends to `s` and trims; the new id.
fn add_to(
    s: &mut Stream,
    parsed: &AddTrimArgs,
    pairs: &[Bytes],
    now: u64,
) -> Result<StreamId, Reply> {
    if s.last_id == StreamId::MAX {
        return Err(err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match parsed.id {
        Some((id, true)) => id,
        Some((id, false)) if id.ms == s.last_id.ms => match s.last_id.incr() {
            Some(next) if s.last_id.seq != u64::MAX => next,
            // Redis fails here without setting errno, so it answers with its other error.
            _ => return Err(err("ERR Elements are too large to be stored")),
        },
        Some((id, false)) => id,
        None if now > s.last_id.ms => StreamId { ms: now, seq: 0 },
        None => s.last_id.incr().unwrap_or(StreamId::MAX),
    };
    if id <= s.last_id {
        return Err(err(TOO_SMALL));
    }
    let fields = pairs
        .chunks_exact(2)
        .map(|p| (owned(&p[0]), owned(&p[1])))
        .collect();
    s.append(id, fields);
    if let Some(trim) = &parsed.trim {
        s.trim(trim);
    }
    Ok(id)
}

const TOO_SMALL: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

/// XLEN key.
pub fn xlen(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    Ok(Reply::Int(
        stream_mut(ctx, &argv[1])?.map_or(0, |s| s.len() as i64),
    ))
}

/// XRANGE key start end [COUNT n].
pub fn xrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    range(ctx, argv, false)
}

/// XREVRANGE key end start [COUNT n].
pub fn xrevrange(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    range(ctx, argv, true)
}

fn range(ctx: &mut Ctx, argv: &[Bytes], rev: bool) -> Result<Reply, Reply> {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = parse_bound(start_arg, true)?;
    let end = parse_bound(end_arg, false)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = args::int(&argv[j + 1])?.max(0);
            j += 2;
        } else {
            return Err(args::syntax());
        }
    }
    let Some(s) = stream_mut(ctx, &argv[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == 0 {
        return Ok(Reply::NilArray);
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    if start > end {
        return Ok(Reply::Array(Vec::new()));
    }
    let iter = s.entries.range(start..=end);
    let items: Vec<Reply> = if rev {
        iter.rev()
            .take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    } else {
        iter.take(limit)
            .map(|(id, f)| entry_reply(*id, f))
            .collect()
    };
    Ok(Reply::Array(items))
}

/// XDEL key id ...: entries removed; the key stays even when emptied, as in Redis.
pub fn xdel(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let key = &argv[1];
    if stream_mut(ctx, key)?.is_none() {
        return Ok(Reply::Int(0));
    }
    let ids = argv[2..]
        .iter()
        .map(|a| parse_strict(a))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(s) = stream_mut(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let mut deleted = 0;
    let mut first = false;
    for id in ids {
        if s.remove(id) {
            first |= id == s.first_id;
            s.max_deleted_id = s.max_deleted_id.max(id);
            deleted += 1;
        }
    }
    if deleted > 0 {
        if s.is_empty() || first {
            s.refresh_first_id();
        }
        ctx.touch(key);
    }
    Ok(Reply::Int(deleted))
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT c].
pub fn xtrim(ctx: &mut Ctx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let parsed = parse_add_trim(argv, false)?;
    let key = &argv[1];
    let Some(s) = stream_mut(ctx, key)? else {
        return Ok(Reply::Int(0));
    };
    let removed = parsed.trim.as_ref().map_or(0, |t| s.trim(t));
    if removed > 0 {
        ctx.touch(key);
    }
    Ok(Reply::Int(removed as i64))
}

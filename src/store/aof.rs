//! Persistence of the store when it is the primary (no upstream): an append-only file kept by the
//! same [`Journal`] the failover uses, loaded at start and compacted as it grows.
//!
//! - Writes are logged by effect, like the failover journal ([`entries`]: relative TTLs become
//!   absolute, pops become removals), and generated stream ids are pinned, so loading the file
//!   rebuilds what clients were told.
//! - Loading ([`open`]): a torn last entry (a crash mid-write) is cut off with a warning, as is a
//!   transaction left without its EXEC; anything else unreadable stops the start with an error
//!   naming the file and offset, so no data is silently dropped.
//! - Compaction ([`rewrite`]): the keyspace is dumped as commands under the store's lock, written
//!   to a temporary file and fsynced outside it, then the entries appended meanwhile are added and
//!   the file renamed over the old one. [`auto_rewrite`] triggers it when the file has doubled
//!   since the last rewrite (or start) and passed a minimum size, like Redis's
//!   `auto-aof-rewrite-percentage 100` / `auto-aof-rewrite-min-size`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use super::{now_ms, Session, Store};
use crate::command::Command;
use crate::failover::journal::{Fsync, Options};
use crate::failover::Journal;
use crate::protocol::{Limits, Reply, RequestParser};

/// Why the append-only file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AofError {
    #[error(transparent)]
    Open(#[from] crate::failover::journal::JournalError),
    #[error("append-only file {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("append-only file {file} is corrupt at byte {offset}: {reason}; move it aside or truncate it there to start")]
    Corrupt {
        file: String,
        offset: u64,
        reason: String,
    },
}

/// Bytes read from the file at a time while loading.
const READ_CHUNK: usize = 1024 * 1024;
/// Commands executed per lock while loading.
const LOAD_BATCH: usize = 1024;

/// Opens the append-only file in `dir` (creating it), loads it into `store`, and attaches it so
/// the store's writes are appended. The caller spawns [`Journal::run_writer`].
pub fn open(store: &Store, dir: &Path, fsync: Fsync) -> Result<Arc<Journal>, AofError> {
    let options = Options::aof(fsync);
    let path = dir.join(options.file);
    let io = |source| AofError::Io {
        file: path.display().to_string(),
        source,
    };
    let started = Instant::now();
    if path.exists() {
        let (commands, valid) = load(store, &path)?;
        let length = std::fs::metadata(&path).map_err(io)?.len();
        if valid < length {
            tracing::warn!(file = %path.display(), kept = valid, dropped = length - valid, "append-only file ends in a torn entry or an unfinished transaction; cut it off");
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io)?;
            file.set_len(valid).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        tracing::info!(file = %path.display(), commands, bytes = valid, ms = started.elapsed().as_millis() as u64, "append-only file loaded");
    }
    let journal = Journal::open_with(dir, options)?;
    store.with_state(|state| state.journal = Some(journal.clone()));
    Ok(journal)
}

/// Executes the file's commands in `store`; returns how many, and the offset just past the last
/// one that belongs in the file (before a torn entry or an unfinished MULTI).
fn load(store: &Store, path: &Path) -> Result<(u64, u64), AofError> {
    let file_name = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|source| AofError::Io {
        file: file_name.clone(),
        source,
    })?;
    let mut session = Session::new(store.client());
    let mut parser = RequestParser::default();
    let limits = Limits {
        max_request_bytes: usize::MAX / 2,
        ..Limits::default()
    };
    let mut buf = BytesMut::new();
    let (mut offset, mut valid, mut commands) = (0u64, 0u64, 0u64);
    let mut in_multi = false;
    let mut batch: Vec<Command> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut chunk).map_err(|source| AofError::Io {
            file: file_name.clone(),
            source,
        })?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let before = buf.len();
            match parser.next(&mut buf, &limits) {
                Ok(Some(cmd)) => {
                    offset += (before - buf.len()) as u64;
                    commands += 1;
                    if cmd.is("multi") {
                        in_multi = true;
                    } else if cmd.is("exec") || cmd.is("discard") {
                        in_multi = false;
                    }
                    batch.push(cmd);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(AofError::Corrupt {
                        file: file_name,
                        offset,
                        reason: e.to_string(),
                    })
                }
            }
            if batch.len() >= LOAD_BATCH {
                store.load_with(&mut session, &batch);
                batch.clear();
            }
            if !in_multi {
                valid = offset;
            }
        }
    }
    store.load_with(&mut session, &batch);
    // A transaction without its EXEC never happened: discard it (closing the session does).
    session.close(store);
    Ok((commands, valid))
}

/// The AOF entries for `argv`, which changed data and answered `reply` at `now`: the failover's
/// replay rewrites, with the ids XADD generated pinned (`*` becomes the id the client got).
pub fn entries(argv: &[Bytes], reply: &Reply, now: u64) -> Vec<Vec<Bytes>> {
    let mut entries = crate::failover::rewrite::for_replay(argv, reply, now);
    if argv[0].eq_ignore_ascii_case(b"xadd") {
        if let (Some(entry), Reply::Bulk(id)) = (entries.first_mut(), reply) {
            pin_xadd_id(entry, id);
        }
    }
    entries
}

/// Replaces the id argument of `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT n]] id`.
fn pin_xadd_id(entry: &mut [Bytes], id: &Bytes) {
    let mut i = 2;
    while i < entry.len() {
        let arg = &entry[i];
        if arg.eq_ignore_ascii_case(b"nomkstream") {
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"maxlen") || arg.eq_ignore_ascii_case(b"minid") {
            i += 1;
            if entry
                .get(i)
                .is_some_and(|a| &a[..] == b"=" || &a[..] == b"~")
            {
                i += 1;
            }
            i += 1;
        } else if arg.eq_ignore_ascii_case(b"limit") {
            i += 2;
        } else {
            entry[i] = id.clone();
            return;
        }
    }
}

/// Compacts the file: dumps the keyspace, writes and fsyncs it, then swaps it in with the
/// entries appended meanwhile. Blocking (run it on a blocking thread). Returns the sizes before
/// and after.
pub fn rewrite(store: &Store, journal: &Journal) -> std::io::Result<(u64, u64)> {
    let before = journal.len();
    let started = Instant::now();
    let snapshot = store.with_state(|state| {
        let mut out = BytesMut::new();
        super::dump::keyspace(state, now_ms(), &mut out);
        journal.begin_rewrite();
        out
    });
    let locked_ms = started.elapsed().as_millis() as u64;
    let tmp = journal.path().with_extension("aof.rewrite");
    let written = (|| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&snapshot)?;
        file.sync_all()
    })();
    drop(snapshot);
    if let Err(e) = written {
        journal.abort_rewrite();
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    let after = journal.finish_rewrite(&tmp)?;
    tracing::info!(file = %journal.path().display(), before, after, locked_ms, ms = started.elapsed().as_millis() as u64, "append-only file rewritten");
    Ok((before, after))
}

/// Rewrites the file whenever it has grown past twice its size after the last rewrite (or at
/// start) and past `min_size`; checks once a second until shutdown.
pub async fn auto_rewrite(
    store: Store,
    journal: Arc<Journal>,
    min_size: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut base = journal.len();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let length = journal.len();
        if length <= min_size || length <= base.saturating_mul(2) {
            continue;
        }
        let (s, j) = (store.clone(), journal.clone());
        match tokio::task::spawn_blocking(move || rewrite(&s, &j)).await {
            Ok(Ok((_, after))) => base = after,
            Ok(Err(e)) => {
                tracing::error!(error = %e, file = %journal.path().display(), "append-only file rewrite failed; will retry");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => tracing::error!(error = %e, "append-only file rewrite panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|a| Bytes::from(a.to_string())).collect()
    }

    #[test]
    fn generated_stream_ids_are_pinned() {
        let out = entries(&args("XADD s MAXLEN ~ 10 * f v"), &Reply::bulk("5-1"), 0);
        assert_eq!(out, vec![args("XADD s MAXLEN ~ 10 5-1 f v")]);
        let out = entries(&args("xadd s NOMKSTREAM 7-* f v"), &Reply::bulk("7-3"), 0);
        assert_eq!(out, vec![args("xadd s NOMKSTREAM 7-3 f v")]);
    }
}

//! The write journal: the store's writes as commands, on disk. Two uses share it:
//! - the failover journal: every write the embedded store accepts while it stands in for the
//!   upstream, on disk before the client is told it succeeded (fsync `Always`), replayed later;
//! - the append-only file (AOF) of the store when it is the primary: the same stream of entries,
//!   fsynced per the `appendfsync` policy, compacted by [`Journal::begin_rewrite`] /
//!   [`Journal::finish_rewrite`].
//!
//! Format: the commands as RESP arrays, back to back (like Redis's AOF), in the journal's file
//! (`journal.resp` or `appendonly.aof`); `journal.ack` holds the byte offset up to which the
//! upstream has acknowledged the entries.
//! Invariants: entries are appended in the order the store executed them (appends happen under
//! the store's lock); with fsync `Always`, `durable(seq)` returns only after entry `seq` is
//! written and fsynced (with `EverySec` and `No`, after it is written); the acknowledged offset
//! never passes what was written; `reset` empties both files only when nothing unacknowledged
//! remains; a rewrite replaces the file atomically (rename) with a snapshot followed by every
//! entry appended since the snapshot.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::command::{encode_args, Command};
use crate::protocol::{Limits, RequestParser};

/// When appended entries are fsynced (Redis's `appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Before the client is answered.
    Always,
    /// Once a second, in the background: a crash loses at most about a second of writes.
    EverySec,
    /// Never explicitly; the operating system decides.
    No,
}

impl Fsync {
    /// Parses Redis's names: `always`, `everysec`, `no`.
    pub fn parse(text: &str) -> Option<Fsync> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// How a journal is kept.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// File name inside the directory.
    pub file: &'static str,
    pub fsync: Fsync,
    /// The store's own persistence (AOF), not a replay log: entries pin generated ids, and
    /// evictions are logged.
    pub aof: bool,
}

impl Options {
    /// The failover journal: fsync before every reply.
    pub const REPLAY: Options = Options {
        file: FILE,
        fsync: Fsync::Always,
        aof: false,
    };

    /// The append-only file of a primary store.
    pub fn aof(fsync: Fsync) -> Options {
        Options {
            file: "appendonly.aof",
            fsync,
            aof: true,
        }
    }
}

/// A journal directory in use.
pub struct Journal {
    dir: PathBuf,
    options: Options,
    inner: Mutex<Inner>,
    wake_writer: Notify,
    durable_tx: watch::Sender<u64>,
}

struct Inner {
    /// Encoded entries not yet handed to the writer.
    buffer: BytesMut,
    /// While a rewrite runs: the entries appended since its snapshot.
    tail: Option<BytesMut>,
    /// Sequence number of the last entry appended.
    appended: u64,
    /// Bytes in the file, including what is buffered.
    length: u64,
    /// The database the entries are in (None: unknown, emit a SELECT first).
    db: Option<usize>,
    /// Written since the last fsync.
    unsynced: bool,
    file: File,
}

impl Inner {
    fn push<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let before = self.buffer.len();
        encode_args(args, &mut self.buffer);
        let added = self.buffer.len() - before;
        self.length += added as u64;
        if let Some(tail) = &mut self.tail {
            tail.extend_from_slice(&self.buffer[before..]);
        }
    }
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("journal in {dir}: {source}")]
pub struct JournalError {
    dir: String,
    source: std::io::Error,
}

const FILE: &str = "journal.resp";
const ACK: &str = "journal.ack";

impl Journal {
    /// Opens (creating) the failover journal in `dir`; entries from a previous run are kept for
    /// replay.
    pub fn open(dir: &Path) -> Result<Arc<Journal>, JournalError> {
        Journal::open_with(dir, Options::REPLAY)
    }

    /// Opens (creating) a journal in `dir` kept as `options` says.
    pub fn open_with(dir: &Path, options: Options) -> Result<Arc<Journal>, JournalError> {
        let err = |source| JournalError {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let path = dir.join(options.file);
        let file = open_append(&path).map_err(err)?;
        let mut length = file.metadata().map_err(err)?.len();
        if !options.aof {
            // (The append-only file's loader does this itself, and refuses worse damage.)
            let complete = complete_prefix(&path).map_err(err)?;
            if complete < length {
                tracing::warn!(journal = %path.display(), kept = complete, dropped = length - complete, "the journal ends in an entry cut short (a crash mid-write, never acknowledged to a client); cut it off so later entries read cleanly");
                file.set_len(complete).map_err(err)?;
                file.sync_all().map_err(err)?;
                length = complete;
            }
        }
        let (durable_tx, _) = watch::channel(0);
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            options,
            inner: Mutex::new(Inner {
                buffer: BytesMut::new(),
                tail: None,
                appended: 0,
                length,
                file,
                db: None,
                unsynced: false,
            }),
            wake_writer: Notify::new(),
            durable_tx,
        }))
    }

    /// Whether this is a store's append-only file (not a replay journal).
    pub fn is_aof(&self) -> bool {
        self.options.aof
    }

    /// The fsync policy.
    pub fn fsync(&self) -> Fsync {
        self.options.fsync
    }

    /// The journal's file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(self.options.file)
    }

    /// Appends one command; returns its sequence number for [`Journal::durable`]. Called with
    /// the store locked, so it only copies bytes; the writer task does the I/O.
    pub fn append<A: AsRef<[u8]>>(&self, args: &[A]) -> u64 {
        let mut inner = self.inner.lock();
        inner.push(args);
        inner.appended += 1;
        let seq = inner.appended;
        drop(inner);
        self.wake_writer.notify_one();
        seq
    }

    /// Appends an entry executed in database `db`, preceded by a SELECT when the database
    /// differs from the previous entry's.
    pub fn append_in_db<A: AsRef<[u8]>>(&self, db: usize, args: &[A]) -> u64 {
        {
            let mut inner = self.inner.lock();
            if inner.db != Some(db) {
                inner.db = Some(db);
                inner.push(&[b"SELECT".as_slice(), db.to_string().as_bytes()]);
            }
        }
        self.append(args)
    }

    /// Sequence number of the last entry appended.
    pub fn appended(&self) -> u64 {
        self.inner.lock().appended
    }

    /// Waits until entry `seq` is on disk (written, and fsynced with `Always`).
    pub async fn durable(&self, seq: u64) {
        let mut rx = self.durable_tx.subscribe();
        let _ = rx.wait_for(|done| *done >= seq).await;
    }

    /// Writes buffered entries, in groups, fsyncing as the policy says (with `EverySec`, once a
    /// second in the background); runs for the life of the process.
    pub async fn run_writer(self: Arc<Self>) {
        let mut second = tokio::time::interval(Duration::from_secs(1));
        second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every_sec = self.options.fsync == Fsync::EverySec;
        loop {
            let sync = tokio::select! {
                _ = self.wake_writer.notified() => self.options.fsync == Fsync::Always,
                _ = second.tick(), if every_sec => true,
            };
            // Writing to the page cache takes microseconds and is done here, as Redis writes its
            // AOF from the event loop; only an fsync goes to a blocking thread. (A blocking
            // thread per write cost two context switches per batch of SETs.)
            let written = if sync {
                let journal = self.clone();
                tokio::task::spawn_blocking(move || journal.flush(true)).await
            } else {
                Ok(self.flush(false))
            };
            match written {
                Ok(Ok(seq)) => {
                    self.durable_tx.send_if_modified(|done| {
                        let newer = seq > *done;
                        *done = (*done).max(seq);
                        newer
                    });
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, file = %self.path().display(), "journal write failed")
                }
                Err(e) => tracing::error!(error = %e, "journal writer panicked"),
            }
        }
    }

    /// Writes what is buffered, fsyncing if `sync` (and anything is unsynced); returns the last
    /// sequence number written. Blocking: call at shutdown, or from a blocking thread.
    pub fn flush(&self, sync: bool) -> std::io::Result<u64> {
        let (data, seq, mut file) = {
            let mut inner = self.inner.lock();
            (
                inner.buffer.split().freeze(),
                inner.appended,
                inner.file.try_clone()?,
            )
        };
        if !data.is_empty() {
            file.write_all(&data)?;
            self.inner.lock().unsynced = true;
        }
        if sync && std::mem::take(&mut self.inner.lock().unsynced) {
            file.sync_data()?;
        }
        Ok(seq)
    }

    /// Starts a rewrite: from now on, appended entries are also kept aside until
    /// [`Journal::finish_rewrite`]. Call with the store locked, right after taking the snapshot,
    /// so that the snapshot plus these entries is the whole state.
    pub fn begin_rewrite(&self) {
        let mut inner = self.inner.lock();
        inner.tail = Some(BytesMut::new());
        // The snapshot ends in some database: the next entry must say its own.
        inner.db = None;
    }

    /// Completes a rewrite whose snapshot is written and fsynced at `tmp`: appends the entries
    /// kept aside, fsyncs, renames it over the journal's file and appends there from now on.
    /// Blocking. Returns the new file's length.
    pub fn finish_rewrite(&self, tmp: &Path) -> std::io::Result<u64> {
        let mut inner = self.inner.lock();
        let tail = inner.tail.take().unwrap_or_default();
        let result = (|| {
            let mut file = open_append(tmp)?;
            file.write_all(&tail)?;
            file.sync_all()?;
            std::fs::rename(tmp, self.path())?;
            File::open(&self.dir)?.sync_all()?;
            let length = file.metadata()?.len();
            Ok::<_, std::io::Error>((file, length))
        })();
        let (file, length) = match result {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                return Err(e);
            }
        };
        // Everything appended so far is in the new file, on disk (entries buffered before the
        // snapshot are part of it; those after, of the tail).
        inner.file = file;
        inner.buffer.clear();
        inner.length = length;
        inner.unsynced = false;
        let seq = inner.appended;
        drop(inner);
        self.durable_tx.send_modify(|done| *done = (*done).max(seq));
        Ok(length)
    }

    /// Gives up a rewrite begun with [`Journal::begin_rewrite`] (its snapshot could not be
    /// written); the file goes on as it was.
    pub fn abort_rewrite(&self) {
        self.inner.lock().tail = None;
    }

    /// Bytes in the journal (written or buffered).
    pub fn len(&self) -> u64 {
        self.inner.lock().length
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The offset up to which the upstream has acknowledged entries.
    pub fn acked(&self) -> u64 {
        std::fs::read_to_string(self.dir.join(ACK))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Records that entries up to `offset` reached the upstream (written atomically: a crash
    /// leaves the old or the new offset, never a torn one).
    pub fn ack(&self, offset: u64) -> std::io::Result<()> {
        let tmp = self.dir.join("journal.ack.tmp");
        std::fs::write(&tmp, offset.to_string())?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(tmp, self.dir.join(ACK))
    }

    /// Reads complete entries written after `offset`, at most `max_bytes` of them; returns each
    /// entry with the offset just past it.
    pub fn read_from(&self, offset: u64, max_bytes: usize) -> std::io::Result<Vec<(Command, u64)>> {
        let mut file = File::open(self.path())?;
        file.seek(SeekFrom::Start(offset))?;
        let mut raw = Vec::new();
        file.take(max_bytes as u64).read_to_end(&mut raw)?;
        let mut buf = BytesMut::from(&raw[..]);
        let mut parser = RequestParser::default();
        let limits = Limits {
            max_request_bytes: usize::MAX / 2,
            ..Limits::default()
        };
        let mut entries = Vec::new();
        let mut consumed = offset;
        let total = buf.len();
        while let Ok(Some(cmd)) = parser.next(&mut buf, &limits) {
            let end = offset + (total - buf.len()) as u64;
            entries.push((cmd, end));
            consumed = end;
        }
        if entries.is_empty() && max_bytes > 0 && consumed < self.len() && total == max_bytes {
            // One entry larger than the window: read it whole.
            return self.read_from(offset, max_bytes.saturating_mul(2));
        }
        Ok(entries)
    }

    /// Empties the journal if everything in it has been acknowledged, under the append lock so
    /// no entry can slip in between the check and the truncation. Returns whether it did.
    pub fn reset_if_drained(&self, acked: u64, switch: impl FnOnce()) -> std::io::Result<bool> {
        let mut inner = self.inner.lock();
        if inner.length != acked || !inner.buffer.is_empty() {
            return Ok(false);
        }
        inner.file.set_len(0)?;
        inner.file.sync_all()?;
        inner.length = 0;
        inner.db = None;
        self.ack(0)?;
        switch();
        Ok(true)
    }

    /// The journal's directory (for logs and health output).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The length of the file's longest prefix made of complete entries. Only an entry cut short at
/// the end is excluded: bytes that do not parse stop the scan there, and are left for the replay
/// to report, never truncated away.
fn complete_prefix(path: &Path) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    let limits = Limits {
        max_request_bytes: usize::MAX / 2,
        ..Limits::default()
    };
    let (mut parser, mut buf) = (RequestParser::default(), BytesMut::new());
    let (mut chunk, mut read, mut parsed) = (vec![0u8; 1 << 20], 0u64, 0u64);
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            // At the end: whatever is still buffered is an incomplete entry.
            return Ok(if buf.is_empty() { read } else { parsed });
        }
        read += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match parser.next(&mut buf, &limits) {
                Ok(Some(_)) => parsed = read - buf.len() as u64,
                Ok(None) => break,
                // Not a torn tail: report no cut (the whole file is kept).
                Err(_) => return Ok(u64::MAX),
            }
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
}

/// The arguments of `cmd` as owned `Bytes` (entries outlive the request buffers).
pub fn owned_args(args: &[Bytes]) -> Vec<Bytes> {
    args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_reads_back_acks_and_resets() {
        let dir = std::env::temp_dir().join(format!("journal-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journal = Journal::open(&dir).unwrap();
        tokio::spawn(journal.clone().run_writer());
        journal.append(&["SET", "a", "1"]);
        let seq = journal.append(&["XADD", "s", "*", "f", "v"]);
        tokio::time::timeout(std::time::Duration::from_secs(5), journal.durable(seq))
            .await
            .unwrap();
        let entries = journal.read_from(0, 1 << 20).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[1].0.is("xadd"));
        journal.ack(entries[0].1).unwrap();
        assert_eq!(journal.acked(), entries[0].1);
        let rest = journal.read_from(journal.acked(), 1 << 20).unwrap();
        assert_eq!(rest.len(), 1);
        assert!(
            !journal.reset_if_drained(entries[0].1, || ()).unwrap(),
            "one entry is not acknowledged"
        );
        let mut switched = false;
        assert!(journal
            .reset_if_drained(entries[1].1, || switched = true)
            .unwrap());
        assert!(switched && journal.is_empty() && journal.acked() == 0);
        // A reopened journal keeps what was written.
        let seq = journal.append(&["INCR", "n"]);
        journal.durable(seq).await;
        drop(journal);
        let reopened = Journal::open(&dir).unwrap();
        assert_eq!(reopened.read_from(0, 1 << 20).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_entry_cut_short_by_a_crash_is_cut_off_at_open() {
        let dir = std::env::temp_dir().join(format!("journal-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journal = Journal::open(&dir).unwrap();
        journal.append(&["SET", "a", "1"]);
        journal.flush(true).unwrap();
        drop(journal);
        // A crash in the middle of writing the next entry.
        let mut file = open_append(&dir.join(FILE)).unwrap();
        file.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$5\r\nab")
            .unwrap();
        drop(file);
        let reopened = Journal::open(&dir).unwrap();
        reopened.append(&["SET", "c", "3"]);
        reopened.flush(true).unwrap();
        let keys: Vec<Bytes> = reopened
            .read_from(0, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|(cmd, _)| cmd.args[1].clone())
            .collect();
        assert_eq!(keys, [Bytes::from("a"), Bytes::from("c")]);
    }
}

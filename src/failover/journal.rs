//! The write journal: every write the embedded store accepts while it stands in for the
//! upstream, on disk before the client is told it succeeded.
//!
//! Format: the commands as RESP arrays, back to back (like Redis's AOF), in `journal.resp`;
//! `journal.ack` holds the byte offset up to which the upstream has acknowledged the entries.
//! Invariants: entries are appended in the order the store executed them (appends happen under
//! the store's lock); `durable(seq)` returns only after entry `seq` is written and fsynced;
//! the acknowledged offset never passes what was written; `reset` empties both files only when
//! nothing unacknowledged remains.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::command::{encode_args, Command};
use crate::protocol::{Limits, RequestParser};

/// A journal directory in use.
pub struct Journal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    wake_writer: Notify,
    durable_tx: watch::Sender<u64>,
}

struct Inner {
    /// Encoded entries not yet handed to the writer.
    buffer: BytesMut,
    /// Sequence number of the last entry appended.
    appended: u64,
    /// Bytes in the file, including what is buffered.
    length: u64,
    /// The database the entries are in (None: unknown, emit a SELECT first).
    db: Option<usize>,
    file: File,
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
    /// Opens (creating) the journal in `dir`; entries from a previous run are kept for replay.
    pub fn open(dir: &Path) -> Result<Arc<Journal>, JournalError> {
        let err = |source| JournalError {
            dir: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(dir.join(FILE))
            .map_err(err)?;
        let length = file.metadata().map_err(err)?.len();
        let (durable_tx, _) = watch::channel(0);
        Ok(Arc::new(Journal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                buffer: BytesMut::new(),
                appended: 0,
                length,
                file,
                db: None,
            }),
            wake_writer: Notify::new(),
            durable_tx,
        }))
    }

    /// Appends one command; returns its sequence number for [`Journal::durable`]. Called with
    /// the store locked, so it only copies bytes; the writer task does the I/O.
    pub fn append<A: AsRef<[u8]>>(&self, args: &[A]) -> u64 {
        let mut inner = self.inner.lock();
        let before = inner.buffer.len();
        encode_args(args, &mut inner.buffer);
        inner.length += (inner.buffer.len() - before) as u64;
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
                let before = inner.buffer.len();
                encode_args(
                    &[b"SELECT".as_slice(), db.to_string().as_bytes()],
                    &mut inner.buffer,
                );
                inner.length += (inner.buffer.len() - before) as u64;
            }
        }
        self.append(args)
    }

    /// Sequence number of the last entry appended.
    pub fn appended(&self) -> u64 {
        self.inner.lock().appended
    }

    /// Waits until entry `seq` is on disk.
    pub async fn durable(&self, seq: u64) {
        let mut rx = self.durable_tx.subscribe();
        let _ = rx.wait_for(|done| *done >= seq).await;
    }

    /// Writes buffered entries and fsyncs, in groups; runs for the life of the process.
    pub async fn run_writer(self: Arc<Self>) {
        loop {
            self.wake_writer.notified().await;
            let journal = self.clone();
            let written = tokio::task::spawn_blocking(move || journal.flush()).await;
            match written {
                Ok(Ok(seq)) => {
                    self.durable_tx.send_replace(seq);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, dir = %self.dir.display(), "journal write failed")
                }
                Err(e) => tracing::error!(error = %e, "journal writer panicked"),
            }
        }
    }

    /// Writes what is buffered and fsyncs; returns the last sequence number now durable.
    fn flush(&self) -> std::io::Result<u64> {
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
            file.sync_data()?;
        }
        Ok(seq)
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
        let mut file = File::open(self.dir.join(FILE))?;
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
}

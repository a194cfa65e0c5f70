//! Long runs of rows read from SQLite in place. sqlx hands every row from its connection's
//! worker thread to the caller with allocations of its own (about 1 µs a row), and folding the
//! rows into one text in SQL spends most of its time turning integers into text. Tracing reads
//! 200,000 index entries of a busy venue, so it steps through them on read-only connections of
//! its own, on a blocking thread, where a row costs what SQLite's cursor costs. WAL lets these
//! readers run beside the pool's writers; they see what is committed, as the pool's readers do.
//! The same connections serve the hot path's few-row reads in place (`inline`).

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Read-only connections to one SQLite file, opened when first needed and kept for reuse.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Arc<Readers> {
        Arc::new(Readers {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `read` on a blocking thread with a connection of its own.
    pub(crate) async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || readers.inline(read))
            .await
            .map_err(|e| StoreError::Corrupt(format!("a read in place stopped: {e}")))?
    }

    /// Runs a short indexed read (a few rows) here, on the calling thread: handing a query to
    /// another thread and its answer back costs more than the read itself, and the reads of
    /// every code shown (the session, the fact stamp) were mostly such hand-offs.
    pub(crate) fn inline<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.take()?;
        let out = read(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Ok(out?)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As the pool's connections: map the file, and wait out a checkpoint.
        conn.pragma_update(None, "mmap_size", 1_073_741_824_i64)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }
}

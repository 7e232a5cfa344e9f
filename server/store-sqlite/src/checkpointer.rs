//! WAL checkpoints on their own thread. SQLite's default runs a checkpoint inside the commit that
//! pushes the WAL past 1,000 pages, so every message of that group commit waits for a few MB of
//! page copies and an fsync: that was the tail of send-to-ack latency. The writing connections turn
//! automatic checkpoints off (`wal_autocheckpoint = 0`) and this thread runs a `PASSIVE` checkpoint
//! every `PERIOD`, which copies what it can without blocking readers or the writer.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How often the WAL is copied back into the database. At the appender's peak (~10k messages/s) this
/// keeps the WAL to a few thousand pages between checkpoints.
const PERIOD: Duration = Duration::from_millis(250);

/// Stops the thread (after a last checkpoint) when dropped with the store.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&connection, &stopped))
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        Ok(Self { _stop: stop })
    }
}

fn run(connection: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        let last = match stopped.recv_timeout(PERIOD) {
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        // (busy, pages in the WAL, pages checkpointed); a busy or partial checkpoint resumes next time.
        let done = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        });
        if let Err(error) = done {
            tracing::warn!(%error, "WAL checkpoint failed; retrying in {PERIOD:?}");
        }
        if last {
            return;
        }
    }
}

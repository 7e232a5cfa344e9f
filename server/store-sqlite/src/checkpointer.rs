//! WAL checkpoints on their own thread. SQLite's default runs a checkpoint inside the commit that
//! pushes the WAL past 1,000 pages, so every message of that group commit waits for a few MB of
//! page copies and an fsync: that was the tail of send-to-ack latency. The writing connections turn
//! automatic checkpoints off (`wal_autocheckpoint = 0`) and this thread runs a `PASSIVE` checkpoint
//! every `PERIOD`, which copies what it can without blocking readers or the writer, and rewinds
//! the WAL once it passes `REWIND_PAGES`.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// How often the WAL is copied back into the database. At the appender's peak (~10k messages/s) this
/// keeps the WAL to a few thousand pages between checkpoints.
const PERIOD: Duration = Duration::from_millis(250);
/// WAL size (pages) from which the WAL is rewound. SQLite rewinds the WAL only when a writer finds
/// it entirely checkpointed with no reader's snapshot in it, which a `PASSIVE` checkpoint racing a
/// busy writer and pooled readers rarely achieves: the WAL then grows for as long as the load lasts (330 MB in a 10 s fan-out
/// benchmark), and every commit extends the file (block allocation and page zeroing in the
/// kernel: 5–8% of the server's CPU in that profile), and every read searches a growing WAL
/// index. A rewind holds up the writer briefly, so it should not come too often: in single runs
/// of the latency benchmark, send p99 at an 8 MB threshold was about twice that at 64 MB.
/// 16,000 pages is 64 MB.
const REWIND_PAGES: i64 = 16_000;
/// How long a rewind waits for the write lock and for readers, holding up the writer meanwhile.
const REWIND_WAIT: Duration = Duration::from_millis(20);
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Stops the thread (after a last checkpoint) when dropped with the store.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Result<Self, rusqlite::Error> {
        Self::start_with(path, PERIOD, REWIND_PAGES)
    }

    fn start_with(
        path: &Path,
        period: Duration,
        rewind_pages: i64,
    ) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&connection, &stopped, period, rewind_pages))
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        Ok(Self { _stop: stop })
    }
}

fn run(connection: &Connection, stopped: &mpsc::Receiver<()>, period: Duration, rewind_pages: i64) {
    loop {
        let last = match stopped.recv_timeout(period) {
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        };
        match checkpoint(connection, "PASSIVE") {
            // The WAL is large: rewind it (see `REWIND_PAGES`). The passive pass just copied
            // nearly all of it, so the rewind's own copy, during which the writer waits, is short.
            Ok((_, log, _)) if log >= rewind_pages => {
                if let Err(error) = rewind(connection) {
                    tracing::debug!(%error, "WAL rewind skipped; retrying after the next checkpoint");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "WAL checkpoint failed; retrying in {period:?}"),
        }
        if last {
            return;
        }
    }
}

/// (busy, pages in the WAL, pages checkpointed); a busy or partial checkpoint resumes next time.
fn checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

/// A `RESTART` checkpoint right after a `PASSIVE` one: little is left to copy, so the writer
/// waits only briefly, and the next commit writes the WAL from its start again. The busy
/// timeout is short for this step: if a reader holds on, the rewind waits for the next round
/// instead of holding up the writer.
fn rewind(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(REWIND_WAIT)?;
    let done = checkpoint(connection, "RESTART");
    connection.busy_timeout(BUSY_TIMEOUT)?;
    match done? {
        (0, _, _) => Ok(()),
        _ => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("readers still use the WAL".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite rewinds the WAL by itself only when a writer finds it fully checkpointed and no
    /// reader's snapshot in it; with readers always about and commits arriving during every
    /// checkpoint that moment rarely comes: the WAL grew to 330 MB in a 10 s benchmark. Here a
    /// writer and a reader run flat out beside the checkpointer thread (bounded by the number of
    /// commits): the WAL must stay near the rewind threshold instead of holding every commit.
    #[test]
    fn the_wal_stays_bounded_under_a_busy_writer_and_readers() {
        const COMMITS: u64 = 6_000;
        const REWIND: i64 = 300;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.pragma_update(None, "synchronous", "NORMAL").unwrap();
        writer.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let checkpointer =
            Checkpointer::start_with(&path, Duration::from_millis(5), REWIND).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), std::sync::Arc::clone(&done));
            std::thread::spawn(move || {
                let reader = Connection::open(&path).unwrap();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    // Short reads, as the store's are: each one a snapshot of the WAL.
                    let _: i64 = reader
                        .query_row("SELECT max(rowid) FROM t", [], |row| row.get(0))
                        .unwrap_or(0);
                }
            })
        };
        let wal = dir.path().join("t.db-wal");
        let mut largest = 0;
        for _ in 0..COMMITS {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
        drop(checkpointer);
        // Without rewinds the WAL held every commit (75 MB); with them, 5–11 MB measured.
        let bound = 24_000_000;
        assert!(
            largest < bound,
            "the WAL grew to {largest} bytes (bound {bound})"
        );
    }
}

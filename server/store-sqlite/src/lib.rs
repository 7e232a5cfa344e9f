//! Embedded storage backend of the chat platform: SQLite in WAL mode through sqlx.
//!
//! Writes other than appends go through a pool of exactly one connection (SQLite has one writer
//! anyway); `seq` is assigned inside the appender's transactions, so in commit order. Reads use
//! a separate pool and see every committed write (WAL snapshot per statement). Appended messages are
//! group-committed by one thread with its own connection (`appender`): many senders, one
//! transaction, one commit. With two writing connections, every transaction starts with
//! `BEGIN IMMEDIATE` so that neither ever upgrades a stale read snapshot (`SQLITE_BUSY_SNAPSHOT`).

mod appender;
mod apps;
mod checkpointer;
mod conversations;
mod error;
mod member_cache;
mod members;
mod messages;
#[cfg(test)]
mod query_plan;
mod rows;
mod store_impl;
mod users;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How durable a commit is. `Normal` survives a process crash (SIGKILL) but may lose the last
/// transactions on power loss; `Full` also survives power loss at the cost of an fsync per commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the SQLite database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot migrate the SQLite database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot open the message writer's connection to {path}: {source}")]
    Appender {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot open the WAL checkpointer's connection to {path}: {source}")]
    Checkpointer {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

/// Read connections (see `open`).
const READERS: u32 = 32;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    appender: appender::Appender,
    _checkpointer: std::sync::Arc<checkpointer::Checkpointer>,
    member_cache: std::sync::Arc<member_cache::MemberCache>,
}

impl SqliteStore {
    /// Open (creating if missing) the database file and run pending migrations.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, OpenError> {
        let open_error = |source| OpenError::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Normal => SqliteSynchronous::Normal,
                Durability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            // Checkpoints run on their own thread (`checkpointer`), never inside a commit.
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations")
            .run(&writer)
            .await
            .map_err(|source| OpenError::Migrate {
                path: path.to_owned(),
                source,
            })?;
        // sqlx holds a pooled connection until the waiting task has run again, and under load that
        // task waits behind thousands of connection tasks: with 4 connections, two reads per send
        // capped sends at ~2k/s with the CPU half idle. WAL readers do not block each other, and
        // each connection is one mostly idle worker thread.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.read_only(true))
            .await
            .map_err(open_error)?;
        let appender =
            appender::Appender::start(path, durability, reader.clone()).map_err(|source| {
                OpenError::Appender {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let checkpointer =
            checkpointer::Checkpointer::start(path).map_err(|source| OpenError::Checkpointer {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            writer,
            reader,
            appender,
            _checkpointer: std::sync::Arc::new(checkpointer),
            member_cache: std::sync::Arc::default(),
        })
    }

    /// Close both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

//! Production storage backend of the chat platform: TiDB (or MySQL/MariaDB) through the MySQL protocol.
//!
//! TiDB-compatible by construction (`docs/storage.md`): no foreign keys, triggers or stored procedures;
//! conversation-scoped rows keyed by a hash bucket so time-ordered ids do not make write hot spots; the
//! per-conversation `seq` taken by `UPDATE conversations SET last_seq = last_seq + 1` inside the committing
//! transaction (never AUTO_INCREMENT, which TiDB allocates in per-server batches); write conflicts and
//! deadlocks retried, idempotently for appends through the `client_msg_id` unique key; versioned migrations
//! under a named lock ([`migrate`]); and a transactional outbox ([`outbox`]) so a committed message reaches
//! the durable bus even if the process dies between commit and publish.

mod bucket;
mod conversations;
mod directory;
mod error;
mod members;
mod messages;
pub mod migrate;
pub mod outbox;
mod rows;
mod store_impl;

pub use bucket::bucket_of;
pub use migrate::{MIGRATIONS, MigrateError, Migration};

use error::Retry;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use std::future::Future;
use std::str::FromStr as _;
use std::time::Duration;

/// How to reach the database and how hard to try.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlConfig {
    /// `mysql://user@host:port/database` (a password here is accepted but [`Self::password`] wins).
    pub url: String,
    /// Read from a secret file by the caller; never logged.
    pub password: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Attempts of a transaction that hit a deadlock or write conflict before giving up.
    pub max_attempts: u32,
    /// Write an outbox row with every committed message (enable when a relay runs, see [`outbox`]).
    pub outbox: bool,
    /// Longest wait for another instance's migration.
    pub migration_lock_wait: Duration,
}

impl MysqlConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            max_attempts: 8,
            outbox: true,
            migration_lock_wait: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "store.mysql.url is not a valid MySQL URL ({0}); expected mysql://user@host:port/database"
    )]
    Url(#[source] sqlx::Error),
    #[error("cannot connect to the MySQL-protocol database at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// The store: a connection pool plus the settings above. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pub(crate) pool: MySqlPool,
    pub(crate) outbox: bool,
    pub(crate) max_attempts: u32,
}

/// `host:port/database` of a URL, for messages (never the credentials).
fn address_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.rsplit_once('@')
        .map_or(rest, |(_, host)| host)
        .to_owned()
}

impl MysqlStore {
    /// Connects and applies pending migrations (under the migration lock).
    pub async fn open(config: &MysqlConfig) -> Result<Self, OpenError> {
        let mut options = MySqlConnectOptions::from_str(&config.url).map_err(OpenError::Url)?;
        if let Some(password) = &config.password {
            options = options.password(password);
        }
        // utf8mb4 everywhere; READ COMMITTED so retried transactions see what others committed meanwhile
        // (TiDB supports it in pessimistic mode, its default).
        let options = options.charset("utf8mb4");
        let pool = MySqlPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .execute(connection)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|source| OpenError::Connect {
                address: address_of(&config.url),
                source,
            })?;
        migrate::migrate(&pool, MIGRATIONS, config.migration_lock_wait).await?;
        Ok(Self {
            pool,
            outbox: config.outbox,
            max_attempts: config.max_attempts.max(1),
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs one transaction attempt until it succeeds, retrying what the server rolled back (deadlock, write
    /// conflict) and, when `idempotent`, what a broken connection left ambiguous. Backoff doubles from 5 ms
    /// with full jitter.
    pub(crate) async fn retrying<T, F, Fut>(
        &self,
        idempotent: bool,
        mut attempt: F,
    ) -> Result<T, sqlx::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, sqlx::Error>>,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let retry = match error::retry_class(&error) {
                Retry::RolledBack => true,
                Retry::Ambiguous => idempotent,
                Retry::Never => false,
            };
            if !retry || tries >= self.max_attempts {
                return Err(error);
            }
            tracing::debug!(%error, tries, "transaction retried");
            let ceiling_ms = 5_u64 << tries.min(8);
            let pause = rand::random_range(0..=ceiling_ms);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn address_hides_credentials() {
        assert_eq!(
            super::address_of("mysql://cc:secret@127.0.0.1:13306/db"),
            "127.0.0.1:13306/db"
        );
        assert_eq!(super::address_of("mysql://h:1/d"), "h:1/d");
    }
}

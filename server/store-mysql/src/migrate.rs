//! Versioned schema migrations, applied by exactly one instance at a time under a server-side named lock.
//!
//! Every replica calls [`migrate`] at start; the first to take `GET_LOCK('cc_migrate:<database>')` applies what
//! is pending, the others wait on the lock and then find nothing to do. The lock is bound to the connection, so
//! a crashed migrator releases it automatically. MySQL and MariaDB implement `GET_LOCK`; TiDB implements it
//! since v7.1 (earlier versions accepted the call without locking: run migrations from one instance by hand
//! there, as `docs/storage.md` says).
//!
//! DDL auto-commits, so a migration is not atomic: every statement is written to be re-runnable
//! (`CREATE TABLE IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS` on MariaDB / a version guard elsewhere) and the
//! version row is recorded only after all its statements succeeded.

use sqlx::mysql::MySqlPool;
use sqlx::{Acquire as _, Row as _};
use std::time::Duration;

/// One migration: applied in `version` order, never edited once released (its checksum is recorded).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The migrations this build knows, in order. Rule (expand/contract, see `docs/storage.md`): a migration only
/// adds (tables, nullable or defaulted columns, indexes) so the previous release keeps working on the new
/// schema; removing or renaming happens in a later "contract" migration, once no running release reads it.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "outbox_by_message",
        sql: include_str!("../migrations/0002_outbox_by_message.sql"),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot reach the database to migrate it: {0}")]
    Connect(#[source] sqlx::Error),
    #[error(
        "another instance held the migration lock `{lock}` for more than {waited_secs} s; \
         if no migration is running, look for a stuck session with `SELECT IS_USED_LOCK('{lock}')`"
    )]
    LockTimeout { lock: String, waited_secs: u64 },
    #[error("migration {version} ({name}) failed at statement {statement}: {source}")]
    Statement {
        version: i64,
        name: &'static str,
        statement: usize,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "migration {version} was applied with checksum {recorded} but this build has {expected}: \
         a released migration was edited; restore it and add a new migration instead"
    )]
    Edited {
        version: i64,
        recorded: String,
        expected: String,
    },
    #[error("bookkeeping of schema_migrations failed: {0}")]
    Bookkeeping(#[source] sqlx::Error),
}

/// The SQL statements of a migration file: `--` comment lines dropped, split at `;`.
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|statement| !statement.is_empty())
        .map(str::to_owned)
        .collect()
}

/// FNV-1a 64 of the text, hex: detects an edited migration (not a security measure).
pub(crate) fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Applies the pending migrations under the lock; returns the versions this call applied.
pub async fn migrate(
    pool: &MySqlPool,
    migrations: &[Migration],
    lock_wait: Duration,
) -> Result<Vec<i64>, MigrateError> {
    let mut connection = pool.acquire().await.map_err(MigrateError::Connect)?;
    let connection = connection.acquire().await.map_err(MigrateError::Connect)?;
    let database: Option<String> = sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)")
        .fetch_one(&mut *connection)
        .await
        .map_err(MigrateError::Bookkeeping)?;
    let lock = format!("cc_migrate:{}", database.unwrap_or_default());
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
        .bind(&lock)
        .bind(lock_wait.as_secs().max(1) as i64)
        .fetch_one(&mut *connection)
        .await
        .map_err(MigrateError::Bookkeeping)?;
    if got != Some(1) {
        return Err(MigrateError::LockTimeout {
            lock,
            waited_secs: lock_wait.as_secs(),
        });
    }
    let outcome = apply_locked(connection, migrations).await;
    // Released explicitly for the next waiter; a dropped connection would release it too.
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&lock)
        .execute(&mut *connection)
        .await;
    outcome
}

async fn apply_locked(
    connection: &mut sqlx::MySqlConnection,
    migrations: &[Migration],
) -> Result<Vec<i64>, MigrateError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT NOT NULL PRIMARY KEY, \
         name VARCHAR(255) NOT NULL, checksum VARCHAR(32) NOT NULL, applied_at_ms BIGINT NOT NULL) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    )
    .execute(&mut *connection)
    .await
    .map_err(MigrateError::Bookkeeping)?;
    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations")
        .fetch_all(&mut *connection)
        .await
        .map_err(MigrateError::Bookkeeping)?;
    let mut recorded = std::collections::BTreeMap::new();
    for row in &rows {
        let version: i64 = row.try_get("version").map_err(MigrateError::Bookkeeping)?;
        let sum = crate::rows::get_text(row, "checksum").map_err(MigrateError::Bookkeeping)?;
        recorded.insert(version, sum);
    }
    let mut applied = Vec::new();
    for migration in migrations {
        let expected = checksum(migration.sql);
        if let Some(sum) = recorded.get(&migration.version) {
            if *sum != expected {
                return Err(MigrateError::Edited {
                    version: migration.version,
                    recorded: sum.clone(),
                    expected,
                });
            }
            continue;
        }
        for (index, statement) in statements(migration.sql).iter().enumerate() {
            sqlx::query(statement)
                .execute(&mut *connection)
                .await
                .map_err(|source| MigrateError::Statement {
                    version: migration.version,
                    name: migration.name,
                    statement: index + 1,
                    source,
                })?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at_ms) VALUES (?, ?, ?, ?)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(&expected)
        .bind(cc_core::ids::now_ms())
        .execute(&mut *connection)
        .await
        .map_err(MigrateError::Bookkeeping)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "schema migration applied"
        );
        applied.push(migration.version);
    }
    // A newer release may have applied expand migrations this build does not know: that is the point of
    // expand/contract (old and new run side by side), so it is only logged.
    if let Some(newest) = recorded.keys().next_back()
        && migrations.iter().all(|m| m.version < *newest)
    {
        tracing::info!(
            newest,
            "the schema is newer than this build; running on it (expand-only migrations)"
        );
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_skip_comments_and_blank_parts() {
        let sql = "-- a; comment\nCREATE TABLE a (x INT);\n\n-- b\nCREATE TABLE b (y INT)\n;";
        assert_eq!(
            statements(sql),
            vec!["CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"]
        );
    }

    #[test]
    fn every_migration_is_re_runnable() {
        for migration in MIGRATIONS {
            for statement in statements(migration.sql) {
                assert!(
                    statement.contains(" IF NOT EXISTS "),
                    "migration {} is not re-runnable: {statement}",
                    migration.version
                );
            }
        }
    }

    #[test]
    fn checksum_changes_with_the_text() {
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum("a"), checksum("a"));
    }
}

//! Test support: SQLite's plan for a query, to check that a hot query uses the index meant for it.

use crate::SqliteStore;
use sqlx::Row as _;
use sqlx::sqlite::{Sqlite, SqliteArguments};

/// The `detail` column of `EXPLAIN QUERY PLAN` for `query`, which must start with `EXPLAIN QUERY PLAN`.
pub(crate) async fn steps<'q>(
    store: &SqliteStore,
    query: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
) -> Vec<String> {
    query
        .fetch_all(&store.reader)
        .await
        .expect("EXPLAIN QUERY PLAN")
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}

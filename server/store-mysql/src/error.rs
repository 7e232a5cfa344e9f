//! sqlx errors onto the store seam's [`StoreError`], and which of them a retry may cure.

use cc_core::StoreError;

/// MySQL/MariaDB and TiDB error numbers after which the transaction was rolled back and may simply run again.
/// 1213 deadlock, 1205 lock wait timeout (InnoDB rolls back the statement; we roll back the transaction),
/// 9007 TiDB write conflict (optimistic), 8002/8022 TiDB "transaction retry" failures, 8028 TiDB schema changed.
const ROLLED_BACK_CODES: &[&str] = &["1213", "1205", "9007", "8002", "8022", "8028"];

/// How a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// The server rolled the transaction back: running it again is always safe.
    RolledBack,
    /// The connection broke: the commit may or may not have happened. Safe to run again only for
    /// operations that are idempotent by key (appending a message: the `client_msg_id` key).
    Ambiguous,
    /// Retrying would give the same answer.
    Never,
}

pub(crate) fn retry_class(error: &sqlx::Error) -> Retry {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code();
            if code.is_some_and(|code| ROLLED_BACK_CODES.contains(&code.as_ref())) {
                Retry::RolledBack
            } else {
                Retry::Never
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) => {
            Retry::Ambiguous
        }
        _ => Retry::Never,
    }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

// By value: it is used as `.map_err(map)` everywhere.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn map(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(error.to_string()),
        _ if retry_class(&error) == Retry::RolledBack => {
            StoreError::Unavailable(format!("write conflict persisted after retries: {error}"))
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} cannot be decoded: {error}"))
}

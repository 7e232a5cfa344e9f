//! sqlx errors onto the store seam's [`StoreError`].

use cc_core::StoreError;

#[allow(clippy::needless_pass_by_value)] // Used as `.map_err(map)`, which hands over the error by value.
pub(crate) fn map(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        sqlx::Error::Database(db)
            if db.message().contains("locked") || db.message().contains("busy") =>
        {
            StoreError::Unavailable(db.message().to_owned())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} cannot be decoded: {error}"))
}

//! Errors of the store seam and of domain operations.

use cc_protocol::{ErrorBody, ErrorCode};
use serde_json::json;

/// What a storage backend can report; backends map their driver errors onto these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key already holds a row (duplicate user id, API key id, …).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend cannot be reached or refused the operation for now; the caller may retry.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data. The text goes to logs, never to clients.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// A domain operation refused or failed: carries the stable code clients see.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}", body.code, body.message)]
pub struct DomainError {
    pub body: ErrorBody,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            body: ErrorBody::new(code, message),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.body.code
    }

    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.body.details = details;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found in this app"))
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, why)
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(ErrorCode::InvalidField, format!("field `{field}` {reason}"))
            .with_details(json!({"field": field, "reason": reason}))
    }

    pub fn conflict(why: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, why)
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::conflict(format!("{what} already exists")),
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "storage unavailable");
                Self::new(
                    ErrorCode::Unavailable,
                    "storage is unavailable, retry later",
                )
            }
            StoreError::Internal(why) => {
                tracing::error!(%why, "storage failure");
                Self::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

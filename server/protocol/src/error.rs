//! Stable error codes and the one error body shared by REST answers and WebSocket `error` frames.

use serde::{Deserialize, Serialize};

/// A stable, documented error code (`docs/protocol.md` §2.6). Clients branch on these, so renaming one
/// is a protocol change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    UnknownOp,
    MissingField,
    InvalidField,
    TextTooLong,
    Unauthorized,
    TokenExpired,
    Forbidden,
    OriginNotAllowed,
    NotFound,
    Conflict,
    IdempotencyConflict,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorCode {
    /// Every code, for metrics pre-registration and documentation tests.
    pub const ALL: [ErrorCode; 15] = [
        Self::InvalidJson,
        Self::UnknownOp,
        Self::MissingField,
        Self::InvalidField,
        Self::TextTooLong,
        Self::Unauthorized,
        Self::TokenExpired,
        Self::Forbidden,
        Self::OriginNotAllowed,
        Self::NotFound,
        Self::Conflict,
        Self::IdempotencyConflict,
        Self::RateLimited,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The HTTP status a REST answer carries with this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::UnknownOp | Self::MissingField | Self::InvalidField => 400,
            Self::Unauthorized | Self::TokenExpired => 401,
            Self::Forbidden | Self::OriginNotAllowed => 403,
            Self::NotFound => 404,
            Self::Conflict | Self::IdempotencyConflict => 409,
            Self::TextTooLong => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::UnknownOp => "unknown_op",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::TextTooLong => "text_too_long",
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::IdempotencyConflict => "idempotency_conflict",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{code, message, details}`: the body of every REST error and the payload of an `error` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}

//! Pure input checks; each error names the field and what would be accepted.

use crate::error::{DomainError, DomainResult};
use cc_protocol::{ErrorCode, MessageBody};
use serde_json::json;

pub const MAX_METADATA_BYTES: usize = 16 * 1024;

pub fn user_id(field: &str, value: &str) -> DomainResult<()> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            "must be 1-64 characters of A-Z a-z 0-9 _ . @ -",
        ))
    }
}

pub fn short_text(field: &str, value: &str, max: usize) -> DomainResult<()> {
    if value.len() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} bytes"),
        ));
    }
    Ok(())
}

pub fn client_msg_id(value: &str) -> DomainResult<()> {
    if value.is_empty() || value.len() > 64 || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "client_msg_id",
            "must be 1-64 printable characters",
        ));
    }
    Ok(())
}

pub fn emoji(value: &str) -> DomainResult<()> {
    if value.is_empty() || value.len() > 32 || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "emoji",
            "must be 1-32 bytes without control characters",
        ));
    }
    Ok(())
}

pub fn metadata(field: &str, value: &serde_json::Value) -> DomainResult<()> {
    if !(value.is_object() || value.is_null()) {
        return Err(DomainError::invalid(field, "must be a JSON object"));
    }
    if value.to_string().len() > MAX_METADATA_BYTES {
        return Err(DomainError::invalid(
            field,
            format!("must serialize to at most {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn too_long(max_text_bytes: usize, len: usize) -> DomainError {
    DomainError::new(
        ErrorCode::TextTooLong,
        format!("message body is {len} bytes; the limit is {max_text_bytes}"),
    )
    .with_details(json!({"max_text_bytes": max_text_bytes, "length": len}))
}

/// A body a client may send (never the tombstone).
pub fn body(body: &MessageBody, max_text_bytes: usize) -> DomainResult<()> {
    match body {
        MessageBody::Text { text } => {
            if text.is_empty() {
                return Err(DomainError::invalid("body.text", "must not be empty"));
            }
            if text.len() > max_text_bytes {
                return Err(too_long(max_text_bytes, text.len()));
            }
        }
        MessageBody::Custom { data } => {
            let len = data.to_string().len();
            if len > max_text_bytes {
                return Err(too_long(max_text_bytes, len));
            }
        }
        MessageBody::Media {
            url,
            mime_type,
            caption,
            ..
        } => {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
                return Err(DomainError::invalid(
                    "body.url",
                    "must be an http(s) URL of at most 2048 bytes",
                ));
            }
            if mime_type.is_empty() || mime_type.len() > 255 || !mime_type.contains('/') {
                return Err(DomainError::invalid(
                    "body.mime_type",
                    "must look like `type/subtype`",
                ));
            }
            if let Some(caption) = caption
                && caption.len() > max_text_bytes
            {
                return Err(too_long(max_text_bytes, caption.len()));
            }
        }
        MessageBody::Deleted => {
            return Err(DomainError::invalid(
                "body.type",
                "must be text, custom or media",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let text = |t: &str| MessageBody::Text { text: t.into() };
        assert!(body(&text("hi"), 16).is_ok());
        assert_eq!(
            body(&text(""), 16).unwrap_err().code(),
            ErrorCode::InvalidField
        );
        assert_eq!(
            body(&text(&"x".repeat(17)), 16).unwrap_err().code(),
            ErrorCode::TextTooLong
        );
        assert_eq!(
            body(&MessageBody::Deleted, 16).unwrap_err().code(),
            ErrorCode::InvalidField
        );
        let media = MessageBody::Media {
            url: "file:///etc/passwd".into(),
            mime_type: "image/png".into(),
            size: 1,
            caption: None,
        };
        assert_eq!(
            body(&media, 16).unwrap_err().body.details["field"],
            "body.url"
        );
    }

    #[test]
    fn user_ids() {
        assert!(user_id("user_id", "alice.b@x-1").is_ok());
        for bad in ["", "a b", "é", &"x".repeat(65)] {
            assert!(user_id("user_id", bad).is_err(), "{bad}");
        }
    }
}

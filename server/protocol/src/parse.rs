//! The pure parser of client frames: text in, a typed frame or a stable error code out.

use crate::{ClientFrame, ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Why a client frame was refused; becomes an `error` frame carrying the request id when it was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameError {
    pub id: Option<String>,
    pub body: ErrorBody,
}

impl FrameError {
    fn new(id: Option<String>, code: ErrorCode, message: String, details: Value) -> Self {
        Self {
            id,
            body: ErrorBody::new(code, message).with_details(details),
        }
    }
}

/// Parse one text frame. Never panics on any input.
// The error holds a serde_json::Value (larger with `preserve_order`); refusals are rare, so no boxing.
#[allow(clippy::result_large_err)]
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|error| {
        FrameError::new(
            None,
            ErrorCode::InvalidJson,
            format!("frame is not valid JSON: {error}"),
            json!({}),
        )
    })?;
    let Value::Object(mut map) = value else {
        return Err(FrameError::new(
            None,
            ErrorCode::InvalidJson,
            "frame must be a JSON object".into(),
            json!({}),
        ));
    };
    // The request id is read first so that every later error can be correlated by the client.
    let id = map.get("id").and_then(Value::as_str).map(str::to_owned);
    if let Some(raw_id) = map.get("id") {
        match raw_id.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 64 => {}
            _ => {
                return Err(FrameError::new(
                    None,
                    ErrorCode::InvalidField,
                    "field `id` must be a string of 1 to 64 characters".into(),
                    json!({"field": "id"}),
                ));
            }
        }
    }
    let op = match map.remove("op") {
        Some(Value::String(op)) => op,
        Some(_) => {
            return Err(FrameError::new(
                id,
                ErrorCode::InvalidField,
                "field `op` must be a string".into(),
                json!({"field": "op"}),
            ));
        }
        None => {
            return Err(FrameError::new(
                id,
                ErrorCode::MissingField,
                "field `op` is required".into(),
                json!({"field": "op"}),
            ));
        }
    };
    let frame = match op.as_str() {
        "send" => ClientFrame::Send(fields(&op, id.as_ref(), map)?),
        "edit" => ClientFrame::Edit(fields(&op, id.as_ref(), map)?),
        "delete" => ClientFrame::Delete(fields(&op, id.as_ref(), map)?),
        "react" => ClientFrame::React(fields(&op, id.as_ref(), map)?),
        "typing" => ClientFrame::Typing(fields(&op, id.as_ref(), map)?),
        "mark_delivered" => ClientFrame::MarkDelivered(fields(&op, id.as_ref(), map)?),
        "mark_read" => ClientFrame::MarkRead(fields(&op, id.as_ref(), map)?),
        "resume" => ClientFrame::Resume(fields(&op, id.as_ref(), map)?),
        "ping" => ClientFrame::Ping(fields(&op, id.as_ref(), map)?),
        _ => {
            let shown: String = op.chars().take(40).collect();
            return Err(FrameError::new(
                id,
                ErrorCode::UnknownOp,
                format!(
                    "unknown op `{shown}`; expected one of send, edit, delete, react, typing, mark_delivered, mark_read, resume, ping"
                ),
                json!({"op": shown}),
            ));
        }
    };
    Ok(frame)
}

#[allow(clippy::result_large_err)]
fn fields<T: DeserializeOwned>(
    op: &str,
    id: Option<&String>,
    map: Map<String, Value>,
) -> Result<T, FrameError> {
    serde_json::from_value(Value::Object(map))
        .map_err(|error| classify(&format!("op `{op}`"), id.cloned(), &error.to_string()))
}

/// The error body for a REST request body that did not deserialize (serde's message in).
pub fn classify_body_error(message: &str) -> ErrorBody {
    classify("the request body", None, message).body
}

/// Turn serde's message into a stable code plus the offending field name.
fn classify(context: &str, id: Option<String>, message: &str) -> FrameError {
    if let Some(field) = between(message, "missing field `", "`") {
        return FrameError::new(
            id,
            ErrorCode::MissingField,
            format!("field `{field}` is required in {context}"),
            json!({"field": field}),
        );
    }
    if let Some(field) = between(message, "unknown field `", "`") {
        return FrameError::new(
            id,
            ErrorCode::InvalidField,
            format!("field `{field}` is not part of {context}"),
            json!({"field": field, "reason": "unknown field"}),
        );
    }
    FrameError::new(
        id,
        ErrorCode::InvalidField,
        format!("{context} has an invalid field: {message}"),
        json!({"reason": message}),
    )
}

fn between<'a>(haystack: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = haystack.find(start)? + start.len();
    let len = haystack[from..].find(end)?;
    Some(&haystack[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageBody;

    fn code_of(text: &str) -> (ErrorCode, Value, Option<String>) {
        let error = parse_client_frame(text).expect_err(text);
        (error.body.code, error.body.details, error.id)
    }

    #[test]
    fn refused_frames_get_stable_codes() {
        let cases: &[(&str, ErrorCode, Value)] = &[
            ("not json", ErrorCode::InvalidJson, json!({})),
            ("[1,2]", ErrorCode::InvalidJson, json!({})),
            ("{}", ErrorCode::MissingField, json!({"field": "op"})),
            (
                r#"{"op":5}"#,
                ErrorCode::InvalidField,
                json!({"field": "op"}),
            ),
            (
                r#"{"op":"dance"}"#,
                ErrorCode::UnknownOp,
                json!({"op": "dance"}),
            ),
            (
                r#"{"op":"send","client_msg_id":"c","body":{"type":"text","text":"x"}}"#,
                ErrorCode::MissingField,
                json!({"field": "conversation_id"}),
            ),
            (
                r#"{"op":"mark_read","conversation_id":"c"}"#,
                ErrorCode::MissingField,
                json!({"field": "seq"}),
            ),
            (
                r#"{"op":"ping","colour":"red"}"#,
                ErrorCode::InvalidField,
                json!({"field": "colour", "reason": "unknown field"}),
            ),
            (
                r#"{"op":"ping","id":""}"#,
                ErrorCode::InvalidField,
                json!({"field": "id"}),
            ),
        ];
        for (text, code, details) in cases {
            let (got_code, got_details, _) = code_of(text);
            assert_eq!((got_code, &got_details), (*code, details), "frame {text}");
        }
        let (code, _, _) = code_of(r#"{"op":"mark_read","conversation_id":"c","seq":"x"}"#);
        assert_eq!(code, ErrorCode::InvalidField);
        let (code, _, _) = code_of(
            r#"{"op":"send","conversation_id":"c","client_msg_id":"m","body":{"type":"video"}}"#,
        );
        assert_eq!(code, ErrorCode::InvalidField);
    }

    #[test]
    fn errors_echo_the_request_id() {
        let (_, _, id) = code_of(r#"{"op":"dance","id":"r9"}"#);
        assert_eq!(id.as_deref(), Some("r9"));
    }

    #[test]
    fn valid_frames_parse() {
        let frame = parse_client_frame(
            r#"{"op":"send","id":"r1","conversation_id":"c1","client_msg_id":"m1","body":{"type":"text","text":"hi"},"mentions":["bob"]}"#,
        )
        .unwrap();
        let ClientFrame::Send(send) = frame else {
            panic!("expected send")
        };
        assert_eq!(send.body, MessageBody::Text { text: "hi".into() });
        assert_eq!(send.mentions, vec!["bob".to_owned()]);
        assert_eq!(
            parse_client_frame(r#"{"op":"resume"}"#).unwrap(),
            ClientFrame::Resume(crate::ResumeFrame::default())
        );
        let typing = parse_client_frame(r#"{"op":"typing","conversation_id":"c"}"#).unwrap();
        assert!(matches!(typing, ClientFrame::Typing(t) if t.active));
    }

    #[test]
    fn serialized_client_frames_parse_back() {
        let frame = ClientFrame::MarkRead(crate::MarkFrame {
            id: Some("r".into()),
            conversation_id: "c".into(),
            seq: 4,
        });
        let text = serde_json::to_string(&frame).unwrap();
        assert_eq!(parse_client_frame(&text).unwrap(), frame);
    }
}

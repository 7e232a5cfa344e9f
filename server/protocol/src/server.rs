//! Frames the server sends over the WebSocket (`docs/protocol.md` §2.3).

use crate::{ErrorCode, MessageView};
use serde::{Deserialize, Serialize};

/// One server frame. Serialized once per event and shared by every recipient connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello(HelloFrame),
    Ack(AckFrame),
    Message {
        message: MessageView,
    },
    Update {
        kind: UpdateKind,
        message: MessageView,
    },
    Reaction {
        conversation_id: String,
        message_id: String,
        user_id: String,
        emoji: String,
        added: bool,
        count: i64,
    },
    Receipt(ReceiptFrame),
    Typing {
        conversation_id: String,
        user_id: String,
        active: bool,
        expires_in_ms: u64,
    },
    Presence {
        user_id: String,
        status: PresenceStatus,
        last_seen_ms: i64,
    },
    Membership {
        conversation_id: String,
        user_id: String,
        action: MembershipAction,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        by: Option<String>,
    },
    Reset {
        conversation_id: String,
        latest_seq: i64,
        reason: String,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        code: ErrorCode,
        message: String,
        #[serde(default)]
        details: serde_json::Value,
    },
    Pong {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

impl ServerFrame {
    /// Frames the server may drop for a connection under backpressure (§2.4 point 5).
    pub fn is_droppable(&self) -> bool {
        matches!(self, Self::Typing { .. } | Self::Presence { .. })
    }

    /// Serialize to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        // Serializing these plain data types cannot fail: no maps with non-string keys, no I/O.
        serde_json::to_string(self)
            .unwrap_or_else(|_| String::from("{\"op\":\"error\",\"code\":\"internal\"}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    Edited,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipAction {
    Joined,
    Left,
    Added,
    Kicked,
    Banned,
    RoleChanged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_text_bytes: usize,
    pub messages_per_sec: u32,
    pub message_burst: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloFrame {
    pub protocol: u32,
    pub session_id: String,
    pub user_id: String,
    pub app_id: String,
    pub server_time_ms: i64,
    pub heartbeat_ms: u64,
    pub idle_timeout_ms: u64,
    pub limits: Limits,
}

/// The answer to a client frame that carried an `id`; which optional fields are set depends on the op.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AckFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    pub server_time_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptFrame {
    pub conversation_id: String,
    pub user_id: String,
    pub delivered_seq: i64,
    pub read_seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_op_tag() {
        let frame = ServerFrame::Pong {
            id: Some("p1".into()),
        };
        assert_eq!(frame.to_json(), r#"{"op":"pong","id":"p1"}"#);
        let ack = ServerFrame::Ack(AckFrame {
            id: Some("r1".into()),
            seq: Some(3),
            server_time_ms: 5,
            ..AckFrame::default()
        });
        assert_eq!(
            ack.to_json(),
            r#"{"op":"ack","id":"r1","seq":3,"server_time_ms":5}"#
        );
        let back: ServerFrame = serde_json::from_str(&ack.to_json()).unwrap();
        assert_eq!(back, ack);
    }
}

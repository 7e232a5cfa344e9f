//! Frames a client sends over the WebSocket (`docs/protocol.md` §2.2).

use crate::MessageBody;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One client frame, already validated for shape by [`crate::parse_client_frame`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientFrame {
    Send(SendFrame),
    Edit(EditFrame),
    Delete(DeleteFrame),
    React(ReactFrame),
    Typing(TypingFrame),
    MarkDelivered(MarkFrame),
    MarkRead(MarkFrame),
    Resume(ResumeFrame),
    Ping(PingFrame),
}

impl ClientFrame {
    /// The request id to echo in the answer, if the client gave one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Send(f) => f.id.as_deref(),
            Self::Edit(f) => f.id.as_deref(),
            Self::Delete(f) => f.id.as_deref(),
            Self::React(f) => f.id.as_deref(),
            Self::Typing(f) => f.id.as_deref(),
            Self::MarkDelivered(f) | Self::MarkRead(f) => f.id.as_deref(),
            Self::Resume(f) => f.id.as_deref(),
            Self::Ping(f) => f.id.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    pub client_msg_id: String,
    pub body: MessageBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    pub message_id: String,
    pub body: MessageBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    pub message_id: String,
    pub emoji: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    #[serde(default = "default_true")]
    pub active: bool,
}

/// `mark_delivered` and `mark_read`: move a cursor up to `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub conversation_id: String,
    pub seq: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Last `seq` seen per conversation id.
    #[serde(default)]
    pub conversations: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PingFrame {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

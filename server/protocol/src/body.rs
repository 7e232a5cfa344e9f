//! Message bodies and the message view sent to clients.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a message carries (`docs/protocol.md` §2.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MessageBody {
    Text {
        text: String,
    },
    Custom {
        data: serde_json::Value,
    },
    Media {
        url: String,
        mime_type: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// The tombstone left by a delete; clients cannot send it.
    Deleted,
}

/// A message as clients see it, live, replayed or in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    pub client_msg_id: String,
    pub body: MessageBody,
    pub parent_id: Option<String>,
    pub reply_count: i64,
    pub mentions: Vec<String>,
    pub reactions: BTreeMap<String, i64>,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted: bool,
}

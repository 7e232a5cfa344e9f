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
///
/// Fields at their default (no parent, no replies, no mentions, no reactions, never edited, not deleted)
/// are left out (`docs/protocol.md` §2.3): most messages are plain ones, and these fields were a third of
/// every `message` frame, written and parsed once per recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    pub client_msg_id: String,
    pub body: MessageBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reply_count: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reactions: BTreeMap<String, i64>,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
}

// serde's `skip_serializing_if` takes a path to a function of `&T`.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &i64) -> bool {
    *value == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> MessageView {
        MessageView {
            id: "m1".into(),
            conversation_id: "c1".into(),
            seq: 7,
            sender_id: "alice".into(),
            client_msg_id: "k1".into(),
            body: MessageBody::Text { text: "hi".into() },
            parent_id: None,
            reply_count: 0,
            mentions: vec![],
            reactions: BTreeMap::new(),
            created_at_ms: 1,
            edited_at_ms: None,
            deleted: false,
        }
    }

    #[test]
    fn a_plain_message_leaves_its_defaults_out_and_reads_back_the_same() {
        let json = serde_json::to_string(&plain()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"m1","conversation_id":"c1","seq":7,"sender_id":"alice","client_msg_id":"k1","body":{"type":"text","text":"hi"},"created_at_ms":1}"#
        );
        assert_eq!(serde_json::from_str::<MessageView>(&json).unwrap(), plain());
    }

    #[test]
    fn fields_away_from_their_default_are_written() {
        let mut message = plain();
        message.parent_id = Some("m0".into());
        message.reply_count = 2;
        message.mentions = vec!["bob".into()];
        message.reactions.insert("👍".into(), 1);
        message.edited_at_ms = Some(5);
        message.deleted = true;
        let value = serde_json::to_value(&message).unwrap();
        for field in [
            "parent_id",
            "reply_count",
            "mentions",
            "reactions",
            "edited_at_ms",
            "deleted",
        ] {
            assert!(value.get(field).is_some(), "{field} missing from {value}");
        }
        assert_eq!(
            serde_json::from_value::<MessageView>(value).unwrap(),
            message
        );
    }
}

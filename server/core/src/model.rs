//! Domain records as the store keeps them.

use crate::ids::{AppId, ConversationId, MessageId, UserId};
use cc_protocol::rest::Visibility;
use cc_protocol::{MessageBody, MessageView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub app_id: AppId,
    pub label: String,
    /// SHA-256 of the secret part, hex; the secret itself is never stored.
    pub secret_hash: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub app_id: AppId,
    pub id: UserId,
    pub name: String,
    pub metadata: serde_json::Value,
    pub active: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Group => "group",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub app_id: AppId,
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub name: String,
    pub visibility: Visibility,
    /// SHA-256 hex of `<conversation id>:<password>` for password groups.
    pub password_hash: Option<String>,
    pub metadata: serde_json::Value,
    /// `min|max` of the two user ids of a direct conversation: one conversation per pair.
    pub direct_key: Option<String>,
    pub last_seq: i64,
    pub member_count: i64,
    pub created_at_ms: i64,
}

/// Conversation roles, ordered: a higher role may do what a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "member" => Some(Self::Member),
            "moderator" => Some(Self::Moderator),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at_ms: i64,
    pub delivered_seq: i64,
    pub read_seq: i64,
}

/// What a permission check needs to know of a conversation and one user: every operation runs one,
/// so stores answer it from a cache where they can (see [`crate::store::Store::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub kind: ConversationKind,
    pub visibility: Visibility,
    /// The user's role, `None` for a non-member.
    pub role: Option<Role>,
}

/// A conversation as one member sees it in their list.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberConversation {
    pub conversation: Conversation,
    pub member: Member,
    pub unread_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub app_id: AppId,
    pub conversation_id: ConversationId,
    pub id: MessageId,
    pub seq: i64,
    pub sender_id: UserId,
    pub client_msg_id: String,
    pub body: MessageBody,
    pub parent_id: Option<MessageId>,
    pub reply_count: i64,
    pub mentions: Vec<UserId>,
    pub reactions: BTreeMap<String, i64>,
    pub created_at_ms: i64,
    pub edited_at_ms: Option<i64>,
    pub deleted: bool,
}

impl Message {
    pub fn view(&self) -> MessageView {
        MessageView {
            id: self.id.0.clone(),
            conversation_id: self.conversation_id.0.clone(),
            seq: self.seq,
            sender_id: self.sender_id.0.clone(),
            client_msg_id: self.client_msg_id.clone(),
            body: self.body.clone(),
            parent_id: self.parent_id.as_ref().map(|id| id.0.clone()),
            reply_count: self.reply_count,
            mentions: self.mentions.iter().map(|u| u.0.clone()).collect(),
            reactions: self.reactions.clone(),
            created_at_ms: self.created_at_ms,
            edited_at_ms: self.edited_at_ms,
            deleted: self.deleted,
        }
    }
}

/// A message to append; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub app_id: AppId,
    pub conversation_id: ConversationId,
    pub id: MessageId,
    pub sender_id: UserId,
    pub client_msg_id: String,
    pub body: MessageBody,
    pub parent_id: Option<MessageId>,
    pub mentions: Vec<UserId>,
    pub created_at_ms: i64,
}

/// What appending did: a new message, or the one already stored under the same `client_msg_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    Created(Message),
    Duplicate(Message),
}

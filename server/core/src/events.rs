//! Domain events: everything that happened, published on the [`crate::bus::Bus`] after commit. The
//! gateway turns them into frames; moderation, notifications and webhooks (later) consume them too.

use crate::ids::{AppId, ConversationId, MessageId, SessionId, UserId};
use crate::model::{Message, Role};
use cc_protocol::MembershipAction;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who should see an event on their live connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipients {
    /// Nobody live (audit-only events such as API key changes).
    None,
    /// These users' connections (conversation members at commit time).
    Users(Arc<[UserId]>),
    /// One connection.
    Session(SessionId),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    MessageCreated {
        message: Message,
    },
    MessageEdited {
        message: Message,
    },
    MessageDeleted {
        message: Message,
    },
    ReactionChanged {
        conversation_id: ConversationId,
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
        added: bool,
        count: i64,
    },
    ReceiptMoved {
        conversation_id: ConversationId,
        user_id: UserId,
        delivered_seq: i64,
        read_seq: i64,
    },
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        active: bool,
        expires_in_ms: u64,
    },
    PresenceChanged {
        user_id: UserId,
        online: bool,
        last_seen_ms: i64,
    },
    Membership {
        conversation_id: ConversationId,
        user_id: UserId,
        action: MembershipAction,
        role: Option<Role>,
        by: Option<UserId>,
    },
    ConversationCreated {
        conversation_id: ConversationId,
        by: UserId,
    },
    ConversationUpdated {
        conversation_id: ConversationId,
        by: UserId,
    },
    UserCreated {
        user_id: UserId,
    },
    UserUpdated {
        user_id: UserId,
    },
    UserDeactivated {
        user_id: UserId,
    },
    SessionRevoked {
        session_id: SessionId,
        user_id: UserId,
    },
    ApiKeyCreated {
        key_id: String,
    },
    ApiKeyRevoked {
        key_id: String,
    },
}

impl DomainEvent {
    /// A stable name for logs, metrics and topic routing.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MessageCreated { .. } => "message_created",
            Self::MessageEdited { .. } => "message_edited",
            Self::MessageDeleted { .. } => "message_deleted",
            Self::ReactionChanged { .. } => "reaction_changed",
            Self::ReceiptMoved { .. } => "receipt_moved",
            Self::Typing { .. } => "typing",
            Self::PresenceChanged { .. } => "presence_changed",
            Self::Membership { .. } => "membership",
            Self::ConversationCreated { .. } => "conversation_created",
            Self::ConversationUpdated { .. } => "conversation_updated",
            Self::UserCreated { .. } => "user_created",
            Self::UserUpdated { .. } => "user_updated",
            Self::UserDeactivated { .. } => "user_deactivated",
            Self::SessionRevoked { .. } => "session_revoked",
            Self::ApiKeyCreated { .. } => "api_key_created",
            Self::ApiKeyRevoked { .. } => "api_key_revoked",
        }
    }

    /// The conversation the event belongs to: the ordering key on a partitioned bus.
    pub fn conversation_id(&self) -> Option<&ConversationId> {
        match self {
            Self::MessageCreated { message }
            | Self::MessageEdited { message }
            | Self::MessageDeleted { message } => Some(&message.conversation_id),
            Self::ReactionChanged {
                conversation_id, ..
            }
            | Self::ReceiptMoved {
                conversation_id, ..
            }
            | Self::Typing {
                conversation_id, ..
            }
            | Self::Membership {
                conversation_id, ..
            }
            | Self::ConversationCreated {
                conversation_id, ..
            }
            | Self::ConversationUpdated {
                conversation_id, ..
            } => Some(conversation_id),
            _ => None,
        }
    }
}

/// An event with its tenant, audience and commit time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub app_id: AppId,
    pub recipients: Recipients,
    pub event: DomainEvent,
    pub at_ms: i64,
}

//! Key names. Keys used together by one script share a `{hash tag}`, so they live in one Cluster slot.

use cc_core::ids::{AppId, ConversationId, UserId};

/// `{app|user}`: every key of one user.
pub(crate) fn user_tag(prefix: &str, app: &AppId, user: &UserId) -> String {
    format!("{prefix}{{{app}|{user}}}")
}

/// `{app|conversation}`: every cache key of one conversation.
pub(crate) fn conversation_tag(prefix: &str, app: &AppId, conversation: &ConversationId) -> String {
    format!("{prefix}{{{app}|{conversation}}}")
}

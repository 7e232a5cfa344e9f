//! Domain records to REST views.

use crate::model::{Conversation, Member, User};
use cc_protocol::rest::{ConversationView, MemberView, UserView};

pub fn user_view(user: &User) -> UserView {
    UserView {
        user_id: user.id.0.clone(),
        name: user.name.clone(),
        metadata: user.metadata.clone(),
        active: user.active,
        created_at_ms: user.created_at_ms,
    }
}

pub fn member_view(member: &Member) -> MemberView {
    MemberView {
        user_id: member.user_id.0.clone(),
        role: member.role.as_str().to_owned(),
        joined_at_ms: member.joined_at_ms,
    }
}

pub fn conversation_view(
    conversation: &Conversation,
    member: Option<&Member>,
    unread_count: Option<i64>,
) -> ConversationView {
    ConversationView {
        conversation_id: conversation.id.0.clone(),
        kind: conversation.kind.as_str().to_owned(),
        name: conversation.name.clone(),
        visibility: conversation.visibility,
        metadata: conversation.metadata.clone(),
        member_count: conversation.member_count,
        last_seq: conversation.last_seq,
        created_at_ms: conversation.created_at_ms,
        role: member.map(|m| m.role.as_str().to_owned()),
        read_seq: member.map(|m| m.read_seq),
        unread_count,
    }
}

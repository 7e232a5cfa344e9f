//! Domain events to server frames (pure).

use cc_core::events::DomainEvent;
use cc_protocol::{PresenceStatus, ReceiptFrame, ServerFrame, UpdateKind};

/// The frame members see for an event, or `None` for events with no live frame.
pub fn frame_for(event: &DomainEvent) -> Option<ServerFrame> {
    let frame = match event {
        DomainEvent::MessageCreated { message } => ServerFrame::Message {
            message: message.view(),
        },
        DomainEvent::MessageEdited { message } => ServerFrame::Update {
            kind: UpdateKind::Edited,
            message: message.view(),
        },
        DomainEvent::MessageDeleted { message } => ServerFrame::Update {
            kind: UpdateKind::Deleted,
            message: message.view(),
        },
        DomainEvent::ReactionChanged {
            conversation_id,
            message_id,
            user_id,
            emoji,
            added,
            count,
        } => ServerFrame::Reaction {
            conversation_id: conversation_id.0.clone(),
            message_id: message_id.0.clone(),
            user_id: user_id.0.clone(),
            emoji: emoji.clone(),
            added: *added,
            count: *count,
        },
        DomainEvent::ReceiptMoved {
            conversation_id,
            user_id,
            delivered_seq,
            read_seq,
        } => ServerFrame::Receipt(ReceiptFrame {
            conversation_id: conversation_id.0.clone(),
            user_id: user_id.0.clone(),
            delivered_seq: *delivered_seq,
            read_seq: *read_seq,
        }),
        DomainEvent::Typing {
            conversation_id,
            user_id,
            active,
            expires_in_ms,
        } => ServerFrame::Typing {
            conversation_id: conversation_id.0.clone(),
            user_id: user_id.0.clone(),
            active: *active,
            expires_in_ms: *expires_in_ms,
        },
        DomainEvent::PresenceChanged {
            user_id,
            online,
            last_seen_ms,
        } => ServerFrame::Presence {
            user_id: user_id.0.clone(),
            status: if *online {
                PresenceStatus::Online
            } else {
                PresenceStatus::Offline
            },
            last_seen_ms: *last_seen_ms,
        },
        DomainEvent::Membership {
            conversation_id,
            user_id,
            action,
            role,
            by,
        } => ServerFrame::Membership {
            conversation_id: conversation_id.0.clone(),
            user_id: user_id.0.clone(),
            action: *action,
            role: role.map(|r| r.as_str().to_owned()),
            by: by.as_ref().map(|u| u.0.clone()),
        },
        _ => return None,
    };
    Some(frame)
}

//! Messages: send (idempotent, `seq`-ordered publication), edit, delete, react, history, replay.

use super::{ChatService, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::DomainEvent;
use crate::ids::{ConversationId, MessageId, UserId, new_id, now_ms};
use crate::model::{Appended, ConversationKind, Message, NewMessage, Role};
use crate::store::HistoryPage;
use crate::validate;
use cc_protocol::{ErrorCode, MessageBody};

/// A send, from REST or the `send` op.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub conversation_id: ConversationId,
    pub client_msg_id: String,
    pub body: MessageBody,
    pub parent_id: Option<MessageId>,
    pub mentions: Vec<UserId>,
}

/// What a resume gets for one conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayOutcome {
    /// Every message after the client's cursor, ascending (maybe none).
    Messages(Vec<Message>),
    /// More was missed than the replay window: refetch through REST from `latest_seq`.
    Reset { latest_seq: i64 },
}

const MAX_MENTIONS: usize = 50;

impl ChatService {
    /// Commit then publish under the conversation's lock, so live events leave in `seq` order.
    /// Returns the message and whether it is a duplicate of an earlier send.
    pub async fn send_message(
        &self,
        principal: &Principal,
        request: SendRequest,
    ) -> DomainResult<(Message, bool)> {
        validate::client_msg_id(&request.client_msg_id)?;
        validate::body(&request.body, self.limits.max_text_bytes)?;
        if request.mentions.len() > MAX_MENTIONS {
            return Err(DomainError::invalid(
                "mentions",
                format!("must list at most {MAX_MENTIONS} users"),
            ));
        }
        for mention in &request.mentions {
            validate::user_id("mentions", &mention.0)?;
        }
        let app_id = &principal.app_id;
        self.member_role(principal, &request.conversation_id)
            .await?;
        self.rate_check(principal).await?;
        if let Some(parent_id) = &request.parent_id {
            let parent = self
                .store
                .get_message(app_id, &request.conversation_id, parent_id)
                .await?;
            match parent {
                Some(parent) if parent.parent_id.is_none() && !parent.deleted => {}
                _ => {
                    return Err(DomainError::invalid(
                        "parent_id",
                        "must be a live top-level message of this conversation",
                    ));
                }
            }
        }
        let new = NewMessage {
            app_id: app_id.clone(),
            conversation_id: request.conversation_id.clone(),
            id: MessageId(new_id()),
            sender_id: principal.user_id.clone(),
            client_msg_id: request.client_msg_id,
            body: request.body,
            parent_id: request.parent_id,
            mentions: request.mentions,
            created_at_ms: now_ms(),
        };
        match self.sends.send(new.clone()).await? {
            Appended::Duplicate(existing) => {
                // A deleted original no longer has its body to compare: the resend is a duplicate.
                let differs = existing.body != new.body
                    || existing.parent_id != new.parent_id
                    || existing.mentions != new.mentions;
                if differs && !existing.deleted {
                    return Err(DomainError::new(
                        ErrorCode::IdempotencyConflict,
                        "this client_msg_id was already used for a different message; use a new client_msg_id",
                    )
                    .with_details(serde_json::json!({"message_id": existing.id.0, "seq": existing.seq})));
                }
                Ok((existing, true))
            }
            Appended::Created(message) => Ok((message, false)),
        }
    }

    async fn existing_message(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
    ) -> DomainResult<Message> {
        self.store
            .get_message(&principal.app_id, conversation_id, message_id)
            .await?
            .ok_or_else(|| DomainError::not_found("message"))
    }

    pub async fn edit_message(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        body: MessageBody,
    ) -> DomainResult<Message> {
        validate::body(&body, self.limits.max_text_bytes)?;
        self.member_role(principal, conversation_id).await?;
        self.rate_check(principal).await?;
        let message = self
            .existing_message(principal, conversation_id, message_id)
            .await?;
        if message.sender_id != principal.user_id {
            return Err(DomainError::forbidden("only the author may edit a message"));
        }
        if message.deleted {
            return Err(DomainError::conflict("the message is deleted"));
        }
        let edited = self
            .store
            .edit_message(
                &principal.app_id,
                conversation_id,
                message_id,
                &body,
                now_ms(),
            )
            .await?
            .ok_or_else(|| DomainError::not_found("message"))?;
        let recipients = self.members_of(&principal.app_id, conversation_id).await?;
        self.publish(
            &principal.app_id,
            recipients,
            DomainEvent::MessageEdited {
                message: edited.clone(),
            },
        )
        .await;
        Ok(edited)
    }

    pub async fn delete_message(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
    ) -> DomainResult<Message> {
        let (conversation, member) = self.membership(principal, conversation_id).await?;
        self.rate_check(principal).await?;
        let message = self
            .existing_message(principal, conversation_id, message_id)
            .await?;
        let moderates =
            conversation.kind == ConversationKind::Group && member.role >= Role::Moderator;
        if message.sender_id != principal.user_id && !moderates {
            return Err(DomainError::forbidden(
                "only the author or a moderator may delete a message",
            ));
        }
        if message.deleted {
            return Ok(message);
        }
        let deleted = self
            .store
            .tombstone_message(&principal.app_id, conversation_id, message_id, now_ms())
            .await?
            .ok_or_else(|| DomainError::not_found("message"))?;
        let recipients = self.members_of(&principal.app_id, conversation_id).await?;
        self.publish(
            &principal.app_id,
            recipients,
            DomainEvent::MessageDeleted {
                message: deleted.clone(),
            },
        )
        .await;
        Ok(deleted)
    }

    /// Adds (`present`) or removes the caller's reaction; returns the emoji's count after.
    pub async fn react(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        message_id: &MessageId,
        emoji: &str,
        present: bool,
    ) -> DomainResult<i64> {
        validate::emoji(emoji)?;
        self.member_role(principal, conversation_id).await?;
        self.rate_check(principal).await?;
        let message = self
            .existing_message(principal, conversation_id, message_id)
            .await?;
        if message.deleted {
            return Err(DomainError::conflict("the message is deleted"));
        }
        let (changed, count) = self
            .store
            .set_reaction(
                &principal.app_id,
                conversation_id,
                message_id,
                &principal.user_id,
                emoji,
                present,
            )
            .await?;
        if changed {
            let recipients = self.members_of(&principal.app_id, conversation_id).await?;
            let event = DomainEvent::ReactionChanged {
                conversation_id: conversation_id.clone(),
                message_id: message_id.clone(),
                user_id: principal.user_id.clone(),
                emoji: emoji.to_owned(),
                added: present,
                count,
            };
            self.publish(&principal.app_id, recipients, event).await;
        }
        Ok(count)
    }

    pub async fn history(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> DomainResult<Vec<Message>> {
        self.member_role(principal, conversation_id).await?;
        Ok(self
            .store
            .history(&principal.app_id, conversation_id, page, limit)
            .await?)
    }

    pub async fn replies(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> DomainResult<Vec<Message>> {
        self.member_role(principal, conversation_id).await?;
        self.existing_message(principal, conversation_id, parent)
            .await?;
        Ok(self
            .store
            .replies(&principal.app_id, conversation_id, parent, after, limit)
            .await?)
    }

    /// Messages after `after_seq` for a resuming client, or a reset when the gap exceeds the window.
    pub async fn replay(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        after_seq: i64,
    ) -> DomainResult<ReplayOutcome> {
        let (conversation, _) = self.membership(principal, conversation_id).await?;
        let after_seq = after_seq.max(0);
        let window = i64::from(self.limits.replay_window);
        if conversation.last_seq - after_seq > window {
            return Ok(ReplayOutcome::Reset {
                latest_seq: conversation.last_seq,
            });
        }
        let mut messages = Vec::new();
        let mut cursor = after_seq;
        // Page until caught up with what was committed when the conversation was read; later
        // messages arrive live (and may also arrive here: clients deduplicate by seq).
        while cursor < conversation.last_seq {
            let page = self
                .store
                .history(
                    &principal.app_id,
                    conversation_id,
                    HistoryPage::After(cursor),
                    200,
                )
                .await?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            messages.extend(page);
        }
        Ok(ReplayOutcome::Messages(messages))
    }
}

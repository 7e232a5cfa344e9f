//! Delivered/read cursors and typing indicators.

use super::{ChatService, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::DomainEvent;
use crate::ids::{ConversationId, now_ms};
use crate::model::Member;

impl ChatService {
    /// Moves the caller's cursors forward (reading implies delivery) and announces them.
    pub async fn mark(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> DomainResult<(i64, i64)> {
        for (field, value) in [("delivered_seq", delivered), ("read_seq", read)] {
            if value.is_some_and(|v| v < 0) {
                return Err(DomainError::invalid(field, "must be 0 or more"));
            }
        }
        let delivered = match (delivered, read) {
            (Some(d), Some(r)) => Some(d.max(r)),
            (d, r) => d.or(r),
        };
        self.member_role(principal, conversation_id).await?;
        let (old_delivered, old_read) = self
            .store
            .get_member(&principal.app_id, conversation_id, &principal.user_id)
            .await?
            .map_or((0, 0), |m| (m.delivered_seq, m.read_seq));
        let (delivered_seq, read_seq) = self
            .store
            .advance_cursors(
                &principal.app_id,
                conversation_id,
                &principal.user_id,
                delivered,
                read,
            )
            .await?
            .ok_or_else(|| DomainError::not_found("conversation"))?;
        if (delivered_seq, read_seq) != (old_delivered, old_read) {
            let recipients = self.members_of(&principal.app_id, conversation_id).await?;
            let event = DomainEvent::ReceiptMoved {
                conversation_id: conversation_id.clone(),
                user_id: principal.user_id.clone(),
                delivered_seq,
                read_seq,
            };
            self.publish(&principal.app_id, recipients, event).await;
        }
        Ok((delivered_seq, read_seq))
    }

    pub async fn receipts(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
    ) -> DomainResult<Vec<Member>> {
        self.member_role(principal, conversation_id).await?;
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_members(&principal.app_id, conversation_id, after.as_ref(), 500)
                .await?;
            let done = page.len() < 500;
            after = page.last().map(|m| m.user_id.clone());
            all.extend(page);
            if done || all.len() >= 10_000 {
                break;
            }
        }
        Ok(all)
    }

    /// Broadcasts a typing indicator unless the caller's throttle for this conversation is closed.
    pub async fn typing(
        &self,
        principal: &Principal,
        conversation_id: &ConversationId,
        active: bool,
    ) -> DomainResult<()> {
        self.member_role(principal, conversation_id).await?;
        let allowed = !active
            || self
                .presence
                .allow_typing(
                    &principal.app_id,
                    &principal.user_id,
                    conversation_id,
                    now_ms(),
                    self.limits.typing_interval_ms,
                )
                .await;
        if allowed {
            let recipients = self.members_of(&principal.app_id, conversation_id).await?;
            let event = DomainEvent::Typing {
                conversation_id: conversation_id.clone(),
                user_id: principal.user_id.clone(),
                active,
                expires_in_ms: self.limits.typing_ttl_ms,
            };
            self.publish(&principal.app_id, recipients, event).await;
        }
        Ok(())
    }
}

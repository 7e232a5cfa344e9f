//! Membership and role checks shared by every conversation operation.

use super::{ChatService, Principal};
use crate::error::{DomainError, DomainResult};
use crate::ids::ConversationId;
use crate::model::{Conversation, ConversationKind, Member, Role};
use cc_protocol::rest::Visibility;

impl ChatService {
    /// The conversation, if it exists in the caller's app.
    pub(crate) async fn conversation(
        &self,
        principal: &Principal,
        id: &ConversationId,
    ) -> DomainResult<Conversation> {
        self.store
            .get_conversation(&principal.app_id, id)
            .await?
            .ok_or_else(|| DomainError::not_found("conversation"))
    }

    /// The caller's role in the conversation, for operations that need no more than the permission
    /// check (sends, receipts, reads): one store call the store can answer from its cache.
    pub(crate) async fn member_role(
        &self,
        principal: &Principal,
        id: &ConversationId,
    ) -> DomainResult<Role> {
        let access = self
            .store
            .access(&principal.app_id, id, &principal.user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("conversation"))?;
        match access.role {
            Some(role) => Ok(role),
            None => Err(refuse_non_member(access.kind, access.visibility)),
        }
    }

    /// The conversation and the caller's membership. Non-members learn nothing: a private or direct
    /// conversation answers `not_found`, a public or password group `forbidden`.
    pub(crate) async fn membership(
        &self,
        principal: &Principal,
        id: &ConversationId,
    ) -> DomainResult<(Conversation, Member)> {
        let conversation = self.conversation(principal, id).await?;
        match self
            .store
            .get_member(&principal.app_id, id, &principal.user_id)
            .await?
        {
            Some(member) => Ok((conversation, member)),
            None => Err(refuse_non_member(
                conversation.kind,
                conversation.visibility,
            )),
        }
    }

    /// Membership with at least `role`; only groups have management roles.
    pub(crate) async fn membership_with_role(
        &self,
        principal: &Principal,
        id: &ConversationId,
        role: Role,
    ) -> DomainResult<(Conversation, Member)> {
        let (conversation, member) = self.membership(principal, id).await?;
        if conversation.kind == ConversationKind::Direct {
            return Err(DomainError::forbidden(
                "direct conversations have no membership management",
            ));
        }
        if member.role < role {
            return Err(DomainError::forbidden(format!(
                "this needs the {} role or higher; you are {}",
                role.as_str(),
                member.role.as_str()
            )));
        }
        Ok((conversation, member))
    }
}

/// Non-members learn nothing: a private or direct conversation answers `not_found` (as if it did not
/// exist), a public or password group `forbidden`.
fn refuse_non_member(kind: ConversationKind, visibility: Visibility) -> DomainError {
    if kind == ConversationKind::Direct || visibility == Visibility::Private {
        DomainError::not_found("conversation")
    } else {
        DomainError::forbidden("you are not a member of this conversation")
    }
}

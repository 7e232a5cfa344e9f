//! Group membership: list, add, change role, kick, ban, unban, join, leave.

use super::{ChatService, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{ConversationId, UserId, now_ms};
use crate::model::{ConversationKind, Member, Role};
use crate::validate;
use cc_protocol::MembershipAction;
use cc_protocol::rest::Visibility;

fn parse_role(text: &str) -> DomainResult<Role> {
    Role::parse(text)
        .ok_or_else(|| DomainError::invalid("role", "must be member, moderator, admin or owner"))
}

impl ChatService {
    pub async fn list_members(
        &self,
        principal: &Principal,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> DomainResult<Vec<Member>> {
        self.member_role(principal, id).await?;
        Ok(self
            .store
            .list_members(&principal.app_id, id, after, limit)
            .await?)
    }

    /// Announce a membership change to the members after it, plus the affected user.
    async fn announce(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
        action: MembershipAction,
        role: Option<Role>,
    ) -> DomainResult<()> {
        let mut recipients = self.store.member_ids(&principal.app_id, id).await?.to_vec();
        if !recipients.contains(user_id) {
            recipients.push(user_id.clone());
        }
        let event = DomainEvent::Membership {
            conversation_id: id.clone(),
            user_id: user_id.clone(),
            action,
            role,
            by: Some(principal.user_id.clone()),
        };
        self.publish(
            &principal.app_id,
            Recipients::Users(recipients.into()),
            event,
        )
        .await;
        Ok(())
    }

    pub async fn add_member(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
        role: Option<&str>,
    ) -> DomainResult<()> {
        let (_, actor) = self
            .membership_with_role(principal, id, Role::Admin)
            .await?;
        validate::user_id("user_id", &user_id.0)?;
        let role = role.map(parse_role).transpose()?.unwrap_or(Role::Member);
        if role >= actor.role {
            return Err(DomainError::forbidden(
                "you can only grant roles below your own",
            ));
        }
        let user = self
            .store
            .get_user(&principal.app_id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        if !user.active {
            return Err(DomainError::conflict("the user is deactivated"));
        }
        if self.store.is_banned(&principal.app_id, id, user_id).await? {
            return Err(DomainError::conflict(
                "the user is banned from this conversation; unban first",
            ));
        }
        if self
            .store
            .get_member(&principal.app_id, id, user_id)
            .await?
            .is_some()
        {
            return Err(DomainError::conflict("the user is already a member"));
        }
        self.store
            .upsert_member(&principal.app_id, id, user_id, role, now_ms())
            .await?;
        self.announce(principal, id, user_id, MembershipAction::Added, Some(role))
            .await
    }

    pub async fn change_role(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
        role: &str,
    ) -> DomainResult<()> {
        let (_, actor) = self
            .membership_with_role(principal, id, Role::Admin)
            .await?;
        let role = parse_role(role)?;
        let target = self
            .store
            .get_member(&principal.app_id, id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("member"))?;
        // Owners make admins and hand over ownership; admins manage moderators and members only.
        let allowed = if actor.role == Role::Owner {
            target.user_id != actor.user_id
        } else {
            target.role < actor.role && role < actor.role
        };
        if !allowed {
            return Err(DomainError::forbidden(
                "your role cannot change this member to that role",
            ));
        }
        self.store
            .upsert_member(&principal.app_id, id, user_id, role, now_ms())
            .await?;
        if role == Role::Owner {
            // Ownership is handed over, not shared.
            self.store
                .upsert_member(&principal.app_id, id, &actor.user_id, Role::Admin, now_ms())
                .await?;
        }
        self.announce(
            principal,
            id,
            user_id,
            MembershipAction::RoleChanged,
            Some(role),
        )
        .await
    }

    pub async fn kick(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
    ) -> DomainResult<()> {
        let (_, actor) = self
            .membership_with_role(principal, id, Role::Moderator)
            .await?;
        let target = self
            .store
            .get_member(&principal.app_id, id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("member"))?;
        if target.role >= actor.role {
            return Err(DomainError::forbidden(
                "you can only remove members with a lower role",
            ));
        }
        self.store
            .remove_member(&principal.app_id, id, user_id)
            .await?;
        self.announce(principal, id, user_id, MembershipAction::Kicked, None)
            .await
    }

    pub async fn ban(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
    ) -> DomainResult<()> {
        let (_, actor) = self
            .membership_with_role(principal, id, Role::Moderator)
            .await?;
        validate::user_id("user_id", &user_id.0)?;
        if let Some(target) = self
            .store
            .get_member(&principal.app_id, id, user_id)
            .await?
        {
            if target.role >= actor.role {
                return Err(DomainError::forbidden(
                    "you can only ban members with a lower role",
                ));
            }
            self.store
                .remove_member(&principal.app_id, id, user_id)
                .await?;
        }
        self.store
            .set_ban(&principal.app_id, id, user_id, true, now_ms())
            .await?;
        self.announce(principal, id, user_id, MembershipAction::Banned, None)
            .await
    }

    pub async fn unban(
        &self,
        principal: &Principal,
        id: &ConversationId,
        user_id: &UserId,
    ) -> DomainResult<()> {
        self.membership_with_role(principal, id, Role::Moderator)
            .await?;
        if !self
            .store
            .set_ban(&principal.app_id, id, user_id, false, now_ms())
            .await?
        {
            return Err(DomainError::not_found("ban"));
        }
        Ok(())
    }

    pub async fn join(
        &self,
        principal: &Principal,
        id: &ConversationId,
        password: Option<&str>,
    ) -> DomainResult<()> {
        let conversation = self.conversation(principal, id).await?;
        if conversation.kind == ConversationKind::Direct
            || conversation.visibility == Visibility::Private
        {
            return Err(DomainError::not_found("conversation"));
        }
        if self
            .store
            .get_member(&principal.app_id, id, &principal.user_id)
            .await?
            .is_some()
        {
            return Err(DomainError::conflict("you are already a member"));
        }
        if self
            .store
            .is_banned(&principal.app_id, id, &principal.user_id)
            .await?
        {
            return Err(DomainError::forbidden(
                "you are banned from this conversation",
            ));
        }
        if conversation.visibility == Visibility::Password {
            let given = password.map(|p| super::conversations::password_hash(id, p));
            let matches = matches!((&given, &conversation.password_hash), (Some(g), Some(h)) if crate::auth::api_key::hashes_equal(g, h));
            if !matches {
                return Err(DomainError::forbidden("wrong or missing password"));
            }
        }
        self.store
            .upsert_member(
                &principal.app_id,
                id,
                &principal.user_id,
                Role::Member,
                now_ms(),
            )
            .await?;
        self.announce(
            principal,
            id,
            &principal.user_id,
            MembershipAction::Joined,
            Some(Role::Member),
        )
        .await
    }

    pub async fn leave(&self, principal: &Principal, id: &ConversationId) -> DomainResult<()> {
        let (conversation, member) = self.membership(principal, id).await?;
        if conversation.kind == ConversationKind::Direct {
            return Err(DomainError::forbidden(
                "you cannot leave a direct conversation",
            ));
        }
        if member.role == Role::Owner {
            return Err(DomainError::conflict(
                "the owner must hand over ownership before leaving",
            ));
        }
        self.store
            .remove_member(&principal.app_id, id, &principal.user_id)
            .await?;
        self.announce(
            principal,
            id,
            &principal.user_id,
            MembershipAction::Left,
            None,
        )
        .await
    }
}

//! Conversations: create (direct or group), get, update, list the caller's.

use super::{ChatService, Principal};
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{ConversationId, UserId, new_id, now_ms};
use crate::model::{Conversation, ConversationKind, Member, MemberConversation, Role};
use crate::store::ConversationPatch;
use crate::validate;
use cc_protocol::MembershipAction;
use cc_protocol::rest::{CreateConversation, UpdateConversation, Visibility};

pub(crate) fn password_hash(conversation_id: &ConversationId, password: &str) -> String {
    crate::auth::api_key::hash_secret(&format!("{}:{password}", conversation_id.0))
}

fn check_password(visibility: Visibility, password: Option<&String>) -> DomainResult<()> {
    match (visibility, password) {
        (Visibility::Password, None) => Err(DomainError::invalid(
            "password",
            "is required for a password group",
        )),
        (Visibility::Password, Some(p)) if p.is_empty() || p.len() > 128 => {
            Err(DomainError::invalid("password", "must be 1-128 bytes"))
        }
        (Visibility::Public | Visibility::Private, Some(_)) => Err(DomainError::invalid(
            "password",
            "is only allowed with visibility `password`",
        )),
        _ => Ok(()),
    }
}

impl ChatService {
    pub async fn create_conversation(
        &self,
        principal: &Principal,
        request: CreateConversation,
    ) -> DomainResult<(Conversation, Member)> {
        let app_id = &principal.app_id;
        let id = ConversationId(new_id());
        let (conversation, members) = match request {
            CreateConversation::Direct { peer_id } => {
                validate::user_id("peer_id", &peer_id)?;
                if peer_id == principal.user_id.0 {
                    return Err(DomainError::invalid("peer_id", "must be another user"));
                }
                let peer = self
                    .store
                    .get_user(app_id, &UserId(peer_id))
                    .await?
                    .ok_or_else(|| DomainError::not_found("user"))?;
                if !peer.active {
                    return Err(DomainError::conflict("the peer is deactivated"));
                }
                let (low, high) = if principal.user_id < peer.id {
                    (&principal.user_id, &peer.id)
                } else {
                    (&peer.id, &principal.user_id)
                };
                let conversation = Conversation {
                    app_id: app_id.clone(),
                    id,
                    kind: ConversationKind::Direct,
                    name: String::new(),
                    visibility: Visibility::Private,
                    password_hash: None,
                    metadata: serde_json::json!({}),
                    direct_key: Some(format!("{low}|{high}")),
                    last_seq: 0,
                    member_count: 2,
                    created_at_ms: now_ms(),
                };
                (
                    conversation,
                    vec![
                        (principal.user_id.clone(), Role::Member),
                        (peer.id, Role::Member),
                    ],
                )
            }
            CreateConversation::Group {
                name,
                visibility,
                password,
                members,
                metadata,
            } => {
                if name.trim().is_empty() || name.len() > 200 {
                    return Err(DomainError::invalid("name", "must be 1-200 bytes"));
                }
                check_password(visibility, password.as_ref())?;
                validate::metadata("metadata", &metadata)?;
                if members.len() > 1000 {
                    return Err(DomainError::invalid(
                        "members",
                        "must list at most 1000 users; add more later",
                    ));
                }
                let mut list = vec![(principal.user_id.clone(), Role::Owner)];
                for member in members {
                    validate::user_id("members", &member)?;
                    let user_id = UserId(member);
                    if list.iter().any(|(u, _)| *u == user_id) {
                        continue;
                    }
                    match self.store.get_user(app_id, &user_id).await? {
                        Some(user) if user.active => list.push((user_id, Role::Member)),
                        _ => {
                            return Err(DomainError::not_found("user")
                                .with_details(serde_json::json!({"user_id": user_id.0})));
                        }
                    }
                }
                let conversation = Conversation {
                    app_id: app_id.clone(),
                    password_hash: password.map(|p| password_hash(&id, &p)),
                    id,
                    kind: ConversationKind::Group,
                    name,
                    visibility,
                    metadata: if metadata.is_null() {
                        serde_json::json!({})
                    } else {
                        metadata
                    },
                    direct_key: None,
                    last_seq: 0,
                    member_count: list.len() as i64,
                    created_at_ms: now_ms(),
                };
                (conversation, list)
            }
        };
        let stored = self
            .store
            .create_conversation(&conversation, &members)
            .await?;
        let member = self
            .store
            .get_member(app_id, &stored.id, &principal.user_id)
            .await?
            .ok_or_else(|| {
                DomainError::new(cc_protocol::ErrorCode::Internal, "creator is not a member")
            })?;
        if stored.id == conversation.id {
            self.publish(
                app_id,
                Recipients::None,
                DomainEvent::ConversationCreated {
                    conversation_id: stored.id.clone(),
                    by: principal.user_id.clone(),
                },
            )
            .await;
            let recipients: Vec<UserId> = members.iter().map(|(u, _)| u.clone()).collect();
            let recipients = Recipients::Users(recipients.into());
            for (user_id, role) in &members {
                let event = DomainEvent::Membership {
                    conversation_id: stored.id.clone(),
                    user_id: user_id.clone(),
                    action: if *user_id == principal.user_id {
                        MembershipAction::Joined
                    } else {
                        MembershipAction::Added
                    },
                    role: Some(*role),
                    by: Some(principal.user_id.clone()),
                };
                self.publish(app_id, recipients.clone(), event).await;
            }
        }
        Ok((stored, member))
    }

    pub async fn get_conversation(
        &self,
        principal: &Principal,
        id: &ConversationId,
    ) -> DomainResult<(Conversation, Member)> {
        self.membership(principal, id).await
    }

    pub async fn update_conversation(
        &self,
        principal: &Principal,
        id: &ConversationId,
        request: UpdateConversation,
    ) -> DomainResult<Conversation> {
        let (conversation, _) = self
            .membership_with_role(principal, id, Role::Admin)
            .await?;
        if let Some(name) = &request.name
            && (name.trim().is_empty() || name.len() > 200)
        {
            return Err(DomainError::invalid("name", "must be 1-200 bytes"));
        }
        if let Some(metadata) = &request.metadata {
            validate::metadata("metadata", metadata)?;
        }
        let visibility = request.visibility.unwrap_or(conversation.visibility);
        let password_hash = match (visibility, &request.password) {
            (Visibility::Password, Some(password)) => {
                check_password(visibility, Some(password))?;
                Some(Some(password_hash(id, password)))
            }
            (Visibility::Password, None) if conversation.password_hash.is_none() => {
                return Err(DomainError::invalid(
                    "password",
                    "is required for a password group",
                ));
            }
            (Visibility::Password, None) => None,
            (_, Some(_)) => {
                return Err(DomainError::invalid(
                    "password",
                    "is only allowed with visibility `password`",
                ));
            }
            (_, None) => Some(None),
        };
        let patch = ConversationPatch {
            name: request.name,
            metadata: request.metadata,
            visibility: request.visibility,
            password_hash,
        };
        let updated = self
            .store
            .update_conversation(&principal.app_id, id, &patch)
            .await?
            .ok_or_else(|| DomainError::not_found("conversation"))?;
        let recipients = self.members_of(&principal.app_id, id).await?;
        self.publish(
            &principal.app_id,
            recipients,
            DomainEvent::ConversationUpdated {
                conversation_id: id.clone(),
                by: principal.user_id.clone(),
            },
        )
        .await;
        Ok(updated)
    }

    pub async fn list_conversations(
        &self,
        principal: &Principal,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> DomainResult<Vec<MemberConversation>> {
        Ok(self
            .store
            .list_member_conversations(&principal.app_id, &principal.user_id, after, limit)
            .await?)
    }
}

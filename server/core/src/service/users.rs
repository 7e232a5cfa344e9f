//! Users of an app: create, get, list, update, deactivate.

use super::ChatService;
use crate::error::{DomainError, DomainResult};
use crate::events::{DomainEvent, Recipients};
use crate::ids::{AppId, UserId, now_ms};
use crate::model::User;
use crate::validate;
use cc_protocol::rest::{CreateUser, UpdateUser};

impl ChatService {
    pub async fn create_user(&self, app_id: &AppId, request: CreateUser) -> DomainResult<User> {
        validate::user_id("user_id", &request.user_id)?;
        validate::short_text("name", &request.name, 200)?;
        validate::metadata("metadata", &request.metadata)?;
        let metadata = if request.metadata.is_null() {
            serde_json::json!({})
        } else {
            request.metadata
        };
        let user = User {
            app_id: app_id.clone(),
            id: UserId(request.user_id),
            name: request.name,
            metadata,
            active: true,
            created_at_ms: now_ms(),
        };
        self.store.insert_user(&user).await?;
        self.publish(
            app_id,
            Recipients::None,
            DomainEvent::UserCreated {
                user_id: user.id.clone(),
            },
        )
        .await;
        Ok(user)
    }

    pub async fn get_user(&self, app_id: &AppId, user_id: &UserId) -> DomainResult<User> {
        self.store
            .get_user(app_id, user_id)
            .await?
            .ok_or_else(|| DomainError::not_found("user"))
    }

    pub async fn list_users(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> DomainResult<Vec<User>> {
        Ok(self.store.list_users(app_id, after, limit).await?)
    }

    pub async fn update_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        request: UpdateUser,
    ) -> DomainResult<User> {
        if let Some(name) = &request.name {
            validate::short_text("name", name, 200)?;
        }
        if let Some(metadata) = &request.metadata {
            validate::metadata("metadata", metadata)?;
        }
        let user = self
            .store
            .update_user(
                app_id,
                user_id,
                request.name.as_deref(),
                request.metadata.as_ref(),
            )
            .await?
            .ok_or_else(|| DomainError::not_found("user"))?;
        self.publish(
            app_id,
            Recipients::None,
            DomainEvent::UserUpdated {
                user_id: user_id.clone(),
            },
        )
        .await;
        Ok(user)
    }

    /// Deactivates the user; the gateway closes their sessions on the published event.
    pub async fn deactivate_user(&self, app_id: &AppId, user_id: &UserId) -> DomainResult<()> {
        if !self.store.set_user_active(app_id, user_id, false).await? {
            return Err(DomainError::not_found("user"));
        }
        let recipients = Recipients::Users(vec![user_id.clone()].into());
        self.publish(
            app_id,
            recipients,
            DomainEvent::UserDeactivated {
                user_id: user_id.clone(),
            },
        )
        .await;
        Ok(())
    }
}

//! [`MetaStore`]: users' and conversations' `metadata` live in MongoDB, everything else in the inner store.
//!
//! Writes: the primary store first (it decides whether the user or conversation exists), then MongoDB; a
//! MongoDB failure there is reported as unavailable and the client retries the update. Reads overlay the
//! MongoDB document when there is one (a subject written before MongoDB was configured keeps its primary-store
//! metadata until its next update); when MongoDB cannot be read, the primary store's value is served and a
//! warning logged, so a MongoDB outage never stops chat.

use crate::metadata::{MetaError, MongoMetadata, Subject};
use async_trait::async_trait;
use cc_core::StoreError;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::{
    ApiKeyRecord, App, Appended, Conversation, Member, MemberConversation, Message, NewMessage,
    Role, User,
};
use cc_core::store::{ConversationPatch, HistoryPage, Store, StoreResult};
use cc_protocol::MessageBody;

pub struct MetaStore<S> {
    inner: S,
    metadata: MongoMetadata,
}

impl<S: Store> MetaStore<S> {
    pub fn new(inner: S, metadata: MongoMetadata) -> Self {
        Self { inner, metadata }
    }

    pub fn metadata(&self) -> &MongoMetadata {
        &self.metadata
    }

    async fn overlay_user(&self, mut user: User) -> User {
        match self
            .metadata
            .get(Subject::User(&user.app_id, &user.id))
            .await
        {
            Ok(Some(found)) => user.metadata = found.data,
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "serving user metadata from the primary store"),
        }
        user
    }

    async fn overlay_conversation(&self, mut conversation: Conversation) -> Conversation {
        let subject = Subject::Conversation(&conversation.app_id, &conversation.id);
        match self.metadata.get(subject).await {
            Ok(Some(found)) => conversation.metadata = found.data,
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "serving conversation metadata from the primary store");
            }
        }
        conversation
    }
}

fn unavailable(error: &MetaError) -> StoreError {
    StoreError::Unavailable(format!("metadata store: {error}"))
}

fn empty() -> serde_json::Value {
    serde_json::json!({})
}

#[async_trait]
impl<S: Store> Store for MetaStore<S> {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.inner.create_app(app).await
    }

    async fn get_app(&self, app_id: &AppId) -> StoreResult<Option<App>> {
        self.inner.get_app(app_id).await
    }

    async fn find_app_by_name(&self, name: &str) -> StoreResult<Option<App>> {
        self.inner.find_app_by_name(name).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.inner.insert_api_key(key).await
    }

    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.inner.get_api_key(key_id).await
    }

    async fn list_api_keys(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.list_api_keys(app_id).await
    }

    async fn revoke_api_key(&self, app_id: &AppId, key_id: &str, at_ms: i64) -> StoreResult<bool> {
        self.inner.revoke_api_key(app_id, key_id, at_ms).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        let mut primary = user.clone();
        primary.metadata = empty();
        self.inner.insert_user(&primary).await?;
        self.metadata
            .put(Subject::User(&user.app_id, &user.id), &user.metadata, None)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn get_user(&self, app_id: &AppId, user_id: &UserId) -> StoreResult<Option<User>> {
        match self.inner.get_user(app_id, user_id).await? {
            Some(user) => Ok(Some(self.overlay_user(user).await)),
            None => Ok(None),
        }
    }

    async fn list_users(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let mut users = self.inner.list_users(app_id, after, limit).await?;
        let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
        match self.metadata.users(app_id, &ids).await {
            Ok(mut found) => {
                for user in &mut users {
                    if let Some(metadata) = found.remove(&user.id) {
                        user.metadata = metadata.data;
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "serving user metadata from the primary store"),
        }
        Ok(users)
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> StoreResult<Option<User>> {
        let Some(user) = self.inner.update_user(app_id, user_id, name, None).await? else {
            return Ok(None);
        };
        if let Some(metadata) = metadata {
            self.metadata
                .put(Subject::User(app_id, user_id), metadata, None)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(Some(self.overlay_user(user).await))
    }

    async fn set_user_active(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        active: bool,
    ) -> StoreResult<bool> {
        self.inner.set_user_active(app_id, user_id, active).await
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        members: &[(UserId, Role)],
    ) -> StoreResult<Conversation> {
        let mut primary = conversation.clone();
        primary.metadata = empty();
        let stored = self.inner.create_conversation(&primary, members).await?;
        if stored.id != conversation.id {
            // An existing direct conversation was returned: its metadata stays as it is.
            return Ok(self.overlay_conversation(stored).await);
        }
        let subject = Subject::Conversation(&conversation.app_id, &conversation.id);
        self.metadata
            .put(subject, &conversation.metadata, None)
            .await
            .map_err(|e| unavailable(&e))?;
        let mut stored = stored;
        stored.metadata = conversation.metadata.clone();
        Ok(stored)
    }

    async fn get_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        match self.inner.get_conversation(app_id, id).await? {
            Some(conversation) => Ok(Some(self.overlay_conversation(conversation).await)),
            None => Ok(None),
        }
    }

    async fn update_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        let mut primary = patch.clone();
        let metadata = primary.metadata.take();
        let Some(conversation) = self.inner.update_conversation(app_id, id, &primary).await? else {
            return Ok(None);
        };
        if let Some(metadata) = &metadata {
            self.metadata
                .put(Subject::Conversation(app_id, id), metadata, None)
                .await
                .map_err(|e| unavailable(&e))?;
        }
        Ok(Some(self.overlay_conversation(conversation).await))
    }

    async fn list_member_conversations(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberConversation>> {
        let listed = self
            .inner
            .list_member_conversations(app_id, user_id, after, limit)
            .await?;
        let mut overlaid = Vec::with_capacity(listed.len());
        for mut entry in listed {
            entry.conversation = self.overlay_conversation(entry.conversation).await;
            overlaid.push(entry);
        }
        Ok(overlaid)
    }

    async fn get_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>> {
        self.inner.get_member(app_id, id, user_id).await
    }

    async fn list_members(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        self.inner.list_members(app_id, id, after, limit).await
    }

    async fn member_ids(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<std::sync::Arc<[UserId]>> {
        self.inner.member_ids(app_id, id).await
    }

    async fn upsert_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.inner
            .upsert_member(app_id, id, user_id, role, at_ms)
            .await
    }

    async fn remove_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.inner.remove_member(app_id, id, user_id).await
    }

    async fn set_ban(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.inner.set_ban(app_id, id, user_id, banned, at_ms).await
    }

    async fn is_banned(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.inner.is_banned(app_id, id, user_id).await
    }

    async fn co_member_ids(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        self.inner.co_member_ids(app_id, user_id, limit).await
    }

    fn group_commits_appends(&self) -> bool {
        self.inner.group_commits_appends()
    }

    async fn append_message(&self, message: &NewMessage) -> StoreResult<Appended> {
        self.inner.append_message(message).await
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>> {
        self.inner.get_message(app_id, id, message_id).await
    }

    async fn history(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner.history(app_id, id, page, limit).await
    }

    async fn replies(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.inner.replies(app_id, id, parent, after, limit).await
    }

    async fn edit_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        body: &MessageBody,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        self.inner
            .edit_message(app_id, id, message_id, body, at_ms)
            .await
    }

    async fn tombstone_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        self.inner
            .tombstone_message(app_id, id, message_id, at_ms)
            .await
    }

    async fn set_reaction(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        user_id: &UserId,
        emoji: &str,
        present: bool,
    ) -> StoreResult<(bool, i64)> {
        self.inner
            .set_reaction(app_id, id, message_id, user_id, emoji, present)
            .await
    }

    async fn advance_cursors(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> StoreResult<Option<(i64, i64)>> {
        self.inner
            .advance_cursors(app_id, id, user_id, delivered, read)
            .await
    }
}

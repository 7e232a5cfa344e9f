//! The [`Store`] trait over the per-concept methods of [`SqliteStore`].

use crate::SqliteStore;
use crate::error::map;
use async_trait::async_trait;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::{
    Access, ApiKeyRecord, App, Appended, Conversation, Member, MemberConversation, Message,
    NewMessage, Role, User,
};
use cc_core::store::{ConversationPatch, HistoryPage, Store, StoreResult};
use cc_protocol::MessageBody;

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map)?;
        Ok(())
    }

    async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.create_app_row(app).await
    }

    async fn get_app(&self, app_id: &AppId) -> StoreResult<Option<App>> {
        self.app_by("id", &app_id.0).await
    }

    async fn find_app_by_name(&self, name: &str) -> StoreResult<Option<App>> {
        self.app_by("name", name).await
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.insert_api_key_row(key).await
    }

    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        self.api_key_row(key_id).await
    }

    async fn list_api_keys(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.api_key_rows(app_id).await
    }

    async fn revoke_api_key(&self, app_id: &AppId, key_id: &str, at_ms: i64) -> StoreResult<bool> {
        self.revoke_api_key_row(app_id, key_id, at_ms).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        self.insert_user_row(user).await
    }

    async fn get_user(&self, app_id: &AppId, user_id: &UserId) -> StoreResult<Option<User>> {
        self.user_row(app_id, user_id).await
    }

    async fn list_users(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        self.user_rows(app_id, after, limit).await
    }

    async fn update_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> StoreResult<Option<User>> {
        self.update_user_row(app_id, user_id, name, metadata).await
    }

    async fn set_user_active(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        active: bool,
    ) -> StoreResult<bool> {
        self.set_user_active_row(app_id, user_id, active).await
    }

    async fn create_conversation(
        &self,
        conversation: &Conversation,
        members: &[(UserId, Role)],
    ) -> StoreResult<Conversation> {
        self.create_conversation_rows(conversation, members).await
    }

    async fn get_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        self.conversation_row(app_id, id).await
    }

    async fn update_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        self.update_conversation_row(app_id, id, patch).await
    }

    async fn list_member_conversations(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberConversation>> {
        self.member_conversation_rows(app_id, user_id, after, limit)
            .await
    }

    async fn access(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Access>> {
        self.access_row(app_id, id, user_id).await
    }

    async fn get_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>> {
        self.member_row(app_id, id, user_id).await
    }

    async fn list_members(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        self.member_rows(app_id, id, after, limit).await
    }

    async fn member_ids(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<std::sync::Arc<[UserId]>> {
        self.member_id_rows(app_id, id).await
    }

    async fn upsert_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.upsert_member_row(app_id, id, user_id, role, at_ms)
            .await
    }

    async fn remove_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.remove_member_row(app_id, id, user_id).await
    }

    async fn set_ban(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.set_ban_row(app_id, id, user_id, banned, at_ms).await
    }

    async fn is_banned(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.is_banned_row(app_id, id, user_id).await
    }

    async fn co_member_ids(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        self.co_member_rows(app_id, user_id, limit).await
    }

    /// The appender thread commits every waiting append in one transaction.
    fn group_commits_appends(&self) -> bool {
        true
    }

    async fn append_message(&self, message: &NewMessage) -> StoreResult<Appended> {
        self.appender.append(message.clone()).await
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>> {
        self.message_row(app_id, id, message_id).await
    }

    async fn history(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.history_rows(app_id, id, page, limit).await
    }

    async fn replies(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.reply_rows(app_id, id, parent, after, limit).await
    }

    async fn edit_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        body: &MessageBody,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        self.edit_message_row(app_id, id, message_id, body, at_ms)
            .await
    }

    async fn tombstone_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        self.tombstone_row(app_id, id, message_id, at_ms).await
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
        self.set_reaction_row(app_id, id, message_id, user_id, emoji, present)
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
        self.advance_cursor_rows(app_id, id, user_id, delivered, read)
            .await
    }
}

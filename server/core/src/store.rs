//! The storage seam. The embedded backend is SQLite; the production one (next issue) is TiDB through
//! the MySQL protocol. Implementations hold data rules only (uniqueness, atomic `seq`, monotonic cursors);
//! every permission and validation rule lives in [`crate::service`].

use crate::error::StoreError;
use crate::ids::{AppId, ConversationId, MessageId, UserId};
use crate::model::{
    Access, ApiKeyRecord, App, Appended, Conversation, Member, MemberConversation, Message,
    NewMessage, Role, User,
};
use async_trait::async_trait;
use cc_protocol::MessageBody;

pub type StoreResult<T> = Result<T, StoreError>;

/// Fields of a conversation an admin may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationPatch {
    pub name: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub visibility: Option<cc_protocol::rest::Visibility>,
    pub password_hash: Option<Option<String>>,
}

/// Direction of a history page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    /// Messages with `seq > after`, ascending.
    After(i64),
    /// Messages with `seq < before`, descending.
    Before(i64),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Is the backend reachable (used by `/readyz`)?
    async fn ping(&self) -> StoreResult<()>;

    // Apps and API keys.
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    async fn get_app(&self, app_id: &AppId) -> StoreResult<Option<App>>;
    async fn find_app_by_name(&self, name: &str) -> StoreResult<Option<App>>;
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    async fn list_api_keys(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Returns false when no unrevoked key of this app has that id.
    async fn revoke_api_key(&self, app_id: &AppId, key_id: &str, at_ms: i64) -> StoreResult<bool>;

    // Users.
    /// `Conflict` when the user id is taken in this app.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, app_id: &AppId, user_id: &UserId) -> StoreResult<Option<User>>;
    /// Users ordered by id, strictly after `after`.
    async fn list_users(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
    async fn update_user(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> StoreResult<Option<User>>;
    async fn set_user_active(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        active: bool,
    ) -> StoreResult<bool>;

    // Conversations and members.
    /// Creates the conversation with its first members atomically. For a direct conversation whose
    /// `direct_key` exists already, returns the existing one instead (one conversation per pair).
    async fn create_conversation(
        &self,
        conversation: &Conversation,
        members: &[(UserId, Role)],
    ) -> StoreResult<Conversation>;
    async fn get_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>>;
    async fn update_conversation(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> StoreResult<Option<Conversation>>;
    /// The user's conversations ordered by id, strictly after `after`, with their unread counts.
    async fn list_member_conversations(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberConversation>>;
    async fn get_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>>;
    /// The conversation's kind and visibility and the user's role in it; `None` when the conversation
    /// does not exist in the app. Every operation's permission check starts here, so a store with a
    /// cache it can keep exact overrides this; the default reads the two rows.
    async fn access(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Access>> {
        access_from_rows(self, app_id, id, user_id).await
    }
    /// Members ordered by user id, strictly after `after`.
    async fn list_members(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>>;
    /// Every member's id: the recipients of the conversation's events.
    /// Shared, not copied: a send fans out to this list, and a large group's ids are hundreds of strings.
    async fn member_ids(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<std::sync::Arc<[UserId]>>;
    /// Adds the member (or changes the role of an existing one). Returns true when newly added.
    async fn upsert_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool>;
    async fn remove_member(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool>;
    async fn set_ban(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool>;
    async fn is_banned(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool>;
    /// Distinct users sharing at least one conversation with `user_id` (presence fan-out), at most `limit`.
    async fn co_member_ids(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>>;

    // Messages.
    /// Appends atomically: assigns `seq = last_seq + 1` inside the committing transaction, bumps the
    /// parent's `reply_count` for a thread reply, and returns the stored message unchanged when
    /// (`conversation`, `sender`, `client_msg_id`) exists already.
    async fn append_message(&self, message: &NewMessage) -> StoreResult<Appended>;
    /// True when concurrent appends are cheaper than one after another (a group commit), so a batch
    /// of one conversation's sends is appended at once. False (one at a time, in order) for a store
    /// whose appends to one conversation queue on a row lock, each holding a pooled connection.
    fn group_commits_appends(&self) -> bool {
        false
    }
    async fn get_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>>;
    async fn history(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Replies to `parent`, ascending by `seq`, with `seq > after`.
    async fn replies(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    async fn edit_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        body: &MessageBody,
        at_ms: i64,
    ) -> StoreResult<Option<Message>>;
    /// Replaces the body with the tombstone and clears reactions; keeps ids and `seq`.
    async fn tombstone_message(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        at_ms: i64,
    ) -> StoreResult<Option<Message>>;
    /// Adds or removes one user's reaction; returns (changed, count of that emoji now).
    async fn set_reaction(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        user_id: &UserId,
        emoji: &str,
        present: bool,
    ) -> StoreResult<(bool, i64)>;

    // Receipts.
    /// Moves the cursors forward only (max of old and new, capped at `last_seq`); returns both after.
    async fn advance_cursors(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> StoreResult<Option<(i64, i64)>>;
}

/// [`Store::access`] from the conversation and member rows: the default, and the fallback of a
/// caching store on a miss (its own `get_conversation`/`get_member` then fill the cache).
pub async fn access_from_rows<S: Store + ?Sized>(
    store: &S,
    app_id: &AppId,
    id: &ConversationId,
    user_id: &UserId,
) -> StoreResult<Option<Access>> {
    let Some(conversation) = store.get_conversation(app_id, id).await? else {
        return Ok(None);
    };
    let member = store.get_member(app_id, id, user_id).await?;
    Ok(Some(Access {
        kind: conversation.kind,
        visibility: conversation.visibility,
        role: member.map(|member| member.role),
    }))
}

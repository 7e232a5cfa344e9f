//! Conversations.

use crate::SqliteStore;
use crate::error::map;
use crate::rows;
use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::model::{Conversation, MemberConversation, Role};
use cc_core::store::{ConversationPatch, StoreResult};
use sqlx::Row as _;

impl SqliteStore {
    pub(crate) async fn create_conversation_rows(
        &self,
        conversation: &Conversation,
        members: &[(UserId, Role)],
    ) -> StoreResult<Conversation> {
        let app_id = &conversation.app_id;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        if let Some(key) = &conversation.direct_key {
            let existing =
                sqlx::query("SELECT * FROM conversations WHERE app_id = ? AND direct_key = ?")
                    .bind(&app_id.0)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map)?;
            if let Some(row) = existing {
                return rows::conversation(&row);
            }
        }
        sqlx::query(
            "INSERT INTO conversations (app_id, id, kind, name, visibility, password_hash, metadata, direct_key, last_seq, member_count, created_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
        )
        .bind(&app_id.0)
        .bind(&conversation.id.0)
        .bind(conversation.kind.as_str())
        .bind(&conversation.name)
        .bind(rows::visibility_text(conversation.visibility))
        .bind(&conversation.password_hash)
        .bind(rows::to_json(&conversation.metadata))
        .bind(&conversation.direct_key)
        .bind(members.len() as i64)
        .bind(conversation.created_at_ms)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        for (user_id, role) in members {
            sqlx::query("INSERT INTO members (app_id, conversation_id, user_id, role, joined_at_ms) VALUES (?, ?, ?, ?, ?)")
                .bind(&app_id.0)
                .bind(&conversation.id.0)
                .bind(&user_id.0)
                .bind(role.as_str())
                .bind(conversation.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok(conversation.clone())
    }

    pub(crate) async fn conversation_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query("SELECT * FROM conversations WHERE app_id = ? AND id = ?")
            .bind(&app_id.0)
            .bind(&id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::conversation).transpose()
    }

    pub(crate) async fn update_conversation_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        patch: &ConversationPatch,
    ) -> StoreResult<Option<Conversation>> {
        let (set_password, password) = match &patch.password_hash {
            Some(value) => (1_i64, value.clone()),
            None => (0, None),
        };
        sqlx::query(
            "UPDATE conversations SET name = COALESCE(?, name), metadata = COALESCE(?, metadata), visibility = COALESCE(?, visibility), \
             password_hash = CASE WHEN ? = 1 THEN ? ELSE password_hash END WHERE app_id = ? AND id = ?",
        )
        .bind(&patch.name)
        .bind(patch.metadata.as_ref().map(rows::to_json))
        .bind(patch.visibility.map(rows::visibility_text))
        .bind(set_password)
        .bind(password)
        .bind(&app_id.0)
        .bind(&id.0)
        .execute(&self.writer)
        .await
        .map_err(map)?;
        // The visibility may have changed.
        self.member_cache.invalidate(app_id, id);
        self.conversation_row(app_id, id).await
    }

    pub(crate) async fn member_conversation_rows(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        after: Option<&ConversationId>,
        limit: u32,
    ) -> StoreResult<Vec<MemberConversation>> {
        let found = sqlx::query(
            "SELECT c.*, m.user_id, m.role, m.joined_at_ms, m.delivered_seq, m.read_seq, \
               (SELECT COUNT(*) FROM messages x WHERE x.app_id = m.app_id AND x.conversation_id = m.conversation_id \
                  AND x.seq > m.read_seq AND x.sender_id <> m.user_id AND x.deleted = 0) AS unread_count \
             FROM members m JOIN conversations c ON c.app_id = m.app_id AND c.id = m.conversation_id \
             WHERE m.app_id = ? AND m.user_id = ? AND m.conversation_id > ? ORDER BY m.conversation_id LIMIT ?",
        )
        .bind(&app_id.0)
        .bind(&user_id.0)
        .bind(after.map_or("", |c| c.0.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map)?;
        found
            .iter()
            .map(|row| {
                Ok(MemberConversation {
                    conversation: rows::conversation(row)?,
                    member: rows::member(row)?,
                    unread_count: row.try_get("unread_count").map_err(map)?,
                })
            })
            .collect()
    }
}

//! Messages: history, edits, reactions (appends are in `appender`).

use crate::SqliteStore;
use crate::error::map;
use crate::rows;
use cc_core::ids::{AppId, ConversationId, MessageId, UserId};
use cc_core::model::Message;
use cc_core::store::{HistoryPage, StoreResult};
use cc_protocol::MessageBody;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// A thread's replies after a `seq`; served by the replies-only `messages_thread` index.
const REPLIES: &str = "SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND parent_id = ? AND seq > ? ORDER BY seq LIMIT ?";

impl SqliteStore {
    pub(crate) async fn message_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(
            "SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND id = ?",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&message_id.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(map)?;
        row.as_ref().map(rows::message).transpose()
    }

    pub(crate) async fn history_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        page: HistoryPage,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let (sql, bound) = match page {
            HistoryPage::After(after) => (
                "SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?",
                after,
            ),
            HistoryPage::Before(before) => (
                "SELECT * FROM messages WHERE app_id = ? AND conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                before,
            ),
        };
        let found = sqlx::query(sql)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows::all(&found, rows::message)
    }

    pub(crate) async fn reply_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        parent: &MessageId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let found = sqlx::query(REPLIES)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&parent.0)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows::all(&found, rows::message)
    }

    pub(crate) async fn edit_message_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        body: &MessageBody,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        sqlx::query("UPDATE messages SET body = ?, edited_at_ms = ? WHERE app_id = ? AND conversation_id = ? AND id = ? AND deleted = 0")
            .bind(rows::to_json(body))
            .bind(at_ms)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        self.message_row(app_id, id, message_id).await
    }

    pub(crate) async fn tombstone_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        at_ms: i64,
    ) -> StoreResult<Option<Message>> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        sqlx::query("UPDATE messages SET body = ?, deleted = 1, edited_at_ms = ?, reaction_counts = '{}' WHERE app_id = ? AND conversation_id = ? AND id = ?")
            .bind(rows::to_json(&MessageBody::Deleted))
            .bind(at_ms)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
        sqlx::query(
            "DELETE FROM reactions WHERE app_id = ? AND conversation_id = ? AND message_id = ?",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&message_id.0)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        tx.commit().await.map_err(map)?;
        self.message_row(app_id, id, message_id).await
    }

    pub(crate) async fn set_reaction_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
        user_id: &UserId,
        emoji: &str,
        present: bool,
    ) -> StoreResult<(bool, i64)> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        let done = if present {
            sqlx::query("INSERT INTO reactions (app_id, conversation_id, message_id, emoji, user_id, created_at_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .bind(emoji)
                .bind(&user_id.0)
                .bind(cc_core::ids::now_ms())
                .execute(&mut *tx)
                .await
        } else {
            sqlx::query("DELETE FROM reactions WHERE app_id = ? AND conversation_id = ? AND message_id = ? AND emoji = ? AND user_id = ?")
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .bind(emoji)
                .bind(&user_id.0)
                .execute(&mut *tx)
                .await
        }
        .map_err(map)?;
        let changed = done.rows_affected() == 1;
        // Keep the per-message summary in the message row so history and replay need no join.
        let counted = sqlx::query("SELECT emoji, COUNT(*) AS n FROM reactions WHERE app_id = ? AND conversation_id = ? AND message_id = ? GROUP BY emoji")
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(map)?;
        let mut summary = BTreeMap::new();
        for row in &counted {
            summary.insert(
                row.try_get::<String, _>("emoji").map_err(map)?,
                row.try_get::<i64, _>("n").map_err(map)?,
            );
        }
        if changed {
            sqlx::query("UPDATE messages SET reaction_counts = ? WHERE app_id = ? AND conversation_id = ? AND id = ?")
                .bind(rows::to_json(&summary))
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        Ok((changed, summary.get(emoji).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::REPLIES;
    use crate::{Durability, SqliteStore, query_plan};

    #[tokio::test]
    async fn replies_are_read_through_the_replies_only_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("chat.db"), Durability::Normal)
            .await
            .expect("open");
        let sql = format!("EXPLAIN QUERY PLAN {REPLIES}");
        let query = sqlx::query(&sql)
            .bind("app")
            .bind("conversation")
            .bind("parent")
            .bind(0_i64)
            .bind(50_i64);
        let steps = query_plan::steps(&store, query).await;
        assert_eq!(
            steps,
            [
                "SEARCH messages USING INDEX messages_thread (app_id=? AND conversation_id=? AND parent_id=? AND seq>?)"
            ],
        );
        store.close().await;
    }
}

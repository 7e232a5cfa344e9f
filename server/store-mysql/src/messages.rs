//! Messages: append with `seq` assigned in the committing transaction (plus its outbox row), history, edits,
//! tombstones and reactions.

use crate::MysqlStore;
use crate::bucket_of;
use crate::error::{is_unique_violation, map};
use crate::rows;
use cc_core::events::{DomainEvent, Envelope, Recipients};
use cc_core::ids::{AppId, ConversationId, MessageId, UserId, now_ms};
use cc_core::model::{Appended, Message, NewMessage};
use cc_core::store::{HistoryPage, StoreResult};
use cc_protocol::MessageBody;
use sqlx::Row as _;
use std::collections::BTreeMap;

/// A unique-key race on the idempotency key (two sends of one `client_msg_id` at once) is settled by running
/// the append again: the second run finds the winner's row and answers `Duplicate`.
const IDEMPOTENCY_RACE_ATTEMPTS: u32 = 3;

impl MysqlStore {
    pub(crate) async fn append_message_row(&self, new: &NewMessage) -> StoreResult<Appended> {
        let mut races = 0;
        loop {
            // Idempotent by the (conversation, sender, client_msg_id) key: a retry after an ambiguous commit
            // finds the committed row and answers Duplicate with the same id and seq.
            match self.retrying(true, || self.append_once(new)).await {
                Ok(appended) => return Ok(appended),
                Err(error) if is_unique_violation(&error) && races < IDEMPOTENCY_RACE_ATTEMPTS => {
                    if let Some(existing) = self.idempotent_match(new).await.map_err(map)? {
                        return Ok(Appended::Duplicate(existing));
                    }
                    races += 1;
                }
                Err(error) => return Err(map(error)),
            }
        }
    }

    /// The message stored under `new`'s idempotency key (conversation, sender, `client_msg_id`).
    async fn idempotent_match(&self, new: &NewMessage) -> Result<Option<Message>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT * FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? \
             AND sender_id = ? AND client_msg_id = ?",
        )
        .bind(bucket_of(&new.conversation_id))
        .bind(&new.app_id.0)
        .bind(&new.conversation_id.0)
        .bind(&new.sender_id.0)
        .bind(&new.client_msg_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(rows::message)
            .transpose()
            .map_err(|e| sqlx::Error::Decode(e.into()))
    }

    async fn append_once(&self, new: &NewMessage) -> Result<Appended, sqlx::Error> {
        let bucket = bucket_of(&new.conversation_id);
        let (app, conversation) = (&new.app_id.0, &new.conversation_id.0);
        // No look-up of the idempotency key first: the unique key refuses a resend at the INSERT (the
        // transaction rolls back, `seq` included) and `append_message_row` then answers with the stored
        // message. Resends are rare; the look-up would cost every send a statement.
        let mut tx = self.pool.begin().await?;
        // The row lock taken here serialises appends per conversation until commit, so `seq` is gap-free and
        // commit order equals `seq` order.
        let bumped = sqlx::query(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE bucket = ? AND app_id = ? AND id = ?",
        )
        .bind(bucket)
        .bind(app)
        .bind(conversation)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() != 1 {
            return Err(sqlx::Error::RowNotFound);
        }
        let seq: i64 = sqlx::query_scalar(
            "SELECT last_seq FROM conversations WHERE bucket = ? AND app_id = ? AND id = ?",
        )
        .bind(bucket)
        .bind(app)
        .bind(conversation)
        .fetch_one(&mut *tx)
        .await?;
        let mentions: Vec<&str> = new.mentions.iter().map(UserId::as_str).collect();
        sqlx::query(
            "INSERT INTO messages (bucket, app_id, conversation_id, seq, id, sender_id, client_msg_id, body, \
             parent_id, reply_count, mentions, reaction_counts, created_at_ms, edited_at_ms, deleted) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '{}', ?, NULL, 0)",
        )
        .bind(bucket)
        .bind(app)
        .bind(conversation)
        .bind(seq)
        .bind(&new.id.0)
        .bind(&new.sender_id.0)
        .bind(&new.client_msg_id)
        .bind(rows::to_json(&new.body))
        .bind(new.parent_id.as_ref().map(MessageId::as_str))
        .bind(rows::to_json(&mentions))
        .bind(new.created_at_ms)
        .execute(&mut *tx)
        .await?;
        if let Some(parent) = &new.parent_id {
            sqlx::query(
                "UPDATE messages SET reply_count = reply_count + 1 \
                 WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ?",
            )
            .bind(bucket)
            .bind(app)
            .bind(conversation)
            .bind(&parent.0)
            .execute(&mut *tx)
            .await?;
        }
        let message = Message {
            app_id: new.app_id.clone(),
            conversation_id: new.conversation_id.clone(),
            id: new.id.clone(),
            seq,
            sender_id: new.sender_id.clone(),
            client_msg_id: new.client_msg_id.clone(),
            body: new.body.clone(),
            parent_id: new.parent_id.clone(),
            reply_count: 0,
            mentions: new.mentions.clone(),
            reactions: BTreeMap::new(),
            created_at_ms: new.created_at_ms,
            edited_at_ms: None,
            deleted: false,
        };
        if self.outbox {
            // The event as committed, with the members at commit time: the relay publishes exactly this.
            let members: Vec<Vec<u8>> = sqlx::query_scalar(
                "SELECT user_id FROM members WHERE bucket = ? AND app_id = ? AND conversation_id = ?",
            )
            .bind(bucket)
            .bind(app)
            .bind(conversation)
            .fetch_all(&mut *tx)
            .await?;
            let envelope = Envelope {
                app_id: new.app_id.clone(),
                recipients: Recipients::Users(
                    members
                        .into_iter()
                        .map(|id| rows::utf8(id).map(UserId))
                        .collect::<Result<Vec<_>, _>>()?
                        .into(),
                ),
                event: DomainEvent::MessageCreated {
                    message: message.clone(),
                },
                at_ms: now_ms(),
            };
            crate::outbox::insert(&mut tx, &envelope, seq).await?;
        }
        tx.commit().await?;
        Ok(Appended::Created(message))
    }

    pub(crate) async fn message_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        message_id: &MessageId,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(
            "SELECT * FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&message_id.0)
        .fetch_optional(&self.pool)
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
                "SELECT * FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND seq > ? \
                 ORDER BY seq ASC LIMIT ?",
                after,
            ),
            HistoryPage::Before(before) => (
                "SELECT * FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND seq < ? \
                 ORDER BY seq DESC LIMIT ?",
                before,
            ),
        };
        let found = sqlx::query(sql)
            .bind(bucket_of(id))
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(bound)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
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
        let found = sqlx::query(
            "SELECT * FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND parent_id = ? \
             AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&parent.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        sqlx::query(
            "UPDATE messages SET body = ?, edited_at_ms = ? \
             WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ? AND deleted = 0",
        )
        .bind(rows::to_json(body))
        .bind(at_ms)
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&message_id.0)
        .execute(&self.pool)
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
        self.retrying(true, || async {
            let bucket = bucket_of(id);
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE messages SET body = ?, deleted = 1, edited_at_ms = ?, reaction_counts = '{}' \
                 WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ?",
            )
            .bind(rows::to_json(&MessageBody::Deleted))
            .bind(at_ms)
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM reactions WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND message_id = ?",
            )
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
        .await
        .map_err(map)?;
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
        self.retrying(false, || async {
            let bucket = bucket_of(id);
            let mut tx = self.pool.begin().await?;
            // Lock the message row first: concurrent reactions on one message queue here instead of deadlocking
            // on the summary update below.
            sqlx::query(
                "SELECT seq FROM messages WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ? FOR UPDATE",
            )
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .fetch_optional(&mut *tx)
            .await?;
            let done = if present {
                sqlx::query(
                    "INSERT IGNORE INTO reactions (bucket, app_id, conversation_id, message_id, emoji, user_id, \
                     created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .bind(emoji)
                .bind(&user_id.0)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
            } else {
                sqlx::query(
                    "DELETE FROM reactions WHERE bucket = ? AND app_id = ? AND conversation_id = ? \
                     AND message_id = ? AND emoji = ? AND user_id = ?",
                )
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .bind(emoji)
                .bind(&user_id.0)
                .execute(&mut *tx)
                .await?
            };
            let changed = done.rows_affected() == 1;
            // The per-message summary lives in the message row so history and replay need no join.
            let counted = sqlx::query(
                "SELECT emoji, COUNT(*) AS n FROM reactions WHERE bucket = ? AND app_id = ? \
                 AND conversation_id = ? AND message_id = ? GROUP BY emoji",
            )
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&message_id.0)
            .fetch_all(&mut *tx)
            .await?;
            let mut summary = BTreeMap::new();
            for row in &counted {
                summary.insert(rows::get_text(row, "emoji")?, row.try_get::<i64, _>("n")?);
            }
            if changed {
                sqlx::query(
                    "UPDATE messages SET reaction_counts = ? \
                     WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND id = ?",
                )
                .bind(rows::to_json(&summary))
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&message_id.0)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok((changed, summary.get(emoji).copied().unwrap_or(0)))
        })
        .await
        .map_err(map)
    }
}

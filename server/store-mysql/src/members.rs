//! Members, bans and receipt cursors.

use crate::MysqlStore;
use crate::bucket_of;
use crate::error::map;
use crate::rows;
use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::model::{Member, Role};
use cc_core::store::StoreResult;
use sqlx::Row as _;

impl MysqlStore {
    pub(crate) async fn member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>> {
        let row = sqlx::query(
            "SELECT * FROM members WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        row.as_ref().map(rows::member).transpose()
    }

    pub(crate) async fn member_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<Member>> {
        let found = sqlx::query(
            "SELECT * FROM members WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id > ? \
             ORDER BY user_id LIMIT ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(after.map_or("", |u| u.0.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        rows::all(&found, rows::member)
    }

    pub(crate) async fn member_id_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Vec<UserId>> {
        let found = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT user_id FROM members WHERE bucket = ? AND app_id = ? AND conversation_id = ? ORDER BY user_id",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found
            .into_iter()
            .map(|id| rows::utf8(id).map(UserId).map_err(map))
            .collect()
    }

    pub(crate) async fn upsert_member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.retrying(false, || async {
            let bucket = bucket_of(id);
            let mut tx = self.pool.begin().await?;
            let update_role = "UPDATE members SET role = ? \
                 WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?";
            let changed = sqlx::query(update_role)
                .bind(role.as_str())
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&user_id.0)
                .execute(&mut *tx)
                .await?;
            let mut added = false;
            if changed.rows_affected() == 0 {
                // A new member starts with cursors at the current end: earlier history is not "unread".
                // IGNORE: a concurrent add of the same user wins and this one becomes a role update.
                let inserted = sqlx::query(
                    "INSERT IGNORE INTO members (bucket, app_id, conversation_id, user_id, role, joined_at_ms, \
                     delivered_seq, read_seq) SELECT ?, ?, ?, ?, ?, ?, last_seq, last_seq FROM conversations \
                     WHERE bucket = ? AND app_id = ? AND id = ?",
                )
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .bind(&user_id.0)
                .bind(role.as_str())
                .bind(at_ms)
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .execute(&mut *tx)
                .await?;
                added = inserted.rows_affected() == 1;
                if added {
                    sqlx::query(
                        "UPDATE conversations SET member_count = member_count + 1 \
                         WHERE bucket = ? AND app_id = ? AND id = ?",
                    )
                    .bind(bucket)
                    .bind(&app_id.0)
                    .bind(&id.0)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    sqlx::query(update_role)
                        .bind(role.as_str())
                        .bind(bucket)
                        .bind(&app_id.0)
                        .bind(&id.0)
                        .bind(&user_id.0)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(added)
        })
        .await
        .map_err(map)
    }

    pub(crate) async fn remove_member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        self.retrying(false, || async {
            let bucket = bucket_of(id);
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(
                "DELETE FROM members WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?",
            )
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .execute(&mut *tx)
            .await?;
            let removed = done.rows_affected() == 1;
            if removed {
                sqlx::query(
                    "UPDATE conversations SET member_count = member_count - 1 \
                     WHERE bucket = ? AND app_id = ? AND id = ?",
                )
                .bind(bucket)
                .bind(&app_id.0)
                .bind(&id.0)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(removed)
        })
        .await
        .map_err(map)
    }

    pub(crate) async fn set_ban_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool> {
        if banned {
            sqlx::query(
                "INSERT IGNORE INTO bans (bucket, app_id, conversation_id, user_id, banned_at_ms) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(bucket_of(id))
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .bind(at_ms)
            .execute(&self.pool)
            .await
            .map_err(map)?;
            return Ok(true);
        }
        let done = sqlx::query(
            "DELETE FROM bans WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn is_banned_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM bans WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(bucket_of(id))
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(map)?;
        Ok(row.is_some())
    }

    pub(crate) async fn co_member_rows(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        let found = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT DISTINCT other.user_id FROM members mine JOIN members other \
               ON other.bucket = mine.bucket AND other.app_id = mine.app_id \
              AND other.conversation_id = mine.conversation_id \
             WHERE mine.app_id = ? AND mine.user_id = ? AND other.user_id <> mine.user_id LIMIT ?",
        )
        .bind(&app_id.0)
        .bind(&user_id.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map)?;
        found
            .into_iter()
            .map(|id| rows::utf8(id).map(UserId).map_err(map))
            .collect()
    }

    pub(crate) async fn advance_cursor_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        delivered: Option<i64>,
        read: Option<i64>,
    ) -> StoreResult<Option<(i64, i64)>> {
        // Cursors never move back and never pass the last committed message; idempotent, so retried freely.
        self.retrying(true, || async {
            let bucket = bucket_of(id);
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE members m JOIN conversations c ON c.bucket = m.bucket AND c.app_id = m.app_id \
                   AND c.id = m.conversation_id SET \
                   m.delivered_seq = GREATEST(m.delivered_seq, LEAST(COALESCE(?, 0), c.last_seq)), \
                   m.read_seq = GREATEST(m.read_seq, LEAST(COALESCE(?, 0), c.last_seq)) \
                 WHERE m.bucket = ? AND m.app_id = ? AND m.conversation_id = ? AND m.user_id = ?",
            )
            .bind(delivered)
            .bind(read)
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(
                "SELECT delivered_seq, read_seq FROM members \
                 WHERE bucket = ? AND app_id = ? AND conversation_id = ? AND user_id = ?",
            )
            .bind(bucket)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            row.map(|row| Ok((row.try_get("delivered_seq")?, row.try_get("read_seq")?)))
                .transpose()
        })
        .await
        .map_err(map)
    }
}

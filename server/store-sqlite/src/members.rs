//! Members, bans and receipt cursors.

use crate::SqliteStore;
use crate::error::map;
use crate::member_cache::Entry;
use crate::rows;
use cc_core::ids::{AppId, ConversationId, UserId};
use cc_core::model::{Access, Member, Role};
use cc_core::store::StoreResult;
use sqlx::Row as _;
use std::sync::Arc;

/// The users sharing a conversation with one user (presence fan-out, once per connect). `CROSS JOIN`
/// fixes the join order: without statistics SQLite's planner walked every member of the app and
/// probed the user's memberships for each (41.8 ms per call at 19,400 members, which made connecting
/// quadratic), instead of the user's few memberships first (14 µs).
const CO_MEMBERS: &str = "SELECT DISTINCT other.user_id FROM members mine CROSS JOIN members other \
       ON other.app_id = mine.app_id AND other.conversation_id = mine.conversation_id \
     WHERE mine.app_id = ? AND mine.user_id = ? AND other.user_id <> mine.user_id LIMIT ?";

impl SqliteStore {
    pub(crate) async fn member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Member>> {
        let row = sqlx::query(
            "SELECT * FROM members WHERE app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .fetch_optional(&self.reader)
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
        let found = sqlx::query("SELECT * FROM members WHERE app_id = ? AND conversation_id = ? AND user_id > ? ORDER BY user_id LIMIT ?")
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(after.map_or("", |u| u.0.as_str()))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        rows::all(&found, rows::member)
    }

    pub(crate) async fn member_id_rows(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Arc<[UserId]>> {
        Ok(self
            .cached_entry(app_id, id)
            .await?
            .map_or_else(|| Arc::from([]), |entry| Arc::clone(&entry.ids)))
    }

    pub(crate) async fn access_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<Option<Access>> {
        Ok(self
            .cached_entry(app_id, id)
            .await?
            .map(|entry| entry.access(user_id)))
    }

    /// The conversation's cache entry, read on a miss; `None` (not cached) when it does not exist.
    async fn cached_entry(
        &self,
        app_id: &AppId,
        id: &ConversationId,
    ) -> StoreResult<Option<Arc<Entry>>> {
        if let Some(entry) = self.member_cache.get(app_id, id) {
            return Ok(Some(entry));
        }
        let _lane = self.member_cache.load_lane(app_id, id).await;
        if let Some(entry) = self.member_cache.get(app_id, id) {
            return Ok(Some(entry));
        }
        self.member_cache.count_load();
        let generation = self.member_cache.generation();
        let Some(conversation) = self.conversation_row(app_id, id).await? else {
            return Ok(None);
        };
        let found = sqlx::query(
            "SELECT user_id, role FROM members WHERE app_id = ? AND conversation_id = ? ORDER BY user_id",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .fetch_all(&self.reader)
        .await
        .map_err(map)?;
        let members = found
            .iter()
            .map(|row| {
                let user_id = row.try_get::<String, _>("user_id").map_err(map)?;
                Ok((UserId(user_id), rows::role(row)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let entry = Arc::new(Entry::new(
            conversation.kind,
            conversation.visibility,
            members,
        ));
        self.member_cache
            .put(app_id, id, Arc::clone(&entry), generation);
        Ok(Some(entry))
    }

    pub(crate) async fn upsert_member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        role: Role,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        let changed = sqlx::query(
            "UPDATE members SET role = ? WHERE app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(role.as_str())
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        let added = changed.rows_affected() == 0;
        if added {
            // A new member starts with cursors at the current end: earlier history is not "unread".
            sqlx::query(
                "INSERT INTO members (app_id, conversation_id, user_id, role, joined_at_ms, delivered_seq, read_seq) \
                 SELECT ?, ?, ?, ?, ?, last_seq, last_seq FROM conversations WHERE app_id = ? AND id = ?",
            )
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .bind(role.as_str())
            .bind(at_ms)
            .bind(&app_id.0)
            .bind(&id.0)
            .execute(&mut *tx)
            .await
            .map_err(map)?;
            sqlx::query("UPDATE conversations SET member_count = member_count + 1 WHERE app_id = ? AND id = ?")
                .bind(&app_id.0)
                .bind(&id.0)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        // After the commit: a concurrent read either sees the new rows or is not cached.
        self.member_cache.invalidate(app_id, id);
        Ok(added)
    }

    pub(crate) async fn remove_member_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        let done = sqlx::query(
            "DELETE FROM members WHERE app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        let removed = done.rows_affected() == 1;
        if removed {
            sqlx::query("UPDATE conversations SET member_count = member_count - 1 WHERE app_id = ? AND id = ?")
                .bind(&app_id.0)
                .bind(&id.0)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
        }
        tx.commit().await.map_err(map)?;
        // After the commit: a concurrent read either sees the new rows or is not cached.
        self.member_cache.invalidate(app_id, id);
        Ok(removed)
    }

    pub(crate) async fn set_ban_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
        banned: bool,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let sql = if banned {
            "INSERT INTO bans (app_id, conversation_id, user_id, banned_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM bans WHERE app_id = ? AND conversation_id = ? AND user_id = ? AND ? >= 0"
        };
        let done = sqlx::query(sql)
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .bind(at_ms)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(banned || done.rows_affected() == 1)
    }

    pub(crate) async fn is_banned_row(
        &self,
        app_id: &AppId,
        id: &ConversationId,
        user_id: &UserId,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM bans WHERE app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .fetch_optional(&self.reader)
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
        let found = sqlx::query(CO_MEMBERS)
            .bind(&app_id.0)
            .bind(&user_id.0)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(map)?;
        found
            .iter()
            .map(|row| row.try_get::<String, _>("user_id").map(UserId).map_err(map))
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
        // Cursors never move back and never pass the last committed message.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map)?;
        sqlx::query(
            "UPDATE members SET \
               delivered_seq = MAX(delivered_seq, MIN(COALESCE(?, 0), (SELECT last_seq FROM conversations c WHERE c.app_id = members.app_id AND c.id = members.conversation_id))), \
               read_seq = MAX(read_seq, MIN(COALESCE(?, 0), (SELECT last_seq FROM conversations c WHERE c.app_id = members.app_id AND c.id = members.conversation_id))) \
             WHERE app_id = ? AND conversation_id = ? AND user_id = ?",
        )
        .bind(delivered)
        .bind(read)
        .bind(&app_id.0)
        .bind(&id.0)
        .bind(&user_id.0)
        .execute(&mut *tx)
        .await
        .map_err(map)?;
        let row = sqlx::query("SELECT delivered_seq, read_seq FROM members WHERE app_id = ? AND conversation_id = ? AND user_id = ?")
            .bind(&app_id.0)
            .bind(&id.0)
            .bind(&user_id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map)?;
        tx.commit().await.map_err(map)?;
        row.map(|row| {
            Ok((
                row.try_get("delivered_seq").map_err(map)?,
                row.try_get("read_seq").map_err(map)?,
            ))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::CO_MEMBERS;
    use crate::{Durability, SqliteStore, query_plan};

    #[tokio::test]
    async fn co_members_start_from_the_users_own_memberships() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("chat.db"), Durability::Normal)
            .await
            .expect("open");
        let sql = format!("EXPLAIN QUERY PLAN {CO_MEMBERS}");
        let steps = query_plan::steps(
            &store,
            sqlx::query(&sql).bind("app").bind("user").bind(10_i64),
        )
        .await;
        assert!(
            steps[0].starts_with(
                "SEARCH mine USING COVERING INDEX members_by_user (app_id=? AND user_id=?)"
            ),
            "the plan must start from the user's memberships: {steps:?}"
        );
        assert!(
            steps.iter().all(|step| !step.starts_with("SCAN")),
            "no full scan: {steps:?}"
        );
        store.close().await;
    }

    /// When a run starts, every sender of a group misses the cache at the same moment: the
    /// member list must be read once, not once per sender.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_read_a_member_list_once() {
        use cc_core::ids::{AppId, ConversationId, UserId};
        use cc_core::model::{App, Conversation, ConversationKind, Role};
        use cc_core::store::Store as _;
        use cc_protocol::rest::Visibility;

        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("chat.db"), Durability::Normal)
            .await
            .expect("open");
        let app_id = AppId("app".into());
        let id = ConversationId("group".into());
        store
            .create_app(&App {
                id: app_id.clone(),
                name: "app".into(),
                created_at_ms: 1,
            })
            .await
            .expect("app");
        let members: Vec<(UserId, Role)> = (0..500)
            .map(|n| (UserId(format!("user-{n:03}")), Role::Member))
            .collect();
        store
            .create_conversation(
                &Conversation {
                    app_id: app_id.clone(),
                    id: id.clone(),
                    kind: ConversationKind::Group,
                    name: "g".into(),
                    visibility: Visibility::Private,
                    password_hash: None,
                    metadata: serde_json::json!({}),
                    direct_key: None,
                    last_seq: 0,
                    member_count: 500,
                    created_at_ms: 1,
                },
                &members,
            )
            .await
            .expect("conversation");
        store.member_cache.invalidate(&app_id, &id);
        let loads_before = store.member_cache.loads();

        let readers: Vec<_> = (0..200)
            .map(|_| {
                let (store, app_id, id) = (store.clone(), app_id.clone(), id.clone());
                tokio::spawn(async move { store.member_ids(&app_id, &id).await })
            })
            .collect();
        for reader in readers {
            let ids = reader.await.expect("task").expect("member ids");
            assert_eq!(ids.len(), 500);
        }
        assert_eq!(store.member_cache.loads() - loads_before, 1);
        store.close().await;
    }
}

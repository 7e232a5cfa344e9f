//! Users.

use crate::SqliteStore;
use crate::error::map;
use crate::rows;
use cc_core::ids::{AppId, UserId};
use cc_core::model::User;
use cc_core::store::StoreResult;

impl SqliteStore {
    pub(crate) async fn insert_user_row(&self, user: &User) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (app_id, user_id, name, metadata, active, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&user.app_id.0)
            .bind(&user.id.0)
            .bind(&user.name)
            .bind(rows::to_json(&user.metadata))
            .bind(i64::from(user.active))
            .bind(user.created_at_ms)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn user_row(
        &self,
        app_id: &AppId,
        user_id: &UserId,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE app_id = ? AND user_id = ?")
            .bind(&app_id.0)
            .bind(&user_id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::user).transpose()
    }

    pub(crate) async fn user_rows(
        &self,
        app_id: &AppId,
        after: Option<&UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let found = sqlx::query(
            "SELECT * FROM users WHERE app_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
        )
        .bind(&app_id.0)
        .bind(after.map_or("", |u| u.0.as_str()))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map)?;
        rows::all(&found, rows::user)
    }

    pub(crate) async fn update_user_row(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        name: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> StoreResult<Option<User>> {
        sqlx::query("UPDATE users SET name = COALESCE(?, name), metadata = COALESCE(?, metadata) WHERE app_id = ? AND user_id = ?")
            .bind(name)
            .bind(metadata.map(rows::to_json))
            .bind(&app_id.0)
            .bind(&user_id.0)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        self.user_row(app_id, user_id).await
    }

    pub(crate) async fn set_user_active_row(
        &self,
        app_id: &AppId,
        user_id: &UserId,
        active: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET active = ? WHERE app_id = ? AND user_id = ?")
            .bind(i64::from(active))
            .bind(&app_id.0)
            .bind(&user_id.0)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }
}

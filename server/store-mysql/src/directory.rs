//! Apps, API keys and users: single-row statements, no transaction needed.

use crate::MysqlStore;
use crate::error::map;
use crate::rows;
use cc_core::ids::{AppId, UserId};
use cc_core::model::{ApiKeyRecord, App, User};
use cc_core::store::StoreResult;

impl MysqlStore {
    pub(crate) async fn create_app_row(&self, app: &App) -> StoreResult<()> {
        sqlx::query("INSERT INTO apps (id, name, created_at_ms) VALUES (?, ?, ?)")
            .bind(&app.id.0)
            .bind(&app.name)
            .bind(app.created_at_ms)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn app_by_id(&self, app_id: &AppId) -> StoreResult<Option<App>> {
        let row = sqlx::query("SELECT * FROM apps WHERE id = ?")
            .bind(&app_id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::app).transpose()
    }

    pub(crate) async fn app_by_name(&self, name: &str) -> StoreResult<Option<App>> {
        let row =
            sqlx::query("SELECT * FROM apps WHERE name = ? ORDER BY created_at_ms, id LIMIT 1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(map)?;
        row.as_ref().map(rows::app).transpose()
    }

    pub(crate) async fn insert_api_key_row(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (key_id, app_id, label, secret_hash, created_at_ms, revoked_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&key.key_id)
        .bind(&key.app_id.0)
        .bind(&key.label)
        .bind(&key.secret_hash)
        .bind(key.created_at_ms)
        .bind(key.revoked_at_ms)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn api_key_row(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_id = ?")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::api_key).transpose()
    }

    pub(crate) async fn api_key_rows(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>> {
        let found =
            sqlx::query("SELECT * FROM api_keys WHERE app_id = ? ORDER BY created_at_ms, key_id")
                .bind(&app_id.0)
                .fetch_all(&self.pool)
                .await
                .map_err(map)?;
        rows::all(&found, rows::api_key)
    }

    pub(crate) async fn revoke_api_key_row(
        &self,
        app_id: &AppId,
        key_id: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = ? WHERE app_id = ? AND key_id = ? AND revoked_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(&app_id.0)
        .bind(key_id)
        .execute(&self.pool)
        .await
        .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn insert_user_row(&self, user: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (app_id, user_id, name, metadata, active, created_at_ms) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&user.app_id.0)
        .bind(&user.id.0)
        .bind(&user.name)
        .bind(rows::to_json(&user.metadata))
        .bind(i8::from(user.active))
        .bind(user.created_at_ms)
        .execute(&self.pool)
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
            .fetch_optional(&self.pool)
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
        .fetch_all(&self.pool)
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
        sqlx::query(
            "UPDATE users SET name = COALESCE(?, name), metadata = COALESCE(?, metadata) \
             WHERE app_id = ? AND user_id = ?",
        )
        .bind(name)
        .bind(metadata.map(rows::to_json))
        .bind(&app_id.0)
        .bind(&user_id.0)
        .execute(&self.pool)
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
        // sqlx connects with CLIENT_FOUND_ROWS: rows_affected counts matched rows, so a no-op update says 1.
        let done = sqlx::query("UPDATE users SET active = ? WHERE app_id = ? AND user_id = ?")
            .bind(i8::from(active))
            .bind(&app_id.0)
            .bind(&user_id.0)
            .execute(&self.pool)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }
}

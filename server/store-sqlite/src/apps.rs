//! Apps and API keys.

use crate::SqliteStore;
use crate::error::map;
use crate::rows;
use cc_core::ids::AppId;
use cc_core::model::{ApiKeyRecord, App};
use cc_core::store::StoreResult;

impl SqliteStore {
    pub(crate) async fn create_app_row(&self, app: &App) -> StoreResult<()> {
        sqlx::query("INSERT INTO apps (id, name, created_at_ms) VALUES (?, ?, ?)")
            .bind(&app.id.0)
            .bind(&app.name)
            .bind(app.created_at_ms)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn app_by(&self, column: &str, value: &str) -> StoreResult<Option<App>> {
        let sql = format!("SELECT * FROM apps WHERE {column} = ? ORDER BY created_at_ms LIMIT 1");
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::app).transpose()
    }

    pub(crate) async fn insert_api_key_row(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_keys (key_id, app_id, label, secret_hash, created_at_ms, revoked_at_ms) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&key.key_id)
            .bind(&key.app_id.0)
            .bind(&key.label)
            .bind(&key.secret_hash)
            .bind(key.created_at_ms)
            .bind(key.revoked_at_ms)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(())
    }

    pub(crate) async fn api_key_row(&self, key_id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_id = ?")
            .bind(key_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map)?;
        row.as_ref().map(rows::api_key).transpose()
    }

    pub(crate) async fn api_key_rows(&self, app_id: &AppId) -> StoreResult<Vec<ApiKeyRecord>> {
        let found =
            sqlx::query("SELECT * FROM api_keys WHERE app_id = ? ORDER BY created_at_ms, key_id")
                .bind(&app_id.0)
                .fetch_all(&self.reader)
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
        let done = sqlx::query("UPDATE api_keys SET revoked_at_ms = ? WHERE app_id = ? AND key_id = ? AND revoked_at_ms IS NULL")
            .bind(at_ms)
            .bind(&app_id.0)
            .bind(key_id)
            .execute(&self.writer)
            .await
            .map_err(map)?;
        Ok(done.rows_affected() == 1)
    }
}

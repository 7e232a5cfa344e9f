//! `POST /v1/apps` (admin) and the app's API keys (API key).

use super::error::ApiResult;
use super::extract::{ApiJson, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_protocol::rest::{ApiKeyCreated, ApiKeyView, AppCreated, CreateApiKey, CreateApp, Page};

pub async fn create_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateApp>,
) -> ApiResult<(StatusCode, Json<AppCreated>)> {
    caller.admin()?;
    let (app, api_key) = state.service.create_app(&body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppCreated {
            app_id: app.id.0,
            name: app.name,
            api_key,
        }),
    ))
}

pub async fn list_api_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    let app = caller.app()?;
    let items = state.service.list_api_keys(&app).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let app = caller.app()?;
    Ok((
        StatusCode::CREATED,
        Json(state.service.create_api_key(&app, &body.label).await?),
    ))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = caller.app()?;
    state.service.revoke_api_key(&app, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Liveness, readiness, metrics and the OpenAPI document.

use super::error::{ApiError, ApiResult};
use super::extract::ApiJson;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cc_core::ids::UserId;
use cc_protocol::ErrorCode;
use cc_protocol::rest::{DemoLogin, DemoToken};

/// The checked-in OpenAPI 3.1 document.
pub const OPENAPI: &str = include_str!("../../../../docs/openapi.json");

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response();
    }
    match state.service.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Demo mode only: a token for a demo user without an API key, so the static page can log in.
pub async fn demo_login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DemoLogin>,
) -> ApiResult<Json<DemoToken>> {
    let Some(app_id) = state.demo_app.clone() else {
        return Err(ApiError::new(ErrorCode::NotFound, "demo mode is off"));
    };
    let minted = state
        .service
        .mint_token(&app_id, &UserId(body.user_id.clone()), None)
        .await?;
    Ok(Json(DemoToken {
        token: minted.token,
        app_id: app_id.0,
        user_id: body.user_id,
    }))
}

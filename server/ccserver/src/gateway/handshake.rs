//! The upgrade: refuse while draining, check Origin, authenticate, then hand the socket over.

use super::connection;
use crate::api::ApiError;
use crate::state::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::response::{IntoResponse as _, Response};
use cc_protocol::ErrorCode;
use serde::Deserialize;
use std::sync::atomic::Ordering;
use tracing::Instrument as _;

#[derive(Debug, Deserialize)]
pub struct WsParams {
    token: Option<String>,
    device: Option<String>,
}

pub async fn ws_handler(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let refuse = |error: ApiError| {
        state.metrics.error(error.code());
        error.into_response()
    };
    if state.gateway.is_draining() {
        return refuse(ApiError::new(
            ErrorCode::Unavailable,
            "this server is draining; connect to another one",
        ));
    }
    // Counted before the upgrade, so a burst of handshakes may pass the bound by a few: the
    // descriptors reserved beside it absorb that.
    let open = usize::try_from(state.metrics.connections.load(Ordering::Relaxed)).unwrap_or(0);
    if open >= state.gateway.max_connections() {
        return refuse(ApiError::new(
            ErrorCode::Unavailable,
            "this server holds as many connections as it may (gateway.max_connections or the open-files limit); connect to another one",
        ));
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|origin| {
            state
                .gateway
                .settings
                .allowed_origins
                .iter()
                .any(|a| a == origin)
        });
        if !allowed {
            return refuse(ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this Origin may not open a WebSocket here",
            ));
        }
    }
    let header_token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = params.token.or(header_token) else {
        return refuse(ApiError::new(
            ErrorCode::Unauthorized,
            "pass a user token as ?token= or Authorization: Bearer",
        ));
    };
    let principal = match state.service.authenticate_token(&token).await {
        Ok(principal) => principal,
        Err(error) => return refuse(error.into()),
    };
    let device: String = params
        .device
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let settings = &state.gateway.settings;
    upgrade
        .read_buffer_size(settings.read_buffer_bytes)
        .write_buffer_size(settings.write_buffer_bytes)
        .max_write_buffer_size(settings.max_frame_bytes.saturating_mul(64))
        .max_frame_size(settings.max_frame_bytes)
        .max_message_size(settings.max_frame_bytes)
        .on_upgrade(move |socket| {
            let session_id = cc_core::ids::SessionId(cc_core::ids::new_id());
            let span = tracing::info_span!("ws", session = %session_id, user = %principal.user_id, app = %principal.app_id);
            connection::serve(socket, state, principal, session_id, device).instrument(span)
        })
}

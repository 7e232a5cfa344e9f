//! Device sessions: list and revoke.

use super::error::{ApiError, ApiResult};
use super::extract::Caller;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::{SessionId, UserId};
use cc_core::presence::SessionInfo;
use cc_protocol::rest::{Page, SessionView};

fn view(session: &SessionInfo) -> SessionView {
    SessionView {
        session_id: session.session_id.0.clone(),
        user_id: session.user_id.0.clone(),
        device: session.device.clone(),
        connected_at_ms: session.connected_at_ms,
    }
}

pub async fn my_sessions(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Page<SessionView>>> {
    let principal = caller.user()?;
    let sessions = state
        .service
        .sessions_of(&principal.app_id, &principal.user_id)
        .await;
    Ok(Json(Page {
        items: sessions.iter().map(view).collect(),
        next_cursor: None,
    }))
}

pub async fn user_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Page<SessionView>>> {
    let app = caller.app()?;
    let user_id = UserId(user_id);
    // 404 for users of other apps, rather than an empty list that would look like "offline".
    state.service.get_user(&app, &user_id).await?;
    let sessions = state.service.sessions_of(&app, &user_id).await;
    Ok(Json(Page {
        items: sessions.iter().map(view).collect(),
        next_cursor: None,
    }))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
) -> ApiResult<StatusCode> {
    let session_id = SessionId(session_id);
    match caller {
        Caller::App(app) => {
            state
                .service
                .revoke_session(&app, &session_id, None)
                .await?;
        }
        Caller::User(principal) => {
            state
                .service
                .revoke_session(&principal.app_id, &session_id, Some(&principal.user_id))
                .await?;
        }
        Caller::Admin => {
            return Err(ApiError::forbidden(
                "this route needs an API key or a user token",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

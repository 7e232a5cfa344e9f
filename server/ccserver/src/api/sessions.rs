//! Device sessions (list, revoke) and presence (a snapshot for clients that connect late).

use super::error::{ApiError, ApiResult};
use super::extract::Caller;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::{SessionId, UserId};
use cc_core::presence::{SessionInfo, UserPresence};
use cc_protocol::rest::{Page, PresenceView, SessionView};

fn view(session: &SessionInfo) -> SessionView {
    SessionView {
        session_id: session.session_id.0.clone(),
        user_id: session.user_id.0.clone(),
        device: session.device.clone(),
        connected_at_ms: session.connected_at_ms,
    }
}

fn presence_view(presence: &UserPresence) -> PresenceView {
    PresenceView {
        user_id: presence.user_id.0.clone(),
        status: if presence.online { "online" } else { "offline" }.to_owned(),
        last_seen_ms: presence.last_seen_ms,
    }
}

/// The caller's contacts (everyone sharing a conversation with them) and their status now.
pub async fn contacts_presence(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Page<PresenceView>>> {
    let principal = caller.user()?;
    let contacts = state
        .service
        .contacts_presence(&principal.app_id, &principal.user_id)
        .await?;
    Ok(Json(Page {
        items: contacts.iter().map(presence_view).collect(),
        next_cursor: None,
    }))
}

/// One user's status, for the app's backend.
pub async fn user_presence(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<PresenceView>> {
    let app = caller.app()?;
    let user_id = UserId(user_id);
    // 404 for users of other apps, rather than an "offline" that would reveal nothing but mislead.
    state.service.get_user(&app, &user_id).await?;
    let presence = state.service.user_presence(&app, &user_id).await;
    Ok(Json(presence_view(&presence)))
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

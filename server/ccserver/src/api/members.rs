//! Group membership routes.

use super::error::ApiResult;
use super::extract::{ApiJson, ApiQuery, Caller, PageQuery, next_cursor};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::{ConversationId, UserId};
use cc_core::service::member_view;
use cc_protocol::rest::{AddMember, BanMember, ChangeRole, JoinConversation, MemberView, Page};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<MemberView>>> {
    let principal = caller.user()?;
    let limit = page.limit()?;
    let after = page.cursor.map(UserId);
    let members = state
        .service
        .list_members(&principal, &ConversationId(id), after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&members, limit, |m| m.user_id.0.clone());
    Ok(Json(Page {
        items: members.iter().map(member_view).collect(),
        next_cursor,
    }))
}

pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .add_member(
            &principal,
            &ConversationId(id),
            &UserId(body.user_id),
            body.role.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .change_role(
            &principal,
            &ConversationId(id),
            &UserId(user_id),
            &body.role,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn kick(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .kick(&principal, &ConversationId(id), &UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn ban(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<BanMember>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .ban(&principal, &ConversationId(id), &UserId(body.user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unban(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .unban(&principal, &ConversationId(id), &UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    let request: JoinConversation = if body.iter().all(u8::is_ascii_whitespace) {
        JoinConversation::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| super::ApiError(cc_protocol::classify_body_error(&e.to_string())))?
    };
    state
        .service
        .join(&principal, &ConversationId(id), request.password.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state.service.leave(&principal, &ConversationId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Conversations the caller can see.

use super::error::ApiResult;
use super::extract::{ApiJson, ApiQuery, Caller, PageQuery, next_cursor};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::ConversationId;
use cc_core::service::conversation_view;
use cc_protocol::rest::{ConversationView, CreateConversation, Page, UpdateConversation};

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateConversation>,
) -> ApiResult<(StatusCode, Json<ConversationView>)> {
    let principal = caller.user()?;
    let (conversation, member) = state.service.create_conversation(&principal, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(conversation_view(&conversation, Some(&member), Some(0))),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ConversationView>>> {
    let principal = caller.user()?;
    let limit = page.limit()?;
    let after = page.cursor.map(ConversationId);
    let found = state
        .service
        .list_conversations(&principal, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&found, limit, |c| c.conversation.id.0.clone());
    let items = found
        .iter()
        .map(|c| conversation_view(&c.conversation, Some(&c.member), Some(c.unread_count)))
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    let principal = caller.user()?;
    let (conversation, member) = state
        .service
        .get_conversation(&principal, &ConversationId(id))
        .await?;
    Ok(Json(conversation_view(&conversation, Some(&member), None)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateConversation>,
) -> ApiResult<Json<ConversationView>> {
    let principal = caller.user()?;
    let conversation = state
        .service
        .update_conversation(&principal, &ConversationId(id), body)
        .await?;
    Ok(Json(conversation_view(&conversation, None, None)))
}

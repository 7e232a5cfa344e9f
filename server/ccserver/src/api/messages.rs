//! Messages, history, threads, reactions and receipts over REST.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::{ConversationId, MessageId, UserId};
use cc_core::service::SendRequest;
use cc_core::store::HistoryPage;
use cc_protocol::rest::{
    AddReaction, EditMessage, MessageSent, Page, ReceiptView, SendMessage, UpdateReceipts,
};
use cc_protocol::{ErrorCode, MessageView};
use serde::Deserialize;
use std::sync::atomic::Ordering;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    after_seq: Option<i64>,
    before_seq: Option<i64>,
    limit: Option<u32>,
}

fn limit_of(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(50),
        Some(limit) if (1..=200).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError(
            cc_protocol::ErrorBody::new(ErrorCode::InvalidField, "field `limit` must be 1-200")
                .with_details(serde_json::json!({"field": "limit"})),
        )),
    }
}

pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Page<MessageView>>> {
    let principal = caller.user()?;
    let limit = limit_of(query.limit)?;
    let page = match (query.after_seq, query.before_seq) {
        (Some(_), Some(_)) => {
            return Err(ApiError(cc_protocol::ErrorBody::new(
                ErrorCode::InvalidField,
                "give either `after_seq` or `before_seq`, not both",
            )));
        }
        (Some(after), None) => HistoryPage::After(after),
        (None, Some(before)) => HistoryPage::Before(before),
        (None, None) => HistoryPage::Before(i64::MAX),
    };
    let messages = state
        .service
        .history(&principal, &ConversationId(id), page, limit)
        .await?;
    let next_cursor = if messages.len() as u64 >= u64::from(limit) {
        messages.last().map(|m| m.seq.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: messages.iter().map(cc_core::model::Message::view).collect(),
        next_cursor,
    }))
}

pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendMessage>,
) -> ApiResult<(StatusCode, Json<MessageSent>)> {
    let principal = caller.user()?;
    let request = SendRequest {
        conversation_id: ConversationId(id),
        client_msg_id: body.client_msg_id,
        body: body.body,
        parent_id: body.parent_id.map(MessageId),
        mentions: body.mentions.into_iter().map(UserId).collect(),
    };
    let (message, duplicate) = state.service.send_message(&principal, request).await?;
    if !duplicate {
        state.metrics.messages_sent.fetch_add(1, Ordering::Relaxed);
    }
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(MessageSent {
            message: message.view(),
            duplicate,
        }),
    ))
}

pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EditMessage>,
) -> ApiResult<Json<MessageView>> {
    let principal = caller.user()?;
    let message = state
        .service
        .edit_message(
            &principal,
            &ConversationId(id),
            &MessageId(message_id),
            body.body,
        )
        .await?;
    Ok(Json(message.view()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<MessageView>> {
    let principal = caller.user()?;
    let message = state
        .service
        .delete_message(&principal, &ConversationId(id), &MessageId(message_id))
        .await?;
    Ok(Json(message.view()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepliesQuery {
    after_seq: Option<i64>,
    limit: Option<u32>,
}

pub async fn replies(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<RepliesQuery>,
) -> ApiResult<Json<Page<MessageView>>> {
    let principal = caller.user()?;
    let limit = limit_of(query.limit)?;
    let messages = state
        .service
        .replies(
            &principal,
            &ConversationId(id),
            &MessageId(message_id),
            query.after_seq.unwrap_or(0),
            limit,
        )
        .await?;
    let next_cursor = if messages.len() as u64 >= u64::from(limit) {
        messages.last().map(|m| m.seq.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items: messages.iter().map(cc_core::model::Message::view).collect(),
        next_cursor,
    }))
}

pub async fn add_reaction(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AddReaction>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .react(
            &principal,
            &ConversationId(id),
            &MessageId(message_id),
            &body.emoji,
            true,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_reaction(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, message_id, emoji)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let principal = caller.user()?;
    state
        .service
        .react(
            &principal,
            &ConversationId(id),
            &MessageId(message_id),
            &emoji,
            false,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn mark(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateReceipts>,
) -> ApiResult<Json<ReceiptView>> {
    let principal = caller.user()?;
    let (delivered_seq, read_seq) = state
        .service
        .mark(
            &principal,
            &ConversationId(id),
            body.delivered_seq,
            body.read_seq,
        )
        .await?;
    Ok(Json(ReceiptView {
        user_id: principal.user_id.0,
        delivered_seq,
        read_seq,
    }))
}

pub async fn receipts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Page<ReceiptView>>> {
    let principal = caller.user()?;
    let members = state
        .service
        .receipts(&principal, &ConversationId(id))
        .await?;
    let items = members
        .into_iter()
        .map(|m| ReceiptView {
            user_id: m.user_id.0,
            delivered_seq: m.delivered_seq,
            read_seq: m.read_seq,
        })
        .collect();
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

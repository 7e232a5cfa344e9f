//! Users, tokens and `GET /v1/me`.

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Caller, PageQuery, next_cursor};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cc_core::ids::UserId;
use cc_core::service::user_view;
use cc_protocol::rest::{CreateUser, MintToken, Page, TokenMinted, UpdateUser, UserView};

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let app = caller.app()?;
    let user = state.service.create_user(&app, body).await?;
    Ok((StatusCode::CREATED, Json(user_view(&user))))
}

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    let app = caller.app()?;
    let limit = page.limit()?;
    let after = page.cursor.map(UserId);
    let users = state
        .service
        .list_users(&app, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&users, limit, |u| u.id.0.clone());
    Ok(Json(Page {
        items: users.iter().map(user_view).collect(),
        next_cursor,
    }))
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<UserView>> {
    let app = caller
        .app_id()
        .cloned()
        .ok_or_else(|| ApiError::forbidden("this route needs an API key or a user token"))?;
    Ok(Json(user_view(
        &state.service.get_user(&app, &UserId(user_id)).await?,
    )))
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    let user_id = UserId(user_id);
    let app = match caller {
        Caller::App(app) => app,
        Caller::User(principal) if principal.user_id == user_id => principal.app_id,
        _ => return Err(ApiError::forbidden("a user may only update themselves")),
    };
    Ok(Json(user_view(
        &state.service.update_user(&app, &user_id, body).await?,
    )))
}

pub async fn deactivate_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<StatusCode> {
    let app = caller.app()?;
    state
        .service
        .deactivate_user(&app, &UserId(user_id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body is optional: an empty body mints with the default lifetime.
pub async fn mint_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<TokenMinted>)> {
    let app = caller.app()?;
    let request: MintToken = if body.iter().all(u8::is_ascii_whitespace) {
        MintToken::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError(cc_protocol::classify_body_error(&e.to_string())))?
    };
    let ttl = request.ttl_secs;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .service
                .mint_token(&app, &UserId(user_id), ttl)
                .await?,
        ),
    ))
}

pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserView>> {
    let principal = caller.user()?;
    Ok(Json(user_view(
        &state
            .service
            .get_user(&principal.app_id, &principal.user_id)
            .await?,
    )))
}

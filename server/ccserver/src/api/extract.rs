//! Request extractors that turn every rejection into an [`ApiError`] with a stable code.

use super::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use cc_core::Principal;
use cc_core::auth::api_key;
use cc_core::ids::AppId;
use cc_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Who is calling, from `Authorization: Bearer …`.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The app's backend, with an API key.
    App(AppId),
    /// An end user, with a token.
    User(Principal),
    /// The operator, with the admin token.
    Admin,
}

impl Caller {
    pub fn app(self) -> Result<AppId, ApiError> {
        match self {
            Self::App(app) => Ok(app),
            _ => Err(ApiError::forbidden("this route needs the app's API key")),
        }
    }

    pub fn user(self) -> Result<Principal, ApiError> {
        match self {
            Self::User(principal) => Ok(principal),
            _ => Err(ApiError::forbidden("this route needs a user token")),
        }
    }

    pub fn admin(self) -> Result<(), ApiError> {
        match self {
            Self::Admin => Ok(()),
            _ => Err(ApiError::forbidden("this route needs the admin token")),
        }
    }

    pub fn app_id(&self) -> Option<&AppId> {
        match self {
            Self::App(app) => Some(app),
            Self::User(principal) => Some(&principal.app_id),
            Self::Admin => None,
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "missing or invalid credentials")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(unauthorized)?;
        let credential = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(unauthorized)?
            .trim();
        if credential.starts_with(api_key::PREFIX) {
            return Ok(Self::App(
                state.service.authenticate_api_key(credential).await?,
            ));
        }
        if credential.starts_with("cca_") {
            let matches = state
                .admin_token
                .as_deref()
                .is_some_and(|token| api_key::hashes_equal(token, credential));
            return if matches {
                Ok(Self::Admin)
            } else {
                Err(unauthorized())
            };
        }
        Ok(Self::User(
            state.service.authenticate_token(credential).await?,
        ))
    }
}

/// A JSON body, parsed with field-level error codes (`missing_field`, `invalid_field`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| {
                ApiError::new(ErrorCode::InvalidJson, "the request body could not be read")
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError(cc_protocol::classify_body_error(&e.to_string())))
    }
}

/// Query parameters with an `invalid_field` answer on bad input.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                ApiError(
                    cc_protocol::ErrorBody::new(
                        ErrorCode::InvalidField,
                        format!("invalid query parameters: {e}"),
                    )
                    .with_details(json!({"reason": e.to_string()})),
                )
            })
    }
}

/// `?limit=&cursor=` of list routes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(limit) if (1..=200).contains(&limit) => Ok(limit),
            Some(_) => Err(ApiError(
                cc_protocol::ErrorBody::new(ErrorCode::InvalidField, "field `limit` must be 1-200")
                    .with_details(json!({"field": "limit"})),
            )),
        }
    }
}

/// The cursor of the next page: the last item's key when the page was full.
pub fn next_cursor<T>(items: &[T], limit: u32, key: impl Fn(&T) -> String) -> Option<String> {
    if items.len() as u64 >= u64::from(limit) {
        items.last().map(key)
    } else {
        None
    }
}

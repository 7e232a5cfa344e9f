//! The REST API: one table of routes (also checked against the OpenAPI document), one error type.

mod apps;
mod conversations;
mod error;
mod extract;
mod health;
mod members;
mod messages;
mod sessions;
mod users;

pub use error::{ApiError, ApiResult};
pub use health::OPENAPI;

use crate::state::AppState;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post};
use cc_protocol::ErrorCode;
use std::time::Instant;

/// One route: path, the methods it answers, and its handlers.
pub struct RouteSpec {
    pub path: &'static str,
    pub methods: &'static [&'static str],
    pub router: MethodRouter<AppState>,
}

fn spec(
    path: &'static str,
    methods: &'static [&'static str],
    router: MethodRouter<AppState>,
) -> RouteSpec {
    RouteSpec {
        path,
        methods,
        router,
    }
}

/// Every REST route of the `api` role.
pub fn api_routes() -> Vec<RouteSpec> {
    vec![
        spec("/v1/apps", &["post"], post(apps::create_app)),
        spec(
            "/v1/api-keys",
            &["get", "post"],
            get(apps::list_api_keys).post(apps::create_api_key),
        ),
        spec(
            "/v1/api-keys/{key_id}",
            &["delete"],
            delete(apps::revoke_api_key),
        ),
        spec(
            "/v1/users",
            &["get", "post"],
            get(users::list_users).post(users::create_user),
        ),
        spec(
            "/v1/users/{user_id}",
            &["get", "patch"],
            get(users::get_user).patch(users::update_user),
        ),
        spec(
            "/v1/users/{user_id}/deactivate",
            &["post"],
            post(users::deactivate_user),
        ),
        spec(
            "/v1/users/{user_id}/tokens",
            &["post"],
            post(users::mint_token),
        ),
        spec(
            "/v1/users/{user_id}/sessions",
            &["get"],
            get(sessions::user_sessions),
        ),
        spec(
            "/v1/users/{user_id}/presence",
            &["get"],
            get(sessions::user_presence),
        ),
        spec("/v1/me", &["get"], get(users::me)),
        spec(
            "/v1/contacts/presence",
            &["get"],
            get(sessions::contacts_presence),
        ),
        spec("/v1/sessions", &["get"], get(sessions::my_sessions)),
        spec(
            "/v1/sessions/{session_id}",
            &["delete"],
            delete(sessions::revoke),
        ),
        spec(
            "/v1/conversations",
            &["get", "post"],
            get(conversations::list).post(conversations::create),
        ),
        spec(
            "/v1/conversations/{conversation_id}",
            &["get", "patch"],
            get(conversations::get).patch(conversations::update),
        ),
        spec(
            "/v1/conversations/{conversation_id}/members",
            &["get", "post"],
            get(members::list).post(members::add),
        ),
        spec(
            "/v1/conversations/{conversation_id}/members/{user_id}",
            &["patch", "delete"],
            patch(members::change_role).delete(members::kick),
        ),
        spec(
            "/v1/conversations/{conversation_id}/bans",
            &["post"],
            post(members::ban),
        ),
        spec(
            "/v1/conversations/{conversation_id}/bans/{user_id}",
            &["delete"],
            delete(members::unban),
        ),
        spec(
            "/v1/conversations/{conversation_id}/join",
            &["post"],
            post(members::join),
        ),
        spec(
            "/v1/conversations/{conversation_id}/leave",
            &["post"],
            post(members::leave),
        ),
        spec(
            "/v1/conversations/{conversation_id}/messages",
            &["get", "post"],
            get(messages::history).post(messages::send),
        ),
        spec(
            "/v1/conversations/{conversation_id}/messages/{message_id}",
            &["patch", "delete"],
            patch(messages::edit).delete(messages::delete),
        ),
        spec(
            "/v1/conversations/{conversation_id}/messages/{message_id}/replies",
            &["get"],
            get(messages::replies),
        ),
        spec(
            "/v1/conversations/{conversation_id}/messages/{message_id}/reactions",
            &["post"],
            post(messages::add_reaction),
        ),
        spec(
            "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
            &["delete"],
            delete(messages::remove_reaction),
        ),
        spec(
            "/v1/conversations/{conversation_id}/receipts",
            &["get", "post"],
            get(messages::receipts).post(messages::mark),
        ),
    ]
}

/// Routes every role serves.
pub fn common_routes() -> Vec<RouteSpec> {
    vec![
        spec("/healthz", &["get"], get(health::healthz)),
        spec("/readyz", &["get"], get(health::readyz)),
        spec("/metrics", &["get"], get(health::metrics)),
        spec("/v1/openapi.json", &["get"], get(health::openapi)),
        spec("/demo/login", &["post"], post(health::demo_login)),
    ]
}

/// Times every routed request by its route template and counts errors by code.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    if let Some(code) = response.extensions().get::<ErrorCode>() {
        state.metrics.error(*code);
    }
    state.metrics.http(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

pub fn router(state: &AppState, api: bool) -> Router<AppState> {
    let mut routes = common_routes();
    if api {
        routes.extend(api_routes());
    }
    let router = routes.into_iter().fold(Router::new(), |router, route| {
        router.route(route.path, route.router)
    });
    router.route_layer(middleware::from_fn_with_state(state.clone(), track))
}

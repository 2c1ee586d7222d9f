//! The router: every route, the fallback, the middleware and the state, assembled in one place
//! that nothing else imports.

use std::time::Duration;

use axum::{Router, http::StatusCode, routing::get};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth,
    cors::AllowedOrigins,
    middleware,
    openapi::{self, ApiDoc},
    problem::{Problem, default_detail},
    routes::{docs, events, in_progress, ops, pending},
    state::AppState,
};

/// The router and the OpenAPI document generated from the routes it mounts (so the document
/// cannot list a route the gateway does not serve).
pub(crate) fn router(
    state: AppState,
    server_timeout: Duration,
    cors: &AllowedOrigins,
) -> (Router, utoipa::openapi::OpenApi) {
    let (documented, mut api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(pending::list))
        .routes(routes!(pending::get, pending::transition))
        .routes(routes!(in_progress::list))
        .routes(routes!(in_progress::get))
        .routes(routes!(events::list))
        .routes(routes!(auth::endpoint::token))
        .routes(routes!(auth::endpoint::jwks))
        .split_for_parts();
    openapi::complete_ticket_operations(&mut api);
    let metrics = state.metrics.clone();
    let policy = state.auth.default_policy();
    let app = documented
        .route("/v2/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(docs::router())
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, default_detail(StatusCode::NOT_FOUND))
        });
    (middleware::apply(app, metrics, server_timeout, policy, cors.layer()).with_state(state), api)
}

//! `GET /v2/docs`: the interactive API reference — Swagger UI rendering `/v2/openapi.json`.
//!
//! Every asset comes from the gateway itself: `utoipa-swagger-ui` with its `vendored` feature
//! carries the Swagger UI release inside the crate (nothing is fetched at build or run time),
//! and the page loads nothing from another host — the online spec validator is turned off —
//! so it works on networks without internet. `/v2/docs` redirects to `/v2/docs/`, the page;
//! its assets are under `/v2/docs/`. Public, like the document it renders.

use axum::Router;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// The routes of the reference.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let config = Config::from("/v2/openapi.json")
        .validator_url("none")
        .display_operation_id(true)
        .try_it_out_enabled(false);
    SwaggerUi::new("/v2/docs").config(config).into()
}

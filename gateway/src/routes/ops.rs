//! Operational endpoints: liveness, readiness and the OpenAPI document. No credentials.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{problem::Problem, state::AppState};

/// `GET /healthz`: the process is alive.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while a ticket-service pod is SERVING and the gateway is not
/// shutting down; 503 otherwise. Answered from what the balancer already knows (it probes every
/// pod's health), never with a call of its own.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        not_ready("The gateway is shutting down.")
    } else if state.is_ready() {
        "ready".into_response()
    } else {
        not_ready("No ticket-service instance is serving.")
    }
}

fn not_ready(detail: &'static str) -> Response {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response()
}

/// `GET /v2/openapi.json`: the OpenAPI 3.1 document of this gateway.
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.get().cloned().unwrap_or_default().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

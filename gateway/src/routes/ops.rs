//! Operational endpoints: liveness, readiness, metrics and the OpenAPI document. No
//! credentials.

use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use tickets_runtime::metrics::Render as _;

use crate::{problem::Problem, state::AppState};

/// `GET /healthz`: the process is alive.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 only while the ticket service reports SERVING and the gateway is not
/// shutting down; 503 otherwise.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        return not_ready("The gateway is shutting down.");
    }
    let mut health = state.health.clone();
    let check =
        health.check(HealthCheckRequest { service: tickets_contract::TICKET_SERVICE_NAME.into() });
    match tokio::time::timeout(state.readiness_timeout, check).await {
        Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32 => {
            "ready".into_response()
        }
        Ok(Ok(_)) => not_ready("The ticket service reports NOT_SERVING."),
        Ok(Err(_)) | Err(_) => not_ready("The ticket service does not answer its health check."),
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

/// `GET /metrics`: the Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

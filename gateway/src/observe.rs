//! What operators see of each request: the `x-request-id` (accepted when sane, else generated,
//! and echoed), a span continuing the caller's `traceparent`, one access-log line, and the
//! request metrics. The same outermost middleware applies the header-size limit and the problem
//! safety net of `app`, so that what is logged and counted is what the client gets.

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tickets_contract::runtime::{propagation, telemetry};
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::{
    app,
    metrics::{GatewayMetrics, method_label},
};

/// The request-id header.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id accepted from a client.
const MAX_REQUEST_ID: usize = 128;

tokio::task_local! {
    /// The current request's id, for the calls the handler makes to the ticket service.
    pub(crate) static CURRENT_REQUEST_ID: HeaderValue;
}

/// A client's request id, when it is short and made only of safe characters (so it cannot
/// forge log lines or headers); otherwise `None` and a fresh one is used.
fn accepted(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let safe = !text.is_empty()
        && text.len() <= MAX_REQUEST_ID
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    safe.then(|| value.clone())
}

/// The middleware.
pub(crate) async fn observe(
    State(metrics): State<Arc<GatewayMetrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request.headers().get(&REQUEST_ID).and_then(accepted).unwrap_or_else(|| {
        HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
            .unwrap_or(HeaderValue::from_static("invalid"))
    });
    request.headers_mut().insert(REQUEST_ID, request_id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = method_label(request.method());
    let request_id_text = request_id.to_str().unwrap_or_default().to_owned();
    // The attributes only an exporter reads are built only when traces are on.
    let span = if telemetry::tracing_enabled() {
        let span = tracing::info_span!(
            "http",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            http.request.method = method,
            http.route = %route,
            http.response.status_code = tracing::field::Empty,
            request_id = %request_id_text,
        );
        propagation::continue_trace(&span, request.headers());
        span
    } else {
        tracing::info_span!("http", request_id = %request_id_text)
    };

    // Under the timeout (408) and the routes (404, 405, 413, rejections), so their bare
    // errors get their problem bodies here.
    let guarded = async move {
        if let Some(rejection) = app::oversized_headers(&request) {
            return rejection;
        }
        app::problem_for_bare_errors(next.run(request).await)
    };
    let mut response =
        CURRENT_REQUEST_ID.scope(request_id.clone(), guarded.instrument(span.clone())).await;
    let status = response.status();
    let elapsed = started.elapsed();
    span.record("http.response.status_code", status.as_u16());
    metrics.request(&route, method, status, elapsed);
    tracing::info!(
        parent: &span,
        method,
        route = %route,
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_request_ids_are_kept_and_others_replaced() {
        for ok in ["abc-123", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "a.b_c:d"] {
            assert!(accepted(&HeaderValue::from_static(ok)).is_some(), "{ok}");
        }
        for bad in ["", "has space", "new\\nline", "quote\"", "<script>"] {
            assert!(accepted(&HeaderValue::from_static(bad)).is_none(), "{bad:?}");
        }
        let long = HeaderValue::try_from("a".repeat(129)).unwrap();
        assert!(accepted(&long).is_none());
    }
}

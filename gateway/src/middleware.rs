//! The layers every request passes, outermost first:
//!
//! 1. a client's `x-request-id` is kept only when it is sane (else dropped here, so that a fresh
//!    one is made), then tower-http's `SetRequestIdLayer` gives every request an id;
//! 2. tower-http's `TraceLayer`: the request's span (continuing the caller's `traceparent`) and
//!    one access-log line per request;
//! 3. the id echoed on the response (`PropagateRequestIdLayer`);
//! 4. CORS, when origins are configured (`cors`): preflights are answered here;
//! 5. compression of answers over 1 KiB (zstd, br or gzip, as `Accept-Encoding` allows; never
//!    an event stream);
//! 6. on counted `/v2` answers the client's limits (`RateLimit-Policy`, `RateLimit`: see
//!    `limits`);
//! 7. the request metrics, on the status the client gets;
//! 8. `ETag` on every `200` of a `GET`, and `304` for a matching `If-None-Match`
//!    (`conditional`);
//! 9. the problem safety net: a bare error status from below becomes a problem body;
//! 10. the 32 KiB header limit (431), the whole-request deadline (408) and the 64 KiB body limit
//!     (413).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{MatchedPath, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tickets_contract::metadata::REQUEST_ID;
use tickets_runtime::{propagation, telemetry};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, util::MapRequestLayer, util::MapResponseLayer};
use tower_http::{
    compression::{
        CompressionBody, CompressionLayer,
        predicate::{NotForContentType, Predicate as _, SizeAbove},
    },
    cors::CorsLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
    trace::{MakeSpan, OnResponse, TraceLayer},
};

use crate::{
    auth::API_KEY_HEADER,
    body::MAX_BODY_BYTES,
    conditional, cors,
    limits::{self, Policy, RateLimitSlot},
    metrics::{GatewayMetrics, method_label},
    problem::{PROBLEM_JSON, Problem, default_detail},
};

/// Largest total size of the request headers.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Answers up to this size are sent as they are: compressing them saves too little.
const COMPRESS_ABOVE_BYTES: u64 = 1024;

/// Longest request id accepted from a client.
const MAX_REQUEST_ID: usize = 128;

/// The request-id header.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(REQUEST_ID);

/// Wraps every route of `router` (and its fallback) in the layers above.
pub(crate) fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    metrics: Arc<GatewayMetrics>,
    server_timeout: Duration,
    policy: Policy,
    cors: Option<CorsLayer>,
) -> Router<S> {
    // Written once: the header of every answer given before a client is known.
    let default_policy = policy.header();
    let cors = cors.map(|layer| {
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn(cors::preflight_no_content))
            .layer(layer)
    });
    // tower-http's default predicate, with our threshold: over 1 KiB, never a gRPC answer, an
    // image or an event stream.
    let compressible = SizeAbove::new(COMPRESS_ABOVE_BYTES + 1)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    router.layer(
        ServiceBuilder::new()
            .layer(MapRequestLayer::new(drop_unsafe_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                HeaderName::from_static(API_KEY_HEADER),
            ]))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(HttpSpan)
                    .on_request(())
                    .on_response(AccessLog)
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
            .option_layer(cors)
            .layer(MapResponseLayer::new(unwrap_uncompressed))
            .layer(CompressionLayer::new().compress_when(compressible))
            .layer(axum::middleware::from_fn(move |request, next| {
                rate_limit_headers(default_policy.clone(), request, next)
            }))
            .layer(RequestMetricsLayer { metrics })
            .layer(axum::middleware::from_fn(conditional::etags))
            .layer(MapResponseLayer::new(problem_for_bare_errors))
            .layer(axum::middleware::map_request(refuse_oversized_headers))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, server_timeout))
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
    )
}

/// The body of an answer the compression layer left as it was, without the layer's wrapper:
/// the wrapper has room for every encoder's state (5–6 KiB, boxed per answer), which an event
/// stream would otherwise keep for its whole life, and every small answer would allocate. The
/// layer marks every answer it compresses with `Content-Encoding`; one without it is its
/// `Identity` case, whose inner body is exactly what would be sent.
fn unwrap_uncompressed(response: Response<CompressionBody<Body>>) -> Response {
    if response.headers().contains_key(header::CONTENT_ENCODING) {
        response.map(Body::new)
    } else {
        response.map(CompressionBody::into_inner)
    }
}

/// `RateLimit-Policy` and `RateLimit` on every answer to a counted `/v2` request: the client's
/// own, once authentication has counted the request; else (the client unknown, the request
/// refused before it was counted) the gateway's policy alone.
async fn rate_limit_headers(
    default_policy: Option<HeaderValue>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    if !limits::counted(request.uri().path()) {
        return next.run(request).await;
    }
    let slot = RateLimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    let (policy_header, standing_header) = match slot.get() {
        Some(standing) => (standing.policy.header(), standing.header()),
        None => (default_policy, None),
    };
    let headers = response.headers_mut();
    if let Some(value) = policy_header {
        headers.insert(HeaderName::from_static("ratelimit-policy"), value);
    }
    if let Some(value) = standing_header {
        headers.insert(HeaderName::from_static("ratelimit"), value);
    }
    response
}

/// Removes a client's request id unless it is short and made only of safe characters (so it
/// cannot forge log lines or headers); the next layer then makes a fresh one.
fn drop_unsafe_request_id(mut request: Request) -> Request {
    let safe = request.headers().get(REQUEST_ID).is_none_or(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    });
    if !safe {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The route template a request matched, or `unmatched`.
fn route_of(request: &Request) -> &str {
    request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str)
}

/// The span of one request: the request id, method and route template always (every log line
/// of the request carries them); the attributes only an exporter reads when traces are on.
#[derive(Clone, Copy, Debug)]
struct HttpSpan;

impl MakeSpan<Body> for HttpSpan {
    fn make_span(&mut self, request: &Request) -> tracing::Span {
        let request_id =
            request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let method = method_label(request.method());
        let route = route_of(request);
        if !telemetry::tracing_enabled() {
            return tracing::info_span!("http", request_id, method, route);
        }
        let span = tracing::info_span!(
            "http",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            http.request.method = method,
            http.route = route,
            http.response.status_code = tracing::field::Empty,
            request_id,
            method,
            route,
        );
        propagation::continue_trace(&span, request.headers());
        span
    }
}

/// The access-log line: one per request, in its span (which names the request).
#[derive(Clone, Copy, Debug)]
struct AccessLog;

impl<B> OnResponse<B> for AccessLog {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &tracing::Span) {
        let status = response.status().as_u16();
        span.record("http.response.status_code", status);
        tracing::info!(
            parent: span,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request"
        );
    }
}

/// Counts every answered request by route, method and status (tower-http has no metrics layer).
#[derive(Clone, Debug)]
struct RequestMetricsLayer {
    metrics: Arc<GatewayMetrics>,
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> RequestMetrics<S> {
        RequestMetrics { inner, metrics: self.metrics.clone() }
    }
}

#[derive(Clone, Debug)]
struct RequestMetrics<S> {
    inner: S,
    metrics: Arc<GatewayMetrics>,
}

impl<S> Service<Request> for RequestMetrics<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let route = route_of(&request).to_owned();
        let method = method_label(request.method());
        let metrics = self.metrics.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            metrics.request(&route, method, response.status(), started.elapsed());
            Ok(response)
        })
    }
}

/// 431 when the request headers are larger than [`MAX_HEADER_BYTES`] in total.
async fn refuse_oversized_headers(request: Request) -> Result<Request, Response> {
    let size: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if size > MAX_HEADER_BYTES {
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        return Err(Problem::new(status, default_detail(status)).into_response());
    }
    Ok(request)
}

/// The safety net under "every error is a problem": an error response produced below the
/// handlers (the router's 404/405, the body limit's 413, the timeout's 408, an extractor's
/// rejection) gets the problem body of its status, keeping its headers (`Allow`, ...). JSON
/// bodies — problems, and the token endpoint's RFC 6749 errors — are left alone.
fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = Problem::new(status, default_detail(status));
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(id: &str) -> bool {
        let request = Request::builder().header(REQUEST_ID, id).body(Body::empty()).unwrap();
        drop_unsafe_request_id(request).headers().contains_key(REQUEST_ID)
    }

    #[test]
    fn sane_request_ids_are_kept_and_others_dropped() {
        for ok in ["abc-123", "4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "a.b_c:d"] {
            assert!(kept(ok), "{ok}");
        }
        for bad in ["", "has space", "quote\"", "<script>", &"a".repeat(129)] {
            assert!(!kept(bad), "{bad:?}");
        }
    }
}

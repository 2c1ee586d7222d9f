//! W3C trace context across the HTTP → gRPC hop: extracted from incoming headers (HTTP headers
//! at the gateway, gRPC metadata — which arrives as HTTP/2 headers — at the service) and
//! injected into outgoing gRPC metadata, through `opentelemetry-http`'s header adapters.

use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The remote parent named by `traceparent`/`tracestate` in `headers` (empty when absent or
/// malformed, which starts a new trace).
#[must_use]
pub fn extract(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

/// Makes `span` a child of the remote parent in `headers`, when there is one.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = extract(headers);
    if opentelemetry::trace::TraceContextExt::has_active_span(&parent) {
        let _ = span.set_parent(parent);
    }
}

/// Writes the current span's context into outgoing gRPC metadata.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    // A metadata map is a header map underneath; moving it out and back costs no copy.
    let mut headers = std::mem::take(metadata).into_headers();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    *metadata = tonic::metadata::MetadataMap::from_headers(headers);
}

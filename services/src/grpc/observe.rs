//! What operators see of every call the server answers, health and reflection included: its
//! span (made for tower-http's `TraceLayer`, continuing the caller's `traceparent` and holding
//! its `x-request-id`), and its metrics and access-log line.
//!
//! The metrics and the log line come from a small layer of our own ([`ObserveLayer`]), because
//! they need the call's method together with its final status: the status of a gRPC call is in
//! the response headers of a trailers-only answer, else in the trailers after the last message,
//! or missing when the client goes away first. tower-http's trace callbacks see the response or
//! the trailers, but never the request with them, and nothing when a call is dropped; and it has
//! no metrics layer.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
};

use http_body::{Body, Frame, SizeHint};
use tickets_contract::{FILE_DESCRIPTOR_SET, errors::code_name, metadata::REQUEST_ID, rpc_methods};
use tickets_runtime::{propagation, telemetry};
use tokio::time::Instant;
use tonic::Code;
use tower_http::trace::MakeSpan;

use crate::metrics::Metrics;

/// The span of one RPC: named `package.Service/Method`, a child of the caller's span when the
/// call carries `traceparent`, and holding the caller's request id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RpcSpan;

impl<B> MakeSpan<B> for RpcSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> tracing::Span {
        let request_id =
            request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !telemetry::tracing_enabled() {
            return tracing::info_span!("rpc", request_id = %request_id);
        }
        let span = tracing::info_span!(
            "rpc",
            otel.name = %request.uri().path().trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            request_id = %request_id,
        );
        propagation::continue_trace(&span, request.headers());
        span
    }
}

/// The RPC paths reported by name — every method this server serves, from the descriptor sets
/// it serves — and anything else as `unknown`, so a client cannot grow the label set by calling
/// made-up paths.
static KNOWN: LazyLock<Vec<String>> = LazyLock::new(|| {
    [
        FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]
    .into_iter()
    .flat_map(rpc_methods)
    .collect()
});

fn method_label(path: &str) -> &'static str {
    let path = path.trim_start_matches('/');
    KNOWN.iter().find(|known| *known == path).map_or("unknown", String::as_str)
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Code> {
    headers.get("grpc-status").map(|value| Code::from_bytes(value.as_bytes()))
}

/// Records one RPC exactly once: on its status, or as CANCELLED if the response is dropped
/// before one was seen (the client went away).
/// It also writes the service's access-log line, in the RPC's span.
#[derive(Debug)]
struct Recorder {
    metrics: Arc<Metrics>,
    method: &'static str,
    started: Instant,
    span: tracing::Span,
    done: bool,
}

impl Recorder {
    fn record(&mut self, code: Code) {
        if !self.done {
            self.done = true;
            let elapsed = self.started.elapsed();
            let code = code_name(code);
            self.metrics.rpc_finished(self.method, code, elapsed);
            tracing::info!(
                parent: &self.span,
                method = self.method,
                code,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "rpc"
            );
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

/// The layer, for `tonic::transport::Server::layer`.
#[derive(Clone, Debug)]
pub(crate) struct ObserveLayer {
    pub(crate) metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, metrics: self.metrics.clone() }
    }
}

/// The service the layer wraps around the router.
#[derive(Clone, Debug)]
pub(crate) struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Observe<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let mut recorder = Recorder {
            metrics: self.metrics.clone(),
            method: method_label(request.uri().path()),
            started: Instant::now(),
            span: tracing::Span::current(),
            done: false,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if let Some(code) = grpc_status(response.headers()) {
                recorder.record(code);
            }
            Ok(response.map(|inner| ObservedBody { inner, recorder }))
        })
    }
}

/// The response body, watched for the trailers that carry the status.
#[derive(Debug)]
pub(crate) struct ObservedBody<B> {
    inner: B,
    recorder: Recorder,
}

impl<B> Body for ObservedBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.recorder.record(code);
                }
            }
            Poll::Ready(Some(Err(_))) => self.recorder.record(Code::Internal),
            Poll::Ready(None) => self.recorder.record(Code::Ok),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_are_labelled_by_name() {
        assert_eq!(
            method_label("/tickets.v2.TicketService/StartService"),
            "tickets.v2.TicketService/StartService"
        );
        assert_eq!(method_label("/made.up/Path"), "unknown");
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "grpc.health.v1.Health/Check");
        assert_eq!(
            method_label("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        );
    }
}

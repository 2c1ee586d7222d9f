//! Prometheus metrics of the gateway, in the text format at `GET /metrics` on the metrics port.
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `http_server_requests_total` | counter | `route`, `method`, `status` | answered requests; `route` is the route template (`/v2/tickets/pending-tickets/{pending-ticket-id}`), `unmatched` for unknown paths |
//! | `http_server_request_duration_seconds` | histogram | `route`, `method` | time to the response head |
//! | `upstream_grpc_errors_total` | counter | `code` | failed calls to the ticket service by gRPC status code (`NOT_FOUND`, `UNAVAILABLE`, …; deadline and connection failures included) |
//! | `rate_limited_requests_total` | counter | — | requests refused with 429 |
//! | `rate_limit_decisions_total` | counter | `decision` (`allowed`, `limited`), `policy` (`burst`, `daily`; `none` when allowed) | counted `/v2` requests |
//! | `rate_limit_backend_duration_seconds` | histogram | — | Redis round trips of the rate limit (timeouts included) |
//! | `rate_limit_backend_errors_total` | counter | — | rate-limit checks Redis did not answer (counted in-process instead) |
//! | `upstream_endpoints` | gauge | — | ticket-service pods the gateway balances over (`dns:///` targets only) |
//! | `http_server_open_connections` | gauge | — | partner connections open now (at most `GATEWAY_MAX_CONNECTIONS`) |
//! | `event_streams_open` | gauge | — | partner event streams open now |
//! | `event_upstream_watches` | gauge | — | upstream event watches: one per provider with an open stream |
//! | `events_delivered_total` | counter | — | events sent on partner streams |
//! | `event_delivery_lag_seconds` | histogram | — | from an event's occurrence to its sending on a partner stream (live events) |

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};
use tickets_contract::errors::code_name;
use tickets_runtime::metrics::{LATENCY_BUCKETS, Render};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: &'static str,
    policy: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

/// Every metric of the gateway.
#[derive(Debug)]
pub(crate) struct GatewayMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    upstream_errors: Family<CodeLabels, Counter>,
    rate_limited: Counter,
    decisions: Family<DecisionLabels, Counter>,
    backend_latency: Histogram,
    backend_errors: Counter,
    events_delivered: Counter,
    event_lag: Histogram,
}

/// A gauge read at scrape time from a value the gateway keeps anyway.
struct Reading(Arc<dyn Fn() -> i64 + Send + Sync>);

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Reading").field(&(self.0)()).finish()
    }
}

impl prometheus_client::encoding::EncodeMetric for Reading {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&(self.0)())
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Gauge
    }
}

impl GatewayMetrics {
    /// Also reports a gauge read from `read` at scrape time.
    pub(crate) fn with_gauge(
        mut self,
        name: &str,
        help: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Self {
        self.registry.register(name, help, Reading(Arc::new(read)));
        self
    }
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_server_requests", "Answered HTTP requests", requests.clone());
        let duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                Histogram::new(LATENCY_BUCKETS)
            });
        registry.register(
            "http_server_request_duration_seconds",
            "HTTP request latency",
            duration.clone(),
        );
        let upstream_errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "upstream_grpc_errors",
            "Failed ticket-service calls by gRPC status code",
            upstream_errors.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused by the rate limit",
            rate_limited.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "rate_limit_decisions",
            "Counted /v2 requests by decision and the policy that refused them",
            decisions.clone(),
        );
        let backend_latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "rate_limit_backend_duration_seconds",
            "Redis round trips of the rate limit",
            backend_latency.clone(),
        );
        let backend_errors = Counter::default();
        registry.register(
            "rate_limit_backend_errors",
            "Rate-limit checks Redis did not answer",
            backend_errors.clone(),
        );
        let events_delivered = Counter::default();
        registry.register(
            "events_delivered",
            "Events sent on partner event streams",
            events_delivered.clone(),
        );
        let event_lag = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "event_delivery_lag_seconds",
            "From an event's occurrence to its sending on a partner stream (live events)",
            event_lag.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            upstream_errors,
            rate_limited,
            decisions,
            backend_latency,
            backend_errors,
            events_delivered,
            event_lag,
        }
    }
}

/// The label for an HTTP method (a fixed set, so clients cannot grow it).
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl GatewayMetrics {
    /// Records an answered request. `route` is a route template or `unmatched`.
    pub(crate) fn request(
        &self,
        route: &str,
        method: &'static str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&RequestLabels { route: route.clone(), method, status: status.as_u16() })
            .inc();
        self.duration.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    }

    /// Records a failed call to the ticket service.
    pub(crate) fn upstream_error(&self, code: tonic::Code) {
        self.upstream_errors.get_or_create(&CodeLabels { code: code_name(code) }).inc();
    }

    /// Records a counted request: allowed (`refused_by` `None`) or refused by a policy.
    pub(crate) fn rate_limit_decision(&self, refused_by: Option<&'static str>) {
        let labels = match refused_by {
            None => DecisionLabels { decision: "allowed", policy: "none" },
            Some(policy) => {
                self.rate_limited.inc();
                DecisionLabels { decision: "limited", policy }
            }
        };
        self.decisions.get_or_create(&labels).inc();
    }

    /// Records a Redis round trip of the rate limit.
    pub(crate) fn rate_limit_backend_latency(&self, elapsed: Duration) {
        self.backend_latency.observe(elapsed.as_secs_f64());
    }

    /// Records a rate-limit check Redis did not answer.
    pub(crate) fn rate_limit_backend_error(&self) {
        self.backend_errors.inc();
    }

    /// Records an event sent on a partner stream.
    pub(crate) fn event_delivered(&self) {
        self.events_delivered.inc();
    }

    /// Records how long a live event took from its occurrence to a partner stream.
    pub(crate) fn event_delivery_lag(&self, lag: Duration) {
        self.event_lag.observe(lag.as_secs_f64());
    }
}

impl Render for GatewayMetrics {
    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

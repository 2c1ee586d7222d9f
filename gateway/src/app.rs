//! The router, its middleware, and the server loop.

use std::{
    future::Future,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use axum::{
    Router,
    body::Body,
    extract::{FromRef, Request},
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;
use tower_http::{
    limit::RequestBodyLimitLayer, sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::TimeoutLayer,
};
use utoipa::OpenApi as _;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{self, Auth},
    body::MAX_BODY_BYTES,
    cli::ServiceChannel,
    metrics::{self, GatewayMetrics},
    observe,
    openapi::ApiDoc,
    problem::{PROBLEM_JSON, Problem, default_detail},
    routes::{in_progress, ops, pending},
    upstream::Upstream,
};

/// Largest total size of the request headers.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// What the handlers share: one allocation, so that the clone axum makes for every request is
/// a reference count rather than a copy of two channel handles (each of which allocates).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub(crate) upstream: Upstream,
    pub(crate) health: HealthClient<Channel>,
    pub(crate) auth: Arc<Auth>,
    pub(crate) shutting_down: Arc<AtomicBool>,
    pub(crate) readiness_timeout: Duration,
    /// Rendered once the router (which generates it) is built.
    pub(crate) openapi_json: Arc<OnceLock<String>>,
    pub(crate) metrics: Arc<GatewayMetrics>,
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<GatewayMetrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

/// Limits and timings of the HTTP server.
#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Deadline of each call to the ticket service (sent on as `grpc-timeout`).
    pub request_timeout: Duration,
    /// Deadline of a whole HTTP request, body upload included (408 after it).
    pub server_timeout: Duration,
    /// How long in-flight requests may finish after shutdown starts.
    pub shutdown_grace: Duration,
}

/// The router and the OpenAPI document describing it.
fn router(state: AppState, server_timeout: Duration) -> (Router, utoipa::openapi::OpenApi) {
    let (tickets, api) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(pending::list))
        .routes(routes!(pending::get, pending::transition))
        .routes(routes!(in_progress::list))
        .routes(routes!(in_progress::get))
        .routes(routes!(auth::endpoint::token))
        .routes(routes!(auth::endpoint::jwks))
        .split_for_parts();
    let app = tickets
        .route("/v2/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, default_detail(StatusCode::NOT_FOUND))
        })
        .layer(
            ServiceBuilder::new()
                // Also the header-size limit and the problem safety net (see `observe`): one
                // middleware rather than three, each of which would box a clone of the rest of
                // the stack per request.
                .layer(middleware::from_fn_with_state(state.metrics.clone(), observe::observe))
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::HeaderName::from_static(auth::API_KEY_HEADER),
                ]))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, server_timeout))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
        .with_state(state);
    (app, api)
}

/// The 431 problem when the request headers are larger than [`MAX_HEADER_BYTES`] in total.
pub(crate) fn oversized_headers(request: &Request) -> Option<Response> {
    let size: usize =
        request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    (size > MAX_HEADER_BYTES).then(|| {
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        Problem::new(status, default_detail(status)).into_response()
    })
}

/// The safety net under "every error is a problem": an error response produced below the
/// handlers (the router's 404/405, the body limit's 413, the timeout's 408, an extractor's
/// rejection) gets the problem body of its status, keeping its headers (`Allow`, ...). JSON
/// bodies — problems, and the token endpoint's RFC 6749 errors — are left alone.
pub(crate) fn problem_for_bare_errors(response: Response) -> Response {
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

/// Everything the gateway needs to run.
#[derive(Debug)]
pub struct Gateway {
    router: Router,
    shutting_down: Arc<AtomicBool>,
    shutdown_grace: Duration,
}

impl Gateway {
    /// Builds the gateway on its connection to the ticket service.
    ///
    /// # Errors
    /// When the OpenAPI document cannot be rendered.
    pub fn new(
        service: ServiceChannel,
        auth: Auth,
        settings: HttpSettings,
    ) -> anyhow::Result<Self> {
        let ServiceChannel { channel, balancer } = service;
        let shutting_down = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(GatewayMetrics::default());
        let openapi_json = Arc::new(OnceLock::new());
        let state = AppState(Arc::new(Shared {
            upstream: Upstream::new(
                channel.clone(),
                balancer,
                settings.request_timeout,
                metrics.clone(),
            ),
            health: HealthClient::new(channel),
            auth: Arc::new(auth),
            shutting_down: shutting_down.clone(),
            readiness_timeout: Duration::from_secs(2).min(settings.request_timeout),
            openapi_json: openapi_json.clone(),
            metrics,
        }));
        let (router, api) = router(state, settings.server_timeout);
        let _ = openapi_json.set(api.to_pretty_json().context("rendering the OpenAPI document")?);
        Ok(Self { router, shutting_down, shutdown_grace: settings.shutdown_grace })
    }

    /// The OpenAPI document, as served at `/v2/openapi.json`.
    #[must_use]
    pub fn openapi() -> utoipa::openapi::OpenApi {
        ApiDoc::openapi()
    }

    /// Serves on `listener` until `shutdown` resolves; then `/readyz` turns 503, no new
    /// connections are accepted, and in-flight requests get `shutdown_grace` to finish.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
        let shutting_down = self.shutting_down.clone();
        let drain = async move {
            shutdown.await;
            tracing::info!("shutdown requested: /readyz is 503; draining");
            shutting_down.store(true, Ordering::SeqCst);
            let _ = stopping_tx.send(true);
        };
        let server = axum::serve(listener, self.router).with_graceful_shutdown(drain);
        let grace = self.shutdown_grace;
        let deadline = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = server => result.context("HTTP server failed"),
            () = deadline => {
                tracing::warn!(?grace, "grace period over; dropping the requests still running");
                Ok(())
            }
        }
    }
}

//! The gateway as a server: built from its parts, served until shutdown, drained.

use std::{
    future::Future,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tonic_health::pb::health_client::HealthClient;
use utoipa::OpenApi as _;

use crate::{
    auth::Auth,
    metrics::GatewayMetrics,
    openapi::ApiDoc,
    router::router,
    state::{AppState, Shared},
    upstream::{Upstream, channel::ServiceChannel},
};

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
        let mut metrics = GatewayMetrics::default();
        if let Some(balancer) = balancer.clone() {
            metrics = metrics
                .with_endpoints(move || i64::try_from(balancer.endpoints()).unwrap_or(i64::MAX));
        }
        let metrics = Arc::new(metrics);
        let openapi_json = Arc::new(OnceLock::new());
        let state = AppState::new(Shared {
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
        });
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

//! The Prometheus side both binaries share: one set of latency buckets, and the small HTTP
//! server that answers `GET /metrics` on its own port (never on a port partners reach).

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;

/// Latency buckets of every duration histogram, 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The media type of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a metrics endpoint serves: the text exposition of every metric, rendered at scrape
/// time (so gauges read from live state are current).
pub trait Render: Send + Sync + 'static {
    /// The text exposition.
    ///
    /// # Errors
    /// When encoding fails (writing to a `String`: never in practice).
    fn render(&self) -> Result<String, std::fmt::Error>;
}

async fn scrape<R: Render>(State(metrics): State<Arc<R>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_FORMAT)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
///
/// # Errors
/// When the server fails.
pub async fn serve<R: Render>(
    listener: TcpListener,
    metrics: Arc<R>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Router::new().route("/metrics", get(scrape::<R>)).with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("metrics server failed")
}

//! The gRPC server: the ticket and employee services behind the provider interceptor, plus
//! `grpc.health.v1` and reflection, with bounded messages and a bounded graceful shutdown.

mod convert;
mod employees;
mod health;
mod observe;
mod provider;
mod status;
mod tickets;

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context as _;
use http::HeaderName;
use sea_orm::DatabaseConnection;
use tickets_contract::{
    FILE_DESCRIPTOR_SET,
    metadata::REQUEST_ID,
    v2::{
        employee_service_server::EmployeeServiceServer, ticket_service_server::TicketServiceServer,
    },
};
use tokio::net::TcpListener;
use tonic::{service::interceptor::InterceptedService, transport::server::TcpIncoming};
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use health::Health;

use crate::metrics::Metrics;

/// The state every handler shares; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
}

/// Limits and timings of the server.
#[derive(Clone, Copy, Debug)]
pub struct ServerSettings {
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// How long in-flight calls may run after shutdown starts before they are dropped.
    pub shutdown_grace: Duration,
    /// How often the database is pinged to keep the health status true.
    pub health_interval: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(20),
            health_interval: Duration::from_secs(2),
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains.
///
/// Shutdown order (docs/operations.md): health turns NOT_SERVING for the overall service and each
/// named one, the server stops accepting connections and lets in-flight calls finish, for at
/// most `shutdown_grace`; then it returns.
///
/// # Errors
/// When the server fails to run (not when a call fails).
pub async fn serve(
    listener: TcpListener,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (health, health_service) = Health::new().await;
    let watcher = tokio::spawn(health.clone().watch_database(db.clone(), settings.health_interval));

    // The health protocol is described too, so that reflection-based clients can call it.
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building the reflection service")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building the reflection service")?;

    let service = Service { db, metrics: metrics.clone() };
    let max = settings.max_message_bytes;
    let tickets = TicketServiceServer::new(service.clone())
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let employees = EmployeeServiceServer::new(service)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);

    let (stopping_tx, mut stopping_rx) = tokio::sync::watch::channel(false);
    let drain_signal = {
        let health = health.clone();
        async move {
            shutdown.await;
            tracing::info!("shutdown requested: reporting NOT_SERVING and draining");
            health.shut_down().await;
            let _ = stopping_tx.send(true);
        }
    };

    // Outermost first: a request id for calls that come without one (the gateway always sends
    // one), the span, the id echoed on the answer, then metrics and the access-log line.
    let request_id = HeaderName::from_static(REQUEST_ID);
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            // The span only: the call's outcome is logged once by `observe`, which sees its
            // method and status together.
            TraceLayer::new_for_grpc()
                .make_span_with(observe::RpcSpan)
                .on_request(())
                .on_response(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(observe::ObserveLayer { metrics });
    let server = tonic::transport::Server::builder()
        .layer(layers)
        .tcp_nodelay(true)
        .http2_max_header_list_size(16 * 1024)
        .max_concurrent_streams(1024)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(tickets, provider::require_provider))
        .add_service(InterceptedService::new(employees, provider::require_provider))
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            drain_signal,
        );

    let grace = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(settings.shutdown_grace).await;
    };
    let result = tokio::select! {
        result = server => result.context("gRPC server failed"),
        () = grace => {
            tracing::warn!(grace = ?settings.shutdown_grace, "grace period over; dropping the calls still running");
            Ok(())
        }
    };
    watcher.abort();
    result
}

//! The gRPC server: the ticket and employee services behind the check of their callers, plus
//! `grpc.health.v1` and reflection, with bounded messages and a bounded graceful shutdown.

mod callers;
mod convert;
mod employees;
mod health;
mod observe;
mod status;
mod tickets;
mod watch;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

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
use tonic::transport::server::TcpIncoming;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

pub use callers::Callers;
pub use health::Health;
pub use tickets_runtime::tls::ServerTls;

use crate::{events::Hub, metrics::Metrics, store};

/// The state every handler shares; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    db: DatabaseConnection,
    /// The same database, for the request paths' single statements (`store/parked.rs`).
    parked: store::Parked,
    metrics: Arc<Metrics>,
    hub: Hub,
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
    /// With TLS: how often the certificate files are checked for a replacement.
    pub tls_reload: Duration,
    /// How long events are kept (`TICKETS_EVENT_RETENTION_DAYS`).
    pub event_retention: Duration,
}

/// Who may connect and call: the TLS of the connection (mutual with a client CA), and the check
/// of every call's token.
#[derive(Debug)]
pub struct Security {
    /// How every call's caller is checked.
    pub callers: Callers,
    /// TLS on the port; plaintext (h2c) when `None`.
    pub tls: Option<ServerTls>,
    /// A second, plaintext port serving only `grpc.health.v1`: for probes that cannot speak
    /// TLS (Kubernetes' own gRPC probes) when the main port requires it.
    pub health_listener: Option<TcpListener>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            shutdown_grace: Duration::from_secs(20),
            health_interval: Duration::from_secs(2),
            tls_reload: tickets_runtime::tls::RELOAD_EVERY,
            event_retention: Duration::from_secs(30 * 24 * 3600),
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
    security: Security,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Security { callers, tls, health_listener } = security;
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

    let hub = Hub::new(db.clone(), settings.event_retention);
    let hub_task = tokio::spawn(hub.clone().run());
    let service = Service {
        parked: store::Parked::new(db.clone()),
        db,
        metrics: metrics.clone(),
        hub: hub.clone(),
    };
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
            // Watches end now, so their callers resume on another replica instead of waiting
            // for the grace period to cut them off.
            hub.close();
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
        .layer(observe::ObserveLayer { metrics })
        .layer(callers::CallersLayer(callers));
    let health_only = health_listener.map(|listener| {
        let mut stopping = stopping_rx.clone();
        let server = tonic::transport::Server::builder()
            .add_service(health_service.clone())
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
            });
        tokio::spawn(server)
    });
    let router = tonic::transport::Server::builder()
        .layer(layers)
        .tcp_nodelay(true)
        .http2_max_header_list_size(16 * 1024)
        .max_concurrent_streams(1024)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(tickets)
        .add_service(employees);
    let server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> =
        match tls {
            Some(tls) => Box::pin(router.serve_with_incoming_shutdown(
                tls.incoming(listener, settings.tls_reload),
                drain_signal,
            )),
            None => Box::pin(router.serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                drain_signal,
            )),
        };

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
    hub_task.abort();
    if let Some(health_only) = health_only {
        health_only.abort();
    }
    result
}

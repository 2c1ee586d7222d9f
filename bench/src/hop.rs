//! The floor of the gateway's hop: a minimal axum server that answers
//! `GET /v2/tickets/pending-tickets/{id}` by relaying the caller's `authorization` to the ticket
//! service's `GetPendingTicket` over one tonic channel and writing the answer as the gateway's
//! JSON — and nothing else: no API key, rate limit, `ETag`, request id, CORS, compression, span,
//! access log or metric, no balancer and no retry. On one runtime thread, as the gateway is
//! deployed.
//!
//! Measured beside the REST and gRPC get rows (`bench/run.sh`, the *hop* row), it splits what
//! the gateway costs per get into the hop itself — one HTTP/1.1 exchange with the partner, one
//! HTTP/2 exchange with the service — and the gateway's own work on top of it.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;
use tickets_contract::v2::{GetTicketRequest, ticket_service_client::TicketServiceClient};
use tonic::{Code, metadata::MetadataValue, transport::Channel};

/// `tickets-bench hop` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct HopArgs {
    /// The ticket service's gRPC URL.
    #[arg(long)]
    service_url: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:28091")]
    addr: SocketAddr,
}

/// A pending ticket, as the gateway writes it.
#[derive(Debug, Serialize)]
struct PendingTicket {
    id: String,
    created_at: String,
    customer_id: String,
    ticket_number: i64,
    vehicle_model_id: i64,
    vin: String,
    connection_id: Option<String>,
}

async fn pending_ticket(
    State(client): State<TicketServiceClient<Channel>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut request = tonic::Request::new(GetTicketRequest { id });
    if let Some(value) =
        headers.get(AUTHORIZATION).and_then(|v| MetadataValue::try_from(v.as_bytes()).ok())
    {
        request.metadata_mut().insert("authorization", value);
    }
    let ticket = match client.clone().get_pending_ticket(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let answer = match status.code() {
                Code::InvalidArgument => StatusCode::BAD_REQUEST,
                Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                Code::PermissionDenied => StatusCode::FORBIDDEN,
                Code::NotFound => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_GATEWAY,
            };
            return (answer, status.message().to_owned()).into_response();
        }
    };
    let created_at = ticket
        .created_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default();
    Json(PendingTicket {
        id: ticket.id,
        created_at,
        customer_id: ticket.customer_id,
        ticket_number: ticket.ticket_number,
        vehicle_model_id: ticket.vehicle_model_id,
        vin: ticket.vin,
        connection_id: ticket.connection_id,
    })
    .into_response()
}

/// Serves until killed.
pub(crate) async fn run(args: &HopArgs) -> anyhow::Result<()> {
    let channel = Channel::from_shared(args.service_url.clone())
        .context("--service-url")?
        .connect()
        .await
        .context("connecting to the ticket service")?;
    let app = Router::new()
        .route("/v2/tickets/pending-tickets/{id}", get(pending_ticket))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(TicketServiceClient::new(channel));
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

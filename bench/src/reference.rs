//! The yardstick of `bench/run.sh`: a minimal hand-written axum + sqlx server that answers the
//! same `GET /v2/tickets/pending-tickets/{id}` from the same PostgreSQL database, with nothing
//! else — no authentication, no rate limit, no second hop, no logging, no metrics. Every get
//! row is judged against it, measured in the same interleaved rounds.
//!
//! It reads the row with one prepared statement (sqlx caches it per connection) on a pool of
//! `--connections` connections, like the service's pool, and writes the same JSON a partner
//! gets from the gateway.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row as _, postgres::PgPoolOptions};
use uuid::Uuid;

/// `tickets-bench reference` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ReferenceArgs {
    /// The PostgreSQL database the service reads.
    #[arg(long)]
    database_url: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:28090")]
    addr: SocketAddr,
    /// Database connections (the service's `TICKETS_DB_MAX_CONNECTIONS`).
    #[arg(long, default_value_t = 10)]
    connections: u32,
}

/// A pending ticket, as the gateway writes it.
#[derive(Debug, Serialize)]
struct PendingTicket {
    id: Uuid,
    created_at: String,
    customer_id: Uuid,
    ticket_number: i64,
    vehicle_model_id: i64,
    vin: String,
    connection_id: Option<Uuid>,
}

const SQL: &str = "SELECT id, created_at, customer_id, ticket_number, vehicle_model_id, vin, \
                   connection_id FROM tickets WHERE id = $1 AND state = 'pending'";

async fn pending_ticket(State(pool): State<PgPool>, Path(id): Path<Uuid>) -> Response {
    let row = match sqlx::query(SQL).bind(id).fetch_optional(&pool).await {
        Ok(Some(row)) => row,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let ticket = (|| {
        let created_at: DateTime<Utc> = row.try_get("created_at")?;
        Ok::<_, sqlx::Error>(PendingTicket {
            id: row.try_get("id")?,
            created_at: created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            customer_id: row.try_get("customer_id")?,
            ticket_number: row.try_get("ticket_number")?,
            vehicle_model_id: row.try_get("vehicle_model_id")?,
            vin: row.try_get("vin")?,
            connection_id: row.try_get("connection_id")?,
        })
    })();
    match ticket {
        Ok(ticket) => Json(ticket).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves until killed.
pub(crate) async fn run(args: &ReferenceArgs) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(args.connections)
        .connect(&args.database_url)
        .await
        .context("connecting to the database")?;
    let app = Router::new()
        .route("/v2/tickets/pending-tickets/{id}", get(pending_ticket))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

//! Reliability under concurrency and faults: replicas racing for the same tickets, the database
//! or a ticket service going away mid-load and coming back, replicas starting at once, and many
//! writers on the embedded SQLite store. Every test ends with one line
//! `RELIABILITY | scenario | requests | failures | data lost` (see `cargo test -- --nocapture`).
//!
//! A *failure* is any answer the contract does not allow for the situation (a 5xx where none is
//! expected, a 500 ever, a hang past the deadline, a wrong status); *data lost* counts
//! acknowledged changes (303s, created tickets) missing from the database afterwards, plus
//! duplicated tickets.

mod database_faults;
mod load;
mod partner;
mod process;
mod replicas;
mod service_faults;
mod sqlite_writers;

pub(crate) use load::{Load, share};
pub(crate) use partner::Partner;
pub(crate) use tickets_testing::grpc::{connect as grpc, create_ticket};

use std::collections::{HashMap, HashSet};

use tickets_testing::grpc::create_employee;
use tonic::transport::Channel;
use uuid::Uuid;

/// Prints the report line of a scenario.
pub(crate) fn report(scenario: &str, requests: usize, failures: usize, lost: usize) {
    eprintln!("RELIABILITY | {scenario} | {requests} | {failures} | {lost}");
}

/// Creates `count` enabled operators of `provider`.
pub(crate) async fn operators(channel: &Channel, provider: Uuid, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(create_employee(channel, provider, true, true).await);
    }
    ids
}

/// One stored ticket, read straight from the database: number, state, operator.
pub(crate) type Stored = (i64, String, Option<Uuid>);

/// Every ticket in the database at `url` (PostgreSQL or SQLite), read directly, by id.
pub(crate) async fn stored_tickets(url: &str) -> HashMap<Uuid, Stored> {
    const SQL: &str = "SELECT id, ticket_number, state, operator_id FROM tickets";
    let rows: Vec<(Uuid, i64, String, Option<Uuid>)> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query_as(SQL).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    };
    rows.into_iter().map(|(id, number, state, operator)| (id, (number, state, operator))).collect()
}

/// How many acknowledged starts the stored tickets do not show (missing, not in progress, or
/// under another operator), and how many tickets are stored beyond the `created` ones or share
/// a number (duplicates).
pub(crate) fn lost_and_duplicated(
    stored: &HashMap<Uuid, Stored>,
    acknowledged: &[(Uuid, Uuid)],
    created: usize,
) -> (usize, usize) {
    let lost = acknowledged
        .iter()
        .filter(|(id, operator)| {
            stored.get(id).map(|(_, state, by)| (state.as_str(), *by))
                != Some(("in_progress", Some(*operator)))
        })
        .count();
    let numbers: HashSet<i64> = stored.values().map(|(n, _, _)| *n).collect();
    let duplicated = (stored.len() - numbers.len()) + stored.len().saturating_sub(created);
    (lost, duplicated)
}

//! SIGTERM on the real binary: calls already accepted complete, then the process exits 0.

use std::{process::Stdio, time::Duration};

use sqlx::Connection as _;
use tickets_contract::v2::{
    self, employee_service_client::EmployeeServiceClient,
    ticket_service_client::TicketServiceClient,
};
use tickets_testing::{Backend, TestDb, announced_address, as_provider};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{employee_request, new_ticket};

/// Holds the database's write lock (SQLite) or the ticket's row lock (PostgreSQL) until
/// released, so that StartService calls block in the database.
enum Lock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

async fn lock(url: &str, backend: Backend, ticket: &str) -> Lock {
    match backend {
        Backend::Sqlite => {
            let mut connection = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await.unwrap();
            Lock::Sqlite(connection)
        }
        Backend::Postgres => {
            let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut connection).await.unwrap();
            sqlx::query("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE")
                .bind(Uuid::try_parse(ticket).unwrap())
                .execute(&mut connection)
                .await
                .unwrap();
            Lock::Postgres(connection)
        }
    }
}

async fn release(lock: Lock) {
    match lock {
        Lock::Sqlite(mut connection) => {
            sqlx::query("COMMIT").execute(&mut connection).await.unwrap();
        }
        Lock::Postgres(mut connection) => {
            sqlx::query("COMMIT").execute(&mut connection).await.unwrap();
        }
    }
}

async fn in_flight_calls_complete_after_sigterm(backend: Backend) {
    let Some(database) = TestDb::create(backend).await else { return };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticket-service"))
        .env("TICKETS_DATABASE_URL", &database.url)
        .env("TICKETS_GRPC_ADDR", "127.0.0.1:0")
        .env("TICKETS_METRICS_ADDR", "127.0.0.1:0")
        .env("TICKETS_SHUTDOWN_GRACE_SECONDS", "20")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (addr, _) = announced_address(&mut lines, "(gRPC)").await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();

    let provider = Uuid::new_v4();
    let operator = Uuid::new_v4();
    EmployeeServiceClient::new(channel.clone())
        .upsert_employee(as_provider(provider, employee_request(operator)))
        .await
        .unwrap();
    let ticket = TicketServiceClient::new(channel.clone())
        .create_pending_ticket(as_provider(provider, new_ticket()))
        .await
        .unwrap()
        .into_inner();

    let lock = lock(&database.url, backend, &ticket.id).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let mut client = TicketServiceClient::new(channel.clone());
            let request = v2::StartServiceRequest {
                pending_ticket_id: ticket.id.clone(),
                operator_id: operator.to_string(),
            };
            tokio::spawn(async move { client.start_service(as_provider(provider, request)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "still draining while calls are in flight");
    release(lock).await;

    for call in calls {
        let response = tokio::time::timeout(Duration::from_secs(15), call).await.unwrap().unwrap();
        let ticket = response.expect("every accepted call completes").into_inner();
        assert_eq!(ticket.operator_id, operator.to_string());
    }
    let status =
        tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit 0 after draining: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_flight_calls_complete_after_sigterm() {
    in_flight_calls_complete_after_sigterm(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_in_flight_calls_complete_after_sigterm() {
    in_flight_calls_complete_after_sigterm(Backend::Postgres).await;
}

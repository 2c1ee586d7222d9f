//! SIGTERM on the real binary: calls already accepted complete, then the process exits 0.

use std::{net::SocketAddr, time::Duration};

use sqlx::Connection as _;
use tickets_contract::v2::ticket_service_client::TicketServiceClient;
use tickets_testing::{
    Backend, ChildProcess, TestDb, as_provider, eventually, grpc, metrics, process,
    test_each_backend,
};
use uuid::Uuid;

use crate::helpers::start;

/// How many StartService calls are in flight when SIGTERM comes.
const CALLS: u32 = 8;

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

/// Where to see the calls that wait behind the lock.
enum Waiting {
    /// PostgreSQL lists the statements waiting for a lock in `pg_stat_activity`.
    Postgres(sqlx::PgPool),
    /// SQLite shows no such thing; the service's pool gauge (at this `/metrics` address) counts
    /// the connections its calls hold, each call blocked in SQLite's busy handler. Nothing else
    /// uses the pool meanwhile: the service's database pinger is kept idle (see below).
    Sqlite(SocketAddr),
}

impl Waiting {
    async fn of(backend: Backend, url: &str, metrics_addr: SocketAddr) -> Self {
        match backend {
            Backend::Postgres => Self::Postgres(sqlx::PgPool::connect(url).await.unwrap()),
            Backend::Sqlite => Self::Sqlite(metrics_addr),
        }
    }

    /// Whether at least `calls` calls wait in the database.
    async fn at_least(&self, calls: u32) -> bool {
        match self {
            Self::Postgres(pool) => {
                let (waiting,): (i64,) = sqlx::query_as(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(pool)
                .await
                .unwrap();
                waiting >= i64::from(calls)
            }
            Self::Sqlite(metrics_addr) => {
                let text = metrics::scrape(*metrics_addr).await;
                let in_use = metrics::sample(&text, "db_pool_connections", &[("state", "in_use")]);
                in_use >= Some(f64::from(calls))
            }
        }
    }
}

async fn in_flight_calls_complete_after_sigterm(backend: Backend) {
    let Some(database) = TestDb::create(backend).await else { return };
    let mut command = process::ticket_service_command(
        env!("CARGO_BIN_EXE_ticket-service"),
        &database.url,
        "127.0.0.1:0",
    );
    // The pinger checks the database at start, then not again within the test.
    command.env("TICKETS_SHUTDOWN_GRACE_SECONDS", "20").env("TICKETS_HEALTH_INTERVAL_MS", "60000");
    let mut service = ChildProcess::spawn(command, &process::TICKET_SERVICE_LISTENING).await;
    let channel = grpc::connect(service.addr()).await;

    let provider = Uuid::new_v4();
    let operator = grpc::create_employee(&channel, provider, true, true).await;
    let ticket = grpc::create_ticket(&channel, provider).await.unwrap();

    let lock = lock(&database.url, backend, &ticket.id).await;
    let calls: Vec<_> = (0..CALLS)
        .map(|_| {
            let mut client = TicketServiceClient::new(channel.clone());
            let request = as_provider(provider, start(&ticket.id, operator));
            tokio::spawn(async move { client.start_service(request).await })
        })
        .collect();
    let waiting = Waiting::of(backend, &database.url, service.addrs()[1]).await;
    let blocked = eventually(Duration::from_secs(10), || waiting.at_least(CALLS)).await;
    assert!(blocked, "every call is in flight, blocked in the database");
    service.sigterm();
    let heard = service.wait_for_log("shutdown requested", Duration::from_secs(10)).await;
    assert!(heard, "the service logs that it drains");
    assert!(service.is_running(), "still draining while calls are in flight");
    release(lock).await;

    for call in calls {
        let response = tokio::time::timeout(Duration::from_secs(15), call).await.unwrap().unwrap();
        let ticket = response.expect("every accepted call completes").into_inner();
        assert_eq!(ticket.operator_id, operator.to_string());
    }
    let status = service.exit().await;
    assert!(status.success(), "exit 0 after draining: {status:?}");
}
test_each_backend!(in_flight_calls_complete_after_sigterm);

//! The connections parked for the one-statement calls (PostgreSQL; services/src/store/parked.rs):
//! one the database dropped is not reused, and one whose call was cancelled mid-statement is
//! not parked again. The event hub parks its own connection the same way: one the database
//! dropped does not stop the events.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::Connection as _;
use tickets_contract::v2;
use tickets_testing::Backend;
use tokio::sync::mpsc;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{TestApp, as_provider, get, new_ticket, start};

/// Ends every connection the service holds to its test database.
async fn cut_every_connection(app: &TestApp) -> usize {
    let mut admin = sqlx::PgConnection::connect(app.database_url()).await.unwrap();
    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND application_name = 'ticket-service'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    cut.len()
}

/// Gets in a loop until `after` is set and then `STREAK` gets in a row have succeeded: how many
/// failed after it was set, or `None` when they did not stop failing within `LIMIT` calls.
async fn get_until_a_streak(
    app: Arc<TestApp>,
    provider: Uuid,
    id: String,
    warm: mpsc::Sender<()>,
    after: Arc<AtomicBool>,
) -> Option<usize> {
    const STREAK: usize = 10;
    const LIMIT: usize = 60;
    for _ in 0..5 {
        app.get_pending(provider, get(&id)).await.unwrap();
    }
    warm.send(()).await.unwrap();
    drop(warm);
    while !after.load(Ordering::SeqCst) {
        // The cut is under way: a call may meet a dead connection already.
        if let Err(status) = app.get_pending(provider, get(&id)).await {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
    }
    let (mut failures, mut streak) = (0, 0);
    for _ in 0..LIMIT {
        match app.get_pending(provider, get(&id)).await {
            Ok(_) => streak += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                (failures, streak) = (failures + 1, 0);
            }
        }
        if streak == STREAK {
            return Some(failures);
        }
    }
    None
}

/// While gets run without pause (so parked connections are reused within the 100 ms that
/// spare them a ping), the database ends every connection: a call that meets a dead one fails
/// with UNAVAILABLE (retryable), and the connection is dropped, not parked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_database_drops_its_connections_gets_work_again() {
    let Some(app) = TestApp::start(Backend::Postgres).await else { return };
    let app = Arc::new(app);
    let provider = Uuid::new_v4();
    let ticket = app.ticket(provider).await;
    let (warm, mut warmed) = mpsc::channel(4);
    let after = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let loop_ = get_until_a_streak(
                app.clone(),
                provider,
                ticket.id.clone(),
                warm.clone(),
                after.clone(),
            );
            tokio::spawn(loop_)
        })
        .collect();
    drop(warm);
    while warmed.recv().await.is_some() {}
    assert!(cut_every_connection(&app).await > 0);
    after.store(true, Ordering::SeqCst);
    for loop_ in loops {
        let failures = loop_.await.unwrap();
        assert!(failures.is_some(), "the gets kept failing on dead connections");
    }
}

#[tokio::test]
async fn a_call_cancelled_mid_statement_does_not_leave_its_connection_to_the_next() {
    let Some(app) = TestApp::start(Backend::Postgres).await else { return };
    let provider = Uuid::new_v4();
    let operator = app.operator(provider).await;
    let (locked, other) = (app.ticket(provider).await, app.ticket(provider).await);
    for _ in 0..10 {
        app.get_pending(provider, get(&other.id)).await.unwrap();
    }

    // Another transaction holds the row: start-service's UPDATE waits for it, and the call's
    // deadline cancels it on the server mid-statement.
    let mut holder = sqlx::PgConnection::connect(app.database_url()).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tickets WHERE id = $1::uuid FOR UPDATE")
        .bind(&locked.id)
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut request = as_provider(provider, start(&locked.id, operator));
    request.set_timeout(Duration::from_millis(300));
    let status = app.tickets().start_service(request).await.unwrap_err();
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");

    // Its connection is still busy with that UPDATE; gets of another ticket never meet it.
    for _ in 0..20 {
        let mut request = as_provider(provider, get(&other.id));
        request.set_timeout(Duration::from_secs(5));
        let read = app.tickets().get_pending_ticket(request).await.unwrap().into_inner();
        assert_eq!(read.id, other.id);
    }
    lock.rollback().await.unwrap();
}

/// The hub's statements run on its one parked connection (its pool has no other): after the
/// database drops it, the hub takes a new one, and events flow again.
#[tokio::test]
async fn after_the_database_drops_its_connections_the_hub_hands_out_events_again() {
    const PATIENCE: Duration = Duration::from_secs(20);
    let Some(app) = TestApp::start(Backend::Postgres).await else { return };
    let provider = Uuid::new_v4();
    let request = v2::WatchTicketEventsRequest { after: Some(0) };
    let mut watch = app
        .tickets()
        .watch_ticket_events(as_provider(provider, request))
        .await
        .unwrap()
        .into_inner();
    let mut next = async || {
        let event = tokio::time::timeout(PATIENCE, watch.message()).await;
        let event = event.expect("an event in time").expect("a healthy stream");
        event.expect("the stream goes on")
    };
    // The hub's connection is parked once it has numbered and read an event.
    let before = app.ticket(provider).await;
    assert!(
        matches!(next().await.ticket, Some(v2::ticket_event::Ticket::Pending(t)) if t.id == before.id)
    );

    assert!(cut_every_connection(&app).await > 0);
    let after = tickets_testing::wait::until_some(PATIENCE, || async {
        app.create(provider, new_ticket()).await.ok()
    })
    .await
    .expect("creates work again");
    let event = next().await;
    assert!(
        matches!(&event.ticket, Some(v2::ticket_event::Ticket::Pending(t)) if t.id == after.id),
        "{event:?}"
    );
}

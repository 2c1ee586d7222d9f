//! Refusals that do not depend on data: the provider metadata and an unreachable store.

use std::time::Duration;

use ticket_service::{
    grpc::ServerSettings,
    store::{self, PoolSettings},
};
use tickets_contract::v2::{self, ticket_service_client::TicketServiceClient};
use tickets_testing::{TestService, eventually};
use tokio::net::TcpListener;
use tonic::{Code, Request, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, as_provider, new_ticket};

/// Calls every ticket RPC with `request` decorated by `decorate` and returns the statuses.
async fn call_every_rpc(
    app: &TestApp,
    decorate: impl Fn(&mut tonic::metadata::MetadataMap),
) -> Vec<Status> {
    let mut client = app.tickets();
    let id = Uuid::new_v4().to_string();
    let mut statuses = Vec::new();
    macro_rules! call {
        ($method:ident, $message:expr) => {{
            let mut request = Request::new($message);
            decorate(request.metadata_mut());
            statuses.push(client.$method(request).await.expect_err(stringify!($method)));
        }};
    }
    call!(list_pending_tickets, v2::ListTicketsRequest::default());
    call!(get_pending_ticket, v2::GetTicketRequest { id: id.clone() });
    call!(
        start_service,
        v2::StartServiceRequest { pending_ticket_id: id.clone(), operator_id: id.clone() }
    );
    call!(list_in_progress_tickets, v2::ListTicketsRequest::default());
    call!(get_in_progress_ticket, v2::GetTicketRequest { id: id.clone() });
    call!(create_pending_ticket, new_ticket());
    let mut request = Request::new(crate::helpers::employee_request(Uuid::new_v4()));
    decorate(request.metadata_mut());
    statuses.push(app.employees().upsert_employee(request).await.expect_err("upsert_employee"));
    statuses
}

#[tokio::test]
async fn every_rpc_refuses_a_call_without_a_valid_provider() {
    let app = TestApp::start(Backend::Sqlite).await.expect("sqlite");
    type Decorate = Box<dyn Fn(&mut tonic::metadata::MetadataMap)>;
    let cases: [(&str, Decorate); 4] = [
        ("missing", Box::new(|_| {})),
        (
            "not a uuid",
            Box::new(|m| {
                m.insert("x-provider-id", "acme".parse().unwrap());
            }),
        ),
        (
            "empty",
            Box::new(|m| {
                m.insert("x-provider-id", "".parse().unwrap());
            }),
        ),
        (
            "given twice",
            Box::new(|m| {
                m.append("x-provider-id", Uuid::new_v4().to_string().parse().unwrap());
                m.append("x-provider-id", Uuid::new_v4().to_string().parse().unwrap());
            }),
        ),
    ];
    for (case, decorate) in cases {
        for status in call_every_rpc(&app, decorate).await {
            assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        }
    }
}

/// A server whose database does not answer: nothing listens on the port it points at.
async fn start_without_database() -> TestService {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let settings =
        PoolSettings { acquire_timeout: Duration::from_millis(500), ..PoolSettings::default() };
    let db =
        store::connect(&format!("postgres://postgres@127.0.0.1:{dead_port}/tickets"), settings)
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_settings =
        ServerSettings { health_interval: Duration::from_millis(100), ..ServerSettings::default() };
    TestService::serve(listener, db, server_settings).await
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_without_internal_detail() {
    let service = start_without_database().await;
    let channel = service.channel.clone();
    let mut client = TicketServiceClient::new(channel.clone());
    let provider = Uuid::new_v4();
    let statuses = [
        client
            .list_pending_tickets(as_provider(provider, v2::ListTicketsRequest::default()))
            .await
            .unwrap_err(),
        client
            .get_pending_ticket(as_provider(
                provider,
                v2::GetTicketRequest { id: Uuid::new_v4().to_string() },
            ))
            .await
            .unwrap_err(),
        client.create_pending_ticket(as_provider(provider, new_ticket())).await.unwrap_err(),
    ];
    for status in statuses {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let message = status.message().to_lowercase();
        for leak in ["127.0.0.1", "refused", "postgres", "sqlx", "error"] {
            assert!(!message.contains(leak), "{leak} leaked: {message}");
        }
    }

    let mut health = HealthClient::new(channel);
    let not_serving = eventually(Duration::from_secs(5), || {
        let mut health = health.clone();
        async move {
            let service = tickets_contract::TICKET_SERVICE_NAME.to_owned();
            let status = health.check(HealthCheckRequest { service }).await;
            status.is_ok_and(|s| s.into_inner().status == ServingStatus::NotServing as i32)
        }
    })
    .await;
    assert!(not_serving, "health follows the database");
    let overall = health.check(HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(
        overall.into_inner().status,
        ServingStatus::Serving as i32,
        "liveness (the overall status) does not follow the database"
    );
}

//! Health, reflection, message bounds and shutdown.

use std::time::Duration;

use tickets_contract::v2;
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, as_provider, new_ticket};

#[tokio::test]
async fn health_reports_serving_overall_and_per_service() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let mut health = HealthClient::new(app.channel.clone());
    for service in
        ["", tickets_contract::TICKET_SERVICE_NAME, tickets_contract::EMPLOYEE_SERVICE_NAME]
    {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status, ServingStatus::Serving as i32, "{service:?}");
    }
    let unknown =
        health.check(HealthCheckRequest { service: "nope.Service".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_and_describes_the_services() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let requests = tokio_stream::iter([
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "tickets.v2.TicketService".into(),
            )),
        },
    ]);
    let mut responses = reflection.server_reflection_info(requests).await.unwrap().into_inner();
    let Some(Ok(first)) = responses.next().await else { panic!("no list response") };
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("not a list")
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for expected in
        ["tickets.v2.TicketService", "tickets.v2.EmployeeService", "grpc.health.v1.Health"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
    }
    let Some(Ok(second)) = responses.next().await else { panic!("no file response") };
    let Some(MessageResponse::FileDescriptorResponse(files)) = second.message_response else {
        panic!("not a file")
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let huge = v2::CreatePendingTicketRequest { vin: "A".repeat(2 * 1024 * 1024), ..new_ticket() };
    let status = app
        .tickets()
        .max_encoding_message_size(8 * 1024 * 1024)
        .create_pending_ticket(as_provider(Uuid::new_v4(), huge))
        .await
        .unwrap_err();
    assert!(matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange), "{status:?}");
    let ok = app.create(Uuid::new_v4(), new_ticket()).await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn shutdown_reports_not_serving_then_stops() {
    let mut app = TestApp::start(Backend::Sqlite).await.unwrap();
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch =
        health.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    app.begin_shutdown();
    let next =
        tokio::time::timeout(Duration::from_secs(5), watch.next()).await.expect("a status change");
    assert_eq!(next.unwrap().unwrap().status, ServingStatus::NotServing as i32);
    drop(watch);
    tokio::time::timeout(Duration::from_secs(30), app.stop()).await.expect("stops").unwrap();
}

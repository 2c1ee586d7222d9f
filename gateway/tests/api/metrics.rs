//! The Prometheus endpoints of both servers count known traffic exactly.

use tickets_testing::{
    Backend,
    metrics::{sample, scrape},
};

use crate::helpers::{Options, TestGateway, start_service};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_servers_count_known_traffic() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    for _ in 0..3 {
        assert_eq!(gw.get("/v2/tickets/pending-tickets").await.status(), 200);
    }
    let unknown = format!("/v2/tickets/pending-tickets/{}", uuid::Uuid::new_v4());
    assert_eq!(gw.get(&unknown).await.status(), 404);
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    assert_eq!(gw.patch_json(&path, &start_service(operator)).await.status(), 303);
    assert_eq!(
        gw.patch_json(&path, &start_service(operator)).await.status(),
        303,
        "an idempotent retry"
    );
    assert_eq!(gw.http.get(gw.url("/nowhere")).send().await.unwrap().status(), 404);

    let gateway = scrape(gw.metrics_addr).await;
    let requests = "http_server_requests_total";
    assert_eq!(
        sample(
            &gateway,
            requests,
            &[("route", "/v2/tickets/pending-tickets"), ("method", "GET"), ("status", "200")]
        ),
        Some(3.0)
    );
    let single = "/v2/tickets/pending-tickets/{pending-ticket-id}";
    assert_eq!(
        sample(&gateway, requests, &[("route", single), ("method", "GET"), ("status", "404")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&gateway, requests, &[("route", single), ("method", "PATCH"), ("status", "303")]),
        Some(2.0)
    );
    assert_eq!(sample(&gateway, requests, &[("route", "unmatched"), ("status", "404")]), Some(1.0));
    assert_eq!(sample(&gateway, "upstream_grpc_errors_total", &[("code", "NOT_FOUND")]), Some(1.0));
    assert_eq!(
        sample(
            &gateway,
            "http_server_request_duration_seconds_count",
            &[("route", "/v2/tickets/pending-tickets"), ("method", "GET")]
        ),
        Some(3.0)
    );
    assert_eq!(sample(&gateway, "rate_limited_requests_total", &[]), Some(0.0));

    let service = scrape(gw.service.metrics_addr).await;
    let rpcs = "grpc_server_requests_total";
    assert_eq!(
        sample(
            &service,
            rpcs,
            &[("method", "tickets.v2.TicketService/ListPendingTickets"), ("code", "OK")]
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &service,
            rpcs,
            &[("method", "tickets.v2.TicketService/GetPendingTicket"), ("code", "NOT_FOUND")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &service,
            rpcs,
            &[("method", "tickets.v2.TicketService/StartService"), ("code", "OK")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &service,
            rpcs,
            &[("method", "tickets.v2.TicketService/CreatePendingTicket"), ("code", "OK")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &service,
            "grpc_server_request_duration_seconds_count",
            &[("method", "tickets.v2.TicketService/StartService")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&service, "ticket_transitions_total", &[("transition", "start_service")]),
        Some(1.0),
        "the retry changed nothing"
    );
    let idle = sample(&service, "db_pool_connections", &[("state", "idle")]).unwrap();
    let in_use = sample(&service, "db_pool_connections", &[("state", "in_use")]).unwrap();
    assert!(idle + in_use >= 1.0, "the pool has connections: idle {idle}, in use {in_use}");
}

#[tokio::test]
async fn rate_limited_requests_are_counted() {
    let options = Options { rate_per_second: 1, rate_burst: 2, ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    let mut limited = 0;
    for _ in 0..6 {
        let response = gw.get_with(&gw.a, &token, "/v2/tickets/pending-tickets").await;
        limited += usize::from(response.status() == 429);
    }
    assert!(limited >= 3, "{limited}");
    let gateway = scrape(gw.metrics_addr).await;
    assert_eq!(
        sample(&gateway, "rate_limited_requests_total", &[]),
        Some(f64::from(u32::try_from(limited).unwrap()))
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let response =
        gw.http.get(gw.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = gw
        .http
        .get(gw.url("/healthz"))
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::try_parse(&generated).is_ok(), "{generated}");
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

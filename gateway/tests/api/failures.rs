//! Routing errors, limits, and a ticket service that is down or slow.

use std::time::Duration;

use sqlx::Connection as _;
use tickets_testing::Backend;
use tokio::{io::AsyncWriteExt as _, net::TcpListener};

use crate::helpers::{Options, TestGateway, Upstream, problem};

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    for path in
        ["/", "/v2", "/v2/tickets", "/v2/tickets/closed-tickets", "/v2/tickets/pending-tickets/a/b"]
    {
        let body = problem(gw.http.get(gw.url(path)).send().await.unwrap(), 404).await;
        assert_eq!(body["type"], "/problems/not-found", "{path}");
    }
    let cases = [
        (reqwest::Method::DELETE, "/v2/tickets/pending-tickets", "GET,HEAD"),
        (
            reqwest::Method::POST,
            "/v2/tickets/pending-tickets/497f6eca-6276-4993-bfeb-53cbbbba6f08",
            "GET,HEAD,PATCH",
        ),
        (
            reqwest::Method::PATCH,
            "/v2/tickets/in-progress-tickets/497f6eca-6276-4993-bfeb-53cbbbba6f08",
            "GET,HEAD",
        ),
        (reqwest::Method::GET, "/oauth2/token", "POST"),
    ];
    for (method, path, allow) in cases {
        let response = gw.http.request(method.clone(), gw.url(path)).send().await.unwrap();
        let allowed = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        let body = problem(response, 405).await;
        assert_eq!(body["type"], "/problems/method-not-allowed");
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
    }
}

/// Whether `/readyz` answers `status` within a few seconds (readiness follows the balancer's
/// probes of the service, which run every 2 s).
async fn readiness_becomes(gw: &TestGateway, status: u16) -> bool {
    tickets_testing::eventually(Duration::from_secs(10), || async {
        gw.http.get(gw.url("/readyz")).send().await.unwrap().status().as_u16() == status
    })
    .await
}

#[tokio::test]
async fn health_and_readiness_follow_the_ticket_service() {
    let mut gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    assert_eq!(gw.http.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    assert!(readiness_becomes(&gw, 200).await, "ready once the service is found serving");
    gw.service.stop().await.unwrap();
    assert!(readiness_becomes(&gw, 503).await, "not ready once it is gone");
    problem(gw.http.get(gw.url("/readyz")).send().await.unwrap(), 503).await;
    assert_eq!(
        gw.http.get(gw.url("/healthz")).send().await.unwrap().status(),
        200,
        "alive regardless"
    );
    gw.shutdown();
}

#[tokio::test]
async fn an_unreachable_ticket_service_is_503_without_internal_detail() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let options =
        Options { upstream: Upstream::Url(format!("http://{address}")), ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let response = gw.get("/v2/tickets/pending-tickets").await;
    assert!(response.headers().contains_key("retry-after"));
    let body = problem(response, 503).await;
    assert_eq!(body["type"], "/problems/service-unavailable");
    let text = body.to_string();
    for leak in [&address.to_string(), "127.0.0.1", "tonic", "transport", "refused"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    problem(gw.http.get(gw.url("/readyz")).send().await.unwrap(), 503).await;
}

#[tokio::test]
async fn a_ticket_service_that_never_answers_is_504_within_the_deadline() {
    // A serving service whose every list waits on a lock held by another transaction: it
    // answers its health checks, never the call in time.
    let options = Options { request_timeout: Duration::from_millis(300), ..Options::default() };
    let Some(gw) = TestGateway::start_with(Backend::Postgres, options).await else { return };
    assert!(readiness_becomes(&gw, 200).await);
    let mut lock = sqlx::PgConnection::connect(&gw.database.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE").execute(&mut lock).await.unwrap();
    let request = gw.as_client(&gw.a, reqwest::Method::GET, "/v2/tickets/pending-tickets").await;
    let started = std::time::Instant::now();
    let response = request.send().await.unwrap();
    let elapsed = started.elapsed();
    let body = problem(response, 504).await;
    assert_eq!(body["type"], "/problems/gateway-timeout");
    assert!(
        elapsed < Duration::from_secs(3),
        "answered within the deadline, not hung: {elapsed:?}"
    );
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
}

#[tokio::test]
async fn a_slow_body_is_cut_off_by_the_server_timeout() {
    let options = Options { server_timeout: Duration::from_millis(500), ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    let address = gw.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PATCH /v2/tickets/pending-tickets/497f6eca-6276-4993-bfeb-53cbbbba6f08 HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{",
        gw.a.api_key
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        while !String::from_utf8_lossy(&response).contains("\r\n\r\n{") {
            if tokio::io::AsyncReadExt::read_buf(&mut socket, &mut response).await.unwrap() == 0 {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server answered instead of waiting for the body");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
}

#[tokio::test]
async fn oversized_headers_are_refused_with_a_problem() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let response = gw
        .http
        .get(gw.url("/healthz"))
        .header("x-padding", "p".repeat(40 * 1024))
        .send()
        .await
        .unwrap();
    let body = problem(response, 431).await;
    assert_eq!(body["type"], "/problems/request-header-fields-too-large");
}

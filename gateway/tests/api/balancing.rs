//! `dns:///` balancing: calls spread over every instance; an instance that dies is dropped
//! without failing requests, and used again when it returns.

use std::time::Duration;

use ticket_gateway::upstream::balance::BalanceSettings;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService};

use crate::helpers::{Options, TcpProxy, TestGateway};

/// How many ListPendingTickets calls an instance has answered.
async fn lists_served(gw: &TestGateway, service: &TestService) -> f64 {
    let text = gw
        .http
        .get(format!("http://{}/metrics", service.metrics_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("grpc_server_requests_total") && l.contains("ListPendingTickets"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

async fn failures_of(gw: &TestGateway, token: &str, requests: usize) -> usize {
    let mut failures = 0;
    for _ in 0..requests {
        let response = gw
            .http
            .get(gw.url("/v2/tickets/pending-tickets"))
            .bearer_auth(token)
            .header("x-api-key", &gw.a.api_key)
            .send()
            .await
            .unwrap();
        failures += usize::from(response.status() != 200);
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_spread_over_instances_survive_a_dead_one_and_return_to_it() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let first = TestService::start(&database.url, ServerSettings::default()).await;
    let second = TestService::start(&database.url, ServerSettings::default()).await;
    // The second instance is reached on another loopback address, through a proxy the test
    // can cut like a crashed pod.
    let mut second_address = TcpProxy::start("127.0.0.2:0", second.addr).await;
    let options = Options::balanced_over(vec![first.addr, second_address.addr]);
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    let mut ready = false;
    for _ in 0..50 {
        if gw.http.get(gw.url("/readyz")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the balancer found a serving instance");
    tokio::time::sleep(Duration::from_millis(400)).await;

    assert_eq!(failures_of(&gw, &token, 60).await, 0);
    let (a, b) = (lists_served(&gw, &first).await, lists_served(&gw, &second).await);
    assert!(a >= 10.0 && b >= 10.0, "both instances take calls: {a} and {b}");

    second_address.cut().await;
    assert_eq!(
        failures_of(&gw, &token, 100).await,
        0,
        "no request fails once the instance is gone"
    );
    let b_while_dead = lists_served(&gw, &second).await;

    second_address.restore().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(failures_of(&gw, &token, 60).await, 0);
    let b_after = lists_served(&gw, &second).await;
    assert!(
        b_after >= b_while_dead + 10.0,
        "the returning instance is used again: {b_while_dead} → {b_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_shutting_down_is_drained_before_it_stops() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let first = TestService::start(&database.url, ServerSettings::default()).await;
    let mut second = TestService::start(&database.url, ServerSettings::default()).await;
    let options = Options::balanced_over(vec![first.addr, second.addr]);
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(failures_of(&gw, &token, 20).await, 0);
    second.stop().await.unwrap();
    assert_eq!(failures_of(&gw, &token, 50).await, 0, "a stopped instance costs no request");
}

#[tokio::test]
async fn a_dns_name_is_resolved_through_the_system_resolver() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let options = Options {
        upstream: Some(format!("dns:///localhost:{}", service.addr.port())),
        balance: BalanceSettings {
            refresh: Duration::from_millis(200),
            probe_timeout: Duration::from_millis(500),
        },
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(failures_of(&gw, &token, 5).await, 0);
}

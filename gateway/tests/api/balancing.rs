//! `dns:///` balancing: calls spread over every instance; an instance that dies is dropped
//! without failing requests, and used again when it returns.

use std::time::Duration;

use ticket_gateway::upstream::balance::BalanceSettings;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService};

use crate::helpers::{Options, TcpProxy, TestGateway, Upstream, calls_answered};

/// How many ListPendingTickets calls an instance has answered.
async fn lists_served(service: &TestService) -> f64 {
    calls_answered(service.metrics_addr, "ListPendingTickets").await
}

async fn failures_of(gw: &TestGateway, token: &str, requests: usize) -> usize {
    let mut failures = 0;
    for _ in 0..requests {
        let response = gw.get_with(&gw.a, token, "/v2/tickets/pending-tickets").await;
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
    assert!(gw.wait_ready(200, Duration::from_secs(5)).await, "the balancer found an instance");
    assert!(gw.balances_over(2).await, "the balancer has both instances");

    assert_eq!(failures_of(&gw, &token, 60).await, 0);
    let (a, b) = (lists_served(&first).await, lists_served(&second).await);
    assert!(a >= 10.0 && b >= 10.0, "both instances take calls: {a} and {b}");

    second_address.cut().await;
    assert_eq!(
        failures_of(&gw, &token, 100).await,
        0,
        "no request fails once the instance is gone"
    );
    assert!(gw.balances_over(1).await, "the dead instance leaves the balancer");
    let b_while_dead = lists_served(&second).await;

    second_address.restore().await;
    assert!(gw.balances_over(2).await, "the restored instance joins again");
    assert_eq!(failures_of(&gw, &token, 60).await, 0);
    let b_after = lists_served(&second).await;
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
    assert!(gw.balances_over(2).await, "the balancer has both instances");
    assert_eq!(failures_of(&gw, &token, 20).await, 0);
    second.stop().await.unwrap();
    assert_eq!(failures_of(&gw, &token, 50).await, 0, "a stopped instance costs no request");
}

#[tokio::test]
async fn a_dns_name_is_resolved_through_the_system_resolver() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let options = Options {
        upstream: Upstream::Url(format!("dns:///localhost:{}", service.addr.port())),
        balance: BalanceSettings {
            refresh: Duration::from_millis(200),
            probe_timeout: Duration::from_millis(500),
            ..BalanceSettings::default()
        },
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let token = gw.token(&gw.a).await;
    assert!(gw.balances_over(1).await, "the name resolves to the one instance");
    assert_eq!(failures_of(&gw, &token, 5).await, 0);
}

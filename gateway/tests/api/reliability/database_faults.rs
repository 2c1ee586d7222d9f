//! PostgreSQL going away under load, between a real ticket-service process and the database:
//! requests are 503 problems within the deadline, readiness follows, and once the database is
//! back the same process serves again, with every acknowledged start stored exactly once.

use std::{net::SocketAddr, time::Duration};

use tickets_testing::{Backend, TestDb};

use super::{
    Load, Partner, create_ticket, grpc, operators, process::ServiceProcess, report, share,
};
use crate::helpers::{Options, TcpProxy, TestGateway, Upstream};

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host_and_path) = rest.rsplit_once('@').map_or(("", rest), |(u, h)| (u, h));
    let path = host_and_path.find('/').map_or("", |i| &host_and_path[i..]);
    let at = if user.is_empty() { "" } else { "@" };
    format!("{scheme}://{user}{at}{addr}{path}")
}

/// The address of the server `url` names.
async fn server_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let host_and_path = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let authority = host_and_path.split('/').next().unwrap();
    let authority =
        if authority.contains(':') { authority.to_owned() } else { format!("{authority}:5432") };
    tokio::net::lookup_host(authority).await.unwrap().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_is_503_and_the_service_recovers_without_a_restart() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    let mut proxy = TcpProxy::start("127.0.0.1:0", server_of(&database.url).await).await;
    let service = ServiceProcess::spawn(
        &through(&database.url, proxy.addr),
        None,
        &[("TICKETS_DB_ACQUIRE_TIMEOUT_MS", "1000"), ("TICKETS_HEALTH_INTERVAL_MS", "200")],
    )
    .await;
    let request_timeout = Duration::from_secs(3);
    let options = Options {
        upstream: Upstream::Url(format!("http://{}", service.addr)),
        request_timeout,
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let partner = Partner::of(&gw, request_timeout + Duration::from_secs(1)).await;
    assert!(partner.wait_ready(200, Duration::from_secs(10)).await);
    let channel = grpc(service.addr).await;
    let operators = operators(&channel, gw.a.provider, 4).await;
    let mut tickets = Vec::new();
    for _ in 0..120 {
        tickets.push(create_ticket(&channel, gw.a.provider).await.unwrap());
    }

    let load = Load::start(&partner, share(&operators, &tickets), Duration::from_secs(30));
    load.wait_acknowledged(30).await;
    proxy.cut().await;
    let not_ready = partner.wait_ready(503, Duration::from_secs(5)).await;
    // The load keeps running against the dead database: until it has met it 8 times.
    load.wait_unavailable(8).await;
    proxy.restore().await;
    let ready_again = partner.wait_ready(200, Duration::from_secs(10)).await;
    let recovered_at = tokio::time::Instant::now();
    load.finish_checked(
        "PostgreSQL cut mid-load (TCP proxy) and restored, 4 operators × 30 tickets",
        &database.url,
        tickets.len(),
        recovered_at,
        request_timeout,
    )
    .await;
    assert!(not_ready, "/readyz turns 503 while the database is gone");
    assert!(ready_again, "/readyz turns 200 again without a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_blip_costs_no_request_once_the_database_is_back() {
    let Some(database) = TestDb::create(Backend::Postgres).await else { return };
    let mut proxy = TcpProxy::start("127.0.0.1:0", server_of(&database.url).await).await;
    let service = ServiceProcess::spawn(&through(&database.url, proxy.addr), None, &[]).await;
    let options = Options {
        upstream: Upstream::Url(format!("http://{}", service.addr)),
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let partner = Partner::of(&gw, Duration::from_secs(6)).await;
    assert!(partner.wait_ready(200, Duration::from_secs(10)).await);
    // Fill the pool: concurrent lists take two connections each.
    let warm =
        futures::future::join_all((0..20).map(|_| partner.get("/v2/tickets/pending-tickets")))
            .await;
    assert!(warm.iter().all(|answer| answer.status == 200));

    // A restart or failover of the database while nothing is asked of it: every connection
    // idle in the pool dies. Once it is back, no request may pay for them.
    proxy.cut().await;
    // The service notices (its pinger finds the database gone) before it comes back.
    let noticed = partner.wait_ready(503, Duration::from_secs(10)).await;
    proxy.restore().await;
    let back = partner.wait_ready(200, Duration::from_secs(10)).await;
    let mut failures = 0;
    for _ in 0..20 {
        let answer = partner.get("/v2/tickets/pending-tickets").await;
        if answer.status != 200 {
            eprintln!("after the blip: {answer:?}");
            failures += 1;
        }
    }
    report(
        "PostgreSQL blip (until /readyz is 503) with an idle pool, then 20 requests",
        40,
        failures,
        0,
    );
    assert!(noticed, "/readyz turns 503 while the database is gone");
    assert!(back, "/readyz turns 200 once it is back");
    assert_eq!(failures, 0, "dead pooled connections are not handed to requests");
}

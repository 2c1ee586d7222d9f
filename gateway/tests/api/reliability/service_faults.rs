//! The ticket service dying under load (SIGKILL, a crash) and being stopped (SIGTERM), then
//! started again on the same address: the gateway answers 503 meanwhile and is not restarted;
//! every acknowledged start survives, on the embedded SQLite store. And a rolling restart behind
//! the balancer costs no request at all.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use futures::future::join_all;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService, eventually};

use super::{
    Load, Partner, create_ticket, grpc, operators, process::ServiceProcess, report, share,
};
use crate::helpers::{Options, TestGateway, Upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_service_is_503_and_traffic_resumes_when_it_returns() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let mut service = ServiceProcess::spawn(&database.url, None, &[]).await;
    let addr = service.addr;
    let request_timeout = Duration::from_secs(3);
    let options = Options {
        upstream: Upstream::Url(format!("http://{addr}")),
        request_timeout,
        ..Options::default()
    };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let partner = Partner::of(&gw, request_timeout + Duration::from_secs(1)).await;
    assert!(partner.wait_ready(200, Duration::from_secs(10)).await);
    let channel = grpc(addr).await;
    let operators = operators(&channel, gw.a.provider, 4).await;
    let mut tickets = Vec::new();
    for _ in 0..160 {
        tickets.push(create_ticket(&channel, gw.a.provider).await.unwrap());
    }
    drop(channel);

    let load = Load::start(&partner, share(&operators, &tickets), Duration::from_secs(30));
    let mut exits_ok = true;
    let mut readiness = Vec::new();
    for (after, graceful) in [(30, false), (90, true)] {
        load.wait_acknowledged(after).await;
        if graceful {
            exits_ok &= service.terminate().await;
        } else {
            service.kill().await;
        }
        readiness.push(partner.wait_ready(503, Duration::from_secs(5)).await);
        // Load keeps hitting the gateway while nothing serves behind it.
        load.wait_unavailable(8).await;
        service = ServiceProcess::spawn(&database.url, Some(addr), &[]).await;
        readiness.push(partner.wait_ready(200, Duration::from_secs(10)).await);
    }
    let recovered_at = tokio::time::Instant::now();
    load.finish_checked(
        "ticket service SIGKILLed then SIGTERMed mid-load, restarted on the same address (SQLite), 4 operators × 40 tickets",
        &database.url,
        tickets.len(),
        recovered_at,
        request_timeout,
    )
    .await;
    assert_eq!(readiness, [true; 4], "/readyz: 503 while down, 200 once back (kill, then term)");
    assert!(exits_ok, "SIGTERM: exit 0");
}

/// Calls `/v2/tickets/pending-tickets` from 16 clients at once until `stop`, counting the
/// answers in `answered`; the statuses seen.
async fn hammer(partner: &Partner, answered: &AtomicUsize, stop: &AtomicBool) -> Vec<u16> {
    let clients = (0..16).map(|_| async {
        let mut statuses = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            statuses.push(partner.get("/v2/tickets/pending-tickets").await.status);
            answered.fetch_add(1, Ordering::SeqCst);
        }
        statuses
    });
    join_all(clients).await.concat()
}

/// Waits (at most 30 s) until `answered` counts `more` answers than now.
async fn answers(answered: &AtomicUsize, more: usize) -> bool {
    let count = answered.load(Ordering::SeqCst) + more;
    eventually(Duration::from_secs(30), || async move { answered.load(Ordering::SeqCst) >= count })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_concurrent_load_costs_no_request() {
    // A pod stopping gracefully answers the calls already sent and turns away (GOAWAY) or drops
    // (connection closed) the ones that cross its shutdown: the gateway sends those to the other
    // pod. A few rounds, as the crossing calls are a matter of timing.
    let (mut requests, mut failures) = (0, 0);
    for _ in 0..3 {
        let database = TestDb::create(Backend::Sqlite).await.unwrap();
        let first = TestService::start(&database.url, ServerSettings::default()).await;
        let mut second = TestService::start(&database.url, ServerSettings::default()).await;
        let options = Options::balanced_over(vec![first.addr, second.addr]);
        let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
        let partner = Partner::of(&gw, Duration::from_secs(6)).await;
        assert!(partner.wait_ready(200, Duration::from_secs(10)).await);
        assert!(gw.balances_over(2).await, "the balancer has both instances");
        let (answered, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
        let restart = async {
            // Under load, one instance shuts down; once the balancer has let it go and more
            // calls were answered, the load stops.
            assert!(answers(&answered, 200).await, "the load runs");
            second.begin_shutdown();
            assert!(gw.balances_over(1).await, "the stopping instance leaves the balancer");
            assert!(answers(&answered, 200).await, "the load runs on the other instance");
            stop.store(true, Ordering::SeqCst);
        };
        let (statuses, ()) = tokio::join!(hammer(&partner, &answered, &stop), restart);
        let refused: Vec<_> = statuses.iter().filter(|status| **status != 200).collect();
        if !refused.is_empty() {
            eprintln!("statuses other than 200: {refused:?}");
        }
        (requests, failures) = (requests + statuses.len(), failures + refused.len());
    }
    report(
        "rolling restart: 1 of 2 balanced services stopped gracefully under 16 concurrent clients (×3)",
        requests,
        failures,
        0,
    );
    assert_eq!(failures, 0, "no call fails while another instance serves");
}

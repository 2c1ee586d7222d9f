//! SIGTERM on the real gateway binary: `/readyz` turns 503 at once, requests already accepted
//! complete, new connections are refused, and the process exits 0.

use std::time::Duration;

use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService, eventually};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use crate::{
    common::{Client, GatewayProcess},
    helpers::calls_answered,
};

/// How many requests are in flight when SIGTERM comes.
const REQUESTS: u32 = 10;

/// Forwards to `target`, holding every answer back by `delay`: a slow ticket service.
async fn slow_proxy(target: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else { return };
                let (mut in_read, mut in_write) = inbound.into_split();
                let (mut out_read, mut out_write) = outbound.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut in_read, &mut out_write).await });
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(n) = out_read.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if in_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_flight_requests_complete_after_sigterm() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let upstream = slow_proxy(service.addr, Duration::from_millis(400)).await;
    let client = Client::new("drainer");
    let grace = [("GATEWAY_SHUTDOWN_GRACE_SECONDS", "20")];
    let mut gateway =
        GatewayProcess::spawn(&format!("http://{upstream}"), &[&client], &grace).await;
    let token = gateway.token(&client).await;
    // Ready: the balancer is connected through the slow proxy, so that the proxy, not
    // connection setup, is the delay.
    let ready = eventually(Duration::from_secs(10), || async {
        gateway.http.get(gateway.url("/readyz")).send().await.unwrap().status() == 200
    });
    assert!(ready.await, "the gateway finds the service serving");

    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let request = gateway
                .http
                .get(gateway.url("/v2/tickets/pending-tickets"))
                .bearer_auth(&token)
                .header("x-api-key", &client.api_key)
                .send();
            tokio::spawn(request)
        })
        .collect();
    // In flight: the ticket service answered every one, and the slow proxy holds the answers.
    let answered = eventually(Duration::from_secs(10), || async {
        calls_answered(service.metrics_addr, "ListPendingTickets").await >= f64::from(REQUESTS)
    });
    assert!(answered.await, "every request reached the ticket service");
    gateway.process.sigterm();
    let heard = gateway.process.wait_for_log("shutdown requested", Duration::from_secs(10)).await;
    assert!(heard, "the gateway logs that it drains");
    assert!(gateway.process.is_running(), "still draining");

    for request in requests {
        let response =
            tokio::time::timeout(Duration::from_secs(15), request).await.unwrap().unwrap().unwrap();
        assert_eq!(response.status(), 200, "every accepted request completes");
    }
    let status = gateway.process.exit().await;
    assert!(status.success(), "exit 0: {status:?}");
    let refused = TcpStream::connect(gateway.process.addr()).await.is_err();
    assert!(refused, "no new connections after shutdown");
}

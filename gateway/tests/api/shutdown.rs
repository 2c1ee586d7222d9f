//! SIGTERM on the real gateway binary: `/readyz` turns 503 at once, requests already accepted
//! complete, new connections are refused, and the process exits 0.

use std::{process::Stdio, time::Duration};

use serde_json::Value;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService, announced_address};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::helpers::{Client, credentials_toml};

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
    let files = tempfile::tempdir().unwrap();
    let client = Client {
        id: "drainer".into(),
        secret: "drainer-secret".into(),
        api_key: "drainer-key".into(),
        provider: uuid::Uuid::new_v4(),
    };
    std::fs::write(files.path().join("clients.toml"), credentials_toml(&[&client])).unwrap();
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticket-gateway"))
        .env("GATEWAY_HTTP_ADDR", "127.0.0.1:0")
        .env("GATEWAY_TICKET_SERVICE_URL", format!("http://{upstream}"))
        .env("GATEWAY_CREDENTIALS_FILE", files.path().join("clients.toml"))
        .env("GATEWAY_RATE_LIMIT_PER_SECOND", "0")
        .env("GATEWAY_SHUTDOWN_GRACE_SECONDS", "20")
        .env("LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(gateway.stderr.take().unwrap()).lines();
    let (addr, _) = announced_address(&mut lines, "listening").await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "drainer"),
            ("client_secret", "drainer-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    // Warm the upstream connection so that the slow proxy, not connection setup, is the delay.
    let readiness = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(readiness.status(), 200);

    let requests: Vec<_> = (0..10)
        .map(|_| {
            let request = http
                .get(format!("{base}/v2/tickets/pending-tickets"))
                .bearer_auth(&token)
                .header("x-api-key", "drainer-key")
                .send();
            tokio::spawn(request)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = gateway.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(gateway.try_wait().unwrap().is_none(), "still draining");

    for request in requests {
        let response =
            tokio::time::timeout(Duration::from_secs(15), request).await.unwrap().unwrap().unwrap();
        assert_eq!(response.status(), 200, "every accepted request completes");
    }
    let status =
        tokio::time::timeout(Duration::from_secs(20), gateway.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit 0: {status:?}");
    assert!(TcpStream::connect(&addr).await.is_err(), "no new connections after shutdown");
}

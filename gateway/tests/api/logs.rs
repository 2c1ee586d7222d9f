//! No secret, token or key ever reaches a log line: the real binary, most verbose logging,
//! real credentials, and a grep of everything it wrote.

use std::{process::Stdio, time::Duration};

use base64::Engine as _;
use serde_json::Value;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService, announced_address};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::helpers::{credentials_toml, p256_pem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_real_credentials_logs_no_secret() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let files = tempfile::tempdir().unwrap();
    let client = crate::helpers::Client {
        id: "logger".into(),
        secret: format!("s3cret-{}", uuid::Uuid::new_v4().simple()),
        api_key: format!("k3y-{}", uuid::Uuid::new_v4().simple()),
        provider: uuid::Uuid::new_v4(),
    };
    std::fs::write(files.path().join("clients.toml"), credentials_toml(&[&client])).unwrap();
    let pem = p256_pem();
    std::fs::write(files.path().join("key.pem"), &pem).unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ticket-gateway"))
        .env("GATEWAY_HTTP_ADDR", "127.0.0.1:0")
        .env("GATEWAY_TICKET_SERVICE_URL", format!("http://{}", service.addr))
        .env("GATEWAY_CREDENTIALS_FILE", files.path().join("clients.toml"))
        .env("GATEWAY_SIGNING_KEY_FILE", files.path().join("key.pem"))
        .env("GATEWAY_RATE_LIMIT_PER_SECOND", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "trace")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (addr, startup) = announced_address(&mut lines, "listening").await;
    let mut log = startup.join("\n") + "\n";
    let reader = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let token_url = format!("{base}/oauth2/token");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    let body: Value = http.post(&token_url).form(&form).send().await.unwrap().json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let basic = http
        .post(&token_url)
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let wrong = [
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", "not-the-s3cret"),
    ];
    assert_eq!(http.post(&token_url).form(&wrong).send().await.unwrap().status(), 401);
    let list = format!("{base}/v2/tickets/pending-tickets");
    assert_eq!(
        http.get(&list)
            .bearer_auth(&token)
            .header("x-api-key", &client.api_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(&list)
            .bearer_auth(&token)
            .header("x-api-key", "wrong-k3y")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&list)
            .bearer_auth("garbage-t0ken")
            .header("x-api-key", &client.api_key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status =
        tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    log.push_str(&reader.await.unwrap());

    assert!(log.contains("token issued"), "the run was logged at all");
    let signature = token.rsplit('.').next().unwrap().to_owned();
    let basic_credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", client.id, client.secret));
    let key_body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let secrets = [
        ("client secret", client.secret.as_str()),
        ("API key", client.api_key.as_str()),
        ("access token", token.as_str()),
        ("token signature", signature.as_str()),
        ("Basic credentials", basic_credentials.as_str()),
        ("signing key", key_body.as_str()),
        ("a key line", pem.lines().nth(1).unwrap()),
        ("wrong secret", "not-the-s3cret"),
        ("wrong key", "wrong-k3y"),
        ("garbage token", "garbage-t0ken"),
    ];
    for (what, secret) in secrets {
        assert!(!log.contains(secret), "the {what} appears in the log");
    }
}

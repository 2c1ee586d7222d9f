//! No secret, token or key ever reaches a log line: the real binary, most verbose logging,
//! real credentials, and a grep of everything it wrote.

use base64::Engine as _;
use ticket_service::grpc::ServerSettings;
use tickets_testing::{Backend, TestDb, TestService};

use crate::common::{Client, GatewayProcess};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_real_credentials_logs_no_secret() {
    let database = TestDb::create(Backend::Sqlite).await.unwrap();
    let service = TestService::start(&database.url, ServerSettings::default()).await;
    let client = Client::new("logger");
    // The tests' signing key, which the service trusts: its text must not be logged either.
    let pem = tickets_testing::tokens::KEY_PEM.clone();
    let env = [("RUST_LOG", "trace")];
    let upstream = format!("http://{}", service.addr);
    let mut gateway = GatewayProcess::spawn(&upstream, &[&client], &env).await;

    let http = &gateway.http;
    let token_url = gateway.url("/oauth2/token");
    let token = gateway.token(&client).await;
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
    let list = gateway.url("/v2/tickets/pending-tickets");
    let calls = [
        (token.as_str(), client.api_key.as_str(), 200),
        (token.as_str(), "wrong-k3y", 401),
        ("garbage-t0ken", client.api_key.as_str(), 401),
    ];
    for (bearer, api_key, status) in calls {
        let response = http.get(&list).bearer_auth(bearer).header("x-api-key", api_key).send();
        assert_eq!(response.await.unwrap().status(), status, "{bearer} with {api_key}");
    }

    let status = gateway.process.terminate().await;
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    let log = gateway.process.logs().join("\n");

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

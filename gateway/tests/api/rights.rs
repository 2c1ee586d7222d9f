//! Clients' rights: scopes in the clients file and on the token endpoint, read-only partners,
//! internal clients that call the service but not `/v2`, and the token that reaches the
//! service.

use tickets_contract::{
    metadata::{AUTHORIZATION, PROVIDER_ID},
    v2::ticket_service_client::TicketServiceClient,
};
use tickets_testing::{Backend, tokens::bearer};

use crate::{
    common::Client,
    helpers::{Options, TestGateway, problem, start_service},
};

/// The claims of a token, read without verifying it (the test trusts its own gateway).
fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The token endpoint's answer to `client` asking for `scope`.
async fn token_for(gw: &TestGateway, client: &Client, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client.id.as_str()),
        ("client_secret", client.secret.as_str()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    gw.http.post(gw.url("/oauth2/token")).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_token_carries_the_rights_asked_for_within_the_clients() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let default: serde_json::Value = token_for(&gw, &gw.a, None).await.json().await.unwrap();
    assert_eq!(default["scope"], "tickets:read tickets:write");
    assert_eq!(
        claims(default["access_token"].as_str().unwrap())["scope"],
        "tickets:read tickets:write"
    );
    assert_eq!(
        claims(default["access_token"].as_str().unwrap())["provider_id"],
        gw.a.provider.to_string()
    );

    let read: serde_json::Value =
        token_for(&gw, &gw.a, Some("tickets:read")).await.json().await.unwrap();
    assert_eq!(claims(read["access_token"].as_str().unwrap())["scope"], "tickets:read");

    for wanted in ["tickets:create", "tickets:read providers:any", "tickets:burn", ""] {
        let refused = token_for(&gw, &gw.a, Some(wanted)).await;
        assert_eq!(refused.status(), 400, "{wanted:?}");
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{wanted:?}");
    }
}

#[tokio::test]
async fn a_read_only_token_or_client_may_read_but_not_start_service() {
    let reader = Client::new("reader").with_scopes("tickets:read");
    let options = Options { clients: vec![reader.clone()], ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let operator = gw.operator(gw.a.provider).await;
    let ticket = gw.ticket(gw.a.provider).await;
    let path = format!("/v2/tickets/pending-tickets/{}", ticket.id);
    let a_read: serde_json::Value =
        token_for(&gw, &gw.a, Some("tickets:read")).await.json().await.unwrap();
    let a_read = a_read["access_token"].as_str().unwrap().to_owned();
    let reader_token = gw.token(&reader).await;

    for (who, token, key) in [
        ("a read-only token", &a_read, &gw.a.api_key),
        ("a read-only client", &reader_token, &reader.api_key),
    ] {
        let list = gw
            .http
            .get(gw.url("/v2/tickets/pending-tickets"))
            .bearer_auth(token)
            .header("x-api-key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(list.status(), 200, "{who} reads");
        let patch = gw
            .http
            .patch(gw.url(&path))
            .bearer_auth(token)
            .header("x-api-key", key)
            .json(&start_service(operator))
            .send()
            .await
            .unwrap();
        let body = problem(patch, 403).await;
        assert_eq!(body["type"], "/problems/forbidden", "{who}");
    }
    let still = gw.get(&path).await;
    assert_eq!(still.status(), 200, "the ticket is still pending");
}

#[tokio::test]
async fn an_internal_client_gets_tokens_and_calls_the_service_but_not_v2() {
    let opener = Client::internal("opener", "tickets:create tickets:read", false);
    let keyed = Client::internal("keyed-opener", "tickets:read", true);
    let options = Options { clients: vec![opener.clone(), keyed.clone()], ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();

    let answer: serde_json::Value = token_for(&gw, &opener, None).await.json().await.unwrap();
    let token = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(answer["scope"], "tickets:read tickets:create providers:any");
    assert!(claims(&token).get("provider_id").is_none(), "an internal token names no provider");

    // Straight to the service, naming the provider per call.
    let mut request = tonic::Request::new(tickets_testing::grpc::new_ticket());
    request.metadata_mut().insert(AUTHORIZATION, bearer(&token));
    request.metadata_mut().insert(PROVIDER_ID, gw.a.provider.to_string().parse().unwrap());
    let mut client = TicketServiceClient::new(gw.service.channel.clone());
    let created = client.create_pending_ticket(request).await.unwrap().into_inner();
    let listed = gw.get("/v2/tickets/pending-tickets").await;
    let listed: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(listed["result"][0]["id"], created.id, "partner A sees the ticket opened for it");

    // Not through /v2: without an API key it is not even a partner; with one it is refused.
    let without_key = gw
        .http
        .get(gw.url("/v2/tickets/pending-tickets"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(without_key.status(), 401);
    let keyed_token = gw.token(&keyed).await;
    let with_key = gw
        .http
        .get(gw.url("/v2/tickets/pending-tickets"))
        .bearer_auth(&keyed_token)
        .header("x-api-key", &keyed.api_key)
        .send()
        .await
        .unwrap();
    let body = problem(with_key, 403).await;
    assert_eq!(body["type"], "/problems/forbidden");
}

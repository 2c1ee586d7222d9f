//! docs/security.md: tokens, API keys, the token endpoint, external issuers and rate limits.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tickets_testing::{Backend, eventually};

use crate::helpers::{Options, TestGateway, p256_pem, problem};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims for `gw`'s client A, to be spoiled one at a time.
fn claims(gw: &TestGateway) -> Value {
    json!({
        "iss": "ticket-gateway", "aud": "tickets-api", "sub": gw.a.id,
        "provider_id": gw.a.provider, "iat": now(), "nbf": now(), "exp": now() + 600,
        "jti": "test",
    })
}

fn es256(pem: &str, claims: &Value, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap())
        .unwrap()
}

async fn call(gw: &TestGateway, token: Option<&str>, api_key: Option<&str>) -> reqwest::Response {
    let mut request = gw.http.get(gw.url("/v2/tickets/pending-tickets"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

async fn assert_unauthorized(response: reqwest::Response, case: &str) {
    let challenge =
        response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    assert!(challenge.is_some_and(|c| c.starts_with("Bearer")), "{case}: WWW-Authenticate");
    let body = problem(response, 401).await;
    assert_eq!(body["type"], "/problems/unauthorized", "{case}");
}

#[tokio::test]
async fn a_valid_token_with_the_same_clients_key_is_accepted() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let token = gw.token(&gw.a).await;
    assert_eq!(call(&gw, Some(&token), Some(&gw.a.api_key)).await.status(), 200);
    let own = es256(&gw.signing_key_pem, &claims(&gw), None);
    assert_eq!(
        call(&gw, Some(&own), Some(&gw.a.api_key)).await.status(),
        200,
        "a token we sign the same way"
    );
}

#[tokio::test]
async fn every_bad_token_is_401() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let key = gw.a.api_key.clone();
    let valid = gw.token(&gw.a).await;

    assert_unauthorized(call(&gw, None, Some(&key)).await, "missing token").await;
    assert_unauthorized(call(&gw, Some(&valid), None).await, "missing API key").await;
    assert_unauthorized(call(&gw, Some("garbage"), Some(&key)).await, "garbage").await;
    let raw = gw
        .http
        .get(gw.url("/v2/tickets/pending-tickets"))
        .header("authorization", format!("Basic {valid}"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_unauthorized(raw, "wrong scheme").await;

    let payload = URL_SAFE_NO_PAD.encode(claims(&gw).to_string());
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
    assert_unauthorized(call(&gw, Some(&none), Some(&key)).await, "alg none").await;

    let jwks: Value =
        gw.http.get(gw.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let public = jwks["keys"][0].to_string();
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&gw),
        &EncodingKey::from_secret(public.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_unauthorized(call(&gw, Some(&hmac), Some(&key)).await, "HS256 with the public key")
        .await;
    let hmac_pem = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(&gw),
        &EncodingKey::from_secret(gw.signing_key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_unauthorized(call(&gw, Some(&hmac_pem), Some(&key)).await, "HS256 with key bytes").await;

    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let foreign = es256(&p256_pem(), &claims(&gw), Some(&kid));
    assert_unauthorized(call(&gw, Some(&foreign), Some(&key)).await, "foreign key with our kid")
        .await;
    let foreign = es256(&p256_pem(), &claims(&gw), None);
    assert_unauthorized(call(&gw, Some(&foreign), Some(&key)).await, "foreign key").await;

    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    assert_unauthorized(call(&gw, Some(&tampered), Some(&key)).await, "tampered signature").await;

    let spoiled = |field: &str, value: Value| {
        let mut claims = claims(&gw);
        claims[field] = value;
        es256(&gw.signing_key_pem, &claims, None)
    };
    let cases = [
        ("expired", spoiled("exp", json!(now() - 120))),
        ("not yet valid", spoiled("nbf", json!(now() + 600))),
        ("wrong issuer", spoiled("iss", json!("someone-else"))),
        ("wrong audience", spoiled("aud", json!("another-api"))),
        ("unknown client", spoiled("sub", json!("mallory"))),
        ("provider not the client's", spoiled("provider_id", json!(gw.b.provider))),
    ];
    for (case, token) in cases {
        assert_unauthorized(call(&gw, Some(&token), Some(&key)).await, case).await;
    }

    assert_unauthorized(
        call(&gw, Some(&valid), Some(&gw.b.api_key)).await,
        "A's token with B's key",
    )
    .await;
    assert_unauthorized(call(&gw, Some(&valid), Some("wrong-key")).await, "wrong key").await;
}

async fn token_response(
    gw: &TestGateway,
    request: reqwest::RequestBuilder,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let _ = gw;
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    (status, response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn the_token_endpoint_issues_es256_jwts_with_the_contract_claims() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", gw.a.id.as_str()),
        ("client_secret", gw.a.secret.as_str()),
    ];
    let (status, body, headers) =
        token_response(&gw, gw.http.post(gw.url("/oauth2/token")).form(&form)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        (body["token_type"].clone(), body["expires_in"].clone()),
        (json!("Bearer"), json!(3600))
    );
    let token = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    for claim in ["iss", "aud", "sub", "provider_id", "iat", "exp", "jti"] {
        assert!(payload.get(claim).is_some(), "claim {claim}");
    }
    assert_eq!(payload["sub"], gw.a.id);
    assert_eq!(payload["provider_id"], gw.a.provider.to_string());

    let jwks: Value =
        gw.http.get(gw.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&["tickets-api"]);
    assert!(
        jsonwebtoken::decode::<Value>(
            token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &validation
        )
        .is_ok()
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_clients_and_grants_per_rfc_6749() {
    let gw = TestGateway::start(Backend::Sqlite).await.unwrap();
    let post =
        |form: Vec<(&'static str, String)>| gw.http.post(gw.url("/oauth2/token")).form(&form);
    let grant = || ("grant_type", "client_credentials".to_owned());

    let (status, body, headers) = token_response(
        &gw,
        post(vec![grant(), ("client_id", gw.a.id.clone()), ("client_secret", "wrong".into())]),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")), "bad secret");
    assert!(headers.contains_key("www-authenticate"));
    let (status, body, _) = token_response(
        &gw,
        post(vec![grant(), ("client_id", "nobody".into()), ("client_secret", gw.a.secret.clone())]),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")), "unknown client");
    let (status, body, _) = token_response(
        &gw,
        post(vec![grant(), ("client_id", gw.a.id.clone()), ("client_secret", gw.b.secret.clone())]),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("invalid_client")),
        "another client's secret"
    );
    let (status, body, _) = token_response(
        &gw,
        post(vec![
            ("grant_type", "password".into()),
            ("client_id", gw.a.id.clone()),
            ("client_secret", gw.a.secret.clone()),
        ]),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (400, json!("unsupported_grant_type")));
    let (status, body, _) = token_response(
        &gw,
        post(vec![("client_id", gw.a.id.clone()), ("client_secret", gw.a.secret.clone())]),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_request")), "no grant type");
    let (status, body, _) = token_response(
        &gw,
        gw.http.post(gw.url("/oauth2/token")).json(&json!({"grant_type": "client_credentials"})),
    )
    .await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_request")), "JSON body");

    let basic = gw
        .http
        .post(gw.url("/oauth2/token"))
        .basic_auth(&gw.a.id, Some(&gw.a.secret))
        .form(&[grant()]);
    let (status, body, _) = token_response(&gw, basic).await;
    assert_eq!(status, 200, "HTTP Basic: {body}");
    assert!(body["access_token"].is_string());
    let basic =
        gw.http.post(gw.url("/oauth2/token")).basic_auth(&gw.a.id, Some("wrong")).form(&[grant()]);
    let (status, body, headers) = token_response(&gw, basic).await;
    assert_eq!((status, body["error"].clone()), (401, json!("invalid_client")));
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
}

#[tokio::test]
async fn tokens_of_an_external_issuer_are_accepted_through_its_jwks() {
    let external_pem = p256_pem();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &EncodingKey::from_ec_pem(external_pem.as_bytes()).unwrap(),
        Algorithm::ES256,
    )
    .unwrap();
    let mut jwk = serde_json::to_value(jwk).unwrap();
    jwk["kid"] = json!("external-1");
    let set = json!({"keys": [jwk]});
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let set = set.clone();
            async move { axum::Json(set) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let gw = TestGateway::start_with(
        Backend::Sqlite,
        Options { jwks_url: Some(jwks_url), ..Options::default() },
    )
    .await
    .unwrap();
    let token = es256(&external_pem, &claims(&gw), Some("external-1"));
    assert_eq!(call(&gw, Some(&token), Some(&gw.a.api_key)).await.status(), 200);
    let unknown = es256(&p256_pem(), &claims(&gw), Some("external-2"));
    assert_unauthorized(call(&gw, Some(&unknown), Some(&gw.a.api_key)).await, "unknown kid").await;
    for _ in 0..20 {
        call(&gw, Some(&unknown), Some(&gw.a.api_key)).await;
    }
    assert!(
        fetches.load(std::sync::atomic::Ordering::SeqCst) <= 2,
        "unknown kids do not hammer the issuer"
    );
}

#[tokio::test]
async fn each_client_is_rate_limited_on_its_own() {
    let options = Options { rate_per_second: 5, rate_burst: 10, ..Options::default() };
    let gw = TestGateway::start_with(Backend::Sqlite, options).await.unwrap();
    let (a_token, b_token) = (gw.token(&gw.a).await, gw.token(&gw.b).await);
    let mut statuses = Vec::new();
    for _ in 0..15 {
        statuses.push(call(&gw, Some(&a_token), Some(&gw.a.api_key)).await);
    }
    let limited: Vec<_> = statuses.into_iter().filter(|r| r.status() == 429).collect();
    assert!(!limited.is_empty(), "a burst beyond 10 is limited");
    let response = limited.into_iter().next().unwrap();
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after));
    let body = problem(response, 429).await;
    assert_eq!(body["type"], "/problems/too-many-requests");
    assert_eq!(
        call(&gw, Some(&b_token), Some(&gw.b.api_key)).await.status(),
        200,
        "B has its own bucket"
    );
    // A's bucket refills (5 a second); a 429 meanwhile takes no token.
    let recovered = eventually(Duration::from_secs(5), || async {
        call(&gw, Some(&a_token), Some(&gw.a.api_key)).await.status() == 200
    });
    assert!(recovered.await, "A recovers");
}

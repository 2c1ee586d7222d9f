//! Issuing and verifying tokens, every forgery refused, and key sets fetched from a real HTTP
//! server as an issuer publishes them.
#![expect(clippy::unwrap_used, reason = "a test fails by panicking on an unexpected result")]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::JwkSet};
use tickets_tokens::{
    Audience, Claims, KeySet, Rejected, RemoteKeys, Scope, Scopes, SigningKey, Verifier,
    VerifyingKey,
};
use uuid::Uuid;

fn audience() -> Audience {
    Audience { issuer: "ticket-gateway".into(), audience: "tickets-api".into() }
}

fn claims() -> Claims {
    Claims::issue(
        &audience(),
        "alpha",
        Some(Uuid::new_v4()),
        Scopes::PARTNER_DEFAULT,
        Duration::from_secs(300),
    )
}

fn verifier_of(key: &SigningKey) -> Verifier {
    Verifier::new(KeySet::default().with_key(key.verifying_key().clone()), audience(), 100)
}

#[tokio::test]
async fn an_issued_token_verifies_with_its_claims() {
    let key = SigningKey::generate().unwrap();
    let claims = claims();
    let token = key.sign(&claims).unwrap();
    let verified = verifier_of(&key).verify(&token).await.unwrap();
    assert_eq!(&*verified.subject, "alpha");
    assert_eq!(verified.provider.map(|p| p.to_string()), claims.provider_id);
    assert_eq!(verified.scopes, Some(Scopes::of(&[Scope::TicketsRead, Scope::TicketsWrite])));
    assert_eq!(&*verified.kid, key.kid());
}

#[tokio::test]
async fn every_forgery_is_refused() {
    let key = SigningKey::generate().unwrap();
    let verifier = verifier_of(&key);
    let with = |change: &dyn Fn(&mut Claims)| {
        let mut claims = claims();
        change(&mut claims);
        key.sign(&claims).unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let foreign = SigningKey::generate().unwrap();
    // An HMAC token keyed with what the verifier knows publicly: the classic confusion attack.
    let public_jwk = serde_json::to_string(key.jwks()).unwrap();
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some(key.kid().to_owned());
    let hmac = jsonwebtoken::encode(
        &hs256,
        &claims(),
        &EncodingKey::from_secret(public_jwk.as_bytes()).unwrap(),
    )
    .unwrap();
    let none = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid()));
        let body = b64.encode(serde_json::to_vec(&claims()).unwrap());
        format!("{header}.{body}.")
    };
    let mut foreign_with_our_kid = Header::new(Algorithm::ES256);
    foreign_with_our_kid.kid = Some(key.kid().to_owned());
    let cases = [
        ("alg none", none, Rejected::Malformed),
        ("HS256 keyed with the public key", hmac, Rejected::Algorithm),
        ("a foreign key", foreign.sign(&claims()).unwrap(), Rejected::UnknownKey),
        ("expired", with(&|c| c.exp = now - 60), Rejected::Invalid),
        ("not yet valid", with(&|c| c.nbf = Some(now + 60)), Rejected::Invalid),
        ("wrong iss", with(&|c| c.iss = "someone".into()), Rejected::Invalid),
        ("wrong aud", with(&|c| c.aud = "elsewhere".into()), Rejected::Invalid),
        (
            "a provider that is no UUID",
            with(&|c| c.provider_id = Some("acme".into())),
            Rejected::Invalid,
        ),
        ("garbage", "x.y.z".to_owned(), Rejected::Malformed),
        ("too long", "a".repeat(9000), Rejected::Malformed),
    ];
    for (what, token, why) in cases {
        assert_eq!(verifier.verify(&token).await, Err(why), "{what}");
    }
    // A foreign key's signature under our kid is a bad signature.
    let tampered = {
        let token = foreign.sign(&claims()).unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        let header = key.sign(&claims()).unwrap();
        format!("{}.{rest}", header.split('.').next().unwrap())
    };
    assert_eq!(verifier.verify(&tampered).await, Err(Rejected::Invalid));
}

#[tokio::test]
async fn a_verifier_takes_a_public_key_or_the_signers_own_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("signing.pem");
    let secret = {
        let mut bytes = [0u8; 32];
        loop {
            getrandom::fill(&mut bytes).unwrap();
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                break secret;
            }
        }
    };
    use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
    std::fs::write(&private, secret.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let public = dir.path().join("public.pem");
    std::fs::write(&public, secret.public_key().to_public_key_pem(LineEnding::LF).unwrap())
        .unwrap();
    let signer = SigningKey::load(&private).unwrap();
    let token = signer.sign(&claims()).unwrap();
    for path in [&private, &public] {
        let key = VerifyingKey::load(path).unwrap();
        assert_eq!(key.kid(), signer.kid(), "the kid is the thumbprint either way");
        let verifier = Verifier::new(KeySet::default().with_key(key), audience(), 10);
        assert!(verifier.verify(&token).await.is_ok());
    }
    std::fs::write(&public, "not a key").unwrap();
    let message = VerifyingKey::load(&public).unwrap_err().to_string();
    assert!(message.contains("public.pem") && message.contains("P-256"), "{message}");
}

#[tokio::test]
async fn the_cache_is_bounded_and_evicts_one_entry_at_a_time() {
    let key = SigningKey::generate().unwrap();
    let verifier =
        Verifier::new(KeySet::default().with_key(key.verifying_key().clone()), audience(), 64);
    let tokens: Vec<String> = (0..200).map(|_| key.sign(&claims()).unwrap()).collect();
    for token in &tokens {
        let verified = verifier.verify(token).await.unwrap();
        verifier.remember(token, verified);
    }
    let remembered = verifier.remembered();
    assert!((32..=64).contains(&remembered), "bounded, never wiped: {remembered}");
    let last = tokens.last().unwrap();
    assert!(verifier.cached(last).is_some(), "the newest entry survives");
}

/// An issuer publishing a key set over HTTP, counting fetches; the keys can be changed.
struct Issuer {
    url: String,
    fetches: Arc<AtomicUsize>,
    published: Arc<Mutex<JwkSet>>,
}

async fn issuer(keys: &[&SigningKey], max_age: &'static str) -> Issuer {
    let fetches = Arc::new(AtomicUsize::new(0));
    let published = Arc::new(Mutex::new(JwkSet {
        keys: keys.iter().flat_map(|k| k.jwks().keys.clone()).collect(),
    }));
    let (count, set) = (fetches.clone(), published.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (count, set) = (count.clone(), set.clone());
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                let body = serde_json::to_string(&*set.lock().unwrap()).unwrap();
                ([("cache-control", max_age), ("content-type", "application/json")], body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, fetches, published }
}

#[tokio::test]
async fn remote_keys_are_fetched_on_demand_rate_limited_and_dropped_when_unpublished() {
    let (first, second) = (SigningKey::generate().unwrap(), SigningKey::generate().unwrap());
    let issuer = issuer(&[&first], "max-age=600").await;
    let remote = RemoteKeys::with_min_refetch(&issuer.url, Duration::from_millis(300)).unwrap();
    let verifier = Verifier::new(KeySet::default().with_remote(remote), audience(), 100);

    let token = first.sign(&claims()).unwrap();
    let verified = verifier.verify(&token).await.unwrap();
    verifier.remember(&token, verified);
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

    // A key nobody publishes: one fetch at most per interval, however many tokens name it.
    let stranger = SigningKey::generate().unwrap().sign(&claims()).unwrap();
    let strangers = futures::future::join_all((0..20).map(|_| verifier.verify(&stranger))).await;
    assert!(strangers.iter().all(|r| *r == Err(Rejected::UnknownKey)));
    assert!(
        issuer.fetches.load(Ordering::SeqCst) <= 2,
        "{}",
        issuer.fetches.load(Ordering::SeqCst)
    );

    // The issuer rotates: the first key is dropped, the second published.
    *issuer.published.lock().unwrap() = second.jwks().clone();
    let rotated = second.sign(&claims()).unwrap();
    let accepted = tickets_testing_free_wait(Duration::from_secs(5), || async {
        verifier.verify(&rotated).await.is_ok()
    })
    .await;
    assert!(accepted, "the new key is fetched when a token names it");
    assert!(verifier.cached(&token).is_none(), "a verification under a dropped key is forgotten");
    assert_eq!(verifier.verify(&token).await, Err(Rejected::UnknownKey));
}

#[tokio::test]
async fn an_issuer_that_is_down_or_answers_garbage_is_an_unknown_key_not_a_hang() {
    let key = SigningKey::generate().unwrap();
    let token = key.sign(&claims()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let garbage = {
        let app =
            axum::Router::new().route("/jwks.json", axum::routing::get(|| async { "{ not json" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    };
    for url in [down, garbage] {
        let verifier = Verifier::new(
            KeySet::default().with_remote(RemoteKeys::new(&url).unwrap()),
            audience(),
            10,
        );
        let started = std::time::Instant::now();
        assert_eq!(verifier.verify(&token).await, Err(Rejected::UnknownKey), "{url}");
        assert!(started.elapsed() < Duration::from_secs(3), "{url}: {:?}", started.elapsed());
    }
}

/// Polls `condition` until it holds or `timeout` passes (this crate does not depend on the
/// workspace's test support).
async fn tickets_testing_free_wait<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

//! The tests' token issuer: one ES256 key per test process, standing for the gateway's signing
//! key. Every test service verifies callers against it, every test gateway signs with it, and
//! test clients get tokens from it — so a test exercises token verification as production
//! does, unless it builds its own keys on purpose.

use std::{
    path::{Path, PathBuf},
    sync::LazyLock,
    time::Duration,
};

use tickets_tokens::{Audience, Claims, KeySet, Scope, Scopes, SigningKey, Verifier};
use tonic::metadata::{Ascii, MetadataValue};
use uuid::Uuid;

/// The key, in PKCS#8 PEM.
pub static KEY_PEM: LazyLock<String> =
    LazyLock::new(|| SigningKey::generate_pem().expect("a fresh P-256 key"));

static KEY: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_pem(&KEY_PEM).expect("the key just made"));

/// The key's file, written once and kept for the whole test process.
static KEY_FILE: LazyLock<(tempfile::TempDir, PathBuf)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("signing-key.pem");
    std::fs::write(&path, KEY_PEM.as_bytes()).expect("write the key");
    (dir, path)
});

/// The key signing every test token.
pub fn signing_key() -> &'static SigningKey {
    &KEY
}

/// A file holding the key (for `GATEWAY_SIGNING_KEY_FILE` and `TICKETS_TOKEN_PUBLIC_KEY_FILE`,
/// which takes a private key file and uses its public half).
pub fn key_file() -> &'static Path {
    &KEY_FILE.1
}

/// The issuer and audience of test tokens: the binaries' defaults.
pub fn audience() -> Audience {
    Audience { issuer: "ticket-gateway".into(), audience: "tickets-api".into() }
}

/// A verifier of test tokens, as a test service uses.
pub fn verifier() -> Verifier {
    Verifier::new(KeySet::default().with_key(KEY.verifying_key().clone()), audience(), 1000)
}

/// Every right there is.
pub fn all_rights() -> Scopes {
    Scopes::of(&Scope::ALL)
}

/// A token signed with the test key: `claims` as given.
pub fn sign(claims: &Claims) -> String {
    KEY.sign(claims).expect("signing")
}

/// A token of an internal client (`providers:any`) with `scopes` too, valid for an hour.
pub fn internal_token(scopes: Scopes) -> String {
    sign(&Claims::issue(
        &audience(),
        "test-internal",
        None,
        scopes.with(Scope::ProvidersAny),
        Duration::from_secs(3600),
    ))
}

/// A token of a partner bound to `provider` with `scopes`, valid for an hour.
pub fn partner_token(provider: Uuid, scopes: Scopes) -> String {
    sign(&Claims::issue(
        &audience(),
        "test-partner",
        Some(provider),
        scopes,
        Duration::from_secs(3600),
    ))
}

/// `authorization` metadata carrying `token`.
pub fn bearer(token: &str) -> MetadataValue<Ascii> {
    format!("Bearer {token}").parse().expect("a token is ASCII")
}

/// The `authorization` of an internal client with every right (made once).
pub(crate) fn internal_authorization() -> MetadataValue<Ascii> {
    static AUTHORIZATION: LazyLock<MetadataValue<Ascii>> =
        LazyLock::new(|| bearer(&internal_token(all_rights())));
    AUTHORIZATION.clone()
}

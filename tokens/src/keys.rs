//! The keys tokens are verified with: fixed keys from PEM files, and key sets published by
//! issuers at JWKS URLs.
//!
//! A remote key set is fetched with no lock held across the network call, by one caller at a
//! time (single flight; the others wait for its result or give up at their deadline). It is
//! fetched again when its `Cache-Control: max-age` has passed (clamped to 1 min – 24 h; 1 h
//! without one) — in the background, the current keys serving meanwhile — and when a token
//! names a key the set does not have, at most every [`MIN_REFETCH`]: garbage tokens cannot make a
//! verifier hammer an issuer. A key dropped from a set stops being found once the set is fetched
//! again; a failed fetch keeps the keys it had.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, ThumbprintHash},
};
use p256::pkcs8::DecodePublicKey as _;
use tokio::time::Instant;

use crate::signing::{KeyError, read, secret_from_pem};

/// Least time between two fetches caused by unknown key ids.
pub const MIN_REFETCH: Duration = Duration::from_secs(30);
/// The freshness of a key set whose answer had no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
/// Bounds of a key set's freshness, whatever its issuer says.
const MAX_AGE_BOUNDS: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(86_400));
/// Largest key-set document accepted.
const MAX_BYTES: usize = 1024 * 1024;
/// Most keys kept of one set.
const MAX_KEYS: usize = 64;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One public key with its id.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Arc<str>,
    key: DecodingKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key of a JWK; its id is the JWK's thumbprint (RFC 7638), whatever `kid` it names.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| KeyError::Unusable(e.to_string()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Unusable(e.to_string()))?;
        Ok(Self { kid: kid.into(), key })
    }

    /// The public key of a PEM file: a P-256 public key (`BEGIN PUBLIC KEY`), or a P-256
    /// private key (PKCS#8 or SEC1) whose public half is taken — so a verifier can be given the
    /// signer's own key file.
    ///
    /// # Errors
    /// When the file cannot be read or holds no P-256 key.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let pem = read(path)?;
        let public = p256::PublicKey::from_public_key_pem(&pem)
            .ok()
            .or_else(|| secret_from_pem(&pem).map(|secret| secret.public_key()))
            .ok_or_else(|| KeyError::Format {
                path: path.display().to_string(),
                expected: "expected a P-256 public key (\"BEGIN PUBLIC KEY\") or private key (PKCS#8 or SEC1) in PEM",
            })?;
        Self::from_public(&public)
    }

    fn from_public(public: &p256::PublicKey) -> Result<Self, KeyError> {
        use base64::Engine as _;
        use p256::elliptic_curve::sec1::ToSec1Point as _;
        let point = public.to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(KeyError::Unusable("the public key has no coordinates".into()));
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": b64.encode(x), "y": b64.encode(y),
        }))
        .map_err(|e| KeyError::Unusable(e.to_string()))?;
        Self::from_jwk(&jwk)
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.key
    }
}

/// Why a key-set URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("{0:?} is not a URL")]
    Malformed(String),
    /// Key sets travel over TLS; plain HTTP only to this machine.
    #[error(
        "{0:?}: a key set must be fetched over https:// (plain http:// only from a loopback host)"
    )]
    Insecure(String),
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn acceptable(url: &reqwest::Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

/// What is known of one remote key set.
#[derive(Default)]
struct Known {
    keys: HashMap<Arc<str>, DecodingKey>,
    /// When the set should be fetched again.
    stale_at: Option<Instant>,
    /// When the last fetch started.
    attempted_at: Option<Instant>,
}

/// The key set published at one URL.
pub struct RemoteKeys {
    url: reqwest::Url,
    /// Least time between two fetches caused by unknown key ids ([`MIN_REFETCH`]).
    min_refetch: Duration,
    client: reqwest::Client,
    known: RwLock<Known>,
    fetching: AtomicBool,
    /// Bumped after every fetch, successful or not, so that waiters wake.
    fetched: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

/// The freshness an answer's `Cache-Control` grants, within bounds.
fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    let seconds = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            directive.trim().strip_prefix("max-age=")?.trim().parse::<u64>().ok()
        });
    seconds.map_or(DEFAULT_MAX_AGE, Duration::from_secs).clamp(MAX_AGE_BOUNDS.0, MAX_AGE_BOUNDS.1)
}

impl RemoteKeys {
    /// The key set at `url`; nothing is fetched yet.
    ///
    /// # Errors
    /// When `url` is not an `https://` URL (or an `http://` one of a loopback host).
    pub fn new(url: &str) -> Result<Arc<Self>, UrlError> {
        Self::with_min_refetch(url, MIN_REFETCH)
    }

    /// Like [`Self::new`], fetching again for an unknown key id at most every `min_refetch`
    /// (tests shorten it).
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn with_min_refetch(url: &str, min_refetch: Duration) -> Result<Arc<Self>, UrlError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| UrlError::Malformed(url.to_owned()))?;
        if !acceptable(&parsed) {
            return Err(UrlError::Insecure(url.to_owned()));
        }
        // reqwest is built without a bundled crypto provider; use the ring provider the rest of
        // the dependency tree carries. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 3 || !acceptable(attempt.url()) {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|_| UrlError::Malformed(url.to_owned()))?;
        Ok(Arc::new(Self {
            url: parsed,
            min_refetch,
            client,
            known: RwLock::default(),
            fetching: AtomicBool::new(false),
            fetched: tokio::sync::watch::channel(0).0,
        }))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key with this id, if the set has it now (no fetch).
    pub(crate) fn cached(&self, kid: &str) -> Option<DecodingKey> {
        self.read().keys.get(kid).cloned()
    }

    /// Whether the set has this key now.
    pub(crate) fn has(&self, kid: &str) -> bool {
        self.read().keys.contains_key(kid)
    }

    /// The key with this id. A set past its freshness is fetched again in the background; a set
    /// without the key is fetched now (waiting at most `wait`) unless it was fetched within
    /// [`MIN_REFETCH`].
    pub(crate) async fn key(self: &Arc<Self>, kid: &str, wait: Duration) -> Option<DecodingKey> {
        let (found, stale, may_refetch) = {
            let known = self.read();
            let now = Instant::now();
            (
                known.keys.get(kid).cloned(),
                known.stale_at.is_some_and(|at| at <= now),
                known.attempted_at.is_none_or(|at| now.duration_since(at) >= self.min_refetch),
            )
        };
        if let Some(key) = found {
            if stale {
                self.start_fetch();
            }
            return Some(key);
        }
        if !may_refetch {
            return None;
        }
        let mut done = self.fetched.subscribe();
        self.start_fetch();
        let _ = tokio::time::timeout(wait, done.changed()).await;
        self.cached(kid)
    }

    /// Starts a fetch unless one is running.
    fn start_fetch(self: &Arc<Self>) {
        if self.fetching.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err()
        {
            return;
        }
        if let Ok(mut known) = self.known.write() {
            known.attempted_at = Some(Instant::now());
        }
        let this = self.clone();
        tokio::spawn(async move {
            let fetched = this.fetch().await;
            let now = Instant::now();
            if let Ok(mut known) = this.known.write() {
                match fetched {
                    Ok((keys, fresh_for)) => {
                        tracing::info!(url = %this.url, keys = keys.len(), "issuer keys fetched");
                        known.keys = keys;
                        known.stale_at = Some(now + fresh_for);
                    }
                    Err(error) => {
                        tracing::warn!(url = %this.url, %error, "could not fetch the issuer's keys; keeping the ones known");
                        known.stale_at = Some(now + MIN_REFETCH);
                    }
                }
            }
            this.fetching.store(false, Ordering::Release);
            this.fetched.send_modify(|generation| *generation += 1);
        });
    }

    async fn fetch(&self) -> Result<(HashMap<Arc<str>, DecodingKey>, Duration), String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| error.without_url().to_string())?;
        let fresh_for = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(format!("the key set is larger than {MAX_BYTES} bytes"));
            }
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| matches!(&jwk.algorithm, AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256))
            .filter_map(|jwk| {
                let kid: Arc<str> = jwk.common.key_id.as_deref()?.into();
                Some((kid, DecodingKey::from_jwk(jwk).ok()?))
            })
            .take(MAX_KEYS)
            .collect();
        Ok((keys, fresh_for))
    }
}

/// Every key a verifier accepts: fixed ones, then the remote sets, in order.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    fixed: Vec<VerifyingKey>,
    remote: Vec<Arc<RemoteKeys>>,
}

impl KeySet {
    /// Adds a fixed key.
    #[must_use]
    pub fn with_key(mut self, key: VerifyingKey) -> Self {
        self.fixed.push(key);
        self
    }

    /// Adds a remote key set.
    #[must_use]
    pub fn with_remote(mut self, keys: Arc<RemoteKeys>) -> Self {
        self.remote.push(keys);
        self
    }

    /// Whether remote key sets are configured, so that a key unknown now may still be
    /// fetched.
    #[must_use]
    pub fn has_remote(&self) -> bool {
        !self.remote.is_empty()
    }

    /// Whether no key source is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.remote.is_empty()
    }

    /// Whether the key is known now, without fetching: the cheap check before a signature is
    /// verified, and the check that a cached verification's key is still published. A token
    /// naming no key means the first fixed one.
    #[must_use]
    pub fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            None => !self.fixed.is_empty(),
            Some(kid) => {
                self.fixed.iter().any(|key| key.kid() == kid)
                    || self.remote.iter().any(|set| set.has(kid))
            }
        }
    }

    /// The key with this id (the first fixed key for none) and its id, fetching remote sets
    /// as their rules allow.
    pub(crate) async fn find(
        &self,
        kid: Option<&str>,
        wait: Duration,
    ) -> Option<(Arc<str>, DecodingKey)> {
        let Some(kid) = kid else {
            return self.fixed.first().map(|key| (key.kid.clone(), key.decoding().clone()));
        };
        if let Some(key) = self.fixed.iter().find(|key| key.kid() == kid) {
            return Some((key.kid.clone(), key.decoding().clone()));
        }
        self.find_remote(kid, wait).await.map(|key| (Arc::from(kid), key))
    }

    async fn find_remote(&self, kid: &str, wait: Duration) -> Option<DecodingKey> {
        for set in &self.remote {
            if let Some(key) = set.cached(kid) {
                // Let a stale set refresh in the background.
                return set.key(kid, wait).await.or(Some(key));
            }
        }
        for set in &self.remote {
            if let Some(key) = set.key(kid, wait).await {
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_travel_over_tls_or_stay_on_this_machine() {
        for ok in [
            "https://issuer.example/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/k",
            "http://[::1]:1/k",
        ] {
            assert!(RemoteKeys::new(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://issuer.example/jwks.json", "ftp://x/y", "not a url", "http://10.0.0.1/k"]
        {
            assert!(RemoteKeys::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_age_is_read_and_clamped() {
        let headers = |value: &'static str| {
            let mut map = reqwest::header::HeaderMap::new();
            map.insert(
                reqwest::header::CACHE_CONTROL,
                reqwest::header::HeaderValue::from_static(value),
            );
            map
        };
        assert_eq!(max_age(&reqwest::header::HeaderMap::new()), DEFAULT_MAX_AGE);
        assert_eq!(max_age(&headers("public, max-age=600")), Duration::from_secs(600));
        assert_eq!(max_age(&headers("max-age=5")), Duration::from_secs(60));
        assert_eq!(max_age(&headers("max-age=9999999")), Duration::from_secs(86_400));
        assert_eq!(max_age(&headers("no-store")), DEFAULT_MAX_AGE);
    }
}
